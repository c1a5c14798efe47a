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
//!
//! This module is the block loop ([`run`]); its helpers each have a module of their own:
//!
//! - [`metrics`]: the node's metrics and the `/metrics` and `/health` server;
//! - [`fetch`]: the RPC client, fetch retries with backoff, waiting for a new head;
//! - [`dispatch`]: carrying out due actions (pause transactions, notifications);
//! - [`settle`]: settling, after a restart, pauses decided but not seen landing;
//! - [`network`]: the oracle network (`[network]`): shares to and from peers, quorum submission;
//! - [`attest`]: the attestation service (`[gate]`, `POST /attest`) for a SecurityGate;
//! - [`screen`]: screening of the node's pending transactions between blocks (`[screening]`), whose
//!   front-running pauses are sent at once.

pub mod attest;
pub mod dispatch;
pub mod fetch;
pub mod metrics;
pub mod network;
pub mod screen;
pub mod settle;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{network::EthereumWallet, primitives::U64, signers::local::PrivateKeySigner};
use anyhow::{bail, Context, Result};
use serde_json::json;
use vigil_chain::{fetch::Fetcher, Follower};
use vigil_core::{ChainEvent, Store};
use vigil_respond::{Action, ActionKind, GuardianResponder, Responder, WebhookNotifier};

use self::{
    attest::AttestService,
    dispatch::{record_delivery, Acted, Delivery, Dispatcher, Held},
    fetch::{backoff, fetch_failed, retry_fetch, wait_for_head},
    network::{OracleNode, Submission},
    screen::Screener,
    settle::settle_pauses,
};
pub use self::{
    dispatch::send_transaction,
    fetch::rpc_client,
    metrics::{serve_metrics, NodeMetrics},
};
use crate::{config::Config, engine::Engine};

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

/// What woke the node between blocks.
enum Woke {
    Head(u64),
    Share(vigil_net::Inbound),
    Screen,
    Attest(attest::Ask),
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
    let (guardian, validity) = (config.guardian.address, config.guardian.report_validity_seconds);
    let responder = match (keys.first(), &config.network) {
        (None, _) => None,
        (Some(key), Some(_)) => {
            Some(Box::new(GuardianResponder::sharing(guardian, chain_id, key.clone(), validity)) as Box<dyn Responder>)
        }
        (Some(_), None) => {
            Some(Box::new(GuardianResponder::new(guardian, chain_id, keys.clone(), validity)) as Box<dyn Responder>)
        }
    };
    let mut view = None;
    if responder.is_some() {
        // Every pause is decided on the Guardian's snapshot(): a Guardian without it would stop the node at its
        // first pause, so it is refused here.
        let v = crate::status::read_guardian(&client, guardian).await?;
        tracing::info!(event = "GuardianRead", version = %v.config_version, threshold = v.threshold, signers = v.signers.len(), scopes = v.scopes.len(), "the Guardian holds {} mandated scopes", v.scopes.len());
        let ours: Vec<_> = keys.iter().map(|k| k.address()).collect();
        for problem in crate::status::check_mandates(&v, &config.policy, &ours, config.network.is_some()) {
            tracing::warn!(event = "MandateProblem", "{problem}");
        }
        view = Some(v);
    }
    let wallet = keys.first().map(|k| EthereumWallet::from(k.clone()));
    let notifiers: Arc<Vec<WebhookNotifier>> = Arc::new(
        config
            .notifiers
            .iter()
            .map(|n| {
                let secret = std::env::var(&n.secret_env)
                    .with_context(|| format!("notifier {}: secret variable {} is not set", n.url, n.secret_env))?;
                Ok(WebhookNotifier::new(n.url.clone(), secret.into_bytes()))
            })
            .collect::<Result<_>>()?,
    );

    let store = vigil_store::SqliteStore::open(&config.node.store)?;
    let recent = store.recent_blocks(source.reorg_depth)?;
    let mut engine = Engine::resume(config.build_detectors(), config.policy.clone(), responder, store)?
        .with_reorg_depth(source.reorg_depth)
        .with_correlator(config.build_correlator())
        .with_fees(config.pause_fees());
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
    let mut oracle = match (&config.network, keys.first(), view) {
        (Some(network), Some(key), Some(view)) => {
            Some(OracleNode::start(network, key.clone(), chain_id, guardian, view, metrics.network.clone()).await?)
        }
        _ => None,
    };
    settle_pauses(&client, &mut engine, wallet.as_ref(), chain_id, head, &metrics, &mut summary, oracle.as_mut())
        .await?;

