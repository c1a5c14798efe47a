//! `vigil eval`: detection measured over many seeds, not claimed.
//!
//! Every attack scenario runs once per seed with Vigil's pauses sent and once with the response off (the same
//! seed, so the same traffic and prices); the benign scenario runs once per seed over a longer span (by default
//! 2,500 blocks with a 40 % crash in 10 minutes at block 100, or on a real price history given as CSV). What the
//! attacker took is read from chain state. Per scenario and in total it reports:
//!
//! - **detected**: runs with an alert (an incident notified or paused) at or after the first malicious block;
//! - **delay**: blocks from the first malicious transaction to that alert (median and worst);
//! - **paused before finish** (multi-block attacks): a pause of the attacked scope landed at or before the
//!   attack's last block in the run without Vigil (a pause goes first in its block, so the attacker's transaction
//!   in that block fails). A scenario that executes its attack more than once (repeat-attack: governance lifts the
//!   first pause, the attacker tries again) counts a run only when *each* execution was paused before it
//!   finished: a pause landed after the previous execution's last block and at or before this one's. The table's
//!   footer then shows each execution apart (paused, detection delay, funds saved);
//! - **in landing block** (single-transaction attacks): the alert came no later than the block where the
//!   exploiting transaction landed;
//! - **funds saved**: loss without Vigil minus loss with Vigil, summed over seeds (dollars at feed prices);
//! - **false alerts per 1,000 benign blocks**: alerts on blocks before an attack's first malicious block and on
//!   every block of a benign run;
//! - **false pauses**: pauses that landed on a benign block;
//! - **defense**: what stopped the attack in each run: `mempool`, a pause that front-ran the attacker's pending
//!   transaction in its own block (screening, `[screening]`), or `block`, a pause decided after a block.
//!
//! With `--private-attack` the attacker sends through private order flow: its transactions never show in the
//! mempool, so screening cannot act.
//!
//! Blocks of an attack run before its first malicious block carry the same seed's traffic as the benign run, so
//! the false-alert rate in total counts the benign runs only; alerts before an attack are shown per scenario and
//! counted apart.
//!
//! Runs are independent, so they are spread over the machine's cores. The result is printed as a table and can be
//! written as JSON (`--json`) to compare configurations and versions over time.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use vigil_sim::scenario::{RunOptions, SCENARIOS};

use crate::config::Config;
use crate::demo::{run_scenario, AttackRun, DemoError, RunResult};

/// The benign scenario every seed runs.
pub const BENIGN_SCENARIO: &str = "benign-crash";

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Seeds per scenario (seeds `first_seed..first_seed + seeds`).
    pub seeds: u64,
    /// The first seed.
    pub first_seed: u64,
    /// Blocks of each benign run.
    pub benign_blocks: u64,
    /// A price history (`timestamp,price`) that drives the benign runs instead of the synthetic path.
    pub price_csv: Option<PathBuf>,
    /// How many times faster than real time the price history plays.
    pub price_speed: u64,
    /// Attack scenarios to run (default: every one).
    pub attacks: Vec<String>,
    /// Worker threads.
    pub threads: usize,
    /// The attacker sends through private order flow (never in the public mempool).
    pub private_attack: bool,
    /// Attestation-gated entry on (in the runs with Vigil and the benign runs).
    pub gate: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            seeds: 20,
            first_seed: 1,
            benign_blocks: 2_500,
            price_csv: None,
            price_speed: 1,
            attacks: attack_scenarios(),
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            private_attack: false,
            gate: false,
        }
    }
}

/// Every attack scenario, in the scenario list's order.
pub fn attack_scenarios() -> Vec<String> {
    SCENARIOS.iter().filter(|s| s.attack.is_some()).map(|s| s.name.to_string()).collect()
}

