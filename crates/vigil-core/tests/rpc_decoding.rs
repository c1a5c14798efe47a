//! Real JSON-RPC payloads decode into the types bundles are made of, without loss: mainnet block 18,000,000 with
//! its receipts (the recomputed transaction hashes, senders, header hash and receipts root match what the node
//! sent), a whole mainnet block traced with callTracer, parity `trace_block`, and the execution-apis conformance
//! transactions of every type (legacy, 2930, 1559, 4844, 7702). Fixtures and their sources: tests/fixtures/README.md.

use alloy::{
    consensus::{proofs::calculate_receipt_root, Transaction as _},
    eips::Typed2718,
    primitives::B256,
    rpc::types::{
        trace::{geth::TraceResult, parity::LocalizedTransactionTrace},
        Block, Transaction, TransactionReceipt,
    },
};

fn fixture(path: &str) -> serde_json::Value {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The sender, recovered from the signature over the re-encoded transaction (not the `from` the node sent).
fn recover(tx: &Transaction) -> alloy::primitives::Address {
    let envelope = tx.inner.inner();
    envelope.signature().recover_address_from_prehash(&envelope.signature_hash()).expect("the signature recovers")
}

/// The `result` of the first recorded response of an erigon rpc-tests file.
fn result(path: &str) -> serde_json::Value {
    fixture(path)[0]["response"]["result"].clone()
}

#[test]
fn mainnet_block_18000000_decodes_without_loss() {
    let raw = result("mainnet/block-18000000.json");
    let block: Block = serde_json::from_value(raw.clone()).expect("eth_getBlockByNumber result decodes");
    assert_eq!(block.header.number, 18_000_000);
    assert_eq!(block.header.inner.hash_slow(), block.header.hash, "the header re-hashes to the node's hash");
    let txs: Vec<&Transaction> = block.transactions.txns().collect();
    assert_eq!(txs.len(), raw["transactions"].as_array().unwrap().len());
    assert_eq!(txs.len(), 94);
    for (tx, json) in txs.iter().zip(raw["transactions"].as_array().unwrap()) {
        let hash: B256 = json["hash"].as_str().unwrap().parse().unwrap();
        assert_eq!(*tx.inner.tx_hash(), hash, "re-encoding gives the node's hash");
        let signer = recover(tx);
        assert_eq!(signer.to_string().to_lowercase(), json["from"].as_str().unwrap().to_lowercase());
        assert_eq!(format!("{:#x}", tx.inner.gas_limit()), json["gas"].as_str().unwrap());
    }
    let reencoded = serde_json::to_value(&block).unwrap();
    assert_eq!(reencoded["transactions"].as_array().unwrap().len(), 94);
}

#[test]
fn mainnet_receipts_decode_and_their_root_matches_the_block() {
    let block: Block = serde_json::from_value(result("mainnet/block-18000000.json")).unwrap();
    let receipts: Vec<TransactionReceipt> =
        serde_json::from_value(result("mainnet/receipts-18000000.json")).expect("eth_getBlockReceipts result decodes");
    assert_eq!(receipts.len(), 94);
    let consensus: Vec<_> = receipts.iter().map(|r| r.inner.clone().map_logs(|l| l.inner)).collect();
    assert_eq!(calculate_receipt_root(&consensus), block.header.receipts_root, "no receipt field was lost");
    let logs: usize = receipts.iter().map(|r| r.inner.logs().len()).sum();
    assert!(logs > 100, "{logs} logs");
    assert_eq!(receipts.last().unwrap().inner.cumulative_gas_used(), block.header.gas_used);
}

#[test]
fn a_mainnet_block_traced_with_the_call_tracer_decodes() {
    let traces: Vec<TraceResult> =
        serde_json::from_value(result("mainnet/calltracer-block.json")).expect("callTracer results decode");
    assert_eq!(traces.len(), 361);
    let mut frames = 0;
    for t in &traces {
        let TraceResult::Success { result, .. } = t else { panic!("a failed trace in the recording") };
        let frame = result.clone().try_into_call_frame().expect("a call frame");
        frames += 1 + frame.calls.len();
    }
    assert!(frames > 361);
}

#[test]
fn parity_trace_block_decodes() {
    let traces: Vec<LocalizedTransactionTrace> =
        serde_json::from_value(result("mainnet/parity-trace-block.json")).expect("trace_block result decodes");
    assert_eq!(traces.len(), 150);
    assert!(traces.iter().all(|t| t.block_number == Some(0x62a214)));
}

/// The response of an execution-apis `.io` case (`<< {...}`).
fn io_response(path: &str) -> serde_json::Value {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("<< ")).unwrap_or_else(|| panic!("{full}: no response"));
    serde_json::from_str::<serde_json::Value>(line).unwrap()["result"].clone()
}

#[test]
fn every_transaction_type_decodes_with_its_hash() {
    for (file, ty) in [
        ("execution-apis/get-legacy-tx.io", 0u8),
        ("execution-apis/get-access-list.io", 1),
        ("execution-apis/get-blob-tx.io", 3),
        ("execution-apis/get-setcode-tx.io", 4),
    ] {
        let raw = io_response(file);
        let tx: Transaction = serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(tx.inner.ty(), ty, "{file}");
        let hash: B256 = raw["hash"].as_str().unwrap().parse().unwrap();
        assert_eq!(*tx.inner.tx_hash(), hash, "{file}: re-encoding gives the node's hash");
        let signer = recover(&tx);
        assert_eq!(signer.to_string().to_lowercase(), raw["from"].as_str().unwrap().to_lowercase(), "{file}");
    }
}
