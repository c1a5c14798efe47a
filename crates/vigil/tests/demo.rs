//! The demo's promises, through the library: Vigil's pauses land and stop multi-block attacks (losses read from
//! chain state, with and without the response, same seed), a repeat of the attack after governance lifted the
//! pause is paused again, and the benign crash is not paused.

use vigil::{
    config::Config,
    demo::{run_scenario, RunResult, DEMO_CONFIG},
};

/// Seed 1, traced when the embedded detectors read traces.
fn opts() -> vigil_sim::scenario::RunOptions {
    vigil_sim::scenario::RunOptions { seed: 1, tracing: config().needs_traces(), ..Default::default() }
}

fn config() -> Config {
    Config::parse("demo.toml", DEMO_CONFIG).expect("the embedded config is valid")
}

/// `name` on seed 1 with Vigil's pauses sent, and with the response off.
fn with_and_without(name: &str) -> (RunResult, RunResult) {
    let c = config();
    (
        run_scenario(name, opts(), true, &c, 1, |_, _| {}).unwrap(),
        run_scenario(name, opts(), false, &c, 1, |_, _| {}).unwrap(),
    )
}

#[test]
fn the_multi_block_price_manipulation_is_stopped_before_the_borrow() {
    let (with, without) = with_and_without("spot-pump");
    assert!(without.lost_usd > 100_000.0, "undefended, the attack takes funds: {}", without.lost_usd);
    assert!(with.lost_usd < without.lost_usd / 10.0, "with Vigil: {} vs {}", with.lost_usd, without.lost_usd);
    let (first, detected, paused) =
        (with.first_malicious_block.unwrap(), with.detection_block.unwrap(), with.pause_block.unwrap());
    // Screening sees the next pump step pending and front-runs it: the pause lands in the block of the first
    // alert.
    assert!(first <= detected && detected <= paused, "{first} ≤ {detected} ≤ {paused}");
    assert!(with.front_runs_landed.contains(&paused), "{with:?}");
    assert!(with.attack_txs_reverted >= 1, "the borrow after the pause reverted on chain");
    assert!(without.pause_block.is_none(), "no pause when the response is off");
    assert_eq!(without.detection_block, with.detection_block, "detection is the same either way");
}

#[test]
fn the_slow_drain_is_cut_short() {
    let (with, without) = with_and_without("legacy-borrow-drain");
    assert!(with.pause_block.is_some());
    assert!(with.lost_usd + 30_000.0 < without.lost_usd, "with {} vs without {}", with.lost_usd, without.lost_usd);
    assert!(with.attack_txs_reverted >= 5, "the borrows after the pause reverted: {}", with.attack_txs_reverted);
}

#[test]
fn a_stolen_admin_key_is_stopped_at_the_role_grant() {
    let (with, without) = with_and_without("admin-key");
    assert!(without.lost_usd > 1_000_000.0);
    assert_eq!(with.lost_usd, 0.0);
    assert_eq!(with.detection_block, with.first_malicious_block, "the role grant itself is detected");
}

/// Attack → pause → the security council lifts it → the same attacker pumps and borrows again → a second pause
/// lands before the second borrow.
#[test]
fn a_repeated_attack_after_governance_lifts_the_pause_is_paused_again_before_it_finishes() {
    let (with, without) = with_and_without("repeat-attack");
    assert_eq!(with.attacks.len(), 2, "{:?}", with.attacks);
    assert_eq!(without.attacks.len(), 2, "{:?}", without.attacks);
    for (k, undefended) in without.attacks.iter().enumerate() {
        assert!(undefended.lost_usd > 100_000.0, "undefended, attack {} takes funds: {undefended:?}", k + 1);
    }
    let scope = with.attack_scope.expect("the attack's scope");
    let (first, second) = (&with.attacks[0], &with.attacks[1]);
    let landed_in = |from: u64, to: u64| -> Vec<u64> {
        with.pauses_landed.iter().filter(|(b, s)| *s == scope && from <= *b && *b <= to).map(|(b, _)| *b).collect()
    };
    // A pause goes first in its block: landing at or before an execution's last block stops its last transaction.
    assert_eq!(landed_in(first.first_block, first.last_block).len(), 1, "{:?} {first:?}", with.pauses_landed);
    assert_eq!(landed_in(first.last_block + 1, second.first_block - 1), Vec::<u64>::new(), "no pause between");
    assert_eq!(landed_in(second.first_block, second.last_block).len(), 1, "{:?} {second:?}", with.pauses_landed);
    assert_eq!(with.pauses_landed.len(), 2, "{:?}", with.pauses_landed);
    assert!(second.detection_block.is_some_and(|d| d >= second.first_block && d < second.last_block), "{second:?}");
    assert!(first.lost_usd < 1.0 && second.lost_usd < 1.0, "with Vigil: {first:?} {second:?}");
    assert!(with.attack_txs_reverted >= 2, "each attack's borrow reverted: {}", with.attack_txs_reverted);
    assert!(without.pause_block.is_none() && without.attack_txs_reverted == 0);
}

