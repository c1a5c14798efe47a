//! The conformance suite every detector kind passes (test builds only), after reth's stage test suite: the same
//! checks for every kind, so that a new kind cannot forget one.
//!
//! Each kind supplies a [`Case`] ([`Conformance`], in its tests): its module documentation, whose TOML example
//! on the proving ground's venue (the first `[[detector]]` of the kind with `protocol = "venue"`) is the
//! configuration tested, so that the documented example is known to work; a scenario in which it fires; and a
//! recorded mainnet block with a configuration for it. [`check`] then asserts:
//!
//! 1. **fresh state**: built from its table (which validates), the detector fires on the scenario's blocks, and
//!    two fresh runs agree (no state outside the detector);
//! 2. **execute, unwind, execute**: run past its first finding, revert to a block before it, run the rest: the
//!    same findings block by block as the fresh run; the same for an unwind of the run's last blocks;
//! 3. **a retried block does not count twice**: every block handed over twice (the engine's retry) gives the
//!    fresh run's findings both times, and the blocks after it too;
//! 4. **what it reads is what it says** ([`DetectorKind::reads`]): without traces, a kind that does not read them
//!    finds the same, one that reads them optionally does not fail, and one that requires them fails with an
//!    error a retry cannot cure; without receipts, a kind that does not read them finds the same;
//! 5. **silence on a recorded mainnet block**: configured on that block's contracts, no finding and no error.

use std::collections::BTreeSet;

use vigil_core::{Bundle, Detector, Finding};
use vigil_sim::scenario::{find, RunOptions, ScenarioRun};

use crate::registry::{BuildContext, DetectorKind, TraceUse};

/// What a kind supplies to the suite.
pub struct Case {
    /// The kind's module source (`include_str!`): its documented example on the venue, whose addresses are those
    /// of `crates/vigil/config/demo.toml` (the same deployer and nonces always give the same addresses).
    pub doc: &'static str,
    /// A scenario in which the example fires.
    pub scenario: &'static str,
    /// How many of the scenario's blocks to run (its attack executes at block 100).
    pub blocks: u64,
    /// A recorded mainnet block and a table for it (from `crate::testdata`) on which the detector is silent.
    pub mainnet: fn() -> (String, Bundle),
}

impl Case {
    /// A case: the module source, `blocks` of `scenario`, and the mainnet block.
    pub fn new(doc: &'static str, (scenario, blocks): (&'static str, u64), mainnet: fn() -> (String, Bundle)) -> Self {
        Self { doc, scenario, blocks, mainnet }
    }

    /// The documented example on the venue of kind `kind`, as TOML without its `type`.
    fn venue_example(&self, kind: &str) -> String {
        let doc: toml::Table = toml::from_str(&crate::testdata::doc_toml(self.doc)).expect("the doc example parses");
        let tables = doc.get("detector").and_then(|d| d.as_array()).expect("the doc example has [[detector]]s");
        let mut table = (tables.iter().filter_map(|t| t.as_table()))
            .find(|t| t["type"].as_str() == Some(kind) && t["protocol"].as_str() == Some("venue"))
            .unwrap_or_else(|| panic!("{kind}: no documented example with protocol = \"venue\""))
            .clone();
        table.remove("type");
        toml::to_string(&table).unwrap()
    }
}

/// A kind's case: implemented in each kind's tests ([`case!`]); the registry's conformance test needs it.
pub trait Conformance {
    /// The kind's case.
    fn case() -> Case;
}

/// Implements [`Conformance`] for a kind: `case!(Config, "module.rs", "scenario", blocks, mainnet_case)`.
macro_rules! case {
    ($config:ty, $file:literal, $scenario:literal, $blocks:literal, $mainnet:expr) => {
        impl $crate::conformance::Conformance for $config {
            fn case() -> $crate::conformance::Case {
                $crate::conformance::Case::new(include_str!($file), ($scenario, $blocks), $mainnet)
            }
        }
    };
}
pub(crate) use case;

/// Findings per block.
type Run = Vec<Vec<Finding>>;