/// One seed of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    /// Seed.
    pub seed: u64,
    /// First malicious block.
    pub first_malicious_block: Option<u64>,
    /// Last malicious block in the run without Vigil (where the attack finishes).
    pub attack_end_block: Option<u64>,
    /// First alert at or after the first malicious block.
    pub detection_block: Option<u64>,
    /// The detector behind that alert.
    pub detected_by: Option<String>,
    /// First pause that landed.
    pub pause_block: Option<u64>,
    /// Every pause that landed: (block, scope).
    pub pauses: Vec<(u64, String)>,
    /// Whether a pause of the attacked scope landed at or before the attack's end (before each execution's end,
    /// for a scenario that executes its attack more than once).
    pub paused_before_finish: bool,
    /// What stopped the attack: `mempool` (a pause that front-ran its pending transaction) or `block` (a pause
    /// decided after a block), for the first pause of the attacked scope at or before its end.
    pub defense: Option<String>,
    /// Each execution of the attack, in order.
    pub attacks: Vec<AttackSeed>,
    /// Dollars lost with Vigil responding.
    pub lost_with_usd: f64,
    /// Dollars lost with the response off.
    pub lost_without_usd: f64,
    /// hBTC (no feed prices it) lost with Vigil and without.
    pub lost_hbtc: (f64, f64),
    /// Blocks before the attack (or all, in a benign run).
    pub benign_blocks: u64,
    /// Alerts on those blocks.
    pub false_alerts: u64,
    /// Pauses that landed on those blocks.
    pub false_pauses: u64,
    /// Titles of the false alerts.
    pub false_alert_titles: Vec<String>,
    /// With attestation-gated entry on: what the gate and the node's attestation service did.
    pub gate: Option<crate::demo::GateFigures>,
}

/// One execution of the attack in one seed: as it went with Vigil responding and with the response off (where
/// it ends), and the pause that stopped it.
#[derive(Debug, Clone, Serialize)]
pub struct AttackSeed {
    /// With Vigil: its window, first alert, what it took.
    pub with_vigil: AttackRun,
    /// With the response off (the same seed).
    pub without_vigil: Option<AttackRun>,
    /// First pause of the attacked scope that landed after the previous execution's end and at or before this
    /// one's (in the run without Vigil).
    pub pause_block: Option<u64>,
}

impl AttackSeed {
    /// Its last malicious block in the run without Vigil, where it finishes.
    pub fn end_block(&self) -> u64 {
        self.without_vigil.as_ref().unwrap_or(&self.with_vigil).last_block
    }

    /// Dollars it took with the response off.
    pub fn lost_without_usd(&self) -> f64 {
        self.without_vigil.as_ref().map_or(0.0, |w| w.lost_usd)
    }
}

/// One execution of the attack (the first, the second …) over every seed.
#[derive(Debug, Clone, Serialize)]
pub struct AttackEval {
    /// Seeds in which it ran.
    pub runs: u64,
    /// Of which detected (an alert within it).
    pub detected: u64,
    /// Median detection delay in blocks.
    pub median_delay: Option<u64>,
    /// Of which paused before it finished.
    pub paused_before_finish: u64,
    /// Dollars it took with Vigil, summed over seeds.
    pub lost_with_usd: f64,
    /// Dollars it took without Vigil, summed over seeds.
    pub lost_without_usd: f64,
}

