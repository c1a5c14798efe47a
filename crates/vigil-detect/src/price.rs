//! Price deviation: an AMM pair's spot price against a Chainlink-compatible reference feed, and a z-score of the
//! spot's log returns against an exponentially weighted mean and variance ("a deviation beyond predefined
//! statistical variance").
//!
//! Probes: the pair's `getReserves` and the feed's `latestRoundData`. A spot price more than
//! `max_deviation_bps` away from the feed is an exploit finding on the configured scope (the market that prices
//! collateral from this pair); a log return whose |z| exceeds `max_zscore` once the EWMA has `warmup_blocks` of
//! history is a suspicious finding (medium by default: `zscore_severity`). A feed answering zero or less is a
//! broken feed: a high degraded finding, not an exploit. The EWMA state is kept per block, so a reorg restores it
//! exactly.
//!
//! On the proving ground's spot-priced market (`vigil venue` prints the addresses):
//! ```toml
//! [[detector]]
//! type = "price-deviation"
//! name = "spot-market-oracle"
//! protocol = "venue"
//! pair = "0x8A791620dd6260079BF849Dc5567aDC3F2FdC318"         # Uniswap-v2-style pair (getReserves)
//! base_token = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"   # the price is quote per base
//! quote_token = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
//! base_decimals = 18                                          # default 18
//! quote_decimals = 6                                          # default 6
//! feed = "0xa513E6E4b8f2a923D98304ec87F64353C4D5C853"         # AggregatorV3Interface (latestRoundData)
//! target = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0"       # the contract that prices from the pair
//! scope = 2                                                   # its Guardian scope; default 0
//! max_deviation_bps = 1000                                    # default 1_000
//! max_zscore = 8.0                                            # default 6
//! ewma_lambda = 0.97                                          # default 0.97
//! warmup_blocks = 30                                          # default 30
//! zscore_severity = "medium"                                  # default
//! ```

use alloy::{primitives::Address, sol_types::SolCall};
use serde::Deserialize;
use vigil_contracts::{PriceFeed, VenuePair};
use vigil_core::{
    BlockRef, Bundle, Detector, DetectorCause, DetectorError, Finding, FindingKind, Probe, Scope, Severity,
};

use crate::ewma::Ewma;
use crate::history::History;
use crate::registry::{BuildContext, BuildError, ConfigIssue, DetectorKind};

/// Configuration of a price-deviation detector.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceDeviationConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The Uniswap-v2-style pair.
    pub pair: Address,
    /// The pair's base token (the price is quote per base).
    pub base_token: Address,
    /// The pair's quote token.
    pub quote_token: Address,
    /// Decimals of the pair's base token. Default 18.
    #[serde(default = "default_18")]
    pub base_decimals: u8,
    /// Decimals of the quote token. Default 6.
    #[serde(default = "default_6")]
    pub quote_decimals: u8,
    /// The reference feed (AggregatorV3Interface, quote per base).
    pub feed: Address,
    /// The contract and scope that depend on the pair's price (e.g. the spot-priced market).
    pub target: Address,
    /// Guardian scope id of `target`.
    #[serde(default)]
    pub scope: u64,
    /// Largest tolerated gap between spot and feed, in basis points. Default 1_000 (10 %).
    #[serde(default = "default_deviation")]
    pub max_deviation_bps: u64,
    /// |z| of a block's log return beyond which a block is suspicious. Default 6.
    #[serde(default = "default_z")]
    pub max_zscore: f64,
    /// EWMA decay per block. Default 0.97.
    #[serde(default = "crate::ewma::default_lambda")]
    pub ewma_lambda: f64,
    /// Blocks of history before z-scores are reported. Default 30.
    #[serde(default = "crate::ewma::default_warmup")]
    pub warmup_blocks: u64,
    /// Severity of a z-score finding. Default medium: a statistical outlier is a signal, not proof (AMM returns
    /// have heavy tails; over 50,000 benign blocks a z-score threshold alone raises alarms), so on its own it is
    /// recorded and left to correlation; the spot-against-feed deviation is what pauses.
    #[serde(default = "default_z_severity")]
    pub zscore_severity: Severity,
}

