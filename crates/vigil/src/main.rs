//! The `vigil` command line.
//!
//! - `vigil sim` runs a named scenario on the in-process chain and writes it as JSON Lines;
//! - `vigil venue` deploys the Guardian and the reference venue on the in-process chain (or, with `--rpc`, on a
//!   development node such as anvil) and prints their addresses and state.
//!
//! `demo`, `eval`, `sim` and `venue` need the feature `sim` (on by default).

#[cfg(feature = "sim")]
use std::io::{BufWriter, Write};
#[cfg(feature = "sim")]
use std::path::Path;
use std::path::PathBuf;
#[cfg(feature = "sim")]
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
#[cfg(feature = "sim")]
use vigil::demo;
use vigil::{config::Config, DEMO_CONFIG};
#[cfg(feature = "sim")]
use vigil_sim::{
    deploy_venue, jsonl,
    scenario::{self, RunOptions, ScenarioReport, ScenarioRun, SCENARIOS},
    state::VenueState,
    Actors, Backend, InProcessEvm, NodeBackend, Venue, VenueConfig,
};

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Watches EVM protocols block by block, detects attacks, and answers with mandated responses"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[cfg(feature = "sim")]
    /// The end-to-end demo: attacks among ordinary traffic on the in-process chain, with and without Vigil's
    /// pauses; prints a table and writes a Markdown report with a liquidity chart.
    Demo {
        /// Seed of the traffic and the price path.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write the table as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Folder for the report (report.md and liquidity.svg).
        #[arg(long, default_value = "vigil-demo")]
        report: PathBuf,
    },
    #[cfg(feature = "sim")]
    /// Measure detection: every attack scenario over many seeds with and without Vigil's pauses, and long benign
    /// runs (a crash on the synthetic path, or a real price history); prints detection, delay, pauses before the
    /// attack finished, funds saved, false alerts per 1,000 benign blocks and false pauses.
    Eval {
        /// Seeds per scenario.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Drive the benign runs from a real price history: a CSV with the header `timestamp,price`.
        #[arg(long)]
        price_csv: Option<PathBuf>,
        /// Play the price history this many times faster than real time.
        #[arg(long, default_value_t = 1)]
        price_speed: u64,
        /// Blocks of each benign run.
        #[arg(long, default_value_t = 2_500)]
        benign_blocks: u64,
        /// Only these attack scenarios (comma-separated; default: every one).
        #[arg(long, value_delimiter = ',')]
        attacks: Vec<String>,
        /// Detectors to evaluate (default: the demo's embedded configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also write the results (per scenario and per seed) as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Validate a configuration file without running anything.
    Check {
        /// The TOML file.
        config: PathBuf,
    },
    #[cfg(feature = "sim")]
    /// Run a scenario on the in-process chain: the venue, seeded traffic on a price path, and (except
    /// benign-crash) one attack; write the chain as JSON Lines and print what happened.
    Sim {
        /// List the scenarios, one per line, and exit.
        #[arg(long)]
        list: bool,
        /// The scenario to run (see --list).
        #[arg(long, required_unless_present = "list")]
        scenario: Option<String>,
        /// Seed of the traffic and of the synthetic price path.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Blocks to produce (default: the scenario's own length).
        #[arg(long)]
        blocks: Option<u64>,
        /// Drive the ETH/USD feed from a real history: a CSV with the header `timestamp,price` (UNIX seconds).
        #[arg(long)]
        price_csv: Option<PathBuf>,
        /// Play the price history this many times faster than real time (1 = 12 s of history per block).
        #[arg(long, default_value_t = 1)]
        price_speed: u64,
        /// Leave out callTracer traces.
        #[arg(long)]
        no_traces: bool,
        /// Run the same traffic and prices without the attacker.
        #[arg(long)]
        without_attack: bool,
        /// Where to write the JSON Lines.
        #[arg(long, required_unless_present = "list")]
        out: Option<PathBuf>,
    },
    /// Follow a chain over JSON-RPC (the `[source]` of the configuration): backfill from the stored cursor to
    /// the head, then follow new heads; detect, and send the mandated responses.
    Run {
        /// The TOML configuration.
        #[arg(long)]
        config: PathBuf,
        /// Stop after processing this block (a backfill job).
        #[arg(long)]
        until: Option<u64>,
        /// Serve /metrics and /health on this address (overrides [node] metrics), e.g. 127.0.0.1:9184.
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
        /// The SQLite store (overrides [node] store).
        #[arg(long)]
        store: Option<PathBuf>,
        /// Log lines as JSON objects instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Run the detectors over recorded blocks: a `vigil sim` JSON Lines file, or recorded JSON-RPC
    /// request/response pairs (files or folders of `*.json`, as in erigon's rpc-tests).
    Replay {
        /// The configuration whose detectors run (default: the demo's).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A `vigil sim` JSON Lines file.
        #[arg(long, conflicts_with = "pairs", required_unless_present = "pairs")]
        sim: Option<PathBuf>,
        /// Recorded request/response pair files or folders.
        #[arg(long, num_args = 1..)]
        pairs: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the head, the stored cursor, the lag and each endpoint's health.
    Status {
        /// The TOML configuration.
        #[arg(long)]
        config: PathBuf,
        /// The SQLite store (overrides [node] store).
        #[arg(long)]
        store: Option<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    #[cfg(feature = "sim")]
    /// Deploy the Guardian and the reference venue, and print their addresses and state.
    Venue {
        /// Deploy to this development node (HTTP JSON-RPC, e.g. anvil's http://127.0.0.1:8545) instead of the
        /// in-process chain. The node must accept the public test mnemonic's keys and anvil's methods.
        #[arg(long)]
        rpc: Option<String>,
        /// Print the addresses and state as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        #[cfg(feature = "sim")]
        Command::Demo { seed, json, report } => run_demo(seed, json.as_deref(), &report),
        #[cfg(feature = "sim")]
        Command::Eval { seeds, first_seed, price_csv, price_speed, benign_blocks, attacks, config, json, threads } => {
            let (config, name) = match &config {
                Some(path) => (Config::load(path)?, path.display().to_string()),
                None => (Config::parse("config/demo.toml (embedded)", DEMO_CONFIG)?, "embedded demo".into()),
            };
            let defaults = vigil::eval::EvalOptions::default();
            let opts = vigil::eval::EvalOptions {
                seeds,
                first_seed,
                benign_blocks,
                price_csv,
                price_speed,
                attacks: if attacks.is_empty() { defaults.attacks } else { attacks },
                threads: threads.unwrap_or(defaults.threads),
            };
            run_eval(&config, &name, &opts, json.as_deref())
        }
        Command::Check { config } => {
            let c = Config::load(&config)?;
            println!(
                "{}: valid ({} detectors: {})",
                config.display(),
                c.detectors.len(),
                c.detectors.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
            );
            Ok(())
        }
        #[cfg(feature = "sim")]
        Command::Sim { list, scenario, seed, blocks, price_csv, price_speed, no_traces, without_attack, out } => {
            if list {
                for s in SCENARIOS {
                    println!("{}", s.name);
                }
                return Ok(());
            }
            let (Some(name), Some(out)) = (scenario, out) else {
                anyhow::bail!("--scenario and --out are required");
            };
            let opts = RunOptions { seed, blocks, price_csv, price_speed, tracing: !no_traces, without_attack };
            run_sim(&name, opts, &out)
        }
        Command::Run { config, until, metrics, store, log_json } => {
            init_logs(log_json);
            let mut c = Config::load(&config)?;
            if let Some(s) = store {
                c.node.store = s;
            }
            if metrics.is_some() {
                c.node.metrics = metrics;
            }
            let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
            rt.block_on(async move {
                let node_metrics = vigil::run::NodeMetrics::default();
                if let Some(addr) = c.node.metrics {
                    vigil::run::serve_metrics(addr, node_metrics.clone()).await?;
                }
                let opts =
                    vigil::run::RunOptions { until, progress: std::io::IsTerminal::is_terminal(&std::io::stderr()) };
                let summary = tokio::select! {
                    s = vigil::run::run(&c, opts, node_metrics) => s?,
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("interrupted; the store holds every block committed so far");
                        return Ok(());
                    }
                };
                println!("{}", serde_json::to_string(&summary)?);
                Ok(())
            })
        }
        Command::Replay { config, sim, pairs, json } => {
            let c = match config {
                Some(path) => Config::load(&path)?,
                None => Config::parse("demo.toml (embedded)", DEMO_CONFIG)?,
            };
            let recorded = match &sim {
                Some(path) => vigil_chain::replay::Recorded::sim_file(path)?,
                None => vigil_chain::replay::Recorded::rpc_pairs(&pairs)?,
            };
            let report = vigil::replay::replay(&c, recorded, |f| {
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
        Command::Status { config, store, json } => {
            let mut c = Config::load(&config)?;
            if let Some(s) = store {
                c.node.store = s;
            }
            let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
            rt.block_on(status(&c, json))
        }
        #[cfg(feature = "sim")]
        Command::Venue { rpc, json } => {
            let actors = Actors::standard();
            let cfg = VenueConfig::default();
            match rpc {
                None => show_venue(&mut InProcessEvm::new(), &actors, &cfg, json, "in-process chain (revm)"),
                Some(url) => {
                    let mut node = NodeBackend::connect(&url, &actors.all_keys())
                        .with_context(|| format!("connecting to {url}"))?;
                    show_venue(&mut node, &actors, &cfg, json, &url)
                }
            }
        }
    }
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn status(c: &Config, json: bool) -> Result<()> {
    let source = c.source.as_ref().context("the configuration has no [source] section")?;
    let client = vigil::run::rpc_client(source, Default::default())?;
    let cursor = vigil::run::stored_cursor(c)?;
    let answers = client.request_each::<alloy::primitives::U64>("eth_blockNumber", serde_json::json!([])).await;
    let head = answers.iter().filter_map(|(_, r, _)| r.as_ref().ok()).map(|n| n.to::<u64>()).max();
    let endpoints: Vec<_> = answers
        .iter()
        .map(|(url, r, t)| match r {
            Ok(n) => serde_json::json!({"url": url, "head": n.to::<u64>(), "behind": head.unwrap_or(0) - n.to::<u64>(),
                "latency_ms": t.as_secs_f64() * 1e3, "ok": true}),
            Err(e) => serde_json::json!({"url": url, "ok": false, "error": e.to_string(), "latency_ms": t.as_secs_f64() * 1e3}),
        })
        .collect();
    let lag = match (head, cursor) {
        (Some(h), Some(c)) => Some(h.saturating_sub(c.number)),
        _ => None,
    };
    if json {
        let v = serde_json::json!({"head": head, "cursor": cursor.map(|c| c.number), "cursor_hash": cursor.map(|c| c.hash),
            "lag": lag, "store": c.node.store, "endpoints": endpoints});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let show = |v: Option<u64>| v.map(|n| format!("#{n}")).unwrap_or_else(|| "-".into());
    println!("head     {}", show(head));
    println!("cursor   {} (store {})", show(cursor.map(|c| c.number)), c.node.store.display());
    println!("lag      {}", lag.map(|l| format!("{l} blocks")).unwrap_or_else(|| "-".into()));
    for e in &endpoints {
        if e["ok"] == true {
            println!(
                "endpoint {}  ok  head #{} ({} behind), {:.1} ms",
                e["url"].as_str().unwrap_or(""),
                e["head"],
                e["behind"],
                e["latency_ms"].as_f64().unwrap_or(0.0)
            );
        } else {
            println!("endpoint {}  DOWN  {}", e["url"].as_str().unwrap_or(""), e["error"].as_str().unwrap_or(""));
        }
    }
    if head.is_none() {
        anyhow::bail!("no endpoint answered");
    }
    Ok(())
}

#[cfg(feature = "sim")]
fn run_demo(seed: u64, json: Option<&Path>, report: &Path) -> Result<()> {
    let started = Instant::now();
    eprintln!(
        "Vigil demo (seed {seed}): each attack runs with Vigil's pauses and again without, then the benign crash"
    );
    let mut last = String::new();
    let result = demo::run_demo(seed, |name, respond, i, n| {
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
        let rows = serde_json::json!({"seed": result.seed, "rows": result.rows, "benign_crash": {
            "pause_block": result.benign.pause_block, "benign_alerts": result.benign.benign_alerts }});
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("{}: write failed", path.display()))?;
    }
    println!("\nreport: {} (chart: {}) in {:.1} s", md.display(), svg.display(), started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(feature = "sim")]
fn run_eval(config: &Config, name: &str, opts: &vigil::eval::EvalOptions, json: Option<&Path>) -> Result<()> {
    eprintln!(
        "Vigil eval: {} attack scenarios × {} seeds with and without Vigil, and {} benign runs of {} blocks ({} threads)",
        opts.attacks.len(),
        opts.seeds,
        opts.seeds,
        opts.benign_blocks,
        opts.threads
    );
    let report = vigil::eval::evaluate(config, name, opts, |done, total| {
        if done % 10 == 0 || done == total {
            eprint!("\r  runs {done:>5}/{total}");
        }
    })?;
    eprintln!();
    print!("{}", vigil::eval::table(&report));
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("{}: write failed", path.display()))?;
    }
    Ok(())
}

#[cfg(feature = "sim")]
fn run_sim(name: &str, opts: RunOptions, out: &Path) -> Result<()> {
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

#[cfg(feature = "sim")]
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
            println!("attack        {a}: blocks {} .. {} (ground truth)", w.first, w.last);
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

#[cfg(feature = "sim")]
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
