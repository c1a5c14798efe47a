//! Scenarios on the in-process chain: every attack takes funds among ordinary traffic (from chain state), the
//! benign crash takes nothing but fair liquidations, output is deterministic per seed and decodes with alloy's
//! RPC types, and a real price history drives the feed and, through arbitrageurs, the pair.

use std::path::PathBuf;

use alloy::{
    primitives::U256,
    rpc::types::trace::geth::{GethTrace, TraceResult},
};
use vigil_contracts::{PriceFeed, VenuePair};
use vigil_sim::{
    jsonl::{self, BlockLine, Header},
    scenario::{find, RunOptions, ScenarioRun, SCENARIOS},
    Reader,
};

fn run(name: &str, opts: RunOptions) -> ScenarioRun {
    let mut run = ScenarioRun::start(find(name).unwrap(), opts).unwrap();
    run.run_to_end(|_| {}).unwrap();
    run
}

fn dollars(x: u64) -> U256 {
    U256::from(x) * U256::from(1_000_000u64)
}

fn quiet() -> RunOptions {
    RunOptions { tracing: false, ..Default::default() }
}

#[test]
fn every_attack_scenario_takes_funds_from_the_venue() {
    for spec in SCENARIOS.iter().filter(|s| s.attack.is_some()) {
        let mut r = run(spec.name, quiet());
        let window = r.attack_window().unwrap_or_else(|| panic!("{}: no attack window", spec.name));
        assert!(window.first <= window.last);
        let (gain, hbtc) = r.attacker_gain().unwrap();
        println!("{:<24} window {}..{}  attacker +${}  +{} hBTC", spec.name, window.first, window.last, gain, hbtc);
        assert!(
            gain >= dollars(100_000) || hbtc >= U256::from(50u64) * U256::from(10u64).pow(U256::from(18)),
            "{}: the attacker took too little: ${gain} and {hbtc} hBTC",
            spec.name
        );
        let report = r.report().unwrap();
        assert_eq!(report.malicious_reverted, 0, "{}: an undefended attack runs to the end", spec.name);
    }
}

#[test]
fn the_repeat_attack_takes_funds_twice_when_nothing_pauses_it() {
    let mut r = ScenarioRun::start(find("repeat-attack").unwrap(), quiet()).unwrap();
    let mut unpauses = Vec::new();
    r.run_to_end(|b| {
        for (label, receipt) in b.labels.iter().zip(&b.receipts) {
            if label.what == "council:unpause" {
                unpauses.push((b.number(), receipt.status()));
            }
        }
    })
    .unwrap();
    let windows = r.attack_windows();
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert!(windows[0].last + 50 < windows[1].first, "{windows:?}");
    assert_eq!(r.attack_window().map(|w| (w.first, w.last)), Some((windows[0].first, windows[1].last)));
    let gains = r.attack_gains().unwrap();
    assert!(gains.iter().all(|(usd, _)| *usd >= dollars(100_000)), "each execution takes funds: {gains:?}");
    assert_eq!(r.attacker_gain().unwrap().0, gains[0].0 + gains[1].0);
    let report = r.report().unwrap();
    assert_eq!(report.attacker_gains_usd.len(), 2);
    assert_eq!(report.malicious_reverted, 0);
    // The council governs the Guardian; no pause landed, so its unpause between the two reverted (NotPaused).
    let governance = r.chain.read(r.venue.guardian, vigil_contracts::Guardian::governanceCall {}).unwrap();
    assert_eq!(governance, r.actors.council.address());
    assert_eq!(unpauses.len(), 1, "{unpauses:?}");
    assert!(windows[0].last < unpauses[0].0 && unpauses[0].0 < windows[1].first && !unpauses[0].1, "{unpauses:?}");
}

#[test]
fn the_same_traffic_without_the_attacker_takes_nothing() {
    let mut r = run("spot-pump", RunOptions { without_attack: true, ..quiet() });
    assert!(r.attack_window().is_none());
    assert_eq!(r.attacker_gain().unwrap(), (U256::ZERO, U256::ZERO));
}

#[test]
fn the_predeployed_attack_contract_is_deployed_blocks_before_use() {
    let r = run("predeployed-flash-loan", quiet());
    let w = r.attack_window().unwrap();
    assert!(w.last - w.first >= 20, "deployment {} and use {} are apart", w.first, w.last);
}

