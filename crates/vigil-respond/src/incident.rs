//! Incidents: findings grouped by (protocol, scope), the actions a policy mandates, and the incident's life.
//!
//! An incident opens with its first finding and takes each action once: a notification, an escalation for each
//! higher severity that follows (so a critical finding after a medium one is told again, and repeats are counted,
//! not sent), and a pause. It ends ([`IncidentState::Resolved`]) when its pause runs out, when governance lifts it,
//! or when the policy's quiet window passes with no new finding and no pause in force; a later finding about the
//! same scope then opens a new incident with its own notification and pause. The Guardian's events move it: a
//! `Paused` for its scope (or the whole target) contains it, an `Unpaused` resolves it, `PauseExtended` moves the
//! end. A reorg unwinds what orphaned blocks did: their findings are retracted (kept, marked), and an incident
//! they contained or resolved returns to the state it had.
//!
//! The types an incident is made of ([`Incident`], [`Action`], [`ActionKind`], [`IncidentState`]) live in
//! `vigil_core::incident`, so that a store can keep them without depending on the responders; they are
//! re-exported here.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};
use vigil_core::{evidence_hash, incident_id, BlockRef, Finding, FindingKind, Scope, Severity};

pub use vigil_core::incident::{Action, ActionKind, Incident, IncidentState, Refusal, Resolution};

/// Which findings lead to which actions, and when an incident ends: thresholds for every finding, and rules
/// (`[[policy.rule]]`) that set other thresholds, or no pause at all, for findings of a protocol, a target, a
/// scope or a detector. The first rule that matches a finding decides; a key a rule leaves out keeps the
/// default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Findings at or above this severity are notified. Default medium.
    pub notify_at: Severity,
    /// Exploit or suspicious findings at or above this severity pause their scope. Default critical.
    pub pause_at: Severity,
    /// An incident with no pause in force and no new finding for this many blocks is resolved. Default 300
    /// (an hour of 12-second blocks).
    pub resolve_after_quiet_blocks: u64,
    /// Rules for some findings, first match wins.
    #[serde(rename = "rule")]
    pub rules: Vec<PolicyRule>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            notify_at: Severity::Medium,
            pause_at: Severity::Critical,
            resolve_after_quiet_blocks: 300,
            rules: Vec::new(),
        }
    }
}

/// Thresholds for the findings it matches (every key it names must match).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyRule {
    /// The finding's protocol.
    pub protocol: Option<String>,
    /// The finding's contract (its scope's target).
    pub target: Option<alloy::primitives::Address>,
    /// The finding's scope id (0: the whole target).
    pub scope: Option<u64>,
    /// The detector's name.
    pub detector: Option<String>,
    /// Notify at or above this severity.
    pub notify_at: Option<Severity>,
    /// Pause at or above this severity.
    pub pause_at: Option<Severity>,
    /// `false`: never pause (notify only).
    pub pause: Option<bool>,
}

impl PolicyRule {
    fn matches(&self, f: &Finding) -> bool {
        self.protocol.as_ref().is_none_or(|p| *p == f.protocol)
            && self.target.is_none_or(|t| t == f.scope.target)
            && self.scope.is_none_or(|s| alloy::primitives::U256::from(s) == f.scope.id)
            && self.detector.as_ref().is_none_or(|d| *d == f.detector)
    }

    /// Whether the rule lets findings pause.
    pub fn may_pause(&self) -> bool {
        self.pause != Some(false)
    }
}

impl Policy {
    /// For `f`: whether it is notified, and whether it calls for a pause of its scope (an exploit or suspicious
    /// finding at or above the severity from which it pauses).
    pub fn wants(&self, f: &Finding) -> (bool, bool) {
        let (notify_at, pause_at) = self.thresholds(f);
        let pause = pause_at.is_some_and(|at| f.severity >= at)
            && matches!(f.kind, FindingKind::Exploit | FindingKind::Suspicious);
        (f.severity >= notify_at, pause)
    }

