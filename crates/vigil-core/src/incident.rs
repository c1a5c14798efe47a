//! Incidents and the actions they take: what the incident book produces and the store keeps.
//!
//! An [`Incident`] groups findings about one protocol scope; each [`Action`] it takes (an [`ActionKind`]: notify,
//! escalate to a higher severity, pause) is due once. It lives through an [`IncidentState`]: open → acting (a pause
//! decided) → contained (the scope paused) → resolved (the pause ended, governance lifted it, or no new finding
//! for a while); after that, a finding about the same scope opens a new incident with its own actions. The grouping
//! and the policy that decides actions live in `vigil_respond::IncidentBook`.

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
    /// Tell people again: a finding raised the incident's severity above what they were told.
    Escalate {
        /// The new severity.
        severity: Severity,
    },
    /// Pause the scope through the Guardian.
    Pause {
        /// The scope.
        scope: Scope,
    },
    /// Tell people that the incident wants a pause the Guardian would not admit now, and why. Told once per
    /// kind of reason per incident; the pause is tried again at every block until it is admitted.
    PauseRefused {
        /// The scope.
        scope: Scope,
        /// Why.
        refusal: Refusal,
    },
}

impl ActionKind {
    /// Whether it tells people (a notification), rather than acting on chain.
    pub fn is_notification(&self) -> bool {
        !matches!(self, ActionKind::Pause { .. })
    }
}

/// Why a pause the policy wants would not be admitted by the Guardian now (what `pauseWithQuorum` would revert
/// with, read from its state before anything is sent). Times are unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Refusal {
    /// Governance granted no mandate for the scope (or revoked it).
    NoMandate,
    /// The mandate ran out.
    MandateExpired {
        /// When it ended.
        expiry: u64,
    },
    /// The scope, or its whole target, is paused already.
    AlreadyPaused {
        /// When that pause ends.
        until: u64,
    },
    /// The scope's cooldown after its last pause (or governance lifting it) has not ended.
    InCooldown {
        /// When it ends.
        until: u64,
    },
    /// Governance lifted a pause of the whole target, and the cooldown it put on every scope has not ended.
    TargetInCooldown {
        /// When it ends.
        until: u64,
    },
    /// The target's pause budget for the current window is spent.
    BudgetExhausted {
        /// Seconds charged in the window.
        used: u64,
        /// Seconds this pause would charge.
        requested: u64,
        /// The budget.
        budget: u64,
        /// When the next window may open.
        next_window_at: u64,
    },
    /// This node holds fewer keys of the current oracle set than its threshold.
    TooFewSigners {
        /// Keys held that are in the oracle set.
        held: u64,
        /// Signatures needed.
        threshold: u64,
    },
    /// The oracle network: this node signed the pause, and too few other members of the oracle set did within
    /// the configured blocks (peers down, partitioned, or not seeing the attack). Not a Guardian rule: the share
    /// stays offered to the peers, and the pause lands if enough of them sign before the report expires.
    QuorumUnreachable {
        /// Members whose signatures this node holds.
        signers: u64,
        /// Signatures needed.
        threshold: u64,
    },
}

impl Refusal {
    /// Whether `other` is the same kind of reason (times aside): a reason is told once per incident.
    pub fn same_reason(&self, other: &Refusal) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoMandate => write!(f, "the Guardian holds no mandate for the scope"),
            Refusal::MandateExpired { expiry } => write!(f, "the scope's mandate expired at {expiry}"),
            Refusal::AlreadyPaused { until } => write!(f, "already paused until {until}"),
            Refusal::InCooldown { until } => write!(f, "the scope is in its cooldown until {until}"),
            Refusal::TargetInCooldown { until } => {
                write!(f, "governance lifted a pause of the whole target; every scope waits until {until}")
            }
            Refusal::BudgetExhausted { used, requested, budget, next_window_at } => write!(
                f,
                "the target's pause budget is spent ({used} s used + {requested} s > {budget} s; the next window opens at {next_window_at})"
            ),
            Refusal::TooFewSigners { held, threshold } => {
                write!(f, "this node holds {held} keys of the oracle set, {threshold} signatures are needed")
            }
            Refusal::QuorumUnreachable { signers, threshold } => write!(
                f,
                "quorum unreachable: {signers} of the {threshold} signatures needed were collected from the oracle \
                 network"
            ),
        }
    }
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

/// Why an incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// The Guardian's pause ran out.
    PauseEnded,
    /// Governance lifted the pause (`Unpaused`).
    Unpaused,
    /// No new finding for the policy's quiet window, and no pause in force.
    Quiet,
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resolution::PauseEnded => "the pause ended",
            Resolution::Unpaused => "governance unpaused",
            Resolution::Quiet => "no new finding",
        })
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum IncidentState {
    /// Findings, no pause decided.
    Open,
    /// A pause was decided at `since` and has not been seen landing.
    Acting {
        /// The block whose findings decided it.
        since: u64,
    },
    /// The Guardian paused the scope (or its whole target).
    Contained {
        /// The block whose `Paused` event was seen.
        since: u64,
        /// When the pause ends (unix seconds).
        until: u64,
    },
    /// Over; a later finding about the scope opens a new incident.
    Resolved {
        /// The block at which it ended.
        block: u64,
        /// Why.
        reason: Resolution,
    },
}

impl IncidentState {
    /// Whether it is over.
    pub fn is_resolved(&self) -> bool {
        matches!(self, IncidentState::Resolved { .. })
    }
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
    /// Where it stands.
    pub state: IncidentState,
    /// The highest severity people were told about (by its notification or an escalation).
    pub notified: Option<Severity>,
    /// The block of its latest finding.
    pub last_finding: u64,
    /// Its recent findings (duplicates suppressed; those older than the reorg window are counted in `earlier`),
    /// with whether a reorg retracted them.
    pub findings: Vec<(Finding, bool)>,
    /// Findings no longer kept in `findings` (older than the reorg window; the store has them all).
    pub earlier: u64,
    /// Actions taken.
    pub actions: BTreeSet<ActionKind>,
    /// Findings suppressed as duplicates.
    pub suppressed: u64,
}
