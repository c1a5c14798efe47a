//! Stage correlation, in the spirit of Forta's attack detector: one actor seen in several attack stages
//! (funding, preparation, exploitation, laundering) within a window of blocks is an attack with higher confidence
//! than any one finding.
//!
//! [`StageCorrelator`] is not a [`vigil_core::Detector`]: it reads findings, not bundles. The engine calls
//! [`StageCorrelator::on_findings`] once per canonical block, in order, with that block's findings from every
//! detector, and [`StageCorrelator::revert_to`] on a reorg.
//!
//! Input: findings carrying both an `actor` and a `stage` label ([`Finding::actor`], [`Finding::stage`], set by
//! [`Finding::with_actor`]) and at least `min_severity_in`; others are ignored, and so are findings of the
//! correlator's own name (its combined findings are never fed back into it).
//!
//! Output: when the distinct stages of one actor's findings within the last `window_blocks` blocks reach
//! `min_stages` (and include exploitation, when `require_exploitation`), one combined finding: the correlator's
//! name as detector, `severity` (default critical), kind exploit, on the protocol and scope of the actor's latest
//! exploitation finding (its latest finding when none is), at the current block, with the transaction of the
//! actor's latest finding in that block. Labels: `actor`, `stage` (the anchor finding's), `stages` (comma list),
//! `correlated` (number of findings). Evidence: the actor, the stages, the window, and each finding (stage,
//! block, detector, title, severity, kind, transaction, scope), oldest first, at most [`MAX_EVIDENCE`].
//!
//! Only actors with a finding in the current block are evaluated, so the combined finding lands in the block that
//! completes the picture. Once per actor per window: after a combined finding at block `E`, the actor stays
//! quiet up to block `E + window_blocks - 1`; from block `E + window_blocks` on it is re-armed, and since the
//! window then holds only findings after `E`, a new combined finding needs `min_stages` stages seen after `E`.
//!
//! A finding counts in block `B`'s window when its block is in `B - window_blocks + 1 ..= B`. State is kept per
//! block (the accepted findings and the actors reported), so `revert_to` forgets orphaned blocks exactly,
//! including the combined findings they produced.
//!
//! Parameters (all optional): `name` (default "attack-stages"), `window_blocks` (default 300: an hour at 12 s),
//! `min_stages` (default 2), `severity` (default critical), `require_exploitation` (default true),
//! `min_severity_in` (default low).
//!
//! ```toml
//! name = "attack-stages"
//! window_blocks = 300
//! min_stages = 2
//! severity = "critical"
//! require_exploitation = true
//! min_severity_in = "low"
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use alloy::primitives::{Address, B256};
use serde::Deserialize;
use vigil_core::{finding::Stage, BlockRef, Finding, FindingKind, Scope, Severity};

/// Configuration of the stage correlator.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CorrelationConfig {
    /// Name of the combined findings' detector. Default "attack-stages".
    #[serde(default = "default_name")]
    pub name: String,
    /// Blocks over which one actor's stages are gathered (the current block included). Default 300.
    #[serde(default = "default_window")]
    pub window_blocks: u64,
    /// Distinct stages needed for a combined finding. Default 2.
    #[serde(default = "default_min_stages")]
    pub min_stages: usize,
    /// Severity of the combined finding. Default critical.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// Whether one of the stages must be exploitation. Default true.
    #[serde(default = "default_true")]
    pub require_exploitation: bool,
    /// Findings below this severity are ignored. Default low (info findings are ignored).
    #[serde(default = "default_min_in")]
    pub min_severity_in: Severity,
}

vigil_core::defaults! {
    default_name: String = "attack-stages".to_string();
    default_window: u64 = 300;
    default_min_stages: usize = 2;
    default_severity: Severity = Severity::Critical;
    default_true: bool = true;
    default_min_in: Severity = Severity::Low;
}

