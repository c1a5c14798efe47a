//! The node's metrics (`/metrics`, Prometheus text) and health (`/health`), and the server that answers both.

use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc,
};

use anyhow::{Context, Result};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use vigil_chain::SourceMetrics;
use vigil_core::Severity;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeverityLabel {
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: String,
}

/// The oracle network's metrics (network mode only; zero otherwise).
#[derive(Clone, Default)]
pub struct NetworkMetrics {
    /// Shares received or made, by outcome: `counted`, or the `ShareRejection` kind (`duplicate`, `expired`, …).
    shares: Family<ResultLabel, Counter>,
    /// Messages the inbox dropped, by reason (`bad-signature`, `not-a-member`, `replayed`, …).
    dropped: Family<ResultLabel, Gauge>,
    /// Messages each peer took from this node.
    peer_delivered: Family<PeerLabel, Gauge>,
    /// Messages that did not reach each peer.
    peer_failed: Family<PeerLabel, Gauge>,
    /// 1 when the last message to the peer reached it.
    peer_up: Family<PeerLabel, Gauge>,
    /// Messages received from each peer (past every check of the inbox).
    peer_received: Family<PeerLabel, Gauge>,
    /// Requests posted to peers, and their bytes.
    pub(crate) requests_sent: Gauge,
    pub(crate) bytes_sent: Gauge,
    /// Reports this node signed (its own, or a peer's it joined), and the peers' reports it joined.
    pub(crate) signed: Counter,
    pub(crate) joined: Counter,
    /// Peers' reports on scopes this node's detectors did not flag (never signed).
    pub(crate) unconfirmed: Counter,
    /// Reports whose threshold of shares this node collected, and `pauseWithQuorum` transactions it sent.
    pub(crate) quorums: Counter,
    pub(crate) submissions: Counter,
    /// Submissions that lost to another node's (refused before sending, or reverted on chain).
    pub(crate) races_lost: Counter,
    /// Reports that stayed below their threshold for the configured blocks.
    pub(crate) unreachable: Counter,
    /// What the block loop published for `/network` (this node, the reports pending).
    pub(crate) state: Arc<std::sync::Mutex<serde_json::Value>>,
    /// Reads the whole `/network` state now, setting the peers' and the inbox's metrics (network mode only).
    live: Arc<std::sync::OnceLock<LiveState>>,
}

type LiveState = Box<dyn Fn() -> serde_json::Value + Send + Sync>;

impl NetworkMetrics {
    fn register(&self, r: &mut Registry) {
        let n = r.sub_registry_with_prefix("vigil_network");
        n.register("shares", "Shares received or made, by outcome", self.shares.clone());
        n.register("messages_dropped", "Peer messages the inbox dropped, by reason", self.dropped.clone());
        n.register("peer_delivered", "Messages each peer took from this node", self.peer_delivered.clone());
        n.register("peer_failed", "Messages that did not reach each peer", self.peer_failed.clone());
        n.register("peer_up", "1 when the last message to the peer reached it", self.peer_up.clone());
        n.register("peer_received", "Messages received from each peer", self.peer_received.clone());
        n.register("requests_sent", "Requests posted to peers", self.requests_sent.clone());
        n.register("bytes_sent", "Bytes posted to peers (bodies and signed headers)", self.bytes_sent.clone());
        n.register("reports_signed", "Reports this node signed", self.signed.clone());
        n.register("reports_joined", "Peers' reports this node confirmed and signed", self.joined.clone());
        n.register("reports_unconfirmed", "Peers' reports on scopes this node did not flag", self.unconfirmed.clone());
        n.register("quorums", "Reports whose threshold of shares this node collected", self.quorums.clone());
        n.register("submissions", "pauseWithQuorum transactions sent", self.submissions.clone());
        n.register("races_lost", "Submissions that lost to another node's", self.races_lost.clone());
        n.register("quorum_unreachable", "Reports that stayed below their threshold", self.unreachable.clone());
    }

    /// Sets how the whole `/network` state is read at a scrape.
    pub(crate) fn set_live(&self, f: impl Fn() -> serde_json::Value + Send + Sync + 'static) {
        let _ = self.live.set(Box::new(f));
    }

    /// The `/network` state now (`Null` outside network mode); refreshes the peers' and the inbox's metrics.
    fn snapshot(&self) -> serde_json::Value {
        self.live.get().map(|f| f()).unwrap_or_default()
    }

    /// Counts a share by outcome.
    pub(crate) fn share(&self, result: &str) {
        self.shares.get_or_create(&ResultLabel { result: result.into() }).inc();
    }

    /// Sets the inbox's drop count for `reason`.
    pub(crate) fn set_dropped(&self, reason: &str, n: u64) {
        self.dropped.get_or_create(&ResultLabel { result: reason.into() }).set(n as i64);
    }

    /// Sets what is known of `peer`: messages it took and missed, whether it is up, messages it sent us.
    pub(crate) fn set_peer(&self, peer: &str, delivered: u64, failed: u64, up: bool, received: u64) {
        let label = PeerLabel { peer: peer.into() };
        self.peer_delivered.get_or_create(&label).set(delivered as i64);
        self.peer_failed.get_or_create(&label).set(failed as i64);
        self.peer_up.get_or_create(&label).set(i64::from(up));
        self.peer_received.get_or_create(&label).set(received as i64);
    }
}

