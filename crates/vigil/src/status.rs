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
///
/// With `sharing` (a node of the oracle network) one key of the set is enough: the peers' shares make up the
/// threshold.
pub fn check_mandates(view: &GuardianView, policy: &Policy, keys: &[Address], sharing: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let held = keys.iter().filter(|k| view.signers.contains(k)).count() as u64;
    if sharing && !keys.is_empty() && held == 0 {
        problems.push(format!(
            "this node's key is not in the Guardian's oracle set of {}: its shares are refused",
            view.signers.len()
        ));
    } else if !sharing && !keys.is_empty() && held < view.threshold {
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
        Some(Ok(view)) => check_mandates(view, &c.policy, &keys, c.network.is_some()),
        _ => Vec::new(),
    };
    let network = match (&c.network, c.node.metrics) {
        (Some(_), Some(addr)) => Some(read_network(addr).await),
        (Some(_), None) => Some(Err(anyhow::anyhow!(
            "[node] metrics is not set: the node serves its network state on /network of that address"
        ))),
        (None, _) => None,
    };
    if json {
        let network = match &network {
            Some(Ok(v)) => v.clone(),
            Some(Err(e)) => serde_json::json!({"error": format!("{e:#}")}),
            None => serde_json::Value::Null,
        };
        let guardian = match &guardian {
            Some(Ok(view)) => serde_json::to_value(view)?,
            Some(Err(e)) => serde_json::json!({"error": format!("{e:#}")}),
            None => serde_json::Value::Null,
        };
        let v = serde_json::json!({"head": head, "cursor": cursor.map(|c| c.number), "cursor_hash": cursor.map(|c| c.hash),
            "lag": lag, "store": c.node.store, "endpoints": endpoints, "guardian": guardian, "network": network,
            "problems": problems});
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
    match &network {
        Some(Ok(v)) => describe_network(v).iter().for_each(|l| println!("{l}")),
        Some(Err(e)) => println!("network  UNKNOWN  {e:#}"),
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

/// The running node's network state (`/network` on its metrics address).
async fn read_network(addr: std::net::SocketAddr) -> Result<serde_json::Value> {
    let url = format!("http://{addr}/network");
    let answer = reqwest::Client::new()
        .get(&url)
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await
        .with_context(|| format!("no answer at {url}: is the node running?"))?;
    let status = answer.status();
    let text = answer.text().await.with_context(|| format!("reading {url}"))?;
    if !status.is_success() {
        anyhow::bail!("{url} answered {status}: {}", text.trim());
    }
    serde_json::from_str(&text).with_context(|| format!("{url} did not answer JSON"))
}

/// The network state as lines: this node, each peer's health, what the inbox dropped, the reports pending.
fn describe_network(v: &serde_json::Value) -> Vec<String> {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    let mut lines = vec![format!(
        "network  node {} at #{}, {} signatures needed, sent {} requests ({} bytes)",
        s(&v["me"]),
        v["block"],
        v["threshold"],
        v["sent"]["requests"],
        v["sent"]["bytes"]
    )];
    for p in v["peers"].as_array().into_iter().flatten() {
        let state = if p["up"] == true { "up" } else { "DOWN" };
        let member = if p["member"] == true { "" } else { ", NOT IN THE ORACLE SET" };
        let error = p["last_error"].as_str().map(|e| format!(", last error: {e}")).unwrap_or_default();
        lines.push(format!(
            "peer     {} {}  {state}{member}; took {} / missed {}, sent us {}, heartbeat #{}{error}",
            s(&p["address"]),
            s(&p["url"]),
            p["delivered"],
            p["failed"],
            p["received"],
            p["heartbeat_block"]
        ));
    }
    let dropped: Vec<String> =
        v["inbox"]["dropped"].as_object().into_iter().flatten().map(|(reason, n)| format!("{reason} {n}")).collect();
    lines.push(format!(
        "inbox    accepted {}; dropped: {}",
        v["inbox"]["accepted"],
        if dropped.is_empty() { "none".into() } else { dropped.join(", ") }
    ));
    for r in v["pending"].as_array().into_iter().flatten() {
        let signers = r["signers"].as_array().map(Vec::len).unwrap_or(0);
        lines.push(format!(
            "report   {} on {} scope {}: {signers} signatures{}{}",
            s(&r["digest"]),
            s(&r["target"]),
            s(&r["scope"]),
            if r["signed_here"] == true { ", signed here" } else { "" },
            if r["submitted"] == true { ", submitted" } else { "" }
        ));
    }
    lines
}

/// The last block a store holds, for `vigil status`.
pub fn stored_cursor(config: &Config) -> Result<Option<BlockRef>> {
    if !config.node.store.exists() {
        return Ok(None);
    }
    Ok(SqliteStore::open(&config.node.store)?.cursor()?)
}
