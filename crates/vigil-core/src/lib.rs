//! Vigil's domain types, shared by every other crate; no I/O.
//!
//! - [`scope`]: which part of a protected contract a pause covers;
//! - [`quorum`]: the EIP-712 pause report that a quorum of independent Vigil nodes signs;
//! - [`attestation`]: the EIP-712 attestation that a screened transaction is safe, for the SecurityGate;
//! - [`bundle`]: chain events and block bundles (block, receipts, traces, probe values);
//! - [`finding`]: findings, severities and kinds;
//! - [`incident`]: incidents and the actions they take (notify, pause);
//! - [`detector`]: the trait every detector implements;
//! - [`store`]: the trait every store implements (cursor, findings, incidents, actions, failures);
//! - [`suggest`]: "did you mean" for mistyped names;
//! - [`defaults!`]: serde's default functions, a line each.

pub mod attestation;
pub mod bundle;
pub mod detector;
pub mod finding;
pub mod incident;
pub mod quorum;
pub mod scope;
pub mod store;
pub mod suggest;

pub use attestation::{execution_hash, gate_domain, sign_attestation, Attestation};
pub use bundle::{BlockHeader, BlockPart, Bundle, ChainEvent, Probe, Receipt, ReceiptsPart, Tx};
pub use detector::{Detector, DetectorCause, DetectorError};
pub use finding::{BlockRef, Finding, FindingKind, Severity};
pub use incident::{Action, ActionKind, Incident, IncidentState, Refusal, Resolution};
pub use quorum::{
    evidence_hash, guardian_domain, incident_id, report_digest, sign_ordered, sign_report, PauseReport, QuorumError,
};
pub use scope::Scope;
pub use store::{Store, StoreError, StoredAction};

/// Serde's default functions (`#[serde(default = "name")]`), one line each: `name: Type = value;` (doc comments
/// and a visibility may precede a line).
///
/// ```
/// vigil_core::defaults! {
///     /// Blocks in a window.
///     default_window: u64 = 50;
/// }
/// assert_eq!(default_window(), 50);
/// ```
#[macro_export]
macro_rules! defaults {
    ($($(#[$meta:meta])* $vis:vis $name:ident: $type:ty = $value:expr;)*) => {
        $($(#[$meta])* $vis fn $name() -> $type { $value })*
    };
}
