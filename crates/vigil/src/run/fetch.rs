//! Fetching blocks for the node: the RPC client of a `[source]`, retries with backoff (each failure logged and
//! recorded in the store's failure log, the block never skipped), and waiting for a new head.

use std::time::Duration;

use anyhow::Result;
use vigil_chain::{fetch::Fetcher, rpc::RpcClient, RetryPolicy, SourceMetrics};

use crate::{config::SourceConfig, engine::Engine};

/// The RPC client of a `[source]`.
pub fn rpc_client(source: &SourceConfig, metrics: SourceMetrics) -> Result<RpcClient> {
    let policy = RetryPolicy {
        max_attempts: source.max_attempts,
        timeout: Duration::from_millis(source.timeout_ms),
        ..RetryPolicy::default()
    };
    Ok(RpcClient::new(&source.rpc, policy, metrics)?)
}

/// Fetches block `n` for the warm-up, retrying a retryable failure up to 20 times.
pub(super) async fn retry_fetch(
    fetcher: &Fetcher,
    n: u64,
    probes: &[vigil_core::Probe],
    traces: bool,
    engine: &Engine,
) -> Result<vigil_core::Bundle> {
    let mut failures = 0;
    loop {
        match fetcher.bundle(n, probes, traces).await {
            Ok(b) => return Ok(b),
            Err(e) if e.is_retryable() && failures < 20 => {
                failures += 1;
                fetch_failed(engine, n, "warm-up", failures, &e).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A failed fetch of block `n`: logged, recorded in the store's failure log, then a backoff before the retry.
pub(super) async fn fetch_failed(
    engine: &Engine,
    n: u64,
    stage: &str,
    attempt: u32,
    e: &dyn std::fmt::Display,
) -> Result<()> {
    tracing::warn!(event = "BlockFetchFailed", block = n, attempt, stage, "{e}");
    if let Some(store) = engine.store() {
        store.record_failure(n, stage, &e.to_string())?;
    }
    tokio::time::sleep(backoff(attempt)).await;
    Ok(())
}

/// Waits for a new head: a WebSocket head if one arrives within `poll`, else asks the endpoints.
pub(super) async fn wait_for_head(
    fetcher: &Fetcher,
    heads: Option<&mut tokio::sync::watch::Receiver<u64>>,
    poll: Duration,
    current: u64,
) -> u64 {
    if let Some(rx) = heads {
        if let Ok(Ok(())) = tokio::time::timeout(poll, rx.changed()).await {
            let h = *rx.borrow_and_update();
            if h != current {
                return h;
            }
        }
    } else {
        tokio::time::sleep(poll).await;
    }
    match fetcher.head().await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(event = "HeadUnavailable", "{e}");
            current
        }
    }
}

/// How long to wait after `failures` failures in a row: 200 ms doubling, at most 30 s.
pub(super) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << failures.min(8)).min(30_000))
}