/// Runs every check on kind `K` (see the module documentation).
pub fn check<K: DetectorKind + Conformance>() {
    let case = K::case();
    let kind = K::TYPE;
    let cfg: K = toml::from_str(&case.venue_example(kind)).unwrap_or_else(|e| panic!("{kind}: the doc example: {e}"));
    assert_eq!(cfg.validate(), vec![], "{kind}: the doc example validates");
    let ctx = BuildContext::default();
    let make = || cfg.build(&ctx).unwrap_or_else(|e| panic!("{kind}: builds: {e}"));
    let bundles = scenario_bundles(case.scenario, case.blocks, &make().probes());

    // 1. Fresh state.
    let fresh = run(&mut *make(), &bundles);
    let first = fresh.iter().position(|f| !f.is_empty());
    let first =
        first.unwrap_or_else(|| panic!("{kind}: no finding on the first {} blocks of {}", case.blocks, case.scenario));
    assert_eq!(run(&mut *make(), &bundles), fresh, "{kind}: two fresh runs agree");

    // 2. Execute, unwind, execute: across the first finding, and at the end of the run.
    let depth = 8.min(ctx.reorg_depth as usize);
    for (ancestor, tip) in [(first.saturating_sub(depth / 2), (first + depth / 2).min(bundles.len() - 1)), {
        let tip = bundles.len() - 1;
        (tip - depth, tip)
    }] {
        let mut det = make();
        let mut seen = run(&mut *det, &bundles[..=tip]);
        det.revert_to(bundles[ancestor].block_ref());
        seen.truncate(ancestor + 1);
        seen.extend(run(&mut *det, &bundles[ancestor + 1..]));
        assert_eq!(seen, fresh, "{kind}: executed to #{tip}, unwound to #{ancestor}, executed again");
    }

    // 3. A retried block does not count twice.
    let mut det = make();
    for (i, bundle) in bundles.iter().enumerate() {
        let once = det.on_block(bundle).unwrap();
        let twice = det.on_block(bundle).unwrap();
        assert_eq!((&once, &twice), (&fresh[i], &fresh[i]), "{kind}: block #{i} handed over twice");
    }

    // 4. What it reads is what it says.
    let reads = cfg.reads();
    let without_traces = stripped(&bundles, |b| b.traces = None);
    match reads.traces {
        TraceUse::Unused => {
            assert_eq!(run(&mut *make(), &without_traces), fresh, "{kind}: says it does not read traces")
        }
        TraceUse::Optional => {
            let mut det = make();
            for b in &without_traces {
                det.on_block(b).unwrap_or_else(|e| panic!("{kind}: says traces are optional: {e}"));
            }
        }
        TraceUse::Required => {
            let e = make().on_block(&without_traces[0]).expect_err("says it requires traces");
            assert!(!e.retryable(), "{kind}: without traces, a retry cannot help: {e}");
        }
    }
    if !reads.receipts {
        let without = stripped(&bundles, |b| b.receipts.clear());
        assert_eq!(run(&mut *make(), &without), fresh, "{kind}: says it does not read receipts");
    }

    // 5. Silence on a recorded mainnet block.
    let (table, block) = (case.mainnet)();
    let cfg: K = toml::from_str(&table).unwrap_or_else(|e| panic!("{kind}: the mainnet table: {e}"));
    assert_eq!(cfg.validate(), vec![], "{kind}: the mainnet table validates");
    let mut det = cfg.build(&ctx).unwrap();
    let findings =
        det.on_block(&block).unwrap_or_else(|e| panic!("{kind}: on mainnet block #{}: {e}", block.header.number));
    assert_eq!(findings, vec![], "{kind}: silent on mainnet block #{}", block.header.number);
}

/// The detector's findings on each of `bundles`, in order.
fn run(det: &mut dyn Detector, bundles: &[Bundle]) -> Run {
    bundles.iter().map(|b| det.on_block(b).unwrap_or_else(|e| panic!("{e}"))).collect()
}

/// `bundles`, each changed by `strip`.
fn stripped(bundles: &[Bundle], strip: impl Fn(&mut Bundle)) -> Vec<Bundle> {
    bundles
        .iter()
        .map(|b| {
            let mut b = b.clone();
            strip(&mut b);
            b
        })
        .collect()
}

/// The first `blocks` blocks of scenario `name` (seed 1, with traces), with `probes` read at each.
fn scenario_bundles(name: &str, blocks: u64, probes: &[vigil_core::Probe]) -> Vec<Bundle> {
    let opts = RunOptions { seed: 1, tracing: true, blocks: Some(blocks), ..Default::default() };
    let mut run = ScenarioRun::start(find(name).unwrap(), opts).unwrap();
    let probes: BTreeSet<_> = probes.iter().cloned().collect();
    let mut out = Vec::new();
    while let Some(block) = run.next_block(vec![]).unwrap() {
        out.push(run.chain.bundle(&block, &probes));
    }
    out
}
