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
//! - `probe = { to = "0x…", function = "totalAssets() returns (uint256)", args = [...] }`: one state read per
//!   block, declared through [`Detector::probes`]; a probe that reverts or whose answer does not decode skips the
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
    primitives::{hex, Address, Bytes, B256, U256},
    rpc::types::trace::geth::CallFrame,
};
use rhai::{Array, Dynamic, Engine, Map, OptimizationLevel, Scope, AST};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use vigil_core::{
    finding::{Stage, LABEL_ACTOR, LABEL_STAGE},
    BlockRef, Bundle, Detector, DetectorCause, DetectorError, Finding, FindingKind, Probe, Scope as GuardianScope,
    Severity,
};

use crate::registry::{BuildContext, BuildError, DetectorKind, Reads, TraceUse};
use crate::trace::{call_traces, TraceError, TxTrace};

/// Operations one expression evaluation may take before it is stopped (an error at that block).
pub const MAX_OPERATIONS: u64 = 10_000;

/// Configuration of one rule.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name of this rule (the detector's name).
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// An event's human-readable signature, e.g. `"Transfer(address indexed from, address indexed to, uint256
    /// value)"`: the rule reads matching logs. Default none.
    #[serde(default)]
    pub event: Option<String>,
    /// A function's human-readable signature, e.g. `"borrow(uint256 marketId, uint256 amount)"`: the rule reads
    /// matching calls. Default none.
    #[serde(default)]
    pub function: Option<String>,
    /// A JSON ABI file (an ABI array, or an artifact object with an `abi` key) to take `event_name` or
    /// `function_name` from; a relative path is read from the configuration file's folder (from the working
    /// directory when the rule is built directly). Default none.
    #[serde(default)]
    pub abi: Option<PathBuf>,
    /// The event to take from `abi`: its name, or its signature (`"Transfer(address,address,uint256)"`) when it
    /// is overloaded. Default none.
    #[serde(default)]
    pub event_name: Option<String>,
    /// The function to take from `abi`: its name, or its signature when it is overloaded. Default none.
    #[serde(default)]
    pub function_name: Option<String>,
    /// A state read at every block: the rule evaluates its answer. Default none.
    #[serde(default)]
    pub probe: Option<ProbeConfig>,
    /// The emitter (event rules), callee (function rules) or `tx.to` (transaction rules) to match: one address or
    /// a list. Default: any.
    #[serde(default, deserialize_with = "one_or_many")]
    pub address: Vec<Address>,
    /// Function rules: which calls, `"top"` (transactions' calldata), `"internal"` (calls in callTracer traces)
    /// or `"all"`. Default `"all"`.
    #[serde(default)]
    pub calls: Option<CallSites>,
    /// Function rules: also match calls in failed transactions and reverted frames. Default false.
    #[serde(default)]
    pub include_failed: bool,
    /// Rhai expression that must be true for a match to count. Default: every match counts.
    #[serde(default)]
    pub condition: Option<String>,
    /// Windowed aggregation per group; without it, every match whose condition holds is a finding. Default none.
    #[serde(default)]
    pub aggregate: Option<AggregateConfig>,
    /// Severity of the findings. Default high.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// Kind of the findings. Default suspicious.
    #[serde(default = "default_kind")]
    pub kind: FindingKind,
    /// Title template; `{expr}` is replaced by the value of a Rhai expression over the match's scope, `{{` is a
    /// brace. Default: the rule's name and what matched.
    #[serde(default)]
    pub title: Option<String>,
    /// The Guardian scope the findings concern. Default: the matched contract, id 0.
    #[serde(default)]
    pub scope: Option<ScopeConfig>,
    /// Attack stage of the findings (`funding`, `preparation`, `exploitation`, `laundering`). Default none.
    #[serde(default)]
    pub stage: Option<Stage>,
    /// Rhai expression giving the blamed address (e.g. `"msg.from"`). Default: `tx.from`.
    #[serde(default)]
    pub actor: Option<String>,
}

/// A state read declared by a rule.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The contract called.
    pub to: Address,
    /// The function with its returns, e.g. `"totalAssets() returns (uint256)"`.
    pub function: String,
    /// Arguments, one per input (strings, integers or booleans, coerced to the input's type). Default none.
    #[serde(default)]
    pub args: Vec<ProbeArg>,
}

/// One probe argument.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ProbeArg {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Anything else, as text (`"0x…"`, `"1000000000000000000000"`).
    Text(String),
}

/// Which calls a function rule reads.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum CallSites {
    /// Transactions' own calldata.
    Top,
    /// Calls made by contracts (from callTracer traces).
    Internal,
    /// Both.
    #[default]
    All,
}

/// Windowed aggregation of a rule's matches.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// Window length in blocks (≥ 1).
    pub window_blocks: u64,
    /// Rhai expression whose value (as a string) names a match's group. Default: one group.
    #[serde(default)]
    pub group_by: Option<String>,
    /// Rhai expression giving a match's number to add. Exactly one of `sum` and `count`.
    #[serde(default)]
    pub sum: Option<String>,
    /// Count matches instead of summing. Default false.
    #[serde(default)]
    pub count: bool,
    /// A group fires when its windowed total exceeds this.
    pub above: f64,
}

/// The Guardian scope of a rule's findings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// The protected contract. Default: the matched contract.
    #[serde(default)]
    pub target: Option<Address>,
    /// Scope id (0 = the whole contract). Default 0.
    #[serde(default)]
    pub id: u64,
}

fn default_severity() -> Severity {
    Severity::High
}
fn default_kind() -> FindingKind {
    FindingKind::Suspicious
}

impl RuleConfig {
    /// Whether the rule reads call traces: a function rule (`function` or `function_name`) whose `calls` is
    /// `"internal"` or `"all"` (the default). Known from the configuration alone, without building the rule.
    pub fn needs_traces(&self) -> bool {
        (self.function.is_some() || self.function_name.is_some()) && self.calls != Some(CallSites::Top)
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Address>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Address),
        Many(Vec<Address>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(v) => v,
    })
}

