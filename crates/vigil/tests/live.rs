//! `vigil run` against a real node: anvil (npm package `@foundry-rs/anvil-linux-amd64`, started here on
//! 127.0.0.1) with the reference venue deployed. The binary is driven as a user would: a configuration file, a
//! child process, its `/metrics` and `/health` endpoints, its SQLite store.
//!
//! - an attack: the spot-pump attacker pumps the pair; Vigil, following new heads over WebSocket, sees it, signs a
//!   3-of-5 pause report and sends `pauseWithQuorum` over JSON-RPC; the pause lands on anvil and the attacker's
//!   borrow reverts with `ScopePaused`;
//! - a repeat of that attack: governance (the timelock, impersonated) lifts the pause once arbitrage has brought
//!   the pair back, the cooldown the unpause started passes (`anvil_mine` with a long interval), the same attacker
//!   prepares a fresh contract and pumps again, and the node pauses again before the second borrow;
//! - a reorg made with `anvil_reorg` after a block with a finding: Vigil unwinds to the common ancestor, the
//!   finding is marked retracted, and the replacement blocks are processed once;
//! - SIGKILL in the middle of a backfill: the restarted node processes every block exactly once;
//! - a notification held for confirmations when the node is killed is delivered once after the restart.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use alloy::{primitives::U256, providers::ext::AnvilApi, signers::local::PrivateKeySigner};
use vigil_contracts::{Guardian, GuardianProtected, PriceFeed, VenuePair, VenueRouter, IERC20};
use vigil_core::Store as _;
use vigil_sim::{attacks::Attack, venue::MARKET_WETH_SPOT, Backend, Reader};

mod support;

use support::*;

#[test]
fn an_attack_on_anvil_is_paused_through_the_rpc_path() {
    let mut chain = start_chain();
    let dir = temp_dir("attack");
    let attack = Attack::SpotPump;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let (hook_url, hook) = webhook_receiver();
    let notifier =
        format!("\n[[notifier]]\ntype = \"webhook\"\nurl = \"{hook_url}\"\nsecret_env = \"VIGIL_TEST_HOOK_SECRET\"\n");
    let secret = [("VIGIL_TEST_HOOK_SECRET", "hook-secret")];
    let (mut vigil, port) = spawn_responding_node(&mut chain, &dir, &notifier, &secret);
    let log = dir.join("vigil.log");

    let (target, scope) = attack.target(&chain.venue);
    assert_eq!((target, scope), (chain.venue.pool, MARKET_WETH_SPOT));
    let mut borrow = None;
    for t in &plan.execute {
        if t.req.label.what.contains("borrow") {
            borrow = Some(t);
            break;
        }
        let to = t.req.to.expect("the pump is a call");
        chain.node.send(t.req.from, to, t.req.data.clone(), t.req.value).expect("the pump goes through");
    }
    wait_until("the Guardian to pause the spot market", Duration::from_secs(60), || chain.is_paused(target, scope));

    let borrow = borrow.expect("the plan ends with a borrow");
    let err = chain
        .node
        .send(borrow.req.from, borrow.req.to.unwrap(), borrow.req.data.clone(), borrow.req.value)
        .expect_err("the borrow against the pumped price must fail");
    let paused = err.decode::<GuardianProtected::ScopePaused>().unwrap_or_else(|| panic!("not ScopePaused: {err}"));
    assert_eq!(paused.target, target);
    assert!(!chain.is_paused(chain.venue.legacy_market, 0), "other scopes stay open");

    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    assert_eq!(metric(&metrics, "vigil_actions_total{action=\"pause_sent\"}"), Some(1.0), "{metrics}");
    assert!(metric(&metrics, "vigil_findings_total{severity=\"critical\"}").unwrap_or(0.0) >= 1.0, "{metrics}");
    assert!(metric(&metrics, "vigil_ws_heads_total").unwrap_or(0.0) >= 1.0, "heads came over WebSocket: {metrics}");
    assert!(metrics.contains("vigil_rpc_requests_total{endpoint="), "{metrics}");
    // The notification waits for two confirmations, then reaches the webhook, signed.
    let (headers, body) = hook.recv_timeout(Duration::from_secs(60)).expect("a notification reaches the webhook");
    let signature = vigil_respond::webhook::signature(b"hook-secret", &body);
    assert_eq!(headers["x-vigil-signature"].to_str().unwrap(), signature, "{headers:?}");
    let note: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(note["protocol"], "venue");
    assert_eq!(note["severity"], "critical");
    assert!(note["findings"].as_array().unwrap().iter().any(|f| f["detector"] == "spot-market-oracle"), "{note}");
    wait_until("the delivery to be counted", Duration::from_secs(10), || {
        http_get(port, "/metrics")
            .is_some_and(|(_, m)| metric(&m, "vigil_actions_total{action=\"notification_delivered\"}") == Some(1.0))
    });
    vigil.kill().unwrap();
    vigil.wait().unwrap();
    let log = log_of(&log);
    assert!(log.contains("PauseSent"), "{log}");

    // The store saw the pause land on chain.
    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
    let pauses: Vec<_> = store
        .actions()
        .unwrap()
        .into_iter()
        .filter(|a| matches!(a.kind, vigil_respond::ActionKind::Pause { .. }))
        .collect();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!(pauses[0].state, "landed", "{pauses:?}");
}

