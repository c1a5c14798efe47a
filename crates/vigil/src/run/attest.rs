//! The attestation service of `vigil run` (`[gate]`, docs/screening.md): `POST /attest` on the metrics server.
//!
//! A sender posts the transaction it is about to send, in `eth_call`'s shape (`{"from", "to", "data", "value",
//! "gas"}`). The node simulates it as the next block on its head's state with the SecurityGate in simulation
//! mode (`vigil_chain::simulate::Simulator::simulate_call` with the gate's simulation slot set), collects the
//! execution hashes of its risky calls, and judges the simulated block with its detectors (`crate::attest`).
//! Answers (JSON): `{"verdict": "attested", "attestation": {...}, "signatures": [...]}` (200), `{"verdict":
//! "refused", "findings": [...]}` (200), `{"verdict": "not_needed"}` (200: no call the gate screens), or
//! `{"error": "..."}` (400 for a malformed request, 503 when the node has no head yet or no `[gate]`, 500 when the
//! simulation failed). The handler hands the request to the node's loop, which owns the engine, and waits for
//! the answer; requests are judged one at a time, between blocks. Metrics: `vigil_attestations_total{result}`.

use std::sync::{Arc, Mutex};

use alloy::primitives::U256;
use alloy::sol_types::SolCall;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use vigil_chain::{rpc::RpcClient, simulate::CallRequest};
use vigil_contracts::Guardian;

use super::screen::HeadSimulator;
use crate::attest::{AttestError, Attester, Verdict};
use crate::engine::Engine;

/// A request and where its answer goes.
pub(crate) struct Ask {
    call: CallRequest,
    reply: oneshot::Sender<(u16, Value)>,
}

/// Where the metrics server leaves attestation requests for the node's loop. Closed (503) until the node
/// takes them with a `[gate]`.
#[derive(Clone)]
pub struct Desk {
    tx: mpsc::Sender<Ask>,
    rx: Arc<Mutex<Option<mpsc::Receiver<Ask>>>>,
}

impl Default for Desk {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(64);
        Self { tx, rx: Arc::new(Mutex::new(Some(rx))) }
    }
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").finish_non_exhaustive()
    }
}

impl Desk {
    /// Hands `body` (the request's JSON) to the node and waits for its answer: (HTTP status, JSON).
    pub(crate) async fn ask(&self, body: &[u8]) -> (u16, Value) {
        let call: CallRequest = match serde_json::from_slice(body) {
            Ok(c) => c,
            Err(e) => {
                return (
                    400,
                    json!({ "error": format!("the request is not a call {{from, to, data, value, gas}}: {e}") }),
                )
            }
        };
        if self.rx.lock().expect("desk lock").is_some() {
            return (503, json!({ "error": "this node has no [gate]: it does not attest" }));
        }
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Ask { call, reply }).await.is_err() {
            return (503, json!({ "error": "the node stopped" }));
        }
        match tokio::time::timeout(std::time::Duration::from_secs(10), answer).await {
            Ok(Ok(a)) => a,
            Ok(Err(_)) => (503, json!({ "error": "the node stopped before answering" })),
            Err(_) => (503, json!({ "error": "no answer within 10 s (the node is busy with blocks)" })),
        }
    }

    /// The requests, for the node with a `[gate]` (once).
    fn take(&self) -> Option<mpsc::Receiver<Ask>> {
        self.rx.lock().expect("desk lock").take()
    }
}

/// The node's side: judges each request on the engine's head.
pub(super) struct AttestService {
    requests: mpsc::Receiver<Ask>,
    client: RpcClient,
    guardian: alloy::primitives::Address,
    attester: Attester,
    simulators: HeadSimulator,
}

impl AttestService {
    /// The service for `attester`, reading through `client`, taking the requests left at `desk`.
    pub(super) fn start(
        desk: &Desk,
        client: RpcClient,
        chain_id: u64,
        traces: bool,
        guardian: alloy::primitives::Address,
        attester: Attester,
    ) -> Result<Self> {
        let requests = desk.take().context("the attestation desk was taken twice")?;
        let simulators = HeadSimulator::new(client.clone(), chain_id, traces);
        tracing::info!(event = "AttestationsServing", gate = %attester.gate(), "POST /attest on the metrics server");
        Ok(Self { requests, client, guardian, attester, simulators })
    }

    /// The next request.
    pub(super) async fn recv(&mut self) -> Option<Ask> {
        self.requests.recv().await
    }

    /// Answers `ask` on the engine's head. Only a store failure is an error (the node stops, as after a block).
    pub(super) async fn answer(&mut self, engine: &mut Engine, ask: Ask, metrics: &super::NodeMetrics) -> Result<()> {
        let (status, body, result) = match self.judge(engine, &ask.call).await {
            Ok(Some(Verdict::Attested { attestation, signatures })) => (
                200,
                json!({ "verdict": "attested", "attestation": attestation, "signatures": signatures }),
                "attested",
            ),
            Ok(Some(Verdict::Refused { findings })) => {
                (200, json!({ "verdict": "refused", "findings": findings }), "refused")
            }
            Ok(Some(Verdict::Stale)) => (503, json!({ "error": "the head moved; ask again" }), "stale"),
            Ok(None) => (200, json!({ "verdict": "not_needed" }), "not_needed"),
            Err(e) => match e.downcast::<AttestError>() {
                Ok(AttestError::Engine(e @ crate::engine::EngineError::Store(_))) => {
                    let _ = ask.reply.send((500, json!({ "error": "the node's store failed" })));
                    return Err(e.into());
                }
                Ok(e) => (500, json!({ "error": e.to_string() }), "failed"),
                Err(e) => (
                    if engine.last_block().is_none() { 503 } else { 500 },
                    json!({ "error": format!("{e:#}") }),
                    "failed",
                ),
            },
        };
        metrics.attestation(result);
        let _ = ask.reply.send((status, body));
        Ok(())
    }

    /// `None`: the call makes no risky call.
    async fn judge(&mut self, engine: &mut Engine, call: &CallRequest) -> Result<Option<Verdict>> {
        let head = engine.last_block().context("the node has processed no block yet")?;
        let simulator = self.simulators.on(head).await?;
        let probes = engine.probes().clone();
        let overrides = [vigil_core::attestation::simulation_override(self.attester.gate())];
        let c = call.clone();
        let bundle = tokio::task::spawn_blocking(move || simulator.simulate_call(&c, &overrides, &probes))
            .await
            .context("the simulation thread panicked")??;
        let logs = bundle.receipts.iter().flat_map(|r| r.logs.iter().map(|l| &l.inner));
        let hashes = vigil_core::attestation::unattested_checkpoints(logs, self.attester.gate());
        if hashes.is_empty() {
            return Ok(None);
        }
        let data = alloy::primitives::Bytes::from(Guardian::configVersionCall {}.abi_encode());
        let raw: alloy::primitives::Bytes = self
            .client
            .request("eth_call", json!([{ "to": self.guardian, "data": data }, { "blockHash": head.hash }]))
            .await
            .context("the Guardian's configVersion")?;
        let version: U256 =
            Guardian::configVersionCall::abi_decode_returns(&raw).context("the Guardian's configVersion")?;
        Ok(Some(self.attester.judge(engine, &bundle, call.from, hashes, version)?))
    }
}
