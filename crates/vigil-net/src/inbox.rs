//! Receiving: an HTTP endpoint (`POST /v1/message`, axum) that checks every message before the node sees it.
//!
//! In order, each with its HTTP status and the name it is counted under ([`Drop`]):
//!
//! 1. the four headers of [`crate::envelope`] are present and parse (400 `malformed`);
//! 2. the signature is the claimed sender's over the exact body (401 `bad-signature`);
//! 3. the sender is in the oracle set the node currently follows, and is not the node itself (403
//!    `not-a-member`): the set is shared with the node ([`Members`]), which replaces it when the Guardian's
//!    changes, so a node rotated out is dropped from its next message on;
//! 4. the sender is within its rate (429 `rate-limited`; a GCRA bucket per sender, `governor`), checked after the
//!    signature so that no one can spend another node's allowance;
//! 5. the send time is within `max_age` of the receiver's clock, in either direction (400 `stale`);
//! 6. the sequence number was not seen from this sender and is within [`REPLAY_WINDOW`] of its highest (409
//!    `replayed`): a message captured and sent again is dropped;
//! 7. the body is a [`Message`] (400 `malformed`).
//!
//! A message that passes is handed to the node over a bounded channel ([`Inbound`]); when the node is behind and
//! the channel is full the sender gets 503 (`busy`) and may try again. Nothing else is done with it here: whether
//! a share counts is the node's decision (`vigil_respond::ShareBook`).

use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU32,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::{Address, Bytes};
use axum::{
    body::Bytes as Body,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
    Router,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;

use crate::envelope::{Message, Network, Stamp, FROM, SENT_MS, SEQ, SIGNATURE};

/// How far below a sender's highest sequence number a message may still arrive (reordering in flight).
pub const REPLAY_WINDOW: u64 = 4_096;

/// The path messages are posted to.
pub const PATH: &str = "/v1/message";

/// The oracle set the inbox accepts messages from; the node replaces it when the Guardian's changes.
#[derive(Debug, Clone, Default)]
pub struct Members(Arc<RwLock<BTreeSet<Address>>>);

impl Members {
    /// A set of `members`.
    pub fn new(members: impl IntoIterator<Item = Address>) -> Self {
        Self(Arc::new(RwLock::new(members.into_iter().collect())))
    }

    /// Replaces the set.
    pub fn replace(&self, members: impl IntoIterator<Item = Address>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = members.into_iter().collect();
    }

    /// Whether `a` is in the set.
    pub fn contains(&self, a: &Address) -> bool {
        self.0.read().unwrap_or_else(|e| e.into_inner()).contains(a)
    }
}

/// A message that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Its sender (a member of the oracle set).
    pub from: Address,
    /// Its sequence number.
    pub seq: u64,
    /// The message.
    pub message: Message,
}

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drop {
    /// Headers or body do not parse.
    Malformed,
    /// The signature is not the sender's.
    BadSignature,
    /// The sender is not in the oracle set (or is this node).
    NotAMember,
    /// The sender is over its rate.
    RateLimited,
    /// The send time is too far from the receiver's clock.
    Stale,
    /// The sequence number was seen, or is too old.
    Replayed,
    /// The node's channel is full.
    Busy,
}