/// An arbitrageur (the trader) sells WETH into the pair until its price is back at the ETH/USD feed, as the
/// proving ground's arbitrageurs do over a few blocks.
fn arbitrage_back(chain: &mut Chain) {
    let v = chain.venue;
    let reserves = chain.node.read(v.pair, VenuePair::getReservesCall {}).unwrap();
    let (usd, weth) = if v.usd < v.weth { (reserves._0, reserves._1) } else { (reserves._1, reserves._0) };
    let (usd, weth) = (usd.to::<u128>() as f64 / 1e6, weth.to::<u128>() as f64 / 1e18);
    let feed: i128 = chain.node.read(v.eth_feed, PriceFeed::latestAnswerCall {}).unwrap().try_into().unwrap();
    // Constant product: the WETH reserve at which usd / weth is the feed's price, plus the pair's 0.3 % fee.
    let sell = ((usd * weth / (feed as f64 / 1e8)).sqrt() - weth) / 0.997;
    assert!(sell > 100.0, "the pair is pumped: {usd} vUSD / {weth} WETH");
    let amount = U256::from((sell * 1e6) as u128) * U256::from(10u64).pow(U256::from(12));
    let trader = chain.actors.trader.address();
    chain.node.exec(trader, v.weth, IERC20::approveCall { spender: v.router, value: amount }).unwrap();
    let swap = VenueRouter::swapExactInCall {
        pair: v.pair,
        tokenIn: v.weth,
        amountIn: amount,
        minOut: U256::ZERO,
        to: trader,
    };
    chain.node.exec(trader, v.router, swap).unwrap();
}

