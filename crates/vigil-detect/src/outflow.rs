//! Outflow rate (ERC-7265): trip when `liquidity + net flow < liquidity × min retained` over a sliding window.
//!
//! For each watched asset, the detector sums the asset's `Transfer` logs into and out of the contract in each
//! block (successful transactions only). The liquidity at the start of the window is the contract's balance now
//! (a `balanceOf` probe) minus the window's net flow. A block that makes the window trip yields one finding per
//! asset, with the window's numbers as evidence.

use std::collections::VecDeque;

use alloy::{
    primitives::{Address, I256, U256},
    sol_types::{SolCall, SolEvent},
};
use serde::Deserialize;
use vigil_contracts::IERC20;
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Probe, Scope, Severity};

/// Configuration of an outflow-rate detector.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutflowConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The contract whose balances are watched.
    pub contract: Address,
    /// Guardian scope id the findings are about (0 = the whole contract).
    #[serde(default)]
    pub scope: u64,
    /// ERC-20 assets watched.
    pub assets: Vec<Address>,
    /// Window length in blocks. Default 50 (10 minutes).
    #[serde(default = "default_window")]
    pub window_blocks: u64,
    /// Share of the window's starting liquidity that must remain, in basis points. Default 9_500 (trip at a 5 %
    /// net outflow).
    #[serde(default = "default_retained")]
    pub min_retained_bps: u64,
    /// Severity of a trip. Default critical.
    #[serde(default = "default_severity")]
    pub severity: Severity,
}

fn default_window() -> u64 {
    50
}
fn default_retained() -> u64 {
    9_500
}
fn default_severity() -> Severity {
    Severity::Critical
}

/// Samples kept beyond the window, so that a reorg up to this depth leaves a full window behind.
pub const REORG_DEPTH: u64 = 64;

/// The detector.
pub struct OutflowRateDetector {
    cfg: OutflowConfig,
    /// Per block: the block and the net flow of each asset (inflow positive); the window plus
    /// [`REORG_DEPTH`] blocks.
    window: VecDeque<(BlockRef, Vec<I256>)>,
}

impl OutflowRateDetector {
    /// A detector from its configuration.
    pub fn new(cfg: OutflowConfig) -> Self {
        Self { cfg, window: VecDeque::new() }
    }

    fn balance_probe(&self, asset: Address) -> Probe {
        Probe { to: asset, data: IERC20::balanceOfCall { account: self.cfg.contract }.abi_encode().into() }
    }
}

impl Detector for OutflowRateDetector {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn probes(&self) -> Vec<Probe> {
        self.cfg.assets.iter().map(|a| self.balance_probe(*a)).collect()
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let me = self.cfg.contract;
        let mut flows = vec![I256::ZERO; self.cfg.assets.len()];
        for log in bundle.logs() {
            let Some(i) = self.cfg.assets.iter().position(|a| *a == log.address()) else { continue };
            let Ok(t) = IERC20::Transfer::decode_log(&log.inner) else { continue };
            let value = I256::try_from(t.value).unwrap_or(I256::MAX);
            if t.to == me && t.from != me {
                flows[i] += value;
            } else if t.from == me && t.to != me {
                flows[i] -= value;
            }
        }
        let block = bundle.block_ref();
        self.window.push_back((block, flows));
        while self.window.len() as u64 > self.cfg.window_blocks + REORG_DEPTH {
            self.window.pop_front();
        }
        let first_in_window = block.number.saturating_sub(self.cfg.window_blocks - 1);
        let in_window = || self.window.iter().filter(move |(b, _)| b.number >= first_in_window);
        let window_len = in_window().count();

        let mut findings = Vec::new();
        for (i, asset) in self.cfg.assets.iter().enumerate() {
            let probe = self.balance_probe(*asset);
            let balance = bundle
                .probe(&probe)
                .and_then(|b| IERC20::balanceOfCall::abi_decode_returns(b).ok())
                .ok_or_else(|| DetectorError {
                    detector: self.cfg.name.clone(),
                    block: block.number,
                    reason: format!("no balance of {asset} for {me} at this block"),
                })?;
            let net: I256 = in_window().map(|(_, f)| f[i]).fold(I256::ZERO, |a, b| a + b);
            let balance = I256::try_from(balance).unwrap_or(I256::MAX);
            let start = balance - net;
            if start <= I256::ZERO || net >= I256::ZERO {
                continue;
            }
            // start + net < start × retained  ⇔  (start + net) × 10_000 < start × retained_bps
            let lhs = (start + net) * I256::try_from(10_000u64).expect("small");
            let rhs = start * I256::try_from(self.cfg.min_retained_bps).expect("small");
            if lhs < rhs {
                let outflow = U256::try_from(-net).unwrap_or_default();
                let start_u = U256::try_from(start).unwrap_or_default();
                let outflow_bps = outflow * U256::from(10_000u64) / start_u;
                findings.push(crate::finding(
                    (&self.cfg.name, &self.cfg.protocol),
                    block,
                    None,
                    (Scope::segment(me, self.cfg.scope), self.cfg.severity, FindingKind::Exploit),
                    format!("net outflow of {outflow_bps} bps of {asset} from {me} over {window_len} blocks"),
                    serde_json::json!({
                        "asset": asset,
                        "window_blocks": window_len,
                        "liquidity_at_window_start": start_u.to_string(),
                        "net_outflow": outflow.to_string(),
                        "outflow_bps": outflow_bps.to::<u64>(),
                        "min_retained_bps": self.cfg.min_retained_bps,
                    }),
                    &[("asset", asset.to_string()), ("rule", "erc7265".to_string())],
                ));
            }
        }
        Ok(findings)
    }

    fn revert_to(&mut self, ancestor: BlockRef) {
        while self.window.back().is_some_and(|(b, _)| b.number > ancestor.number) {
            self.window.pop_back();
        }
    }
}
