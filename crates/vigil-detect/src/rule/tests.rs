//! The rule detector's tests.

use std::collections::{BTreeMap, BTreeSet};

use alloy::{
    primitives::{address, keccak256, Bytes, U256},
    sol_types::{SolCall, SolEvent},
};
use serde_json::json;
use vigil_contracts::IERC20;
use vigil_core::{BlockPart, Bundle, Detector, Probe, ReceiptsPart};

use super::*;

const TOKEN: Address = address!("0x00000000000000000000000000000000000000aa");
const OTHER: Address = address!("0x00000000000000000000000000000000000000bb");
const X: Address = address!("0x0000000000000000000000000000000000000001");
const Y: Address = address!("0x0000000000000000000000000000000000000002");
const USDT: Address = address!("0xdAC17F958D2ee523a2206206994597c13D831ec7");
const WETH: Address = address!("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");

fn config(body: &str) -> RuleConfig {
    let text = format!("name = \"test-rule\"\nprotocol = \"test\"\n{body}");
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The conformance suite's mainnet case: USDT transfers above 1,000 USDT counted per sender over 50 blocks,
/// reported above a million: silent on block 18,000,000.
pub(super) fn mainnet_case() -> (String, Bundle) {
    let table = r#"
name = "usdt-transfers"
protocol = "mainnet"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xdAC17F958D2ee523a2206206994597c13D831ec7"
condition = "value > 1e9"
[aggregate]
window_blocks = 50
group_by = "from"
count = true
above = 1000000
"#;
    (table.to_string(), crate::testdata::mainnet_block(Default::default()))
}

crate::conformance::case!(RuleConfig, "mod.rs", "legacy-borrow-drain", 141, mainnet_case);

fn rule(body: &str) -> RuleDetector {
    RuleDetector::new(config(body)).unwrap_or_else(|e| panic!("{e}"))
}

fn rule_err(body: &str) -> String {
    match RuleDetector::new(config(body)) {
        Ok(_) => panic!("the rule should not build:\n{body}"),
        Err(e) => e.to_string(),
    }
}

/// A transaction of a synthetic block.
#[derive(Clone)]
struct T {
    from: Address,
    to: Option<Address>,
    value: U256,
    input: Vec<u8>,
    nonce: u64,
    status: bool,
    gas_used: u64,
    created: Option<Address>,
    logs: Vec<(Address, Vec<B256>, Vec<u8>)>,
}

fn tx(from: Address, to: Address) -> T {
    T {
        from,
        to: Some(to),
        value: U256::ZERO,
        input: Vec::new(),
        nonce: 1,
        status: true,
        gas_used: 21_000,
        created: None,
        logs: Vec::new(),
    }
}

fn word(a: Address) -> B256 {
    a.into_word()
}

fn transfer(token: Address, from: Address, to: Address, value: u64) -> (Address, Vec<B256>, Vec<u8>) {
    (token, vec![IERC20::Transfer::SIGNATURE_HASH, word(from), word(to)], U256::from(value).to_be_bytes_vec())
}

fn q(n: impl std::fmt::LowerHex) -> String {
    format!("{n:#x}")
}

/// A block `number` (hash from `fork`) with `txs` and `probes`.
fn block(
    number: u64,
    fork: u8,
    txs: &[T],
    probes: BTreeMap<Probe, Result<alloy::primitives::Bytes, alloy::primitives::Bytes>>,
) -> Bundle {
    let hash_of = |i: usize| keccak256([&number.to_be_bytes()[..], &[fork, i as u8]].concat());
    let transactions: Vec<_> = txs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"hash": hash_of(i), "from": t.from, "to": t.to, "value": q(t.value), "input": hex::encode_prefixed(&t.input),
                   "nonce": q(t.nonce), "gas": q(1_000_000u64 + t.gas_used)})
        })
        .collect();
    let header = json!({
        "number": q(number), "hash": keccak256([number.to_be_bytes(), [fork; 8]].concat()),
        "parentHash": keccak256((number - 1).to_be_bytes()), "timestamp": q(1_700_000_000 + number * 12),
        "miner": Address::ZERO, "gasLimit": q(30_000_000u64), "gasUsed": q(1_000_000u64), "transactions": transactions,
    });
    let receipts: Vec<_> = txs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let logs: Vec<_> = t
                .logs
                .iter()
                .map(|(a, topics, data)| json!({"address": a, "topics": topics, "data": hex::encode_prefixed(data)}))
                .collect();
            json!({"transactionHash": hash_of(i), "from": t.from, "to": t.to, "status": if t.status { "0x1" } else { "0x0" },
                   "contractAddress": t.created, "gasUsed": q(t.gas_used), "logs": logs})
        })
        .collect();
    let block = BlockPart::from_json(&header.to_string()).expect("a synthetic block");
    let receipts = ReceiptsPart::from_json(&serde_json::Value::from(receipts).to_string()).expect("receipts");
    Bundle::from_parts(block, receipts, None, probes)
}