/// Attack → the node pauses → governance lifts the pause (the pair is back at the feed) → the cooldown passes →
/// the same attacker, with a fresh contract, pumps again → a second pause lands before the second borrow.
#[test]
fn a_repeated_attack_on_anvil_is_paused_again_after_governance_lifts_the_first_pause() {
    let started = Instant::now();
    let mut chain = start_chain();
    let dir = temp_dir("repeat-attack");
    let attack = Attack::SpotPump;
    let (target, scope) = attack.target(&chain.venue);
    let oracles: Vec<PrivateKeySigner> = chain.actors.oracles.iter().take(3).cloned().collect();
    chain.node.set_balance(oracles[0].address(), U256::from(10u64).pow(U256::from(19))).unwrap();
    let config = write_config(&dir, &chain, &format!("\n{RESPONDER_KEYS}"));
    let log = dir.join("vigil.log");
    let vigil = spawn_vigil(&config, &[], &oracles, &log);
    let start = chain.head();
    wait_until("vigil to reach the head", Duration::from_secs(30), || cursor(&dir) >= Some(start));

    let mut contracts = Vec::new();
    for round in 1..=2 {
        let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
        contracts.push(plan.contract().expect("the attack deploys a contract"));
        let borrow = pump(&mut chain, &plan);
        wait_until(&format!("pause {round}"), Duration::from_secs(20), || chain.is_paused(target, scope));
        borrow_fails(&mut chain, &borrow);
        if round == 2 {
            break;
        }
        // Arbitrage brings the pair back; governance lifts the pause, which starts the mandate's cooldown; the
        // chain moves past it. Nothing is paused until the attacker comes back.
        arbitrage_back(&mut chain);
        as_governance(&chain, Guardian::unpauseCall { target, scope: U256::from(scope) });
        assert!(!chain.is_paused(target, scope), "governance lifted the pause");
        let state =
            chain.node.read(chain.venue.guardian, Guardian::pauseStateCall { target, scope: U256::from(scope) });
        let allowed_at = state.unwrap().nextPauseAllowedAt;
        chain.node.advance(1, allowed_at.saturating_sub(chain.now()) + 1).unwrap();
        chain.node.advance(2, 12).unwrap();
        let head = chain.head();
        wait_until("vigil past the cooldown", Duration::from_secs(20), || cursor(&dir) >= Some(head));
        assert!(!chain.is_paused(target, scope), "no pause without an attack");
    }
    assert_ne!(contracts[0], contracts[1], "the second attack deploys a fresh contract");

    let actions = stop(vigil, &dir);
    let pauses: Vec<_> = actions.iter().filter(|a| matches!(a.kind, vigil_respond::ActionKind::Pause { .. })).collect();
    assert_eq!(pauses.len(), 2, "{pauses:?}");
    assert!(pauses.iter().all(|p| p.state == "landed"), "{pauses:?}");
    assert_ne!(pauses[0].incident, pauses[1].incident, "the second attack is a new incident");
    assert!(!actions.iter().any(|a| matches!(a.kind, vigil_respond::ActionKind::PauseRefused { .. })), "{actions:?}");
    let incidents = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap().incidents().unwrap();
    assert!(
        incidents.iter().any(|i| i.id == pauses[0].incident
            && matches!(i.state, vigil_core::IncidentState::Resolved { reason: vigil_core::Resolution::Unpaused, .. })),
        "governance's unpause resolved the first incident: {incidents:?}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "the repeat attack on anvil took {took:?}");
}

#[test]
fn a_reorg_on_anvil_retracts_orphaned_findings_and_processes_the_new_blocks_once() {
    let mut chain = start_chain();
    let dir = temp_dir("reorg");
    let config = write_config(&dir, &chain, "");
    let log = dir.join("vigil.log");
    let port = free_port();
    let mut vigil = spawn_vigil(&config, &["--metrics", &format!("127.0.0.1:{port}")], &[], &log);
    catch_up(&chain, &dir);

    let finding_block = change_a_privilege(&mut chain, &dir);
    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
    let before: Vec<_> =
        store.findings().unwrap().into_iter().filter(|(f, _)| f.block.number == finding_block).collect();
    assert!(!before.is_empty(), "a finding at #{finding_block}");
    assert!(before.iter().all(|(_, retracted)| !retracted));

    // Replace the last two blocks (the finding's and the next) with blocks without that transaction.
    let head = chain.head();
    assert_eq!(head, finding_block + 1);
    let orphaned = (chain.hash(finding_block), chain.hash(head));
    chain
        .node
        .block_on(
            chain
                .node
                .provider()
                .anvil_reorg(alloy::rpc::types::anvil::ReorgOptions { depth: 2, tx_block_pairs: vec![] }),
        )
        .unwrap();
    assert_ne!(chain.hash(finding_block), orphaned.0, "anvil replaced the block");
    chain.node.advance(1, 12).unwrap();
    let new_head = chain.head();
    wait_until("vigil to process the new canonical head", Duration::from_secs(60), || {
        vigil_store::SqliteStore::open(&dir.join("vigil.sqlite"))
            .ok()
            .and_then(|s| s.cursor().ok().flatten())
            .is_some_and(|c| c.number == new_head && c.hash == chain.hash(new_head))
    });
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    vigil.kill().unwrap();
    vigil.wait().unwrap();

    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
    let after: Vec<_> =
        store.findings().unwrap().into_iter().filter(|(f, _)| f.block.number == finding_block).collect();
    assert!(!after.is_empty() && after.iter().all(|(_, retracted)| *retracted), "the orphaned finding is retracted");
    // Each of the replaced heights was committed twice (old and new block), every other height once.
    for (n, times) in store.processed().unwrap() {
        let expected = if n == finding_block || n == finding_block + 1 { 2 } else { 1 };
        assert_eq!(times, expected, "block #{n} committed {times} times");
    }
    // The outbox retracted the notification the orphaned block had planned.
    let notify: Vec<_> =
        store.actions().unwrap().into_iter().filter(|a| a.kind == vigil_respond::ActionKind::Notify).collect();
    assert!(!notify.is_empty() && notify.iter().all(|a| a.state == "retracted"), "{notify:?}");
    let recent = store.recent_blocks(10).unwrap();
    for b in &recent {
        assert_eq!(b.hash, chain.hash(b.number), "block #{} is the canonical one", b.number);
    }
    assert_eq!(metric(&metrics, "vigil_reorgs_total"), Some(1.0), "{metrics}");
    let log = log_of(&log);
    assert!(log.contains("ReorgHandled"), "{log}");
    // The notification waits two confirmations by default: the reorg came first, so nobody was woken.
    assert!(log.contains("ResponseRetracted"), "{log}");
    assert!(!log.contains("NotificationDue"), "{log}");
    assert!(log.contains(&format!("block={finding_block}")), "log lines carry the block number: {log}");
}

#[test]
fn a_notification_held_when_the_node_is_killed_is_delivered_once_after_restart() {
    let mut chain = start_chain();
    let dir = temp_dir("held-notification");
    let (hook_url, hook) = webhook_receiver();
    let extra = format!(
        "\n[source.confirmations]\nnotify = 3\n\n[[notifier]]\ntype = \"webhook\"\nurl = \"{hook_url}\"\nsecret_env = \"VIGIL_TEST_HOOK_SECRET\"\n"
    );
    let config = write_config(&dir, &chain, &extra);
    let secret = [("VIGIL_TEST_HOOK_SECRET", "hook-secret")];
    let log = dir.join("vigil.log");
    let mut vigil = spawn_vigil_with(&config, &[], &[], &log, &secret);
    catch_up(&chain, &dir);

    // Its notification is held for three confirmations; the node dies after one.
    let finding_block = change_a_privilege(&mut chain, &dir);
    vigil.kill().unwrap(); // SIGKILL: no shutdown of any kind.
    vigil.wait().unwrap();
    assert!(hook.try_recv().is_err(), "nothing was delivered before the kill");
    let planned = |dir: &Path| {
        let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
        store.actions().unwrap().into_iter().filter(|a| a.kind == vigil_respond::ActionKind::Notify).collect::<Vec<_>>()
    };
    let before = planned(&dir);
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!((before[0].state.as_str(), before[0].block), ("planned", finding_block));

    // Restarted, the node holds it again and delivers it once its confirmations are in.
    let log2 = dir.join("vigil-2.log");
    let mut vigil = spawn_vigil_with(&config, &[], &[], &log2, &secret);
    chain.node.advance(3, 12).unwrap();
    let (headers, body) = hook.recv_timeout(Duration::from_secs(60)).expect("the held notification is delivered");
    let note: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(note["reason"], "opened", "{note}");
    assert_eq!(headers["x-vigil-delivery"].to_str().unwrap(), note["delivery"].as_str().unwrap());
    wait_until("the delivery to be recorded", Duration::from_secs(30), || {
        planned(&dir).first().is_some_and(|a| a.state == "delivered")
    });
    chain.node.advance(3, 12).unwrap();
    catch_up(&chain, &dir);
    vigil.kill().unwrap();
    vigil.wait().unwrap();
    assert!(hook.try_recv().is_err(), "delivered exactly once");
    assert!(log_of(&log2).contains("NotificationResumed"), "{}", log_of(&log2));
}

#[test]
fn a_node_killed_during_backfill_processes_every_block_exactly_once_after_restart() {
    let mut chain = start_chain();
    let dir = temp_dir("kill");
    let first = chain.head() + 1;
    // A history to backfill: blocks with ordinary transfers between empty ones.
    for i in 0..40u64 {
        let from = chain.actors.trader.address();
        chain.node.send(from, chain.actors.lender.address(), Default::default(), U256::from(1_000 + i)).unwrap();
        chain.node.advance(9, 12).unwrap();
    }
    let last = chain.head();
    assert!(last - first >= 390, "{first}..{last}");
    let config = write_config(&dir, &chain, &format!("start_block = {first}\nwarm_up_blocks = 0\n"));
    let log = dir.join("vigil-1.log");
    let mut vigil = spawn_vigil(&config, &["--until", &last.to_string()], &[], &log);
    wait_until("the backfill to be under way", Duration::from_secs(120), || {
        cursor(&dir).is_some_and(|c| c >= first + 50)
    });
    // SIGKILL: no shutdown path runs.
    vigil.kill().unwrap();
    vigil.wait().unwrap();
    let killed_at = cursor(&dir).expect("a cursor");
    assert!(killed_at < last, "killed during the backfill (cursor #{killed_at}, last #{last})");

    let status =
        Command::new(env!("CARGO_BIN_EXE_vigil")).args(["status", "--json", "--config"]).arg(&config).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["cursor"], killed_at);
    assert_eq!(status["head"], last);
    assert_eq!(status["lag"], last - killed_at);
    assert_eq!(status["endpoints"][0]["ok"], true);

    let log2 = dir.join("vigil-2.log");
    let out = spawn_vigil(&config, &["--until", &last.to_string()], &[], &log2).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", log_of(&log2));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["blocks"], last - killed_at, "the restart starts after the cursor");
    assert_eq!(summary["cursor"], last);

    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
    let processed = store.processed().unwrap();
    let numbers: Vec<u64> = processed.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (first..=last).collect::<Vec<_>>(), "every block, none skipped");
    assert!(processed.iter().all(|(_, times)| *times == 1), "none twice");
    assert_eq!(store.cursor().unwrap().unwrap().hash, chain.hash(last));
}

