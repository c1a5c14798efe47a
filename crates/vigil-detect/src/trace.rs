//! What the trace detectors ([`crate::reentrancy`], [`crate::flashloan`], [`crate::preexploit`]) share: a block's
//! geth `callTracer` traces read as one root frame per transaction ([`call_traces`], [`call_trace`]), the error
//! for traces a detector cannot use ([`TraceError`]), the walk over the frames that can change state
//! ([`LiveFrames`]), and small readings of a transaction ([`receipt_for`], [`selector_hex`]).

use alloy::{
    primitives::B256,
    rpc::types::trace::geth::{call::CallFrameIter, CallFrame, GethTrace, TraceResult},
};
use vigil_core::{BlockRef, Bundle, DetectorCause, DetectorError, Receipt};

/// Why a block's traces could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceError {
    /// The bundle has no traces.
    #[error("callTracer traces are required: turn traces on in the node's source")]
    TracesRequired,
    /// The node could not trace a transaction.
    #[error("the trace of transaction #{index} ({tx:?}) failed: {error}")]
    TraceFailed {
        /// Index in the block.
        index: usize,
        /// Hash, when the node gave it.
        tx: Option<B256>,
        /// The node's message.
        error: String,
    },
    /// A trace of another tracer.
    #[error("the trace of transaction #{index} is not a callTracer trace")]
    NotCallTracer {
        /// Index in the block.
        index: usize,
    },
}

impl TraceError {
    /// The error of detector `detector` at block `block`: traces not fetched at all are a configuration error;
    /// a failed or foreign trace may be fetched again.
    pub fn at(&self, detector: &str, block: BlockRef) -> DetectorError {
        DetectorError::new(detector, block, self.cause())
    }

    /// The cause, classified: traces not fetched at all are a configuration error; a failed or foreign trace may
    /// be fetched again.
    pub fn cause(&self) -> DetectorCause {
        match self {
            TraceError::TracesRequired => DetectorCause::Config(self.to_string()),
            TraceError::TraceFailed { .. } | TraceError::NotCallTracer { .. } => {
                DetectorCause::MissingInput(self.to_string())
            }
        }
    }
}

/// One transaction's call tree.
#[derive(Debug, Clone, Copy)]
pub struct TxTrace<'a> {
    /// Index in the block.
    pub index: usize,
    /// The transaction's hash: the trace's, else that of the block's transaction at `index`, when known.
    pub hash: Option<B256>,
    /// The top call.
    pub top: &'a CallFrame,
}

/// Transaction `index`'s callTracer trace; `None` when the bundle has no trace at that index.
pub fn call_trace(bundle: &Bundle, index: usize) -> Option<Result<TxTrace<'_>, TraceError>> {
    let trace = bundle.traces.as_ref()?.get(index)?;
    Some(match trace {
        TraceResult::Success { result: GethTrace::CallTracer(top), tx_hash } => {
            let hash = tx_hash.or_else(|| bundle.transactions.get(index).map(|t| t.hash));
            Ok(TxTrace { index, hash, top })
        }
        TraceResult::Success { .. } => Err(TraceError::NotCallTracer { index }),
        TraceResult::Error { error, tx_hash } => {
            Err(TraceError::TraceFailed { index, tx: *tx_hash, error: error.clone() })
        }
    })
}

/// Every transaction's callTracer trace, in block order; [`TraceError::TracesRequired`] when the bundle has none.
pub fn call_traces(bundle: &Bundle) -> Result<impl Iterator<Item = Result<TxTrace<'_>, TraceError>> + '_, TraceError> {
    let n = bundle.traces.as_ref().ok_or(TraceError::TracesRequired)?.len();
    Ok((0..n).filter_map(move |index| call_trace(bundle, index)))
}

