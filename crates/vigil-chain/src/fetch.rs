//! Fetching one block's bundle over JSON-RPC in two round trips.
//!
//! 1. `eth_getBlockByNumber(n, true)`: the block with full transactions. An endpoint that answers `null` does
//!    not have the block yet (it lags the others) and the request moves to another endpoint.
//! 2. One batch pinned to the block's hash: `eth_getBlockReceipts(hash)`, `debug_traceBlockByHash(hash,
//!    callTracer)` when traces are wanted, and every probe as `eth_call(…, {"blockHash": hash})` (EIP-1898), so
//!    that receipts, traces and state reads all describe this block even if the chain reorganises meanwhile.
//!
//! Fallbacks, learnt once per client and kept: a node without `eth_getBlockReceipts` is asked for each
//! transaction's receipt (`eth_getTransactionReceipt`, in one batch); a node without `debug_traceBlockByHash` is
//! asked for parity `trace_block` and the traces are converted to callTracer frames ([`crate::parity`]).
//! Answers are decoded and checked against the block by [`crate::decode`], the path recorded answers take too
//! (receipt count, block and transaction hash per receipt, one trace per transaction); an inconsistent answer is
//! an error to retry, never a bundle with holes.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, Ordering},
};

use alloy::{
    primitives::{Bytes, B256},
    rpc::types::trace::geth::TraceResult,
};
use serde_json::{json, value::RawValue};
use vigil_core::{Bundle, Probe};

use crate::decode::{self, DecodeError};
use crate::rpc::{decode as decode_answer, Answer, Call, RpcClient, RpcError};

/// Errors while fetching a block.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed on every endpoint.
    #[error("block #{number}: {source}")]
    Rpc {
        /// The block.
        number: u64,
        /// The error.
        #[source]
        source: RpcError,
    },
    /// The answers do not fit together (for example, the block was replaced while it was being fetched).
    #[error("block #{number} ({hash}): {reason}")]
    Inconsistent {
        /// The block.
        number: u64,
        /// Its hash.
        hash: B256,
        /// What does not fit.
        reason: String,
    },
    /// Traces are needed but the endpoints offer neither `debug_traceBlockByHash` nor `trace_block`.
    #[error("block #{number}: detectors need call traces but the endpoint offers neither debug_traceBlockByHash nor trace_block: {reason}")]
    NoTraces {
        /// The block.
        number: u64,
        /// The node's answer.
        reason: String,
    },
}

impl FetchError {
    /// Whether retrying later may succeed (everything except a missing capability).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, FetchError::NoTraces { .. })
    }
}

/// Fetches bundles; remembers which methods the endpoints lack.
pub struct Fetcher {
    client: RpcClient,
    block_receipts: AtomicBool,
    debug_trace: AtomicBool,
}

impl Fetcher {
    /// A fetcher over `client`.
    pub fn new(client: RpcClient) -> Self {
        Self { client, block_receipts: AtomicBool::new(true), debug_trace: AtomicBool::new(true) }
    }

    /// The client.
    pub fn client(&self) -> &RpcClient {
        &self.client
    }

    /// The highest block number among the endpoints that answer (a lagging endpoint does not hold the head back).
    pub async fn head(&self) -> Result<u64, RpcError> {
        let answers = self.client.request_each::<alloy::primitives::U64>("eth_blockNumber", json!([])).await;
        let best = answers.iter().filter_map(|(_, r, _)| r.as_ref().ok()).map(|n| n.to::<u64>()).max();
        match best {
            Some(n) => Ok(n),
            None => self.client.request::<alloy::primitives::U64>("eth_blockNumber", json!([])).await.map(|n| n.to()),
        }
    }

    /// The hash of block `number` on the canonical chain as the most advanced endpoint sees it, `None` if that
    /// endpoint has no such block (the chain was rolled back below it). Every endpoint is asked for its head and
    /// the block in one batch, so an endpoint that lags behind cannot make a block look orphaned.
    pub async fn hash_of(&self, number: u64) -> Result<Option<B256>, RpcError> {
        #[derive(serde::Deserialize)]
        struct Header {
            hash: B256,
        }
        let calls = [
            Call::new("eth_blockNumber", json!([])),
            Call::new("eth_getBlockByNumber", json!([format!("{number:#x}"), false])),
        ];
        let mut best: Option<(u64, Option<B256>)> = None;
        let mut last_error = None;
        for (_, answers, _) in self.client.batch_each(&calls).await {
            let decoded = answers.and_then(|mut a| {
                let header: Option<Header> = decode_answer("eth_getBlockByNumber", a.remove(1))?;
                let head: alloy::primitives::U64 = decode_answer("eth_blockNumber", a.remove(0))?;
                Ok((head.to::<u64>(), header.map(|h| h.hash)))
            });
            match decoded {
                Ok((head, hash)) if best.is_none_or(|(h, _)| head > h) => best = Some((head, hash)),
                Ok(_) => {}
                Err(e) => last_error = Some(e),
            }
        }
        match (best, last_error) {
            (Some((_, hash)), _) => Ok(hash),
            (None, Some(e)) => Err(e),
            (None, None) => Err(RpcError::Config("no endpoint".into())),
        }
    }

