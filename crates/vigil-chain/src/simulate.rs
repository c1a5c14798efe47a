//! Pending transactions simulated on the head's state: the block a pending transaction would make next, as a
//! [`Bundle`] like any other, so the same detectors read it (`Engine::screen` in the node).
//!
//! [`NodeState`] is a revm database over a node: an account (balance, nonce and code in one JSON-RPC batch) and
//! each storage slot are read at the head block once and kept for that head, so the next pending transaction at
//! the same head reads them from memory; what a transaction and the probes will touch is listed first with
//! `eth_createAccessList` and read in one batch ([`NodeState::prefetch`]). [`Simulator::simulate`] executes one transaction on an overlay of that
//! state with revm (with the callTracer when the detectors read traces), reads every probe on the state after
//! it, and builds the bundle: the next block's number, the head as parent, the head's timestamp, the transaction
//! and its receipt. Nothing is sent to the node but reads.
//!
//! The timestamp is the head's, not a guess of the next block's: a pause report's deadline is the bundle's
//! timestamp plus its validity, and the Guardian refuses a deadline more than its maximum lifetime after the
//! time it checks at (the block the pause lands in, or the pending block `eth_estimateGas` runs on, neither
//! earlier than the head). Contract logic that reads the time sees the head's.
//!
//! revm reads its database synchronously: a read that misses the cache waits for the node on the runtime given
//! to [`NodeState::new`]. Call [`Simulator::simulate`] from a blocking thread (`tokio::task::spawn_blocking`),
//! never from one of the runtime's workers.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use alloy::{
    consensus::Transaction as _,
    primitives::{keccak256, Address, Bytes, TxKind, B256, U256},
    rpc::types::{
        trace::geth::{CallConfig, GethTrace, TraceResult},
        Transaction,
    },
};
use revm::{
    bytecode::Bytecode,
    context::{result::ExecutionResult, BlockEnv, CfgEnv, TxEnv},
    database::CacheDB,
    database_interface::{DBErrorMarker, DatabaseRef},
    primitives::hardfork::SpecId,
    state::AccountInfo,
    Context, DatabaseCommit, ExecuteEvm, InspectEvm, MainBuilder, MainContext,
};
use revm_inspectors::tracing::{TracingInspector, TracingInspectorConfig};
use serde_json::json;
use vigil_core::{BlockHeader, Bundle, Probe, Receipt, Tx};

use crate::rpc::{decode, Call, RpcClient, RpcError};

/// Gas of a probe's read-only call.
const PROBE_GAS: u64 = 30_000_000;

/// Errors simulating a pending transaction.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The node's state could not be read.
    #[error("pending transaction {tx}: reading the state at block #{block}: {source}")]
    State {
        /// The transaction.
        tx: B256,
        /// The head block.
        block: u64,
        /// What failed.
        source: StateError,
    },
    /// revm refused the transaction (a nonce ahead of the sender's, a fee under the base fee, no funds for gas).
    #[error("pending transaction {tx} cannot execute on block #{block}: {reason}")]
    Invalid {
        /// The transaction.
        tx: B256,
        /// The head block.
        block: u64,
        /// revm's reason.
        reason: String,
    },
}

/// A read of the node's state that failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StateError(String);

impl DBErrorMarker for StateError {}

impl From<RpcError> for StateError {
    fn from(e: RpcError) -> Self {
        Self(e.to_string())
    }
}

/// The node's state at one block, read over JSON-RPC on demand and kept.
pub struct NodeState {
    client: RpcClient,
    runtime: tokio::runtime::Handle,
    block: vigil_core::BlockRef,
    accounts: Mutex<HashMap<Address, AccountInfo>>,
    slots: Mutex<HashMap<(Address, U256), U256>>,
    hashes: Mutex<HashMap<u64, B256>>,
}

