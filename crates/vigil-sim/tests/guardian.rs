//! The Guardian contract on revm: quorum rules, mandates, cooldowns, expiry, governance powers, scope isolation.

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use vigil_contracts::{Guardian, GuardianProtected, MarginPool, WrappedEther};
use vigil_core::{guardian_domain, quorum::report_digest, sign_report, PauseReport};
use vigil_sim::{
    actors::{test_key, ORACLE_THRESHOLD},
    deploy_venue,
    evm::CHAIN_ID,
    pause::pause_scope,
    venue::{units18, usd, MARKET_WETH_FEED, MARKET_WETH_SPOT},
    Actors, ExecError, InProcessEvm, VenueConfig,
};

const MAX_PAUSE: u64 = 3_600;
const COOLDOWN: u64 = 3_600;
/// The default pause budget of a target: at most this many paused seconds in any [`BUDGET_WINDOW`].
const BUDGET: u64 = 7 * 24 * 3600;
const BUDGET_WINDOW: u64 = 30 * 24 * 3600;
const DAY: u64 = 24 * 3600;

struct Fixture {
    chain: InProcessEvm,
    guardian: Address,
    governance: Address,
    signers: Vec<PrivateKeySigner>,
    target: Address,
}

impl Fixture {
    /// A Guardian with `n` signers and threshold `k`, governed by a plain account, with a mandate for
    /// scope 0 and scope 1 of `target`.
    fn new(n: u32, k: u64) -> Self {
        let mut chain = InProcessEvm::new();
        let governance = test_key(20).address();
        let deployer = test_key(21).address();
        let signers: Vec<PrivateKeySigner> = (30..30 + n).map(test_key).collect();
        let guardian = chain
            .deploy(
                deployer,
                vigil_sim::venue::initcode(
                    &Guardian::BYTECODE,
                    Guardian::constructorCall {
                        governance_: governance,
                        signers_: signers.iter().map(|s| s.address()).collect(),
                        threshold_: U256::from(k),
                    },
                ),
            )
            .unwrap();
        let target = Address::repeat_byte(0xAA);
        let mut f = Fixture { chain, guardian, governance, signers, target };
        let expiry = f.chain.timestamp() + 30 * 24 * 3600;
        for scope in [0u64, 1] {
            f.gov(Guardian::grantMandateCall {
                target,
                scope: U256::from(scope),
                maxPauseSeconds: MAX_PAUSE,
                cooldownSeconds: COOLDOWN,
                expiry,
            })
            .unwrap();
        }
        f
    }

    fn grant(&mut self, scope: u64, max_pause: u64, cooldown: u64, expiry: u64) -> Result<(), ExecError> {
        let target = self.target;
        self.gov(Guardian::grantMandateCall {
            target,
            scope: U256::from(scope),
            maxPauseSeconds: max_pause,
            cooldownSeconds: cooldown,
            expiry,
        })
    }

    fn gov<C: alloy::sol_types::SolCall>(&mut self, call: C) -> Result<(), ExecError> {
        self.chain.send_call(self.governance, self.guardian, call).map(|_| ())
    }

    fn report(&mut self, scope: u64) -> PauseReport {
        let version = self.chain.view(self.guardian, Guardian::configVersionCall {}).unwrap();
        let nonce = self
            .chain
            .view(self.guardian, Guardian::nonceOfCall { target: self.target, scope: U256::from(scope) })
            .unwrap();
        PauseReport {
            target: self.target,
            scope: U256::from(scope),
            incidentId: B256::repeat_byte(scope as u8 + 1),
            evidenceHash: B256::repeat_byte(0xEE),
            observedBlock: U256::from(self.chain.block_number()),
            deadline: U256::from(self.chain.timestamp() + 300),
            configVersion: version,
            nonce,
        }
    }

    fn sign(&self, report: &PauseReport, keys: &[&PrivateKeySigner]) -> Vec<Bytes> {
        sign_report(report, &guardian_domain(CHAIN_ID, self.guardian), keys).unwrap()
    }

    fn submit(&mut self, report: PauseReport, signatures: Vec<Bytes>) -> Result<(), ExecError> {
        let sender = test_key(22).address();
        self.chain
            .send_call(sender, self.guardian, Guardian::pauseWithQuorumCall { report: report.into(), signatures })
            .map(|_| ())
    }

    fn first(&self, k: usize) -> Vec<&PrivateKeySigner> {
        self.signers.iter().take(k).collect()
    }

    fn is_paused(&mut self, scope: u64) -> bool {
        self.chain
            .view(self.guardian, Guardian::isPausedCall { target: self.target, scope: U256::from(scope) })
            .unwrap()
    }

    fn pause(&mut self, scope: u64, k: usize) -> Result<(), ExecError> {
        let r = self.report(scope);
        let sigs = self.sign(&r, &self.first(k));
        self.submit(r, sigs)
    }
}

/// Asserts that `result` is a revert whose decoded error is named `name` (the Guardian's custom errors).
fn assert_reverts_with<T: std::fmt::Debug>(result: Result<T, ExecError>, name: &str, what: &str) {
    match result {
        Ok(v) => panic!("{what}: expected {name}, but the transaction succeeded ({v:?})"),
        Err(e) => assert!(e.to_string().contains(&format!("{name}(")), "{what}: expected {name}, got {e}"),
    }
}