#[test]
fn a_block_that_cannot_be_processed_is_recorded_and_stops_the_node_without_skipping_it() {
    let chain = start_chain();
    let dir = temp_dir("fail");
    // Block 1 is before the pair exists: the price detector cannot read its reserves there.
    let config = write_config(&dir, &chain, "start_block = 1\nwarm_up_blocks = 0\n");
    let log = dir.join("vigil.log");
    let out = spawn_vigil(&config, &["--until", "10"], &[], &log).wait_with_output().unwrap();
    assert!(!out.status.success(), "the node stops instead of skipping block #1");
    let log = log_of(&log);
    assert!(log.contains("block #1 could not be processed after 3 attempts"), "{log}");
    assert!(log.contains("set [source] start_block after its deployment"), "the error says how to fix it: {log}");
    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
    assert_eq!(store.cursor().unwrap(), None, "nothing committed: the next start processes block #1 again");
    let failures = store.failures().unwrap();
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(failures.iter().all(|(n, stage, e)| *n == 1 && stage == "process" && e.contains("spot-market-oracle")));
}

/// The fault-injecting proxy of vigil-chain's tests.
#[path = "../../vigil-chain/tests/support/fault_proxy.rs"]
#[allow(dead_code)]
mod fault_proxy;

#[test]
fn faults_between_vigil_and_anvil_lose_no_block_and_show_in_logs_and_metrics() {
    use fault_proxy::{Fault, FaultProxy};
    let mut chain = start_chain();
    let dir = temp_dir("faults");
    let first = chain.head() + 1;
    for i in 0..12u64 {
        let from = chain.actors.trader.address();
        chain.node.send(from, chain.actors.lender.address(), Default::default(), U256::from(1_000 + i)).unwrap();
        chain.node.advance(2, 12).unwrap();
    }
    let last = chain.head();
    // A lagging endpoint listed first, and a flaky one.
    let lagging = FaultProxy::start(&chain.anvil.endpoint());
    lagging.set_lag(4);
    let flaky = FaultProxy::start(&chain.anvil.endpoint());
    let mut plan = Vec::new();
    for _ in 0..3 {
        plan.extend([
            Fault::Drop,
            Fault::Pass,
            Fault::Malformed,
            Fault::Truncated,
            Fault::Pass,
            Fault::TooMany { retry_after_secs: 1 },
            Fault::Status500,
            Fault::Delay(Duration::from_millis(1500)),
            Fault::Pass,
        ]);
    }
    flaky.plan(plan);
    let source = format!(
        "rpc = [\"{}\", \"{}\"]\nstart_block = {first}\nwarm_up_blocks = 0\ntimeout_ms = 1000\nmax_attempts = 4\n",
        lagging.url, flaky.url
    );
    let config = write_config(&dir, &chain, "");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(&format!("rpc = [\"{}\"]\n", chain.anvil.endpoint()), &source, 1);
    let text = text.replacen(&format!("ws = \"{}\"\n", chain.anvil.ws_endpoint()), "", 1);
    std::fs::write(&config, text).unwrap();

    let port = free_port();
    let log = dir.join("vigil.log");
    let mut vigil = spawn_vigil(&config, &["--metrics", &format!("127.0.0.1:{port}")], &[], &log);
    wait_until("vigil to reach the head through the faults", Duration::from_secs(120), || cursor(&dir) == Some(last));
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    vigil.kill().unwrap();
    vigil.wait().unwrap();

    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
    let processed = store.processed().unwrap();
    assert_eq!(processed.iter().map(|(n, _)| *n).collect::<Vec<_>>(), (first..=last).collect::<Vec<_>>());
    assert!(processed.iter().all(|(_, times)| *times == 1), "each block once: {processed:?}");
    assert_eq!(store.cursor().unwrap().unwrap().hash, chain.hash(last));
    let log = log_of(&log);
    let flaky_label = flaky.url.trim_end_matches('/');
    for fault in ["connect", "malformed", "rate_limited", "http_status", "timeout"] {
        let line = format!("vigil_rpc_faults_total{{endpoint=\"{flaky_label}\",fault=\"{fault}\"}}");
        assert!(metric(&metrics, &line).unwrap_or(0.0) >= 1.0, "{line} in {metrics}");
        assert!(log.contains(&format!("fault=\"{fault}\"")), "{fault} in the log: {log}");
    }
    let lag_line =
        format!("vigil_rpc_faults_total{{endpoint=\"{}\",fault=\"lagging\"}}", lagging.url.trim_end_matches('/'));
    assert!(metric(&metrics, &lag_line).unwrap_or(0.0) >= 1.0, "{lag_line} in {metrics}");
    assert_eq!(metric(&metrics, "vigil_reorgs_total"), Some(0.0), "a lagging endpoint fakes no reorg");
}

