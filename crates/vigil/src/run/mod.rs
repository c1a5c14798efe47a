//! `vigil run`: a node that follows a live chain over JSON-RPC and answers attacks.
//!
//! At start it checks the endpoints' chain id, opens the store and resumes the engine from it (cursor,
//! incidents, actions), reads the blocks just before the cursor again to refill the detectors' windows, settles
//! pauses that were decided but not seen landing (the Guardian is asked; a pause not in force is sent again with
//! the same signed report), then backfills from the cursor to the head (with a progress bar) and follows the head,
//! woken by WebSocket heads when configured and polling otherwise.
//!
//! Each block is processed exactly once, in order: the store commits the block's results with the cursor in one
//! transaction, so after a crash the node starts again at the first block not committed. A block that cannot be
//! fetched or processed is recorded in the store's failure log and retried with backoff, never skipped. A reorg
//! unwinds the engine to the common ancestor (findings of orphaned blocks are marked retracted) and the new
//! canonical blocks are processed. Responses wait for their confirmation depth (`[source.confirmations]`):
//! pauses act at depth 0 by default, notifications wait so that a reorg can retract them first.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, Bytes, B256, U256, U64},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use anyhow::{bail, Context, Result};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use serde_json::json;
use vigil_chain::{fetch::Fetcher, rpc::RpcClient, Follower, RetryPolicy, SourceMetrics};
use vigil_contracts::Guardian;
use vigil_core::{BlockRef, ChainEvent, Store};
use vigil_respond::{webhook::Notification, Action, ActionKind, PauseResponder, WebhookNotifier};

use crate::{
    config::{Config, SourceConfig},
    engine::{Engine, Outgoing},
};

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after processing this block (backfill jobs, tests). Default: follow for ever.
    pub until: Option<u64>,
    /// Show a progress bar while backfilling (when stderr is a terminal).
    pub progress: bool,
}

