//! The node's metrics (`/metrics`, Prometheus text) and health (`/health`), and the server that answers both.

use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc,
};

use anyhow::{Context, Result};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
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
        r
    }

    /// Counts an action taken (`pause_sent`, `notification_failed`, …).
    pub(super) fn action(&self, kind: &str) {
        self.actions.get_or_create(&ActionLabel { action: kind.into() }).inc();
    }

    /// Counts a finding of `severity`.
    pub(super) fn finding(&self, severity: Severity) {
        self.findings.get_or_create(&SeverityLabel { severity: format!("{severity:?}").to_lowercase() }).inc();
    }

    /// Records a block processed and committed in `seconds`.
    pub(super) fn block_processed(&self, seconds: f64) {
        self.block_seconds.observe(seconds);
        self.blocks.inc();
    }

    /// Marks the node as following (`/health` answers 200 while it makes progress).
    pub(super) fn following(&self) {
        self.healthy.store(true, Ordering::Relaxed);
    }

    /// Records that the node made progress now.
    pub(super) fn progress(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.last_progress.store(now, Ordering::Relaxed);
    }
}

/// Serves `/metrics` (Prometheus text) and `/health` (200 once following and having made progress within the
/// last 5 minutes, else 503) on `addr`.
pub async fn serve_metrics(addr: std::net::SocketAddr, metrics: NodeMetrics) -> Result<tokio::task::JoinHandle<()>> {
    use axum::{http::StatusCode, routing::get, Router};
    let registry = Arc::new(metrics.registry());
    let m = metrics.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
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
