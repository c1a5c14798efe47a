//! `vigil status`: the head, the stored cursor, the lag and each endpoint's health; it may read the store while a
//! node runs (SQLite WAL).

use alloy::primitives::U64;
use anyhow::{Context, Result};
use vigil_core::{BlockRef, Store};
use vigil_store::SqliteStore;

use crate::{config::Config, run::rpc_client};

/// Prints the head (the highest any endpoint reports), the stored cursor, the lag and each endpoint's head, distance
/// behind and latency or error, as text or JSON; fails when no endpoint answered.
pub async fn status(c: &Config, json: bool) -> Result<()> {
    let source = c.source.as_ref().context("the configuration has no [source] section")?;
    let client = rpc_client(source, Default::default())?;
    let cursor = stored_cursor(c)?;
    let answers = client.request_each::<U64>("eth_blockNumber", serde_json::json!([])).await;
    let head = answers.iter().filter_map(|(_, r, _)| r.as_ref().ok()).map(|n| n.to::<u64>()).max();
    let endpoints: Vec<_> = answers
        .iter()
        .map(|(url, r, t)| match r {
            Ok(n) => serde_json::json!({"url": url, "head": n.to::<u64>(), "behind": head.unwrap_or(0) - n.to::<u64>(),
                "latency_ms": t.as_secs_f64() * 1e3, "ok": true}),
            Err(e) => serde_json::json!({"url": url, "ok": false, "error": e.to_string(), "latency_ms": t.as_secs_f64() * 1e3}),
        })
        .collect();
    let lag = match (head, cursor) {
        (Some(h), Some(c)) => Some(h.saturating_sub(c.number)),
        _ => None,
    };
    if json {
        let v = serde_json::json!({"head": head, "cursor": cursor.map(|c| c.number), "cursor_hash": cursor.map(|c| c.hash),
            "lag": lag, "store": c.node.store, "endpoints": endpoints});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let show = |v: Option<u64>| v.map(|n| format!("#{n}")).unwrap_or_else(|| "-".into());
    println!("head     {}", show(head));
    println!("cursor   {} (store {})", show(cursor.map(|c| c.number)), c.node.store.display());
    println!("lag      {}", lag.map(|l| format!("{l} blocks")).unwrap_or_else(|| "-".into()));
    for e in &endpoints {
        if e["ok"] == true {
            println!(
                "endpoint {}  ok  head #{} ({} behind), {:.1} ms",
                e["url"].as_str().unwrap_or(""),
                e["head"],
                e["behind"],
                e["latency_ms"].as_f64().unwrap_or(0.0)
            );
        } else {
            println!("endpoint {}  DOWN  {}", e["url"].as_str().unwrap_or(""), e["error"].as_str().unwrap_or(""));
        }
    }
    if head.is_none() {
        anyhow::bail!("no endpoint answered");
    }
    Ok(())
}

/// The last block a store holds, for `vigil status`.
pub fn stored_cursor(config: &Config) -> Result<Option<BlockRef>> {
    if !config.node.store.exists() {
        return Ok(None);
    }
    Ok(SqliteStore::open(&config.node.store)?.cursor()?)
}
