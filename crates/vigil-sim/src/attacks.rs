//! The attacks on the reference venue, each a script over the attack contracts.
//!
//! An [`Attack`] has a `prepare` step (the attacker's setup that takes nothing from the venue: deploying a
//! contract, acquiring starting capital off-venue) and an `execute` step (the transactions that take funds,
//! spread over blocks where the real attack was). The venue scope each attack hits is `target`: a pause of that
//! scope by the Guardian must make `execute` fail.
//!
//! Parameters are sized for the default [`crate::VenueConfig`]. The in-process chain issue turns these into
//! block-by-block scenarios among ordinary traffic.

use alloy::primitives::{Address, U256};
use vigil_contracts::{
    EulerStyleAttacker, FlashLoanOracleAttack, GovToken, GovernanceAttacker, HookToken, LegacyBorrowDrainer,
    ReentrancyAttacker, ReserveDrainer, ReserveVault, SpotPumpAttacker, StableToken,
};

use crate::actors::Actors;
use crate::backend::{Backend, ExecError};
use crate::state::{Holdings, VenueState};
use crate::venue::{approve, initcode, transfer, units18, usd, wrap_eth, Venue, MARKET_WETH_SPOT};

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

/// Where an attack's contract is, between `prepare` and `execute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// The attack contract, if the attack uses one before `execute`.
    pub contract: Option<Address>,
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

    /// The attacker's setup: takes nothing from the venue.
    pub fn prepare<B: Backend>(&self, chain: &mut B, a: &Actors, v: &Venue) -> Result<Prepared, ExecError> {
        let me = a.attacker.address();
        let contract = match self {
            Attack::FlashLoanOracle => Some(chain.deploy(
                me,
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
            )?),
            Attack::SpotPump => {
                // Starting capital bought off-venue.
                chain.exec(a.deployer.address(), v.usd, StableToken::mintCall { to: me, amount: usd(2_000_000) })?;
                let c = chain.deploy(
                    me,
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
                )?;
                approve(chain, v.usd, me, c, U256::MAX)?;
                Some(c)
            }
            Attack::LegacyBorrowDrain => {
                let c = chain.deploy(
                    me,
                    initcode(
                        &LegacyBorrowDrainer::BYTECODE,
                        LegacyBorrowDrainer::constructorCall { market_: v.legacy_market },
                    ),
                )?;
                wrap_eth(chain, v, me, units18(2))?;
                approve(chain, v.weth, me, c, U256::MAX)?;
                Some(c)
            }
            Attack::Reentrancy => {
                chain.exec(a.deployer.address(), v.hbtc, HookToken::mintCall { to: me, amount: units18(10) })?;
                let c = chain.deploy(
                    me,
                    initcode(
                        &ReentrancyAttacker::BYTECODE,
                        ReentrancyAttacker::constructorCall { vault_: v.legacy_vault, token_: v.hbtc },
                    ),
                )?;
                approve(chain, v.hbtc, me, c, U256::MAX)?;
                Some(c)
            }
            Attack::GovernanceTakeover => {
                // A little VGOV, bought from the team allocation, pays the flash-loan fees.
                transfer(chain, v.gov, a.deployer.address(), me, units18(1_000))?;
                let c = chain.deploy(
                    me,
                    initcode(
                        &GovernanceAttacker::BYTECODE,
                        GovernanceAttacker::constructorCall {
                            lender_: v.flash_lender,
                            gov_: v.gov,
                            governance_: v.legacy_governance,
                            reserve_: v.reserve,
                        },
                    ),
                )?;
                chain.exec(me, v.gov, GovToken::transferCall { to: c, value: units18(1_000) })?;
                Some(c)
            }
            Attack::AdminKey => None,
            Attack::EulerDonation => Some(chain.deploy(
                me,
                initcode(
                    &EulerStyleAttacker::BYTECODE,
                    EulerStyleAttacker::constructorCall { lender_: v.flash_lender, market_: v.legacy_market },
                ),
            )?),
        };
        Ok(Prepared { contract })
    }

    /// Runs `execute` between two readings of the attacker's and the venue's state.
    pub fn execute_measured<B: Backend>(
        &self,
        chain: &mut B,
        a: &Actors,
        v: &Venue,
        p: &Prepared,
    ) -> Result<AttackOutcome, ExecError> {
        let me = a.attacker.address();
        let attacker_before = Holdings::read(chain, v, me)?;
        let venue_before = VenueState::read(chain, v)?;
        let result = self.execute(chain, a, v, p);
        Ok(AttackOutcome {
            attacker_before,
            attacker_after: Holdings::read(chain, v, me)?,
            venue_before,
            venue_after: VenueState::read(chain, v)?,
            result,
        })
    }

    /// The transactions that take funds, with blocks mined between the steps of multi-block attacks.
    pub fn execute<B: Backend>(&self, chain: &mut B, a: &Actors, v: &Venue, p: &Prepared) -> Result<(), ExecError> {
        let me = a.attacker.address();
        let contract = || {
            p.contract.ok_or_else(|| ExecError::Invalid {
                what: "attack".into(),
                reason: "execute called before prepare".into(),
            })
        };
        match self {
            Attack::FlashLoanOracle => chain.exec(
                me,
                contract()?,
                FlashLoanOracleAttack::attackCall {
                    flashAmount: usd(3_000_000),
                    collateralBps: U256::from(2_000),
                    marketId: U256::from(MARKET_WETH_SPOT),
                },
            ),
            Attack::SpotPump => {
                let c = contract()?;
                for _ in 0..4 {
                    chain.exec(me, c, SpotPumpAttacker::pumpCall { usdAmount: usd(500_000) })?;
                    chain.advance(1, BLOCK_SECONDS)?;
                }
                chain.exec(me, c, SpotPumpAttacker::borrowAgainstCall { marketId: U256::from(MARKET_WETH_SPOT) })
            }
            Attack::LegacyBorrowDrain => {
                let c = contract()?;
                chain.exec(me, c, LegacyBorrowDrainer::setupCall { collateral: units18(2) })?;
                for _ in 0..40 {
                    chain.advance(1, BLOCK_SECONDS)?;
                    chain.exec(me, c, LegacyBorrowDrainer::stepCall { count: U256::from(1) })?;
                }
                Ok(())
            }
            Attack::Reentrancy => chain.exec(me, contract()?, ReentrancyAttacker::attackCall { stake: units18(10) }),
            Attack::GovernanceTakeover => {
                let c = contract()?;
                chain.exec(me, c, GovernanceAttacker::proposeCall { tokens: vec![v.usd, v.weth] })?;
                chain.advance(1, 24 * 3600 + BLOCK_SECONDS)?;
                chain.exec(me, c, GovernanceAttacker::executeCall { votes: units18(690_000) })
            }
            Attack::AdminKey => {
                let upgrader = chain.read(v.reserve, ReserveVault::UPGRADER_ROLECall {})?;
                chain.exec(a.ops.address(), v.reserve, ReserveVault::grantRoleCall { role: upgrader, account: me })?;
                chain.advance(1, BLOCK_SECONDS)?;
                let drainer = chain.deploy(
                    me,
                    initcode(&ReserveDrainer::BYTECODE, ReserveDrainer::constructorCall { attacker_: me }),
                )?;
                chain.advance(1, BLOCK_SECONDS)?;
                let drain = ReserveDrainer::drainCall { tokens: vec![v.usd, v.weth] };
                chain.exec(
                    me,
                    v.reserve,
                    ReserveVault::upgradeToAndCallCall {
                        newImplementation: drainer,
                        data: alloy::sol_types::SolCall::abi_encode(&drain).into(),
                    },
                )
            }
            Attack::EulerDonation => chain.exec(
                me,
                contract()?,
                EulerStyleAttacker::attackCall {
                    flashAmount: usd(200_000),
                    mintAmount: usd(2_000_000),
                    donateAmount: usd(500_000),
                },
            ),
        }
    }
}
