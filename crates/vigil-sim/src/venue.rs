//! The reference venue: deployment at genesis, its addresses, and a snapshot of its state.
//!
//! [`deploy_venue`] runs the same transactions on any [`Backend`]: tokens, the WETH/vUSD pair and router,
//! two Chainlink-compatible feeds, the flash lender, the margin pool with three markets (WETH priced by the
//! feed, WETH priced by the pair's spot price — the weak oracle —, VGOV priced by its feed), the legacy money
//! market and vault (deliberately flawed), the covered-call vault, the reserve vault behind a UUPS proxy,
//! governance (OpenZeppelin Governor + timelock, and the flawed legacy governance module), and the Guardian
//! with a 3-of-5 oracle set and a mandate for every protected contract. Governance of the Guardian and the
//! venue's parameters is handed to the timelock at the end; the deployer keeps nothing.
//!
//! A venue may instead hand the Guardian's governance to a security council ([`VenueConfig::security_council`],
//! the way Aave's Guardian is a multisig rather than its 2-day timelock): the council, not a governance vote,
//! then lifts pauses, and can do it within minutes. The same config may lower the Guardian's minimum cooldown
//! ([`VenueConfig::min_cooldown_seconds`]), set through `setBounds` before the mandates are granted.
//!
//! Liquidity and balances are seeded from [`VenueConfig`]; amounts are in whole tokens.

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    sol_types::{SolCall, SolConstructor},
};
use vigil_contracts::{
    FlashLender, GovToken, Guardian, HookToken, LegacyGovernance, LegacyMarket, LegacyVault, MarginPool, OptionVault,
    PriceFeed, ReserveVault, ReserveVaultProxy, SecurityGate, StableToken, VenueGovernor, VenuePair, VenueRouter,
    VenueTimelock, WrappedEther, IERC20,
};

use crate::actors::{Actors, ORACLE_THRESHOLD};
use crate::backend::{Backend, ExecError, Reader};

/// Market id (and Guardian scope) of WETH collateral priced by the ETH/USD feed.
pub const MARKET_WETH_FEED: u64 = 1;
/// Market id (and Guardian scope) of WETH collateral priced by the pair's spot price (the weak oracle).
pub const MARKET_WETH_SPOT: u64 = 2;
/// Market id (and Guardian scope) of VGOV collateral priced by the VGOV/USD feed.
pub const MARKET_GOV_FEED: u64 = 3;
/// Decimals of the stablecoin.
pub const USD_DECIMALS: u8 = 6;
/// Decimals of the price feeds (Chainlink's USD feeds use 8).
pub const FEED_DECIMALS: u8 = 8;

/// Stablecoin units for `whole` dollars.
pub fn usd(whole: u64) -> U256 {
    U256::from(whole) * U256::from(10u64.pow(USD_DECIMALS as u32))
}

/// 18-decimal units for `whole` tokens (WETH, VGOV, hBTC, ether).
pub fn units18(whole: u64) -> U256 {
    U256::from(whole) * U256::from(10u64).pow(U256::from(18))
}

/// A feed answer for a price in whole dollars with cents.
pub fn feed_answer(dollars: f64) -> alloy::primitives::I256 {
    alloy::primitives::I256::try_from((dollars * 10f64.powi(FEED_DECIMALS as i32)).round() as i128)
        .expect("prices fit in an I256")
}

