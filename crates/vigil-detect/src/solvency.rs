//! Solvency: each lending market's collateral, valued at an independent reference feed, against its debt, per
//! market and in total.
//!
//! Per market, two state reads declared like any series (`crate::series`: a call `{ to, function, args, output,
//! decimals }` with the shared probe syntax, or a ratio): `collateral`, the market's total collateral in whole
//! tokens, and `debt`, its total debt in the loan token's unit; any lending protocol whose totals a view function
//! returns can be watched. The collateral is valued with the market's reference feed (Chainlink-compatible
//! `latestRoundData`, 8 decimals; not the market's own oracle, which may be the thing being manipulated). A market
//! whose collateral value falls below `min_ratio` × its debt is reported as degraded (high), with the numbers, on
//! scope `id` of `pool`; the pool as a whole (scope 0) likewise. A read that is missing, reverts or does not
//! decode is an error of the block.
//!
//! On the proving ground's margin pool (`vigil venue` prints the addresses):
//! ```toml
//! [[detector]]
//! type = "solvency"
//! name = "margin-pool-solvency"
//! protocol = "venue"
//! pool = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0"   # the contract whose scopes the markets are
//! min_ratio = 1.0     # default 1.0
//! severity = "high"   # default
//!
//! # MarginPool.market(id): the params tuple (outputs 0-6), collateralScale, totalSupplyAssets, totalSupplyShares,
//! # totalBorrows (10), totalCollateral (11), exists.
//! [[detector.markets]]   # WETH at the ETH/USD feed
//! id = 1
//! feed = "0xa513E6E4b8f2a923D98304ec87F64353C4D5C853"
//! collateral = { to = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", function = "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,uint256,uint256,uint256,uint256,bool)", args = ["1"], output = 11, decimals = 18 }
//! debt = { to = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", function = "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,uint256,uint256,uint256,uint256,bool)", args = ["1"], output = 10, decimals = 6 }
//!
//! [[detector.markets]]   # WETH, which the market prices from the pair, at the feed
//! id = 2
//! feed = "0xa513E6E4b8f2a923D98304ec87F64353C4D5C853"
//! collateral = { to = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", function = "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,uint256,uint256,uint256,uint256,bool)", args = ["2"], output = 11, decimals = 18 }
//! debt = { to = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", function = "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,uint256,uint256,uint256,uint256,bool)", args = ["2"], output = 10, decimals = 6 }
//!
//! [[detector.markets]]   # VGOV at its feed
//! id = 3
//! feed = "0x2279B7A0a67DB372996a5FaB50D91eAA73d2eBe6"
//! collateral = { to = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", function = "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,uint256,uint256,uint256,uint256,bool)", args = ["3"], output = 11, decimals = 18 }
//! debt = { to = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", function = "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,uint256,uint256,uint256,uint256,bool)", args = ["3"], output = 10, decimals = 6 }
//! ```

use std::collections::BTreeSet;

use alloy::{primitives::Address, sol_types::SolCall};
use serde::Deserialize;
use vigil_contracts::PriceFeed;
use vigil_core::{
    BlockRef, Bundle, Detector, DetectorCause, DetectorError, Finding, FindingKind, Probe, Scope, Severity,
};

use crate::registry::{BuildContext, BuildError, ConfigIssue, DetectorKind};
use crate::series::{Series, SeriesError, SeriesSpec};

/// One market: its reference feed and how to read its totals.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SolvencyMarket {
    /// Market id (Guardian scope).
    pub id: u64,
    /// Chainlink-compatible feed pricing the market's collateral in the loan token's unit (8 decimals).
    pub feed: Address,
    /// The market's total collateral, in whole tokens (a series: a call with its `decimals`, or a ratio).
    pub collateral: SeriesSpec,
    /// The market's total debt, in the loan token's unit.
    pub debt: SeriesSpec,
}

