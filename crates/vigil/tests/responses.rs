//! Responses against a real node: anvil with the reference venue, `vigil run` and `vigil status` as a user runs
//! them, the Guardian's governance (the venue's timelock) acting through `anvil_impersonateAccount`.
//!
//! - Mandate-aware pauses: governance revokes the spot market's mandate; the attack starts; the node does not
//!   send a pause the Guardian must reject: it notifies "pause-refused" (no mandate) and `vigil status` shows the
//!   scope without mandate. Governance grants the mandate again while the incident is open: the node decides the
//!   pause at the next block; its first sends fail (the sender has no gas money) and are retried at the following
//!   blocks; once funded, the pause lands and the attacker's borrow reverts.
//! - A repeat attack: the pause lands, governance lifts it while the pair is still manipulated, the node is refused
//!   for the cooldown the unpause started (told once) and pauses again when it ends, before the borrow.
//! - A reorg whose replacement block carries the same transaction: the notification held for the orphaned
//!   block's finding is retracted, and the replacement's finding is notified once.

use std::{process::Command, time::Duration};

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::{ext::AnvilApi, Provider},
    rpc::types::anvil::{ReorgOptions, TransactionData},
    signers::local::PrivateKeySigner,
};
use vigil_contracts::Guardian;
use vigil_core::Store as _;
use vigil_respond::ActionKind;
use vigil_sim::{
    attacks::{Attack, AttackPlan},
    venue::MARKET_WETH_SPOT,
    Backend, Reader,
};

mod support;

use support::*;

