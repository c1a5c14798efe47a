//! Reentrancy: a watched contract called again, with a state-changing call, while an outer call of it is still
//! running, and the way back into it led through another party's code.
//!
//! The detector reads the block's geth `callTracer` traces (one per transaction) and walks every call tree once,
//! depth first, keeping the path from the transaction's top call to the current frame. A frame's *context* is
//! the address whose storage its code uses: the callee of a `CALL` or `STATICCALL`, the caller of a
//! `DELEGATECALL` or `CALLCODE` (so a proxy and the implementation it delegates to are one contract, the proxy).
//! A `CALL` into a watched contract `A` whose path already holds an open frame of `A` is a re-entry; it is
//! reported when all of these hold:
//!
//! - it can change state: neither the frame nor any frame above it is a `STATICCALL`, and neither it nor any frame
//!   above it reverted (a reverted frame changes nothing; a failed transaction is skipped whole);
//! - another contract's code ran in between: at least one frame between the outer frame of `A` and the inner one
//!   has a context other than `A` (a contract calling itself, directly or through `DELEGATECALL`s to its
//!   implementation or libraries, is not a re-entry);
//! - it is not a callback `A` asked for: the contract that calls back into `A` is not the very contract `A`
//!   called (with a function call, at least a selector of input) on the way down. `A` calling a pool that calls
//!   `A` back (Uniswap v3 swap callbacks, Uniswap v4 `unlockCallback`, ERC-3156 / Aave / Balancer flash-loan
//!   callbacks, v4 hooks calling the pool manager) is the designed pattern and is excluded. A re-entry through a
//!   third party (A → token → receiver hook → A: ERC-777 / ERC-721 / ERC-1155 style hooks) or through a plain
//!   ether transfer (A → recipient's fallback → A, the DAO pattern) is not excluded by this rule;
//! - the inner frame moved value: one of the frames it started (not counting the ether it received itself) sent
//!   ether, or called `transfer` / `transferFrom` of a token, or the inner frame or a frame below it emitted an
//!   ERC-20/721 `Transfer` or ERC-1155 `TransferSingle` / `TransferBatch` log (logs are in the traces when the
//!   node traces `withLog`). A hook that re-enters a view through `CALL`, or a contract receiving ether back into
//!   its `receive` function (WETH unwraps, refunds), is excluded.
//!
//! Not seen: a re-entry that only writes storage, emitting no transfer and moving nothing (the trace does not
//! show storage writes); cross-contract reentrancy into a *different* contract that reads the half-updated state
//! (read-only reentrancy) — watch the contract whose state is read by a price detector instead; a re-entry through
//! a hook that `A` calls itself (A → receiver's `onERC721Received` → A, `_safeMint` style), which has the shape of
//! a callback `A` asked for.
//!
//! Cost: one depth-first pass per transaction over its frames, with one path vector reused for the whole block; a
//! frame costs a lookup of its context among the watched contracts, and only a watched one scans the path for an
//! open frame of the same contract. Nothing is allocated per frame except for a reported re-entry's evidence.
//!
//! One finding per (transaction, re-entered contract): `critical` / `exploit` on the contract's configured scope
//! (scope 0 of the re-entered contract when every contract is watched), actor = the transaction's sender (the
//! attacker's account), stage exploitation. Evidence: the transaction, the first reported re-entry's call path from
//! the outer frame to the inner one (`path`: each hop's caller, callee, call type and selector) and the inner
//! frame's depth in the call tree (`depth`, the top call being 0), how many activations of the contract were open
//! at the deepest re-entry (`nesting`), and how many re-entering frames were reported (`reentries`).
//!
//! Traces are required: a bundle without them (the node's source must have traces turned on), a failed trace or
//! a trace of another tracer is a [`DetectorError`], never a silent pass.
//!
//! ```toml
//! [[detector]]
//! type = "reentrancy"
//! name = "reentrancy"
//! protocol = "venue"
//! # Watched contracts; leave out (or empty) to watch every contract.
//! contracts = [
//!   { address = "0x9A676e781A523b5d0C0e43731313A708CB607508" },             # scope defaults to 0
//!   { address = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", scope = 0 },
//!   { address = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0" },
//!   { address = "0x9A9f2CCfdE556A7E9Ff0848998Aa4a0CFD8863AE" },
//! ]
//! severity = "critical"   # default
//! ```