#[test]
fn an_endpoint_on_another_chain_is_refused_at_start() {
    let chain = start_chain();
    let dir = temp_dir("chain-id");
    let config = write_config(&dir, &chain, "chain_id = 1\n");
    let log = dir.join("vigil.log");
    let out = spawn_vigil(&config, &["--until", "1"], &[], &log).wait_with_output().unwrap();
    assert!(!out.status.success());
    let log = log_of(&log);
    let expected = format!("endpoint {} reports chain id 31337, the configuration expects 1", chain.anvil.endpoint());
    assert!(log.contains(&expected), "{log}");
}

#[test]
fn without_its_websocket_the_node_polls_and_misses_nothing() {
    let mut chain = start_chain();
    let dir = temp_dir("no-ws");
    let config = write_config(&dir, &chain, "");
    // Nothing listens on the WebSocket address: the subscription fails and polling over HTTP takes over.
    let text = std::fs::read_to_string(&config).unwrap();
    let dead = format!("ws://127.0.0.1:{}", free_port());
    std::fs::write(&config, text.replacen(&chain.anvil.ws_endpoint(), &dead, 1)).unwrap();
    let port = free_port();
    let log = dir.join("vigil.log");
    let mut vigil = spawn_vigil(&config, &["--metrics", &format!("127.0.0.1:{port}")], &[], &log);
    catch_up(&chain, &dir);
    chain.node.advance(5, 12).unwrap();
    let head = chain.head();
    wait_until("vigil to follow new heads by polling", Duration::from_secs(60), || cursor(&dir) == Some(head));
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    vigil.kill().unwrap();
    vigil.wait().unwrap();
    assert!(metric(&metrics, "vigil_ws_fallbacks_total").unwrap_or(0.0) >= 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "vigil_ws_heads_total"), Some(0.0), "{metrics}");
    assert!(log_of(&log).contains("WsHeadsFailed"));
    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
    assert!(store.processed().unwrap().iter().all(|(_, times)| *times == 1));
    assert_eq!(store.cursor().unwrap().unwrap().hash, chain.hash(head));
}

