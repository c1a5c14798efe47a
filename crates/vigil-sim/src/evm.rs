//! The in-process EVM: revm over an in-memory state, advanced block by block.
//!
//! [`InProcessEvm`] executes transactions for known senders with real nonces (so contract addresses are the
//! same as on a node given the same senders and order), commits their state, and answers read-only calls.
//! Block number and timestamp are set by [`InProcessEvm::mine`]. Gas is metered but costs nothing (base fee and
//! gas price 0), so actors need no ether for fees. Reverts come back as [`ExecError::Reverted`] with the raw
//! revert data, which [`ExecError::decode`] turns into a contract's custom error.

use alloy::primitives::{Address, Bytes, Log, TxKind, U256};
use alloy::sol_types::SolCall;

use crate::backend::{call_name, Backend, ExecError, Reader};
use revm::{
    context::{result::ExecutionResult, BlockEnv, CfgEnv, TxEnv},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::AccountInfo,
    Context, DatabaseRef, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetEvm,
};

/// Chain id of the in-process chain: the same as anvil's default, so that addresses, signatures and EIP-712
/// domains agree between the two.
pub const CHAIN_ID: u64 = 31337;
/// Gas limit given to every transaction.
pub const TX_GAS_LIMIT: u64 = 16_000_000;
/// Timestamp of the genesis block (2026-01-01T00:00:00Z).
pub const GENESIS_TIMESTAMP: u64 = 1_767_225_600;

type Db = CacheDB<EmptyDB>;
type Evm = MainnetEvm<revm::handler::MainnetContext<Db>>;

/// The transaction of an `eth_call`: from the zero address, at no gas price.
pub(crate) fn read_only_tx(to: Address, data: Bytes, nonce: u64) -> TxEnv {
    TxEnv::builder()
        .caller(Address::ZERO)
        .kind(TxKind::Call(to))
        .data(data)
        .gas_limit(TX_GAS_LIMIT)
        .gas_price(0)
        .nonce(nonce)
        .chain_id(Some(CHAIN_ID))
        .build_fill()
}

/// A read-only call's return data, or its revert or halt as an error naming `what`.
pub(crate) fn call_result(what: String, result: ExecutionResult) -> Result<Bytes, ExecError> {
    match result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => Err(ExecError::Reverted { what, data: output }),
        ExecutionResult::Halt { reason, .. } => Err(ExecError::Halted { what, reason: format!("{reason:?}") }),
    }
}

/// What a committed transaction produced.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    /// Return data (for a CREATE, the runtime code is not returned: see `created`).
    pub output: Bytes,
    /// The address a CREATE made.
    pub created: Option<Address>,
    /// Logs emitted.
    pub logs: Vec<Log>,
    /// Gas used.
    pub gas_used: u64,
}

/// An EVM with in-memory state at a current block.
pub struct InProcessEvm {
    evm: Evm,
}

impl Default for InProcessEvm {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessEvm {
    /// An empty state at block 1, at [`GENESIS_TIMESTAMP`].
    pub fn new() -> Self {
        let mut cfg = CfgEnv::new_with_spec(SpecId::PRAGUE);
        cfg.chain_id = CHAIN_ID;
        let block = BlockEnv {
            number: U256::from(1),
            timestamp: U256::from(GENESIS_TIMESTAMP),
            gas_limit: 60_000_000,
            basefee: 0,
            ..Default::default()
        };
        let evm = Context::mainnet().with_db(Db::default()).with_cfg(cfg).with_block(block).build_mainnet();
        Self { evm }
    }

    /// The state, the current block number and timestamp: the genesis of a [`crate::chain::SimChain`].
    pub fn into_parts(self) -> (CacheDB<EmptyDB>, u64, u64) {
        let (number, timestamp) = (self.block_number(), self.timestamp());
        (self.evm.ctx.journaled_state.database, number, timestamp)
    }

    /// Current block number.
    pub fn block_number(&self) -> u64 {
        self.evm.block.number.saturating_to()
    }

    /// Current block timestamp.
    pub fn timestamp(&self) -> u64 {
        self.evm.block.timestamp.saturating_to()
    }

    /// Moves to the next block, `seconds` later.
    pub fn mine(&mut self, seconds: u64) {
        self.evm.block.number += U256::from(1);
        self.evm.block.timestamp += U256::from(seconds);
    }

    /// Mines `blocks` blocks, `seconds` apart.
    pub fn mine_blocks(&mut self, blocks: u64, seconds: u64) {
        for _ in 0..blocks {
            self.mine(seconds);
        }
    }

    /// Sets an account's ether balance.
    pub fn set_balance(&mut self, who: Address, wei: U256) {
        let db = &mut self.evm.journaled_state.database;
        let mut info = db.basic_ref(who).ok().flatten().unwrap_or_default();
        info.balance = wei;
        db.insert_account_info(who, AccountInfo { ..info });
    }

