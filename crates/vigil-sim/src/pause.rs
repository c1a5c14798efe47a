//! Submitting a quorum-signed pause to the Guardian, as the oracle nodes do.
//!
//! Builds the EIP-712 [`PauseReport`] for a scope at the Guardian's current config version and the scope's
//! current nonce, has `k` oracle
//! keys sign it ([`vigil_core::sign_report`], ordered by signer), and sends `pauseWithQuorum`. The engine's
//! pause responder will take over this job; the proving ground needs it to show that pauses stop attacks.

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use vigil_contracts::Guardian;
use vigil_core::{guardian_domain, sign_report, PauseReport};

use crate::backend::{Backend, ExecError};
use crate::evm::CHAIN_ID;

/// How long a freshly signed report stays valid: the Guardian's default max report lifetime.
pub const REPORT_VALIDITY_SECONDS: u64 = 600;

/// A report for `scope` of `target`, at the Guardian's current config version and the scope's current nonce,
/// valid for [`REPORT_VALIDITY_SECONDS`].
pub fn pause_report<B: Backend>(
    chain: &mut B,
    guardian: Address,
    target: Address,
    scope: u64,
    incident: B256,
    evidence: B256,
    observed_block: u64,
) -> Result<PauseReport, ExecError> {
    Ok(PauseReport {
        target,
        scope: U256::from(scope),
        incidentId: incident,
        evidenceHash: evidence,
        observedBlock: U256::from(observed_block),
        deadline: U256::from(chain.timestamp()? + REPORT_VALIDITY_SECONDS),
        configVersion: chain.read(guardian, Guardian::configVersionCall {})?,
        nonce: chain.read(guardian, Guardian::nonceOfCall { target, scope: U256::from(scope) })?,
    })
}

/// Signs `report` with `signers` and sends `pauseWithQuorum` from `sender`.
pub fn submit_pause<B: Backend>(
    chain: &mut B,
    guardian: Address,
    report: PauseReport,
    signers: &[&PrivateKeySigner],
    sender: Address,
) -> Result<(), ExecError> {
    let domain = guardian_domain(CHAIN_ID, guardian);
    let signatures = sign_report(&report, &domain, signers)
        .map_err(|e| ExecError::Invalid { what: "signing the pause report".into(), reason: e.to_string() })?;
    chain.exec(sender, guardian, Guardian::pauseWithQuorumCall { report: report.into(), signatures })
}

/// Pauses `scope` of `target` with the first `k` of `oracles`, sent by the first oracle.
pub fn pause_scope<B: Backend>(
    chain: &mut B,
    guardian: Address,
    oracles: &[PrivateKeySigner],
    k: usize,
    target: Address,
    scope: u64,
) -> Result<(), ExecError> {
    let incident = alloy::primitives::keccak256(format!("incident {target} {scope}"));
    let report = pause_report(chain, guardian, target, scope, incident, B256::ZERO, 0)?;
    let signers: Vec<&PrivateKeySigner> = oracles.iter().take(k).collect();
    submit_pause(chain, guardian, report, &signers, oracles[0].address())
}
