//! 50 declarative rules ([`vigil_detect::rule`]) over real mainnet block 18,000,000 (94 transactions, 291 logs):
//! time per block for the whole rule set, one core.
//!
//! `cargo bench -p vigil-detect --bench rules` reads the recorded `eth_getBlockByNumber(n, true)` and
//! `eth_getBlockReceipts` answers (vigil-core's fixtures), builds the rules below from TOML (each rule one
//! detector, as `[[detector]] type = "rule"` tables are), and feeds them the block repeatedly: each iteration
//! gives the block the number 18,000,000 + i and a hash made from i, so windowed rules slide over a chain of
//! identical blocks. The rules use contracts and functions this block touches — Transfer, Approval, Swap, Sync,
//! Deposit and Withdrawal events on its tokens and Uniswap v2 pairs, top-level calls to the Universal Router, the
//! v2 router, USDT, Aave v3 and 1inch, transaction rules, and seven windowed aggregations — so that many of them
//! match and the figure includes decoding, evaluation and findings, not only filtering. The recording has no
//! traces, so internal calls are not exercised here; no probe rules (no `eth_call` answers either).
//!
//! Prints the rules' construction time, mean / p50 / p99 µs per block (wall time per `on_block` of all 50
//! rules), the findings on the first block by rule, the total findings, and the most expensive rules.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use alloy::primitives::keccak256;
use vigil_core::{BlockPart, Bundle, Detector, ReceiptsPart};
use vigil_detect::rule::{RuleConfig, RuleDetector};

const NUMBER: u64 = 18_000_000;

const TRANSFER: &str = "Transfer(address indexed from, address indexed to, uint256 value)";
const APPROVAL: &str = "Approval(address indexed owner, address indexed spender, uint256 value)";
const SWAP: &str = "Swap(address indexed sender, uint256 amount0In, uint256 amount1In, uint256 amount0Out, uint256 amount1Out, address indexed to)";
const SYNC: &str = "Sync(uint112 reserve0, uint112 reserve1)";

const USDT: &str = "0xdAC17F958D2ee523a2206206994597c13D831ec7";
const WETH: &str = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2";
const USDC: &str = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";

/// ERC-20s with transfers in this block (beyond USDT, WETH and USDC).
const TOKENS: [&str; 8] = [
    "0x2de6b0e3947a35aa897d0cb7e4e5c25aba89c6b7",
    "0x6541e93492d87a2b6b896e0086c2814a3dda4990",
    "0xce8d3c1a8edaa545072d5a4dfdc202f199d67090",
    "0xbe042e9d09cb588331ff911c2b46fd833a3e5bd6",
    "0xeb832928792978395cf11fb770ae0902d37f17f0",
    "0x7721a4cb6190edb11d47f51c20968436eccdafb8",
    "0x2f8221e82e0d4669ad66eabf02a5baed43ea49e7",
    "0x0a82fc64ecfd6669899857ae3bb4c85398721fdd",
];

/// Uniswap v2 pairs with swaps in this block.
const PAIRS: [&str; 8] = [
    "0xd24eb8d3a20a60170a34ebcc120779a425d4c5b6",
    "0x102ca530f96c0f9135df4fb8e0ea8f7c7216e6a1",
    "0x8616b44b734817a2c954016a57cf2c4d72d6f838",
    "0xacece14434d6b20f4131bf5c953a73f918100137",
    "0x2b75b3e3266123ea1e9fdccc4d7ed34dd555d6b2",
    "0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc",
    "0x62931a522e998fecc1df96656054bace35e3ec7c",
    "0x6fdf03d96c40736f787b6354aed7ca3ae8e3d372",
];