fn guardian_error(e: &ExecError) -> Guardian::GuardianErrors {
    e.decode_any::<Guardian::GuardianErrors>().unwrap_or_else(|| panic!("not a Guardian error: {e}"))
}

#[test]
fn quorum_of_k_signers_pauses_and_k_minus_one_does_not() {
    for (n, k) in [(1u32, 1u64), (3, 2), (5, 3)] {
        let mut f = Fixture::new(n, k);
        if k > 1 {
            let err = f.pause(1, k as usize - 1).expect_err("must fail");
            assert!(
                matches!(guardian_error(&err), Guardian::GuardianErrors::NotEnoughSignatures(_)),
                "{k}-of-{n} with {} signatures: {err}",
                k - 1
            );
            assert!(!f.is_paused(1));
        }
        f.pause(1, k as usize).unwrap_or_else(|e| panic!("{k}-of-{n}: {e}"));
        assert!(f.is_paused(1), "{k}-of-{n} pauses");
        assert!(!f.is_paused(2), "another scope is not paused");
    }
}

#[test]
fn all_signers_of_a_larger_set_are_accepted_in_any_given_order() {
    let mut f = Fixture::new(5, 3);
    let r = f.report(0);
    let keys: Vec<&PrivateKeySigner> = f.signers.iter().rev().collect();
    let sigs = f.sign(&r, &keys);
    f.submit(r, sigs).unwrap();
    assert!(f.is_paused(0));
}

#[test]
fn the_contract_hashes_the_report_as_the_signers_do() {
    let mut f = Fixture::new(3, 2);
    let r = f.report(1);
    let on_chain = f.chain.view(f.guardian, Guardian::hashReportCall { r: r.clone().into() }).unwrap();
    assert_eq!(on_chain, report_digest(&r, &guardian_domain(CHAIN_ID, f.guardian)));
}

#[test]
fn a_duplicate_signer_is_rejected() {
    let mut f = Fixture::new(3, 2);
    let r = f.report(1);
    let one = f.sign(&r, &f.first(1)).remove(0);
    let err = f.submit(r, vec![one.clone(), one]).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::SignersNotSorted(_)), "{err}");
    assert!(!f.is_paused(1));
}

#[test]
fn signatures_out_of_order_are_rejected() {
    let mut f = Fixture::new(3, 2);
    let r = f.report(1);
    let mut sigs = f.sign(&r, &f.first(2));
    sigs.reverse();
    let err = f.submit(r, sigs).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::SignersNotSorted(_)), "{err}");
}

#[test]
fn a_non_signer_is_rejected() {
    let mut f = Fixture::new(3, 2);
    let r = f.report(1);
    let outsider = test_key(99);
    let mut keys = f.first(1);
    keys.push(&outsider);
    let sigs = f.sign(&r, &keys);
    let err = f.submit(r, sigs).expect_err("must fail");
    match guardian_error(&err) {
        Guardian::GuardianErrors::NotASigner(e) => assert_eq!(e.recovered, outsider.address()),
        other => panic!("expected NotASigner, got {other:?}"),
    }
}

#[test]
fn an_expired_deadline_is_rejected() {
    let mut f = Fixture::new(3, 2);
    let r = f.report(1);
    let sigs = f.sign(&r, &f.first(2));
    f.chain.mine(301);
    let err = f.submit(r, sigs).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::DeadlinePassed(_)), "{err}");
}

#[test]
fn a_report_signed_for_another_chain_is_rejected() {
    let mut f = Fixture::new(3, 2);
    let r = f.report(1);
    let sigs = sign_report(&r, &guardian_domain(1, f.guardian), &f.first(2)).unwrap();
    let err = f.submit(r, sigs).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::NotASigner(_)), "{err}");
    assert!(!f.is_paused(1));
}

#[test]
fn a_report_for_an_old_config_version_is_rejected() {
    let mut f = Fixture::new(3, 2);
    let old = f.report(1);
    let sigs = f.sign(&old, &f.first(2));
    let same_signers: Vec<Address> = f.signers.iter().map(|s| s.address()).collect();
    f.gov(Guardian::setOracleSetCall { signers_: same_signers, threshold_: U256::from(2) }).unwrap();
    let err = f.submit(old, sigs).expect_err("must fail");
    match guardian_error(&err) {
        Guardian::GuardianErrors::WrongConfigVersion(e) => {
            assert_eq!(e.reportVersion, U256::from(1));
            assert_eq!(e.currentVersion, U256::from(2));
        }
        other => panic!("expected WrongConfigVersion, got {other:?}"),
    }
    f.pause(1, 2).expect("a report for the new version is accepted");
}

#[test]
fn replaced_signers_can_no_longer_pause() {
    let mut f = Fixture::new(3, 2);
    let new_set: Vec<PrivateKeySigner> = (40..43).map(test_key).collect();
    f.gov(Guardian::setOracleSetCall {
        signers_: new_set.iter().map(|s| s.address()).collect(),
        threshold_: U256::from(2),
    })
    .unwrap();
    let err = f.pause(1, 2).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::NotASigner(_)), "{err}");
    f.signers = new_set;
    f.pause(1, 2).unwrap();
}