/// The node's metrics: the source's plus what the engine produced.
#[derive(Clone)]
pub struct NodeMetrics {
    /// The source's.
    pub source: SourceMetrics,
    findings: Family<SeverityLabel, Counter>,
    actions: Family<ActionLabel, Counter>,
    blocks: Counter,
    block_seconds: Histogram,
    healthy: Arc<AtomicBool>,
    last_progress: Arc<AtomicU64>,
    screened: Family<ResultLabel, Counter>,
    screen_seconds: Histogram,
    attestations: Family<ResultLabel, Counter>,
    /// The oracle network's.
    pub network: NetworkMetrics,
    /// Where `POST /attest` leaves requests for the node (`[gate]`).
    pub attest: super::attest::Desk,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self {
            source: SourceMetrics::default(),
            findings: Family::default(),
            actions: Family::default(),
            blocks: Counter::default(),
            block_seconds: Histogram::new([0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0]),
            healthy: Arc::new(AtomicBool::new(false)),
            last_progress: Arc::new(AtomicU64::new(0)),
            screened: Family::default(),
            screen_seconds: Histogram::new([0.0005, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0]),
            attestations: Family::default(),
            network: NetworkMetrics::default(),
            attest: super::attest::Desk::default(),
        }
    }
}

impl NodeMetrics {
    /// A registry with every metric.
    pub fn registry(&self) -> Registry {
        let mut r = Registry::default();
        self.source.register(&mut r);
        r.register("vigil_findings", "Findings by severity", self.findings.clone());
        r.register("vigil_actions", "Actions taken (pause sent, notification delivered)", self.actions.clone());
        r.register("vigil_blocks_processed", "Blocks processed and committed", self.blocks.clone());
        r.register("vigil_block_processing_seconds", "Time to run the engine on a block", self.block_seconds.clone());
        r.register(
            "vigil_screened",
            "Pending transactions screened, by outcome (clean, front_run, not_executable, failed)",
            self.screened.clone(),
        );
        r.register(
            "vigil_screen_seconds",
            "Time to simulate one pending transaction on the head and run the detectors on it",
            self.screen_seconds.clone(),
        );
        r.register(
            "vigil_attestations",
            "Attestation requests answered, by result (attested, refused, not_needed, stale, failed)",
            self.attestations.clone(),
        );
        self.network.register(&mut r);
        r
    }

    /// Counts an attestation request answered, by result.
    pub(crate) fn attestation(&self, result: &str) {
        self.attestations.get_or_create(&ResultLabel { result: result.into() }).inc();
    }

    /// Counts a pending transaction screened, by outcome, in `seconds` (simulation and detectors).
    pub(crate) fn screened(&self, outcome: &str, seconds: Option<f64>) {
        self.screened.get_or_create(&ResultLabel { result: outcome.into() }).inc();
        if let Some(s) = seconds {
            self.screen_seconds.observe(s);
        }
    }

    /// Counts an action taken (`pause_sent`, `notification_failed`, …).
    pub(crate) fn action(&self, kind: &str) {
        self.actions.get_or_create(&ActionLabel { action: kind.into() }).inc();
    }

    /// Counts a finding of `severity`.
    pub(crate) fn finding(&self, severity: Severity) {
        self.findings.get_or_create(&SeverityLabel { severity: format!("{severity:?}").to_lowercase() }).inc();
    }

    /// Records a block processed and committed in `seconds`.
    pub(crate) fn block_processed(&self, seconds: f64) {
        self.block_seconds.observe(seconds);
        self.blocks.inc();
    }

    /// Marks the node as following (`/health` answers 200 while it makes progress).
    pub(crate) fn following(&self) {
        self.healthy.store(true, Ordering::Relaxed);
    }

    /// Records that the node made progress now.
    pub(crate) fn progress(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.last_progress.store(now, Ordering::Relaxed);
    }
}

/// Serves `/metrics` (Prometheus text), `/health` (200 once following and having made progress within the
/// last 5 minutes, else 503), `POST /attest` (the attestation service, with `[gate]`: [`super::attest`]) and, in
/// network mode, `/network` (JSON: this node, its peers and their health, the
/// inbox's counts, the reports pending; what `vigil status` shows) on `addr`.
pub async fn serve_metrics(addr: std::net::SocketAddr, metrics: NodeMetrics) -> Result<tokio::task::JoinHandle<()>> {
    use axum::{http::StatusCode, routing::get, Router};
    let registry = Arc::new(metrics.registry());
    let m = metrics.clone();
    let (network, scraped) = (metrics.network.clone(), metrics.network.clone());
    let desk = metrics.attest.clone();
    let app = Router::new()
        .route(
            "/attest",
            axum::routing::post(move |body: axum::body::Bytes| {
                let desk = desk.clone();
                async move {
                    let (status, answer) = desk.ask(&body).await;
                    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), answer.to_string())
                }
            }),
        )
        .route(
            "/network",
            get(move || {
                let state = network.snapshot();
                async move {
                    match state {
                        serde_json::Value::Null => {
                            (StatusCode::NOT_FOUND, "this node is not in network mode\n".to_string())
                        }
                        v => (StatusCode::OK, v.to_string()),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                scraped.snapshot();
                async move {
                    let mut body = String::new();
                    match prometheus_client::encoding::text::encode(&mut body, &registry) {
                        Ok(()) => (StatusCode::OK, body),
                        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                    }
                }
            }),
        )
        .route(
            "/health",
            get(move || {
                let m = m.clone();
                async move {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    let last = m.last_progress.load(Ordering::Relaxed);
                    if m.healthy.load(Ordering::Relaxed) && now.saturating_sub(last) < 300 {
                        (StatusCode::OK, format!("ok: cursor #{}, lag {}\n", m.source.cursor.get(), m.source.lag.get()))
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting, or no progress for 5 minutes\n".to_string())
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("metrics server on {addr}"))?;
    tracing::info!(event = "MetricsServing", %addr, "serving /metrics and /health");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(event = "MetricsServerFailed", "{e}");
        }
    }))
}