/// What a finished run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    /// Blocks processed in this run.
    pub blocks: u64,
    /// Reorgs handled.
    pub reorgs: u64,
    /// Findings in this run.
    pub findings: u64,
    /// Pause transactions sent.
    pub pauses_sent: u64,
    /// Notifications delivered.
    pub notifications: u64,
    /// The last block processed.
    pub cursor: Option<u64>,
}

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

    fn action(&self, kind: &str) {
        self.actions.get_or_create(&ActionLabel { action: kind.into() }).inc();
    }

    fn progress(&self) {
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

/// The RPC client of a `[source]`.
pub fn rpc_client(source: &SourceConfig, metrics: SourceMetrics) -> Result<RpcClient> {
    let policy = RetryPolicy {
        max_attempts: source.max_attempts,
        timeout: Duration::from_millis(source.timeout_ms),
        ..RetryPolicy::default()
    };
    Ok(RpcClient::new(&source.rpc, policy, metrics)?)
}

/// A notification or pause waiting for its confirmations.
struct Held {
    action: Action,
    outgoing: Option<Outgoing>,
    due: u64,
}

/// Runs the node until `opts.until` (or for ever).
pub async fn run(config: &Config, opts: RunOptions, metrics: NodeMetrics) -> Result<RunSummary> {
    let source =
        config.source.as_ref().context("the configuration has no [source] section: `vigil run` needs rpc endpoints")?;
    let client = rpc_client(source, metrics.source.clone())?;
    let fetcher = Fetcher::new(client.clone());
    let want_chain = source.chain_id.unwrap_or(config.guardian.chain_id);
    // Every endpoint must be on the configured chain: one on another chain would feed it foreign blocks.
    let mut reachable = 0;
    for (url, answer, _) in client.request_each::<U64>("eth_chainId", json!([])).await {
        match answer {
            Ok(id) if id.to::<u64>() == want_chain => reachable += 1,
            Ok(id) => bail!("endpoint {url} reports chain id {id}, the configuration expects {want_chain}"),
            Err(e) => tracing::warn!(event = "EndpointUnreachable", endpoint = %url, "eth_chainId: {e}"),
        }
    }
    if reachable == 0 {
        bail!("no endpoint answered eth_chainId; is the node running?");
    }
    let chain_id = want_chain;

    let keys: Vec<PrivateKeySigner> = match &config.responder {
        Some(r) => r.keys.iter().map(|k| k.load()).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let responder = (!keys.is_empty()).then(|| {
        PauseResponder::new(config.guardian.address, chain_id, keys.clone(), config.guardian.report_validity_seconds)
    });
    let wallet = keys.first().map(|k| EthereumWallet::from(k.clone()));
    let notifiers: Vec<WebhookNotifier> = config
        .notifiers
        .iter()
        .map(|n| {
            let secret = std::env::var(&n.secret_env)
                .with_context(|| format!("notifier {}: secret variable {} is not set", n.url, n.secret_env))?;
            Ok(WebhookNotifier::new(n.url.clone(), secret.into_bytes()))
        })
        .collect::<Result<_>>()?;

    let store = vigil_store::SqliteStore::open(&config.node.store)?;
    let recent = store.recent_blocks(source.reorg_depth)?;
    let mut engine = Engine::resume(config.build_detectors(), config.policy, responder, store)?
        .with_correlator(config.build_correlator());
    let probes: Vec<_> = engine.probes().iter().cloned().collect();
    let head = fetcher.head().await.context("eth_blockNumber")?;
    let start = match engine.last_block() {
        Some(b) => b.number + 1,
        None => source.start_block.unwrap_or(head),
    };
    tracing::info!(event = "NodeStarting", chain_id, head, start, store = %config.node.store.display(), "starting at block #{start}");

    let traces = config.fetch_traces();
    // Refill the detectors' windows with the blocks before the start.
    let warm_from = start.saturating_sub(source.warm_up_blocks);
    for n in warm_from..start {
        let bundle = retry_fetch(&fetcher, n, &probes, traces, &engine).await?;
        for e in engine.warm_up(&bundle) {
            tracing::debug!(event = "WarmUpSkipped", block = n, "{e}");
        }
    }
    if start > warm_from {
        tracing::info!(event = "WarmedUp", from = warm_from, to = start - 1, "detector windows refilled");
    }

    let mut summary = RunSummary::default();
    settle_pauses(&client, &mut engine, wallet.as_ref(), chain_id, head, &metrics, &mut summary).await?;

    let mut follower = Follower::new(fetcher, start, recent, source.reorg_depth, probes, traces);
    let mut heads = source.ws.clone().map(|url| vigil_chain::head::spawn_ws_heads(url, metrics.source.clone()));
    let poll = Duration::from_millis(source.poll_interval_ms);
    let mut held: Vec<Held> = Vec::new();
    let mut head = head;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut failures = 0u32;
    metrics.healthy.store(true, Ordering::Relaxed);
    metrics.progress();

    loop {
        let next = follower.next_number();
        if opts.until.is_some_and(|u| next > u) {
            break;
        }
        metrics.source.set_progress(head, next.saturating_sub(1));
        // Backfill progress.
        if opts.progress && bar.is_none() && head >= next + 10 {
            let b = indicatif::ProgressBar::new(head + 1 - next);
            b.set_style(
                indicatif::ProgressStyle::with_template("backfill {bar:40} {pos}/{len} blocks, {per_sec}, eta {eta}")
                    .expect("a valid template"),
            );
            bar = Some(b);
        }
        let event = match follower.next_event(head).await {
            Ok(e) => {
                failures = 0;
                e
            }
            Err(e) if e.is_retryable() => {
                failures += 1;
                metrics.source.block_retries.inc();
                fetch_failed(&engine, next, "fetch", failures, &e).await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        match event {
            None => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                    tracing::info!(event = "BackfillDone", block = next.saturating_sub(1), "caught up with the head");
                }
                if opts.until.is_some_and(|u| next > u) {
                    break;
                }
                head = wait_for_head(follower.fetcher(), heads.as_mut(), poll, head).await;
            }
            Some(ChainEvent::RevertTo { ancestor }) => {
                engine.revert_to(ancestor)?;
                summary.reorgs += 1;
                held.retain(|h| {
                    let keep = h.action.block.number <= ancestor.number;
                    if !keep {
                        tracing::warn!(event = "ResponseRetracted", block = h.action.block.number, incident = %h.action.incident, "the finding's block is orphaned; {:?} not taken", h.action.kind);
                    }
                    keep
                });
                tracing::warn!(
                    event = "ReorgHandled",
                    block = ancestor.number,
                    "unwound to #{} ({})",
                    ancestor.number,
                    ancestor.hash
                );
            }
            Some(ChainEvent::NewBlock(bundle)) => {
                let number = bundle.block_ref().number;
                let started = Instant::now();
                let mut attempts = 0;
                let outcome = loop {
                    match engine.process(&bundle) {
                        Ok(o) => break o,
                        Err(e) => {
                            attempts += 1;
                            metrics.source.block_retries.inc();
                            tracing::error!(event = "BlockProcessingFailed", block = number, attempt = attempts, "{e}");
                            if let crate::engine::EngineError::Store(_) = e {
                                bail!("block #{number}: the store failed; stopping so that a restart resumes from it: {e}");
                            }
                            if let Some(store) = engine.store() {
                                store.record_failure(number, "process", &e.to_string())?;
                            }
                            if attempts >= 3 {
                                bail!(
                                    "block #{number} could not be processed after {attempts} attempts: {e}. The block is \
                                     not committed: the next start processes it again. If a watched contract does not \
                                     exist yet at this block, set [source] start_block after its deployment"
                                );
                            }
                            tokio::time::sleep(backoff(attempts)).await;
                        }
                    }
                };
                failures = 0;
                metrics.block_seconds.observe(started.elapsed().as_secs_f64());
                metrics.blocks.inc();
                metrics.progress();
                summary.blocks += 1;
                summary.cursor = Some(number);
                if let Some(b) = &bar {
                    b.inc(1);
                }
                tracing::debug!(event = "BlockProcessed", block = number, hash = %bundle.block_ref().hash, txs = bundle.receipts.len(), findings = outcome.findings.len());
                for f in &outcome.findings {
                    summary.findings += 1;
                    metrics
                        .findings
                        .get_or_create(&SeverityLabel { severity: format!("{:?}", f.severity).to_lowercase() })
                        .inc();
                    tracing::info!(event = "Finding", block = number, detector = %f.detector, severity = ?f.severity, "{}", f.title);
                }
                for action in outcome.actions {
                    let outgoing = outcome.outgoing.iter().find(|o| o.action == action).cloned();
                    let depth = match action.kind {
                        ActionKind::Pause { .. } => source.confirmations.pause,
                        ActionKind::Notify => source.confirmations.notify,
                    };
                    held.push(Held { due: number + depth, action, outgoing });
                }
                let (due, later): (Vec<Held>, Vec<Held>) = held.drain(..).partition(|h| h.due <= number);
                held = later;
                for h in due {
                    act(&client, &engine, h, wallet.as_ref(), chain_id, &notifiers, &metrics, &mut summary).await;
                }
            }
        }
    }
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    Ok(summary)
}

/// Carries out an action whose confirmations are in: sends a pause, or delivers a notification. A failure is
/// logged and counted; the pause stays recorded as submitted and is settled after a restart.
#[allow(clippy::too_many_arguments)]
async fn act(
    client: &RpcClient,
    engine: &Engine,
    held: Held,
    wallet: Option<&EthereumWallet>,
    chain_id: u64,
    notifiers: &[WebhookNotifier],
    metrics: &NodeMetrics,
    summary: &mut RunSummary,
) {
    let block = held.action.block.number;
    match (held.action.kind, held.outgoing, wallet) {
        (ActionKind::Pause { scope }, Some(out), Some(wallet)) => {
            match send_transaction(client, wallet, out.from, out.to, out.data, chain_id).await {
                Ok(hash) => {
                    summary.pauses_sent += 1;
                    metrics.action("pause_sent");
                    tracing::warn!(event = "PauseSent", block, %scope, tx = %hash, "pause of {scope} sent");
                }
                Err(e) => {
                    metrics.action("pause_failed");
                    tracing::error!(event = "PauseSendFailed", block, %scope, "{e:#}");
                }
            }
        }
        (ActionKind::Pause { scope }, _, _) => {
            tracing::warn!(event = "PauseDue", block, %scope, "a pause of {scope} is due but this node holds no keys");
        }
        (ActionKind::Notify, _, _) => {
            let Some(incident) = engine.incidents().incidents().find(|i| i.id == held.action.incident) else { return };
            let findings: Vec<_> =
                incident.findings.iter().filter(|(_, retracted)| !retracted).map(|(f, _)| f.clone()).collect();
            let note = Notification {
                incident: incident.id,
                protocol: &incident.protocol,
                scope: incident.scope,
                severity: incident.severity,
                findings: &findings,
            };
            tracing::warn!(event = "NotificationDue", block, incident = %incident.id, severity = ?incident.severity, "{} on {}", incident.protocol, incident.scope);
            for n in notifiers {
                match n.send(&note).await {
                    Ok(_) => {
                        summary.notifications += 1;
                        metrics.action("notification_delivered");
                    }
                    Err(e) => {
                        metrics.action("notification_failed");
                        tracing::error!(event = "NotificationFailed", block, "{e}");
                    }
                }
            }
        }
    }
}

/// After a restart: each pause decided but not seen landing is either in force on the Guardian (recorded as
/// landed) or sent again with the same signed report.
async fn settle_pauses(
    client: &RpcClient,
    engine: &mut Engine,
    wallet: Option<&EthereumWallet>,
    chain_id: u64,
    head: u64,
    metrics: &NodeMetrics,
    summary: &mut RunSummary,
) -> Result<()> {
    let guardian = engine.responder_guardian();
    let unconfirmed: Vec<_> = engine.unconfirmed_pauses().into_iter().cloned().collect();
    for p in unconfirmed {
        let Some(guardian) = guardian else { break };
        let data = Guardian::isPausedCall { target: p.scope.target, scope: p.scope.id }.abi_encode();
        let raw: Bytes = client
            .request("eth_call", json!([{"to": guardian, "data": Bytes::from(data)}, "latest"]))
            .await
            .context("Guardian.isPaused")?;
        let paused = Guardian::isPausedCall::abi_decode_returns(&raw).unwrap_or(false);
        if paused {
            tracing::info!(event = "PauseSettled", scope = %p.scope, "the pause decided before the restart is in force");
            engine.confirm_pause(p.scope, head)?;
        } else if let Some(wallet) = wallet {
            let from = wallet.default_signer().address();
            match send_transaction(client, wallet, from, guardian, p.calldata.clone(), chain_id).await {
                Ok(hash) => {
                    summary.pauses_sent += 1;
                    metrics.action("pause_sent");
                    tracing::warn!(event = "PauseResent", scope = %p.scope, tx = %hash, "pause decided before the restart sent again");
                }
                Err(e) => tracing::error!(event = "PauseSendFailed", scope = %p.scope, "{e:#}"),
            }
        }
    }
    Ok(())
}

/// Signs and sends a transaction through the client (failover applies; a resend of the same bytes is harmless).
pub async fn send_transaction(
    client: &RpcClient,
    wallet: &EthereumWallet,
    from: Address,
    to: Address,
    data: Bytes,
    chain_id: u64,
) -> Result<B256> {
    let nonce: U64 = client.request("eth_getTransactionCount", json!([from, "pending"])).await?;
    let gas_price: U256 = client.request("eth_gasPrice", json!([])).await?;
    let call = json!([{"from": from, "to": to, "data": data}]);
    let gas: U64 = match client.request("eth_estimateGas", call).await {
        Ok(g) => g,
        Err(vigil_chain::RpcError::Call { error, .. }) => {
            let revert = vigil_chain::fetch::probe_revert(&error)
                .and_then(|d| vigil_contracts::describe_error(&d))
                .unwrap_or(error.message.clone());
            bail!("the transaction would revert: {revert}");
        }
        Err(e) => return Err(e.into()),
    };
    let fee: u128 = gas_price.saturating_mul(U256::from(2)).to();
    let tx = TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_input(data)
        .with_nonce(nonce.to())
        .with_chain_id(chain_id)
        .with_gas_limit(gas.to::<u64>() * 12 / 10 + 10_000)
        .with_max_fee_per_gas(fee.max(1))
        .with_max_priority_fee_per_gas((fee / 2).max(1));
    let envelope = tx.build(wallet).await.context("signing the transaction")?;
    let raw = Bytes::from(envelope.encoded_2718());
    match client.request::<B256>("eth_sendRawTransaction", json!([raw])).await {
        Ok(hash) => Ok(hash),
        Err(vigil_chain::RpcError::Call { error, .. }) if error.message.contains("already known") => {
            Ok(*envelope.tx_hash())
        }
        Err(e) => Err(e.into()),
    }
}

async fn retry_fetch(
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
async fn fetch_failed(engine: &Engine, n: u64, stage: &str, attempt: u32, e: &dyn std::fmt::Display) -> Result<()> {
    tracing::warn!(event = "BlockFetchFailed", block = n, attempt, stage, "{e}");
    if let Some(store) = engine.store() {
        store.record_failure(n, stage, &e.to_string())?;
    }
    tokio::time::sleep(backoff(attempt)).await;
    Ok(())
}

/// Waits for a new head: a WebSocket head if one arrives within `poll`, else asks the endpoints.
async fn wait_for_head(
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

fn backoff(failures: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << failures.min(8)).min(30_000))
}

/// The last block a store holds, for `vigil status`.
pub fn stored_cursor(config: &Config) -> Result<Option<BlockRef>> {
    if !config.node.store.exists() {
        return Ok(None);
    }
    Ok(vigil_store::SqliteStore::open(&config.node.store)?.cursor()?)
}