fn rules_toml() -> String {
    let mut t = String::new();
    let mut rule = |name: &str, body: &str| {
        t.push_str(&format!("[[rule]]\nname = \"{name}\"\nprotocol = \"mainnet\"\n{body}\n\n"));
    };
    // Events on the majors.
    rule(
        "usdt-transfer-1m",
        &format!("event = \"{TRANSFER}\"\naddress = \"{USDT}\"\ncondition = \"value > 1e12 && to != from\""),
    );
    rule("usdt-transfer-10k", &format!("event = \"{TRANSFER}\"\naddress = \"{USDT}\"\ncondition = \"value > 10_000e6 && value * 2 > tx.gas_used\"\nseverity = \"info\"\ntitle = \"USDT {{value_str}} from {{from}} to {{to}}\""));
    rule("weth-transfer-1", &format!("event = \"{TRANSFER}\"\naddress = \"{WETH}\"\ncondition = \"value > 1e18 && from != to\"\nseverity = \"info\""));
    rule(
        "weth-to-pair",
        &format!(
            "event = \"{TRANSFER}\"\naddress = \"{WETH}\"\ncondition = \"to == \\\"{}\\\"\"\nseverity = \"info\"",
            PAIRS[0]
        ),
    );
    rule(
        "usdc-transfer-100k",
        &format!("event = \"{TRANSFER}\"\naddress = \"{USDC}\"\ncondition = \"value > 100_000e6\""),
    );
    rule("weth-deposit", &format!("event = \"Deposit(address indexed dst, uint256 wad)\"\naddress = \"{WETH}\"\ncondition = \"wad > 1e18\"\nseverity = \"info\""));
    rule("weth-withdrawal", &format!("event = \"Withdrawal(address indexed src, uint256 wad)\"\naddress = \"{WETH}\"\ncondition = \"wad > 1e18 && src != tx.from\"\nseverity = \"info\""));
    // Transfers of other tokens.
    for (i, token) in TOKENS.iter().enumerate() {
        rule(&format!("token{i}-transfer"), &format!("event = \"{TRANSFER}\"\naddress = \"{token}\"\ncondition = \"value > 1e18 && from != to && to != tx.from\"\nseverity = \"low\""));
    }
    // Swaps and syncs on the pairs.
    for (i, pair) in PAIRS.iter().enumerate() {
        rule(
            &format!("pair{i}-swap"),
            &format!(
                "event = \"{SWAP}\"\naddress = \"{pair}\"\ncondition = \"amount0Out > 1e24 || amount1Out > 1e24\""
            ),
        );
    }
    for (i, pair) in PAIRS.iter().take(3).enumerate() {
        rule(&format!("pair{i}-sync-thin"), &format!("event = \"{SYNC}\"\naddress = \"{pair}\"\ncondition = \"reserve0 < 1e15 || reserve1 < 1e15\"\nseverity = \"medium\""));
    }
    // Any contract.
    rule("unlimited-approvals-per-spender", &format!("event = \"{APPROVAL}\"\ncondition = \"value > 1e70 && owner == tx.from\"\n[rule.aggregate]\nwindow_blocks = 10\ngroup_by = \"spender\"\ncount = true\nabove = 100"));
    rule(
        "approval-0x6541",
        &format!(
            "event = \"{APPROVAL}\"\naddress = \"{}\"\ncondition = \"owner != spender\"\nseverity = \"info\"",
            TOKENS[1]
        ),
    );
    rule("burn-any-token", &format!("event = \"{TRANSFER}\"\ncondition = \"to == \\\"0x0000000000000000000000000000000000000000\\\"\"\nseverity = \"info\""));
    // Windowed aggregations on events.
    rule("weth-transfers-per-sender", &format!("event = \"{TRANSFER}\"\naddress = \"{WETH}\"\n[rule.aggregate]\nwindow_blocks = 10\ngroup_by = \"tx.from\"\ncount = true\nabove = 20"));
    rule("usdt-volume-per-sender", &format!("event = \"{TRANSFER}\"\naddress = \"{USDT}\"\n[rule.aggregate]\nwindow_blocks = 50\ngroup_by = \"from\"\nsum = \"value\"\nabove = 1e13"));
    rule("swaps-per-pair", &format!("event = \"{SWAP}\"\n[rule.aggregate]\nwindow_blocks = 20\ngroup_by = \"log.address\"\ncount = true\nabove = 30"));
    rule("approvals-per-owner", &format!("event = \"{APPROVAL}\"\n[rule.aggregate]\nwindow_blocks = 10\ngroup_by = \"owner\"\ncount = true\nabove = 50"));
    let pair = PAIRS[0];
    rule("pair0-weth-net-outflow", &format!("event = \"{TRANSFER}\"\naddress = \"{WETH}\"\ncondition = \"from == \\\"{pair}\\\" || to == \\\"{pair}\\\"\"\n[rule.aggregate]\nwindow_blocks = 25\nsum = \"if from == \\\"{pair}\\\" {{ value }} else {{ -value }}\"\nabove = 1e21"));
    // Top-level calls.
    rule("universal-router-execute", "function = \"execute(bytes commands, bytes[] inputs, uint256 deadline)\"\ncalls = \"top\"\naddress = \"0x3fc91a3afd70395cd496c647d5a6cc9d4b2b7fad\"\ncondition = \"deadline > block.timestamp && msg.value > 1e17\"\nseverity = \"info\"");
    rule("v2-router-eth-swap", "function = \"swapExactETHForTokensSupportingFeeOnTransferTokens(uint256 amountOutMin, address[] path, address to, uint256 deadline)\"\ncalls = \"top\"\naddress = \"0x7a250d5630b4cf539739df2c5dacb4c659f2488d\"\ncondition = \"msg.value > 1e18 && to == tx.from && path.len() == 2\"\nseverity = \"info\"");
    rule("usdt-transfer-call", &format!("function = \"transfer(address to, uint256 value)\"\ncalls = \"top\"\naddress = \"{USDT}\"\ncondition = \"value > 1e9\"\nseverity = \"info\""));
    rule("approve-call", &format!("function = \"approve(address spender, uint256 value)\"\ncalls = \"top\"\naddress = \"{}\"\ncondition = \"value > 1e30\"\nseverity = \"info\"", TOKENS[1]));
    rule("aave-borrow", "function = \"borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf)\"\ncalls = \"top\"\naddress = \"0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2\"\ncondition = \"amount > 0 && onBehalfOf == tx.from\"\nseverity = \"info\"");
    rule("oneinch-swap", "function = \"swap(address executor, (address,address,address,address,uint256,uint256,uint256) desc, bytes permit, bytes data)\"\ncalls = \"top\"\naddress = \"0x1111111254eeb25477b68fb85ed929f73a960582\"\ncondition = \"desc[4] > 0\"\nseverity = \"info\"");
    rule(
        "claim-call",
        "function = \"claim()\"\ncalls = \"top\"\naddress = \"0x486c280024b5428459ec3360f99183a61d41d9a3\"\nseverity = \"info\"",
    );
    rule("router-calls-per-sender", "function = \"execute(bytes commands, bytes[] inputs, uint256 deadline)\"\ncalls = \"top\"\naddress = \"0x3fc91a3afd70395cd496c647d5a6cc9d4b2b7fad\"\n[rule.aggregate]\nwindow_blocks = 10\ngroup_by = \"tx.from\"\ncount = true\nabove = 5");
    // Transactions.
    rule("failed-fresh-big", "condition = \"!tx.status && tx.gas_used > 1_000_000 && tx.nonce == 0\"");
    rule("creation-with-value", "condition = \"tx.created != \\\"\\\" && tx.value > 1000e18\"");
    rule("big-eth-transfer", "condition = \"tx.value > 20e18 && tx.input_len == 0\"\nseverity = \"info\"");
    rule(
        "builder-payment",
        "address = \"0x4e841622b6b31ccddb31a1c19918174a69e997ad\"\ncondition = \"tx.value > 0\"\nseverity = \"info\"",
    );
    rule(
        "gas-per-sender",
        "[rule.aggregate]\nwindow_blocks = 5\ngroup_by = \"tx.from\"\nsum = \"tx.gas_used\"\nabove = 5e6",
    );
    // Filters that match nothing here.
    rule("usdc-transfer-50m", &format!("event = \"{TRANSFER}\"\naddress = \"{USDC}\"\ncondition = \"value > 50e12\""));
    rule("v3-swap", "event = \"Swap(address indexed sender, address indexed recipient, int256 amount0, int256 amount1, uint160 sqrtPriceX96, uint128 liquidity, int24 tick)\"\ncondition = \"amount0 < -1e30\"");
    rule(
        "ownership-transferred",
        "event = \"OwnershipTransferred(address indexed previousOwner, address indexed newOwner)\"",
    );
    t
}

