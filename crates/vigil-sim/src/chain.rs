//! [`SimChain`]: the in-process chain that produces real blocks.
//!
//! It starts from a genesis state (the venue deployed by [`crate::InProcessEvm`]) and turns lists of
//! [`TxRequest`]s into 12-second blocks: every transaction is an EIP-1559 transaction signed by its sender's key,
//! executed by revm, and included with its receipt whether it succeeded or reverted (a reverted attack step is on
//! chain, as on mainnet). Each [`SimBlock`] carries the same JSON-RPC types a node returns
//! (`eth_getBlockByNumber(n, true)`, `eth_getBlockReceipts`, `debug_traceBlockByNumber` with the callTracer),
//! headers are hash-chained (Prague header fields, transactions and receipts roots computed as a node does), and
//! state can be read at any of the last [`SimChain::history_depth`] blocks.
//!
//! Departures from a node, documented in docs/sim-format.md: the base fee is constant, and `stateRoot` is a
//! commitment to the chain of state changes (keccak of the parent's value and the block's changed accounts and
//! slots), not a Merkle-Patricia root, which would cost more than the rest of block production.

use std::collections::{BTreeMap, HashMap, VecDeque};

use alloy::{
    consensus::{
        proofs::{calculate_receipt_root, calculate_transaction_root},
        Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, SignableTransaction, Transaction as _,
        TxEip1559, TxEnvelope, TxReceipt, EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH,
    },
    eips::eip7685::EMPTY_REQUESTS_HASH,
    network::TxSignerSync,
    primitives::{keccak256, Address, Bloom, Bytes, Log, TxKind, B256, U256},
    rpc::types::{
        trace::geth::{CallConfig, GethTrace, TraceResult},
        Block, BlockTransactions, Transaction, TransactionReceipt,
    },
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use revm::{
    context::{result::ExecutionResult, BlockEnv, CfgEnv, TxEnv},
    context_interface::block::BlobExcessGasAndPrice,
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::AccountInfo,
    Context, DatabaseCommit, DatabaseRef, ExecuteEvm, InspectEvm, MainBuilder, MainContext,
};
use revm_inspectors::tracing::{TracingInspector, TracingInspectorConfig};

use crate::backend::{call_name, decode_return, ExecError};
use crate::evm::{call_result, read_only_tx, InProcessEvm, CHAIN_ID};

/// Seconds between blocks.
pub const BLOCK_TIME: u64 = 12;
/// Block gas limit.
pub const BLOCK_GAS_LIMIT: u64 = 60_000_000;
/// Gas limit of each transaction.
pub const TX_GAS: u64 = 5_000_000;
/// Constant base fee (1 gwei).
pub const BASE_FEE: u64 = 1_000_000_000;
/// Priority fee the traffic pays (0.01 gwei), the default of a [`TxRequest`].
pub const PRIORITY_FEE: u128 = 10_000_000;
/// Blocks whose state stays readable by default.
pub const DEFAULT_HISTORY: usize = 128;
/// The fee recipient of every block.
pub const COINBASE: Address = Address::new([0xc0; 20]);

/// What a transaction is, in the scenario's ground truth.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxLabel {
    /// Who sent it and why: `trader:swap`, `attack:spot-pump:pump`, …
    pub what: String,
    /// True for the attacker's transactions.
    pub malicious: bool,
}

/// A transaction to include: the sender must be one of the chain's keys.
#[derive(Debug, Clone)]
pub struct TxRequest {
    /// Sender.
    pub from: Address,
    /// Callee, or `None` to create a contract.
    pub to: Option<Address>,
    /// Calldata or initcode.
    pub data: Bytes,
    /// Ether sent.
    pub value: U256,
    /// Priority fee per gas (the tip) in wei: the block builder orders by it ([`order_by_fee`]).
    pub priority_fee: u128,
    /// Ground truth.
    pub label: TxLabel,
}

impl TxRequest {
    /// A typed call.
    pub fn call<C: SolCall>(from: Address, to: Address, call: C, what: impl Into<String>, malicious: bool) -> Self {
        Self {
            from,
            to: Some(to),
            data: call.abi_encode().into(),
            value: U256::ZERO,
            priority_fee: PRIORITY_FEE,
            label: TxLabel { what: what.into(), malicious },
        }
    }