use std::collections::HashMap;

use alloy::{
    primitives::{b256, Address, B256},
    rpc::types::trace::geth::CallFrame,
};
use serde::Deserialize;
use vigil_core::{finding::Stage, BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Scope, Severity};

use crate::registry::{BuildContext, BuildError, DetectorKind};
use crate::trace::{call_traces, selector_hex, LiveFrames, TxTrace};

/// Configuration of a reentrancy detector.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReentrancyConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// Contracts watched (their proxy address: the one holding the state). Default empty: every contract is
    /// watched, and a finding is about scope 0 of the contract re-entered.
    #[serde(default)]
    pub contracts: Vec<WatchedContract>,
    /// Severity of a re-entry. Default critical.
    #[serde(default = "default_critical")]
    pub severity: Severity,
}

/// A watched contract.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WatchedContract {
    /// The contract (a proxy's own address, not its implementation's).
    pub address: Address,
    /// The Guardian scope id of the contract that a re-entry concerns. Default 0 (the whole contract).
    #[serde(default)]
    pub scope: u64,
}

vigil_core::defaults! {
    default_critical: Severity = Severity::Critical;
}

/// What the detector saw in the last block, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReentrancyStats {
    /// Transactions traced.
    pub transactions: usize,
    /// Call frames walked.
    pub frames: usize,
    /// Frames of a watched contract re-entered while an outer frame of it was open (state-changing context).
    pub reentries: usize,
    /// Of those, a contract calling itself (directly or through its own delegatecalls).
    pub self_calls: usize,
    /// Of those, callbacks from the contract the watched one called.
    pub callbacks: usize,
    /// Of those, re-entries that moved no value.
    pub no_value_moved: usize,
    /// Re-entries reported (before merging per transaction and contract).
    pub reported: usize,
}

/// `Transfer(address,address,uint256)` (ERC-20 and ERC-721).
const TRANSFER: B256 = b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
/// `TransferSingle(address,address,address,uint256,uint256)` (ERC-1155).
const TRANSFER_SINGLE: B256 = b256!("c3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62");
/// `TransferBatch(address,address,address,uint256[],uint256[])` (ERC-1155).
const TRANSFER_BATCH: B256 = b256!("4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb");
/// `transfer(address,uint256)`.
const SEL_TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
/// `transferFrom(address,address,uint256)`.
const SEL_TRANSFER_FROM: [u8; 4] = [0x23, 0xb8, 0x72, 0xdd];

/// One frame on the path from the top call.
struct Open<'a> {
    frame: &'a CallFrame,
    ctx: Address,
}

/// A reported re-entry.
struct Hit {
    contract: Address,
    nesting: usize,
    depth: usize,
    count: usize,
    path: Vec<serde_json::Value>,
}

/// The storage context a frame runs in.
fn context(f: &CallFrame) -> Address {
    match f.typ.as_str() {
        "DELEGATECALL" | "CALLCODE" => f.from,
        _ => f.to.unwrap_or_default(),
    }
}

fn hop(f: &CallFrame) -> serde_json::Value {
    serde_json::json!({"from": f.from, "to": f.to, "type": f.typ, "selector": selector_hex(&f.input)})
}

/// Whether `inner`'s execution moved value (see the module documentation).
fn moves_value(inner: &CallFrame) -> bool {
    LiveFrames::new(inner).enumerate().any(|(k, f)| {
        let logs_transfer = f.logs.iter().any(|l| {
            l.topics
                .as_ref()
                .and_then(|t| t.first())
                .is_some_and(|t| *t == TRANSFER || *t == TRANSFER_SINGLE || *t == TRANSFER_BATCH)
        });
        // The inner frame's own call does not count: the ether it received came in, not out.
        let started = k > 0;
        let carries_value = matches!(f.typ.as_str(), "CALL" | "CREATE" | "CREATE2" | "SELFDESTRUCT");
        let sends_ether = carries_value && f.value.is_some_and(|v| !v.is_zero());
        let calls_transfer = f.typ == "CALL"
            && f.input.len() >= 4
            && (f.input[..4] == SEL_TRANSFER || f.input[..4] == SEL_TRANSFER_FROM);
        logs_transfer || (started && (sends_ether || calls_transfer))
    })
}

