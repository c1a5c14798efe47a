//! Every detector of the demo's configuration passes the same unwind test on real blocks (the legacy-borrow-drain
//! scenario, whose drain trips the outflow rule): processing blocks, reverting to an ancestor and processing the
//! same blocks again gives exactly the findings of a run that never reverted; and the engine marks the findings
//! of orphaned blocks retracted, keeping them.

use vigil::{
    config::{Config, DetectorConfig},
    demo::DEMO_CONFIG,
    engine::Engine,
};
use vigil_core::{Bundle, Finding};
use vigil_sim::scenario::{find, RunOptions, ScenarioRun};

/// Bundles of blocks 60..=160 of legacy-borrow-drain, with every probe of `config` read at each block.
fn bundles(config: &Config) -> Vec<Bundle> {
    let mut run = ScenarioRun::start(
        find("legacy-borrow-drain").unwrap(),
        RunOptions { tracing: config.needs_traces(), ..Default::default() },
    )
    .unwrap();
    let probes = Engine::new(config.build_detectors(), config.policy.clone(), None).probes().clone();
    let mut out = Vec::new();
    while let Some(block) = run.next_block(vec![]).unwrap() {
        if (60..=160).contains(&block.number()) {
            out.push(run.chain.bundle(&block, &probes));
        }
    }
    out
}

fn findings_of(d: &DetectorConfig, bundles: &[Bundle], revert: Option<(usize, usize)>) -> Vec<Finding> {
    let mut detector = d.build(&Default::default()).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    let mut reverted = false;
    while i < bundles.len() {
        let found = detector.on_block(&bundles[i]).unwrap();
        match revert {
            Some((at, to)) if i == at && !reverted => {
                // Blocks after `to` are orphaned: forget them and their findings, then process them again.
                detector.revert_to(bundles[to].block_ref());
                out.retain(|f: &Finding| f.block.number <= bundles[to].block_ref().number);
                reverted = true;
                i = to + 1;
                continue;
            }
            _ => out.extend(found),
        }
        i += 1;
    }
    out
}

#[test]
fn execute_then_unwind_then_execute_gives_the_same_findings_for_every_detector() {
    let config = Config::parse("demo.toml", DEMO_CONFIG).unwrap();
    let bundles = bundles(&config);
    let mut tripped = 0;
    for d in &config.detectors {
        let straight = findings_of(d, &bundles, None);
        // Revert 20 blocks in the middle of the drain (the drain runs from block 100 to 141).
        let with_reorg = findings_of(d, &bundles, Some((80, 60)));
        assert_eq!(straight, with_reorg, "detector {} after an unwind", d.name());
        if !straight.is_empty() {
            tripped += 1;
        }
    }
    assert!(tripped >= 1, "the test exercises at least one detector that finds something");
}

#[test]
fn the_engine_retracts_findings_of_orphaned_blocks_and_keeps_them() {
    let config = Config::parse("demo.toml", DEMO_CONFIG).unwrap();
    let bundles = bundles(&config);
    let mut engine = Engine::new(config.build_detectors(), config.policy.clone(), None);
    for b in &bundles {
        engine.process(b).unwrap();
    }
    let before: usize = engine.incidents().incidents().map(|i| i.findings.len()).sum();
    assert!(before > 0);
    let ancestor = bundles[40].block_ref();
    engine.revert_to(ancestor).unwrap();
    let all: Vec<_> = engine.incidents().incidents().flat_map(|i| i.findings.iter()).collect();
    assert_eq!(all.len(), before, "findings are kept");
    assert!(all.iter().all(|(f, retracted)| *retracted == (f.block.number > ancestor.number)));
    assert_eq!(engine.last_block(), Some(ancestor));
}