#[test]
fn no_mandate_is_rejected() {
    let mut f = Fixture::new(3, 2);
    let err = f.pause(7, 2).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::NoMandate(_)), "{err}");
}

#[test]
fn a_revoked_mandate_is_rejected() {
    let mut f = Fixture::new(3, 2);
    let target = f.target;
    f.gov(Guardian::revokeMandateCall { target, scope: U256::from(1) }).unwrap();
    let err = f.pause(1, 2).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::NoMandate(_)), "{err}");
}

#[test]
fn an_expired_mandate_is_rejected() {
    let mut f = Fixture::new(3, 2);
    f.chain.mine(31 * 24 * 3600);
    let err = f.pause(1, 2).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::MandateExpired(_)), "{err}");
}

#[test]
fn the_pause_ends_by_itself_and_the_cooldown_holds() {
    let mut f = Fixture::new(3, 2);
    f.pause(1, 2).unwrap();
    assert!(f.is_paused(1));
    let err = f.pause(1, 2).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::AlreadyPaused(_)), "{err}");

    f.chain.mine(MAX_PAUSE - 1);
    assert!(f.is_paused(1), "still paused one second before the end");
    f.chain.mine(1);
    assert!(!f.is_paused(1), "the pause ended by itself after max pause seconds");

    let err = f.pause(1, 2).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::InCooldown(_)), "{err}");
    f.chain.mine(COOLDOWN);
    f.pause(1, 2).expect("after the cooldown a new report pauses again");
}

#[test]
fn the_same_report_cannot_be_used_twice() {
    let mut f = Fixture::new(3, 2);
    // A report living long enough to outlast the cooldown (governance allows up to a day).
    f.gov(Guardian::setBoundsCall {
        b: Guardian::Bounds {
            minCooldownSeconds: COOLDOWN,
            maxPauseLength: 7 * DAY,
            maxMandateHorizon: 365 * DAY,
            maxReportLifetime: DAY,
        },
    })
    .unwrap();
    let mut r = f.report(1);
    r.deadline = U256::from(f.chain.timestamp() + 3 * COOLDOWN);
    let sigs = f.sign(&r, &f.first(2));
    f.submit(r.clone(), sigs.clone()).unwrap();
    let err = f.submit(r.clone(), sigs.clone()).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::WrongNonce(_)), "{err}");
    let target = f.target;
    f.gov(Guardian::unpauseCall { target, scope: U256::from(1) }).unwrap();
    f.chain.mine(COOLDOWN);
    let err = f.submit(r, sigs).expect_err("must fail");
    match guardian_error(&err) {
        Guardian::GuardianErrors::WrongNonce(e) => {
            assert_eq!((e.reportNonce, e.currentNonce), (U256::from(1), U256::from(3)))
        }
        other => panic!("expected WrongNonce, got {other:?}"),
    }
}

#[test]
fn only_governance_unpauses_or_extends() {
    let mut f = Fixture::new(3, 2);
    f.pause(1, 2).unwrap();
    let target = f.target;
    let stranger = test_key(23).address();
    for call in [
        alloy::sol_types::SolCall::abi_encode(&Guardian::unpauseCall { target, scope: U256::from(1) }),
        alloy::sol_types::SolCall::abi_encode(&Guardian::extendPauseCall {
            target,
            scope: U256::from(1),
            until: f.chain.timestamp() + 10 * MAX_PAUSE,
        }),
    ] {
        for who in [stranger, f.signers[0].address()] {
            let err = f.chain.send(who, f.guardian, call.clone().into(), U256::ZERO).expect_err("must fail");
            assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::NotGovernance(_)), "{err}");
        }
    }

    // Governance extends: still paused after the original end.
    let until = f.chain.timestamp() + 3 * MAX_PAUSE;
    f.gov(Guardian::extendPauseCall { target, scope: U256::from(1), until }).unwrap();
    f.chain.mine(MAX_PAUSE + 10);
    assert!(f.is_paused(1), "the extension holds past the mandate's max pause");

    // Governance unpauses.
    f.gov(Guardian::unpauseCall { target, scope: U256::from(1) }).unwrap();
    assert!(!f.is_paused(1));
    let err = f.gov(Guardian::unpauseCall { target, scope: U256::from(1) }).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::NotPaused(_)), "{err}");
}

#[test]
fn only_governance_changes_signers_and_mandates() {
    let mut f = Fixture::new(3, 2);
    let stranger = test_key(23).address();
    let target = f.target;
    let calls: Vec<Vec<u8>> = vec![
        alloy::sol_types::SolCall::abi_encode(&Guardian::setOracleSetCall {
            signers_: vec![stranger],
            threshold_: U256::from(1),
        }),
        alloy::sol_types::SolCall::abi_encode(&Guardian::grantMandateCall {
            target,
            scope: U256::from(5),
            maxPauseSeconds: 1,
            cooldownSeconds: 0,
            expiry: u64::MAX,
        }),
        alloy::sol_types::SolCall::abi_encode(&Guardian::revokeMandateCall { target, scope: U256::ZERO }),
        alloy::sol_types::SolCall::abi_encode(&Guardian::transferGovernanceCall { newGovernance: stranger }),
    ];
    for call in calls {
        let err = f.chain.send(stranger, f.guardian, call.into(), U256::ZERO).expect_err("must fail");
        assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::NotGovernance(_)), "{err}");
    }
}