fn status(config: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil")).arg("status").arg("--config").arg(config).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The spot-pump attack prepared on the chain, its target and scope, and the node's three oracle keys (the first
/// sends the pauses and holds `gas_money` wei) with the `[responder]` section that loads them.
struct Setup {
    plan: AttackPlan,
    target: Address,
    scope: u64,
    oracles: Vec<PrivateKeySigner>,
    keys: &'static str,
}

fn set_up(chain: &mut Chain, gas_money: U256) -> Setup {
    let attack = Attack::SpotPump;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let (target, scope) = attack.target(&chain.venue);
    assert_eq!((target, scope), (chain.venue.pool, MARKET_WETH_SPOT));
    let oracles: Vec<PrivateKeySigner> = chain.actors.oracles.iter().take(3).cloned().collect();
    chain.node.set_balance(oracles[0].address(), gas_money).unwrap();
    Setup { plan, target, scope, oracles, keys: RESPONDER_KEYS }
}

#[test]
fn a_pause_the_guardian_would_refuse_is_not_sent_and_goes_out_when_the_mandate_returns() {
    let mut chain = start_chain();
    let dir = temp_dir("mandates");
    let Setup { plan, target, scope, oracles, keys } = set_up(&mut chain, U256::ZERO);
    let mandate = chain.node.read(chain.venue.guardian, Guardian::mandateCall { target, scope: U256::from(scope) });
    let mandate = mandate.unwrap();
    as_governance(&chain, Guardian::revokeMandateCall { target, scope: U256::from(scope) });

    let sender: Address = oracles[0].address();
    let (hook_url, hook) = webhook_receiver();
    let notifier =
        format!("\n[[notifier]]\ntype = \"webhook\"\nurl = \"{hook_url}\"\nsecret_env = \"VIGIL_TEST_HOOK_SECRET\"\n");
    let config = write_config(&dir, &chain, &format!("\n{keys}{notifier}"));
    // A policy rule for the spot market: it may pause, and the Guardian holds no mandate for it now.
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "pause_at = \"critical\"\n",
        &format!("pause_at = \"critical\"\n\n[[policy.rule]]\ntarget = \"{target}\"\nscope = {scope}\npause_at = \"critical\"\n"),
        1,
    );
    std::fs::write(&config, text).unwrap();

    let shown = status(&config);
    assert!(shown.contains(&format!("scope    {target}/{scope}  no mandate")), "{shown}");
    assert!(
        shown.contains(&format!("policy rule 1 may pause {target} scope {scope}, which has no mandate")),
        "{shown}"
    );
    assert!(shown.contains("guardian oracle set v1: 3 of 5 signers"), "{shown}");

    let port = free_port();
    let log = dir.join("vigil.log");
    let args = ["--metrics".to_string(), format!("127.0.0.1:{port}")];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let vigil = spawn_vigil_with(&config, &args, &oracles, &log, &[("VIGIL_TEST_HOOK_SECRET", "hook-secret")]);
    wait_until("/health to answer 200", Duration::from_secs(60), || {
        http_get(port, "/health").is_some_and(|(s, _)| s == 200)
    });
    assert!(log_of(&log).contains("MandateProblem"), "{}", log_of(&log));

    let borrow = pump(&mut chain, &plan);
    // Told why nothing happens (after the notifications' two confirmations); nothing sent.
    chain.node.block_on(chain.node.provider().anvil_mine(Some(3), None)).unwrap();
    let refusal = loop {
        let (_, body) = hook.recv_timeout(Duration::from_secs(60)).expect("notifications reach the webhook");
        let note: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if note["reason"] == "pause-refused" {
            break note;
        }
    };
    assert_eq!(refusal["refusal"]["reason"], "no-mandate", "{refusal}");
    assert!(log_of(&log).contains("pause wanted, not possible: the Guardian holds no mandate"), "{}", log_of(&log));
    assert!(!chain.is_paused(target, scope));
    assert!(!log_of(&log).contains("PauseSent"));

    // The mandate returns while the incident is open: the pause is decided; it cannot be sent without gas money,
    // and is tried again at each block.
    let expiry = chain.now() + 30 * 86_400;
    as_governance(
        &chain,
        Guardian::grantMandateCall {
            target,
            scope: U256::from(scope),
            maxPauseSeconds: mandate.maxPauseSeconds,
            cooldownSeconds: mandate.cooldownSeconds,
            expiry,
        },
    );
    wait_until("a failed send", Duration::from_secs(30), || log_of(&log).contains("PauseSendFailed"));
    chain.node.block_on(chain.node.provider().anvil_mine(Some(1), None)).unwrap();
    wait_until("a second failed send", Duration::from_secs(30), || {
        log_of(&log).matches("PauseSendFailed").count() >= 2
    });
    chain.node.set_balance(sender, U256::from(10u64).pow(U256::from(19))).unwrap();
    chain.node.block_on(chain.node.provider().anvil_mine(Some(1), None)).unwrap();
    wait_until("the Guardian to pause the spot market", Duration::from_secs(30), || chain.is_paused(target, scope));

    borrow_fails(&mut chain, &borrow);
    let shown = status(&config);
    assert!(shown.contains(&format!("scope    {target}/{scope}  mandate")) && shown.contains("PAUSED for"), "{shown}");
    let actions = stop(vigil, &dir);
    let pauses: Vec<_> = actions.iter().filter(|a| matches!(a.kind, ActionKind::Pause { .. })).collect();
    assert_eq!(pauses.len(), 1, "one pause, sent once it was possible: {pauses:?}");
    assert_eq!(pauses[0].state, "landed", "{pauses:?}");
    assert!(pauses[0].attempts >= 2, "the failed sends are recorded: {pauses:?}");
    let refused = actions.iter().filter(|a| matches!(a.kind, ActionKind::PauseRefused { .. })).count();
    assert_eq!(refused, 1, "told once: {actions:?}");
}