/// One scenario over every seed.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioEval {
    /// Scenario.
    pub scenario: String,
    /// `multi-block`, `single-tx` or `benign`.
    pub class: String,
    /// Seeds run.
    pub runs: u64,
    /// Runs where the attack was detected.
    pub detected: u64,
    /// Which detectors raised the first alert, and in how many runs.
    pub detected_by: std::collections::BTreeMap<String, u64>,
    /// Median detection delay in blocks.
    pub median_delay: Option<u64>,
    /// Worst detection delay in blocks.
    pub max_delay: Option<u64>,
    /// Runs where a pause landed before the attack finished (before each of its executions finished).
    pub paused_before_finish: u64,
    /// What stopped the attack, and in how many runs (`mempool`, `block`).
    pub defenses: std::collections::BTreeMap<String, u64>,
    /// Per execution of the attack, in order (one entry for most scenarios, two for repeat-attack).
    pub attacks: Vec<AttackEval>,
    /// Runs where the alert came in the block the exploiting transaction landed, or earlier.
    pub detected_in_landing_block: u64,
    /// Dollars lost with Vigil, summed over seeds.
    pub lost_with_usd: f64,
    /// Dollars lost without Vigil, summed over seeds.
    pub lost_without_usd: f64,
    /// Without minus with.
    pub funds_saved_usd: f64,
    /// hBTC lost without Vigil, and saved.
    pub hbtc_at_stake_saved: (f64, f64),
    /// Benign blocks.
    pub benign_blocks: u64,
    /// Alerts on benign blocks.
    pub false_alerts: u64,
    /// False alerts per 1,000 benign blocks.
    pub false_alerts_per_1000: f64,
    /// False pauses.
    pub false_pauses: u64,
    /// With attestation-gated entry on: the gate's figures summed over the seeds.
    pub gate: Option<crate::demo::GateFigures>,
    /// Per seed.
    pub seeds: Vec<SeedResult>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Where the configuration came from.
    pub config: String,
    /// Seeds per scenario.
    pub seeds: u64,
    /// First seed.
    pub first_seed: u64,
    /// Price source of the benign runs.
    pub benign_prices: String,
    /// Per scenario.
    pub scenarios: Vec<ScenarioEval>,
    /// Totals over every scenario.
    pub total: Totals,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Totals over every scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// Attack runs.
    pub attack_runs: u64,
    /// Of which detected.
    pub detected: u64,
    /// Multi-block attack runs.
    pub multi_block_runs: u64,
    /// Of which paused before the attack finished.
    pub paused_before_finish: u64,
    /// Single-transaction attack runs.
    pub single_tx_runs: u64,
    /// Of which detected in the landing block.
    pub detected_in_landing_block: u64,
    /// Dollars saved.
    pub funds_saved_usd: f64,
    /// Dollars at stake (lost without Vigil).
    pub lost_without_usd: f64,
    /// Blocks of the benign runs.
    pub benign_blocks: u64,
    /// Alerts on them.
    pub false_alerts: u64,
    /// Per 1,000 benign blocks.
    pub false_alerts_per_1000: f64,
    /// Pauses on benign blocks (benign runs, and attack runs before the attack).
    pub false_pauses: u64,
    /// Blocks of attack runs before the attack (largely the benign runs' traffic again, so not in the rate).
    pub pre_attack_blocks: u64,
    /// Alerts on them.
    pub pre_attack_alerts: u64,
    /// Blocks produced in all runs.
    pub blocks: u64,
}

#[derive(Debug, Clone)]
struct Job {
    scenario: String,
    seed: u64,
    respond: bool,
    opts: RunOptions,
}

