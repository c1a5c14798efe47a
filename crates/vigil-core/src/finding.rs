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

/// Label naming the address a finding blames (the attacker's account or contract), for stage correlation.
pub const LABEL_ACTOR: &str = "actor";
/// Label naming the attack stage a finding belongs to (see [`Stage`]).
pub const LABEL_STAGE: &str = "stage";

/// The stages of an attack, in the spirit of Forta's attack detector: funding the attacker, preparing (deploying
/// the attack contract), exploitation, and laundering the proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Money reaching the attacker (a mixer withdrawal, a fresh account funded).
    Funding,
    /// Setting the attack up (a contract deployed, approvals, a proposal).
    Preparation,
    /// Funds taken.
    Exploitation,
    /// Proceeds moved away (to a mixer or a bridge).
    Laundering,
}

impl Stage {
    /// The label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Stage::Funding => "funding",
            Stage::Preparation => "preparation",
            Stage::Exploitation => "exploitation",
            Stage::Laundering => "laundering",
        }
    }

    /// Parses a label value.
    pub fn parse(s: &str) -> Option<Stage> {
        [Stage::Funding, Stage::Preparation, Stage::Exploitation, Stage::Laundering]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl Finding {
    /// The address the finding blames, from its `actor` label.
    pub fn actor(&self) -> Option<Address> {
        self.labels.get(LABEL_ACTOR).and_then(|a| a.parse().ok())
    }

    /// The attack stage, from its `stage` label.
    pub fn stage(&self) -> Option<Stage> {
        self.labels.get(LABEL_STAGE).and_then(|s| Stage::parse(s))
    }

    /// Sets the `actor` and `stage` labels.
    pub fn with_actor(mut self, actor: Address, stage: Stage) -> Self {
        self.labels.insert(LABEL_ACTOR.to_string(), actor.to_string());
        self.labels.insert(LABEL_STAGE.to_string(), stage.as_str().to_string());
        self
    }
}
