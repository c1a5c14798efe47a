//! The oracle network's transport: signed messages among the nodes of the Guardian's oracle set, over HTTP.
//!
//! Each node runs an inbox ([`inbox::Inbox`], an axum endpoint) and sends to every configured peer
//! ([`peers::Peers`], reqwest). Every message is signed by the sender's oracle key over its exact bytes, bound to
//! one chain and one Guardian ([`envelope`]); the inbox drops messages from outside the oracle set, forged or
//! tampered ones, replays, stale ones and floods before the node sees them, and counts each reason. Whether a
//! share it carries counts towards a quorum is decided by the node against the Guardian's state
//! (`vigil_respond::ShareBook`), not here.
//!
//! Why authenticated HTTP among configured peers rather than a gossip network (rust-libp2p gossipsub): the
//! oracle set is small (at most 31 nodes, the Guardian's rule) and known on-chain, so a full mesh of direct
//! requests reaches every peer in one hop with no relay to trust or to partition; it adds no dependency the node
//! does not already build (axum, reqwest), and its failures are plain HTTP statuses an operator can read. See
//! docs/decisions.md.
//!
//! - [`envelope`]: messages, the signed stamp and its verification;
//! - [`inbox`]: receiving and the checks, in order;
//! - [`peers`]: sending to every peer, and each peer's health.

pub mod envelope;
pub mod inbox;
pub mod peers;

pub use envelope::{Message, Network, Stamp, WireShare};
pub use inbox::{Drop, Inbound, Inbox, InboxConfig, InboxStats, Members};
pub use peers::{Peer, PeerHealth, Peers, SendError};