    /// A Vigil node's pause transaction to the Guardian, tipping `priority_fee` (ground truth `vigil:pause`).
    pub fn pause(from: Address, guardian: Address, data: Bytes, priority_fee: u128) -> Self {
        Self {
            from,
            to: Some(guardian),
            data,
            value: U256::ZERO,
            priority_fee,
            label: TxLabel { what: "vigil:pause".into(), malicious: false },
        }
    }

    /// Its fee cap: the constant base fee plus its tip (wei per gas).
    pub fn max_fee(&self) -> u128 {
        BASE_FEE as u128 + self.priority_fee
    }

    /// The same transaction with another priority fee.
    pub fn with_priority_fee(mut self, priority_fee: u128) -> Self {
        self.priority_fee = priority_fee;
        self
    }

    /// A typed call of the benign traffic.
    pub fn benign<C: SolCall>(from: Address, to: Address, call: C, what: impl Into<String>) -> Self {
        Self::call(from, to, call, what, false)
    }
}

/// One produced block, in the JSON-RPC shapes a node returns, with what each transaction returned.
#[derive(Debug, Clone)]
pub struct SimBlock {
    /// `eth_getBlockByNumber(n, true)`.
    pub block: Block,
    /// `eth_getBlockReceipts(n)`.
    pub receipts: Vec<TransactionReceipt>,
    /// `debug_traceBlockByNumber(n, {tracer: "callTracer", tracerConfig: {withLog: true}})`, when tracing.
    pub traces: Option<Vec<TraceResult>>,
    /// Ground truth per transaction, in block order.
    pub labels: Vec<TxLabel>,
    /// Return data (`Ok`) or revert data (`Err`) per transaction, in block order.
    pub outputs: Vec<Result<Bytes, Bytes>>,
    /// Requests that could not be included (bad nonce, unknown sender), with the reason.
    pub rejected: Vec<(TxLabel, String)>,
}

impl SimBlock {
    /// Block number.
    pub fn number(&self) -> u64 {
        self.block.header.number
    }
}

/// State before a block, for the accounts and slots the block changed.
#[derive(Debug, Default)]
struct BlockDiff {
    number: u64,
    accounts: HashMap<Address, Option<AccountInfo>>,
    storage: HashMap<(Address, U256), U256>,
}

/// A block executed on a database, before the chain takes it ([`SimChain::build_block`]) or drops it
/// ([`SimChain::simulate`]).
struct Executed<DB> {
    db: CacheDB<DB>,
    diff: BlockDiff,
    header: Header,
    block: SimBlock,
}

/// Orders transactions as a fee-ordering block builder does (geth's and reth's "best transactions"): each
/// sender's transactions stay in the order they came (their nonce order); among the senders' next transactions
/// the one with the highest priority fee goes first, and equal fees keep the order of arrival.
pub fn order_by_fee(txs: Vec<TxRequest>) -> Vec<TxRequest> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let total = txs.len();
    let mut queues: HashMap<Address, VecDeque<(usize, TxRequest)>> = HashMap::new();
    for (arrival, tx) in txs.into_iter().enumerate() {
        queues.entry(tx.from).or_default().push_back((arrival, tx));
    }
    let mut heads: BinaryHeap<(u128, Reverse<usize>, Address)> =
        queues.iter().filter_map(|(from, q)| q.front().map(|(i, t)| (t.priority_fee, Reverse(*i), *from))).collect();
    let mut ordered = Vec::with_capacity(total);
    while let Some((_, _, from)) = heads.pop() {
        let queue = queues.get_mut(&from).expect("a head comes from a queue");
        let (_, tx) = queue.pop_front().expect("a head is in its queue");
        if let Some((i, next)) = queue.front() {
            heads.push((next.priority_fee, Reverse(*i), from));
        }
        ordered.push(tx);
    }
    ordered
}

/// The in-process chain.
pub struct SimChain {
    db: CacheDB<EmptyDB>,
    cfg: CfgEnv,
    keys: HashMap<Address, PrivateKeySigner>,
    headers: Vec<Header>,
    hashes: Vec<B256>,
    first_number: u64,
    history: VecDeque<BlockDiff>,
    history_depth: usize,
    tracing: bool,
    seed: u64,
    stats: ProductionStats,
}