    /// An account's ether balance.
    pub fn balance(&self, who: Address) -> U256 {
        self.evm.journaled_state.database.basic_ref(who).ok().flatten().map(|a| a.balance).unwrap_or_default()
    }

    /// An account's nonce.
    pub fn nonce(&self, who: Address) -> u64 {
        self.evm.journaled_state.database.basic_ref(who).ok().flatten().map(|a| a.nonce).unwrap_or_default()
    }

    /// Deploys `initcode` (creation bytecode followed by ABI-encoded constructor arguments) from `from`.
    pub fn deploy(&mut self, from: Address, initcode: Bytes) -> Result<Address, ExecError> {
        let outcome = self.execute(from, TxKind::Create, initcode, U256::ZERO, "contract creation")?;
        outcome
            .created
            .ok_or_else(|| ExecError::Invalid { what: "contract creation".into(), reason: "no address created".into() })
    }

    /// Sends a transaction from `from` to `to` and commits it.
    pub fn send(&mut self, from: Address, to: Address, data: Bytes, value: U256) -> Result<TxOutcome, ExecError> {
        let what = call_name(&data, to);
        self.execute(from, TxKind::Call(to), data, value, &what)
    }

    /// Sends a typed call and decodes its return value.
    pub fn send_call<C: SolCall>(&mut self, from: Address, to: Address, call: C) -> Result<C::Return, ExecError> {
        let outcome = self.execute(from, TxKind::Call(to), call.abi_encode().into(), U256::ZERO, C::SIGNATURE)?;
        C::abi_decode_returns(&outcome.output)
            .map_err(|e| ExecError::Decode { what: C::SIGNATURE.to_string(), reason: e.to_string() })
    }

    /// A read-only typed call at the current block; nothing is committed.
    pub fn view<C: SolCall>(&mut self, to: Address, call: C) -> Result<C::Return, ExecError> {
        self.read(to, call)
    }

    /// A read-only call at the current block; nothing is committed.
    pub fn call_raw(&mut self, to: Address, data: Bytes) -> Result<Bytes, ExecError> {
        let what = call_name(&data, to);
        let tx = read_only_tx(to, data, InProcessEvm::nonce(self, Address::ZERO));
        let result =
            self.evm.transact(tx).map_err(|e| ExecError::Invalid { what: what.clone(), reason: e.to_string() })?.result;
        call_result(what, result)
    }

    fn execute(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
        what: &str,
    ) -> Result<TxOutcome, ExecError> {
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .value(value)
            .gas_limit(TX_GAS_LIMIT)
            .gas_price(0)
            .nonce(InProcessEvm::nonce(self, from))
            .chain_id(Some(CHAIN_ID))
            .build_fill();
        let result = self
            .evm
            .transact_commit(tx)
            .map_err(|e| ExecError::Invalid { what: what.to_string(), reason: e.to_string() })?;
        match result {
            ExecutionResult::Success { output, logs, gas, .. } => Ok(TxOutcome {
                created: output.address().copied(),
                output: output.into_data(),
                logs,
                gas_used: gas.tx_gas_used(),
            }),
            ExecutionResult::Revert { output, .. } => Err(ExecError::Reverted { what: what.to_string(), data: output }),
            ExecutionResult::Halt { reason, .. } => {
                Err(ExecError::Halted { what: what.to_string(), reason: format!("{reason:?}") })
            }
        }
    }
}

impl Reader for InProcessEvm {
    fn call(&mut self, to: Address, data: Bytes) -> Result<Bytes, ExecError> {
        self.call_raw(to, data)
    }

    fn timestamp(&mut self) -> Result<u64, ExecError> {
        Ok(InProcessEvm::timestamp(self))
    }

    fn nonce(&mut self, who: Address) -> Result<u64, ExecError> {
        Ok(InProcessEvm::nonce(self, who))
    }
}

impl Backend for InProcessEvm {
    fn deploy(&mut self, from: Address, initcode: Bytes) -> Result<Address, ExecError> {
        InProcessEvm::deploy(self, from, initcode)
    }

    fn send(&mut self, from: Address, to: Address, data: Bytes, value: U256) -> Result<(), ExecError> {
        InProcessEvm::send(self, from, to, data, value).map(|_| ())
    }

    fn advance(&mut self, blocks: u64, seconds_per_block: u64) -> Result<(), ExecError> {
        self.mine_blocks(blocks, seconds_per_block);
        Ok(())
    }

    fn set_balance(&mut self, who: Address, wei: U256) -> Result<(), ExecError> {
        InProcessEvm::set_balance(self, who, wei);
        Ok(())
    }
}
