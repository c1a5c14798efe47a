//! Flash loans: a transaction that borrows and repays within itself, combined with a large price impact on a
//! watched AMM pair, or with calls into the protocol's contracts.
//!
//! A transaction takes a flash loan when its `callTracer` trace has a successful `CALL` into one of the lenders'
//! callbacks — ERC-3156 `onFlashLoan(address,address,uint256,uint256,bytes)`, Aave v2
//! `executeOperation(address[],uint256[],uint256[],address,bytes)`, Aave v3
//! `executeOperation(address,uint256,uint256,address,bytes)`, Balancer `receiveFlashLoan(address[],uint256[],
//! uint256[],bytes)`, Uniswap v2 `uniswapV2Call(address,uint256,uint256,bytes)` (a flash swap), Uniswap v3
//! `uniswapV3FlashCallback(uint256,uint256,bytes)` — (the lender is the caller, the borrower the callee), or a
//! `CALL` with a selector into one of the configured `lenders` (the borrower is the caller). Frames under a
//! `STATICCALL` or a reverted frame are skipped, and a failed transaction is skipped whole. Not seen: other
//! callbacks (Uniswap v3 *swap* callbacks are not loans, nor are v2 forks' renamed callbacks such as
//! `pancakeCall`: add such lenders to `lenders`).
//!
//! Findings, per transaction with a flash loan:
//!
//! - **critical / exploit** on a watched pair's scope when the pair's price (reserve1 / reserve0 of its
//!   Uniswap-v2-style `Sync(uint112,uint112)` logs) moves, at any `Sync` within the transaction, more than
//!   `max_price_impact_bps` away from its price before the transaction. The move is measured in whichever
//!   direction the price rose (`max(p / p₀, p₀ / p) − 1`), so it does not depend on which token is token0: 1_000
//!   bps is the price up 10 % or down 9.1 %. The price before the transaction is the
//!   pair's last `Sync` earlier in the block; else its state at the end of the previous block, from the
//!   `getReserves` probe the detector declares (or, when the probe is missing, the last `Sync` the detector saw in
//!   earlier blocks); else (the first block the detector reads, without a probe) the transaction's first `Sync`,
//!   which misses the first swap's impact. The `Sync` logs come from the transaction's receipt, or from the trace's
//!   logs when the bundle has no receipt for it (traces taken `withLog`);
//! - **medium / suspicious** on a protocol contract's scope when, inside the loan (the callback's frame, or the
//!   call to a configured lender), a state-changing call reaches one of `protocol_contracts` (other than the lender
//!   itself), unless the transaction already has a critical finding on that scope;
//! - **low / info** on the lender (whole contract) for a flash loan with neither, only with `report_loans = true`
//!   (off by default: flash loans are common and mostly benign — arbitrage, refinancing, liquidations).
//!
//! Critical and medium findings blame the transaction's sender (actor label) at stage exploitation; evidence: the
//! transaction, the loans (kind, lender, borrower), and the pair's reserves before and at the extreme `Sync` with
//! the impact in basis points, or the protocol contracts called and their selectors.
//!
//! Traces are required: a bundle without them (the node's source must have traces turned on), a failed trace or
//! a trace of another tracer is a [`DetectorError`], never a silent pass. The pairs' remembered reserves are kept
//! per block, so `revert_to` forgets the orphaned blocks' reserves exactly.
//!
//! ```toml
//! [[detector]]
//! type = "flash-loan"
//! name = "flash-loan-price-impact"
//! protocol = "venue"
//! lenders = []                    # dedicated flash lenders; default none
//! max_price_impact_bps = 1000     # default 1_000 (10 %)
//! report_loans = false            # default false
//! pairs = [
//!   { address = "0x8A791620dd6260079BF849Dc5567aDC3F2FdC318", scope = { target = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", id = 2 } },
//! ]
//! protocol_contracts = [
//!   { address = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0" },   # scope defaults to the whole contract
//!   { address = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82" },
//!   { address = "0x9A676e781A523b5d0C0e43731313A708CB607508" },
//!   { address = "0x9A9f2CCfdE556A7E9Ff0848998Aa4a0CFD8863AE", scope = { target = "0x9A9f2CCfdE556A7E9Ff0848998Aa4a0CFD8863AE", id = 0 } },
//!   { address = "0x68B1D87F95878fE05B998F19b66F4baba5De1aed" },
//! ]
//! ```

use std::collections::HashMap;

use alloy::{
    primitives::{Address, B256, U256},
    rpc::types::trace::geth::{CallFrame, CallLogFrame},
    sol,
    sol_types::{SolCall, SolEvent},
};
use serde::Deserialize;
use vigil_core::{
    finding::Stage, BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Probe, Scope, Severity,
};