/// Work done by [`SimChain::build_block`] so far: signing, execution, tracing, receipts, roots and JSON-RPC
/// shapes, not the caller's generation of transactions.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductionStats {
    /// Blocks produced.
    pub blocks: u64,
    /// Transactions included.
    pub transactions: u64,
    /// Time spent producing them.
    pub busy: std::time::Duration,
}

impl SimChain {
    /// A chain whose genesis block is the state of `genesis`; `keys` sign transactions.
    pub fn from_genesis(genesis: InProcessEvm, keys: Vec<PrivateKeySigner>, tracing: bool, seed: u64) -> Self {
        let (db, number, timestamp) = genesis.into_parts();
        let mut cfg = CfgEnv::new_with_spec(SpecId::PRAGUE);
        cfg.chain_id = CHAIN_ID;
        let header = Header {
            number,
            timestamp,
            gas_limit: BLOCK_GAS_LIMIT,
            base_fee_per_gas: Some(BASE_FEE),
            state_root: keccak256(seed.to_be_bytes()),
            mix_hash: mix(seed, number),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            beneficiary: COINBASE,
            ..Default::default()
        };
        let hash = header.hash_slow();
        Self {
            db,
            cfg,
            keys: keys.into_iter().map(|k| (k.address(), k)).collect(),
            headers: vec![header],
            hashes: vec![hash],
            first_number: number,
            history: VecDeque::new(),
            history_depth: DEFAULT_HISTORY,
            tracing,
            seed,
            stats: ProductionStats::default(),
        }
    }

    /// Work done producing blocks so far.
    pub fn production_stats(&self) -> ProductionStats {
        self.stats
    }

    /// Adds a key that may send transactions.
    pub fn add_key(&mut self, key: PrivateKeySigner) {
        self.keys.insert(key.address(), key);
    }

    /// Whether blocks carry call traces.
    pub fn tracing(&self) -> bool {
        self.tracing
    }

    /// How many past blocks' state stays readable.
    pub fn history_depth(&self) -> usize {
        self.history_depth
    }

    /// The latest header.
    pub fn head(&self) -> &Header {
        self.headers.last().expect("a chain always has its genesis")
    }

    /// The latest block's hash.
    pub fn head_hash(&self) -> B256 {
        *self.hashes.last().expect("a chain always has its genesis")
    }

    /// Hash of block `number`, if produced.
    pub fn block_hash(&self, number: u64) -> Option<B256> {
        number.checked_sub(self.first_number).and_then(|i| self.hashes.get(i as usize)).copied()
    }

    /// An account's nonce at the head.
    pub fn nonce(&self, who: Address) -> u64 {
        self.db.basic_ref(who).ok().flatten().map(|a| a.nonce).unwrap_or_default()
    }

    /// Produces the next block with `txs`, ordered as a fee-ordering builder orders them ([`order_by_fee`]).
    pub fn build_block(&mut self, txs: Vec<TxRequest>) -> SimBlock {
        let started = std::time::Instant::now();
        let db = std::mem::take(&mut self.db);
        let Executed { db, diff, header, block } = self.execute(db, order_by_fee(txs));
        self.db = db;
        self.headers.push(header);
        self.hashes.push(block.block.header.hash);
        self.history.push_back(diff);
        while self.history.len() > self.history_depth {
            self.history.pop_front();
        }
        self.stats.blocks += 1;
        self.stats.transactions += block.receipts.len() as u64;
        self.stats.busy += started.elapsed();
        block
    }

    /// Simulates `txs` as the next block on the head's state, without changing the chain: the block they would
    /// make (ordered by fee, as [`Self::build_block`] orders them) and its bundle, with `probes` read on the state
    /// after it. The block's number, parent, timestamp and `mixHash` are those the next block will have; its hash
    /// is that of the simulated block, not of the one that will be produced (which holds other transactions too).
    pub fn simulate(
        &self,
        txs: Vec<TxRequest>,
        probes: &std::collections::BTreeSet<vigil_core::Probe>,
    ) -> (SimBlock, vigil_core::Bundle) {
        self.simulate_with(txs, probes, &[])
    }