#[test]
fn the_benign_crash_is_not_paused() {
    let r = run_scenario("benign-crash", opts(), true, &config(), 1, |_, _| {}).unwrap();
    assert!(r.first_malicious_block.is_none());
    assert_eq!(r.pause_block, None, "no pause on a legitimate crash");
}

#[test]
fn five_nodes_with_one_key_each_stop_the_attack_in_the_same_block_as_one_node_with_three() {
    // The network responds to blocks only (it does not screen pending transactions): the single node likewise.
    let c = Config { screening: None, ..config() };
    let one = run_scenario("spot-pump", opts(), true, &c, 1, |_, _| {}).unwrap();
    let five = run_scenario("spot-pump", opts(), true, &c, 5, |_, _| {}).unwrap();
    assert_eq!(five.pause_block, one.pause_block, "the quorum lands in the same block");
    assert_eq!(five.lost_usd, one.lost_usd);
    let n = five.network.expect("the network's figures");
    assert_eq!(n.nodes, 5);
    assert!(n.signed >= 3, "at least the threshold signed: {n:?}");
    assert!(n.submissions >= 1 && n.submissions <= 5, "one submission per node at most: {n:?}");
    assert!(n.block_to_quorum_ms.is_some(), "{n:?}");
    assert!(n.requests > 0 && n.bytes > 0, "{n:?}");
    assert!(one.network.is_none());
}

/// The single-transaction attacks, each with its attacker on the public mempool: screening front-runs the
/// exploiting transaction with a pause in its own block, so it reverts and takes nothing.
#[test]
fn single_transaction_attacks_on_the_public_mempool_are_front_run_in_their_own_block() {
    for name in ["predeployed-flash-loan", "reentrancy"] {
        let (with, without) = with_and_without(name);
        assert!(without.lost_usd > 100_000.0 || without.lost_hbtc > 0.0, "{name} undefended takes funds: {without:?}");
        assert_eq!((with.lost_usd, with.lost_hbtc), (0.0, 0.0), "{name}: the attack got nothing with Vigil");
        let landing = with.last_malicious_block.expect("the attack is on chain, reverted");
        assert_eq!(with.pause_block, Some(landing), "{name}: the pause lands in the attack's own block");
        assert_eq!(with.front_runs_landed, vec![landing], "{name}: it is the screening's front-running pause");
        assert!(with.attack_txs_reverted >= 1, "{name}: the exploiting transaction reverted");
        assert!(with.detection_block.is_some_and(|d| d <= landing), "{name}: alerted by the block it was to land in");
    }
}

/// With private order flow the attack never shows in the mempool: screening cannot act, and the pause comes
/// after the block the attack landed in (too late for a single transaction).
#[test]
fn an_attack_sent_through_private_order_flow_is_not_front_run() {
    let private = vigil_sim::scenario::RunOptions { private_attack: true, ..opts() };
    let r = run_scenario("predeployed-flash-loan", private, true, &config(), 1, |_, _| {}).unwrap();
    assert!(r.lost_usd > 100_000.0, "nothing stopped it before execution: {r:?}");
    assert!(r.front_runs_landed.is_empty(), "{r:?}");
    let landing = r.last_malicious_block.unwrap();
    assert!(r.pause_block.is_some_and(|p| p > landing), "paused after it landed: {r:?}");
}

/// Screening runs every detector on each pending transaction and unwinds them: an engine that screens finds in
/// each canonical block exactly what an engine that never screens finds (benign traffic, through a crash).
#[test]
fn screening_leaves_the_detectors_windows_as_they_were() {
    use vigil_sim::scenario::{find, ScenarioRun};
    let c = config();
    let opts = vigil_sim::scenario::RunOptions { blocks: Some(160), ..opts() };
    let mut run = ScenarioRun::start(find("benign-crash").unwrap(), opts).unwrap();
    let mut screening = vigil::demo::demo_engine(&run, &c, true);
    let mut plain = vigil::demo::demo_engine(&run, &c, true);
    let (mut screened, mut findings) = (0, 0);
    loop {
        for outcome in vigil::demo::screen_pending(&mut run, &mut screening).unwrap() {
            assert!(outcome.outgoing.is_empty(), "no pause on benign traffic");
            screened += 1;
        }
        let Some(block) = run.next_block(vec![]).unwrap() else { break };
        let bundle = run.chain.bundle(&block, plain.probes());
        let a = screening.process(&bundle).unwrap().findings;
        let b = plain.process(&bundle).unwrap().findings;
        assert_eq!(a, b, "block {}", block.number());
        findings += a.len();
    }
    assert!(screened > 500, "screened {screened} pending transactions");
    assert!(findings > 0, "the crash makes findings to compare");
}

