//! Memory of a long run: `cargo bench -p vigil --bench memory` drives the engine, committing to a SQLite store on
//! disk, through 100,000 blocks with findings in every block, and prints the process's resident memory (VmRSS from
//! /proc/self/status) along the way. Target: flat, since the engine keeps no findings (each block's are returned
//! and committed) and an incident keeps only its findings of the reorg window.
//!
//! The findings are the worst case for the incident book: every block one new medium finding (a new title, so it
//! is not suppressed as a repeat) about the same scope, so one incident stays open and grows for the whole run, and
//! every 1,000th block a finding about a new scope opens another incident. No responder: pauses are not the
//! subject. Blocks are hand-made (`Bundle::from_slim`), so the figure is the engine's and the store's, not the
//! fetching's.
//!
//! Then ([`process`]) the whole `vigil run` process, fetching the same number of blocks over JSON-RPC from a local
//! server of renumbered real mainnet blocks ([`renumbered_chain`]).

#[path = "memory/process.rs"]
mod process;
#[path = "common/renumbered_chain.rs"]
mod renumbered_chain;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use alloy::primitives::{keccak256, Address, B256};
use vigil::engine::Engine;
use vigil_core::{BlockHeader, BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Scope, Severity};
use vigil_respond::Policy;
use vigil_store::SqliteStore;

const BLOCKS: u64 = 100_000;

/// One new finding per block about market 1, and every 1,000th block one about a new market.
struct EveryBlock;

impl Detector for EveryBlock {
    fn name(&self) -> &str {
        "every-block"
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block = bundle.block_ref();
        let finding = |market: u64, title: String| Finding {
            detector: "every-block".into(),
            protocol: "venue".into(),
            scope: Scope::segment(Address::repeat_byte(0x77), market),
            severity: Severity::Medium,
            kind: FindingKind::Suspicious,
            block,
            tx: None,
            title,
            evidence: serde_json::json!({ "block": block.number }),
            labels: Default::default(),
        };
        let mut out = vec![finding(1, format!("anomaly at block {}", block.number))];
        if block.number.is_multiple_of(1_000) {
            out.push(finding(1_000 + block.number / 1_000, "a new market".into()));
        }
        Ok(out)
    }

    fn revert_to(&mut self, _: BlockRef) {}
}

/// A field of `/proc/<process>/status` in kB (`VmRSS`, `VmHWM`); `process` is a pid or `self`.
fn status_kib(process: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{process}/status: has the process exited?"))
}

fn main() {
    let dir = std::env::temp_dir().join(format!("vigil-bench-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("vigil.sqlite");
    let store = SqliteStore::open(&db).expect("a store");
    let mut engine = Engine::resume(vec![Box::new(EveryBlock)], Policy::default(), None, store).expect("an engine");
    println!("{BLOCKS} blocks, each with a new finding, committed to {}", db.display());
    println!("{:>8} {:>10} {:>10} {:>10} {:>14}", "block", "RSS MiB", "findings", "incidents", "µs per block");
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut findings = 0usize;
    for n in 1..=BLOCKS {
        let header = BlockHeader {
            number: n,
            hash: keccak256(n.to_be_bytes()),
            parent_hash: if n == 1 { B256::ZERO } else { keccak256((n - 1).to_be_bytes()) },
            timestamp: 1_767_225_600 + n * 12,
            miner: Address::ZERO,
            gas_limit: 30_000_000,
            gas_used: 0,
            base_fee_per_gas: Some(1_000_000_000),
        };
        let bundle = Bundle::from_slim(header, vec![], vec![], Default::default());
        findings += engine.process(&bundle).expect("the block is processed").findings.len();
        if [1_000, 10_000, 25_000, 50_000, 75_000, 100_000].contains(&n) {
            let per_block = last.0.elapsed().as_secs_f64() * 1e6 / (n - last.1) as f64;
            println!(
                "{n:>8} {:>10.1} {findings:>10} {:>10} {per_block:>14.0}",
                status_kib("self", "VmRSS") as f64 / 1024.0,
                engine.incidents().incidents().count()
            );
            last = (Instant::now(), n);
        }
    }
    let on_disk = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "{BLOCKS} blocks in {:.1} s; store {:.1} MiB on disk",
        started.elapsed().as_secs_f64(),
        on_disk as f64 / 1048576.0
    );
    drop(engine);
    std::fs::remove_dir_all(&dir).ok();
    process::print();
}