use crate::history::History;
use crate::registry::{BuildContext, BuildError, DetectorKind};
use crate::trace::{call_traces, receipt_for, selector_hex, LiveFrames, TraceError, TxTrace};
use crate::watch::{scope_or_whole, ProtocolContract, ScopeRef};

sol! {
    interface IERC3156FlashBorrower {
        function onFlashLoan(address initiator, address token, uint256 amount, uint256 fee, bytes data)
            external returns (bytes32);
    }
    interface IAaveV2FlashLoanReceiver {
        function executeOperation(
            address[] assets, uint256[] amounts, uint256[] premiums, address initiator, bytes params
        ) external returns (bool);
    }
    interface IAaveV3FlashLoanSimpleReceiver {
        function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes params)
            external returns (bool);
    }
    interface IBalancerFlashLoanRecipient {
        function receiveFlashLoan(address[] tokens, uint256[] amounts, uint256[] feeAmounts, bytes userData) external;
    }
    interface IUniswapV2Callee {
        function uniswapV2Call(address sender, uint256 amount0, uint256 amount1, bytes data) external;
    }
    interface IUniswapV3FlashCallback {
        function uniswapV3FlashCallback(uint256 fee0, uint256 fee1, bytes data) external;
    }
    interface IUniswapV2Pair {
        event Sync(uint112 reserve0, uint112 reserve1);
        function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
    }
}

/// The flash-loan callbacks recognised, with their names.
pub const CALLBACKS: [([u8; 4], &str); 6] = [
    (IERC3156FlashBorrower::onFlashLoanCall::SELECTOR, "erc3156"),
    (IAaveV2FlashLoanReceiver::executeOperationCall::SELECTOR, "aave-v2"),
    (IAaveV3FlashLoanSimpleReceiver::executeOperationCall::SELECTOR, "aave-v3"),
    (IBalancerFlashLoanRecipient::receiveFlashLoanCall::SELECTOR, "balancer"),
    (IUniswapV2Callee::uniswapV2CallCall::SELECTOR, "uniswap-v2"),
    (IUniswapV3FlashCallback::uniswapV3FlashCallbackCall::SELECTOR, "uniswap-v3"),
];

/// Configuration of a flash-loan detector.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlashLoanConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// Lenders whose (state-changing) calls all count as flash loans, besides the recognised callbacks: dedicated
    /// flash lenders (Maker's DssFlash, a protocol's own lender), not lending pools that also lend flash (Aave,
    /// Balancer: their callbacks are recognised, and their other calls are not loans). Default none.
    #[serde(default)]
    pub lenders: Vec<Address>,
    /// Uniswap-v2-style pairs whose price a flash loan must not move. Default none.
    #[serde(default)]
    pub pairs: Vec<WatchedPair>,
    /// Protocol contracts a flash loan should not reach. Default none.
    #[serde(default)]
    pub protocol_contracts: Vec<ProtocolContract>,
    /// Largest tolerated move of a pair's price within a flash-loan transaction, in basis points. Default 1_000
    /// (10 %).
    #[serde(default = "default_impact")]
    pub max_price_impact_bps: u64,
    /// Report flash loans that neither move a pair nor reach the protocol (low, info). Default false.
    #[serde(default)]
    pub report_loans: bool,
}

/// A watched pair.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WatchedPair {
    /// The pair.
    pub address: Address,
    /// The scope that depends on its price (e.g. the market that prices collateral from it). Default the whole
    /// pair.
    #[serde(default)]
    pub scope: Option<ScopeRef>,
}

vigil_core::defaults! {
    default_impact: u64 = 1_000;
}

/// What the detector saw in the last block, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FlashLoanStats {
    /// Transactions traced.
    pub transactions: usize,
    /// Call frames walked.
    pub frames: usize,
    /// Flash-loan callbacks found.
    pub callbacks: usize,
    /// Calls into configured lenders found.
    pub lender_calls: usize,
    /// Transactions with a flash loan.
    pub loan_transactions: usize,
    /// `Sync` logs of watched pairs read.
    pub syncs: usize,
    /// Largest price impact of a watched pair within one transaction, in basis points (with or without a loan).
    pub max_impact_bps: f64,
}

/// One flash loan in a transaction.
struct Loan<'a> {
    kind: &'static str,
    lender: Address,
    borrower: Address,
    frame: &'a CallFrame,
}

/// Reserves (reserve0, reserve1).
type Reserves = (u128, u128);

fn price(r: Reserves) -> Option<f64> {
    (r.0 > 0 && r.1 > 0).then(|| r.1 as f64 / r.0 as f64)
}

