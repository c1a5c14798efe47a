//! The proving-ground commands (feature `sim`): `vigil demo`, `vigil eval`, `vigil sim` and `vigil venue`, with
//! their progress on stderr and their tables and reports on stdout.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use vigil_sim::{
    deploy_venue, jsonl,
    scenario::{self, RunOptions, ScenarioReport, ScenarioRun, SCENARIOS},
    state::VenueState,
    Actors, Backend, InProcessEvm, NodeBackend, Venue, VenueConfig,
};

use crate::{
    config::Config,
    demo,
    eval::{self, EvalOptions},
};

/// `vigil sim --list`: the scenarios' names, one per line.
pub fn list_scenarios() {
    for s in SCENARIOS {
        println!("{}", s.name);
    }
}

/// `vigil venue`: deploys the Guardian and the reference venue on the in-process chain, or on the development node
/// at `rpc`, and prints their addresses and state (as JSON with `json`).
pub fn venue(rpc: Option<&str>, json: bool) -> Result<()> {
    let actors = Actors::standard();
    let cfg = VenueConfig::default();
    match rpc {
        None => show_venue(&mut InProcessEvm::new(), &actors, &cfg, json, "in-process chain (revm)"),
        Some(url) => {
            let mut node =
                NodeBackend::connect(url, &actors.all_keys()).with_context(|| format!("connecting to {url}"))?;
            show_venue(&mut node, &actors, &cfg, json, url)
        }
    }
}

/// `vigil demo`: runs the demo with progress on stderr, prints its table, writes the Markdown report and chart to
/// `report` and, when asked, the table as JSON.
pub fn run_demo(seed: u64, nodes: usize, json: Option<&Path>, report: &Path) -> Result<()> {
    let started = Instant::now();
    eprintln!(
        "Vigil demo (seed {seed}): each attack runs with Vigil's pauses and again without, then the benign crash"
    );
    if nodes > 1 {
        eprintln!(
            "  {nodes} oracle nodes, each with its own key, engine and store, exchanging shares over HTTP on 127.0.0.1; \
             {} signatures pause",
            vigil_sim::actors::ORACLE_THRESHOLD
        );
    }
    let mut last = String::new();
    let result = demo::run_demo(seed, nodes, |name, respond, i, n| {
        let line = format!("{name} ({})", if respond { "with Vigil" } else { "without" });
        if line != last {
            if !last.is_empty() {
                eprintln!();
            }
            last = line;
        }
        if i % 20 == 0 || i == n {
            eprint!("\r  {last:<40} block {i:>4}/{n}");
        }
    })?;
    eprintln!();
    println!();
    print!("{}", demo::table(&result));
    std::fs::create_dir_all(report)
        .with_context(|| format!("{}: cannot create the report folder", report.display()))?;
    let md = report.join("report.md");
    let svg = report.join("liquidity.svg");
    demo::write_report(&result, &md, &svg)?;
    if let Some(path) = json {
        let rows = serde_json::json!({"seed": result.seed, "nodes": result.nodes, "rows": result.rows, "benign_crash": {
            "pause_block": result.benign.pause_block, "benign_alerts": result.benign.benign_alerts }});
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("{}: write failed", path.display()))?;
    }
    println!("\nreport: {} (chart: {}) in {:.1} s", md.display(), svg.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// `vigil eval`: evaluates `config` (called `name` in the output) with progress on stderr, prints the table and,
/// when asked, writes the results as JSON.
pub fn run_eval(config: &Config, name: &str, opts: &EvalOptions, json: Option<&Path>) -> Result<()> {
    eprintln!(
        "Vigil eval: {} attack scenarios × {} seeds with and without Vigil, and {} benign runs of {} blocks ({} threads)",
        opts.attacks.len(),
        opts.seeds,
        opts.seeds,
        opts.benign_blocks,
        opts.threads
    );
    let report = eval::evaluate(config, name, opts, |done, total| {
        if done % 10 == 0 || done == total {
            eprint!("\r  runs {done:>5}/{total}");
        }
    })?;
    eprintln!();
    print!("{}", eval::table(&report));
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("{}: write failed", path.display()))?;
    }
    Ok(())
}

