//! Ordinary users of the venue, seeded: the traffic that attacks hide in.
//!
//! Each block, [`Traffic::block_txs`] reads the chain at the head (like a user reading a node before sending)
//! and produces transactions: the keeper updates the ETH/USD feed on a 0.5 % deviation or a one-hour heartbeat
//! (Chainlink's rule); arbitrageurs trade the pair toward the feed price with at most $150k a block (capital and
//! gas bound them, which is why a fast enough manipulation can outrun them); traders swap random sizes
//! (log-normal, median $2k); borrowers open and close positions at 40–70 % LTV; liquidators liquidate unhealthy
//! positions; lenders supply and withdraw (more withdrawals after a large fall: a bank run); option writers and
//! buyers write, buy and settle covered calls; LPs add and remove liquidity. Every decision comes from one
//! ChaCha8 stream seeded by the scenario's seed, so the same seed gives the same transactions.
//!
//! Traffic actors' keys are derived from the seed-independent labels `vigil-sim traffic actor {i}` (they never
//! hold value outside the proving ground).

use alloy::{
    primitives::{keccak256, Address, U256},
    signers::local::PrivateKeySigner,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};
use vigil_contracts::{
    HookToken, LegacyMarket, MarginPool, OptionVault, PriceFeed, StableToken, VenuePair, VenueRouter, IERC20,
};

use crate::actors::Actors;
use crate::backend::{Backend, ExecError, Reader};
use crate::chain::{SimChain, TxRequest};
use crate::venue::{
    feed_answer, units18, units18_of, usd, usd_of, wrap_eth, Venue, MARKET_WETH_FEED, MARKET_WETH_SPOT,
};

/// Largest trade an arbitrageur makes in one block, in dollars.
pub const ARB_MAX_USD: f64 = 150_000.0;
/// Spot/feed gap under which arbitrageurs do nothing.
pub const ARB_THRESHOLD: f64 = 0.003;
/// Feed deviation that triggers an update.
pub const FEED_DEVIATION: f64 = 0.005;
/// Feed heartbeat, in blocks (one hour).
pub const FEED_HEARTBEAT: u64 = 300;

/// The traffic's accounts.
#[derive(Debug, Clone)]
pub struct TrafficActors {
    /// Arbitrageurs.
    pub arbs: Vec<PrivateKeySigner>,
    /// Traders.
    pub traders: Vec<PrivateKeySigner>,
    /// Borrowers.
    pub borrowers: Vec<PrivateKeySigner>,
    /// Liquidators.
    pub liquidators: Vec<PrivateKeySigner>,
    /// Lenders (margin pool and legacy market).
    pub lenders: Vec<PrivateKeySigner>,
    /// Option writers.
    pub writers: Vec<PrivateKeySigner>,
    /// Option buyers.
    pub buyers: Vec<PrivateKeySigner>,
    /// Liquidity providers.
    pub lps: Vec<PrivateKeySigner>,
}

fn traffic_key(i: usize) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(format!("vigil-sim traffic actor {i}")))
        .expect("a keccak digest is a valid secp256k1 key with overwhelming probability")
}

impl TrafficActors {
    /// The standard population: 2 arbitrageurs, 8 traders, 12 borrowers, 2 liquidators, 4 lenders, 3 writers,
    /// 3 buyers, 2 LPs.
    pub fn standard() -> Self {
        let mut next = 0;
        let mut take = |n: usize| {
            let keys = (next..next + n).map(traffic_key).collect();
            next += n;
            keys
        };
        Self {
            arbs: take(2),
            traders: take(8),
            borrowers: take(12),
            liquidators: take(2),
            lenders: take(4),
            writers: take(3),
            buyers: take(3),
            lps: take(2),
        }
    }