#[test]
fn bad_oracle_sets_are_refused() {
    let mut f = Fixture::new(3, 2);
    let a = test_key(50).address();
    for (signers, k) in [(vec![], 1u64), (vec![a], 0), (vec![a], 2), (vec![a, a], 1)] {
        let err =
            f.gov(Guardian::setOracleSetCall { signers_: signers, threshold_: U256::from(k) }).expect_err("must fail");
        assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::BadOracleSet(_)), "{err}");
    }
}

#[test]
fn a_pause_emits_an_event_naming_its_signers() {
    let mut f = Fixture::new(5, 3);
    let r = f.report(1);
    let keys = f.first(3);
    let sigs = f.sign(&r, &keys);
    let mut expected: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    expected.sort();
    let outcome = f
        .chain
        .send(
            test_key(22).address(),
            f.guardian,
            alloy::sol_types::SolCall::abi_encode(&Guardian::pauseWithQuorumCall {
                report: r.clone().into(),
                signatures: sigs,
            })
            .into(),
            U256::ZERO,
        )
        .unwrap();
    let log = outcome.logs.iter().find_map(|l| Guardian::Paused::decode_log(l).ok()).expect("Paused event");
    assert_eq!(log.target, f.target);
    assert_eq!(log.scope, U256::from(1));
    assert_eq!(log.incidentId, r.incidentId);
    assert_eq!(log.signers, expected);
    assert_eq!(log.pausedUntil, f.chain.timestamp() + MAX_PAUSE);
}

#[test]
fn pausing_one_market_leaves_the_others_working() {
    let mut chain = InProcessEvm::new();
    let actors = Actors::standard();
    let v = deploy_venue(&mut chain, &actors, &VenueConfig::default()).unwrap();
    let borrower = actors.borrower.address();
    vigil_sim::venue::approve(&mut chain, v.weth, borrower, v.pool, U256::MAX).unwrap();
    for id in [MARKET_WETH_FEED, MARKET_WETH_SPOT] {
        chain
            .send_call(
                borrower,
                v.pool,
                MarginPool::supplyCollateralCall { id: U256::from(id), assets: units18(10), onBehalf: borrower },
            )
            .unwrap();
    }

    pause_scope(&mut chain, v.guardian, &actors.oracles, ORACLE_THRESHOLD, v.pool, MARKET_WETH_SPOT).unwrap();

    let borrow = |id: u64| MarginPool::borrowCall { id: U256::from(id), assets: usd(1_000), receiver: borrower };
    chain.send_call(borrower, v.pool, borrow(MARKET_WETH_FEED)).expect("the feed-priced market still lends");
    let err = chain.send_call(borrower, v.pool, borrow(MARKET_WETH_SPOT)).map(|_| ()).expect_err("must fail");
    let paused = err.decode::<GuardianProtected::ScopePaused>().expect("ScopePaused");
    assert_eq!((paused.target, paused.scope), (v.pool, U256::from(MARKET_WETH_SPOT)));
    // Other contracts of the venue are unaffected.
    chain
        .send(borrower, v.weth, alloy::sol_types::SolCall::abi_encode(&WrappedEther::depositCall {}).into(), units18(1))
        .unwrap();

    // Scope 0 pauses every market of the pool.
    pause_scope(&mut chain, v.guardian, &actors.oracles, ORACLE_THRESHOLD, v.pool, 0).unwrap();
    let err = chain.send_call(borrower, v.pool, borrow(MARKET_WETH_FEED)).map(|_| ()).expect_err("must fail");
    assert!(err.decode::<GuardianProtected::ScopePaused>().is_some(), "{err}");
}

// ---------------------------------------------------------------- attacks on the Guardian itself (threat model)

/// Property: no quorum keeps any segment of a target paused for more than the target's pause budget in any
/// rolling window. The attack alternates the whole-target scope 0 and the segment's own scope, each pausing as
/// soon as the other's pause ends (each scope's cooldown runs while the other holds the segment).
#[test]
fn a_quorum_cannot_keep_a_segment_paused_beyond_the_budget_by_alternating_scopes() {
    let mut f = Fixture::new(3, 2);
    let expiry = f.chain.timestamp() + 90 * DAY;
    for scope in [0, 1] {
        f.grant(scope, MAX_PAUSE, COOLDOWN, expiry).unwrap();
    }
    const STEP: u64 = MAX_PAUSE / 2;
    let mut samples = Vec::new();
    let mut accepted = 0;
    for _ in 0..(60 * DAY / STEP) {
        if !f.is_paused(1) {
            for scope in [1, 0] {
                if f.pause(scope, 2).is_ok() {
                    accepted += 1;
                    break;
                }
            }
        }
        samples.push(f.is_paused(1));
        f.chain.mine(STEP);
    }
    let per_window = (BUDGET_WINDOW / STEP) as usize;
    let worst = samples.windows(per_window).map(|w| w.iter().filter(|p| **p).count() as u64 * STEP).max().unwrap();
    assert!(
        worst <= BUDGET,
        "segment 1 was paused {worst} s ({} days) in one {BUDGET_WINDOW} s window, over the budget of {BUDGET} s \
         ({accepted} pauses accepted in 60 days)",
        worst / DAY
    );
    assert!(samples[(BUDGET_WINDOW / STEP) as usize..].iter().any(|p| *p), "a new window gives a new budget");
}

