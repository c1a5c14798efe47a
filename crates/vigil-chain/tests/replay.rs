//! Replay of recorded payloads through the decoding live data takes: a `vigil sim` run written as JSON Lines
//! reads back block for block (hashes, receipts, traces, labels); real mainnet block 18,000,000, recorded as
//! request/response pairs, assembles into one bundle (also from one receipt per transaction); parity
//! `trace_block` becomes one call tree per transaction with the nesting its trace addresses give; incomplete
//! recordings are listed as skipped; malformed inputs fail naming file and line or pair.
//!
//! Mainnet fixtures are vigil-core's (`crates/vigil-core/tests/fixtures`, sources and licences in its README); the
//! whole erigon rpc-tests recording in `shared/data` is replayed too when it is there.

use std::{
    collections::BTreeMap,
    io::Cursor,
    path::{Path, PathBuf},
};

use alloy::{
    primitives::{b256, B256},
    rpc::types::{
        trace::{
            geth::{CallFrame, TraceResult},
            parity::{Action, LocalizedTransactionTrace},
        },
        Block, TransactionReceipt,
    },
};
use serde_json::{json, Value};
use vigil_chain::{decode, replay::Recorded, ReplayError};
use vigil_core::ChainEvent;
use vigil_sim::{
    jsonl,
    scenario::{find, RunOptions, ScenarioRun},
};

const HASH_18M: B256 = b256!("0x95b198e154acbfc64109dfd22d8224fe927fd8dfdedfae01587674482ba4baf3");

fn mainnet(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vigil-core/tests/fixtures/mainnet").join(name)
}

/// The `result` of the first pair of an erigon rpc-tests file.
fn result_of(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pairs: Value = serde_json::from_str(&text).unwrap();
    pairs[0]["response"]["result"].clone()
}

/// A fresh scratch directory for files the test writes.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-replay-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One simulated block as the chain produced it.
struct Produced {
    block: Block,
    receipts: Vec<TransactionReceipt>,
    traces: Option<Vec<TraceResult>>,
    labels: Vec<String>,
}

/// A 30-block spot-pump run (traced, traffic only) as JSON Lines, and the blocks as produced.
fn sim_run() -> (Vec<u8>, Vec<Produced>) {
    // The attack needs 103 blocks: the same traffic without it keeps the run short.
    let opts = RunOptions { blocks: Some(30), without_attack: true, ..Default::default() };
    let mut run = ScenarioRun::start(find("spot-pump").unwrap(), opts).unwrap();
    let mut out = Vec::new();
    jsonl::write_header(&mut out, &run).unwrap();
    let mut produced = Vec::new();
    run.run_to_end(|b| {
        jsonl::write_block(&mut out, b).unwrap();
        produced.push(Produced {
            block: b.block.clone(),
            receipts: b.receipts.clone(),
            traces: b.traces.clone(),
            labels: b.labels.iter().map(|l| l.what.clone()).collect(),
        });
    })
    .unwrap();
    jsonl::write_summary(&mut out, &run.report().unwrap()).unwrap();
    (out, produced)
}

fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec()).unwrap().lines().map(str::to_string).collect()
}

fn replay_lines(lines: &[String]) -> Result<Vec<vigil_chain::replay::Replayed>, ReplayError> {
    let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let mut recorded = Recorded::sim_reader("run.jsonl", Cursor::new(text.into_bytes()))?;
    let mut out = Vec::new();
    while let Some(b) = recorded.next_block() {
        out.push(b?);
    }
    Ok(out)
}

