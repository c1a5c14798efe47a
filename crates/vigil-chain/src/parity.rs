//! Parity `trace_block` traces (flat, with trace addresses) turned into geth callTracer call trees, so that
//! detectors read one trace format whichever a node offers.
//!
//! Each transaction's traces arrive in depth-first order with `traceAddress` giving the path from the root
//! (`[]` the transaction itself, `[0, 1]` the second call made by its first call). Block rewards (no
//! transaction) are dropped. Parity reports the gas of a call without the intrinsic gas at the top level, so
//! top-level gas figures differ from geth's; calls, values, inputs, outputs, errors and nesting are the same.

use alloy::primitives::{B256, U256};
use alloy::rpc::types::trace::{
    geth::{CallFrame, GethTrace, TraceResult},
    parity::{Action, CallType, LocalizedTransactionTrace, TraceOutput},
};

/// Errors of the conversion.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// A trace's path names a parent that is not there.
    #[error("transaction {tx}: trace address {path:?} has no parent frame")]
    Orphan {
        /// The transaction.
        tx: B256,
        /// Its trace address.
        path: Vec<usize>,
    },
}

/// Converts a block's parity traces into one callTracer result per transaction, in block order.
pub fn to_call_frames(traces: &[LocalizedTransactionTrace]) -> Result<Vec<TraceResult>, ParityError> {
    let mut out: Vec<(B256, CallFrame)> = Vec::new();
    for t in traces {
        let Some(tx) = t.transaction_hash else { continue };
        let frame = frame_of(t);
        let path = &t.trace.trace_address;
        if path.is_empty() {
            out.push((tx, frame));
            continue;
        }
        let root = match out.last_mut() {
            Some((h, root)) if *h == tx => root,
            _ => return Err(ParityError::Orphan { tx, path: path.clone() }),
        };
        let mut parent = root;
        for &i in &path[..path.len() - 1] {
            parent = parent.calls.get_mut(i).ok_or_else(|| ParityError::Orphan { tx, path: path.clone() })?;
        }
        if parent.calls.len() != path[path.len() - 1] {
            return Err(ParityError::Orphan { tx, path: path.clone() });
        }
        parent.calls.push(frame);
    }
    Ok(out
        .into_iter()
        .map(|(tx, frame)| TraceResult::Success { result: GethTrace::CallTracer(frame), tx_hash: Some(tx) })
        .collect())
}

fn frame_of(t: &LocalizedTransactionTrace) -> CallFrame {
    let mut frame = CallFrame { error: t.trace.error.clone(), ..Default::default() };
    match &t.trace.action {
        Action::Call(c) => {
            frame.from = c.from;
            frame.to = Some(c.to);
            frame.gas = U256::from(c.gas);
            frame.input = c.input.clone();
            frame.typ = match c.call_type {
                CallType::DelegateCall => "DELEGATECALL",
                CallType::StaticCall => "STATICCALL",
                CallType::CallCode => "CALLCODE",
                _ => "CALL",
            }
            .into();
            // A static call carries no value; a delegate call reports the value it inherits, as geth's does.
            if c.call_type != CallType::StaticCall {
                frame.value = Some(c.value);
            }
        }
        Action::Create(c) => {
            frame.from = c.from;
            frame.gas = U256::from(c.gas);
            frame.input = c.init.clone();
            frame.value = Some(c.value);
            frame.typ = "CREATE".into();
        }
        Action::Selfdestruct(s) => {
            frame.from = s.address;
            frame.to = Some(s.refund_address);
            frame.value = Some(s.balance);
            frame.typ = "SELFDESTRUCT".into();
        }
        Action::Reward(r) => {
            frame.to = Some(r.author);
            frame.value = Some(r.value);
            frame.typ = "REWARD".into();
        }
    }
    match &t.trace.result {
        Some(TraceOutput::Call(o)) => {
            frame.gas_used = U256::from(o.gas_used);
            frame.output = Some(o.output.clone());
        }
        Some(TraceOutput::Create(o)) => {
            frame.gas_used = U256::from(o.gas_used);
            frame.to = Some(o.address);
            frame.output = Some(o.code.clone());
        }
        None => {}
    }
    frame
}