/// A single-transaction attack (the flash-loan oracle manipulation) sent to anvil's mempool while blocks are
/// mined by hand: the node reads it with `txpool_content`, simulates it with revm on the head's state read from
/// anvil, its detectors flag the block it would make, and its pause, outbidding the attack's tip and fee cap, is
/// mined first in that same block. The attack reverts on the Guardian's check and takes nothing.
#[test]
fn a_single_transaction_attack_in_anvils_mempool_is_front_run_in_its_own_block() {
    use alloy::providers::Provider;
    let mut chain = start_chain();
    let dir = temp_dir("front-run");
    let attack = Attack::FlashLoanOracle;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let (vigil, port) = spawn_responding_node(&mut chain, &dir, "", &[]);
    let config = std::fs::read_to_string(dir.join("vigil.toml")).unwrap();
    assert!(config.contains("[screening]"), "the demo's detectors screen");
    let log = dir.join("vigil.log");
    catch_up(&chain, &dir);

    // Blocks are mined by hand from here: the attack waits in the mempool.
    let provider = chain.node.provider().clone();
    set_automine(&chain, false);
    let [exploit] = plan.execute.as_slice() else { panic!("one exploiting transaction: {:?}", plan.execute) };
    let gwei = 1_000_000_000u128;
    let attack_hash = send_to_mempool(&chain, &exploit.req, 3 * gwei, 50 * gwei);
    let started = Instant::now();
    wait_until("the node's pause to join the attack in the mempool", Duration::from_secs(30), || {
        pending_count(&chain) == 2
    });
    let seen_to_pause = started.elapsed();
    mine_block(&chain);
    set_automine(&chain, true);

    let block = chain
        .node
        .block_on(async { provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await })
        .unwrap()
        .expect("the mined block");
    let hashes: Vec<_> = block.transactions.hashes().collect();
    assert_eq!(hashes.len(), 2, "the pause and the attack in one block: {hashes:?}");
    assert_eq!(hashes[1], attack_hash, "the attack goes second");
    let receipt = |h| chain.node.block_on(provider.get_transaction_receipt(h)).unwrap().expect("a receipt");
    let (pause, exploit) = (receipt(hashes[0]), receipt(hashes[1]));
    assert_eq!(pause.to, Some(chain.venue.guardian), "the first is Vigil's pause");
    assert!(pause.status() && !exploit.status(), "the pause landed, the attack reverted");
    assert!(pause.effective_gas_price > exploit.effective_gas_price, "the pause outbid the attack");
    let (target, scope) = attack.target(&chain.venue);
    assert!(chain.is_paused(target, scope));

    wait_until("the node to see its pause land", Duration::from_secs(30), || {
        http_get(port, "/metrics").is_some_and(|(_, m)| metric(&m, "vigil_blocks_processed_total").is_some())
            && cursor(&dir) == Some(block.header.number)
    });
    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    assert_eq!(metric(&metrics, "vigil_screened_total{result=\"front_run\"}"), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, "vigil_actions_total{action=\"pause_sent\"}"), Some(1.0), "{metrics}");
    let pauses = stop(vigil, &dir);
    let pauses: Vec<_> =
        pauses.into_iter().filter(|a| matches!(a.kind, vigil_respond::ActionKind::Pause { .. })).collect();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!((pauses[0].state.as_str(), pauses[0].state_block), ("landed", Some(block.header.number)), "{pauses:?}");
    let log = log_of(&log);
    assert!(log.contains("FrontRunDecided"), "{log}");
    eprintln!("attack in the mempool → Vigil's pause beside it: {} ms", seen_to_pause.as_millis());
}

