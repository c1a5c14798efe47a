//! The attacks on the reference venue, each a script over the attack contracts.
//!
//! An [`Attack`] is planned as data ([`AttackPlan`]): a `prepare` phase (acquiring starting capital off-venue,
//! deploying the attack contract) and an `execute` phase (the transactions that take funds, spread over blocks
//! where the real attack was), each transaction with its block offset and ground-truth label. The plan runs on any
//! [`Backend`] (`prepare`, `execute`) or is scheduled into the in-process chain's blocks by a scenario. The venue scope each attack hits is `target`: a pause of that
//! scope by the Guardian must make `execute` fail.
//!
//! Parameters are sized for the default [`crate::VenueConfig`]. The in-process chain issue turns these into
//! block-by-block scenarios among ordinary traffic.

use alloy::{
    primitives::{keccak256, Address, Bytes, U256},
    sol_types::SolCall,
};
use vigil_contracts::{
    EulerStyleAttacker, FlashLoanOracleAttack, GovernanceAttacker, HookToken, LegacyBorrowDrainer, ReentrancyAttacker,
    ReserveDrainer, ReserveVault, SpotPumpAttacker, StableToken, WrappedEther, IERC20,
};

use crate::actors::Actors;
use crate::backend::{Backend, ExecError};
use crate::chain::{TxLabel, TxRequest, PRIORITY_FEE};
use crate::state::{Holdings, VenueState};
use crate::venue::{initcode, units18, usd, Venue, MARKET_WETH_SPOT};

/// Seconds between blocks on the proving ground.
pub const BLOCK_SECONDS: u64 = 12;

/// What an attack's `execute` changed, read from chain state before and after.
#[derive(Debug)]
pub struct AttackOutcome {
    /// The attacker's holdings before `execute`.
    pub attacker_before: Holdings,
    /// The attacker's holdings after.
    pub attacker_after: Holdings,
    /// The venue before `execute`.
    pub venue_before: VenueState,
    /// The venue after.
    pub venue_after: VenueState,
    /// How `execute` ended: an attack stopped by a pause ends in an error.
    pub result: Result<(), ExecError>,
}

impl AttackOutcome {
    /// Dollars the attacker gained, at the feed prices from before the attack.
    pub fn attacker_gain_usd(&self) -> U256 {
        let p = &self.venue_before.prices;
        self.attacker_after.value_usd(p).saturating_sub(self.attacker_before.value_usd(p))
    }

    /// Dollars the venue's contracts lost, at the feed prices from before the attack.
    pub fn venue_loss_usd(&self) -> U256 {
        let p = &self.venue_before.prices;
        self.venue_before.total().value_usd(p).saturating_sub(self.venue_after.total().value_usd(p))
    }

    /// hBTC (not priced by any feed) the venue lost.
    pub fn venue_hbtc_loss(&self) -> U256 {
        self.venue_before.total().hbtc.saturating_sub(self.venue_after.total().hbtc)
    }
}

/// The attacks, in the order of the scenario list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attack {
    /// Flash-loan AMM manipulation, one transaction, against the spot-priced market.
    FlashLoanOracle,
    /// Multi-block pump of the AMM price, then borrowing against the spot-priced market.
    SpotPump,
    /// Logic bug in the legacy market drained by many small borrows over many blocks.
    LegacyBorrowDrain,
    /// Reentrancy through the hook token into the legacy vault.
    Reentrancy,
    /// Governance takeover of the legacy module with flash-borrowed votes.
    GovernanceTakeover,
    /// Stolen operations key: role change, upgrade of the reserve vault, drain.
    AdminKey,
    /// Euler-style donation and self-liquidation leaving bad debt in the legacy market.
    EulerDonation,
}

/// One planned transaction: `block` counts blocks from the start of its phase.
#[derive(Debug, Clone)]
pub struct PlannedTx {
    /// Block offset within the phase.
    pub block: u64,
    /// The transaction.
    pub req: TxRequest,
    /// For a contract creation, the address it will have.
    pub created: Option<Address>,
}

/// An attack as transactions: `prepare` (setup, including deploying the attack contract) and `execute` (the
/// transactions that take funds). Scenarios choose how many blocks separate the two.
#[derive(Debug, Clone)]
pub struct AttackPlan {
    /// Which attack.
    pub attack: Attack,
    /// Setup.
    pub prepare: Vec<PlannedTx>,
    /// Taking funds.
    pub execute: Vec<PlannedTx>,
}

