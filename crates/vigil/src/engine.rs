//! The engine: bundles → detectors → findings → incidents → actions, one block at a time.
//!
//! [`Engine::process`] takes a canonical block's bundle (with the values of every probe the detectors and the
//! engine declared, read at that block), runs every detector, groups the findings into incidents, and returns the
//! pause transactions that are newly due (each incident pauses its scope at most once). It also follows earlier
//! pause transactions to inclusion: a `Paused` event of the Guardian for the scope records the pause as landed;
//! a reverted pause transaction records it as failed. [`Engine::revert_to`] unwinds detectors and retracts the
//! findings of orphaned blocks. With a [`StageCorrelator`], each block's findings also go through it, and its
//! combined findings (one actor seen in several attack stages) join the block's findings.

use std::collections::BTreeSet;

use alloy::{
    primitives::{Address, Bytes},
    sol_types::{SolCall, SolEvent},
};
use serde::Serialize;
use vigil_contracts::Guardian;
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, Probe, Scope, Store, StoreError};
use vigil_detect::correlation::StageCorrelator;
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
    /// The signed `pauseWithQuorum` calldata.
    #[serde(skip)]
    pub calldata: Bytes,
}

/// Errors while processing a block.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed; the block is not committed and must be processed again.
    #[error(transparent)]
    Store(#[from] StoreError),
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
    /// The Guardian's pause nonces probe is missing.
    #[error("block #{0}: the Guardian's pause nonces could not be read")]
    NoPauseNonces(u64),
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
}

/// The engine.
pub struct Engine {
    detectors: Vec<Box<dyn Detector>>,
    correlator: Option<StageCorrelator>,
    probes: BTreeSet<Probe>,
    incidents: IncidentBook,
    responder: Option<PauseResponder>,
    pauses: Vec<PauseRecord>,
    findings: Vec<Finding>,
    last: Option<BlockRef>,
    store: Option<Box<dyn Store>>,
}

impl Engine {
    /// An engine; without a responder it detects and records but takes no on-chain action.
    pub fn new(detectors: Vec<Box<dyn Detector>>, policy: Policy, responder: Option<PauseResponder>) -> Self {
        let mut probes: BTreeSet<Probe> = detectors.iter().flat_map(|d| d.probes()).collect();
        if let Some(r) = &responder {
            probes.insert(config_version_probe(r.guardian()));
            probes.insert(pause_nonces_probe(r.guardian()));
        }
        Self {
            detectors,
            correlator: None,
            probes,
            incidents: IncidentBook::new(policy),
            responder,
            pauses: Vec::new(),
            findings: Vec::new(),
            last: None,
            store: None,
        }
    }

    /// An engine that commits every block's results to `store`, resuming from what it holds: the cursor, the
    /// incidents, and the actions taken (an incident never takes an action twice, also across restarts). Pauses
    /// recorded but not seen landing are returned by [`Engine::unconfirmed_pauses`]. Detectors start empty: feed
    /// them the blocks before the cursor with [`Engine::warm_up`].
    pub fn resume(
        detectors: Vec<Box<dyn Detector>>,
        policy: Policy,
        responder: Option<PauseResponder>,
        store: impl Store + 'static,
    ) -> Result<Self, EngineError> {
        let mut engine = Self::new(detectors, policy, responder);
        for (id, protocol, scope, opened_at) in store.incidents()? {
            engine.incidents.restore(id, protocol, scope, opened_at);
        }
        for a in store.actions()? {
            engine.incidents.mark_taken(a.incident, a.kind);
            if let ActionKind::Pause { scope } = a.kind {
                let action = Action {
                    incident: a.incident,
                    kind: a.kind,
                    block: BlockRef { number: a.block, hash: Default::default() },
                    evidence_hash: Default::default(),
                };
                let outcome = match (a.state.as_str(), a.state_block) {
                    ("landed", Some(block)) => PauseOutcome::Landed { block },
                    ("failed", Some(block)) => PauseOutcome::Failed { block },
                    _ => PauseOutcome::Submitted { after_block: a.block },
                };
                engine.pauses.push(PauseRecord { scope, action, outcome, calldata: a.calldata.unwrap_or_default() });
            }
        }
        engine.last = store.cursor()?;
        engine.store = Some(Box::new(store));
        Ok(engine)
    }

