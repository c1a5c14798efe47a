//! The same contracts on a real node: the venue deploys to anvil (npm package
//! `@foundry-rs/anvil-linux-amd64`, started here on 127.0.0.1) through alloy, and the flash-loan attack takes
//! exactly what it takes on the in-process EVM.

use alloy::primitives::U256;

use alloy::node_bindings::AnvilInstance;
use vigil_contracts::GuardianProtected;
use vigil_sim::{
    actors::ORACLE_THRESHOLD,
    attacks::{Attack, AttackOutcome},
    deploy_venue,
    pause::pause_scope,
    Actors, Backend, InProcessEvm, NodeBackend, Venue, VenueConfig,
};

fn start_anvil() -> (AnvilInstance, NodeBackend) {
    let anvil = vigil_sim::node::anvil().unwrap_or_else(|e| panic!("{e}")).try_spawn().expect("anvil starts");
    let node = NodeBackend::connect(&anvil.endpoint(), &Actors::standard().all_keys()).expect("connect");
    (anvil, node)
}

/// Deploys, prepares and runs `attack`, measuring what it changed.
fn run<B: Backend>(chain: &mut B, attack: Attack) -> (Venue, AttackOutcome) {
    let actors = Actors::standard();
    let venue = deploy_venue(chain, &actors, &VenueConfig::default()).expect("venue deploys");
    let prepared = attack.prepare(chain, &actors, &venue).expect("prepare");
    let outcome = attack.execute_measured(chain, &actors, &venue, &prepared).expect("state reads");
    outcome.result.as_ref().expect("attack runs");
    (venue, outcome)
}

#[test]
fn the_flash_loan_attack_has_the_same_outcome_on_anvil_and_on_revm() {
    let (_anvil, mut node) = start_anvil();
    let (venue_node, on_node) = run(&mut node, Attack::FlashLoanOracle);

    let mut evm = InProcessEvm::new();
    let (venue_evm, on_evm) = run(&mut evm, Attack::FlashLoanOracle);

    assert_eq!(venue_node, venue_evm, "same senders and nonces give the same addresses");
    assert_eq!(on_node.attacker_before, on_evm.attacker_before);
    assert_eq!(on_node.attacker_after, on_evm.attacker_after, "the attacker takes the same on both");
    assert!(on_node.attacker_gain_usd() > U256::from(300_000_000_000u64), "more than $300k");
    assert_eq!(on_node.venue_loss_usd(), on_evm.venue_loss_usd());
    for ((name, _, n), (_, _, e)) in on_node.venue_after.holdings.iter().zip(&on_evm.venue_after.holdings) {
        assert_eq!(n, e, "{name} holds the same after the attack");
    }
    assert_eq!(on_node.venue_after.markets, on_evm.venue_after.markets);
}

#[test]
fn a_quorum_pause_signed_in_rust_lands_on_anvil_and_stops_the_attack() {
    let (_anvil, mut node) = start_anvil();
    let actors = Actors::standard();
    let venue = deploy_venue(&mut node, &actors, &VenueConfig::default()).unwrap();
    let attack = Attack::FlashLoanOracle;
    let prepared = attack.prepare(&mut node, &actors, &venue).unwrap();
    let (target, scope) = attack.target(&venue);
    pause_scope(&mut node, venue.guardian, &actors.oracles, ORACLE_THRESHOLD, target, scope).unwrap();
    let err = attack.execute(&mut node, &prepared).expect_err("paused");
    let paused = err.decode::<GuardianProtected::ScopePaused>().unwrap_or_else(|| panic!("not ScopePaused: {err}"));
    assert_eq!(paused.target, target);
}