/// Property: a pause that governance lifts stays lifted for the cooldown, whichever scope the oracle uses.
#[test]
fn governance_lifting_a_pause_is_not_undone_through_another_scope() {
    let mut f = Fixture::new(3, 2);
    let expiry = f.chain.timestamp() + 30 * DAY;
    for scope in [2, 3] {
        f.grant(scope, MAX_PAUSE, COOLDOWN, expiry).unwrap();
    }
    let target = f.target;
    f.pause(0, 2).unwrap();
    f.gov(Guardian::unpauseCall { target, scope: U256::ZERO }).unwrap();
    for scope in [1, 2, 3] {
        assert_reverts_with(f.pause(scope, 2), "InCooldown", &format!("scope {scope} right after unpause(t, 0)"));
        assert!(!f.is_paused(scope), "segment {scope} stays unpaused");
    }

    // Lifting one segment: the whole-target scope may not re-pause it either.
    f.chain.mine(COOLDOWN);
    f.pause(2, 2).unwrap();
    f.gov(Guardian::unpauseCall { target, scope: U256::from(2) }).unwrap();
    assert_reverts_with(f.pause(0, 2), "InCooldown", "scope 0 right after unpause(t, 2)");
    assert!(!f.is_paused(2));
    f.pause(3, 2).expect("another segment may still be paused");
    f.chain.mine(COOLDOWN);
    f.pause(2, 2).expect("after the cooldown the segment may be paused again");
}

/// Property: a mandate's numbers stay inside governance's bounds, and out-of-range numbers are refused with a
/// custom error at grant time, never accepted to make later pauses fail with an arithmetic panic.
#[test]
fn a_mandate_outside_the_bounds_is_refused_with_a_custom_error() {
    let mut f = Fixture::new(3, 2);
    let now = f.chain.timestamp();
    let cases = [
        ("zero cooldown", MAX_PAUSE, 0, now + DAY),
        ("cooldown under the minimum", MAX_PAUSE, 59 * 60, now + DAY),
        ("pause over the maximum", 7 * DAY + 1, COOLDOWN, now + DAY),
        ("expiry beyond the horizon", MAX_PAUSE, COOLDOWN, now + 3 * 365 * DAY),
        ("uint64 max pause", u64::MAX, COOLDOWN, now + DAY),
        ("uint64 max cooldown", MAX_PAUSE, u64::MAX, now + DAY),
        ("uint64 max expiry", MAX_PAUSE, COOLDOWN, u64::MAX),
        ("uint64 max everything", u64::MAX, u64::MAX, u64::MAX),
    ];
    let mut wrong = Vec::new();
    for (i, (what, max_pause, cooldown, expiry)) in cases.into_iter().enumerate() {
        let scope = 10 + i as u64;
        match f.grant(scope, max_pause, cooldown, expiry) {
            Err(e) if e.to_string().contains("MandateOutOfBounds(") => {}
            Err(e) => wrong.push(format!("{what}: refused with another error: {e}")),
            Ok(()) => {
                let later = f.pause(scope, 2).map(|_| "accepted".to_string()).unwrap_or_else(|e| e.to_string());
                wrong.push(format!("{what}: the mandate was granted; a pause under it is then {later}"));
            }
        }
    }
    assert!(wrong.is_empty(), "mandates outside the bounds:\n{}", wrong.join("\n"));
    f.grant(20, 7 * DAY, COOLDOWN, now + 365 * DAY).expect("the bounds themselves are allowed");
    f.pause(20, 2).expect("a pause under a mandate at the bounds works");
}

/// Property: a signed report is usable for at most the max report lifetime.
#[test]
fn a_report_living_longer_than_the_max_lifetime_is_refused() {
    let mut f = Fixture::new(3, 2);
    let mut r = f.report(1);
    r.deadline = U256::from(f.chain.timestamp() + 30 * DAY);
    let sigs = f.sign(&r, &f.first(2));
    assert_reverts_with(f.submit(r, sigs), "ReportLifetimeTooLong", "a report valid for 30 days");
    assert!(!f.is_paused(1));
    let mut r = f.report(1);
    r.deadline = U256::from(f.chain.timestamp() + 600);
    let sigs = f.sign(&r, &f.first(2));
    f.submit(r, sigs).expect("a report valid for the max lifetime is accepted");
}

/// Property: a report signed but never landed is void once the scope's state moves on (here: governance
/// changes the mandate), so a stranger holding it cannot land it later.
#[test]
fn a_leftover_report_is_void_once_governance_changes_the_mandate() {
    let mut f = Fixture::new(3, 2);
    let leftover = f.report(1);
    let sigs = f.sign(&leftover, &f.first(2));
    let expiry = f.chain.timestamp() + 30 * DAY;
    f.grant(1, MAX_PAUSE / 2, 2 * COOLDOWN, expiry).unwrap();
    assert_reverts_with(f.submit(leftover, sigs), "WrongNonce", "the leftover report after a mandate change");
    assert!(!f.is_paused(1));
    f.pause(1, 2).expect("a fresh report at the current nonce is accepted");
}