fn fixture(name: &str) -> String {
    let path = format!("{}/../vigil-core/tests/fixtures/mainnet/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pairs: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    pairs[0]["response"]["result"].to_string()
}

/// This thread's CPU time: the first field of `/proc/thread-self/schedstat` (ns on CPU; Linux), if readable.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn main() {
    let block = BlockPart::from_json(&fixture("block-18000000.json")).expect("block 18,000,000 decodes");
    let receipts = ReceiptsPart::from_json(&fixture("receipts-18000000.json")).expect("its receipts decode");
    let mut bundle = Bundle::from_parts(block, receipts, None, Default::default());
    let logs: usize = bundle.receipts.iter().map(|r| r.logs.len()).sum();

    let text = rules_toml();
    let doc: toml::Table = toml::from_str(&text).expect("the rules are TOML");
    let configs: Vec<RuleConfig> = doc["rule"]
        .as_array()
        .expect("[[rule]] tables")
        .iter()
        .map(|t| t.clone().try_into().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let started = Instant::now();
    let build = || -> Vec<RuleDetector> {
        configs.iter().map(|c| RuleDetector::new(c.clone()).unwrap_or_else(|e| panic!("{e}"))).collect()
    };
    let mut rules = build();
    let built = started.elapsed();
    assert_eq!(rules.len(), 50);
    println!(
        "mainnet block {NUMBER} ({} transactions, {logs} logs) through {} rules, one core; built in {:.2} ms",
        bundle.transactions.len(),
        rules.len(),
        built.as_secs_f64() * 1e3
    );

    // Findings on the first block, by rule.
    let mut first = Vec::new();
    for r in &mut rules {
        let findings = r.on_block(&bundle).expect("the rule reads the block").len();
        first.push((r.name().to_string(), findings, r.matches()));
    }
    let matching: Vec<String> =
        first.iter().filter(|(_, _, m)| *m > 0).map(|(name, _, m)| format!("{name} {m}")).collect();
    println!(
        "first block: {} matches (filter and condition passed) in {} of {} rules: {}",
        first.iter().map(|(_, _, m)| m).sum::<u64>(),
        matching.len(),
        rules.len(),
        matching.join(", ")
    );
    let matched: Vec<String> =
        first.iter().filter(|(_, n, _)| *n > 0).map(|(name, n, _)| format!("{name} {n}")).collect();
    println!(
        "first block: {} findings from {} of {} rules: {}",
        first.iter().map(|(_, n, _)| n).sum::<usize>(),
        matched.len(),
        rules.len(),
        matched.join(", ")
    );

    // The timed run: all rules on each block, the block renumbered each iteration.
    let mut rules = build();
    let warmup = 50u64;
    let blocks = 3_000u64;
    let mut times = Vec::with_capacity(blocks as usize);
    let mut findings = 0usize;
    let mut cpu_start = None;
    for i in 0..warmup + blocks {
        if i == warmup {
            cpu_start = thread_cpu();
        }
        bundle.header.number = NUMBER + i;
        bundle.header.hash = keccak256(i.to_be_bytes());
        let t = Instant::now();
        let mut n = 0;
        for r in &mut rules {
            n += black_box(r.on_block(black_box(&bundle)).expect("the rule reads the block")).len();
        }
        let dt = t.elapsed();
        if i >= warmup {
            times.push(dt);
            findings += n;
        }
    }
    let cpu = thread_cpu().zip(cpu_start).map(|(end, start)| (end - start).as_secs_f64() * 1e6 / blocks as f64);
    let total: Duration = times.iter().sum();
    times.sort();
    println!(
        "per block, all {} rules: mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {blocks} blocks ({:.0} blocks/s)",
        rules.len(),
        total.as_secs_f64() * 1e6 / blocks as f64,
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        blocks as f64 / total.as_secs_f64()
    );
    if let Some(cpu) = cpu {
        println!("  this thread's CPU time: {cpu:.1} µs per block (wall time includes waiting for the CPU on a busy machine)");
    }
    let matches: u64 =
        rules.iter().map(RuleDetector::matches).sum::<u64>() - first.iter().map(|(_, _, m)| m).sum::<u64>() * warmup;
    println!(
        "matches: {matches} in {blocks} blocks ({:.1} per block); findings: {findings} ({:.1} per block; aggregated rules fire once per crossing)",
        matches as f64 / blocks as f64,
        findings as f64 / blocks as f64
    );

    // Each rule alone.
    let mut costs: Vec<(f64, String)> = Vec::new();
    for cfg in &configs {
        let mut r = RuleDetector::new(cfg.clone()).expect("builds");
        let n = 500u64;
        let t = Instant::now();
        for i in 0..n {
            bundle.header.number = NUMBER + i;
            bundle.header.hash = keccak256(i.to_be_bytes());
            black_box(r.on_block(&bundle).expect("the rule reads the block"));
        }
        costs.push((t.elapsed().as_secs_f64() * 1e6 / n as f64, cfg.name.clone()));
    }
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top: Vec<String> = costs.iter().take(8).map(|(us, name)| format!("{name} {us:.1}")).collect();
    println!("most expensive rules alone (µs/block): {}", top.join(", "));
    println!("cheapest rule alone: {} {:.2} µs/block", costs[costs.len() - 1].1, costs[costs.len() - 1].0);
    println!("target: ≤ 500 µs per block with 50 rules");
}