/// How the venue is seeded. Amounts are whole tokens.
#[derive(Debug, Clone)]
pub struct VenueConfig {
    /// ETH price in dollars at genesis (feed and pair): any level, from a cent up.
    pub eth_price: f64,
    /// VGOV price in dollars at genesis (feed).
    pub gov_price: u64,
    /// WETH in the pair, in whole tokens (the stablecoin side is `pair_weth × eth_price`).
    pub pair_weth: f64,
    /// Stablecoins supplied to the feed-priced WETH market.
    pub market_weth_feed_supply: u64,
    /// Stablecoins supplied to the spot-priced WETH market.
    pub market_weth_spot_supply: u64,
    /// Stablecoins supplied to the VGOV market.
    pub market_gov_supply: u64,
    /// Stablecoins deposited in the legacy market by its lenders.
    pub legacy_market_deposits: u64,
    /// hBTC deposited in the legacy vault by its users.
    pub legacy_vault_deposits: u64,
    /// Flash lender liquidity: stablecoins, WETH, VGOV.
    pub flash_usd: u64,
    /// Flash lender WETH.
    pub flash_weth: u64,
    /// Flash lender VGOV (a large share of the supply, like a staking pool that lends).
    pub flash_gov: u64,
    /// VGOV total supply.
    pub gov_supply: u64,
    /// Reserve vault: stablecoins and WETH.
    pub reserve_usd: u64,
    /// Reserve vault WETH.
    pub reserve_weth: u64,
    /// Guardian mandate: longest pause, in seconds. Longer than a governance vote plus the timelock delay, so
    /// governance can extend or lift a pause before it ends by itself.
    pub max_pause_seconds: u64,
    /// Guardian mandate: wait after a pause ends before the next, in seconds.
    pub cooldown_seconds: u64,
    /// Guardian mandate: validity from genesis, in seconds.
    pub mandate_seconds: u64,
    /// Timelock delay, in seconds.
    pub timelock_delay: u64,
    /// The Guardian's governance: `None` (the default) hands it to the timelock with everything else; an address
    /// (a security council key among the actors) gets the Guardian alone, and the timelock keeps the rest.
    pub security_council: Option<Address>,
    /// The Guardian's bound on mandate cooldowns (`minCooldownSeconds`), set at bootstrap; `None` keeps the
    /// Guardian's default (1 hour). `cooldown_seconds` must not be below it.
    pub min_cooldown_seconds: Option<u64>,
    /// Attestation-gated entry: the SecurityGate's rules ([`gate_rules`]) are active, so risky calls to the flash
    /// lender, the margin pool and the legacy market and vault need an attestation of the oracle set. Off by
    /// default: the gate is deployed and linked, and every call passes.
    pub gate: bool,
}

impl Default for VenueConfig {
    fn default() -> Self {
        Self {
            eth_price: 3_000.0,
            gov_price: 2,
            pair_weth: 1_000.0,
            market_weth_feed_supply: 2_000_000,
            market_weth_spot_supply: 3_000_000,
            market_gov_supply: 500_000,
            legacy_market_deposits: 2_000_000,
            legacy_vault_deposits: 100,
            flash_usd: 10_000_000,
            flash_weth: 5_000,
            flash_gov: 700_000,
            gov_supply: 1_000_000,
            reserve_usd: 1_000_000,
            reserve_weth: 200,
            max_pause_seconds: 3 * 24 * 3600,
            cooldown_seconds: 3600,
            mandate_seconds: 365 * 24 * 3600,
            timelock_delay: 2 * 24 * 3600,
            security_council: None,
            min_cooldown_seconds: None,
            gate: false,
        }
    }
}

/// Addresses of everything deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Venue {
    /// The Guardian.
    pub guardian: Address,
    /// vUSD, the 6-decimal stablecoin.
    pub usd: Address,
    /// WETH.
    pub weth: Address,
    /// VGOV, the governance token.
    pub gov: Address,
    /// hBTC, the hook token.
    pub hbtc: Address,
    /// ETH/USD feed.
    pub eth_feed: Address,
    /// VGOV/USD feed.
    pub gov_feed: Address,
    /// WETH/vUSD pair.
    pub pair: Address,
    /// Router for the pair.
    pub router: Address,
    /// ERC-3156 flash lender.
    pub flash_lender: Address,
    /// Margin pool (markets 1..=3).
    pub pool: Address,
    /// Legacy money market (flawed).
    pub legacy_market: Address,
    /// Legacy hBTC vault (flawed).
    pub legacy_vault: Address,
    /// Covered-call vault.
    pub options: Address,
    /// Reserve vault (the proxy address).
    pub reserve: Address,
    /// Reserve vault implementation.
    pub reserve_impl: Address,
    /// Timelock owning the Guardian and the venue's parameters.
    pub timelock: Address,
    /// OpenZeppelin governor.
    pub governor: Address,
    /// Legacy governance module (flawed).
    pub legacy_governance: Address,
    /// The SecurityGate (attestation-gated entry), deployed last so that no other address moved.
    pub gate: Address,
}