    /// Fetches block `number` with its receipts, traces (if `traces`) and `probes` read at it.
    pub async fn bundle(&self, number: u64, probes: &[Probe], traces: bool) -> Result<Bundle, FetchError> {
        let rpc = |source| FetchError::Rpc { number, source };
        let tag = format!("{number:#x}");
        let answers = self
            .client
            .batch(&[Call::new("eth_getBlockByNumber", json!([tag, true]))], |a| match &a[0] {
                Ok(raw) if raw.get() == "null" => Err(format!("does not have block #{number} yet")),
                _ => Ok(()),
            })
            .await
            .map_err(rpc)?;
        let mut round_trips = 1;
        let raw = raw_answer("eth_getBlockByNumber", number, answers.into_iter().next().expect("one answer"))?;
        let block = decode::block("eth_getBlockByNumber", raw.get(), Some(number)).map_err(|e| decoded(number, e))?;
        let hash = block.header.hash;
        let tx_hashes: Vec<B256> = block.transactions.iter().map(|t| t.hash).collect();

        let by_block = self.block_receipts.load(Ordering::Relaxed);
        let debug = self.debug_trace.load(Ordering::Relaxed);
        let mut calls = Vec::with_capacity(2 + probes.len() + tx_hashes.len());
        if by_block {
            calls.push(Call::new("eth_getBlockReceipts", json!([hash])));
        } else {
            calls.extend(tx_hashes.iter().map(|h| Call::new("eth_getTransactionReceipt", json!([h]))));
        }
        let receipts_end = calls.len();
        if traces {
            calls.push(if debug {
                Call::new("debug_traceBlockByHash", json!([hash, {"tracer": "callTracer"}]))
            } else {
                Call::new("trace_block", json!([tag]))
            });
        }
        let probes_start = calls.len();
        calls.extend(probes.iter().map(|p| {
            Call::new("eth_call", json!([{"to": p.to, "data": p.data}, {"blockHash": hash, "requireCanonical": false}]))
        }));
        let answers = self
            .client
            .batch(&calls, |a| {
                if a[..receipts_end].iter().any(|r| matches!(r, Ok(raw) if raw.get() == "null")) {
                    return Err(format!("does not have the receipts of block #{number} ({hash}) yet"));
                }
                for r in &a[probes_start..] {
                    if let Err(e) = r {
                        if probe_revert(e).is_none() {
                            return Err(format!("cannot read state at block #{number}: {e}"));
                        }
                    }
                }
                Ok(())
            })
            .await
            .map_err(rpc)?;
        round_trips += 1;
        let mut answers = answers.into_iter();
        let receipt_answers: Vec<Answer> = answers.by_ref().take(receipts_end).collect();
        let trace_answer = if traces { answers.next() } else { None };
        let probe_answers: Vec<Answer> = answers.collect();

        let receipts = match self.receipts(number, by_block, receipt_answers, &tx_hashes).await? {
            Some(r) => r,
            None => {
                round_trips += 1;
                self.receipts(number, false, Vec::new(), &tx_hashes).await?.expect("per-transaction receipts")
            }
        };
        let traces = match trace_answer {
            None => None,
            Some(answer) => {
                let (t, extra) = self.traces(number, debug, answer).await?;
                round_trips += extra;
                Some(t)
            }
        };

        let mut values = BTreeMap::new();
        for (p, answer) in probes.iter().zip(probe_answers) {
            let value = match answer {
                Ok(raw) => Ok(decode::probe_value(raw.get(), Some(number)).map_err(|e| decoded(number, e))?),
                Err(e) => Err(probe_revert(&e).expect("checked in the batch")),
            };
            values.insert(p.clone(), value);
        }
        let bundle = decode::assemble(block, receipts, traces, values).map_err(|e| decoded(number, e))?;
        self.client.metrics().round_trips.inc_by(round_trips);
        self.client.metrics().blocks_fetched.inc();
        Ok(bundle)
    }

