//! Throughput of the in-process chain, with callTracer traces on and off.
//!
//! `cargo bench -p vigil-sim --bench throughput` runs the benign-crash scenario (seeded traffic, a crash with
//! liquidations) for 2,000 blocks, single-threaded, and prints transactions per second for block production
//! alone (signing, execution, traces, receipts, roots, JSON-RPC shapes) and end to end (with the traffic
//! generator's state reads). Target: ≥ 5,000 venue transactions per second on one core with traces on.

use std::time::Instant;

use vigil_sim::scenario::{find, RunOptions, ScenarioRun};

fn measure(tracing: bool, blocks: u64) {
    let opts = RunOptions { tracing, blocks: Some(blocks), ..Default::default() };
    let mut run = ScenarioRun::start(find("benign-crash").expect("scenario"), opts).expect("start");
    let started = Instant::now();
    let mut traces = 0usize;
    run.run_to_end(|b| traces += b.traces.as_ref().map_or(0, |t| t.len())).expect("run");
    let total = started.elapsed().as_secs_f64();
    let stats = run.chain.production_stats();
    let chain_tps = stats.transactions as f64 / stats.busy.as_secs_f64();
    let e2e_tps = stats.transactions as f64 / total;
    println!(
        "traces {:<3}  {:>6} blocks  {:>7} txs  {:>6} call traces  chain {:>8.0} tx/s  end-to-end {:>8.0} tx/s  ({:.2} s)",
        if tracing { "on" } else { "off" },
        stats.blocks,
        stats.transactions,
        traces,
        chain_tps,
        e2e_tps,
        total
    );
}

fn main() {
    let blocks = std::env::var("VIGIL_BENCH_BLOCKS").ok().and_then(|b| b.parse().ok()).unwrap_or(2_000);
    println!("in-process chain throughput, benign-crash scenario, one thread");
    for tracing in [true, false] {
        measure(tracing, blocks);
    }
}
