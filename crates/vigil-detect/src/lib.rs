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
//! State is kept per block (a window of samples keyed by block), so `revert_to` forgets orphaned blocks exactly.

pub mod admin;
pub mod correlation;
pub mod flashloan;
pub mod governance;
pub mod outflow;
pub mod preexploit;
pub mod price;
pub mod reentrancy;
pub mod rule;
pub mod series;
pub mod solvency;
#[cfg(test)]
pub mod testdata;
pub mod watch;
