//! Vigil's proving ground: the reference venue, its attackers, and the chains they run on.
//!
//! - [`evm`]: an in-process EVM (revm) advanced block by block;
//! - [`node`]: the same transactions sent to a real node over JSON-RPC (anvil in tests);
//! - [`backend`]: the trait both implement, so deployment and attack scripts are written once;
//! - [`actors`]: the named actors and their (public, test-only) keys;
//! - [`venue`]: deployment of the Guardian and the reference venue, with its addresses;
//! - [`attacks`]: one script per attack, run against the venue, reporting what was taken;
//! - [`gate`]: attestation-gated entry (the SecurityGate's simulation mode and `attestedCall`);
//! - [`state`]: a snapshot of the venue's balances and prices read from chain state.
//!
//! The trade-off: the in-process EVM is fast and deterministic but is not a node; everything that matters is
//! also run against anvil so that the two stay in agreement.

pub mod actors;
pub mod attacks;
pub mod backend;
pub mod chain;
pub mod evm;
pub mod gate;
pub mod jsonl;
pub mod node;
pub mod pause;
pub mod price;
pub mod scenario;
pub mod state;
pub mod traffic;
pub mod venue;

pub use actors::Actors;
pub use backend::{Backend, ExecError, Reader};
pub use evm::InProcessEvm;
pub use node::NodeBackend;
pub use venue::{deploy_venue, Venue, VenueConfig};
