//! The `vigil` command line.
//!
//! - `vigil sim` runs a named scenario on the in-process chain and writes it as JSON Lines;
//! - `vigil venue` deploys the Guardian and the reference venue on the in-process chain (or, with `--rpc`, on a
//!   development node such as anvil) and prints their addresses and state.
//!
//! `demo`, `eval`, `sim` and `venue` need the feature `sim` (on by default).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use vigil::{config::Config, DEMO_CONFIG};
#[cfg(feature = "sim")]
use vigil::{eval::EvalOptions, proving};
#[cfg(feature = "sim")]
use vigil_sim::scenario::RunOptions;

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
        /// Oracle nodes: 1 is one node holding the threshold of keys; more (up to 5) runs that many nodes with one
        /// key each, signing shares and reaching the 3-of-5 quorum over HTTP on 127.0.0.1.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
        nodes: u8,
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
        /// The attacker sends through private order flow: its transactions never show in the public mempool.
        #[arg(long)]
        private_attack: bool,
        /// Attestation-gated entry on: risky calls to the venue need an attestation of the oracle set, which
        /// the node signs for transactions it simulates and finds safe (the runs without Vigil have no gate).
        #[arg(long)]
        gate: bool,
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
        /// The attacker sends through private order flow (never in the public mempool).
        #[arg(long)]
        private_attack: bool,
        /// Activate the SecurityGate's rules (with no node attesting, risky calls revert).
        #[arg(long)]
        gate: bool,
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
        Command::Demo { seed, json, report, nodes } => proving::run_demo(seed, nodes.into(), json.as_deref(), &report),
        #[cfg(feature = "sim")]
        Command::Eval {
            seeds,
            first_seed,
            price_csv,
            price_speed,
            benign_blocks,
            attacks,
            config,
            json,
            threads,
            private_attack,
            gate,
        } => {
            let (config, name) = match &config {
                Some(path) => (Config::load(path)?, path.display().to_string()),
                None => (Config::parse("config/demo.toml (embedded)", DEMO_CONFIG)?, "embedded demo".into()),
            };
            let defaults = EvalOptions::default();
            let opts = EvalOptions {
                seeds,
                first_seed,
                benign_blocks,
                price_csv,
                price_speed,
                attacks: if attacks.is_empty() { defaults.attacks } else { attacks },
                threads: threads.unwrap_or(defaults.threads),
                private_attack,
                gate,
            };
            proving::run_eval(&config, &name, &opts, json.as_deref())
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
        Command::Sim {
            list,
            scenario,
            seed,
            blocks,
            price_csv,
            price_speed,
            no_traces,
            without_attack,
            private_attack,
            gate,
            out,
        } => {
            if list {
                proving::list_scenarios();
                return Ok(());
            }
            let (Some(name), Some(out)) = (scenario, out) else {
                anyhow::bail!("--scenario and --out are required");
            };
            let opts = RunOptions {
                seed,
                blocks,
                price_csv,
                price_speed,
                tracing: !no_traces,
                without_attack,
                private_attack,
                gate,
            };
            proving::run_sim(&name, opts, &out)
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
            vigil::replay::run_command(&c, recorded, json)
        }
        Command::Status { config, store, json } => {
            let mut c = Config::load(&config)?;
            if let Some(s) = store {
                c.node.store = s;
            }
            let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
            rt.block_on(vigil::status::status(&c, json))
        }
        #[cfg(feature = "sim")]
        Command::Venue { rpc, json } => proving::venue(rpc.as_deref(), json),
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
