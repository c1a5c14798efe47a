//! The oracle network's latency, traffic and CPU, measured on whole `vigil run` processes on anvil (127.0.0.1).
//!
//! `cargo bench -p vigil --bench network` (needs anvil: `npm ci --prefix contracts`, or `VIGIL_ANVIL`):
//!
//! 1. **Pump to pause**, [`RUNS`] times each (set `VIGIL_BENCH_RUNS` for more): the spot-pump attacker pumps the
//!    pair and the wall time until the Guardian reports the market paused (polled every 2 ms) is taken, with one
//!    node holding the 3 keys and with five nodes of one key each (k = 3) exchanging shares. For the network it
//!    also prints what the submitting node logged: the time from the arrival of the block at which it signed to
//!    its `pauseWithQuorum` sent (`ms_since_block`), and the requests and bytes all nodes posted to each other
//!    for the incident (their metrics before the pump and once the pause landed).
//! 2. **CPU per node per block** while following blocks with no attack, in runs of their own: 200 blocks are
//!    mined one by one and each process's user + system time (`/proc/<pid>/stat`) over them is divided by the
//!    blocks, for the single node and for each of the five.

#[path = "common/stats.rs"]
mod stats;
#[path = "../tests/support/mod.rs"]
mod support;

use stats::percentile;
use std::time::{Duration, Instant};

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use support::{network::*, *};
use vigil_sim::{attacks::Attack, Backend};

/// Runs of each kind by default.
const RUNS: usize = 5;
/// Blocks mined for the CPU figure.
const CPU_BLOCKS: u64 = 200;

/// User + system CPU of process `pid` so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