impl AttackPlan {
    /// The attack contract deployed in the prepare phase, if any.
    pub fn contract(&self) -> Option<Address> {
        self.prepare.iter().find_map(|t| t.created)
    }

    /// Blocks the execute phase spans.
    pub fn execute_blocks(&self) -> u64 {
        self.execute.iter().map(|t| t.block + 1).max().unwrap_or(0)
    }
}

/// The two phases of a plan.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Prepare,
    Execute,
}

/// Builds plans, predicting the attacker's nonces.
struct Planner {
    me: Address,
    nonce: u64,
    name: &'static str,
    prepare: Vec<PlannedTx>,
    execute: Vec<PlannedTx>,
}

impl Planner {
    fn label(&self, step: &str, malicious: bool) -> TxLabel {
        TxLabel { what: format!("attack:{}:{step}", self.name), malicious }
    }

    /// A setup transaction by someone else (buying capital off-venue): not malicious.
    fn setup<C: SolCall>(&mut self, from: Address, to: Address, call: C, step: &str) {
        let label = TxLabel { what: format!("setup:{}:{step}", self.name), malicious: false };
        self.prepare.push(PlannedTx {
            block: 0,
            req: TxRequest {
                from,
                to: Some(to),
                data: call.abi_encode().into(),
                value: U256::ZERO,
                priority_fee: PRIORITY_FEE,
                label,
            },
            created: None,
        });
    }

    /// The attacker deploys its contract in the prepare phase; returns the predicted address.
    fn deploy(&mut self, block: u64, initcode: Bytes) -> Address {
        self.deploy_in(Phase::Prepare, block, initcode)
    }

    /// The attacker deploys a contract in `phase`; returns the predicted address.
    fn deploy_in(&mut self, phase: Phase, block: u64, initcode: Bytes) -> Address {
        let address = self.me.create(self.nonce);
        let label = self.label("deploy", true);
        let txs = match phase {
            Phase::Prepare => &mut self.prepare,
            Phase::Execute => &mut self.execute,
        };
        txs.push(PlannedTx {
            block,
            req: TxRequest {
                from: self.me,
                to: None,
                data: initcode,
                value: U256::ZERO,
                priority_fee: PRIORITY_FEE,
                label,
            },
            created: Some(address),
        });
        self.nonce += 1;
        address
    }

    fn prepare_call<C: SolCall>(&mut self, block: u64, to: Address, call: C, step: &str) {
        self.prepare_value(block, to, call, U256::ZERO, step)
    }

    fn prepare_value<C: SolCall>(&mut self, block: u64, to: Address, call: C, value: U256, step: &str) {
        let label = self.label(step, true);
        self.prepare.push(PlannedTx {
            block,
            req: TxRequest {
                from: self.me,
                to: Some(to),
                data: call.abi_encode().into(),
                value,
                priority_fee: PRIORITY_FEE,
                label,
            },
            created: None,
        });
        self.nonce += 1;
    }

    fn exec<C: SolCall>(&mut self, block: u64, to: Address, call: C, step: &str) {
        let label = self.label(step, true);
        self.execute.push(PlannedTx {
            block,
            req: TxRequest {
                from: self.me,
                to: Some(to),
                data: call.abi_encode().into(),
                value: U256::ZERO,
                priority_fee: PRIORITY_FEE,
                label,
            },
            created: None,
        });
        self.nonce += 1;
    }
}

/// Sends a phase's transactions, mining a block whenever the plan moves to a later block.
fn run_phase<B: Backend>(chain: &mut B, txs: &[PlannedTx]) -> Result<(), ExecError> {
    let mut block = 0;
    for t in txs {
        if t.block > block {
            chain.advance(t.block - block, BLOCK_SECONDS)?;
            block = t.block;
        }
        match t.req.to {
            None => {
                let deployed = chain.deploy(t.req.from, t.req.data.clone())?;
                if let Some(expected) = t.created.filter(|e| *e != deployed) {
                    return Err(ExecError::Invalid {
                        what: t.req.label.what.clone(),
                        reason: format!(
                            "deployed at {deployed}, the plan expected {expected} (the sender's nonce moved)"
                        ),
                    });
                }
            }
            Some(to) => chain.send(t.req.from, to, t.req.data.clone(), t.req.value)?,
        }
    }
    Ok(())
}

