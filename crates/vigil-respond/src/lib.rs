//! Incidents and responses.
//!
//! - [`incident`]: findings about one protocol scope are grouped into an incident; repeated findings are
//!   suppressed; a policy maps an incident's severity to actions, and each incident takes each action at most once.
//! - [`pause`]: the pause responder builds the Guardian's EIP-712 report for an incident, signs it with the node's
//!   quorum keys and produces the `pauseWithQuorum` call;
//! - [`webhook`]: notifications as JSON POSTs signed with HMAC-SHA256.

pub mod incident;
pub mod pause;
pub mod webhook;

pub use incident::{Action, ActionKind, Incident, IncidentBook, Policy};
pub use pause::PauseResponder;
pub use webhook::{Notification, WebhookNotifier};
