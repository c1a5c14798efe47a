//! Attestation-gated entry on the in-process chain: how a user learns that a transaction needs an attestation
//! of the oracle set, and how it sends one (contracts/src/guardian/SecurityGate.sol, docs/screening.md).
//!
//! A node simulates a transaction with the gate's simulation slot set ([`simulation_override`]); each risky call
//! then emits `Checkpoint(target, caller, executionHash, false)` instead of reverting, and those hashes, in order,
//! are what an attestation lists ([`unattested_checkpoints`]). An account sends its call with the attestation
//! through the protected contract's `attestedCall`, or its own contract's (`AttestedCaller`) ([`attested_call`]).

use alloy::{
    primitives::{Address, Bytes, B256},
    rpc::types::TransactionReceipt,
    sol_types::SolValue,
};
use vigil_contracts::{AttestedCaller, GuardianProtected};

use crate::chain::TxRequest;

/// The execution hashes of the risky calls in `receipt` that carried no attestation, in order.
pub fn unattested_checkpoints(receipt: &TransactionReceipt, gate: Address) -> Vec<B256> {
    vigil_core::attestation::unattested_checkpoints(receipt.inner.logs().iter().map(|l| &l.inner), gate)
}

pub use vigil_core::attestation::simulation_override;

/// `tx` carrying `attestation` and its `signatures`: the same call, by the same caller, through its callee's
/// `attestedCall`: a protected contract's (`GuardianProtected`) when `tx` calls one (`protected`), else that of an
/// `AttestedCaller` (the sender's own contract), told the gate at `gate`. `None` for a contract creation.
pub fn attested_call(
    tx: &TxRequest,
    attestation: &vigil_core::Attestation,
    signatures: Vec<Bytes>,
    gate: Address,
    protected: bool,
) -> Option<TxRequest> {
    let to = tx.to?;
    let (attestation, data) = (attestation.abi_encode().into(), tx.data.clone());
    let mut wrapped = if protected {
        let call = GuardianProtected::attestedCallCall { attestation, signatures, data };
        TxRequest::call(tx.from, to, call, tx.label.what.clone(), tx.label.malicious)
    } else {
        let call = AttestedCaller::attestedCallCall { gate, attestation, signatures, data };
        TxRequest::call(tx.from, to, call, tx.label.what.clone(), tx.label.malicious)
    };
    wrapped.value = tx.value;
    wrapped.priority_fee = tx.priority_fee;
    Some(wrapped)
}
