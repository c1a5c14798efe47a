//! The SecurityGate on revm, attacked: attestation-gated entry lets a risky call in only with an attestation
//! of the oracle set for this exact call, origin and oracle set, once, before its deadline; and what the check
//! costs in gas.

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use vigil_contracts::{FlashLoanOracleAttack, Guardian, GuardianProtected, MarginPool, SecurityGate};
use vigil_core::{execution_hash, gate_domain, sign_attestation, Attestation};
use vigil_sim::{
    actors::{test_key, ORACLE_THRESHOLD},
    deploy_venue,
    evm::{TxOutcome, CHAIN_ID},
    venue::{approve, initcode, units18, usd, wrap_eth, MARKET_WETH_FEED},
    Actors, ExecError, InProcessEvm, Venue, VenueConfig,
};

struct Fixture {
    chain: InProcessEvm,
    actors: Actors,
    v: Venue,
    user: Address,
}

impl Fixture {
    /// The venue with the gate's rules `active`, and a fresh account with 10 WETH of collateral in the
    /// feed-priced market.
    fn new(active: bool) -> Self {
        let mut chain = InProcessEvm::new();
        let actors = Actors::standard();
        let v = deploy_venue(&mut chain, &actors, &VenueConfig { gate: active, ..Default::default() }).unwrap();
        chain.mine(12);
        let user = test_key(40).address();
        chain.set_balance(user, units18(100));
        wrap_eth(&mut chain, &v, user, units18(10)).unwrap();
        approve(&mut chain, v.weth, user, v.pool, U256::MAX).unwrap();
        let collateral =
            MarginPool::supplyCollateralCall { id: U256::from(MARKET_WETH_FEED), assets: units18(10), onBehalf: user };
        chain.send_call(user, v.pool, collateral).unwrap();
        Fixture { chain, actors, v, user }
    }

    fn borrow(dollars: u64, receiver: Address) -> Bytes {
        MarginPool::borrowCall { id: U256::from(MARKET_WETH_FEED), assets: usd(dollars), receiver }.abi_encode().into()
    }

    fn oracles(&self, n: usize) -> Vec<&PrivateKeySigner> {
        self.actors.oracles.iter().take(n).collect()
    }

    fn version(&mut self) -> U256 {
        self.chain.view(self.v.guardian, Guardian::configVersionCall {}).unwrap()
    }

    /// An attestation for `origin`'s calls `hashes`, signed by `keys`, valid until `deadline`.
    fn attest(
        &mut self,
        origin: Address,
        hashes: Vec<B256>,
        deadline: u64,
        keys: &[&PrivateKeySigner],
    ) -> (Attestation, Vec<Bytes>) {
        let a = Attestation {
            origin,
            deadline: U256::from(deadline),
            configVersion: self.version(),
            executionHashes: hashes,
        };
        let sigs = sign_attestation(&a, &gate_domain(CHAIN_ID, self.v.gate), keys).unwrap();
        (a, sigs)
    }

    fn attested(
        &mut self,
        from: Address,
        to: Address,
        a: &Attestation,
        sigs: Vec<Bytes>,
        data: Bytes,
    ) -> Result<TxOutcome, ExecError> {
        let call = GuardianProtected::attestedCallCall { attestation: a.abi_encode().into(), signatures: sigs, data };
        self.chain.send(from, to, call.abi_encode().into(), U256::ZERO)
    }

    /// The user's borrow of `dollars`, attested by k oracles.
    fn attested_borrow(&mut self, dollars: u64) -> Result<TxOutcome, ExecError> {
        let data = Self::borrow(dollars, self.user);
        let deadline = self.chain.block_number() + 2;
        let keys: Vec<PrivateKeySigner> = self.oracles(ORACLE_THRESHOLD).into_iter().cloned().collect();
        let (a, sigs) = self.attest(
            self.user,
            vec![execution_hash(self.v.pool, self.user, &data)],
            deadline,
            &keys.iter().collect::<Vec<_>>(),
        );
        self.attested(self.user, self.v.pool, &a, sigs, data)
    }
}

fn gate_error(e: &ExecError) -> SecurityGate::SecurityGateErrors {
    e.decode_any::<SecurityGate::SecurityGateErrors>().unwrap_or_else(|| panic!("not a gate error: {e}"))
}

