//! Restart safety: Vigil stopped abruptly mid-run (its engine dropped without any shutdown, at the worst moments)
//! and started again from its SQLite store neither repeats a pause nor skips or repeats a block.

use std::collections::VecDeque;
use std::path::Path;

use alloy::primitives::U256;
use vigil::{
    config::Config,
    demo::DEMO_CONFIG,
    engine::{Engine, PauseOutcome},
};
use vigil_contracts::Guardian;
use vigil_core::Store as _;
use vigil_respond::GuardianResponder;
use vigil_sim::{
    actors::ORACLE_THRESHOLD,
    chain::{SimBlock, TxRequest},
    evm::CHAIN_ID,
    scenario::{find, RunOptions, ScenarioRun},
};
use vigil_store::SqliteStore;

/// When to stop the engine.
#[derive(Clone, Copy, Debug)]
enum Crash {
    /// Right after it committed the block that decided a pause, before the pause transaction was sent.
    BeforeSending,
    /// After the pause transaction was included, before the engine saw that block.
    BeforeSeeingInclusion,
    /// At a fixed block with nothing pending.
    AtBlock(u64),
}

fn start_engine(run: &ScenarioRun, config: &Config, db: &Path) -> Engine {
    let keys = run.actors.oracles.iter().take(ORACLE_THRESHOLD).cloned().collect();
    let responder = GuardianResponder::new(config.guardian.address, CHAIN_ID, keys, 600);
    Engine::resume(
        config.build_detectors(),
        config.policy.clone(),
        Some(Box::new(responder)),
        SqliteStore::open(db).unwrap(),
    )
    .unwrap()
}

