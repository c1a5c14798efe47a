//! Declarative rules: a detector written in the configuration, not in Rust. A rule picks what it looks at (an
//! event, a function call, every transaction, or a state read), filters it by contract and signature, and fires
//! when a [Rhai](https://rhai.rs) expression over the decoded values holds, on each match or when a windowed sum
//! or count per group crosses a threshold.
//!
//! One `[[detector]]` table of `type = "rule"` is one rule ([`RuleConfig`]); `type` is removed before the table
//! is read, every other key is one of [`RuleConfig`]'s fields:
//!
//! ```toml
//! # A large USDC transfer between two different accounts, on each such log.
//! [[detector]]
//! type = "rule"
//! name = "usdc-whale-transfer"
//! protocol = "usdc"
//! event = "Transfer(address indexed from, address indexed to, uint256 value)"
//! address = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
//! condition = "value > 50e6 * 1e6 && to != from"
//! severity = "medium"
//! kind = "suspicious"
//! title = "USDC transfer of {value / 1e6} from {from} to {to}"
//!
//! # Many borrows from the proving ground's legacy market by one caller, top-level or from a contract (through
//! # callTracer traces), in 50 blocks.
//! [[detector]]
//! type = "rule"
//! name = "legacy-borrow-burst"
//! protocol = "venue"
//! function = "borrow(uint256 amount)"
//! address = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82"
//! calls = "all"
//! condition = "amount > 0"
//! actor = "msg.from"
//! stage = "exploitation"
//! severity = "high"
//! scope = { target = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", id = 0 }
//! title = "{group} borrowed from the legacy market {total} times in {window_blocks} blocks"
//! [detector.aggregate]
//! window_blocks = 50
//! group_by = "msg.from"
//! count = true
//! above = 4
//!
//! # The same function taken from a JSON ABI file (an ABI array, or a build artifact with an `abi` key).
//! [[detector]]
//! type = "rule"
//! name = "legacy-donation"
//! protocol = "venue"
//! abi = "contracts/out/LegacyMarket.json"
//! function_name = "donateToReserves"
//! condition = "amount > 1000e6"
//!
//! # A failed transaction that burnt a lot of gas, from a fresh account.
//! [[detector]]
//! type = "rule"
//! name = "fresh-account-failed-big-tx"
//! protocol = "mainnet"
//! condition = "!tx.status && tx.gas_used > 1_000_000 && tx.nonce == 0"
//! stage = "preparation"
//! severity = "low"
//!
//! # A state read at every block: the vault's assets fall below 1M.
//! [[detector]]
//! type = "rule"
//! name = "vault-assets-low"
//! protocol = "vault"
//! probe = { to = "0x5FbDB2315678afecb367f032d93F642f64180aa3", function = "totalAssets() returns (uint256 assets)" }
//! condition = "assets < 1e24"
//! kind = "degraded"
//!
//! # Net outflow of WETH from a pair: windowed sum of signed amounts, one group per pair.
//! [[detector]]
//! type = "rule"
//! name = "pair-weth-outflow"
//! protocol = "uniswap-v2"
//! event = "Transfer(address indexed from, address indexed to, uint256 value)"
//! address = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
//! condition = "from == \"0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc\" || to == \"0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc\""
//! scope = { target = "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc" }
//! [detector.aggregate]
//! window_blocks = 25
//! sum = "if from == \"0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc\" { value } else { -value }"
//! above = 5000e18
//! ```
//!
//! # What a rule looks at
//!
//! Exactly one of these, or none:
//!
//! - `event` (a human-readable signature, `"Transfer(address indexed from, address indexed to, uint256 value)"`),
//!   or `abi` + `event_name`: the logs of successful transactions whose topic0 (or, for anonymous events, topic
//!   count) matches and whose emitter is in `address` (any contract when `address` is absent);
//! - `function` (`"borrow(uint256 marketId, uint256 amount)"`), or `abi` + `function_name`: calls whose
//!   selector matches and whose callee is in `address`: top-level calldata of the block's transactions and, when
//!   the bundle has callTracer traces, internal calls (`calls = "top" | "internal" | "all"`, default `"all"`).
//!   Calls in failed transactions and reverted frames are skipped unless `include_failed = true`;
//! - `probe = { to = "0x…", function = "totalAssets() returns (uint256)", args = [...] }` (the probe
//!   declaration every state-reading detector shares: [`crate::probe`]): one state read per block, declared
//!   through [`Detector::probes`]; a probe that reverts or whose answer does not decode skips the
//!   rule at that block (a paused or upgraded contract must not stop detection);
//! - none of them: every transaction of the block, failed ones included (`address` then filters on `tx.to`).
//!
//! Signatures, ABI files, probe arguments and every expression are parsed and compiled once, in
//! [`RuleDetector::new`]; errors name the rule and the field. In human-readable signatures, tuple components are
//! written without names (`swap(address executor, (address,address,uint256) desc)`); a probe's function must
//! declare its returns. [`RuleDetector::matches`] counts the matches that passed the condition (for metrics).
//!
//! # What expressions see
//!
//! `condition`, `aggregate.group_by`, `aggregate.sum`, `actor` and the `{…}` placeholders of `title` are Rhai
//! expressions: arithmetic, comparisons, logic, `if … else …`, string, math and array functions; no statements,
//! no `eval`, no `print`, no closures (`|x| …`: Rhai's operation limit does not reach inside closures run by
//! `map`/`reduce`, so a nest of them could stall the node), at most [`MAX_OPERATIONS`] operations each, bounded
//! string and array sizes. In scope:
//!
//! - each decoded parameter (event params, call inputs, probe outputs) by its name; unnamed ones, and every
//!   event or call parameter, also as `arg0`, `arg1`, …; all named ones in a map, `ev` (events) or `args`
//!   (calls); probe outputs as the array `ret`. Types: `address` → lowercase `0x` string; `uintN`/`intN` → float
//!   (f64: exact to 2^53, about 15 significant digits beyond), with the exact decimal string as `<name>_str`;
//!   `bool` → bool; `bytes`/`bytesN` → `0x` hex string; `string` → string; arrays and tuples → arrays. Indexed
//!   dynamic event parameters are their topic (a `0x` hash). A parameter named like one of the names below is
//!   only reachable as `argN` or in `ev`/`args`;
//! - `tx`: `hash`, `index`, `from`, `to` (`""` for a creation), `value` (wei, float), `value_str`, `gas`,
//!   `gas_used`, `status` (bool), `nonce`, `created` (the created contract or `""`), `selector` (`0x` + 8 hex
//!   digits, or `""`), `input_len`. Integers are Rhai integers (i64). For an internal call whose transaction is
//!   not in the bundle, `tx` is read from the trace's top frame (nonce −1);
//! - `block`: `number`, `timestamp`, `hash`, `miner`, `gas_used`, `gas_limit`, `base_fee`;
//! - event rules: `log`: `address`, `index` (log index in the block), `topic0`;
//! - function rules: `msg` (the call; `call` is a Rhai keyword): `from` (also `sender`), `to`, `value`,
//!   `value_str`, `depth` (0 = the transaction's own call), `kind` (`"CALL"`, `"DELEGATECALL"`, `"STATICCALL"`,
//!   …), `reverted`, `gas_used`;
//! - titles of aggregated findings also: `group`, `total`, `matches`, `above`, `window_blocks`.
//!
//! Addresses are compared as lowercase strings: write literals in lowercase or use `"0xAbC…".to_lower()`.
//! A runtime error (a missing variable, an integer division by zero, a condition that is not a boolean, too many
//! operations) is a [`DetectorError`] naming the rule, the field and the match, never a panic.
//!
//! # Aggregation
//!
//! With `[aggregate]`, a match whose condition holds adds `sum` (or 1 with `count = true`) to its group
//! (`group_by`'s value as a string; one group when absent). The windowed total of a group at block `n` is the sum
//! over blocks `n − window_blocks + 1 ..= n`. A group *fires* on the match that takes its windowed total above
//! `above`, once; it is *re-armed* at the end of a block after which its windowed total is at or below `above`
//! (old blocks leaving the window, negative sums), and fires again on its next crossing. The finding names the
//! crossing match's transaction. Contributions and the armed state are kept per block (the window plus the
//! source's reorg depth), so [`Detector::revert_to`] forgets exactly the orphaned blocks.
//!
//! # Findings
//!
//! One finding per matching item (or per crossing): `severity` (default high), `kind` (default suspicious),
//! `title` (a template, `{expr}` placeholders filled from the scope; `{{` for a brace; a default names the
//! rule and what matched), `scope` (default: the matched contract — emitter, callee, `tx.to` or the created
//! contract, probe target — and id 0). The blamed actor is `tx.from` unless `actor` (an expression giving an
//! address) says otherwise, and is labelled with `stage` when given (see [`vigil_core::Stage`]). The evidence is
//! the rule, what matched (contract, transaction, log index or call), and every decoded value (numbers as exact
//! decimal strings).
//!
//! # Cost model
//!
//! Per block, each event rule compares the topic count, topic0 (its first 8 bytes as one integer first) and
//! emitter of every log of the block, each function rule the selector and callee of every transaction (and of
//! every trace frame when it reads internal calls), before anything is decoded: a rule that matches nothing costs
//! about 1 µs per block on a 300-log block. Only matches are decoded (one-word parameters straight from the
//! topics and data words, others with alloy's decoder). Then the top-level `&&` terms of the condition that
//! compare a field or parameter with a literal or another field (`value > 1e24`, `to != from`, `!tx.status`,
//! `tx.to == ""`) are decided natively, in a few ns; Rhai runs (about 0.3–1 µs, with only the variables the
//! rule's expressions mention put in scope) only when a term is not that simple. A `group_by` or `sum` that is
//! a lone field or parameter (`tx.from`, `value`) is read natively too. A finding costs a few µs (title,
//! evidence JSON, labels). Transaction rules read every transaction of the block (narrow them with `address`
//! when possible). Because a native term that is false drops the match before Rhai runs, an error in another
//! term of such a match is not reported.
//!
//! `cargo bench -p vigil-detect --bench rules` runs 50 rules over mainnet block 18,000,000 (about 280 matches and
//! 26 findings per block): about 0.35–0.4 ms per block on one core.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::LazyLock,
};

