//! The Guardian contract on revm: quorum rules, mandates, cooldowns, expiry, governance powers, scope isolation.

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
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
const COOLDOWN: u64 = 600;

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

    fn gov<C: alloy::sol_types::SolCall>(&mut self, call: C) -> Result<(), ExecError> {
        self.chain.send_call(self.governance, self.guardian, call).map(|_| ())
    }

    fn report(&mut self, scope: u64) -> PauseReport {
        let version = self.chain.view(self.guardian, Guardian::configVersionCall {}).unwrap();
        PauseReport {
            target: self.target,
            scope: U256::from(scope),
            incidentId: B256::repeat_byte(scope as u8 + 1),
            evidenceHash: B256::repeat_byte(0xEE),
            observedBlock: U256::from(self.chain.block_number()),
            deadline: U256::from(self.chain.timestamp() + 300),
            configVersion: version,
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
    let mut r = f.report(1);
    r.deadline = U256::from(f.chain.timestamp() + 10 * COOLDOWN);
    let sigs = f.sign(&r, &f.first(2));
    f.submit(r.clone(), sigs.clone()).unwrap();
    let target = f.target;
    f.gov(Guardian::unpauseCall { target, scope: U256::from(1) }).unwrap();
    f.chain.mine(COOLDOWN);
    let err = f.submit(r, sigs).expect_err("must fail");
    assert!(matches!(guardian_error(&err), Guardian::GuardianErrors::ReportAlreadyUsed(_)), "{err}");
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
