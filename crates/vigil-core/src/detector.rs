//! The detector contract.
//!
//! The engine calls, for every canonical block in order, [`Detector::on_block`] with the block's bundle (whose
//! probe values include every probe the detector declared in [`Detector::probes`]); on a reorg it calls
//! [`Detector::revert_to`] with the common ancestor before handing it the new blocks. A detector keeps its state
//! per block so that reverting forgets exactly what the orphaned blocks taught it. An error stops the block's
//! processing; the engine records it and retries the block, never skipping it.

use crate::bundle::{Bundle, Probe};
use crate::finding::{BlockRef, Finding};

/// A detector failed on a block.
#[derive(Debug, thiserror::Error)]
#[error("detector \"{detector}\" failed at block #{block}: {reason}")]
pub struct DetectorError {
    /// The detector's name.
    pub detector: String,
    /// The block.
    pub block: u64,
    /// What went wrong.
    pub reason: String,
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