use alloy::{
    dyn_abi::{DynSolCall, DynSolEvent, DynSolType, DynSolValue, DynToken, Specifier},
    json_abi::{Event, Function, JsonAbi},
    primitives::{hex, Address, B256, U256},
    rpc::types::trace::geth::CallFrame,
};
use rhai::{Array, Dynamic, Engine, Map, OptimizationLevel, Scope, AST};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use vigil_core::{
    finding::{Stage, LABEL_ACTOR, LABEL_STAGE},
    BlockHeader, BlockRef, Bundle, Detector, DetectorCause, DetectorError, Finding, FindingKind, Probe,
    Scope as GuardianScope, Severity,
};

pub use crate::probe::ProbeArg;
use crate::registry::{BuildContext, BuildError, DetectorKind, Reads, TraceUse};
use crate::trace::{call_traces, TraceError, TxTrace};

mod aggregate;
mod build;
mod config;
mod engine;
mod eval;
mod native;
mod scan;
#[cfg(test)]
mod tests;

use aggregate::*;
use build::*;
#[allow(unused_imports)] // the private items of the configuration (its defaults) are the submodules' too
use config::*;
pub use config::{AggregateConfig, CallSites, ProbeConfig, RuleConfig, RuleError, ScopeConfig, MAX_OPERATIONS};
use engine::*;
use eval::*;
use native::*;
use scan::*;