/// The detector (stateless: every re-entry is a finding of its block).
pub struct ReentrancyDetector {
    cfg: ReentrancyConfig,
    scopes: HashMap<Address, u64>,
    stats: ReentrancyStats,
}

impl ReentrancyDetector {
    /// A detector from its configuration.
    pub fn new(cfg: ReentrancyConfig) -> Self {
        let scopes = cfg.contracts.iter().map(|c| (c.address, c.scope)).collect();
        Self { cfg, scopes, stats: ReentrancyStats::default() }
    }

    /// What the detector saw in the last block it read.
    pub fn stats(&self) -> ReentrancyStats {
        self.stats
    }

    fn watched(&self, a: &Address) -> bool {
        self.scopes.is_empty() || self.scopes.contains_key(a)
    }

    /// Walks `frame` (whose parent is `path.last()`); `live` is false under a static or reverted frame.
    fn walk<'a>(&mut self, frame: &'a CallFrame, path: &mut Vec<Open<'a>>, live: bool, hits: &mut Vec<Hit>) {
        self.stats.frames += 1;
        let ctx = context(frame);
        let live = live && frame.error.is_none() && frame.typ != "STATICCALL";
        if live && frame.typ == "CALL" && self.watched(&ctx) {
            if let Some(outer) = path.iter().rposition(|o| o.ctx == ctx) {
                self.check(frame, ctx, outer, path, hits);
            }
        }
        path.push(Open { frame, ctx });
        for child in &frame.calls {
            self.walk(child, path, live, hits);
        }
        path.pop();
    }

    /// Classifies the re-entry of `ctx` by `inner` while `path[outer]` is open.
    fn check(&mut self, inner: &CallFrame, ctx: Address, outer: usize, path: &[Open<'_>], hits: &mut Vec<Hit>) {
        self.stats.reentries += 1;
        let Some(first_other) = path[outer + 1..].iter().find(|o| o.ctx != ctx) else {
            self.stats.self_calls += 1;
            return;
        };
        if inner.from == first_other.ctx && first_other.frame.input.len() >= 4 {
            self.stats.callbacks += 1;
            return;
        }
        if !moves_value(inner) {
            self.stats.no_value_moved += 1;
            return;
        }
        self.stats.reported += 1;
        // Open activations of the contract: frames in its context entered from another context.
        let mut nesting = 1;
        let mut prev: Option<Address> = None;
        for o in path.iter() {
            if o.ctx == ctx && prev != Some(ctx) {
                nesting += 1;
            }
            prev = Some(o.ctx);
        }
        if let Some(h) = hits.iter_mut().find(|h| h.contract == ctx) {
            h.nesting = h.nesting.max(nesting);
            h.count += 1;
            return;
        }
        let mut hops: Vec<serde_json::Value> = path[outer..].iter().map(|o| hop(o.frame)).collect();
        hops.push(hop(inner));
        hits.push(Hit { contract: ctx, nesting, depth: path.len(), count: 1, path: hops });
    }
}

