//! The EIP-712 attestation that the oracle set signs for a screened transaction, as the SecurityGate contract
//! verifies it (contracts/src/guardian/SecurityGate.sol, docs/screening.md).
//!
//! A transaction that makes risky calls to protected contracts (by the gate's rule for each: an amount above a
//! limit, a contract caller, a young caller) needs one attestation listing the execution hash of every such call,
//! in order ([`execution_hash`]), for its origin, with a deadline in blocks and the Guardian's oracle-set
//! version. The struct is declared here field for field as the contract's, so the type hash is the one the
//! contract computes; the domain is `{name: "Vigil SecurityGate", version: "1", chainId, verifyingContract:
//! gate}`. Signatures are ordered by signer address, as for pause reports ([`crate::quorum::sign_ordered`]).

use alloy::{
    dyn_abi::Eip712Domain,
    primitives::{keccak256, Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol,
    sol_types::{eip712_domain, SolStruct, SolValue},
};

use crate::quorum::{sign_ordered, QuorumError};

sol! {
    /// What the oracle nodes sign for a screened transaction (EIP-712): the SecurityGate's
    /// `Attestation(address origin,uint256 deadline,uint256 configVersion,bytes32[] executionHashes)`.
    #[sol(all_derives)]
    #[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Attestation {
        /// The transaction's origin (`tx.origin`): the attestation is good for its transactions only.
        address origin;
        /// The last block number the attestation may land in.
        uint256 deadline;
        /// The Guardian's oracle-set version the signers belong to.
        uint256 configVersion;
        /// The execution hash of every risky call the simulated transaction made, in order.
        bytes32[] executionHashes;
    }

    /// The gate's event for a risky call: `attested` false when it passed unattested in simulation mode.
    event Checkpoint(address indexed target, address indexed caller, bytes32 executionHash, bool attested);
}

/// The gate's `SIMULATION_SLOT`: never written on chain; a node's simulation sets it to 1 (a state override) so
/// that risky calls without an attestation emit `Checkpoint` instead of reverting.
pub fn simulation_slot() -> U256 {
    U256::from_be_bytes(keccak256("vigil.security-gate.simulation").0)
}

/// The storage override that puts the gate at `gate` in simulation mode: (contract, slot, value).
pub fn simulation_override(gate: Address) -> (Address, U256, U256) {
    (gate, simulation_slot(), U256::from(1))
}

/// The execution hashes of the risky calls that passed unattested (in simulation mode) in `logs`, in order:
/// what an attestation for the transaction lists.
pub fn unattested_checkpoints<'a>(
    logs: impl IntoIterator<Item = &'a alloy::primitives::Log>,
    gate: Address,
) -> Vec<B256> {
    use alloy::sol_types::SolEvent;
    logs.into_iter()
        .filter(|l| l.address == gate)
        .filter_map(|l| Checkpoint::decode_log(l).ok())
        .filter(|c| !c.attested)
        .map(|c| c.executionHash)
        .collect()
}

/// EIP-712 domain name of the SecurityGate.
pub const GATE_DOMAIN_NAME: &str = "Vigil SecurityGate";
/// EIP-712 domain version of the SecurityGate.
pub const GATE_DOMAIN_VERSION: &str = "1";

/// The SecurityGate's EIP-712 domain on `chain_id` at address `gate`.
pub fn gate_domain(chain_id: u64, gate: Address) -> Eip712Domain {
    eip712_domain! {
        name: GATE_DOMAIN_NAME,
        version: GATE_DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: gate,
    }
}

/// The execution hash of one risky call: `keccak256(abi.encode(target, caller, keccak256(calldata)))`, as the
/// gate's `executionHash(target, caller, callHash)`.
pub fn execution_hash(target: Address, caller: Address, calldata: &[u8]) -> B256 {
    keccak256((target, caller, keccak256(calldata)).abi_encode())
}

/// Signs `attestation` with each key: 65-byte signatures ordered by signer address, as `saveAttestation` expects.
pub fn sign_attestation(
    attestation: &Attestation,
    domain: &Eip712Domain,
    signers: &[&PrivateKeySigner],
) -> Result<Vec<Bytes>, QuorumError> {
    sign_ordered(attestation.eip712_signing_hash(domain), signers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_the_gates() {
        assert_eq!(
            Attestation::eip712_encode_type(),
            "Attestation(address origin,uint256 deadline,uint256 configVersion,bytes32[] executionHashes)"
        );
    }

    #[test]
    fn the_execution_hash_is_the_abi_encoding_of_target_caller_and_calldata_hash() {
        let (target, caller) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let mut words = [0u8; 96];
        words[12..32].copy_from_slice(target.as_slice());
        words[44..64].copy_from_slice(caller.as_slice());
        words[64..].copy_from_slice(keccak256(b"call").as_slice());
        assert_eq!(execution_hash(target, caller, b"call"), keccak256(words));
    }

    #[test]
    fn signatures_are_ordered_and_bound_to_the_domain() {
        let keys: Vec<PrivateKeySigner> =
            (1u8..=3).map(|i| PrivateKeySigner::from_bytes(&B256::repeat_byte(i)).unwrap()).collect();
        let a = Attestation {
            origin: Address::repeat_byte(9),
            deadline: U256::from(12),
            configVersion: U256::from(1),
            executionHashes: vec![B256::repeat_byte(7)],
        };
        let domain = gate_domain(31337, Address::repeat_byte(5));
        let sigs = sign_attestation(&a, &domain, &keys.iter().collect::<Vec<_>>()).unwrap();
        let digest = a.eip712_signing_hash(&domain);
        let signers: Vec<Address> = sigs
            .iter()
            .map(|s| {
                alloy::signers::Signature::try_from(s.as_ref()).unwrap().recover_address_from_prehash(&digest).unwrap()
            })
            .collect();
        let mut sorted = signers.clone();
        sorted.sort();
        assert_eq!(signers, sorted);
        assert_ne!(digest, a.eip712_signing_hash(&gate_domain(1, Address::repeat_byte(5))));
    }
}
