//! The demo's promises, through the library: Vigil's pauses land and stop multi-block attacks (losses read from
//! chain state, with and without the response, same seed), and the benign crash is not paused.

use vigil::{
    config::Config,
    demo::{run_scenario, DEMO_CONFIG},
};

/// Seed 1, traced when the embedded detectors read traces.
fn opts() -> vigil_sim::scenario::RunOptions {
    vigil_sim::scenario::RunOptions { seed: 1, tracing: config().needs_traces(), ..Default::default() }
}

fn config() -> Config {
    Config::parse("demo.toml", DEMO_CONFIG).expect("the embedded config is valid")
}

#[test]
fn the_multi_block_price_manipulation_is_stopped_before_the_borrow() {
    let c = config();
    let with = run_scenario("spot-pump", opts(), true, &c, |_, _| {}).unwrap();
    let without = run_scenario("spot-pump", opts(), false, &c, |_, _| {}).unwrap();
    assert!(without.lost_usd > 100_000.0, "undefended, the attack takes funds: {}", without.lost_usd);
    assert!(with.lost_usd < without.lost_usd / 10.0, "with Vigil: {} vs {}", with.lost_usd, without.lost_usd);
    let (first, detected, paused) =
        (with.first_malicious_block.unwrap(), with.detection_block.unwrap(), with.pause_block.unwrap());
    assert!(first <= detected && detected < paused, "{first} ≤ {detected} < {paused}");
    assert!(with.attack_txs_reverted >= 1, "the borrow after the pause reverted on chain");
    assert!(without.pause_block.is_none(), "no pause when the response is off");
    assert_eq!(without.detection_block, with.detection_block, "detection is the same either way");
}

#[test]
fn the_slow_drain_is_cut_short() {
    let c = config();
    let with = run_scenario("legacy-borrow-drain", opts(), true, &c, |_, _| {}).unwrap();
    let without = run_scenario("legacy-borrow-drain", opts(), false, &c, |_, _| {}).unwrap();
    assert!(with.pause_block.is_some());
    assert!(with.lost_usd + 30_000.0 < without.lost_usd, "with {} vs without {}", with.lost_usd, without.lost_usd);
    assert!(with.attack_txs_reverted >= 5, "the borrows after the pause reverted: {}", with.attack_txs_reverted);
}

#[test]
fn a_stolen_admin_key_is_stopped_at_the_role_grant() {
    let c = config();
    let with = run_scenario("admin-key", opts(), true, &c, |_, _| {}).unwrap();
    let without = run_scenario("admin-key", opts(), false, &c, |_, _| {}).unwrap();
    assert!(without.lost_usd > 1_000_000.0);
    assert_eq!(with.lost_usd, 0.0);
    assert_eq!(with.detection_block, with.first_malicious_block, "the role grant itself is detected");
}

#[test]
fn the_benign_crash_is_not_paused() {
    let r = run_scenario("benign-crash", opts(), true, &config(), |_, _| {}).unwrap();
    assert!(r.first_malicious_block.is_none());
    assert_eq!(r.pause_block, None, "no pause on a legitimate crash");
}
