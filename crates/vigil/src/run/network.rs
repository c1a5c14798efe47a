//! The oracle network in `vigil run` (`[network]`): this node holds one key of the Guardian's oracle set; each
//! pause its engine decides becomes a *share* (its signature of the report) sent to its peers, and a node holding
//! the Guardian's threshold of shares for one report submits `pauseWithQuorum` once.
//!
//! What a node signs (docs/oracle-network.md):
//!
//! - the report its own engine decided, or, when a peer's report on the same scope, nonce and oracle-set version
//!   is pending and was observed within `join_window_blocks` of its own decision, the preferred one of them:
//!   the earliest observed block, then the lowest digest. Honest nodes that see the attack a block apart thus
//!   converge on one report;
//! - a peer's report that arrives after its own decision, when its own detectors decided a pause of that scope
//!   within the window and the report is preferred to every report it signed for the scope;
//! - never a report on a scope its own detectors did not flag: such a share is counted (a quorum of others may
//!   still land it) and, once the join window has passed without this node flagging the scope, told once as
//!   `PeerReportUnconfirmed`.
//!
//! Shares come in through the inbox ([`vigil_net::Inbox`]: signed messages from members only, rate-limited,
//! replay-protected) and are counted by [`vigil_respond::ShareBook`] against the Guardian's state at this node's
//! latest block. While a report this node signed is pending, it sends the report's signatures it holds to every
//! peer again at each block, so a share lost on one link, or refused by a peer one block behind, arrives later.
//! The oracle set is followed at every block: the inbox's member set is replaced and shares the new state voids
//! are dropped. A report signed but still short of its threshold `quorum_timeout_blocks` later raises the
//! incident's `quorum unreachable` notification (once).

use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use anyhow::{Context, Result};
use serde_json::json;
use tokio::sync::mpsc;
use vigil_contracts::Guardian;
use vigil_core::{Bundle, PauseReport, Refusal, Scope};
use vigil_net::{Inbound, Inbox, InboxConfig, Members, Message, Network, Peer, Peers, WireShare};
use vigil_respond::{guardian::snapshot_probe, GuardianView, Share, ShareBook, ShareRejection};

use super::metrics::NetworkMetrics;
use crate::{config::NetworkConfig, engine::Engine};

/// Every this many blocks a node tells its peers its latest block (their health, and `vigil status`).
const HEARTBEAT_BLOCKS: u64 = 10;

/// A report this node signed.
#[derive(Debug, Clone)]
struct Signed {
    scope: Scope,
    /// This node's incident that decided it.
    incident: B256,
    /// The block this node signed at.
    block: u64,
    /// When that block arrived (handed to the node, before its engine ran).
    at: Instant,
    /// Whether `quorum unreachable` was told.
    told: bool,
}

/// A report with its threshold of signatures: the `pauseWithQuorum` call to send.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    /// The report's digest.
    pub(crate) digest: B256,
    /// The scope it pauses.
    pub(crate) scope: Scope,
    /// The calldata.
    pub(crate) data: Bytes,
    /// Time since the block at which this node signed the report arrived, when it signed it.
    pub(crate) since_block: Option<Duration>,
}

/// This node's part in the oracle network.
pub(crate) struct OracleNode {
    key: PrivateKeySigner,
    guardian: Address,
    book: ShareBook,
    peers: Arc<Peers>,
    inbox: Inbox,
    inbound: mpsc::Receiver<Inbound>,
    members: Members,
    view: Option<GuardianView>,
    block: u64,
    /// When the latest block arrived.
    arrived: Instant,
    join_window: u64,
    quorum_timeout: u64,
    /// Scope → the latest block at which this node's own engine decided a pause of it.
    flagged: BTreeMap<Scope, u64>,
    signed: BTreeMap<B256, Signed>,
    submitted: BTreeSet<B256>,
    /// Peers' reports on scopes this node did not flag (yet), and whether that was told.
    unconfirmed: BTreeMap<B256, bool>,
    /// Each peer's latest heartbeat block (messages received are counted by the inbox).
    heartbeats: BTreeMap<Address, u64>,
    metrics: NetworkMetrics,
}