#[test]
fn a_sim_run_reads_back_with_the_same_hashes_receipts_and_traces() {
    let (bytes, produced) = sim_run();
    assert_eq!(produced.len(), 30);
    let recorded = Recorded::sim_reader("spot-pump.jsonl", Cursor::new(bytes.clone())).unwrap();
    let header = recorded.sim_header().unwrap().clone();
    assert_eq!((header.name.as_str(), header.blocks, header.chain_id, header.tracing), ("spot-pump", 30, 31337, true));
    assert_eq!(header.genesis.1, produced[0].block.header.parent_hash);

    let mut recorded = recorded;
    let mut n = 0;
    let mut traced_calls = 0;
    while let Some(replayed) = recorded.next_block() {
        let replayed = replayed.unwrap_or_else(|e| panic!("{e}"));
        let p = &produced[n];
        let b = &replayed.bundle;
        assert_eq!(b.block_ref().hash, p.block.header.hash, "block {n}");
        assert_eq!(b.full_block().unwrap(), &p.block, "block {n}: the whole block, transactions included");
        assert_eq!(b.transactions.len(), p.block.transactions.len(), "block {n}: envelopes");
        assert_eq!(b.full_receipts().unwrap(), p.receipts.as_slice(), "block {n}: receipts with their logs");
        let logs: Vec<_> = p.receipts.iter().filter(|r| r.status()).flat_map(|r| r.inner.logs()).cloned().collect();
        assert_eq!(b.logs().cloned().collect::<Vec<_>>(), logs, "block {n}: the logs detectors read");
        assert_eq!(b.traces, p.traces, "block {n}: call traces");
        assert!(b.probes.is_empty(), "sim files hold no probe values");
        assert_eq!(replayed.labels.iter().map(|l| l.what.clone()).collect::<Vec<_>>(), p.labels);
        assert_eq!(replayed.origin, format!("spot-pump.jsonl: line {}", n + 2));
        traced_calls += b.traces.as_ref().map_or(0, |t| t.len());
        n += 1;
    }
    assert_eq!(n, 30, "every block line, then the summary ends the replay");
    assert!(traced_calls > 30, "the run has traffic with traces: {traced_calls}");

    // As a source: ChainEvent::NewBlock in block order.
    let numbers: Vec<u64> = Recorded::sim_reader("again.jsonl", Cursor::new(bytes))
        .unwrap()
        .map(|e| match e.unwrap() {
            ChainEvent::NewBlock(b) => b.block_ref().number,
            other => panic!("{other:?}"),
        })
        .collect();
    let first = produced[0].block.header.number;
    assert_eq!(numbers, (first..first + 30).collect::<Vec<_>>());
}

