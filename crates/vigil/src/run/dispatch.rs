//! Response dispatch: an action whose confirmations are in is carried out. A pause transaction is signed and sent
//! at once, in the block loop (nothing may come before it); a notification is handed to a task of its own that
//! delivers it to every webhook, retrying with backoff, and reports back on a channel, so that a slow or dead
//! endpoint never delays the next block or a pause. The loop records each outcome in the store's outbox (the
//! actions table): `sent` for a pause out, `delivered` or `failed` with the attempts for a notification. After a
//! restart the notifications still `planned` are held again; one delivered but not yet recorded when the node
//! died is sent again with the same `X-Vigil-Delivery` id, for the receiver to drop.

use std::{sync::Arc, time::Duration};

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{keccak256, Address, Bytes, B256, U256, U64},
    rpc::types::TransactionRequest,
};
use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use vigil_chain::rpc::RpcClient;
use vigil_respond::{webhook::Notification, Action, ActionKind, WebhookNotifier};

use super::{NodeMetrics, RunSummary};
use crate::engine::{Engine, Outgoing};

/// Attempts at delivering one notification to one endpoint.
pub(super) const DELIVERY_ATTEMPTS: u32 = 5;
/// Attempts at sending one pause transaction, one per block (the report's lifetime bounds them too).
pub(super) const PAUSE_ATTEMPTS: u32 = 5;

/// What carrying out an action led to.
pub(super) enum Acted {
    /// Done, or nothing to do.
    Done,
    /// A delivery task was started; it reports on the channel.
    Delivering,
    /// The pause transaction could not be sent: try again at the next block.
    Retry(Box<Held>),
}

/// A notification or pause waiting for its confirmations.
pub(super) struct Held {
    /// The action.
    pub(super) action: Action,
    /// Its transaction, for a pause this node signed.
    pub(super) outgoing: Option<Outgoing>,
    /// The block at which its confirmations are in (for a retry: the next block).
    pub(super) due: u64,
    /// Sends already tried (pauses).
    pub(super) attempts: u32,
}

/// What a delivery task reports.
pub(super) struct Delivery {
    /// The notification's action.
    pub(super) action: Action,
    /// Attempts made, over all endpoints.
    pub(super) attempts: u32,
    /// The endpoints that never took it, with their last error; empty when every one did.
    pub(super) failed: Vec<String>,
}

/// The delivery id of a notification action: the same for every attempt and across restarts.
pub(super) fn delivery_id(action: &Action) -> B256 {
    keccak256([action.incident.as_slice(), serde_json::to_string(&action.kind).unwrap_or_default().as_bytes()].concat())
}

/// What carrying out an action needs: the node's client, its wallet for pauses, the notifiers, where
/// deliveries report back, and the metrics.
pub(super) struct Dispatcher {
    pub(super) client: RpcClient,
    pub(super) wallet: Option<EthereumWallet>,
    pub(super) chain_id: u64,
    pub(super) notifiers: Arc<Vec<WebhookNotifier>>,
    pub(super) deliveries: UnboundedSender<Delivery>,
    pub(super) metrics: NodeMetrics,
}

impl Dispatcher {
    /// Carries out an action whose confirmations are in: sends a pause (a send that fails is retried at the next
    /// blocks, up to [`PAUSE_ATTEMPTS`] sends, while the pause has not been seen landing), or starts the delivery
    /// of a notification (see the module documentation).
    pub(super) async fn act(&self, engine: &Engine, held: Held, summary: &mut RunSummary) -> Result<Acted> {
        act(engine, held, self, summary).await
    }
}