impl Drop {
    /// The name it is counted and logged under.
    pub fn name(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadSignature => "bad-signature",
            Self::NotAMember => "not-a-member",
            Self::RateLimited => "rate-limited",
            Self::Stale => "stale",
            Self::Replayed => "replayed",
            Self::Busy => "busy",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::Malformed | Self::Stale => StatusCode::BAD_REQUEST,
            Self::BadSignature => StatusCode::UNAUTHORIZED,
            Self::NotAMember => StatusCode::FORBIDDEN,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Replayed => StatusCode::CONFLICT,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// What the inbox has let through and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Messages handed to the node, by sender.
    pub accepted: BTreeMap<Address, u64>,
    /// Messages dropped, by reason.
    pub dropped: BTreeMap<Drop, u64>,
}

/// How the inbox checks messages.
#[derive(Debug, Clone, Copy)]
pub struct InboxConfig {
    /// The network messages must belong to.
    pub network: Network,
    /// This node's address (its own messages are not taken in).
    pub me: Address,
    /// Messages per second a sender may sustain.
    pub rate_per_second: NonZeroU32,
    /// Messages a sender may send at once above its rate.
    pub burst: NonZeroU32,
    /// The largest difference between a message's send time and the receiver's clock.
    pub max_age: Duration,
    /// Messages the node may have waiting.
    pub queue: usize,
}

impl InboxConfig {
    /// Defaults for `network` and this node `me`: 50 messages per second, bursts of 100, 30 s of clock
    /// difference, 1,024 queued.
    pub fn new(network: Network, me: Address) -> Self {
        Self {
            network,
            me,
            rate_per_second: NonZeroU32::new(50).expect("non-zero"),
            burst: NonZeroU32::new(100).expect("non-zero"),
            max_age: Duration::from_secs(30),
            queue: 1_024,
        }
    }
}

#[derive(Debug, Default)]
struct Seen {
    highest: u64,
    recent: BTreeSet<u64>,
}

impl Seen {
    /// Records `seq`; false when it was seen or is below the window.
    fn admit(&mut self, seq: u64) -> bool {
        if seq + REPLAY_WINDOW <= self.highest || self.recent.contains(&seq) {
            return false;
        }
        self.recent.insert(seq);
        if seq > self.highest {
            self.highest = seq;
            let floor = seq.saturating_sub(REPLAY_WINDOW);
            self.recent = self.recent.split_off(&floor);
        }
        true
    }
}

struct Inner {
    config: InboxConfig,
    members: Members,
    limiter: DefaultKeyedRateLimiter<Address>,
    seen: Mutex<BTreeMap<Address, Seen>>,
    stats: Mutex<InboxStats>,
    tx: mpsc::Sender<Inbound>,
}

/// The receiving side of a node: an axum router and what it has counted.
#[derive(Clone)]
pub struct Inbox(Arc<Inner>);

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

fn header<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl Inbox {
    /// An inbox that accepts messages from `members`, and the channel the node reads them from.
    pub fn new(config: InboxConfig, members: Members) -> (Self, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let limiter = RateLimiter::keyed(Quota::per_second(config.rate_per_second).allow_burst(config.burst));
        let inner = Inner { config, members, limiter, seen: Default::default(), stats: Default::default(), tx };
        (Self(Arc::new(inner)), rx)
    }

    /// What it has counted so far.
    pub fn stats(&self) -> InboxStats {
        self.0.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The router serving [`PATH`].
    pub fn router(&self) -> Router {
        Router::new().route(PATH, post(receive)).with_state(self.clone())
    }

    /// Serves the router on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Runs the checks of the module docs on one request.
    pub fn check(&self, headers: &HeaderMap, body: &[u8]) -> Result<Inbound, Drop> {
        let inner = &self.0;
        let (Some(from), Some(seq), Some(sent_ms), Some(signature)) = (
            header::<Address>(headers, FROM),
            header::<u64>(headers, SEQ),
            header::<u64>(headers, SENT_MS),
            header::<Bytes>(headers, SIGNATURE),
        ) else {
            return Err(Drop::Malformed);
        };
        let stamp = Stamp { from, seq, sent_ms };
        if !inner.config.network.verify(stamp, body, &signature) {
            return Err(Drop::BadSignature);
        }
        if from == inner.config.me || !inner.members.contains(&from) {
            return Err(Drop::NotAMember);
        }
        if inner.limiter.check_key(&from).is_err() {
            return Err(Drop::RateLimited);
        }
        let age = now_ms().abs_diff(sent_ms);
        if age > inner.config.max_age.as_millis() as u64 {
            return Err(Drop::Stale);
        }
        let fresh = inner.seen.lock().unwrap_or_else(|e| e.into_inner()).entry(from).or_default().admit(seq);
        if !fresh {
            return Err(Drop::Replayed);
        }
        let message = serde_json::from_slice(body).map_err(|_| Drop::Malformed)?;
        Ok(Inbound { from, seq, message })
    }

    fn count(&self, outcome: Result<Address, Drop>) {
        let mut stats = self.0.stats.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(from) => *stats.accepted.entry(from).or_default() += 1,
            Err(d) => *stats.dropped.entry(d).or_default() += 1,
        }
    }
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: Body) -> StatusCode {
    let outcome = inbox.check(&headers, &body).and_then(|m| {
        let from = m.from;
        inbox.0.tx.try_send(m).map(|_| from).map_err(|_| Drop::Busy)
    });
    if let Err(d) = outcome {
        tracing::debug!(event = "PeerMessageDropped", reason = d.name(), "a peer message was dropped");
    }
    inbox.count(outcome);
    match outcome {
        Ok(_) => StatusCode::ACCEPTED,
        Err(d) => d.status(),
    }
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn the_replay_window_takes_each_sequence_number_once_and_tolerates_reordering() {
        let mut seen = Seen::default();
        assert!(seen.admit(10_000));
        assert!(!seen.admit(10_000), "the same again");
        assert!(seen.admit(9_999), "reordered, within the window");
        assert!(seen.admit(20_000));
        assert!(!seen.admit(10_001), "below the window");
        assert!(seen.admit(19_000));
        assert!(!seen.admit(19_000));
        assert!(seen.recent.len() <= super::REPLAY_WINDOW as usize + 1);
    }
}