#[test]
fn the_benign_crash_loses_nothing_but_to_fair_liquidations() {
    let mut r = run("benign-crash", quiet());
    let report = r.report().unwrap();
    assert!(r.attack_window().is_none(), "no malicious transaction");
    assert!(report.eth_price.1 < report.eth_price.0 * 0.7, "ETH fell: {:?}", report.eth_price);
    assert!(r.liquidations() >= 3, "the crash liquidates positions: {}", r.liquidations());
    assert_eq!(r.bad_debt(), U256::ZERO, "no debt was written off against lenders");
    for (i, (before, after)) in r.share_prices().unwrap().into_iter().enumerate() {
        assert!(after >= before, "market {}: lenders' share price fell from {before} to {after}", i + 1);
    }
}

fn output(name: &str, seed: u64, blocks: u64) -> Vec<u8> {
    let mut run =
        ScenarioRun::start(find(name).unwrap(), RunOptions { seed, blocks: Some(blocks), ..Default::default() })
            .unwrap();
    let mut out = Vec::new();
    jsonl::write_header(&mut out, &run).unwrap();
    let mut lines = Vec::new();
    run.run_to_end(|b| jsonl::write_block(&mut lines, b).unwrap()).unwrap();
    out.extend(lines);
    jsonl::write_summary(&mut out, &run.report().unwrap()).unwrap();
    out
}

#[test]
fn the_same_seed_gives_byte_identical_output_and_another_seed_differs() {
    let a = output("flash-loan-oracle", 42, 110);
    let b = output("flash-loan-oracle", 42, 110);
    assert!(a == b, "same seed, same bytes");
    let c = output("flash-loan-oracle", 43, 110);
    assert!(a != c, "another seed, other traffic");
    let last_hash = |bytes: &[u8]| {
        let text = std::str::from_utf8(bytes).unwrap();
        let line = text.lines().rev().nth(1).unwrap();
        serde_json::from_str::<BlockLine>(line).unwrap().block.header.hash
    };
    assert_eq!(last_hash(&a), last_hash(&b));
    assert_ne!(last_hash(&a), last_hash(&c));
}

#[test]
fn the_output_decodes_with_alloy_rpc_types() {
    let bytes = output("flash-loan-oracle", 5, 105);
    let text = String::from_utf8(bytes).unwrap();
    let mut lines = text.lines();
    let header: Header = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header.kind, "scenario");
    assert_eq!(header.chain_id, 31337);
    let mut parent = header.genesis.1;
    let mut blocks = 0;
    let mut malicious = 0;
    let mut calls_with_logs = 0;
    for line in lines.by_ref().take(header.blocks as usize) {
        let b: BlockLine = serde_json::from_str(line).unwrap_or_else(|e| panic!("block line: {e}"));
        assert_eq!(b.kind, "block");
        assert_eq!(b.block.header.parent_hash, parent, "hash-chained");
        assert_eq!(b.block.header.hash, b.block.header.inner.hash_slow(), "the hash is the header's");
        parent = b.block.header.hash;
        let txs: Vec<_> = b.block.transactions.txns().collect();
        assert_eq!(txs.len(), b.receipts.len());
        assert_eq!(txs.len(), b.labels.len());
        let traces = b.traces.as_ref().expect("traces on by default");
        assert_eq!(traces.len(), txs.len());
        for ((tx, receipt), trace) in txs.iter().zip(&b.receipts).zip(traces) {
            assert_eq!(*tx.inner.tx_hash(), receipt.transaction_hash);
            assert_eq!(tx.inner.signer(), receipt.from, "the signature recovers to the sender");
            let TraceResult::Success { result: GethTrace::CallTracer(frame), tx_hash } = trace else {
                panic!("callTracer frames")
            };
            assert_eq!(*tx_hash, Some(receipt.transaction_hash));
            assert_eq!(frame.from, receipt.from);
            if !frame.logs.is_empty() || frame.calls.iter().any(|c| !c.logs.is_empty()) {
                calls_with_logs += 1;
            }
        }
        malicious += b.labels.iter().filter(|l| l.malicious).count();
        blocks += 1;
    }
    assert_eq!(blocks, header.blocks);
    assert!(malicious >= 2, "the attack is labelled");
    assert!(calls_with_logs > 100, "traces carry logs");
    let summary: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(summary["kind"], "summary");
    assert!(lines.next().is_none());
}

