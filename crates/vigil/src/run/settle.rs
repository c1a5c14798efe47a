//! Settling after a restart: pauses decided before the restart but not seen landing are checked on the Guardian
//! and either recorded as landed or sent again with the same signed report.

use alloy::{network::EthereumWallet, primitives::Bytes, sol_types::SolCall};
use anyhow::{Context, Result};
use serde_json::json;
use vigil_chain::rpc::RpcClient;
use vigil_contracts::Guardian;

use super::{dispatch::send_transaction, network::OracleNode, NodeMetrics, RunSummary};
use crate::engine::Engine;

/// After a restart: each pause decided but not seen landing is either in force on the Guardian (recorded as
/// landed) or sent again with the same signed report; in network mode its share is offered to the peers again
/// (and sent, should that complete its quorum).
#[allow(clippy::too_many_arguments)]
pub(super) async fn settle_pauses(
    client: &RpcClient,
    engine: &mut Engine,
    wallet: Option<&EthereumWallet>,
    chain_id: u64,
    head: u64,
    metrics: &NodeMetrics,
    summary: &mut RunSummary,
    mut oracle: Option<&mut OracleNode>,
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
        } else if let Some(node) = oracle.as_deref_mut() {
            tracing::warn!(event = "PauseReshared", scope = %p.scope, "the share of a pause decided before the restart is offered again");
            if let Some(sub) = node.decided(p.action.incident, &p.calldata, head) {
                super::submit(client, wallet, chain_id, guardian, node, sub, summary).await;
            }
        } else if let Some(wallet) = wallet {
            let from = wallet.default_signer().address();
            match send_transaction(client, wallet, from, guardian, p.calldata.clone(), chain_id, (None, None)).await {
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
