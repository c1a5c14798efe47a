//! Findings: what a detector saw, where, how bad, and the evidence.

use std::collections::BTreeMap;
use std::fmt;

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::scope::Scope;

/// How bad a finding is, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look.
    Low,
    /// Needs a human soon.
    Medium,
    /// Likely an attack or a dangerous change.
    High,
    /// Funds are being taken now.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        };
        f.write_str(s)
    }
}

/// What kind of thing a finding reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// An attack in progress.
    Exploit,
    /// Something that often precedes or accompanies an attack.
    Suspicious,
    /// The protocol is in a degraded state (insolvent market, stale oracle).
    Degraded,
    /// Informational.
    Info,
}

/// A block, by number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlockRef {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The detector's configured name.
    pub detector: String,
    /// The protocol it watches.
    pub protocol: String,
    /// The protocol segment concerned.
    pub scope: Scope,
    /// How bad.
    pub severity: Severity,
    /// What kind.
    pub kind: FindingKind,
    /// Where it was seen.
    pub block: BlockRef,
    /// The transaction, when one is to blame.
    pub tx: Option<B256>,
    /// One line for humans.
    pub title: String,
    /// The numbers behind it.
    pub evidence: serde_json::Value,
    /// Free labels (asset, contract, rule).
    pub labels: BTreeMap<String, String>,
}

impl Finding {
    /// The contract the finding is about.
    pub fn target(&self) -> Address {
        self.scope.target
    }
}