/// A rule that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// An expression does not compile.
    #[error("rule \"{rule}\": `{field}` does not compile: {message} ({at})")]
    Syntax {
        /// The rule.
        rule: String,
        /// The field (`condition`, `aggregate.sum`, `title` …).
        field: String,
        /// Rhai's message.
        message: String,
        /// Where, as Rhai says it (`line 1, position 9`).
        at: String,
    },
    /// A signature does not parse or cannot be decoded with.
    #[error("rule \"{rule}\": `{field}` is not a usable signature: \"{signature}\": {reason}")]
    Signature {
        /// The rule.
        rule: String,
        /// The field (`event`, `function`, `probe.function`).
        field: String,
        /// The signature given.
        signature: String,
        /// Why.
        reason: String,
    },
    /// The ABI file cannot be read or is not an ABI.
    #[error("rule \"{rule}\": cannot read the ABI file {path}: {reason}")]
    AbiFile {
        /// The rule.
        rule: String,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The ABI file has no such item.
    #[error("rule \"{rule}\": the ABI file {path} has no {what} `{item}` ({known})")]
    AbiItem {
        /// The rule.
        rule: String,
        /// The file.
        path: String,
        /// `event` or `function`.
        what: &'static str,
        /// The name asked for.
        item: String,
        /// What the file has.
        known: String,
    },
    /// A field's value is not usable.
    #[error("rule \"{rule}\": `{field}`: {reason}")]
    Invalid {
        /// The rule.
        rule: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------------------------------
// The Rhai engine and the views of a match

/// A transaction, as expressions see it (`tx.from`, `tx.gas_used` …).
#[derive(Debug, Clone)]
struct TxView {
    hash: B256,
    index: i64,
    from: Address,
    to: Option<Address>,
    value: U256,
    gas: u64,
    gas_used: u64,
    status: bool,
    nonce: i64,
    created: Option<Address>,
    selector: Option<[u8; 4]>,
    input_len: usize,
}

impl TxView {
    fn of(bundle: &Bundle, i: usize) -> Option<Self> {
        let t = bundle.transactions.get(i)?;
        let r = bundle.receipts.get(i).filter(|r| r.transaction_hash == t.hash);
        Some(Self {
            hash: t.hash,
            index: i as i64,
            from: t.from,
            to: t.to,
            value: t.value,
            gas: t.gas,
            gas_used: r.map_or(0, |r| r.gas_used),
            status: r.is_none_or(|r| r.status),
            nonce: t.nonce as i64,
            created: r.and_then(|r| r.contract_address),
            selector: t.input.get(..4).and_then(|s| s.try_into().ok()),
            input_len: t.input.len(),
        })
    }

    /// From a trace's top frame, for a transaction the bundle does not list.
    fn of_frame(frame: &CallFrame, hash: Option<B256>, index: usize) -> Self {
        Self {
            hash: hash.unwrap_or_default(),
            index: index as i64,
            from: frame.from,
            to: if frame.typ.starts_with("CREATE") { None } else { frame.to },
            value: frame.value.unwrap_or_default(),
            gas: frame.gas.saturating_to(),
            gas_used: frame.gas_used.saturating_to(),
            status: frame.error.is_none(),
            nonce: -1,
            created: if frame.typ.starts_with("CREATE") { frame.to } else { None },
            selector: frame.input.get(..4).and_then(|s| s.try_into().ok()),
            input_len: frame.input.len(),
        }
    }
}

/// The block (`block.number` …).
#[derive(Debug, Clone)]
struct BlockView {
    number: u64,
    timestamp: u64,
    hash: B256,
    miner: Address,
    gas_used: u64,
    gas_limit: u64,
    base_fee: u64,
}

impl BlockView {
    /// The block, as errors and findings name it.
    fn block_ref(&self) -> BlockRef {
        BlockRef { number: self.number, hash: self.hash }
    }
}

/// The matched log (`log.address` …).
#[derive(Debug, Clone)]
struct LogView {
    address: Address,
    index: u64,
    topic0: Option<B256>,
}

/// The matched call (`msg.from` …).
#[derive(Debug, Clone)]
struct CallView {
    from: Address,
    to: Address,
    value: U256,
    depth: i64,
    kind: String,
    reverted: bool,
    gas_used: u64,
}

fn addr_str(a: &Address) -> String {
    hex::encode_prefixed(a)
}

fn opt_addr_str(a: &Option<Address>) -> String {
    a.as_ref().map(addr_str).unwrap_or_default()
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The shared, limited engine: expressions only, no `eval`/`print`/`debug`, bounded operations and sizes.
static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let mut e = Engine::new();
    e.set_optimization_level(OptimizationLevel::Simple);
    e.set_max_operations(MAX_OPERATIONS);
    e.set_max_expr_depths(64, 32);
    e.set_max_call_levels(16);
    e.set_max_string_size(16 * 1024);
    e.set_max_array_size(4 * 1024);
    e.set_max_map_size(1024);
    for symbol in ["eval", "print", "debug"] {
        e.disable_symbol(symbol);
    }
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    e.register_type_with_name::<TxView>("Tx")
        .register_get("hash", |t: &mut TxView| hex::encode_prefixed(t.hash))
        .register_get("index", |t: &mut TxView| t.index)
        .register_get("from", |t: &mut TxView| addr_str(&t.from))
        .register_get("to", |t: &mut TxView| opt_addr_str(&t.to))
        .register_get("value", |t: &mut TxView| f64::from(t.value))
        .register_get("value_str", |t: &mut TxView| t.value.to_string())
        .register_get("gas", |t: &mut TxView| int(t.gas))
        .register_get("gas_used", |t: &mut TxView| int(t.gas_used))
        .register_get("status", |t: &mut TxView| t.status)
        .register_get("nonce", |t: &mut TxView| t.nonce)
        .register_get("created", |t: &mut TxView| opt_addr_str(&t.created))
        .register_get("selector", |t: &mut TxView| t.selector.map(hex::encode_prefixed).unwrap_or_default())
        .register_get("input_len", |t: &mut TxView| t.input_len as i64);
    e.register_type_with_name::<BlockView>("Block")
        .register_get("number", |b: &mut BlockView| int(b.number))
        .register_get("timestamp", |b: &mut BlockView| int(b.timestamp))
        .register_get("hash", |b: &mut BlockView| hex::encode_prefixed(b.hash))
        .register_get("miner", |b: &mut BlockView| addr_str(&b.miner))
        .register_get("gas_used", |b: &mut BlockView| int(b.gas_used))
        .register_get("gas_limit", |b: &mut BlockView| int(b.gas_limit))
        .register_get("base_fee", |b: &mut BlockView| int(b.base_fee));
    e.register_type_with_name::<LogView>("Log")
        .register_get("address", |l: &mut LogView| addr_str(&l.address))
        .register_get("index", |l: &mut LogView| int(l.index))
        .register_get("topic0", |l: &mut LogView| l.topic0.map(hex::encode_prefixed).unwrap_or_default());
    e.register_type_with_name::<CallView>("Call")
        .register_get("from", |c: &mut CallView| addr_str(&c.from))
        .register_get("sender", |c: &mut CallView| addr_str(&c.from))
        .register_get("to", |c: &mut CallView| addr_str(&c.to))
        .register_get("value", |c: &mut CallView| f64::from(c.value))
        .register_get("value_str", |c: &mut CallView| c.value.to_string())
        .register_get("depth", |c: &mut CallView| c.depth)
        .register_get("kind", |c: &mut CallView| c.kind.clone())
        .register_get("reverted", |c: &mut CallView| c.reverted)
        .register_get("gas_used", |c: &mut CallView| int(c.gas_used));
    e
});

/// A decoded ABI value as expressions see it.
fn to_dynamic(v: &DynSolValue) -> Dynamic {
    match v {
        DynSolValue::Address(a) => addr_str(a).into(),
        DynSolValue::Uint(u, _) => f64::from(*u).into(),
        DynSolValue::Int(i, _) => {
            let (sign, abs) = i.into_sign_and_abs();
            let f = f64::from(abs);
            (if sign.is_negative() { -f } else { f }).into()
        }
        DynSolValue::Bool(b) => (*b).into(),
        DynSolValue::FixedBytes(w, size) => hex::encode_prefixed(&w[..(*size).min(32)]).into(),
        DynSolValue::Bytes(b) => hex::encode_prefixed(b).into(),
        DynSolValue::Function(f) => hex::encode_prefixed(f).into(),
        DynSolValue::String(s) => s.clone().into(),
        other => match other.as_fixed_seq().or_else(|| other.as_array()) {
            Some(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
            None => Dynamic::UNIT,
        },
    }
}

/// The exact decimal string of an integer value.
fn decimal(v: &DynSolValue) -> Option<String> {
    match v {
        DynSolValue::Uint(u, _) => Some(u.to_string()),
        DynSolValue::Int(i, _) => Some(i.to_string()),
        _ => None,
    }
}

/// A decoded ABI value as evidence (numbers as exact decimal strings).
fn to_json(v: &DynSolValue) -> serde_json::Value {
    match v {
        DynSolValue::Address(a) => addr_str(a).into(),
        DynSolValue::Uint(..) | DynSolValue::Int(..) => decimal(v).unwrap_or_default().into(),
        DynSolValue::Bool(b) => (*b).into(),
        DynSolValue::FixedBytes(w, size) => hex::encode_prefixed(&w[..(*size).min(32)]).into(),
        DynSolValue::Bytes(b) => hex::encode_prefixed(b).into(),
        DynSolValue::Function(f) => hex::encode_prefixed(f).into(),
        DynSolValue::String(s) => s.clone().into(),
        other => match other.as_fixed_seq().or_else(|| other.as_array()) {
            Some(items) => items.iter().map(to_json).collect::<Vec<_>>().into(),
            None => serde_json::Value::Null,
        },
    }
}

/// Identifiers an expression mentions (a superset: words in string literals count too).
fn identifiers(src: &str) -> impl Iterator<Item = &str> {
    src.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_'))
}

// ---------------------------------------------------------------------------------------------------------------
// Native checks: the simple terms of a condition, evaluated without Rhai

/// The type of a natively compared operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Num,
    Addr,
    Bool,
}

fn native_ty(t: &DynSolType) -> Option<Ty> {
    match t {
        DynSolType::Address => Some(Ty::Addr),
        DynSolType::Uint(_) | DynSolType::Int(_) => Some(Ty::Num),
        DynSolType::Bool => Some(Ty::Bool),
        _ => None,
    }
}

/// A view field read natively.
#[derive(Debug, Clone, Copy)]
enum Field {
    TxFrom,
    TxTo,
    TxCreated,
    TxValue,
    TxGas,
    TxGasUsed,
    TxStatus,
    TxNonce,
    TxIndex,
    TxInputLen,
    BlockNumber,
    BlockTimestamp,
    LogAddress,
    LogIndex,
    MsgFrom,
    MsgTo,
    MsgValue,
    MsgDepth,
    MsgReverted,
}

/// One side of a native comparison.
#[derive(Debug, Clone)]
enum Operand {
    Field(Field),
    Param(usize),
    Num(f64),
    /// An address literal; `None` is `""` (the `to` of a creation, no created contract).
    Addr(Option<Address>),
    /// A string literal that no address's lowercase form equals.
    OtherStr,
    Bool(bool),
}

/// A value read natively.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    Num(f64),
    Addr(Option<Address>),
    NotAddr,
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// `left cmp right`, decided without Rhai, with Rhai's result.
#[derive(Debug, Clone)]
struct Check {
    left: Operand,
    cmp: Cmp,
    right: Operand,
}

/// Resolves names in a rule's expressions to native operands.
struct Resolver {
    kind: &'static str,
    /// Parameter variables (names and `argN`) with their index and type; names bound twice are left out.
    params: HashMap<String, (usize, Ty)>,
}

impl Resolver {
    fn path(&self, path: &str) -> Option<(Operand, Ty)> {
        use Field::*;
        let (field, ty) = match (path, self.kind) {
            (_, "probe") if path.starts_with("tx.") => return None,
            ("tx.from", _) => (TxFrom, Ty::Addr),
            ("tx.to", _) => (TxTo, Ty::Addr),
            ("tx.created", _) => (TxCreated, Ty::Addr),
            ("tx.value", _) => (TxValue, Ty::Num),
            ("tx.gas", _) => (TxGas, Ty::Num),
            ("tx.gas_used", _) => (TxGasUsed, Ty::Num),
            ("tx.status", _) => (TxStatus, Ty::Bool),
            ("tx.nonce", _) => (TxNonce, Ty::Num),
            ("tx.index", _) => (TxIndex, Ty::Num),
            ("tx.input_len", _) => (TxInputLen, Ty::Num),
            ("block.number", _) => (BlockNumber, Ty::Num),
            ("block.timestamp", _) => (BlockTimestamp, Ty::Num),
            ("log.address", "event") => (LogAddress, Ty::Addr),
            ("log.index", "event") => (LogIndex, Ty::Num),
            ("msg.from" | "msg.sender", "call") => (MsgFrom, Ty::Addr),
            ("msg.to", "call") => (MsgTo, Ty::Addr),
            ("msg.value", "call") => (MsgValue, Ty::Num),
            ("msg.depth", "call") => (MsgDepth, Ty::Num),
            ("msg.reverted", "call") => (MsgReverted, Ty::Bool),
            _ => {
                let (i, ty) = self.params.get(path)?;
                return Some((Operand::Param(*i), *ty));
            }
        };
        Some((Operand::Field(field), ty))
    }

    /// A lone variable or field (`tx.from`, `value`), as `group_by` and `sum` often are.
    fn operand(&self, src: &str) -> Option<(Operand, Ty)> {
        match lex(src)?.as_slice() {
            [Tok::Path(p)] => self.path(p),
            _ => None,
        }
    }

    fn side(&self, t: &Tok) -> Option<(Operand, Ty)> {
        Some(match t {
            Tok::Path(p) => self.path(p)?,
            Tok::Num(n) => (Operand::Num(*n), Ty::Num),
            Tok::Bool(b) => (Operand::Bool(*b), Ty::Bool),
            Tok::Str("") => (Operand::Addr(None), Ty::Addr),
            Tok::Str(s) => {
                let lower_address = s.len() == 42
                    && s.starts_with("0x")
                    && s[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                match s.parse::<Address>() {
                    Ok(a) if lower_address => (Operand::Addr(Some(a)), Ty::Addr),
                    _ => (Operand::OtherStr, Ty::Addr),
                }
            }
            Tok::Not | Tok::Cmp(_) => return None,
        })
    }

    /// The native checks of a condition's top-level `&&` terms, and whether they are the whole condition.
    fn checks(&self, src: &str) -> (Vec<Check>, bool) {
        let Some(terms) = conjuncts(src) else { return (Vec::new(), false) };
        let mut checks = Vec::new();
        for term in &terms {
            if let Some(c) = lex(term).and_then(|toks| self.check(&toks)) {
                checks.push(c);
            }
        }
        let all = checks.len() == terms.len();
        (checks, all)
    }

    fn check(&self, toks: &[Tok]) -> Option<Check> {
        let (left, cmp, right, negated) = match toks {
            [Tok::Not, Tok::Path(_)] => (&toks[1], Cmp::Eq, &Tok::Bool(false), true),
            [Tok::Path(_)] => (&toks[0], Cmp::Eq, &Tok::Bool(true), true),
            [l, Tok::Cmp(c), r] => (l, *c, r, false),
            _ => return None,
        };
        if !matches!(left, Tok::Path(_)) && !matches!(right, Tok::Path(_)) {
            return None;
        }
        let (l, lt) = self.side(left)?;
        let (r, rt) = self.side(right)?;
        if negated && lt != Ty::Bool {
            return None;
        }
        let ok = match (lt, rt) {
            (Ty::Num, Ty::Num) => true,
            (Ty::Addr, Ty::Addr) | (Ty::Bool, Ty::Bool) => matches!(cmp, Cmp::Eq | Cmp::Ne),
            _ => false,
        };
        ok.then_some(Check { left: l, cmp, right: r })
    }
}

impl Operand {
    fn value(&self, hit: &Hit, block: &BlockView) -> Option<Val> {
        use Field::*;
        let num = |v: u64| Val::Num(int(v) as f64);
        Some(match self {
            Operand::Num(n) => Val::Num(*n),
            Operand::Addr(a) => Val::Addr(*a),
            Operand::OtherStr => Val::NotAddr,
            Operand::Bool(b) => Val::Bool(*b),
            Operand::Param(i) => match hit.values.get(*i)? {
                DynSolValue::Address(a) => Val::Addr(Some(*a)),
                DynSolValue::Bool(b) => Val::Bool(*b),
                v @ (DynSolValue::Uint(..) | DynSolValue::Int(..)) => Val::Num(to_dynamic(v).as_float().ok()?),
                _ => return None,
            },
            Operand::Field(f) => match f {
                BlockNumber => num(block.number),
                BlockTimestamp => num(block.timestamp),
                LogAddress => Val::Addr(Some(hit.log.as_ref()?.address)),
                LogIndex => num(hit.log.as_ref()?.index),
                MsgFrom => Val::Addr(Some(hit.call.as_ref()?.from)),
                MsgTo => Val::Addr(Some(hit.call.as_ref()?.to)),
                MsgValue => Val::Num(f64::from(hit.call.as_ref()?.value)),
                MsgDepth => Val::Num(hit.call.as_ref()?.depth as f64),
                MsgReverted => Val::Bool(hit.call.as_ref()?.reverted),
                tx_field => {
                    let t = hit.tx.as_ref()?;
                    match tx_field {
                        TxFrom => Val::Addr(Some(t.from)),
                        TxTo => Val::Addr(t.to),
                        TxCreated => Val::Addr(t.created),
                        TxValue => Val::Num(f64::from(t.value)),
                        TxGas => num(t.gas),
                        TxGasUsed => num(t.gas_used),
                        TxStatus => Val::Bool(t.status),
                        TxNonce => Val::Num(t.nonce as f64),
                        TxIndex => Val::Num(t.index as f64),
                        _ => Val::Num(t.input_len as f64),
                    }
                }
            },
        })
    }
}

impl Check {
    /// `None` when a side cannot be read here (Rhai decides then).
    fn eval(&self, hit: &Hit, block: &BlockView) -> Option<bool> {
        let (l, r) = (self.left.value(hit, block)?, self.right.value(hit, block)?);
        let ord = match (l, r) {
            (Val::Num(a), Val::Num(b)) => a.partial_cmp(&b),
            (Val::Addr(a), Val::Addr(b)) => return Some((a == b) == (self.cmp == Cmp::Eq)),
            (Val::Addr(_) | Val::NotAddr, Val::Addr(_) | Val::NotAddr) => return Some(self.cmp == Cmp::Ne),
            (Val::Bool(a), Val::Bool(b)) => return Some((a == b) == (self.cmp == Cmp::Eq)),
            _ => return None,
        };
        use std::cmp::Ordering::*;
        Some(match (self.cmp, ord) {
            (Cmp::Ne, None) => true,
            (_, None) => false,
            (Cmp::Eq, Some(o)) => o == Equal,
            (Cmp::Ne, Some(o)) => o != Equal,
            (Cmp::Lt, Some(o)) => o == Less,
            (Cmp::Le, Some(o)) => o != Greater,
            (Cmp::Gt, Some(o)) => o == Greater,
            (Cmp::Ge, Some(o)) => o != Less,
        })
    }
}

/// A token of a simple term.
#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Path(&'a str),
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Not,
    Cmp(Cmp),
}

/// Tokens of a simple term; `None` at anything else (calls, indexing, arithmetic, escapes …).
fn lex(src: &str) -> Option<Vec<Tok<'_>>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
    let ident_rest = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if ident(i) {
            let start = i;
            while b.get(i).is_some_and(ident_rest) {
                i += 1;
            }
            if b.get(i) == Some(&b'.') && ident(i + 1) {
                i += 1;
                while b.get(i).is_some_and(ident_rest) {
                    i += 1;
                }
            }
            out.push(match &src[start..i] {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                p => Tok::Path(p),
            });
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            i += 1;
            while let Some(&d) = b.get(i) {
                let exponent_sign = (d == b'-' || d == b'+') && matches!(b[i - 1], b'e' | b'E');
                if d.is_ascii_digit() || matches!(d, b'_' | b'.' | b'e' | b'E') || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(Tok::Num(src[start..i].replace('_', "").parse().ok()?));
        } else if c == b'"' {
            let end = src[i + 1..].find('"')? + i + 1;
            let text = &src[i + 1..end];
            if text.contains('\\') {
                return None;
            }
            out.push(Tok::Str(text));
            i = end + 1;
        } else {
            let two = b.get(i + 1) == Some(&b'=');
            let tok = match (c, two) {
                (b'=', true) => Tok::Cmp(Cmp::Eq),
                (b'!', true) => Tok::Cmp(Cmp::Ne),
                (b'<', true) => Tok::Cmp(Cmp::Le),
                (b'>', true) => Tok::Cmp(Cmp::Ge),
                (b'<', false) => Tok::Cmp(Cmp::Lt),
                (b'>', false) => Tok::Cmp(Cmp::Gt),
                (b'!', false) => Tok::Not,
                _ => return None,
            };
            i += if two { 2 } else { 1 };
            out.push(tok);
        }
    }
    Some(out)
}