    /// Combines the detectors' findings by actor across attack stages (the `[correlation]` section).
    pub fn with_correlator(mut self, correlator: Option<StageCorrelator>) -> Self {
        self.correlator = correlator;
        self
    }

    /// Runs the detectors on a block already processed before a restart, to rebuild their windows; nothing is
    /// recorded and no action is taken. A detector that fails on such a block (for example, one before its
    /// contract existed) is left out of that block only; the failures are returned for the caller to log.
    pub fn warm_up(&mut self, bundle: &Bundle) -> Vec<DetectorError> {
        let mut errors = Vec::new();
        let mut findings = Vec::new();
        for d in &mut self.detectors {
            match d.on_block(bundle) {
                Ok(f) => findings.extend(f),
                Err(e) => errors.push(e),
            }
        }
        if let Some(c) = &mut self.correlator {
            c.on_findings(bundle.block_ref(), &findings);
        }
        errors
    }

    /// Pauses decided and recorded but not yet seen landing or failing: after a restart, the caller checks the
    /// Guardian and sends those that did not land again (the same signed report).
    pub fn unconfirmed_pauses(&self) -> Vec<&PauseRecord> {
        self.pauses.iter().filter(|p| matches!(p.outcome, PauseOutcome::Submitted { .. })).collect()
    }

    /// Records that a pause found on chain at `block` (after a restart) has landed.
    pub fn confirm_pause(&mut self, scope: Scope, block: u64) -> Result<(), EngineError> {
        if let Some(p) =
            self.pauses.iter_mut().find(|p| p.scope == scope && matches!(p.outcome, PauseOutcome::Submitted { .. }))
        {
            p.outcome = PauseOutcome::Landed { block };
            if let Some(store) = &self.store {
                store.set_action_state(p.action.incident, &p.action.kind, "landed", block)?;
            }
        }
        Ok(())
    }

    /// Every probe to read at each block (deduplicated across detectors).
    pub fn probes(&self) -> &BTreeSet<Probe> {
        &self.probes
    }

    /// The store, when the engine commits to one.
    pub fn store(&self) -> Option<&dyn Store> {
        self.store.as_deref()
    }