    /// Every key.
    pub fn all_keys(&self) -> Vec<PrivateKeySigner> {
        [
            &self.arbs,
            &self.traders,
            &self.borrowers,
            &self.liquidators,
            &self.lenders,
            &self.writers,
            &self.buyers,
            &self.lps,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// The ETH price the traffic's amounts in WETH are written for: at another starting price they hold the same
/// dollars (so a history near $1 or near $60,000 trades, borrows and arbitrages as one near $3,000 does).
pub const REFERENCE_ETH_PRICE: f64 = 3_000.0;

/// Gives the traffic actors ether, stablecoins, WETH and approvals, before genesis; WETH holdings are worth at
/// `eth_price` what they are worth at [`REFERENCE_ETH_PRICE`].
pub fn fund_traffic<B: Backend>(
    chain: &mut B,
    a: &Actors,
    v: &Venue,
    t: &TrafficActors,
    eth_price: f64,
) -> Result<(), ExecError> {
    let d = a.deployer.address();
    let scale = REFERENCE_ETH_PRICE / eth_price;
    for key in t.all_keys() {
        let who = key.address();
        // Arbitrageurs stand for the whole market's arbitrage: an inventory that a long real history (ETH from $321
        // to $1,385 and down to $200 over 495 days) does not run dry, as it did with 2,000 WETH each after 300 days.
        let (usd_amount, weth_amount) = if t.arbs.iter().any(|k| k.address() == who) {
            (20_000_000, 20_000)
        } else if t.lenders.iter().any(|k| k.address() == who) {
            (2_000_000, 10)
        } else {
            (500_000, 200)
        };
        let weth = weth_amount as f64 * scale;
        // Enough ether to wrap the WETH at any price level, and for gas.
        chain.set_balance(who, units18(1_000_000).max(units18_of(weth) + units18(1_000)))?;
        chain.exec(d, v.usd, StableToken::mintCall { to: who, amount: usd(usd_amount) })?;
        wrap_eth(chain, v, who, units18_of(weth))?;
        for spender in [v.router, v.pool, v.options, v.legacy_market, v.legacy_vault, v.pair] {
            chain.exec(who, v.usd, IERC20::approveCall { spender, value: U256::MAX })?;
            chain.exec(who, v.weth, IERC20::approveCall { spender, value: U256::MAX })?;
        }
    }
    for lp in &t.lps {
        chain.exec(lp.address(), v.pair, IERC20::approveCall { spender: v.router, value: U256::MAX })?;
    }
    for lender in &t.lenders {
        chain.exec(d, v.hbtc, HookToken::mintCall { to: lender.address(), amount: units18(20) })?;
        chain.exec(lender.address(), v.hbtc, IERC20::approveCall { spender: v.legacy_vault, value: U256::MAX })?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct OpenPosition {
    borrower: usize,
    market: u64,
    collateral: U256,
    /// Block offset of the transactions that open it (its state is on chain from the next block).
    opened: u64,
}

/// The traffic generator.
pub struct Traffic {
    rng: ChaCha8Rng,
    actors: TrafficActors,
    venue: Venue,
    keeper: Address,
    last_feed: f64,
    last_feed_block: u64,
    start_price: f64,
    positions: Vec<OpenPosition>,
    known_options: u64,
    open_options: Vec<u64>,
}

impl Traffic {
    /// A generator for `venue`, seeded, with the feed at `start_price`.
    pub fn new(seed: u64, actors: TrafficActors, venue: Venue, keeper: Address, start_price: f64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            actors,
            venue,
            keeper,
            last_feed: start_price,
            last_feed_block: 0,
            start_price,
            positions: Vec::new(),
            known_options: 0,
            open_options: Vec::new(),
        }
    }

    /// Transactions for block `i` (offset from genesis), given the price the market is at and the block's
    /// timestamp.
    pub fn block_txs(
        &mut self,
        chain: &mut SimChain,
        i: u64,
        price: f64,
        timestamp: u64,
    ) -> Result<Vec<TxRequest>, ExecError> {
        let mut txs = Vec::new();
        self.keeper(&mut txs, i, price);
        let feed = self.last_feed;
        self.arbitrage(chain, &mut txs, feed)?;
        self.trade(chain, &mut txs)?;
        self.borrow(&mut txs, feed, i);
        self.liquidate(chain, &mut txs, i)?;
        self.lend(chain, &mut txs, feed)?;
        self.options(chain, &mut txs, feed, timestamp)?;
        self.provide_liquidity(chain, &mut txs)?;
        Ok(txs)
    }

    /// What the traffic's WETH amounts (written for [`REFERENCE_ETH_PRICE`]) are multiplied by: the same dollars
    /// at the starting price (exactly 1 at the reference).
    fn weth_scale(&self) -> f64 {
        REFERENCE_ETH_PRICE / self.start_price
    }

    fn keeper(&mut self, txs: &mut Vec<TxRequest>, i: u64, price: f64) {
        let deviation = (price / self.last_feed - 1.0).abs();
        if deviation >= FEED_DEVIATION || i >= self.last_feed_block + FEED_HEARTBEAT {
            txs.push(TxRequest::benign(
                self.keeper,
                self.venue.eth_feed,
                PriceFeed::submitCall { answer: feed_answer(price) },
                "keeper:eth-usd",
            ));
            self.last_feed = price;
            self.last_feed_block = i;
        }
    }

    /// Pair reserves as (vUSD, WETH) in whole tokens.
    fn reserves(&self, chain: &mut SimChain) -> Result<(f64, f64), ExecError> {
        let r = chain.read(self.venue.pair, VenuePair::getReservesCall {})?;
        let (r0, r1) = (r._0.to::<u128>() as f64, r._1.to::<u128>() as f64);
        Ok(if self.venue.usd < self.venue.weth { (r0 / 1e6, r1 / 1e18) } else { (r1 / 1e6, r0 / 1e18) })
    }

    fn swap(&self, from: Address, usd_in: bool, amount: U256, what: &str) -> TxRequest {
        let token_in = if usd_in { self.venue.usd } else { self.venue.weth };
        TxRequest::benign(
            from,
            self.venue.router,
            VenueRouter::swapExactInCall {
                pair: self.venue.pair,
                tokenIn: token_in,
                amountIn: amount,
                minOut: U256::ZERO,
                to: from,
            },
            what,
        )
    }

    fn arbitrage(&mut self, chain: &mut SimChain, txs: &mut Vec<TxRequest>, feed: f64) -> Result<(), ExecError> {
        let (u, w) = self.reserves(chain)?;
        let spot = u / w;
        if (spot / feed - 1.0).abs() < ARB_THRESHOLD {
            return Ok(());
        }
        let arb = self.actors.arbs[self.rng.random_range(0..self.actors.arbs.len())].address();
        let k = u * w;
        if spot < feed {
            let amount = (((k * feed).sqrt() - u) / 0.997).min(ARB_MAX_USD);
            txs.push(self.swap(arb, true, usd_of(amount), "arbitrageur:buy-weth"));
        } else {
            let amount = (((k / feed).sqrt() - w) / 0.997).min(ARB_MAX_USD / feed);
            txs.push(self.swap(arb, false, units18_of(amount), "arbitrageur:sell-weth"));
        }
        Ok(())
    }

    fn trade(&mut self, chain: &mut SimChain, txs: &mut Vec<TxRequest>) -> Result<(), ExecError> {
        let n = Poisson::new(4.0).expect("rate").sample(&mut self.rng) as usize;
        if n == 0 {
            return Ok(());
        }
        let (u, w) = self.reserves(chain)?;
        let spot = u / w;
        let size = LogNormal::new(2_000f64.ln(), 1.0).expect("log-normal");
        for _ in 0..n {
            let trader = self.actors.traders[self.rng.random_range(0..self.actors.traders.len())].address();
            let dollars = size.sample(&mut self.rng).min(50_000.0);
            if self.rng.random_bool(0.5) {
                txs.push(self.swap(trader, true, usd_of(dollars), "trader:buy-weth"));
            } else {
                txs.push(self.swap(trader, false, units18_of(dollars / spot), "trader:sell-weth"));
            }
        }
        Ok(())
    }

    fn borrow(&mut self, txs: &mut Vec<TxRequest>, feed: f64, i: u64) {
        let pool = self.venue.pool;
        if self.rng.random_bool(0.08) {
            let borrower = self.rng.random_range(0..self.actors.borrowers.len());
            if !self.positions.iter().any(|p| p.borrower == borrower) {
                let market = if self.rng.random_bool(0.7) { MARKET_WETH_FEED } else { MARKET_WETH_SPOT };
                let coll = self.rng.random_range(2.0..30.0f64) * self.weth_scale();
                let ltv = self.rng.random_range(0.40..0.70f64);
                let who = self.actors.borrowers[borrower].address();
                let collateral = units18_of(coll);
                txs.push(TxRequest::benign(
                    who,
                    pool,
                    MarginPool::supplyCollateralCall { id: U256::from(market), assets: collateral, onBehalf: who },
                    "borrower:collateral",
                ));
                txs.push(TxRequest::benign(
                    who,
                    pool,
                    MarginPool::borrowCall { id: U256::from(market), assets: usd_of(coll * feed * ltv), receiver: who },
                    "borrower:borrow",
                ));
                self.positions.push(OpenPosition { borrower, market, collateral, opened: i });
            }
        }
        if !self.positions.is_empty() && self.rng.random_bool(0.04) {
            let p = self.positions.swap_remove(self.rng.random_range(0..self.positions.len()));
            let who = self.actors.borrowers[p.borrower].address();
            let id = U256::from(p.market);
            txs.push(TxRequest::benign(
                who,
                pool,
                MarginPool::repayCall { id, assets: U256::MAX, onBehalf: who },
                "borrower:repay",
            ));
            txs.push(TxRequest::benign(
                who,
                pool,
                MarginPool::withdrawCollateralCall { id, assets: p.collateral, receiver: who },
                "borrower:withdraw-collateral",
            ));
        }
    }

    /// Liquidates unhealthy positions, and closes positions whose collateral is gone (liquidated, or never
    /// opened because the borrow reverted). Each position's state is read once per block.
    fn liquidate(&mut self, chain: &mut SimChain, txs: &mut Vec<TxRequest>, i: u64) -> Result<(), ExecError> {
        let one = U256::from(10u64).pow(U256::from(18));
        let mut keep = Vec::with_capacity(self.positions.len());
        for p in std::mem::take(&mut self.positions) {
            if p.opened >= i {
                keep.push(p);
                continue;
            }
            let who = self.actors.borrowers[p.borrower].address();
            let id = U256::from(p.market);
            let pos = chain.read(self.venue.pool, MarginPool::positionCall { id, user: who })?;
            if pos.collateral.is_zero() {
                continue;
            }
            keep.push(OpenPosition { collateral: pos.collateral, ..p });
            let hf = chain.read(self.venue.pool, MarginPool::healthFactorCall { id, user: who })?;
            if hf >= one {
                continue;
            }
            let liquidator = self.actors.liquidators[self.rng.random_range(0..self.actors.liquidators.len())].address();
            txs.push(TxRequest::benign(
                liquidator,
                self.venue.pool,
                MarginPool::liquidateCall { id, borrower: who, repayAssets: pos.debt / U256::from(2) },
                "liquidator:liquidate",
            ));
        }
        self.positions = keep;
        Ok(())
    }

    fn lend(&mut self, chain: &mut SimChain, txs: &mut Vec<TxRequest>, feed: f64) -> Result<(), ExecError> {
        let fallen = feed < self.start_price * 0.85;
        let lender = self.actors.lenders[self.rng.random_range(0..self.actors.lenders.len())].address();
        let market = U256::from(self.rng.random_range(1..=3u64));
        if self.rng.random_bool(0.05) {
            let amount = usd_of(self.rng.random_range(10_000.0..200_000.0));
            txs.push(TxRequest::benign(
                lender,
                self.venue.pool,
                MarginPool::supplyCall { id: market, assets: amount, onBehalf: lender },
                "lender:supply",
            ));
        }
        if self.rng.random_bool(if fallen { 0.3 } else { 0.03 }) {
            let shares =
                chain.read(self.venue.pool, MarginPool::positionCall { id: market, user: lender })?.supplyShares;
            let cash = chain.read(self.venue.pool, MarginPool::cashCall { id: market })?;
            let part = (shares / U256::from(3)).min(cash / U256::from(2));
            if !part.is_zero() {
                txs.push(TxRequest::benign(
                    lender,
                    self.venue.pool,
                    MarginPool::withdrawCall { id: market, shares: part, receiver: lender },
                    "lender:withdraw",
                ));
            }
        }
        if self.rng.random_bool(0.02) {
            let amount = usd_of(self.rng.random_range(5_000.0..50_000.0));
            txs.push(TxRequest::benign(
                lender,
                self.venue.legacy_market,
                LegacyMarket::depositCall { amount },
                "lender:legacy-deposit",
            ));
        }
        if self.rng.random_bool(0.01) {
            txs.push(TxRequest::benign(
                lender,
                self.venue.legacy_vault,
                vigil_contracts::LegacyVault::depositCall { amount: units18(1) },
                "saver:vault-deposit",
            ));
        }
        Ok(())
    }

    fn options(
        &mut self,
        chain: &mut SimChain,
        txs: &mut Vec<TxRequest>,
        feed: f64,
        timestamp: u64,
    ) -> Result<(), ExecError> {
        let vault = self.venue.options;
        let count = chain.read(vault, OptionVault::optionCountCall {})?.to::<u64>();
        for id in self.known_options + 1..=count {
            self.open_options.push(id);
        }
        self.known_options = count;
        if self.rng.random_bool(0.05) {
            let writer = self.actors.writers[self.rng.random_range(0..self.actors.writers.len())].address();
            let amount = self.rng.random_range(1.0..10.0f64) * self.weth_scale();
            let strike = (feed * self.rng.random_range(1.05..1.25)).round();
            let premium = amount * feed * self.rng.random_range(0.005..0.02);
            let expiry = timestamp + self.rng.random_range(600..3_600u64);
            txs.push(TxRequest::benign(
                writer,
                vault,
                OptionVault::writeCall {
                    amount: units18_of(amount),
                    strike: usd_of(strike),
                    premium: usd_of(premium),
                    expiry,
                },
                "writer:write-call",
            ));
        }
        let mut still_open = Vec::with_capacity(self.open_options.len());
        for id in std::mem::take(&mut self.open_options) {
            let key = U256::from(id);
            let o = chain.read(vault, OptionVault::optionCall { id: key })?;
            match o.state {
                1 if o.expiry > timestamp && self.rng.random_bool(0.2) => {
                    let buyer = self.actors.buyers[self.rng.random_range(0..self.actors.buyers.len())].address();
                    txs.push(TxRequest::benign(buyer, vault, OptionVault::buyCall { id: key }, "buyer:buy-call"));
                    still_open.push(id);
                }
                1 if o.expiry <= timestamp => {
                    let cancel = OptionVault::cancelCall { id: key };
                    txs.push(TxRequest::benign(o.writer, vault, cancel, "writer:cancel"));
                }
                2 if o.expiry <= timestamp => {
                    let settle = OptionVault::settleCall { id: key };
                    txs.push(TxRequest::benign(o.buyer, vault, settle, "buyer:settle"));
                }
                1 | 2 => still_open.push(id),
                _ => {}
            }
        }
        self.open_options = still_open;
        Ok(())
    }

    fn provide_liquidity(&mut self, chain: &mut SimChain, txs: &mut Vec<TxRequest>) -> Result<(), ExecError> {
        let lp = self.actors.lps[self.rng.random_range(0..self.actors.lps.len())].address();
        if self.rng.random_bool(0.01) {
            let (u, w) = self.reserves(chain)?;
            let dollars = self.rng.random_range(20_000.0..100_000.0);
            let (usd_amount, weth_amount) = (usd_of(dollars), units18_of(dollars / (u / w)));
            let (amount0, amount1) =
                if self.venue.usd < self.venue.weth { (usd_amount, weth_amount) } else { (weth_amount, usd_amount) };
            txs.push(TxRequest::benign(
                lp,
                self.venue.router,
                VenueRouter::addLiquidityCall { pair: self.venue.pair, amount0, amount1, to: lp },
                "lp:add",
            ));
        } else if self.rng.random_bool(0.005) {
            let lp_balance = chain.read(self.venue.pair, IERC20::balanceOfCall { account: lp })?;
            let liquidity = lp_balance / U256::from(10);
            if !liquidity.is_zero() {
                txs.push(TxRequest::benign(
                    lp,
                    self.venue.router,
                    VenueRouter::removeLiquidityCall { pair: self.venue.pair, liquidity, to: lp },
                    "lp:remove",
                ));
            }
        }
        Ok(())
    }
}