/// The time from the first pump to the market paused.
fn pump_until_paused(chain: &mut Chain) -> Duration {
    let attack = Attack::SpotPump;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let (target, scope) = attack.target(&chain.venue);
    let t0 = Instant::now();
    pump(chain, &plan);
    while !chain.is_paused(target, scope) {
        assert!(t0.elapsed() < Duration::from_secs(60), "no pause within 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    t0.elapsed()
}

/// Mines [`CPU_BLOCKS`] blocks one at a time once every process in `dirs` is at the head; returns each
/// process's CPU milliseconds per block over them.
fn cpu_per_block(chain: &mut Chain, nodes: &[(u32, &std::path::Path)]) -> Vec<f64> {
    for (_, dir) in nodes {
        catch_up(chain, dir);
    }
    let before: Vec<f64> = nodes.iter().map(|(pid, _)| cpu_seconds(*pid)).collect();
    for _ in 0..CPU_BLOCKS {
        chain.node.advance(1, 12).unwrap();
    }
    for (_, dir) in nodes {
        catch_up(chain, dir);
    }
    nodes.iter().zip(before).map(|((pid, _), b)| (cpu_seconds(*pid) - b) * 1e3 / CPU_BLOCKS as f64).collect()
}

/// One node with the three keys: pump to pause, and (first run only) its CPU per block.
fn single(i: usize, cpu: bool) -> (Duration, Option<f64>) {
    let mut chain = start_chain();
    let dir = temp_dir(&format!("bench-network-single-{i}"));
    let oracles: Vec<PrivateKeySigner> = chain.actors.oracles.iter().take(3).cloned().collect();
    chain.node.set_balance(oracles[0].address(), U256::from(10u64).pow(U256::from(19))).unwrap();
    let config = write_config(&dir, &chain, &format!("\n{RESPONDER_KEYS}"));
    let mut vigil = spawn_vigil(&config, &[], &oracles, &dir.join("vigil.log"));
    catch_up(&chain, &dir);
    let per_block = cpu.then(|| cpu_per_block(&mut chain, &[(vigil.id(), &dir)])[0]);
    let latency = pump_until_paused(&mut chain);
    vigil.kill().unwrap();
    vigil.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (latency, per_block)
}

/// What one network run measured.
struct NetworkRun {
    latency: Duration,
    since_block_ms: Option<f64>,
    requests: f64,
    bytes: f64,
    cpu: Option<Vec<f64>>,
}

fn traffic(nodes: &[Node]) -> (f64, f64) {
    nodes.iter().fold((0.0, 0.0), |(r, b), n| {
        let m = n.metrics();
        (
            r + metric(&m, "vigil_network_requests_sent").unwrap_or(0.0),
            b + metric(&m, "vigil_network_bytes_sent").unwrap_or(0.0),
        )
    })
}

/// Five nodes of one key each: pump to pause, the submitter's own figure, traffic, and (first run only) CPU.
fn network(i: usize, cpu: bool) -> NetworkRun {
    let mut chain = start_chain();
    let (nodes, _) = start_network(&mut chain, &format!("bench-{i}"), &[0, 1, 2, 3, 4], "");
    let cpu = cpu.then(|| {
        let pids: Vec<(u32, &std::path::Path)> =
            nodes.iter().map(|n| (n.child.as_ref().unwrap().id(), n.dir.as_path())).collect();
        cpu_per_block(&mut chain, &pids)
    });
    // Heartbeats every 10 blocks are traffic too; the incident's is what the pump adds.
    let before = traffic(&nodes);
    let latency = pump_until_paused(&mut chain);
    std::thread::sleep(Duration::from_millis(300));
    let after = traffic(&nodes);
    let since_block_ms = nodes
        .iter()
        .flat_map(|n| {
            n.log()
                .lines()
                .filter(|l| l.contains("event=\"QuorumSubmitted\""))
                .filter_map(|l| l.split("ms_since_block=").nth(1)?.split_whitespace().next()?.parse::<f64>().ok())
                .collect::<Vec<_>>()
        })
        .reduce(f64::min);
    for n in &nodes {
        std::fs::remove_dir_all(&n.dir).ok();
    }
    NetworkRun { latency, since_block_ms, requests: after.0 - before.0, bytes: after.1 - before.1, cpu }
}

fn main() {
    let runs = std::env::var("VIGIL_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(RUNS);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    // CPU is measured in runs of its own: 200 blocks mined just before a pump would put their backlog into
    // its latency.
    let single_cpu = single(runs, true).1;
    let network_cpu = network(runs, true).cpu;
    let mut one: Vec<f64> = Vec::new();
    for i in 0..runs {
        one.push(ms(single(i, false).0));
    }
    let mut five = Vec::new();
    let mut since_block = Vec::new();
    let (mut requests, mut bytes) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let r = network(i, false);
        five.push(ms(r.latency));
        since_block.extend(r.since_block_ms);
        requests.push(r.requests);
        bytes.push(r.bytes);
    }
    for v in [&mut one, &mut five, &mut since_block, &mut requests, &mut bytes] {
        v.sort_by(f64::total_cmp);
    }
    let line = |name: &str, v: &[f64]| {
        println!(
            "{name:<52} p50 {:>7.1}  p99 {:>7.1}  max {:>7.1}  ({} runs)",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(f64::NAN),
            v.len()
        )
    };
    println!("pump to pause on anvil (ms), whole vigil run processes:");
    line("  one node, 3 keys", &one);
    line("  five nodes, 1 key each, k = 3", &five);
    line("  five nodes: submitter's block arrival -> tx sent", &since_block);
    println!(
        "  difference of medians: {:+.1} ms; of p99: {:+.1} ms",
        percentile(&five, 0.5) - percentile(&one, 0.5),
        percentile(&five, 0.99) - percentile(&one, 0.99)
    );
    println!("traffic per incident, all five nodes:");
    line("  requests posted", &requests);
    line("  bytes posted", &bytes);
    println!("CPU per node per block over {CPU_BLOCKS} blocks without an attack (ms):");
    if let Some(c) = single_cpu {
        println!("  one node, 3 keys: {c:.3}");
    }
    if let Some(c) = network_cpu {
        let list: Vec<String> = c.iter().map(|v| format!("{v:.3}")).collect();
        let mean = c.iter().sum::<f64>() / c.len() as f64;
        println!("  five nodes: {} (mean {mean:.3})", list.join(", "));
    }
}