    /// For `f`: the severity from which it is notified, and the one from which it pauses (`None`: never).
    pub fn thresholds(&self, f: &Finding) -> (Severity, Option<Severity>) {
        match self.rules.iter().find(|r| r.matches(f)) {
            Some(r) => {
                (r.notify_at.unwrap_or(self.notify_at), r.may_pause().then(|| r.pause_at.unwrap_or(self.pause_at)))
            }
            None => (self.notify_at, Some(self.pause_at)),
        }
    }
}

/// The notification that `incident`'s pause is refused for `refusal`, recorded on it, when this kind of reason
/// is new to it (a reason is told once per incident).
fn tell_refusal(incident: &mut Incident, refusal: Refusal, block: BlockRef) -> Option<Action> {
    let told = incident
        .actions
        .iter()
        .any(|k| matches!(k, ActionKind::PauseRefused { refusal: r, .. } if r.same_reason(&refusal)));
    if told {
        return None;
    }
    let kind = ActionKind::PauseRefused { scope: incident.scope, refusal };
    incident.actions.insert(kind);
    Some(Action { incident: incident.id, kind, block, evidence_hash: evidence_of(incident) })
}

/// The evidence hash of an incident's pause decided after its findings: that of its latest standing finding.
fn evidence_of(incident: &Incident) -> B256 {
    incident.findings.iter().rev().find(|(_, retracted)| !retracted).map(|(f, _)| evidence_hash(f)).unwrap_or_default()
}

/// How an incident changed in an orphaned block, to be undone by a reorg.
#[derive(Debug, Clone)]
struct Change {
    /// The block.
    block: u64,
    /// The incident as it was before.
    before: Incident,
}

/// Open incidents by protocol and scope, and those resolved within the reorg window.
#[derive(Debug)]
pub struct IncidentBook {
    policy: Policy,
    reorg_depth: u64,
    open: BTreeMap<(String, Scope), Incident>,
    /// Incidents resolved or contained in the last `reorg_depth` blocks, as they were before.
    undo: Vec<Change>,
    /// Resolved incidents still inside the reorg window (for lookups by id and for reorgs).
    resolved: Vec<Incident>,
    /// Incidents opened or changed since the last [`IncidentBook::take_changed`].
    changed: BTreeSet<B256>,
}

impl Default for IncidentBook {
    fn default() -> Self {
        Self::new(Policy::default(), 64)
    }
}

impl IncidentBook {
    /// An empty book with `policy`, undoing changes of up to `reorg_depth` blocks.
    pub fn new(policy: Policy, reorg_depth: u64) -> Self {
        Self {
            policy,
            reorg_depth,
            open: BTreeMap::new(),
            undo: Vec::new(),
            resolved: Vec::new(),
            changed: BTreeSet::new(),
        }
    }

