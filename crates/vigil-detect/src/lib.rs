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
//! State is kept per block (`history`: the detector's window plus the source's reorg depth), so `revert_to`
//! forgets orphaned blocks exactly.
//!
//! Every kind is registered in the one list below ([`registry`]): it generates [`DetectorConfig`] and
//! [`DETECTOR_TYPES`], and runs each kind through the conformance suite (`conformance`, test builds).

pub mod admin;
#[cfg(test)]
mod conformance;
pub mod correlation;
mod ewma;
pub mod flashloan;
pub mod governance;
mod history;
pub mod outflow;
pub mod preexploit;
pub mod price;
pub mod probe;
pub mod reentrancy;
pub mod registry;
pub mod rule;
pub mod series;
pub mod solvency;
#[cfg(test)]
pub mod testdata;
pub mod trace;
pub mod watch;

pub use registry::{BuildContext, BuildError, ConfigIssue, DetectorKind, Reads, Registered, TraceUse};

registry::detectors! {
    /// A declarative rule: an event, call, transaction or probe, a Rhai condition, an optional windowed aggregate
    /// (call traces when it matches internal calls: `RuleConfig::needs_traces`).
    Rule(rule::RuleConfig) = "rule", Reads { receipts: true, traces: TraceUse::Optional };
    /// ERC-7265 outflow rate.
    OutflowRate(outflow::OutflowConfig) = "outflow-rate", Reads::RECEIPTS;
    /// AMM spot against a feed, and a z-score of returns.
    PriceDeviation(price::PriceDeviationConfig) = "price-deviation", Reads::PROBES;
    /// Ownership, role, implementation and parameter changes.
    AdminChange(admin::AdminChangeConfig) = "admin-change", Reads::RECEIPTS;
    /// Collateral at a reference price against debt.
    Solvency(solvency::SolvencyConfig) = "solvency", Reads::PROBES;
    /// Proposals carrying fund-moving code, and proposals or votes by borrowed voting power.
    Governance(governance::GovernanceConfig) = "governance", Reads::RECEIPTS;
    /// A watched contract re-entered while an outer frame of it still runs (call traces).
    Reentrancy(reentrancy::ReentrancyConfig) = "reentrancy", Reads { receipts: false, traces: TraceUse::Required };
    /// A flash loan with a large price impact in the same transaction (call traces).
    FlashLoan(flashloan::FlashLoanConfig) = "flash-loan", Reads { receipts: true, traces: TraceUse::Required };
    /// Attack contracts deployed, and fresh contracts calling the protocol (creations from receipts, and from call
    /// traces when the bundle has them: contracts deployed by contracts).
    PreExploit(preexploit::PreExploitConfig) = "pre-exploit", Reads { receipts: true, traces: TraceUse::Optional };
    /// EWMA z-score of a probe series.
    EwmaZscore(series::EwmaZscoreConfig) = "ewma-zscore", Reads::PROBES;
    /// CUSUM change point of a probe series.
    Cusum(series::CusumConfig) = "cusum", Reads::PROBES;
    /// A probe series against a reference series.
    ReferenceDeviation(series::ReferenceDeviationConfig) = "reference-deviation", Reads::PROBES;
    /// A probe series within bounds.
    RatioBounds(series::RatioBoundsConfig) = "ratio-bounds", Reads::PROBES;
    /// A sudden per-block change of a probe series.
    Jump(series::JumpConfig) = "jump", Reads::PROBES;
}

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
