//! `vigil replay`: the detectors of a configuration over recorded blocks, through the same decoding as live data.
//!
//! The recording is a `vigil sim` JSON Lines file or recorded JSON-RPC request/response pairs
//! ([`vigil_chain::replay::Recorded`]). Recordings hold no state reads unless `eth_call` pairs were recorded, so a
//! detector that needs probe values the recording lacks cannot run: it is left out, and the report says which
//! and why, instead of failing every block or pretending it saw nothing. Blocks a pairs recording cannot assemble
//! are listed too. Nothing is sent and nothing is stored. [`run_command`] prints the findings and the report for
//! `vigil replay`.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use vigil_chain::replay::Recorded;
use vigil_core::{Detector, Finding};

use crate::{config::Config, engine::Engine};

/// What a replay saw.
#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    /// Blocks replayed.
    pub blocks: u64,
    /// Transactions in them.
    pub transactions: u64,
    /// First and last block.
    pub range: Option<(u64, u64)>,
    /// Findings per detector.
    pub findings: BTreeMap<String, u64>,
    /// Detectors left out, with why.
    pub left_out: Vec<(String, String)>,
    /// Blocks of the recording that could not be assembled, with why.
    pub skipped: Vec<String>,
    /// First block with a transaction labelled malicious (`vigil sim` files).
    pub first_malicious_block: Option<u64>,
    /// First block with a finding.
    pub first_finding_block: Option<u64>,
    /// Seconds spent reading and decoding, and in the engine.
    pub decode_seconds: f64,
    /// Seconds in the engine.
    pub engine_seconds: f64,
}

/// Replays `recorded` through the detectors of `config`; `on_finding` sees each finding as it comes.
pub fn replay(config: &Config, mut recorded: Recorded, mut on_finding: impl FnMut(&Finding)) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    let mut engine: Option<Engine> = None;
    let mut detectors: Option<Vec<Box<dyn Detector>>> = Some(config.build_detectors());
    loop {
        let started = Instant::now();
        let Some(next) = recorded.next_block() else { break };
        let replayed = next.context("replay")?;
        report.decode_seconds += started.elapsed().as_secs_f64();
        let bundle = &replayed.bundle;
        if let Some(all) = detectors.take() {
            // Decide once, on the first block, which detectors the recording can feed.
            let mut kept = Vec::new();
            for (d, dc) in all.into_iter().zip(&config.detectors) {
                if dc.reads().requires_traces() && bundle.traces.is_none() {
                    report.left_out.push((d.name().to_string(), "needs call traces the recording lacks".into()));
                    continue;
                }
                match d.probes().into_iter().find(|p| !bundle.probes.contains_key(p)) {
                    None => kept.push(d),
                    Some(p) => report.left_out.push((
                        d.name().to_string(),
                        format!("needs state reads the recording lacks (eth_call to {} with {})", p.to, p.data),
                    )),
                }
            }
            engine = Some(Engine::new(kept, config.policy.clone(), None).with_correlator(config.build_correlator()));
        }
        let engine = engine.as_mut().expect("built on the first block");
        let number = bundle.block_ref().number;
        report.blocks += 1;
        report.transactions += bundle.receipts.len() as u64;
        report.range = Some((report.range.map_or(number, |r| r.0), number));
        if report.first_malicious_block.is_none() && replayed.labels.iter().any(|l| l.malicious) {
            report.first_malicious_block = Some(number);
        }
        let started = Instant::now();
        let outcome = engine.process(bundle).with_context(|| format!("{}: block #{number}", replayed.origin))?;
        report.engine_seconds += started.elapsed().as_secs_f64();
        for f in &outcome.findings {
            *report.findings.entry(f.detector.clone()).or_default() += 1;
            report.first_finding_block.get_or_insert(number);
            on_finding(f);
        }
    }
    report.skipped = recorded.skipped().iter().map(|s| s.to_string()).collect();
    Ok(report)
}

/// `vigil replay`: replays `recorded` through the detectors of `config` and prints each finding as it is found, then
/// a summary (blocks, decoding and engine time per block, findings per detector, detectors left out, blocks
/// skipped); with `json`, only the report as JSON.
pub fn run_command(config: &Config, recorded: Recorded, json: bool) -> Result<()> {
    let report = replay(config, recorded, |f| {
        if !json {
            println!(
                "#{:<9} {:<9} {:<24} {}",
                f.block.number,
                format!("{:?}", f.severity).to_lowercase(),
                f.detector,
                f.title
            );
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let (first, last) = report.range.unwrap_or_default();
    println!(
        "\n{} blocks (#{first}..#{last}), {} transactions; decoding {:.3} ms/block, engine {:.3} ms/block",
        report.blocks,
        report.transactions,
        report.decode_seconds * 1e3 / report.blocks.max(1) as f64,
        report.engine_seconds * 1e3 / report.blocks.max(1) as f64
    );
    for (d, n) in &report.findings {
        println!("findings  {d}: {n}");
    }
    if let Some(b) = report.first_malicious_block {
        println!(
            "first malicious transaction in block #{b}; first finding in {}",
            report.first_finding_block.map(|f| format!("#{f}")).unwrap_or("none".into())
        );
    }
    for (d, why) in &report.left_out {
        println!("left out {d}: {why}");
    }
    for s in &report.skipped {
        println!("skipped  {s}");
    }
    Ok(())
}