impl Venue {
    /// Every contract the Guardian protects, with the scopes it has a mandate for.
    pub fn protected_scopes(&self) -> Vec<(Address, u64)> {
        vec![
            (self.pair, 0),
            (self.flash_lender, 0),
            (self.pool, 0),
            (self.pool, MARKET_WETH_FEED),
            (self.pool, MARKET_WETH_SPOT),
            (self.pool, MARKET_GOV_FEED),
            (self.legacy_market, 0),
            (self.legacy_vault, 0),
            (self.options, 0),
            (self.reserve, 0),
            (self.legacy_governance, 0),
        ]
    }

    /// Named addresses, in deployment order, for display.
    pub fn named(&self) -> Vec<(&'static str, Address)> {
        vec![
            ("guardian", self.guardian),
            ("vUSD", self.usd),
            ("WETH", self.weth),
            ("VGOV", self.gov),
            ("hBTC", self.hbtc),
            ("ETH/USD feed", self.eth_feed),
            ("VGOV/USD feed", self.gov_feed),
            ("WETH/vUSD pair", self.pair),
            ("router", self.router),
            ("flash lender", self.flash_lender),
            ("margin pool", self.pool),
            ("legacy market", self.legacy_market),
            ("legacy vault", self.legacy_vault),
            ("option vault", self.options),
            ("reserve vault", self.reserve),
            ("timelock", self.timelock),
            ("governor", self.governor),
            ("legacy governance", self.legacy_governance),
            ("security gate", self.gate),
        ]
    }
}

/// Blocks during which the gate treats a caller it first saw as young.
pub const GATE_YOUNG_BLOCKS: u32 = 50;
/// Amount above which a call to the margin pool or the legacy market is risky: $250,000 (6 decimals).
pub const GATE_AMOUNT_USD: u64 = 250_000;

/// The SecurityGate's risk rule for each protected contract it screens (inactive as returned; `deploy_venue` sets
/// `active` from [`VenueConfig::gate`]): flash loans are always risky (their borrower is a contract); the margin
/// pool and the legacy market when the amount is above [`GATE_AMOUNT_USD`], the caller a contract, or the caller
/// first seen fewer than [`GATE_YOUNG_BLOCKS`] blocks ago; the legacy vault when the caller is a contract or the
/// amount above 5 hBTC.
pub fn gate_rules(v: &Venue) -> Vec<(Address, SecurityGate::Rule)> {
    let rule = |amount_above: U256, young_blocks: u32| SecurityGate::Rule {
        amountAbove: amount_above.to::<u128>(),
        youngBlocks: young_blocks,
        contractCallers: true,
        active: false,
    };
    vec![
        (v.flash_lender, rule(U256::from(u128::MAX), 0)),
        (v.pool, rule(usd(GATE_AMOUNT_USD), GATE_YOUNG_BLOCKS)),
        (v.legacy_market, rule(usd(GATE_AMOUNT_USD), GATE_YOUNG_BLOCKS)),
        (v.legacy_vault, rule(units18(5), 0)),
    ]
}

/// `amount` whole 18-decimal tokens, fractions kept to an f64's precision (negative amounts are zero).
pub fn units18_of(amount: f64) -> U256 {
    U256::from((amount.max(0.0) * 1e18) as u128)
}

/// `dollars` in vUSD's 6 decimals (negative amounts are zero).
pub fn usd_of(dollars: f64) -> U256 {
    U256::from((dollars.max(0.0) * 1e6) as u128)
}

/// Creation code followed by the encoded constructor arguments.
pub fn initcode<C: SolConstructor>(bytecode: &Bytes, args: C) -> Bytes {
    let mut code = bytecode.to_vec();
    code.extend_from_slice(&args.abi_encode());
    code.into()
}

/// A fresh in-process chain with the standard actors and the default venue deployed, one block later.
pub fn in_process_venue() -> Result<(crate::InProcessEvm, Actors, Venue), ExecError> {
    let mut chain = crate::InProcessEvm::new();
    let actors = Actors::standard();
    let venue = deploy_venue(&mut chain, &actors, &VenueConfig::default())?;
    chain.mine(crate::attacks::BLOCK_SECONDS);
    Ok((chain, actors, venue))
}