    /// [`Self::simulate`] with storage `overrides` (contract, slot, value) applied to the head's state first, as
    /// `eth_call`'s state override does: how a node simulates in the SecurityGate's simulation mode.
    pub fn simulate_with(
        &self,
        txs: Vec<TxRequest>,
        probes: &std::collections::BTreeSet<vigil_core::Probe>,
        overrides: &[(Address, U256, U256)],
    ) -> (SimBlock, vigil_core::Bundle) {
        let mut overlay = CacheDB::new(&self.db);
        for (address, slot, value) in overrides {
            overlay
                .insert_account_storage(*address, *slot, *value)
                .expect("the in-process state reads without failing");
        }
        let Executed { db, header, block, .. } = self.execute(overlay, order_by_fee(txs));
        let probes = probe_values(probes, |to, data| self.call_on(&db, &header, to, data));
        let bundle =
            vigil_core::Bundle::from_alloy(block.block.clone(), block.receipts.clone(), block.traces.clone(), probes);
        (block, bundle)
    }

    /// Executes `txs` in this order as the block after the head on `db`: signing, execution (traced when the
    /// chain traces), receipts, roots and the JSON-RPC shapes. The chain itself is not changed.
    fn execute<DB: DatabaseRef<Error = std::convert::Infallible>>(
        &self,
        db: CacheDB<DB>,
        txs: Vec<TxRequest>,
    ) -> Executed<DB> {
        let parent = self.head().clone();
        let parent_hash = self.head_hash();
        let number = parent.number + 1;
        let timestamp = parent.timestamp + BLOCK_TIME;
        let mix_hash = mix(self.seed, number);
        let block_env = BlockEnv {
            number: U256::from(number),
            timestamp: U256::from(timestamp),
            gas_limit: BLOCK_GAS_LIMIT,
            basefee: BASE_FEE,
            beneficiary: COINBASE,
            difficulty: U256::ZERO,
            prevrandao: Some(mix_hash),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(0, 3_338_477)),
            ..Default::default()
        };
        let config = TracingInspectorConfig::from_geth_call_config(&CallConfig::default().with_log());
        let mut evm = Context::mainnet()
            .with_db(db)
            .with_cfg(self.cfg.clone())
            .with_block(block_env)
            .build_mainnet_with_inspector(TracingInspector::new(config));

        let mut diff = BlockDiff { number, ..Default::default() };
        let mut envelopes: Vec<TxEnvelope> = Vec::with_capacity(txs.len());
        let mut senders = Vec::with_capacity(txs.len());
        let mut consensus_receipts: Vec<ReceiptEnvelope> = Vec::with_capacity(txs.len());
        let mut gas_used_each = Vec::with_capacity(txs.len());
        let mut tips = Vec::with_capacity(txs.len());
        let mut created = Vec::with_capacity(txs.len());
        let mut frames = Vec::new();
        let mut labels = Vec::with_capacity(txs.len());
        let mut outputs = Vec::with_capacity(txs.len());
        let mut rejected = Vec::new();
        let mut cumulative = 0u64;

