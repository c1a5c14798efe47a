//! `vigil status`: the head, the stored cursor, the lag and each endpoint's health, and the Guardian as the node
//! reads it (oracle set, mandates, pauses, cooldowns, budgets); it may read the store while a node runs (SQLite
//! WAL). [`read_guardian`] and [`check_mandates`] are also what `vigil run` does at start.

use alloy::{
    primitives::{Address, Bytes, U64},
    sol_types::SolCall,
};
use anyhow::{Context, Result};
use vigil_chain::rpc::RpcClient;
use vigil_contracts::Guardian;
use vigil_core::{BlockRef, Store};
use vigil_respond::{GuardianView, Policy};
use vigil_store::SqliteStore;

use crate::{config::Config, run::rpc_client};

/// The Guardian's `snapshot()` at the latest block.
pub async fn read_guardian(client: &RpcClient, guardian: Address) -> Result<GuardianView> {
    let data = Bytes::from(Guardian::snapshotCall {}.abi_encode());
    let raw: Bytes = client
        .request("eth_call", serde_json::json!([{"to": guardian, "data": data}, "latest"]))
        .await
        .with_context(|| format!("reading the Guardian's snapshot() at {guardian}"))?;
    GuardianView::decode(&raw).with_context(|| format!("the Guardian at {guardian}"))
}

/// What is wrong between the policy, the node's keys and the Guardian's mandates, one line each: keys that cannot
/// reach the threshold, policy rules that may pause a scope without a mandate in force, mandates that end
/// within a week.
pub fn check_mandates(view: &GuardianView, policy: &Policy, keys: &[Address]) -> Vec<String> {
    let mut problems = Vec::new();
    let held = keys.iter().filter(|k| view.signers.contains(k)).count() as u64;
    if !keys.is_empty() && held < view.threshold {
        problems.push(format!(
            "this node holds {held} keys of the Guardian's oracle set and {} signatures are needed: no pause it decides can land",
            view.threshold
        ));
    }
    let now = view.timestamp;
    for (i, rule) in policy.rules.iter().enumerate().filter(|(_, r)| r.may_pause()) {
        let Some(target) = rule.target else { continue };
        let in_force = view.scopes.iter().any(|s| {
            s.scope.target == target
                && rule.scope.is_none_or(|id| s.scope.id == alloy::primitives::U256::from(id))
                && s.active
                && s.expiry > now
        });
        if !in_force {
            let scope = rule.scope.map(|s| format!(" scope {s}")).unwrap_or_default();
            problems.push(format!("policy rule {} may pause {target}{scope}, which has no mandate in force", i + 1));
        }
    }
    for s in view.scopes.iter().filter(|s| s.active && s.expiry > now && s.expiry <= now + 7 * 86_400) {
        problems.push(format!("the mandate for {} ends in {}", s.scope, duration(s.expiry - now)));
    }
    problems
}

/// `3d 4h`, `12m`, `40s`.
fn duration(seconds: u64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
        s if s >= 3_600 => format!("{}h {}m", s / 3_600, s % 3_600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// One line per mandated scope: mandate, pause, cooldown, budget.
fn describe(view: &GuardianView) -> Vec<String> {
    let now = view.timestamp;
    let mut lines = vec![format!(
        "guardian oracle set v{}: {} of {} signers",
        view.config_version,
        view.threshold,
        view.signers.len()
    )];
    for s in &view.scopes {
        let mandate = if !s.active {
            "no mandate".to_string()
        } else if s.expiry <= now {
            "mandate expired".to_string()
        } else {
            format!(
                "mandate {} pauses, cooldown {}, ends in {}",
                duration(s.max_pause_seconds.min(view.max_pause_length)),
                duration(s.cooldown_seconds),
                duration(s.expiry - now)
            )
        };
        let pause = if s.paused_until > now {
            format!("PAUSED for {}", duration(s.paused_until - now))
        } else {
            let wait = s.next_pause_allowed_at.max(s.target_cooldown_until);
            if wait > now {
                format!("not paused, cooldown {}", duration(wait - now))
            } else {
                "not paused".into()
            }
        };
        let used = s.budget_used(now);
        lines.push(format!(
            "scope    {}  {mandate}; {pause}; budget {} of {} used",
            s.scope,
            duration(used),
            duration(s.budget_seconds)
        ));
    }
    lines
}

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
    let guardian = match head {
        Some(_) => Some(read_guardian(&client, c.guardian.address).await),
        None => None,
    };
    let keys: Vec<Address> = match &c.responder {
        Some(r) => r.keys.iter().filter_map(|k| k.load().ok()).map(|k| k.address()).collect(),
        None => Vec::new(),
    };
    let problems = match &guardian {
        Some(Ok(view)) => check_mandates(view, &c.policy, &keys),
        _ => Vec::new(),
    };
    if json {
        let guardian = match &guardian {
            Some(Ok(view)) => serde_json::to_value(view)?,
            Some(Err(e)) => serde_json::json!({"error": format!("{e:#}")}),
            None => serde_json::Value::Null,
        };
        let v = serde_json::json!({"head": head, "cursor": cursor.map(|c| c.number), "cursor_hash": cursor.map(|c| c.hash),
            "lag": lag, "store": c.node.store, "endpoints": endpoints, "guardian": guardian, "problems": problems});
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
    match &guardian {
        Some(Ok(view)) => describe(view).iter().for_each(|l| println!("{l}")),
        Some(Err(e)) => println!("guardian {}  UNREADABLE  {e:#}", c.guardian.address),
        None => {}
    }
    for p in &problems {
        println!("problem  {p}");
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
