//! Where venue contracts run: the [`Backend`] trait over an in-process EVM or a real node.
//!
//! The venue's deployment and the attack scripts are written once against [`Backend`], so the same sequence of
//! transactions runs on revm ([`crate::InProcessEvm`]) and on a node over JSON-RPC ([`crate::NodeBackend`],
//! used with anvil in tests). Senders are plain addresses; each backend knows how to sign for its actors.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::{SolCall, SolError, SolInterface};

/// A failed transaction or call, on any backend.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The contract reverted; `data` is the revert payload (custom error or `Error(string)`).
    #[error("{what} reverted: {}", describe_revert(data))]
    Reverted {
        /// What was being executed, for the message.
        what: String,
        /// Raw revert data.
        data: Bytes,
    },
    /// Execution halted (out of gas, invalid opcode, …).
    #[error("{what} halted: {reason}")]
    Halted {
        /// What was being executed.
        what: String,
        /// The halt reason.
        reason: String,
    },
    /// The transaction was invalid before execution (nonce, balance, gas).
    #[error("{what} was rejected: {reason}")]
    Invalid {
        /// What was being executed.
        what: String,
        /// The EVM's or node's error.
        reason: String,
    },
    /// A call returned data that does not decode as the expected type.
    #[error("{what} returned data that does not decode: {reason}")]
    Decode {
        /// What was being executed.
        what: String,
        /// The decoder's error.
        reason: String,
    },
    /// The node could not be reached or answered with an error that is not a revert.
    #[error("{what} failed at the node: {reason}")]
    Rpc {
        /// What was being executed.
        what: String,
        /// The transport's or node's error.
        reason: String,
    },
}

impl ExecError {
    /// The revert data, if this is a revert.
    pub fn revert_data(&self) -> Option<&Bytes> {
        match self {
            ExecError::Reverted { data, .. } => Some(data),
            _ => None,
        }
    }

    /// Decodes the revert data as the custom error `E`, if it is one.
    pub fn decode<E: SolError>(&self) -> Option<E> {
        self.revert_data().and_then(|d| E::abi_decode(d).ok())
    }

    /// Decodes the revert data as one of a contract's errors (`Guardian::GuardianErrors`, …).
    pub fn decode_any<E: SolInterface>(&self) -> Option<E> {
        self.revert_data().and_then(|d| E::abi_decode(d).ok())
    }
}

/// `Error(string)` reverts as their message, custom errors of Vigil's contracts by name and arguments, anything
/// else as a hex selector and length.
fn describe_revert(data: &Bytes) -> String {
    if let Ok(e) = alloy::sol_types::Revert::abi_decode(data) {
        return format!("\"{}\"", e.reason);
    }
    if let Some(described) = vigil_contracts::describe_error(data) {
        return described;
    }
    if data.len() >= 4 {
        return format!("custom error 0x{} ({} bytes)", alloy::hex::encode(&data[..4]), data.len());
    }
    "no revert data".to_string()
}

/// A short name for a call, for error messages: the selector and the target.
pub(crate) fn call_name(data: &Bytes, to: Address) -> String {
    if data.len() >= 4 {
        format!("call 0x{} to {to}", alloy::hex::encode(&data[..4]))
    } else {
        format!("transfer to {to}")
    }
}

/// Reads a chain's state at its latest block.
pub trait Reader {
    /// A read-only call at the latest block.
    fn call(&mut self, to: Address, data: Bytes) -> Result<Bytes, ExecError>;
    /// Timestamp of the latest block.
    fn timestamp(&mut self) -> Result<u64, ExecError>;
    /// An account's nonce at the latest block.
    fn nonce(&mut self, who: Address) -> Result<u64, ExecError>;

    /// A typed read-only call.
    fn read<C: SolCall>(&mut self, to: Address, call: C) -> Result<C::Return, ExecError>
    where
        Self: Sized,
    {
        decode_return::<C>(&self.call(to, call.abi_encode().into())?)
    }
}

/// Decodes a call's return data as `C`'s return type.
pub fn decode_return<C: SolCall>(out: &[u8]) -> Result<C::Return, ExecError> {
    C::abi_decode_returns(out).map_err(|e| ExecError::Decode { what: C::SIGNATURE.into(), reason: e.to_string() })
}

/// A chain that executes the venue's transactions one at a time, each included before the call returns.
pub trait Backend: Reader {
    /// Deploys `initcode` (creation code followed by ABI-encoded constructor arguments) from `from`.
    fn deploy(&mut self, from: Address, initcode: Bytes) -> Result<Address, ExecError>;
    /// Sends a transaction and waits until it is part of the chain; a revert is an error.
    fn send(&mut self, from: Address, to: Address, data: Bytes, value: U256) -> Result<(), ExecError>;
    /// Mines `blocks` empty blocks, `seconds_per_block` apart.
    fn advance(&mut self, blocks: u64, seconds_per_block: u64) -> Result<(), ExecError>;
    /// Sets an account's ether balance (test chains only).
    fn set_balance(&mut self, who: Address, wei: U256) -> Result<(), ExecError>;

    /// Sends a typed call.
    fn exec<C: SolCall>(&mut self, from: Address, to: Address, call: C) -> Result<(), ExecError>
    where
        Self: Sized,
    {
        self.send(from, to, call.abi_encode().into(), U256::ZERO)
    }

    /// Sends a typed call with ether.
    fn exec_with_value<C: SolCall>(&mut self, from: Address, to: Address, call: C, value: U256) -> Result<(), ExecError>
    where
        Self: Sized,
    {
        self.send(from, to, call.abi_encode().into(), value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::SolError;
    use vigil_contracts::Guardian;

    #[test]
    fn reverts_are_described_by_name() {
        let data: Bytes = Guardian::NotGovernance { caller: Address::repeat_byte(1) }.abi_encode().into();
        let e = ExecError::Reverted { what: "unpause".into(), data };
        let msg = e.to_string();
        assert!(msg.starts_with("unpause reverted: NotGovernance"), "{msg}");
        assert!(e.decode::<Guardian::NotGovernance>().is_some());

        let plain: Bytes = alloy::sol_types::Revert::from("not controller").abi_encode().into();
        let msg = ExecError::Reverted { what: "run".into(), data: plain }.to_string();
        assert_eq!(msg, "run reverted: \"not controller\"");

        let unknown = ExecError::Reverted { what: "x".into(), data: Bytes::from(vec![1, 2, 3, 4, 5]) }.to_string();
        assert_eq!(unknown, "x reverted: custom error 0x01020304 (5 bytes)");
    }
}