fn simple(number: u64, fork: u8, txs: &[T]) -> Bundle {
    block(number, fork, txs, BTreeMap::new())
}

/// The TOML example at the top of this module.
fn doc_example() -> String {
    let src = include_str!("mod.rs");
    let mut out = String::new();
    let mut inside = false;
    for line in src.lines().take_while(|l| l.starts_with("//!")) {
        let text = line.strip_prefix("//! ").unwrap_or(line.strip_prefix("//!").unwrap_or(line));
        match (inside, text.trim()) {
            (false, "```toml") => inside = true,
            (true, "```") => break,
            (true, _) => {
                out.push_str(text);
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_module_docs_example_parses_and_builds() {
    let example = doc_example();
    let doc: toml::Table = toml::from_str(&example).expect("the example is TOML");
    let tables = doc["detector"].as_array().expect("[[detector]] tables");
    assert_eq!(tables.len(), 6);
    let root = format!("{}/../..", env!("CARGO_MANIFEST_DIR"));
    let mut probes = 0;
    for t in tables {
        let mut t = t.as_table().expect("a table").clone();
        assert_eq!(t.remove("type").and_then(|v| v.as_str().map(String::from)).as_deref(), Some("rule"));
        if let Some(toml::Value::String(p)) = t.get_mut("abi") {
            *p = format!("{root}/{p}");
        }
        let cfg: RuleConfig = toml::Value::Table(t).try_into().unwrap_or_else(|e| panic!("{e}"));
        let d = RuleDetector::new(cfg.clone()).unwrap_or_else(|e| panic!("{e}"));
        probes += d.probes().len();
        if cfg.name == "legacy-borrow-burst" {
            let a = cfg.aggregate.as_ref().expect("aggregated");
            assert_eq!((a.window_blocks, a.count, a.above), (50, true, 4.0));
            assert_eq!(cfg.stage, Some(Stage::Exploitation));
            assert_eq!(cfg.calls, Some(CallSites::All));
        }
    }
    assert_eq!(probes, 1, "the probe rule declares its probe");
}

#[test]
fn an_event_rule_compares_fields_and_fires_on_the_right_logs_only() {
    let mut d = rule(
        r#"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0x00000000000000000000000000000000000000aa"
condition = "value > 1000 && to != from && value * 2 > tx.gas_used && log.address == ev.to.sub_string(0, 0) + \"0x00000000000000000000000000000000000000aa\""
stage = "exploitation"
title = "{value_str} from {from} to {to} (log {log.index})"
"#,
    );
    let mut a = tx(X, TOKEN);
    a.gas_used = 1_000;
    a.logs = vec![
        transfer(TOKEN, X, Y, 2_000), // log 0: fires
        transfer(TOKEN, X, X, 5_000), // 1: to == from
        transfer(TOKEN, X, Y, 10),    // 2: too small
        transfer(OTHER, X, Y, 9_000), // 3: another contract
        (TOKEN, vec![IERC20::Approval::SIGNATURE_HASH, word(X), word(Y)], U256::from(9_000).to_be_bytes_vec()), // 4
    ];
    let mut failed = tx(X, TOKEN);
    failed.status = false;
    failed.logs = vec![transfer(TOKEN, X, Y, 9_000)]; // in a failed transaction: no log index
    let mut big_gas = tx(Y, TOKEN);
    big_gas.gas_used = 5_000;
    big_gas.logs = vec![transfer(TOKEN, X, Y, 1_500)]; // 5: value × 2 < gas used
    let mut b = tx(Y, TOKEN);
    b.gas_used = 1_000;
    b.logs = vec![transfer(TOKEN, Y, X, 3_000)]; // 6: fires
    let bundle = simple(10, 0, &[a, failed, big_gas, b]);
    let findings = d.on_block(&bundle).expect("the rule runs");
    let logs: Vec<u64> = findings.iter().map(|f| f.evidence["log_index"].as_u64().expect("a log index")).collect();
    assert_eq!(logs, vec![0, 6]);
    let f = &findings[0];
    assert_eq!(
        f.title,
        "2000 from 0x0000000000000000000000000000000000000001 to 0x0000000000000000000000000000000000000002 (log 0)"
    );
    assert_eq!(f.evidence["values"], json!({"from": addr_str(&X), "to": addr_str(&Y), "value": "2000"}));
    assert_eq!((f.scope.target, f.scope.id), (TOKEN, U256::ZERO));
    assert_eq!((f.severity, f.kind), (Severity::High, FindingKind::Suspicious));
    assert_eq!(f.tx, Some(bundle.transactions[0].hash));
    assert_eq!((f.actor(), f.stage()), (Some(X), Some(Stage::Exploitation)));
    assert_eq!(findings[1].actor(), Some(Y), "actor = tx.from by default");
}

#[test]
fn a_function_rule_reads_top_level_calldata() {
    let bundle = crate::testdata::mainnet_block(Default::default());
    let mut d = rule(
        r#"
function = "transfer(address to, uint256 value)"
address = "0xdAC17F958D2ee523a2206206994597c13D831ec7"
calls = "top"
condition = "value > 0 && to != tx.from && msg.depth == 0 && msg.sender == tx.from"
"#,
    );
    let found: BTreeSet<B256> = d.on_block(&bundle).expect("runs").iter().filter_map(|f| f.tx).collect();
    let expected: BTreeSet<B256> = bundle
        .transactions
        .iter()
        .zip(&bundle.receipts)
        .filter(|(t, r)| r.status && t.to == Some(USDT))
        .filter_map(|(t, _)| IERC20::transferCall::abi_decode(&t.input).ok().map(|c| (t, c)))
        .filter(|(t, c)| c.value > U256::ZERO && c.to != t.from)
        .map(|(t, _)| t.hash)
        .collect();
    assert_eq!(expected.len(), 5, "block 18,000,000 has five USDT transfer transactions");
    assert_eq!(found, expected);
    // Internal calls are only in traces, which this recording lacks: an error, not a silent miss.
    for calls in ["internal", "all"] {
        let mut internal = rule(&format!(
            r#"
function = "transfer(address to, uint256 value)"
address = "0xdAC17F958D2ee523a2206206994597c13D831ec7"
calls = "{calls}"
"#
        ));
        assert!(internal.needs_traces());
        assert!(matches!(internal.matcher, Matcher::Call { internal: true, .. }), "the built rule reads traces");
        let err = internal.on_block(&bundle).expect_err("traces are required").to_string();
        assert!(err.contains("traces are required") && err.contains(&format!("calls = \"{calls}\"")), "{err}");
    }
    assert!(!d.needs_traces());
    assert!(matches!(d.matcher, Matcher::Call { internal: false, .. }));
}

#[test]
fn an_internal_call_rule_catches_the_legacy_borrow_drain_through_traces() {
    use vigil_sim::scenario::{find, RunOptions, ScenarioRun};
    let opts = RunOptions { seed: 1, tracing: true, blocks: Some(150), ..Default::default() };
    let mut run = ScenarioRun::start(find("legacy-borrow-drain").expect("scenario"), opts).expect("starts");
    let market = run.venue.legacy_market;
    let body = |calls: &str| {
        format!(
            r#"
function = "borrow(uint256 amount)"
address = "{market}"
calls = "{calls}"
condition = "amount > 0 && msg.depth > 0"
actor = "msg.from"
stage = "exploitation"
kind = "exploit"
severity = "critical"
title = "{{group}} borrowed {{total}} times in {{window_blocks}} blocks"
[aggregate]
window_blocks = 50
group_by = "msg.from"
count = true
above = 10
"#
        )
    };
    let mut internal = rule(&body("internal"));
    let mut top = rule(&body("top"));
    let probes = BTreeSet::new();
    let mut findings = Vec::new();
    let mut first_malicious = None;
    let mut malicious_borrow_blocks = Vec::new();
    while let Some(block) = run.next_block(vec![]).expect("a block") {
        let bundle = run.chain.bundle(&block, &probes);
        assert!(bundle.traces.is_some(), "the run traces");
        if block.labels.iter().any(|l| l.malicious) {
            first_malicious.get_or_insert(block.number());
        }
        if block.labels.iter().any(|l| l.malicious && l.what.ends_with("borrow")) {
            malicious_borrow_blocks.push(block.number());
        }
        assert!(top.on_block(&bundle).expect("runs").is_empty(), "the borrows are internal calls");
        for f in internal.on_block(&bundle).expect("runs") {
            let i = bundle.transactions.iter().position(|t| Some(t.hash) == f.tx).expect("the finding's tx");
            assert!(block.labels[i].malicious, "the finding blames a malicious transaction");
            findings.push((block.number(), f, bundle.transactions[i].to));
        }
    }
    let window = run.attack_window().expect("the attack ran");
    assert_eq!(malicious_borrow_blocks.len(), 40, "40 borrows, one a block");
    assert_eq!(findings.len(), 1, "one finding per crossing: {findings:?}");
    let (at, f, drainer) = &findings[0];
    assert!(first_malicious.is_some_and(|m| *at > m), "silent on the benign blocks");
    assert_eq!(*at, malicious_borrow_blocks[10], "fires on the 11th borrow");
    assert!(*at < window.last, "before the attack's last block");
    assert_eq!(f.actor(), *drainer, "the drainer contract, which calls borrow");
    assert_eq!((f.scope.target, f.severity, f.kind), (market, Severity::Critical, FindingKind::Exploit));
    assert_eq!(f.evidence["aggregate"]["matches"], json!(11));
    assert_eq!(f.evidence["call"]["depth"], json!(1));
    assert!(f.title.ends_with("borrowed 11.0 times in 50 blocks"), "{}", f.title);
}

#[test]
fn a_windowed_sum_forgets_reverted_blocks_and_fires_once_per_crossing() {
    let mut d = rule(
        r#"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
condition = "to == \"0x0000000000000000000000000000000000000002\""
[aggregate]
window_blocks = 3
group_by = "log.address"
sum = "value"
above = 100
"#,
    );
    let moved = |n: u64, fork: u8, values: &[u64]| {
        let mut t = tx(X, TOKEN);
        t.logs = values.iter().map(|v| transfer(TOKEN, X, Y, *v)).collect();
        // Not counted: another recipient.
        t.logs.push(transfer(TOKEN, Y, X, 1_000));
        simple(n, fork, &[t])
    };
    let totals = |fs: Vec<Finding>| -> Vec<f64> {
        fs.iter().map(|f| f.evidence["aggregate"]["total"].as_f64().expect("a total")).collect()
    };
    let b1 = moved(1, 0, &[60]);
    assert!(d.on_block(&b1).expect("runs").is_empty());
    let b2a = moved(2, 1, &[20, 30]);
    assert_eq!(totals(d.on_block(&b2a).expect("runs")), vec![110.0], "60 + 20 + 30 crosses 100 on the 30");
    d.revert_to(b1.block_ref());
    let b2b = moved(2, 2, &[45]);
    assert_eq!(totals(d.on_block(&b2b).expect("runs")), vec![105.0], "the orphaned block's 50 is forgotten");
    assert!(d.on_block(&moved(3, 0, &[])).expect("runs").is_empty(), "still above: no second finding");
    assert!(d.on_block(&moved(4, 0, &[])).expect("runs").is_empty(), "block 1 leaves the window: 45, re-armed");
    assert!(d.on_block(&moved(5, 0, &[70])).expect("runs").is_empty(), "blocks 3–5: 70");
    let again = d.on_block(&moved(6, 0, &[40])).expect("runs");
    assert_eq!(totals(again.clone()), vec![110.0], "re-armed, crosses again");
    assert_eq!(again[0].evidence["aggregate"]["group"], json!(addr_str(&TOKEN)));
    assert_eq!(again[0].evidence["aggregate"]["blocks_in_window"], json!(3));
    // Revert the crossing block: the group is armed again and the same block fires again.
    d.revert_to(moved(5, 0, &[70]).block_ref());
    assert_eq!(totals(d.on_block(&moved(6, 3, &[40])).expect("runs")), vec![110.0]);
}

#[test]
fn a_probe_rule_declares_its_probe_and_reads_the_answer() {
    let vault = address!("0x00000000000000000000000000000000000000cc");
    let mut d = rule(
        r#"
probe = { to = "0x00000000000000000000000000000000000000cc", function = "totalAssets() returns (uint256 assets)" }
condition = "assets < 1e24 && ret[0] == assets && assets_str == \"500000000000000000000000\" && block.number == 7"
kind = "degraded"
title = "assets {assets_str}"
"#,
    );
    let probe = Probe { to: vault, data: Bytes::copy_from_slice(&keccak256("totalAssets()")[..4]) };
    assert_eq!(d.probes(), vec![probe.clone()]);
    let answer = |v: U256| [(probe.clone(), Ok(Bytes::from(v.to_be_bytes_vec())))].into_iter().collect();
    let low = U256::from(5u64) * U256::from(10u64).pow(U256::from(23u64));
    let fs = d.on_block(&block(7, 0, &[], answer(low))).expect("runs");
    assert_eq!(fs.len(), 1);
    assert_eq!(
        (fs[0].title.as_str(), fs[0].scope.target, fs[0].kind),
        ("assets 500000000000000000000000", vault, FindingKind::Degraded)
    );
    assert_eq!(fs[0].evidence["values"], json!({"assets": "500000000000000000000000"}));
    assert_eq!((fs[0].tx, fs[0].actor()), (None, None));
    assert!(d.on_block(&block(7, 1, &[], answer(low * U256::from(4u64)))).expect("runs").is_empty());
    let reverted = [(probe.clone(), Err(Bytes::new()))].into_iter().collect();
    assert!(d.on_block(&block(7, 2, &[], reverted)).expect("a reverted probe skips").is_empty());
    let e = d.on_block(&simple(7, 3, &[])).expect_err("a probe the engine did not read");
    assert!(e.to_string().contains("no answer to its probe"), "{e}");

    // With an argument.
    let d = rule(
        r#"
probe = { to = "0xdAC17F958D2ee523a2206206994597c13D831ec7", function = "balanceOf(address who) returns (uint256)", args = ["0x0000000000000000000000000000000000000001"] }
condition = "ret[0] > 0"
"#,
    );
    assert_eq!(d.probes()[0].data, Bytes::from(IERC20::balanceOfCall { account: X }.abi_encode()));
}

#[test]
fn a_transaction_rule_catches_a_failed_expensive_transaction_from_a_fresh_sender() {
    let mut d = rule(r#"condition = "!tx.status && tx.gas_used > 500_000 && tx.nonce == 0""#);
    let t = |status: bool, nonce: u64, gas_used: u64| T { status, nonce, gas_used, ..tx(X, TOKEN) };
    let txs = [t(false, 0, 900_000), t(false, 3, 900_000), t(true, 0, 900_000), t(false, 0, 100_000)];
    let bundle = simple(5, 0, &txs);
    let fs = d.on_block(&bundle).expect("runs");
    assert_eq!(fs.iter().map(|f| f.tx).collect::<Vec<_>>(), vec![Some(bundle.transactions[0].hash)]);
    assert_eq!(fs[0].evidence["tx"]["status"], json!(false));

    let created = address!("0x00000000000000000000000000000000000000dd");
    let mut d = rule(r#"condition = "tx.created != \"\" && tx.to == \"\" && tx.value > 1000e18""#);
    let ether = U256::from(10u64).pow(U256::from(18u64));
    let deploy = |value: u64| T { to: None, created: Some(created), value: U256::from(value) * ether, ..tx(Y, TOKEN) };
    let bundle = simple(6, 0, &[deploy(1_500), deploy(999), tx(X, TOKEN)]);
    let fs = d.on_block(&bundle).expect("runs");
    assert_eq!(fs.len(), 1);
    assert_eq!((fs[0].tx, fs[0].scope.target), (Some(bundle.transactions[0].hash), created));
}

#[test]
fn an_internal_call_rule_refuses_a_failed_trace() {
    let mut bundle = crate::testdata::mainnet_traced_block();
    let mut d = rule("function = \"transfer(address to, uint256 value)\"\ncalls = \"internal\"");
    assert!(d.on_block(&bundle).is_ok(), "the recorded traces read");
    bundle.traces.as_mut().expect("traced")[3] =
        alloy::rpc::types::trace::geth::TraceResult::Error { error: "execution timeout".into(), tx_hash: None };
    let e = d.on_block(&bundle).expect_err("a failed trace is not skipped");
    assert!(
        e.cause.to_string().contains("calls = \"internal\"")
            && e.cause.to_string().contains("#3")
            && e.cause.to_string().contains("execution timeout"),
        "{e}"
    );
}

#[test]
fn errors_name_the_rule_the_field_and_the_position() {
    let e = rule_err(
        r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
condition = "value > && to != from""#,
    );
    assert!(e.contains("\"test-rule\"") && e.contains("`condition`") && e.contains("line 1, position"), "{e}");
    let e = rule_err(
        r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
[aggregate]
window_blocks = 5
sum = "value *"
above = 1"#,
    );
    assert!(e.contains("\"test-rule\"") && e.contains("`aggregate.sum`"), "{e}");
    let e = rule_err(
        r#"condition = "true"
title = "sent {value +}""#,
    );
    assert!(e.contains("`title`"), "{e}");
    let e = rule_err(r#"condition = "eval(\"1\")""#);
    assert!(e.contains("`condition`") && e.contains("eval"), "{e}");
    let e = rule_err(r#"condition = "print(1)""#);
    assert!(e.contains("print"), "{e}");
    let e = rule_err(r#"condition = "[1, 2].map(|x| x * 2).len() > 1""#);
    assert!(e.contains("`condition`") && e.contains("closures"), "{e}");

    let e = rule_err(r#"event = "Transfer(address indexed from,, uint256 value)""#);
    assert!(e.contains("`event`") && e.contains("Transfer(address indexed from,, uint256 value)"), "{e}");
    let e = rule_err(r#"function = "borrow(uint257 amount)""#);
    assert!(e.contains("`function`") && e.contains("uint257"), "{e}");
    let e = rule_err(r#"probe = { to = "0x00000000000000000000000000000000000000cc", function = "totalAssets()" }"#);
    assert!(e.contains("`probe.function`") && e.contains("returns"), "{e}");

    let abi = format!("{}/../../contracts/out/LegacyMarket.json", env!("CARGO_MANIFEST_DIR"));
    rule(&format!("abi = \"{abi}\"\nfunction_name = \"borrow\"\ncondition = \"amount > 0\""));
    rule(&format!("abi = \"{abi}\"\nevent_name = \"Borrow\"\ncondition = \"account != \\\"\\\" && amount > 0\""));
    let e = rule_err(&format!("abi = \"{abi}\"\nfunction_name = \"borow\""));
    assert!(e.contains("LegacyMarket.json") && e.contains("`borow`") && e.contains("borrow(uint256)"), "{e}");
    let e = rule_err("abi = \"/nonexistent/abi.json\"\nevent_name = \"Transfer\"");
    assert!(e.contains("/nonexistent/abi.json"), "{e}");

    let e = rule_err(
        r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
[aggregate]
window_blocks = 5
sum = "value"
count = true
above = 1"#,
    );
    assert!(e.contains("`aggregate`") && e.contains("exactly one"), "{e}");
    let e = rule_err(
        r#"event = "Transfer(address,address,uint256)"
function = "transfer(address,uint256)""#,
    );
    assert!(e.contains("at most one"), "{e}");
    let unknown = toml::from_str::<RuleConfig>("name = \"r\"\nprotocol = \"p\"\nconditon = \"true\"");
    assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `conditon`")));
}

#[test]
fn a_runtime_error_is_a_detector_error_naming_the_rule_and_block() {
    let mut a = tx(X, TOKEN);
    a.logs = vec![transfer(TOKEN, X, Y, 2_000)];
    let bundle = simple(42, 0, &[a]);
    let cases: [(&str, &[&str]); 2] =
        [("tx.nonce / 0 > 1", &["`condition`", "log 0", "Division by zero"]), ("value", &["not a boolean"])];
    for (condition, says) in cases {
        let mut d = rule(&format!(
            "event = \"Transfer(address indexed from, address indexed to, uint256 value)\"\ncondition = \"{condition}\""
        ));
        let e = d.on_block(&bundle).expect_err(condition);
        assert_eq!((e.detector.as_str(), e.block.number), ("test-rule", 42), "{condition}");
        let cause = e.cause.to_string();
        assert!(says.iter().all(|s| cause.contains(s)), "{condition}: {cause}");
    }
}

/// Findings of `condition` as written (simple terms checked natively) and wrapped in parentheses (Rhai only).
fn native_and_rhai(body: &str, condition: &str, bundle: &Bundle) -> (Vec<Finding>, Vec<Finding>) {
    let native = rule(&format!("{body}\ncondition = '{condition}'"));
    let rhai_only = rule(&format!("{body}\ncondition = '({condition})'"));
    let (n, r) = (native.eval.condition.as_ref(), rhai_only.eval.condition.as_ref());
    assert!(n.is_some_and(|c| !c.checks.is_empty()), "{condition}: some terms are native");
    assert!(r.is_some_and(|c| c.checks.is_empty()), "{condition}: nothing native");
    let (mut native, mut rhai_only) = (native, rhai_only);
    (native.on_block(bundle).expect("runs"), rhai_only.on_block(bundle).expect("runs"))
}

#[test]
fn native_checks_agree_with_rhai() {
    let bundle = crate::testdata::mainnet_block(Default::default());
    let transfer = "event = \"Transfer(address indexed from, address indexed to, uint256 value)\"";
    let usdt = format!("{transfer}\naddress = \"{USDT}\"");
    let cases: [(&str, &str); 13] = [
        (&usdt, "value > 100e6"),
        (&usdt, "value >= 367500000 && from != to"),
        (&usdt, "value <= 367500000 && value < 1e9"),
        (&usdt, "value == 367500000"),
        (&usdt, "to == \"0x3cc936b795a188f0e246cbb2d74c5bd190aecf18\""),
        (&usdt, "to != \"0x3cC936b795A188F0e246cBB2D74C5Bd190aeCF18\""),
        (&usdt, "log.address == \"0xdac17f958d2ee523a2206206994597c13d831ec7\" && tx.nonce > 10"),
        (&usdt, "tx.status && !tx.status == false && tx.gas_used > 50_000"),
        (transfer, "arg2 > 1e18 && tx.to != \"\" && block.number == 18000000 && log.index < 100"),
        (transfer, "tx.value > 0 && tx.gas >= 100000"),
        ("", "tx.created != \"\" && tx.value >= 0"),
        ("", "tx.to == \"\" || tx.nonce == 0"),
        ("function = \"transfer(address to, uint256 value)\"\ncalls = \"top\"", "msg.depth == 0 && value > 1e6 && msg.to == \"0xdac17f958d2ee523a2206206994597c13d831ec7\" && !msg.reverted"),
    ];
    let mut fired = 0;
    for (body, condition) in cases {
        if condition.contains("||") {
            // Not split: an `||` at the top level leaves the whole condition to Rhai.
            let d = rule(&format!("{body}\ncondition = '{condition}'"));
            assert!(d.eval.condition.as_ref().is_some_and(|c| c.checks.is_empty() && !c.native_only));
            continue;
        }
        let (n, r) = native_and_rhai(body, condition, &bundle);
        let key = |fs: &[Finding]| fs.iter().map(|f| (f.tx, f.evidence.get("log_index").cloned())).collect::<Vec<_>>();
        assert_eq!(key(&n), key(&r), "{condition}");
        fired += n.len();
    }
    assert!(fired > 20, "the cases match something: {fired}");
}

#[test]
fn one_word_decoding_agrees_with_alloys_log_decoder() {
    let bundle = crate::testdata::mainnet_block(Default::default());
    let d = rule("event = \"Transfer(address indexed from, address indexed to, uint256 value)\"");
    let Matcher::Event { event, words: Some(words), indexed, .. } = &d.matcher else { panic!("one-word types") };
    let mut checked = 0;
    for log in bundle.logs().filter(|l| l.topic0() == Some(&IERC20::Transfer::SIGNATURE_HASH)) {
        let Ok(decoded) = event.decode_log_data(log.data()) else { continue };
        let t = log.topics();
        let mut body = log.data().data.chunks(32);
        let fast: Vec<DynSolValue> = indexed
            .iter()
            .zip(words)
            .enumerate()
            .map(|(i, (ix, ty))| {
                let w = if *ix { t[i + 1] } else { B256::from_slice(body.next().expect("a word")) };
                word_value(ty, w)
            })
            .collect();
        assert_eq!(fast, [decoded.indexed, decoded.body].concat());
        checked += 1;
    }
    assert!(checked > 100);
    assert!(rule("event = \"Log(string message, uint256 n)\"").matcher_words().is_none(), "a string is not one word");
}

#[test]
fn alert_rules_stay_silent_on_a_mainnet_block_that_a_matching_rule_reads() {
    let bundle = crate::testdata::mainnet_block(Default::default());
    let alerts = [
        // USDC transfer above 50M.
        r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
condition = "value > 50e12""#,
        // USDT transfer above 100M.
        r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xdAC17F958D2ee523a2206206994597c13D831ec7"
condition = "value > 100e12""#,
        // A contract created with more than 1,000 ETH.
        r#"condition = "tx.created != \"\" && tx.value > 1000e18""#,
        // A failed transaction burning more than 5M gas from a fresh account.
        r#"condition = "!tx.status && tx.gas_used > 5_000_000 && tx.nonce == 0""#,
        // More than 20 approvals by one owner in 10 blocks.
        r#"event = "Approval(address indexed owner, address indexed spender, uint256 value)"
[aggregate]
window_blocks = 10
group_by = "owner"
count = true
above = 20"#,
        // More than 50,000 WETH moved out of one account in 10 blocks.
        r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
[aggregate]
window_blocks = 10
group_by = "from"
sum = "value"
above = 50000e18"#,
    ];
    for body in alerts {
        let fs = rule(body).on_block(&bundle).expect("runs");
        assert!(fs.is_empty(), "{body}: {fs:?}");
    }
    let weth_transfers =
        bundle.logs().filter(|l| l.address() == WETH && l.topic0() == Some(&IERC20::Transfer::SIGNATURE_HASH)).count();
    assert_eq!(weth_transfers, 31);
    let counting = |above: u64| {
        rule(&format!(
            r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
[aggregate]
window_blocks = 1
count = true
above = {above}"#
        ))
        .on_block(&bundle)
        .expect("runs")
    };
    let fs = counting(30);
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].evidence["aggregate"]["matches"], json!(31));
    assert!(counting(31).is_empty());
}