/// Configuration of a solvency detector.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SolvencyConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The contract the findings are about: market `id` is its scope `id`, the whole pool scope 0.
    pub pool: Address,
    /// Its markets.
    pub markets: Vec<SolvencyMarket>,
    /// Collateral value over debt below which a market is reported. Default 1.0.
    #[serde(default = "default_min_ratio")]
    pub min_ratio: f64,
    /// Severity of a report. Default high.
    #[serde(default = "default_severity")]
    pub severity: Severity,
}

vigil_core::defaults! {
    default_min_ratio: f64 = 1.0;
    default_severity: Severity = Severity::High;
}

/// A market's reads, compiled.
struct Market {
    id: u64,
    feed: Probe,
    collateral: Series,
    debt: Series,
}

/// The detector (stateless: each block is judged on its own probes).
pub struct SolvencyDetector {
    cfg: SolvencyConfig,
    markets: Vec<Market>,
}

impl SolvencyDetector {
    /// A detector from its configuration (each market's reads compiled).
    pub fn new(cfg: SolvencyConfig) -> Result<Self, SeriesError> {
        let mut markets = Vec::with_capacity(cfg.markets.len());
        for (i, m) in cfg.markets.iter().enumerate() {
            let field = |what: &str| format!("markets[{i}].{what}");
            markets.push(Market {
                id: m.id,
                feed: Self::feed_probe(m.feed),
                collateral: Series::compile(&m.collateral, &cfg.name, &field("collateral"))?,
                debt: Series::compile(&m.debt, &cfg.name, &field("debt"))?,
            });
        }
        Ok(Self { cfg, markets })
    }

    fn feed_probe(feed: Address) -> Probe {
        Probe { to: feed, data: PriceFeed::latestRoundDataCall {}.abi_encode().into() }
    }

    fn finding(&self, block: BlockRef, scope: u64, title: String, evidence: serde_json::Value) -> Finding {
        let class = (Scope::segment(self.cfg.pool, scope), self.cfg.severity, FindingKind::Degraded);
        let labels = [("rule", "solvency".to_string())];
        crate::finding((&self.cfg.name, &self.cfg.protocol), block, None, class, title, evidence, &labels)
    }
}

impl Detector for SolvencyDetector {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn probes(&self) -> Vec<Probe> {
        let mut set = BTreeSet::new();
        for m in &self.markets {
            m.collateral.probes(&mut set);
            m.debt.probes(&mut set);
            set.insert(m.feed.clone());
        }
        set.into_iter().collect()
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block = bundle.block_ref();
        let err = |cause: DetectorCause| DetectorError::new(&self.cfg.name, block, cause);
        let (mut total_value, mut total_debt) = (0.0, 0.0);
        let mut findings = Vec::new();
        for m in &self.markets {
            let read = |series: &Series, what: &str| {
                series.eval(bundle, false).map_err(err)?.ok_or_else(|| {
                    err(DetectorCause::Data(format!("the {what} of market {} is undefined (a zero denominator)", m.id)))
                })
            };
            let (collateral, debt) = (read(&m.collateral, "collateral")?, read(&m.debt, "debt")?);
            let feed = m.feed.to;
            let round = bundle
                .decode_probe::<PriceFeed::latestRoundDataCall>(&m.feed, &format!("answer of feed {feed}"))
                .map_err(err)?;
            let price = i128::try_from(round._1)
                .map_err(|_| err(DetectorCause::Data("feed answer out of range".into())))?
                as f64
                / 1e8;
            let value = collateral * price;
            total_value += value;
            total_debt += debt;
            if debt > 0.0 && value < debt * self.cfg.min_ratio {
                findings.push(self.finding(
                    block,
                    m.id,
                    format!("market {} holds ${value:.0} of collateral for ${debt:.0} of debt", m.id),
                    serde_json::json!({"market": m.id, "collateral_value": value, "debt": debt, "ratio": value / debt, "reference_price": price}),
                ));
            }
        }
        if total_debt > 0.0 && total_value < total_debt * self.cfg.min_ratio {
            findings.push(self.finding(
                block,
                0,
                format!("the pool holds ${total_value:.0} of collateral for ${total_debt:.0} of debt"),
                serde_json::json!({"collateral_value": total_value, "debt": total_debt, "ratio": total_value / total_debt}),
            ));
        }
        Ok(findings)
    }