        for req in txs {
            let Some(key) = self.keys.get(&req.from) else {
                rejected.push((req.label, format!("no key for sender {}", req.from)));
                continue;
            };
            let db = &evm.ctx.journaled_state.database;
            let nonce = db.basic_ref(req.from).ok().flatten().map(|a| a.nonce).unwrap_or_default();
            let kind = req.to.map(TxKind::Call).unwrap_or(TxKind::Create);
            let max_fee = req.max_fee();
            let mut tx = TxEip1559 {
                chain_id: CHAIN_ID,
                nonce,
                gas_limit: TX_GAS,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: req.priority_fee,
                to: kind,
                value: req.value,
                access_list: Default::default(),
                input: req.data.clone(),
            };
            let signature = match key.sign_transaction_sync(&mut tx) {
                Ok(s) => s,
                Err(e) => {
                    rejected.push((req.label, format!("signing failed: {e}")));
                    continue;
                }
            };
            let envelope: TxEnvelope = tx.clone().into_signed(signature).into();
            let tx_env = TxEnv::builder()
                .caller(req.from)
                .kind(kind)
                .data(req.data)
                .value(req.value)
                .gas_limit(TX_GAS)
                .gas_price(max_fee)
                .gas_priority_fee(Some(req.priority_fee))
                .tx_type(Some(2))
                .nonce(nonce)
                .chain_id(Some(CHAIN_ID))
                .build_fill();
            let executed = if self.tracing { evm.inspect_tx(tx_env) } else { evm.transact(tx_env) };
            let executed = match executed {
                Ok(r) => r,
                Err(e) => {
                    evm.inspector.fuse();
                    rejected.push((req.label, e.to_string()));
                    continue;
                }
            };

            // Remember the state before this block for every account and slot the transaction touched.
            let db = &evm.ctx.journaled_state.database;
            for (addr, account) in executed.state.iter() {
                diff.accounts.entry(*addr).or_insert_with(|| db.basic_ref(*addr).ok().flatten());
                for (slot, value) in account.storage.iter() {
                    if value.is_changed() {
                        diff.storage.entry((*addr, *slot)).or_insert(value.original_value);
                    }
                }
            }
            evm.ctx.journaled_state.database.commit(executed.state);

            let result = executed.result;
            let gas_used = result.tx_gas_used();
            cumulative += gas_used;
            if self.tracing {
                let frame = evm.inspector.geth_builder().geth_call_traces(CallConfig::default().with_log(), gas_used);
                frames.push(frame);
                evm.inspector.fuse();
            }
            let (success, logs, output, address): (bool, Vec<Log>, Result<Bytes, Bytes>, Option<Address>) = match result
            {
                ExecutionResult::Success { logs, output, .. } => {
                    let address = output.address().copied();
                    (true, logs, Ok(output.into_data()), address)
                }
                ExecutionResult::Revert { output, .. } => (false, vec![], Err(output), None),
                ExecutionResult::Halt { .. } => (false, vec![], Err(Bytes::new()), None),
            };
            let receipt = Receipt { status: Eip658Value::Eip658(success), cumulative_gas_used: cumulative, logs };
            consensus_receipts.push(ReceiptEnvelope::Eip1559(ReceiptWithBloom::from(receipt)));
            envelopes.push(envelope);
            senders.push(req.from);
            gas_used_each.push(gas_used);
            tips.push(req.priority_fee);
            created.push(address);
            labels.push(req.label);
            outputs.push(output);
        }
        let db = evm.ctx.journaled_state.database;

        // The header.
        let mut logs_bloom = Bloom::default();
        for r in &consensus_receipts {
            logs_bloom.accrue_bloom(r.logs_bloom());
        }
        let state_root = state_commitment(parent.state_root, &diff, &db);
        let header = Header {
            parent_hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: COINBASE,
            state_root,
            transactions_root: calculate_transaction_root(&envelopes),
            receipts_root: calculate_receipt_root(&consensus_receipts),
            logs_bloom,
            difficulty: U256::ZERO,
            number,
            gas_limit: BLOCK_GAS_LIMIT,
            gas_used: cumulative,
            timestamp,
            extra_data: Bytes::from_static(b"vigil-sim"),
            mix_hash,
            nonce: Default::default(),
            base_fee_per_gas: Some(BASE_FEE),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(keccak256(parent_hash)),
            requests_hash: Some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        };
        let hash = header.hash_slow();