impl OracleNode {
    /// Starts the inbox on `config.listen` and the sender to the configured peers; `view` is the Guardian's
    /// state at start (its oracle set is who may send).
    pub(crate) async fn start(
        config: &NetworkConfig,
        key: PrivateKeySigner,
        chain_id: u64,
        guardian: Address,
        view: GuardianView,
        metrics: NetworkMetrics,
    ) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("[network] listen {}: cannot bind the inbox", config.listen))?;
        Ok(Self::start_on(listener, config, key, chain_id, guardian, view, metrics))
    }

    /// [`OracleNode::start`] with the inbox on `listener` (`config.listen` is not bound again); must run within a
    /// Tokio runtime.
    pub(crate) fn start_on(
        listener: tokio::net::TcpListener,
        config: &NetworkConfig,
        key: PrivateKeySigner,
        chain_id: u64,
        guardian: Address,
        view: GuardianView,
        metrics: NetworkMetrics,
    ) -> Self {
        let network = Network { chain_id, guardian };
        let me = key.address();
        let members = Members::new(view.signers.iter().copied());
        let mut inbox_config = InboxConfig::new(network, me);
        inbox_config.rate_per_second = NonZeroU32::new(config.rate_per_second).unwrap_or(inbox_config.rate_per_second);
        inbox_config.burst = inbox_config.rate_per_second.saturating_mul(NonZeroU32::new(2).expect("non-zero"));
        let (inbox, inbound) = Inbox::new(inbox_config, members.clone());
        let serving = inbox.clone();
        tokio::spawn(async move {
            if let Err(e) = serving.serve(listener).await {
                tracing::error!(event = "InboxFailed", "{e}");
            }
        });
        let peers: Vec<Peer> = config.peers.iter().map(|p| Peer { address: p.address, url: p.url.clone() }).collect();
        for p in peers.iter().filter(|p| !view.signers.contains(&p.address)) {
            tracing::warn!(event = "PeerNotInOracleSet", peer = %p.address, "peer {} is not in the Guardian's oracle set: its messages are dropped until it is", p.url);
        }
        let peers = Arc::new(Peers::new(network, key.clone(), peers, Duration::from_millis(config.peer_timeout_ms)));
        tracing::info!(event = "NetworkJoined", me = %me, listen = %config.listen, peers = peers.peers().len(), threshold = view.threshold, "oracle network: {} peers, {} of {} signatures needed", peers.peers().len(), view.threshold, view.signers.len());
        let node = Self {
            key,
            guardian,
            book: ShareBook::new(chain_id, guardian),
            peers,
            inbox,
            inbound,
            members,
            block: 0,
            arrived: Instant::now(),
            view: Some(view),
            join_window: config.join_window_blocks,
            quorum_timeout: config.quorum_timeout_blocks,
            flagged: BTreeMap::new(),
            signed: BTreeMap::new(),
            submitted: BTreeSet::new(),
            unconfirmed: BTreeMap::new(),
            heartbeats: BTreeMap::new(),
            metrics,
        };
        node.publish();
        let (inbox, peers, metrics) = (node.inbox.clone(), Arc::clone(&node.peers), node.metrics.clone());
        node.metrics.set_live(move || live_state(&inbox, &peers, &metrics));
        // The peers' health is known from the start, not from the first share.
        node.send(Message::Heartbeat { block: 0 });
        node
    }

    /// The next message from a peer (cancel-safe: for `select!` while waiting for a head).
    pub(crate) async fn recv(&mut self) -> Option<Inbound> {
        self.inbound.recv().await
    }

    /// A message from a peer, if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Inbound> {
        self.inbound.try_recv().ok()
    }

    /// Follows the Guardian's state at a new block, before the engine processes it: the oracle set, shares the
    /// state voids, reports stalled below their threshold (told through `engine` with this block), and sends
    /// again the shares of reports this node signed.
    pub(crate) fn on_block(&mut self, bundle: &Bundle, engine: &mut Engine) {
        self.arrived = Instant::now();
        let number = bundle.block_ref().number;
        let Some(view) = bundle.probe(&snapshot_probe(self.guardian)).and_then(|b| GuardianView::decode(b).ok()) else {
            tracing::warn!(
                event = "GuardianUnread",
                block = number,
                "the Guardian's snapshot() could not be read; shares are counted against the previous state"
            );
            return;
        };
        if self.view.as_ref().is_none_or(|v| v.signers != view.signers || v.config_version != view.config_version) {
            self.members.replace(view.signers.iter().copied());
            tracing::info!(event = "OracleSetFollowed", block = number, version = %view.config_version, threshold = view.threshold, signers = view.signers.len(), "oracle set version {}", view.config_version);
            if !view.signers.contains(&self.key.address()) {
                tracing::error!(
                    event = "RotatedOut",
                    block = number,
                    "this node's key is not in the Guardian's oracle set: its shares are refused"
                );
            }
        }
        let voided = self.book.prune(&view);
        if voided > 0 {
            tracing::info!(
                event = "SharesVoided",
                block = number,
                reports = voided,
                "reports voided by the Guardian's state (landed, expired, or another oracle set)"
            );
        }
        let pending: BTreeSet<B256> = self.book.reports().map(|(d, _)| d).collect();
        self.signed.retain(|d, _| pending.contains(d));
        self.submitted.retain(|d| pending.contains(d));
        self.unconfirmed.retain(|d, _| pending.contains(d) && !self.signed.contains_key(d));
        for (digest, told) in self.unconfirmed.iter_mut().filter(|(_, told)| !**told) {
            let Some((report, _)) = self.book.quorum(*digest, 1) else { continue };
            let scope = Scope { target: report.target, id: report.scope };
            let observed = report.observedBlock.saturating_to::<u64>();
            let flagged = self.flagged.get(&scope).is_some_and(|b| b.abs_diff(observed) <= self.join_window);
            if !flagged && number > observed + self.join_window {
                *told = true;
                self.metrics.unconfirmed.inc();
                let signers = self.book.signers(*digest);
                tracing::warn!(event = "PeerReportUnconfirmed", block = number, %scope, observed, ?signers, "peers signed a pause of {scope} that this node's detectors did not flag within {} blocks: not signed", self.join_window);
            }
        }
        let now = view.timestamp;
        for (digest, s) in self.signed.iter_mut() {
            let paused = view.paused_until(s.scope, now).is_some();
            if paused || s.told || number < s.block + self.quorum_timeout || self.submitted.contains(digest) {
                continue;
            }
            s.told = true;
            let signers = self.book.signers(*digest).len() as u64;
            self.metrics.unreachable.inc();
            tracing::error!(event = "QuorumUnreachable", block = number, scope = %s.scope, incident = %s.incident, signers, threshold = view.threshold, "quorum unreachable: {signers} of {} signatures for the pause of {} after {} blocks", view.threshold, s.scope, number - s.block);
            engine.pause_stalled(s.incident, Refusal::QuorumUnreachable { signers, threshold: view.threshold });
        }
        let resend: Vec<Message> = self
            .signed
            .iter()
            .filter(|(d, s)| !self.submitted.contains(*d) && view.paused_until(s.scope, now).is_none())
            .filter_map(|(d, _)| self.book.quorum(*d, 1).map(|(report, _)| (*d, report)))
            .flat_map(|(d, report)| self.signatures(d).into_iter().map(move |sig| share_message(&report, sig)))
            .collect();
        self.view = Some(view);
        self.block = number;
        if number.is_multiple_of(HEARTBEAT_BLOCKS) {
            self.send(Message::Heartbeat { block: number });
        }
        for m in resend {
            self.send(m);
        }
        self.publish();
    }

    /// The engine decided a pause (`data`: its `pauseWithQuorum` call carrying this node's signature alone):
    /// this node signs its own report or the preferred pending one (module docs), and sends its share.
    pub(crate) fn decided(&mut self, incident: B256, data: &[u8], block: u64) -> Option<Submission> {
        let Ok(call) = Guardian::pauseWithQuorumCall::abi_decode(data) else {
            tracing::error!(event = "ShareNotDecoded", block, "the decided pause does not decode as pauseWithQuorum");
            return None;
        };
        let own = PauseReport::from(call.report);
        let scope = Scope { target: own.target, id: own.scope };
        self.flagged.insert(scope, block);
        let preferred = self.preferred(&own);
        let share = if preferred == own {
            Share { report: own, signature: call.signatures.first().cloned().unwrap_or_default() }
        } else {
            tracing::info!(event = "ReportJoined", block, %scope, "a peer's report on {scope} was observed first; this node signs it instead of its own");
            self.metrics.joined.inc();
            match self.book.sign(preferred, &self.key) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(event = "ShareNotSigned", block, "{e}");
                    return None;
                }
            }
        };
        let submission = self.offer(share, incident, block);
        self.publish();
        submission
    }

    /// A message from a peer: a share is counted, joined when this node's detectors confirm it, and a
    /// submission is returned when its report reaches the threshold.
    pub(crate) fn on_message(&mut self, m: Inbound) -> Option<Submission> {
        let share = match m.message {
            Message::Heartbeat { block } => {
                self.heartbeats.insert(m.from, block);
                return None;
            }
            Message::Share(w) => Share { report: w.report(), signature: w.signature },
        };
        let view = self.view.as_ref()?;
        let counted = match self.book.add(&share, view) {
            Ok(c) => c,
            Err(rejection) => {
                self.metrics.share(rejection.kind());
                match rejection {
                    ShareRejection::Duplicate(_) => {
                        tracing::debug!(event = "ShareRejected", from = %m.from, reason = rejection.kind(), "{rejection}")
                    }
                    _ => {
                        tracing::warn!(event = "ShareRejected", from = %m.from, reason = rejection.kind(), "{rejection}")
                    }
                }
                return None;
            }
        };
        self.metrics.share("counted");
        let report = share.report;
        let scope = Scope { target: report.target, id: report.scope };
        let observed = report.observedBlock.saturating_to::<u64>();
        if !self.signed.contains_key(&counted.digest) {
            match self.flagged.get(&scope) {
                Some(&b) if b.abs_diff(observed) <= self.join_window && self.preferred(&report) == report => {
                    let incident = self.signed.values().find(|s| s.scope == scope).map(|s| s.incident);
                    tracing::info!(event = "ReportJoined", from = %m.from, %scope, observed, "this node's detectors flagged {scope} at #{b}: it signs the peer's report");
                    self.metrics.joined.inc();
                    match self.book.sign(report.clone(), &self.key) {
                        Ok(own) => {
                            let submission = self.offer(own, incident.unwrap_or(report.incidentId), self.block);
                            self.publish();
                            return submission;
                        }
                        Err(e) => tracing::error!(event = "ShareNotSigned", "{e}"),
                    }
                }
                Some(_) => {}
                None => {
                    // Told when the join window passes without this node's detectors flagging the scope.
                    self.unconfirmed.entry(counted.digest).or_insert(false);
                }
            }
        }
        let submission = self.submission(counted.digest);
        self.publish();
        submission
    }

    /// Distinct members whose signatures of report `digest` this node holds (0 once the report is no longer
    /// pending).
    pub(crate) fn signers(&self, digest: B256) -> usize {
        self.book.signers(digest).len()
    }

    /// Requests this node posted to peers and their bytes.
    pub(crate) fn traffic(&self) -> (u64, u64) {
        self.peers.traffic()
    }

    /// Counts a submission that lost to another node's.
    pub(crate) fn race_lost(&self) {
        self.metrics.races_lost.inc();
    }

    /// Counts a submission sent.
    pub(crate) fn submitted(&self) {
        self.metrics.submissions.inc();
    }

    /// Of `own` and the pending reports on its scope, nonce and oracle-set version observed within the join
    /// window of it: the earliest observed, then the lowest digest.
    fn preferred(&self, own: &PauseReport) -> PauseReport {
        let key = |r: &PauseReport| (r.observedBlock, self.book.digest(r));
        let window = U256::from(self.join_window);
        self.book
            .reports()
            .map(|(_, r)| r)
            .filter(|r| {
                r.target == own.target
                    && r.scope == own.scope
                    && r.nonce == own.nonce
                    && r.configVersion == own.configVersion
                    && r.observedBlock.abs_diff(own.observedBlock) <= window
            })
            .chain(std::iter::once(own))
            .min_by_key(|r| key(r))
            .cloned()
            .unwrap_or_else(|| own.clone())
    }

    /// Counts this node's `share`, sends it to every peer, and returns the submission if its report now has
    /// its threshold.
    fn offer(&mut self, share: Share, incident: B256, block: u64) -> Option<Submission> {
        let view = self.view.as_ref()?;
        let digest = match self.book.add(&share, view) {
            Ok(c) => c.digest,
            Err(ShareRejection::Duplicate(_)) => self.book.digest(&share.report),
            Err(e) => {
                self.metrics.share(e.kind());
                tracing::error!(
                    event = "OwnShareRefused",
                    block,
                    reason = e.kind(),
                    "this node's own share is refused: {e}"
                );
                return None;
            }
        };
        let scope = Scope { target: share.report.target, id: share.report.scope };
        self.signed.entry(digest).or_insert(Signed { scope, incident, block, at: self.arrived, told: false });
        self.metrics.signed.inc();
        tracing::info!(event = "ShareSigned", block, %scope, digest = %digest, "signed the pause of {scope} and sent the share to {} peers", self.peers.peers().len());
        self.send(share_message(&share.report, share.signature));
        self.submission(digest)
    }

    /// The `pauseWithQuorum` call of report `digest` once it has the threshold, the first time only.
    fn submission(&mut self, digest: B256) -> Option<Submission> {
        let threshold = self.view.as_ref()?.threshold;
        let (report, signatures) = self.book.quorum(digest, threshold)?;
        if !self.submitted.insert(digest) {
            return None;
        }
        self.metrics.quorums.inc();
        let scope = Scope { target: report.target, id: report.scope };
        let since_block = self.signed.get(&digest).map(|s| s.at.elapsed());
        let data = Guardian::pauseWithQuorumCall { report: report.into(), signatures }.abi_encode().into();
        Some(Submission { digest, scope, data, since_block })
    }

    /// The signatures held for `digest`.
    fn signatures(&self, digest: B256) -> Vec<Bytes> {
        self.book.quorum(digest, self.book.signers(digest).len() as u64).map(|(_, s)| s).unwrap_or_default()
    }

    /// Sends `message` to every peer without waiting (the block loop never waits for a peer).
    fn send(&self, message: Message) {
        let peers = Arc::clone(&self.peers);
        tokio::spawn(async move {
            for (peer, outcome) in peers.broadcast(&message).await {
                if let Err(e) = outcome {
                    tracing::debug!(event = "PeerSendFailed", %peer, "{e}");
                }
            }
        });
    }

    /// Stores what the block loop knows for `/network` and the metrics: this node, the Guardian's threshold,
    /// the oracle set, the peers' heartbeats and the reports pending. What the inbox and the sender count is
    /// read live at each scrape ([`live_state`]).
    pub(crate) fn publish(&self) {
        let pending: Vec<serde_json::Value> = self
            .book
            .reports()
            .map(|(d, r)| {
                json!({
                    "digest": d, "target": r.target, "scope": r.scope, "incident": r.incidentId,
                    "observed_block": r.observedBlock, "signers": self.book.signers(d),
                    "signed_here": self.signed.contains_key(&d), "submitted": self.submitted.contains(&d),
                })
            })
            .collect();
        let heartbeats: BTreeMap<String, u64> = self.heartbeats.iter().map(|(a, b)| (a.to_string(), *b)).collect();
        let state = json!({
            "me": self.key.address(),
            "block": self.block,
            "threshold": self.view.as_ref().map(|v| v.threshold),
            "config_version": self.view.as_ref().map(|v| v.config_version),
            "members": self.view.as_ref().map(|v| v.signers.clone()).unwrap_or_default(),
            "heartbeats": heartbeats,
            "pending": pending,
        });
        *self.metrics.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }
}

