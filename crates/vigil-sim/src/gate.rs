//! Attestation-gated entry on the in-process chain: how a user learns that a transaction needs an attestation
//! of the oracle set, and how it sends one (contracts/src/guardian/SecurityGate.sol, docs/screening.md).
//!
//! A node simulates a transaction with the gate's simulation slot set ([`simulation_override`]); each risky call
//! then emits `Checkpoint(target, caller, executionHash, false)` instead of reverting, and those hashes, in order,
//! are what an attestation lists ([`unattested_checkpoints`]). An account sends its call with the attestation
//! through the protected contract's `attestedCall` ([`attested_call`]).

use alloy::{
    primitives::{keccak256, Address, Bytes, B256, U256},
    rpc::types::TransactionReceipt,
    sol_types::{SolEvent, SolValue},
};
use vigil_contracts::{GuardianProtected, SecurityGate};

use crate::chain::TxRequest;

/// The gate's simulation slot (`SIMULATION_SLOT`): never written on chain.
pub fn simulation_slot() -> U256 {
    U256::from_be_bytes(keccak256("vigil.security-gate.simulation").0)
}

/// The storage override that puts the gate at `gate` in simulation mode.
pub fn simulation_override(gate: Address) -> (Address, U256, U256) {
    (gate, simulation_slot(), U256::from(1))
}

/// The execution hashes of the risky calls in `receipt` that carried no attestation, in order.
pub fn unattested_checkpoints(receipt: &TransactionReceipt, gate: Address) -> Vec<B256> {
    receipt
        .inner
        .logs()
        .iter()
        .filter(|l| l.address() == gate)
        .filter_map(|l| SecurityGate::Checkpoint::decode_log(&l.inner).ok())
        .filter(|c| !c.attested)
        .map(|c| c.executionHash)
        .collect()
}

/// `tx` sent through its callee's `attestedCall`, carrying `attestation` and its `signatures`: the same call, by
/// the same caller. `None` for a contract creation (nothing to call through).
pub fn attested_call(
    tx: &TxRequest,
    attestation: &vigil_core::Attestation,
    signatures: Vec<Bytes>,
) -> Option<TxRequest> {
    let to = tx.to?;
    let call = GuardianProtected::attestedCallCall {
        attestation: attestation.abi_encode().into(),
        signatures,
        data: tx.data.clone(),
    };
    let mut wrapped = TxRequest::call(tx.from, to, call, tx.label.what.clone(), tx.label.malicious);
    wrapped.value = tx.value;
    wrapped.priority_fee = tx.priority_fee;
    Some(wrapped)
}
