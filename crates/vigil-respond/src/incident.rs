//! Incidents: findings grouped by (protocol, scope), with the actions a policy mandates, each taken once.
//!
//! The types an incident is made of ([`Incident`], [`Action`], [`ActionKind`]) live in `vigil_core::incident`,
//! so that a store can keep them without depending on the responders; they are re-exported here.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{keccak256, B256};
use serde::{Deserialize, Serialize};
use vigil_core::{BlockRef, Finding, FindingKind, Scope, Severity};

pub use vigil_core::incident::{Action, ActionKind, Incident};

/// Which findings lead to which actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Findings at or above this severity are notified. Default medium.
    pub notify_at: Severity,
    /// Exploit or suspicious findings at or above this severity pause their scope. Default critical.
    pub pause_at: Severity,
}

impl Default for Policy {
    fn default() -> Self {
        Self { notify_at: Severity::Medium, pause_at: Severity::Critical }
    }
}

/// Open incidents, by protocol and scope.
#[derive(Debug, Default)]
pub struct IncidentBook {
    policy: Policy,
    open: BTreeMap<(String, Scope), Incident>,
}

impl IncidentBook {
    /// An empty book with `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { policy, open: BTreeMap::new() }
    }

    /// Adds a block's findings; returns the actions newly due (each incident takes each action once).
    pub fn ingest(&mut self, findings: Vec<Finding>) -> Vec<Action> {
        let mut due = Vec::new();
        for f in findings {
            let key = (f.protocol.clone(), f.scope);
            let incident = self.open.entry(key).or_insert_with(|| Incident {
                id: keccak256(format!("{}|{}|{}|{}", f.protocol, f.scope.target, f.scope.id, f.block.hash)),
                protocol: f.protocol.clone(),
                scope: f.scope,
                opened_at: f.block,
                severity: f.severity,
                findings: Vec::new(),
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
            incident.severity = incident.severity.max(f.severity);
            let evidence_hash = keccak256(serde_json::to_vec(&f).unwrap_or_default());
            let block = f.block;
            let wants_pause =
                f.severity >= self.policy.pause_at && matches!(f.kind, FindingKind::Exploit | FindingKind::Suspicious);
            let wants_notify = f.severity >= self.policy.notify_at;
            incident.findings.push((f, false));
            for (wanted, kind) in
                [(wants_notify, ActionKind::Notify), (wants_pause, ActionKind::Pause { scope: incident.scope })]
            {
                if wanted && incident.actions.insert(kind) {
                    due.push(Action { incident: incident.id, kind, block, evidence_hash });
                }
            }
        }
        due
    }

    /// Marks findings of blocks after `ancestor` as retracted (never deleted).
    pub fn retract_after(&mut self, ancestor: BlockRef) {
        for incident in self.open.values_mut() {
            for (f, retracted) in incident.findings.iter_mut() {
                if f.block.number > ancestor.number {
                    *retracted = true;
                }
            }
        }
    }

    /// Every incident.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.open.values()
    }

    /// The open incident about `scope` of `protocol`.
    pub fn incident_for(&self, protocol: &str, scope: Scope) -> Option<&Incident> {
        self.open.get(&(protocol.to_string(), scope))
    }

    /// Reopens an incident known from the store, with no findings (after a restart).
    pub fn restore(&mut self, id: B256, protocol: String, scope: Scope, opened_at: BlockRef) {
        self.open.entry((protocol.clone(), scope)).or_insert_with(|| Incident {
            id,
            protocol,
            scope,
            opened_at,
            severity: Severity::Info,
            findings: Vec::new(),
            actions: BTreeSet::new(),
            suppressed: 0,
        });
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
        let mut book = IncidentBook::new(Policy::default());
        let a = book.ingest(vec![finding(10, Severity::Medium, "x")]);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, ActionKind::Notify);
        let b = book.ingest(vec![finding(11, Severity::Critical, "y")]);
        assert_eq!(b.len(), 1, "notify was already taken");
        assert!(matches!(b[0].kind, ActionKind::Pause { .. }));
        assert_eq!(b[0].incident, a[0].incident, "same protocol scope, same incident");
        assert!(book.ingest(vec![finding(12, Severity::Critical, "z")]).is_empty(), "pause at most once");
        assert_eq!(book.incidents().count(), 1);
    }

    #[test]
    fn a_repeated_finding_is_suppressed() {
        let mut book = IncidentBook::new(Policy::default());
        book.ingest(vec![finding(10, Severity::Low, "same")]);
        book.ingest(vec![finding(11, Severity::Low, "same")]);
        let i = book.incidents().next().unwrap();
        assert_eq!(i.findings.len(), 1);
        assert_eq!(i.suppressed, 1);
    }

    #[test]
    fn a_reorg_retracts_and_keeps_findings() {
        let mut book = IncidentBook::new(Policy::default());
        book.ingest(vec![finding(10, Severity::Low, "a"), finding(12, Severity::Low, "b")]);
        book.retract_after(BlockRef { number: 11, hash: B256::ZERO });
        let i = book.incidents().next().unwrap();
        assert_eq!(i.findings.iter().map(|(_, r)| *r).collect::<Vec<_>>(), vec![false, true]);
    }
}
