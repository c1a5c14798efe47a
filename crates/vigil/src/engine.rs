//! The engine: bundles → detectors → findings → incidents → actions, one block at a time.
//!
//! [`Engine::process`] takes a canonical block's bundle (with the values of every probe the detectors and the
//! engine declared, read at that block), runs every detector, groups the findings into incidents, and returns the
//! pause transactions that are newly due (each incident pauses its scope at most once). It also follows earlier
//! pause transactions to inclusion: a `Paused` event of the Guardian for the scope records the pause as landed;
//! a reverted pause transaction records it as failed. [`Engine::revert_to`] unwinds detectors and retracts the
//! findings of orphaned blocks.

use std::collections::BTreeSet;
use std::time::Instant;

use alloy::{
    primitives::{Address, Bytes, U256},
    sol_types::{SolCall, SolEvent},
};
use serde::Serialize;
use vigil_contracts::Guardian;
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, Probe, Scope};
use vigil_respond::{Action, ActionKind, IncidentBook, PauseResponder, Policy};

/// A transaction the engine wants sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The action it carries out.
    pub action: Action,
    /// Sender.
    pub from: Address,
    /// Callee (the Guardian).
    pub to: Address,
    /// Calldata (`pauseWithQuorum`).
    pub data: Bytes,
}

/// Where a pause stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum PauseOutcome {
    /// Built and handed to the sender.
    Submitted {
        /// Block whose findings led to it.
        after_block: u64,
    },
    /// The Guardian accepted it.
    Landed {
        /// Block that included it.
        block: u64,
    },
    /// The transaction reverted.
    Failed {
        /// Block that included it.
        block: u64,
    },
}

/// A pause and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct PauseRecord {
    /// The scope.
    pub scope: Scope,
    /// The action.
    pub action: Action,
    /// Where it stands.
    pub outcome: PauseOutcome,
}

/// Errors while processing a block.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A detector failed; the block must be retried, not skipped.
    #[error(transparent)]
    Detector(#[from] DetectorError),
    /// The pause report could not be signed.
    #[error("pause of {scope} after block #{block} could not be signed: {reason}")]
    Sign {
        /// The scope.
        scope: Scope,
        /// The block.
        block: u64,
        /// The signer's error.
        reason: String,
    },
    /// The Guardian's config version probe is missing.
    #[error("block #{0}: the Guardian's config version could not be read")]
    NoConfigVersion(u64),
}

/// What one block produced.
#[derive(Debug, Default)]
pub struct BlockOutcome {
    /// Findings of this block.
    pub findings: Vec<Finding>,
    /// Actions newly due.
    pub actions: Vec<Action>,
    /// Pause transactions to send.
    pub outgoing: Vec<Outgoing>,
    /// Microseconds from the call to the last pause transaction being built (0 without one).
    pub latency_to_pause_micros: Option<u128>,
}

/// The engine.
pub struct Engine {
    detectors: Vec<Box<dyn Detector>>,
    probes: BTreeSet<Probe>,
    incidents: IncidentBook,
    responder: Option<PauseResponder>,
    pauses: Vec<PauseRecord>,
    findings: Vec<Finding>,
    last: Option<BlockRef>,
}

impl Engine {
    /// An engine; without a responder it detects and records but takes no on-chain action.
    pub fn new(detectors: Vec<Box<dyn Detector>>, policy: Policy, responder: Option<PauseResponder>) -> Self {
        let mut probes: BTreeSet<Probe> = detectors.iter().flat_map(|d| d.probes()).collect();
        if let Some(r) = &responder {
            probes.insert(config_version_probe(r.guardian()));
        }
        Self {
            detectors,
            probes,
            incidents: IncidentBook::new(policy),
            responder,
            pauses: Vec::new(),
            findings: Vec::new(),
            last: None,
        }
    }

    /// Every probe to read at each block (deduplicated across detectors).
    pub fn probes(&self) -> &BTreeSet<Probe> {
        &self.probes
    }