/// The whole `/network` state: what the block loop published, with the peers' health, the inbox's counts and
/// the traffic read now; the peers' and the inbox's metrics are set from it too.
fn live_state(inbox: &Inbox, peers: &Peers, metrics: &NetworkMetrics) -> serde_json::Value {
    let mut state = metrics.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let health = peers.health();
    let stats = inbox.stats();
    for (reason, n) in &stats.dropped {
        metrics.set_dropped(reason.name(), *n);
    }
    let (requests, bytes) = peers.traffic();
    metrics.requests_sent.set(requests as i64);
    metrics.bytes_sent.set(bytes as i64);
    let members: Vec<Address> = serde_json::from_value(state["members"].clone()).unwrap_or_default();
    let list: Vec<serde_json::Value> = peers
        .peers()
        .iter()
        .map(|p| {
            let h = health.get(&p.address).cloned().unwrap_or_default();
            let received = stats.accepted.get(&p.address).copied().unwrap_or_default();
            let up = h.delivered > 0 && h.consecutive_failures == 0;
            metrics.set_peer(&p.address.to_string(), h.delivered, h.failed, up, received);
            json!({
                "address": p.address, "url": p.url, "member": members.contains(&p.address), "up": up,
                "delivered": h.delivered, "failed": h.failed, "consecutive_failures": h.consecutive_failures,
                "last_delivered_ms": h.last_delivered_ms, "last_error": h.last_error,
                "received": received, "heartbeat_block": state["heartbeats"][p.address.to_string()],
            })
        })
        .collect();
    let dropped: BTreeMap<&str, u64> = stats.dropped.iter().map(|(r, n)| (r.name(), *n)).collect();
    if let Some(o) = state.as_object_mut() {
        o.insert("peers".into(), json!(list));
        o.insert("inbox".into(), json!({ "accepted": stats.accepted.values().sum::<u64>(), "dropped": dropped }));
        o.insert("sent".into(), json!({ "requests": requests, "bytes": bytes }));
    }
    state
}

fn share_message(report: &PauseReport, signature: Bytes) -> Message {
    Message::Share(Box::new(WireShare::new(report, signature)))
}