/// Runs legacy-borrow-drain with Vigil, stopping it once at `crash`; returns (pause txs sent on chain, attacker's
/// gain, the store's processed blocks).
fn run_with_crash(crash: Option<Crash>, name: &str) -> (usize, U256, Vec<(u64, u64)>, Option<u64>) {
    let dir = std::env::temp_dir().join(format!("vigil-restart-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("vigil.sqlite");
    let _ = std::fs::remove_file(&db);
    let config = Config::parse("demo.toml", DEMO_CONFIG).unwrap();
    let mut run = ScenarioRun::start(
        find("legacy-borrow-drain").unwrap(),
        RunOptions { tracing: config.needs_traces(), ..Default::default() },
    )
    .unwrap();
    let mut engine = start_engine(&run, &config, &db);
    let mut recent: VecDeque<SimBlock> = VecDeque::new();
    let mut next: Vec<TxRequest> = Vec::new();
    let mut crashed = false;
    let mut pause_txs_on_chain = 0;
    let mut held_back: Vec<TxRequest> = Vec::new();
    while let Some(block) = run.next_block(std::mem::take(&mut next)).unwrap() {
        pause_txs_on_chain += block.labels.iter().filter(|l| l.what == "vigil:pause").count();
        let number = block.number();
        let crash_now = !crashed
            && match crash {
                Some(Crash::BeforeSeeingInclusion) => block.labels.iter().any(|l| l.what == "vigil:pause"),
                Some(Crash::AtBlock(b)) => number == b,
                _ => false,
            };
        if crash_now {
            // The process dies: the engine and its store connection are dropped, nothing is flushed by hand.
            drop(engine);
            crashed = true;
            engine = restart(&run, &config, &db, &recent, &mut next);
        }
        let bundle = run.chain.bundle(&block, engine.probes());
        let outcome = engine.process(&bundle).unwrap();
        let mut to_send: Vec<TxRequest> = outcome.outgoing.into_iter().map(vigil::demo::pause_tx).collect();
        if !crashed && matches!(crash, Some(Crash::BeforeSending)) && !to_send.is_empty() {
            // Committed, then died before sending.
            held_back.append(&mut to_send);
            drop(engine);
            crashed = true;
            recent.push_back(block);
            engine = restart(&run, &config, &db, &recent, &mut next);
            continue;
        }
        next.extend(to_send);
        recent.push_back(block);
        while recent.len() > 60 {
            recent.pop_front();
        }
    }
    assert!(held_back.iter().all(|t| t.data.len() > 4));
    let store = SqliteStore::open(&db).unwrap();
    let processed = store.processed().unwrap();
    let gain = run.attacker_gain().unwrap().0;
    let landed = engine.pauses().iter().find_map(|p| match p.outcome {
        PauseOutcome::Landed { block } => Some(block),
        _ => None,
    });
    std::fs::remove_dir_all(&dir).ok();
    (pause_txs_on_chain, gain, processed, landed)
}

/// Starts again from the store: warms the detectors up on the blocks before the cursor, checks unconfirmed
/// pauses against the Guardian, and queues again those that did not land.
fn restart(
    run: &ScenarioRun,
    config: &Config,
    db: &Path,
    recent: &VecDeque<SimBlock>,
    next: &mut Vec<TxRequest>,
) -> Engine {
    let mut engine = start_engine(run, config, db);
    let cursor = engine.last_block().map(|b| b.number).unwrap_or(0);
    for b in recent.iter().filter(|b| b.number() <= cursor) {
        assert!(engine.warm_up(&run.chain.bundle(b, engine.probes())).is_empty());
    }
    let unconfirmed: Vec<_> = engine.unconfirmed_pauses().into_iter().cloned().collect();
    for p in unconfirmed {
        let state = run
            .chain
            .view(config.guardian.address, Guardian::pauseStateCall { target: p.scope.target, scope: p.scope.id })
            .unwrap();
        if state.incidentId == p.action.incident {
            engine.confirm_pause(p.scope, run.chain.head().number).unwrap();
        } else {
            next.push(TxRequest::pause(
                run.actors.oracles[0].address(),
                config.guardian.address,
                p.calldata.clone(),
                config.pause_fees().priority_fee,
            ));
        }
    }
    engine
}

fn assert_every_block_once(processed: &[(u64, u64)], first: u64, last: u64) {
    assert!(processed.iter().all(|(_, n)| *n == 1), "a block was committed twice: {processed:?}");
    let numbers: Vec<u64> = processed.iter().map(|(b, _)| *b).collect();
    assert_eq!(numbers, (first..=last).collect::<Vec<_>>(), "every block, none skipped");
}

#[test]
fn without_a_crash_one_pause_lands() {
    let (txs, gain, processed, landed) = run_with_crash(None, "none");
    assert_eq!(txs, 1);
    assert!(landed.is_some());
    assert_every_block_once(&processed, 2, 201);
    assert!(gain > U256::ZERO);
}

#[test]
fn a_crash_between_deciding_and_sending_sends_the_pause_once_after_restart() {
    let (baseline_txs, baseline_gain, _, baseline_landed) = run_with_crash(None, "base1");
    let (txs, gain, processed, landed) = run_with_crash(Some(Crash::BeforeSending), "before-sending");
    assert_eq!((baseline_txs, txs), (1, 1), "one pause transaction, sent after the restart");
    assert_every_block_once(&processed, 2, 201);
    // The restart is immediate here, so the recorded pause goes out with the next block, as without the crash.
    assert_eq!(landed, baseline_landed, "the recorded pause was sent again and landed");
    assert_eq!(gain, baseline_gain, "the attacker took no more than without the crash");
}

#[test]
fn a_crash_before_seeing_the_pause_included_does_not_pause_again() {
    let (txs, _, processed, landed) = run_with_crash(Some(Crash::BeforeSeeingInclusion), "before-inclusion");
    assert_eq!(txs, 1, "the landed pause is found on chain, not sent again");
    assert!(landed.is_some());
    assert_every_block_once(&processed, 2, 201);
}

#[test]
fn a_crash_in_quiet_times_skips_nothing() {
    let (txs, _, processed, _) = run_with_crash(Some(Crash::AtBlock(60)), "quiet");
    assert_eq!(txs, 1);
    assert_every_block_once(&processed, 2, 201);
}
