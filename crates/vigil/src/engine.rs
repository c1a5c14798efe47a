//! The engine: bundles → detectors → findings → incidents → actions, one block at a time.
//!
//! [`Engine::process`] takes a canonical block's bundle (with the values of every probe the detectors and the
//! responder declared, read at that block), runs every detector, groups the findings into incidents, and returns
//! the actions newly due with the pause transactions to send. Pauses go through a [`Responder`] (the Guardian's,
//! `vigil_respond::guardian`): it prepares each pause the incident book decides, or says why the contract would
//! refuse it now (no mandate, cooldown, already paused, budget spent …); a refused pause is told once per kind
//! of reason (`PauseRefused`) and tried again at every block while the incident stays open, so it is sent the
//! block the refusal ends. A scope found already paused (by anyone) contains its incident. The engine follows
//! what the responder observes: a pause that took effect and names an incident records that pause as landed and
//! contains the incidents of its scope, whoever sent it; a pause transaction of ours that reverted records the
//! pause whose calldata it carried as failed; a lifted pause resolves the scope's incidents, an extension moves
//! their end, and a pause that ran out resolves them (the lifecycle is in `vigil_respond::incident`). Findings
//! are not kept: each block's are returned and committed to the store. [`Engine::revert_to`] unwinds detectors,
//! retracts the findings of orphaned blocks and undoes what those blocks did to incidents. With a
//! [`StageCorrelator`], each block's findings also go through it, and its combined findings (one actor seen in
//! several attack stages) join the block's findings.
//!
//! [`Engine::screen`] takes the bundle of a *pending* transaction simulated on the head's state (the block it
//! would make next) and runs the same detectors on it, then unwinds them to the head. A finding at the pause
//! level opens or joins its incident and its pause is prepared with a tip that outbids the pending transaction
//! ([`PauseFees`]), so that a fee-ordering builder includes the pause first in the same block: the front-running
//! pause that single-transaction attacks need. docs/screening.md says what it covers and what it cannot.

use std::collections::BTreeSet;

use alloy::primitives::{Address, Bytes};
use serde::Serialize;
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, Probe, Refusal, Scope, Store, StoreError};
use vigil_detect::correlation::StageCorrelator;
use vigil_respond::{Action, ActionKind, IncidentBook, Observation, Policy, PrepareError, Responder};

/// The label a finding of a screened pending transaction carries: the transaction's hash.
pub const LABEL_SCREENED: &str = "screened";

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
    /// Priority fee per gas (the tip, wei) to pay: [`PauseFees::priority_fee`], or for a pause that front-runs a
    /// pending transaction, its tip outbid.
    pub priority_fee: u128,
    /// For a pause that front-runs a pending transaction, the least fee cap (wei per gas) to offer: the pending
    /// transaction's outbid. Builders order by tip; some pools (anvil's) order by the fee cap.
    pub min_max_fee: Option<u128>,
}

/// What a pending transaction bids for its place in the block (wei per gas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bid {
    /// Its priority fee (tip); for a legacy transaction, its gas price.
    pub tip: u128,
    /// Its fee cap; for a legacy transaction, its gas price.
    pub max_fee: u128,
}

/// The tips of the engine's pause transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PauseFees {
    /// Every pause's tip (wei). Default 5 gwei: above what ordinary traffic pays, so a pause decided after a
    /// block goes before an attacker's ordinary next step.
    pub priority_fee: u128,
    /// What a front-running pause adds to the pending transaction's tip (wei). Default 2 gwei.
    pub outbid: u128,
    /// The most a front-running pause pays (wei). Default 500 gwei: an attacker who tips more is not outbid
    /// (the pause then lands after it; docs/screening.md).
    pub max_priority_fee: u128,
}

/// One gwei in wei.
pub const GWEI: u128 = 1_000_000_000;

impl Default for PauseFees {
    fn default() -> Self {
        Self { priority_fee: 5 * GWEI, outbid: 2 * GWEI, max_priority_fee: 500 * GWEI }
    }
}

impl PauseFees {
    /// What a pause that front-runs a pending transaction bidding `bid` offers: its tip plus [`Self::outbid`]
    /// (at least [`Self::priority_fee`], at most [`Self::max_priority_fee`]), and its fee cap plus the same.
    pub fn front_run(&self, bid: Bid) -> Bid {
        let ceiling = self.max_priority_fee.max(self.priority_fee);
        Bid {
            tip: bid.tip.saturating_add(self.outbid).max(self.priority_fee).min(ceiling),
            max_fee: bid.max_fee.saturating_add(self.outbid),
        }
    }
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
    /// The pending transaction this pause front-runs, when screening decided it ([`Engine::screen`]; not kept
    /// across a restart).
    pub front_runs: Option<alloy::primitives::B256>,
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
    /// A pause could not be prepared: the responder's state is missing at the block, or signing failed. The
    /// block must be retried, not skipped.
    #[error("pause of {scope} after block #{block}: {source}")]
    Prepare {
        /// The scope.
        scope: Scope,
        /// The block.
        block: u64,
        /// What failed.
        source: PrepareError,
    },
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
    /// Pause transactions of this node that reverted because another submission of a pause on the same scope
    /// landed first (the oracle network's expected race): their scopes.
    pub races_lost: Vec<Scope>,
}

