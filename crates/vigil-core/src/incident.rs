//! Incidents and the actions they take: what the incident book produces and the store keeps.
//!
//! An [`Incident`] groups findings about one protocol scope; each [`Action`] it takes (an [`ActionKind`]: notify,
//! pause) is due once. The grouping and the policy that decides actions live in `vigil_respond::IncidentBook`.

use std::collections::BTreeSet;

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

use crate::{BlockRef, Finding, Scope, Severity};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ActionKind {
    /// Tell people (webhook).
    Notify,
    /// Pause the scope through the Guardian.
    Pause {
        /// The scope.
        scope: Scope,
    },
}

/// An action an incident takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// The incident.
    pub incident: B256,
    /// What to do.
    pub kind: ActionKind,
    /// The block whose findings led to it.
    pub block: BlockRef,
    /// Hash of the evidence (the findings that led to it), for the pause report.
    pub evidence_hash: B256,
}

/// Findings about one protocol scope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id: keccak of protocol, scope and the first block.
    pub id: B256,
    /// The protocol.
    pub protocol: String,
    /// The scope.
    pub scope: Scope,
    /// The block of its first finding.
    pub opened_at: BlockRef,
    /// Highest severity seen.
    pub severity: Severity,
    /// Its findings (duplicates suppressed), with whether a reorg retracted them.
    pub findings: Vec<(Finding, bool)>,
    /// Actions taken.
    pub actions: BTreeSet<ActionKind>,
    /// Findings suppressed as duplicates.
    pub suppressed: u64,
}
