//! Vigil's detectors. Each is a config struct (serde, unknown keys refused, defaults documented) and a
//! detector that implements [`vigil_core::Detector`]:
//!
//! - [`outflow::OutflowRateDetector`]: net outflow of an asset from a contract over a sliding window of blocks
//!   against its liquidity (the ERC-7265 rule);
//! - [`price::PriceDeviationDetector`]: an AMM's spot price against a reference feed, and a z-score of its log
//!   returns against an EWMA of their mean and variance;
//! - [`solvency::SolvencyDetector`]: collateral at a reference price against debt, per market and in total;
//! - [`admin::AdminChangeDetector`]: ownership, role, implementation and parameter changes on watched contracts.
//!
//! [`trace`] holds what the trace detectors (reentrancy, flash loans, pre-exploit) share: each transaction's
//! callTracer root frame, the error for unusable traces, the walk over frames that can change state.
//!
//! State is kept per block (a window of samples keyed by block), so `revert_to` forgets orphaned blocks exactly.

pub mod admin;
pub mod correlation;
pub mod flashloan;
pub mod governance;
mod history;
pub mod outflow;
pub mod preexploit;
pub mod price;
pub mod reentrancy;
pub mod rule;
pub mod series;
pub mod solvency;
#[cfg(test)]
pub mod testdata;
pub mod trace;
pub mod watch;

use alloy::primitives::B256;
use vigil_core::{BlockRef, Finding, FindingKind, Scope, Severity};

/// A finding with the fields every detector fills the same way: `detector` and `protocol` (its configured name and
/// protocol), and `labels`; [`Finding::with_actor`] adds an actor and a stage.
pub(crate) fn finding(
    (detector, protocol): (&str, &str),
    block: BlockRef,
    tx: Option<B256>,
    (scope, severity, kind): (Scope, Severity, FindingKind),
    title: String,
    evidence: serde_json::Value,
    labels: &[(&str, String)],
) -> Finding {
    Finding {
        detector: detector.to_string(),
        protocol: protocol.to_string(),
        scope,
        severity,
        kind,
        block,
        tx,
        title,
        evidence,
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    }
}