impl NodeState {
    /// The state at `block`, read through `client` on `runtime` by the block's hash (EIP-1898: a reorg cannot
    /// mix two blocks' state).
    pub fn new(client: RpcClient, runtime: tokio::runtime::Handle, block: vigil_core::BlockRef) -> Self {
        Self {
            client,
            runtime,
            block,
            accounts: Default::default(),
            slots: Default::default(),
            hashes: Default::default(),
        }
    }

    /// The block whose state this is.
    pub fn block(&self) -> vigil_core::BlockRef {
        self.block
    }

    /// Accounts and slots read so far.
    pub fn reads(&self) -> (usize, usize) {
        (self.accounts.lock().expect("state lock").len(), self.slots.lock().expect("state lock").len())
    }

    /// Reads in one batch what the `calls` (JSON call objects: `from`, `to`, `data`, …) touch, as
    /// `eth_createAccessList` at the block reports it (one batch for all of them): each account's balance, nonce
    /// and code, the callers' and callees' too (nodes leave them out of the list), and each slot. Two round trips
    /// instead of one per account and slot. A call the node cannot list (it reverts, the method is missing)
    /// prefetches only its caller and callee; what is missing is read one by one when revm asks.
    pub fn prefetch(&self, calls: &[serde_json::Value]) -> Result<(), StateError> {
        let lists: Vec<Call> =
            calls.iter().map(|c| Call::new("eth_createAccessList", json!([c, self.tag()]))).collect();
        let answers = self.runtime.block_on(self.client.batch(&lists, |_| Ok(())))?;
        let mut accounts: BTreeSet<Address> = BTreeSet::new();
        let mut slots: BTreeSet<(Address, B256)> = BTreeSet::new();
        for (call, answer) in calls.iter().zip(answers) {
            for key in ["from", "to"] {
                if let Some(a) = call.get(key).and_then(|a| serde_json::from_value::<Address>(a.clone()).ok()) {
                    accounts.insert(a);
                }
            }
            let Ok(list) = decode::<alloy::rpc::types::AccessListResult>("eth_createAccessList", answer) else {
                continue;
            };
            for item in list.access_list.0 {
                accounts.insert(item.address);
                slots.extend(item.storage_keys.into_iter().map(|k| (item.address, k)));
            }
        }
        {
            let known = self.accounts.lock().expect("state lock");
            accounts.retain(|a| !known.contains_key(a));
        }
        {
            let known = self.slots.lock().expect("state lock");
            slots.retain(|(a, k)| !known.contains_key(&(*a, U256::from_be_bytes(k.0))));
        }
        let tag = self.tag();
        let mut reads = Vec::with_capacity(accounts.len() * 3 + slots.len());
        for a in &accounts {
            reads.extend(self.account_calls(*a));
        }
        for (a, k) in &slots {
            reads.push(Call::new("eth_getStorageAt", json!([a, k, tag])));
        }
        let mut answers = self.runtime.block_on(self.client.batch(&reads, |_| Ok(())))?.into_iter();
        for a in accounts {
            let info = account_from(&mut answers)?;
            self.accounts.lock().expect("state lock").insert(a, info);
        }
        for (a, k) in slots {
            let value: U256 = decode("eth_getStorageAt", next_answer(&mut answers, "eth_getStorageAt")?)?;
            self.slots.lock().expect("state lock").insert((a, U256::from_be_bytes(k.0)), value);
        }
        Ok(())
    }

    /// The batch that reads an account: balance, nonce and code ([`account_from`] decodes its answers).
    fn account_calls(&self, address: Address) -> [Call; 3] {
        let tag = self.tag();
        [
            Call::new("eth_getBalance", json!([address, tag])),
            Call::new("eth_getTransactionCount", json!([address, tag])),
            Call::new("eth_getCode", json!([address, tag])),
        ]
    }

    fn tag(&self) -> serde_json::Value {
        json!({ "blockHash": self.block.hash })
    }
}

