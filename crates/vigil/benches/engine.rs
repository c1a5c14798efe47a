//! The engine's latency and throughput on the demo's chain.
//!
//! `cargo bench -p vigil --bench engine` replays the demo's scenarios (seed 1) with Vigil responding. For every
//! block it measures the time from the block's arrival (the produced block handed over) to a signed
//! `pauseWithQuorum` transaction being ready: the bundle (every probe read at that block), all detectors, the
//! incident book, the Guardian's state decoded from its snapshot probe, and the 3-of-5 EIP-712 signing of a pause
//! report. Block production is not counted. It prints
//! p50 / p99 / max of that latency, the same for the pauses the engine really sent, and the engine's throughput in
//! blocks per second. Target: p99 ≤ 10 ms.
//!
//! Then ([`webhook`]) the same path through the whole `vigil run` process on anvil, from the first pump sent to the
//! market paused, once with a webhook that answers at once and once with one that takes 5 s per request (needs
//! anvil: `npm ci --prefix contracts`, which the test command does, or `VIGIL_ANVIL`).

#[path = "common/stats.rs"]
mod stats;
#[path = "../tests/support/mod.rs"]
mod support;
#[path = "engine/webhook.rs"]
mod webhook;

use stats::percentile;
use std::time::Instant;

use alloy::primitives::B256;
use vigil::{
    config::Config,
    demo::{demo_engine, pause_tx, DEMO_ATTACKS, DEMO_CONFIG},
};
use vigil_core::Scope;
use vigil_core::{Action, ActionKind, BlockRef};
use vigil_respond::GuardianResponder;
use vigil_sim::{
    actors::ORACLE_THRESHOLD,
    evm::CHAIN_ID,
    scenario::{find, RunOptions, ScenarioRun},
};

fn main() {
    let config = Config::parse("demo.toml", DEMO_CONFIG).expect("embedded config");
    let mut any_block = Vec::new();
    let mut real_pauses = Vec::new();
    let mut engine_secs = 0.0;
    let mut blocks = 0u64;
    for name in DEMO_ATTACKS.iter().chain(["benign-crash"].iter()) {
        let mut run = ScenarioRun::start(
            find(name).unwrap(),
            RunOptions { tracing: config.needs_traces(), ..Default::default() },
        )
        .unwrap();
        let mut engine = demo_engine(&run, &config, true);
        let keys = run.actors.oracles.iter().take(ORACLE_THRESHOLD).cloned().collect();
        let signer = GuardianResponder::new(config.guardian.address, CHAIN_ID, keys, 600);
        let mut next = Vec::new();
        while let Some(block) = run.next_block(std::mem::take(&mut next)).unwrap() {
            let arrived = Instant::now();
            let bundle = run.chain.bundle(&block, engine.probes());
            let outcome = engine.process(&bundle).unwrap();
            engine_secs += arrived.elapsed().as_secs_f64();
            blocks += 1;
            for out in outcome.outgoing {
                real_pauses.push(arrived.elapsed().as_secs_f64() * 1e3);
                next.push(pause_tx(out));
            }
            // What a pause would have cost at this block: the same path plus signing a report.
            let scope = Scope::segment(run.venue.pool, 2);
            let view = signer.view(&bundle).unwrap();
            let nonce = view.scope(scope).map(|s| s.nonce).unwrap_or_default();
            let action = Action {
                incident: B256::repeat_byte(1),
                kind: ActionKind::Pause { scope },
                block: BlockRef { number: block.number(), hash: bundle.block_ref().hash },
                evidence_hash: B256::repeat_byte(2),
            };
            signer
                .pause_call(scope, &action, bundle.timestamp() + 600, (view.config_version, nonce), &view.signers)
                .unwrap();
            any_block.push(arrived.elapsed().as_secs_f64() * 1e3);
        }
    }
    any_block.sort_by(f64::total_cmp);
    real_pauses.sort_by(f64::total_cmp);
    println!(
        "engine on the demo's chain ({} scenarios, {blocks} blocks, seed 1), block production not counted",
        DEMO_ATTACKS.len() + 1
    );
    println!(
        "block arrival → signed pause tx, every block:  p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  ({} samples)",
        percentile(&any_block, 0.5),
        percentile(&any_block, 0.99),
        any_block.last().copied().unwrap_or(f64::NAN),
        any_block.len()
    );
    println!(
        "block arrival → signed pause tx, real pauses:  p50 {:.3} ms  p99 {:.3} ms  ({} pauses)",
        percentile(&real_pauses, 0.5),
        percentile(&real_pauses, 0.99),
        real_pauses.len()
    );
    println!("engine throughput: {:.0} blocks/s (probes read + detectors + incidents)", blocks as f64 / engine_secs);
    webhook::print();
}