/// Runs the evaluation; `progress` gets (runs done, runs in all) after each run.
pub fn evaluate(
    config: &Config,
    config_name: &str,
    opts: &EvalOptions,
    progress: impl Fn(u64, u64) + Sync,
) -> Result<EvalReport, DemoError> {
    let started = Instant::now();
    let tracing = config.needs_traces();
    let mut jobs = Vec::new();
    for name in &opts.attacks {
        vigil_sim::scenario::find(name)?;
        for seed in opts.first_seed..opts.first_seed + opts.seeds {
            for respond in [true, false] {
                let run = RunOptions {
                    seed,
                    tracing,
                    private_attack: opts.private_attack,
                    gate: opts.gate,
                    ..Default::default()
                };
                jobs.push(Job { scenario: name.clone(), seed, respond, opts: run });
            }
        }
    }
    for seed in opts.first_seed..opts.first_seed + opts.seeds {
        let run = RunOptions {
            seed,
            tracing,
            blocks: Some(opts.benign_blocks),
            price_csv: opts.price_csv.clone(),
            price_speed: opts.price_speed,
            gate: opts.gate,
            ..Default::default()
        };
        jobs.push(Job { scenario: BENIGN_SCENARIO.to_string(), seed, respond: true, opts: run });
    }
    let total = jobs.len() as u64;
    let queue: Mutex<VecDeque<(usize, Job)>> = Mutex::new(jobs.into_iter().enumerate().collect());
    let results: Mutex<Vec<(usize, Job, RunResult)>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<DemoError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.threads.max(1) {
            s.spawn(|| loop {
                if failure.lock().expect("no thread panicked holding the lock").is_some() {
                    return;
                }
                let Some((i, job)) = queue.lock().expect("no thread panicked holding the lock").pop_front() else {
                    return;
                };
                match run_scenario(&job.scenario, job.opts.clone(), job.respond, config, 1, |_, _| {}) {
                    Ok(r) => {
                        let mut done = results.lock().expect("no thread panicked holding the lock");
                        done.push((i, job, r));
                        progress(done.len() as u64, total);
                    }
                    Err(e) => {
                        *failure.lock().expect("no thread panicked holding the lock") = Some(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("no thread panicked holding the lock") {
        return Err(e);
    }
    let mut results = results.into_inner().expect("no thread panicked holding the lock");
    results.sort_by_key(|(i, _, _)| *i);

    let mut scenarios = Vec::new();
    let names: Vec<String> = opts.attacks.iter().cloned().chain([BENIGN_SCENARIO.to_string()]).collect();
    for name in names {
        let mut seeds = Vec::new();
        let mut class = "benign";
        for seed in opts.first_seed..opts.first_seed + opts.seeds {
            let find = |respond: bool| {
                results.iter().find(|(_, j, _)| j.scenario == name && j.seed == seed && j.respond == respond)
            };
            let Some((_, _, with)) = find(true) else { continue };
            let without = find(false).map(|(_, _, r)| r);
            if with.attack_scope.is_some() {
                class = if with.multi_block { "multi-block" } else { "single-tx" };
            }
            seeds.push(seed_result(seed, with, without));
        }
        scenarios.push(summarise(&name, class, seeds));
    }
    let attack = || scenarios.iter().filter(|s| s.class != "benign");
    let of = |class: &'static str| scenarios.iter().filter(move |s| s.class == class);
    // Blocks before an attack repeat the benign run's traffic of the same seed, so only benign runs count here.
    let benign_blocks: u64 = of("benign").map(|s| s.benign_blocks).sum();
    let false_alerts: u64 = of("benign").map(|s| s.false_alerts).sum();
    let totals = Totals {
        attack_runs: attack().map(|s| s.runs).sum(),
        detected: attack().map(|s| s.detected).sum(),
        multi_block_runs: of("multi-block").map(|s| s.runs).sum(),
        paused_before_finish: of("multi-block").map(|s| s.paused_before_finish).sum(),
        single_tx_runs: of("single-tx").map(|s| s.runs).sum(),
        detected_in_landing_block: of("single-tx").map(|s| s.detected_in_landing_block).sum(),
        funds_saved_usd: attack().map(|s| s.funds_saved_usd).sum(),
        lost_without_usd: attack().map(|s| s.lost_without_usd).sum(),
        benign_blocks,
        false_alerts,
        false_alerts_per_1000: per_1000(false_alerts, benign_blocks),
        false_pauses: scenarios.iter().map(|s| s.false_pauses).sum(),
        pre_attack_blocks: attack().map(|s| s.benign_blocks).sum(),
        pre_attack_alerts: attack().map(|s| s.false_alerts).sum(),
        blocks: results.iter().map(|(_, _, r)| r.blocks).sum(),
    };
    let benign_prices = match &opts.price_csv {
        Some(p) => format!("{} (×{})", p.display(), opts.price_speed),
        None => "synthetic path with a 40 % crash".to_string(),
    };
    Ok(EvalReport {
        config: config_name.to_string(),
        seeds: opts.seeds,
        first_seed: opts.first_seed,
        benign_prices,
        scenarios,
        total: totals,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn per_1000(n: u64, blocks: u64) -> f64 {
    if blocks == 0 {
        0.0
    } else {
        n as f64 * 1000.0 / blocks as f64
    }
}

fn seed_result(seed: u64, with: &RunResult, without: Option<&RunResult>) -> SeedResult {
    let end = without.and_then(|w| w.last_malicious_block).or(with.last_malicious_block);
    let first = with.first_malicious_block;
    let paused_before_finish = match (with.attack_scope, end) {
        (Some(scope), Some(end)) => with.pauses_landed.iter().any(|(b, s)| *s == scope && *b <= end),
        _ => false,
    };
    // Each execution ends where it ended in the run without Vigil; a pause counts for the first execution that
    // had not finished when it landed.
    let mut previous_end = None;
    let attacks: Vec<AttackSeed> = with
        .attacks
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let without_vigil = without.and_then(|w| w.attacks.get(k)).cloned();
            let mut attack = AttackSeed { with_vigil: a.clone(), without_vigil, pause_block: None };
            let end = attack.end_block();
            attack.pause_block = with
                .pauses_landed
                .iter()
                .filter(|(b, s)| Some(*s) == with.attack_scope && previous_end.is_none_or(|p| *b > p) && *b <= end)
                .map(|(b, _)| *b)
                .min();
            previous_end = Some(end);
            attack
        })
        .collect();
    let paused_before_finish =
        if attacks.len() > 1 { attacks.iter().all(|a| a.pause_block.is_some()) } else { paused_before_finish };
    let false_pauses = with.pauses_landed.iter().filter(|(b, _)| first.is_none_or(|m| *b < m)).count() as u64;
    let stopping = match (with.attack_scope, end) {
        (Some(scope), Some(end)) => {
            with.pauses_landed.iter().filter(|(b, s)| *s == scope && *b <= end).map(|(b, _)| *b).min()
        }
        _ => None,
    };
    // The gate acted when it refused an attestation to the attack; a pause may have acted too.
    let gate = with.gate.as_ref().filter(|g| g.refused_malicious > 0).map(|_| "gate");
    let pause = stopping.map(|b| if with.front_runs_landed.contains(&b) { "mempool" } else { "block" });
    let defense = match (gate, pause) {
        (Some(g), Some(p)) => Some(format!("{g}+{p}")),
        (g, p) => g.or(p).map(str::to_string),
    };
    SeedResult {
        seed,
        first_malicious_block: first,
        attack_end_block: end,
        detection_block: with.detection_block,
        detected_by: with.detected_by.clone(),
        pause_block: with.pause_block,
        pauses: with.pauses_landed.iter().map(|(b, s)| (*b, s.to_string())).collect(),
        paused_before_finish,
        defense,
        attacks,
        lost_with_usd: with.lost_usd,
        lost_without_usd: without.map_or(0.0, |w| w.lost_usd),
        lost_hbtc: (with.lost_hbtc, without.map_or(0.0, |w| w.lost_hbtc)),
        benign_blocks: with.benign_blocks,
        false_alerts: with.false_alerts,
        false_pauses,
        false_alert_titles: with.benign_alert_titles.clone(),
        gate: with.gate.clone(),
    }
}

fn summarise(name: &str, class: &str, seeds: Vec<SeedResult>) -> ScenarioEval {
    let mut delays: Vec<u64> =
        seeds.iter().filter_map(|s| Some(s.detection_block?.saturating_sub(s.first_malicious_block?))).collect();
    delays.sort_unstable();
    let lost_with: f64 = seeds.iter().map(|s| s.lost_with_usd).sum();
    let lost_without: f64 = seeds.iter().map(|s| s.lost_without_usd).sum();
    let benign_blocks = seeds.iter().map(|s| s.benign_blocks).sum();
    let false_alerts = seeds.iter().map(|s| s.false_alerts).sum();
    let executions = seeds.iter().map(|s| s.attacks.len()).max().unwrap_or(0);
    let attacks = (0..executions)
        .map(|k| {
            let of: Vec<&AttackSeed> = seeds.iter().filter_map(|s| s.attacks.get(k)).collect();
            let mut delays: Vec<u64> = of
                .iter()
                .map(|a| &a.with_vigil)
                .filter_map(|a| Some(a.detection_block?.saturating_sub(a.first_block)))
                .collect();
            delays.sort_unstable();
            AttackEval {
                runs: of.len() as u64,
                detected: of.iter().filter(|a| a.with_vigil.detection_block.is_some()).count() as u64,
                median_delay: delays.get(delays.len() / 2).copied(),
                paused_before_finish: of.iter().filter(|a| a.pause_block.is_some()).count() as u64,
                lost_with_usd: of.iter().map(|a| a.with_vigil.lost_usd).sum(),
                lost_without_usd: of.iter().map(|a| a.lost_without_usd()).sum(),
            }
        })
        .collect();
    ScenarioEval {
        scenario: name.to_string(),
        class: class.to_string(),
        runs: seeds.len() as u64,
        detected: seeds.iter().filter(|s| s.detection_block.is_some()).count() as u64,
        detected_by: seeds.iter().filter_map(|s| s.detected_by.clone()).fold(Default::default(), |mut m, d| {
            *m.entry(d).or_default() += 1;
            m
        }),
        median_delay: delays.get(delays.len() / 2).copied(),
        max_delay: delays.last().copied(),
        paused_before_finish: seeds.iter().filter(|s| s.paused_before_finish).count() as u64,
        defenses: seeds.iter().filter_map(|s| s.defense.clone()).fold(Default::default(), |mut m, d| {
            *m.entry(d).or_default() += 1;
            m
        }),
        attacks,
        detected_in_landing_block: seeds
            .iter()
            .filter(|s| matches!((s.detection_block, s.attack_end_block), (Some(d), Some(e)) if d <= e))
            .count() as u64,
        lost_with_usd: lost_with,
        lost_without_usd: lost_without,
        funds_saved_usd: lost_without - lost_with,
        hbtc_at_stake_saved: {
            let at_stake: f64 = seeds.iter().map(|s| s.lost_hbtc.1).sum();
            (at_stake, at_stake - seeds.iter().map(|s| s.lost_hbtc.0).sum::<f64>())
        },
        benign_blocks,
        false_alerts,
        false_alerts_per_1000: per_1000(false_alerts, benign_blocks),
        false_pauses: seeds.iter().map(|s| s.false_pauses).sum(),
        gate: seeds
            .iter()
            .filter_map(|s| s.gate.as_ref())
            .fold(None, |sum, g| Some(crate::demo::GateFigures::sum(sum, g))),
        seeds,
    }
}

/// The report as a text table.
pub fn table(r: &EvalReport) -> String {
    let mut s = String::new();
    let header = format!(
        "{:<24} {:<11} {:>8} {:>11} {:>14} {:>14} {:>14} {:>19} {:>8} {:>11} {:>6}\n",
        "scenario",
        "class",
        "detected",
        "delay p50/max",
        "paused before",
        "in land. block",
        "funds saved",
        "defense",
        "benign",
        "false/1000",
        "false",
    );
    s.push_str(&header);
    s.push_str(&format!(
        "{:<24} {:<11} {:>8} {:>11} {:>14} {:>14} {:>14} {:>19} {:>8} {:>11} {:>6}\n",
        "", "", "", "(blocks)", "finish", "", "(of at stake)", "(runs)", "blocks", "alerts", "pauses"
    ));
    let frac = |n: u64, d: u64| format!("{n}/{d}");
    for e in &r.scenarios {
        let delay = match (e.median_delay, e.max_delay) {
            (Some(m), Some(x)) => format!("{m}/{x}"),
            _ => "—".into(),
        };
        let saved = if e.lost_without_usd <= 0.0 && e.hbtc_at_stake_saved.0 > 0.0 {
            format!("{} hBTC", pct(e.hbtc_at_stake_saved.1, e.hbtc_at_stake_saved.0))
        } else {
            pct(e.funds_saved_usd, e.lost_without_usd)
        };
        let (paused, landing, saved) = match e.class.as_str() {
            "multi-block" => (frac(e.paused_before_finish, e.runs), "—".into(), saved),
            "single-tx" => ("—".into(), frac(e.detected_in_landing_block, e.runs), saved),
            _ => ("—".into(), "—".into(), "—".into()),
        };
        let detected = if e.class == "benign" { "—".into() } else { frac(e.detected, e.runs) };
        let defense = if e.defenses.is_empty() {
            "—".to_string()
        } else {
            e.defenses.iter().rev().map(|(d, n)| format!("{d} {n}")).collect::<Vec<_>>().join(", ")
        };
        s.push_str(&format!(
            "{:<24} {:<11} {:>8} {:>11} {:>14} {:>14} {:>14} {:>19} {:>8} {:>11.2} {:>6}\n",
            e.scenario,
            e.class,
            detected,
            delay,
            paused,
            landing,
            saved,
            defense,
            e.benign_blocks,
            e.false_alerts_per_1000,
            e.false_pauses
        ));
    }
    let t = &r.total;
    let first_alerts: Vec<String> = r
        .scenarios
        .iter()
        .filter(|e| !e.detected_by.is_empty())
        .map(|e| {
            let by: Vec<String> = e.detected_by.iter().map(|(d, n)| format!("{d} ×{n}")).collect();
            format!("  {:<24} {}\n", e.scenario, by.join(", "))
        })
        .collect();
    s.push_str(&format!(
        "{:<24} {:<11} {:>8} {:>11} {:>14} {:>14} {:>14} {:>19} {:>8} {:>11.2} {:>6}\n",
        "total",
        "",
        frac(t.detected, t.attack_runs),
        "",
        frac(t.paused_before_finish, t.multi_block_runs),
        frac(t.detected_in_landing_block, t.single_tx_runs),
        pct(t.funds_saved_usd, t.lost_without_usd),
        "",
        t.benign_blocks,
        t.false_alerts_per_1000,
        t.false_pauses
    ));
    let gated: Vec<(&str, &crate::demo::GateFigures)> =
        r.scenarios.iter().filter_map(|e| Some((e.scenario.as_str(), e.gate.as_ref()?))).collect();
    if !gated.is_empty() {
        s.push_str(
            "\nattestation-gated entry (requests: transactions that needed an attestation; a benign refusal before \
             the attack is a false one, during it the node refuses to attest on the manipulated state):\n",
        );
        for (name, g) in gated {
            s.push_str(&format!(
                "  {name:<24} requests {}, benign attested {} refused {} ({} before the attack), attacks refused {} \
                 attested {}\n",
                g.requests,
                g.attested_benign,
                g.refused_benign,
                g.false_refusals,
                g.refused_malicious,
                g.attested_malicious
            ));
            for title in g.refused_benign_titles.iter().take(2) {
                s.push_str(&format!("    benign refused at {title}\n"));
            }
        }
    }
    s.push_str("\nfirst alert raised by:\n");
    s.push_str(&first_alerts.concat());
    let repeated: Vec<&ScenarioEval> = r.scenarios.iter().filter(|e| e.attacks.len() > 1).collect();
    if !repeated.is_empty() {
        s.push_str("\neach execution of a repeated attack:\n");
    }
    for e in repeated {
        for (k, a) in e.attacks.iter().enumerate() {
            let delay = a.median_delay.map_or("—".into(), |d| d.to_string());
            s.push_str(&format!(
                "  {:<24} attack {}: detected {}, delay p50 {delay}, paused before finish {}, funds saved {}\n",
                e.scenario,
                k + 1,
                frac(a.detected, a.runs),
                frac(a.paused_before_finish, a.runs),
                pct(a.lost_without_usd - a.lost_with_usd, a.lost_without_usd)
            ));
        }
    }
    s.push_str(&format!(
        "\n{} seeds per scenario (from seed {}), benign prices: {}; {} false alerts on {} blocks of benign runs \
         ({} alerts on {} blocks before attacks); ${:.0} saved of ${:.0} at stake; {} blocks in {:.0} s\n",
        r.seeds,
        r.first_seed,
        r.benign_prices,
        t.false_alerts,
        t.benign_blocks,
        t.pre_attack_alerts,
        t.pre_attack_blocks,
        t.funds_saved_usd,
        t.lost_without_usd,
        t.blocks,
        r.seconds
    ));
    s
}

fn pct(saved: f64, at_stake: f64) -> String {
    if at_stake <= 0.0 {
        "$0".into()
    } else {
        format!("{:.0} %", saved / at_stake * 100.0)
    }
}