/// The next answer of a batch, for `method`.
fn next_answer(
    answers: &mut impl Iterator<Item = crate::rpc::Answer>,
    method: &str,
) -> Result<crate::rpc::Answer, StateError> {
    answers.next().ok_or_else(|| StateError(format!("{method}: no answer")))
}

/// An account from the answers of [`NodeState::account_calls`], taken from `answers`.
fn account_from(answers: &mut impl Iterator<Item = crate::rpc::Answer>) -> Result<AccountInfo, StateError> {
    let balance: U256 = decode("eth_getBalance", next_answer(answers, "eth_getBalance")?)?;
    let nonce: alloy::primitives::U64 =
        decode("eth_getTransactionCount", next_answer(answers, "eth_getTransactionCount")?)?;
    let code: Bytes = decode("eth_getCode", next_answer(answers, "eth_getCode")?)?;
    let code = Bytecode::new_raw(code);
    Ok(AccountInfo::new(balance, nonce.to(), code.hash_slow(), code))
}

impl DatabaseRef for NodeState {
    type Error = StateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        if let Some(info) = self.accounts.lock().expect("state lock").get(&address) {
            return Ok(Some(info.clone()));
        }
        let answers = self.runtime.block_on(self.client.batch(&self.account_calls(address), |_| Ok(())))?;
        let info = account_from(&mut answers.into_iter())?;
        self.accounts.lock().expect("state lock").insert(address, info.clone());
        Ok(Some(info))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        // Accounts are read with their code, so revm never asks for code by hash alone.
        Err(StateError(format!("code {code_hash} asked for by hash alone")))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        if let Some(v) = self.slots.lock().expect("state lock").get(&(address, index)) {
            return Ok(*v);
        }
        let slot = B256::from(index);
        let value: U256 =
            self.runtime.block_on(self.client.request("eth_getStorageAt", json!([address, slot, self.tag()])))?;
        self.slots.lock().expect("state lock").insert((address, index), value);
        Ok(value)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        if let Some(h) = self.hashes.lock().expect("state lock").get(&number) {
            return Ok(*h);
        }
        let block: serde_json::Value = self
            .runtime
            .block_on(self.client.request("eth_getBlockByNumber", json!([format!("{number:#x}"), false])))?;
        let hash: B256 = serde_json::from_value(block["hash"].clone()).map_err(|e| StateError(e.to_string()))?;
        self.hashes.lock().expect("state lock").insert(number, hash);
        Ok(hash)
    }
}

/// An unsigned call to simulate (what `eth_call` takes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallRequest {
    /// The sender (the transaction's origin).
    pub from: Address,
    /// The callee.
    pub to: Address,
    /// Calldata.
    #[serde(default)]
    pub data: Bytes,
    /// Ether sent.
    #[serde(default)]
    pub value: U256,
    /// Gas limit.
    #[serde(default = "default_call_gas", with = "alloy::serde::quantity")]
    pub gas: u64,
}

fn default_call_gas() -> u64 {
    10_000_000
}

/// Simulates pending transactions on one head.
pub struct Simulator {
    state: NodeState,
    head: BlockHeader,
    chain_id: u64,
    traces: bool,
    probes_prefetched: std::sync::atomic::AtomicBool,
}

impl Simulator {
    /// A simulator on `head` (its state in `state`, read at `head.number`); `traces`: trace with the callTracer.
    pub fn new(state: NodeState, head: BlockHeader, chain_id: u64, traces: bool) -> Self {
        Self { state, head, chain_id, traces, probes_prefetched: Default::default() }
    }

    /// The head simulated on.
    pub fn head(&self) -> &BlockHeader {
        &self.head
    }

    /// What the state read so far holds: (accounts, slots).
    pub fn reads(&self) -> (usize, usize) {
        self.state.reads()
    }