/// Property: governance passes only to an address that accepts it; a mistyped address changes nothing.
#[test]
fn governance_transfer_takes_two_steps() {
    let mut f = Fixture::new(3, 2);
    let typo = Address::repeat_byte(0x0d);
    f.gov(Guardian::transferGovernanceCall { newGovernance: typo }).unwrap();
    let now = f.chain.view(f.guardian, Guardian::governanceCall {}).unwrap();
    assert_eq!(now, f.governance, "governance must not change before the new address accepts");
    let expiry = f.chain.timestamp() + DAY;
    f.grant(5, MAX_PAUSE, COOLDOWN, expiry).expect("the old governance still governs");

    let next = test_key(24).address();
    f.gov(Guardian::transferGovernanceCall { newGovernance: next }).unwrap();
    let accept = alloy::sol_types::SolCall::abi_encode(&Guardian::acceptGovernanceCall {});
    for who in [typo, test_key(23).address(), f.governance] {
        f.chain.send(who, f.guardian, accept.clone().into(), U256::ZERO).expect_err("only the pending address accepts");
    }
    f.chain.send(next, f.guardian, accept.into(), U256::ZERO).expect("the pending address accepts");
    assert_eq!(f.chain.view(f.guardian, Guardian::governanceCall {}).unwrap(), next);
    assert_reverts_with(f.grant(6, MAX_PAUSE, COOLDOWN, expiry), "NotGovernance", "the previous governance");
}

/// Property: the oracle set is a strict-majority quorum of at most 31 signers (OCR2's rules).
#[test]
fn an_oracle_set_without_a_strict_majority_or_too_large_is_refused() {
    let mut f = Fixture::new(3, 2);
    let keys = |n: u8| (0..n).map(|i| Address::repeat_byte(0x40 + i)).collect::<Vec<_>>();
    for (n, k) in [(64u8, 1u64), (2, 1), (4, 2), (5, 2), (32, 17), (31, 15), (3, 4)] {
        assert_reverts_with(
            f.gov(Guardian::setOracleSetCall { signers_: keys(n), threshold_: U256::from(k) }),
            "BadOracleSet",
            &format!("{k}-of-{n}"),
        );
    }
    for (n, k) in [(1u8, 1u64), (2, 2), (3, 2), (4, 3), (31, 16), (31, 31)] {
        f.gov(Guardian::setOracleSetCall { signers_: keys(n), threshold_: U256::from(k) })
            .unwrap_or_else(|e| panic!("{k}-of-{n} is a valid set: {e}"));
    }
}

/// Property: a pause stops what drains a market but keeps open what makes it safer: repaying, adding
/// collateral and liquidating (Aave's freeze, Compound's per-action pause), so a pause does not turn falling
/// collateral into bad debt.
#[test]
fn repay_collateral_and_liquidation_stay_open_during_a_pause() {
    let mut chain = InProcessEvm::new();
    let actors = Actors::standard();
    let v = deploy_venue(&mut chain, &actors, &VenueConfig::default()).unwrap();
    let (borrower, liquidator) = (actors.borrower.address(), actors.trader.address());
    let id = U256::from(MARKET_WETH_FEED);
    for who in [borrower, liquidator] {
        vigil_sim::venue::approve(&mut chain, v.weth, who, v.pool, U256::MAX).unwrap();
        vigil_sim::venue::approve(&mut chain, v.usd, who, v.pool, U256::MAX).unwrap();
    }
    chain
        .send_call(borrower, v.pool, MarginPool::supplyCollateralCall { id, assets: units18(10), onBehalf: borrower })
        .unwrap();
    chain.send_call(borrower, v.pool, MarginPool::borrowCall { id, assets: usd(20_000), receiver: borrower }).unwrap();

    pause_scope(&mut chain, v.guardian, &actors.oracles, ORACLE_THRESHOLD, v.pool, MARKET_WETH_FEED).unwrap();

    // What drains is stopped.
    let stopped: Vec<(&str, Address, Vec<u8>)> = vec![
        ("borrow", borrower, MarginPool::borrowCall { id, assets: usd(1_000), receiver: borrower }.abi_encode()),
        (
            "withdrawCollateral",
            borrower,
            MarginPool::withdrawCollateralCall { id, assets: units18(1), receiver: borrower }.abi_encode(),
        ),
        ("supply", liquidator, MarginPool::supplyCall { id, assets: usd(1_000), onBehalf: liquidator }.abi_encode()),
        (
            "withdraw",
            actors.lender.address(),
            MarginPool::withdrawCall { id, shares: usd(1_000), receiver: actors.lender.address() }.abi_encode(),
        ),
    ];
    for (what, who, data) in stopped {
        let err = chain.send(who, v.pool, data.into(), U256::ZERO).expect_err(what);
        assert!(err.decode::<GuardianProtected::ScopePaused>().is_some(), "{what}: {err}");
    }

    // What makes the market safer stays open.
    chain
        .send_call(borrower, v.pool, MarginPool::repayCall { id, assets: usd(2_000), onBehalf: borrower })
        .unwrap_or_else(|e| panic!("repay during a pause: {e}"));
    chain
        .send_call(borrower, v.pool, MarginPool::supplyCollateralCall { id, assets: units18(1), onBehalf: borrower })
        .unwrap_or_else(|e| panic!("adding collateral during a pause: {e}"));
    chain
        .send_call(
            actors.keeper.address(),
            v.eth_feed,
            vigil_contracts::PriceFeed::submitCall { answer: vigil_sim::venue::feed_answer(1_500.0) },
        )
        .unwrap();
    chain
        .send_call(liquidator, v.pool, MarginPool::liquidateCall { id, borrower, repayAssets: usd(5_000) })
        .unwrap_or_else(|e| panic!("liquidating an unhealthy borrower during a pause: {e}"));
}

