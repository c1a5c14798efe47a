//! One decoding path from JSON-RPC answers to a [`Bundle`], shared by live fetching ([`crate::fetch`]) and
//! replay of recorded answers ([`crate::replay`]).
//!
//! Each function takes the raw JSON of one answer's `result` (the text of a `serde_json::value::RawValue`, or a
//! recorded line's field) and the method it answers (named in errors), and decodes it into alloy's types:
//! `eth_getBlockByNumber(n, true)` into a [`Block`], `eth_getBlockReceipts` (or one `eth_getTransactionReceipt`
//! per transaction) into receipts, `debug_trace*` with callTracer into [`TraceResult`]s, parity `trace_block`
//! into the same through [`crate::parity::to_call_frames`], and `eth_call` into probe values. [`assemble`] then checks that the parts
//! describe one block: one receipt per transaction, in order, each naming the block's hash and its transaction's
//! hash; one trace per transaction, naming its transaction when the node says which. [`bundle`] does all of it
//! for a set of answers.
//!
//! Errors name the block (when known), the method and what is wrong; an inconsistency is never repaired.

use std::collections::BTreeMap;

use alloy::{
    primitives::{Bytes, B256},
    rpc::types::{trace::geth::TraceResult, trace::parity::LocalizedTransactionTrace},
};
use vigil_core::{BlockPart, Bundle, Probe, ReceiptsPart};

/// Errors of decoding.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// An answer is not the JSON its method returns.
    #[error("{}{method}: unexpected answer: {reason}", at(*number))]
    Malformed {
        /// The method answered.
        method: &'static str,
        /// The block, when known.
        number: Option<u64>,
        /// What serde (or the check) says.
        reason: String,
    },
    /// The answers decode but do not describe one block.
    #[error("block #{number} ({hash}): {reason}")]
    Inconsistent {
        /// The block.
        number: u64,
        /// Its hash.
        hash: B256,
        /// What does not fit.
        reason: String,
    },
}

fn at(number: Option<u64>) -> String {
    number.map(|n| format!("block #{n}: ")).unwrap_or_default()
}

fn json<T: serde::de::DeserializeOwned>(
    method: &'static str,
    number: Option<u64>,
    raw: &str,
) -> Result<T, DecodeError> {
    serde_json::from_str(raw).map_err(|e| {
        let reason = if raw.trim() == "null" { format!("null ({e})") } else { e.to_string() };
        DecodeError::Malformed { method, number, reason }
    })
}

/// Decodes a block with full transactions (`eth_getBlockByNumber(n, true)`, `eth_getBlockByHash(h, true)`) as
/// far as a bundle holds it ([`BlockPart`]). With `number`, the block must be that one.
pub fn block(method: &'static str, raw: &str, number: Option<u64>) -> Result<BlockPart, DecodeError> {
    let block = BlockPart::from_json(raw).map_err(|e| {
        let reason = if raw.trim() == "null" { format!("null ({e})") } else { e.to_string() };
        DecodeError::Malformed { method, number, reason }
    })?;
    if let Some(n) = number {
        if block.header.number != n {
            return Err(DecodeError::Inconsistent {
                number: n,
                hash: block.header.hash,
                reason: format!("asked for #{n}, got #{}", block.header.number),
            });
        }
    }
    Ok(block)
}

/// Decodes a block's receipts (`eth_getBlockReceipts`, `erigon_getBlockReceiptsByBlockHash`).
pub fn receipts(method: &'static str, raw: &str, number: Option<u64>) -> Result<ReceiptsPart, DecodeError> {
    ReceiptsPart::from_json(raw).map_err(|e| {
        let reason = if raw.trim() == "null" { format!("null ({e})") } else { e.to_string() };
        DecodeError::Malformed { method, number, reason }
    })
}

/// Decodes one `eth_getTransactionReceipt` answer per transaction, in block order.
pub fn receipts_each(raws: &[&str], number: Option<u64>) -> Result<ReceiptsPart, DecodeError> {
    ReceiptsPart::from_each(raws).map_err(|(i, e)| DecodeError::Malformed {
        method: "eth_getTransactionReceipt",
        number,
        reason: format!("receipt {i}: {e}"),
    })
}

