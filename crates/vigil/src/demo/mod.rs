//! The demo: Vigil watching the reference venue while attacks unfold among ordinary traffic, and its pauses
//! landing on the chain.
//!
//! For each attack scenario the same seed runs twice: with Vigil responding (its pause transactions go first into
//! the next block, as a higher-fee transaction would) and with the response off (Vigil still watches, so
//! detection is measured the same way). What the attacker took comes from chain state in both runs. The benign
//! crash runs once with Vigil responding, to show it does not pause. The configuration is embedded
//! (`config/demo.toml`).
//!
//! A run reports each execution of the attack apart ([`AttackRun`]): repeat-attack executes it twice, with
//! governance lifting the first pause in between.

pub mod network;

use std::collections::BTreeSet;

use serde::Serialize;
use vigil_core::Scope;
use vigil_respond::{GuardianResponder, Responder};
use vigil_sim::{
    actors::ORACLE_THRESHOLD,
    chain::TxRequest,
    evm::CHAIN_ID,
    scenario::{self, RunOptions, ScenarioRun},
    state::VenueState,
};

use crate::config::Config;
use crate::engine::{Engine, EngineError, PauseOutcome};

pub use crate::DEMO_CONFIG;

/// The attack scenarios the demo runs: a multi-block price manipulation, a slow drain, an attack whose contract
/// is deployed before use, and a stolen admin key.
pub const DEMO_ATTACKS: [&str; 4] = ["spot-pump", "legacy-borrow-drain", "predeployed-flash-loan", "admin-key"];

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The embedded configuration is invalid (a build defect).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A scenario could not run.
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    /// The engine failed on a block.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A state read failed.
    #[error(transparent)]
    Exec(#[from] vigil_sim::ExecError),
    /// The oracle network could not be set up (runtime, inboxes, the Guardian's state).
    #[error("the demo's oracle network: {0}")]
    Network(String),
    /// The attestation service failed.
    #[error(transparent)]
    Attest(#[from] crate::attest::AttestError),
}

/// What attestation-gated entry did in a run (`RunOptions::gate`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GateFigures {
    /// Transactions that asked the node for an attestation.
    pub requests: u64,
    /// Benign ones attested (sent through `attestedCall`).
    pub attested_benign: u64,
    /// Malicious ones attested (the gate let them in).
    pub attested_malicious: u64,
    /// Benign ones refused: during an attack (its manipulated state is what the node refuses to attest on), or
    /// before it (false refusals).
    pub refused_benign: u64,
    /// Benign ones refused before the attack's first malicious block (all, in a run without an attack): false
    /// refusals.
    pub false_refusals: u64,
    /// The block of each benign refusal.
    pub refused_benign_blocks: Vec<u64>,
    /// Malicious ones refused.
    pub refused_malicious: u64,
    /// Requests not judged (the simulated block was not the head's next).
    pub stale: u64,
    /// The first finding of each benign refusal, after its block.
    pub refused_benign_titles: Vec<String>,
}

impl GateFigures {
    /// `sum` (if any) plus `g`.
    pub fn sum(sum: Option<Self>, g: &Self) -> Self {
        let mut t = sum.unwrap_or_default();
        t.requests += g.requests;
        t.attested_benign += g.attested_benign;
        t.attested_malicious += g.attested_malicious;
        t.refused_benign += g.refused_benign;
        t.false_refusals += g.false_refusals;
        t.refused_benign_blocks.extend(&g.refused_benign_blocks);
        t.refused_malicious += g.refused_malicious;
        t.stale += g.stale;
        t.refused_benign_titles.extend(g.refused_benign_titles.iter().cloned());
        t
    }
}

