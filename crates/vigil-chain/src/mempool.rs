//! The node's pending transactions: what waits for the next block in its public mempool.
//!
//! [`pending`] reads them with `txpool_content` (geth, reth, anvil and erigon answer it with full transactions;
//! only the `pending` part is kept: `queued` ones cannot execute until a gap in their sender's nonces is filled).
//! [`Pending`] remembers which it has handed out, so that each transaction is screened once while it waits, and
//! forgets those no longer pending. With a WebSocket endpoint, [`spawn_ws_pending`] follows
//! `eth_subscribe("newPendingTransactions")` and only says *when* to read the pool again: the pool is read the
//! same way either way, so a dropped subscription costs latency (the consumer's own polling goes on), never a
//! transaction.

use std::collections::HashSet;

use alloy::{
    primitives::B256,
    providers::{Provider, ProviderBuilder, WsConnect},
    rpc::types::Transaction,
};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::watch;

use crate::rpc::{RpcClient, RpcError};

/// The pending part of the node's `txpool_content`, every sender's transactions in nonce order.
pub async fn pending(client: &RpcClient) -> Result<Vec<Transaction>, RpcError> {
    let content: serde_json::Value = client.request("txpool_content", json!([])).await?;
    parse_pending(&content).map_err(|reason| RpcError::Decode { method: "txpool_content".into(), reason })
}

/// The pending transactions of a `txpool_content` answer: `{"pending": {sender: {nonce: tx}}, "queued": …}`.
pub fn parse_pending(content: &serde_json::Value) -> Result<Vec<Transaction>, String> {
    let Some(senders) = content.get("pending").and_then(|p| p.as_object()) else {
        return Err("no `pending` object".into());
    };
    let mut out = Vec::new();
    for (sender, by_nonce) in senders {
        let by_nonce = by_nonce.as_object().ok_or_else(|| format!("pending.{sender} is not an object"))?;
        let mut txs = Vec::with_capacity(by_nonce.len());
        for (nonce, tx) in by_nonce {
            let tx: Transaction =
                serde_json::from_value(tx.clone()).map_err(|e| format!("pending.{sender}.{nonce}: {e}"))?;
            txs.push(tx);
        }
        txs.sort_by_key(alloy::consensus::Transaction::nonce);
        out.extend(txs);
    }
    Ok(out)
}

/// Spawns the follower of `eth_subscribe("newPendingTransactions")` on `url`: the receiver's value counts the
/// announcements (it changes when a transaction entered the pool). It runs until the receiver is dropped and
/// reconnects with backoff.
pub fn spawn_ws_pending(url: String) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        let events = ("WsPendingEnded", "WsPendingFailed");
        crate::head::keep_subscribed(&url, &tx, events, || follow_pending(&url, &tx), || ()).await
    });
    rx
}

async fn follow_pending(url: &str, tx: &watch::Sender<u64>) -> Result<(), String> {
    let provider = ProviderBuilder::new().connect_ws(WsConnect::new(url)).await.map_err(|e| e.to_string())?;
    let sub = provider.subscribe_pending_transactions().await.map_err(|e| e.to_string())?;
    tracing::info!(event = "WsPendingSubscribed", url = %crate::rpc::redact(url), "following pending transactions over WebSocket");
    let mut stream = sub.into_stream();
    while stream.next().await.is_some() {
        tx.send_modify(|n| *n += 1);
        if tx.is_closed() {
            return Ok(());
        }
    }
    Ok(())
}

/// The pending transactions handed out so far.
#[derive(Debug, Default)]
pub struct Pending {
    seen: HashSet<B256>,
}

impl Pending {
    /// Of `now` (the pool as read), those not handed out before; forgets the ones no longer in the pool.
    pub fn fresh(&mut self, now: Vec<Transaction>) -> Vec<Transaction> {
        let hashes: HashSet<B256> = now.iter().map(|t| *t.inner.tx_hash()).collect();
        self.seen.retain(|h| hashes.contains(h));
        now.into_iter().filter(|t| self.seen.insert(*t.inner.tx_hash())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_without_pending_transactions_says_what_is_wrong() {
        assert_eq!(parse_pending(&json!({"pending": {}, "queued": {}})).unwrap().len(), 0);
        assert_eq!(parse_pending(&json!({"queued": {}})).unwrap_err(), "no `pending` object");
        let sender = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
        let err = parse_pending(&json!({"pending": {sender: {"0": {"hash": "0x12"}}}})).unwrap_err();
        assert!(err.starts_with(&format!("pending.{sender}.0: ")), "{err}");
        let err = parse_pending(&json!({"pending": {sender: 7}})).unwrap_err();
        assert_eq!(err, format!("pending.{sender} is not an object"));
    }
}
