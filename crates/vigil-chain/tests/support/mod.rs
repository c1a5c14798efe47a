//! Fixtures of vigil-chain's integration tests: an anvil chain with a known history ([`TestChain`]), the
//! fault-injecting proxy ([`fault_proxy`]), a client over proxies, and a log capture ([`Logs`]).
//!
//! [`TestChain::start`] runs anvil on 127.0.0.1 without automining, then builds [`PLAN`]: every block's
//! transactions are sent first (ETH transfers between the funded dev accounts, and calls to a tiny contract
//! that emits one log per call) and mined together with `anvil_mine`, so blocks hold zero, one or several
//! transactions. What anvil reports directly about each block is kept to check what Vigil fetches through
//! the proxies.

// Each test crate compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod fault_proxy;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    network::TransactionBuilder,
    node_bindings::AnvilInstance,
    primitives::{Address, Bytes, B256, U256},
    providers::{ext::AnvilApi, DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
};
use vigil_chain::{rpc::Fault, RetryPolicy, RpcClient, SourceMetrics};
use vigil_core::Bundle;

/// Chain id of the test chain.
pub const CHAIN_ID: u64 = 31337;

/// What each block holds: `(transfers, log-emitting calls)`; block 1 also deploys the emitter.
pub const PLAN: [(usize, usize); 8] = [(2, 0), (0, 0), (1, 1), (3, 2), (1, 0), (0, 0), (2, 3), (0, 1)];

/// Runtime code of the emitter: `LOG0(0, 0); STOP` on any call.
const EMITTER_RUNTIME: [u8; 6] = [0x60, 0x00, 0x60, 0x00, 0xa0, 0x00];

/// Init code returning [`EMITTER_RUNTIME`]: `PUSH6 runtime; PUSH1 0; MSTORE; PUSH1 6; PUSH1 26; RETURN`.
pub fn emitter_initcode() -> Bytes {
    let mut code = vec![0x65];
    code.extend_from_slice(&EMITTER_RUNTIME);
    code.extend_from_slice(&[0x60, 0x00, 0x52, 0x60, 0x06, 0x60, 0x1a, 0xf3]);
    code.into()
}

/// Sends transactions from the dev accounts with explicit nonces and fees (nothing is mined until
/// `anvil_mine`, so nothing can be asked of the node's pending state).
struct Sender<'a> {
    provider: &'a DynProvider,
    accounts: &'a [Address],
    nonces: Vec<u64>,
    sent: usize,
}

impl Sender<'_> {
    async fn send(&mut self, from: usize, tx: TransactionRequest) -> B256 {
        let tx = tx
            .with_from(self.accounts[from])
            .with_nonce(self.nonces[from])
            .with_gas_limit(100_000)
            .with_max_fee_per_gas(100_000_000_000)
            .with_max_priority_fee_per_gas(1_000_000_000)
            .with_chain_id(CHAIN_ID);
        self.nonces[from] += 1;
        self.sent += 1;
        *self.provider.send_transaction(tx).await.expect("anvil accepts the transaction").tx_hash()
    }
}

/// One block as anvil reports it directly.
#[derive(Debug, Clone)]
pub struct DirectBlock {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Transaction hashes, in block order.
    pub transactions: Vec<B256>,
    /// Receipts (`eth_getBlockReceipts`).
    pub receipts: usize,
    /// Logs in those receipts.
    pub logs: usize,
}

/// An anvil node with [`PLAN`] mined; dropping it stops anvil.
pub struct TestChain {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Blocks 1..=head as anvil reports them (index 0 is block 1).
    pub blocks: Vec<DirectBlock>,
    /// The log-emitting contract.
    pub emitter: Address,
    _anvil: AnvilInstance,
}

impl TestChain {
    /// Starts anvil and mines [`PLAN`].
    pub async fn start() -> Self {
        let anvil = vigil_sim::node::anvil()
            .unwrap_or_else(|e| panic!("{e}"))
            .arg("--no-mining")
            .try_spawn()
            .expect("anvil starts");
        let url = format!("http://127.0.0.1:{}", anvil.port());
        let wallet = anvil.wallet().expect("anvil's dev accounts");
        let accounts = anvil.addresses().to_vec();
        assert!(accounts.len() >= 10, "anvil has 10 dev accounts");
        let provider = ProviderBuilder::new().wallet(wallet).connect_http(url.parse().expect("url")).erased();

        let mut sender = Sender { provider: &provider, accounts: &accounts, nonces: vec![0; accounts.len()], sent: 0 };
        let emitter = accounts[0].create(0);
        let mut blocks = Vec::new();
        for (i, &(transfers, calls)) in PLAN.iter().enumerate() {
            let number = i as u64 + 1;
            let mut expected = transfers + calls;
            if number == 1 {
                sender.send(0, TransactionRequest::default().with_deploy_code(emitter_initcode())).await;
                expected += 1;
            }
            for _ in 0..transfers {
                let (from, to) = (1 + sender.sent % 4, accounts[5 + sender.sent % 5]);
                let value = U256::from(1_000_000_000_000u64 * number);
                sender.send(from, TransactionRequest::default().with_to(to).with_value(value)).await;
            }
            for _ in 0..calls {
                let from = 1 + sender.sent % 4;
                let call = TransactionRequest::default().with_to(emitter).with_input(Bytes::from_static(b"\x01"));
                sender.send(from, call).await;
            }
            provider.anvil_mine(Some(1), None).await.expect("anvil_mine");
            let block = Self::direct(&provider, number).await;
            assert_eq!(block.transactions.len(), expected, "block #{number} holds what was sent for it");
            assert_eq!(block.logs, calls, "block #{number}: one log per emitter call");
            blocks.push(block);
        }
        let code = provider.get_code_at(emitter).await.expect("eth_getCode");
        assert_eq!(code.as_ref(), EMITTER_RUNTIME, "the emitter is deployed");
        Self { url, blocks, emitter, _anvil: anvil }
    }