    /// Decodes receipts; `None` when the node lacks `eth_getBlockReceipts` (now remembered), so the caller asks
    /// per transaction.
    async fn receipts(
        &self,
        number: u64,
        by_block: bool,
        answers: Vec<Answer>,
        tx_hashes: &[B256],
    ) -> Result<Option<vigil_core::ReceiptsPart>, FetchError> {
        let rpc = |source| FetchError::Rpc { number, source };
        if by_block {
            let answer = answers.into_iter().next().expect("one answer");
            if let Err(e) = &answer {
                if e.is_unsupported() {
                    tracing::info!(block = number, "eth_getBlockReceipts is not offered ({e}); asking per transaction");
                    self.block_receipts.store(false, Ordering::Relaxed);
                    return Ok(None);
                }
            }
            let raw = raw_answer("eth_getBlockReceipts", number, answer)?;
            return decode::receipts("eth_getBlockReceipts", raw.get(), Some(number))
                .map(Some)
                .map_err(|e| decoded(number, e));
        }
        let answers = if answers.is_empty() && !tx_hashes.is_empty() {
            let calls: Vec<Call> =
                tx_hashes.iter().map(|h| Call::new("eth_getTransactionReceipt", json!([h]))).collect();
            self.client
                .batch(&calls, |a| match a.iter().any(|r| matches!(r, Ok(raw) if raw.get() == "null")) {
                    true => Err(format!("does not have every receipt of block #{number} yet")),
                    false => Ok(()),
                })
                .await
                .map_err(rpc)?
        } else {
            answers
        };
        let raws = answers
            .into_iter()
            .map(|a| raw_answer("eth_getTransactionReceipt", number, a))
            .collect::<Result<Vec<_>, _>>()?;
        let texts: Vec<&str> = raws.iter().map(|r| r.get()).collect();
        decode::receipts_each(&texts, Some(number)).map(Some).map_err(|e| decoded(number, e))
    }

    /// Decodes traces, switching to parity `trace_block` once if the node lacks `debug_traceBlockByHash`.
    async fn traces(&self, number: u64, debug: bool, answer: Answer) -> Result<(Vec<TraceResult>, u64), FetchError> {
        let rpc = |source| FetchError::Rpc { number, source };
        let (answer, extra, debug) = match (&answer, debug) {
            (Err(e), true) if e.is_unsupported() => {
                tracing::info!(block = number, "debug_traceBlockByHash is not offered ({e}); using trace_block");
                self.debug_trace.store(false, Ordering::Relaxed);
                let again = self
                    .client
                    .batch(&[Call::new("trace_block", json!([format!("{number:#x}")]))], |_| Ok(()))
                    .await
                    .map_err(rpc)?;
                (again.into_iter().next().expect("one answer"), 1, false)
            }
            _ => (answer, 0, debug),
        };
        if debug {
            let raw = raw_answer("debug_traceBlockByHash", number, answer)?;
            let traces = decode::call_traces("debug_traceBlockByHash", raw.get(), Some(number))
                .map_err(|e| decoded(number, e))?;
            return Ok((traces, extra));
        }
        if let Err(e) = &answer {
            if e.is_unsupported() {
                return Err(FetchError::NoTraces { number, reason: e.to_string() });
            }
        }
        let raw = raw_answer("trace_block", number, answer)?;
        let frames = decode::parity_traces("trace_block", raw.get(), Some(number)).map_err(|e| decoded(number, e))?;
        Ok((frames, extra))
    }
}

/// The answer's raw result, or its JSON-RPC error as [`RpcError::Call`].
fn raw_answer(method: &'static str, number: u64, answer: Answer) -> Result<Box<RawValue>, FetchError> {
    answer.map_err(|error| FetchError::Rpc {
        number,
        source: RpcError::Call { method: method.into(), error: Box::new(error) },
    })
}

/// A decoding error as the fetcher reports it: a malformed answer is the endpoint's fault (as [`RpcError::Decode`]),
/// an inconsistency is [`FetchError::Inconsistent`]; both are retried.
fn decoded(number: u64, e: DecodeError) -> FetchError {
    match e {
        DecodeError::Malformed { method, reason, .. } => {
            FetchError::Rpc { number, source: RpcError::Decode { method: method.into(), reason } }
        }
        DecodeError::Inconsistent { number, hash, reason } => FetchError::Inconsistent { number, hash, reason },
    }
}

/// The revert data of a failed `eth_call`, or `None` when the error is not a revert (the node could not run it).
pub fn probe_revert(e: &crate::rpc::JsonRpcError) -> Option<Bytes> {
    let reverted = e.code == 3 || e.message.contains("revert");
    if !reverted {
        return None;
    }
    let data = e.data.as_ref().and_then(|d| d.as_str()).and_then(|s| s.parse::<Bytes>().ok()).unwrap_or_default();
    Some(data)
}
