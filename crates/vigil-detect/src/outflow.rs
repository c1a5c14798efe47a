//! Outflow rate (ERC-7265): trip when `liquidity + net flow < liquidity × min retained` over a sliding window.
//!
//! For each watched asset, the detector sums the asset's `Transfer` logs into and out of the contract in each
//! block (successful transactions only). The liquidity at the start of the window is the contract's balance now
//! (a `balanceOf` probe) minus the window's net flow. A block that makes the window trip yields one finding per
//! asset, with the window's numbers as evidence.
//!
//! On the proving ground's legacy market (`vigil venue` prints the addresses):
//! ```toml
//! [[detector]]
//! type = "outflow-rate"
//! name = "legacy-market-outflow"
//! protocol = "venue"
//! contract = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82"   # the contract holding the funds
//! assets = ["0x5FbDB2315678afecb367f032d93F642f64180aa3"]  # ERC-20s watched (balanceOf probes)
//! scope = 0                # Guardian scope of the findings; default 0 (the whole contract)
//! window_blocks = 50       # default 50
//! min_retained_bps = 9500  # default 9_500: trip at a 5 % net outflow
//! severity = "critical"    # default
//! ```

use alloy::{
    primitives::{Address, I256, U256},
    sol_types::{SolCall, SolEvent},
};
use serde::Deserialize;
use vigil_contracts::IERC20;
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Probe, Scope, Severity};

use crate::history::History;
use crate::registry::{BuildContext, BuildError, ConfigIssue, DetectorKind};

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

vigil_core::defaults! {
    default_window: u64 = 50;
    default_retained: u64 = 9_500;
    default_severity: Severity = Severity::Critical;
}

/// The detector.
pub struct OutflowRateDetector {
    cfg: OutflowConfig,
    /// Per block: the net flow of each asset (inflow positive), for the window plus the reorg depth.
    window: History<Vec<I256>>,
}

impl OutflowRateDetector {
    /// A detector from its configuration.
    pub fn new(cfg: OutflowConfig) -> Self {
        let window = History::new(cfg.window_blocks);
        Self { cfg, window }
    }

