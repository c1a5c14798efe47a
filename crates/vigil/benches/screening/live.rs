//! The screening bench's second part: the whole `vigil run` process on anvil (127.0.0.1).
//!
//! Each run starts anvil with the venue deployed and `vigil run` on it (the demo's detectors and `[screening]`;
//! pending transactions announced over WebSocket, the pool also polled every 200 ms), deploys the flash-loan
//! attack contract, turns automine off and sends the exploiting transaction to anvil's mempool. The figure is
//! the wall time from that send to Vigil's pause in the mempool beside it (`txpool_content` polled every 2 ms):
//! the announcement, reading the pool, the simulation with revm over state read from anvil by JSON-RPC, the
//! detectors, and the signed pause sent.
//! The node's own `vigil_screen_seconds` (simulation and detectors of the attack alone) is read from its
//! `/metrics`. A block is then mined and the bench checks that the pause went first.

use std::time::{Duration, Instant};

use crate::support::*;
use alloy::providers::Provider;
use vigil_sim::attacks::Attack;

/// Runs by default (`VIGIL_BENCH_RUNS` for more).
const RUNS: usize = 5;

/// One run: send → pause in the mempool, and the node's screening time of the attack (seconds).
fn run(i: usize) -> (Duration, f64) {
    let mut chain = start_chain();
    let dir = temp_dir(&format!("bench-screening-{i}"));
    let attack = Attack::FlashLoanOracle;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let (vigil, port) = spawn_responding_node(&mut chain, &dir, "", &[]);
    catch_up(&chain, &dir);
    set_automine(&chain, false);
    let gwei = 1_000_000_000u128;
    let t0 = Instant::now();
    let attack_hash = send_to_mempool(&chain, &plan.execute[0].req, 3 * gwei, 50 * gwei);
    while pending_count(&chain) < 2 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no pause joined the attack");
        std::thread::sleep(Duration::from_millis(2));
    }
    let latency = t0.elapsed();
    mine_block(&chain);
    set_automine(&chain, true);
    let provider = chain.node.provider().clone();
    let block = chain
        .node
        .block_on(async { provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await })
        .unwrap()
        .unwrap();
    assert_eq!(block.transactions.hashes().nth(1), Some(attack_hash), "the pause went first");
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    let sum = metric(&metrics, "vigil_screen_seconds_sum").unwrap_or(f64::NAN);
    let count = metric(&metrics, "vigil_screen_seconds_count").unwrap_or(f64::NAN);
    stop(vigil, &dir);
    (latency, sum / count)
}

/// Prints the figures.
pub fn print() {
    let runs = std::env::var("VIGIL_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(RUNS);
    let mut latency = Vec::new();
    let mut screen = Vec::new();
    for i in 0..runs {
        let (l, s) = run(i);
        latency.push(l.as_secs_f64() * 1e3);
        screen.push(s * 1e3);
    }
    latency.sort_by(f64::total_cmp);
    screen.sort_by(f64::total_cmp);
    println!(
        "vigil run on anvil, attack sent to the mempool → Vigil's pause beside it ({runs} runs, newPendingTransactions over WebSocket, the pool also polled every 200 ms):  p50 {:.1} ms  max {:.1} ms",
        crate::stats::percentile(&latency, 0.5),
        latency.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  the node's own screening of the attack (revm over anvil's state by JSON-RPC, detectors):  p50 {:.1} ms  max {:.1} ms",
        crate::stats::percentile(&screen, 0.5),
        screen.last().copied().unwrap_or(f64::NAN)
    );
}
