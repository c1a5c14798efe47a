//! The `vigil` command line.
//!
//! `vigil venue` deploys the Guardian and the reference venue on the in-process chain (or, with `--rpc`, on a
//! development node such as anvil) and prints their addresses and state.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use vigil_sim::{deploy_venue, state::VenueState, Actors, Backend, InProcessEvm, NodeBackend, Venue, VenueConfig};

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

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
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