    /// The same detector, its window kept `reorg_depth` blocks deeper (the source's).
    pub fn with_reorg_depth(mut self, reorg_depth: u64) -> Self {
        self.window = self.window.with_reorg_depth(reorg_depth);
        self
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
        // A block read again (the engine retries a block after an error) replaces its first reading.
        self.window.push(block, flows);
        let first_in_window = block.number.saturating_sub(self.cfg.window_blocks - 1);
        let in_window = || self.window.iter().filter(move |(b, _)| b.number >= first_in_window);
        let window_len = in_window().count();

        let mut findings = Vec::new();
        for (i, asset) in self.cfg.assets.iter().enumerate() {
            let probe = self.balance_probe(*asset);
            let balance = bundle
                .decode_probe::<IERC20::balanceOfCall>(&probe, &format!("balance of {asset} for {me}"))
                .map_err(|cause| DetectorError::new(&self.cfg.name, block, cause))?;
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
        self.window.revert_to(ancestor);
    }
}

impl DetectorKind for OutflowConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        let (window, retained) = (self.window_blocks, self.min_retained_bps);
        ConfigIssue::failing([
            (window > 0, "window_blocks", "window_blocks must be at least 1".into()),
            (
                (1..10_000).contains(&retained),
                "min_retained_bps",
                format!("min_retained_bps must be between 1 and 9999, found {retained}"),
            ),
            (!self.assets.is_empty(), "assets", "assets is empty".into()),
        ])
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
        Ok(Box::new(OutflowRateDetector::new(self.clone()).with_reorg_depth(ctx.reorg_depth)))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, Bytes, LogData};
    use vigil_core::Severity;
    use vigil_sim::Venue;

    use super::*;
    use crate::testdata::{
        mainnet_block, run_scenario, synthetic_block, usdc_weth_reserves, Answers, Seen, SynthTx, USDC, USDC_WETH_PAIR,
        WETH,
    };

    const CONTRACT: Address = address!("00000000000000000000000000000000000000c0");
    const ASSET: Address = address!("00000000000000000000000000000000000000a0");
    const OTHER_ASSET: Address = address!("00000000000000000000000000000000000000a1");
    const USER: Address = address!("00000000000000000000000000000000000000b0");
    const USER2: Address = address!("00000000000000000000000000000000000000b1");

    /// The conformance suite's mainnet case: the USDC/WETH pair at its strictest (99.99 % retained), its balances
    /// after block 18,000,000 those of its reserves.
    pub(super) fn mainnet_case() -> (String, Bundle) {
        let (usdc, weth) = usdc_weth_reserves(&mainnet_block(Default::default()));
        let answers =
            [balance(USDC_WETH_PAIR, USDC, U256::from(usdc)), balance(USDC_WETH_PAIR, WETH, U256::from(weth))];
        let table = format!(
            "name = \"usdc-weth-outflow\"\nprotocol = \"uniswap-v2\"\ncontract = \"{USDC_WETH_PAIR}\"\n\
             assets = [\"{USDC}\", \"{WETH}\"]\nwindow_blocks = 50\nmin_retained_bps = 9999\n"
        );
        (table, mainnet_block(answers.into_iter().collect()))
    }

    crate::conformance::case!(OutflowConfig, "outflow.rs", "legacy-borrow-drain", 141, mainnet_case);

    fn cfg(contract: Address, assets: Vec<Address>) -> OutflowConfig {
        OutflowConfig {
            name: "outflow".into(),
            protocol: "test".into(),
            contract,
            scope: 0,
            assets,
            window_blocks: 10,
            min_retained_bps: 9_500,
            severity: Severity::Critical,
        }
    }

    fn transfer(asset: Address, from: Address, to: Address, value: u64) -> (Address, LogData) {
        (asset, IERC20::Transfer { from, to, value: U256::from(value) }.encode_log_data())
    }

    /// `CONTRACT` paying `value` of `ASSET` out, and receiving `value`.
    fn out(value: u64) -> (Address, LogData) {
        transfer(ASSET, CONTRACT, USER, value)
    }
    fn inflow(value: u64) -> (Address, LogData) {
        transfer(ASSET, USER, CONTRACT, value)
    }

    /// The answer to `contract`'s `balanceOf` on `asset`.
    fn balance(contract: Address, asset: Address, amount: U256) -> (Probe, Result<Bytes, Bytes>) {
        let data = IERC20::balanceOfCall { account: contract }.abi_encode().into();
        (Probe { to: asset, data }, Ok(IERC20::balanceOfCall::abi_encode_returns(&amount).into()))
    }

    /// Block `number` of branch `fork`: one successful transaction with `logs`, `CONTRACT` holding `held` of `ASSET`.
    fn block(number: u64, fork: u8, logs: Vec<(Address, LogData)>, held: u64) -> Bundle {
        let probes: Answers = [balance(CONTRACT, ASSET, U256::from(held))].into_iter().collect();
        synthetic_block(number, fork, &[(true, logs)], probes)
    }

    /// A detector on `CONTRACT` (window 10, 95 % retained) that started with 1,000,000 and paid out `outflows`, one
    /// block each from block 1: the findings of each block.
    fn paying(outflows: &[u64]) -> Vec<Vec<Finding>> {
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        let mut held = 1_000_000;
        (1..)
            .zip(outflows)
            .map(|(n, v)| {
                held -= v;
                det.on_block(&block(n, 0, vec![out(*v)], held)).unwrap()
            })
            .collect()
    }

    #[test]
    fn trips_just_past_the_retained_share_and_not_at_it() {
        // 4.9 % and exactly 5 % out: 95 % retained is allowed.
        assert_eq!(paying(&[49_000]), vec![vec![]]);
        assert_eq!(paying(&[50_000]), vec![vec![]]);
        // 5.1 % out: a critical finding on the contract, with the window's numbers.
        let found = paying(&[51_000]);
        let [f] = found[0].as_slice() else { panic!("{found:?}") };
        assert_eq!(
            (f.severity, f.kind, f.scope, f.tx),
            (Severity::Critical, FindingKind::Exploit, Scope::whole(CONTRACT), None)
        );
        assert_eq!(f.block.number, 1);
        assert_eq!(
            f.evidence,
            serde_json::json!({"asset": ASSET, "window_blocks": 1, "liquidity_at_window_start": "1000000",
                "net_outflow": "51000", "outflow_bps": 510, "min_retained_bps": 9_500})
        );
        assert_eq!(f.labels["rule"], "erc7265");
        // The window adds blocks up: 2 % then 3.1 % trips at the second block, over 2 blocks.
        let found = paying(&[20_000, 31_000]);
        assert!(found[0].is_empty());
        assert_eq!(found[1][0].evidence["outflow_bps"], 510);
        assert_eq!(found[1][0].evidence["window_blocks"], 2);
        // Once tripped, every block whose window holds the outflow trips.
        let found = paying(&[60_000, 0, 0]);
        assert!(found.iter().all(|f| f.len() == 1), "{found:?}");
    }

    #[test]
    fn severity_scope_and_retained_share_are_the_configured_ones() {
        let mut c = cfg(CONTRACT, vec![ASSET]);
        (c.severity, c.scope, c.min_retained_bps) = (Severity::High, 7, 9_900);
        let mut det = OutflowRateDetector::new(c);
        // 1.1 % out trips at 99 % retained.
        let f = det.on_block(&block(1, 0, vec![out(11_000)], 989_000)).unwrap();
        assert_eq!((f[0].severity, f[0].scope), (Severity::High, Scope::segment(CONTRACT, 7)));
        assert_eq!(f[0].evidence["outflow_bps"], 110);
    }

    #[test]
    fn inflows_offset_outflows_and_only_the_contracts_successful_transfers_of_the_asset_count() {
        // 6 % out and 2 % in, in the same block or the next: a net 4 %.
        assert_eq!(paying(&[60_000]).concat().len(), 1, "6 % alone trips");
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        assert!(det.on_block(&block(1, 0, vec![out(60_000), inflow(20_000)], 960_000)).unwrap().is_empty());
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        assert_eq!(det.on_block(&block(1, 0, vec![out(60_000)], 940_000)).unwrap().len(), 1);
        assert!(det.on_block(&block(2, 0, vec![inflow(20_000)], 960_000)).unwrap().is_empty());
        // None of these is a flow of the contract's: a reverted payment, a transfer to itself, another asset,
        // other holders.
        let reverted: SynthTx = (false, vec![out(60_000)]);
        let others: SynthTx = (
            true,
            vec![
                transfer(ASSET, CONTRACT, CONTRACT, 60_000),
                transfer(OTHER_ASSET, CONTRACT, USER, 60_000),
                transfer(ASSET, USER, USER2, 60_000),
            ],
        );
        let probes: Answers = [balance(CONTRACT, ASSET, U256::from(1_000_000))].into_iter().collect();
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        assert!(det.on_block(&synthetic_block(1, 0, &[reverted, others], probes)).unwrap().is_empty());
    }

    #[test]
    fn each_asset_is_judged_alone() {
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET, OTHER_ASSET]));
        let probes: Answers =
            [balance(CONTRACT, ASSET, U256::from(940_000)), balance(CONTRACT, OTHER_ASSET, U256::from(1_000_000))]
                .into_iter()
                .collect();
        // 6 % of the first out, and the second's inflow does not hide it.
        let logs = vec![out(60_000), transfer(OTHER_ASSET, USER, CONTRACT, 500_000)];
        let f = det.on_block(&synthetic_block(1, 0, &[(true, logs)], probes)).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["asset"], serde_json::json!(ASSET));
        assert_eq!(f[0].labels["asset"], ASSET.to_string());
    }

    #[test]
    fn flows_older_than_the_window_are_forgotten() {
        // 3 % out at block 1 and 3 % at block 10 (window 10: blocks 1..=10) trips; at block 11 it does not.
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        det.on_block(&block(1, 0, vec![out(30_000)], 970_000)).unwrap();
        let f = det.on_block(&block(10, 0, vec![out(30_000)], 940_000)).unwrap();
        assert_eq!(f[0].evidence["outflow_bps"], 600);
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        det.on_block(&block(1, 0, vec![out(30_000)], 970_000)).unwrap();
        assert!(det.on_block(&block(11, 0, vec![out(30_000)], 940_000)).unwrap().is_empty());
    }

    #[test]
    fn revert_to_forgets_the_orphaned_blocks_flows() {
        let a = block(1, 0, vec![out(30_000)], 970_000);
        let b = block(2, 0, vec![out(30_000)], 940_000);
        let b2 = block(2, 1, vec![out(25_000)], 945_000);
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        assert!(det.on_block(&a).unwrap().is_empty());
        assert_eq!(det.on_block(&b).unwrap()[0].evidence["outflow_bps"], 600);
        det.revert_to(a.block_ref());
        let mut fresh = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        fresh.on_block(&a).unwrap();
        assert_eq!(det.window, fresh.window, "only block 1 is left");
        let after_reorg = det.on_block(&b2).unwrap();
        let expected = fresh.on_block(&b2).unwrap();
        // 5.5 % (block 2's 3 % left in would make it 8.5 %).
        assert_eq!(after_reorg[0].evidence["outflow_bps"], 550);
        assert_eq!(after_reorg, expected);
    }

    #[test]
    fn a_block_read_again_counts_once() {
        // The engine retries a block after an error (another detector's, or this one's missing probe).
        let mut det = OutflowRateDetector::new(cfg(CONTRACT, vec![ASSET]));
        let a = block(1, 0, vec![out(30_000)], 970_000);
        let mut unread = a.clone();
        unread.probes.clear();
        assert!(det.on_block(&unread).is_err());
        assert!(det.on_block(&a).unwrap().is_empty(), "3 %, not 6 %");
        assert!(det.on_block(&a).unwrap().is_empty(), "3 %, not 6 %");
        assert_eq!(det.on_block(&block(2, 0, vec![out(25_000)], 945_000)).unwrap()[0].evidence["outflow_bps"], 550);
    }

    fn demo(v: &Venue) -> OutflowRateDetector {
        // demo.toml's "legacy-market-outflow".
        let mut c = cfg(v.legacy_market, vec![v.usd]);
        c.window_blocks = 50;
        OutflowRateDetector::new(c)
    }

    fn fired(seen: &Seen) -> Vec<u64> {
        seen.iter().filter(|(_, _, f)| !f.is_empty()).map(|(n, _, _)| *n).collect()
    }

    #[test]
    fn the_legacy_borrow_drain_trips_during_the_drain_and_not_before() {
        let (run, seen) = run_scenario("legacy-borrow-drain", None, demo, |_| {});
        let malicious: Vec<u64> = seen.iter().filter(|(_, m, _)| !m.is_empty()).map(|(n, _, _)| *n).collect();
        // Block 100 deploys the drainer, 101 posts its collateral, 102..=141 borrow about $4,476 each.
        assert_eq!(malicious, (100..=141).collect::<Vec<_>>());
        // The 26th borrow takes the window's outflow past 5 % of the $2M deposited; the trip lasts until the
        // drained blocks leave the 50-block window.
        assert_eq!(fired(&seen), (127..=169).collect::<Vec<_>>());
        let (_, _, first) = seen.iter().find(|(n, _, _)| *n == 127).unwrap();
        let [f] = first.as_slice() else { panic!("{first:?}") };
        assert_eq!(
            (f.severity, f.kind, f.scope),
            (Severity::Critical, FindingKind::Exploit, Scope::whole(run.venue.legacy_market))
        );
        assert_eq!(f.evidence["asset"], serde_json::json!(run.venue.usd));
        assert_eq!(f.evidence["liquidity_at_window_start"], "2000000000000");
        assert_eq!((f.evidence["outflow_bps"].as_u64(), f.evidence["window_blocks"].as_u64()), (Some(512), Some(50)));
    }

    #[test]
    fn the_benign_crash_is_silent_on_the_legacy_market() {
        let (_, seen) = run_scenario("benign-crash", None, demo, |_| {});
        assert_eq!(fired(&seen), Vec::<u64>::new());
    }

    #[test]
    fn silent_on_mainnet_block_18000000_watching_the_usdc_weth_pair_and_it_reads_the_block() {
        const PAIR: Address = USDC_WETH_PAIR;
        // The pair's balances after the block are its reserves; its one swap took USDC in and paid WETH out.
        let plain = mainnet_block(Default::default());
        let swap = plain
            .logs()
            .filter(|l| l.address() == PAIR)
            .find_map(|l| vigil_contracts::VenuePair::Swap::decode_log(&l.inner).ok())
            .unwrap();
        assert!(swap.amount0In > U256::ZERO && swap.amount1Out > U256::ZERO, "{swap:?}");
        let (usdc, weth) = usdc_weth_reserves(&plain);
        let (usdc, weth) = (U256::from(usdc), U256::from(weth));
        let answers =
            |weth: U256| -> Answers { [balance(PAIR, USDC, usdc), balance(PAIR, WETH, weth)].into_iter().collect() };
        // The strictest setting allowed (99.99 % retained).
        let mut c = cfg(PAIR, vec![USDC, WETH]);
        (c.min_retained_bps, c.window_blocks) = (9_999, 50);
        let f = OutflowRateDetector::new(c.clone()).on_block(&mainnet_block(answers(weth))).unwrap();
        assert!(f.is_empty(), "{f:#?}");
        // It read the block's transfers: were the pair left with only what it paid out, that payment would be
        // half its liquidity.
        let f = OutflowRateDetector::new(c.clone()).on_block(&mainnet_block(answers(swap.amount1Out))).unwrap();
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["asset"], serde_json::json!(WETH));
        assert_eq!(f[0].evidence["net_outflow"], swap.amount1Out.to_string());
        assert_eq!(f[0].evidence["outflow_bps"], 5_000);
        // Without either balance, or with a reverted read, the block is an error naming it.
        for asset in [USDC, WETH] {
            let (probe, _) = balance(PAIR, asset, U256::ZERO);
            for answer in [None, Some(Err(Bytes::new()))] {
                let mut partial = answers(weth);
                partial.remove(&probe);
                partial.extend(answer.clone().map(|a| (probe.clone(), a)));
                let e = OutflowRateDetector::new(c.clone()).on_block(&mainnet_block(partial)).unwrap_err();
                assert_eq!((e.detector.as_str(), e.block.number), ("outflow", 18_000_000));
                let expected = match answer {
                    None => format!("no balance of {asset} for {PAIR} at this block (the source did not read it)"),
                    Some(_) => format!("balance of {asset} for {PAIR}: the read reverted with 0x"),
                };
                assert_eq!((e.cause.to_string(), e.retryable()), (expected, answer.is_none()));
            }
        }
    }
}