/// The reserves of a `Sync` log.
fn sync_of(topics: &[B256], data: &[u8]) -> Option<Reserves> {
    if topics.first() != Some(&IUniswapV2Pair::Sync::SIGNATURE_HASH) || data.len() < 64 {
        return None;
    }
    let r0: u128 = U256::from_be_slice(&data[..32]).try_into().ok()?;
    let r1: u128 = U256::from_be_slice(&data[32..64]).try_into().ok()?;
    Some((r0, r1))
}

/// Logs of `f` and its successful descendants, in execution order (a log's `position` is the number of calls the
/// frame had made before it).
fn trace_logs<'a>(f: &'a CallFrame, out: &mut Vec<&'a CallLogFrame>) {
    if f.error.is_some() {
        return;
    }
    let mut logs = f.logs.iter().peekable();
    for (i, child) in f.calls.iter().enumerate() {
        while let Some(l) = logs.next_if(|l| l.position.is_none_or(|p| p as usize <= i)) {
            out.push(l);
        }
        trace_logs(child, out);
    }
    out.extend(logs);
}

/// The detector.
pub struct FlashLoanDetector {
    cfg: FlashLoanConfig,
    /// Index of each watched pair in `cfg.pairs`.
    pairs: HashMap<Address, usize>,
    /// Scope of each protocol contract (the first entry of an address).
    protocol: HashMap<Address, Scope>,
    /// Each watched pair's reserves at the end of each recent block, when known.
    history: History<Vec<Option<Reserves>>>,
    stats: FlashLoanStats,
}

impl FlashLoanDetector {
    /// A detector from its configuration.
    pub fn new(cfg: FlashLoanConfig) -> Self {
        let pairs = cfg.pairs.iter().enumerate().map(|(i, p)| (p.address, i)).collect();
        let mut protocol = HashMap::new();
        for c in &cfg.protocol_contracts {
            protocol.entry(c.address).or_insert(scope_or_whole(c.address, c.scope));
        }
        Self { cfg, pairs, protocol, history: History::new(1), stats: FlashLoanStats::default() }
    }

    /// The same detector, its reserves kept `reorg_depth` blocks deep (the source's).
    pub fn with_reorg_depth(mut self, reorg_depth: u64) -> Self {
        self.history = self.history.with_reorg_depth(reorg_depth);
        self
    }

    /// What the detector saw in the last block it read.
    pub fn stats(&self) -> FlashLoanStats {
        self.stats
    }

    fn reserves_probe(pair: Address) -> Probe {
        Probe { to: pair, data: IUniswapV2Pair::getReservesCall {}.abi_encode().into() }
    }

    /// The flash loans in `top`'s tree.
    fn loans<'a>(&mut self, top: &'a CallFrame, out: &mut Vec<Loan<'a>>) {
        let mut live = LiveFrames::new(top);
        for f in live.by_ref() {
            if f.typ != "CALL" || f.input.len() < 4 {
                continue;
            }
            let sel = &f.input[..4];
            if let Some((_, kind)) = CALLBACKS.iter().find(|(s, _)| s[..] == *sel) {
                self.stats.callbacks += 1;
                out.push(Loan { kind, lender: f.from, borrower: f.to.unwrap_or_default(), frame: f });
            } else if f.to.is_some_and(|to| self.cfg.lenders.contains(&to)) {
                self.stats.lender_calls += 1;
                out.push(Loan { kind: "lender", lender: f.to.unwrap_or_default(), borrower: f.from, frame: f });
            }
        }
        self.stats.frames += live.walked();
    }

    /// Protocol contracts called within `loan`: (scope, contract, selector).
    fn protocol_calls(&self, loan: &Loan<'_>, out: &mut Vec<(Scope, Address, String)>) {
        for f in LiveFrames::new(loan.frame) {
            let Some(to) = f.to.filter(|to| f.typ == "CALL" && *to != loan.lender) else { continue };
            if let Some(scope) = self.protocol.get(&to) {
                if !out.iter().any(|(s, _, _)| s == scope) {
                    out.push((*scope, to, selector_hex(&f.input)));
                }
            }
        }
    }
}

/// A pair's largest move within one transaction.
struct Impact {
    pair: usize,
    before: Reserves,
    extreme: Reserves,
    bps: f64,
    baseline: &'static str,
}