/// The top-level `&&` terms of an expression; `None` when it has a top-level operator of lower or equal
/// precedence that is not `&&` (`||`, `|`, `&`, `^`, `??`), or an `if`/`switch`.
fn conjuncts(src: &str) -> Option<Vec<&str>> {
    if identifiers(src).any(|w| w == "if" || w == "switch") {
        return None;
    }
    let b = src.as_bytes();
    let mut depth = 0i32;
    let (mut i, mut start) = (0, 0);
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'`' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'&' if depth == 0 => {
                if b.get(i + 1) != Some(&b'&') {
                    return None;
                }
                out.push(&src[start..i]);
                i += 2;
                start = i;
                continue;
            }
            b'|' | b'^' | b'?' if depth == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    out.push(&src[start..]);
    Some(out)
}

/// A compiled `group_by` or `sum`, with its native form when it is a lone field or parameter.
#[derive(Debug)]
struct Expr {
    ast: AST,
    native: Option<Operand>,
}

/// A compiled condition with the native checks of its simple terms.
#[derive(Debug)]
struct Condition {
    ast: AST,
    checks: Vec<Check>,
    /// The checks are the whole condition: Rhai is not needed when they all decide.
    native_only: bool,
}

// ---------------------------------------------------------------------------------------------------------------
// Building

/// Names the scope gives a decoded parameter.
#[derive(Debug)]
struct Param {
    /// Its name in evidence: the ABI name, or `argN`.
    label: String,
    /// Its ABI name when it can be a top-level variable (named, not reserved).
    name: Option<String>,
    /// Variables to push: (name, exact decimal string instead of the value).
    bindings: Vec<(String, bool)>,
    /// Its type, when natively comparable.
    ty: Option<Ty>,
}

const RESERVED: [&str; 12] =
    ["tx", "block", "log", "msg", "ev", "args", "ret", "group", "total", "matches", "above", "window_blocks"];

/// What a rule reads.
#[derive(Debug)]
enum Matcher {
    Event {
        event: Box<DynSolEvent>,
        topic0: Option<B256>,
        topics: usize,
        indexed: Vec<bool>,
        /// The parameters' types when all are one word (the common case): read straight from topics and data.
        words: Option<Vec<DynSolType>>,
    },
    Call {
        call: Box<DynSolCall>,
        selector: [u8; 4],
        top: bool,
        internal: bool,
        /// The inputs' types when all are one word.
        words: Option<Vec<DynSolType>>,
    },
    Tx,
    Probe {
        probe: Probe,
        call: Box<DynSolCall>,
    },
}

impl Matcher {
    fn kind(&self) -> &'static str {
        match self {
            Matcher::Event { .. } => "event",
            Matcher::Call { .. } => "call",
            Matcher::Tx => "transaction",
            Matcher::Probe { .. } => "probe",
        }
    }
}

/// A compiled `title`.
#[derive(Debug)]
enum TitlePart {
    Text(String),
    Expr(Box<AST>),
}

struct Builder<'a> {
    cfg: &'a RuleConfig,
}

