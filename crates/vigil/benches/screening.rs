//! Screening of pending transactions on the demo's chain: what simulating one costs, how many a core screens per
//! second, and how long from a pending attack seen to the pause that front-runs it ready to send.
//!
//! `cargo bench -p vigil --bench screening`:
//!
//! 1. **One pending transaction**: the benign crash (seed 1, [`BENIGN_BLOCKS`] blocks, the demo's detectors and
//!    responder). Before each block every pending transaction is screened as the demo screens it: simulated on
//!    the head's state with every probe read after it (`SimChain::simulate`), then every detector run on that
//!    block and unwound (`Engine::screen`). Each part is timed apart and together; p50 / p99 / max of the whole,
//!    and the throughput of one thread (one core) over all of them. Goals: p99 ≤ 20 ms warm, ≥ 1,000 tx/s.
//! 2. **Pending seen → pause ready**: predeployed-flash-loan on seeds 1..=[`ATTACK_SEEDS`]. When the attacker's
//!    transaction enters the mempool the clock starts; it stops when the engine returns the signed front-running
//!    pause: the screening of the transactions before it in the mempool (the demo screens them in arrival order),
//!    then its own simulation and screening, the incident, and the 3-of-5 signing of the report.
//! 3. **The whole node on anvil** ([`live`]): from the attack sent to anvil's mempool to Vigil's pause beside it
//!    (needs anvil: `npm ci --prefix contracts`, which the test command does, or `VIGIL_ANVIL`).

#[path = "screening/live.rs"]
mod live;
#[path = "common/stats.rs"]
mod stats;
#[path = "../tests/support/mod.rs"]
mod support;

use stats::percentile;
use std::time::Instant;

use vigil::{
    config::Config,
    demo::{demo_engine, pause_tx, DEMO_CONFIG},
};
use vigil_sim::scenario::{find, RunOptions, ScenarioRun};

/// Blocks of the benign run.
const BENIGN_BLOCKS: u64 = 400;
/// Seeds of the attack runs.
const ATTACK_SEEDS: u64 = 10;

fn main() {
    let config = Config::parse("demo.toml", DEMO_CONFIG).expect("embedded config");
    let tracing = config.needs_traces();

    // 1. Every pending transaction of a benign run.
    let opts = RunOptions { seed: 1, tracing, blocks: Some(BENIGN_BLOCKS), ..Default::default() };
    let mut run = ScenarioRun::start(find("benign-crash").unwrap(), opts).unwrap();
    let mut engine = demo_engine(&run, &config, true);
    let (mut whole, mut simulate, mut screen) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        let pending: Vec<_> = run.pending().unwrap().to_vec();
        if engine.last_block().is_some() {
            for tx in pending {
                let bid = vigil::engine::Bid { tip: tx.priority_fee, max_fee: tx.max_fee() };
                let t0 = Instant::now();
                let (_, bundle) = run.chain.simulate(vec![tx], engine.probes());
                let t1 = Instant::now();
                let outcome = engine.screen(&bundle, bid).unwrap();
                let t2 = Instant::now();
                assert!(outcome.outgoing.is_empty(), "benign traffic is not paused");
                simulate.push((t1 - t0).as_secs_f64() * 1e3);
                screen.push((t2 - t1).as_secs_f64() * 1e3);
                whole.push((t2 - t0).as_secs_f64() * 1e3);
            }
        }
        let Some(block) = run.next_block(vec![]).unwrap() else { break };
        let bundle = run.chain.bundle(&block, engine.probes());
        engine.process(&bundle).unwrap();
    }
    let total_secs: f64 = whole.iter().sum::<f64>() / 1e3;
    let n = whole.len();
    for v in [&mut whole, &mut simulate, &mut screen] {
        v.sort_by(f64::total_cmp);
    }
    println!("screening on the demo's chain: benign-crash, seed 1, {BENIGN_BLOCKS} blocks, {n} pending transactions");
    println!(
        "one pending tx, simulate + screen:  p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        percentile(&whole, 0.5),
        percentile(&whole, 0.99),
        whole.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  simulate (execution, trace, {} probes):  p50 {:.3} ms  p99 {:.3} ms",
        engine.probes().len(),
        percentile(&simulate, 0.5),
        percentile(&simulate, 0.99)
    );
    println!(
        "  screen (detectors, unwind):  p50 {:.3} ms  p99 {:.3} ms",
        percentile(&screen, 0.5),
        percentile(&screen, 0.99)
    );
    println!("throughput, one thread: {:.0} pending tx/s", n as f64 / total_secs);

    // 2. From the attacker's transaction in the mempool to the front-running pause ready.
    let mut seen_to_pause = Vec::new();
    for seed in 1..=ATTACK_SEEDS {
        let opts = RunOptions { seed, tracing, ..Default::default() };
        let mut run = ScenarioRun::start(find("predeployed-flash-loan").unwrap(), opts).unwrap();
        let mut engine = demo_engine(&run, &config, true);
        let mut next = Vec::new();
        loop {
            let pending: Vec<_> = run.pending().unwrap().to_vec();
            let seen = Instant::now();
            let attack_pending = pending.iter().any(|t| t.label.malicious && t.to.is_some());
            for tx in pending.into_iter().filter(|t| t.to.is_some()) {
                let bid = vigil::engine::Bid { tip: tx.priority_fee, max_fee: tx.max_fee() };
                let (_, bundle) = run.chain.simulate(vec![tx], engine.probes());
                let outcome = engine.screen(&bundle, bid).unwrap();
                if !outcome.outgoing.is_empty() && attack_pending {
                    seen_to_pause.push(seen.elapsed().as_secs_f64() * 1e3);
                }
                next.extend(outcome.outgoing.into_iter().map(pause_tx));
            }
            let Some(block) = run.next_block(std::mem::take(&mut next)).unwrap() else { break };
            let bundle = run.chain.bundle(&block, engine.probes());
            let outcome = engine.process(&bundle).unwrap();
            next.extend(outcome.outgoing.into_iter().map(pause_tx));
        }
    }
    seen_to_pause.sort_by(f64::total_cmp);
    println!(
        "attack pending → front-running pause signed (predeployed-flash-loan, {} seeds):  p50 {:.3} ms  max {:.3} ms  ({} pauses)",
        ATTACK_SEEDS,
        percentile(&seen_to_pause, 0.5),
        seen_to_pause.last().copied().unwrap_or(f64::NAN),
        seen_to_pause.len()
    );
    live::print();
}