vigil_core::defaults! {
    default_z_severity: Severity = Severity::Medium;
    default_18: u8 = 18;
    default_6: u8 = 6;
    default_deviation: u64 = 1_000;
    default_z: f64 = 6.0;
}

/// What the z-score remembers after a block: the log price, and an EWMA of log returns.
#[derive(Debug, Clone, Copy, Default)]
struct Returns {
    last_log_price: Option<f64>,
    ewma: Ewma,
}

/// The detector.
pub struct PriceDeviationDetector {
    cfg: PriceDeviationConfig,
    /// EWMA state after each recent block.
    history: History<Returns>,
}

impl PriceDeviationDetector {
    /// A detector from its configuration.
    pub fn new(cfg: PriceDeviationConfig) -> Self {
        Self { cfg, history: History::new(1) }
    }

    /// The same detector, its state kept `reorg_depth` blocks deep (the source's).
    pub fn with_reorg_depth(mut self, reorg_depth: u64) -> Self {
        self.history = self.history.with_reorg_depth(reorg_depth);
        self
    }

    fn reserves_probe(&self) -> Probe {
        Probe { to: self.cfg.pair, data: VenuePair::getReservesCall {}.abi_encode().into() }
    }

    fn feed_probe(&self) -> Probe {
        Probe { to: self.cfg.feed, data: PriceFeed::latestRoundDataCall {}.abi_encode().into() }
    }

    fn err(&self, block: BlockRef, cause: DetectorCause) -> DetectorError {
        DetectorError::new(&self.cfg.name, block, cause)
    }

    fn finding(
        &self,
        block: BlockRef,
        severity: Severity,
        kind: FindingKind,
        title: String,
        evidence: serde_json::Value,
    ) -> Finding {
        let class = (Scope::segment(self.cfg.target, self.cfg.scope), severity, kind);
        let labels = [("pair", self.cfg.pair.to_string())];
        crate::finding((&self.cfg.name, &self.cfg.protocol), block, None, class, title, evidence, &labels)
    }
}

impl Detector for PriceDeviationDetector {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn probes(&self) -> Vec<Probe> {
        vec![self.reserves_probe(), self.feed_probe()]
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block = bundle.block_ref();
        let reserves = bundle
            .decode_probe::<VenuePair::getReservesCall>(&self.reserves_probe(), "reserves of the pair")
            .map_err(|c| self.err(block, c))?;
        let round = bundle
            .decode_probe::<PriceFeed::latestRoundDataCall>(&self.feed_probe(), "feed answer")
            .map_err(|c| self.err(block, c))?;
        let (r0, r1) = (reserves._0.to::<u128>() as f64, reserves._1.to::<u128>() as f64);
        // The pair orders its tokens by address.
        let quote_is_token0 = self.cfg.quote_token < self.cfg.base_token;
        let (q, b) = if quote_is_token0 { (r0, r1) } else { (r1, r0) };
        if q == 0.0 || b == 0.0 {
            return Err(self.err(block, DetectorCause::Data("the pair has no reserves".into())));
        }
        let spot = q / 10f64.powi(self.cfg.quote_decimals as i32) / (b / 10f64.powi(self.cfg.base_decimals as i32));
        let answer: i128 =
            round._1.try_into().map_err(|_| self.err(block, DetectorCause::Data("feed answer out of range".into())))?;
        let feed = answer as f64 / 1e8;
        let mut findings = Vec::new();
        if answer <= 0 {
            // A broken feed, not a manipulated pair: the market that trusts it is degraded.
            findings.push(self.finding(
                block,
                Severity::High,
                FindingKind::Degraded,
                format!("the feed answers {answer}, not a price"),
                serde_json::json!({"spot": spot, "feed_answer": answer.to_string()}),
            ));
            return Ok(findings);
        }
        let deviation_bps = ((spot / feed - 1.0).abs() * 10_000.0).round() as u64;
        if deviation_bps > self.cfg.max_deviation_bps {
            findings.push(self.finding(
                block,
                Severity::Critical,
                FindingKind::Exploit,
                format!("spot price {spot:.2} is {deviation_bps} bps from the feed's {feed:.2}"),
                serde_json::json!({"spot": spot, "feed": feed, "deviation_bps": deviation_bps, "max_deviation_bps": self.cfg.max_deviation_bps}),
            ));
        }

