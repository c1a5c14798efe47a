//! Screening of the node's pending transactions between blocks (`[screening]`, docs/screening.md).
//!
//! While the node waits for the next head it reads the pending part of the node's `txpool_content` every
//! `mempool_poll_ms`, and at once when the WebSocket endpoint announces a pending transaction
//! (`newPendingTransactions`, when `[source] ws` is set). Each pending transaction not seen before that calls a contract is simulated as the next
//! block on the head's state (`vigil_chain::simulate`, revm over state read from the node by the head's hash, on
//! a blocking thread) and screened by the engine (`Engine::screen`). The caller sends a front-running pause at
//! once, with its tip: it cannot wait for confirmations. A transaction that cannot execute on the head (a nonce
//! gap, a fee below the base fee) is counted and left to the block it lands in; a failed state read or a
//! detector failing on the simulated block is logged and the transaction is not screened again (its block is
//! still processed, and retried, as any other). Only a store failure stops the node, as after a block.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result};
use serde_json::json;
use vigil_chain::{
    mempool::{self, Pending},
    rpc::RpcClient,
    simulate::{NodeState, SimulateError, Simulator},
};
use vigil_core::{BlockHeader, BlockRef};

use super::NodeMetrics;
use crate::engine::{Bid, BlockOutcome, Engine};

/// Simulators on the engine's head: one per head, kept while the head stays (with the state it read so far).
pub(super) struct HeadSimulator {
    client: RpcClient,
    chain_id: u64,
    traces: bool,
    current: Option<Arc<Simulator>>,
}

impl HeadSimulator {
    /// Simulators reading through `client`; `traces`: the detectors read call traces.
    pub(super) fn new(client: RpcClient, chain_id: u64, traces: bool) -> Self {
        Self { client, chain_id, traces, current: None }
    }

    /// The simulator on `head`: the last one while the head stays, else one with the head's header read.
    pub(super) async fn on(&mut self, head: BlockRef) -> Result<Arc<Simulator>> {
        if let Some(s) = &self.current {
            if s.head().block_ref() == head {
                return Ok(s.clone());
            }
        }
        let block: serde_json::Value =
            self.client.request("eth_getBlockByHash", json!([head.hash, false])).await.context("the head's header")?;
        let header: BlockHeader = serde_json::from_value(block).context("the head's header")?;
        let state = NodeState::new(self.client.clone(), tokio::runtime::Handle::current(), head);
        let simulator = Arc::new(Simulator::new(state, header, self.chain_id, self.traces));
        self.current = Some(simulator.clone());
        Ok(simulator)
    }
}

/// The pending transactions of one node, screened on its head.
pub(super) struct Screener {
    client: RpcClient,
    pending: Pending,
    interval: tokio::time::Interval,
    /// Announcements of pending transactions over WebSocket, when followed.
    announced: Option<tokio::sync::watch::Receiver<u64>>,
    simulators: HeadSimulator,
}

impl Screener {
    /// Screens through `client` every `poll`, and when `ws` (an endpoint) announces a pending transaction;
    /// `traces`: the detectors read call traces.
    pub(super) fn new(client: RpcClient, chain_id: u64, traces: bool, poll: Duration, ws: Option<String>) -> Self {
        let mut interval = tokio::time::interval(poll);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let announced = ws.map(mempool::spawn_ws_pending);
        let simulators = HeadSimulator::new(client.clone(), chain_id, traces);
        Self { client, pending: Pending::default(), interval, announced, simulators }
    }

    /// Waits for the next poll, or for an announcement of a pending transaction.
    pub(super) async fn tick(&mut self) {
        match &mut self.announced {
            Some(rx) => tokio::select! {
                _ = self.interval.tick() => {}
                changed = rx.changed() => {
                    if changed.is_err() {
                        self.announced = None;
                    }
                }
            },
            None => {
                self.interval.tick().await;
            }
        }
    }

    /// Reads the pool and screens every fresh pending transaction on the engine's head: the outcomes that
    /// decided something (a pause, its refusal), each with the simulated block's number.
    pub(super) async fn screen(
        &mut self,
        engine: &mut Engine,
        metrics: &NodeMetrics,
    ) -> Result<Vec<(u64, BlockOutcome)>> {
        let Some(head) = engine.last_block() else { return Ok(Vec::new()) };
        let pool = match mempool::pending(&self.client).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(event = "MempoolReadFailed", "{e}");
                return Ok(Vec::new());
            }
        };
        let fresh: Vec<_> =
            self.pending.fresh(pool).into_iter().filter(|t| alloy::consensus::Transaction::to(t).is_some()).collect();
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let simulator = self.simulators.on(head).await?;
        let probes = engine.probes().clone();
        // revm reads the node synchronously: the simulations run on a blocking thread.
        let sim = simulator.clone();
        let simulated = tokio::task::spawn_blocking(move || {
            fresh
                .into_iter()
                .map(|tx| {
                    let started = std::time::Instant::now();
                    let max_fee = alloy::consensus::Transaction::max_fee_per_gas(&tx);
                    let tip = alloy::consensus::Transaction::max_priority_fee_per_gas(&tx).unwrap_or(max_fee);
                    let bid = Bid { tip, max_fee };
                    (*tx.inner.tx_hash(), bid, sim.simulate(&tx, &probes), started)
                })
                .collect::<Vec<_>>()
        })
        .await
        .context("the simulation thread panicked")?;
        let mut decided = Vec::new();
        for (hash, bid, bundle, started) in simulated {
            let bundle = match bundle {
                Ok(b) => b,
                Err(e @ SimulateError::Invalid { .. }) => {
                    metrics.screened("not_executable", None);
                    tracing::debug!(event = "PendingNotExecutable", tx = %hash, "{e}");
                    continue;
                }
                Err(e) => {
                    metrics.screened("failed", None);
                    tracing::warn!(event = "ScreeningFailed", tx = %hash, "{e}");
                    continue;
                }
            };
            let number = bundle.block_ref().number;
            let outcome = match engine.screen(&bundle, bid) {
                Ok(o) => o,
                // The store must be resumed from before going on, as after a block.
                Err(e @ crate::engine::EngineError::Store(_)) => return Err(e.into()),
                // A detector that fails on a simulated block leaves that transaction to its block, which is
                // processed (and retried) as any other.
                Err(e) => {
                    metrics.screened("failed", None);
                    tracing::warn!(event = "ScreeningFailed", tx = %hash, block = number, "{e}");
                    continue;
                }
            };
            let seconds = started.elapsed().as_secs_f64();
            if outcome.actions.is_empty() {
                metrics.screened("clean", Some(seconds));
                continue;
            }
            metrics.screened("front_run", Some(seconds));
            tracing::warn!(event = "FrontRunDecided", tx = %hash, block = number, pauses = outcome.outgoing.len(), ms = seconds * 1e3, "pending transaction {hash} would trigger a pause: front-running it");
            decided.push((number, outcome));
        }
        Ok(decided)
    }
}