#[test]
fn the_venue_hands_the_guardian_to_the_timelock_which_accepts_it() {
    let mut chain = InProcessEvm::new();
    let actors = Actors::standard();
    let cfg = VenueConfig::default();
    let v = deploy_venue(&mut chain, &actors, &cfg).unwrap();
    assert_eq!(chain.view(v.guardian, Guardian::governanceCall {}).unwrap(), v.timelock);
    assert_eq!(chain.view(v.guardian, Guardian::pendingGovernanceCall {}).unwrap(), Address::ZERO);
    let delay = chain.view(v.timelock, vigil_contracts::VenueTimelock::getMinDelayCall {}).unwrap();
    assert_eq!(delay, U256::from(cfg.timelock_delay), "the timelock's delay is set after the bootstrap");
    let proposer = chain.view(v.timelock, vigil_contracts::VenueTimelock::PROPOSER_ROLECall {}).unwrap();
    let deployer_proposes = chain
        .view(
            v.timelock,
            vigil_contracts::VenueTimelock::hasRoleCall { role: proposer, account: actors.deployer.address() },
        )
        .unwrap();
    assert!(!deployer_proposes, "the deployer keeps no role");
}

/// Property: the node never sends a pause the Guardian rejects, and never holds back one it would take. Over a
/// long run of pauses, governance actions (unpause, extend, revoke, re-grant, short mandates) and time steps, on
/// three scopes of one target, the node's reading of `snapshot()` (`GuardianView::admit`) is compared with what
/// `pauseWithQuorum` really does at that moment; every refusal must name the error the contract reverts with.
#[test]
fn the_node_admits_exactly_the_pauses_the_guardian_accepts() {
    use vigil_core::{Refusal, Scope};
    use vigil_respond::GuardianView;

    let mut f = Fixture::new(3, 2);
    let target = f.target;
    let expiry = f.chain.timestamp() + 20 * DAY;
    f.grant(2, MAX_PAUSE, COOLDOWN, expiry).unwrap();
    let ours: Vec<Address> = f.first(2).iter().map(|k| k.address()).collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut seen = std::collections::BTreeMap::<&str, u32>::new();
    for step in 0..800 {
        match next(10) {
            0 | 4 => {
                // Governance lifts a pause in force, whole-target pauses first.
                let now = f.chain.timestamp();
                let paused = (0..4u64).find(|&s| {
                    let p = f.chain.view(f.guardian, Guardian::pauseStateCall { target, scope: U256::from(s) });
                    p.unwrap().pausedUntil > now
                });
                if let Some(scope) = paused {
                    f.gov(Guardian::unpauseCall { target, scope: U256::from(scope) }).unwrap();
                }
            }
            1 => {
                let scope = U256::from(next(4));
                let until = f.chain.timestamp() + 2 * MAX_PAUSE;
                f.gov(Guardian::extendPauseCall { target, scope, until }).ok();
            }
            2 if next(4) == 0 => {
                f.gov(Guardian::revokeMandateCall { target, scope: U256::from(next(4)) }).ok();
            }
            3 => {
                let expiry = f.chain.timestamp() + [600, 3 * DAY, 20 * DAY][next(3) as usize];
                f.grant(next(4), MAX_PAUSE, COOLDOWN, expiry).ok();
            }
            _ => {}
        }
        f.chain.mine([12, 600, 1_800, 4 * 3_600][next(4) as usize]);
        let raw = f.chain.call_raw(f.guardian, Guardian::snapshotCall {}.abi_encode().into()).unwrap();
        let view = GuardianView::decode(&raw).unwrap();
        assert_eq!(view.timestamp, f.chain.timestamp());
        let id = next(4);
        let scope = Scope::segment(target, id);
        let k = if next(20) == 0 { 1 } else { 2 };
        let node = view.admit(scope, f.chain.timestamp(), &ours[..k]);
        let chain = f.pause(id, k);
        let (name, expected) = match node {
            Ok(_) => ("admitted", None),
            Err(Refusal::NoMandate) => ("NoMandate", Some("NoMandate")),
            Err(Refusal::MandateExpired { .. }) => ("MandateExpired", Some("MandateExpired")),
            Err(Refusal::AlreadyPaused { .. }) if f.is_paused(0) && id != 0 => {
                // The node stands down for a segment when the whole target is paused; the contract would take it.
                seen.entry("covered").and_modify(|n| *n += 1).or_insert(1);
                continue;
            }
            Err(Refusal::AlreadyPaused { .. }) => ("AlreadyPaused", Some("AlreadyPaused")),
            Err(Refusal::InCooldown { .. }) => ("InCooldown", Some("InCooldown")),
            Err(Refusal::TargetInCooldown { .. }) => ("TargetInCooldown", Some("InCooldown")),
            Err(Refusal::BudgetExhausted { .. }) => ("BudgetExhausted", Some("PauseBudgetExhausted")),
            Err(Refusal::TooFewSigners { .. }) => ("TooFewSigners", Some("NotEnoughSignatures")),
            Err(r @ Refusal::QuorumUnreachable { .. }) => unreachable!("the Guardian's rules never say {r}"),
        };
        *seen.entry(name).or_default() += 1;
        match (expected, chain) {
            (None, Ok(())) => {}
            (None, Err(e)) => {
                panic!("step {step}: the node would send a pause of scope {id} the Guardian rejects: {e}")
            }
            (Some(_), Ok(())) => {
                panic!("step {step}: the node holds back ({name}) a pause of scope {id} the Guardian takes")
            }
            (Some(error), Err(e)) => {
                assert!(e.to_string().contains(&format!("{error}(")), "step {step}: node says {name}, chain says {e}")
            }
        }
    }
    for reason in [
        "admitted",
        "NoMandate",
        "MandateExpired",
        "AlreadyPaused",
        "InCooldown",
        "TargetInCooldown",
        "BudgetExhausted",
        "TooFewSigners",
    ] {
        assert!(seen.contains_key(reason), "the run never met `{reason}`: {seen:?}");
    }
}