#[test]
fn a_gated_venue_on_anvil_gets_attestations_from_the_node_for_honest_calls_and_refusals_for_the_attack() {
    use alloy::sol_types::{SolCall, SolValue};
    use vigil_contracts::{MarginPool, SecurityGate};
    use vigil_sim::venue::{approve, units18, usd, wrap_eth, MARKET_WETH_FEED};
    let mut chain = start_chain_with(&vigil_sim::VenueConfig { gate: true, ..Default::default() });
    let dir = temp_dir("gate");
    let attack = Attack::FlashLoanOracle;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let (pool, gate) = (chain.venue.pool, chain.venue.gate);
    let user = chain.actors.borrower.address();
    wrap_eth(&mut chain.node, &chain.venue, user, units18(10)).unwrap();
    approve(&mut chain.node, chain.venue.weth, user, pool, U256::MAX).unwrap();
    let collateral =
        MarginPool::supplyCollateralCall { id: U256::from(MARKET_WETH_FEED), assets: units18(10), onBehalf: user };
    chain.node.exec(user, pool, collateral).unwrap();
    let (vigil, port) = spawn_responding_node(&mut chain, &dir, &format!("\n[gate]\naddress = \"{gate}\"\n"), &[]);
    catch_up(&chain, &dir);

    // The user is young to the gate: its borrow needs an attestation, and reverts without one.
    let borrow: alloy::primitives::Bytes =
        MarginPool::borrowCall { id: U256::from(MARKET_WETH_FEED), assets: usd(5_000), receiver: user }
            .abi_encode()
            .into();
    let refused = chain.node.send(user, pool, borrow.clone(), U256::ZERO).unwrap_err();
    assert!(
        matches!(
            refused.decode_any::<SecurityGate::SecurityGateErrors>(),
            Some(SecurityGate::SecurityGateErrors::AttestationRequired(_))
        ),
        "{refused}"
    );
    let ask = |from: alloy::primitives::Address, to: alloy::primitives::Address, data: &alloy::primitives::Bytes| {
        let body = serde_json::json!({ "from": from, "to": to, "data": data }).to_string();
        let started = Instant::now();
        let (status, answer) = http_post(port, "/attest", &body).expect("the node answers");
        (status, serde_json::from_str::<serde_json::Value>(&answer).expect("JSON"), started.elapsed())
    };
    let (status, answer, honest_ms) = ask(user, pool, &borrow);
    assert_eq!((status, answer["verdict"].as_str()), (200, Some("attested")), "{answer}");
    let attestation: vigil_core::Attestation = serde_json::from_value(answer["attestation"].clone()).unwrap();
    let signatures: Vec<alloy::primitives::Bytes> = serde_json::from_value(answer["signatures"].clone()).unwrap();
    assert_eq!(signatures.len(), 3, "the node holds 3 of the 5 oracle keys");
    assert_eq!(attestation.origin, user);
    let before = chain.node.read(chain.venue.usd, IERC20::balanceOfCall { account: user }).unwrap();
    let call = GuardianProtected::attestedCallCall {
        attestation: attestation.abi_encode().into(),
        signatures: signatures.clone(),
        data: borrow.clone(),
    };
    chain.node.exec(user, pool, call).expect("the attested borrow goes through");
    let after = chain.node.read(chain.venue.usd, IERC20::balanceOfCall { account: user }).unwrap();
    assert_eq!(after - before, usd(5_000));

    // A call the gate does not screen needs nothing.
    let (status, answer, _) = ask(user, chain.venue.usd, &IERC20::balanceOfCall { account: user }.abi_encode().into());
    assert_eq!((status, answer["verdict"].as_str()), (200, Some("not_needed")), "{answer}");
    // A malformed request is refused with the reason.
    let (status, text) = http_post(port, "/attest", "{\"to\": 1}").unwrap();
    assert_eq!(status, 400, "{text}");

    // The attack, asked about before sending it through private order flow: refused, with the findings.
    let [exploit] = plan.execute.as_slice() else { panic!("one exploiting transaction: {:?}", plan.execute) };
    let (status, answer, attack_ms) = ask(exploit.req.from, exploit.req.to.unwrap(), &exploit.req.data);
    assert_eq!((status, answer["verdict"].as_str()), (200, Some("refused")), "{answer}");
    let findings = answer["findings"].as_array().expect("findings");
    assert!(!findings.is_empty() && findings.iter().all(|f| f["severity"].is_string()), "{answer}");
    // Sent anyway, it reverts at the gate.
    let e =
        chain.node.send(exploit.req.from, exploit.req.to.unwrap(), exploit.req.data.clone(), U256::ZERO).unwrap_err();
    assert!(
        matches!(
            e.decode_any::<SecurityGate::SecurityGateErrors>(),
            Some(SecurityGate::SecurityGateErrors::AttestationRequired(_))
        ),
        "{e}"
    );
    let (target, scope) = attack.target(&chain.venue);
    assert!(!chain.is_paused(target, scope), "the gate alone stopped it");

    let (_, metrics) = http_get(port, "/metrics").expect("metrics");
    assert_eq!(metric(&metrics, "vigil_attestations_total{result=\"attested\"}"), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, "vigil_attestations_total{result=\"refused\"}"), Some(1.0), "{metrics}");
    let _ = stop(vigil, &dir);
    let log = log_of(&dir.join("vigil.log"));
    assert!(log.contains("AttestationRefused"), "{log}");
    eprintln!("POST /attest on anvil: honest borrow {} ms, attack {} ms", honest_ms.as_millis(), attack_ms.as_millis());
}