/// The engine.
pub struct Engine {
    detectors: Vec<Box<dyn Detector>>,
    correlator: Option<StageCorrelator>,
    probes: BTreeSet<Probe>,
    incidents: IncidentBook,
    responder: Option<Box<dyn Responder>>,
    pauses: Vec<PauseRecord>,
    last: Option<BlockRef>,
    store: Option<Box<dyn Store>>,
    /// Pauses reported stalled since the last block ([`Engine::pause_stalled`]), told at the next.
    stalled: Vec<(alloy::primitives::B256, Refusal)>,
    fees: PauseFees,
}

impl Engine {
    /// An engine; without a responder it detects and records but takes no on-chain action.
    pub fn new(detectors: Vec<Box<dyn Detector>>, policy: Policy, responder: Option<Box<dyn Responder>>) -> Self {
        let mut probes: BTreeSet<Probe> = detectors.iter().flat_map(|d| d.probes()).collect();
        probes.extend(responder.iter().flat_map(|r| r.probes()));
        Self {
            detectors,
            correlator: None,
            probes,
            incidents: IncidentBook::new(policy, vigil_detect::registry::DEFAULT_REORG_DEPTH),
            responder,
            pauses: Vec::new(),
            last: None,
            store: None,
            stalled: Vec::new(),
            fees: PauseFees::default(),
        }
    }