    /// The highest block.
    pub fn head(&self) -> u64 {
        self.blocks.len() as u64
    }

    async fn direct(provider: &DynProvider, number: u64) -> DirectBlock {
        let block = provider.get_block_by_number(number.into()).await.expect("eth_getBlockByNumber").expect("mined");
        let receipts =
            provider.get_block_receipts(number.into()).await.expect("eth_getBlockReceipts").expect("receipts");
        DirectBlock {
            number,
            hash: block.header.hash,
            parent_hash: block.header.parent_hash,
            transactions: block.transactions.hashes().collect(),
            receipts: receipts.len(),
            logs: receipts.iter().map(|r| r.inner.logs().len()).sum(),
        }
    }

    /// Checks that `bundles` are blocks 1..=head, each exactly once and in order, equal to what anvil reports
    /// directly: hash, parent, transactions, one receipt per transaction, logs.
    pub fn assert_same_blocks(&self, bundles: &[Bundle]) {
        let numbers: Vec<u64> = bundles.iter().map(|b| b.block_ref().number).collect();
        let expected: Vec<u64> = (1..=self.head()).collect();
        assert_eq!(numbers, expected, "every block exactly once, in order");
        for (bundle, direct) in bundles.iter().zip(&self.blocks) {
            let n = direct.number;
            assert_eq!(bundle.block_ref().hash, direct.hash, "block #{n}: hash");
            assert_eq!(bundle.parent_hash(), direct.parent_hash, "block #{n}: parent hash");
            let txs: Vec<B256> = bundle.transactions.iter().map(|t| t.hash).collect();
            assert_eq!(txs, direct.transactions, "block #{n}: transactions");
            assert_eq!(bundle.receipts.len(), txs.len(), "block #{n}: one receipt per transaction");
            assert_eq!(bundle.receipts.len(), direct.receipts, "block #{n}: receipts");
            for (r, h) in bundle.receipts.iter().zip(&txs) {
                assert_eq!(r.transaction_hash, *h, "block #{n}: receipts in transaction order");
                assert_eq!(r.block_hash, Some(direct.hash), "block #{n}: receipt's block");
            }
            assert_eq!(bundle.logs().count(), direct.logs, "block #{n}: logs");
            // alloy's complete types, decoded on demand from the kept answers, say the same.
            let full = bundle.full_block().unwrap_or_else(|e| panic!("block #{n}: {e}"));
            assert_eq!(full.header.hash, direct.hash, "block #{n}: full block");
            assert_eq!(full.transactions.hashes().collect::<Vec<_>>(), txs, "block #{n}: full transactions");
            let receipts = bundle.full_receipts().unwrap_or_else(|e| panic!("block #{n}: {e}"));
            let full_logs: usize = receipts.iter().filter(|r| r.status()).map(|r| r.inner.logs().len()).sum();
            assert_eq!(full_logs, direct.logs, "block #{n}: full receipts");
        }
        assert!(self.blocks.iter().any(|b| b.transactions.len() >= 3), "some blocks hold several transactions");
        assert!(self.blocks.iter().any(|b| b.transactions.is_empty()), "some blocks are empty");
    }
}

/// A retry policy for tests: short backoffs (a `Retry-After` of up to 2 s is honoured), `timeout` per request.
pub fn policy(timeout: Duration) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(2_000),
        timeout,
    }
}

/// A client over `urls` with fresh metrics.
pub fn client(urls: &[&str], policy: RetryPolicy) -> RpcClient {
    let urls: Vec<String> = urls.iter().map(|u| u.to_string()).collect();
    RpcClient::new(&urls, policy, SourceMetrics::default()).expect("client")
}

/// Every fault kind the client counts.
pub const FAULT_KINDS: [Fault; 6] =
    [Fault::Connect, Fault::Timeout, Fault::RateLimited, Fault::Status, Fault::Malformed, Fault::Lagging];

/// Faults the client counted for `url`, by kind (kinds with none left out).
pub fn faults_of(client: &RpcClient, url: &str) -> Vec<(Fault, u64)> {
    let label = vigil_chain::rpc::redact(url);
    FAULT_KINDS.iter().map(|&k| (k, client.metrics().fault_count(&label, k))).filter(|&(_, n)| n > 0).collect()
}

/// Log lines written while the capture is installed on this thread (enough for a current-thread test
/// runtime, where the client runs).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Installs a capture of `INFO` and above as this thread's subscriber until the guard drops.
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs.clone(), tracing::subscriber::set_default(subscriber))
    }

    /// Everything captured.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }

    /// The captured `RpcRequestFailed` events.
    pub fn failures(&self) -> Vec<String> {
        self.text().lines().filter(|l| l.contains("RpcRequestFailed")).map(str::to_string).collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