impl Detector for ReentrancyDetector {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block: BlockRef = bundle.block_ref();
        self.stats = ReentrancyStats::default();
        let name = self.cfg.name.clone();
        let err = |e: crate::trace::TraceError| e.at(&name, block);
        let traces = call_traces(bundle).map_err(err)?;
        let mut findings = Vec::new();
        let mut path = Vec::with_capacity(64);
        let mut hits = Vec::new();
        for trace in traces {
            let TxTrace { hash: tx_hash, top, .. } = trace.map_err(err)?;
            self.stats.transactions += 1;
            hits.clear();
            path.clear();
            self.walk(top, &mut path, true, &mut hits);
            for hit in hits.drain(..) {
                let scope_id = self.scopes.get(&hit.contract).copied().unwrap_or(0);
                let scope = Scope::segment(hit.contract, scope_id);
                findings.push(
                    crate::finding(
                        (&self.cfg.name, &self.cfg.protocol),
                        block,
                        tx_hash,
                        (scope, self.cfg.severity, FindingKind::Exploit),
                        format!(
                            "{} re-entered through another contract while its outer call was running ({} frames open)",
                            hit.contract, hit.nesting
                        ),
                        serde_json::json!({
                            "tx": tx_hash,
                            "contract": hit.contract,
                            "sender": top.from,
                            "path": hit.path,
                            "depth": hit.depth,
                            "nesting": hit.nesting,
                            "reentries": hit.count,
                        }),
                        &[("contract", hit.contract.to_string())],
                    )
                    .with_actor(top.from, Stage::Exploitation),
                );
            }
        }
        Ok(findings)
    }

    fn revert_to(&mut self, _ancestor: BlockRef) {}
}