    /// The last block processed.
    pub fn last_block(&self) -> Option<BlockRef> {
        self.last
    }

    /// Every finding so far.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Every pause so far.
    pub fn pauses(&self) -> &[PauseRecord] {
        &self.pauses
    }

    /// The incidents.
    pub fn incidents(&self) -> &IncidentBook {
        &self.incidents
    }

    /// Processes one canonical block.
    pub fn process(&mut self, bundle: &Bundle) -> Result<BlockOutcome, EngineError> {
        let started = Instant::now();
        let block = bundle.block_ref();
        self.follow_pauses(bundle);

        let mut findings = Vec::new();
        for d in &mut self.detectors {
            findings.extend(d.on_block(bundle)?);
        }
        let actions = self.incidents.ingest(findings.clone());
        let mut outgoing = Vec::new();
        let mut latency = None;
        for action in &actions {
            let ActionKind::Pause { scope } = action.kind else { continue };
            let Some(responder) = &self.responder else { continue };
            let version = bundle
                .probe(&config_version_probe(responder.guardian()))
                .and_then(|b| Guardian::configVersionCall::abi_decode_returns(b).ok())
                .ok_or(EngineError::NoConfigVersion(block.number))?;
            let data = responder
                .pause_call(scope, action.incident, action.evidence_hash, block.number, bundle.timestamp(), version)
                .map_err(|e| EngineError::Sign { scope, block: block.number, reason: e.to_string() })?;
            outgoing.push(Outgoing {
                action: action.clone(),
                from: responder.sender(),
                to: responder.guardian(),
                data,
            });
            self.pauses.push(PauseRecord {
                scope,
                action: action.clone(),
                outcome: PauseOutcome::Submitted { after_block: block.number },
            });
            latency = Some(started.elapsed().as_micros());
        }
        self.findings.extend(findings.iter().cloned());
        self.last = Some(block);
        Ok(BlockOutcome { findings, actions, outgoing, latency_to_pause_micros: latency })
    }

    /// Unwinds to `ancestor`: detectors forget orphaned blocks; their findings are marked retracted.
    pub fn revert_to(&mut self, ancestor: BlockRef) {
        for d in &mut self.detectors {
            d.revert_to(ancestor);
        }
        self.incidents.retract_after(ancestor);
        self.last = Some(ancestor);
    }

    /// Records pauses that this block included, and pause transactions of ours that reverted.
    fn follow_pauses(&mut self, bundle: &Bundle) {
        let Some(responder) = &self.responder else { return };
        let (guardian, sender) = (responder.guardian(), responder.sender());
        let number = bundle.block_ref().number;
        for receipt in &bundle.receipts {
            if receipt.from != sender || receipt.to != Some(guardian) {
                continue;
            }
            if !receipt.status() {
                if let Some(p) = self.pauses.iter_mut().find(|p| matches!(p.outcome, PauseOutcome::Submitted { .. })) {
                    p.outcome = PauseOutcome::Failed { block: number };
                }
                continue;
            }
            for log in receipt.inner.logs() {
                let Ok(paused) = Guardian::Paused::decode_log(&log.inner) else { continue };
                let scope = Scope { target: paused.target, id: paused.scope };
                if let Some(p) = self
                    .pauses
                    .iter_mut()
                    .find(|p| p.scope == scope && matches!(p.outcome, PauseOutcome::Submitted { .. }))
                {
                    p.outcome = PauseOutcome::Landed { block: number };
                }
            }
        }
    }
}

/// The probe of the Guardian's config version (pause reports must carry it).
pub fn config_version_probe(guardian: Address) -> Probe {
    Probe { to: guardian, data: Guardian::configVersionCall {}.abi_encode().into() }
}

/// The version as a number, for callers that read it themselves.
pub fn decode_config_version(data: &[u8]) -> Option<U256> {
    Guardian::configVersionCall::abi_decode_returns(data).ok()
}