#[test]
fn a_real_price_history_drives_the_feed_and_the_pair() {
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/price-history.csv");
    // Half a day of history per block: 200 blocks play 100 days of ETH/USD from November 2017.
    let opts = RunOptions { price_csv: Some(csv.clone()), price_speed: 3_600, blocks: Some(200), ..quiet() };
    let mut r = ScenarioRun::start(find("benign-crash").unwrap(), opts).unwrap();
    let row = |n: usize| -> f64 {
        std::fs::read_to_string(&csv).unwrap().lines().nth(n).unwrap().split(',').nth(1).unwrap().parse().unwrap()
    };
    let (first_row, second_row) = (row(1), row(2));
    let mut deviations = Vec::new();
    let mut feed_prices = Vec::new();
    while let Some(b) = r.next_block(vec![]).unwrap() {
        let feed = r.chain.read(r.venue.eth_feed, PriceFeed::latestAnswerCall {}).unwrap();
        let feed = feed.try_into().map(|x: i128| x as f64 / 1e8).unwrap();
        let reserves = r.chain.read(r.venue.pair, VenuePair::getReservesCall {}).unwrap();
        let (usd, weth) =
            if r.venue.usd < r.venue.weth { (reserves._0, reserves._1) } else { (reserves._1, reserves._0) };
        let spot = usd.to::<u128>() as f64 / 1e6 / (weth.to::<u128>() as f64 / 1e18);
        if b.number() > 20 {
            deviations.push((spot / feed - 1.0).abs());
        }
        feed_prices.push(feed);
    }
    // The first block is half a day in: halfway between the first two daily closes.
    let halfway = (first_row + second_row) / 2.0;
    assert!((feed_prices[0] - halfway).abs() / halfway < 0.01, "the feed starts where the history starts");
    let (lo, hi) = feed_prices.iter().fold((f64::MAX, 0f64), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
    assert!(hi / lo > 2.0, "the history moves the feed a lot: ${lo:.2} .. ${hi:.2}");
    let mean = deviations.iter().sum::<f64>() / deviations.len() as f64;
    let within_2pc = deviations.iter().filter(|d| **d < 0.02).count() as f64 / deviations.len() as f64;
    println!("spot vs feed: mean deviation {:.3} %, {:.0} % of blocks within 2 %", mean * 100.0, within_2pc * 100.0);
    assert!(mean < 0.02, "arbitrageurs keep the pair near the feed: mean deviation {mean}");
    assert!(within_2pc > 0.8, "most blocks within 2 %: {within_2pc}");
}

/// The real ETH/USD history rescaled to start at `start` dollars, written to a file of its own.
fn rescaled_history(start: f64) -> PathBuf {
    let real = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/price-history.csv"))
        .unwrap();
    let rows: Vec<(u64, f64)> = real
        .lines()
        .skip(1)
        .map(|l| {
            let (t, p) = l.split_once(',').unwrap();
            (t.parse().unwrap(), p.parse().unwrap())
        })
        .collect();
    let factor = start / rows[0].1;
    let mut text = String::from("timestamp,price\n");
    for (t, p) in rows {
        text.push_str(&format!("{t},{:.10}\n", p * factor));
    }
    let path = std::env::temp_dir().join(format!("vigil-history-{start}-{}.csv", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_proving_ground_runs_alike_at_any_price_level() {
    // The same real history (a boom and a 94 % fall) started at a cent, at $3,000 and at $100,000: the traffic
    // holds and trades the same dollars, so the pair follows the feed as closely and as few transactions revert.
    let mut figures = Vec::new();
    for start in [0.01, 3_000.0, 100_000.0] {
        let history = rescaled_history(start);
        let opts = RunOptions { blocks: Some(400), price_csv: Some(history.clone()), price_speed: 600, ..quiet() };
        let mut run = ScenarioRun::start(find("benign-crash").unwrap(), opts).unwrap();
        let mut worst: f64 = 0.0;
        while run.next_block(vec![]).unwrap().is_some() {
            let s = vigil_sim::state::VenueState::read(&mut run.chain, &run.venue).unwrap();
            let (feed, spot) = (s.prices.eth_usd.to::<u128>() as f64, s.prices.eth_usd_spot.to::<u128>() as f64);
            worst = worst.max((spot / feed - 1.0).abs());
        }
        let report = run.report().unwrap();
        std::fs::remove_file(history).ok();
        assert!(run.price_source().contains("price-history") || run.price_source().contains("vigil-history"));
        figures.push((start, worst, report.reverted as f64 / report.transactions as f64));
    }
    let reference = figures[1];
    for (start, worst, reverted) in &figures {
        assert!(*worst < 0.05, "at ${start} the pair strayed {:.1} % from the feed: {figures:?}", worst * 100.0);
        assert!(
            *reverted <= reference.2 + 0.02,
            "at ${start} {:.1} % of transactions reverted: {figures:?}",
            reverted * 100.0
        );
    }
}