    let mut follower = Follower::new(fetcher, start, recent, source.reorg_depth, probes, traces);
    let mut heads = source.ws.clone().map(|url| vigil_chain::head::spawn_ws_heads(url, metrics.source.clone()));
    let poll = Duration::from_millis(source.poll_interval_ms);
    // Notifications planned before a restart and not yet delivered are held again for their confirmations.
    let mut held: Vec<Held> = Vec::new();
    if let Some(store) = engine.store() {
        for a in store.actions()? {
            if a.state == "planned" && a.kind.is_notification() {
                let block = vigil_core::BlockRef { number: a.block, hash: a.block_hash };
                let action = Action { incident: a.incident, kind: a.kind, block, evidence_hash: a.evidence_hash };
                tracing::info!(event = "NotificationResumed", block = a.block, incident = %a.incident, "a notification planned before the restart is held again");
                held.push(Held { due: a.block + source.confirmations.notify, action, outgoing: None, attempts: 0 });
            }
        }
    }
    // Screening needs the node's own response: in network mode pauses go through the peers' shares, which are
    // for blocks only (docs/screening.md).
    let mut screener = match (&config.screening, &oracle) {
        (Some(s), None) => {
            let poll = Duration::from_millis(s.mempool_poll_ms);
            Some(Screener::new(client.clone(), chain_id, config.needs_traces(), poll, source.ws.clone()))
        }
        (Some(_), Some(_)) => {
            tracing::warn!(
                event = "ScreeningOff",
                "[screening] is ignored in network mode: pauses need the peers' shares of a block"
            );
            None
        }
        _ => None,
    };
    // The attestation service signs with every oracle key the node holds (one in network mode: the sender
    // gathers k nodes' signatures).
    let mut attest = match &config.gate {
        Some(g) => {
            if keys.is_empty() {
                bail!("[gate] needs [responder] keys: they sign the attestations");
            }
            let attester = crate::attest::Attester::new(g.address, chain_id, keys.clone(), g.attestation_blocks);
            Some(AttestService::start(
                &metrics.attest,
                client.clone(),
                chain_id,
                config.needs_traces(),
                guardian,
                attester,
            )?)
        }
        None => None,
    };
    let (deliveries_tx, mut deliveries) = tokio::sync::mpsc::unbounded_channel::<Delivery>();
    let dispatcher = Dispatcher {
        client: client.clone(),
        wallet: wallet.clone(),
        chain_id,
        notifiers,
        deliveries: deliveries_tx,
        metrics: metrics.clone(),
    };
    let mut in_flight = 0usize;
    let mut head = head;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut failures = 0u32;
    metrics.following();
    metrics.progress();