/// A rule, compiled.
pub struct RuleDetector {
    matcher: Matcher,
    /// `address`.
    filter: Vec<Address>,
    eval: Eval,
}

// The engine holds detectors as `Box<dyn Detector>` across threads.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<RuleDetector>();
};

impl std::fmt::Debug for RuleDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleDetector").field("name", &self.eval.cfg.name).field("matcher", &self.matcher).finish()
    }
}

impl RuleDetector {
    /// Parses the rule's signatures and ABI, compiles its expressions; nothing is parsed again per block.
    pub fn new(cfg: RuleConfig) -> Result<Self, RuleError> {
        let b = Builder { cfg: &cfg };
        let (matcher, mut params, what) = b.matcher()?;
        let kind = matcher.kind();
        let mut resolver = Resolver { kind, params: HashMap::new() };
        let mut seen = HashSet::new();
        for (i, p) in params.iter().enumerate() {
            for (name, exact) in &p.bindings {
                if !*exact && !seen.insert(name.clone()) {
                    resolver.params.remove(name);
                } else if let (false, Some(ty)) = (*exact, p.ty) {
                    resolver.params.insert(name.clone(), (i, ty));
                }
            }
        }
        let condition = match cfg.condition.as_deref() {
            None => None,
            Some(src) => {
                let ast = b.compile("condition", src)?;
                let (checks, native_only) = resolver.checks(src);
                Some(Condition { ast, checks, native_only })
            }
        };
        let actor = cfg.actor.as_deref().map(|s| b.compile("actor", s)).transpose()?;
        let (title, title_sources) = match &cfg.title {
            Some(t) => {
                let (parts, sources) = b.title(t)?;
                (Some(parts), sources)
            }
            None => (None, Vec::new()),
        };
        let expr = |field: &str, src: &str, ty: Ty| -> Result<Expr, RuleError> {
            let native = resolver.operand(src).filter(|(_, t)| *t == ty).map(|(o, _)| o);
            Ok(Expr { ast: b.compile(field, src)?, native })
        };
        let agg = match &cfg.aggregate {
            None => None,
            Some(a) => {
                if a.window_blocks == 0 {
                    return Err(b.invalid("aggregate.window_blocks", "must be at least 1"));
                }
                if !a.above.is_finite() {
                    return Err(b.invalid("aggregate.above", "must be a finite number"));
                }
                if a.count == a.sum.is_some() {
                    return Err(b.invalid("aggregate", "give exactly one of `sum` and `count = true`"));
                }
                Some(Aggregator {
                    window_blocks: a.window_blocks,
                    above: a.above,
                    group_by: a.group_by.as_deref().map(|s| expr("aggregate.group_by", s, Ty::Addr)).transpose()?,
                    sum: a.sum.as_deref().map(|s| expr("aggregate.sum", s, Ty::Num)).transpose()?,
                    groups: HashMap::new(),
                    history: VecDeque::new(),
                    reorg_depth: crate::registry::DEFAULT_REORG_DEPTH,
                    current: None,
                })
            }
        };

        // Only what the expressions mention is put in scope.
        let sources = [
            cfg.condition.as_deref(),
            cfg.actor.as_deref(),
            cfg.aggregate.as_ref().and_then(|a| a.group_by.as_deref()),
            cfg.aggregate.as_ref().and_then(|a| a.sum.as_deref()),
        ];
        let idents: HashSet<&str> = sources
            .into_iter()
            .flatten()
            .chain(title_sources.iter().map(String::as_str))
            .flat_map(identifiers)
            .collect();
        let needs = Needs {
            tx: idents.contains("tx"),
            block: idents.contains("block"),
            log: idents.contains("log"),
            call: idents.contains("msg"),
            named: idents.contains(if kind == "event" { "ev" } else { "args" }),
            ret: idents.contains("ret"),
        };
        for p in &mut params {
            p.bindings.retain(|(n, _)| idents.contains(n.as_str()));
        }
        let eval = Eval {
            cfg: cfg.clone(),
            what,
            kind,
            params,
            needs,
            condition,
            actor,
            title,
            agg,
            scope: Scope::new(),
            matches: 0,
        };
        Ok(Self { matcher, filter: cfg.address.clone(), eval })
    }