#[test]
fn a_reorg_that_mines_the_same_transaction_again_notifies_its_finding_once() {
    let mut chain = start_chain();
    let dir = temp_dir("reorg-same-tx");
    let (hook_url, hook) = webhook_receiver();
    let notifier =
        format!("\n[[notifier]]\ntype = \"webhook\"\nurl = \"{hook_url}\"\nsecret_env = \"VIGIL_TEST_HOOK_SECRET\"\n");
    let config = write_config(&dir, &chain, &notifier);
    let log = dir.join("vigil.log");
    let mut vigil = spawn_vigil_with(&config, &[], &[], &log, &[("VIGIL_TEST_HOOK_SECRET", "hook-secret")]);
    catch_up(&chain, &dir);

    // The finding's notification waits for two confirmations; it has one when the reorg comes.
    let finding_block = change_a_privilege(&mut chain, &dir);
    let provider = chain.node.provider().clone();
    let tx = chain.node.block_on(async { provider.get_block_by_number(finding_block.into()).await }).unwrap().unwrap();
    let tx = *tx.transactions.hashes().collect::<Vec<_>>().first().expect("the change's transaction");
    let raw: Bytes = chain.node.block_on(provider.raw_request("eth_getRawTransactionByHash".into(), (tx,))).unwrap();
    let orphaned = chain.hash(finding_block);
    let reorg = ReorgOptions { depth: 2, tx_block_pairs: vec![(TransactionData::Raw(raw), 0)] };
    chain.node.block_on(provider.anvil_reorg(reorg)).unwrap();
    let replaced = chain.hash(finding_block);
    assert_ne!(replaced, orphaned, "anvil replaced the block");
    chain.node.advance(3, 12).unwrap();

    let (_, body) = hook.recv_timeout(Duration::from_secs(60)).expect("the replacement's finding is notified");
    let note: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(note["reason"], "opened", "{note}");
    let blocks: Vec<_> = note["findings"].as_array().unwrap().iter().map(|f| f["block"]["hash"].clone()).collect();
    assert_eq!(blocks, vec![serde_json::json!(replaced)], "only the replacement block's finding: {note}");
    catch_up(&chain, &dir);
    chain.node.advance(3, 12).unwrap();
    catch_up(&chain, &dir);
    vigil.kill().unwrap();
    vigil.wait().unwrap();
    assert!(hook.try_recv().is_err(), "notified once");

    // The outbox row of the notification was retracted by the reorg and planned again by the replacement's finding
    // (one row per incident and action): it ends delivered, for the replacement block.
    let store = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap();
    let notify: Vec<_> = store
        .actions()
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == ActionKind::Notify)
        .map(|a| (a.block_hash, a.state))
        .collect();
    assert_eq!(notify, vec![(replaced, "delivered".into())], "{notify:?}");
    let log = log_of(&log);
    assert!(log.contains("ResponseRetracted") && log.contains("ReorgHandled"), "{log}");
}

/// Attack → pause → governance lifts it while the pair is still manipulated → the node's new incident is refused
/// for the cooldown governance's unpause started (told once) → the cooldown ends → paused again before the
/// attacker's borrow.
#[test]
fn after_governance_lifts_a_pause_the_same_attack_is_paused_again_once_the_cooldown_ends() {
    let mut chain = start_chain();
    let dir = temp_dir("repeat");
    let Setup { plan, target, scope, oracles, keys } = set_up(&mut chain, U256::from(10u64).pow(U256::from(19)));
    let config = write_config(&dir, &chain, &format!("\n{keys}"));
    let log = dir.join("vigil.log");
    let vigil = spawn_vigil(&config, &[], &oracles, &log);
    catch_up(&chain, &dir);

    let borrow = pump(&mut chain, &plan);
    wait_until("the first pause", Duration::from_secs(60), || chain.is_paused(target, scope));
    as_governance(&chain, Guardian::unpauseCall { target, scope: U256::from(scope) });
    assert!(!chain.is_paused(target, scope), "governance lifted the pause");
    let cooldown = chain.node.read(chain.venue.guardian, Guardian::pauseStateCall { target, scope: U256::from(scope) });
    let allowed_at = cooldown.unwrap().nextPauseAllowedAt;
    chain.node.advance(2, 12).unwrap();
    wait_until("the refusal for the cooldown", Duration::from_secs(30), || {
        log_of(&log).contains("pause wanted, not possible: the scope is in its cooldown")
    });
    assert!(!chain.is_paused(target, scope), "nothing the Guardian must reject is sent");

    // The cooldown ends; the attacker is about to borrow at the pumped price.
    chain.node.advance(1, allowed_at.saturating_sub(chain.now()) + 1).unwrap();
    wait_until("the second pause", Duration::from_secs(60), || chain.is_paused(target, scope));
    borrow_fails(&mut chain, &borrow);
    let actions = stop(vigil, &dir);
    let pauses: Vec<_> = actions.iter().filter(|a| matches!(a.kind, ActionKind::Pause { .. })).collect();
    assert_eq!(pauses.len(), 2, "{pauses:?}");
    assert_ne!(pauses[0].incident, pauses[1].incident, "the second attack is a new incident");
    assert!(pauses.iter().all(|p| p.state == "landed"), "{pauses:?}");
    let refusals = actions.iter().filter(|a| matches!(a.kind, ActionKind::PauseRefused { .. })).count();
    assert_eq!(refusals, 1, "the cooldown told once: {actions:?}");
    let incidents = vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap().incidents().unwrap();
    assert!(
        incidents.iter().any(|i| i.id == pauses[0].incident
            && matches!(i.state, vigil_core::IncidentState::Resolved { reason: vigil_core::Resolution::Unpaused, .. })),
        "the first incident was resolved by governance's unpause: {incidents:?}"
    );
}