/// The oracle network's share book (`vigil_respond::ShareBook`) against the real Guardian: shares signed one
/// node at a time and counted by the book land as a quorum; each share the book refuses belongs to a report, or
/// is a signature, that `pauseWithQuorum` refuses with the matching error.
#[test]
fn the_share_book_counts_exactly_the_shares_the_guardian_accepts() {
    use vigil_respond::{GuardianView, ShareBook, ShareRejection};

    let mut f = Fixture::new(5, 3);
    let view = |f: &mut Fixture| {
        let raw = f.chain.call_raw(f.guardian, Guardian::snapshotCall {}.abi_encode().into()).unwrap();
        GuardianView::decode(&raw).unwrap()
    };
    let mut book = ShareBook::new(CHAIN_ID, f.guardian);
    let v = view(&mut f);

    // Each rule the book applies, and the error the Guardian gives the same report signed by k members.
    let outsider = test_key(99);
    let mut refused = Vec::new();
    let base = f.report(1);
    let variants: Vec<(PauseReport, &str)> = vec![
        (PauseReport { configVersion: base.configVersion + U256::from(1), ..base.clone() }, "WrongConfigVersion"),
        (PauseReport { deadline: U256::from(f.chain.timestamp() - 1), ..base.clone() }, "DeadlinePassed"),
        (PauseReport { deadline: U256::from(f.chain.timestamp() + 3_600), ..base.clone() }, "ReportLifetimeTooLong"),
        (PauseReport { scope: U256::from(7), nonce: U256::ZERO, ..base.clone() }, "NoMandate"),
        (PauseReport { nonce: base.nonce + U256::from(1), ..base.clone() }, "WrongNonce"),
    ];
    for (report, error) in variants {
        let share = book.sign(report.clone(), &f.signers[0]).unwrap();
        let rejection = book.add(&share, &v).expect_err(error);
        refused.push(rejection.kind());
        let sigs = f.sign(&report, &f.first(3));
        assert_reverts_with(f.submit(report, sigs), error, rejection.kind());
    }
    assert_eq!(refused, ["wrong-version", "expired", "too-long", "no-mandate", "wrong-nonce"]);
    // Several rules broken at once: the book names the one the contract names (its order).
    let many = PauseReport { configVersion: U256::from(9), nonce: U256::from(9), ..base.clone() };
    let share = book.sign(many.clone(), &f.signers[0]).unwrap();
    assert_eq!(book.add(&share, &v).unwrap_err().kind(), "wrong-version");
    let sigs = f.sign(&many, &f.first(3));
    assert_reverts_with(f.submit(many, sigs), "WrongConfigVersion", "version and nonce wrong");

    // A share from outside the set: refused by the book, and by the Guardian inside an otherwise valid quorum.
    let forged = book.sign(base.clone(), &outsider).unwrap();
    assert!(matches!(book.add(&forged, &v), Err(ShareRejection::NotASigner { .. })));
    let mut with_outsider = f.first(2);
    with_outsider.push(&outsider);
    let sigs = f.sign(&base, &with_outsider);
    assert_reverts_with(f.submit(base.clone(), sigs), "NotASigner", "an outsider's signature");

    // Three members, one share each, counted one at a time: the third makes the quorum, and it lands.
    let mut counted = None;
    for k in f.signers.iter().skip(1).take(3) {
        counted = Some(book.add(&book.sign(base.clone(), k).unwrap(), &v).unwrap());
    }
    let counted = counted.unwrap();
    assert!(counted.quorum);
    let (report, sigs) = book.quorum(counted.digest, v.threshold).unwrap();
    f.submit(report.clone(), sigs.clone()).unwrap();
    assert!(f.is_paused(1));

    // Replayed: the same quorum again is refused on chain, and the book voids it at the next state.
    assert_reverts_with(f.submit(report.clone(), sigs), "WrongNonce", "the quorum replayed");
    let after = view(&mut f);
    assert_eq!(book.prune(&after), 1);
    let again = book.sign(report, &f.signers[4]).unwrap();
    assert!(matches!(book.add(&again, &after), Err(ShareRejection::WrongNonce { .. })));
}