/// Deploys and seeds the venue; returns its addresses.
pub fn deploy_venue<B: Backend>(chain: &mut B, actors: &Actors, cfg: &VenueConfig) -> Result<Venue, ExecError> {
    let d = actors.deployer.address();
    // Enough ether for the pair's WETH at any price level (a cent: 300 million WETH), and for gas.
    let balance = units18(10_000_000).max(units18_of(cfg.pair_weth * 2.0));
    for key in actors.all_keys() {
        chain.set_balance(key.address(), balance)?;
    }

    // Tokens.
    let usd_token = chain.deploy(
        d,
        initcode(
            &StableToken::BYTECODE,
            StableToken::constructorCall { name_: "Venue USD".into(), symbol_: "vUSD".into(), issuer: d },
        ),
    )?;
    let weth = chain.deploy(d, WrappedEther::BYTECODE.clone())?;
    let gov = chain.deploy(
        d,
        initcode(&GovToken::BYTECODE, GovToken::constructorCall { holder: d, supply: units18(cfg.gov_supply) }),
    )?;
    let hbtc = chain.deploy(d, initcode(&HookToken::BYTECODE, HookToken::constructorCall { issuer: d }))?;

    // Governance: timelock (bootstrapped by the deployer with no delay; the delay is set at hand-over), governor.
    let timelock = chain.deploy(
        d,
        initcode(
            &VenueTimelock::BYTECODE,
            VenueTimelock::constructorCall {
                minDelay: U256::ZERO,
                proposers: vec![],
                executors: vec![Address::ZERO],
                admin: d,
            },
        ),
    )?;
    let governor = chain.deploy(
        d,
        initcode(
            &VenueGovernor::BYTECODE,
            VenueGovernor::constructorCall {
                token: gov,
                timelock,
                votingDelay: alloy::primitives::Uint::from(1u64),
                votingPeriod: 50,
                threshold: units18(1_000),
            },
        ),
    )?;

    // The Guardian, governed by the deployer until the venue is set up.
    let guardian = chain.deploy(
        d,
        initcode(
            &Guardian::BYTECODE,
            Guardian::constructorCall {
                governance_: d,
                signers_: actors.oracle_addresses(),
                threshold_: U256::from(ORACLE_THRESHOLD),
            },
        ),
    )?;

    // Feeds.
    let keeper = actors.keeper.address();
    let mut deploy_feed = |description: &str, price: f64| {
        let constructor = PriceFeed::constructorCall {
            owner_: timelock,
            keeper_: keeper,
            decimals_: FEED_DECIMALS,
            description_: description.into(),
            initialAnswer: feed_answer(price),
        };
        chain.deploy(d, initcode(&PriceFeed::BYTECODE, constructor))
    };
    let eth_feed = deploy_feed("ETH / USD", cfg.eth_price)?;
    let gov_feed = deploy_feed("VGOV / USD", cfg.gov_price as f64)?;

    // Venue contracts.
    let pair = chain.deploy(
        d,
        initcode(
            &VenuePair::BYTECODE,
            VenuePair::constructorCall { guardian_: guardian, tokenA: usd_token, tokenB: weth },
        ),
    )?;
    let router = chain.deploy(d, VenueRouter::BYTECODE.clone())?;
    let flash_lender =
        chain.deploy(d, initcode(&FlashLender::BYTECODE, FlashLender::constructorCall { guardian_: guardian }))?;
    let pool = chain.deploy(
        d,
        initcode(
            &MarginPool::BYTECODE,
            MarginPool::constructorCall { guardian_: guardian, owner_: d, loanToken_: usd_token },
        ),
    )?;
    let legacy_market = chain.deploy(
        d,
        initcode(
            &LegacyMarket::BYTECODE,
            LegacyMarket::constructorCall {
                guardian_: guardian,
                asset_: usd_token,
                collateral_: weth,
                feed_: eth_feed,
            },
        ),
    )?;
    let legacy_vault = chain.deploy(
        d,
        initcode(&LegacyVault::BYTECODE, LegacyVault::constructorCall { guardian_: guardian, token_: hbtc }),
    )?;
    let options = chain.deploy(
        d,
        initcode(
            &OptionVault::BYTECODE,
            OptionVault::constructorCall { guardian_: guardian, underlying_: weth, quote_: usd_token, feed_: eth_feed },
        ),
    )?;
    let reserve_impl =
        chain.deploy(d, initcode(&ReserveVault::BYTECODE, ReserveVault::constructorCall { guardian_: guardian }))?;
    let reserve = chain.deploy(
        d,
        initcode(
            &ReserveVaultProxy::BYTECODE,
            ReserveVaultProxy::constructorCall {
                implementation: reserve_impl,
                data: ReserveVault::initializeCall { admin: actors.ops.address() }.abi_encode().into(),
            },
        ),
    )?;
    let legacy_governance = chain.deploy(
        d,
        initcode(&LegacyGovernance::BYTECODE, LegacyGovernance::constructorCall { guardian_: guardian, token_: gov }),
    )?;
    let gate = chain.deploy(
        d,
        initcode(&SecurityGate::BYTECODE, SecurityGate::constructorCall { governance_: d, oracles_: guardian }),
    )?;

    let venue = Venue {
        guardian,
        usd: usd_token,
        weth,
        gov,
        hbtc,
        eth_feed,
        gov_feed,
        pair,
        router,
        flash_lender,
        pool,
        legacy_market,
        legacy_vault,
        options,
        reserve,
        reserve_impl,
        timelock,
        governor,
        legacy_governance,
        gate,
    };

    chain.exec(d, guardian, Guardian::setGateCall { gate_: gate })?;
    create_markets(chain, actors, &venue)?;
    seed_liquidity(chain, actors, &venue, cfg)?;
    // The rules go live after the seeding, whose deposits are above them.
    for (target, mut rule) in gate_rules(&venue) {
        rule.active = cfg.gate;
        chain.exec(d, gate, SecurityGate::setRuleCall { target, rule })?;
    }
    hand_over_governance(chain, actors, &venue, cfg)?;
    Ok(venue)
}