impl Default for CorrelationConfig {
    fn default() -> Self {
        Self {
            name: default_name(),
            window_blocks: default_window(),
            min_stages: default_min_stages(),
            severity: default_severity(),
            require_exploitation: default_true(),
            min_severity_in: default_min_in(),
        }
    }
}

/// A configuration the correlator cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorrelationError {
    /// `window_blocks` is 0.
    #[error("correlation `{name}`: window_blocks must be at least 1")]
    EmptyWindow {
        /// The correlator's name.
        name: String,
    },
    /// `min_stages` is not between 1 and 4.
    #[error("correlation `{name}`: min_stages must be between 1 and 4 (there are four stages), not {min_stages}")]
    Stages {
        /// The correlator's name.
        name: String,
        /// The value given.
        min_stages: usize,
    },
}

impl CorrelationConfig {
    /// Checks the values; [`StageCorrelator::new`] treats a 0 window as 1 and clamps `min_stages` to 1..=4.
    pub fn validate(&self) -> Result<(), CorrelationError> {
        if self.window_blocks == 0 {
            return Err(CorrelationError::EmptyWindow { name: self.name.clone() });
        }
        if !(1..=4).contains(&self.min_stages) {
            return Err(CorrelationError::Stages { name: self.name.clone(), min_stages: self.min_stages });
        }
        Ok(())
    }
}

/// At most this many findings are listed in a combined finding's evidence (the oldest first).
pub const MAX_EVIDENCE: usize = 64;

/// An accepted finding, as much as the combined finding needs.
#[derive(Debug, Clone)]
struct Seen {
    actor: Address,
    stage: Stage,
    block: BlockRef,
    detector: String,
    protocol: String,
    scope: Scope,
    severity: Severity,
    kind: FindingKind,
    tx: Option<B256>,
    title: String,
}

/// What one block taught the correlator.
#[derive(Debug, Clone)]
struct BlockEntry {
    block: BlockRef,
    seen: Vec<Seen>,
    /// Actors a combined finding was emitted for at this block.
    emitted: Vec<Address>,
}

/// Correlates findings by actor and stage.
pub struct StageCorrelator {
    cfg: CorrelationConfig,
    /// Blocks within the window that had accepted findings or emissions, oldest first.
    blocks: VecDeque<BlockEntry>,
}

impl StageCorrelator {
    /// A correlator from its configuration.
    pub fn new(mut cfg: CorrelationConfig) -> Self {
        cfg.window_blocks = cfg.window_blocks.max(1);
        cfg.min_stages = cfg.min_stages.clamp(1, 4);
        Self { cfg, blocks: VecDeque::new() }
    }

    /// The combined findings' detector name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Reads one canonical block's findings (from every detector, in order); returns the combined findings.
    pub fn on_findings(&mut self, block: BlockRef, findings: &[Finding]) -> Vec<Finding> {
        // A block at or below one already seen replaces it (the engine should have called `revert_to`).
        while self.blocks.back().is_some_and(|e| e.block.number >= block.number) {
            self.blocks.pop_back();
        }
        let window = self.cfg.window_blocks;
        while self.blocks.front().is_some_and(|e| e.block.number.saturating_add(window) <= block.number) {
            self.blocks.pop_front();
        }
        let seen: Vec<Seen> = findings
            .iter()
            .filter(|f| f.detector != self.cfg.name && f.severity >= self.cfg.min_severity_in)
            .filter_map(|f| {
                Some(Seen {
                    actor: f.actor()?,
                    stage: f.stage()?,
                    block,
                    detector: f.detector.clone(),
                    protocol: f.protocol.clone(),
                    scope: f.scope,
                    severity: f.severity,
                    kind: f.kind,
                    tx: f.tx,
                    title: f.title.clone(),
                })
            })
            .collect();
        let mut entry = BlockEntry { block, seen, emitted: Vec::new() };
        let mut actors: Vec<Address> = Vec::new();
        for s in &entry.seen {
            if !actors.contains(&s.actor) {
                actors.push(s.actor);
            }
        }
        let mut out = Vec::new();
        for actor in actors {
            if self.blocks.iter().any(|e| e.emitted.contains(&actor)) {
                continue;
            }
            let all: Vec<&Seen> = self
                .blocks
                .iter()
                .flat_map(|e| e.seen.iter())
                .chain(entry.seen.iter())
                .filter(|s| s.actor == actor)
                .collect();
            let stages: BTreeSet<Stage> = all.iter().map(|s| s.stage).collect();
            if stages.len() < self.cfg.min_stages
                || (self.cfg.require_exploitation && !stages.contains(&Stage::Exploitation))
            {
                continue;
            }
            out.push(self.combined(block, actor, &all, &stages));
            entry.emitted.push(actor);
        }
        if !entry.seen.is_empty() {
            self.blocks.push_back(entry);
        }
        out
    }

