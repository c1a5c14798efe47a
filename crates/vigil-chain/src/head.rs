//! New heads by WebSocket subscription (`eth_subscribe("newHeads")` through alloy's pubsub provider).
//!
//! The watcher publishes the number of the latest head announced on a `watch` channel. It only wakes the consumer early:
//! the consumer also polls `eth_blockNumber` over HTTP whenever no head arrived within its poll interval, so a
//! dropped or silent WebSocket costs latency, never blocks. A dropped subscription is reconnected with backoff
//! and counted in `vigil_ws_fallbacks`.

use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder, WsConnect};
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::metrics::SourceMetrics;

/// Spawns the watcher on the current runtime; it runs until the receiver is dropped.
pub fn spawn_ws_heads(url: String, metrics: SourceMetrics) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        let events = ("WsHeadsEnded", "WsHeadsFailed");
        keep_subscribed(&url, &tx, events, || follow(&url, &tx, &metrics), || metrics.ws_fallbacks.inc()).await
    });
    rx
}

/// Follows a subscription for as long as a receiver of `tx` lives: `follow` runs it; when it ends or fails, that
/// is logged (`events`: the names for an end and for a failure), `lost` is told, and it starts again after a
/// backoff (200 ms, doubling up to 30 s). The consumer polls over HTTP meanwhile.
pub(crate) async fn keep_subscribed<Fut, L>(
    url: &str,
    tx: &watch::Sender<u64>,
    events: (&'static str, &'static str),
    mut follow: impl FnMut() -> Fut,
    mut lost: impl FnMut() -> L,
) where
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut backoff = Duration::from_millis(200);
    let url_shown = crate::rpc::redact(url);
    loop {
        if tx.is_closed() {
            return;
        }
        match follow().await {
            Ok(()) => {
                tracing::warn!(event = events.0, url = %url_shown, "subscription ended; polling over HTTP until it is back")
            }
            Err(e) => tracing::warn!(event = events.1, url = %url_shown, "{e}; polling over HTTP until it is back"),
        }
        lost();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

async fn follow(url: &str, tx: &watch::Sender<u64>, metrics: &SourceMetrics) -> Result<(), String> {
    let provider = ProviderBuilder::new().connect_ws(WsConnect::new(url)).await.map_err(|e| e.to_string())?;
    let sub = provider.subscribe_blocks().await.map_err(|e| e.to_string())?;
    tracing::info!(event = "WsHeadsSubscribed", url = %crate::rpc::redact(url), "following new heads over WebSocket");
    let mut stream = sub.into_stream();
    while let Some(header) = stream.next().await {
        metrics.ws_heads.inc();
        tx.send_replace(header.number);
        if tx.is_closed() {
            return Ok(());
        }
    }
    Ok(())
}