fn create_markets<B: Backend>(chain: &mut B, actors: &Actors, v: &Venue) -> Result<(), ExecError> {
    let d = actors.deployer.address();
    let markets = [
        (v.weth, 0u8, v.eth_feed, 7_500u16, 8_250u16, 500u16),
        (v.weth, 1u8, v.pair, 7_500, 8_250, 500),
        (v.gov, 0u8, v.gov_feed, 5_000, 6_500, 1_000),
    ];
    for (collateral, kind, oracle, ltv, threshold, bonus) in markets {
        chain.exec(
            d,
            v.pool,
            MarginPool::createMarketCall {
                params: MarginPool::MarketParams {
                    collateral,
                    oracleKind: kind,
                    oracle,
                    ltvBps: ltv,
                    liquidationThresholdBps: threshold,
                    liquidationBonusBps: bonus,
                    borrowFeeBps: 10,
                },
            },
        )?;
    }
    Ok(())
}

/// Mints stablecoins to `to` (the deployer is the issuer).
fn mint_usd<B: Backend>(chain: &mut B, actors: &Actors, v: &Venue, to: Address, amount: U256) -> Result<(), ExecError> {
    chain.exec(actors.deployer.address(), v.usd, StableToken::mintCall { to, amount })
}

/// Wraps `amount` ether of `who` into WETH.
pub fn wrap_eth<B: Backend>(chain: &mut B, v: &Venue, who: Address, amount: U256) -> Result<(), ExecError> {
    chain.exec_with_value(who, v.weth, WrappedEther::depositCall {}, amount)
}

/// Approves `spender` for `amount` of `token` from `owner`.
pub fn approve<B: Backend>(
    chain: &mut B,
    token: Address,
    owner: Address,
    spender: Address,
    amount: U256,
) -> Result<(), ExecError> {
    chain.exec(owner, token, IERC20::approveCall { spender, value: amount })
}

/// Transfers `amount` of `token` from `from` to `to`.
pub fn transfer<B: Backend>(
    chain: &mut B,
    token: Address,
    from: Address,
    to: Address,
    amount: U256,
) -> Result<(), ExecError> {
    chain.exec(from, token, IERC20::transferCall { to, value: amount })
}