/// One run of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Scenario.
    pub scenario: String,
    /// Whether Vigil's pauses were sent.
    pub respond: bool,
    /// First block with a malicious transaction.
    pub first_malicious_block: Option<u64>,
    /// First block at or after the attack's start with a finding at or above the notify level.
    pub detection_block: Option<u64>,
    /// The detector behind that first alert.
    pub detected_by: Option<String>,
    /// Block that included the first pause accepted by the Guardian.
    pub pause_block: Option<u64>,
    /// Dollars the attacker took (chain state, feed prices at the attack's start).
    pub lost_usd: f64,
    /// hBTC the attacker took.
    pub lost_hbtc: f64,
    /// Alerts (incidents notified or paused: one per incident) raised on benign blocks: blocks before the
    /// attack's first malicious block, or any block of a run without an attack.
    pub benign_alerts: u64,
    /// What those alerts said.
    pub benign_alert_titles: Vec<String>,
    /// Attacker transactions that reverted.
    pub attack_txs_reverted: u64,
    /// Transactions of the benign traffic that reverted (a gate that refused honest users would show here).
    pub benign_txs_reverted: u64,
    /// Last block with a malicious transaction.
    pub last_malicious_block: Option<u64>,
    /// Whether the attack's execute phase spans more than one block (`false` for single-transaction attacks).
    pub multi_block: bool,
    /// The Guardian scope the attack hits.
    pub attack_scope: Option<Scope>,
    /// Blocks produced.
    pub blocks: u64,
    /// Blocks before the first malicious block (all of them in a run without an attack).
    pub benign_blocks: u64,
    /// Alerts raised on those blocks (every one, not deduplicated).
    pub false_alerts: u64,
    /// Pauses that landed: (block, scope).
    pub pauses_landed: Vec<(u64, Scope)>,
    /// Blocks where a pause that front-ran a pending transaction landed (screening, `[screening]`).
    pub front_runs_landed: Vec<u64>,
    /// Total value the venue's contracts hold, per block (block number, dollars at feed prices).
    pub liquidity: Vec<(u64, f64)>,
    /// Each execution of the attack, in order (one, or two for repeat-attack).
    pub attacks: Vec<AttackRun>,
    /// With an oracle network (`--nodes`): what it did.
    pub network: Option<network::NetworkFigures>,
    /// With attestation-gated entry on: what the gate and the node's attestation service did.
    pub gate: Option<GateFigures>,
}

/// One execution of a scenario's attack within a run.
#[derive(Debug, Clone, Serialize)]
pub struct AttackRun {
    /// First block with one of its malicious transactions.
    pub first_block: u64,
    /// Last block with one.
    pub last_block: u64,
    /// First alert at or after its first block and before the next execution's.
    pub detection_block: Option<u64>,
    /// Dollars the attacker took in this execution (chain state, feed prices at its start).
    pub lost_usd: f64,
}

/// A row of the demo's table.
#[derive(Debug, Clone, Serialize)]
pub struct DemoRow {
    /// Attack scenario.
    pub attack: String,
    /// First malicious block.
    pub first_malicious_block: Option<u64>,
    /// Detection block.
    pub detection_block: Option<u64>,
    /// Pause block.
    pub pause_block: Option<u64>,
    /// Dollars lost with Vigil responding.
    pub lost_with_vigil_usd: f64,
    /// Dollars lost with the response off (same seed).
    pub lost_without_vigil_usd: f64,
    /// hBTC lost with and without.
    pub lost_hbtc: (f64, f64),
    /// Alerts on benign blocks (with Vigil).
    pub benign_alerts: u64,
    /// What the first pause was: `mempool` (it front-ran a pending transaction in its own block) or `block` (it
    /// came after a block's findings).
    pub defense: Option<String>,
    /// With an oracle network: nodes that signed the pause, and milliseconds from block to quorum.
    pub network: Option<network::NetworkFigures>,
}

/// Everything the demo measured.
#[derive(Debug, Clone, Serialize)]
pub struct DemoResult {
    /// Seed.
    pub seed: u64,
    /// Oracle nodes (1: one node holding k keys).
    pub nodes: usize,
    /// One row per attack.
    pub rows: Vec<DemoRow>,
    /// The benign crash with Vigil responding.
    pub benign: RunResult,
    /// Every run (with and without Vigil), for the report.
    pub runs: Vec<RunResult>,
}