impl Detector for FlashLoanDetector {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn probes(&self) -> Vec<Probe> {
        self.cfg.pairs.iter().map(|p| Self::reserves_probe(p.address)).collect()
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block = bundle.block_ref();
        self.stats = FlashLoanStats::default();
        let name = self.cfg.name.clone();
        let err = |e: TraceError| e.at(&name, block);
        let traces = call_traces(bundle).map_err(err)?;
        // Reserves at the end of the previous block, then after each transaction.
        // (A block read again, the engine's retry, starts from the block before it.)
        let mut current: Vec<Option<Reserves>> = self.history.before(block.number);
        if current.is_empty() {
            current = vec![None; self.cfg.pairs.len()];
        }
        let mut findings = Vec::new();
        let mut loans = Vec::new();
        let mut trace_log_buf = Vec::new();
        let mut syncs: Vec<(usize, Reserves)> = Vec::new();
        for trace in traces {
            let TxTrace { index, hash: tx_hash, top } = trace.map_err(err)?;
            self.stats.transactions += 1;
            if top.error.is_some() {
                self.stats.frames += 1;
                continue;
            }

            // The watched pairs' Syncs, in order.
            syncs.clear();
            if !self.pairs.is_empty() {
                match receipt_for(bundle, index, tx_hash) {
                    Some(r) => {
                        for log in r.logs.iter().filter(|_| r.status) {
                            let Some(&p) = self.pairs.get(&log.address()) else { continue };
                            if let Some(res) = sync_of(log.topics(), &log.data().data) {
                                syncs.push((p, res));
                            }
                        }
                    }
                    None => {
                        trace_log_buf.clear();
                        trace_logs(top, &mut trace_log_buf);
                        for log in &trace_log_buf {
                            let Some(&p) = log.address.and_then(|a| self.pairs.get(&a)) else { continue };
                            let (Some(topics), Some(data)) = (&log.topics, &log.data) else { continue };
                            if let Some(res) = sync_of(topics, data) {
                                syncs.push((p, res));
                            }
                        }
                    }
                }
            }
            self.stats.syncs += syncs.len();
            let mut impacts: Vec<Impact> = Vec::new();
            for &(p, res) in &syncs {
                let (before, baseline) = match current[p] {
                    Some(b) => (b, "before the transaction"),
                    None => match impacts.iter().find(|i| i.pair == p) {
                        Some(i) => (i.before, i.baseline),
                        None => (res, "the transaction's first Sync (no earlier state known)"),
                    },
                };
                let bps = match (price(before), price(res)) {
                    (Some(a), Some(b)) => ((b / a).max(a / b) - 1.0) * 10_000.0,
                    _ => 0.0,
                };
                match impacts.iter_mut().find(|i| i.pair == p) {
                    Some(i) if bps > i.bps => (i.extreme, i.bps) = (res, bps),
                    Some(_) => {}
                    None => impacts.push(Impact { pair: p, before, extreme: res, bps, baseline }),
                }
            }
            for &(p, res) in &syncs {
                current[p] = Some(res);
            }
            for i in &impacts {
                self.stats.max_impact_bps = self.stats.max_impact_bps.max(i.bps);
            }

            loans.clear();
            self.loans(top, &mut loans);
            if loans.is_empty() {
                continue;
            }
            self.stats.loan_transactions += 1;
            let sender = top.from;
            let loan_evidence: Vec<_> = loans
                .iter()
                .map(|l| serde_json::json!({"kind": l.kind, "lender": l.lender, "borrower": l.borrower}))
                .collect();
            let finding = |class, title, evidence, labels: &[(&str, String)]| {
                crate::finding((&self.cfg.name, &self.cfg.protocol), block, tx_hash, class, title, evidence, labels)
            };
            let mut critical: Vec<Scope> = Vec::new();
            for i in impacts.iter().filter(|i| i.bps > self.cfg.max_price_impact_bps as f64) {
                let pair = &self.cfg.pairs[i.pair];
                let scope = scope_or_whole(pair.address, pair.scope);
                if critical.contains(&scope) {
                    continue;
                }
                critical.push(scope);
                let f = finding(
                    (scope, Severity::Critical, FindingKind::Exploit),
                    format!(
                        "flash loan moved pair {} by {:.0} bps within one transaction (limit {})",
                        pair.address, i.bps, self.cfg.max_price_impact_bps
                    ),
                    serde_json::json!({
                        "tx": tx_hash,
                        "sender": sender,
                        "loans": loan_evidence,
                        "pair": pair.address,
                        "reserves_before": [i.before.0.to_string(), i.before.1.to_string()],
                        "reserves_extreme": [i.extreme.0.to_string(), i.extreme.1.to_string()],
                        "baseline": i.baseline,
                        "impact_bps": i.bps.round(),
                        "max_price_impact_bps": self.cfg.max_price_impact_bps,
                    }),
                    &[("pair", pair.address.to_string())],
                );
                findings.push(f.with_actor(sender, Stage::Exploitation));
            }
            let mut touched = Vec::new();
            for l in &loans {
                self.protocol_calls(l, &mut touched);
            }
            touched.retain(|(s, _, _)| !critical.contains(s));
            for (scope, contract, selector) in &touched {
                let f = finding(
                    (*scope, Severity::Medium, FindingKind::Suspicious),
                    format!("flash loan ({}) reached protocol contract {contract}", loans[0].kind),
                    serde_json::json!({
                        "tx": tx_hash,
                        "sender": sender,
                        "loans": loan_evidence,
                        "contract": contract,
                        "selector": selector,
                    }),
                    &[("contract", contract.to_string())],
                );
                findings.push(f.with_actor(sender, Stage::Exploitation));
            }
            if critical.is_empty() && touched.is_empty() && self.cfg.report_loans {
                findings.push(finding(
                    (Scope::whole(loans[0].lender), Severity::Low, FindingKind::Info),
                    format!("flash loan ({}) from {} to {}", loans[0].kind, loans[0].lender, loans[0].borrower),
                    serde_json::json!({"tx": tx_hash, "sender": sender, "loans": loan_evidence}),
                    &[],
                ));
            }
        }
        // The reserves at the end of the block: the probe's, else the last Sync's.
        for (i, p) in self.cfg.pairs.iter().enumerate() {
            let probed = bundle
                .probe(&Self::reserves_probe(p.address))
                .and_then(|b| IUniswapV2Pair::getReservesCall::abi_decode_returns(b).ok());
            if let Some(r) = probed {
                current[i] = Some((r.reserve0.to::<u128>(), r.reserve1.to::<u128>()));
            }
        }
        self.history.push(block, current);
        Ok(findings)
    }

