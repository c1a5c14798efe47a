//! The OperatorRegistry on revm: each rule it promises, and the transaction that tries to break it. Slashing
//! evidence is a real report digest computed by a deployed Guardian and real secp256k1 signatures of it.

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use vigil_contracts::{Guardian, IReportHasher, OperatorRegistry, RegistryReentrancy};
use vigil_core::{guardian_domain, sign_report, PauseReport};
use vigil_sim::{actors::test_key, evm::CHAIN_ID, venue::initcode, ExecError, InProcessEvm};

const ETH: u128 = 1_000_000_000_000_000_000;
const MIN_BOND: u128 = 10 * ETH;
const DELAY: u64 = 14 * 24 * 3600;

struct Fixture {
    chain: InProcessEvm,
    guardian: Address,
    registry: Address,
    governance: Address,
    treasury: Address,
    operators: Vec<PrivateKeySigner>,
}

fn eth(n: u128) -> U256 {
    U256::from(n * ETH)
}

impl Fixture {
    /// A Guardian with five signers (k = 3), a registry on it with a 10 ETH minimum bond and a 14-day delay, and
    /// the five operators registered with 20 ETH each.
    fn new() -> Self {
        let mut chain = InProcessEvm::new();
        let governance = test_key(20).address();
        let deployer = test_key(21).address();
        let treasury = Address::repeat_byte(0x7E);
        let operators: Vec<PrivateKeySigner> = (30..35).map(test_key).collect();
        let guardian = chain
            .deploy(
                deployer,
                initcode(
                    &Guardian::BYTECODE,
                    Guardian::constructorCall {
                        governance_: governance,
                        signers_: operators.iter().map(|s| s.address()).collect(),
                        threshold_: U256::from(3),
                    },
                ),
            )
            .unwrap();
        let registry = chain
            .deploy(
                deployer,
                initcode(
                    &OperatorRegistry::BYTECODE,
                    OperatorRegistry::constructorCall {
                        guardian_: guardian,
                        governance_: governance,
                        beneficiary_: treasury,
                        minBond_: U256::from(MIN_BOND),
                        withdrawalDelay_: DELAY,
                    },
                ),
            )
            .unwrap();
        for who in [governance, deployer] {
            chain.set_balance(who, eth(1_000));
        }
        let mut f = Fixture { chain, guardian, registry, governance, treasury, operators };
        for i in 0..5 {
            let who = f.operators[i].address();
            f.chain.set_balance(who, eth(100));
            f.pay(who, OperatorRegistry::registerCall {}, eth(20)).unwrap();
        }
        f
    }

    fn pay<C: SolCall>(&mut self, from: Address, call: C, value: U256) -> Result<(), ExecError> {
        self.chain.send(from, self.registry, call.abi_encode().into(), value).map(|_| ())
    }

    fn call<C: SolCall>(&mut self, from: Address, call: C) -> Result<(), ExecError> {
        self.pay(from, call, U256::ZERO)
    }

    fn bond(&mut self, who: Address) -> U256 {
        self.chain.view(self.registry, OperatorRegistry::bondOfCall(who)).unwrap()
    }

    fn bonded(&mut self, who: Address) -> bool {
        self.chain.view(self.registry, OperatorRegistry::isBondedCall { operator: who }).unwrap()
    }

    /// A false report on scope 1 of some target, at the Guardian's current version and nonce.
    fn report(&mut self, tag: u8) -> PauseReport {
        PauseReport {
            target: Address::repeat_byte(0xAA),
            scope: U256::from(1),
            incidentId: B256::repeat_byte(tag),
            evidenceHash: B256::repeat_byte(0xEE),
            observedBlock: U256::from(self.chain.block_number()),
            deadline: U256::from(self.chain.timestamp() + 300),
            configVersion: U256::from(1),
            nonce: U256::ZERO,
        }
    }

    fn sign(&self, report: &PauseReport, who: &[usize]) -> Vec<Bytes> {
        let keys: Vec<&PrivateKeySigner> = who.iter().map(|&i| &self.operators[i]).collect();
        sign_report(report, &guardian_domain(CHAIN_ID, self.guardian), &keys).unwrap()
    }

    fn slash(
        &mut self,
        by: Address,
        report: &PauseReport,
        signatures: Vec<Bytes>,
        amount: u128,
    ) -> Result<(), ExecError> {
        let call = OperatorRegistry::slashCall {
            report: IReportHasher::PauseReport::from(report.clone()),
            signatures,
            amountPerSigner: U256::from(amount),
            reason: "false pause of scope 1".into(),
        };
        self.call(by, call)
    }
}