#[test]
fn malformed_sim_files_fail_naming_file_and_line() {
    let (bytes, _) = sim_run();
    let lines = lines_of(&bytes);
    assert_eq!(lines.len(), 32, "header, 30 blocks, summary");
    let err = |lines: &[String]| replay_lines(lines).map(|_| ()).unwrap_err().to_string();

    // A line cut short (the writer was killed).
    let mut cut = lines.clone();
    let half = cut[4].len() / 2;
    cut[4].truncate(half);
    let e = err(&cut);
    assert!(e.starts_with("run.jsonl: line 5: not JSON: "), "{e}");

    // No summary.
    let e = err(&lines[..31]);
    assert_eq!(e, "run.jsonl: line 32: the file ends after 30 of 30 blocks, without a summary line (truncated?)");

    // Blocks out of order.
    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    let e = err(&swapped);
    assert!(e.starts_with("run.jsonl: line 4: block #") && e.contains(" follows block #"), "{e}");

    // A block whose receipts are missing one.
    let i =
        (1..31).find(|&i| serde_json::from_str::<Value>(&lines[i]).unwrap()["receipts"].as_array().unwrap().len() > 1);
    let i = i.expect("a block with two transactions");
    let mut line: Value = serde_json::from_str(&lines[i]).unwrap();
    line["receipts"].as_array_mut().unwrap().pop();
    let number = u64::from_str_radix(line["block"]["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let mut short = lines.clone();
    short[i] = line.to_string();
    let e = err(&short);
    assert!(e.starts_with(&format!("run.jsonl: line {}: block #{number} (0x", i + 1)), "{e}");
    assert!(e.ends_with("receipts for") || e.contains(" receipts for "), "{e}");

    // A receipt field that does not decode.
    let mut bad = lines.clone();
    bad[2] = bad[2].replacen("\"status\":\"0x1\"", "\"status\":\"yes\"", 1);
    assert_ne!(bad[2], lines[2], "the line has a successful receipt");
    let e = err(&bad);
    assert!(
        e.starts_with("run.jsonl: line 3: block #") && e.contains("eth_getBlockReceipts: unexpected answer"),
        "{e}"
    );

    // No header.
    let e = err(&lines[1..]);
    assert!(e.starts_with("run.jsonl: line 1: expected the header line"), "{e}");

    // Something after the summary.
    let mut more = lines.clone();
    more.push(lines[1].clone());
    assert_eq!(err(&more), "run.jsonl: line 33: a line after the summary line");
}

#[test]
fn mainnet_block_18000000_assembles_from_recorded_pairs() {
    let mut recorded =
        Recorded::rpc_pairs(&[mainnet("block-18000000.json"), mainnet("receipts-18000000.json")]).unwrap();
    assert!(recorded.skipped().is_empty(), "{:?}", recorded.skipped());
    assert_eq!(recorded.remaining(), Some(1));
    let replayed = recorded.next_block().unwrap().unwrap();
    assert!(recorded.next_block().is_none());
    let b = replayed.bundle;
    assert_eq!(b.block_ref().number, 18_000_000);
    assert_eq!(b.block_ref().hash, HASH_18M);
    assert_eq!(b.transactions.len(), 94);
    assert_eq!(b.receipts.len(), 94);
    assert_eq!(b.receipts.iter().map(|r| r.logs.len()).sum::<usize>(), 291);
    assert!(b.traces.is_none() && b.probes.is_empty());
    assert!(
        replayed.origin.contains("block-18000000.json: pair 0")
            && replayed.origin.contains("receipts-18000000.json: pair 0")
    );
}

#[test]
fn receipts_recorded_one_per_transaction_assemble_too() {
    let dir = scratch("per-tx");
    let receipts = result_of(&mainnet("receipts-18000000.json"));
    // One eth_getTransactionReceipt pair per transaction, in reverse order and split over two files.
    let pairs: Vec<Value> = receipts
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| {
            json!({"request": {"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt", "params": [r["transactionHash"]]},
                   "response": {"jsonrpc": "2.0", "id": 1, "result": r}})
        })
        .collect();
    std::fs::write(dir.join("a.json"), serde_json::to_string(&pairs[..50]).unwrap()).unwrap();
    std::fs::write(dir.join("b.json"), serde_json::to_string(&pairs[50..]).unwrap()).unwrap();
    std::fs::copy(mainnet("block-18000000.json"), dir.join("block.json")).unwrap();

    let mut recorded = Recorded::rpc_pairs(&[&dir]).unwrap();
    let b = recorded.next_block().unwrap().unwrap().bundle;
    assert_eq!(b.receipts.len(), 94);
    let hashes: Vec<B256> = b.transactions.iter().map(|t| t.hash).collect();
    assert_eq!(b.receipts.iter().map(|r| r.transaction_hash).collect::<Vec<_>>(), hashes, "in block order");

    // Without one of them the block is skipped, saying so.
    std::fs::write(dir.join("b.json"), serde_json::to_string(&pairs[51..]).unwrap()).unwrap();
    let recorded = Recorded::rpc_pairs(&[&dir]).unwrap();
    assert_eq!(recorded.remaining(), Some(0));
    let skipped = recorded.skipped();
    assert_eq!(skipped.len(), 1);
    assert_eq!((skipped[0].number, skipped[0].hash), (Some(18_000_000), Some(HASH_18M)));
    assert!(skipped[0].reason.contains("receipts of only 93 of 94 transactions"), "{}", skipped[0]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn blocks_with_only_some_parts_are_reported_not_dropped() {
    let recorded = Recorded::rpc_pairs(&[mainnet("block-18000000.json"), mainnet("parity-trace-block.json")]).unwrap();
    assert_eq!(recorded.remaining(), Some(0));
    let skipped: Vec<String> = recorded.skipped().iter().map(ToString::to_string).collect();
    assert_eq!(skipped.len(), 2, "{skipped:#?}");
    let block = skipped.iter().find(|s| s.starts_with("block #18000000")).unwrap();
    assert!(block.contains("block-18000000.json: pair 0") && block.ends_with("but no receipts"), "{block}");
    let traces = skipped.iter().find(|s| s.starts_with(&format!("block #{}", 0x62a214))).unwrap();
    assert!(
        traces.contains("parity-trace-block.json: pair 0") && traces.ends_with("no block with full transactions"),
        "{traces}"
    );
}

#[test]
fn inconsistent_recorded_parts_fail_naming_their_pairs() {
    let dir = scratch("inconsistent");
    let text = std::fs::read_to_string(mainnet("receipts-18000000.json")).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    let replay = |edit: &dyn Fn(&mut Vec<Value>)| {
        let mut pairs = original.clone();
        edit(pairs[0]["response"]["result"].as_array_mut().unwrap());
        std::fs::write(dir.join("receipts.json"), pairs.to_string()).unwrap();
        let mut recorded = Recorded::rpc_pairs(&[mainnet("block-18000000.json"), dir.join("receipts.json")]).unwrap();
        let e = recorded.next_block().unwrap().unwrap_err().to_string();
        assert!(e.contains("block-18000000.json: pair 0 + ") && e.contains("receipts.json: pair 0: "), "{e}");
        assert!(recorded.next_block().is_none(), "one block");
        e
    };
    let e = replay(&|r| {
        r.remove(7);
    });
    assert!(e.ends_with(&format!("block #18000000 ({HASH_18M}): 93 receipts for 94 transactions")), "{e}");
    let e = replay(&|r| r.swap(7, 8));
    let expected = format!(
        "block #18000000 ({HASH_18M}): receipt 7 (of {}) belongs to block {HASH_18M}, transaction {}",
        pairs_tx(7),
        pairs_tx(8)
    );
    assert!(e.ends_with(&expected), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Transaction `i` of block 18,000,000.
fn pairs_tx(i: usize) -> String {
    result_of(&mainnet("block-18000000.json"))["transactions"][i]["hash"].as_str().unwrap().to_string()
}

#[test]
fn malformed_pair_files_fail_naming_file_and_pair() {
    let dir = scratch("malformed");
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let err = |p: PathBuf| Recorded::rpc_pairs(&[p]).map(|_| ()).unwrap_err().to_string();

    let p = file("notjson.json", "[{\"request\": ");
    let e = err(p.clone());
    assert!(
        e.starts_with(&format!("{}: whole file: not a JSON list of request/response pairs: EOF", p.display())),
        "{e}"
    );

    let p = file(
        "noresponse.json",
        r#"[{"request": {"method": "eth_chainId", "id": 1}, "response": {"id": 1, "result": "0x1"}}, {"request": {"method": "eth_chainId"}}]"#,
    );
    let e = err(p.clone());
    assert!(
        e.starts_with(&format!(
            "{}: pair 1: not a {{\"request\", \"response\"}} object: missing field `response`",
            p.display()
        )),
        "{e}"
    );

    let p = file(
        "badreceipts.json",
        r#"[{"request": {"method": "eth_getBlockReceipts", "params": ["0x10"], "id": 1}, "response": {"id": 1, "result": {"not": "a list"}}}]"#,
    );
    let e = err(p.clone());
    assert!(e.starts_with(&format!("{}: pair 0: eth_getBlockReceipts: a list expected", p.display())), "{e}");

    let p = file(
        "batch.json",
        r#"[{"request": [{"method": "eth_chainId", "id": 1}, {"method": "eth_getBlockReceipts", "params": ["0x10"], "id": 2}], "response": [{"id": 1, "result": "0x1"}]}]"#,
    );
    let e = err(p.clone());
    assert_eq!(e, format!("{}: pair 0, call 1: no response with id 2", p.display()));

    let missing = dir.join("missing.json");
    assert!(err(missing.clone()).starts_with(&format!("{}: cannot read: ", missing.display())));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The frame a parity trace address points to.
fn frame_at<'a>(root: &'a CallFrame, path: &[usize]) -> Option<&'a CallFrame> {
    path.iter().try_fold(root, |f, &i| f.calls.get(i))
}

fn count_frames(f: &CallFrame) -> usize {
    1 + f.calls.iter().map(count_frames).sum::<usize>()
}

#[test]
fn parity_trace_block_becomes_one_call_tree_per_transaction_with_its_nesting() {
    // The recorded callTracer block (0x172c50b) and parity block (0x62a214) are different blocks, so the trees are
    // checked against the parity traces themselves: one tree per transaction, in order; one frame per trace; each
    // trace found at its address with its caller, callee, input and number of subtraces.
    let raw = result_of(&mainnet("parity-trace-block.json"));
    let flat: Vec<LocalizedTransactionTrace> = serde_json::from_value(raw.clone()).unwrap();
    let trees = decode::parity_traces("trace_block", &raw.to_string(), Some(0x62a214)).unwrap();

    let mut txs: Vec<B256> = Vec::new();
    let mut per_tx: BTreeMap<B256, usize> = BTreeMap::new();
    for t in &flat {
        let Some(h) = t.transaction_hash else { continue };
        if txs.last() != Some(&h) {
            txs.push(h);
        }
        *per_tx.entry(h).or_default() += 1;
    }
    assert_eq!(trees.len(), txs.len(), "one tree per transaction");
    let mut nested = 0;
    for (tree, tx) in trees.iter().zip(&txs) {
        assert_eq!(tree.tx_hash(), Some(*tx), "in block order");
        let root = tree.success().unwrap().clone().try_into_call_frame().unwrap();
        assert_eq!(count_frames(&root), per_tx[tx], "transaction {tx}: one frame per parity trace");
        for t in flat.iter().filter(|t| t.transaction_hash == Some(*tx)) {
            let path = &t.trace.trace_address;
            nested += usize::from(path.len() > 1);
            let f = frame_at(&root, path).unwrap_or_else(|| panic!("{tx}: no frame at {path:?}"));
            assert_eq!(f.calls.len(), t.trace.subtraces, "{tx} {path:?}: subtraces");
            if let Action::Call(c) = &t.trace.action {
                assert_eq!((f.from, f.to, &f.input), (c.from, Some(c.to), &c.input), "{tx} {path:?}");
            }
        }
    }
    assert!(nested > 0, "the block has calls nested two deep or more");

    // The callTracer fixture decodes through the same module: one result per transaction.
    let call = result_of(&mainnet("calltracer-block.json")).to_string();
    assert_eq!(decode::call_traces("debug_traceBlockByNumber", &call, Some(0x172c50b)).unwrap().len(), 361);
}

#[test]
fn the_erigon_recording_replays_what_it_can_and_lists_the_rest() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mainnet-rpc/erigon_rpc_tests");
    if !dir.is_dir() {
        eprintln!("{} is not there: nothing to replay", dir.display());
        return;
    }
    let mut recorded = Recorded::rpc_pairs(&[&dir]).unwrap_or_else(|e| panic!("{e}"));
    let mut blocks = Vec::new();
    while let Some(b) = recorded.next_block() {
        let b = b.unwrap_or_else(|e| panic!("{e}"));
        blocks.push((b.bundle.block_ref().number, b.bundle.transactions.len(), b.bundle.receipts.len()));
    }
    eprintln!("assembled {blocks:?}; skipped {}; unused {:?}", recorded.skipped().len(), recorded.unused());
    assert!(blocks.contains(&(18_000_000, 94, 94)), "{blocks:?}");
    // Block 17,000,000: a batch of eth_getBlockByHash (both calls with id 1) and erigon_getBlockReceiptsByBlockHash.
    assert!(blocks.contains(&(17_000_000, 102, 102)), "{blocks:?}");
    assert!(blocks.windows(2).all(|w| w[0].0 < w[1].0), "in block order");
    assert!(recorded.skipped().len() > 10, "blocks with only some parts are listed");
    for s in recorded.skipped() {
        assert!(s.reason.contains(".json: pair "), "{s}");
    }
}