    /// An engine that commits every block's results to `store`, resuming from what it holds: the cursor, the
    /// incidents, and the actions taken (an incident never takes an action twice, also across restarts). Pauses
    /// recorded but not seen landing are returned by [`Engine::unconfirmed_pauses`]. Detectors start empty: feed
    /// them the blocks before the cursor with [`Engine::warm_up`].
    pub fn resume(
        detectors: Vec<Box<dyn Detector>>,
        policy: Policy,
        responder: Option<Box<dyn Responder>>,
        store: impl Store + 'static,
    ) -> Result<Self, EngineError> {
        let mut engine = Self::new(detectors, policy, responder);
        for incident in store.incidents()? {
            engine.incidents.restore(incident);
        }
        for a in store.actions()? {
            if a.state == "retracted" {
                continue;
            }
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
                engine.pauses.push(PauseRecord {
                    scope,
                    action,
                    outcome,
                    calldata: a.calldata.unwrap_or_default(),
                    front_runs: None,
                });
            }
        }
        engine.last = store.cursor()?;
        engine.store = Some(Box::new(store));
        Ok(engine)
    }

    /// Undoes what orphaned blocks did to incidents up to `depth` blocks back (`[source] reorg_depth`; the
    /// registry's default otherwise).
    pub fn with_reorg_depth(mut self, depth: u64) -> Self {
        self.incidents.set_reorg_depth(depth);
        self
    }

    /// The tips its pause transactions pay.
    pub fn with_fees(mut self, fees: PauseFees) -> Self {
        self.fees = fees;
        self
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
            settle(p, true, block, self.store.as_deref())?;
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

    /// The contract pauses go through (the Guardian), when the engine responds.
    pub fn responder_guardian(&self) -> Option<Address> {
        self.responder.as_ref().map(|r| r.contract())
    }

    /// The last block processed.
    pub fn last_block(&self) -> Option<BlockRef> {
        self.last
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
        let races_lost = self.follow_guardian(bundle)?;
        self.incidents.tick(block.number, bundle.timestamp());

        let mut findings = Vec::new();
        for d in &mut self.detectors {
            findings.extend(d.on_block(bundle)?);
        }
        if let Some(c) = &mut self.correlator {
            let combined = c.on_findings(block, &findings);
            findings.extend(combined);
        }
        let mut actions = self.incidents.ingest(findings.clone());
        actions.extend(self.incidents.pauses_wanted(block));
        for (incident, refusal) in std::mem::take(&mut self.stalled) {
            actions.extend(self.incidents.pause_stalled(incident, refusal, block));
        }
        let outgoing = self.prepare_pauses(&mut actions, bundle)?;
        self.commit(Some(block), &findings, &actions, &outgoing)?;
        self.last = Some(block);
        Ok(BlockOutcome { findings, actions, outgoing, races_lost })
    }

    /// Screens a pending transaction before it executes. `bundle` is the block it would make on the head's state
    /// (the next block's number, parent and timestamp: `vigil_sim::SimChain::simulate`, or the node's simulator)
    /// and `bid` what it pays for its place. Every detector runs on it as on a block and is then unwound to the head, so
    /// their windows hold canonical blocks only. Findings at the pause level (exploit or suspicious, at or above
    /// the policy's pause severity for them) open or join their incident as a block's would, with the label
    /// `screened` naming the pending transaction; the pause is prepared with a tip and fee cap that outbid `bid`
    /// ([`PauseFees::front_run`]) and committed to the store without moving the cursor. Lower findings are not
    /// kept: if the transaction lands, its block shows them again. Without a processed block (no head state),
    /// or for a bundle that is not the next block, nothing is screened.
    pub fn screen(&mut self, bundle: &Bundle, bid: Bid) -> Result<BlockOutcome, EngineError> {
        let block = bundle.block_ref();
        if self.last.is_none() {
            return Ok(BlockOutcome::default());
        }
        let Some(decisive) = self.judge(bundle)? else { return Ok(BlockOutcome::default()) };
        let pending = bundle.transactions.first().map(|t| t.hash).unwrap_or_default();
        let decisive: Vec<Finding> = decisive
            .into_iter()
            .map(|mut f| {
                f.labels.insert(LABEL_SCREENED.to_string(), pending.to_string());
                f
            })
            .collect();
        if decisive.is_empty() {
            return Ok(BlockOutcome::default());
        }
        let mut actions = self.incidents.ingest(decisive.clone());
        let first_new = self.pauses.len();
        let mut outgoing = self.prepare_pauses(&mut actions, bundle)?;
        let offer = self.fees.front_run(bid);
        for out in &mut outgoing {
            out.priority_fee = offer.tip;
            out.min_max_fee = Some(offer.max_fee);
        }
        for p in &mut self.pauses[first_new..] {
            p.front_runs = Some(pending);
        }
        tracing::warn!(event = "PendingTransactionScreened", block = block.number, tx = %pending, findings = decisive.len(), pauses = outgoing.len(), "a pending transaction would trigger a pause: front-running it");
        self.commit(None, &decisive, &actions, &outgoing)?;
        Ok(BlockOutcome { findings: decisive, actions, outgoing, races_lost: Vec::new() })
    }

    /// Judges a simulated next block without keeping anything: every detector runs on `bundle` and is unwound to
    /// the head, and the findings at the pause level are returned (empty: nothing the policy would pause for).
    /// `None` for a bundle that is not the block after the last one processed (before the first block, any
    /// bundle is judged on its parent).
    /// [`Self::screen`] acts on these findings; a node's attestation service (`crate::attest`) refuses a
    /// transaction that has any.
    pub fn judge(&mut self, bundle: &Bundle) -> Result<Option<Vec<Finding>>, EngineError> {
        let block = bundle.block_ref();
        // Before the first block processed, the simulated block's parent is the head to unwind to.
        let parent = BlockRef { number: block.number.saturating_sub(1), hash: bundle.parent_hash() };
        let head = self.last.unwrap_or(parent);
        if head != parent {
            return Ok(None);
        }
        let mut findings = Vec::new();
        let mut failed = None;
        for d in &mut self.detectors {
            match d.on_block(bundle) {
                Ok(f) => findings.extend(f),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(c) = &mut self.correlator {
            let combined = c.on_findings(block, &findings);
            findings.extend(combined);
        }
        for d in &mut self.detectors {
            d.revert_to(head);
        }
        if let Some(c) = &mut self.correlator {
            c.revert_to(head);
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        let policy = self.incidents.policy();
        Ok(Some(findings.into_iter().filter(|f| policy.wants(f).1).collect()))
    }

    /// The pause `incident` decided is stalled for `refusal` outside the Guardian's rules (the oracle network
    /// gathered too few signatures): its notification is decided, stored and due with the next block processed,
    /// once per kind of reason and incident.
    pub fn pause_stalled(&mut self, incident: alloy::primitives::B256, refusal: Refusal) {
        self.stalled.push((incident, refusal));
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

    /// Commits findings (each with the incident it joined), the incidents changed and the actions due (with the
    /// calldata of their pause transactions) to the store, when there is one: as block `block`'s results, moving
    /// the cursor, or (`None`) as a screened pending transaction's.
    fn commit(
        &mut self,
        block: Option<BlockRef>,
        findings: &[Finding],
        actions: &[Action],
        outgoing: &[Outgoing],
    ) -> Result<(), StoreError> {
        let Some(store) = &mut self.store else { return Ok(()) };
        let tagged: Vec<(Finding, alloy::primitives::B256)> = findings
            .iter()
            .map(|f| {
                let id = self.incidents.incident_for(&f.protocol, f.scope).map(|i| i.id).unwrap_or_default();
                (f.clone(), id)
            })
            .collect();
        let changed = self.incidents.take_changed();
        let changed: Vec<&vigil_core::Incident> = changed.iter().collect();
        let with_calldata: Vec<(Action, Option<Bytes>)> = actions
            .iter()
            .map(|a| (a.clone(), outgoing.iter().find(|o| o.action == *a).map(|o| o.data.clone())))
            .collect();
        match block {
            Some(block) => store.commit_block(block, &tagged, &changed, &with_calldata),
            None => store.commit_screened(&tagged, &changed, &with_calldata),
        }
    }

    /// Prepares the pauses among `actions`: each becomes a transaction to send, or, refused, is replaced by its
    /// notification (when its reason is new to the incident); a scope already paused contains its incident.
    fn prepare_pauses(&mut self, actions: &mut Vec<Action>, bundle: &Bundle) -> Result<Vec<Outgoing>, EngineError> {
        let block = bundle.block_ref();
        let mut outgoing = Vec::new();
        let mut kept = Vec::with_capacity(actions.len());
        for action in actions.drain(..) {
            let (ActionKind::Pause { scope }, Some(responder)) = (action.kind, &self.responder) else {
                kept.push(action);
                continue;
            };
            match responder.prepare(&action, scope, bundle) {
                Ok(p) => {
                    let out = Outgoing {
                        action: action.clone(),
                        from: p.from,
                        to: p.to,
                        data: p.data.clone(),
                        priority_fee: self.fees.priority_fee,
                        min_max_fee: None,
                    };
                    self.pauses.push(PauseRecord {
                        scope,
                        action: action.clone(),
                        outcome: PauseOutcome::Submitted { after_block: block.number },
                        calldata: p.data,
                        front_runs: None,
                    });
                    outgoing.push(out);
                    kept.push(action);
                }
                Err(PrepareError::Refused(Refusal::AlreadyPaused { until })) => {
                    // Paused before this node saw it happen (before a restart, or by another party): contained.
                    self.incidents.paused(scope, until, block.number);
                }
                Err(PrepareError::Refused(refusal)) => {
                    tracing::warn!(event = "PauseRefused", block = block.number, %scope, incident = %action.incident, "pause wanted, not possible: {refusal}");
                    kept.extend(self.incidents.pause_refused(action.incident, refusal, block));
                }
                Err(source) => return Err(EngineError::Prepare { scope, block: block.number, source }),
            }
        }
        *actions = kept;
        Ok(outgoing)
    }

    /// Follows what the responder observed in this block: pauses that took effect (whoever sent them), pause
    /// transactions of ours that reverted, governance lifting or extending, and what that does to incidents.
    /// Returns the scopes of our pause transactions that reverted because a pause of theirs landed first.
    fn follow_guardian(&mut self, bundle: &Bundle) -> Result<Vec<Scope>, EngineError> {
        let mut races_lost = Vec::new();
        let Some(responder) = &self.responder else { return Ok(races_lost) };
        let number = bundle.block_ref().number;
        let mut paused_here: Vec<Scope> = Vec::new();
        for seen in responder.observe(bundle) {
            match seen {
                Observation::Reverted { tx, input } => {
                    // The pause this transaction carried: the one whose signed calldata it sent.
                    let Some(p) = self.pauses.iter_mut().find(|p| {
                        matches!(p.outcome, PauseOutcome::Submitted { .. }) && input.as_ref() == Some(&p.calldata)
                    }) else {
                        // A quorum submission (its calldata holds the peers' signatures, not only ours) that lost
                        // to another submission landing on the same scope in this block or before.
                        let report = input
                            .as_ref()
                            .and_then(|i| <vigil_contracts::Guardian::pauseWithQuorumCall as alloy::sol_types::SolCall>::abi_decode(i).ok())
                            .map(|c| Scope { target: c.report.target, id: c.report.scope });
                        match report {
                            Some(scope)
                                if paused_here.iter().any(|p| p.covers(scope))
                                    || self.incidents.incidents().any(|i| {
                                        i.scope == scope
                                            && matches!(i.state, vigil_core::IncidentState::Contained { .. })
                                    }) =>
                            {
                                tracing::info!(event = "PauseRaceLost", block = number, %tx, %scope, "another node's submission of the pause of {scope} landed first");
                                races_lost.push(scope);
                            }
                            _ => {
                                tracing::warn!(event = "UnknownGuardianRevert", block = number, %tx, "a transaction of ours to the Guardian reverted, and it carries no pending pause");
                            }
                        }
                        continue;
                    };
                    self.incidents.pause_failed(p.action.incident, number);
                    settle(p, false, number, self.store.as_deref())?;
                }
                Observation::Paused { scope, until, incident } => {
                    paused_here.push(scope);
                    self.incidents.paused(scope, until, number);
                    // Ours, or another report on the scope (a peer's in the oracle network, another party's):
                    // either way the pause this node decided is in force.
                    for p in self.pauses.iter_mut().filter(|p| {
                        matches!(p.outcome, PauseOutcome::Submitted { .. })
                            && (p.action.incident == incident || scope.covers(p.scope))
                    }) {
                        settle(p, true, number, self.store.as_deref())?;
                    }
                }
                Observation::Extended { scope, until } => self.incidents.paused(scope, until, number),
                Observation::Lifted { scope } => {
                    self.incidents.unpaused(scope, number);
                }
            }
        }
        Ok(races_lost)
    }
}

/// Records that a pause landed (or failed) at `block`, in memory and in the store's outbox.
fn settle(p: &mut PauseRecord, landed: bool, block: u64, store: Option<&dyn Store>) -> Result<(), StoreError> {
    let (outcome, state) =
        if landed { (PauseOutcome::Landed { block }, "landed") } else { (PauseOutcome::Failed { block }, "failed") };
    p.outcome = outcome;
    match store {
        Some(store) => store.set_action_state(p.action.incident, &p.action.kind, state, block),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alloy::sol_types::{SolCall, SolEvent};
    use alloy::{
        primitives::{keccak256, Log, B256, U256},
        signers::local::PrivateKeySigner,
    };
    use vigil_contracts::Guardian;
    use vigil_core::{BlockHeader, FindingKind, IncidentState, Receipt, Resolution, Severity, Tx};
    use vigil_respond::guardian::{snapshot_probe, GuardianResponder, GuardianView};

    use super::*;

    fn responder() -> Box<dyn Responder> {
        Box::new(GuardianResponder::new(GUARDIAN, 31337, vec![key()], 600))
    }

    const GUARDIAN: Address = Address::repeat_byte(0x66);
    const TARGET: Address = Address::repeat_byte(0x77);

    /// Critical exploit findings about the scopes listed for each block.
    struct Scripted(BTreeMap<u64, Vec<u64>>);

    impl Detector for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
            let block = bundle.block_ref();
            Ok(self
                .0
                .get(&block.number)
                .into_iter()
                .flatten()
                .map(|&id| Finding {
                    detector: "scripted".into(),
                    protocol: "venue".into(),
                    scope: Scope::segment(TARGET, id),
                    severity: Severity::Critical,
                    kind: FindingKind::Exploit,
                    block,
                    tx: None,
                    title: format!("attack on market {id}"),
                    evidence: serde_json::json!({}),
                    labels: Default::default(),
                })
                .collect())
        }
        fn revert_to(&mut self, _: BlockRef) {}
    }

    type Txs = Vec<(Address, Bytes, bool, Vec<alloy::primitives::LogData>)>;

    /// The node's one oracle key (threshold 1).
    fn key() -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::repeat_byte(0x42)).unwrap()
    }

    /// The Guardian's state at `timestamp`: a mandate for markets 1 and 2 of `TARGET` (3-day pauses, 1-hour
    /// cooldown), each scope's (pausedUntil, nextPauseAllowedAt) as given (default: never paused).
    fn snapshot(timestamp: u64, pauses: &[(u64, u64, u64)]) -> Guardian::Snapshot {
        let scope = |id: u64| {
            let (until, next) = pauses.iter().find(|p| p.0 == id).map(|p| (p.1, p.2)).unwrap_or_default();
            Guardian::ScopeView {
                target: TARGET,
                scope: U256::from(id),
                nonce: U256::from(id),
                mandate: Guardian::Mandate {
                    maxPauseSeconds: 3 * 86_400,
                    cooldownSeconds: 3_600,
                    expiry: 1 << 40,
                    active: true,
                },
                pause: Guardian::PauseState { pausedUntil: until, nextPauseAllowedAt: next, incidentId: B256::ZERO },
                budget: Guardian::Budget {
                    budgetSeconds: 7 * 86_400,
                    windowSeconds: 30 * 86_400,
                    windowStart: 0,
                    used: 0,
                    nextWindowAt: 0,
                },
                targetCooldownUntil: 0,
            }
        };
        Guardian::Snapshot {
            configVersion: U256::from(1),
            threshold: U256::from(1),
            signers: vec![key().address()],
            bounds: Guardian::Bounds {
                minCooldownSeconds: 3_600,
                maxPauseLength: 7 * 86_400,
                maxMandateHorizon: 2 * 365 * 86_400,
                maxReportLifetime: 600,
            },
            timestamp,
            scopes: vec![scope(1), scope(2)],
        }
    }

    /// Block `number` at `timestamp`, its transactions given as (sender, calldata, succeeded, Guardian events),
    /// the Guardian's state as in [`snapshot`] with no pause.
    fn block(number: u64, timestamp: u64, txs: Txs) -> Bundle {
        block_with(number, timestamp, txs, snapshot(timestamp, &[]))
    }

    fn block_with(number: u64, timestamp: u64, txs: Txs, guardian: Guardian::Snapshot) -> Bundle {
        let header = BlockHeader {
            number,
            hash: keccak256(number.to_be_bytes()),
            parent_hash: keccak256(number.saturating_sub(1).to_be_bytes()),
            timestamp,
            miner: Address::ZERO,
            gas_limit: 30_000_000,
            gas_used: 0,
            base_fee_per_gas: None,
        };
        let probes =
            [(snapshot_probe(GUARDIAN), Ok(Guardian::snapshotCall::abi_encode_returns(&guardian).into()))].into();
        let mut bundle = Bundle::from_slim(header, vec![], vec![], probes);
        for (i, (from, input, status, events)) in txs.into_iter().enumerate() {
            let hash = keccak256([number.to_be_bytes(), (i as u64).to_be_bytes()].concat());
            bundle.transactions.push(Tx {
                hash,
                from,
                to: Some(GUARDIAN),
                value: U256::ZERO,
                input,
                nonce: i as u64,
                gas: 1,
            });
            let logs = events
                .into_iter()
                .map(|data| alloy::rpc::types::Log { inner: Log { address: GUARDIAN, data }, ..Default::default() })
                .collect();
            bundle.receipts.push(Receipt {
                transaction_hash: hash,
                block_hash: Some(bundle.header.hash),
                from,
                to: Some(GUARDIAN),
                status,
                contract_address: None,
                gas_used: 1,
                logs,
            });
        }
        bundle
    }

    fn paused(incident: B256, id: u64, until: u64) -> alloy::primitives::LogData {
        Guardian::Paused {
            target: TARGET,
            scope: U256::from(id),
            incidentId: incident,
            evidenceHash: B256::ZERO,
            observedBlock: U256::ZERO,
            pausedUntil: until,
            signers: vec![],
        }
        .encode_log_data()
    }

    #[test]
    fn a_screened_pending_transaction_is_front_run_with_an_outbidding_pause_once() {
        let me = key().address();
        // The pending transaction simulated as block 2 attacks market 1.
        let script = [(2, vec![1])].into();
        let mut engine = Engine::new(vec![Box::new(Scripted(script))], Policy::default(), Some(responder()));
        let pending = block(2, 1_012, vec![(Address::repeat_byte(0xa1), Bytes::new(), true, vec![])]);
        let tip = Bid { tip: 3_000_000_000, max_fee: 40_000_000_000 };
        assert!(engine.screen(&pending, tip).unwrap().outgoing.is_empty(), "no head state to screen on yet");
        engine.process(&block(1, 1_000, vec![])).unwrap();
        assert!(engine.screen(&block(3, 1_024, vec![]), tip).unwrap().outgoing.is_empty(), "not the next block");

        let screened = engine.screen(&pending, tip).unwrap();
        let [pause] = screened.outgoing.as_slice() else { panic!("one pause: {screened:?}") };
        assert_eq!(pause.action.kind, ActionKind::Pause { scope: Scope::segment(TARGET, 1) });
        assert_eq!(pause.priority_fee, PauseFees::default().front_run(tip).tip);
        assert_eq!(pause.priority_fee, 5_000_000_000, "the pending tip outbid by 2 gwei");
        assert_eq!(pause.min_max_fee, Some(42_000_000_000), "and its fee cap");
        let tx = pending.transactions[0].hash;
        assert_eq!(screened.findings[0].labels.get(LABEL_SCREENED), Some(&tx.to_string()));
        assert_eq!(engine.pauses()[0].front_runs, Some(tx));
        assert_eq!(engine.last_block().map(|b| b.number), Some(1), "the cursor stays at the head");
        assert!(engine.screen(&pending, tip).unwrap().outgoing.is_empty(), "the incident is acting: not twice");

        // The real block 2: the pause landed first, the attack reverted; nothing more is sent.
        let landed =
            block(2, 1_012, vec![(me, pause.data.clone(), true, vec![paused(pause.action.incident, 1, 5_000)])]);
        assert!(engine.process(&landed).unwrap().outgoing.is_empty());
        assert_eq!(engine.pauses()[0].outcome, PauseOutcome::Landed { block: 2 });
        // A tip above the ceiling is not outbid: the pause pays the ceiling.
        let fees = PauseFees::default();
        let bid = |tip| Bid { tip, max_fee: tip };
        assert_eq!(fees.front_run(bid(900_000_000_000)).tip, fees.max_priority_fee);
        assert_eq!(fees.front_run(bid(0)).tip, fees.priority_fee, "never less than every pause's tip");
    }

    #[test]
    fn guardian_events_move_incidents_and_a_revert_fails_the_pause_it_carried() {
        let me = key().address();
        let script = [(1, vec![1, 2]), (4, vec![1]), (7, vec![1])].into();
        let mut engine = Engine::new(vec![Box::new(Scripted(script))], Policy::default(), Some(responder()));

        let first = engine.process(&block(1, 1_000, vec![])).unwrap();
        let [a, b] = [0, 1].map(|i| first.outgoing[i].clone());
        assert_eq!(
            (a.action.kind, b.action.kind),
            (
                ActionKind::Pause { scope: Scope::segment(TARGET, 1) },
                ActionKind::Pause { scope: Scope::segment(TARGET, 2) }
            )
        );

        // Market 2's pause reverts (listed first), market 1's lands: each is matched to its own pause.
        engine
            .process(&block(
                2,
                1_012,
                vec![
                    (me, b.data.clone(), false, vec![]),
                    (me, a.data.clone(), true, vec![paused(a.action.incident, 1, 2_000)]),
                ],
            ))
            .unwrap();
        let outcome =
            |e: &Engine, incident| e.pauses().iter().find(|p| p.action.incident == incident).unwrap().outcome.clone();
        assert_eq!(outcome(&engine, a.action.incident), PauseOutcome::Landed { block: 2 });
        assert_eq!(outcome(&engine, b.action.incident), PauseOutcome::Failed { block: 2 });
        let state = |e: &Engine, incident| e.incidents().incident(incident).unwrap().state;
        assert_eq!(state(&engine, a.action.incident), IncidentState::Contained { since: 2, until: 2_000 });
        assert_eq!(state(&engine, b.action.incident), IncidentState::Open);

        // Contained: the attack goes on, nothing more is sent; the pause runs out, the incident is resolved.
        assert!(engine.process(&block(4, 1_100, vec![])).unwrap().outgoing.is_empty());
        engine.process(&block(5, 2_000, vec![])).unwrap();
        assert_eq!(
            state(&engine, a.action.incident),
            IncidentState::Resolved { block: 5, reason: Resolution::PauseEnded }
        );

        // The same attack again: a new incident with its own pause; governance lifts it, and that resolves it.
        let again = engine.process(&block(7, 2_100, vec![])).unwrap();
        assert_eq!(again.outgoing.len(), 1);
        let c = again.outgoing[0].action.incident;
        assert_ne!(c, a.action.incident);
        engine
            .process(&block(8, 2_112, vec![(me, again.outgoing[0].data.clone(), true, vec![paused(c, 1, 9_000)])]))
            .unwrap();
        let unpaused =
            Guardian::Unpaused { target: TARGET, scope: U256::from(1), by: Address::repeat_byte(9) }.encode_log_data();
        engine.process(&block(9, 2_124, vec![(Address::repeat_byte(9), Bytes::new(), true, vec![unpaused])])).unwrap();
        assert_eq!(state(&engine, c), IncidentState::Resolved { block: 9, reason: Resolution::Unpaused });
    }

    /// The oracle network's Guardian state: three of `key()` and two others must sign.
    fn three_of_three(timestamp: u64) -> Guardian::Snapshot {
        let mut s = snapshot(timestamp, &[]);
        s.threshold = U256::from(3);
        s.signers = vec![key().address(), Address::repeat_byte(1), Address::repeat_byte(2)];
        s
    }

    #[test]
    fn a_sharing_node_decides_with_one_key_and_a_peers_pause_landing_first_settles_its_own() {
        let me = key().address();
        let sharing = GuardianResponder::sharing(GUARDIAN, 31337, key(), 600);
        let script = [(1, vec![1])].into();
        let mut engine = Engine::new(vec![Box::new(Scripted(script))], Policy::default(), Some(Box::new(sharing)));
        // One key of three: the node that signs alone would refuse (TooFewSigners); the sharing node decides.
        let first = engine.process(&block_with(1, 1_000, vec![], three_of_three(1_000))).unwrap();
        assert_eq!(first.outgoing.len(), 1, "{:?}", first.actions);
        let own = first.outgoing[0].clone();
        let call = Guardian::pauseWithQuorumCall::abi_decode(&own.data).unwrap();
        assert_eq!(call.signatures.len(), 1, "the share carries this node's signature alone");

        // A peer's submission of another report on the scope lands; ours, with the quorum's signatures, reverts.
        let quorum = Guardian::pauseWithQuorumCall { report: call.report.clone(), signatures: vec![Bytes::new(); 3] };
        let theirs = B256::repeat_byte(0xEE);
        let outcome = engine
            .process(&block_with(
                2,
                1_012,
                vec![
                    (Address::repeat_byte(1), Bytes::new(), true, vec![paused(theirs, 1, 5_000)]),
                    (me, quorum.abi_encode().into(), false, vec![]),
                ],
                three_of_three(1_012),
            ))
            .unwrap();
        assert_eq!(outcome.races_lost, vec![Scope::segment(TARGET, 1)], "a lost race, not a failed pause");
        let record = engine.pauses().iter().find(|p| p.action.incident == own.action.incident).unwrap();
        assert_eq!(record.outcome, PauseOutcome::Landed { block: 2 }, "the scope is paused: our pause is in force");
        assert!(engine.unconfirmed_pauses().is_empty(), "nothing to send again after a restart");
        let incident = engine.incidents().incident(own.action.incident).unwrap();
        assert_eq!(incident.state, IncidentState::Contained { since: 2, until: 5_000 });

        // A revert of ours on a scope nobody paused is no race.
        let script = [(1, vec![1])].into();
        let sharing = GuardianResponder::sharing(GUARDIAN, 31337, key(), 600);
        let mut engine = Engine::new(vec![Box::new(Scripted(script))], Policy::default(), Some(Box::new(sharing)));
        engine.process(&block_with(1, 1_000, vec![], three_of_three(1_000))).unwrap();
        let reverted = vec![(me, quorum.abi_encode().into(), false, vec![])];
        let outcome = engine.process(&block_with(2, 1_012, reverted, three_of_three(1_012))).unwrap();
        assert!(outcome.races_lost.is_empty());
    }

    #[test]
    fn a_stalled_pause_is_told_once_and_stays_decided() {
        let script = [(1, vec![1])].into();
        let sharing = GuardianResponder::sharing(GUARDIAN, 31337, key(), 600);
        let mut engine = Engine::new(vec![Box::new(Scripted(script))], Policy::default(), Some(Box::new(sharing)));
        let first = engine.process(&block_with(1, 1_000, vec![], three_of_three(1_000))).unwrap();
        let incident = first.outgoing[0].action.incident;
        let unreachable = Refusal::QuorumUnreachable { signers: 2, threshold: 3 };
        engine.pause_stalled(incident, unreachable);
        let told = engine.process(&block_with(2, 1_012, vec![], three_of_three(1_012))).unwrap();
        let refused: Vec<_> =
            told.actions.iter().filter(|a| matches!(a.kind, ActionKind::PauseRefused { .. })).collect();
        assert_eq!(refused.len(), 1, "{:?}", told.actions);
        assert_eq!(
            refused[0].kind,
            ActionKind::PauseRefused { scope: Scope::segment(TARGET, 1), refusal: unreachable }
        );
        assert!(told.outgoing.is_empty(), "the pause stays decided: no second one");
        assert!(matches!(engine.incidents().incident(incident).unwrap().state, IncidentState::Acting { .. }));
        engine.pause_stalled(incident, Refusal::QuorumUnreachable { signers: 1, threshold: 3 });
        let again = engine.process(&block_with(3, 1_024, vec![], three_of_three(1_024))).unwrap();
        assert!(again.actions.is_empty(), "told once per reason: {:?}", again.actions);
    }

    #[test]
    fn a_pause_the_guardian_would_refuse_is_told_once_and_sent_when_the_refusal_ends() {
        // Market 1 is attacked in every block from block 1 on; its cooldown runs until 1_050.
        let script = (1..=8).map(|n| (n, vec![1])).collect();
        let mut engine = Engine::new(vec![Box::new(Scripted(script))], Policy::default(), Some(responder()));
        let cooling = |n: u64, ts: u64| block_with(n, ts, vec![], snapshot(ts, &[(1, 900, 1_050)]));

        let first = engine.process(&cooling(1, 1_000)).unwrap();
        assert!(first.outgoing.is_empty(), "nothing the Guardian must reject is sent");
        let refused: Vec<_> = first.actions.iter().map(|a| a.kind).collect();
        assert_eq!(
            refused,
            [
                ActionKind::Notify,
                ActionKind::PauseRefused {
                    scope: Scope::segment(TARGET, 1),
                    refusal: Refusal::InCooldown { until: 1_050 }
                }
            ]
        );
        let incident = first.actions[0].incident;
        assert_eq!(engine.incidents().incident(incident).unwrap().state, IncidentState::Open);
        // Still in the cooldown: tried again, not told again.
        let second = engine.process(&cooling(2, 1_012)).unwrap();
        assert!(second.actions.is_empty() && second.outgoing.is_empty(), "{:?}", second.actions);
        // The cooldown ends: the pause is sent in that block, for the same incident.
        let third = engine.process(&cooling(3, 1_050)).unwrap();
        assert_eq!(third.outgoing.len(), 1);
        assert_eq!(third.outgoing[0].action.incident, incident);
        assert_eq!(engine.incidents().incident(incident).unwrap().state, IncidentState::Acting { since: 3 });

        // No mandate for market 3, too few keys: each refused with its own reason.
        let view = GuardianView::decode(&Guardian::snapshotCall::abi_encode_returns(&snapshot(1, &[]))).unwrap();
        assert_eq!(view.admit(Scope::segment(TARGET, 3), 1, &[key().address()]), Err(Refusal::NoMandate));
        assert_eq!(
            view.admit(Scope::segment(TARGET, 1), 1, &[Address::repeat_byte(1)]),
            Err(Refusal::TooFewSigners { held: 0, threshold: 1 })
        );
        // A scope found paused (by governance, or before a restart) contains the incident without a pause.
        let mut engine =
            Engine::new(vec![Box::new(Scripted([(1, vec![2])].into()))], Policy::default(), Some(responder()));
        let out = engine.process(&block_with(1, 1_000, vec![], snapshot(1_000, &[(2, 5_000, 8_600)]))).unwrap();
        assert!(out.outgoing.is_empty());
        let i = out.actions[0].incident;
        assert_eq!(engine.incidents().incident(i).unwrap().state, IncidentState::Contained { since: 1, until: 5_000 });
    }
}