fn seed_liquidity<B: Backend>(chain: &mut B, actors: &Actors, v: &Venue, cfg: &VenueConfig) -> Result<(), ExecError> {
    let d = actors.deployer.address();

    // AMM: the LP provides WETH and vUSD at the genesis price.
    let lp = actors.lp.address();
    let pair_weth = units18_of(cfg.pair_weth);
    let pair_usd = usd_of(cfg.pair_weth * cfg.eth_price);
    wrap_eth(chain, v, lp, pair_weth)?;
    mint_usd(chain, actors, v, lp, pair_usd)?;
    approve(chain, v.weth, lp, v.router, pair_weth)?;
    approve(chain, v.usd, lp, v.router, pair_usd)?;
    let (amount0, amount1) = if v.usd < v.weth { (pair_usd, pair_weth) } else { (pair_weth, pair_usd) };
    chain.exec(lp, v.router, VenueRouter::addLiquidityCall { pair: v.pair, amount0, amount1, to: lp })?;

    // Lending markets: the lender supplies vUSD to each.
    let lender = actors.lender.address();
    let supplies = [
        (MARKET_WETH_FEED, cfg.market_weth_feed_supply),
        (MARKET_WETH_SPOT, cfg.market_weth_spot_supply),
        (MARKET_GOV_FEED, cfg.market_gov_supply),
    ];
    let total: u64 = supplies.iter().map(|(_, a)| a).sum::<u64>() + cfg.legacy_market_deposits;
    mint_usd(chain, actors, v, lender, usd(total))?;
    approve(chain, v.usd, lender, v.pool, U256::MAX)?;
    for (id, amount) in supplies {
        chain.exec(
            lender,
            v.pool,
            MarginPool::supplyCall { id: U256::from(id), assets: usd(amount), onBehalf: lender },
        )?;
    }
    approve(chain, v.usd, lender, v.legacy_market, U256::MAX)?;
    chain.exec(lender, v.legacy_market, LegacyMarket::depositCall { amount: usd(cfg.legacy_market_deposits) })?;

    // Legacy vault: users deposit hBTC.
    let vault_holder = actors.writer.address();
    chain.exec(d, v.hbtc, HookToken::mintCall { to: vault_holder, amount: units18(cfg.legacy_vault_deposits) })?;
    approve(chain, v.hbtc, vault_holder, v.legacy_vault, U256::MAX)?;
    chain.exec(
        vault_holder,
        v.legacy_vault,
        LegacyVault::depositCall { amount: units18(cfg.legacy_vault_deposits) },
    )?;

    // Flash lender liquidity.
    mint_usd(chain, actors, v, v.flash_lender, usd(cfg.flash_usd))?;
    wrap_eth(chain, v, d, units18(cfg.flash_weth + cfg.reserve_weth))?;
    transfer(chain, v.weth, d, v.flash_lender, units18(cfg.flash_weth))?;
    transfer(chain, v.gov, d, v.flash_lender, units18(cfg.flash_gov))?;

    // Reserve vault.
    mint_usd(chain, actors, v, v.reserve, usd(cfg.reserve_usd))?;
    transfer(chain, v.weth, d, v.reserve, units18(cfg.reserve_weth))?;

    // VGOV outside the flash lender: the LP (a large holder who votes) and the deployer's team allocation,
    // both delegated to themselves.
    let holder_share = (cfg.gov_supply - cfg.flash_gov) / 2;
    transfer(chain, v.gov, d, lp, units18(holder_share))?;
    chain.exec(lp, v.gov, GovToken::delegateCall { delegatee: lp })?;
    chain.exec(d, v.gov, GovToken::delegateCall { delegatee: d })?;

    // Working balances for the other actors.
    for who in [actors.borrower.address(), actors.trader.address(), actors.buyer.address(), actors.writer.address()] {
        mint_usd(chain, actors, v, who, usd(1_000_000))?;
        wrap_eth(chain, v, who, units18(1_000))?;
    }
    Ok(())
}