        // JSON-RPC shapes.
        let mut log_index = 0u64;
        let mut rpc_receipts = Vec::with_capacity(envelopes.len());
        let mut rpc_txs = Vec::with_capacity(envelopes.len());
        for (i, envelope) in envelopes.iter().enumerate() {
            let tx_hash = *envelope.tx_hash();
            let effective_gas_price = BASE_FEE as u128 + tips[i];
            let receipt = &consensus_receipts[i];
            let rpc_logs: Vec<alloy::rpc::types::Log> = receipt
                .logs()
                .iter()
                .map(|inner| {
                    let log = alloy::rpc::types::Log {
                        inner: inner.clone(),
                        block_hash: Some(hash),
                        block_number: Some(number),
                        block_timestamp: Some(timestamp),
                        transaction_hash: Some(tx_hash),
                        transaction_index: Some(i as u64),
                        log_index: Some(log_index),
                        removed: false,
                    };
                    log_index += 1;
                    log
                })
                .collect();
            let rpc_receipt_inner = ReceiptEnvelope::Eip1559(ReceiptWithBloom {
                receipt: Receipt {
                    status: receipt.status_or_post_state(),
                    cumulative_gas_used: receipt.cumulative_gas_used(),
                    logs: rpc_logs,
                },
                logs_bloom: *receipt.logs_bloom(),
            });
            rpc_receipts.push(TransactionReceipt {
                inner: rpc_receipt_inner,
                transaction_hash: tx_hash,
                transaction_index: Some(i as u64),
                block_hash: Some(hash),
                block_number: Some(number),
                gas_used: gas_used_each[i],
                effective_gas_price,
                blob_gas_used: None,
                blob_gas_price: None,
                from: senders[i],
                to: envelope.to(),
                contract_address: created[i],
            });
            rpc_txs.push(Transaction {
                inner: alloy::consensus::transaction::Recovered::new_unchecked(envelope.clone(), senders[i]),
                block_hash: Some(hash),
                block_number: Some(number),
                transaction_index: Some(i as u64),
                effective_gas_price: Some(effective_gas_price),
                block_timestamp: Some(timestamp),
            });
        }
        let traces = self.tracing.then(|| {
            frames
                .into_iter()
                .zip(&envelopes)
                .map(|(frame, tx)| TraceResult::Success {
                    result: GethTrace::CallTracer(frame),
                    tx_hash: Some(*tx.tx_hash()),
                })
                .collect()
        });
        let size = alloy::rlp::Encodable::length(&header) as u64
            + envelopes.iter().map(|e| alloy::eips::Encodable2718::encode_2718_len(e) as u64).sum::<u64>();
        let block = Block {
            header: alloy::rpc::types::Header {
                hash,
                inner: header.clone(),
                total_difficulty: Some(U256::ZERO),
                size: Some(U256::from(size)),
            },
            uncles: vec![],
            transactions: BlockTransactions::Full(rpc_txs),
            withdrawals: Some(Default::default()),
        };
        Executed {
            db,
            diff,
            header,
            block: SimBlock { block, receipts: rpc_receipts, traces, labels, outputs, rejected },
        }
    }

    /// The bundle detectors read for a produced block: the block, its receipts, its traces (when the chain
    /// traces) and the values of `probes` read at that block (return data, or the revert data).
    pub fn bundle(
        &self,
        block: &SimBlock,
        probes: &std::collections::BTreeSet<vigil_core::Probe>,
    ) -> vigil_core::Bundle {
        let number = block.number();
        let probes = probe_values(probes, |to, data| self.call_at(number, to, data));
        vigil_core::Bundle::from_alloy(block.block.clone(), block.receipts.clone(), block.traces.clone(), probes)
    }

    /// `eth_call` at block `number` (one of the last [`Self::history_depth`] blocks, or the head).
    pub fn call_at(&self, number: u64, to: Address, data: Bytes) -> Result<Bytes, ExecError> {
        let head = self.head().number;
        if number > head {
            let what = call_name(&data, to);
            return Err(ExecError::Invalid { what, reason: format!("block {number} is ahead of the head {head}") });
        }
        let oldest = self.history.front().map(|d| d.number - 1).unwrap_or(head);
        if number < oldest {
            let what = call_name(&data, to);
            return Err(ExecError::Invalid {
                what,
                reason: format!("state of block {number} is no longer kept (oldest readable: {oldest})"),
            });
        }
        let header = &self.headers[(number - self.first_number) as usize];
        self.call_on(HistoricalState { chain: self, after: number }, header, to, data)
    }

    /// `eth_call` on the state `view`, in the block of `header`.
    fn call_on(
        &self,
        view: impl DatabaseRef<Error = std::convert::Infallible>,
        header: &Header,
        to: Address,
        data: Bytes,
    ) -> Result<Bytes, ExecError> {
        let what = call_name(&data, to);
        let block_env = BlockEnv {
            number: U256::from(header.number),
            timestamp: U256::from(header.timestamp),
            gas_limit: BLOCK_GAS_LIMIT,
            basefee: 0,
            prevrandao: Some(header.mix_hash),
            ..Default::default()
        };
        let mut cfg = self.cfg.clone();
        cfg.disable_nonce_check = true;
        let mut evm = Context::mainnet().with_ref_db(view).with_cfg(cfg).with_block(block_env).build_mainnet();
        let tx = read_only_tx(to, data, 0);
        let result = evm.transact(tx).map_err(|e| ExecError::Invalid { what: what.clone(), reason: e.to_string() })?;
        call_result(what, result.result)
    }
    /// A typed `eth_call` at block `number`.
    pub fn view_at<C: SolCall>(&self, number: u64, to: Address, call: C) -> Result<C::Return, ExecError> {
        decode_return::<C>(&self.call_at(number, to, call.abi_encode().into())?)
    }

    /// A typed `eth_call` at the head.
    pub fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, ExecError> {
        self.view_at(self.head().number, to, call)
    }
}