/// The demo's engine for a run: the embedded detectors, a responder with the venue's first k oracle keys, and an
/// in-memory store.
pub fn demo_engine(run: &ScenarioRun, config: &Config, respond: bool) -> Engine {
    let responder = respond.then(|| {
        Box::new(GuardianResponder::new(
            config.guardian.address,
            CHAIN_ID,
            run.actors.oracles.iter().take(ORACLE_THRESHOLD).cloned().collect(),
            config.guardian.report_validity_seconds,
        )) as Box<dyn Responder>
    });
    let store = vigil_store::SqliteStore::in_memory().expect("an in-memory SQLite database opens");
    Engine::resume(config.build_detectors(), config.policy.clone(), responder, store)
        .expect("an empty store resumes")
        .with_correlator(config.build_correlator())
        .with_fees(config.pause_fees())
}

/// Runs one scenario with Vigil watching; `progress` gets (blocks produced, total). With `nodes` > 1 and
/// `respond`, an oracle network of that many nodes responds ([`network`]).
pub fn run_scenario(
    name: &str,
    opts: RunOptions,
    respond: bool,
    config: &Config,
    nodes: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<RunResult, DemoError> {
    let spec = scenario::find(name)?;
    // Without Vigil there is no attestation service, so no gate either.
    let opts = RunOptions { gate: opts.gate && respond, ..opts };
    let mut run = ScenarioRun::start(spec, opts)?;
    if run.venue.guardian != config.guardian.address {
        return Err(DemoError::Config(crate::config::ConfigError::Inconsistent {
            path: "config/demo.toml".into(),
            message: format!("guardian {} is not the venue's {}", config.guardian.address, run.venue.guardian),
        }));
    }
    let mut oracle_network =
        if respond && nodes > 1 { Some(network::DemoNetwork::start(&run, config, nodes)?) } else { None };
    let mut engine = match &oracle_network {
        Some(_) => network::node_engine(config, run.actors.oracles[0].clone()),
        None => demo_engine(&run, config, respond),
    };
    let notify_at = config.policy.notify_at;
    let total = run.total_blocks();
    let mut next_first: Vec<TxRequest> = Vec::new();
    let mut malicious_blocks = BTreeSet::new();
    // (block, title, detector) of each alert.
    let mut alerts: Vec<(u64, String, String)> = Vec::new();
    let mut liquidity = Vec::new();
    let mut attack_reverted = 0;
    let mut benign_reverted = 0;
    // Screening needs the node's own response (one node: the network's shares are for blocks only).
    let screening = respond && oracle_network.is_none() && config.screening.is_some();
    // The node attests with the keys it holds (one node: k of them); the demo's network does not gate.
    let attester = (run.options().gate && oracle_network.is_none()).then(|| {
        let keys = run.actors.oracles.iter().take(ORACLE_THRESHOLD).cloned().collect();
        crate::attest::Attester::new(run.venue.gate, CHAIN_ID, keys, crate::attest::DEFAULT_VALIDITY_BLOCKS)
    });
    let mut gate = attester.as_ref().map(|_| GateFigures::default());
    loop {
        // Attestations and screening are for the block about to be built.
        let next = run.chain.head().number + 1;
        if let (Some(attester), Some(figures)) = (&attester, gate.as_mut()) {
            alerts.extend(
                attest_pending(&mut run, &mut engine, attester, figures)?.into_iter().map(|(t, d)| (next, t, d)),
            );
        }
        if screening {
            for outcome in screen_pending(&mut run, &mut engine)? {
                alerts.extend(alerts_of(&engine, &outcome, next, notify_at));
                next_first.extend(outcome.outgoing.into_iter().map(pause_tx));
            }
        }
        let Some(block) = run.next_block(std::mem::take(&mut next_first))? else { break };
        let number = block.number();
        for (i, label) in block.labels.iter().enumerate() {
            let reverted = !block.receipts[i].status();
            if label.malicious {
                malicious_blocks.insert(number);
                attack_reverted += u64::from(reverted);
            } else {
                benign_reverted += u64::from(reverted);
            }
        }
        let bundle = run.chain.bundle(&block, engine.probes());
        let (outcome, submitted) = match &mut oracle_network {
            Some(net) => net.process(&mut engine, &bundle)?,
            None => (engine.process(&bundle)?, Vec::new()),
        };
        next_first.extend(submitted);
        alerts.extend(alerts_of(&engine, &outcome, number, notify_at));
        next_first.extend(outcome.outgoing.into_iter().map(pause_tx));
        let state = VenueState::read(&mut run.chain, &run.venue)?;
        liquidity.push((number, state.total_value_usd().to::<u128>() as f64 / 1e6));
        progress(run.produced(), total);
    }
    let gains = run.attack_gains()?;
    let (gain, hbtc) = vigil_sim::scenario::total_gain(&gains);
    let windows = run.attack_windows();
    let attacks = windows
        .iter()
        .zip(gains)
        .enumerate()
        .map(|(k, (w, (lost, _)))| {
            let before_next = windows.get(k + 1).map_or(u64::MAX, |next| next.first);
            AttackRun {
                first_block: w.first,
                last_block: w.last,
                detection_block: alerts.iter().map(|(b, ..)| *b).find(|b| *b >= w.first && *b < before_next),
                lost_usd: lost.to::<u128>() as f64 / 1e6,
            }
        })
        .collect();
    let first_malicious = malicious_blocks.first().copied();
    if let Some(g) = gate.as_mut() {
        g.false_refusals =
            g.refused_benign_blocks.iter().filter(|b| first_malicious.is_none_or(|m| **b < m)).count() as u64;
    }
    let blocks = run.produced();
    let benign_blocks = match first_malicious {
        Some(m) => m.saturating_sub(run.number_of(1)),
        None => blocks,
    };
    let false_alerts = alerts.iter().filter(|(b, ..)| first_malicious.is_none_or(|m| *b < m)).count() as u64;
    let pauses_landed = engine
        .pauses()
        .iter()
        .filter_map(|p| match p.outcome {
            PauseOutcome::Landed { block } => Some((block, p.scope)),
            _ => None,
        })
        .collect();
    let front_runs_landed = engine
        .pauses()
        .iter()
        .filter_map(|p| match p.outcome {
            PauseOutcome::Landed { block } if p.front_runs.is_some() => Some(block),
            _ => None,
        })
        .collect();
    let attack_scope = run.plan.as_ref().map(|p| {
        let (target, id) = p.attack.target(&run.venue);
        Scope::segment(target, id)
    });
    let first_alert = first_malicious.and_then(|m| alerts.iter().find(|(b, ..)| *b >= m));
    let detection = first_alert.map(|(b, ..)| *b);
    let detected_by = first_alert.map(|(.., d)| d.clone());
    let pause_block = engine.pauses().iter().find_map(|p| match p.outcome {
        PauseOutcome::Landed { block } => Some(block),
        _ => None,
    });
    let benign: Vec<String> = alerts
        .iter()
        .filter(|(b, ..)| first_malicious.is_none_or(|m| *b < m))
        .map(|(_, t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(RunResult {
        scenario: name.to_string(),
        respond,
        first_malicious_block: first_malicious,
        detection_block: detection,
        detected_by,
        pause_block,
        lost_usd: gain.to::<u128>() as f64 / 1e6,
        lost_hbtc: hbtc.to::<u128>() as f64 / 1e18,
        benign_alerts: benign.len() as u64,
        benign_alert_titles: benign,
        attack_txs_reverted: attack_reverted,
        benign_txs_reverted: benign_reverted,
        last_malicious_block: malicious_blocks.last().copied(),
        multi_block: run.plan.as_ref().is_some_and(|p| p.execute_blocks() > 1),
        attack_scope,
        blocks,
        benign_blocks,
        false_alerts,
        pauses_landed,
        front_runs_landed,
        liquidity,
        attacks,
        network: oracle_network.map(|n| n.figures()),
        gate,
    })
}

/// The node's attestation service for the next block's transactions that need one: each judged
/// ([`crate::attest::Attester::judge`]) and, when attested, sent through `attestedCall`. Returns an alert
/// (title, detector) per refusal.
pub fn attest_pending(
    run: &mut ScenarioRun,
    engine: &mut Engine,
    attester: &crate::attest::Attester,
    figures: &mut GateFigures,
) -> Result<Vec<(String, String)>, DemoError> {
    use crate::attest::Verdict;
    let requests = run.gate_requests(engine.probes())?;
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let version = run.chain.view(run.venue.guardian, vigil_contracts::Guardian::configVersionCall {})?;
    let number = run.chain.head().number + 1;
    let mut alerts = Vec::new();
    for req in requests {
        figures.requests += 1;
        let malicious = req.tx.label.malicious;
        match attester.judge(engine, &req.bundle, req.tx.from, req.execution_hashes.clone(), version)? {
            Verdict::Attested { attestation, signatures } => {
                run.attach_attestation(req.index, &attestation, signatures);
                if malicious {
                    figures.attested_malicious += 1;
                } else {
                    figures.attested_benign += 1;
                }
            }
            Verdict::Refused { findings } => {
                let first = &findings[0];
                let title =
                    format!("attestation refused to {}: {} ({})", req.tx.label.what, first.title, first.detector);
                if malicious {
                    figures.refused_malicious += 1;
                } else {
                    figures.refused_benign += 1;
                    figures.refused_benign_blocks.push(number);
                    figures.refused_benign_titles.push(format!("block {number}: {title}"));
                }
                alerts.push((title, first.detector.clone()));
            }
            Verdict::Stale => figures.stale += 1,
        }
    }
    Ok(alerts)
}

/// Screens every pending transaction of `run` that calls a contract, in the order it came: simulated alone as
/// the next block on the head's state, then screened by `engine` (`Engine::screen`). One outcome per transaction.
pub fn screen_pending(
    run: &mut ScenarioRun,
    engine: &mut Engine,
) -> Result<Vec<crate::engine::BlockOutcome>, DemoError> {
    let pending: Vec<TxRequest> = run.pending()?.iter().filter(|t| t.to.is_some()).cloned().collect();
    let mut outcomes = Vec::with_capacity(pending.len());
    for tx in pending {
        let bid = crate::engine::Bid { tip: tx.priority_fee, max_fee: tx.max_fee() };
        let (_, bundle) = run.chain.simulate(vec![tx], engine.probes());
        outcomes.push(engine.screen(&bundle, bid)?);
    }
    Ok(outcomes)
}

/// A pause the engine wants sent, as a transaction of the in-process chain with its tip.
pub fn pause_tx(out: crate::engine::Outgoing) -> TxRequest {
    TxRequest::pause(out.from, out.to, out.data, out.priority_fee)
}

/// The alerts of `outcome` (one per action: its first finding at or above `notify_at` on the incident's scope),
/// as (block, title, detector).
fn alerts_of(
    engine: &Engine,
    outcome: &crate::engine::BlockOutcome,
    number: u64,
    notify_at: vigil_core::Severity,
) -> Vec<(u64, String, String)> {
    outcome
        .actions
        .iter()
        .map(|action| {
            outcome
                .findings
                .iter()
                .filter(|f| f.severity >= notify_at && f.scope == incident_scope(engine, action.incident))
                .map(|f| (number, format!("block {number}: {} ({})", f.title, f.detector), f.detector.clone()))
                .next()
                .unwrap_or_else(|| (number, format!("block {number}: {:?}", action.kind), String::new()))
        })
        .collect()
}

/// The scope of an incident.
fn incident_scope(engine: &Engine, incident: alloy::primitives::B256) -> vigil_core::Scope {
    engine
        .incidents()
        .incidents()
        .find(|i| i.id == incident)
        .map(|i| i.scope)
        .unwrap_or(vigil_core::Scope::whole(Default::default()))
}

/// Runs the whole demo, with one node holding k keys (`nodes` = 1) or an oracle network of `nodes` nodes.
pub fn run_demo(
    seed: u64,
    nodes: usize,
    mut progress: impl FnMut(&str, bool, u64, u64),
) -> Result<DemoResult, DemoError> {
    let config = Config::parse("config/demo.toml (embedded)", DEMO_CONFIG)?;
    let opts = RunOptions { seed, tracing: config.needs_traces(), ..Default::default() };
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    for name in DEMO_ATTACKS {
        let with = run_scenario(name, opts.clone(), true, &config, nodes, |i, n| progress(name, true, i, n))?;
        let without = run_scenario(name, opts.clone(), false, &config, nodes, |i, n| progress(name, false, i, n))?;
        rows.push(DemoRow {
            attack: name.to_string(),
            first_malicious_block: with.first_malicious_block,
            detection_block: with.detection_block,
            pause_block: with.pause_block,
            lost_with_vigil_usd: with.lost_usd,
            lost_without_vigil_usd: without.lost_usd,
            lost_hbtc: (with.lost_hbtc, without.lost_hbtc),
            benign_alerts: with.benign_alerts,
            defense: with
                .pause_block
                .map(|b| if with.front_runs_landed.contains(&b) { "mempool" } else { "block" }.to_string()),
            network: with.network.clone(),
        });
        runs.push(with);
        runs.push(without);
    }
    let benign = run_scenario("benign-crash", opts, true, &config, nodes, |i, n| progress("benign-crash", true, i, n))?;
    Ok(DemoResult { seed, nodes, rows, benign, runs })
}

fn opt(b: Option<u64>) -> String {
    b.map(|b| b.to_string()).unwrap_or_else(|| "—".into())
}

/// The headers of the result table: with an oracle network, two more (nodes that signed, block to quorum).
fn headers(result: &DemoResult) -> Vec<&'static str> {
    let mut h = vec![
        "attack",
        "first bad",
        "detected",
        "paused",
        "defense",
        "lost with Vigil",
        "lost without",
        "benign alerts",
    ];
    if result.nodes > 1 {
        h.extend(["signed", "quorum ms"]);
    }
    h
}

/// The cells of the result table, one row per attack and a last row for the benign run: the text table and the
/// Markdown report render the same cells.
fn cells(result: &DemoResult) -> Vec<Vec<String>> {
    let dash = || "—".to_string();
    let network = |n: &Option<network::NetworkFigures>| match n {
        Some(n) if result.nodes > 1 => vec![
            if n.signed > 0 { format!("{}/{}", n.signed, n.nodes) } else { dash() },
            n.block_to_quorum_ms.map(|ms| format!("{ms:.1}")).unwrap_or_else(dash),
        ],
        _ if result.nodes > 1 => vec![dash(), dash()],
        _ => vec![],
    };
    let mut rows = Vec::with_capacity(result.rows.len() + 1);
    for r in &result.rows {
        let mut row = vec![
            r.attack.clone(),
            opt(r.first_malicious_block),
            opt(r.detection_block),
            opt(r.pause_block),
            r.defense.clone().unwrap_or_else(dash),
            format!("${:.0}", r.lost_with_vigil_usd),
            format!("${:.0}", r.lost_without_vigil_usd),
            r.benign_alerts.to_string(),
        ];
        row.extend(network(&r.network));
        rows.push(row);
    }
    let b = &result.benign;
    let mut row = vec![
        "benign-crash (no attack)".into(),
        dash(),
        dash(),
        opt(b.pause_block),
        dash(),
        dash(),
        dash(),
        b.benign_alerts.to_string(),
    ];
    row.extend(network(&b.network));
    rows.push(row);
    rows
}

/// The table, as text.
pub fn table(result: &DemoResult) -> String {
    const WIDTHS: [usize; 10] = [24, 10, 10, 8, 8, 16, 16, 8, 8, 10];
    let line = |c: &[&str]| {
        let mut l = String::new();
        for (i, cell) in c.iter().enumerate() {
            if i == 0 {
                l.push_str(&format!("{cell:<w$}", w = WIDTHS[0]));
            } else {
                l.push_str(&format!(" {cell:>w$}", w = WIDTHS[i]));
            }
        }
        l.push('\n');
        l
    };
    let mut s = line(&headers(result));
    for row in cells(result) {
        s.push_str(&line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    s
}

/// Writes the Markdown report and the SVG chart of the venue's liquidity with and without Vigil.
pub fn write_report(result: &DemoResult, markdown: &std::path::Path, chart: &std::path::Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    {
        let root = SVGBackend::new(chart, (1000, 260 * DEMO_ATTACKS.len() as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((DEMO_ATTACKS.len(), 1));
        for (panel, name) in panels.iter().zip(DEMO_ATTACKS) {
            let with = result.runs.iter().find(|r| r.scenario == name && r.respond);
            let without = result.runs.iter().find(|r| r.scenario == name && !r.respond);
            let (Some(with), Some(without)) = (with, without) else { continue };
            let all = with.liquidity.iter().chain(&without.liquidity);
            let (x0, x1) = (with.liquidity.first().map_or(0, |p| p.0), with.liquidity.last().map_or(1, |p| p.0));
            let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1 / 1e6), hi.max(p.1 / 1e6)));
            let pad = ((hi - lo) * 0.1).max(0.1);
            let mut c = ChartBuilder::on(panel)
                .caption(format!("{name}: venue liquidity ($M at feed prices)"), ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))?;
            c.configure_mesh().x_desc("block").light_line_style(WHITE).draw()?;
            c.draw_series(LineSeries::new(without.liquidity.iter().map(|p| (p.0, p.1 / 1e6)), RED.stroke_width(2)))?
                .label("without Vigil")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
            c.draw_series(LineSeries::new(with.liquidity.iter().map(|p| (p.0, p.1 / 1e6)), BLUE.stroke_width(2)))?
                .label("with Vigil")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
            c.configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
    }
    let chart_name = chart.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let mut md = String::new();
    md.push_str("# Vigil demo report\n\n");
    md.push_str(&format!(
        "Seed {}. The reference venue on the in-process chain, seeded traffic on a synthetic price path, one attack \
         per run. Each attack ran twice with the same seed: with Vigil's pauses sent, and with the response off. \
         Losses are what the attacker's account gained, read from chain state. *defense*: `mempool` when the pause \
         front-ran a pending transaction of the attack in its own block (screening), `block` when it came after \
         a block's findings.\n\n",
        result.seed
    ));
    let mut header = String::from(
        "| attack | first malicious block | detection block | pause block | defense | lost with Vigil | lost without Vigil | alerts on benign blocks |",
    );
    let mut rule = String::from("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
    if result.nodes > 1 {
        md.push_str(&format!(
            "{} oracle nodes, each with its own key, engine and store, exchanging shares over HTTP on 127.0.0.1; \
             *signed*: nodes that signed the report that reached the threshold first, *quorum ms*: from the \
             arrival of the block whose findings decided the pause to the first node holding the threshold.\n\n",
            result.nodes
        ));
        header.push_str(" signed | block to quorum (ms) |");
        rule.push_str(" ---: | ---: |");
    }
    md.push_str(&format!("{header}\n{rule}\n"));
    for row in cells(result) {
        md.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    md.push('\n');
    md.push_str(&format!("![venue liquidity with and without Vigil]({chart_name})\n\n"));
    md.push_str("## Alerts on benign blocks\n\n");
    for r in result.runs.iter().filter(|r| r.respond).chain([&result.benign]) {
        for t in &r.benign_alert_titles {
            md.push_str(&format!("- {}: {t}\n", r.scenario));
        }
    }
    std::fs::write(markdown, md)?;
    Ok(())
}