async fn act(engine: &Engine, held: Held, dispatcher: &Dispatcher, summary: &mut RunSummary) -> Result<Acted> {
    let Dispatcher { client, wallet, chain_id, notifiers, deliveries, metrics } = dispatcher;
    let (wallet, chain_id) = (wallet.as_ref(), *chain_id);
    let block = held.action.block.number;
    match (held.action.kind, &held.outgoing, wallet) {
        (ActionKind::Pause { scope }, Some(out), Some(wallet)) => {
            let fees = (Some(out.priority_fee), out.min_max_fee);
            match send_transaction(client, wallet, out.from, out.to, out.data.clone(), chain_id, fees).await {
                Ok(hash) => {
                    summary.pauses_sent += 1;
                    metrics.action("pause_sent");
                    if let Some(store) = engine.store() {
                        store.set_action_state(held.action.incident, &held.action.kind, "sent", block)?;
                    }
                    tracing::warn!(event = "PauseSent", block, %scope, tx = %hash, "pause of {scope} sent");
                }
                Err(e) => {
                    metrics.action("pause_failed");
                    if let Some(store) = engine.store() {
                        store.record_attempt(held.action.incident, &held.action.kind, Some(&format!("{e:#}")))?;
                    }
                    let attempts = held.attempts + 1;
                    let pending = engine.unconfirmed_pauses().iter().any(|p| p.action == held.action);
                    if attempts < PAUSE_ATTEMPTS && pending {
                        tracing::error!(event = "PauseSendFailed", block, %scope, attempts, "{e:#}; trying again at the next block");
                        return Ok(Acted::Retry(Box::new(Held { attempts, ..held })));
                    }
                    tracing::error!(event = "PauseAbandoned", block, %scope, attempts, "{e:#}");
                }
            }
            Ok(Acted::Done)
        }
        (ActionKind::Pause { scope }, _, _) => {
            tracing::warn!(event = "PauseDue", block, %scope, "a pause of {scope} is due but this node holds no keys");
            Ok(Acted::Done)
        }
        (kind, _, _) => {
            let Some(incident) = engine.incidents().incident(held.action.incident) else { return Ok(Acted::Done) };
            let findings: Vec<_> =
                incident.findings.iter().filter(|(_, retracted)| !retracted).map(|(f, _)| f.clone()).collect();
            let delivery = delivery_id(&held.action);
            let note = Notification {
                delivery,
                incident: incident.id,
                protocol: &incident.protocol,
                scope: incident.scope,
                severity: incident.severity,
                reason: match kind {
                    ActionKind::Notify => "opened",
                    ActionKind::PauseRefused { .. } => "pause-refused",
                    _ => "escalated",
                },
                refusal: match kind {
                    ActionKind::PauseRefused { refusal, .. } => Some(refusal),
                    _ => None,
                },
                state: incident.state,
                findings: &findings,
                repeats: incident.suppressed + incident.earlier,
            };
            tracing::warn!(event = "NotificationDue", block, incident = %incident.id, severity = ?incident.severity, "{} on {}", incident.protocol, incident.scope);
            let body = serde_json::to_vec(&note).expect("notifications serialize");
            let (notifiers, deliveries, action) = (Arc::clone(notifiers), deliveries.clone(), held.action);
            tokio::spawn(async move {
                let report = deliver(&notifiers, delivery, &body).await;
                deliveries.send(Delivery { action, attempts: report.0, failed: report.1 }).ok();
            });
            Ok(Acted::Delivering)
        }
    }
}

/// Delivers `body` to every endpoint, each retried with backoff (1, 2, 4, 8 s) up to [`DELIVERY_ATTEMPTS`] times;
/// returns the attempts made and the endpoints that never took it.
async fn deliver(notifiers: &[WebhookNotifier], delivery: B256, body: &[u8]) -> (u32, Vec<String>) {
    let mut attempts = 0;
    let mut failed = Vec::new();
    for n in notifiers {
        let mut last = None;
        for attempt in 0..DELIVERY_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
            }
            attempts += 1;
            match n.send_body(delivery, body).await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => {
                    tracing::warn!(event = "NotificationAttemptFailed", attempt = attempt + 1, "{e}");
                    last = Some(e.to_string());
                }
            }
        }
        failed.extend(last);
    }
    (attempts, failed)
}

/// Records a delivery's outcome in the outbox, the metrics and the summary.
pub(super) fn record_delivery(
    engine: &Engine,
    d: Delivery,
    block: u64,
    metrics: &NodeMetrics,
    summary: &mut RunSummary,
) -> Result<()> {
    let (incident, kind) = (d.action.incident, d.action.kind);
    if d.failed.is_empty() {
        summary.notifications += 1;
        metrics.action("notification_delivered");
        tracing::info!(event = "NotificationDelivered", incident = %incident, attempts = d.attempts, "notification delivered");
    } else {
        metrics.action("notification_failed");
        tracing::error!(event = "NotificationFailed", incident = %incident, attempts = d.attempts, "{}", d.failed.join("; "));
    }
    if let Some(store) = engine.store() {
        let error = (!d.failed.is_empty()).then(|| d.failed.join("; "));
        store.record_attempt(incident, &kind, error.as_deref())?;
        store.set_action_state(incident, &kind, if error.is_none() { "delivered" } else { "failed" }, block)?;
    }
    Ok(())
}

/// Signs and sends a transaction through the client (failover applies; a resend of the same bytes is harmless).
/// It tips `fees.0` (wei) when given, else half of twice the node's gas price; its fee cap is twice the gas price
/// plus the tip, and at least `fees.1` when given.
pub async fn send_transaction(
    client: &RpcClient,
    wallet: &EthereumWallet,
    from: Address,
    to: Address,
    data: Bytes,
    chain_id: u64,
    fees: (Option<u128>, Option<u128>),
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
    let tip = fees.0.unwrap_or(fee / 2).max(1);
    let cap = fee.saturating_add(tip).max(fees.1.unwrap_or_default()).max(1);
    let tx = TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_input(data)
        .with_nonce(nonce.to())
        .with_chain_id(chain_id)
        .with_gas_limit(gas.to::<u64>() * 12 / 10 + 10_000)
        .with_max_fee_per_gas(cap)
        .with_max_priority_fee_per_gas(tip);
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