    #[cfg(test)]
    fn matcher_words(&self) -> Option<&[DynSolType]> {
        match &self.matcher {
            Matcher::Event { words, .. } | Matcher::Call { words, .. } => words.as_deref(),
            _ => None,
        }
    }

    /// The same rule, its aggregation state kept `reorg_depth` blocks beyond its window (the source's).
    pub fn with_reorg_depth(mut self, reorg_depth: u64) -> Self {
        if let Some(agg) = &mut self.eval.agg {
            agg.reorg_depth = reorg_depth;
        }
        self
    }

    /// Whether the rule reads call traces (see [`RuleConfig::needs_traces`]).
    pub fn needs_traces(&self) -> bool {
        self.config().needs_traces()
    }

    /// The rule's configuration.
    pub fn config(&self) -> &RuleConfig {
        &self.eval.cfg
    }

    /// How many matches (logs, calls, transactions, probe answers) passed the filters and the condition since
    /// the rule was built, whether or not they made a finding (aggregated rules): for metrics and benchmarks.
    pub fn matches(&self) -> u64 {
        self.eval.matches
    }
}

impl Detector for RuleDetector {
    fn name(&self) -> &str {
        &self.eval.cfg.name
    }

    fn probes(&self) -> Vec<Probe> {
        match &self.matcher {
            Matcher::Probe { probe, .. } => vec![probe.clone()],
            _ => Vec::new(),
        }
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let Self { matcher, filter, eval } = self;
        let block_ref = bundle.block_ref();
        if let Some(agg) = &mut eval.agg {
            agg.begin(block_ref);
        }
        let mut out = Vec::new();
        let result = scan(matcher, filter, eval, bundle, &bundle.header, block_ref, &mut out);
        if let Some(agg) = &mut eval.agg {
            if result.is_ok() {
                agg.end();
            } else {
                // The engine retries the block: leave no trace of the partial read.
                agg.current = None;
            }
        }
        result.map(|()| out)
    }

    fn revert_to(&mut self, ancestor: BlockRef) {
        if let Some(agg) = &mut self.eval.agg {
            agg.revert_to(ancestor.number);
        }
    }
}

impl DetectorKind for RuleConfig {
    fn reads(&self) -> Reads {
        let traces = if self.needs_traces() { TraceUse::Required } else { TraceUse::Unused };
        Reads { receipts: true, traces }
    }

    /// A relative `abi` path is read from the configuration file's folder.
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
        let mut cfg = self.clone();
        if let Some(abi) = cfg.abi.as_mut().filter(|a| a.is_relative()) {
            *abi = ctx.config_dir.join(&*abi);
        }
        Ok(Box::new(RuleDetector::new(cfg)?.with_reorg_depth(ctx.reorg_depth)))
    }
}
