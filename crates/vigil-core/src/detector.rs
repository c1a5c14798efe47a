//! The detector contract.
//!
//! The engine calls, for every canonical block in order, [`Detector::on_block`] with the block's bundle (whose
//! probe values include every probe the detector declared in [`Detector::probes`]); on a reorg it calls
//! [`Detector::revert_to`] with the common ancestor before handing it the new blocks. A detector keeps its state
//! per block so that reverting forgets exactly what the orphaned blocks taught it, and a block handed to it again
//! (the engine's retry) replaces what that block taught it the first time. An error stops the block's processing;
//! the engine records it and retries the block, never skipping it: [`DetectorError::retryable`] says whether
//! reading the block again can help (a probe the source did not read) or not (the block's data does not fit the
//! detector's configuration, which only a change of configuration cures).

use crate::bundle::{Bundle, Probe};
use crate::finding::{BlockRef, Finding};

/// Why a detector failed on a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetectorCause {
    /// Something the detector declared that it reads (a probe answer, the block's traces as fetched) is missing
    /// or broken in the bundle: fetching the block again can help.
    #[error("{0}")]
    MissingInput(String),
    /// The block's data does not fit the detector (a probe that reverts or does not decode, an event it cannot
    /// read): the same block gives the same error.
    #[error("{0}")]
    Data(String),
    /// The detector's configuration cannot work on this source (for example, traces required but not fetched).
    #[error("{0}")]
    Config(String),
    /// A rule's expression failed on a match.
    #[error("{0}")]
    Evaluation(String),
}

impl DetectorCause {
    /// Whether fetching and reading the block again can help.
    pub fn retryable(&self) -> bool {
        matches!(self, DetectorCause::MissingInput(_))
    }

    /// The same cause, its message behind `context: ` (the class, and so whether a retry helps, is kept).
    pub fn prefixed(self, context: &str) -> Self {
        let with = |m: String| format!("{context}: {m}");
        match self {
            DetectorCause::MissingInput(m) => DetectorCause::MissingInput(with(m)),
            DetectorCause::Data(m) => DetectorCause::Data(with(m)),
            DetectorCause::Config(m) => DetectorCause::Config(with(m)),
            DetectorCause::Evaluation(m) => DetectorCause::Evaluation(with(m)),
        }
    }
}

/// A detector failed on a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("detector \"{detector}\" failed at block #{} ({}): {cause}", block.number, short_hash(&block.hash))]
pub struct DetectorError {
    /// The detector's name.
    pub detector: String,
    /// The block.
    pub block: BlockRef,
    /// What went wrong.
    pub cause: DetectorCause,
}

impl DetectorError {
    /// Detector `detector` failed on `block` because of `cause`.
    pub fn new(detector: impl Into<String>, block: BlockRef, cause: DetectorCause) -> Self {
        Self { detector: detector.into(), block, cause }
    }

    /// Whether fetching and reading the block again can help ([`DetectorCause::retryable`]).
    pub fn retryable(&self) -> bool {
        self.cause.retryable()
    }
}

/// `0xab12…cd34`: enough of a hash to tell blocks apart in a message.
pub fn short_hash(hash: &alloy::primitives::B256) -> String {
    let hex = format!("{hash:x}");
    format!("0x{}…{}", &hex[..4], &hex[hex.len() - 4..])
}

/// Turns bundles into findings.
pub trait Detector: Send {
    /// The configured name.
    fn name(&self) -> &str;
    /// State reads this detector needs at every block.
    fn probes(&self) -> Vec<Probe> {
        Vec::new()
    }
    /// Reads one canonical block.
    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError>;
    /// Forgets everything learnt from blocks after `ancestor`.
    fn revert_to(&mut self, ancestor: BlockRef);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_detector_block_hash_and_cause_and_says_whether_a_retry_helps() {
        let block = BlockRef { number: 19_000_000, hash: alloy::primitives::B256::repeat_byte(0xab) };
        let e = DetectorError::new("pool-outflow", block, DetectorCause::MissingInput("no balance read".into()));
        assert_eq!(e.to_string(), "detector \"pool-outflow\" failed at block #19000000 (0xabab…abab): no balance read");
        assert!(e.retryable());
        assert!(!DetectorError::new("r", block, DetectorCause::Data("reverted".into())).retryable());
        assert_eq!(
            DetectorCause::Config("no traces".into()).prefixed("calls = \"internal\""),
            DetectorCause::Config("calls = \"internal\": no traces".into())
        );
    }
}
