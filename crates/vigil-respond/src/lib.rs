//! Incidents and responses.
//!
//! - [`incident`]: findings about one protocol scope are grouped into an incident; repeated findings are
//!   suppressed; a policy maps an incident's severity to actions, and each incident takes each action at most once;
//! - [`responder`]: the trait an on-chain response implements (its probes, what it observes in a block, the
//!   transaction for an action or the reason the contract would refuse it);
//! - [`guardian`]: the Guardian responder: its state read at every block, admission mirrored from the contract,
//!   the EIP-712 report signed with the node's oracle keys and the `pauseWithQuorum` call;
//! - [`quorum`]: shares of the oracle network, each node's signature of a report, checked against the
//!   Guardian's state and collected until a quorum has signed;
//! - [`webhook`]: notifications as JSON POSTs signed with HMAC-SHA256.

pub mod guardian;
pub mod incident;
pub mod quorum;
pub mod responder;
pub mod webhook;

pub use guardian::{GuardianResponder, GuardianView};
pub use incident::{Action, ActionKind, Incident, IncidentBook, Policy, PolicyRule};
pub use quorum::{Counted, Share, ShareBook, ShareRejection};
pub use responder::{Observation, PrepareError, Prepared, Responder};
pub use webhook::{Notification, WebhookNotifier};
