//! Vigil's domain types, shared by every other crate; no I/O.
//!
//! For now this holds what a response needs to reach a protocol through the Guardian: guardian scopes and
//! the EIP-712 pause report that a quorum of independent Vigil nodes signs ([`quorum`]). The engine's chain
//! events, bundles, detectors, findings and incidents join here when the engine is built.

pub mod quorum;
pub mod scope;

pub use quorum::{guardian_domain, sign_report, PauseReport, QuorumError};
pub use scope::Scope;