#[test]
fn with_the_gate_on_attacks_through_private_order_flow_are_refused_and_honest_users_attested() {
    let c = config();
    for name in ["flash-loan-oracle", "reentrancy", "euler-donation", "predeployed-flash-loan"] {
        let opts = vigil_sim::scenario::RunOptions { private_attack: true, gate: true, ..opts() };
        let with = run_scenario(name, opts.clone(), true, &c, 1, |_, _| {}).unwrap();
        let without = run_scenario(name, opts, false, &c, 1, |_, _| {}).unwrap();
        let gate = with.gate.clone().expect("the gate's figures");
        assert!(without.lost_usd > 100_000.0 || without.lost_hbtc > 1.0, "{name}: undefended, the attack takes funds");
        assert_eq!((with.lost_usd, with.lost_hbtc), (0.0, 0.0), "{name}: {gate:?}");
        assert!(gate.refused_malicious >= 1 && gate.attested_malicious == 0, "{name}: {gate:?}");
        assert!(with.attack_txs_reverted >= 1, "{name}: the refused attack was sent anyway and reverted at the gate");
        assert!(with.pause_block.is_none(), "{name}: private order flow, nothing to front-run: the gate alone acted");
        assert_eq!(gate.false_refusals, 0, "{name}: {:?}", gate.refused_benign_titles);
        assert!(gate.attested_benign > 0, "{name}: young borrowers needed attestations and got them");
        assert!(without.gate.is_none(), "no Vigil, no gate");
    }
}

#[test]
fn gated_benign_traffic_gets_its_attestations_and_fares_as_without_the_gate() {
    let c = config();
    let opts = vigil_sim::scenario::RunOptions { blocks: Some(300), ..opts() };
    let open = run_scenario("benign-crash", opts.clone(), true, &c, 1, |_, _| {}).unwrap();
    let gated =
        run_scenario("benign-crash", vigil_sim::scenario::RunOptions { gate: true, ..opts }, true, &c, 1, |_, _| {})
            .unwrap();
    let gate = gated.gate.clone().unwrap();
    assert!(gate.attested_benign >= 10, "{gate:?}");
    assert_eq!((gate.refused_benign, gate.false_refusals, gate.stale), (0, 0, 0), "{gate:?}");
    // Every attested transaction did what it would have done without the gate.
    assert_eq!(gated.benign_txs_reverted, open.benign_txs_reverted);
    assert_eq!(gated.liquidity, open.liquidity);
    assert!(gated.pauses_landed.is_empty());
}

#[test]
fn a_slow_drain_is_attested_while_it_looks_harmless_and_refused_once_the_detectors_see_it() {
    // The legacy drain's first small borrows look harmless: the node attests them and the attacker's contract
    // carries them (AttestedCaller), so they take what they take. Once the detectors see the drain in a
    // simulated block, the next steps are refused and revert at the gate, before the pause after blocks lands.
    let c = config();
    let private = vigil_sim::scenario::RunOptions { private_attack: true, ..opts() };
    let gated = vigil_sim::scenario::RunOptions { gate: true, ..private.clone() };
    let with_gate = run_scenario("legacy-borrow-drain", gated, true, &c, 1, |_, _| {}).unwrap();
    let without_gate = run_scenario("legacy-borrow-drain", private, true, &c, 1, |_, _| {}).unwrap();
    let gate = with_gate.gate.clone().unwrap();
    assert!(gate.attested_malicious > 0 && gate.refused_malicious > 0, "{gate:?}");
    assert_eq!(gate.false_refusals, 0, "{gate:?}");
    assert!(with_gate.lost_usd > 0.0, "the attested steps took funds: {with_gate:?}");
    assert!(
        with_gate.lost_usd < without_gate.lost_usd,
        "the gate cut the drain short: {} vs {}",
        with_gate.lost_usd,
        without_gate.lost_usd
    );
    eprintln!(
        "legacy-borrow-drain, seed 1, private order flow: lost ${:.0} with the gate, ${:.0} without",
        with_gate.lost_usd, without_gate.lost_usd
    );
}