impl DetectorKind for ReentrancyConfig {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
        Ok(Box::new(ReentrancyDetector::new(self.clone())))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Bytes, U256};
    use alloy::rpc::types::trace::geth::{CallLogFrame, GethTrace, TraceResult};
    use vigil_sim::Venue;

    use super::*;
    use crate::testdata::{add_stats, run_scenario, Seen};

    fn run(name: &str, make: impl FnOnce(&Venue) -> ReentrancyConfig) -> (Venue, Address, Seen, ReentrancyStats) {
        let mut total = ReentrancyStats::default();
        let (run, seen) = run_scenario(
            name,
            None,
            |v| ReentrancyDetector::new(make(v)),
            |det| add_stats!(total, det.stats(); transactions, frames, reentries, self_calls, callbacks, no_value_moved, reported),
        );
        (run.venue, run.actors.attacker.address(), seen, total)
    }

    fn venue_contracts(v: &Venue) -> Vec<WatchedContract> {
        v.protected_scopes().into_iter().map(|(address, scope)| WatchedContract { address, scope }).collect()
    }

    /// The conformance suite's mainnet case: block 24,298,763's 20 most-called contracts watched.
    pub(super) fn mainnet_case() -> (String, Bundle) {
        let b = crate::testdata::mainnet_traced_block();
        let top = crate::testdata::busiest(crate::testdata::call_frames(&b).map(context), 20);
        let list = top.iter().map(|a| format!("{{ address = \"{a}\" }}")).collect::<Vec<_>>().join(", ");
        (format!("name = \"busiest\"\nprotocol = \"mainnet\"\ncontracts = [{list}]\n"), b)
    }

    crate::conformance::case!(ReentrancyConfig, "reentrancy.rs", "reentrancy", 110, mainnet_case);

    fn cfg(contracts: Vec<WatchedContract>) -> ReentrancyConfig {
        ReentrancyConfig {
            name: "reentrancy".into(),
            protocol: "venue".into(),
            contracts,
            severity: Severity::Critical,
        }
    }

    #[test]
    fn fires_in_the_attack_block_on_the_legacy_vault_and_nowhere_else() {
        let (venue, attacker, seen, stats) = run("reentrancy", |v| {
            cfg(vec![
                WatchedContract { address: v.legacy_vault, scope: 0 },
                WatchedContract { address: v.legacy_market, scope: 0 },
                WatchedContract { address: v.pool, scope: 0 },
                WatchedContract { address: v.pair, scope: 0 },
            ])
        });
        println!("reentrancy run: {stats:?}");
        let attack_tx = seen
            .iter()
            .flat_map(|(n, m, _)| m.iter().map(move |h| (*n, *h)))
            .last()
            .expect("the scenario has malicious transactions");
        let fired: Vec<_> = seen.iter().filter(|(_, _, f)| !f.is_empty()).collect();
        assert_eq!(fired.len(), 1, "fires in exactly one block");
        let (block, _, findings) = fired[0];
        assert_eq!(*block, attack_tx.0, "fires in the attack transaction's block");
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(f.scope, Scope::whole(venue.legacy_vault));
        assert_eq!((f.severity, f.kind), (Severity::Critical, FindingKind::Exploit));
        assert_eq!(f.tx, Some(attack_tx.1));
        assert_eq!(f.actor(), Some(attacker));
        assert_eq!(f.stage(), Some(Stage::Exploitation));
        assert!(f.evidence["nesting"].as_u64().unwrap() >= 3, "{}", f.evidence);
        let path = f.evidence["path"].as_array().unwrap();
        assert_eq!(path.first().unwrap()["to"], serde_json::json!(venue.legacy_vault));
        assert_eq!(path.last().unwrap()["to"], serde_json::json!(venue.legacy_vault));
        assert!(path.iter().any(|h| h["to"] == serde_json::json!(venue.hbtc)), "the path goes through the token");
        println!("{}", serde_json::to_string_pretty(&f.evidence).unwrap());
    }

    #[test]
    fn watching_every_contract_still_names_the_vault_only_in_the_attack_block() {
        let (venue, _, seen, stats) = run("reentrancy", |_| cfg(vec![]));
        println!("reentrancy run, every contract watched: {stats:?}");
        let fired: Vec<_> = seen.iter().filter(|(_, _, f)| !f.is_empty()).collect();
        assert_eq!(fired.len(), 1, "fires in exactly one block");
        assert!(!fired[0].1.is_empty(), "the block has the attack");
        let targets: Vec<_> = fired[0].2.iter().map(|f| f.target()).collect();
        println!("re-entered contracts: {targets:?}");
        assert!(targets.contains(&venue.legacy_vault));
    }

    #[test]
    fn silent_on_benign_crash() {
        for every in [false, true] {
            let (_, _, seen, stats) = run("benign-crash", |v| cfg(if every { vec![] } else { venue_contracts(v) }));
            println!("benign-crash (every contract: {every}): {stats:?}");
            assert!(stats.frames > 1_000, "the traces were walked");
            let fired: Vec<_> = seen.iter().flat_map(|(_, _, f)| f).collect();
            assert!(fired.is_empty(), "{fired:#?}");
        }
    }

    #[test]
    fn without_traces_it_is_an_error() {
        let mut b = crate::testdata::mainnet_traced_block();
        b.traces = None;
        let mut det = ReentrancyDetector::new(cfg(vec![]));
        let e = det.on_block(&b).unwrap_err();
        assert!(e.cause.to_string().contains("traces are required"), "{e}");
        let b = crate::testdata::mainnet_block(Default::default());
        assert!(det.on_block(&b).is_err());
    }

    #[test]
    fn silent_on_a_mainnet_block() {
        let b = crate::testdata::mainnet_traced_block();
        // The most-called contracts of the block: WETH, USDC (proxy), USDT, Uniswap v4's pool manager, Uniswap v2's
        // router, DAI, and whatever else is busy; then every contract.
        let top = crate::testdata::busiest(crate::testdata::call_frames(&b).map(context), 20);
        let watched: Vec<_> = top.into_iter().map(|address| WatchedContract { address, scope: 0 }).collect();
        assert!(watched
            .iter()
            .any(|w| w.address == alloy::primitives::address!("000000000004444c5dc75cb358380d2e3de08a90")));
        for contracts in [watched, vec![]] {
            let mut det = ReentrancyDetector::new(cfg(contracts));
            let findings = det.on_block(&b).unwrap();
            let s = det.stats();
            println!("mainnet block 24,298,763: {s:?}");
            assert_eq!((s.transactions, s.frames), (361, 1758));
            assert!(s.callbacks > 0, "the v3/v4 callbacks were seen and excluded");
            assert!(findings.is_empty(), "{findings:#?}");
        }
    }

    // Hand-built trees for each rule.

    fn a(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    fn frame(typ: &str, from: Address, to: Address, input: &[u8], value: u64, calls: Vec<CallFrame>) -> CallFrame {
        CallFrame {
            typ: typ.into(),
            from,
            to: Some(to),
            input: Bytes::copy_from_slice(input),
            value: Some(U256::from(value)),
            calls,
            ..Default::default()
        }
    }

    fn bundle_of(top: CallFrame) -> Bundle {
        let mut b = crate::testdata::mainnet_traced_block();
        b.traces = Some(vec![TraceResult::Success { result: GethTrace::CallTracer(top), tx_hash: Some(B256::ZERO) }]);
        b
    }

    fn findings(top: CallFrame) -> Vec<Finding> {
        let mut det = ReentrancyDetector::new(cfg(vec![WatchedContract { address: a(0xaa), scope: 7 }]));
        det.on_block(&bundle_of(top)).unwrap()
    }

    const WITHDRAW: &[u8] = &[0x85, 0x38, 0x28, 0xb6];
    const HOOK: &[u8] = &[0x11, 0x22, 0x33, 0x44];

    /// A (0xaa) → token (0x70).transfer → receiver hook (0xbb) → A.withdraw → token.transfer.
    fn hook_reentry(inner_typ: &str, inner_moves: bool) -> CallFrame {
        let eoa = a(0xee);
        let inner_calls = if inner_moves {
            vec![frame("CALL", a(0xaa), a(0x70), &SEL_TRANSFER, 0, vec![])]
        } else {
            vec![frame("STATICCALL", a(0xaa), a(0x70), &[0x70, 0xa0, 0x82, 0x31], 0, vec![])]
        };
        let inner = frame(inner_typ, a(0xbb), a(0xaa), WITHDRAW, 0, inner_calls);
        let hook = frame("CALL", a(0x70), a(0xbb), HOOK, 0, vec![inner]);
        let transfer = frame("CALL", a(0xaa), a(0x70), &SEL_TRANSFER, 0, vec![hook]);
        let outer = frame("CALL", a(0xbb), a(0xaa), WITHDRAW, 0, vec![transfer]);
        frame("CALL", eoa, a(0xbb), HOOK, 0, vec![outer])
    }

    #[test]
    fn a_hook_reentry_that_moves_tokens_fires() {
        let f = findings(hook_reentry("CALL", true));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].scope, Scope::segment(a(0xaa), 7));
        assert_eq!(f[0].actor(), Some(a(0xee)));
        assert_eq!(f[0].evidence["path"].as_array().unwrap().len(), 4);
        assert_eq!(f[0].evidence["path"][3]["selector"], "0x853828b6");
    }

    #[test]
    fn view_static_and_reverted_reentries_are_excluded() {
        assert!(findings(hook_reentry("CALL", false)).is_empty(), "a re-entry that moves nothing");
        assert!(findings(hook_reentry("STATICCALL", true)).is_empty(), "a static re-entry");
        let mut t = hook_reentry("CALL", true);
        t.calls[0].calls[0].error = Some("execution reverted".into());
        assert!(findings(t).is_empty(), "a reverted subtree");
        let mut t = hook_reentry("CALL", true);
        t.calls[0].calls[0].calls[0].typ = "STATICCALL".into();
        assert!(findings(t).is_empty(), "a re-entry under a static call");
    }

    #[test]
    fn self_calls_and_delegatecall_proxies_are_excluded() {
        // A → A (a contract calling itself), A → DELEGATECALL impl → (context A) CALL A.
        let inner = frame(
            "CALL",
            a(0xaa),
            a(0xaa),
            WITHDRAW,
            0,
            vec![frame("CALL", a(0xaa), a(0x70), &SEL_TRANSFER, 0, vec![])],
        );
        let deleg = frame("DELEGATECALL", a(0xaa), a(0x1f), WITHDRAW, 0, vec![inner.clone()]);
        let outer = frame("CALL", a(0xee), a(0xaa), WITHDRAW, 0, vec![deleg, inner]);
        let mut det = ReentrancyDetector::new(cfg(vec![WatchedContract { address: a(0xaa), scope: 0 }]));
        assert!(det.on_block(&bundle_of(outer)).unwrap().is_empty());
        assert_eq!((det.stats().reentries, det.stats().self_calls), (2, 2));
    }

    #[test]
    fn callbacks_are_excluded_but_a_reentry_by_ether_transfer_fires() {
        // A → pool.swap → A.callback → token.transfer: a callback A asked for.
        let cb =
            frame("CALL", a(0x90), a(0xaa), HOOK, 0, vec![frame("CALL", a(0xaa), a(0x70), &SEL_TRANSFER, 0, vec![])]);
        let swap = frame("CALL", a(0xaa), a(0x90), WITHDRAW, 0, vec![cb]);
        let outer = frame("CALL", a(0xee), a(0xaa), WITHDRAW, 0, vec![swap]);
        assert!(findings(outer).is_empty());
        // A sends ether to the caller, whose fallback re-enters A.withdraw, which sends ether again (The DAO).
        let again = frame("CALL", a(0xaa), a(0xbb), &[], 5, vec![]);
        let inner = frame("CALL", a(0xbb), a(0xaa), WITHDRAW, 0, vec![again]);
        let send = frame("CALL", a(0xaa), a(0xbb), &[], 5, vec![inner]);
        let outer = frame("CALL", a(0xbb), a(0xaa), WITHDRAW, 0, vec![send]);
        let top = frame("CALL", a(0xee), a(0xbb), HOOK, 0, vec![outer]);
        assert_eq!(findings(top).len(), 1);
        // Ether coming back into A's receive function moves nothing out of A.
        let refund = frame("CALL", a(0xbb), a(0xaa), &[], 5, vec![]);
        let hook = frame("CALL", a(0x70), a(0xbb), HOOK, 0, vec![refund]);
        let transfer = frame("CALL", a(0xaa), a(0x70), &SEL_TRANSFER, 0, vec![hook]);
        let outer = frame("CALL", a(0xee), a(0xaa), WITHDRAW, 0, vec![transfer]);
        assert!(findings(outer).is_empty());
    }

    #[test]
    fn a_transfer_log_counts_as_moving_value() {
        let mut t = hook_reentry("CALL", false);
        t.calls[0].calls[0].calls[0].calls[0].logs.push(CallLogFrame {
            address: Some(a(0xaa)),
            topics: Some(vec![TRANSFER]),
            ..Default::default()
        });
        assert_eq!(findings(t).len(), 1);
    }

    #[test]
    fn selectors_and_topics_are_right() {
        use alloy::primitives::keccak256;
        assert_eq!(keccak256("transfer(address,uint256)")[..4], SEL_TRANSFER);
        assert_eq!(keccak256("transferFrom(address,address,uint256)")[..4], SEL_TRANSFER_FROM);
        assert_eq!(keccak256("Transfer(address,address,uint256)"), TRANSFER);
        assert_eq!(keccak256("TransferSingle(address,address,address,uint256,uint256)"), TRANSFER_SINGLE);
        assert_eq!(keccak256("TransferBatch(address,address,address,uint256[],uint256[])"), TRANSFER_BATCH);
        assert_eq!(&keccak256("withdrawAll()")[..4], WITHDRAW);
    }

    /// The module documentation's TOML example, parsed as the node parses a `[[detector]]` table.
    #[test]
    fn the_documented_example_parses() {
        let t = crate::testdata::doc_detector(include_str!("reentrancy.rs"), "reentrancy");
        let c: ReentrancyConfig = t.try_into().unwrap();
        assert_eq!(c.contracts.len(), 4);
        assert_eq!(c.severity, Severity::Critical);
        let t: toml::Table = toml::from_str("name = \"r\"\nprotocol = \"p\"").unwrap();
        let c: ReentrancyConfig = toml::Value::Table(t).try_into().unwrap();
        assert!(c.contracts.is_empty());
        let t: toml::Table = toml::from_str("name = \"r\"\nprotocol = \"p\"\ncontract = []").unwrap();
        assert!(toml::Value::Table(t).try_into::<ReentrancyConfig>().is_err(), "unknown keys are refused");
    }
}