fn assert_reverts<T: std::fmt::Debug>(result: Result<T, ExecError>, error: &str, what: &str) {
    match result {
        Ok(v) => panic!("{what}: expected {error}, but it went through ({v:?})"),
        Err(e) => assert!(e.to_string().contains(&format!("{error}(")), "{what}: expected {error}, got {e}"),
    }
}

#[test]
fn a_bond_below_the_minimum_or_a_second_registration_is_refused() {
    let mut f = Fixture::new();
    let newcomer = test_key(40).address();
    f.chain.set_balance(newcomer, eth(100));
    assert_reverts(f.pay(newcomer, OperatorRegistry::registerCall {}, eth(9)), "BondTooSmall", "9 ETH bond");
    assert!(!f.bonded(newcomer));
    let op = f.operators[0].address();
    assert_reverts(f.pay(op, OperatorRegistry::registerCall {}, eth(20)), "AlreadyRegistered", "twice");
    assert_reverts(f.pay(newcomer, OperatorRegistry::topUpCall {}, eth(1)), "NotRegistered", "top-up unregistered");
    f.pay(op, OperatorRegistry::topUpCall {}, eth(5)).unwrap();
    assert_eq!(f.bond(op), eth(25));
    assert!(f.bonded(op));
}

#[test]
fn a_withdrawal_waits_its_delay_pays_once_and_never_more_than_the_bond() {
    let mut f = Fixture::new();
    let op = f.operators[0].address();
    assert_reverts(f.call(op, OperatorRegistry::requestWithdrawalCall { amount: eth(21) }), "AmountTooLarge", "more");
    assert_reverts(f.call(op, OperatorRegistry::withdrawCall {}), "NoWithdrawal", "nothing requested");
    f.call(op, OperatorRegistry::requestWithdrawalCall { amount: eth(20) }).unwrap();
    assert!(!f.bonded(op), "an operator leaving is no longer bonded");
    assert_reverts(
        f.call(op, OperatorRegistry::requestWithdrawalCall { amount: eth(1) }),
        "WithdrawalPending",
        "a second request",
    );
    f.chain.mine(DELAY - 60);
    assert_reverts(f.call(op, OperatorRegistry::withdrawCall {}), "WithdrawalNotReady", "before the delay");
    f.chain.mine(60);
    let before = f.chain.balance(op);
    f.call(op, OperatorRegistry::withdrawCall {}).unwrap();
    assert!(f.chain.balance(op) > before + eth(19), "the bond is paid out");
    assert_eq!(f.bond(op), U256::ZERO);
    assert_reverts(f.call(op, OperatorRegistry::withdrawCall {}), "NoWithdrawal", "withdraw twice");
}

#[test]
fn governance_slashes_exactly_the_signers_of_a_report_once_and_pays_the_treasury() {
    let mut f = Fixture::new();
    let report = f.report(1);
    // Three operators signed the false report; the fourth and fifth did not.
    let mut signatures = f.sign(&report, &[0, 1, 2]);
    signatures.push(signatures[0].clone());
    let outsider = test_key(50).address();
    assert_reverts(f.slash(outsider, &report, signatures.clone(), 15 * ETH), "NotGovernance", "anyone slashing");
    assert_reverts(
        f.slash(f.operators[0].address(), &report, signatures.clone(), 15 * ETH),
        "NotGovernance",
        "an operator slashing",
    );
    let governance = f.governance;
    f.slash(governance, &report, signatures.clone(), 15 * ETH).unwrap();
    for i in 0..3 {
        let who = f.operators[i].address();
        assert_eq!(f.bond(who), eth(5), "signer {i} slashed 15 of 20 ETH, once despite the duplicate signature");
        assert!(!f.bonded(who), "5 ETH is below the minimum bond");
    }
    for i in 3..5 {
        let who = f.operators[i].address();
        assert_eq!(f.bond(who), eth(20), "operator {i} did not sign: untouched");
    }
    let treasury = f.treasury;
    assert_eq!(f.chain.balance(treasury), eth(45));
    // The same evidence again slashes no one.
    assert_reverts(f.slash(governance, &report, signatures, 15 * ETH), "NothingSlashed", "the same report twice");
    // Signatures of another report are not evidence against this one: they recover to keys nobody registered.
    let other = f.report(2);
    let theirs = f.sign(&other, &[3, 4]);
    assert_reverts(f.slash(governance, &report, theirs, 15 * ETH), "NothingSlashed", "signatures of another report");
    assert_eq!(f.bond(f.operators[3].address()), eth(20));
    // A signature that does not recover at all is refused outright.
    assert_reverts(f.slash(governance, &report, vec![Bytes::from(vec![1u8; 65])], ETH), "BadSignature", "garbage");
    // A slash larger than what is left takes what is left.
    let report3 = f.report(3);
    let sig = f.sign(&report3, &[0]);
    f.slash(governance, &report3, sig, 100 * ETH).unwrap();
    assert_eq!(f.bond(f.operators[0].address()), U256::ZERO);
}

