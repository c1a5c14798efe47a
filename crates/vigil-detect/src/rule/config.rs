//! A rule's configuration (serde; what the module documentation describes) and its build errors.

use super::*;

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

vigil_core::defaults! {
    pub(super) default_severity: Severity = Severity::High;
    pub(super) default_kind: FindingKind = FindingKind::Suspicious;
}

impl RuleConfig {
    /// Whether the rule reads call traces: a function rule (`function` or `function_name`) whose `calls` is
    /// `"internal"` or `"all"` (the default). Known from the configuration alone, without building the rule.
    pub fn needs_traces(&self) -> bool {
        (self.function.is_some() || self.function_name.is_some()) && self.calls != Some(CallSites::Top)
    }
}

pub(super) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Address>, D::Error> {
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