/// Decodes a block's callTracer traces (`debug_traceBlockByHash`, `debug_traceBlockByNumber`).
pub fn call_traces(method: &'static str, raw: &str, number: Option<u64>) -> Result<Vec<TraceResult>, DecodeError> {
    json(method, number, raw)
}

/// Decodes a block's parity traces (`trace_block`) and turns them into one callTracer tree per transaction.
pub fn parity_traces(method: &'static str, raw: &str, number: Option<u64>) -> Result<Vec<TraceResult>, DecodeError> {
    let flat: Vec<LocalizedTransactionTrace> = json(method, number, raw)?;
    crate::parity::to_call_frames(&flat).map_err(|e| DecodeError::Inconsistent {
        number: number.or_else(|| flat.first().and_then(|t| t.block_number)).unwrap_or_default(),
        hash: flat.first().and_then(|t| t.block_hash).unwrap_or_default(),
        reason: e.to_string(),
    })
}

/// Decodes an `eth_call` result (a probe's return data).
pub fn probe_value(raw: &str, number: Option<u64>) -> Result<Bytes, DecodeError> {
    json("eth_call", number, raw)
}

/// Checks that `receipts` and `traces` belong to `block` (see the module docs) and makes the bundle.
pub fn assemble(
    block: BlockPart,
    receipts: ReceiptsPart,
    traces: Option<Vec<TraceResult>>,
    probes: BTreeMap<Probe, Result<Bytes, Bytes>>,
) -> Result<Bundle, DecodeError> {
    check(&block, &receipts, traces.as_deref())?;
    Ok(Bundle::from_parts(block, receipts, traces, probes))
}

/// The checks of [`assemble`], on borrowed parts.
pub fn check(block: &BlockPart, receipts: &ReceiptsPart, traces: Option<&[TraceResult]>) -> Result<(), DecodeError> {
    let (number, hash) = (block.header.number, block.header.hash);
    let inconsistent = |reason: String| DecodeError::Inconsistent { number, hash, reason };
    let tx_count = block.transactions.len();
    let receipts = &receipts.receipts;
    if receipts.len() != tx_count {
        return Err(inconsistent(format!("{} receipts for {tx_count} transactions", receipts.len())));
    }
    for (i, (r, tx)) in receipts.iter().zip(&block.transactions).enumerate() {
        if r.block_hash != Some(hash) || r.transaction_hash != tx.hash {
            let block_hash = r.block_hash.map(|b| b.to_string()).unwrap_or_else(|| "none".into());
            return Err(inconsistent(format!(
                "receipt {i} (of {}) belongs to block {block_hash}, transaction {}",
                tx.hash, r.transaction_hash
            )));
        }
    }
    if let Some(traces) = traces {
        if traces.len() != tx_count {
            return Err(inconsistent(format!("{} traces for {tx_count} transactions", traces.len())));
        }
        for (i, (t, tx)) in traces.iter().zip(&block.transactions).enumerate() {
            if let Some(traced) = t.tx_hash() {
                if traced != tx.hash {
                    return Err(inconsistent(format!("trace {i} is of transaction {traced}, not {}", tx.hash)));
                }
            }
        }
    }
    Ok(())
}

/// How a block's receipts were answered.
#[derive(Debug, Clone, Copy)]
pub enum ReceiptAnswers<'a> {
    /// One answer for the block (`eth_getBlockReceipts` or `erigon_getBlockReceiptsByBlockHash`: the method).
    Block(&'static str, &'a str),
    /// One `eth_getTransactionReceipt` answer per transaction, in block order.
    PerTransaction(&'a [&'a str]),
}

/// How a block's traces were answered.
#[derive(Debug, Clone, Copy)]
pub enum TraceAnswers<'a> {
    /// `debug_traceBlockByHash` / `debug_traceBlockByNumber` (the method) with callTracer.
    CallTracer(&'static str, &'a str),
    /// Parity `trace_block`.
    Parity(&'a str),
}