    /// Undoes changes of up to `depth` blocks from now on.
    pub fn set_reorg_depth(&mut self, depth: u64) {
        self.reorg_depth = depth;
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Adds a block's findings; returns the actions newly due.
    pub fn ingest(&mut self, findings: Vec<Finding>) -> Vec<Action> {
        let mut due = Vec::new();
        for f in findings {
            let key = (f.protocol.clone(), f.scope);
            let incident = self.open.entry(key).or_insert_with(|| Incident {
                id: incident_id(&f.protocol, f.scope, f.block.hash),
                protocol: f.protocol.clone(),
                scope: f.scope,
                opened_at: f.block,
                severity: f.severity,
                state: IncidentState::Open,
                notified: None,
                last_finding: f.block.number,
                findings: Vec::new(),
                earlier: 0,
                actions: BTreeSet::new(),
                suppressed: 0,
            });
            // Findings that stand are in block order: only the tail can hold one from this block or the one
            // before, so the scan stops there (an incident that grows every block costs the same each block).
            let duplicate = incident
                .findings
                .iter()
                .rev()
                .filter(|(_, retracted)| !retracted)
                .take_while(|(g, _)| g.block.number + 1 >= f.block.number)
                .any(|(g, _)| g.detector == f.detector && g.title == f.title);
            if duplicate {
                incident.suppressed += 1;
                continue;
            }
            self.changed.insert(incident.id);
            incident.severity = incident.severity.max(f.severity);
            incident.last_finding = f.block.number;
            let evidence_hash = evidence_hash(&f);
            let block = f.block;
            let (wants_notify, wants_pause) = self.policy.wants(&f);
            let keep_from = block.number.saturating_sub(self.reorg_depth);
            let old = incident.findings.iter().take_while(|(g, _)| g.block.number < keep_from).count();
            incident.findings.drain(..old);
            incident.earlier += old as u64;
            incident.findings.push((f, false));
            let told = if wants_notify {
                Some(incident.notified.map_or(incident.severity, |t| t.max(incident.severity)))
            } else {
                incident.notified
            };
            let mut wanted = Vec::new();
            if wants_notify {
                match incident.notified {
                    None => wanted.push(ActionKind::Notify),
                    Some(t) if incident.severity > t => {
                        wanted.push(ActionKind::Escalate { severity: incident.severity })
                    }
                    Some(_) => {}
                }
            }
            if wants_pause && incident.state == IncidentState::Open {
                wanted.push(ActionKind::Pause { scope: incident.scope });
            }
            wanted.retain(|k| !incident.actions.contains(k));
            if !wanted.is_empty() {
                self.undo.push(Change { block: block.number, before: incident.clone() });
            }
            incident.notified = told;
            for kind in wanted {
                incident.actions.insert(kind);
                if let ActionKind::Pause { .. } = kind {
                    incident.state = IncidentState::Acting { since: block.number };
                }
                due.push(Action { incident: incident.id, kind, block, evidence_hash });
            }
        }
        due
    }

    /// The Guardian paused `scope` (scope 0: its whole target) until `until` (unix seconds), seen at `block`:
    /// incidents about it are contained.
    pub fn paused(&mut self, scope: Scope, until: u64, block: u64) {
        for incident in self.open.values_mut().filter(|i| scope.covers(i.scope)) {
            if matches!(incident.state, IncidentState::Contained { until: u, .. } if u >= until) {
                continue;
            }
            self.undo.push(Change { block, before: incident.clone() });
            incident.state = IncidentState::Contained { since: block, until };
            self.changed.insert(incident.id);
        }
    }

    /// The pause `incident` decided at `block` would not be admitted (see `Refusal`): the incident is open
    /// again with its pause still wanted, tried again at every block by [`IncidentBook::pauses_wanted`].
    /// Returns the notification due when this kind of reason is new to the incident.
    pub fn pause_refused(&mut self, incident: B256, refusal: Refusal, block: BlockRef) -> Option<Action> {
        let i = self.open.values_mut().find(|i| i.id == incident)?;
        let scope = i.scope;
        self.undo.push(Change { block: block.number, before: i.clone() });
        i.actions.remove(&ActionKind::Pause { scope });
        if let IncidentState::Acting { .. } = i.state {
            i.state = IncidentState::Open;
        }
        self.changed.insert(i.id);
        tell_refusal(i, refusal, block)
    }

    /// The pause `incident` decided is stalled for `refusal` (the oracle network could not gather a quorum): it
    /// stays decided (the node keeps offering its share), and the notification is due when this kind of reason
    /// is new to the incident.
    pub fn pause_stalled(&mut self, incident: B256, refusal: Refusal, block: BlockRef) -> Option<Action> {
        let i = self.open.values_mut().find(|i| i.id == incident)?;
        let before = i.clone();
        let told = tell_refusal(i, refusal, block)?;
        self.undo.push(Change { block: block.number, before });
        self.changed.insert(i.id);
        Some(told)
    }

    /// The pauses wanted by incidents whose pause was refused and that are still open: each is decided again
    /// at `block` (the incident acting), for the responder to try.
    pub fn pauses_wanted(&mut self, block: BlockRef) -> Vec<Action> {
        let mut due = Vec::new();
        for i in self.open.values_mut() {
            let pause = ActionKind::Pause { scope: i.scope };
            let refused = i.actions.iter().any(|k| matches!(k, ActionKind::PauseRefused { .. }));
            if !refused || i.state != IncidentState::Open || i.actions.contains(&pause) {
                continue;
            }
            self.undo.push(Change { block: block.number, before: i.clone() });
            i.actions.insert(pause);
            i.state = IncidentState::Acting { since: block.number };
            self.changed.insert(i.id);
            due.push(Action { incident: i.id, kind: pause, block, evidence_hash: evidence_of(i) });
        }
        due
    }

    /// A pause decided by `incident` failed (its transaction reverted): it is open again, with its pause taken.
    pub fn pause_failed(&mut self, incident: B256, block: u64) {
        if let Some(i) = self.open.values_mut().find(|i| i.id == incident) {
            if let IncidentState::Acting { .. } = i.state {
                self.undo.push(Change { block, before: i.clone() });
                i.state = IncidentState::Open;
                self.changed.insert(i.id);
            }
        }
    }

    /// Governance lifted the pause of `scope` at `block`: incidents it covered are resolved.
    pub fn unpaused(&mut self, scope: Scope, block: u64) -> Vec<B256> {
        let keys: Vec<_> = self
            .open
            .iter()
            .filter(|(_, i)| scope.covers(i.scope) && matches!(i.state, IncidentState::Contained { .. }))
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter().filter_map(|k| self.resolve(&k, block, Resolution::Unpaused)).collect()
    }

    /// Ends what is over at `block` (timestamp `now`): pauses that ran out, and incidents quiet for the policy's
    /// window with no pause in force. Returns the ids of the incidents resolved.
    pub fn tick(&mut self, block: u64, now: u64) -> Vec<B256> {
        let quiet = self.policy.resolve_after_quiet_blocks;
        let ending: Vec<_> = self
            .open
            .iter()
            .filter_map(|(k, i)| match i.state {
                IncidentState::Contained { until, .. } if until <= now => Some((k.clone(), Resolution::PauseEnded)),
                IncidentState::Open | IncidentState::Acting { .. } if i.last_finding + quiet <= block => {
                    Some((k.clone(), Resolution::Quiet))
                }
                _ => None,
            })
            .collect();
        let floor = block.saturating_sub(self.reorg_depth);
        self.undo.retain(|c| c.block > floor);
        self.resolved.retain(|i| matches!(i.state, IncidentState::Resolved { block, .. } if block > floor));
        ending.into_iter().filter_map(|(k, reason)| self.resolve(&k, block, reason)).collect()
    }

    fn resolve(&mut self, key: &(String, Scope), block: u64, reason: Resolution) -> Option<B256> {
        let mut incident = self.open.remove(key)?;
        self.undo.push(Change { block, before: incident.clone() });
        incident.state = IncidentState::Resolved { block, reason };
        self.changed.insert(incident.id);
        let id = incident.id;
        self.resolved.push(incident);
        Some(id)
    }

    /// Unwinds to `ancestor`: findings of later blocks are retracted (never deleted), and incidents contained or
    /// resolved in later blocks return to the state they had.
    pub fn retract_after(&mut self, ancestor: BlockRef) {
        // The pauses that may be out are those the incidents (open, or resolved within the window) hold now,
        // before anything is unwound: a pause decided and then refused in the orphaned blocks was never sent,
        // and is not taken.
        let pauses_held: BTreeMap<B256, Vec<ActionKind>> = self
            .open
            .values()
            .chain(&self.resolved)
            .map(|i| (i.id, i.actions.iter().filter(|k| matches!(k, ActionKind::Pause { .. })).copied().collect()))
            .collect();
        while self.undo.last().is_some_and(|c| c.block > ancestor.number) {
            let Some(Change { before, .. }) = self.undo.pop() else { break };
            self.resolved.retain(|i| i.id != before.id);
            self.changed.insert(before.id);
            let key = (before.protocol.clone(), before.scope);
            let mut before = before;
            if let Some(now) = self.open.get(&key).filter(|i| i.id == before.id) {
                // What the incident gained since stays (findings are retracted below) except what the orphaned
                // block decided: its state, and the notifications not yet due (the replacement block's findings
                // are notified instead). A pause it decided and still holds stays taken, with the state it has
                // now: its transaction may be out, and the Guardian accepts a report once.
                let mut actions = before.actions.clone();
                let pauses = pauses_held.get(&before.id).map_or(&[][..], Vec::as_slice);
                let pause_since = pauses.iter().any(|k| !actions.contains(k));
                actions.extend(pauses.iter().copied());
                let state = if pause_since { now.state } else { before.state };
                before = Incident { state, notified: before.notified, actions, ..now.clone() };
            }
            self.open.insert(key, before);
        }
        for incident in self.open.values_mut() {
            for (f, retracted) in incident.findings.iter_mut() {
                if f.block.number > ancestor.number && !*retracted {
                    *retracted = true;
                    self.changed.insert(incident.id);
                }
            }
        }
    }

    /// Incidents not resolved.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// The incident with `id`, open or resolved within the reorg window.
    pub fn incident(&self, id: B256) -> Option<&Incident> {
        self.open.values().chain(self.resolved.iter()).find(|i| i.id == id)
    }

    /// The open incident about `scope` of `protocol`.
    pub fn incident_for(&self, protocol: &str, scope: Scope) -> Option<&Incident> {
        self.open.get(&(protocol.to_string(), scope))
    }

    /// The incidents opened or changed since the last call (for the store), clearing the list.
    pub fn take_changed(&mut self) -> Vec<Incident> {
        let ids = std::mem::take(&mut self.changed);
        ids.into_iter().filter_map(|id| self.incident(id).cloned()).collect()
    }

    /// Reopens an incident known from the store (after a restart); resolved ones are not kept.
    pub fn restore(&mut self, incident: Incident) {
        if !incident.state.is_resolved() {
            self.open.insert((incident.protocol.clone(), incident.scope), incident);
        }
    }

    /// Marks `kind` as already taken by `incident` (after a restart, from the store).
    pub fn mark_taken(&mut self, incident: B256, kind: ActionKind) {
        if let Some(i) = self.open.values_mut().find(|i| i.id == incident) {
            i.actions.insert(kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;

    fn finding(block: u64, severity: Severity, title: &str) -> Finding {
        Finding {
            detector: "d".into(),
            protocol: "venue".into(),
            scope: Scope::segment(Address::repeat_byte(1), 2),
            severity,
            kind: FindingKind::Exploit,
            block: BlockRef { number: block, hash: B256::repeat_byte(block as u8) },
            tx: None,
            title: title.into(),
            evidence: serde_json::json!({}),
            labels: Default::default(),
        }
    }

    #[test]
    fn findings_group_and_each_action_is_due_once() {
        let mut book = IncidentBook::new(Policy::default(), 64);
        let a = book.ingest(vec![finding(10, Severity::Medium, "x")]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, ActionKind::Notify);
        let b = book.ingest(vec![finding(11, Severity::Critical, "y")]);
        assert_eq!(
            kinds(&b),
            [ActionKind::Escalate { severity: Severity::Critical }, ActionKind::Pause { scope: SCOPE() }],
            "notify was already taken"
        );
        assert_eq!(b[0].incident, a[0].incident, "same protocol scope, same incident");
        assert!(book.ingest(vec![finding(12, Severity::Critical, "z")]).is_empty(), "pause at most once");
        assert_eq!(book.incidents().count(), 1);
    }

    fn kinds(actions: &[Action]) -> Vec<ActionKind> {
        actions.iter().map(|a| a.kind).collect()
    }

    const SCOPE: fn() -> Scope = || Scope::segment(Address::repeat_byte(1), 2);

    #[test]
    fn a_higher_severity_escalates_once_and_repeats_are_counted() {
        let mut book = IncidentBook::new(Policy::default(), 64);
        assert_eq!(kinds(&book.ingest(vec![finding(10, Severity::Medium, "a")])), [ActionKind::Notify]);
        assert!(book.ingest(vec![finding(11, Severity::Medium, "b")]).is_empty(), "same severity: told already");
        assert_eq!(
            kinds(&book.ingest(vec![finding(12, Severity::High, "c")])),
            [ActionKind::Escalate { severity: Severity::High }]
        );
        assert!(book.ingest(vec![finding(13, Severity::High, "c"), finding(14, Severity::Medium, "d")]).is_empty());
        let i = book.incidents().next().unwrap();
        assert_eq!((i.notified, i.suppressed), (Some(Severity::High), 1));
    }

    #[test]
    fn a_pause_contains_then_its_end_resolves_and_the_next_attack_is_a_new_incident() {
        let mut book = IncidentBook::new(Policy::default(), 64);
        let first = book.ingest(vec![finding(10, Severity::Critical, "x")]);
        assert_eq!(kinds(&first), [ActionKind::Notify, ActionKind::Pause { scope: SCOPE() }]);
        assert_eq!(book.incidents().next().unwrap().state, IncidentState::Acting { since: 10 });
        // A whole-target pause covers the segment.
        book.paused(Scope::whole(SCOPE().target), 5_000, 11);
        assert_eq!(book.incidents().next().unwrap().state, IncidentState::Contained { since: 11, until: 5_000 });
        assert!(book.ingest(vec![finding(12, Severity::Critical, "y")]).is_empty(), "contained: nothing more");
        assert!(book.tick(13, 4_999).is_empty(), "the pause still runs");
        let ended = book.tick(14, 5_000);
        assert_eq!(ended, vec![first[0].incident]);
        assert_eq!(book.incidents().count(), 0);
        let resolved = book.incident(first[0].incident).unwrap();
        assert_eq!(resolved.state, IncidentState::Resolved { block: 14, reason: Resolution::PauseEnded });
        let second = book.ingest(vec![finding(20, Severity::Critical, "x")]);
        assert_eq!(kinds(&second), [ActionKind::Notify, ActionKind::Pause { scope: SCOPE() }]);
        assert_ne!(second[0].incident, first[0].incident, "a new incident with its own actions");
    }

    #[test]
    fn governance_unpause_resolves_and_quiet_incidents_resolve() {
        let mut book = IncidentBook::new(Policy { resolve_after_quiet_blocks: 50, ..Policy::default() }, 64);
        let paused = book.ingest(vec![finding(10, Severity::Critical, "x")]);
        book.paused(SCOPE(), 9_999_999, 11);
        let other = Scope::segment(Address::repeat_byte(1), 3);
        assert!(book.unpaused(other, 12).is_empty(), "another segment's unpause");
        assert!(book.tick(100, 0).is_empty(), "contained incidents do not go quiet");
        assert_eq!(book.unpaused(SCOPE(), 101), vec![paused[0].incident]);
        let quiet = book.ingest(vec![finding(200, Severity::Medium, "m")]);
        assert!(book.tick(249, 0).is_empty());
        assert_eq!(book.tick(250, 0), vec![quiet[0].incident]);
        let ids: Vec<_> = book.take_changed().iter().map(|i| (i.id, i.state)).collect();
        assert!(ids.contains(&(quiet[0].incident, IncidentState::Resolved { block: 250, reason: Resolution::Quiet })));
    }

    #[test]
    fn a_failed_pause_reopens_without_pausing_again() {
        let mut book = IncidentBook::new(Policy::default(), 64);
        let a = book.ingest(vec![finding(10, Severity::Critical, "x")]);
        book.pause_failed(a[0].incident, 11);
        assert_eq!(book.incidents().next().unwrap().state, IncidentState::Open);
        assert!(book.ingest(vec![finding(12, Severity::Critical, "y")]).is_empty(), "each action once");
    }

    #[test]
    fn a_reorg_undoes_a_resolution_and_the_orphaned_notification() {
        let mut book = IncidentBook::new(Policy::default(), 64);
        let a = book.ingest(vec![finding(10, Severity::Critical, "x")]);
        book.paused(SCOPE(), 1_000, 11);
        book.tick(12, 1_000);
        assert_eq!(book.incidents().count(), 0);
        book.retract_after(BlockRef { number: 11, hash: B256::ZERO });
        let i = book.incidents().next().expect("reopened");
        assert_eq!((i.id, i.state), (a[0].incident, IncidentState::Contained { since: 11, until: 1_000 }));
        book.retract_after(BlockRef { number: 10, hash: B256::ZERO });
        assert_eq!(book.incidents().next().unwrap().state, IncidentState::Acting { since: 10 }, "the pause stays");

        // A pause decided in an orphaned block whose incident was then contained and resolved, all orphaned:
        // the pause stays taken (its transaction may be out), the incident acting.
        let mut book = IncidentBook::new(Policy::default(), 64);
        book.ingest(vec![finding(10, Severity::Low, "l")]);
        let p = book.ingest(vec![finding(11, Severity::Critical, "x")]);
        assert_eq!(kinds(&p), [ActionKind::Notify, ActionKind::Pause { scope: SCOPE() }]);
        book.paused(SCOPE(), 1_000, 12);
        assert_eq!(book.unpaused(SCOPE(), 13), [p[0].incident]);
        book.retract_after(BlockRef { number: 10, hash: B256::ZERO });
        let i = book.incidents().next().expect("reopened");
        assert_eq!(i.state, IncidentState::Acting { since: 11 });
        assert!(i.actions.contains(&ActionKind::Pause { scope: SCOPE() }));
        let again = book.ingest(vec![finding(11, Severity::Critical, "x2")]);
        assert!(again.iter().all(|a| a.kind != ActionKind::Pause { scope: SCOPE() }), "not decided twice");

        // A notification decided in an orphaned block is due again for the replacement block's finding.
        let mut book = IncidentBook::new(Policy::default(), 64);
        book.ingest(vec![finding(10, Severity::Low, "l")]);
        assert_eq!(kinds(&book.ingest(vec![finding(11, Severity::Medium, "m")])), [ActionKind::Notify]);
        book.retract_after(BlockRef { number: 10, hash: B256::ZERO });
        assert_eq!(kinds(&book.ingest(vec![finding(11, Severity::Medium, "m2")])), [ActionKind::Notify]);
    }

    #[test]
    fn policy_rules_set_thresholds_per_protocol_scope_and_detector() {
        let toml = r#"
            notify_at = "medium"
            [[rule]]
            detector = "noisy"
            notify_at = "critical"
            pause = false
            [[rule]]
            protocol = "venue"
            scope = 2
            pause_at = "high"
        "#;
        let policy: Policy = toml::from_str(toml).unwrap();
        let mut book = IncidentBook::new(policy, 64);
        // Scope 2 of the venue pauses from high.
        assert_eq!(
            kinds(&book.ingest(vec![finding(10, Severity::High, "h")])),
            [ActionKind::Notify, ActionKind::Pause { scope: SCOPE() }]
        );
        // The noisy detector never pauses and tells only critical findings, wherever they are.
        let mut noisy = finding(10, Severity::Critical, "n");
        noisy.detector = "noisy".into();
        noisy.scope = Scope::segment(Address::repeat_byte(9), 1);
        assert_eq!(kinds(&book.ingest(vec![noisy.clone()])), [ActionKind::Notify]);
        noisy.severity = Severity::High;
        noisy.scope = Scope::segment(Address::repeat_byte(9), 2);
        assert!(book.ingest(vec![noisy]).is_empty(), "high is below the noisy detector's notify_at");
        // Other findings keep the defaults: critical pauses.
        let mut other = finding(11, Severity::High, "o");
        other.scope = Scope::segment(Address::repeat_byte(1), 3);
        assert_eq!(kinds(&book.ingest(vec![other])), [ActionKind::Notify]);
        assert!(toml::from_str::<Policy>("[[rule]]\nseverity = \"high\"").is_err(), "unknown keys are refused");
    }

    #[test]
    fn a_refused_pause_is_told_once_per_reason_and_wanted_again_until_it_is_sent() {
        let mut book = IncidentBook::new(Policy::default(), 64);
        let a = book.ingest(vec![finding(10, Severity::Critical, "x")]);
        let at = |n: u64| BlockRef { number: n, hash: B256::repeat_byte(n as u8) };
        let cooldown = Refusal::InCooldown { until: 5 };
        let told = book.pause_refused(a[0].incident, cooldown, at(10)).expect("told");
        assert_eq!(told.kind, ActionKind::PauseRefused { scope: SCOPE(), refusal: cooldown });
        assert_eq!(kinds(&book.pauses_wanted(at(11))), [ActionKind::Pause { scope: SCOPE() }]);
        assert!(book.pauses_wanted(at(11)).is_empty(), "decided: acting");
        let later = Refusal::InCooldown { until: 9 };
        assert!(book.pause_refused(a[0].incident, later, at(11)).is_none(), "the same kind of reason");
        let budget = Refusal::BudgetExhausted { used: 1, requested: 2, budget: 2, next_window_at: 9 };
        assert!(book.pause_refused(a[0].incident, budget, at(11)).is_some(), "a new kind of reason");
        // A reorg of block 11 undoes the notification it decided, and the pause it decided and then refused:
        // that pause was never sent, so the incident is open with its pause wanted again.
        book.retract_after(at(10));
        let i = book.incidents().next().unwrap();
        assert_eq!(i.state, IncidentState::Open);
        assert!(!i.actions.contains(&ActionKind::Pause { scope: SCOPE() }));
        assert!(!i
            .actions
            .iter()
            .any(|k| matches!(k, ActionKind::PauseRefused { refusal: Refusal::BudgetExhausted { .. }, .. })));
        assert!(i.actions.contains(&ActionKind::PauseRefused { scope: SCOPE(), refusal: cooldown }), "block 10's");
        let again = at(11);
        assert_eq!(kinds(&book.pauses_wanted(again)), [ActionKind::Pause { scope: SCOPE() }]);
        // A pause decided in an orphaned block and not refused stays taken: its transaction may be out.
        book.retract_after(at(10));
        let i = book.incidents().next().unwrap();
        assert_eq!(i.state, IncidentState::Acting { since: 11 });
        assert!(i.actions.contains(&ActionKind::Pause { scope: SCOPE() }));
        assert!(book.pauses_wanted(at(11)).is_empty(), "still acting: not decided twice");
    }

    #[test]
    fn a_repeated_finding_is_suppressed() {
        let mut book = IncidentBook::new(Policy::default(), 64);
        book.ingest(vec![finding(10, Severity::Low, "same")]);
        book.ingest(vec![finding(11, Severity::Low, "same")]);
        let i = book.incidents().next().unwrap();
        assert_eq!(i.findings.len(), 1);
        assert_eq!(i.suppressed, 1);
    }

    #[test]
    fn a_reorg_retracts_and_keeps_findings() {
        let mut book = IncidentBook::new(Policy::default(), 64);
        book.ingest(vec![finding(10, Severity::Low, "a"), finding(12, Severity::Low, "b")]);
        book.retract_after(BlockRef { number: 11, hash: B256::ZERO });
        let i = book.incidents().next().unwrap();
        assert_eq!(i.findings.iter().map(|(_, r)| *r).collect::<Vec<_>>(), vec![false, true]);
    }
}
