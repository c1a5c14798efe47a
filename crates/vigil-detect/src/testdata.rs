//! Real mainnet blocks for detector tests (test builds only): every detector must stay silent on normal traffic.
//!
//! - [`mainnet_block`]: block 18,000,000 with its 94 transactions and receipts (291 logs), no traces, no probes;
//! - [`mainnet_traced_block`]: block 24,298,763's 361 callTracer traces, with a header of that block and no
//!   transactions or receipts (the recording has only the traces).
//!
//! The files are in `crates/vigil-core/tests/fixtures/mainnet` (sources and licence in its README).

use std::collections::BTreeMap;

use alloy::rpc::types::trace::geth::TraceResult;
use vigil_core::{BlockPart, Bundle, Probe, ReceiptsPart};

fn result(name: &str) -> String {
    let path = format!("{}/../vigil-core/tests/fixtures/mainnet/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pairs: serde_json::Value = serde_json::from_str(&text).expect("a JSON list of request/response pairs");
    pairs[0]["response"]["result"].to_string()
}

/// Mainnet block 18,000,000 with its receipts; `probes` answered as given.
pub fn mainnet_block(probes: BTreeMap<Probe, Result<alloy::primitives::Bytes, alloy::primitives::Bytes>>) -> Bundle {
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