    /// The block `tx` would make alone as the next block, with `probes` read after it (see the module
    /// documentation).
    pub fn simulate(&self, tx: &Transaction, probes: &BTreeSet<Probe>) -> Result<Bundle, SimulateError> {
        let tx_env = TxEnv::builder()
            .caller(tx.inner.signer())
            .kind(tx.to().map(TxKind::Call).unwrap_or(TxKind::Create))
            .data(tx.input().clone())
            .value(tx.value())
            .gas_limit(tx.gas_limit())
            .gas_price(tx.max_fee_per_gas())
            .gas_priority_fee(tx.max_priority_fee_per_gas())
            .tx_type(Some(tx.inner.tx_type() as u8))
            .nonce(tx.nonce())
            .chain_id(tx.chain_id())
            .access_list(tx.access_list().cloned().unwrap_or_default())
            .build_fill();
        self.run(*tx.inner.tx_hash(), tx_env, true, &[], probes)
    }

    /// The block an unsigned call (a transaction a sender has not sent yet: `eth_call`'s shape) would make alone
    /// as the next block, on the head's state with storage `overrides` (contract, slot, value) applied first, as
    /// `eth_call`'s state override does; the sender's nonce and balance for fees are not checked. Its hash in
    /// the bundle is a digest of the call (it has no signature). How a node simulates a transaction that asks
    /// for an attestation, with the SecurityGate's simulation slot set.
    pub fn simulate_call(
        &self,
        call: &CallRequest,
        overrides: &[(Address, U256, U256)],
        probes: &BTreeSet<Probe>,
    ) -> Result<Bundle, SimulateError> {
        let hash = keccak256(
            [call.from.as_slice(), call.to.as_slice(), call.data.as_ref(), &call.value.to_be_bytes::<32>()].concat(),
        );
        let tx_env = TxEnv::builder()
            .caller(call.from)
            .kind(TxKind::Call(call.to))
            .data(call.data.clone())
            .value(call.value)
            .gas_limit(call.gas)
            .gas_price(self.head.base_fee_per_gas.unwrap_or_default() as u128)
            .chain_id(Some(self.chain_id))
            .build_fill();
        self.run(hash, tx_env, false, overrides, probes)
    }

