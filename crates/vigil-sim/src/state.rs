//! A snapshot of the venue read from chain state: token holdings of each venue contract, prices, markets.
//!
//! Losses and profits in tests and reports are differences between two snapshots, never numbers a script
//! claims. Values in dollars use the feeds' prices (the venue's own reference), in stablecoin units.

use std::fmt;

use alloy::primitives::{Address, U256};
use vigil_contracts::{Guardian, MarginPool, PriceFeed, VenuePair};

use crate::backend::{ExecError, Reader};
use crate::venue::{balance_of, Venue, MARKET_GOV_FEED, MARKET_WETH_FEED, MARKET_WETH_SPOT};

/// Balances of the venue's four tokens held by one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holdings {
    /// vUSD (6 decimals).
    pub usd: U256,
    /// WETH (18 decimals).
    pub weth: U256,
    /// VGOV (18 decimals).
    pub gov: U256,
    /// hBTC (18 decimals).
    pub hbtc: U256,
}

impl Holdings {
    /// Reads the holdings of `who`.
    pub fn read<B: Reader>(chain: &mut B, v: &Venue, who: Address) -> Result<Self, ExecError> {
        Ok(Self {
            usd: balance_of(chain, v.usd, who)?,
            weth: balance_of(chain, v.weth, who)?,
            gov: balance_of(chain, v.gov, who)?,
            hbtc: balance_of(chain, v.hbtc, who)?,
        })
    }

    /// Sum of two holdings.
    pub fn plus(&self, o: &Holdings) -> Holdings {
        Holdings { usd: self.usd + o.usd, weth: self.weth + o.weth, gov: self.gov + o.gov, hbtc: self.hbtc + o.hbtc }
    }

    /// What `self` has beyond `before`, token by token (zero where it has less).
    pub fn gained_since(&self, before: &Holdings) -> Holdings {
        Holdings {
            usd: self.usd.saturating_sub(before.usd),
            weth: self.weth.saturating_sub(before.weth),
            gov: self.gov.saturating_sub(before.gov),
            hbtc: self.hbtc.saturating_sub(before.hbtc),
        }
    }

    /// Dollar value in stablecoin units at the given prices (stablecoin units per whole token); hBTC has no
    /// feed on the venue and is not valued.
    pub fn value_usd(&self, prices: &Prices) -> U256 {
        let one = U256::from(10u64).pow(U256::from(18));
        self.usd + self.weth * prices.eth_usd / one + self.gov * prices.gov_usd / one
    }
}

impl fmt::Display for Holdings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} vUSD, {} WETH, {} VGOV, {} hBTC",
            fmt_units(self.usd, 6),
            fmt_units(self.weth, 18),
            fmt_units(self.gov, 18),
            fmt_units(self.hbtc, 18)
        )
    }
}

/// Prices in stablecoin units (6 decimals) per whole token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prices {
    /// ETH/USD from the feed.
    pub eth_usd: U256,
    /// VGOV/USD from the feed.
    pub gov_usd: U256,
    /// WETH's spot price on the pair.
    pub eth_usd_spot: U256,
}

/// One lending market of the margin pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketState {
    /// Market id (= Guardian scope).
    pub id: u64,
    /// Lenders' assets (stablecoin units).
    pub supplied: U256,
    /// Outstanding debt.
    pub borrowed: U256,
    /// Collateral held (collateral token units).
    pub collateral: U256,
    /// Collateral price the market uses now.
    pub price: U256,
}

/// The venue's state at one block.
#[derive(Debug, Clone)]
pub struct VenueState {
    /// Timestamp of the block read.
    pub timestamp: u64,
    /// Prices.
    pub prices: Prices,
    /// Pair reserves (vUSD, WETH).
    pub pair_reserves: (U256, U256),
    /// Holdings of each venue contract that holds funds.
    pub holdings: Vec<(&'static str, Address, Holdings)>,
    /// The margin pool's markets.
    pub markets: Vec<MarketState>,
    /// Guardian: oracle signers, threshold, config version, governance.
    pub oracle_signers: Vec<Address>,
    /// Signatures required.
    pub threshold: U256,
    /// Current config version.
    pub config_version: U256,
    /// Who governs the Guardian.
    pub guardian_governance: Address,
}

impl VenueState {
    /// Reads the venue's state at the latest block.
    pub fn read<B: Reader>(chain: &mut B, v: &Venue) -> Result<Self, ExecError> {
        let prices = read_prices(chain, v)?;
        let reserves = chain.read(v.pair, VenuePair::getReservesCall {})?;
        let (r0, r1) = (U256::from(reserves._0), U256::from(reserves._1));
        let pair_reserves = if v.usd < v.weth { (r0, r1) } else { (r1, r0) };
        let mut holdings = Vec::new();
        for (name, addr) in fund_holders(v) {
            holdings.push((name, addr, Holdings::read(chain, v, addr)?));
        }
        let mut markets = Vec::new();
        for id in [MARKET_WETH_FEED, MARKET_WETH_SPOT, MARKET_GOV_FEED] {
            let m = chain.read(v.pool, MarginPool::marketCall { id: U256::from(id) })?;
            let price = chain.read(v.pool, MarginPool::collateralPriceCall { id: U256::from(id) })?;
            markets.push(MarketState {
                id,
                supplied: m.totalSupplyAssets,
                borrowed: m.totalBorrows,
                collateral: m.totalCollateral,
                price,
            });
        }
        Ok(Self {
            timestamp: chain.timestamp()?,
            prices,
            pair_reserves,
            holdings,
            markets,
            oracle_signers: chain.read(v.guardian, Guardian::signersCall {})?,
            threshold: chain.read(v.guardian, Guardian::thresholdCall {})?,
            config_version: chain.read(v.guardian, Guardian::configVersionCall {})?,
            guardian_governance: chain.read(v.guardian, Guardian::governanceCall {})?,
        })
    }