/// `vigil sim`: runs scenario `name`, writes its blocks as JSON Lines to `out` and prints what happened.
pub fn run_sim(name: &str, opts: RunOptions, out: &Path) -> Result<()> {
    let spec = scenario::find(name)?;
    let started = Instant::now();
    let mut run = ScenarioRun::start(spec, opts)?;
    let file =
        std::fs::File::create(out).with_context(|| format!("{}: cannot create the output file", out.display()))?;
    let mut w = BufWriter::new(file);
    jsonl::write_header(&mut w, &run).with_context(|| format!("{}: write failed", out.display()))?;
    let total = run.total_blocks();
    eprintln!(
        "scenario {} (seed {}): {} blocks, prices from {}",
        spec.name,
        run.options().seed,
        total,
        run.price_source()
    );
    let mut write_error = None;
    run.run_to_end(|block| {
        if write_error.is_none() {
            write_error = jsonl::write_block(&mut w, block).err();
        }
        if block.number() % 50 == 0 {
            eprint!("\r  block {} of {total}", block.number());
        }
    })?;
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context(format!("{}: write failed", out.display())));
    }
    let report = run.report()?;
    jsonl::write_summary(&mut w, &report).with_context(|| format!("{}: write failed", out.display()))?;
    w.flush().with_context(|| format!("{}: write failed", out.display()))?;
    eprintln!();
    print_report(&report, started.elapsed().as_secs_f64(), out);
    Ok(())
}

/// The text summary of a scenario run.
fn print_report(r: &ScenarioReport, seconds: f64, out: &Path) {
    println!("scenario      {} (seed {})", r.scenario, r.seed);
    println!(
        "blocks        {} .. {} ({} blocks, {} transactions, {} reverted)",
        r.first_block,
        r.first_block + r.blocks - 1,
        r.blocks,
        r.transactions,
        r.reverted
    );
    println!("prices        {} (ETH ${:.2} → ${:.2})", r.price_source, r.eth_price.0, r.eth_price.1);
    match (r.attack, r.attack_window) {
        (Some(a), Some(w)) => {
            if r.attack_windows.len() > 1 {
                for (k, (w, gain)) in r.attack_windows.iter().zip(&r.attacker_gains_usd).enumerate() {
                    println!(
                        "attack {}      {a}: blocks {} .. {} (ground truth), ${gain} taken",
                        k + 1,
                        w.first,
                        w.last
                    );
                }
            } else {
                println!("attack        {a}: blocks {} .. {} (ground truth)", w.first, w.last);
            }
            println!(
                "taken         ${} by the attacker{}",
                r.attacker_gain_usd,
                if r.attacker_gain_hbtc != "0.00" {
                    format!(", and {} hBTC", r.attacker_gain_hbtc)
                } else {
                    String::new()
                }
            );
            if r.malicious_reverted > 0 {
                println!("              {} attacker transactions reverted", r.malicious_reverted);
            }
        }
        _ => println!("attack        none"),
    }
    println!("liquidations  {} (bad debt written off: ${})", r.liquidations, r.bad_debt);
    for (id, before, after) in &r.share_prices {
        let ratio = after.parse::<f64>().unwrap_or(0.0) / before.parse::<f64>().unwrap_or(1.0);
        println!("market {id}      lenders' share price ×{ratio:.6}");
    }
    println!("written       {} in {seconds:.1} s", out.display());
}

/// Deploys the venue on `chain` (called `on` in the output) and prints its addresses and state.
fn show_venue<B: Backend>(chain: &mut B, actors: &Actors, cfg: &VenueConfig, json: bool, on: &str) -> Result<()> {
    let venue: Venue = deploy_venue(chain, actors, cfg).context("deploying the venue")?;
    let state = VenueState::read(chain, &venue).context("reading the venue's state")?;
    if json {
        let addresses: serde_json::Map<String, serde_json::Value> =
            venue.named().into_iter().map(|(n, a)| (n.to_string(), serde_json::Value::String(a.to_string()))).collect();
        let out = serde_json::json!({
            "chain": on,
            "addresses": addresses,
            "total_value_usd": state.total_value_usd().to_string(),
            "oracle_signers": state.oracle_signers,
            "threshold": state.threshold.to_string(),
            "config_version": state.config_version.to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("Reference venue deployed on the {on}\n");
    println!("addresses:");
    for (name, addr) in venue.named() {
        println!("  {name:<18} {addr}");
    }
    println!();
    print!("{state}");
    Ok(())
}