impl Builder<'_> {
    fn invalid(&self, field: &str, reason: impl Into<String>) -> RuleError {
        RuleError::Invalid { rule: self.cfg.name.clone(), field: field.to_string(), reason: reason.into() }
    }

    fn signature_err(&self, field: &str, signature: &str, reason: impl ToString) -> RuleError {
        RuleError::Signature {
            rule: self.cfg.name.clone(),
            field: field.to_string(),
            signature: signature.to_string(),
            reason: reason.to_string(),
        }
    }

    fn compile(&self, field: &str, src: &str) -> Result<AST, RuleError> {
        let ast = ENGINE.compile_expression(src).map_err(|e| {
            let at = match (e.1.line(), e.1.position()) {
                (Some(l), Some(p)) => format!("line {l}, position {p}"),
                (Some(l), None) => format!("line {l}"),
                _ => "at the end".to_string(),
            };
            RuleError::Syntax { rule: self.cfg.name.clone(), field: field.to_string(), message: e.0.to_string(), at }
        })?;
        // Anonymous functions are the only functions an expression can hold.
        if ast.iter_functions().next().is_some() {
            return Err(self
                .invalid(field, "closures (`|x| …`) are not allowed: the operation limit does not apply inside them"));
        }
        Ok(ast)
    }

    fn title(&self, template: &str) -> Result<(Vec<TitlePart>, Vec<String>), RuleError> {
        let mut parts = Vec::new();
        let mut sources = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(i) = rest.find(['{', '}']) {
            text.push_str(&rest[..i]);
            let c = rest.as_bytes()[i];
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix(c as char) {
                text.push(c as char);
                rest = r;
                continue;
            }
            if c == b'}' {
                return Err(self.invalid("title", "a `}` without its `{` (write `}}` for a brace)"));
            }
            let end = rest.find('}').ok_or_else(|| self.invalid("title", "a `{` without its `}`"))?;
            let src = rest[..end].trim();
            if src.is_empty() {
                return Err(self.invalid("title", "an empty `{}` placeholder"));
            }
            if !text.is_empty() {
                parts.push(TitlePart::Text(std::mem::take(&mut text)));
            }
            parts.push(TitlePart::Expr(Box::new(self.compile("title", src)?)));
            sources.push(src.to_string());
            rest = &rest[end + 1..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(TitlePart::Text(text));
        }
        Ok((parts, sources))
    }

    fn load_abi(&self, path: &Path) -> Result<JsonAbi, RuleError> {
        let err = |reason: String| RuleError::AbiFile {
            rule: self.cfg.name.clone(),
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if let Some(abi) = value.get_mut("abi") {
            value = abi.take();
        }
        serde_json::from_value(value).map_err(|e| err(format!("not a JSON ABI: {e}")))
    }

    fn abi_item<'i, T>(
        &self,
        path: &Path,
        what: &'static str,
        wanted: &str,
        items: impl Iterator<Item = &'i T> + Clone,
        name: impl Fn(&T) -> &str,
        signature: impl Fn(&T) -> String,
    ) -> Result<&'i T, RuleError>
    where
        T: 'i,
    {
        let by_signature = wanted.contains('(');
        let found: Vec<&T> = items
            .clone()
            .filter(|it| if by_signature { signature(it) == wanted } else { name(it) == wanted })
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => {
                let mut known: Vec<String> = items.map(&signature).collect();
                known.sort();
                known.dedup();
                let known = if known.is_empty() {
                    format!("it has no {what}s")
                } else {
                    format!("its {what}s: {}", known.join(", "))
                };
                Err(RuleError::AbiItem {
                    rule: self.cfg.name.clone(),
                    path: path.display().to_string(),
                    what,
                    item: wanted.to_string(),
                    known,
                })
            }
            many => Err(self.invalid(
                if what == "event" { "event_name" } else { "function_name" },
                format!(
                    "`{wanted}` is overloaded in {}; name one by its signature: {}",
                    path.display(),
                    many.iter().map(|it| signature(it)).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    fn matcher(&self) -> Result<(Matcher, Vec<Param>, String), RuleError> {
        let cfg = self.cfg;
        let chosen = [
            cfg.event.is_some(),
            cfg.function.is_some(),
            cfg.event_name.is_some(),
            cfg.function_name.is_some(),
            cfg.probe.is_some(),
        ];
        if chosen.iter().filter(|c| **c).count() > 1 {
            return Err(self.invalid(
                "event",
                "give at most one of `event`, `function`, `event_name`, `function_name` and `probe`",
            ));
        }
        if cfg.abi.is_some() && cfg.event_name.is_none() && cfg.function_name.is_none() {
            return Err(self.invalid("abi", "an ABI file needs `event_name` or `function_name`"));
        }
        if cfg.abi.is_none() && (cfg.event_name.is_some() || cfg.function_name.is_some()) {
            let field = if cfg.event_name.is_some() { "event_name" } else { "function_name" };
            return Err(self.invalid(field, "needs `abi`, the JSON ABI file to take it from"));
        }
        if cfg.calls.is_some() && cfg.function.is_none() && cfg.function_name.is_none() {
            return Err(self.invalid("calls", "only function rules read calls"));
        }
        if cfg.include_failed && cfg.function.is_none() && cfg.function_name.is_none() {
            return Err(self.invalid("include_failed", "only function rules read calls in failed transactions"));
        }
        let abi = cfg.abi.as_ref().map(|p| self.load_abi(p).map(|a| (p, a))).transpose()?;

        let event = match (&cfg.event, &cfg.event_name, &abi) {
            (Some(sig), _, _) => {
                Some(Event::parse(sig).map_err(|e| self.signature_err("event", sig, e))?).map(|e| (e, "event"))
            }
            (None, Some(name), Some((path, abi))) => Some((
                self.abi_item(path, "event", name, abi.events(), |e| &e.name, |e| e.signature())?.clone(),
                "event_name",
            )),
            _ => None,
        };
        if let Some((event, field)) = event {
            let sig = event.full_signature();
            let mut indexed_types = Vec::new();
            let mut body = Vec::new();
            let mut indexed = Vec::new();
            let mut types = Vec::new();
            let mut all = Vec::new();
            for p in &event.inputs {
                let ty: DynSolType = p.resolve().map_err(|e| self.signature_err(field, &sig, e))?;
                indexed.push(p.indexed);
                types.push(native_ty(&ty));
                all.push(ty.clone());
                if p.indexed {
                    indexed_types.push(ty)
                } else {
                    body.push(ty)
                }
            }
            let topic0 = (!event.anonymous).then(|| event.selector());
            let topics = indexed_types.len() + topic0.is_some() as usize;
            let dyn_event = DynSolEvent::new(topic0, indexed_types, DynSolType::Tuple(body))
                .ok_or_else(|| self.signature_err(field, &sig, "more than 4 topics"))?;
            let params = self.params(event.inputs.iter().map(|p| p.name.as_str()).zip(types), true);
            return Ok((
                Matcher::Event { event: Box::new(dyn_event), topic0, topics, indexed, words: one_word_types(all) },
                params,
                format!("{} event", event.name),
            ));
        }

        let function = match (&cfg.function, &cfg.function_name, &abi) {
            (Some(sig), _, _) => {
                Some((Function::parse(sig).map_err(|e| self.signature_err("function", sig, e))?, "function"))
            }
            (None, Some(name), Some((path, abi))) => Some((
                self.abi_item(path, "function", name, abi.functions(), |f| &f.name, |f| f.signature())?.clone(),
                "function_name",
            )),
            _ => None,
        };
        if let Some((function, field)) = function {
            let call: DynSolCall =
                function.resolve().map_err(|e| self.signature_err(field, &function.full_signature(), e))?;
            let sites = cfg.calls.unwrap_or_default();
            let words = one_word_types(call.types().to_vec());
            let types = call.types().iter().map(native_ty);
            let params = self.params(function.inputs.iter().map(|p| p.name.as_str()).zip(types), true);
            return Ok((
                Matcher::Call {
                    call: Box::new(call),
                    selector: function.selector().0,
                    top: sites != CallSites::Internal,
                    internal: sites != CallSites::Top,
                    words,
                },
                params,
                format!("{} call", function.name),
            ));
        }

        if let Some(p) = &cfg.probe {
            if !cfg.address.is_empty() {
                return Err(self.invalid("address", "probe rules read `probe.to`; `address` does not apply"));
            }
            let function =
                Function::parse(&p.function).map_err(|e| self.signature_err("probe.function", &p.function, e))?;
            if function.outputs.is_empty() {
                return Err(self.signature_err(
                    "probe.function",
                    &p.function,
                    "it declares no returns (write e.g. `totalAssets() returns (uint256)`)",
                ));
            }
            let call: DynSolCall =
                function.resolve().map_err(|e| self.signature_err("probe.function", &p.function, e))?;
            if p.args.len() != call.types().len() {
                return Err(self.invalid(
                    "probe.args",
                    format!("{} takes {} arguments, {} given", function.name, call.types().len(), p.args.len()),
                ));
            }
            let mut values = Vec::new();
            for (i, (arg, ty)) in p.args.iter().zip(call.types()).enumerate() {
                let text = match arg {
                    ProbeArg::Bool(b) => b.to_string(),
                    ProbeArg::Int(n) => n.to_string(),
                    ProbeArg::Text(s) => s.clone(),
                };
                values.push(ty.coerce_str(&text).map_err(|e| {
                    self.invalid(
                        "probe.args",
                        format!("argument {i} (\"{text}\") is not a {}: {e}", ty.sol_type_name()),
                    )
                })?);
            }
            let data = call.abi_encode_input(&values).map_err(|e| self.invalid("probe.args", e.to_string()))?;
            let types = call.returns().types().iter().map(native_ty);
            let params = self.params(function.outputs.iter().map(|p| p.name.as_str()).zip(types), false);
            return Ok((
                Matcher::Probe { probe: Probe { to: p.to, data: Bytes::from(data) }, call: Box::new(call) },
                params,
                format!("{} probe", function.name),
            ));
        }
        Ok((Matcher::Tx, Vec::new(), "transaction".to_string()))
    }

    /// The parameters' names; `bindings` are filled once the rule's identifiers are known.
    fn params<'n>(&self, names: impl Iterator<Item = (&'n str, Option<Ty>)>, positional: bool) -> Vec<Param> {
        names
            .enumerate()
            .map(|(i, (n, ty))| {
                let usable = !n.is_empty() && !RESERVED.contains(&n);
                let mut bindings = Vec::new();
                if usable {
                    bindings.push((n.to_string(), false));
                    bindings.push((format!("{n}_str"), true));
                }
                if positional {
                    bindings.push((format!("arg{i}"), false));
                    bindings.push((format!("arg{i}_str"), true));
                }
                Param {
                    label: if n.is_empty() { format!("arg{i}") } else { n.to_string() },
                    name: (!n.is_empty()).then(|| n.to_string()),
                    bindings,
                    ty,
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The detector

/// Which views the rule's expressions mention.
#[derive(Debug, Default, Clone, Copy)]
struct Needs {
    tx: bool,
    block: bool,
    log: bool,
    call: bool,
    named: bool,
    ret: bool,
}

/// Aggregation state. Each group's contributions are kept per block that had any (a short deque per group), and
/// per block the groups it touched and the groups above the threshold after it (the armed state), for the window
/// plus [`REORG_DEPTH`] blocks: a revert pops exactly the orphaned blocks' entries.
#[derive(Debug)]
struct Aggregator {
    window_blocks: u64,
    above: f64,
    group_by: Option<Expr>,
    sum: Option<Expr>,
    groups: HashMap<GroupKey, VecDeque<(u64, f64, u64)>>,
    /// The window plus `reorg_depth` blocks.
    history: VecDeque<AggBlock>,
    /// The deepest reorg the source replays.
    reorg_depth: u64,
    /// The block being read and its groups so far.
    current: Option<(BlockRef, HashMap<GroupKey, GroupNow>)>,
}

/// A group: an address (most `group_by`s, compared without formatting) or any other text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum GroupKey {
    /// `None` is `""` (and the single group of a rule without `group_by`).
    Addr(Option<Address>),
    Text(String),
}

impl GroupKey {
    fn from_text(s: String) -> Self {
        if s.is_empty() {
            return GroupKey::Addr(None);
        }
        let lower =
            s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match s.parse() {
            Ok(a) if lower => GroupKey::Addr(Some(a)),
            _ => GroupKey::Text(s),
        }
    }

    fn text(&self) -> String {
        match self {
            GroupKey::Addr(a) => opt_addr_str(a),
            GroupKey::Text(s) => s.clone(),
        }
    }
}

/// A group within the block being read.
#[derive(Debug, Clone, Copy)]
struct GroupNow {
    /// Its total and matches over the window's earlier blocks.
    base: (f64, u64),
    /// This block's.
    now: (f64, u64),
    /// Below the threshold after the previous block, and not fired since.
    armed: bool,
}

#[derive(Debug)]
struct AggBlock {
    block: BlockRef,
    touched: Vec<GroupKey>,
    above: HashSet<GroupKey>,
}

impl Aggregator {
    fn first_in_window(&self, number: u64) -> u64 {
        number.saturating_sub(self.window_blocks - 1)
    }

    /// Forgets the newest block.
    fn pop_back(&mut self) {
        let Some(b) = self.history.pop_back() else { return };
        for key in b.touched {
            if let Some(q) = self.groups.get_mut(&key) {
                if q.back().is_some_and(|e| e.0 == b.block.number) {
                    q.pop_back();
                }
                if q.is_empty() {
                    self.groups.remove(&key);
                }
            }
        }
    }

    fn revert_to(&mut self, number: u64) {
        while self.history.back().is_some_and(|b| b.block.number > number) {
            self.pop_back();
        }
    }

    fn begin(&mut self, block: BlockRef) {
        // A block at or below the last one replaces it (the engine reverts first; this keeps the state sane).
        self.revert_to(block.number.saturating_sub(1));
        self.current = Some((block, HashMap::new()));
    }

    /// The group's total over the window ending at `number`, from the blocks already ended.
    fn window_total(&self, key: &GroupKey, number: u64) -> (f64, u64) {
        let first = self.first_in_window(number);
        let mut total = (0.0, 0);
        if let Some(q) = self.groups.get(key) {
            for (_, s, n) in q.iter().rev().take_while(|e| e.0 >= first && e.0 <= number) {
                total.0 += s;
                total.1 += n;
            }
        }
        total
    }

    /// Adds a match; `Some((total, matches))` when this match makes its group cross the threshold.
    fn add(&mut self, key: &GroupKey, amount: f64) -> Option<(f64, u64)> {
        let Self { window_blocks, above, groups: ended, history, current, .. } = self;
        let (block, groups) = current.as_mut()?;
        let number = block.number;
        let g = groups.entry(key.clone()).or_insert_with(|| {
            let first = number.saturating_sub(*window_blocks - 1);
            let mut base = (0.0, 0);
            if let Some(q) = ended.get(key) {
                for (_, s, n) in q.iter().rev().take_while(|x| x.0 >= first && x.0 <= number) {
                    base.0 += s;
                    base.1 += n;
                }
            }
            let armed = !history.back().is_some_and(|b| b.above.contains(key));
            GroupNow { base, now: (0.0, 0), armed }
        });
        g.now.0 += amount;
        g.now.1 += 1;
        let (total, matches) = (g.base.0 + g.now.0, g.base.1 + g.now.1);
        if total > *above && g.armed {
            g.armed = false;
            return Some((total, matches));
        }
        None
    }

    fn end(&mut self) {
        let Some((block, current)) = self.current.take() else { return };
        let number = block.number;
        let mut above = HashSet::new();
        if let Some(previous) = self.history.back() {
            for key in previous.above.iter().filter(|k| !current.contains_key(*k)) {
                if self.window_total(key, number).0 > self.above {
                    above.insert(key.clone());
                }
            }
        }
        let mut touched = Vec::with_capacity(current.len());
        for (key, g) in current {
            if g.base.0 + g.now.0 > self.above {
                above.insert(key.clone());
            }
            self.groups.entry(key.clone()).or_default().push_back((number, g.now.0, g.now.1));
            touched.push(key);
        }
        self.history.push_back(AggBlock { block, touched, above });
        while self.history.len() as u64 > self.window_blocks + self.reorg_depth {
            let Some(old) = self.history.pop_front() else { break };
            for key in old.touched {
                if let Some(q) = self.groups.get_mut(&key) {
                    if q.front().is_some_and(|e| e.0 == old.block.number) {
                        q.pop_front();
                    }
                    if q.is_empty() {
                        self.groups.remove(&key);
                    }
                }
            }
        }
    }

    fn blocks_in_window(&self, number: u64) -> usize {
        let first = self.first_in_window(number);
        self.history.iter().filter(|b| b.block.number >= first).count() + 1
    }
}

/// One match: what the scope is built from.
struct Hit<'a> {
    target: Address,
    tx: Option<TxView>,
    log: Option<LogView>,
    call: Option<CallView>,
    values: &'a [DynSolValue],
}

impl Hit<'_> {
    fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tx {
            let _ = write!(s, "tx {} (#{})", t.hash, t.index);
        }
        if let Some(l) = &self.log {
            let _ = write!(s, ", log {}", l.index);
        }
        if let Some(c) = &self.call {
            let _ = write!(s, ", call to {} at depth {}", c.to, c.depth);
        }
        if s.is_empty() {
            s.push_str("the probe's answer");
        }
        s
    }
}

/// Everything but the matcher: the compiled expressions, the finding's shape and the aggregation state.
struct Eval {
    cfg: RuleConfig,
    what: String,
    kind: &'static str,
    params: Vec<Param>,
    needs: Needs,
    condition: Option<Condition>,
    actor: Option<AST>,
    title: Option<Vec<TitlePart>>,
    agg: Option<Aggregator>,
    scope: Scope<'static>,
    /// Matches whose condition held, since construction.
    matches: u64,
}

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

/// Evaluates `ast` over `scope` with the shared engine.
fn run(scope: &mut Scope<'static>, ast: &AST) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    ENGINE.eval_ast_with_scope::<Dynamic>(scope, ast)
}

impl Eval {
    fn err(&self, block: BlockRef, field: &str, hit: &Hit, reason: impl std::fmt::Display) -> DetectorError {
        let reason = format!("rule \"{}\": `{field}` failed on {}: {reason}", self.cfg.name, hit.describe());
        DetectorError::new(&self.cfg.name, block, DetectorCause::Evaluation(reason))
    }

    /// Puts the match's values in scope, once per match.
    fn fill(&mut self, filled: &mut bool, hit: &Hit, block: &BlockView) {
        if std::mem::replace(filled, true) {
            return;
        }
        let scope = &mut self.scope;
        scope.clear();
        for (p, v) in self.params.iter().zip(hit.values) {
            for (name, exact) in &p.bindings {
                if *exact {
                    if let Some(d) = decimal(v) {
                        scope.push_dynamic(name.clone(), d.into());
                    }
                } else {
                    scope.push_dynamic(name.clone(), to_dynamic(v));
                }
            }
        }
        if self.needs.named {
            let map: Map = self
                .params
                .iter()
                .zip(hit.values)
                .filter_map(|(p, v)| p.name.as_ref().map(|n| (n.as_str().into(), to_dynamic(v))))
                .collect();
            scope.push(if self.kind == "event" { "ev" } else { "args" }, map);
        }
        if self.needs.ret && self.kind == "probe" {
            let ret: Array = hit.values.iter().map(to_dynamic).collect();
            scope.push("ret", ret);
        }
        if self.needs.tx {
            if let Some(t) = &hit.tx {
                scope.push("tx", t.clone());
            }
        }
        if self.needs.block {
            scope.push("block", block.clone());
        }
        if self.needs.log {
            if let Some(l) = &hit.log {
                scope.push("log", l.clone());
            }
        }
        if self.needs.call {
            if let Some(c) = &hit.call {
                scope.push("msg", c.clone());
            }
        }
    }

    /// Whether the match's condition holds: native checks first, Rhai when they do not decide.
    fn holds(&mut self, filled: &mut bool, hit: &Hit, block: &BlockView) -> Result<bool, DetectorError> {
        let Some(cond) = &self.condition else { return Ok(true) };
        let mut decided = cond.native_only;
        for c in &cond.checks {
            match c.eval(hit, block) {
                Some(false) => return Ok(false),
                Some(true) => {}
                None => decided = false,
            }
        }
        if decided {
            return Ok(true);
        }
        self.fill(filled, hit, block);
        let Some(cond) = &self.condition else { return Ok(true) };
        let n = block.block_ref();
        let v = run(&mut self.scope, &cond.ast).map_err(|e| self.err(n, "condition", hit, e))?;
        v.as_bool().map_err(|t| self.err(n, "condition", hit, format!("gave a {t} ({v}), not a boolean")))
    }

    fn on_hit(
        &mut self,
        hit: Hit,
        block: &BlockView,
        block_ref: BlockRef,
        out: &mut Vec<Finding>,
    ) -> Result<(), DetectorError> {
        let mut filled = false;
        if !self.holds(&mut filled, &hit, block)? {
            return Ok(());
        }
        self.matches += 1;
        let Some(mut agg) = self.agg.take() else {
            let f = self.finding(&mut filled, &hit, block, block_ref, None)?;
            out.push(f);
            return Ok(());
        };
        let result = (|| {
            let key = match &agg.group_by {
                None => GroupKey::Addr(None),
                Some(Expr { native: Some(op), .. }) if op.value(&hit, block).is_some() => match op.value(&hit, block) {
                    Some(Val::Addr(a)) => GroupKey::Addr(a),
                    _ => GroupKey::Addr(None),
                },
                Some(g) => {
                    self.fill(&mut filled, &hit, block);
                    let v =
                        run(&mut self.scope, &g.ast).map_err(|e| self.err(block_ref, "aggregate.group_by", &hit, e))?;
                    GroupKey::from_text(if v.is_string() { v.into_string().unwrap_or_default() } else { v.to_string() })
                }
            };
            let amount = match &agg.sum {
                None => 1.0,
                Some(Expr { native: Some(op), .. }) if op.value(&hit, block).is_some() => match op.value(&hit, block) {
                    Some(Val::Num(x)) => x,
                    _ => 0.0,
                },
                Some(s) => {
                    self.fill(&mut filled, &hit, block);
                    let v = run(&mut self.scope, &s.ast).map_err(|e| self.err(block_ref, "aggregate.sum", &hit, e))?;
                    v.as_float().or_else(|_| v.as_int().map(|i| i as f64)).map_err(|t| {
                        self.err(block_ref, "aggregate.sum", &hit, format!("gave a {t} ({v}), not a number"))
                    })?
                }
            };
            if let Some((total, matches)) = agg.add(&key, amount) {
                let key = key.text();
                let info = json!({
                    "group": key,
                    "total": total,
                    "matches": matches,
                    "above": agg.above,
                    "window_blocks": agg.window_blocks,
                    "blocks_in_window": agg.blocks_in_window(block_ref.number),
                    "measure": if agg.sum.is_some() { "sum" } else { "count" },
                });
                self.fill(&mut filled, &hit, block);
                self.scope.push("group", key);
                self.scope.push("total", total);
                self.scope.push("matches", int(matches));
                self.scope.push("above", agg.above);
                self.scope.push("window_blocks", int(agg.window_blocks));
                let f = self.finding(&mut filled, &hit, block, block_ref, Some(info))?;
                out.push(f);
            }
            Ok(())
        })();
        self.agg = Some(agg);
        result
    }

    fn finding(
        &mut self,
        filled: &mut bool,
        hit: &Hit,
        block: &BlockView,
        block_ref: BlockRef,
        agg: Option<serde_json::Value>,
    ) -> Result<Finding, DetectorError> {
        if self.title.is_some() || self.actor.is_some() {
            self.fill(filled, hit, block);
        }
        let title = match &self.title {
            None => match &agg {
                None => format!("{}: {} on {}", self.cfg.name, self.what, addr_str(&hit.target)),
                Some(a) => format!(
                    "{}: windowed {} of {} matches {} above {} over {} blocks{}",
                    self.cfg.name,
                    a["measure"].as_str().unwrap_or("total"),
                    self.what,
                    num(a["total"].as_f64()),
                    num(a["above"].as_f64()),
                    a["window_blocks"],
                    a["group"].as_str().filter(|g| !g.is_empty()).map(|g| format!(" for {g}")).unwrap_or_default()
                ),
            },
            Some(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        TitlePart::Text(t) => s.push_str(t),
                        TitlePart::Expr(ast) => match run(&mut self.scope, ast) {
                            Ok(v) => {
                                let _ = write!(s, "{v}");
                            }
                            Err(e) => return Err(self.err(block_ref, "title", hit, e)),
                        },
                    }
                }
                s
            }
        };
        let actor =
            match &self.actor {
                None => hit.tx.as_ref().map(|t| t.from),
                Some(ast) => {
                    let v = run(&mut self.scope, ast).map_err(|e| self.err(block_ref, "actor", hit, e))?;
                    let text = v.to_string();
                    Some(text.parse::<Address>().map_err(|e| {
                        self.err(block_ref, "actor", hit, format!("gave \"{text}\", not an address: {e}"))
                    })?)
                }
            };
        let values: serde_json::Map<String, serde_json::Value> =
            self.params.iter().zip(hit.values).map(|(p, v)| (p.label.clone(), to_json(v))).collect();
        let mut evidence = json!({
            "rule": self.cfg.name,
            "match": self.kind,
            "what": self.what,
            "contract": addr_str(&hit.target),
            "values": values,
        });
        if let Some(t) = &hit.tx {
            evidence["tx"] = json!({"hash": t.hash, "index": t.index, "from": addr_str(&t.from), "to": opt_addr_str(&t.to), "status": t.status});
        }
        if let Some(l) = &hit.log {
            evidence["log_index"] = json!(l.index);
        }
        if let Some(c) = &hit.call {
            evidence["call"] = json!({"from": addr_str(&c.from), "to": addr_str(&c.to), "depth": c.depth, "kind": c.kind, "value": c.value.to_string()});
        }
        if let Some(a) = agg {
            evidence["aggregate"] = a;
        }
        let scope = self.cfg.scope.as_ref();
        let mut labels: std::collections::BTreeMap<String, String> =
            [("rule".to_string(), self.cfg.name.clone())].into_iter().collect();
        if let Some(a) = actor {
            labels.insert(LABEL_ACTOR.to_string(), a.to_string());
        }
        if let Some(s) = self.cfg.stage {
            labels.insert(LABEL_STAGE.to_string(), s.as_str().to_string());
        }
        Ok(Finding {
            detector: self.cfg.name.clone(),
            protocol: self.cfg.protocol.clone(),
            scope: GuardianScope::segment(
                scope.and_then(|s| s.target).unwrap_or(hit.target),
                scope.map_or(0, |s| s.id),
            ),
            severity: self.cfg.severity,
            kind: self.cfg.kind,
            block: block_ref,
            tx: hit.tx.as_ref().map(|t| t.hash).filter(|h| !h.is_zero()),
            title,
            evidence,
            labels,
        })
    }
}

/// A number for a title: integral values without a fraction.
fn num(v: Option<f64>) -> String {
    match v {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => "?".to_string(),
    }
}

/// `types` when every one is a single ABI word.
fn one_word_types(types: Vec<DynSolType>) -> Option<Vec<DynSolType>> {
    types
        .iter()
        .all(|t| {
            matches!(
                t,
                DynSolType::Address
                    | DynSolType::Uint(_)
                    | DynSolType::Int(_)
                    | DynSolType::Bool
                    | DynSolType::FixedBytes(_)
            )
        })
        .then_some(types)
}

/// A one-word value, decoded by alloy from the word alone (what its log and calldata decoders do per word).
fn word_value(ty: &DynSolType, w: B256) -> DynSolValue {
    ty.detokenize(DynToken::Word(w)).unwrap_or(DynSolValue::FixedBytes(w, 32))
}

/// The first 8 bytes of a word, as an integer.
fn prefix(w: &B256) -> u64 {
    u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
}

fn address_ok(filter: &[Address], a: Address) -> bool {
    filter.is_empty() || filter.contains(&a)
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
        let h = &bundle.header;
        let block = BlockView {
            number: h.number,
            timestamp: h.timestamp,
            hash: h.hash,
            miner: h.miner,
            gas_used: h.gas_used,
            gas_limit: h.gas_limit,
            base_fee: h.base_fee_per_gas.unwrap_or_default(),
        };
        if let Some(agg) = &mut eval.agg {
            agg.begin(block_ref);
        }
        let mut out = Vec::new();
        let result = scan(matcher, filter, eval, bundle, &block, block_ref, &mut out);
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

fn scan(
    matcher: &Matcher,
    filter: &[Address],
    eval: &mut Eval,
    bundle: &Bundle,
    block: &BlockView,
    block_ref: BlockRef,
    out: &mut Vec<Finding>,
) -> Result<(), DetectorError> {
    match matcher {
        Matcher::Event { event, topic0, topics, indexed, words } => {
            let body_words = indexed.iter().filter(|i| !**i).count();
            let prefix0 = topic0.as_ref().map(prefix).unwrap_or_default();
            let first_indexed = topic0.is_some() as usize;
            let mut counter = 0u64;
            let mut values = Vec::with_capacity(indexed.len());
            for (ti, r) in bundle.receipts.iter().enumerate() {
                if !r.status {
                    continue;
                }
                for log in &r.logs {
                    let index = log.log_index.unwrap_or(counter);
                    counter += 1;
                    let t = log.topics();
                    // The first 8 bytes of topic0 first: one integer comparison rejects almost every other log.
                    if t.len() != *topics
                        || topic0.is_some_and(|t0| prefix(&t[0]) != prefix0 || t[0] != t0)
                        || !address_ok(filter, log.address())
                    {
                        continue;
                    }
                    values.clear();
                    if let Some(words) = words {
                        let data = &log.data().data;
                        if data.len() < 32 * body_words {
                            continue;
                        }
                        let (mut topic, mut word) = (first_indexed, 0);
                        for (is_indexed, ty) in indexed.iter().zip(words) {
                            let w = if *is_indexed {
                                topic += 1;
                                t[topic - 1]
                            } else {
                                word += 1;
                                B256::from_slice(&data[32 * (word - 1)..32 * word])
                            };
                            values.push(word_value(ty, w));
                        }
                    } else {
                        let Ok(decoded) = event.decode_log_data(log.data()) else { continue };
                        let (mut ind, mut body) = (decoded.indexed.into_iter(), decoded.body.into_iter());
                        for is_indexed in indexed {
                            match if *is_indexed { ind.next() } else { body.next() } {
                                Some(v) => values.push(v),
                                None => break,
                            }
                        }
                        if values.len() != indexed.len() {
                            continue;
                        }
                    }
                    let hit = Hit {
                        target: log.address(),
                        tx: TxView::of(bundle, ti),
                        log: Some(LogView { address: log.address(), index, topic0: t.first().copied() }),
                        call: None,
                        values: &values,
                    };
                    eval.on_hit(hit, block, block_ref, out)?;
                }
            }
        }
        Matcher::Call { call, selector, top, internal, words } => {
            // Internal calls are only seen in traces: a block without them, or with a trace that failed, would
            // miss matches, so either is an error (as for every trace detector).
            let sites = if *top { "all" } else { "internal" };
            let name = eval.cfg.name.clone();
            let traced = |e: TraceError| {
                DetectorError::new(&name, block_ref, e.cause().prefixed(&format!("calls = \"{sites}\"")))
            };
            let traces = if *internal { Some(call_traces(bundle).map_err(traced)?) } else { None };
            let include_failed = eval.cfg.include_failed;
            let mut values = Vec::new();
            let decode = |input: &[u8], values: &mut Vec<DynSolValue>| -> bool {
                values.clear();
                match words {
                    Some(words) if input.len() >= 32 * words.len() => {
                        values.extend(
                            words
                                .iter()
                                .enumerate()
                                .map(|(i, ty)| word_value(ty, B256::from_slice(&input[32 * i..32 * i + 32]))),
                        );
                        true
                    }
                    Some(_) => false,
                    None => call.abi_decode_input(input).map(|v| *values = v).is_ok(),
                }
            };
            if *top {
                for (i, t) in bundle.transactions.iter().enumerate() {
                    let Some(to) = t.to else { continue };
                    if t.input.get(..4) != Some(selector.as_slice()) || !address_ok(filter, to) {
                        continue;
                    }
                    let Some(tx) = TxView::of(bundle, i) else { continue };
                    if !tx.status && !include_failed {
                        continue;
                    }
                    if !decode(&t.input[4..], &mut values) {
                        continue;
                    }
                    let view = CallView {
                        from: t.from,
                        to,
                        value: t.value,
                        depth: 0,
                        kind: "CALL".to_string(),
                        reverted: !tx.status,
                        gas_used: tx.gas_used,
                    };
                    let hit = Hit { target: to, tx: Some(tx), log: None, call: Some(view), values: &values };
                    eval.on_hit(hit, block, block_ref, out)?;
                }
            }
            for trace in traces.into_iter().flatten() {
                let TxTrace { index: i, hash: tx_hash, top: root } = trace.map_err(traced)?;
                let mut stack: Vec<(&CallFrame, i64, bool)> = Vec::new();
                let root_failed = root.error.is_some();
                stack.extend(root.calls.iter().rev().map(|c| (c, 1, root_failed)));
                while let Some((frame, depth, parent_reverted)) = stack.pop() {
                    let reverted = parent_reverted || frame.error.is_some();
                    stack.extend(frame.calls.iter().rev().map(|c| (c, depth + 1, reverted)));
                    let Some(to) = frame.to else { continue };
                    if frame.input.get(..4) != Some(selector.as_slice()) || !address_ok(filter, to) {
                        continue;
                    }
                    if reverted && !include_failed {
                        continue;
                    }
                    if !decode(&frame.input[4..], &mut values) {
                        continue;
                    }
                    let tx = trace_tx(bundle, i, tx_hash).unwrap_or_else(|| TxView::of_frame(root, tx_hash, i));
                    let view = CallView {
                        from: frame.from,
                        to,
                        value: frame.value.unwrap_or_default(),
                        depth,
                        kind: frame.typ.clone(),
                        reverted,
                        gas_used: frame.gas_used.saturating_to(),
                    };
                    let hit = Hit { target: to, tx: Some(tx), log: None, call: Some(view), values: &values };
                    eval.on_hit(hit, block, block_ref, out)?;
                }
            }
        }
        Matcher::Tx => {
            for (i, t) in bundle.transactions.iter().enumerate() {
                if !filter.is_empty() && !t.to.is_some_and(|to| filter.contains(&to)) {
                    continue;
                }
                let Some(tx) = TxView::of(bundle, i) else { continue };
                let target = tx.to.or(tx.created).unwrap_or_default();
                let hit = Hit { target, tx: Some(tx), log: None, call: None, values: &[] };
                eval.on_hit(hit, block, block_ref, out)?;
            }
        }
        Matcher::Probe { probe, call } => {
            let answer = bundle.probes.get(probe).ok_or_else(|| {
                let reason =
                    format!("rule \"{}\": no answer to its probe of {} at this block", eval.cfg.name, probe.to);
                DetectorError::new(&eval.cfg.name, block_ref, DetectorCause::MissingInput(reason))
            })?;
            let Ok(data) = answer else { return Ok(()) };
            let Ok(values) = call.abi_decode_output(data) else { return Ok(()) };
            let hit = Hit { target: probe.to, tx: None, log: None, call: None, values: &values };
            eval.on_hit(hit, block, block_ref, out)?;
        }
    }
    Ok(())
}

/// The bundle's transaction for trace `i`.
fn trace_tx(bundle: &Bundle, i: usize, hash: Option<B256>) -> Option<TxView> {
    let index = match hash {
        Some(h) if bundle.transactions.get(i).is_some_and(|t| t.hash == h) => i,
        Some(h) => bundle.transactions.iter().position(|t| t.hash == h)?,
        None => i,
    };
    TxView::of(bundle, index)
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use alloy::{
        primitives::{address, keccak256, Bytes, U256},
        sol_types::{SolCall, SolEvent},
    };
    use serde_json::json;
    use vigil_contracts::IERC20;
    use vigil_core::{BlockPart, Bundle, Detector, Probe, ReceiptsPart};

    use super::*;

    const TOKEN: Address = address!("0x00000000000000000000000000000000000000aa");
    const OTHER: Address = address!("0x00000000000000000000000000000000000000bb");
    const X: Address = address!("0x0000000000000000000000000000000000000001");
    const Y: Address = address!("0x0000000000000000000000000000000000000002");
    const USDT: Address = address!("0xdAC17F958D2ee523a2206206994597c13D831ec7");
    const WETH: Address = address!("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2");

    fn config(body: &str) -> RuleConfig {
        let text = format!("name = \"test-rule\"\nprotocol = \"test\"\n{body}");
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// The conformance suite's mainnet case: USDT transfers above 1,000 USDT counted per sender over 50 blocks,
    /// reported above a million: silent on block 18,000,000.
    pub(super) fn mainnet_case() -> (String, Bundle) {
        let table = r#"
name = "usdt-transfers"
protocol = "mainnet"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xdAC17F958D2ee523a2206206994597c13D831ec7"
condition = "value > 1e9"
[aggregate]
window_blocks = 50
group_by = "from"
count = true
above = 1000000
"#;
        (table.to_string(), crate::testdata::mainnet_block(Default::default()))
    }

    crate::conformance::case!(RuleConfig, "rule.rs", "legacy-borrow-drain", 141, mainnet_case);

    fn rule(body: &str) -> RuleDetector {
        RuleDetector::new(config(body)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rule_err(body: &str) -> String {
        match RuleDetector::new(config(body)) {
            Ok(_) => panic!("the rule should not build:\n{body}"),
            Err(e) => e.to_string(),
        }
    }

    /// A transaction of a synthetic block.
    #[derive(Clone)]
    struct T {
        from: Address,
        to: Option<Address>,
        value: U256,
        input: Vec<u8>,
        nonce: u64,
        status: bool,
        gas_used: u64,
        created: Option<Address>,
        logs: Vec<(Address, Vec<B256>, Vec<u8>)>,
    }

    fn tx(from: Address, to: Address) -> T {
        T {
            from,
            to: Some(to),
            value: U256::ZERO,
            input: Vec::new(),
            nonce: 1,
            status: true,
            gas_used: 21_000,
            created: None,
            logs: Vec::new(),
        }
    }

    fn word(a: Address) -> B256 {
        a.into_word()
    }

    fn transfer(token: Address, from: Address, to: Address, value: u64) -> (Address, Vec<B256>, Vec<u8>) {
        (token, vec![IERC20::Transfer::SIGNATURE_HASH, word(from), word(to)], U256::from(value).to_be_bytes_vec())
    }

    fn q(n: impl std::fmt::LowerHex) -> String {
        format!("{n:#x}")
    }

    /// A block `number` (hash from `fork`) with `txs` and `probes`.
    fn block(
        number: u64,
        fork: u8,
        txs: &[T],
        probes: BTreeMap<Probe, Result<alloy::primitives::Bytes, alloy::primitives::Bytes>>,
    ) -> Bundle {
        let hash_of = |i: usize| keccak256([&number.to_be_bytes()[..], &[fork, i as u8]].concat());
        let transactions: Vec<_> = txs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({"hash": hash_of(i), "from": t.from, "to": t.to, "value": q(t.value), "input": hex::encode_prefixed(&t.input),
                       "nonce": q(t.nonce), "gas": q(1_000_000u64 + t.gas_used)})
            })
            .collect();
        let header = json!({
            "number": q(number), "hash": keccak256([number.to_be_bytes(), [fork; 8]].concat()),
            "parentHash": keccak256((number - 1).to_be_bytes()), "timestamp": q(1_700_000_000 + number * 12),
            "miner": Address::ZERO, "gasLimit": q(30_000_000u64), "gasUsed": q(1_000_000u64), "transactions": transactions,
        });
        let receipts: Vec<_> = txs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let logs: Vec<_> = t
                    .logs
                    .iter()
                    .map(|(a, topics, data)| json!({"address": a, "topics": topics, "data": hex::encode_prefixed(data)}))
                    .collect();
                json!({"transactionHash": hash_of(i), "from": t.from, "to": t.to, "status": if t.status { "0x1" } else { "0x0" },
                       "contractAddress": t.created, "gasUsed": q(t.gas_used), "logs": logs})
            })
            .collect();
        let block = BlockPart::from_json(&header.to_string()).expect("a synthetic block");
        let receipts = ReceiptsPart::from_json(&serde_json::Value::from(receipts).to_string()).expect("receipts");
        Bundle::from_parts(block, receipts, None, probes)
    }

    fn simple(number: u64, fork: u8, txs: &[T]) -> Bundle {
        block(number, fork, txs, BTreeMap::new())
    }

    /// The TOML example at the top of this module.
    fn doc_example() -> String {
        let src = include_str!("rule.rs");
        let mut out = String::new();
        let mut inside = false;
        for line in src.lines().take_while(|l| l.starts_with("//!")) {
            let text = line.strip_prefix("//! ").unwrap_or(line.strip_prefix("//!").unwrap_or(line));
            match (inside, text.trim()) {
                (false, "```toml") => inside = true,
                (true, "```") => break,
                (true, _) => {
                    out.push_str(text);
                    out.push('\n');
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn the_module_docs_example_parses_and_builds() {
        let example = doc_example();
        let doc: toml::Table = toml::from_str(&example).expect("the example is TOML");
        let tables = doc["detector"].as_array().expect("[[detector]] tables");
        assert_eq!(tables.len(), 6);
        let root = format!("{}/../..", env!("CARGO_MANIFEST_DIR"));
        let mut probes = 0;
        for t in tables {
            let mut t = t.as_table().expect("a table").clone();
            assert_eq!(t.remove("type").and_then(|v| v.as_str().map(String::from)).as_deref(), Some("rule"));
            if let Some(toml::Value::String(p)) = t.get_mut("abi") {
                *p = format!("{root}/{p}");
            }
            let cfg: RuleConfig = toml::Value::Table(t).try_into().unwrap_or_else(|e| panic!("{e}"));
            let d = RuleDetector::new(cfg.clone()).unwrap_or_else(|e| panic!("{e}"));
            probes += d.probes().len();
            if cfg.name == "legacy-borrow-burst" {
                let a = cfg.aggregate.as_ref().expect("aggregated");
                assert_eq!((a.window_blocks, a.count, a.above), (50, true, 4.0));
                assert_eq!(cfg.stage, Some(Stage::Exploitation));
                assert_eq!(cfg.calls, Some(CallSites::All));
            }
        }
        assert_eq!(probes, 1, "the probe rule declares its probe");
    }

    #[test]
    fn an_event_rule_compares_fields_and_fires_on_the_right_logs_only() {
        let mut d = rule(
            r#"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0x00000000000000000000000000000000000000aa"
condition = "value > 1000 && to != from && value * 2 > tx.gas_used && log.address == ev.to.sub_string(0, 0) + \"0x00000000000000000000000000000000000000aa\""
stage = "exploitation"
title = "{value_str} from {from} to {to} (log {log.index})"
"#,
        );
        let mut a = tx(X, TOKEN);
        a.gas_used = 1_000;
        a.logs = vec![
            transfer(TOKEN, X, Y, 2_000), // log 0: fires
            transfer(TOKEN, X, X, 5_000), // 1: to == from
            transfer(TOKEN, X, Y, 10),    // 2: too small
            transfer(OTHER, X, Y, 9_000), // 3: another contract
            (TOKEN, vec![IERC20::Approval::SIGNATURE_HASH, word(X), word(Y)], U256::from(9_000).to_be_bytes_vec()), // 4
        ];
        let mut failed = tx(X, TOKEN);
        failed.status = false;
        failed.logs = vec![transfer(TOKEN, X, Y, 9_000)]; // in a failed transaction: no log index
        let mut big_gas = tx(Y, TOKEN);
        big_gas.gas_used = 5_000;
        big_gas.logs = vec![transfer(TOKEN, X, Y, 1_500)]; // 5: value × 2 < gas used
        let mut b = tx(Y, TOKEN);
        b.gas_used = 1_000;
        b.logs = vec![transfer(TOKEN, Y, X, 3_000)]; // 6: fires
        let bundle = simple(10, 0, &[a, failed, big_gas, b]);
        let findings = d.on_block(&bundle).expect("the rule runs");
        let logs: Vec<u64> = findings.iter().map(|f| f.evidence["log_index"].as_u64().expect("a log index")).collect();
        assert_eq!(logs, vec![0, 6]);
        let f = &findings[0];
        assert_eq!(f.title, "2000 from 0x0000000000000000000000000000000000000001 to 0x0000000000000000000000000000000000000002 (log 0)");
        assert_eq!(f.evidence["values"], json!({"from": addr_str(&X), "to": addr_str(&Y), "value": "2000"}));
        assert_eq!((f.scope.target, f.scope.id), (TOKEN, U256::ZERO));
        assert_eq!((f.severity, f.kind), (Severity::High, FindingKind::Suspicious));
        assert_eq!(f.tx, Some(bundle.transactions[0].hash));
        assert_eq!((f.actor(), f.stage()), (Some(X), Some(Stage::Exploitation)));
        assert_eq!(findings[1].actor(), Some(Y), "actor = tx.from by default");
    }

    #[test]
    fn a_function_rule_reads_top_level_calldata() {
        let bundle = crate::testdata::mainnet_block(Default::default());
        let mut d = rule(
            r#"
function = "transfer(address to, uint256 value)"
address = "0xdAC17F958D2ee523a2206206994597c13D831ec7"
calls = "top"
condition = "value > 0 && to != tx.from && msg.depth == 0 && msg.sender == tx.from"
"#,
        );
        let found: BTreeSet<B256> = d.on_block(&bundle).expect("runs").iter().filter_map(|f| f.tx).collect();
        let expected: BTreeSet<B256> = bundle
            .transactions
            .iter()
            .zip(&bundle.receipts)
            .filter(|(t, r)| r.status && t.to == Some(USDT))
            .filter_map(|(t, _)| IERC20::transferCall::abi_decode(&t.input).ok().map(|c| (t, c)))
            .filter(|(t, c)| c.value > U256::ZERO && c.to != t.from)
            .map(|(t, _)| t.hash)
            .collect();
        assert_eq!(expected.len(), 5, "block 18,000,000 has five USDT transfer transactions");
        assert_eq!(found, expected);
        // Internal calls are only in traces, which this recording lacks: an error, not a silent miss.
        for calls in ["internal", "all"] {
            let mut internal = rule(&format!(
                r#"
function = "transfer(address to, uint256 value)"
address = "0xdAC17F958D2ee523a2206206994597c13D831ec7"
calls = "{calls}"
"#
            ));
            assert!(internal.needs_traces());
            assert!(matches!(internal.matcher, Matcher::Call { internal: true, .. }), "the built rule reads traces");
            let err = internal.on_block(&bundle).expect_err("traces are required").to_string();
            assert!(err.contains("traces are required") && err.contains(&format!("calls = \"{calls}\"")), "{err}");
        }
        assert!(!d.needs_traces());
        assert!(matches!(d.matcher, Matcher::Call { internal: false, .. }));
    }

    #[test]
    fn an_internal_call_rule_catches_the_legacy_borrow_drain_through_traces() {
        use vigil_sim::scenario::{find, RunOptions, ScenarioRun};
        let opts = RunOptions { seed: 1, tracing: true, blocks: Some(150), ..Default::default() };
        let mut run = ScenarioRun::start(find("legacy-borrow-drain").expect("scenario"), opts).expect("starts");
        let market = run.venue.legacy_market;
        let body = |calls: &str| {
            format!(
                r#"
function = "borrow(uint256 amount)"
address = "{market}"
calls = "{calls}"
condition = "amount > 0 && msg.depth > 0"
actor = "msg.from"
stage = "exploitation"
kind = "exploit"
severity = "critical"
title = "{{group}} borrowed {{total}} times in {{window_blocks}} blocks"
[aggregate]
window_blocks = 50
group_by = "msg.from"
count = true
above = 10
"#
            )
        };
        let mut internal = rule(&body("internal"));
        let mut top = rule(&body("top"));
        let probes = BTreeSet::new();
        let mut findings = Vec::new();
        let mut first_malicious = None;
        let mut malicious_borrow_blocks = Vec::new();
        while let Some(block) = run.next_block(vec![]).expect("a block") {
            let bundle = run.chain.bundle(&block, &probes);
            assert!(bundle.traces.is_some(), "the run traces");
            if block.labels.iter().any(|l| l.malicious) {
                first_malicious.get_or_insert(block.number());
            }
            if block.labels.iter().any(|l| l.malicious && l.what.ends_with("borrow")) {
                malicious_borrow_blocks.push(block.number());
            }
            assert!(top.on_block(&bundle).expect("runs").is_empty(), "the borrows are internal calls");
            for f in internal.on_block(&bundle).expect("runs") {
                let i = bundle.transactions.iter().position(|t| Some(t.hash) == f.tx).expect("the finding's tx");
                assert!(block.labels[i].malicious, "the finding blames a malicious transaction");
                findings.push((block.number(), f, bundle.transactions[i].to));
            }
        }
        let window = run.attack_window().expect("the attack ran");
        assert_eq!(malicious_borrow_blocks.len(), 40, "40 borrows, one a block");
        assert_eq!(findings.len(), 1, "one finding per crossing: {findings:?}");
        let (at, f, drainer) = &findings[0];
        assert!(first_malicious.is_some_and(|m| *at > m), "silent on the benign blocks");
        assert_eq!(*at, malicious_borrow_blocks[10], "fires on the 11th borrow");
        assert!(*at < window.last, "before the attack's last block");
        assert_eq!(f.actor(), *drainer, "the drainer contract, which calls borrow");
        assert_eq!((f.scope.target, f.severity, f.kind), (market, Severity::Critical, FindingKind::Exploit));
        assert_eq!(f.evidence["aggregate"]["matches"], json!(11));
        assert_eq!(f.evidence["call"]["depth"], json!(1));
        assert!(f.title.ends_with("borrowed 11.0 times in 50 blocks"), "{}", f.title);
    }

    #[test]
    fn a_windowed_sum_forgets_reverted_blocks_and_fires_once_per_crossing() {
        let mut d = rule(
            r#"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
condition = "to == \"0x0000000000000000000000000000000000000002\""
[aggregate]
window_blocks = 3
group_by = "log.address"
sum = "value"
above = 100
"#,
        );
        let moved = |n: u64, fork: u8, values: &[u64]| {
            let mut t = tx(X, TOKEN);
            t.logs = values.iter().map(|v| transfer(TOKEN, X, Y, *v)).collect();
            // Not counted: another recipient.
            t.logs.push(transfer(TOKEN, Y, X, 1_000));
            simple(n, fork, &[t])
        };
        let totals = |fs: Vec<Finding>| -> Vec<f64> {
            fs.iter().map(|f| f.evidence["aggregate"]["total"].as_f64().expect("a total")).collect()
        };
        let b1 = moved(1, 0, &[60]);
        assert!(d.on_block(&b1).expect("runs").is_empty());
        let b2a = moved(2, 1, &[20, 30]);
        assert_eq!(totals(d.on_block(&b2a).expect("runs")), vec![110.0], "60 + 20 + 30 crosses 100 on the 30");
        d.revert_to(b1.block_ref());
        let b2b = moved(2, 2, &[45]);
        assert_eq!(totals(d.on_block(&b2b).expect("runs")), vec![105.0], "the orphaned block's 50 is forgotten");
        assert!(d.on_block(&moved(3, 0, &[])).expect("runs").is_empty(), "still above: no second finding");
        assert!(d.on_block(&moved(4, 0, &[])).expect("runs").is_empty(), "block 1 leaves the window: 45, re-armed");
        assert!(d.on_block(&moved(5, 0, &[70])).expect("runs").is_empty(), "blocks 3–5: 70");
        let again = d.on_block(&moved(6, 0, &[40])).expect("runs");
        assert_eq!(totals(again.clone()), vec![110.0], "re-armed, crosses again");
        assert_eq!(again[0].evidence["aggregate"]["group"], json!(addr_str(&TOKEN)));
        assert_eq!(again[0].evidence["aggregate"]["blocks_in_window"], json!(3));
        // Revert the crossing block: the group is armed again and the same block fires again.
        d.revert_to(moved(5, 0, &[70]).block_ref());
        assert_eq!(totals(d.on_block(&moved(6, 3, &[40])).expect("runs")), vec![110.0]);
    }

    #[test]
    fn a_probe_rule_declares_its_probe_and_reads_the_answer() {
        let vault = address!("0x00000000000000000000000000000000000000cc");
        let mut d = rule(
            r#"
probe = { to = "0x00000000000000000000000000000000000000cc", function = "totalAssets() returns (uint256 assets)" }
condition = "assets < 1e24 && ret[0] == assets && assets_str == \"500000000000000000000000\" && block.number == 7"
kind = "degraded"
title = "assets {assets_str}"
"#,
        );
        let probe = Probe { to: vault, data: Bytes::copy_from_slice(&keccak256("totalAssets()")[..4]) };
        assert_eq!(d.probes(), vec![probe.clone()]);
        let answer = |v: U256| [(probe.clone(), Ok(Bytes::from(v.to_be_bytes_vec())))].into_iter().collect();
        let low = U256::from(5u64) * U256::from(10u64).pow(U256::from(23u64));
        let fs = d.on_block(&block(7, 0, &[], answer(low))).expect("runs");
        assert_eq!(fs.len(), 1);
        assert_eq!(
            (fs[0].title.as_str(), fs[0].scope.target, fs[0].kind),
            ("assets 500000000000000000000000", vault, FindingKind::Degraded)
        );
        assert_eq!(fs[0].evidence["values"], json!({"assets": "500000000000000000000000"}));
        assert_eq!((fs[0].tx, fs[0].actor()), (None, None));
        assert!(d.on_block(&block(7, 1, &[], answer(low * U256::from(4u64)))).expect("runs").is_empty());
        let reverted = [(probe.clone(), Err(Bytes::new()))].into_iter().collect();
        assert!(d.on_block(&block(7, 2, &[], reverted)).expect("a reverted probe skips").is_empty());
        let e = d.on_block(&simple(7, 3, &[])).expect_err("a probe the engine did not read");
        assert!(e.to_string().contains("no answer to its probe"), "{e}");

        // With an argument.
        let d = rule(
            r#"
probe = { to = "0xdAC17F958D2ee523a2206206994597c13D831ec7", function = "balanceOf(address who) returns (uint256)", args = ["0x0000000000000000000000000000000000000001"] }
condition = "ret[0] > 0"
"#,
        );
        assert_eq!(d.probes()[0].data, Bytes::from(IERC20::balanceOfCall { account: X }.abi_encode()));
    }

    #[test]
    fn a_transaction_rule_catches_a_failed_expensive_transaction_from_a_fresh_sender() {
        let mut d = rule(r#"condition = "!tx.status && tx.gas_used > 500_000 && tx.nonce == 0""#);
        let t = |status: bool, nonce: u64, gas_used: u64| T { status, nonce, gas_used, ..tx(X, TOKEN) };
        let txs = [t(false, 0, 900_000), t(false, 3, 900_000), t(true, 0, 900_000), t(false, 0, 100_000)];
        let bundle = simple(5, 0, &txs);
        let fs = d.on_block(&bundle).expect("runs");
        assert_eq!(fs.iter().map(|f| f.tx).collect::<Vec<_>>(), vec![Some(bundle.transactions[0].hash)]);
        assert_eq!(fs[0].evidence["tx"]["status"], json!(false));

        let created = address!("0x00000000000000000000000000000000000000dd");
        let mut d = rule(r#"condition = "tx.created != \"\" && tx.to == \"\" && tx.value > 1000e18""#);
        let ether = U256::from(10u64).pow(U256::from(18u64));
        let deploy =
            |value: u64| T { to: None, created: Some(created), value: U256::from(value) * ether, ..tx(Y, TOKEN) };
        let bundle = simple(6, 0, &[deploy(1_500), deploy(999), tx(X, TOKEN)]);
        let fs = d.on_block(&bundle).expect("runs");
        assert_eq!(fs.len(), 1);
        assert_eq!((fs[0].tx, fs[0].scope.target), (Some(bundle.transactions[0].hash), created));
    }

    #[test]
    fn an_internal_call_rule_refuses_a_failed_trace() {
        let mut bundle = crate::testdata::mainnet_traced_block();
        let mut d = rule("function = \"transfer(address to, uint256 value)\"\ncalls = \"internal\"");
        assert!(d.on_block(&bundle).is_ok(), "the recorded traces read");
        bundle.traces.as_mut().expect("traced")[3] =
            alloy::rpc::types::trace::geth::TraceResult::Error { error: "execution timeout".into(), tx_hash: None };
        let e = d.on_block(&bundle).expect_err("a failed trace is not skipped");
        assert!(
            e.cause.to_string().contains("calls = \"internal\"")
                && e.cause.to_string().contains("#3")
                && e.cause.to_string().contains("execution timeout"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_rule_the_field_and_the_position() {
        let e = rule_err(
            r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
condition = "value > && to != from""#,
        );
        assert!(e.contains("\"test-rule\"") && e.contains("`condition`") && e.contains("line 1, position"), "{e}");
        let e = rule_err(
            r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
[aggregate]
window_blocks = 5
sum = "value *"
above = 1"#,
        );
        assert!(e.contains("\"test-rule\"") && e.contains("`aggregate.sum`"), "{e}");
        let e = rule_err(
            r#"condition = "true"
title = "sent {value +}""#,
        );
        assert!(e.contains("`title`"), "{e}");
        let e = rule_err(r#"condition = "eval(\"1\")""#);
        assert!(e.contains("`condition`") && e.contains("eval"), "{e}");
        let e = rule_err(r#"condition = "print(1)""#);
        assert!(e.contains("print"), "{e}");
        let e = rule_err(r#"condition = "[1, 2].map(|x| x * 2).len() > 1""#);
        assert!(e.contains("`condition`") && e.contains("closures"), "{e}");

        let e = rule_err(r#"event = "Transfer(address indexed from,, uint256 value)""#);
        assert!(e.contains("`event`") && e.contains("Transfer(address indexed from,, uint256 value)"), "{e}");
        let e = rule_err(r#"function = "borrow(uint257 amount)""#);
        assert!(e.contains("`function`") && e.contains("uint257"), "{e}");
        let e =
            rule_err(r#"probe = { to = "0x00000000000000000000000000000000000000cc", function = "totalAssets()" }"#);
        assert!(e.contains("`probe.function`") && e.contains("returns"), "{e}");

        let abi = format!("{}/../../contracts/out/LegacyMarket.json", env!("CARGO_MANIFEST_DIR"));
        rule(&format!("abi = \"{abi}\"\nfunction_name = \"borrow\"\ncondition = \"amount > 0\""));
        rule(&format!("abi = \"{abi}\"\nevent_name = \"Borrow\"\ncondition = \"account != \\\"\\\" && amount > 0\""));
        let e = rule_err(&format!("abi = \"{abi}\"\nfunction_name = \"borow\""));
        assert!(e.contains("LegacyMarket.json") && e.contains("`borow`") && e.contains("borrow(uint256)"), "{e}");
        let e = rule_err("abi = \"/nonexistent/abi.json\"\nevent_name = \"Transfer\"");
        assert!(e.contains("/nonexistent/abi.json"), "{e}");

        let e = rule_err(
            r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
[aggregate]
window_blocks = 5
sum = "value"
count = true
above = 1"#,
        );
        assert!(e.contains("`aggregate`") && e.contains("exactly one"), "{e}");
        let e = rule_err(
            r#"event = "Transfer(address,address,uint256)"
function = "transfer(address,uint256)""#,
        );
        assert!(e.contains("at most one"), "{e}");
        let unknown = toml::from_str::<RuleConfig>("name = \"r\"\nprotocol = \"p\"\nconditon = \"true\"");
        assert!(unknown.is_err_and(|e| e.to_string().contains("unknown field `conditon`")));
    }

    #[test]
    fn a_runtime_error_is_a_detector_error_naming_the_rule_and_block() {
        let mut a = tx(X, TOKEN);
        a.logs = vec![transfer(TOKEN, X, Y, 2_000)];
        let bundle = simple(42, 0, &[a]);
        let mut d = rule(
            r#"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
condition = "tx.nonce / 0 > 1"
"#,
        );
        let e = d.on_block(&bundle).expect_err("division by zero");
        assert_eq!((e.detector.as_str(), e.block.number), ("test-rule", 42));
        assert!(e.cause.to_string().contains("`condition`") && e.cause.to_string().contains("log 0"), "{e}");

        let mut d = rule(
            r#"
event = "Transfer(address indexed from, address indexed to, uint256 value)"
condition = "value"
"#,
        );
        let e = d.on_block(&bundle).expect_err("not a boolean");
        assert!(e.cause.to_string().contains("not a boolean"), "{e}");
    }

    /// Findings of `condition` as written (simple terms checked natively) and wrapped in parentheses (Rhai only).
    fn native_and_rhai(body: &str, condition: &str, bundle: &Bundle) -> (Vec<Finding>, Vec<Finding>) {
        let native = rule(&format!("{body}\ncondition = '{condition}'"));
        let rhai_only = rule(&format!("{body}\ncondition = '({condition})'"));
        let (n, r) = (native.eval.condition.as_ref(), rhai_only.eval.condition.as_ref());
        assert!(n.is_some_and(|c| !c.checks.is_empty()), "{condition}: some terms are native");
        assert!(r.is_some_and(|c| c.checks.is_empty()), "{condition}: nothing native");
        let (mut native, mut rhai_only) = (native, rhai_only);
        (native.on_block(bundle).expect("runs"), rhai_only.on_block(bundle).expect("runs"))
    }

    #[test]
    fn native_checks_agree_with_rhai() {
        let bundle = crate::testdata::mainnet_block(Default::default());
        let transfer = "event = \"Transfer(address indexed from, address indexed to, uint256 value)\"";
        let usdt = format!("{transfer}\naddress = \"{USDT}\"");
        let cases: [(&str, &str); 13] = [
            (&usdt, "value > 100e6"),
            (&usdt, "value >= 367500000 && from != to"),
            (&usdt, "value <= 367500000 && value < 1e9"),
            (&usdt, "value == 367500000"),
            (&usdt, "to == \"0x3cc936b795a188f0e246cbb2d74c5bd190aecf18\""),
            (&usdt, "to != \"0x3cC936b795A188F0e246cBB2D74C5Bd190aeCF18\""),
            (&usdt, "log.address == \"0xdac17f958d2ee523a2206206994597c13d831ec7\" && tx.nonce > 10"),
            (&usdt, "tx.status && !tx.status == false && tx.gas_used > 50_000"),
            (transfer, "arg2 > 1e18 && tx.to != \"\" && block.number == 18000000 && log.index < 100"),
            (transfer, "tx.value > 0 && tx.gas >= 100000"),
            ("", "tx.created != \"\" && tx.value >= 0"),
            ("", "tx.to == \"\" || tx.nonce == 0"),
            ("function = \"transfer(address to, uint256 value)\"\ncalls = \"top\"", "msg.depth == 0 && value > 1e6 && msg.to == \"0xdac17f958d2ee523a2206206994597c13d831ec7\" && !msg.reverted"),
        ];
        let mut fired = 0;
        for (body, condition) in cases {
            if condition.contains("||") {
                // Not split: an `||` at the top level leaves the whole condition to Rhai.
                let d = rule(&format!("{body}\ncondition = '{condition}'"));
                assert!(d.eval.condition.as_ref().is_some_and(|c| c.checks.is_empty() && !c.native_only));
                continue;
            }
            let (n, r) = native_and_rhai(body, condition, &bundle);
            let key =
                |fs: &[Finding]| fs.iter().map(|f| (f.tx, f.evidence.get("log_index").cloned())).collect::<Vec<_>>();
            assert_eq!(key(&n), key(&r), "{condition}");
            fired += n.len();
        }
        assert!(fired > 20, "the cases match something: {fired}");
    }

    #[test]
    fn one_word_decoding_agrees_with_alloys_log_decoder() {
        let bundle = crate::testdata::mainnet_block(Default::default());
        let d = rule("event = \"Transfer(address indexed from, address indexed to, uint256 value)\"");
        let Matcher::Event { event, words: Some(words), indexed, .. } = &d.matcher else { panic!("one-word types") };
        let mut checked = 0;
        for log in bundle.logs().filter(|l| l.topic0() == Some(&IERC20::Transfer::SIGNATURE_HASH)) {
            let Ok(decoded) = event.decode_log_data(log.data()) else { continue };
            let t = log.topics();
            let mut body = log.data().data.chunks(32);
            let fast: Vec<DynSolValue> = indexed
                .iter()
                .zip(words)
                .enumerate()
                .map(|(i, (ix, ty))| {
                    let w = if *ix { t[i + 1] } else { B256::from_slice(body.next().expect("a word")) };
                    word_value(ty, w)
                })
                .collect();
            assert_eq!(fast, [decoded.indexed, decoded.body].concat());
            checked += 1;
        }
        assert!(checked > 100);
        assert!(
            rule("event = \"Log(string message, uint256 n)\"").matcher_words().is_none(),
            "a string is not one word"
        );
    }

    #[test]
    fn alert_rules_stay_silent_on_a_mainnet_block_that_a_matching_rule_reads() {
        let bundle = crate::testdata::mainnet_block(Default::default());
        let alerts = [
            // USDC transfer above 50M.
            r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
condition = "value > 50e12""#,
            // USDT transfer above 100M.
            r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xdAC17F958D2ee523a2206206994597c13D831ec7"
condition = "value > 100e12""#,
            // A contract created with more than 1,000 ETH.
            r#"condition = "tx.created != \"\" && tx.value > 1000e18""#,
            // A failed transaction burning more than 5M gas from a fresh account.
            r#"condition = "!tx.status && tx.gas_used > 5_000_000 && tx.nonce == 0""#,
            // More than 20 approvals by one owner in 10 blocks.
            r#"event = "Approval(address indexed owner, address indexed spender, uint256 value)"
[aggregate]
window_blocks = 10
group_by = "owner"
count = true
above = 20"#,
            // More than 50,000 WETH moved out of one account in 10 blocks.
            r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
[aggregate]
window_blocks = 10
group_by = "from"
sum = "value"
above = 50000e18"#,
        ];
        for body in alerts {
            let fs = rule(body).on_block(&bundle).expect("runs");
            assert!(fs.is_empty(), "{body}: {fs:?}");
        }
        let weth_transfers = bundle
            .logs()
            .filter(|l| l.address() == WETH && l.topic0() == Some(&IERC20::Transfer::SIGNATURE_HASH))
            .count();
        assert_eq!(weth_transfers, 31);
        let counting = |above: u64| {
            rule(&format!(
                r#"event = "Transfer(address indexed from, address indexed to, uint256 value)"
address = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
[aggregate]
window_blocks = 1
count = true
above = {above}"#
            ))
            .on_block(&bundle)
            .expect("runs")
        };
        let fs = counting(30);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].evidence["aggregate"]["matches"], json!(31));
        assert!(counting(31).is_empty());
    }
}