/// The raw answers that make one block's bundle.
#[derive(Debug, Clone)]
pub struct Answers<'a> {
    /// The block with full transactions, and the method that answered (`eth_getBlockByNumber` …).
    pub block: (&'static str, &'a str),
    /// Its receipts.
    pub receipts: ReceiptAnswers<'a>,
    /// Its traces, if any.
    pub traces: Option<TraceAnswers<'a>>,
    /// Probe results: the `eth_call` answer, or the revert data of a call that reverted.
    pub probes: Vec<(Probe, Result<&'a str, Bytes>)>,
}

impl<'a> Answers<'a> {
    /// Block and block receipts only (`eth_getBlockByNumber`, `eth_getBlockReceipts`).
    pub fn new(block: &'a str, receipts: &'a str) -> Self {
        Self {
            block: ("eth_getBlockByNumber", block),
            receipts: ReceiptAnswers::Block("eth_getBlockReceipts", receipts),
            traces: None,
            probes: Vec::new(),
        }
    }
}

/// Decodes and checks a whole block's answers. With `number`, the block must be that one.
pub fn bundle(answers: &Answers<'_>, number: Option<u64>) -> Result<Bundle, DecodeError> {
    let (method, raw) = answers.block;
    let block = block(method, raw, number)?;
    let n = Some(block.header.number);
    let receipts = match answers.receipts {
        ReceiptAnswers::Block(method, raw) => receipts(method, raw, n)?,
        ReceiptAnswers::PerTransaction(raws) => receipts_each(raws, n)?,
    };
    let traces = match answers.traces {
        None => None,
        Some(TraceAnswers::CallTracer(method, raw)) => Some(call_traces(method, raw, n)?),
        Some(TraceAnswers::Parity(raw)) => Some(parity_traces("trace_block", raw, n)?),
    };
    let mut probes = BTreeMap::new();
    for (probe, answer) in &answers.probes {
        let value = match answer {
            Ok(raw) => Ok(probe_value(raw, n)?),
            Err(revert) => Err(revert.clone()),
        };
        probes.insert(probe.clone(), value);
    }
    assemble(block, receipts, traces, probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = r#"{"hash":"0x0101010101010101010101010101010101010101010101010101010101010101","parentHash":"0x0000000000000000000000000000000000000000000000000000000000000000","sha3Uncles":"0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347","miner":"0x0000000000000000000000000000000000000000","stateRoot":"0x0000000000000000000000000000000000000000000000000000000000000000","transactionsRoot":"0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421","receiptsRoot":"0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421","logsBloom":"0x00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000","difficulty":"0x0","number":"0x7","gasLimit":"0x1c9c380","gasUsed":"0x0","timestamp":"0x5","extraData":"0x","mixHash":"0x0000000000000000000000000000000000000000000000000000000000000000","nonce":"0x0000000000000000","baseFeePerGas":"0x7","uncles":[],"transactions":[]}"#;

    #[test]
    fn an_empty_block_assembles_and_a_stray_receipt_is_named() {
        let b = bundle(&Answers::new(BLOCK, "[]"), Some(7)).unwrap();
        assert_eq!(b.block_ref().number, 7);
        assert!(b.receipts.is_empty() && b.traces.is_none() && b.probes.is_empty());

        let err = bundle(&Answers::new(BLOCK, "[]"), Some(8)).unwrap_err();
        assert_eq!(err.to_string(), format!("block #8 ({}): asked for #8, got #7", B256::repeat_byte(1)));

        let err = bundle(&Answers::new(BLOCK, "[1]"), None).unwrap_err();
        assert!(err.to_string().starts_with("block #7: eth_getBlockReceipts: unexpected answer: "), "{err}");

        let err = bundle(&Answers::new("null", "[]"), Some(7)).unwrap_err();
        assert!(err.to_string().starts_with("block #7: eth_getBlockByNumber: unexpected answer: null"), "{err}");
    }

    #[test]
    fn a_trace_count_that_does_not_match_is_inconsistent() {
        let mut answers = Answers::new(BLOCK, "[]");
        answers.traces = Some(TraceAnswers::CallTracer(
            "debug_traceBlockByHash",
            r#"[{"result":{"type":"CALL","from":"0x0000000000000000000000000000000000000001","gas":"0x0","gasUsed":"0x0","input":"0x"}}]"#,
        ));
        let err = bundle(&answers, None).unwrap_err();
        assert!(err.to_string().ends_with("1 traces for 0 transactions"), "{err}");
    }
}