#[test]
fn a_young_caller_needs_an_attestation_for_this_exact_call_used_once() {
    let mut f = Fixture::new(true);
    let (pool, user) = (f.v.pool, f.user);
    let data = Fixture::borrow(10_000, user);
    let e = f.chain.send(user, pool, data.clone(), U256::ZERO).unwrap_err();
    match gate_error(&e) {
        SecurityGate::SecurityGateErrors::AttestationRequired(r) => {
            assert_eq!((r.target, r.caller), (pool, user));
            assert_eq!(r.executionHash, execution_hash(pool, user, &data));
        }
        other => panic!("expected AttestationRequired, got {other:?}"),
    }

    let before = f.chain.view(f.v.usd, vigil_contracts::IERC20::balanceOfCall { account: user }).unwrap();
    let deadline = f.chain.block_number() + 2;
    let keys: Vec<PrivateKeySigner> = f.oracles(ORACLE_THRESHOLD).into_iter().cloned().collect();
    let keys: Vec<&PrivateKeySigner> = keys.iter().collect();
    let (a, sigs) = f.attest(user, vec![execution_hash(pool, user, &data)], deadline, &keys);
    let out = f.attested(user, pool, &a, sigs.clone(), data.clone()).unwrap();
    let after = f.chain.view(f.v.usd, vigil_contracts::IERC20::balanceOfCall { account: user }).unwrap();
    assert_eq!(after - before, usd(10_000), "the attested borrow paid out");
    assert!(out.logs.iter().any(|l| l.address == f.v.gate), "the gate logged the attested checkpoint");

    // The same attestation again (a replay within its deadline).
    let e = f.attested(user, pool, &a, sigs.clone(), data.clone()).unwrap_err();
    assert!(matches!(gate_error(&e), SecurityGate::SecurityGateErrors::AttestationUsed(_)), "{e}");

    // An attestation for this borrow does not cover a larger one (a fresh attestation: another deadline).
    let (a, sigs) = f.attest(user, vec![execution_hash(pool, user, &data)], deadline + 1, &keys);
    let larger = Fixture::borrow(12_000, user);
    let e = f.attested(user, pool, &a, sigs, larger).unwrap_err();
    assert!(matches!(gate_error(&e), SecurityGate::SecurityGateErrors::AttestationRequired(_)), "{e}");

    // Nor one to another receiver.
    let (a, sigs) = f.attest(user, vec![execution_hash(pool, user, &data)], deadline + 2, &keys);
    let elsewhere = Fixture::borrow(10_000, Address::repeat_byte(0x77));
    let e = f.attested(user, pool, &a, sigs, elsewhere).unwrap_err();
    assert!(matches!(gate_error(&e), SecurityGate::SecurityGateErrors::AttestationRequired(_)), "{e}");
}

#[test]
fn forged_foreign_stale_and_short_attestations_are_refused() {
    let mut f = Fixture::new(true);
    let (pool, user) = (f.v.pool, f.user);
    let data = Fixture::borrow(10_000, user);
    let hashes = vec![execution_hash(pool, user, &data)];
    let now = f.chain.block_number();
    let oracles: Vec<PrivateKeySigner> = f.oracles(5).into_iter().cloned().collect();
    let k: Vec<&PrivateKeySigner> = oracles.iter().take(ORACLE_THRESHOLD).collect();
    use SecurityGate::SecurityGateErrors as G;
    let refused = |f: &mut Fixture, a: Attestation, sigs: Vec<Bytes>, from: Address| {
        gate_error(&f.attested(from, pool, &a, sigs, data.clone()).unwrap_err())
    };

    // Signed by keys outside the oracle set.
    let outsiders: Vec<PrivateKeySigner> = (50..53).map(test_key).collect();
    let (a, sigs) = f.attest(user, hashes.clone(), now + 2, &outsiders.iter().collect::<Vec<_>>());
    assert!(matches!(refused(&mut f, a, sigs, user), G::NotASigner(_)));
    // k - 1 oracles.
    let (a, sigs) = f.attest(user, hashes.clone(), now + 2, &k[..ORACLE_THRESHOLD - 1]);
    assert!(matches!(refused(&mut f, a, sigs, user), G::NotEnoughSignatures(_)));
    // One oracle's signature three times.
    let (a, sigs) = f.attest(user, hashes.clone(), now + 2, &k[..1]);
    let tripled = vec![sigs[0].clone(), sigs[0].clone(), sigs[0].clone()];
    assert!(matches!(refused(&mut f, a, tripled, user), G::SignersNotSorted(_)));
    // Another account sends the user's attestation.
    let (a, sigs) = f.attest(user, hashes.clone(), now + 2, &k);
    let thief = f.actors.attacker.address();
    assert!(matches!(refused(&mut f, a, sigs, thief), G::WrongOrigin(_)));
    // Past its deadline, and too far ahead.
    let (a, sigs) = f.attest(user, hashes.clone(), now - 1, &k);
    assert!(matches!(refused(&mut f, a, sigs, user), G::AttestationExpired(_)));
    let (a, sigs) = f.attest(user, hashes.clone(), now + 11, &k);
    assert!(matches!(refused(&mut f, a, sigs, user), G::DeadlineTooFar(_)));
    // Signed for an older oracle set.
    let (mut a, _) = f.attest(user, hashes.clone(), now + 2, &k);
    a.configVersion -= U256::from(1);
    let sigs = sign_attestation(&a, &gate_domain(CHAIN_ID, f.v.gate), &k).unwrap();
    assert!(matches!(refused(&mut f, a, sigs, user), G::WrongConfigVersion(_)));
    // Signed for another chain's gate.
    let (a, _) = f.attest(user, hashes.clone(), now + 2, &k);
    let sigs = sign_attestation(&a, &gate_domain(1, f.v.gate), &k).unwrap();
    assert!(matches!(refused(&mut f, a, sigs, user), G::NotASigner(_)));
    // Nothing in it.
    let (a, sigs) = f.attest(user, vec![], now + 2, &k);
    assert!(matches!(refused(&mut f, a, sigs, user), G::BadExecutionHashes(_)));

    // The same call with a valid attestation passes (the refusals above were about the attestation).
    f.attested_borrow(10_000).unwrap();
}