    fn revert_to(&mut self, _ancestor: BlockRef) {}
}

impl DetectorKind for SolvencyConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        let ratio = self.min_ratio;
        ConfigIssue::failing([
            (!self.markets.is_empty(), "markets", "markets must not be empty".into()),
            (ratio > 0.0, "min_ratio", format!("min_ratio must be above 0, found {ratio}")),
        ])
    }

    fn build(&self, _: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
        Ok(Box::new(SolvencyDetector::new(self.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, Bytes, U256};
    use vigil_contracts::MarginPool;
    use vigil_sim::{
        venue::{MARKET_GOV_FEED, MARKET_WETH_FEED, MARKET_WETH_SPOT},
        Venue,
    };

    use super::*;
    use crate::testdata::{feed_answer, mainnet_block, run_scenario, synthetic_block, Answers, Seen, ETH_USD_FEED};

    const POOL: Address = address!("00000000000000000000000000000000000000c0");
    const ETH_FEED: Address = address!("00000000000000000000000000000000000000fe");
    const GOV_FEED: Address = address!("00000000000000000000000000000000000000fd");

    /// Aave v3's pool on mainnet, read as a MarginPool.
    const AAVE: Address = address!("87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2");
    /// Chainlink's BTC/USD feed.
    const BTC_USD: Address = address!("F4030086522a5bEEa4988F8cA5B36dbC97BeE88c");

    /// Solvent answers for a WETH market (ETH/USD at `eth`) and a WBTC one (BTC/USD) of [`AAVE`].
    fn aave_answers(eth: f64) -> Answers {
        [
            market(AAVE, 1, 800_000.0, 18, 900_000_000.0),
            market(AAVE, 2, 40_000.0, 8, 500_000_000.0),
            feed(ETH_USD_FEED, eth),
            feed(BTC_USD, 25_950.0),
        ]
        .into_iter()
        .collect()
    }

    /// The conformance suite's mainnet case: [`aave_answers`] on block 18,000,000 (ETH at the feed's 1,650.5).
    pub(super) fn mainnet_case() -> (String, Bundle) {
        let table = format!(
            "name = \"aave-solvency\"\nprotocol = \"aave-v3\"\npool = \"{AAVE}\"\n\
             markets = [\n  {},\n  {},\n]\n",
            market_toml(AAVE, 1, ETH_USD_FEED, 18),
            market_toml(AAVE, 2, BTC_USD, 8)
        );
        (table, mainnet_block(aave_answers(1_650.5)))
    }

    crate::conformance::case!(SolvencyConfig, "solvency.rs", "spot-pump", 130, mainnet_case);

    /// A MarginPool-compatible pool's `market(id)`: totalBorrows is output 10, totalCollateral 11.
    const MARKET: &str = "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,\
                          uint256,uint256,uint256,uint256,bool)";

    /// Output `output` of `pool`'s `market(id)`, with `decimals`.
    fn market_read(pool: Address, id: u64, output: usize, decimals: u8) -> SeriesSpec {
        SeriesSpec {
            to: Some(pool),
            function: Some(MARKET.into()),
            args: Some(vec![crate::probe::ProbeArg::Int(id as i64)]),
            output: Some(output),
            decimals: Some(decimals),
            ..Default::default()
        }
    }

    /// Market `id` of `pool` priced by `feed`, its collateral of `decimals`, its debt in dollars (6 decimals).
    fn market_cfg(pool: Address, id: u64, feed: Address, decimals: u8) -> SolvencyMarket {
        SolvencyMarket { id, feed, collateral: market_read(pool, id, 11, decimals), debt: market_read(pool, id, 10, 6) }
    }

    /// [`market_cfg`] as a TOML inline table.
    fn market_toml(pool: Address, id: u64, feed: Address, decimals: u8) -> String {
        let read = |output: usize, decimals: u8| {
            format!("{{ to = \"{pool}\", function = \"{MARKET}\", args = [{id}], output = {output}, decimals = {decimals} }}")
        };
        format!("{{ id = {id}, feed = \"{feed}\", collateral = {}, debt = {} }}", read(11, decimals), read(10, 6))
    }

    /// Markets 1 and 2 of `pool`, priced by the feeds given, their collateral of the decimals given; the defaults.
    fn cfg(pool: Address, markets: [(Address, u8); 2]) -> SolvencyConfig {
        SolvencyConfig {
            name: "solvency".into(),
            protocol: "test".into(),
            pool,
            markets: (1..).zip(markets).map(|(id, (feed, decimals))| market_cfg(pool, id, feed, decimals)).collect(),
            min_ratio: 1.0,
            severity: Severity::High,
        }
    }

    /// Market `id` holding `collateral` whole tokens of `decimals` against `debt` whole dollars (6 decimals).
    fn market(pool: Address, id: u64, collateral: f64, decimals: u8, debt: f64) -> (Probe, Result<Bytes, Bytes>) {
        let m = MarginPool::Market {
            collateralScale: U256::from(10u64).pow(U256::from(decimals)),
            totalCollateral: U256::from((collateral * 10f64.powi(decimals as i32)).round() as u128),
            totalBorrows: U256::from((debt * 1e6).round() as u128),
            totalSupplyAssets: U256::from((debt * 2e6) as u128),
            totalSupplyShares: U256::from((debt * 2e6) as u128),
            exists: true,
            ..Default::default()
        };
        let data = MarginPool::marketCall { id: U256::from(id) }.abi_encode().into();
        (Probe { to: pool, data }, Ok(MarginPool::marketCall::abi_encode_returns(&m).into()))
    }

    /// `feed` answering `price` (8 decimals).
    fn feed(feed: Address, price: f64) -> (Probe, Result<Bytes, Bytes>) {
        (SolvencyDetector::feed_probe(feed), Ok(feed_answer(price)))
    }

    /// ETH at 2,000 and GOV at 10; market 1 holds `eth` WETH for `debt1`, market 2 `gov` GOV for `debt2`.
    fn pool(eth: f64, debt1: f64, gov: f64, debt2: f64) -> Answers {
        [
            market(POOL, 1, eth, 18, debt1),
            market(POOL, 2, gov, 18, debt2),
            feed(ETH_FEED, 2_000.0),
            feed(GOV_FEED, 10.0),
        ]
        .into_iter()
        .collect()
    }

    fn judge(c: &SolvencyConfig, answers: Answers) -> Vec<Finding> {
        SolvencyDetector::new(c.clone()).unwrap().on_block(&synthetic_block(1, 0, &[], answers)).unwrap()
    }

    #[test]
    fn an_insolvent_market_is_reported_and_a_solvent_one_is_not() {
        let c = cfg(POOL, [(ETH_FEED, 18), (GOV_FEED, 18)]);
        // Market 1: $20,000 for $15,000; market 2: $10,000 for $12,000. The pool: $30,000 for $27,000.
        let f = judge(&c, pool(10.0, 15_000.0, 1_000.0, 12_000.0));
        let [f] = f.as_slice() else { panic!("{f:#?}") };
        assert_eq!((f.severity, f.kind, f.scope), (Severity::High, FindingKind::Degraded, Scope::segment(POOL, 2)));
        assert_eq!(f.evidence["market"], 2);
        assert_eq!(f.evidence["collateral_value"].as_f64(), Some(10_000.0));
        assert_eq!(f.evidence["debt"].as_f64(), Some(12_000.0));
        assert_eq!(f.evidence["reference_price"].as_f64(), Some(10.0));
        assert_eq!(f.labels["rule"], "solvency");
        // Market 1 at $19,000 of debt too: the pool ($30,000 for $31,000) is reported as well, on scope 0.
        let f = judge(&c, pool(10.0, 19_000.0, 1_000.0, 12_000.0));
        assert_eq!(f.iter().map(|f| f.scope).collect::<Vec<_>>(), vec![Scope::segment(POOL, 2), Scope::whole(POOL)]);
        assert_eq!(
            (f[1].evidence["collateral_value"].as_f64(), f[1].evidence["debt"].as_f64()),
            (Some(30_000.0), Some(31_000.0))
        );
        // Everything solvent, and an empty market (no debt, no collateral): silent.
        assert_eq!(judge(&c, pool(10.0, 15_000.0, 1_000.0, 9_000.0)), vec![]);
        assert_eq!(judge(&c, pool(10.0, 15_000.0, 0.0, 0.0)), vec![]);
        // Collateral is valued in its configured decimals: 1 token of 8 decimals at $2,000 against $2,100.
        let mut answers = pool(10.0, 15_000.0, 0.0, 0.0);
        answers.extend([market(POOL, 1, 1.0, 8, 2_100.0)]);
        let c8 = cfg(POOL, [(ETH_FEED, 8), (GOV_FEED, 18)]);
        assert_eq!(judge(&c8, answers)[0].evidence["collateral_value"].as_f64(), Some(2_000.0));
    }

    #[test]
    fn the_bound_is_min_ratio_times_the_debt() {
        let c = SolvencyConfig {
            min_ratio: 1.25,
            severity: Severity::Critical,
            ..cfg(POOL, [(ETH_FEED, 18), (GOV_FEED, 18)])
        };
        // Market 1: 6.25 WETH ($12,500) for $10,000 is exactly 1.25: silent; 6.2495 WETH ($12,499) is not.
        assert_eq!(judge(&c, pool(6.25, 10_000.0, 0.0, 0.0)), vec![]);
        let f = judge(&c, pool(6.249_5, 10_000.0, 0.0, 0.0));
        assert_eq!(
            f.iter().map(|f| (f.scope, f.severity)).collect::<Vec<_>>(),
            vec![(Scope::segment(POOL, 1), Severity::Critical), (Scope::whole(POOL), Severity::Critical)]
        );
        assert!((f[0].evidence["ratio"].as_f64().unwrap() - 1.2499).abs() < 1e-9, "{}", f[0].evidence);
        // Solvent at the default 1.0.
        assert_eq!(judge(&cfg(POOL, [(ETH_FEED, 18), (GOV_FEED, 18)]), pool(6.249_5, 10_000.0, 0.0, 0.0)), vec![]);
    }

    fn demo(v: &Venue) -> SolvencyDetector {
        // demo.toml's "margin-pool-solvency".
        let mut c = cfg(v.pool, [(v.eth_feed, 18), (v.eth_feed, 18)]);
        c.markets.push(market_cfg(v.pool, MARKET_GOV_FEED, v.gov_feed, 18));
        assert_eq!(
            c.markets.iter().map(|m| m.id).collect::<Vec<_>>(),
            [MARKET_WETH_FEED, MARKET_WETH_SPOT, MARKET_GOV_FEED]
        );
        SolvencyDetector::new(c).unwrap()
    }

    /// (block, scope id) of each finding, with its severity checked.
    fn fired(seen: &Seen) -> Vec<(u64, u64)> {
        let findings = seen.iter().flat_map(|(n, _, f)| f.iter().map(move |f| (n, f)));
        findings
            .inspect(|(_, f)| assert_eq!((f.severity, f.kind), (Severity::High, FindingKind::Degraded)))
            .map(|(n, f)| (*n, f.scope.id.to::<u64>()))
            .collect()
    }

    #[test]
    fn the_spot_pump_borrow_leaves_the_spot_market_and_the_pool_insolvent_at_the_feed_price() {
        let (run, seen) = run_scenario("spot-pump", None, demo, |_| {});
        // Block 103 borrows against WETH valued at the pumped spot; at the feed's price the market holds
        // about half its debt, and nothing repays it until the run ends (block 201).
        let last = seen.last().unwrap().0;
        assert_eq!(last, 201);
        let expected: Vec<(u64, u64)> = (103..=last).flat_map(|n| [(n, MARKET_WETH_SPOT), (n, 0)]).collect();
        assert_eq!(fired(&seen), expected);
        let first = &seen.iter().find(|(n, _, _)| *n == 103).unwrap().2[0];
        assert_eq!(first.scope, Scope::segment(run.venue.pool, MARKET_WETH_SPOT));
        let ratio = first.evidence["ratio"].as_f64().unwrap();
        assert!((0.53..0.54).contains(&ratio), "{}", first.evidence);
        assert_eq!(first.evidence["reference_price"].as_f64(), Some(2_983.748_664_81));
    }

    #[test]
    fn silent_on_the_euler_donation_and_the_benign_crash() {
        // The donation attack drains the legacy market, not the pool; the crash's liquidations keep the pool's
        // markets solvent at the feed price.
        for (name, blocks) in [("euler-donation", Some(120)), ("benign-crash", None)] {
            let (_, seen) = run_scenario(name, blocks, demo, |_| {});
            assert_eq!(fired(&seen), vec![], "{name}");
        }
    }

    #[test]
    fn silent_on_mainnet_block_18000000_with_solvent_answers_and_it_reads_its_probes() {
        // Aave v3's pool as if it were a MarginPool: a WETH market (Chainlink ETH/USD) and a WBTC one (BTC/USD).
        let c = cfg(AAVE, [(ETH_USD_FEED, 18), (BTC_USD, 8)]);
        let answers = aave_answers;
        let f = SolvencyDetector::new(c.clone()).unwrap().on_block(&mainnet_block(answers(1_650.5))).unwrap();
        assert!(f.is_empty(), "{f:#?}");
        // It read them: at $1,100 an ether, the WETH market ($880M for $900M) is insolvent.
        let f = SolvencyDetector::new(c.clone()).unwrap().on_block(&mainnet_block(answers(1_100.0))).unwrap();
        assert_eq!(f.iter().map(|f| f.scope).collect::<Vec<_>>(), vec![Scope::segment(AAVE, 1)]);
        assert_eq!(f[0].block.number, 18_000_000);
        // Without any one answer, or with a reverted one, the block is an error naming what is missing.
        let det = SolvencyDetector::new(c.clone()).unwrap();
        assert_eq!(det.probes().len(), 4, "each market's state (one call for both totals) and its feed");
        for probe in det.probes() {
            for answer in [None, Some(Err(Bytes::new()))] {
                let mut partial = answers(1_650.5);
                partial.remove(&probe);
                partial.extend(answer.clone().map(|a| (probe.clone(), a)));
                let e = SolvencyDetector::new(c.clone()).unwrap().on_block(&mainnet_block(partial)).unwrap_err();
                assert_eq!((e.detector.as_str(), e.block.number), ("solvency", 18_000_000));
                let expected = match (probe.to == AAVE, answer.is_none()) {
                    (true, true) => "was not read at this block".to_string(),
                    (true, false) => "reverted with 0x".to_string(),
                    (false, true) => format!("no answer of feed {} at this block", probe.to),
                    (false, false) => format!("answer of feed {}: the read reverted with 0x", probe.to),
                };
                let cause = e.cause.to_string();
                assert!(cause.contains(&expected), "{cause}");
                assert_eq!(e.retryable(), answer.is_none(), "{cause}");
            }
        }
    }
}
