//! Solvency: each lending market's collateral, valued at an independent reference feed, against its debt, per
//! market and in total.
//!
//! Probes per market: the pool's `market(id)` (total collateral, total borrows, collateral scale). The collateral is
//! valued with the market's reference feed (not the market's own oracle, which may be the thing being
//! manipulated). A market whose collateral value falls below `min_ratio` × its debt is reported as degraded
//! (high), with the numbers; the pool as a whole (scope 0) likewise.

use alloy::{
    primitives::{Address, U256},
    sol_types::SolCall,
};
use serde::Deserialize;
use vigil_contracts::{MarginPool, PriceFeed};
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Probe, Scope, Severity};

/// One market and its reference feed.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SolvencyMarket {
    /// Market id (Guardian scope).
    pub id: u64,
    /// Chainlink-compatible feed pricing the market's collateral in the loan token's unit.
    pub feed: Address,
}

/// Configuration of a solvency detector.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SolvencyConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The lending pool (MarginPool-compatible).
    pub pool: Address,
    /// Its markets.
    pub markets: Vec<SolvencyMarket>,
    /// Decimals of the loan token. Default 6.
    #[serde(default = "default_loan_decimals")]
    pub loan_decimals: u8,
    /// Collateral value over debt below which a market is reported. Default 1.0.
    #[serde(default = "default_min_ratio")]
    pub min_ratio: f64,
    /// Severity of a report. Default high.
    #[serde(default = "default_severity")]
    pub severity: Severity,
}

fn default_loan_decimals() -> u8 {
    6
}
fn default_min_ratio() -> f64 {
    1.0
}
fn default_severity() -> Severity {
    Severity::High
}

/// The detector (stateless: each block is judged on its own probes).
pub struct SolvencyDetector {
    cfg: SolvencyConfig,
}

impl SolvencyDetector {
    /// A detector from its configuration.
    pub fn new(cfg: SolvencyConfig) -> Self {
        Self { cfg }
    }

    fn market_probe(&self, id: u64) -> Probe {
        Probe { to: self.cfg.pool, data: MarginPool::marketCall { id: U256::from(id) }.abi_encode().into() }
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
        self.cfg.markets.iter().flat_map(|m| [self.market_probe(m.id), Self::feed_probe(m.feed)]).collect()
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block = bundle.block_ref();
        let err = |reason: String| DetectorError { detector: self.cfg.name.clone(), block: block.number, reason };
        let loan_unit = 10f64.powi(self.cfg.loan_decimals as i32);
        let (mut total_value, mut total_debt) = (0.0, 0.0);
        let mut findings = Vec::new();
        for m in &self.cfg.markets {
            let market = bundle
                .probe(&self.market_probe(m.id))
                .and_then(|b| MarginPool::marketCall::abi_decode_returns(b).ok())
                .ok_or_else(|| err(format!("no state of market {} at this block", m.id)))?;
            let round = bundle
                .probe(&Self::feed_probe(m.feed))
                .and_then(|b| PriceFeed::latestRoundDataCall::abi_decode_returns(b).ok())
                .ok_or_else(|| err(format!("no answer of feed {} at this block", m.feed)))?;
            let price = i128::try_from(round._1).map_err(|_| err("feed answer out of range".into()))? as f64 / 1e8;
            let scale = market.collateralScale.to::<u128>() as f64;
            let value = market.totalCollateral.to::<u128>() as f64 / scale * price;
            let debt = market.totalBorrows.to::<u128>() as f64 / loan_unit;
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