#[test]
fn a_bond_waiting_to_be_withdrawn_is_still_slashed() {
    let mut f = Fixture::new();
    let op = f.operators[1].address();
    f.call(op, OperatorRegistry::requestWithdrawalCall { amount: eth(20) }).unwrap();
    f.chain.mine(DELAY / 2);
    let report = f.report(4);
    let sig = f.sign(&report, &[1]);
    let governance = f.governance;
    f.slash(governance, &report, sig, 12 * ETH).unwrap();
    f.chain.mine(DELAY);
    let before = f.chain.balance(op);
    f.call(op, OperatorRegistry::withdrawCall {}).unwrap();
    let paid = f.chain.balance(op) - before;
    assert!(paid <= eth(8) && paid > eth(7), "only what the slash left is paid: {paid}");
}

#[test]
fn governance_raises_the_delay_but_never_below_its_floor_and_transfers_in_two_steps() {
    let mut f = Fixture::new();
    let governance = f.governance;
    assert_reverts(
        f.call(governance, OperatorRegistry::setWithdrawalDelayCall { delay: DELAY - 1 }),
        "DelayBelowFloor",
        "a shorter delay",
    );
    f.call(governance, OperatorRegistry::setWithdrawalDelayCall { delay: 2 * DELAY }).unwrap();
    assert_reverts(
        f.call(test_key(50).address(), OperatorRegistry::setMinBondCall { minBond_: U256::ZERO }),
        "NotGovernance",
        "anyone lowering the bond",
    );
    let next = test_key(51).address();
    f.call(governance, OperatorRegistry::transferGovernanceCall { newGovernance: next }).unwrap();
    assert_reverts(
        f.call(test_key(52).address(), OperatorRegistry::acceptGovernanceCall {}),
        "NotPendingGovernance",
        "another address accepting",
    );
    // Until accepted, the old governance keeps its powers.
    f.call(governance, OperatorRegistry::setMinBondCall { minBond_: U256::from(MIN_BOND) }).unwrap();
    f.chain.set_balance(next, eth(1));
    f.call(next, OperatorRegistry::acceptGovernanceCall {}).unwrap();
    assert_reverts(
        f.call(governance, OperatorRegistry::setMinBondCall { minBond_: U256::ZERO }),
        "NotGovernance",
        "the old governance",
    );
}

#[test]
fn an_operator_contract_reentering_withdraw_is_paid_once() {
    let mut f = Fixture::new();
    let deployer = test_key(21).address();
    let registry = f.registry;
    let attacker = f
        .chain
        .deploy(
            deployer,
            initcode(&RegistryReentrancy::BYTECODE, RegistryReentrancy::constructorCall { registry_: registry }),
        )
        .unwrap();
    f.chain.send(deployer, attacker, RegistryReentrancy::joinCall {}.abi_encode().into(), eth(20)).unwrap();
    f.chain.send_call(deployer, attacker, RegistryReentrancy::requestCall { amount: eth(20) }).unwrap();
    f.chain.mine(DELAY);
    let held = f.chain.balance(registry);
    f.chain.send_call(deployer, attacker, RegistryReentrancy::withdrawCall {}).unwrap();
    let reentered: U256 = f.chain.view(attacker, RegistryReentrancy::reentriesCall {}).unwrap();
    assert_eq!(reentered, U256::from(1), "the attacker did try to re-enter");
    assert!(
        !f.chain.view(attacker, RegistryReentrancy::reentrySucceededCall {}).unwrap(),
        "the second withdraw failed"
    );
    assert_eq!(f.chain.balance(attacker), eth(20), "paid once");
    assert_eq!(f.chain.balance(registry), held - eth(20), "the other bonds are intact");
}
