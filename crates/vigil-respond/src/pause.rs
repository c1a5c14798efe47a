//! The pause responder: an incident's pause action becomes a signed `pauseWithQuorum` call.
//!
//! The report binds the incident id, the evidence hash, the block the findings were observed at, a deadline (at
//! most the Guardian's max report lifetime away), the Guardian's current config version and the scope's nonce; it is signed under the Guardian's EIP-712 domain by the node's quorum
//! keys (a demo node holds k keys; a production node holds one and gathers the others' signatures). Keys are never
//! printed: `Debug` shows addresses only.

use std::fmt;

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use vigil_contracts::Guardian;
use vigil_core::{guardian_domain, sign_report, PauseReport, QuorumError, Scope};

/// Signs and builds pause calls.
pub struct PauseResponder {
    guardian: Address,
    chain_id: u64,
    keys: Vec<PrivateKeySigner>,
    sender: Address,
    validity_seconds: u64,
}

impl fmt::Debug for PauseResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PauseResponder")
            .field("guardian", &self.guardian)
            .field("chain_id", &self.chain_id)
            .field("signers", &self.keys.iter().map(|k| k.address()).collect::<Vec<_>>())
            .field("sender", &self.sender)
            .finish()
    }
}

impl PauseResponder {
    /// A responder for `guardian` on `chain_id`, signing with `keys`; the transaction is sent by the first key's
    /// address.
    pub fn new(guardian: Address, chain_id: u64, keys: Vec<PrivateKeySigner>, validity_seconds: u64) -> Self {
        let sender = keys.first().map(|k| k.address()).unwrap_or_default();
        Self { guardian, chain_id, keys, sender, validity_seconds }
    }

    /// The Guardian.
    pub fn guardian(&self) -> Address {
        self.guardian
    }

    /// Who sends the pause transaction.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// The signed `pauseWithQuorum` calldata for `scope`, at the Guardian's `config_version` and the scope's
    /// `nonce` as read at the block decided on.
    #[allow(clippy::too_many_arguments)]
    pub fn pause_call(
        &self,
        scope: Scope,
        incident: B256,
        evidence_hash: B256,
        observed_block: u64,
        now: u64,
        config_version: U256,
        nonce: U256,
    ) -> Result<Bytes, QuorumError> {
        let report = PauseReport {
            target: scope.target,
            scope: scope.id,
            incidentId: incident,
            evidenceHash: evidence_hash,
            observedBlock: U256::from(observed_block),
            deadline: U256::from(now + self.validity_seconds),
            configVersion: config_version,
            nonce,
        };
        let keys: Vec<&PrivateKeySigner> = self.keys.iter().collect();
        let signatures = sign_report(&report, &guardian_domain(self.chain_id, self.guardian), &keys)?;
        Ok(Guardian::pauseWithQuorumCall { report: report.into(), signatures }.abi_encode().into())
    }
}
