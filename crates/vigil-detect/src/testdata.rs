//! What detector tests share (test builds only).
//!
//! Real mainnet blocks, on which every detector must stay silent on normal traffic:
//!
//! - [`mainnet_block`]: block 18,000,000 with its 94 transactions and receipts (291 logs), no traces, no probes;
//! - [`mainnet_traced_block`]: block 24,298,763's 361 callTracer traces, with a header of that block and no
//!   transactions or receipts (the recording has only the traces);
//! - [`call_frames`] and [`busiest`]: the busiest contracts of such a block, to watch as if they were a protocol.
//!
//! Hand-made blocks: [`synthetic_block`], with the logs and probe answers a test needs; [`feed_answer`] for a
//! Chainlink-style feed's answer.
//!
//! The files are in `crates/vigil-core/tests/fixtures/mainnet` (sources and licence in its README).
//!
//! Proving-ground scenarios: [`run_scenario`] runs one with traces through a detector and keeps its findings per
//! block. And [`doc_toml`]: a module documentation's TOML example, to check that it parses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use alloy::{
    primitives::{address, aliases::U80, keccak256, Address, Bytes, LogData, B256, I256, U256},
    rpc::types::trace::geth::{CallFrame, GethTrace, TraceResult},
    sol_types::{SolCall, SolEvent},
};
use vigil_contracts::{PriceFeed, VenuePair};
use vigil_core::{BlockPart, Bundle, Detector, Finding, Probe, ReceiptsPart};
use vigil_sim::{
    scenario::{find, RunOptions, ScenarioRun},
    Venue,
};

