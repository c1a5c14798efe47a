//! The scenario output format: JSON Lines of JSON-RPC-shaped objects (documented in docs/sim-format.md).
//!
//! Line 1 is a [`Header`] (`"kind": "scenario"`), then one [`BlockLine`] per block (`"kind": "block"`: the
//! `eth_getBlockByNumber(n, true)` result, the `eth_getBlockReceipts(n)` result, the
//! `debug_traceBlockByNumber(n, callTracer)` result or `null`, and the ground-truth labels), and last a summary
//! (`"kind": "summary"`, the [`ScenarioReport`]). The same types read the lines back.

use std::collections::BTreeMap;
use std::io::Write;

use alloy::{
    primitives::{Address, B256},
    rpc::types::{trace::geth::TraceResult, Block, TransactionReceipt},
};
use serde::{Deserialize, Serialize};

use crate::chain::SimBlock;
use crate::scenario::{ScenarioReport, ScenarioRun};

/// The first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always `scenario`.
    pub kind: String,
    /// Scenario name.
    pub name: String,
    /// What happens.
    pub about: String,
    /// Seed.
    pub seed: u64,
    /// Blocks that follow.
    pub blocks: u64,
    /// Chain id.
    pub chain_id: u64,
    /// Genesis block number and hash (the first block line's parent).
    pub genesis: (u64, B256),
    /// Whether block lines carry traces.
    pub tracing: bool,
    /// Where the prices came from.
    pub price_source: String,
    /// The attack, if any.
    pub attack: Option<String>,
    /// Venue addresses by name.
    pub addresses: BTreeMap<String, Address>,
}

/// A transaction's ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelLine {
    /// Index in the block.
    pub index: u64,
    /// Transaction hash.
    pub tx: B256,
    /// Who and why (`trader:buy-weth`, `attack:spot-pump:pump`).
    pub what: String,
    /// The attacker's.
    pub malicious: bool,
}

/// One block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockLine {
    /// Always `block`.
    pub kind: String,
    /// `eth_getBlockByNumber(n, true)`.
    pub block: Block,
    /// `eth_getBlockReceipts(n)`.
    pub receipts: Vec<TransactionReceipt>,
    /// `debug_traceBlockByNumber(n, {tracer: "callTracer", tracerConfig: {withLog: true}})`, or null.
    pub traces: Option<Vec<TraceResult>>,
    /// Ground truth per transaction.
    pub labels: Vec<LabelLine>,
}

#[derive(Serialize)]
struct BlockLineRef<'a> {
    kind: &'static str,
    block: &'a Block,
    receipts: &'a [TransactionReceipt],
    traces: Option<&'a [TraceResult]>,
    labels: Vec<LabelLine>,
}

#[derive(Serialize)]
struct SummaryRef<'a> {
    kind: &'static str,
    #[serde(flatten)]
    report: &'a ScenarioReport,
}

/// Writes the header line for `run`.
pub fn write_header(w: &mut impl Write, run: &ScenarioRun) -> std::io::Result<()> {
    let header = Header {
        kind: "scenario".into(),
        name: run.spec.name.into(),
        about: run.spec.about.into(),
        seed: run.options().seed,
        blocks: run.total_blocks(),
        chain_id: crate::evm::CHAIN_ID,
        genesis: (run.chain.head().number, run.chain.head_hash()),
        tracing: run.chain.tracing(),
        price_source: run.price_source().into(),
        attack: run.plan.as_ref().map(|p| p.attack.name().to_string()),
        addresses: run.addresses(),
    };
    serde_json::to_writer(&mut *w, &header)?;
    w.write_all(b"\n")
}

/// Writes one block line.
pub fn write_block(w: &mut impl Write, b: &SimBlock) -> std::io::Result<()> {
    let labels = b
        .labels
        .iter()
        .zip(&b.receipts)
        .enumerate()
        .map(|(i, (l, r))| LabelLine {
            index: i as u64,
            tx: r.transaction_hash,
            what: l.what.clone(),
            malicious: l.malicious,
        })
        .collect();
    let line =
        BlockLineRef { kind: "block", block: &b.block, receipts: &b.receipts, traces: b.traces.as_deref(), labels };
    serde_json::to_writer(&mut *w, &line)?;
    w.write_all(b"\n")
}

/// Writes the summary line.
pub fn write_summary(w: &mut impl Write, report: &ScenarioReport) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, &SummaryRef { kind: "summary", report })?;
    w.write_all(b"\n")
}
