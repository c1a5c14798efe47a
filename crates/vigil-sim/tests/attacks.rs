//! Every attack, run against the undefended venue on the in-process EVM, really takes funds (attacker's gain
//! and venue's loss read from chain state), and fails once the Guardian has paused the attacked scope.

use alloy::primitives::U256;
use vigil_contracts::{EulerStyleAttacker, GuardianProtected, LegacyMarket};
use vigil_sim::{
    actors::ORACLE_THRESHOLD, attacks::Attack, pause::pause_scope, state::fmt_units, venue::in_process_venue, Actors,
    InProcessEvm, Venue,
};

fn setup() -> (InProcessEvm, Actors, Venue) {
    in_process_venue().expect("venue deploys")
}

/// Runs `attack` undefended; returns (attacker's gain in dollars, venue's loss in dollars, hBTC taken).
fn run_undefended(attack: Attack) -> (U256, U256, U256) {
    let (mut chain, actors, venue) = setup();
    let prepared = attack.prepare(&mut chain, &actors, &venue).expect("prepare");
    let outcome = attack.execute_measured(&mut chain, &actors, &venue, &prepared).expect("state reads");
    outcome.result.as_ref().unwrap_or_else(|e| panic!("{}: {e}", attack.name()));
    let (gain, loss, hbtc) = (outcome.attacker_gain_usd(), outcome.venue_loss_usd(), outcome.venue_hbtc_loss());
    assert_eq!(hbtc, outcome.attacker_after.hbtc - outcome.attacker_before.hbtc, "hBTC taken went to the attacker");
    println!(
        "{:<20} attacker +${:>14}  venue -${:>14}  hBTC taken {}",
        attack.name(),
        fmt_units(gain, 6),
        fmt_units(loss, 6),
        fmt_units(hbtc, 18)
    );
    (gain, loss, hbtc)
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
    Attack::EulerDonation.execute(&mut chain, &prepared).unwrap();
    let attacker = prepared.contract().unwrap();
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
        let outcome = attack.execute_measured(&mut chain, &actors, &venue, &prepared).expect("state reads");

        let err = outcome.result.as_ref().expect_err(attack.name());
        let paused = err
            .decode::<GuardianProtected::ScopePaused>()
            .unwrap_or_else(|| panic!("{}: expected ScopePaused, got {err}", attack.name()));
        assert_eq!(paused.target, target, "{}", attack.name());

        // Steps before the paused one may have traded (a swap on the pair), but nothing was taken.
        assert_eq!(outcome.venue_loss_usd(), U256::ZERO, "{}: the paused venue lost value", attack.name());
        assert_eq!(outcome.venue_hbtc_loss(), U256::ZERO, "{}", attack.name());
        assert_eq!(outcome.attacker_gain_usd(), U256::ZERO, "{}: the attacker gained value", attack.name());
    }
}