    /// The Guardian pauses go through, when the engine responds.
    pub fn responder_guardian(&self) -> Option<Address> {
        self.responder.as_ref().map(|r| r.guardian())
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

    /// Processes one canonical block. A block at or below the last one processed (a source delivering again
    /// after a restart) is ignored. After an error nothing of the block is committed; after a store error the
    /// engine must be resumed from the store before going on.
    pub fn process(&mut self, bundle: &Bundle) -> Result<BlockOutcome, EngineError> {
        let block = bundle.block_ref();
        if self.last.is_some_and(|last| block.number <= last.number) {
            return Ok(BlockOutcome::default());
        }
        self.follow_pauses(bundle)?;

        let mut findings = Vec::new();
        for d in &mut self.detectors {
            findings.extend(d.on_block(bundle)?);
        }
        if let Some(c) = &mut self.correlator {
            let combined = c.on_findings(block, &findings);
            findings.extend(combined);
        }
        let actions = self.incidents.ingest(findings.clone());
        let mut outgoing = Vec::new();
        for action in &actions {
            let ActionKind::Pause { scope } = action.kind else { continue };
            let Some(responder) = &self.responder else { continue };
            let version = bundle
                .probe(&config_version_probe(responder.guardian()))
                .and_then(|b| Guardian::configVersionCall::abi_decode_returns(b).ok())
                .ok_or(EngineError::NoConfigVersion(block.number))?;
            let nonce =
                pause_nonce(bundle, responder.guardian(), scope).ok_or(EngineError::NoPauseNonces(block.number))?;
            let data = responder
                .pause_call(
                    scope,
                    action.incident,
                    action.evidence_hash,
                    block.number,
                    bundle.timestamp(),
                    version,
                    nonce,
                )
                .map_err(|e| EngineError::Sign { scope, block: block.number, reason: e.to_string() })?;
            outgoing.push(Outgoing {
                action: action.clone(),
                from: responder.sender(),
                to: responder.guardian(),
                data: data.clone(),
            });
            self.pauses.push(PauseRecord {
                scope,
                action: action.clone(),
                outcome: PauseOutcome::Submitted { after_block: block.number },
                calldata: data,
            });
        }
        if let Some(store) = &mut self.store {
            let tagged: Vec<(Finding, alloy::primitives::B256)> = findings
                .iter()
                .map(|f| {
                    let id = self.incidents.incident_for(&f.protocol, f.scope).map(|i| i.id).unwrap_or_default();
                    (f.clone(), id)
                })
                .collect();
            let opened: Vec<&vigil_core::Incident> =
                self.incidents.incidents().filter(|i| i.opened_at == block).collect();
            let with_calldata: Vec<(Action, Option<Bytes>)> = actions
                .iter()
                .map(|a| (a.clone(), outgoing.iter().find(|o| o.action == *a).map(|o| o.data.clone())))
                .collect();
            store.commit_block(block, &tagged, &opened, &with_calldata)?;
        }
        self.findings.extend(findings.iter().cloned());
        self.last = Some(block);
        Ok(BlockOutcome { findings, actions, outgoing })
    }

    /// Unwinds to `ancestor`: detectors forget orphaned blocks; their findings are marked retracted.
    pub fn revert_to(&mut self, ancestor: BlockRef) -> Result<(), EngineError> {
        for d in &mut self.detectors {
            d.revert_to(ancestor);
        }
        if let Some(c) = &mut self.correlator {
            c.revert_to(ancestor);
        }
        self.incidents.retract_after(ancestor);
        if let Some(store) = &mut self.store {
            store.revert_to(ancestor)?;
        }
        self.last = Some(ancestor);
        Ok(())
    }

    /// Records pauses that this block included, and pause transactions of ours that reverted.
    fn follow_pauses(&mut self, bundle: &Bundle) -> Result<(), EngineError> {
        let Some(responder) = &self.responder else { return Ok(()) };
        let (guardian, sender) = (responder.guardian(), responder.sender());
        let number = bundle.block_ref().number;
        for receipt in &bundle.receipts {
            if receipt.from != sender || receipt.to != Some(guardian) {
                continue;
            }
            if !receipt.status {
                if let Some(p) = self.pauses.iter_mut().find(|p| matches!(p.outcome, PauseOutcome::Submitted { .. })) {
                    p.outcome = PauseOutcome::Failed { block: number };
                    if let Some(store) = &self.store {
                        store.set_action_state(p.action.incident, &p.action.kind, "failed", number)?;
                    }
                }
                continue;
            }
            for log in &receipt.logs {
                let Ok(paused) = Guardian::Paused::decode_log(&log.inner) else { continue };
                let scope = Scope { target: paused.target, id: paused.scope };
                if let Some(p) = self
                    .pauses
                    .iter_mut()
                    .find(|p| p.scope == scope && matches!(p.outcome, PauseOutcome::Submitted { .. }))
                {
                    p.outcome = PauseOutcome::Landed { block: number };
                    if let Some(store) = &self.store {
                        store.set_action_state(p.action.incident, &p.action.kind, "landed", number)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The probe of the Guardian's config version (pause reports must carry it).
pub fn config_version_probe(guardian: Address) -> Probe {
    Probe { to: guardian, data: Guardian::configVersionCall {}.abi_encode().into() }
}

/// The probe of the Guardian's nonce of every mandated scope (a pause report must carry its scope's nonce).
pub fn pause_nonces_probe(guardian: Address) -> Probe {
    Probe { to: guardian, data: Guardian::pauseNoncesCall {}.abi_encode().into() }
}

/// The nonce of `scope` at the bundle's block; `None` when the probe is missing. A scope that never had a mandate
/// is at nonce 0 (its pause is refused as `NoMandate`, as before).
fn pause_nonce(bundle: &Bundle, guardian: Address, scope: Scope) -> Option<alloy::primitives::U256> {
    let all = Guardian::pauseNoncesCall::abi_decode_returns(bundle.probe(&pause_nonces_probe(guardian))?).ok()?;
    Some(all.iter().find(|n| n.target == scope.target && n.scope == scope.id).map(|n| n.nonce).unwrap_or_default())
}