    loop {
        while let Ok(d) = deliveries.try_recv() {
            in_flight -= 1;
            record_delivery(&engine, d, follower.next_number().saturating_sub(1), &metrics, &mut summary)?;
        }
        if let Some(node) = oracle.as_mut() {
            while let Some(m) = node.try_recv() {
                if let Some(sub) = node.on_message(m) {
                    submit(&client, wallet.as_ref(), chain_id, guardian, node, sub, &mut summary).await;
                }
            }
        }
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
                // Between blocks: a new head, a peer's share (it may complete a quorum: taken at once), the
                // screener's next look at the pool, or a request for an attestation.
                let woke = tokio::select! {
                    h = wait_for_head(follower.fetcher(), heads.as_mut(), poll, head) => Woke::Head(h),
                    Some(m) = async { match oracle.as_mut() { Some(n) => n.recv().await, None => std::future::pending().await } } => Woke::Share(m),
                    () = async { match screener.as_mut() { Some(s) => s.tick().await, None => std::future::pending().await } } => Woke::Screen,
                    Some(a) = async { match attest.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => Woke::Attest(a),
                };
                match woke {
                    Woke::Head(h) => head = h,
                    Woke::Share(m) => {
                        if let Some(node) = oracle.as_mut() {
                            if let Some(sub) = node.on_message(m) {
                                submit(&client, wallet.as_ref(), chain_id, guardian, node, sub, &mut summary).await;
                            }
                        }
                    }
                    Woke::Screen => {
                        let Some(screener) = screener.as_mut() else { continue };
                        for (number, outcome) in screener.screen(&mut engine, &metrics).await? {
                            for action in outcome.actions {
                                let outgoing = outcome.outgoing.iter().find(|o| o.action == action).cloned();
                                let h = Held { due: number, action, outgoing, attempts: 0 };
                                if h.action.kind.is_notification() {
                                    // Told once the block it was to land in has its confirmations.
                                    held.push(Held { due: number + source.confirmations.notify, ..h });
                                    continue;
                                }
                                // A front-running pause cannot wait: it goes now, with its tip.
                                let acted = dispatcher.act(&engine, h, &mut summary).await?;
                                if let Acted::Retry(h) = acted {
                                    held.push(Held { due: number, ..*h });
                                }
                            }
                        }
                    }
                    Woke::Attest(a) => {
                        if let Some(service) = attest.as_mut() {
                            service.answer(&mut engine, a, &metrics).await?;
                        }
                    }
                }
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
                if let Some(node) = oracle.as_mut() {
                    node.on_block(&bundle, &mut engine);
                }
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
                metrics.block_processed(started.elapsed().as_secs_f64());
                metrics.progress();
                summary.blocks += 1;
                summary.cursor = Some(number);
                if let Some(b) = &bar {
                    b.inc(1);
                }
                tracing::debug!(event = "BlockProcessed", block = number, hash = %bundle.block_ref().hash, txs = bundle.receipts.len(), findings = outcome.findings.len());
                for f in &outcome.findings {
                    summary.findings += 1;
                    metrics.finding(f.severity);
                    tracing::info!(event = "Finding", block = number, detector = %f.detector, severity = ?f.severity, "{}", f.title);
                }
                if let Some(node) = &oracle {
                    outcome.races_lost.iter().for_each(|_| node.race_lost());
                }
                for action in outcome.actions {
                    let outgoing = outcome.outgoing.iter().find(|o| o.action == action).cloned();
                    let depth = if action.kind.is_notification() {
                        source.confirmations.notify
                    } else {
                        source.confirmations.pause
                    };
                    held.push(Held { due: number + depth, action, outgoing, attempts: 0 });
                }
                let (due, later): (Vec<Held>, Vec<Held>) = held.drain(..).partition(|h| h.due <= number);
                held = later;
                for h in due {
                    if let (Some(node), ActionKind::Pause { scope }, Some(out)) =
                        (oracle.as_mut(), h.action.kind, &h.outgoing)
                    {
                        if let Some(store) = engine.store() {
                            store.set_action_state(h.action.incident, &h.action.kind, "shared", number)?;
                        }
                        tracing::warn!(event = "PauseShared", block = number, %scope, "pause of {scope} decided; share sent to the oracle network");
                        if let Some(sub) = node.decided(h.action.incident, &out.data, number) {
                            submit(&client, wallet.as_ref(), chain_id, guardian, node, sub, &mut summary).await;
                        }
                        continue;
                    }
                    let acted = dispatcher.act(&engine, h, &mut summary).await?;
                    match acted {
                        Acted::Done => {}
                        Acted::Delivering => in_flight += 1,
                        Acted::Retry(h) => held.push(Held { due: number + 1, ..*h }),
                    }
                }
            }
        }
    }
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    // Deliveries under way finish (or run out of attempts) before the node stops.
    while in_flight > 0 {
        let Some(d) = deliveries.recv().await else { break };
        in_flight -= 1;
        record_delivery(&engine, d, follower.next_number().saturating_sub(1), &metrics, &mut summary)?;
    }
    Ok(summary)
}

/// Sends a report that reached its threshold as `pauseWithQuorum` (network mode). A refusal because the scope
/// is paused already, or its nonce moved (another node's submission landed), is the expected race, counted; the
/// node goes on either way: the pause is followed through the Guardian's events.
async fn submit(
    client: &vigil_chain::rpc::RpcClient,
    wallet: Option<&EthereumWallet>,
    chain_id: u64,
    guardian: alloy::primitives::Address,
    node: &OracleNode,
    sub: Submission,
    summary: &mut RunSummary,
) {
    let Some(wallet) = wallet else { return };
    let from = wallet.default_signer().address();
    match send_transaction(client, wallet, from, guardian, sub.data, chain_id, (None, None)).await {
        Ok(tx) => {
            summary.pauses_sent += 1;
            node.submitted();
            // From the arrival of the block at which this node signed the report to the transaction sent.
            let ms = sub.since_block.map(|d| d.as_secs_f64() * 1e3);
            tracing::warn!(event = "QuorumSubmitted", scope = %sub.scope, digest = %sub.digest, %tx, ms_since_block = ms, "pause of {} sent with its quorum", sub.scope);
        }
        Err(e) if ["AlreadyPaused", "WrongNonce"].iter().any(|r| format!("{e:#}").contains(r)) => {
            node.race_lost();
            tracing::info!(event = "PauseRaceLost", scope = %sub.scope, digest = %sub.digest, "another node's submission landed first: {e:#}");
        }
        Err(e) => tracing::error!(event = "QuorumSubmitFailed", scope = %sub.scope, digest = %sub.digest, "{e:#}"),
    }
}
