//! Response dispatch: an action whose confirmations are in is carried out (a pause transaction signed and sent, a
//! notification delivered to every webhook); a failure is logged and counted, never retried in the block loop.

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, Bytes, B256, U256, U64},
    rpc::types::TransactionRequest,
};
use anyhow::{bail, Context, Result};
use serde_json::json;
use vigil_chain::rpc::RpcClient;
use vigil_respond::{webhook::Notification, Action, ActionKind, WebhookNotifier};

use super::{NodeMetrics, RunSummary};
use crate::engine::{Engine, Outgoing};

/// A notification or pause waiting for its confirmations.
pub(super) struct Held {
    /// The action.
    pub(super) action: Action,
    /// Its transaction, for a pause this node signed.
    pub(super) outgoing: Option<Outgoing>,
    /// The block at which its confirmations are in.
    pub(super) due: u64,
}

/// Carries out an action whose confirmations are in: sends a pause, or delivers a notification. A failure is
/// logged and counted; the pause stays recorded as submitted and is settled after a restart.
#[allow(clippy::too_many_arguments)]
pub(super) async fn act(
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
        (kind @ (ActionKind::Notify | ActionKind::Escalate { .. }), _, _) => {
            let Some(incident) = engine.incidents().incident(held.action.incident) else { return };
            let findings: Vec<_> =
                incident.findings.iter().filter(|(_, retracted)| !retracted).map(|(f, _)| f.clone()).collect();
            let note = Notification {
                incident: incident.id,
                protocol: &incident.protocol,
                scope: incident.scope,
                severity: incident.severity,
                reason: if kind == ActionKind::Notify { "opened" } else { "escalated" },
                state: incident.state,
                findings: &findings,
                repeats: incident.suppressed + incident.earlier,
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
