//! Sending: every message to every configured peer, signed once, posted concurrently, each peer's health kept.
//!
//! Sequence numbers start at the node's start time in microseconds and count up by one per message, so they keep
//! increasing across restarts without being stored (a receiver drops a number it has seen, [`crate::inbox`]).
//! A peer that does not answer within the timeout, or answers with an error status, is counted as failed for that
//! message; nothing is retried here: shares are sent again by the node while their report is pending, and a lost
//! heartbeat is replaced by the next.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use serde::Serialize;

use crate::{
    envelope::{Message, Network, Stamp, FROM, SENT_MS, SEQ, SIGNATURE},
    inbox::{now_ms, PATH},
};

/// A peer: its oracle address and its base URL (`http://127.0.0.1:9650`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The address of its oracle key.
    pub address: Address,
    /// Where its inbox listens.
    pub url: String,
}

/// What this node knows of a peer's reachability.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PeerHealth {
    /// Messages it took.
    pub delivered: u64,
    /// Messages that did not reach it (no answer, or an error status).
    pub failed: u64,
    /// Failures since the last delivery.
    pub consecutive_failures: u64,
    /// When it last took a message (unix milliseconds).
    pub last_delivered_ms: Option<u64>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Why one peer did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// It answered with an error status (it dropped the message: see its inbox's reasons).
    #[error("{url} answered {status}")]
    Refused {
        /// The peer's URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// No answer: connection refused, timeout.
    #[error("{url}: {reason}")]
    Unreachable {
        /// The peer's URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The message could not be signed or encoded.
    #[error("the message could not be signed or encoded: {0}")]
    Encode(String),
}

/// The sending side of a node.
#[derive(Debug)]
pub struct Peers {
    network: Network,
    key: PrivateKeySigner,
    peers: Vec<Peer>,
    http: reqwest::Client,
    seq: AtomicU64,
    health: Mutex<BTreeMap<Address, PeerHealth>>,
    traffic: Traffic,
}

/// What a node has sent: requests (one message to one peer) and their bytes (body and signed headers).
#[derive(Debug, Default)]
struct Traffic {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Peers {
    /// Sends as `key` on `network` to `peers` (this node's own entry, if listed, is skipped), each request
    /// given `timeout`.
    pub fn new(network: Network, key: PrivateKeySigner, peers: Vec<Peer>, timeout: Duration) -> Self {
        let me = key.address();
        let peers: Vec<Peer> = peers.into_iter().filter(|p| p.address != me).collect();
        let health = peers.iter().map(|p| (p.address, PeerHealth::default())).collect();
        let http = reqwest::Client::builder().timeout(timeout).build().expect("an HTTP client without TLS settings");
        Self {
            network,
            key,
            peers,
            http,
            seq: AtomicU64::new(now_ms() * 1_000),
            health: Mutex::new(health),
            traffic: Traffic::default(),
        }
    }

    /// This node's address.
    pub fn me(&self) -> Address {
        self.key.address()
    }

    /// The peers it sends to.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// Each peer's health.
    pub fn health(&self) -> BTreeMap<Address, PeerHealth> {
        self.health.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests posted so far (one message to one peer each) and their bytes: body and the four headers.
    pub fn traffic(&self) -> (u64, u64) {
        (self.traffic.requests.load(Ordering::Relaxed), self.traffic.bytes.load(Ordering::Relaxed))
    }

    /// Signs `message` once and posts it to every peer at the same time; returns each peer's outcome.
    pub async fn broadcast(&self, message: &Message) -> Vec<(Address, Result<(), SendError>)> {
        let body = match serde_json::to_vec(message) {
            Ok(b) => b,
            Err(e) => return self.peers.iter().map(|p| (p.address, Err(SendError::Encode(e.to_string())))).collect(),
        };
        let stamp = Stamp { from: self.me(), seq: self.seq.fetch_add(1, Ordering::Relaxed), sent_ms: now_ms() };
        let signature = match self.network.sign(&self.key, stamp, &body) {
            Ok(s) => s,
            Err(e) => return self.peers.iter().map(|p| (p.address, Err(SendError::Encode(e.to_string())))).collect(),
        };
        let (from, seq, sent_ms, sig) =
            (stamp.from.to_string(), stamp.seq.to_string(), stamp.sent_ms.to_string(), signature.to_string());
        let size = (body.len() + from.len() + seq.len() + sent_ms.len() + sig.len()) as u64;
        self.traffic.requests.fetch_add(self.peers.len() as u64, Ordering::Relaxed);
        self.traffic.bytes.fetch_add(size * self.peers.len() as u64, Ordering::Relaxed);
        let sends = self.peers.iter().map(|peer| {
            let request = self
                .http
                .post(format!("{}{PATH}", peer.url.trim_end_matches('/')))
                .header("content-type", "application/json")
                .header(FROM, &from)
                .header(SEQ, &seq)
                .header(SENT_MS, &sent_ms)
                .header(SIGNATURE, &sig)
                .body(body.clone());
            async move {
                let outcome = match request.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(SendError::Refused { url: peer.url.clone(), status: r.status().as_u16() }),
                    Err(e) => Err(SendError::Unreachable { url: peer.url.clone(), reason: e.to_string() }),
                };
                // Each peer's health as soon as it answers, not when the slowest has.
                self.record(peer.address, &outcome);
                (peer.address, outcome)
            }
        });
        futures::future::join_all(sends).await
    }

    fn record(&self, peer: Address, outcome: &Result<(), SendError>) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let h = health.entry(peer).or_default();
        match outcome {
            Ok(()) => {
                h.delivered += 1;
                h.consecutive_failures = 0;
                h.last_delivered_ms = Some(now_ms());
            }
            Err(e) => {
                h.failed += 1;
                h.consecutive_failures += 1;
                h.last_error = Some(e.to_string());
            }
        }
    }
}