fn hand_over_governance<B: Backend>(
    chain: &mut B,
    actors: &Actors,
    v: &Venue,
    cfg: &VenueConfig,
) -> Result<(), ExecError> {
    let d = actors.deployer.address();

    // The reserve vault pays out only on governance's word: the timelock and the legacy module.
    let spender = chain.read(v.reserve, ReserveVault::SPENDER_ROLECall {})?;
    for account in [v.timelock, v.legacy_governance] {
        chain.exec(actors.ops.address(), v.reserve, ReserveVault::grantRoleCall { role: spender, account })?;
    }

    // The cooldown bound (if the config lowers it), mandates for every protected scope, then the Guardian goes to
    // the timelock or to the security council.
    if let Some(min) = cfg.min_cooldown_seconds {
        let bounds = chain.read(v.guardian, Guardian::boundsCall {})?;
        chain.exec(
            d,
            v.guardian,
            Guardian::setBoundsCall { b: Guardian::Bounds { minCooldownSeconds: min, ..bounds } },
        )?;
    }
    let expiry = chain.timestamp()? + cfg.mandate_seconds;
    for (target, scope) in v.protected_scopes() {
        chain.exec(
            d,
            v.guardian,
            Guardian::grantMandateCall {
                target,
                scope: U256::from(scope),
                maxPauseSeconds: cfg.max_pause_seconds,
                cooldownSeconds: cfg.cooldown_seconds,
                expiry,
            },
        )?;
    }
    let guardian_governance = cfg.security_council.unwrap_or(v.timelock);
    chain.exec(d, v.guardian, Guardian::transferGovernanceCall { newGovernance: guardian_governance })?;
    chain.exec(d, v.gate, SecurityGate::transferGovernanceCall { newGovernance: guardian_governance })?;
    if let Some(council) = cfg.security_council {
        chain.exec(council, v.guardian, Guardian::acceptGovernanceCall {})?;
        chain.exec(council, v.gate, SecurityGate::acceptGovernanceCall {})?;
    }
    chain.exec(d, v.pool, MarginPool::transferOwnershipCall { newOwner: v.timelock })?;

    // The timelock accepts the Guardian (two-step transfer) unless the council took it, and sets its own delay,
    // in one operation the deployer schedules and executes while the delay is still zero.
    let proposer = chain.read(v.timelock, VenueTimelock::PROPOSER_ROLECall {})?;
    chain.exec(d, v.timelock, VenueTimelock::grantRoleCall { role: proposer, account: d })?;
    let mut targets = vec![v.timelock];
    let mut payloads: Vec<Bytes> =
        vec![VenueTimelock::updateDelayCall { newDelay: U256::from(cfg.timelock_delay) }.abi_encode().into()];
    if cfg.security_council.is_none() {
        targets.splice(0..0, [v.guardian, v.gate]);
        let accept: Bytes = Guardian::acceptGovernanceCall {}.abi_encode().into();
        payloads.splice(0..0, [accept.clone(), accept]);
    }
    let values = vec![U256::ZERO; targets.len()];
    let salt = B256::ZERO;
    chain.exec(
        d,
        v.timelock,
        VenueTimelock::scheduleBatchCall {
            targets: targets.clone(),
            values: values.clone(),
            payloads: payloads.clone(),
            predecessor: B256::ZERO,
            salt,
            delay: U256::ZERO,
        },
    )?;
    chain.exec(
        d,
        v.timelock,
        VenueTimelock::executeBatchCall { targets, values, payloads, predecessor: B256::ZERO, salt },
    )?;
    chain.exec(d, v.timelock, VenueTimelock::revokeRoleCall { role: proposer, account: d })?;

    // The governor proposes and cancels through the timelock; the deployer gives up its admin role.
    let canceller = chain.read(v.timelock, VenueTimelock::CANCELLER_ROLECall {})?;
    let admin = chain.read(v.timelock, VenueTimelock::DEFAULT_ADMIN_ROLECall {})?;
    chain.exec(d, v.timelock, VenueTimelock::grantRoleCall { role: proposer, account: v.governor })?;
    chain.exec(d, v.timelock, VenueTimelock::grantRoleCall { role: canceller, account: v.governor })?;
    chain.exec(d, v.timelock, VenueTimelock::renounceRoleCall { role: admin, callerConfirmation: d })?;
    Ok(())
}

/// A token balance.
pub fn balance_of<B: Reader>(chain: &mut B, token: Address, who: Address) -> Result<U256, ExecError> {
    chain.read(token, IERC20::balanceOfCall { account: who })
}

/// A call's encoded data, for governance proposals.
pub fn encode<C: SolCall>(call: C) -> Bytes {
    call.abi_encode().into()
}