/// The frames of a call tree that can change state, depth first from the top: a reverted frame or a `STATICCALL` is
/// skipped with everything under it. [`LiveFrames::walked`] counts the frames looked at, the skipped ones included.
pub struct LiveFrames<'a> {
    it: CallFrameIter<'a>,
    walked: usize,
}

impl<'a> LiveFrames<'a> {
    /// The live frames of `top`'s tree (`top` included, when it is live).
    pub fn new(top: &'a CallFrame) -> Self {
        Self { it: top.iter(), walked: 0 }
    }

    /// Frames looked at so far (yielded or skipped; the frames under a skipped one are not looked at).
    pub fn walked(&self) -> usize {
        self.walked
    }
}

impl<'a> Iterator for LiveFrames<'a> {
    type Item = &'a CallFrame;

    fn next(&mut self) -> Option<&'a CallFrame> {
        loop {
            let f = self.it.next()?;
            self.walked += 1;
            if f.error.is_some() || f.typ == "STATICCALL" {
                self.it.skip_children();
                continue;
            }
            return Some(f);
        }
    }
}

/// The receipt of transaction `index`, matched by hash when it is known.
pub fn receipt_for(bundle: &Bundle, index: usize, hash: Option<B256>) -> Option<&Receipt> {
    match (bundle.receipts.get(index), hash) {
        (Some(r), Some(h)) if r.transaction_hash == h => Some(r),
        (Some(r), None) => Some(r),
        (_, Some(h)) => bundle.receipts.iter().find(|r| r.transaction_hash == h),
        (None, None) => None,
    }
}

/// The call's selector as `0x` and 8 hex digits; `0x` when the input is shorter than a selector.
pub fn selector_hex(input: &[u8]) -> String {
    if input.len() < 4 {
        "0x".to_string()
    } else {
        alloy::hex::encode_prefixed(&input[..4])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_frames_skip_static_and_reverted_subtrees_but_count_them() {
        let leaf = |typ: &str| CallFrame { typ: typ.into(), ..Default::default() };
        let mut reverted = leaf("CALL");
        reverted.error = Some("execution reverted".into());
        reverted.calls = vec![leaf("CALL")];
        let mut static_call = leaf("STATICCALL");
        static_call.calls = vec![leaf("CALL")];
        let mut top = leaf("CALL");
        top.calls = vec![reverted, leaf("DELEGATECALL"), static_call, leaf("CREATE")];
        let mut live = LiveFrames::new(&top);
        let typs: Vec<_> = live.by_ref().map(|f| f.typ.as_str()).collect();
        assert_eq!(typs, ["CALL", "DELEGATECALL", "CREATE"]);
        assert_eq!(live.walked(), 5);
    }

    #[test]
    fn every_trace_is_a_root_frame_or_an_error() {
        let b = crate::testdata::mainnet_traced_block();
        let traces: Vec<_> = call_traces(&b).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(traces.len(), 361);
        assert!(traces.iter().enumerate().all(|(i, t)| t.index == i && t.hash.is_some()));
        let mut b = b;
        b.traces = Some(vec![
            TraceResult::Success { result: GethTrace::Default(Default::default()), tx_hash: None },
            TraceResult::Error { error: "boom".into(), tx_hash: Some(B256::ZERO) },
        ]);
        let errors: Vec<_> = call_traces(&b).unwrap().map(|t| t.unwrap_err()).collect();
        assert_eq!(errors[0], TraceError::NotCallTracer { index: 0 });
        assert!(
            errors[1].at("d", BlockRef { number: 7, hash: B256::ZERO }).to_string().contains("#1")
                && errors[1].cause().to_string().contains("boom")
        );
        b.traces = None;
        assert_eq!(call_traces(&b).err(), Some(TraceError::TracesRequired));
        assert!(call_trace(&b, 0).is_none());
        assert_eq!(
            (selector_hex(&[1, 2, 3]), selector_hex(&[0xab, 0xcd, 0xef, 0x01, 2])),
            ("0x".into(), "0xabcdef01".into())
        );
    }
}
