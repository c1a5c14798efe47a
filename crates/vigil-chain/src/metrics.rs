//! Prometheus metrics of the source: requests, faults and latency per endpoint, head, cursor, lag, blocks
//! fetched, reorgs. The binary registers them with its own (findings, actions) and serves `/metrics`.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointMethod {
    endpoint: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointFault {
    endpoint: String,
    fault: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
}

/// The source's metrics; cheap to clone (shared counters).
#[derive(Clone)]
pub struct SourceMetrics {
    requests: Family<EndpointMethod, Counter>,
    faults: Family<EndpointFault, Counter>,
    latency: Family<EndpointLabel, Histogram, fn() -> Histogram>,
    failing: Family<EndpointLabel, Gauge>,
    /// Highest block number the endpoints report.
    pub head: Gauge,
    /// Last block processed.
    pub cursor: Gauge,
    /// Head minus cursor.
    pub lag: Gauge,
    /// Blocks fetched and handed on.
    pub blocks_fetched: Counter,
    /// Reorgs seen.
    pub reorgs: Counter,
    /// Blocks whose fetch or processing failed and was retried.
    pub block_retries: Counter,
    /// Round trips spent per fetched block (sum; divide by `blocks_fetched`).
    pub round_trips: Counter,
    /// Head notifications from the WebSocket subscription.
    pub ws_heads: Counter,
    /// Times the head watcher fell back to HTTP polling.
    pub ws_fallbacks: Counter,
}

impl Default for SourceMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            faults: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            failing: Family::default(),
            head: Gauge::default(),
            cursor: Gauge::default(),
            lag: Gauge::default(),
            blocks_fetched: Counter::default(),
            reorgs: Counter::default(),
            block_retries: Counter::default(),
            round_trips: Counter::default(),
            ws_heads: Counter::default(),
            ws_fallbacks: Counter::default(),
        }
    }
}

impl SourceMetrics {
    /// Registers every metric under the `vigil_` prefix.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "vigil_rpc_requests",
            "JSON-RPC requests sent, by endpoint and first method",
            self.requests.clone(),
        );
        registry.register("vigil_rpc_faults", "Failed JSON-RPC attempts, by endpoint and fault", self.faults.clone());
        registry.register("vigil_rpc_latency_seconds", "JSON-RPC round-trip time by endpoint", self.latency.clone());
        registry.register(
            "vigil_rpc_endpoint_consecutive_failures",
            "Failed attempts on the endpoint since its last success (0: healthy)",
            self.failing.clone(),
        );
        registry.register("vigil_head_block", "Highest block the endpoints report", self.head.clone());
        registry.register("vigil_cursor_block", "Last block processed and committed", self.cursor.clone());
        registry.register("vigil_lag_blocks", "Head minus cursor", self.lag.clone());
        registry.register("vigil_blocks_fetched", "Blocks fetched from the source", self.blocks_fetched.clone());
        registry.register("vigil_reorgs", "Reorgs detected", self.reorgs.clone());
        registry.register(
            "vigil_block_retries",
            "Block fetches or processing retried after an error",
            self.block_retries.clone(),
        );
        registry.register("vigil_rpc_round_trips", "Round trips spent fetching blocks", self.round_trips.clone());
        registry.register("vigil_ws_heads", "New heads received over WebSocket", self.ws_heads.clone());
        registry.register("vigil_ws_fallbacks", "Falls back from WebSocket to HTTP polling", self.ws_fallbacks.clone());
    }

    pub(crate) fn request(&self, endpoint: &str, method: &str) {
        self.requests.get_or_create(&EndpointMethod { endpoint: endpoint.into(), method: method.into() }).inc();
    }

    pub(crate) fn fault(&self, endpoint: &str, fault: crate::rpc::Fault) {
        self.faults.get_or_create(&EndpointFault { endpoint: endpoint.into(), fault: fault.as_str().into() }).inc();
    }

    pub(crate) fn latency(&self, endpoint: &str, d: Duration) {
        self.latency.get_or_create(&EndpointLabel { endpoint: endpoint.into() }).observe(d.as_secs_f64());
    }

    pub(crate) fn consecutive_failures(&self, endpoint: &str, n: u32) {
        self.failing.get_or_create(&EndpointLabel { endpoint: endpoint.into() }).set(n as i64);
    }

    /// Faults counted so far for `endpoint` and `fault` (tests, `vigil status`).
    pub fn fault_count(&self, endpoint: &str, fault: crate::rpc::Fault) -> u64 {
        self.faults.get_or_create(&EndpointFault { endpoint: endpoint.into(), fault: fault.as_str().into() }).get()
    }

    /// Sets head, cursor and lag.
    pub fn set_progress(&self, head: u64, cursor: u64) {
        self.head.set(head as i64);
        self.cursor.set(cursor as i64);
        self.lag.set(head.saturating_sub(cursor) as i64);
    }
}