    fn revert_to(&mut self, ancestor: BlockRef) {
        self.history.revert_to(ancestor);
    }
}

impl DetectorKind for FlashLoanConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
        Ok(Box::new(FlashLoanDetector::new(self.clone()).with_reorg_depth(ctx.reorg_depth)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use alloy::primitives::{address, keccak256, Bytes};
    use alloy::rpc::types::trace::geth::{GethTrace, TraceResult};
    use vigil_sim::scenario::{find, RunOptions, ScenarioRun};
    use vigil_sim::venue::MARKET_WETH_SPOT;
    use vigil_sim::Venue;

    use super::*;
    use crate::testdata::{add_stats, busiest, call_frames, run_scenario, Seen};

    /// The conformance suite's mainnet case: block 24,298,763's 20 most-called contracts as the protocol, Maker's
    /// DssFlash as a lender, Uniswap v2's USDC/WETH pair watched.
    pub(super) fn mainnet_case() -> (String, Bundle) {
        let b = crate::testdata::mainnet_traced_block();
        let top = busiest(call_frames(&b).map(|fr| fr.to.unwrap_or_default()), 20);
        let list = top.iter().map(|a| format!("{{ address = \"{a}\" }}")).collect::<Vec<_>>().join(", ");
        let table = format!(
            "name = \"f\"\nprotocol = \"mainnet\"\nlenders = [\"0x60744434d6339a6B27d73d9Eda62b6F66a0a04FA\"]\n\
             pairs = [{{ address = \"0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc\" }}]\nprotocol_contracts = [{list}]\n"
        );
        (table, b)
    }

    crate::conformance::case!(FlashLoanConfig, "flashloan.rs", "flash-loan-oracle", 110, mainnet_case);

    fn venue_cfg(v: &Venue, report_loans: bool) -> FlashLoanConfig {
        let protocol = [v.pool, v.legacy_market, v.legacy_vault, v.legacy_governance, v.reserve, v.options];
        FlashLoanConfig {
            name: "flash-loans".into(),
            protocol: "venue".into(),
            lenders: vec![],
            pairs: vec![WatchedPair {
                address: v.pair,
                scope: Some(ScopeRef { target: v.pool, id: MARKET_WETH_SPOT }),
            }],
            protocol_contracts: protocol.map(|address| ProtocolContract { address, scope: None }).to_vec(),
            max_price_impact_bps: 1_000,
            report_loans,
        }
    }

    fn run(name: &str, blocks: Option<u64>, report_loans: bool) -> (Venue, Address, Seen, FlashLoanStats) {
        let mut total = FlashLoanStats::default();
        let make = |v: &Venue| FlashLoanDetector::new(venue_cfg(v, report_loans));
        let (run, seen) = run_scenario(
            name,
            blocks,
            make,
            |det| add_stats!(total, det.stats(); transactions, frames, callbacks, lender_calls, loan_transactions, syncs; max max_impact_bps),
        );
        (run.venue, run.actors.attacker.address(), seen, total)
    }

    fn summary(seen: &Seen) -> Vec<(u64, Severity, Scope)> {
        seen.iter().flat_map(|(n, _, f)| f.iter().map(move |f| (*n, f.severity, f.scope))).collect()
    }

    fn first_malicious(seen: &Seen) -> u64 {
        seen.iter().find(|(_, m, _)| !m.is_empty()).unwrap().0
    }

    #[test]
    fn fires_critical_on_the_spot_market_in_the_flash_loan_oracle_attack_block() {
        let (venue, attacker, seen, stats) = run("flash-loan-oracle", None, false);
        println!("flash-loan-oracle: {stats:?}");
        println!("first malicious block {}, findings {:?}", first_malicious(&seen), summary(&seen));
        let attack_block = seen.iter().rev().find(|(_, m, _)| !m.is_empty()).unwrap();
        let critical: Vec<_> = seen
            .iter()
            .flat_map(|(n, _, f)| f.iter().map(move |f| (n, f)))
            .filter(|(_, f)| f.severity == Severity::Critical)
            .collect();
        assert_eq!(critical.len(), 1, "{critical:?}");
        let (n, f) = critical[0];
        assert_eq!(*n, attack_block.0);
        assert_eq!(f.scope, Scope::segment(venue.pool, MARKET_WETH_SPOT));
        assert_eq!(f.kind, FindingKind::Exploit);
        assert_eq!(f.tx, Some(*attack_block.1.last().unwrap()));
        assert_eq!((f.actor(), f.stage()), (Some(attacker), Some(Stage::Exploitation)));
        assert!(f.evidence["impact_bps"].as_f64().unwrap() > 20_000.0, "{}", f.evidence);
        assert_eq!(f.evidence["baseline"], "before the transaction");
        assert_eq!(f.evidence["loans"][0]["kind"], "erc3156");
        assert_eq!(f.evidence["loans"][0]["lender"], serde_json::json!(venue.flash_lender));
        println!("{}", serde_json::to_string_pretty(&f.evidence).unwrap());
        // The borrower also reached the pool (its whole scope): a medium finding beside the critical one.
        for (block, _, findings) in &seen {
            for f in findings {
                assert_eq!(*block, attack_block.0, "nothing outside the attack block: {f:?}");
            }
        }
        assert!(stats.syncs > 100, "the pair's Syncs were read");
    }

    #[test]
    fn euler_donation_and_governance_takeover_are_medium_on_the_contract_they_reach() {
        for (name, blocks, target) in [
            ("euler-donation", Some(110), (|v: &Venue| vec![v.legacy_market]) as fn(&Venue) -> Vec<Address>),
            // The committed proposal drains the reserve from within the second loan.
            ("governance-takeover", Some(410), |v: &Venue| vec![v.legacy_governance, v.reserve]),
        ] {
            let (venue, attacker, seen, stats) = run(name, blocks, false);
            let s = summary(&seen);
            println!("{name}: {stats:?}; first malicious block {}; findings {s:?}", first_malicious(&seen));
            assert!(s.iter().any(|(_, _, scope)| scope.target == target(&venue)[0]), "{s:?}");
            for (block, malicious, findings) in &seen {
                for f in findings {
                    assert!(!malicious.is_empty(), "{name}: only attack blocks: {block} {f:?}");
                    assert_eq!((f.severity, f.kind), (Severity::Medium, FindingKind::Suspicious));
                    assert!(target(&venue).contains(&f.scope.target) && f.scope.is_whole(), "{f:?}");
                    assert_eq!(f.actor(), Some(attacker));
                }
            }
        }
    }

    #[test]
    fn silent_on_benign_crash() {
        let (_, _, seen, stats) = run("benign-crash", None, true);
        println!("benign-crash: {stats:?}");
        assert!(stats.frames > 1_000 && stats.syncs > 100, "the traces and the pair's Syncs were read");
        assert_eq!(stats.loan_transactions, 0);
        assert!(summary(&seen).is_empty());
    }

    #[test]
    fn without_traces_it_is_an_error() {
        let mut b = crate::testdata::mainnet_traced_block();
        b.traces = None;
        let cfg = FlashLoanConfig {
            name: "f".into(),
            protocol: "p".into(),
            lenders: vec![],
            pairs: vec![],
            protocol_contracts: vec![],
            max_price_impact_bps: 1_000,
            report_loans: false,
        };
        let e = FlashLoanDetector::new(cfg).on_block(&b).unwrap_err();
        assert!(e.cause.to_string().contains("traces are required"), "{e}");
    }

    #[test]
    fn silent_on_a_mainnet_block() {
        let b = crate::testdata::mainnet_traced_block();
        let top = busiest(call_frames(&b).map(|fr| fr.to.unwrap_or_default()), 20);
        // Busy contracts of the block (WETH, USDC, USDT, Uniswap v4's pool manager …) as the protocol, and Uniswap
        // v2's USDC/WETH pair as a watched pair (the recording has no logs: no Sync is read).
        let mut cfg = FlashLoanConfig {
            name: "f".into(),
            protocol: "mainnet".into(),
            // Maker's DssFlash (Aave's and Balancer's loans are recognised by their callbacks).
            lenders: vec![address!("60744434d6339a6B27d73d9Eda62b6F66a0a04FA")],
            pairs: vec![WatchedPair { address: address!("B4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"), scope: None }],
            protocol_contracts: top.into_iter().map(|address| ProtocolContract { address, scope: None }).collect(),
            max_price_impact_bps: 1_000,
            report_loans: false,
        };
        let mut det = FlashLoanDetector::new(cfg.clone());
        let findings = det.on_block(&b).unwrap();
        let s = det.stats();
        println!("mainnet block 24,298,763: {s:?}");
        // 1,758 frames, less those under static calls (skipped: no loan or state change can be there).
        assert_eq!(s.transactions, 361);
        assert!(s.frames > 1_400, "{s:?}");
        assert!(findings.is_empty(), "{findings:#?}");
        // With plain loans reported, every loan seen is a finding, so the count above is what the walk found.
        cfg.report_loans = true;
        let mut det = FlashLoanDetector::new(cfg);
        let findings = det.on_block(&b).unwrap();
        assert_eq!(findings.len(), det.stats().loan_transactions);
        assert!(findings.iter().all(|f| f.severity == Severity::Low));
    }

    #[test]
    fn callback_selectors_are_the_signatures_hashes() {
        let sigs = [
            ("onFlashLoan(address,address,uint256,uint256,bytes)", "0x23e30c8b"),
            ("executeOperation(address[],uint256[],uint256[],address,bytes)", "0x920f5c84"),
            ("executeOperation(address,uint256,uint256,address,bytes)", "0x1b11d0ff"),
            ("receiveFlashLoan(address[],uint256[],uint256[],bytes)", "0xf04f2707"),
            ("uniswapV2Call(address,uint256,uint256,bytes)", "0x10d1e85c"),
            ("uniswapV3FlashCallback(uint256,uint256,bytes)", "0xe9cbafb0"),
        ];
        for ((sig, hex), (sel, _)) in sigs.iter().zip(CALLBACKS) {
            assert_eq!(keccak256(sig)[..4], sel[..], "{sig}");
            assert_eq!(alloy::hex::encode_prefixed(sel), *hex, "{sig}");
        }
        assert_eq!(IUniswapV2Pair::Sync::SIGNATURE_HASH, keccak256("Sync(uint112,uint112)"));
    }

    fn sync_log(pair: Address, r0: u128, r1: u128, position: u64) -> CallLogFrame {
        let mut data = [0u8; 64];
        data[16..32].copy_from_slice(&r0.to_be_bytes());
        data[48..64].copy_from_slice(&r1.to_be_bytes());
        CallLogFrame {
            address: Some(pair),
            topics: Some(vec![IUniswapV2Pair::Sync::SIGNATURE_HASH]),
            data: Some(Bytes::copy_from_slice(&data)),
            position: Some(position),
            ..Default::default()
        }
    }

    fn frame(typ: &str, from: Address, to: Address, input: Vec<u8>, calls: Vec<CallFrame>) -> CallFrame {
        CallFrame { typ: typ.into(), from, to: Some(to), input: input.into(), calls, ..Default::default() }
    }

    /// A bundle without receipts, whose one trace swaps on `pair` (reserves 100:100 → 100:`r1`), inside a flash
    /// loan when `loan`.
    fn traced(pair: Address, r1: u128, loan: bool) -> Bundle {
        let (eoa, lender, borrower) =
            (Address::repeat_byte(0xee), Address::repeat_byte(0x1e), Address::repeat_byte(0xb0));
        let mut swap1 = frame("CALL", borrower, pair, vec![1, 2, 3, 4], vec![]);
        swap1.logs.push(sync_log(pair, 100, r1, 0));
        let mut swap2 = frame("CALL", borrower, pair, vec![1, 2, 3, 4], vec![]);
        swap2.logs.push(sync_log(pair, 100, 100, 0));
        let mut setup = frame("CALL", eoa, pair, vec![1, 2, 3, 4], vec![]);
        setup.logs.push(sync_log(pair, 100, 100, 0));
        let inner = if loan {
            let cb = frame(
                "CALL",
                lender,
                borrower,
                IERC3156FlashBorrower::onFlashLoanCall::SELECTOR.to_vec(),
                vec![swap1, swap2],
            );
            frame("CALL", borrower, lender, vec![9, 9, 9, 9], vec![cb])
        } else {
            frame("CALL", borrower, pair, vec![9, 9, 9, 9], vec![swap1, swap2])
        };
        let mut b = crate::testdata::mainnet_traced_block();
        let wrap = |f| TraceResult::Success { result: GethTrace::CallTracer(f), tx_hash: None };
        b.traces = Some(vec![wrap(setup), wrap(frame("CALL", eoa, borrower, vec![5, 5, 5, 5], vec![inner]))]);
        b
    }

    fn pair_cfg(pair: Address) -> FlashLoanConfig {
        FlashLoanConfig {
            name: "f".into(),
            protocol: "p".into(),
            lenders: vec![],
            pairs: vec![WatchedPair {
                address: pair,
                scope: Some(ScopeRef { target: Address::repeat_byte(0x99), id: 4 }),
            }],
            protocol_contracts: vec![],
            max_price_impact_bps: 1_000,
            report_loans: false,
        }
    }

    #[test]
    fn the_impact_is_read_from_trace_logs_when_there_are_no_receipts() {
        let pair = Address::repeat_byte(0x0a);
        let mut det = FlashLoanDetector::new(pair_cfg(pair));
        // 100 → 150: 5_000 bps inside a flash loan, measured against the earlier transaction's Sync.
        let f = det.on_block(&traced(pair, 150, true)).unwrap();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].scope, Scope::segment(Address::repeat_byte(0x99), 4));
        assert_eq!(f[0].evidence["impact_bps"], 5_000.0);
        assert_eq!(f[0].actor(), Some(Address::repeat_byte(0xee)));
        // Within the limit (105: 500 bps), or without a loan: nothing.
        assert!(FlashLoanDetector::new(pair_cfg(pair)).on_block(&traced(pair, 105, true)).unwrap().is_empty());
        let mut det = FlashLoanDetector::new(pair_cfg(pair));
        assert!(det.on_block(&traced(pair, 150, false)).unwrap().is_empty());
        assert_eq!(det.stats().max_impact_bps, 5_000.0);
        // A call into a configured lender is a loan too (here the outer call into the pair).
        let mut cfg = pair_cfg(pair);
        cfg.lenders.push(pair);
        let mut det = FlashLoanDetector::new(cfg);
        let f = det.on_block(&traced(pair, 150, false)).unwrap();
        assert_eq!((f.len(), det.stats().lender_calls), (1, 4), "the setup call, the outer call and two swaps");
        assert_eq!(f[0].evidence["loans"][0]["kind"], "lender");
    }

    #[test]
    fn revert_to_forgets_the_orphaned_blocks_reserves() {
        let opts = RunOptions { seed: 1, tracing: true, blocks: Some(12), ..Default::default() };
        let mut run = ScenarioRun::start(find("benign-crash").unwrap(), opts).unwrap();
        let mut det = FlashLoanDetector::new(venue_cfg(&run.venue, false));
        let probes: BTreeSet<_> = det.probes().into_iter().collect();
        let mut refs = Vec::new();
        while let Some(block) = run.next_block(vec![]).unwrap() {
            let bundle = run.chain.bundle(&block, &probes);
            det.on_block(&bundle).unwrap();
            refs.push((bundle.block_ref(), det.history.last().unwrap().clone()));
        }
        assert!(refs.iter().all(|(_, r)| r[0].is_some()), "the probe gives the reserves at every block");
        assert_ne!(refs[5].1, refs[11].1, "the reserves moved");
        det.revert_to(refs[5].0);
        let (b, r) = det.history.entries.back().unwrap();
        assert_eq!((*b, r), (refs[5].0, &refs[5].1), "back to the ancestor's reserves");
        assert_eq!(det.history.entries.len(), 6);
    }

    /// The module documentation's TOML example, parsed as the node parses a `[[detector]]` table.
    #[test]
    fn the_documented_example_parses() {
        let t = crate::testdata::doc_detector(include_str!("flashloan.rs"), "flash-loan");
        let c: FlashLoanConfig = t.try_into().unwrap();
        assert_eq!((c.lenders.len(), c.pairs.len(), c.protocol_contracts.len()), (0, 1, 5));
        assert_eq!(c.pairs[0].scope.unwrap().id, 2);
        assert_eq!(c.protocol_contracts[0].scope, None);
        let t: toml::Table = toml::from_str("name = \"f\"\nprotocol = \"p\"").unwrap();
        let c: FlashLoanConfig = toml::Value::Table(t).try_into().unwrap();
        assert_eq!((c.max_price_impact_bps, c.report_loans), (1_000, false));
        let t: toml::Table = toml::from_str("name = \"f\"\nprotocol = \"p\"\nmax_impact_bps = 5").unwrap();
        assert!(toml::Value::Table(t).try_into::<FlashLoanConfig>().is_err(), "unknown keys are refused");
    }
}
