//! Price deviation: an AMM pair's spot price against a Chainlink-compatible reference feed, and a z-score of the
//! spot's log returns against an exponentially weighted mean and variance ("a deviation beyond predefined
//! statistical variance").
//!
//! Probes: the pair's `getReserves` and the feed's `latestRoundData`. A spot price more than
//! `max_deviation_bps` away from the feed is an exploit finding on the configured scope (the market that prices
//! collateral from this pair); a log return whose |z| exceeds `max_zscore` once the EWMA has `warmup_blocks` of
//! history is a suspicious finding (medium by default: `zscore_severity`). The EWMA state is kept per block, so a reorg restores it exactly.

use crate::history::History;

use alloy::{primitives::Address, sol_types::SolCall};
use serde::Deserialize;
use vigil_contracts::{PriceFeed, VenuePair};
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Probe, Scope, Severity};

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
    #[serde(default = "default_lambda")]
    pub ewma_lambda: f64,
    /// Blocks of history before z-scores are reported. Default 30.
    #[serde(default = "default_warmup")]
    pub warmup_blocks: u64,
    /// Severity of a z-score finding. Default medium: a statistical outlier is a signal, not proof (AMM returns
    /// have heavy tails; over 50,000 benign blocks a z-score threshold alone raises alarms), so on its own it is
    /// recorded and left to correlation; the spot-against-feed deviation is what pauses.
    #[serde(default = "default_z_severity")]
    pub zscore_severity: Severity,
}

fn default_z_severity() -> Severity {
    Severity::Medium
}

fn default_18() -> u8 {
    18
}
fn default_6() -> u8 {
    6
}
fn default_deviation() -> u64 {
    1_000
}
fn default_z() -> f64 {
    6.0
}
fn default_lambda() -> f64 {
    0.97
}
fn default_warmup() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, Default)]
struct Ewma {
    last_log_price: Option<f64>,
    mean: f64,
    var: f64,
    samples: u64,
}

/// The detector.
pub struct PriceDeviationDetector {
    cfg: PriceDeviationConfig,
    /// EWMA state after each recent block.
    history: History<Ewma>,
}

impl PriceDeviationDetector {
    /// A detector from its configuration.
    pub fn new(cfg: PriceDeviationConfig) -> Self {
        Self { cfg, history: History::default() }
    }

    fn reserves_probe(&self) -> Probe {
        Probe { to: self.cfg.pair, data: VenuePair::getReservesCall {}.abi_encode().into() }
    }

    fn feed_probe(&self) -> Probe {
        Probe { to: self.cfg.feed, data: PriceFeed::latestRoundDataCall {}.abi_encode().into() }
    }

    fn err(&self, block: u64, reason: impl Into<String>) -> DetectorError {
        DetectorError { detector: self.cfg.name.clone(), block, reason: reason.into() }
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
            .probe(&self.reserves_probe())
            .and_then(|b| VenuePair::getReservesCall::abi_decode_returns(b).ok())
            .ok_or_else(|| self.err(block.number, "no reserves of the pair at this block"))?;
        let round = bundle
            .probe(&self.feed_probe())
            .and_then(|b| PriceFeed::latestRoundDataCall::abi_decode_returns(b).ok())
            .ok_or_else(|| self.err(block.number, "no feed answer at this block"))?;
        let (r0, r1) = (reserves._0.to::<u128>() as f64, reserves._1.to::<u128>() as f64);
        // The pair orders its tokens by address.
        let quote_is_token0 = self.cfg.quote_token < self.cfg.base_token;
        let (q, b) = if quote_is_token0 { (r0, r1) } else { (r1, r0) };
        if q == 0.0 || b == 0.0 {
            return Err(self.err(block.number, "the pair has no reserves"));
        }
        let spot = q / 10f64.powi(self.cfg.quote_decimals as i32) / (b / 10f64.powi(self.cfg.base_decimals as i32));
        let answer: i128 = round._1.try_into().map_err(|_| self.err(block.number, "feed answer out of range"))?;
        let feed = answer as f64 / 1e8;
        let mut findings = Vec::new();
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

        let mut ewma = self.history.last().copied().unwrap_or_default();
        let log_price = spot.ln();
        if let Some(last) = ewma.last_log_price {
            let r = log_price - last;
            let sd = ewma.var.sqrt();
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
            let l = self.cfg.ewma_lambda;
            let d = r - ewma.mean;
            ewma.mean += (1.0 - l) * d;
            ewma.var = l * (ewma.var + (1.0 - l) * d * d);
            ewma.samples += 1;
        }
        ewma.last_log_price = Some(log_price);
        self.history.push(block, ewma);
        Ok(findings)
    }

    fn revert_to(&mut self, ancestor: BlockRef) {
        self.history.revert_to(ancestor);
    }
}