    /// Total holdings of all venue contracts.
    pub fn total(&self) -> Holdings {
        self.holdings.iter().fold(Holdings::default(), |acc, (_, _, h)| acc.plus(h))
    }

    /// Dollar value of everything the venue's contracts hold, at feed prices.
    pub fn total_value_usd(&self) -> U256 {
        self.total().value_usd(&self.prices)
    }
}

/// The venue contracts that hold users' or the protocol's funds.
pub fn fund_holders(v: &Venue) -> Vec<(&'static str, Address)> {
    vec![
        ("WETH/vUSD pair", v.pair),
        ("flash lender", v.flash_lender),
        ("margin pool", v.pool),
        ("legacy market", v.legacy_market),
        ("legacy vault", v.legacy_vault),
        ("option vault", v.options),
        ("reserve vault", v.reserve),
    ]
}

/// Feed and spot prices, in stablecoin units per whole token.
pub fn read_prices<B: Reader>(chain: &mut B, v: &Venue) -> Result<Prices, ExecError> {
    let feed = |chain: &mut B, addr| -> Result<U256, ExecError> {
        let r = chain.read(addr, PriceFeed::latestRoundDataCall {})?;
        let answer = U256::try_from(r._1).unwrap_or_default();
        Ok(answer / U256::from(100u64)) // 8 feed decimals to 6 stablecoin decimals
    };
    Ok(Prices {
        eth_usd: feed(chain, v.eth_feed)?,
        gov_usd: feed(chain, v.gov_feed)?,
        eth_usd_spot: chain.read(v.pool, MarginPool::collateralPriceCall { id: U256::from(MARKET_WETH_SPOT) })?,
    })
}

/// `amount` with `decimals` decimals, as a decimal string with at most two fractional digits.
pub fn fmt_units(amount: U256, decimals: u32) -> String {
    let scale = U256::from(10u64).pow(U256::from(decimals));
    let whole = amount / scale;
    let cents = (amount % scale) * U256::from(100u64) / scale;
    let whole = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", cents.to::<u64>())
}

impl fmt::Display for VenueState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "prices (feed): ETH ${}  VGOV ${}",
            fmt_units(self.prices.eth_usd, 6),
            fmt_units(self.prices.gov_usd, 6)
        )?;
        writeln!(
            f,
            "pair: {} vUSD / {} WETH (spot ETH ${})",
            fmt_units(self.pair_reserves.0, 6),
            fmt_units(self.pair_reserves.1, 18),
            fmt_units(self.prices.eth_usd_spot, 6)
        )?;
        writeln!(f, "funds held:")?;
        for (name, addr, h) in &self.holdings {
            writeln!(f, "  {name:<16} {addr}  {h}")?;
        }
        writeln!(f, "  {:<16} {:42}  ${}", "total value", "", fmt_units(self.total_value_usd(), 6))?;
        writeln!(f, "margin pool markets:")?;
        for m in &self.markets {
            writeln!(
                f,
                "  market {}: supplied {} vUSD, borrowed {} vUSD, collateral {}, price ${}",
                m.id,
                fmt_units(m.supplied, 6),
                fmt_units(m.borrowed, 6),
                fmt_units(m.collateral, 18),
                fmt_units(m.price, 6)
            )?;
        }
        writeln!(
            f,
            "guardian: {}-of-{} oracle signers, config version {}, governed by {}",
            self.threshold,
            self.oracle_signers.len(),
            self.config_version,
            self.guardian_governance
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_grouped_with_two_decimals() {
        assert_eq!(fmt_units(U256::from(1_234_567_891u64), 6), "1,234.56");
        assert_eq!(fmt_units(U256::from(5u64), 6), "0.00");
        assert_eq!(fmt_units(U256::from(10u64).pow(U256::from(24)), 18), "1,000,000.00");
    }
}