impl Attack {
    /// All attacks.
    pub const ALL: [Attack; 7] = [
        Attack::FlashLoanOracle,
        Attack::SpotPump,
        Attack::LegacyBorrowDrain,
        Attack::Reentrancy,
        Attack::GovernanceTakeover,
        Attack::AdminKey,
        Attack::EulerDonation,
    ];

    /// A short stable name.
    pub fn name(&self) -> &'static str {
        match self {
            Attack::FlashLoanOracle => "flash-loan-oracle",
            Attack::SpotPump => "spot-pump",
            Attack::LegacyBorrowDrain => "legacy-borrow-drain",
            Attack::Reentrancy => "reentrancy",
            Attack::GovernanceTakeover => "governance-takeover",
            Attack::AdminKey => "admin-key",
            Attack::EulerDonation => "euler-donation",
        }
    }

    /// The (contract, scope) the attack takes funds through; pausing it must stop the attack.
    pub fn target(&self, v: &Venue) -> (Address, u64) {
        match self {
            Attack::FlashLoanOracle | Attack::SpotPump => (v.pool, MARKET_WETH_SPOT),
            Attack::LegacyBorrowDrain | Attack::EulerDonation => (v.legacy_market, 0),
            Attack::Reentrancy => (v.legacy_vault, 0),
            Attack::GovernanceTakeover => (v.legacy_governance, 0),
            Attack::AdminKey => (v.reserve, 0),
        }
    }

    /// The attack as transactions, with the attacker's current nonce (contract addresses are predicted from it).
    pub fn plan(&self, a: &Actors, v: &Venue, attacker_nonce: u64) -> AttackPlan {
        let me = a.attacker.address();
        let mut p = Planner { me, nonce: attacker_nonce, name: self.name(), prepare: vec![], execute: vec![] };
        match self {
            Attack::FlashLoanOracle => {
                let c = p.deploy(
                    0,
                    initcode(
                        &FlashLoanOracleAttack::BYTECODE,
                        FlashLoanOracleAttack::constructorCall {
                            lender_: v.flash_lender,
                            pair_: v.pair,
                            router_: v.router,
                            pool_: v.pool,
                            usd_: v.usd,
                            weth_: v.weth,
                        },
                    ),
                );
                p.exec(
                    0,
                    c,
                    FlashLoanOracleAttack::attackCall {
                        flashAmount: usd(3_000_000),
                        collateralBps: U256::from(2_000),
                        marketId: U256::from(MARKET_WETH_SPOT),
                    },
                    "flash-loan",
                );
            }
            Attack::SpotPump => {
                // Starting capital bought off-venue.
                p.setup(
                    a.deployer.address(),
                    v.usd,
                    StableToken::mintCall { to: me, amount: usd(2_500_000) },
                    "buy capital",
                );
                let c = p.deploy(
                    0,
                    initcode(
                        &SpotPumpAttacker::BYTECODE,
                        SpotPumpAttacker::constructorCall {
                            pair_: v.pair,
                            router_: v.router,
                            pool_: v.pool,
                            usd_: v.usd,
                            weth_: v.weth,
                        },
                    ),
                );
                p.prepare_call(0, v.usd, IERC20::approveCall { spender: c, value: U256::MAX }, "approve");
                // Faster than the arbitrageurs can trade the price back (they move at most $150k a block).
                for block in 0..2 {
                    p.exec(block, c, SpotPumpAttacker::pumpCall { usdAmount: usd(1_250_000) }, "pump");
                }
                p.exec(2, c, SpotPumpAttacker::borrowAgainstCall { marketId: U256::from(MARKET_WETH_SPOT) }, "borrow");
            }
            Attack::LegacyBorrowDrain => {
                let c = p.deploy(
                    0,
                    initcode(
                        &LegacyBorrowDrainer::BYTECODE,
                        LegacyBorrowDrainer::constructorCall { market_: v.legacy_market },
                    ),
                );
                p.prepare_value(0, v.weth, WrappedEther::depositCall {}, units18(2), "wrap");
                p.prepare_call(0, v.weth, IERC20::approveCall { spender: c, value: U256::MAX }, "approve");
                p.exec(0, c, LegacyBorrowDrainer::setupCall { collateral: units18(2) }, "collateral");
                for block in 1..=40 {
                    p.exec(block, c, LegacyBorrowDrainer::stepCall { count: U256::from(1) }, "borrow");
                }
            }
            Attack::Reentrancy => {
                p.setup(a.deployer.address(), v.hbtc, HookToken::mintCall { to: me, amount: units18(10) }, "buy hBTC");
                let c = p.deploy(
                    0,
                    initcode(
                        &ReentrancyAttacker::BYTECODE,
                        ReentrancyAttacker::constructorCall { vault_: v.legacy_vault, token_: v.hbtc },
                    ),
                );
                p.prepare_call(0, v.hbtc, IERC20::approveCall { spender: c, value: U256::MAX }, "approve");
                p.exec(0, c, ReentrancyAttacker::attackCall { stake: units18(10) }, "reenter");
            }
            Attack::GovernanceTakeover => {
                // A little VGOV, bought from the team allocation, pays the flash-loan fees.
                p.setup(
                    a.deployer.address(),
                    v.gov,
                    IERC20::transferCall { to: me, value: units18(1_000) },
                    "buy VGOV",
                );
                let c = p.deploy(
                    0,
                    initcode(
                        &GovernanceAttacker::BYTECODE,
                        GovernanceAttacker::constructorCall {
                            lender_: v.flash_lender,
                            gov_: v.gov,
                            governance_: v.legacy_governance,
                            reserve_: v.reserve,
                        },
                    ),
                );
                p.prepare_call(0, v.gov, IERC20::transferCall { to: c, value: units18(1_000) }, "fund");
                p.exec(0, c, GovernanceAttacker::proposeCall { tokens: vec![v.usd, v.weth] }, "propose");
                let delay = 3600u64.div_ceil(BLOCK_SECONDS) + 1;
                p.exec(delay, c, GovernanceAttacker::executeCall { votes: units18(690_000) }, "vote-and-commit");
            }
            Attack::AdminKey => {
                let role = keccak256("UPGRADER_ROLE");
                p.execute.push(PlannedTx {
                    block: 0,
                    req: TxRequest::call(
                        a.ops.address(),
                        v.reserve,
                        ReserveVault::grantRoleCall { role, account: me },
                        "attack:admin-key:grant-role (stolen key)",
                        true,
                    ),
                    created: None,
                });
                let drainer = p.deploy_in(
                    Phase::Execute,
                    1,
                    initcode(&ReserveDrainer::BYTECODE, ReserveDrainer::constructorCall { attacker_: me }),
                );
                let drain = ReserveDrainer::drainCall { tokens: vec![v.usd, v.weth] };
                p.exec(
                    2,
                    v.reserve,
                    ReserveVault::upgradeToAndCallCall { newImplementation: drainer, data: drain.abi_encode().into() },
                    "upgrade-and-drain",
                );
            }
            Attack::EulerDonation => {
                let c = p.deploy(
                    0,
                    initcode(
                        &EulerStyleAttacker::BYTECODE,
                        EulerStyleAttacker::constructorCall { lender_: v.flash_lender, market_: v.legacy_market },
                    ),
                );
                p.exec(
                    0,
                    c,
                    EulerStyleAttacker::attackCall {
                        flashAmount: usd(200_000),
                        mintAmount: usd(2_000_000),
                        donateAmount: usd(500_000),
                    },
                    "donate-and-liquidate",
                );
            }
        }
        AttackPlan { attack: *self, prepare: p.prepare, execute: p.execute }
    }

    /// Runs the plan's prepare phase on `chain` (blocks mined between its blocks); returns the plan.
    pub fn prepare<B: Backend>(&self, chain: &mut B, a: &Actors, v: &Venue) -> Result<AttackPlan, ExecError> {
        let plan = self.plan(a, v, chain.nonce(a.attacker.address())?);
        run_phase(chain, &plan.prepare)?;
        Ok(plan)
    }

    /// Runs the plan's execute phase on `chain` (blocks mined between its blocks).
    pub fn execute<B: Backend>(&self, chain: &mut B, plan: &AttackPlan) -> Result<(), ExecError> {
        run_phase(chain, &plan.execute)
    }

    /// Runs `execute` between two readings of the attacker's and the venue's state.
    pub fn execute_measured<B: Backend>(
        &self,
        chain: &mut B,
        a: &Actors,
        v: &Venue,
        plan: &AttackPlan,
    ) -> Result<AttackOutcome, ExecError> {
        let me = a.attacker.address();
        let attacker_before = Holdings::read(chain, v, me)?;
        let venue_before = VenueState::read(chain, v)?;
        let result = self.execute(chain, plan);
        Ok(AttackOutcome {
            attacker_before,
            attacker_after: Holdings::read(chain, v, me)?,
            venue_before,
            venue_after: VenueState::read(chain, v)?,
            result,
        })
    }
}
