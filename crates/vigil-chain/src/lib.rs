//! Vigil's sources: where blocks come from.
//!
//! - [`decode`]: JSON-RPC answers into checked bundles, one path for live and recorded data;
//! - [`rpc`]: a JSON-RPC client over several endpoints with batching, backoff, rate limits and failover;
//! - [`fetch`]: one block's bundle (block, receipts, traces, probe values) in two round trips, with fallbacks
//!   for nodes that lack `eth_getBlockReceipts` or geth's tracers ([`parity`]);
//! - [`follow`]: the canonical chain from a cursor, with reorg detection down to the common ancestor;
//! - [`head`]: new heads over WebSocket;
//! - [`replay`]: recorded payloads (`vigil sim` JSON Lines, recorded request/response pairs) through the same
//!   decoding as live data;
//! - [`metrics`]: per-endpoint requests, faults and latency; head, cursor and lag;
//! - [`mempool`]: the node's pending transactions (`txpool_content`), each handed out once;
//! - [`simulate`]: a pending transaction executed with revm on the head's state read from the node, as the
//!   bundle of the block it would make next.
//!
//! The trade-off: bundles are decoded fully into alloy's types, so detectors read typed, checked values; the
//! raw answers are kept only until then.

pub mod decode;
pub mod fetch;
pub mod follow;
pub mod head;
pub mod mempool;
pub mod metrics;
pub mod parity;
pub mod replay;
pub mod rpc;
pub mod simulate;

pub use decode::DecodeError;
pub use fetch::{FetchError, Fetcher};
pub use follow::{FollowError, Follower};
pub use metrics::SourceMetrics;
pub use replay::{Recorded, ReplayError};
pub use rpc::{RetryPolicy, RpcClient, RpcError};