#[test]
fn past_the_young_window_small_calls_pass_alone_and_large_or_contract_calls_do_not() {
    let mut f = Fixture::new(true);
    let (pool, user) = (f.v.pool, f.user);
    // The gate first sees the user at its first borrow (attested: the user is young then).
    f.attested_borrow(1_000).unwrap();
    f.chain.mine_blocks(vigil_sim::venue::GATE_YOUNG_BLOCKS as u64, 12);
    f.chain.send(user, pool, Fixture::borrow(1_000, user), U256::ZERO).unwrap();

    // Above the amount rule: an attestation again, whatever the age.
    let large = Fixture::borrow(vigil_sim::venue::GATE_AMOUNT_USD + 1, user);
    let e = f.chain.send(user, pool, large, U256::ZERO).unwrap_err();
    assert!(matches!(gate_error(&e), SecurityGate::SecurityGateErrors::AttestationRequired(_)), "{e}");

    // A contract caller: the flash-loan attack, sent through private order flow with no attestation.
    let me = f.actors.attacker.address();
    let attack = f
        .chain
        .deploy(
            me,
            initcode(
                &FlashLoanOracleAttack::BYTECODE,
                FlashLoanOracleAttack::constructorCall {
                    lender_: f.v.flash_lender,
                    pair_: f.v.pair,
                    router_: f.v.router,
                    pool_: f.v.pool,
                    usd_: f.v.usd,
                    weth_: f.v.weth,
                },
            ),
        )
        .unwrap();
    let call = FlashLoanOracleAttack::attackCall {
        flashAmount: usd(2_000_000),
        collateralBps: U256::from(5_000),
        marketId: U256::from(vigil_sim::venue::MARKET_WETH_SPOT),
    };
    let e = f.chain.send(me, attack, call.abi_encode().into(), U256::ZERO).unwrap_err();
    match gate_error(&e) {
        SecurityGate::SecurityGateErrors::AttestationRequired(r) => {
            assert_eq!((r.target, r.caller), (f.v.flash_lender, attack));
        }
        other => panic!("expected AttestationRequired, got {other:?}"),
    }
}

/// Gas of one borrow: without rules, with a rule that finds it not risky, and attested by k = 3 oracles. Printed
/// for docs/screening.md; bounded so that a regression fails.
#[test]
fn gas_of_the_check() {
    let mut off = Fixture::new(false);
    let data = Fixture::borrow(1_000, off.user);
    let first_off = off.chain.send(off.user, off.v.pool, data.clone(), U256::ZERO).unwrap().gas_used;
    let again_off = off.chain.send(off.user, off.v.pool, data.clone(), U256::ZERO).unwrap().gas_used;

    let mut on = Fixture::new(true);
    let attested = on.attested_borrow(1_000).unwrap().gas_used;
    on.chain.mine_blocks(vigil_sim::venue::GATE_YOUNG_BLOCKS as u64, 12);
    let passed = on.chain.send(on.user, on.v.pool, data, U256::ZERO).unwrap().gas_used;
    println!(
        "borrow gas: no rule {first_off} (first) / {again_off} (again); rule, not risky {passed} (+{}); \
         attested by {ORACLE_THRESHOLD} oracles {attested} (+{} over the first borrow without a rule)",
        passed - again_off,
        attested - first_off
    );
    assert!(passed - again_off < 12_000, "a call the rule passes costs {} more", passed - again_off);
    assert!(attested - first_off < 120_000, "an attested call costs {} more", attested - first_off);
}