    /// Forgets everything learnt from blocks after `ancestor`, combined findings included.
    pub fn revert_to(&mut self, ancestor: BlockRef) {
        while self.blocks.back().is_some_and(|e| e.block.number > ancestor.number) {
            self.blocks.pop_back();
        }
    }

    fn combined(&self, block: BlockRef, actor: Address, all: &[&Seen], stages: &BTreeSet<Stage>) -> Finding {
        let latest = *all.last().expect("the actor has a finding in this block");
        let anchor = all.iter().rev().find(|s| s.stage == Stage::Exploitation).copied().unwrap_or(latest);
        let mut first: BTreeMap<Stage, &Seen> = BTreeMap::new();
        for s in all {
            first.entry(s.stage).or_insert(s);
        }
        let summary: Vec<String> =
            first.values().map(|s| format!("{} (#{} {})", s.stage.as_str(), s.block.number, s.detector)).collect();
        let listed: Vec<serde_json::Value> = all
            .iter()
            .take(MAX_EVIDENCE)
            .map(|s| {
                serde_json::json!({
                    "stage": s.stage.as_str(),
                    "block": s.block.number,
                    "detector": s.detector,
                    "title": s.title,
                    "severity": s.severity,
                    "kind": s.kind,
                    "tx": s.tx,
                    "scope": s.scope.to_string(),
                })
            })
            .collect();
        let stage_names: Vec<&str> = stages.iter().map(Stage::as_str).collect();
        let evidence = serde_json::json!({
            "actor": actor,
            "stages": stage_names,
            "window_blocks": self.cfg.window_blocks,
            "min_stages": self.cfg.min_stages,
            "findings": listed,
            "omitted": all.len().saturating_sub(MAX_EVIDENCE),
        });
        let title = format!(
            "{actor} seen in {} attack stages within {} blocks: {}",
            stages.len(),
            self.cfg.window_blocks,
            summary.join(", ")
        );
        let labels = [("stages", stage_names.join(",")), ("correlated", all.len().to_string())];
        let class = (anchor.scope, self.cfg.severity, FindingKind::Exploit);
        crate::finding((&self.cfg.name, &anchor.protocol), block, latest.tx, class, title, evidence, &labels)
            .with_actor(actor, anchor.stage)
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::address;

    use super::*;

    const ALICE: Address = address!("00000000000000000000000000000000000000a1");
    const BOB: Address = address!("00000000000000000000000000000000000000b0");
    const POOL: Address = address!("00000000000000000000000000000000000000c0");
    const VAULT: Address = address!("00000000000000000000000000000000000000d0");

    fn at(number: u64) -> BlockRef {
        BlockRef { number, hash: B256::from(alloy::primitives::U256::from(number)) }
    }

    fn finding(detector: &str, number: u64, actor: Address, stage: Stage, target: Address) -> Finding {
        Finding {
            detector: detector.into(),
            protocol: format!("proto-{detector}"),
            scope: Scope::segment(target, 3),
            severity: Severity::High,
            kind: FindingKind::Suspicious,
            block: at(number),
            tx: Some(B256::from(alloy::primitives::U256::from(number * 10))),
            title: format!("{detector} at {number}"),
            evidence: serde_json::Value::Null,
            labels: BTreeMap::new(),
        }
        .with_actor(actor, stage)
    }

    fn correlator() -> StageCorrelator {
        StageCorrelator::new(CorrelationConfig { window_blocks: 10, ..Default::default() })
    }

    #[test]
    fn the_toml_example_parses() {
        let text = crate::testdata::doc_toml(include_str!("correlation.rs"));
        let cfg: CorrelationConfig = toml::from_str(&text).unwrap();
        assert_eq!(cfg, CorrelationConfig::default());
        cfg.validate().unwrap();
        // Every key is optional; unknown keys and impossible values are refused.
        assert_eq!(toml::from_str::<CorrelationConfig>("").unwrap(), CorrelationConfig::default());
        assert!(toml::from_str::<CorrelationConfig>("window = 3").is_err());
        let bad: CorrelationConfig = toml::from_str("min_stages = 5").unwrap();
        assert!(matches!(bad.validate(), Err(CorrelationError::Stages { min_stages: 5, .. })));
        let bad: CorrelationConfig = toml::from_str("window_blocks = 0").unwrap();
        assert!(matches!(bad.validate(), Err(CorrelationError::EmptyWindow { .. })));
    }

    #[test]
    fn two_stages_of_one_actor_within_the_window_make_one_finding() {
        let mut c = correlator();
        assert!(c.on_findings(at(100), &[finding("deploy", 100, ALICE, Stage::Preparation, VAULT)]).is_empty());
        assert!(c.on_findings(at(101), &[]).is_empty());
        let out = c.on_findings(at(105), &[finding("outflow", 105, ALICE, Stage::Exploitation, POOL)]);
        assert_eq!(out.len(), 1, "{out:#?}");
        let f = &out[0];
        assert_eq!(
            (f.detector.as_str(), f.severity, f.kind),
            ("attack-stages", Severity::Critical, FindingKind::Exploit)
        );
        assert_eq!((f.scope, f.protocol.as_str(), f.block), (Scope::segment(POOL, 3), "proto-outflow", at(105)));
        assert_eq!(
            (f.actor(), f.stage(), f.tx),
            (Some(ALICE), Some(Stage::Exploitation), Some(B256::from(alloy::primitives::U256::from(1050))))
        );
        assert_eq!(f.labels["stages"], "preparation,exploitation");
        let listed = f.evidence["findings"].as_array().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!((listed[0]["block"].as_u64(), listed[0]["detector"].as_str()), (Some(100), Some("deploy")));
        assert_eq!(
            (listed[1]["stage"].as_str(), listed[1]["title"].as_str()),
            (Some("exploitation"), Some("outflow at 105"))
        );
        // Once per actor per window: more stages within the window add nothing.
        assert!(c.on_findings(at(106), &[finding("mixer", 106, ALICE, Stage::Laundering, POOL)]).is_empty());
        assert!(c.on_findings(at(114), &[finding("outflow", 114, ALICE, Stage::Exploitation, POOL)]).is_empty());
        // Re-armed at 105 + 10: the window (106..=115) holds the laundering and the exploitation after 105.
        let again = c.on_findings(at(115), &[finding("outflow", 115, ALICE, Stage::Exploitation, POOL)]);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].labels["correlated"], "3");
    }

    #[test]
    fn two_actors_with_one_stage_each_make_none() {
        let mut c = correlator();
        assert!(c.on_findings(at(100), &[finding("deploy", 100, ALICE, Stage::Preparation, VAULT)]).is_empty());
        assert!(c.on_findings(at(101), &[finding("outflow", 101, BOB, Stage::Exploitation, POOL)]).is_empty());
        // Nor does one actor with the same stage twice.
        assert!(c.on_findings(at(102), &[finding("outflow", 102, BOB, Stage::Exploitation, POOL)]).is_empty());
    }

    #[test]
    fn stages_beyond_the_window_make_none() {
        let mut c = correlator();
        assert!(c.on_findings(at(100), &[finding("deploy", 100, ALICE, Stage::Preparation, VAULT)]).is_empty());
        assert!(c.on_findings(at(110), &[finding("outflow", 110, ALICE, Stage::Exploitation, POOL)]).is_empty());
        // 109 is still within 100's window.
        let mut c = correlator();
        c.on_findings(at(100), &[finding("deploy", 100, ALICE, Stage::Preparation, VAULT)]);
        assert_eq!(c.on_findings(at(109), &[finding("outflow", 109, ALICE, Stage::Exploitation, POOL)]).len(), 1);
    }

    #[test]
    fn exploitation_is_required_unless_configured_otherwise() {
        let prep = finding("deploy", 100, ALICE, Stage::Preparation, VAULT);
        let funding = finding("mixer", 101, ALICE, Stage::Funding, VAULT);
        let mut c = correlator();
        c.on_findings(at(100), std::slice::from_ref(&prep));
        assert!(c.on_findings(at(101), std::slice::from_ref(&funding)).is_empty());
        let mut c = StageCorrelator::new(CorrelationConfig {
            window_blocks: 10,
            require_exploitation: false,
            ..Default::default()
        });
        c.on_findings(at(100), &[prep]);
        let out = c.on_findings(at(101), &[funding]);
        assert_eq!(out.len(), 1);
        // No exploitation finding: the latest finding gives the scope.
        assert_eq!((out[0].scope, out[0].stage()), (Scope::segment(VAULT, 3), Some(Stage::Funding)));
    }

    #[test]
    fn revert_to_forgets_orphaned_blocks() {
        let mut c = correlator();
        c.on_findings(at(100), &[finding("deploy", 100, ALICE, Stage::Preparation, VAULT)]);
        c.revert_to(at(99));
        assert!(c.on_findings(at(101), &[finding("outflow", 101, ALICE, Stage::Exploitation, POOL)]).is_empty());
        // A combined finding in an orphaned block is forgotten too: the new chain's block reports again.
        let mut c = correlator();
        c.on_findings(at(100), &[finding("deploy", 100, ALICE, Stage::Preparation, VAULT)]);
        assert_eq!(c.on_findings(at(101), &[finding("outflow", 101, ALICE, Stage::Exploitation, POOL)]).len(), 1);
        c.revert_to(at(100));
        assert_eq!(c.on_findings(at(101), &[finding("outflow", 101, ALICE, Stage::Exploitation, POOL)]).len(), 1);
    }

    #[test]
    fn its_own_findings_and_unlabelled_ones_are_not_ingested() {
        let mut c = correlator();
        c.on_findings(at(100), &[finding("deploy", 100, ALICE, Stage::Preparation, VAULT)]);
        let combined = c.on_findings(at(101), &[finding("outflow", 101, ALICE, Stage::Exploitation, POOL)]);
        assert_eq!(combined.len(), 1);
        // Fed back (as a careless engine might) with another actor's preparation: no second combined finding.
        let mut own = combined[0].clone();
        own = own.with_actor(BOB, Stage::Exploitation);
        own.block = at(102);
        assert!(c.on_findings(at(102), &[finding("deploy", 102, BOB, Stage::Preparation, VAULT), own]).is_empty());
        // No actor or no stage label, or below `min_severity_in`: ignored.
        let mut unlabelled = finding("outflow", 103, BOB, Stage::Exploitation, POOL);
        unlabelled.labels.remove(vigil_core::finding::LABEL_STAGE);
        assert!(c.on_findings(at(103), &[unlabelled]).is_empty());
        let mut info = finding("outflow", 104, BOB, Stage::Exploitation, POOL);
        info.severity = Severity::Info;
        assert!(c.on_findings(at(104), &[info]).is_empty());
        // The same finding at low severity is taken.
        let mut low = finding("outflow", 105, BOB, Stage::Exploitation, POOL);
        low.severity = Severity::Low;
        assert_eq!(c.on_findings(at(105), &[low]).len(), 1);
    }
}