fn result(name: &str) -> String {
    let path = format!("{}/../vigil-core/tests/fixtures/mainnet/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pairs: serde_json::Value = serde_json::from_str(&text).expect("a JSON list of request/response pairs");
    pairs[0]["response"]["result"].to_string()
}

/// Mainnet USDC (6 decimals).
pub const USDC: Address = address!("A0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48");
/// Mainnet WETH.
pub const WETH: Address = address!("C02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");
/// Uniswap v2's USDC/WETH pair (token0 USDC, token1 WETH).
pub const USDC_WETH_PAIR: Address = address!("B4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc");
/// Chainlink's ETH/USD feed (8 decimals).
pub const ETH_USD_FEED: Address = address!("5f4eC3Df9cbd43714FE2740f5E3616155c5b8419");

/// The USDC/WETH pair's reserves (USDC, WETH) after block `b`: those of its last `Sync` in the block.
pub fn usdc_weth_reserves(b: &Bundle) -> (u128, u128) {
    let sync = b
        .logs()
        .filter(|l| l.address() == USDC_WETH_PAIR)
        .filter_map(|l| VenuePair::Sync::decode_log(&l.inner).ok())
        .last()
        .expect("the pair trades in the block");
    (sync.reserve0.to(), sync.reserve1.to())
}

/// A Chainlink-style `latestRoundData` answer of `price` with 8 decimals (round 1, no timestamps).
pub fn feed_answer(price: f64) -> Bytes {
    let answer = I256::try_from((price * 1e8).round() as i128).expect("a price fits");
    let round = PriceFeed::latestRoundDataReturn {
        _0: U80::from(1),
        _1: answer,
        _2: U256::ZERO,
        _3: U256::ZERO,
        _4: U80::from(1),
    };
    PriceFeed::latestRoundDataCall::abi_encode_returns(&round).into()
}

/// Probe answers: return data, or revert data.
pub type Answers = BTreeMap<Probe, Result<Bytes, Bytes>>;

/// Mainnet block 18,000,000 with its receipts; `probes` answered as given.
pub fn mainnet_block(probes: Answers) -> Bundle {
    let block = BlockPart::from_json(&result("block-18000000.json")).expect("block 18,000,000 decodes");
    let receipts = ReceiptsPart::from_json(&result("receipts-18000000.json")).expect("its receipts decode");
    Bundle::from_parts(block, receipts, None, probes)
}

/// Mainnet block 24,298,763's callTracer traces (361 transactions) in a bundle with no transactions or receipts.
pub fn mainnet_traced_block() -> Bundle {
    let traces: Vec<TraceResult> =
        serde_json::from_str(&result("calltracer-block.json")).expect("callTracer results decode");
    let header = serde_json::json!({
        "number": "0x172c50b",
        "hash": format!("0x{}", "ab".repeat(32)),
        "parentHash": format!("0x{}", "aa".repeat(32)),
        "timestamp": "0x6790a1c3",
        "miner": "0x0000000000000000000000000000000000000000",
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "transactions": [],
    });
    let block = BlockPart::from_json(&header.to_string()).expect("a header-only block decodes");
    let receipts = ReceiptsPart::from_json("[]").expect("no receipts");
    Bundle::from_parts(block, receipts, Some(traces), BTreeMap::new())
}

/// A hand-made transaction of a [`synthetic_block`]: whether it succeeded, and its logs as (emitter, data).
pub type SynthTx = (bool, Vec<(Address, LogData)>);

/// A hand-made block `number` on branch `fork` (the hash differs per branch; the parent is the same branch's block
/// before): one transaction per entry of `txs` (hashes from the block, the branch and the index), and `probes`
/// answered as given.
pub fn synthetic_block(number: u64, fork: u8, txs: &[SynthTx], probes: Answers) -> Bundle {
    let hash = |n: u64, tx: Option<usize>| {
        let tx = tx.map_or([0xff; 8], |i| (i as u64).to_be_bytes());
        keccak256([&n.to_be_bytes()[..], &[fork], &tx].concat())
    };
    let block_hash = hash(number, None);
    let transactions: Vec<_> = (0..txs.len())
        .map(|i| {
            serde_json::json!({"hash": hash(number, Some(i)), "from": Address::ZERO, "to": Address::ZERO,
                "value": "0x0", "input": "0x", "nonce": format!("{i:#x}"), "gas": "0x5208"})
        })
        .collect();
    let header = serde_json::json!({
        "number": format!("{number:#x}"), "hash": block_hash, "parentHash": hash(number.saturating_sub(1), None),
        "timestamp": format!("{:#x}", 1_700_000_000 + number * 12), "miner": Address::ZERO,
        "gasLimit": "0x1c9c380", "gasUsed": "0x0", "transactions": transactions,
    });
    let receipts: Vec<_> = txs
        .iter()
        .enumerate()
        .map(|(i, (success, logs))| {
            let logs: Vec<_> = logs
                .iter()
                .enumerate()
                .map(|(k, (emitter, data))| {
                    serde_json::json!({"address": emitter, "topics": data.topics(), "data": data.data,
                        "transactionHash": hash(number, Some(i)), "logIndex": format!("{k:#x}")})
                })
                .collect();
            serde_json::json!({"transactionHash": hash(number, Some(i)), "blockHash": block_hash,
                "from": Address::ZERO, "to": Address::ZERO, "status": if *success { "0x1" } else { "0x0" },
                "gasUsed": "0x5208", "logs": logs})
        })
        .collect();
    let block = BlockPart::from_json(&header.to_string()).expect("a synthetic block decodes");
    let receipts = ReceiptsPart::from_json(&serde_json::Value::from(receipts).to_string()).expect("its receipts");
    Bundle::from_parts(block, receipts, None, probes)
}

/// Every `CALL` frame of the bundle's callTracer traces.
pub fn call_frames(b: &Bundle) -> impl Iterator<Item = &CallFrame> {
    b.traces
        .iter()
        .flatten()
        .flat_map(|t| match t {
            TraceResult::Success { result: GethTrace::CallTracer(f), .. } => {
                Some(f.iter().filter(|fr| fr.typ == "CALL"))
            }
            _ => None,
        })
        .flatten()
}

/// The `n` addresses that occur most often in `addresses`, busiest first (ties by address).
pub fn busiest(addresses: impl IntoIterator<Item = Address>, n: usize) -> Vec<Address> {
    let mut counts: HashMap<Address, usize> = HashMap::new();
    for a in addresses {
        *counts.entry(a).or_default() += 1;
    }
    let mut top: Vec<_> = counts.into_iter().collect();
    top.sort_by_key(|(a, n)| (std::cmp::Reverse(*n), *a));
    top.into_iter().take(n).map(|(a, _)| a).collect()
}

/// Adds a block's stats `$s` into the run's `$total`: the counts listed are summed, those after `max;` keep their
/// largest value.
macro_rules! add_stats {
    ($total:expr, $s:expr; $($sum:ident),* $(; max $($max:ident),*)?) => {{
        let s = $s;
        $($total.$sum += s.$sum;)*
        $($($total.$max = $total.$max.max(s.$max);)*)?
    }};
}
pub(crate) use add_stats;

/// Per produced block: number, malicious transaction hashes, findings.
pub type Seen = Vec<(u64, Vec<B256>, Vec<Finding>)>;

/// Runs scenario `name` (seed 1, with traces; `blocks` blocks when given) through the detector `make` builds for
/// its venue, with the probes it declares, calling `each` with the detector after every block (to add up its
/// stats). The finished run, and what the detector saw.
pub fn run_scenario<D: Detector>(
    name: &str,
    blocks: Option<u64>,
    make: impl FnOnce(&Venue) -> D,
    mut each: impl FnMut(&D),
) -> (ScenarioRun, Seen) {
    let opts = RunOptions { seed: 1, tracing: true, blocks, ..Default::default() };
    let mut run = ScenarioRun::start(find(name).unwrap(), opts).unwrap();
    let mut det = make(&run.venue);
    let probes: BTreeSet<_> = det.probes().into_iter().collect();
    let mut seen = Vec::new();
    while let Some(block) = run.next_block(vec![]).unwrap() {
        let bundle = run.chain.bundle(&block, &probes);
        let findings = det.on_block(&bundle).unwrap();
        each(&det);
        let malicious =
            block.labels.iter().zip(&bundle.transactions).filter(|(l, _)| l.malicious).map(|(_, t)| t.hash).collect();
        seen.push((block.number(), malicious, findings));
    }
    (run, seen)
}

/// The text of the first TOML example (```` ```toml ```` … ```` ``` ````) of the module documentation (`//!`
/// lines) of `source` (the module's `include_str!`).
pub fn doc_toml(source: &str) -> String {
    source
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .skip_while(|l| *l != "```toml")
        .skip(1)
        .take_while(|l| *l != "```")
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first `[[detector]]` table of `source`'s documented TOML example, with its `type` checked and removed.
pub fn doc_detector(source: &str, type_name: &str) -> toml::Value {
    let mut doc: toml::Table = toml::from_str(&doc_toml(source)).unwrap();
    let toml::Value::Array(mut tables) = doc.remove("detector").unwrap() else { panic!("[[detector]]") };
    let toml::Value::Table(mut t) = tables.remove(0) else { panic!("a table") };
    assert_eq!(t.remove("type").unwrap().as_str(), Some(type_name));
    toml::Value::Table(t)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mainnet_blocks_load() {
        let b = super::mainnet_block(Default::default());
        assert_eq!((b.header.number, b.transactions.len(), b.logs().count()), (18_000_000, 94, 291));
        let t = super::mainnet_traced_block();
        assert_eq!(t.traces.as_ref().map(Vec::len), Some(361));
    }
}