/// The value of each probe as `call` reads it: return data, or the revert data.
fn probe_values(
    probes: &std::collections::BTreeSet<vigil_core::Probe>,
    call: impl Fn(Address, Bytes) -> Result<Bytes, ExecError>,
) -> std::collections::BTreeMap<vigil_core::Probe, Result<Bytes, Bytes>> {
    probes
        .iter()
        .map(|p| (p.clone(), call(p.to, p.data.clone()).map_err(|e| e.revert_data().cloned().unwrap_or_default())))
        .collect()
}

/// The block's `mixHash` (prevrandao): a function of the seed and the number.
fn mix(seed: u64, number: u64) -> B256 {
    keccak256([seed.to_be_bytes(), number.to_be_bytes()].concat())
}

/// keccak of the parent's commitment and the block's changed accounts and slots (sorted), with their new values.
fn state_commitment(parent: B256, diff: &BlockDiff, db: &impl DatabaseRef) -> B256 {
    let mut buf = Vec::with_capacity(32 + diff.accounts.len() * 72 + diff.storage.len() * 84);
    buf.extend_from_slice(parent.as_slice());
    let accounts: BTreeMap<&Address, ()> = diff.accounts.keys().map(|a| (a, ())).collect();
    for addr in accounts.keys() {
        let info = db.basic_ref(**addr).ok().flatten().unwrap_or_default();
        buf.extend_from_slice(addr.as_slice());
        buf.extend_from_slice(&info.balance.to_be_bytes::<32>());
        buf.extend_from_slice(&info.nonce.to_be_bytes());
        buf.extend_from_slice(info.code_hash.as_slice());
    }
    let slots: BTreeMap<&(Address, U256), ()> = diff.storage.keys().map(|k| (k, ())).collect();
    for (addr, slot) in slots.keys() {
        let value = db.storage_ref(*addr, *slot).unwrap_or_default();
        buf.extend_from_slice(addr.as_slice());
        buf.extend_from_slice(&slot.to_be_bytes::<32>());
        buf.extend_from_slice(&value.to_be_bytes::<32>());
    }
    keccak256(&buf)
}

/// The state after block `after`: the pre-images recorded by later blocks, else the head's state.
struct HistoricalState<'a> {
    chain: &'a SimChain,
    after: u64,
}

impl HistoricalState<'_> {
    fn later_diffs(&self) -> impl Iterator<Item = &BlockDiff> {
        self.chain.history.iter().filter(move |d| d.number > self.after)
    }
}

impl DatabaseRef for HistoricalState<'_> {
    type Error = std::convert::Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        for d in self.later_diffs() {
            if let Some(info) = d.accounts.get(&address) {
                return Ok(info.clone());
            }
        }
        Ok(self.chain.db.basic_ref(address).ok().flatten())
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<revm::bytecode::Bytecode, Self::Error> {
        Ok(self.chain.db.code_by_hash_ref(code_hash).unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        for d in self.later_diffs() {
            if let Some(v) = d.storage.get(&(address, index)) {
                return Ok(*v);
            }
        }
        Ok(self.chain.db.storage_ref(address, index).unwrap_or_default())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.chain.block_hash(number).unwrap_or_default())
    }
}

impl crate::backend::Reader for SimChain {
    fn call(&mut self, to: Address, data: Bytes) -> Result<Bytes, ExecError> {
        self.call_at(self.head().number, to, data)
    }

    fn timestamp(&mut self) -> Result<u64, ExecError> {
        Ok(self.head().timestamp)
    }

    fn nonce(&mut self, who: Address) -> Result<u64, ExecError> {
        Ok(SimChain::nonce(self, who))
    }
}