    /// Executes `tx_env` (named `hash` in the bundle; its nonce checked when `signed`) as the next block.
    fn run(
        &self,
        hash: B256,
        tx_env: TxEnv,
        signed: bool,
        overrides: &[(Address, U256, U256)],
        probes: &BTreeSet<Probe>,
    ) -> Result<Bundle, SimulateError> {
        let (from, to) = (tx_env.caller, tx_env.kind.to().copied());
        let (input, value, gas_limit, nonce) = (tx_env.data.clone(), tx_env.value, tx_env.gas_limit, tx_env.nonce);
        let number = self.head.number + 1;
        let timestamp = self.head.timestamp;
        let basefee = self.head.base_fee_per_gas.unwrap_or_default();
        let block_env = BlockEnv {
            number: U256::from(number),
            timestamp: U256::from(timestamp),
            gas_limit: self.head.gas_limit,
            basefee,
            beneficiary: self.head.miner,
            difficulty: U256::ZERO,
            prevrandao: Some(B256::ZERO),
            ..Default::default()
        };
        let mut cfg = CfgEnv::new_with_spec(SpecId::PRAGUE);
        cfg.chain_id = self.chain_id;
        // An unsigned call has no nonce to check.
        cfg.disable_nonce_check = !signed;
        let state_error = |source| SimulateError::State { tx: hash, block: self.head.number, source };
        let mut calls = vec![json!({
            "from": from, "to": to, "data": input, "value": value, "gas": format!("{gas_limit:#x}"),
        })];
        if !self.probes_prefetched.swap(true, std::sync::atomic::Ordering::Relaxed) {
            // The probes read the same contracts at every pending transaction of this head: listed once.
            calls.extend(probes.iter().map(|p| json!({ "to": p.to, "data": p.data })));
        }
        self.state.prefetch(&calls).map_err(state_error)?;
        let mut db = CacheDB::new(&self.state);
        for (address, slot, value) in overrides {
            db.insert_account_storage(*address, *slot, *value).map_err(state_error)?;
        }
        let config = TracingInspectorConfig::from_geth_call_config(&CallConfig::default().with_log());
        let mut evm = Context::mainnet()
            .with_db(db)
            .with_cfg(cfg.clone())
            .with_block(block_env.clone())
            .build_mainnet_with_inspector(TracingInspector::new(config));
        let executed = if self.traces { evm.inspect_tx(tx_env) } else { evm.transact(tx_env) };
        let executed = executed.map_err(|e| match e {
            revm::context::result::EVMError::Database(source) => state_error(source),
            other => SimulateError::Invalid { tx: hash, block: self.head.number, reason: other.to_string() },
        })?;
        let gas_used = executed.result.tx_gas_used();
        let trace = self.traces.then(|| {
            let frame = evm.inspector.geth_builder().geth_call_traces(CallConfig::default().with_log(), gas_used);
            TraceResult::Success { result: GethTrace::CallTracer(frame), tx_hash: Some(hash) }
        });
        evm.ctx.journaled_state.database.commit(executed.state);
        let db = evm.ctx.journaled_state.database;

        let block_hash = keccak256([self.head.hash.as_slice(), hash.as_slice()].concat());
        let (status, logs, created) = match executed.result {
            ExecutionResult::Success { logs, output, .. } => (true, logs, output.address().copied()),
            _ => (false, Vec::new(), None),
        };
        let logs = logs
            .into_iter()
            .enumerate()
            .map(|(i, inner)| alloy::rpc::types::Log {
                inner,
                block_hash: Some(block_hash),
                block_number: Some(number),
                block_timestamp: Some(timestamp),
                transaction_hash: Some(hash),
                transaction_index: Some(0),
                log_index: Some(i as u64),
                removed: false,
            })
            .collect();
        let header = BlockHeader {
            number,
            hash: block_hash,
            parent_hash: self.head.hash,
            timestamp,
            miner: self.head.miner,
            gas_limit: self.head.gas_limit,
            gas_used,
            base_fee_per_gas: self.head.base_fee_per_gas,
        };
        let body = Tx { hash, from, to, value, input, nonce, gas: gas_limit };
        let receipt = Receipt {
            transaction_hash: hash,
            block_hash: Some(block_hash),
            from,
            to,
            status,
            contract_address: created,
            gas_used,
            logs,
        };

        // Every probe on the state after the transaction.
        let mut probe_cfg = cfg;
        probe_cfg.disable_nonce_check = true;
        let mut reader = Context::mainnet()
            .with_ref_db(&db)
            .with_cfg(probe_cfg)
            .with_block(BlockEnv { basefee: 0, ..block_env })
            .build_mainnet();
        let mut values = BTreeMap::new();
        for p in probes {
            let call = TxEnv::builder()
                .caller(Address::ZERO)
                .kind(TxKind::Call(p.to))
                .data(p.data.clone())
                .gas_limit(PROBE_GAS)
                .gas_price(0)
                .chain_id(Some(self.chain_id))
                .build_fill();
            let value = match reader.transact(call) {
                Ok(r) => match r.result {
                    ExecutionResult::Success { output, .. } => Ok(output.into_data()),
                    ExecutionResult::Revert { output, .. } => Err(output),
                    ExecutionResult::Halt { .. } => Err(Bytes::new()),
                },
                Err(revm::context::result::EVMError::Database(source)) => return Err(state_error(source)),
                Err(_) => Err(Bytes::new()),
            };
            values.insert(p.clone(), value);
        }
        let mut bundle = Bundle::from_slim(header, vec![body], vec![receipt], values);
        bundle.traces = trace.map(|t| vec![t]);
        Ok(bundle)
    }
}