        // A block read again (the engine retries a block after an error) starts from the state before it.
        let mut returns = self.history.before(block.number);
        let log_price = spot.ln();
        if let Some(last) = returns.last_log_price {
            let ewma = &mut returns.ewma;
            let r = log_price - last;
            let sd = ewma.sd();
            if ewma.samples >= self.cfg.warmup_blocks && sd > 0.0 {
                let z = (r - ewma.mean) / sd;
                if z.abs() > self.cfg.max_zscore {
                    findings.push(self.finding(
                        block,
                        self.cfg.zscore_severity,
                        FindingKind::Suspicious,
                        format!("spot log return {r:.4} is {z:.1} standard deviations from its EWMA"),
                        serde_json::json!({"log_return": r, "zscore": z, "ewma_mean": ewma.mean, "ewma_sd": sd, "max_zscore": self.cfg.max_zscore}),
                    ));
                }
            }
            ewma.update(r, self.cfg.ewma_lambda);
        }
        returns.last_log_price = Some(log_price);
        self.history.push(block, returns);
        Ok(findings)
    }

    fn revert_to(&mut self, ancestor: BlockRef) {
        self.history.revert_to(ancestor);
    }
}

impl DetectorKind for PriceDeviationConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        let lambda = self.ewma_lambda;
        ConfigIssue::failing([
            (
                0.0 < lambda && lambda < 1.0,
                "ewma_lambda",
                format!("ewma_lambda must be strictly between 0 and 1, found {lambda}"),
            ),
            (self.max_deviation_bps > 0, "max_deviation_bps", "max_deviation_bps must be above 0".into()),
        ])
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
        Ok(Box::new(PriceDeviationDetector::new(self.clone()).with_reorg_depth(ctx.reorg_depth)))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, aliases::U112, Bytes};
    use vigil_contracts::VenuePair::getReservesReturn;
    use vigil_sim::{venue::MARKET_WETH_SPOT, Venue};

    use super::*;
    use crate::testdata::{
        feed_answer, mainnet_block, run_scenario, synthetic_block, usdc_weth_reserves, Answers, ETH_USD_FEED, USDC,
        USDC_WETH_PAIR, WETH,
    };

    const PAIR: Address = address!("00000000000000000000000000000000000000d0");
    const LOW: Address = address!("00000000000000000000000000000000000000a0");
    const HIGH: Address = address!("00000000000000000000000000000000000000a1");
    const FEED: Address = address!("00000000000000000000000000000000000000fe");
    const TARGET: Address = address!("00000000000000000000000000000000000000c0");

    /// Uniswap v2's USDC/WETH pair against Chainlink's ETH/USD feed.
    fn mainnet_cfg() -> PriceDeviationConfig {
        PriceDeviationConfig { pair: USDC_WETH_PAIR, base_token: WETH, quote_token: USDC, feed: ETH_USD_FEED, ..cfg() }
    }

    /// The conformance suite's mainnet case: the USDC/WETH pair against Chainlink's ETH/USD feed answering
    /// 1,650.5 (0.05 % from the pair's spot after block 18,000,000).
    pub(super) fn mainnet_case() -> (String, Bundle) {
        let c = mainnet_cfg();
        let det = PriceDeviationDetector::new(c);
        let (usdc, weth) = usdc_weth_reserves(&mainnet_block(Default::default()));
        let answers =
            [(det.reserves_probe(), Ok(reserves_answer(usdc, weth))), (det.feed_probe(), Ok(feed_answer(1_650.5)))];
        let table = format!(
            "name = \"usdc-weth-spot\"\nprotocol = \"uniswap-v2\"\npair = \"{USDC_WETH_PAIR}\"\n\
             base_token = \"{WETH}\"\nquote_token = \"{USDC}\"\nfeed = \"{ETH_USD_FEED}\"\n\
             target = \"{USDC_WETH_PAIR}\"\n"
        );
        (table, mainnet_block(answers.into_iter().collect()))
    }

    crate::conformance::case!(PriceDeviationConfig, "price.rs", "spot-pump", 130, mainnet_case);

    /// Quote `LOW` (token0, 6 decimals) per base `HIGH` (18 decimals), with the defaults.
    fn cfg() -> PriceDeviationConfig {
        PriceDeviationConfig {
            name: "price".into(),
            protocol: "test".into(),
            pair: PAIR,
            base_token: HIGH,
            quote_token: LOW,
            base_decimals: 18,
            quote_decimals: 6,
            feed: FEED,
            target: TARGET,
            scope: 2,
            max_deviation_bps: 1_000,
            max_zscore: 6.0,
            ewma_lambda: 0.97,
            warmup_blocks: 30,
            zscore_severity: Severity::Medium,
        }
    }

    fn reserves_answer(r0: u128, r1: u128) -> Bytes {
        let r = getReservesReturn { _0: U112::from(r0), _1: U112::from(r1), _2: 0 };
        VenuePair::getReservesCall::abi_encode_returns(&r).into()
    }

    /// What `c`'s pair and feed answer when the pair holds `base` whole base tokens at a spot of `spot` quote each,
    /// in the pair's token order, and the feed says `feed`.
    fn answers(c: &PriceDeviationConfig, base: f64, spot: f64, feed: f64) -> Answers {
        let raw_base = (base * 10f64.powi(c.base_decimals as i32)) as u128;
        let raw_quote = (base * spot * 10f64.powi(c.quote_decimals as i32)).round() as u128;
        let (r0, r1) = if c.quote_token < c.base_token { (raw_quote, raw_base) } else { (raw_base, raw_quote) };
        let det = PriceDeviationDetector::new(c.clone());
        [(det.reserves_probe(), Ok(reserves_answer(r0, r1))), (det.feed_probe(), Ok(feed_answer(feed)))]
            .into_iter()
            .collect()
    }

    fn at(c: &PriceDeviationConfig, number: u64, fork: u8, spot: f64, feed: f64) -> Bundle {
        synthetic_block(number, fork, &[], answers(c, 1_000.0, spot, feed))
    }

    /// The findings of a fresh detector on one block at `spot` against a feed of 2,000.
    fn once(c: &PriceDeviationConfig, spot: f64) -> Vec<Finding> {
        PriceDeviationDetector::new(c.clone()).on_block(&at(c, 1, 0, spot, 2_000.0)).unwrap()
    }

    #[test]
    fn a_feed_answering_zero_or_less_is_a_broken_feed_not_an_exploit() {
        let c = cfg();
        for feed in [0.0, -1.0] {
            let f = PriceDeviationDetector::new(c.clone()).on_block(&at(&c, 1, 0, 2_000.0, feed)).unwrap();
            let [f] = f.as_slice() else { panic!("feed {feed}: {f:?}") };
            assert_eq!((f.severity, f.kind), (Severity::High, FindingKind::Degraded), "feed {feed}");
            assert!(f.title.starts_with("the feed answers "), "{}", f.title);
        }
    }

    #[test]
    fn spot_beyond_the_largest_deviation_is_critical_and_at_it_is_not() {
        let c = cfg();
        for spot in [2_198.0, 2_200.0, 1_802.0, 1_800.0, 2_000.0] {
            assert_eq!(once(&c, spot), vec![], "spot {spot}");
        }
        for (spot, bps) in [(2_202.0, 1_010), (1_798.0, 1_010), (4_000.0, 10_000)] {
            let f = once(&c, spot);
            let [f] = f.as_slice() else { panic!("spot {spot}: {f:?}") };
            assert_eq!(
                (f.severity, f.kind, f.scope),
                (Severity::Critical, FindingKind::Exploit, Scope::segment(TARGET, 2))
            );
            assert_eq!(f.evidence["deviation_bps"], bps, "spot {spot}");
            assert_eq!((f.evidence["spot"].as_f64(), f.evidence["feed"].as_f64()), (Some(spot), Some(2_000.0)));
            assert_eq!(f.labels["pair"], PAIR.to_string());
        }
        // The bound is the configured one.
        let tight = PriceDeviationConfig { max_deviation_bps: 100, ..cfg() };
        assert_eq!(once(&tight, 2_020.0), vec![]);
        assert_eq!(once(&tight, 2_022.0)[0].evidence["deviation_bps"], 110);
    }

    #[test]
    fn the_price_is_quote_per_base_whichever_token_comes_first_and_whatever_the_decimals() {
        let swapped = PriceDeviationConfig { base_token: LOW, quote_token: HIGH, ..cfg() };
        let decimals = PriceDeviationConfig { base_decimals: 8, quote_decimals: 18, ..swapped.clone() };
        for c in [cfg(), swapped, decimals] {
            // 15 % above the feed, so that the finding shows the spot.
            let f = once(&c, 2_300.0);
            assert_eq!(f.len(), 1, "{c:?}");
            let spot = f[0].evidence["spot"].as_f64().unwrap();
            assert!((spot - 2_300.0).abs() < 1e-6, "{c:?}: {spot}");
            assert_eq!(f[0].evidence["deviation_bps"], 1_500);
        }
    }

    /// A quiet market's spot at block `n`: 2,000 ± 5 bp, alternating.
    fn quiet(n: u64) -> f64 {
        2_000.0 * if n.is_multiple_of(2) { 1.000_5 } else { 0.999_5 }
    }

    /// A detector that read blocks 1..=`n` of a quiet market (branch 0, feed at 2,000), silent on each.
    fn warmed(c: &PriceDeviationConfig, n: u64) -> PriceDeviationDetector {
        let mut det = PriceDeviationDetector::new(c.clone());
        for i in 1..=n {
            assert_eq!(det.on_block(&at(c, i, 0, quiet(i), 2_000.0)).unwrap(), vec![], "quiet block {i}");
        }
        det
    }

    /// Block `n` of branch `fork`: the quiet spot moved by `factor`.
    fn jump(c: &PriceDeviationConfig, n: u64, fork: u8, factor: f64) -> Bundle {
        at(c, n, fork, quiet(n) * factor, 2_000.0)
    }

    #[test]
    fn a_jump_past_max_zscore_after_the_warm_up_is_a_finding_of_zscore_severity() {
        let c = cfg();
        // Block 31 has 29 returns of history before it (warm-up 30): a 3 % jump (within the feed bound) is not
        // judged; at block 32 (30 returns) it is, at the default medium.
        assert_eq!(warmed(&c, 30).on_block(&jump(&c, 31, 0, 1.03)).unwrap(), vec![]);
        let f = warmed(&c, 31).on_block(&jump(&c, 32, 0, 1.03)).unwrap();
        let [f] = f.as_slice() else { panic!("{f:?}") };
        assert_eq!(
            (f.severity, f.kind, f.scope),
            (Severity::Medium, FindingKind::Suspicious, Scope::segment(TARGET, 2))
        );
        let z = f.evidence["zscore"].as_f64().unwrap();
        assert!(z > 20.0, "{}", f.evidence);
        let r = f.evidence["log_return"].as_f64().unwrap();
        assert!((r - (quiet(32) * 1.03 / quiet(31)).ln()).abs() < 1e-12, "{r}");
        // The bound is |z| > max_zscore, either way.
        for (max_zscore, fires) in [(z - 0.01, true), (z + 0.01, false)] {
            let c = PriceDeviationConfig { max_zscore, ..cfg() };
            assert_eq!(warmed(&c, 31).on_block(&jump(&c, 32, 0, 1.03)).unwrap().len(), fires as usize, "{max_zscore}");
        }
        let f = warmed(&c, 31).on_block(&jump(&c, 32, 0, 1.0 / 1.03)).unwrap();
        assert!(f[0].evidence["zscore"].as_f64().unwrap() < -20.0, "{}", f[0].evidence);
        // Severity and warm-up are the configured ones.
        let c = PriceDeviationConfig { zscore_severity: Severity::High, warmup_blocks: 10, ..cfg() };
        let f = warmed(&c, 11).on_block(&jump(&c, 12, 0, 1.03)).unwrap();
        assert_eq!(f.iter().map(|f| f.severity).collect::<Vec<_>>(), vec![Severity::High]);
        assert_eq!(warmed(&c, 10).on_block(&jump(&c, 11, 0, 1.03)).unwrap(), vec![]);
    }

    #[test]
    fn revert_to_restores_the_ewma_exactly() {
        let c = cfg();
        let mut det = warmed(&c, 40);
        // Five wild blocks on a branch that is then orphaned.
        for n in 41..=45 {
            det.on_block(&jump(&c, n, 0, 1.0 + 0.01 * (n - 40) as f64)).unwrap();
        }
        det.revert_to(at(&c, 40, 0, quiet(40), 2_000.0).block_ref());
        assert_eq!(format!("{:?}", det.history), format!("{:?}", warmed(&c, 40).history), "the state after block 40");
        let after_reorg = det.on_block(&jump(&c, 41, 1, 1.02)).unwrap();
        let expected = warmed(&c, 40).on_block(&jump(&c, 41, 1, 1.02)).unwrap();
        assert_eq!(after_reorg.len(), 1);
        assert_eq!(after_reorg, expected, "the same z-score, mean and deviation to the last bit");
    }

    #[test]
    fn a_block_read_again_gives_the_same_findings_and_state() {
        // The engine retries a block after an error (another detector's, or this one's missing probe).
        let c = cfg();
        let mut det = warmed(&c, 31);
        let mut unread = jump(&c, 32, 0, 1.03);
        unread.probes.clear();
        assert!(det.on_block(&unread).is_err());
        let first = det.on_block(&jump(&c, 32, 0, 1.03)).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(det.on_block(&jump(&c, 32, 0, 1.03)).unwrap(), first, "the retry sees the same jump");
        let once = {
            let mut d = warmed(&c, 31);
            d.on_block(&jump(&c, 32, 0, 1.03)).unwrap();
            d.on_block(&jump(&c, 33, 0, 0.95)).unwrap()
        };
        assert_eq!(det.on_block(&jump(&c, 33, 0, 0.95)).unwrap(), once, "and leaves the EWMA as one reading does");
    }

    fn demo(v: &Venue) -> PriceDeviationDetector {
        // demo.toml's "spot-market-oracle".
        PriceDeviationDetector::new(PriceDeviationConfig {
            pair: v.pair,
            base_token: v.weth,
            quote_token: v.usd,
            feed: v.eth_feed,
            target: v.pool,
            scope: MARKET_WETH_SPOT,
            max_zscore: 8.0,
            ..cfg()
        })
    }

    #[test]
    fn the_spot_pump_is_critical_at_the_first_pump_block() {
        let (run, seen) = run_scenario("spot-pump", None, demo, |_| {});
        let malicious: Vec<u64> = seen.iter().filter(|(_, m, _)| !m.is_empty()).map(|(n, _, _)| *n).collect();
        // Block 100 deploys the attacker, 101 and 102 pump the pair, 103 borrows against the pumped price.
        assert_eq!(malicious, vec![100, 101, 102, 103]);
        let at = |severity| -> Vec<u64> {
            seen.iter().filter(|(_, _, f)| f.iter().any(|f| f.severity == severity)).map(|(n, _, _)| *n).collect()
        };
        // Critical from the first pump until the arbitrageurs bring the spot back within 10 % of the feed.
        assert_eq!(at(Severity::Critical), (101..=109).collect::<Vec<_>>());
        let first = seen.iter().find(|(n, _, _)| *n == 101).unwrap();
        let critical = first.2.iter().find(|f| f.severity == Severity::Critical).unwrap();
        assert_eq!(
            (critical.kind, critical.scope),
            (FindingKind::Exploit, Scope::segment(run.venue.pool, MARKET_WETH_SPOT))
        );
        assert_eq!(critical.evidence["deviation_bps"], 9_740);
        // Medium z-scores: the pump, and two heavy-tailed benign blocks of the traffic (recorded, not paused).
        assert_eq!(at(Severity::Medium), vec![39, 40, 101]);
        assert!(seen
            .iter()
            .flat_map(|(_, _, f)| f)
            .all(|f| matches!(f.severity, Severity::Critical | Severity::Medium)));
    }

    #[test]
    fn silent_on_mainnet_block_18000000_on_the_usdc_weth_pair_and_it_reads_its_probes() {
        let c = mainnet_cfg();
        // The pair's reserves after the block (USDC is token0).
        let (usdc, weth) = usdc_weth_reserves(&mainnet_block(Default::default()));
        let spot = usdc as f64 / 1e6 / (weth as f64 / 1e18);
        assert!((spot - 1_649.67).abs() < 0.01, "{spot}");
        assert!((1_650.5 / spot - 1.0).abs() < 0.001, "the feed's answer is within 0.1 % of the spot");
        let det = PriceDeviationDetector::new(c.clone());
        let answers = |feed: f64| -> Answers {
            [(det.reserves_probe(), Ok(reserves_answer(usdc, weth))), (det.feed_probe(), Ok(feed_answer(feed)))]
                .into_iter()
                .collect()
        };
        // 40 quiet blocks before it, so that its return is judged too; the feed 0.05 % from the spot.
        let warmed = || {
            let mut det = PriceDeviationDetector::new(c.clone());
            for n in 17_999_960..18_000_000 {
                let b = synthetic_block(n, 0, &[], self::answers(&c, 16_954.4, spot * quiet(n) / 2_000.0, 1_650.5));
                assert_eq!(det.on_block(&b).unwrap(), vec![], "#{n}");
            }
            det
        };
        let f = warmed().on_block(&mainnet_block(answers(1_650.5))).unwrap();
        assert!(f.is_empty(), "{f:#?}");
        // It read them: the same block against a feed 10 % lower (the spot 10.7 % above it) is critical.
        let f = warmed().on_block(&mainnet_block(answers(1_490.0))).unwrap();
        assert_eq!(f.iter().map(|f| f.severity).collect::<Vec<_>>(), vec![Severity::Critical]);
        assert_eq!(f[0].evidence["spot"].as_f64(), Some(spot));
        // Without either answer the block is an error.
        for (probe, reason) in [
            (det.reserves_probe(), "no reserves of the pair at this block (the source did not read it)"),
            (det.feed_probe(), "no feed answer at this block (the source did not read it)"),
        ] {
            let mut partial = answers(1_650.5);
            partial.remove(&probe);
            let e = warmed().on_block(&mainnet_block(partial)).unwrap_err();
            assert_eq!(
                (e.detector.as_str(), e.block.number, e.cause.to_string().as_str()),
                ("price", 18_000_000, reason)
            );
        }
    }

    #[test]
    fn a_pair_without_reserves_is_an_error() {
        let c = cfg();
        let det = PriceDeviationDetector::new(c.clone());
        let answers: Answers =
            [(det.reserves_probe(), Ok(reserves_answer(0, 0))), (det.feed_probe(), Ok(feed_answer(2_000.0)))]
                .into_iter()
                .collect();
        let e = PriceDeviationDetector::new(c).on_block(&synthetic_block(1, 0, &[], answers)).unwrap_err();
        assert_eq!(e.cause.to_string(), "the pair has no reserves");
    }
}
