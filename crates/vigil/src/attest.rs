//! The node's attestation service for attestation-gated entry (the SecurityGate, docs/screening.md).
//!
//! A sender whose transaction makes risky calls to protected contracts asks a node before sending it. The node
//! simulates it on its head's state in the gate's simulation mode (the in-process chain:
//! `vigil_sim::scenario::ScenarioRun::gate_requests`; a live node: `vigil_chain::simulate`), learning the
//! execution hash of every risky call, and judges the simulated block with its detectors ([`Engine::judge`]).
//! No finding at the pause level: it signs an [`Attestation`] for the transaction's origin, valid for the next
//! [`Attester::validity_blocks`] blocks, with every oracle key it holds (one in the oracle network, where the
//! sender gathers k nodes' signatures; k in the single-node mode). Any such finding: it refuses, and the refusal
//! carries the findings. Nothing is stored: a refused transaction that is sent anyway reverts at the gate, and a
//! transaction that lands is processed with its block like any other.

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
};
use serde::Serialize;
use vigil_core::{gate_domain, sign_attestation, Attestation, Bundle, Finding, QuorumError};

use crate::engine::{Engine, EngineError};

/// Blocks an attestation stays valid by default (the gate allows at most 10).
pub const DEFAULT_VALIDITY_BLOCKS: u64 = 3;

/// What the node answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Found safe: the attestation and this node's signatures (ordered by signer).
    Attested {
        /// What was signed.
        attestation: Attestation,
        /// 65-byte signatures.
        signatures: Vec<Bytes>,
    },
    /// Found unsafe: the findings at the pause level the simulation raised.
    Refused {
        /// The findings.
        findings: Vec<Finding>,
    },
    /// Not judged: the simulated block is not the one after the node's head (the head moved; ask again).
    Stale,
}

/// Why a transaction could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The transaction makes no risky call: it needs no attestation.
    #[error("the transaction makes no call the gate screens: it needs no attestation")]
    NothingToAttest,
    /// A detector or the store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A key failed to sign.
    #[error(transparent)]
    Sign(#[from] QuorumError),
}

/// Signs attestations for the SecurityGate at `gate` on `chain_id` with the oracle keys a node holds.
pub struct Attester {
    gate: Address,
    chain_id: u64,
    keys: Vec<PrivateKeySigner>,
    validity_blocks: u64,
}

impl std::fmt::Debug for Attester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let signers: Vec<Address> = self.keys.iter().map(|k| k.address()).collect();
        f.debug_struct("Attester").field("gate", &self.gate).field("signers", &signers).finish()
    }
}

impl Attester {
    /// An attester for the gate at `gate`, signing with `keys`, attestations valid for `validity_blocks` blocks
    /// after the head (1 to 10).
    pub fn new(gate: Address, chain_id: u64, keys: Vec<PrivateKeySigner>, validity_blocks: u64) -> Self {
        Self { gate, chain_id, keys, validity_blocks: validity_blocks.clamp(1, 10) }
    }

    /// The gate it attests for.
    pub fn gate(&self) -> Address {
        self.gate
    }

    /// Blocks an attestation stays valid after the head.
    pub fn validity_blocks(&self) -> u64 {
        self.validity_blocks
    }

    /// Judges the transaction of `origin` whose simulation (the next block, `bundle`) made the risky calls
    /// `execution_hashes`, under the Guardian's oracle-set version `config_version`.
    pub fn judge(
        &self,
        engine: &mut Engine,
        bundle: &Bundle,
        origin: Address,
        execution_hashes: Vec<B256>,
        config_version: U256,
    ) -> Result<Verdict, AttestError> {
        if execution_hashes.is_empty() {
            return Err(AttestError::NothingToAttest);
        }
        let Some(findings) = engine.judge(bundle)? else { return Ok(Verdict::Stale) };
        if !findings.is_empty() {
            tracing::warn!(event = "AttestationRefused", block = bundle.block_ref().number, %origin, findings = findings.len(), first = %findings[0].title, "a transaction asking for an attestation would trigger a pause: refused");
            return Ok(Verdict::Refused { findings });
        }
        // The simulated block is the head's next; the attestation holds for `validity_blocks` blocks from it.
        let deadline = bundle.block_ref().number + self.validity_blocks - 1;
        let attestation = Attestation {
            origin,
            deadline: U256::from(deadline),
            configVersion: config_version,
            executionHashes: execution_hashes,
        };
        let keys: Vec<&PrivateKeySigner> = self.keys.iter().collect();
        let signatures = sign_attestation(&attestation, &gate_domain(self.chain_id, self.gate), &keys)?;
        Ok(Verdict::Attested { attestation, signatures })
    }
}
