//! The memory bench's second part: the whole `vigil run` process following a JSON-RPC server through 100,000
//! blocks with findings in every block.
//!
//! The server ([`crate::renumbered_chain`], on 127.0.0.1, its own thread) serves 100,000 blocks, each real mainnet
//! block 18,000,000 cut down to its five transactions that move USDC (69 logs), renumbered. `vigil run` starts at
//! the first of them, as a child process, and backfills to the last over HTTP: per block the header with its
//! transactions and the receipts. Its one detector is a declarative rule on USDC `Transfer` with `value > 1000e6`
//! (three of the block's 13 USDC transfers), with a title naming the block, so every block has three new medium
//! findings (not repeats) about the same scope: one incident stays open and grows for the whole run, as in the
//! first part. A webhook gets the incident's notification after the default two confirmations. The bench polls the
//! store's cursor and prints the child's VmRSS and VmHWM (from `/proc/<pid>/status`) as the cursor passes 1,000,
//! 10,000, 25,000, 50,000, 75,000 and 100,000 blocks, with blocks per second in between.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use crate::{renumbered_chain, status_kib, support::*};

const BLOCKS: u64 = 100_000;
const FIRST: u64 = 18_000_000;
const MARKS: [u64; 6] = [1_000, 10_000, 25_000, 50_000, 75_000, 100_000];

fn config(dir: &Path, chain: &renumbered_chain::RenumberedChain, hook: &str) -> std::path::PathBuf {
    let text = format!(
        r#"# No responder: the node detects, keeps incidents and notifies.
[guardian]
address = "0x0000000000000000000000000000000000000001"
chain_id = 1

[source]
rpc = ["{rpc}"]
start_block = {start}
poll_interval_ms = 100
# The server has no blocks before the first: no warm-up (the rule keeps no window).
warm_up_blocks = 0

[node]
store = "{store}"

[[notifier]]
type = "webhook"
url = "{hook}"
secret_env = "VIGIL_BENCH_HOOK_SECRET"

[[detector]]
type = "rule"
name = "usdc-transfer"
protocol = "usdc"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "{usdc}"
condition = "value > 1000e6"
severity = "medium"
title = "USDC {{value / 1e6}} from {{from}} at block {{block.number}}"
"#,
        rpc = chain.url,
        start = chain.first,
        store = dir.join("vigil.sqlite").display(),
        usdc = renumbered_chain::USDC,
    );
    let path = dir.join("vigil.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the part and prints its table.
pub fn print() {
    let chain = renumbered_chain::start(FIRST, BLOCKS);
    let dir = temp_dir("bench-memory-process");
    let (hook_url, hook) = webhook_receiver();
    let config = config(&dir, &chain, &hook_url);
    let log = dir.join("vigil.log");
    println!(
        "\n`vigil run` backfilling {BLOCKS} blocks over JSON-RPC (mainnet block {FIRST} cut to 5 transactions, \
         renumbered), 3 new findings in every block"
    );
    let mut vigil = spawn_vigil_with(&config, &[], &[], &log, &[("VIGIL_BENCH_HOOK_SECRET", "s")]);
    let pid = vigil.id().to_string();
    println!("{:>8} {:>10} {:>10} {:>12}", "blocks", "RSS MiB", "peak MiB", "blocks/s");
    let began = Instant::now();
    let mut previous = (Instant::now(), 0u64);
    for mark in MARKS {
        let deadline = Instant::now() + Duration::from_secs(3_600);
        let done = loop {
            if let Some(status) = vigil.try_wait().unwrap() {
                panic!("vigil run exited ({status}) before block {mark}: {}", log_of(&log));
            }
            let done = cursor(&dir).map_or(0, |c| (c + 1).saturating_sub(chain.first));
            if done >= mark {
                break done;
            }
            assert!(Instant::now() < deadline, "vigil run is not at block {mark} after an hour: {}", log_of(&log));
            std::thread::sleep(Duration::from_millis(50));
        };
        let (rss, peak) = (status_kib(&pid, "VmRSS"), status_kib(&pid, "VmHWM"));
        let rate = (done - previous.1) as f64 / previous.0.elapsed().as_secs_f64();
        println!("{done:>8} {:>10.1} {:>10.1} {rate:>12.0}", rss as f64 / 1024.0, peak as f64 / 1024.0);
        previous = (Instant::now(), done);
    }
    assert_eq!(cursor(&dir), Some(chain.last), "vigil run stops at the last block served");
    let elapsed = began.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let notified = hook.try_iter().count();
    let actions = stop(vigil, &dir);
    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).expect("the store opens");
    let incidents = vigil_core::Store::incidents(&store).expect("the incidents read").len();
    let findings = vigil_core::Store::findings(&store).expect("the findings read").len();
    let on_disk = std::fs::metadata(dir.join("vigil.sqlite")).map(|m| m.len()).unwrap_or(0);
    println!(
        "{BLOCKS} blocks in {elapsed:.0} s ({:.0} blocks/s, {} JSON-RPC calls); {findings} findings, {incidents} \
         incidents, {} actions, {notified} webhook deliveries; store {:.1} MiB on disk",
        BLOCKS as f64 / elapsed,
        chain.requests(),
        actions.len(),
        on_disk as f64 / 1048576.0
    );
    std::fs::remove_dir_all(&dir).ok();
}
