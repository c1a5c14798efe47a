//! The node's pending transactions: what waits for the next block in its public mempool.
//!
//! [`pending`] reads them with `txpool_content` (geth, reth, anvil and erigon answer it with full transactions;
//! only the `pending` part is kept: `queued` ones cannot execute until a gap in their sender's nonces is filled).
//! [`Pending`] remembers which it has handed out, so that each transaction is screened once while it waits, and
//! forgets those no longer pending.

use std::collections::HashSet;

use alloy::{primitives::B256, rpc::types::Transaction};
use serde_json::json;

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
