//! Every attack, run against the undefended venue on the in-process EVM, really takes funds (attacker's gain
//! and venue's loss read from chain state), and fails once the Guardian has paused the attacked scope.

use alloy::primitives::U256;
use vigil_contracts::{EulerStyleAttacker, GuardianProtected, LegacyMarket};
use vigil_sim::{
    actors::ORACLE_THRESHOLD,
    attacks::Attack,
    deploy_venue,
    pause::pause_scope,
    state::{fmt_units, Holdings, VenueState},
    Actors, InProcessEvm, Venue, VenueConfig,
};

fn setup() -> (InProcessEvm, Actors, Venue) {
    let mut chain = InProcessEvm::new();
    let actors = Actors::standard();
    let venue = deploy_venue(&mut chain, &actors, &VenueConfig::default()).expect("venue deploys");
    chain.mine(12);
    (chain, actors, venue)
}

/// Runs `attack` undefended; returns (attacker's gain in dollars, venue's loss in dollars, hBTC moved).
fn run_undefended(attack: Attack) -> (U256, U256, U256) {
    let (mut chain, actors, venue) = setup();
    let prepared = attack.prepare(&mut chain, &actors, &venue).expect("prepare");
    let me = actors.attacker.address();
    let attacker_before = Holdings::read(&mut chain, &venue, me).unwrap();
    let venue_before = VenueState::read(&mut chain, &venue).unwrap();
    attack.execute(&mut chain, &actors, &venue, &prepared).unwrap_or_else(|e| panic!("{}: {e}", attack.name()));
    let attacker_after = Holdings::read(&mut chain, &venue, me).unwrap();
    let venue_after = VenueState::read(&mut chain, &venue).unwrap();

    let prices = venue_before.prices;
    let gain = attacker_after.value_usd(&prices).saturating_sub(attacker_before.value_usd(&prices));
    let loss = venue_before.total().value_usd(&prices).saturating_sub(venue_after.total().value_usd(&prices));
    let hbtc_moved = attacker_after.hbtc.saturating_sub(attacker_before.hbtc);
    assert!(
        venue_before.total().hbtc >= venue_after.total().hbtc,
        "{}: the venue cannot gain hBTC from an attack",
        attack.name()
    );
    println!(
        "{:<20} attacker +${:>14}  venue -${:>14}  hBTC taken {}",
        attack.name(),
        fmt_units(gain, 6),
        fmt_units(loss, 6),
        fmt_units(hbtc_moved, 18)
    );
    (gain, loss, hbtc_moved)
}

fn assert_takes_at_least(attack: Attack, min_dollars: u64) {
    let (gain, loss, _) = run_undefended(attack);
    let min = U256::from(min_dollars) * U256::from(1_000_000u64);
    assert!(gain >= min, "{}: attacker gained ${} < ${min_dollars}", attack.name(), fmt_units(gain, 6));
    assert!(loss >= min, "{}: venue lost ${} < ${min_dollars}", attack.name(), fmt_units(loss, 6));
}

#[test]
fn flash_loan_oracle_manipulation_takes_funds() {
    assert_takes_at_least(Attack::FlashLoanOracle, 300_000);
}

#[test]
fn multi_block_spot_pump_takes_funds() {
    assert_takes_at_least(Attack::SpotPump, 200_000);
}

#[test]
fn legacy_borrow_drain_takes_funds_in_small_steps() {
    assert_takes_at_least(Attack::LegacyBorrowDrain, 150_000);
}

#[test]
fn reentrancy_empties_the_legacy_vault() {
    let (_, _, hbtc) = run_undefended(Attack::Reentrancy);
    assert_eq!(hbtc, U256::from(100u64) * U256::from(10u64).pow(U256::from(18)), "all 100 deposited hBTC taken");
}

#[test]
fn governance_takeover_drains_the_reserve() {
    assert_takes_at_least(Attack::GovernanceTakeover, 1_000_000);
}

#[test]
fn stolen_admin_key_drains_the_reserve() {
    assert_takes_at_least(Attack::AdminKey, 1_500_000);
}

#[test]
fn euler_style_donation_leaves_bad_debt_and_takes_funds() {
    assert_takes_at_least(Attack::EulerDonation, 100_000);

    let (mut chain, actors, venue) = setup();
    let prepared = Attack::EulerDonation.prepare(&mut chain, &actors, &venue).unwrap();
    Attack::EulerDonation.execute(&mut chain, &actors, &venue, &prepared).unwrap();
    let attacker = prepared.contract.unwrap();
    let violator = chain.view(attacker, EulerStyleAttacker::violatorCall {}).unwrap();
    let debt = chain.view(venue.legacy_market, LegacyMarket::dBalanceCall(violator)).unwrap();
    let deposit = chain.view(venue.legacy_market, LegacyMarket::eBalanceCall(violator)).unwrap();
    assert!(debt > U256::from(500_000u64) * U256::from(1_000_000u64), "violator keeps its debt: {debt}");
    assert_eq!(deposit, U256::ZERO, "and has no deposit left: bad debt");
}

#[test]
fn every_attack_fails_once_its_scope_is_paused() {
    for attack in Attack::ALL {
        let (mut chain, actors, venue) = setup();
        let prepared = attack.prepare(&mut chain, &actors, &venue).expect("prepare");
        let (target, scope) = attack.target(&venue);
        pause_scope(&mut chain, venue.guardian, &actors.oracles, ORACLE_THRESHOLD, target, scope).expect("pause lands");
        chain.mine(12);
        let me = actors.attacker.address();
        let attacker_before = Holdings::read(&mut chain, &venue, me).unwrap();
        let venue_before = VenueState::read(&mut chain, &venue).unwrap();
        let prices = venue_before.prices;

        let err = attack.execute(&mut chain, &actors, &venue, &prepared).expect_err(attack.name());
        let paused = err
            .decode::<GuardianProtected::ScopePaused>()
            .unwrap_or_else(|| panic!("{}: expected ScopePaused, got {err}", attack.name()));
        assert_eq!(paused.target, target, "{}", attack.name());

        // Steps before the paused one may have traded (a swap on the pair), but nothing was taken.
        let venue_after = VenueState::read(&mut chain, &venue).unwrap();
        let attacker_after = Holdings::read(&mut chain, &venue, me).unwrap();
        assert!(
            venue_after.total().value_usd(&prices) >= venue_before.total().value_usd(&prices),
            "{}: the paused venue lost value",
            attack.name()
        );
        assert_eq!(venue_after.total().hbtc, venue_before.total().hbtc, "{}", attack.name());
        assert!(
            attacker_after.value_usd(&prices) <= attacker_before.value_usd(&prices),
            "{}: the attacker gained value",
            attack.name()
        );
        assert_eq!(attacker_after.hbtc, attacker_before.hbtc, "{}", attack.name());
    }
}
