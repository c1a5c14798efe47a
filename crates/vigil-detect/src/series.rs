//! Statistical detectors on any probe series: a number read every block by an `eth_call` (a vault's total
//! assets, a share price, a spot price, a collateral ratio), judged by one of five methods.
//!
//! # The series
//!
//! A [`SeriesSpec`] is either a **call** or a **ratio** of two series:
//!
//! - call: `{ to = "0x…", function = "totalAssets() returns (uint256)", output = 0, decimals = 18, args = [] }`:
//!   `to`, `function` and `args` are the probe declaration every state-reading detector shares ([`crate::probe`]:
//!   a signature with its return types, arguments as strings, integers or booleans coerced to the input types,
//!   compiled once at construction); `output` (default 0) picks a return value, counted after flattening tuples
//!   and fixed arrays depth-first (so `market(uint256) returns ((address,uint8),uint256,uint256)` has outputs
//!   0..=3); it must be an integer or a bool. The value is `raw / 10^decimals` (default 0 decimals).
//! - ratio: `{ numerator = <series>, denominator = <series> }` (share price = totalAssets / totalSupply,
//!   collateral / debt, spot = quote reserve / base reserve). A zero denominator leaves the block undefined.
//!
//! A probe absent from the bundle, or one that reverted, or whose data does not decode, is a [`DetectorError`]
//! naming the detector, the block and the probe; never a silent skip. With `skip_reverts = true` (default
//! false; for views that revert in legitimate states, e.g. an empty vault) a reverting probe leaves the block
//! undefined instead. An **undefined** block (zero denominator, skipped revert, a log return of a non-positive
//! value) teaches the detector nothing: its state is carried over unchanged (and a reference-deviation run is
//! broken).
//!
//! # The methods
//!
//! Every detector has `name`, `protocol`, `scope = { target = "0x…", id = N }` (the Guardian scope its findings
//! are about; `id` defaults to 0, the whole contract), `severity`, `series`, `skip_reverts`. Transforms
//! (`transform`): `"level"` y = x_t, `"diff"` y = x_t − x_{t−1}, `"log-return"` y = ln(x_t / x_{t−1}).
//! EWMA with decay λ: d = y − μ; μ ← μ + (1 − λ)·d; v ← λ·(v + (1 − λ)·d²); the variance is bias-corrected,
//! sd = √(v / (1 − λⁿ)) after n updates; the first sample sets μ = y.
//!
//! 1. **`ewma-zscore`** ([`EwmaZscoreDetector`]): z = (y − μ) / sd against the EWMA of the previous blocks; a block
//!    is suspicious when, after `warmup_blocks` samples, |z| > `max_zscore` **and** the move is not tiny:
//!    |y − μ| ≥ `min_abs_change` and the relative move (|x_t − x_{t−1}| / |x_{t−1}| for diff and log-return,
//!    |x_t − μ| / |μ| for level) ≥ `min_change_bps` / 10⁴. Without that floor, a quiet series (variance ≈ 0)
//!    alarms on its first rounding-error move. The EWMA absorbs every sample, spikes included. Defaults:
//!    transform "diff", lambda 0.97, warmup_blocks 30, max_zscore 8, min_abs_change 0, min_change_bps 10;
//!    severity medium, kind suspicious. Evidence: value, previous, transformed, mean, sd, zscore, max_zscore,
//!    change_bps, samples.
//! 2. **`cusum`** ([`CusumDetector`]): Page's two-sided CUSUM on the standardized series z = (y − μ) / sd (sd
//!    floored at `min_sd` and at `min_sd_bps` / 10⁴ of the level: |μ| for level, |x_{t−1}| for diff, 1 for log
//!    return): S⁺ ← max(0, S⁺ + z − k), S⁻ ← max(0, S⁻ − z − k); an alarm when S⁺ > h or S⁻ > h after
//!    `warmup_blocks`. The EWMA (μ, sd) is frozen while the CUSUM is engaged (max(S⁺, S⁻) > h / 2), so a step
//!    does not inflate its own yardstick; after an alarm S⁺ = S⁻ = 0, μ restarts at the new level (sd kept) and
//!    the detector warms up again (one finding per change point). Defaults: transform "level", lambda 0.97,
//!    warmup_blocks 30, k 0.5, h 8, min_sd 0, min_sd_bps 10; severity medium, kind suspicious. Evidence:
//!    value, transformed, mean, sd, zscore, s_high, s_low, k, h, direction.
//! 3. **`reference-deviation`** ([`ReferenceDeviationDetector`]): deviation = (x / r − 1) · 10⁴ bps against a
//!    `reference` series r (AMM spot vs a Chainlink feed; a vault's exchange rate vs an oracle); a finding
//!    when |deviation| > `max_deviation_bps` for `persist_blocks` consecutive blocks (and every block after, while
//!    it lasts). A non-positive reference leaves the block undefined. Defaults: max_deviation_bps 1_000,
//!    persist_blocks 1; severity high, kind exploit. Evidence: value, reference, deviation_bps,
//!    max_deviation_bps, consecutive_blocks, persist_blocks.
//! 4. **`ratio-bounds`** ([`RatioBoundsDetector`]): the series must stay within [lower, upper], where lower is
//!    the larger of `min` and `min_relative` × the first value the detector saw ("start"), upper the smaller of
//!    `max` and `max_relative` × start; at least one bound is required. A finding every block outside. Defaults:
//!    no bounds; severity high, kind degraded (`kind` may be set, e.g. "exploit"). Evidence: value, start, lower,
//!    upper, min, max, min_relative, max_relative.
//! 5. **`jump`** ([`JumpDetector`]): change = (x_t / x_{t−1} − 1) · 10⁴ bps (relative to |x_{t−1}|; no change is
//!    measured from 0); a finding when |change| > `max_jump_bps` in the watched `direction` ("both", "up",
//!    "down") and |x_t − x_{t−1}| ≥ `min_abs_change`. Share-price inflation and donation attacks (Euler-style)
//!    move a share price or exchange rate more in one block than months of interest do. Defaults:
//!    max_jump_bps 100, direction "both", min_abs_change 0; severity high, kind exploit. Evidence: value,
//!    previous, change_bps, max_jump_bps, direction.
//!
//! State is kept per block (for the source's reorg depth: `crate::history`), so `revert_to` restores exactly the
//! state after the ancestor; a block processed twice (a retry) replaces its first result.
//!
//! # Configuration
//!
//! Each method is its own detector kind in the registry ([`crate::DetectorConfig`]). Examples (on the reference
//! venue):
//!
//! ```toml
//! # The WETH/vUSD pair's spot (vUSD per WETH: token0 is vUSD), which the margin pool's market 2 prices from.
//! [[detector]]
//! type = "ewma-zscore"
//! name = "pair-spot-zscore"
//! protocol = "venue"
//! scope = { target = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", id = 2 }
//! series.numerator = { to = "0x8A791620dd6260079BF849Dc5567aDC3F2FdC318", function = "getReserves() returns (uint112, uint112, uint32)", output = 0, decimals = 6 }
//! series.denominator = { to = "0x8A791620dd6260079BF849Dc5567aDC3F2FdC318", function = "getReserves() returns (uint112, uint112, uint32)", output = 1, decimals = 18 }
//! transform = "log-return"   # default "diff"
//! lambda = 0.97              # default 0.97
//! warmup_blocks = 30         # default 30
//! max_zscore = 8.0           # default 8
//! min_change_bps = 10        # default 10
//!
//! # The legacy market's utilisation (debt over deposits): flat at 0 while it winds down.
//! [[detector]]
//! type = "cusum"
//! name = "legacy-utilisation-cusum"
//! protocol = "venue"
//! scope = { target = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82" }
//! series.numerator = { to = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", function = "totalDebt() returns (uint256)", decimals = 6 }
//! series.denominator = { to = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", function = "totalDeposits() returns (uint256)", decimals = 6 }
//! k = 0.5                    # default 0.5
//! h = 8.0                    # default 8
//! min_sd = 0.01              # default 0: here, utilisation moves under 1 point are noise
//!
//! [[detector]]
//! type = "reference-deviation"
//! name = "pair-spot-vs-feed"
//! protocol = "venue"
//! scope = { target = "0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0", id = 2 }
//! series.numerator = { to = "0x8A791620dd6260079BF849Dc5567aDC3F2FdC318", function = "getReserves() returns (uint112, uint112, uint32)", output = 0, decimals = 6 }
//! series.denominator = { to = "0x8A791620dd6260079BF849Dc5567aDC3F2FdC318", function = "getReserves() returns (uint112, uint112, uint32)", output = 1, decimals = 18 }
//! reference = { to = "0xa513E6E4b8f2a923D98304ec87F64353C4D5C853", function = "latestRoundData() returns (uint80, int256, uint256, uint256, uint80)", output = 1, decimals = 8 }
//! max_deviation_bps = 1000   # default 1_000
//! persist_blocks = 1         # default 1
//!
//! # The legacy market's lenders' cash coverage (cash over deposits).
//! [[detector]]
//! type = "ratio-bounds"
//! name = "legacy-market-cash-coverage"
//! protocol = "venue"
//! scope = { target = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82" }
//! series.numerator = { to = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", function = "cash() returns (uint256)", decimals = 6 }
//! series.denominator = { to = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", function = "totalDeposits() returns (uint256)", decimals = 6 }
//! min_relative = 0.98        # never below 98 % of its value at start
//! kind = "exploit"           # default "degraded"
//! severity = "critical"      # default "high"
//!
//! [[detector]]
//! type = "jump"
//! name = "legacy-cash-coverage-jump"
//! protocol = "venue"
//! scope = { target = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82" }
//! series.numerator = { to = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", function = "cash() returns (uint256)", decimals = 6 }
//! series.denominator = { to = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", function = "totalDeposits() returns (uint256)", decimals = 6 }
//! max_jump_bps = 300         # default 100; cash coverage is not a share price: borrows move it
//! direction = "both"         # default "both"
//! ```

use std::collections::BTreeSet;

use alloy::{
    dyn_abi::{DynSolType, DynSolValue, FunctionExt, Specifier},
    json_abi::Function,
    primitives::{Address, I256},
};
use serde::Deserialize;
use vigil_core::{
    BlockRef, Bundle, Detector, DetectorCause, DetectorError, Finding, FindingKind, Probe, Scope, Severity,
};

use crate::ewma::Ewma;
use crate::history::History;
use crate::registry::{BuildContext, BuildError, ConfigIssue, DetectorKind, Registered};
use crate::watch::ScopeRef;

// ------------------------------------------------------------------------------------------------ errors

/// A series detector's configuration is invalid; every variant names the detector and the field.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// A function signature does not parse.
    #[error("detector \"{detector}\": {field}: cannot parse the signature `{signature}`: {reason}")]
    Signature {
        /// Detector name.
        detector: String,
        /// Field path (`series.numerator.function`).
        field: String,
        /// The signature given.
        signature: String,
        /// Parser message.
        reason: String,
    },
    /// An argument does not match its parameter, or the count is wrong.
    #[error("detector \"{detector}\": {field}: {reason}")]
    Argument {
        /// Detector name.
        detector: String,
        /// Field path (`series.args`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// `output` does not name a numeric return value.
    #[error("detector \"{detector}\": {field}: {reason}")]
    Output {
        /// Detector name.
        detector: String,
        /// Field path (`series.output`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A series is neither a call nor a ratio, or mixes both.
    #[error("detector \"{detector}\": {field}: {reason}")]
    Shape {
        /// Detector name.
        detector: String,
        /// Field path (`series`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A parameter is out of range.
    #[error("detector \"{detector}\": {field}: {reason}")]
    Parameter {
        /// Detector name.
        detector: String,
        /// The parameter.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl SeriesError {
    /// The error as an issue of detector `detector`'s configuration, at its field.
    fn issue(&self, detector: &str) -> ConfigIssue {
        let (Self::Signature { field, .. }
        | Self::Argument { field, .. }
        | Self::Output { field, .. }
        | Self::Shape { field, .. }
        | Self::Parameter { field, .. }) = self;
        let message = self.to_string();
        let prefix = format!("detector \"{detector}\": ");
        ConfigIssue::new(field, message.strip_prefix(&prefix).unwrap_or(&message))
    }
}

// ------------------------------------------------------------------------------------------------ series

/// A value read every block: a call (`to`, `function`, `output`, `decimals`, `args`) or a ratio (`numerator`,
/// `denominator`). See the module documentation.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SeriesSpec {
    /// Call: the contract called.
    #[serde(default)]
    pub to: Option<Address>,
    /// Call: the signature with return types, e.g. `totalAssets() returns (uint256)`.
    #[serde(default)]
    pub function: Option<String>,
    /// Call: index of the return value, after flattening tuples. Default 0.
    #[serde(default)]
    pub output: Option<usize>,
    /// Call: the value is `raw / 10^decimals`. Default 0.
    #[serde(default)]
    pub decimals: Option<u8>,
    /// Call: arguments, one per input, as in every probe declaration (`crate::probe`). Default none.
    #[serde(default)]
    pub args: Option<Vec<crate::probe::ProbeArg>>,
    /// Ratio: the numerator.
    #[serde(default)]
    pub numerator: Option<Box<SeriesSpec>>,
    /// Ratio: the denominator.
    #[serde(default)]
    pub denominator: Option<Box<SeriesSpec>>,
}

/// A compiled call.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    probe: Probe,
    function: Function,
    output: usize,
    scale: f64,
    /// `name(args)`.
    short: String,
    /// `` `name(args)` on 0x… ``, for errors.
    label: String,
}

/// A compiled series.
#[derive(Debug, Clone)]
pub(crate) enum Series {
    Call(Box<Call>),
    Ratio(Box<Series>, Box<Series>),
}

/// The flattened (tuples and fixed arrays expanded) leaf types of `ty`.
fn type_leaves(ty: &DynSolType, out: &mut Vec<DynSolType>) {
    match ty {
        DynSolType::Tuple(items) => items.iter().for_each(|t| type_leaves(t, out)),
        DynSolType::FixedArray(inner, n) => (0..*n).for_each(|_| type_leaves(inner, out)),
        other => match other.as_custom_struct() {
            Some((_, _, items)) => items.iter().for_each(|t| type_leaves(t, out)),
            None => out.push(other.clone()),
        },
    }
}

/// The flattened leaf values of `v`, in the same order as [`type_leaves`].
fn value_leaves<'a>(v: &'a DynSolValue, out: &mut Vec<&'a DynSolValue>) {
    match v {
        DynSolValue::Tuple(items) | DynSolValue::FixedArray(items) => items.iter().for_each(|x| value_leaves(x, out)),
        other => match other.as_custom_struct() {
            Some((_, _, items)) => items.iter().for_each(|x| value_leaves(x, out)),
            None => out.push(other),
        },
    }
}

/// `name(types) returns (types)`.
fn full_signature(f: &Function) -> String {
    let outputs: Vec<String> = f.outputs.iter().map(|p| p.selector_type().into_owned()).collect();
    format!("{} returns ({})", f.signature(), outputs.join(", "))
}

fn u256_f64(u: alloy::primitives::U256) -> f64 {
    f64::from(u)
}

fn i256_f64(i: I256) -> f64 {
    let (sign, abs) = i.into_sign_and_abs();
    let v = u256_f64(abs);
    if sign.is_negative() {
        -v
    } else {
        v
    }
}

fn numeric(v: &DynSolValue) -> Option<f64> {
    if let Some((u, _)) = v.as_uint() {
        return Some(u256_f64(u));
    }
    if let Some((i, _)) = v.as_int() {
        return Some(i256_f64(i));
    }
    v.as_bool().map(|b| if b { 1.0 } else { 0.0 })
}

impl Series {
    pub(crate) fn compile(spec: &SeriesSpec, detector: &str, field: &str) -> Result<Series, SeriesError> {
        let shape = |reason: String| SeriesError::Shape { detector: detector.into(), field: field.into(), reason };
        let is_call = spec.to.is_some()
            || spec.function.is_some()
            || spec.output.is_some()
            || spec.decimals.is_some()
            || spec.args.is_some();
        let is_ratio = spec.numerator.is_some() || spec.denominator.is_some();
        match (is_call, is_ratio) {
            (true, true) => Err(shape(
                "a series is either a call (to, function, output, decimals, args) or a ratio (numerator, \
                 denominator), not both"
                    .into(),
            )),
            (false, false) => Err(shape(
                "expected a call (to, function, output, decimals, args) or a ratio (numerator, denominator)".into(),
            )),
            (false, true) => {
                let (Some(n), Some(d)) = (&spec.numerator, &spec.denominator) else {
                    return Err(shape("a ratio needs both `numerator` and `denominator`".into()));
                };
                Ok(Series::Ratio(
                    Box::new(Series::compile(n, detector, &format!("{field}.numerator"))?),
                    Box::new(Series::compile(d, detector, &format!("{field}.denominator"))?),
                ))
            }
            (true, false) => {
                let to = spec.to.ok_or_else(|| shape("a call needs `to`".into()))?;
                let signature = spec.function.as_deref().ok_or_else(|| shape("a call needs `function`".into()))?;
                let args = spec.args.clone().unwrap_or_default();
                let compiled = crate::probe::compile(to, signature, &args).map_err(|e| match e {
                    crate::probe::ProbeError::Function(reason) => SeriesError::Signature {
                        detector: detector.into(),
                        field: format!("{field}.function"),
                        signature: signature.into(),
                        reason,
                    },
                    crate::probe::ProbeError::Args(reason) => {
                        SeriesError::Argument { detector: detector.into(), field: format!("{field}.args"), reason }
                    }
                })?;
                let function = compiled.function;
                let mut leaves = Vec::new();
                for p in &function.outputs {
                    let ty = p.resolve().map_err(|e| SeriesError::Signature {
                        detector: detector.into(),
                        field: format!("{field}.function"),
                        signature: signature.into(),
                        reason: e.to_string(),
                    })?;
                    type_leaves(&ty, &mut leaves);
                }
                let output = spec.output.unwrap_or(0);
                let out_err = |reason: String| SeriesError::Output {
                    detector: detector.into(),
                    field: format!("{field}.output"),
                    reason,
                };
                let Some(ty) = leaves.get(output) else {
                    return Err(out_err(format!(
                        "`{}` has {} return value(s) (after flattening tuples), so output {output} does not exist",
                        full_signature(&function),
                        leaves.len()
                    )));
                };
                if !matches!(ty, DynSolType::Uint(_) | DynSolType::Int(_) | DynSolType::Bool) {
                    return Err(out_err(format!(
                        "return value {output} of `{}` is a {}, not an integer or a bool",
                        full_signature(&function),
                        ty.sol_type_name()
                    )));
                }
                let short = format!(
                    "{}({})",
                    function.name,
                    args.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                );
                let label = format!("`{short}` on {to}");
                Ok(Series::Call(Box::new(Call {
                    probe: compiled.probe,
                    function,
                    output,
                    scale: 10f64.powi(spec.decimals.unwrap_or(0) as i32),
                    short,
                    label,
                })))
            }
        }
    }

    pub(crate) fn probes(&self, out: &mut BTreeSet<Probe>) {
        match self {
            Series::Call(c) => {
                out.insert(c.probe.clone());
            }
            Series::Ratio(n, d) => {
                n.probes(out);
                d.probes(out);
            }
        }
    }

    /// The value at this block; `Ok(None)` when undefined (zero denominator, a skipped revert).
    pub(crate) fn eval(&self, bundle: &Bundle, skip_reverts: bool) -> Result<Option<f64>, DetectorCause> {
        match self {
            Series::Call(c) => match bundle.probes.get(&c.probe) {
                None => Err(DetectorCause::MissingInput(format!("probe {} was not read at this block", c.label))),
                Some(Err(_)) if skip_reverts => Ok(None),
                Some(Err(revert)) => Err(DetectorCause::Data(format!("probe {} reverted with {revert}", c.label))),
                Some(Ok(data)) => {
                    let values = c.function.abi_decode_output(data).map_err(|e| {
                        DetectorCause::Data(format!(
                            "probe {} returned {} bytes that do not decode: {e}",
                            c.label,
                            data.len()
                        ))
                    })?;
                    let mut leaves = Vec::new();
                    values.iter().for_each(|v| value_leaves(v, &mut leaves));
                    let raw = leaves.get(c.output).and_then(|v| numeric(v)).ok_or_else(|| {
                        DetectorCause::Data(format!("probe {} has no numeric output {}", c.label, c.output))
                    })?;
                    Ok(Some(raw / c.scale))
                }
            },
            Series::Ratio(n, d) => {
                let n = n.eval(bundle, skip_reverts)?;
                let d = d.eval(bundle, skip_reverts)?;
                Ok(match (n, d) {
                    (Some(n), Some(d)) if d != 0.0 => Some(n / d),
                    _ => None,
                })
            }
        }
    }

    /// A short description: `totalAssets() / totalSupply()`.
    fn describe(&self) -> String {
        match self {
            Series::Call(c) => c.short.clone(),
            Series::Ratio(n, d) => format!("{} / {}", n.describe(), d.describe()),
        }
    }
}

// ------------------------------------------------------------------------------------------------ shared config

/// What the statistical detectors look at.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    /// The value itself.
    Level,
    /// Its change since the previous block.
    Diff,
    /// The log of its ratio to the previous block's value.
    LogReturn,
}

impl Transform {
    fn apply(self, previous: Option<f64>, x: f64) -> Option<f64> {
        match self {
            Transform::Level => Some(x),
            Transform::Diff => previous.map(|p| x - p),
            Transform::LogReturn => previous.filter(|p| *p > 0.0 && x > 0.0).map(|p| (x / p).ln()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Transform::Level => "level",
            Transform::Diff => "diff",
            Transform::LogReturn => "log-return",
        }
    }
}

/// Which way a jump counts.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Up or down.
    #[default]
    Both,
    /// Up only.
    Up,
    /// Down only.
    Down,
}

vigil_core::defaults! {
    default_transform_diff: Transform = Transform::Diff;
    default_transform_level: Transform = Transform::Level;
    default_max_z: f64 = 8.0;
    default_min_change_bps: f64 = 10.0;
    default_k: f64 = 0.5;
    default_h: f64 = 8.0;
    default_min_sd_bps: f64 = 10.0;
    default_max_deviation_bps: f64 = 1_000.0;
    default_persist: u64 = 1;
    default_max_jump_bps: f64 = 100.0;
    default_medium: Severity = Severity::Medium;
    default_high: Severity = Severity::High;
    default_degraded: FindingKind = FindingKind::Degraded;
}

/// `ewma-zscore`: z-score of the series' per-block change against an EWMA of its mean and variance.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EwmaZscoreConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The Guardian scope the findings are about.
    pub scope: ScopeRef,
    /// The series.
    pub series: SeriesSpec,
    /// "level", "diff" or "log-return". Default "diff".
    #[serde(default = "default_transform_diff")]
    pub transform: Transform,
    /// EWMA decay per block, in (0, 1). Default 0.97.
    #[serde(default = "crate::ewma::default_lambda")]
    pub lambda: f64,
    /// Samples before z-scores are reported. Default 30.
    #[serde(default = "crate::ewma::default_warmup")]
    pub warmup_blocks: u64,
    /// |z| beyond which a block is reported. Default 8 (returns are heavy-tailed: 6 fired on ordinary swaps on the proving ground).
    #[serde(default = "default_max_z")]
    pub max_zscore: f64,
    /// Smallest |y − mean| reported, in transformed units. Default 0.
    #[serde(default)]
    pub min_abs_change: f64,
    /// Smallest relative move reported, in basis points of the previous value (of the mean for "level").
    /// Default 10 (0.1 %).
    #[serde(default = "default_min_change_bps")]
    pub min_change_bps: f64,
    /// Treat a reverting probe as an undefined block instead of an error. Default false.
    #[serde(default)]
    pub skip_reverts: bool,
    /// Severity of a finding. Default medium.
    #[serde(default = "default_medium")]
    pub severity: Severity,
}

/// `cusum`: two-sided CUSUM change point on the standardized series.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CusumConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The Guardian scope the findings are about.
    pub scope: ScopeRef,
    /// The series.
    pub series: SeriesSpec,
    /// "level", "diff" or "log-return". Default "level".
    #[serde(default = "default_transform_level")]
    pub transform: Transform,
    /// EWMA decay per block of the baseline, in (0, 1). Default 0.97.
    #[serde(default = "crate::ewma::default_lambda")]
    pub lambda: f64,
    /// Samples before the CUSUM runs, and again after each alarm. Default 30.
    #[serde(default = "crate::ewma::default_warmup")]
    pub warmup_blocks: u64,
    /// Drift (slack) per block, in standard deviations. Default 0.5.
    #[serde(default = "default_k")]
    pub k: f64,
    /// Alarm threshold of either sum, in standard deviations. Default 8.
    #[serde(default = "default_h")]
    pub h: f64,
    /// Floor of the standard deviation, in transformed units. Default 0.
    #[serde(default)]
    pub min_sd: f64,
    /// Floor of the standard deviation in basis points of the level (|mean| for "level", the previous value for
    /// "diff", 1 for "log-return"). Default 10.
    #[serde(default = "default_min_sd_bps")]
    pub min_sd_bps: f64,
    /// Treat a reverting probe as an undefined block instead of an error. Default false.
    #[serde(default)]
    pub skip_reverts: bool,
    /// Severity of a finding. Default medium.
    #[serde(default = "default_medium")]
    pub severity: Severity,
}

/// `reference-deviation`: the series against a reference series.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReferenceDeviationConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The Guardian scope the findings are about.
    pub scope: ScopeRef,
    /// The series.
    pub series: SeriesSpec,
    /// The reference it should follow.
    pub reference: SeriesSpec,
    /// Largest tolerated |series / reference − 1|, in basis points. Default 1_000.
    #[serde(default = "default_max_deviation_bps")]
    pub max_deviation_bps: f64,
    /// Consecutive blocks beyond the limit before a finding. Default 1.
    #[serde(default = "default_persist")]
    pub persist_blocks: u64,
    /// Treat a reverting probe as an undefined block instead of an error. Default false.
    #[serde(default)]
    pub skip_reverts: bool,
    /// Severity of a finding. Default high.
    #[serde(default = "default_high")]
    pub severity: Severity,
}

/// `ratio-bounds`: the series must stay within bounds.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RatioBoundsConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The Guardian scope the findings are about.
    pub scope: ScopeRef,
    /// The series.
    pub series: SeriesSpec,
    /// Lowest value allowed. Default none.
    #[serde(default)]
    pub min: Option<f64>,
    /// Highest value allowed. Default none.
    #[serde(default)]
    pub max: Option<f64>,
    /// Lowest value allowed, as a multiple of the first value seen. Default none.
    #[serde(default)]
    pub min_relative: Option<f64>,
    /// Highest value allowed, as a multiple of the first value seen. Default none.
    #[serde(default)]
    pub max_relative: Option<f64>,
    /// Treat a reverting probe as an undefined block instead of an error. Default false.
    #[serde(default)]
    pub skip_reverts: bool,
    /// Severity of a finding. Default high.
    #[serde(default = "default_high")]
    pub severity: Severity,
    /// Kind of a finding. Default degraded (as a solvency breach); "exploit" lets a policy pause on it.
    #[serde(default = "default_degraded")]
    pub kind: FindingKind,
}

/// `jump`: a sudden per-block relative change.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JumpConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The Guardian scope the findings are about.
    pub scope: ScopeRef,
    /// The series.
    pub series: SeriesSpec,
    /// Largest tolerated change in one block, in basis points of the previous value. Default 100 (1 %).
    #[serde(default = "default_max_jump_bps")]
    pub max_jump_bps: f64,
    /// "both", "up" or "down". Default "both".
    #[serde(default)]
    pub direction: Direction,
    /// Smallest absolute change reported (guards series near zero). Default 0.
    #[serde(default)]
    pub min_abs_change: f64,
    /// Treat a reverting probe as an undefined block instead of an error. Default false.
    #[serde(default)]
    pub skip_reverts: bool,
    /// Severity of a finding. Default high.
    #[serde(default = "default_high")]
    pub severity: Severity,
}

/// Makes a method's configuration a detector kind of the registry (`crate::registry`): what every series
/// configuration has (`name`, `protocol`, `scope`, `severity`, `skip_reverts`, `series`), the ranges of its numeric
/// parameters (`[Check field, …]`, see [`Check`]), its validation and build, and its conformance case: the module
/// documentation's example of the kind, on `blocks` of `scenario`.
macro_rules! series_kind {
    ($config:ty, [$($check:ident $field:ident),*], $scenario:literal, $blocks:literal) => {
        impl Configured for $config {
            fn shared(&self) -> Shared<'_> {
                Shared {
                    name: &self.name,
                    protocol: &self.protocol,
                    scope: self.scope,
                    severity: self.severity,
                    skip_reverts: self.skip_reverts,
                    series: &self.series,
                }
            }

            fn ranges(&self) -> Vec<(&'static str, String)> {
                Check::failing(&[$(Check::$check(stringify!($field), self.$field)),*])
            }
        }

        impl DetectorKind for $config {
            fn validate(&self) -> Vec<ConfigIssue> {
                issues(self)
            }

            fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
                Ok(Box::new(SeriesDetector::new(self.clone())?.with_reorg_depth(ctx.reorg_depth)))
            }
        }

        #[cfg(test)]
        crate::conformance::case!($config, "series.rs", $scenario, $blocks, || {
            tests::mainnet_case(<$config as crate::registry::Registered>::TYPE)
        });
    };
}

series_kind!(EwmaZscoreConfig, [Decay lambda, Positive max_zscore, NonNegative min_abs_change, NonNegative min_change_bps], "spot-pump", 130);
series_kind!(CusumConfig, [Decay lambda, NonNegative k, FinitePositive h, NonNegative min_sd, NonNegative min_sd_bps], "legacy-borrow-drain", 141);
series_kind!(ReferenceDeviationConfig, [NonNegative max_deviation_bps], "spot-pump", 130);
series_kind!(RatioBoundsConfig, [], "legacy-borrow-drain", 141);
series_kind!(JumpConfig, [NonNegative max_jump_bps, NonNegative min_abs_change], "euler-donation", 130);

/// Every error of a series configuration, each at its key: parameters out of range, the method's own rules, and
/// the first error of each series (`series`, `reference`).
fn issues<M: Method>(cfg: &M) -> Vec<ConfigIssue> {
    let shared = cfg.shared();
    let mut issues: Vec<ConfigIssue> = (cfg.ranges().into_iter().chain(cfg.rules()))
        .map(|(field, reason)| ConfigIssue::new(field, format!("{field}: {reason}")))
        .collect();
    for (field, spec) in [("series", Some(shared.series)), ("reference", cfg.reference())] {
        if let Some(Err(e)) = spec.map(|spec| Series::compile(spec, shared.name, field)) {
            issues.push(e.issue(shared.name));
        }
    }
    issues
}

// ------------------------------------------------------------------------------------------------ shared machinery

/// A finding's title and evidence, as a method's statistic makes it.
type Found = (String, serde_json::Value);

/// What every series configuration has, borrowed.
struct Shared<'a> {
    name: &'a String,
    protocol: &'a String,
    scope: ScopeRef,
    severity: Severity,
    skip_reverts: bool,
    series: &'a SeriesSpec,
}

/// What `series_kind!` gives each configuration: its shared keys and the ranges of its numeric parameters.
trait Configured {
    /// The keys every series configuration has.
    fn shared(&self) -> Shared<'_>;

    /// Each numeric parameter out of its range: (field, what is wrong).
    fn ranges(&self) -> Vec<(&'static str, String)>;
}

/// What each method supplies to [`SeriesDetector`]: its findings' kind, its rules, the state it keeps per block,
/// and its statistic. Implemented by the five configurations; private, so that the set of methods is this module's.
trait Method: Configured + Registered + Send {
    /// What the method remembers after a block.
    type State: Clone + Default + PartialEq + std::fmt::Debug + Send;

    /// The kind of the method's findings.
    fn kind(&self) -> FindingKind;

    /// The series the value is judged against, for a method with a reference.
    fn reference(&self) -> Option<&SeriesSpec> {
        None
    }

    /// Each rule of the method's parameters that the ranges do not say, broken: (field, what is wrong).
    fn rules(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Reads the value `x` of a defined block (and the reference's value, for a method with a reference).
    fn step(&self, core: &Core, state: &mut Self::State, x: f64, reference: Option<f64>) -> Option<Found>;

    /// An undefined block: by default it teaches the method nothing.
    fn undefined(&self, _state: &mut Self::State) {}
}

/// A series detector: the machinery every method shares (reading the series at each block, undefined blocks and
/// `skip_reverts`, the state kept per block, `revert_to`, the finding) around the statistic of method `M` (one of
/// the configurations). Named by method: [`EwmaZscoreDetector`], [`CusumDetector`], [`ReferenceDeviationDetector`],
/// [`RatioBoundsDetector`], [`JumpDetector`].
#[allow(private_bounds)] // `Method` is sealed in this module: only its five configurations implement it.
pub struct SeriesDetector<M: Method> {
    cfg: M,
    core: Core,
    /// The method's state after each recent block.
    history: History<M::State>,
}

/// The `ewma-zscore` detector.
pub type EwmaZscoreDetector = SeriesDetector<EwmaZscoreConfig>;
/// The `cusum` detector.
pub type CusumDetector = SeriesDetector<CusumConfig>;
/// The `reference-deviation` detector.
pub type ReferenceDeviationDetector = SeriesDetector<ReferenceDeviationConfig>;
/// The `ratio-bounds` detector.
pub type RatioBoundsDetector = SeriesDetector<RatioBoundsConfig>;
/// The `jump` detector.
pub type JumpDetector = SeriesDetector<JumpConfig>;

#[allow(private_bounds)]
impl<M: Method> SeriesDetector<M> {
    /// A detector from its configuration (the signatures parsed, the parameters checked).
    pub fn new(cfg: M) -> Result<Self, SeriesError> {
        let core = Core::compile(&cfg)?;
        if let Some((field, reason)) = cfg.ranges().into_iter().chain(cfg.rules()).next() {
            return Err(core.param(field, reason));
        }
        Ok(Self { cfg, core, history: History::new(1) })
    }

    /// The same detector, its state kept `reorg_depth` blocks deep (the source's).
    pub fn with_reorg_depth(mut self, reorg_depth: u64) -> Self {
        self.history = self.history.with_reorg_depth(reorg_depth);
        self
    }
}

#[allow(private_bounds)]
impl<M: Method> Detector for SeriesDetector<M> {
    fn name(&self) -> &str {
        &self.core.name
    }

    fn probes(&self) -> Vec<Probe> {
        let mut set = BTreeSet::new();
        self.core.series.probes(&mut set);
        if let Some(r) = &self.core.reference {
            r.probes(&mut set);
        }
        set.into_iter().collect()
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block = bundle.block_ref();
        let mut state = self.history.before(block.number);
        let value = self.core.value(&self.core.series, bundle)?;
        let reference = match &self.core.reference {
            Some(r) => self.core.value(r, bundle)?,
            None => None,
        };
        let found = match value {
            Some(x) => self.cfg.step(&self.core, &mut state, x, reference),
            None => {
                self.cfg.undefined(&mut state);
                None
            }
        };
        self.history.push(block, state);
        Ok(found.map(|(title, evidence)| self.core.finding(block, title, evidence)).into_iter().collect())
    }

    fn revert_to(&mut self, ancestor: BlockRef) {
        self.history.revert_to(ancestor);
    }
}

/// The [`Core`] of a detector from its configuration `$cfg` (fields name, protocol, scope, severity,
/// skip_reverts, series); returns early with a [`SeriesError`].
/// What every series detector has.
#[derive(Debug, Clone)]
struct Core {
    name: String,
    protocol: String,
    scope: Scope,
    severity: Severity,
    kind: FindingKind,
    rule: &'static str,
    skip_reverts: bool,
    series: Series,
    /// The series it is judged against (reference-deviation).
    reference: Option<Series>,
}

impl Core {
    /// The detector of `cfg`, its series compiled.
    fn compile<M: Method>(cfg: &M) -> Result<Core, SeriesError> {
        let shared = cfg.shared();
        let compile = |spec, field| Series::compile(spec, shared.name, field);
        Ok(Core {
            name: shared.name.clone(),
            protocol: shared.protocol.clone(),
            scope: Scope::segment(shared.scope.target, shared.scope.id),
            severity: shared.severity,
            kind: cfg.kind(),
            rule: M::TYPE,
            skip_reverts: shared.skip_reverts,
            series: compile(shared.series, "series")?,
            reference: cfg.reference().map(|r| compile(r, "reference")).transpose()?,
        })
    }

    fn param(&self, field: &str, reason: impl Into<String>) -> SeriesError {
        SeriesError::Parameter { detector: self.name.clone(), field: field.into(), reason: reason.into() }
    }

    fn value(&self, series: &Series, bundle: &Bundle) -> Result<Option<f64>, DetectorError> {
        series
            .eval(bundle, self.skip_reverts)
            .map_err(|cause| DetectorError::new(&self.name, bundle.block_ref(), cause))
    }

    fn finding(&self, block: BlockRef, title: String, evidence: serde_json::Value) -> Finding {
        let labels = [("rule", self.rule.to_string()), ("series", self.series.describe())];
        let class = (self.scope, self.severity, self.kind);
        crate::finding((&self.name, &self.protocol), block, None, class, title, evidence, &labels)
    }
}

/// Clamps to a finite number (JSON has no infinity).
fn finite(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-1e300, 1e300)
    }
}

/// z = d / sd with sd = 0 giving ±∞ (0 when d = 0).
fn zscore(d: f64, sd: f64) -> f64 {
    if sd > 0.0 {
        d / sd
    } else if d == 0.0 {
        0.0
    } else {
        d.signum() * f64::INFINITY
    }
}

/// The range a numeric parameter must be in: (field, value).
enum Check {
    /// In (0, 1): a decay.
    Decay(&'static str, f64),
    /// Above 0.
    Positive(&'static str, f64),
    /// Finite and above 0.
    FinitePositive(&'static str, f64),
    /// Finite and at least 0.
    NonNegative(&'static str, f64),
}

impl Check {
    /// The parameters of `checks` out of their range: (field, what is wrong).
    fn failing(checks: &[Check]) -> Vec<(&'static str, String)> {
        let judge = |check: &Check| match *check {
            Check::Decay(f, x) => (f, x, x > 0.0 && x < 1.0, "in (0, 1)"),
            Check::Positive(f, x) => (f, x, x > 0.0, "> 0"),
            Check::FinitePositive(f, x) => (f, x, x.is_finite() && x > 0.0, "a finite number > 0"),
            Check::NonNegative(f, x) => (f, x, x.is_finite() && x >= 0.0, "a finite number ≥ 0"),
        };
        checks
            .iter()
            .map(judge)
            .filter(|(.., ok, _)| !ok)
            .map(|(f, x, _, range)| (f, format!("must be {range}, is {x}")))
            .collect()
    }
}

/// The last value of the series and an EWMA of its transform: what the EWMA methods (ewma-zscore, cusum) learn.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Baseline {
    last: Option<f64>,
    ewma: Ewma,
}

impl Baseline {
    /// Reads the value `x`: its transform `y` (none for the first value of a diff or a log return) is absorbed
    /// until `warmup` samples are in, then handed to `judge(y, previous value, EWMA)`, which absorbs it as its
    /// method says and may make a finding; `x` becomes the last value.
    fn read(
        &mut self,
        x: f64,
        (transform, lambda, warmup): (Transform, f64, u64),
        judge: impl FnOnce(f64, Option<f64>, &mut Ewma) -> Option<Found>,
    ) -> Option<Found> {
        let mut found = None;
        if let Some(y) = transform.apply(self.last, x) {
            if self.ewma.samples >= warmup.max(1) {
                found = judge(y, self.last, &mut self.ewma);
            } else {
                self.ewma.absorb(y, lambda);
            }
        }
        self.last = Some(x);
        found
    }
}

// ------------------------------------------------------------------------------------------------ ewma-zscore

impl Method for EwmaZscoreConfig {
    type State = Baseline;

    fn kind(&self) -> FindingKind {
        FindingKind::Suspicious
    }

    fn step(&self, core: &Core, s: &mut Baseline, x: f64, _: Option<f64>) -> Option<Found> {
        let c = self;
        s.read(x, (c.transform, c.lambda, c.warmup_blocks), |y, last, ewma| {
            let mut found = None;
            let sd = ewma.corrected_sd(c.lambda);
            let d = y - ewma.mean;
            let z = zscore(d, sd);
            let reference = match c.transform {
                Transform::Level => ewma.mean,
                _ => last.unwrap_or(0.0),
            };
            let moved = if c.transform == Transform::Level { x - ewma.mean } else { x - reference };
            let change_bps = if reference != 0.0 { moved.abs() / reference.abs() * 10_000.0 } else { f64::INFINITY };
            if z.abs() > c.max_zscore && d.abs() >= c.min_abs_change && change_bps >= c.min_change_bps {
                found = Some((
                    format!(
                        "{} of {} is {} standard deviations from its EWMA",
                        c.transform.name(),
                        core.series.describe(),
                        if z.is_infinite() {
                            format!("{}infinitely many (a flat series moved)", if z < 0.0 { "minus " } else { "" })
                        } else {
                            format!("{z:.1}")
                        }
                    ),
                    serde_json::json!({
                        "value": x,
                        "previous": last,
                        "transform": c.transform.name(),
                        "transformed": y,
                        "mean": ewma.mean,
                        "sd": sd,
                        "zscore": finite(z),
                        "max_zscore": c.max_zscore,
                        "change_bps": finite(change_bps),
                        "samples": ewma.samples,
                    }),
                ));
            }
            ewma.absorb(y, c.lambda);
            found
        })
    }
}

// ------------------------------------------------------------------------------------------------ cusum

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct CusumState {
    /// The last value and the EWMA of the transform (frozen while the CUSUM is engaged).
    base: Baseline,
    high: f64,
    low: f64,
}

impl Method for CusumConfig {
    type State = CusumState;

    fn kind(&self) -> FindingKind {
        FindingKind::Suspicious
    }

    fn step(&self, core: &Core, s: &mut CusumState, x: f64, _: Option<f64>) -> Option<Found> {
        let c = self;
        let (high, low) = (&mut s.high, &mut s.low);
        s.base.read(x, (c.transform, c.lambda, c.warmup_blocks), |y, last, baseline| {
            let mut found = None;
            let level = match c.transform {
                Transform::Level => baseline.mean.abs(),
                Transform::Diff => last.unwrap_or(0.0).abs(),
                Transform::LogReturn => 1.0,
            };
            let sd = baseline.corrected_sd(c.lambda).max(c.min_sd).max(level * c.min_sd_bps / 10_000.0);
            let z = zscore(y - baseline.mean, sd);
            *high = (*high + z - c.k).max(0.0);
            *low = (*low - z - c.k).max(0.0);
            if *high > c.h || *low > c.h {
                let up = *high > c.h;
                found = Some((
                    format!(
                        "change point: {} of {} shifted {} (CUSUM beyond {})",
                        c.transform.name(),
                        core.series.describe(),
                        if up { "up" } else { "down" },
                        c.h
                    ),
                    serde_json::json!({
                        "value": x,
                        "transform": c.transform.name(),
                        "transformed": y,
                        "mean": baseline.mean,
                        "sd": sd,
                        "zscore": finite(z),
                        "s_high": finite(*high),
                        "s_low": finite(*low),
                        "k": c.k,
                        "h": c.h,
                        "direction": if up { "up" } else { "down" },
                    }),
                ));
                // Reset: a new regime, learnt afresh from this level with the old scale.
                let var = baseline.var;
                *high = 0.0;
                *low = 0.0;
                *baseline = Ewma::default();
                baseline.absorb(y, c.lambda);
                baseline.var = var;
            } else if high.max(*low) <= c.h / 2.0 {
                baseline.absorb(y, c.lambda);
            }
            found
        })
    }
}

// ------------------------------------------------------------------------------------------------ reference-deviation

/// State: consecutive blocks beyond the limit.
impl Method for ReferenceDeviationConfig {
    type State = u64;

    fn kind(&self) -> FindingKind {
        FindingKind::Exploit
    }

    fn reference(&self) -> Option<&SeriesSpec> {
        Some(&self.reference)
    }

    fn rules(&self) -> Vec<(&'static str, String)> {
        let broken = (self.persist_blocks == 0).then(|| ("persist_blocks", "must be at least 1".to_string()));
        broken.into_iter().collect()
    }

    fn step(&self, core: &Core, run: &mut u64, x: f64, reference: Option<f64>) -> Option<Found> {
        let c = self;
        let Some(r) = reference.filter(|r| *r > 0.0) else {
            *run = 0;
            return None;
        };
        let deviation_bps = (x / r - 1.0) * 10_000.0;
        if deviation_bps.abs() > c.max_deviation_bps {
            *run += 1;
        } else {
            *run = 0;
        }
        (*run >= c.persist_blocks).then(|| {
            (
                format!(
                    "{} is more than {} bps {} its reference {}",
                    core.series.describe(),
                    c.max_deviation_bps,
                    if deviation_bps > 0.0 { "above" } else { "below" },
                    core.reference.as_ref().map(Series::describe).unwrap_or_default()
                ),
                serde_json::json!({
                    "value": x,
                    "reference": r,
                    "deviation_bps": finite(deviation_bps),
                    "max_deviation_bps": c.max_deviation_bps,
                    "consecutive_blocks": *run,
                    "persist_blocks": c.persist_blocks,
                }),
            )
        })
    }

    /// An undefined block breaks the run.
    fn undefined(&self, run: &mut u64) {
        *run = 0;
    }
}

// ------------------------------------------------------------------------------------------------ ratio-bounds

/// State: the first value seen.
impl Method for RatioBoundsConfig {
    type State = Option<f64>;

    fn kind(&self) -> FindingKind {
        self.kind
    }

    fn rules(&self) -> Vec<(&'static str, String)> {
        let bounds = [
            ("min", self.min),
            ("max", self.max),
            ("min_relative", self.min_relative),
            ("max_relative", self.max_relative),
        ];
        let mut broken = Vec::new();
        if bounds.iter().all(|(_, b)| b.is_none()) {
            broken.push(("min", "no bound: set at least one of min, max, min_relative, max_relative".to_string()));
        }
        for (field, b) in bounds {
            if let Some(b) = b.filter(|b| !b.is_finite()) {
                broken.push((field, format!("must be finite, is {b}")));
            }
        }
        for ((_, lo), (field, hi)) in [(bounds[0], bounds[1]), (bounds[2], bounds[3])] {
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    broken.push((field, format!("{hi} is below {} {lo}", field.replace("max", "min"))));
                }
            }
        }
        broken
    }

    fn step(&self, core: &Core, start: &mut Option<f64>, x: f64, _: Option<f64>) -> Option<Found> {
        let c = self;
        let first = *start.get_or_insert(x);
        let lower = [c.min, c.min_relative.map(|m| m * first)].into_iter().flatten().reduce(f64::max);
        let upper = [c.max, c.max_relative.map(|m| m * first)].into_iter().flatten().reduce(f64::min);
        let below = lower.is_some_and(|l| x < l);
        let above = upper.is_some_and(|u| x > u);
        if !(below || above) {
            return None;
        }
        let (word, bound) = if below { ("below", lower) } else { ("above", upper) };
        Some((
            format!("{} is {word} its bound {:.6}", core.series.describe(), bound.unwrap_or_default()),
            serde_json::json!({
                "value": x,
                "start": first,
                "lower": lower,
                "upper": upper,
                "min": c.min,
                "max": c.max,
                "min_relative": c.min_relative,
                "max_relative": c.max_relative,
            }),
        ))
    }
}

// ------------------------------------------------------------------------------------------------ jump

/// State: the last defined value.
impl Method for JumpConfig {
    type State = Option<f64>;

    fn kind(&self) -> FindingKind {
        FindingKind::Exploit
    }

    fn step(&self, core: &Core, last: &mut Option<f64>, x: f64, _: Option<f64>) -> Option<Found> {
        let c = self;
        let previous = last.replace(x);
        let p = previous.filter(|p| *p != 0.0)?;
        let change_bps = (x - p) / p.abs() * 10_000.0;
        let watched = match c.direction {
            Direction::Both => true,
            Direction::Up => change_bps > 0.0,
            Direction::Down => change_bps < 0.0,
        };
        if !(watched && change_bps.abs() > c.max_jump_bps && (x - p).abs() >= c.min_abs_change) {
            return None;
        }
        Some((
            format!(
                "{} jumped {} by {:.0} bps in one block",
                core.series.describe(),
                if change_bps > 0.0 { "up" } else { "down" },
                change_bps.abs()
            ),
            serde_json::json!({
                "value": x,
                "previous": p,
                "change_bps": finite(change_bps),
                "max_jump_bps": c.max_jump_bps,
                "direction": match c.direction { Direction::Both => "both", Direction::Up => "up", Direction::Down => "down" },
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alloy::{
        dyn_abi::DynSolValue,
        primitives::{address, Address, Bytes, U256},
        sol_types::SolCall,
    };
    use vigil_core::{BlockPart, BlockRef, Bundle, Detector, Finding, FindingKind, Probe, ReceiptsPart, Severity};

    use super::*;
    use alloy::dyn_abi::JsonAbiExt;

    use crate::probe::ProbeArg;
    use crate::DetectorConfig;

    type Answers = BTreeMap<Probe, Result<Bytes, Bytes>>;

    const VAULT: Address = address!("00000000000000000000000000000000000000aa");
    const FEED: Address = address!("00000000000000000000000000000000000000fe");

    fn hash(number: u64, fork: u8) -> alloy::primitives::B256 {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&number.to_be_bytes());
        h[31] = fork;
        h.into()
    }

    /// A header-only bundle at `number` on branch `fork`, with the given probe answers.
    fn bundle(number: u64, fork: u8, probes: Answers) -> Bundle {
        let header = serde_json::json!({
            "number": format!("{number:#x}"),
            "hash": hash(number, fork),
            "parentHash": hash(number.saturating_sub(1), fork),
            "timestamp": format!("{:#x}", 1_700_000_000 + number * 12),
            "miner": Address::ZERO,
            "gasLimit": "0x1c9c380",
            "gasUsed": "0x0",
            "transactions": [],
        });
        let block = BlockPart::from_json(&header.to_string()).expect("a header-only block decodes");
        Bundle::from_parts(block, ReceiptsPart::from_json("[]").expect("no receipts"), None, probes)
    }

    fn uint(x: f64, decimals: u8) -> Bytes {
        let raw = U256::from((x * 10f64.powi(decimals as i32)).round() as u128);
        DynSolValue::Uint(raw, 256).abi_encode().into()
    }

    /// `name() returns (uint256)` on `to`, 6 decimals.
    fn call(to: Address, name: &str) -> SeriesSpec {
        SeriesSpec {
            to: Some(to),
            function: Some(format!("{name}() returns (uint256)")),
            decimals: Some(6),
            ..Default::default()
        }
    }

    fn probe_of(to: Address, name: &str) -> Probe {
        let f = Function::parse(&format!("{name}() returns (uint256)")).unwrap();
        Probe { to, data: f.abi_encode_input(&[]).unwrap().into() }
    }

    /// A bundle answering the vault's `totalAssets()` with `x`.
    fn at(number: u64, fork: u8, x: f64) -> Bundle {
        bundle(number, fork, [(probe_of(VAULT, "totalAssets"), Ok(uint(x, 6)))].into_iter().collect())
    }

    fn scope() -> ScopeRef {
        ScopeRef { target: VAULT, id: 7 }
    }

    /// Deterministic standard normal noise (xorshift + Box-Muller).
    struct Noise(u64);
    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            (-2.0 * self.uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * self.uniform()).cos()
        }
    }

    /// A random walk around 1_000 with per-block sd `sd`, `n` values.
    fn walk(seed: u64, n: usize, sd: f64) -> Vec<f64> {
        let mut noise = Noise(seed);
        let mut x = 1_000.0;
        (0..n)
            .map(|_| {
                x += sd * noise.normal();
                x
            })
            .collect()
    }

    /// Feeds `values` from block `first` on branch `fork`; the blocks with findings.
    fn feed(d: &mut dyn Detector, first: u64, fork: u8, values: &[f64]) -> Vec<(u64, Finding)> {
        values
            .iter()
            .enumerate()
            .flat_map(|(i, x)| {
                let n = first + i as u64;
                d.on_block(&at(n, fork, *x)).unwrap().into_iter().map(move |f| (n, f))
            })
            .collect()
    }

    fn zscore_cfg() -> EwmaZscoreConfig {
        EwmaZscoreConfig {
            name: "z".into(),
            protocol: "p".into(),
            scope: scope(),
            series: call(VAULT, "totalAssets"),
            transform: Transform::Diff,
            lambda: 0.97,
            warmup_blocks: 30,
            max_zscore: 8.0,
            min_abs_change: 0.0,
            min_change_bps: 10.0,
            skip_reverts: false,
            severity: Severity::Medium,
        }
    }

    fn cusum_cfg() -> CusumConfig {
        CusumConfig {
            name: "c".into(),
            protocol: "p".into(),
            scope: scope(),
            series: call(VAULT, "totalAssets"),
            transform: Transform::Level,
            lambda: 0.97,
            warmup_blocks: 30,
            k: 0.5,
            h: 8.0,
            min_sd: 0.0,
            min_sd_bps: 10.0,
            skip_reverts: false,
            severity: Severity::Medium,
        }
    }

    fn bounds_cfg() -> RatioBoundsConfig {
        RatioBoundsConfig {
            name: "b".into(),
            protocol: "p".into(),
            scope: scope(),
            series: call(VAULT, "totalAssets"),
            min: Some(900.0),
            max: None,
            min_relative: Some(0.97),
            max_relative: None,
            skip_reverts: false,
            severity: Severity::High,
            kind: FindingKind::Degraded,
        }
    }

    fn jump_cfg() -> JumpConfig {
        JumpConfig {
            name: "j".into(),
            protocol: "p".into(),
            scope: scope(),
            series: call(VAULT, "totalAssets"),
            max_jump_bps: 100.0,
            direction: Direction::Both,
            min_abs_change: 0.0,
            skip_reverts: false,
            severity: Severity::High,
        }
    }

    fn deviation_cfg() -> ReferenceDeviationConfig {
        ReferenceDeviationConfig {
            name: "r".into(),
            protocol: "p".into(),
            scope: scope(),
            series: call(VAULT, "totalAssets"),
            reference: SeriesSpec {
                to: Some(FEED),
                function: Some("latestRoundData() returns (uint80, int256, uint256, uint256, uint80)".into()),
                output: Some(1),
                decimals: Some(8),
                ..Default::default()
            },
            max_deviation_bps: 500.0,
            persist_blocks: 1,
            skip_reverts: false,
            severity: Severity::High,
        }
    }

    fn round(answer: f64) -> Bytes {
        let a = alloy::primitives::I256::try_from((answer * 1e8).round() as i128).unwrap();
        DynSolValue::Tuple(vec![
            DynSolValue::Uint(U256::from(7), 80),
            DynSolValue::Int(a, 256),
            DynSolValue::Uint(U256::from(1), 256),
            DynSolValue::Uint(U256::from(1), 256),
            DynSolValue::Uint(U256::from(7), 80),
        ])
        .abi_encode_params()
        .into()
    }

    fn feed_probe() -> Probe {
        let f = Function::parse("latestRoundData() returns (uint80, int256, uint256, uint256, uint80)").unwrap();
        Probe { to: FEED, data: f.abi_encode_input(&[]).unwrap().into() }
    }

    /// A bundle with the vault at `x` and the feed at `r`.
    fn pair_at(number: u64, fork: u8, x: f64, r: f64) -> Bundle {
        bundle(
            number,
            fork,
            [(probe_of(VAULT, "totalAssets"), Ok(uint(x, 6))), (feed_probe(), Ok(round(r)))].into_iter().collect(),
        )
    }

    // -------------------------------------------------------------------------------- series specs

    #[test]
    fn a_call_encodes_its_arguments_and_reads_a_flattened_output() {
        let spec = SeriesSpec {
            to: Some(VAULT),
            function: Some(
                "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,uint256,\
                 uint256,uint256,uint256,bool)"
                    .into(),
            ),
            args: Some(vec![ProbeArg::Text("2".into())]),
            output: Some(8),
            decimals: Some(6),
            ..Default::default()
        };
        let s = Series::compile(&spec, "d", "series").unwrap();
        let Series::Call(c) = &s else { panic!("a call") };
        // The same calldata as the generated binding.
        let expected = vigil_contracts::MarginPool::marketCall { id: U256::from(2) }.abi_encode();
        assert_eq!(c.probe.data.as_ref(), expected.as_slice());
        let u = |x: u64| DynSolValue::Uint(U256::from(x), 256);
        let params = DynSolValue::Tuple(vec![
            DynSolValue::Address(VAULT),
            DynSolValue::Uint(U256::from(1), 8),
            DynSolValue::Address(FEED),
            DynSolValue::Uint(U256::from(7_500), 16),
            DynSolValue::Uint(U256::from(8_000), 16),
            DynSolValue::Uint(U256::from(500), 16),
            DynSolValue::Uint(U256::from(10), 16),
        ]);
        let ret = DynSolValue::Tuple(vec![
            params,
            u(1_000_000_000_000_000_000),
            u(3_500_000_000_000), // totalSupplyAssets: output 8
            u(3_000_000_000_000),
            u(1),
            u(2),
            DynSolValue::Bool(true),
        ]);
        let answers: Answers = [(c.probe.clone(), Ok(ret.abi_encode_params().into()))].into_iter().collect();
        assert_eq!(s.eval(&bundle(5, 0, answers), false).unwrap(), Some(3_500_000.0));
        assert_eq!(s.describe(), "market(2)");
    }

    #[test]
    fn bad_specs_are_errors_naming_the_detector_and_the_field() {
        let e = |spec: SeriesSpec| Series::compile(&spec, "vault-jump", "series").unwrap_err().to_string();
        let bad_sig = SeriesSpec { function: Some("totalAssets( returns (uint256)".into()), ..call(VAULT, "x") };
        assert!(e(bad_sig).starts_with("detector \"vault-jump\": series.function: cannot parse the signature"));
        let out = SeriesSpec { output: Some(1), ..call(VAULT, "totalAssets") };
        let msg = e(out);
        assert!(msg.contains("series.output: `totalAssets() returns (uint256)` has 1 return value(s)"), "{msg}");
        let addr = SeriesSpec { function: Some("owner() returns (address)".into()), ..call(VAULT, "x") };
        assert!(e(addr).contains("series.output: return value 0 of `owner() returns (address)` is a address"));
        let args = SeriesSpec { function: Some("balanceOf(address) returns (uint256)".into()), ..call(VAULT, "x") };
        assert!(e(args).contains("series.args: `balanceOf(address)` takes 1 argument(s), 0 given"));
        let bad_arg = SeriesSpec {
            function: Some("balanceOf(address) returns (uint256)".into()),
            args: Some(vec![ProbeArg::Text("nope".into())]),
            ..call(VAULT, "x")
        };
        assert!(e(bad_arg).contains("series.args: argument 0 `nope` is not a address"));
        let both = SeriesSpec { numerator: Some(Box::new(call(VAULT, "a"))), ..call(VAULT, "b") };
        assert!(e(both).contains("series: a series is either a call"));
        let half = SeriesSpec { numerator: Some(Box::new(call(VAULT, "a"))), ..Default::default() };
        assert!(e(half).contains("series: a ratio needs both"));
        let deep = SeriesSpec {
            numerator: Some(Box::new(call(VAULT, "a"))),
            denominator: Some(Box::new(SeriesSpec { to: None, ..call(VAULT, "b") })),
            ..Default::default()
        };
        assert!(e(deep).contains("series.denominator: a call needs `to`"));
        assert!(e(SeriesSpec::default()).contains("series: expected a call"));

        let lambda = EwmaZscoreDetector::new(EwmaZscoreConfig { lambda: 1.0, ..zscore_cfg() }).err().unwrap();
        assert_eq!(lambda.to_string(), "detector \"z\": lambda: must be in (0, 1), is 1");
        let none = RatioBoundsDetector::new(RatioBoundsConfig { min: None, min_relative: None, ..bounds_cfg() });
        assert!(none.err().unwrap().to_string().contains("no bound"));
        let reference = ReferenceDeviationDetector::new(ReferenceDeviationConfig {
            reference: SeriesSpec { output: Some(5), ..deviation_cfg().reference },
            ..deviation_cfg()
        });
        assert!(reference.err().unwrap().to_string().starts_with("detector \"r\": reference.output:"));
        let unknown = toml::from_str::<JumpConfig>(
            "name = \"j\"\nprotocol = \"p\"\nscope = { target = \"0x00000000000000000000000000000000000000aa\" }\n\
             series = { to = \"0x00000000000000000000000000000000000000aa\", function = \"f() returns (uint256)\", \
             decimal = 6 }",
        );
        assert!(unknown.unwrap_err().to_string().contains("unknown field `decimal`"));
    }

    #[test]
    fn validation_reports_every_error_at_its_key() {
        let cfg = EwmaZscoreConfig {
            lambda: 1.0,
            max_zscore: 0.0,
            series: SeriesSpec { output: Some(5), ..zscore_cfg().series },
            ..zscore_cfg()
        };
        let issues = cfg.validate();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["lambda", "max_zscore", "series.output"], "{issues:?}");
        assert_eq!(issues[0].message, "lambda: must be in (0, 1), is 1");
        assert!(issues[2].message.starts_with("series.output: "), "{}", issues[2].message);
        let bounds = RatioBoundsConfig {
            min: Some(2.0),
            max: Some(1.0),
            min_relative: Some(f64::NAN),
            max_relative: Some(0.5),
            ..bounds_cfg()
        };
        let issues: Vec<String> = bounds.validate().into_iter().map(|i| i.message).collect();
        assert_eq!(issues, ["min_relative: must be finite, is NaN", "max: 1 is below min 2"], "{issues:?}");
        let deviation = ReferenceDeviationConfig {
            persist_blocks: 0,
            reference: SeriesSpec { output: Some(5), ..deviation_cfg().reference },
            ..deviation_cfg()
        };
        let keys: Vec<String> = deviation.validate().into_iter().map(|i| i.key).collect();
        assert_eq!(keys, ["persist_blocks", "reference.output"]);
        assert!(zscore_cfg().validate().is_empty() && jump_cfg().validate().is_empty());
    }

    #[test]
    fn a_missing_or_reverting_probe_is_an_error_naming_detector_block_and_probe() {
        let mut d = JumpDetector::new(jump_cfg()).unwrap();
        let e = d.on_block(&bundle(12, 0, Answers::new())).unwrap_err();
        assert_eq!((e.detector.as_str(), e.block.number), ("j", 12));
        assert_eq!(e.cause.to_string(), format!("probe `totalAssets()` on {VAULT} was not read at this block"));
        let reverted: Answers = [(probe_of(VAULT, "totalAssets"), Err(Bytes::from(vec![0xde, 0xad])))].into();
        let e = d.on_block(&bundle(12, 0, reverted.clone())).unwrap_err();
        assert_eq!(e.cause.to_string(), format!("probe `totalAssets()` on {VAULT} reverted with 0xdead"));
        let short: Answers = [(probe_of(VAULT, "totalAssets"), Ok(Bytes::from(vec![1u8; 5])))].into();
        assert!(d.on_block(&bundle(12, 0, short)).unwrap_err().cause.to_string().contains("do not decode"));
        assert!(d.history.entries.is_empty(), "a failed block leaves no state");

        // skip_reverts: a revert is an undefined block (the last value is kept), an absent probe still an error.
        let mut d = JumpDetector::new(JumpConfig { skip_reverts: true, ..jump_cfg() }).unwrap();
        assert!(d.on_block(&at(10, 0, 1_000.0)).unwrap().is_empty());
        assert!(d.on_block(&bundle(11, 0, reverted)).unwrap().is_empty());
        assert_eq!(d.history.entries.back().unwrap().1, Some(1_000.0));
        assert_eq!(d.on_block(&at(12, 0, 1_100.0)).unwrap().len(), 1, "the jump is measured across the gap");
        assert!(d.on_block(&bundle(13, 0, Answers::new())).is_err());
    }

    #[test]
    fn a_zero_denominator_is_an_undefined_block() {
        let spec = SeriesSpec {
            numerator: Some(Box::new(call(VAULT, "totalAssets"))),
            denominator: Some(Box::new(call(VAULT, "totalSupply"))),
            ..Default::default()
        };
        let mut d = JumpDetector::new(JumpConfig { series: spec, ..jump_cfg() }).unwrap();
        assert_eq!(d.probes().len(), 2);
        let b = |n, assets: f64, supply: f64| {
            bundle(
                n,
                0,
                [
                    (probe_of(VAULT, "totalAssets"), Ok(uint(assets, 6))),
                    (probe_of(VAULT, "totalSupply"), Ok(uint(supply, 6))),
                ]
                .into(),
            )
        };
        assert!(d.on_block(&b(1, 100.0, 100.0)).unwrap().is_empty());
        assert!(d.on_block(&b(2, 0.0, 0.0)).unwrap().is_empty());
        let f = d.on_block(&b(3, 150.0, 100.0)).unwrap();
        assert_eq!(f.len(), 1, "1.0 → (undefined) → 1.5 is a jump of 5_000 bps");
        assert_eq!(f[0].evidence["change_bps"], 5_000.0);
        assert_eq!(f[0].labels["series"], "totalAssets() / totalSupply()");
    }

    // -------------------------------------------------------------------------------- the methods

    #[test]
    fn ewma_zscore_fires_on_a_spike_and_not_on_noise() {
        let mut values = walk(1, 300, 1.0);
        let mut d = EwmaZscoreDetector::new(zscore_cfg()).unwrap();
        assert!(feed(&mut d, 1, 0, &values).is_empty(), "noise of sd 1 is silent");
        let mut d = EwmaZscoreDetector::new(zscore_cfg()).unwrap();
        for v in &mut values[200..] {
            *v += 15.0; // a one-block spike of 15 sd, then the walk goes on from there
        }
        let f = feed(&mut d, 1, 0, &values);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].0, 201);
        let (z, sd) = (f[0].1.evidence["zscore"].as_f64().unwrap(), f[0].1.evidence["sd"].as_f64().unwrap());
        assert!(z > 6.0 && (0.7..1.4).contains(&sd), "z {z}, sd {sd}");
        assert_eq!((f[0].1.severity, f[0].1.kind), (Severity::Medium, FindingKind::Suspicious));
        assert_eq!(f[0].1.scope, Scope::segment(VAULT, 7));

        // Not during the warm-up.
        let mut early = values.clone();
        early[10] += 50.0;
        let mut d = EwmaZscoreDetector::new(zscore_cfg()).unwrap();
        assert_eq!(feed(&mut d, 1, 0, &early[..100]).len(), 0);
    }

    #[test]
    fn ewma_zscore_ignores_tiny_moves_of_a_quiet_series() {
        // A share price flat at 1_000 for 50 blocks (variance 0), then a move of 0.01 (0.1 bp): z is infinite.
        let mut values = vec![1_000.0; 50];
        values.push(1_000.01);
        let mut d = EwmaZscoreDetector::new(zscore_cfg()).unwrap();
        assert!(feed(&mut d, 1, 0, &values).is_empty(), "under min_change_bps");
        let mut d = EwmaZscoreDetector::new(EwmaZscoreConfig { min_change_bps: 0.0, ..zscore_cfg() }).unwrap();
        let f = feed(&mut d, 1, 0, &values);
        assert_eq!(f.len(), 1, "without the floor the quiet series alarms");
        assert!(f[0].1.evidence["zscore"].as_f64().unwrap() > 1e100);
        let mut d =
            EwmaZscoreDetector::new(EwmaZscoreConfig { min_change_bps: 0.0, min_abs_change: 0.05, ..zscore_cfg() })
                .unwrap();
        assert!(feed(&mut d, 1, 0, &values).is_empty(), "under min_abs_change");
        // A real move of the quiet series (1 %) is reported.
        values.push(1_010.0);
        let mut d = EwmaZscoreDetector::new(zscore_cfg()).unwrap();
        assert_eq!(feed(&mut d, 1, 0, &values).iter().map(|f| f.0).collect::<Vec<_>>(), vec![52]);
    }

    #[test]
    fn ewma_zscore_on_log_returns() {
        let mut noise = Noise(9);
        let mut x = 100.0;
        let mut values: Vec<f64> = (0..200)
            .map(|_| {
                x *= (0.002 * noise.normal()).exp();
                x
            })
            .collect();
        let cfg = EwmaZscoreConfig { transform: Transform::LogReturn, ..zscore_cfg() };
        let mut d = EwmaZscoreDetector::new(cfg.clone()).unwrap();
        assert!(feed(&mut d, 1, 0, &values).is_empty());
        for v in &mut values[150..] {
            *v *= 1.03;
        }
        let mut d = EwmaZscoreDetector::new(cfg).unwrap();
        let f = feed(&mut d, 1, 0, &values);
        assert_eq!(f.iter().map(|f| f.0).collect::<Vec<_>>(), vec![151]);
        assert_eq!(f[0].1.evidence["transform"], "log-return");
    }

    #[test]
    fn cusum_fires_on_a_step_once_and_not_on_noise() {
        // A stationary series: 1_000 + noise of sd 1.
        let mut noise = Noise(3);
        let mut values: Vec<f64> = (0..3_000).map(|_| 1_000.0 + noise.normal()).collect();
        let mut d = CusumDetector::new(CusumConfig { min_sd_bps: 0.0, ..cusum_cfg() }).unwrap();
        assert!(feed(&mut d, 1, 0, &values).is_empty(), "3_000 blocks of noise are silent");
        // A step of 2 sd at block 1_001: too small for a z-score of 6 on any one block, found by the CUSUM.
        for v in &mut values[1_000..] {
            *v += 2.0;
        }
        let mut d = CusumDetector::new(CusumConfig { min_sd_bps: 0.0, ..cusum_cfg() }).unwrap();
        let f = feed(&mut d, 1, 0, &values);
        assert_eq!(f.len(), 1, "one finding per change point: {:?}", f.iter().map(|f| f.0).collect::<Vec<_>>());
        assert!((1_003..=1_012).contains(&f[0].0), "found at {}", f[0].0);
        assert_eq!(f[0].1.evidence["direction"], "up");
        assert!(f[0].1.evidence["s_high"].as_f64().unwrap() > 8.0);
        let mut z = EwmaZscoreDetector::new(EwmaZscoreConfig { transform: Transform::Level, ..zscore_cfg() }).unwrap();
        assert!(feed(&mut z, 1, 0, &values).is_empty(), "the z-score misses the small step");
        // A step down is found as down.
        for v in &mut values[2_000..] {
            *v -= 4.0;
        }
        let mut d = CusumDetector::new(CusumConfig { min_sd_bps: 0.0, ..cusum_cfg() }).unwrap();
        let f = feed(&mut d, 1, 0, &values);
        assert_eq!(f.len(), 2);
        assert!((2_001..=2_010).contains(&f[1].0) && f[1].1.evidence["direction"] == "down", "{:?}", f[1]);
    }

    #[test]
    fn cusum_sd_floor_keeps_a_flat_series_quiet() {
        let mut values = vec![1_000.0; 60];
        values.extend([1_000.001; 60]);
        let mut d = CusumDetector::new(cusum_cfg()).unwrap();
        assert!(feed(&mut d, 1, 0, &values).is_empty(), "a 0.01 bp step is under the 10 bp floor");
        let mut d = CusumDetector::new(CusumConfig { min_sd_bps: 0.0, ..cusum_cfg() }).unwrap();
        assert_eq!(feed(&mut d, 1, 0, &values).len(), 1, "without the floor it alarms");
        values.extend([1_020.0; 10]);
        let mut d = CusumDetector::new(cusum_cfg()).unwrap();
        assert_eq!(feed(&mut d, 1, 0, &values).iter().map(|f| f.0).collect::<Vec<_>>(), vec![121]);
    }

    #[test]
    fn reference_deviation_fires_beyond_the_limit_after_persist_blocks() {
        let run = |d: &mut ReferenceDeviationDetector, pump: &dyn Fn(u64) -> f64| {
            let mut out = Vec::new();
            let mut noise = Noise(5);
            for n in 1..=200u64 {
                let r = 2_000.0 + 20.0 * noise.normal();
                let x = r * (1.0 + 0.01 * noise.normal()) * pump(n);
                out.extend(d.on_block(&pair_at(n, 0, x, r)).unwrap().into_iter().map(|f| (n, f)));
            }
            out
        };
        let mut d = ReferenceDeviationDetector::new(deviation_cfg()).unwrap();
        assert_eq!(d.probes().len(), 2);
        assert!(run(&mut d, &|_| 1.0).is_empty(), "1 % noise against a 5 % limit");
        let pump = |n: u64| if (100..=104).contains(&n) { 1.3 } else { 1.0 };
        let mut d = ReferenceDeviationDetector::new(deviation_cfg()).unwrap();
        let f = run(&mut d, &pump);
        assert_eq!(f.iter().map(|f| f.0).collect::<Vec<_>>(), vec![100, 101, 102, 103, 104]);
        let dev = f[0].1.evidence["deviation_bps"].as_f64().unwrap();
        assert!((2_500.0..3_500.0).contains(&dev), "{dev}");
        assert_eq!((f[0].1.severity, f[0].1.kind), (Severity::High, FindingKind::Exploit));
        let mut d =
            ReferenceDeviationDetector::new(ReferenceDeviationConfig { persist_blocks: 3, ..deviation_cfg() }).unwrap();
        let f = run(&mut d, &pump);
        assert_eq!(f.iter().map(|f| f.0).collect::<Vec<_>>(), vec![102, 103, 104]);
        assert_eq!(f[0].1.evidence["consecutive_blocks"], 3);
        // A gap breaks the run: two deviating blocks, one back, two again: nothing with persist 3.
        let gappy = |n: u64| if [100, 101, 103, 104].contains(&n) { 1.3 } else { 1.0 };
        let mut d =
            ReferenceDeviationDetector::new(ReferenceDeviationConfig { persist_blocks: 3, ..deviation_cfg() }).unwrap();
        assert!(run(&mut d, &gappy).is_empty());
    }

    #[test]
    fn ratio_bounds_fire_outside_and_not_within() {
        // Noise of 0.1 % around 1_000: within 97 % of start and above 900.
        let mut noise = Noise(11);
        let mut values: Vec<f64> = (0..200).map(|_| 1_000.0 * (1.0 + 0.001 * noise.normal())).collect();
        let mut d = RatioBoundsDetector::new(bounds_cfg()).unwrap();
        assert!(feed(&mut d, 1, 0, &values).is_empty());
        values[120] = 960.0; // under 0.97 × start
        values[150] = 850.0; // under both
        let mut d = RatioBoundsDetector::new(bounds_cfg()).unwrap();
        let f = feed(&mut d, 1, 0, &values);
        assert_eq!(f.iter().map(|f| f.0).collect::<Vec<_>>(), vec![121, 151]);
        let lower = f[0].1.evidence["lower"].as_f64().unwrap();
        assert!((lower - 0.97 * values[0]).abs() < 1e-6, "the relative bound is the larger: {lower}");
        assert_eq!(f[1].1.evidence["lower"].as_f64().unwrap(), lower);
        assert_eq!((f[0].1.severity, f[0].1.kind), (Severity::High, FindingKind::Degraded));
        let upper = RatioBoundsConfig { min: None, min_relative: None, max: Some(1_005.0), ..bounds_cfg() };
        let mut d = RatioBoundsDetector::new(upper).unwrap();
        values[60] = 1_006.0;
        let f = feed(&mut d, 1, 0, &values);
        assert_eq!(f.iter().map(|f| f.0).collect::<Vec<_>>(), vec![61]);
        assert!(f[0].1.title.contains("above"));
    }

    #[test]
    fn jump_fires_on_a_jump_in_its_direction_and_not_on_noise() {
        let mut noise = Noise(13);
        let mut values: Vec<f64> = (0..200).map(|_| 1_000.0 * (1.0 + 0.001 * noise.normal())).collect();
        let mut d = JumpDetector::new(jump_cfg()).unwrap();
        assert!(feed(&mut d, 1, 0, &values).is_empty(), "0.1 % noise against 1 %");
        for v in &mut values[100..] {
            *v *= 1.08; // donation: +8 % in one block, and it stays
        }
        let mut d = JumpDetector::new(jump_cfg()).unwrap();
        let f = feed(&mut d, 1, 0, &values);
        assert_eq!(f.iter().map(|f| f.0).collect::<Vec<_>>(), vec![101]);
        let c = f[0].1.evidence["change_bps"].as_f64().unwrap();
        assert!((500.0..1_100.0).contains(&c), "{c}");
        let mut down = JumpDetector::new(JumpConfig { direction: Direction::Down, ..jump_cfg() }).unwrap();
        assert!(feed(&mut down, 1, 0, &values).is_empty(), "an upward jump is not watched");
        let mut abs = JumpDetector::new(JumpConfig { min_abs_change: 100.0, ..jump_cfg() }).unwrap();
        assert!(feed(&mut abs, 1, 0, &values).is_empty(), "under min_abs_change");
    }

    // -------------------------------------------------------------------------------- reorgs

    /// Process A (blocks 1..=40), B (41..=50), revert to 40, B' (41..=50 on another branch), then C; against a
    /// fresh detector fed A, B', C: same findings after the revert, same state at every step.
    macro_rules! reverts_exactly {
        ($make:expr, $a:expr, $b:expr, $b2:expr, $c:expr) => {{
            let (a, b, b2, c): (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) = ($a, $b, $b2, $c);
            let mut d = $make;
            feed(&mut d, 1, 0, &a);
            let after_a = d.history.clone();
            let on_b = feed(&mut d, 41, 1, &b);
            assert!(!on_b.is_empty(), "branch B must change the state (it fires)");
            d.revert_to(BlockRef { number: 40, hash: hash(40, 0) });
            assert_eq!(d.history, after_a, "revert_to restores the state after the ancestor");
            let on_b2 = feed(&mut d, 41, 2, &b2);
            let on_c = feed(&mut d, 41 + b2.len() as u64, 2, &c);
            let mut fresh = $make;
            feed(&mut fresh, 1, 0, &a);
            assert_eq!(feed(&mut fresh, 41, 2, &b2), on_b2);
            assert_eq!(feed(&mut fresh, 41 + b2.len() as u64, 2, &c), on_c);
            assert_eq!(d.history, fresh.history);
            // A retried block replaces its first result.
            let last = 41 + (b2.len() + c.len()) as u64;
            let once = d.on_block(&at(last, 2, 990.0)).unwrap();
            assert_eq!(d.on_block(&at(last, 2, 990.0)).unwrap(), once);
            fresh.on_block(&at(last, 2, 990.0)).unwrap();
            assert_eq!(d.history, fresh.history);
            (on_b, on_b2, on_c)
        }};
    }

    #[test]
    fn every_detector_reverts_exactly() {
        let a = walk(21, 40, 1.0);
        let last = a[39];
        let quiet = |n: usize, seed| -> Vec<f64> { walk(seed, n, 1.0).iter().map(|x| x - 1_000.0 + last).collect() };
        let spike: Vec<f64> =
            quiet(10, 22).iter().enumerate().map(|(i, x)| if i == 3 { x + 40.0 } else { *x }).collect();
        reverts_exactly!(
            EwmaZscoreDetector::new(zscore_cfg()).unwrap(),
            a.clone(),
            spike.clone(),
            quiet(10, 23),
            quiet(20, 24)
        );
        let step: Vec<f64> = quiet(10, 22).iter().map(|x| x + 30.0).collect();
        let cusum = || CusumDetector::new(CusumConfig { warmup_blocks: 20, min_sd_bps: 0.0, ..cusum_cfg() }).unwrap();
        reverts_exactly!(cusum(), a.clone(), step.clone(), quiet(10, 23), quiet(20, 24));
        let crash: Vec<f64> = quiet(10, 22).iter().map(|x| x * 0.5).collect();
        reverts_exactly!(
            RatioBoundsDetector::new(bounds_cfg()).unwrap(),
            a.clone(),
            crash.clone(),
            quiet(10, 23),
            quiet(20, 24)
        );
        reverts_exactly!(JumpDetector::new(jump_cfg()).unwrap(), a.clone(), crash, quiet(10, 23), quiet(20, 24));
    }

    #[test]
    fn reference_deviation_reverts_exactly() {
        let cfg = ReferenceDeviationConfig { persist_blocks: 3, ..deviation_cfg() };
        let mut d = ReferenceDeviationDetector::new(cfg.clone()).unwrap();
        let run = |d: &mut ReferenceDeviationDetector, from: u64, fork: u8, xs: &[f64]| -> Vec<(u64, Finding)> {
            xs.iter()
                .enumerate()
                .flat_map(|(i, x)| {
                    let n = from + i as u64;
                    d.on_block(&pair_at(n, fork, *x, 1_000.0)).unwrap().into_iter().map(move |f| (n, f))
                })
                .collect()
        };
        run(&mut d, 1, 0, &[1_000.0, 1_000.0, 1_200.0, 1_200.0]); // a run of 2 at block 4
        let after_a = d.history.clone();
        assert_eq!(run(&mut d, 5, 1, &[1_200.0, 1_200.0]).len(), 2);
        d.revert_to(BlockRef { number: 4, hash: hash(4, 0) });
        assert_eq!(d.history, after_a);
        let b2 = run(&mut d, 5, 2, &[1_000.0, 1_200.0, 1_200.0, 1_200.0]);
        let mut fresh = ReferenceDeviationDetector::new(cfg).unwrap();
        run(&mut fresh, 1, 0, &[1_000.0, 1_000.0, 1_200.0, 1_200.0]);
        assert_eq!(run(&mut fresh, 5, 2, &[1_000.0, 1_200.0, 1_200.0, 1_200.0]), b2);
        assert_eq!(b2.iter().map(|f| f.0).collect::<Vec<_>>(), vec![8]);
        assert_eq!(d.history, fresh.history);
    }

    #[test]
    fn state_is_kept_for_the_reorg_depth() {
        for depth in [64, 10] {
            let mut d = JumpDetector::new(jump_cfg()).unwrap().with_reorg_depth(depth);
            feed(&mut d, 1, 0, &walk(1, 500, 0.1));
            // The state after the deepest ancestor a reorg can revert to, and after each block since.
            assert_eq!(d.history.entries.len() as u64, depth + 1);
            assert_eq!(d.history.entries.front().unwrap().0.number, 500 - depth);
        }
    }

    // -------------------------------------------------------------------------------- the proving ground

    /// The series detectors of the venue, in the configuration syntax.
    fn venue_toml(v: &vigil_sim::venue::Venue) -> String {
        let (usd_out, weth_out) = if v.usd < v.weth { (0, 1) } else { (1, 0) };
        let reserves = "getReserves() returns (uint112, uint112, uint32)";
        let spot = format!(
            r#"series.numerator = {{ to = "{pair}", function = "{reserves}", output = {usd_out}, decimals = 6 }}
series.denominator = {{ to = "{pair}", function = "{reserves}", output = {weth_out}, decimals = 18 }}"#,
            pair = v.pair
        );
        let market = "market(uint256) returns ((address,uint8,address,uint16,uint16,uint16,uint16),uint256,uint256,\
                      uint256,uint256,uint256,bool)";
        let share_price = |id: u64| {
            format!(
                r#"series.numerator = {{ to = "{pool}", function = "{market}", args = ["{id}"], output = 8, decimals = 6 }}
series.denominator = {{ to = "{pool}", function = "{market}", args = ["{id}"], output = 9, decimals = 6 }}"#,
                pool = v.pool
            )
        };
        let legacy = |num: &str, den: &str| {
            format!(
                r#"series.numerator = {{ to = "{m}", function = "{num}() returns (uint256)", decimals = 6 }}
series.denominator = {{ to = "{m}", function = "{den}() returns (uint256)", decimals = 6 }}"#,
                m = v.legacy_market
            )
        };
        let legacy_scope = format!(r#"scope = {{ target = "{}" }}"#, v.legacy_market);
        let market_scope = |id: u64| format!(r#"scope = {{ target = "{}", id = {id} }}"#, v.pool);
        let mut t = String::new();
        let mut add = |ty: &str, name: &str, scope: &str, series: &str, extra: &str| {
            t += &format!(
                "[[detector]]\ntype = \"{ty}\"\nname = \"{name}\"\nprotocol = \"venue\"\n{scope}\n{series}\n{extra}\n\n"
            );
        };
        add("jump", "legacy-cash-jump", &legacy_scope, &legacy("cash", "totalDeposits"), "");
        add(
            "ratio-bounds",
            "legacy-cash-bounds",
            &legacy_scope,
            &legacy("cash", "totalDeposits"),
            "min_relative = 0.99\nkind = \"exploit\"",
        );
        add("cusum", "legacy-utilisation-cusum", &legacy_scope, &legacy("totalDebt", "totalDeposits"), "min_sd = 0.01");
        add(
            "ewma-zscore",
            "legacy-utilisation-zscore",
            &legacy_scope,
            &legacy("totalDebt", "totalDeposits"),
            "min_abs_change = 0.001",
        );
        for id in [1, 2, 3] {
            add("jump", &format!("market-{id}-share-price-jump"), &market_scope(id), &share_price(id), "");
            add(
                "ratio-bounds",
                &format!("market-{id}-share-price-bounds"),
                &market_scope(id),
                &share_price(id),
                "min_relative = 0.99",
            );
            add(
                "ewma-zscore",
                &format!("market-{id}-share-price-zscore"),
                &market_scope(id),
                &share_price(id),
                "transform = \"log-return\"",
            );
            add("cusum", &format!("market-{id}-share-price-cusum"), &market_scope(id), &share_price(id), "");
        }
        let feed = format!(
            r#"reference = {{ to = "{}", function = "latestRoundData() returns (uint80, int256, uint256, uint256, uint80)", output = 1, decimals = 8 }}"#,
            v.eth_feed
        );
        add("reference-deviation", "spot-vs-feed", &market_scope(2), &spot, &feed);
        add("ewma-zscore", "spot-zscore", &market_scope(2), &spot, "transform = \"log-return\"");
        add("cusum", "spot-cusum", &market_scope(2), &spot, "transform = \"log-return\"");
        add("jump", "spot-jump", &market_scope(2), &spot, "");
        // Measures (every block fires, with the numbers): how close benign traffic comes to the thresholds.
        add(
            "reference-deviation",
            "measure-spot-vs-feed",
            &market_scope(2),
            &spot,
            &format!("{feed}\nmax_deviation_bps = 0"),
        );
        for id in [1, 2, 3] {
            add("jump", &format!("measure-market-{id}-jump"), &market_scope(id), &share_price(id), "max_jump_bps = 0");
            add(
                "ratio-bounds",
                &format!("measure-market-{id}-min"),
                &market_scope(id),
                &share_price(id),
                "min_relative = 10.0",
            );
        }
        add("jump", "measure-legacy-cash-jump", &legacy_scope, &legacy("cash", "totalDeposits"), "max_jump_bps = 0");
        add("jump", "measure-spot-jump", &market_scope(2), &spot, "max_jump_bps = 0");
        t
    }

    /// Every `[[detector]]` of a configuration text, built.
    fn build_all(text: &str) -> Vec<Box<dyn Detector>> {
        let doc: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let list = doc["detector"].as_array().expect("[[detector]] entries");
        list.iter()
            .map(|d| {
                let mut t = d.as_table().unwrap().clone();
                let ty = t.remove("type").unwrap();
                let cfg = DetectorConfig::deserialize_typed(ty.as_str().unwrap(), toml::Value::Table(t))
                    .unwrap_or_else(|e| panic!("{e}"))
                    .expect("a series type");
                cfg.build(&Default::default()).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    }

    /// Findings per detector name: (block, title).
    type Fired = BTreeMap<String, Vec<(u64, String)>>;

    /// Runs `scenario` (seed 1) with the venue's series detectors: the findings, the blocks with malicious
    /// transactions, the block number of offset 0.
    fn run_venue(scenario: &str) -> (Fired, Vec<u64>, u64) {
        run_venue_seed(scenario, 1)
    }

    fn run_venue_seed(scenario: &str, seed: u64) -> (Fired, Vec<u64>, u64) {
        let spec = vigil_sim::scenario::find(scenario).unwrap();
        let opts = vigil_sim::scenario::RunOptions { seed, tracing: false, ..Default::default() };
        let mut run = vigil_sim::scenario::ScenarioRun::start(spec, opts).unwrap();
        let mut detectors = build_all(&venue_toml(&run.venue));
        let probes: BTreeSet<Probe> = detectors.iter().flat_map(|d| d.probes()).collect();
        let (mut fired, mut malicious) = (Fired::new(), Vec::new());
        for d in &detectors {
            fired.insert(d.name().to_string(), Vec::new());
        }
        while let Some(block) = run.next_block(vec![]).unwrap() {
            if block.labels.iter().any(|l| l.malicious) {
                malicious.push(block.number());
            }
            let bundle = run.chain.bundle(&block, &probes);
            for d in &mut detectors {
                for f in d.on_block(&bundle).unwrap_or_else(|e| panic!("{e}")) {
                    let what = if d.name().starts_with("measure-") { f.evidence.to_string() } else { f.title };
                    fired.get_mut(d.name()).unwrap().push((block.number(), what));
                }
            }
        }
        let genesis = run.number_of(0);
        let report = run.report().unwrap();
        eprintln!(
            "{scenario}: ETH {:?}, liquidations {}, bad debt {}, share prices {:?}",
            report.eth_price, report.liquidations, report.bad_debt, report.share_prices
        );
        eprintln!(
            "{scenario}: blocks #{}..#{}, malicious blocks {malicious:?}",
            genesis + 1,
            run.number_of(run.produced())
        );
        for (name, f) in &fired {
            if name.starts_with("measure-") {
                let key = if name.contains("jump") {
                    "change_bps"
                } else if name.contains("min") {
                    "value"
                } else {
                    "deviation_bps"
                };
                let xs: Vec<(u64, f64)> = f
                    .iter()
                    .map(|(n, e)| (*n, serde_json::from_str::<serde_json::Value>(e).unwrap()[key].as_f64().unwrap()))
                    .collect();
                let max = xs.iter().copied().fold((0u64, 0f64), |a, b| if b.1.abs() > a.1.abs() { b } else { a });
                let min = xs.iter().copied().fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
                eprintln!("  {name}: largest |{key}| {max:?}, smallest {min:?}, first {:?}", xs.first());
            } else if !f.is_empty() {
                eprintln!("  {name}: {} finding(s), first {:?}", f.len(), f.iter().take(3).collect::<Vec<_>>());
            }
        }
        (fired, malicious, genesis)
    }

    fn blocks(fired: &Fired, name: &str) -> Vec<u64> {
        fired[name].iter().map(|(n, _)| *n).collect()
    }

    #[test]
    fn euler_donation_is_caught_in_the_block_it_lands() {
        let (fired, malicious, genesis) = run_venue("euler-donation");
        let attack = genesis + 100; // the scenario's execute block: deploy at offset 99, attack at 100
        assert_eq!(malicious.last(), Some(&attack));
        assert_eq!(blocks(&fired, "legacy-cash-jump"), vec![attack], "the lenders' cash coverage falls 6.3 % at once");
        let bounds = blocks(&fired, "legacy-cash-bounds");
        assert_eq!(bounds, (attack..=genesis + 200).collect::<Vec<_>>(), "and stays below 99 % of its start");
        assert_eq!(blocks(&fired, "legacy-utilisation-cusum"), vec![attack], "utilisation steps from 0 to 31 %");
        assert_eq!(blocks(&fired, "legacy-utilisation-zscore"), vec![attack]);
        for id in [1, 2, 3] {
            for d in ["jump", "bounds", "zscore", "cusum"] {
                let name = format!("market-{id}-share-price-{d}");
                assert!(fired[&name].is_empty(), "{name} watches the margin pool: {:?}", fired[&name]);
            }
        }
    }

    #[test]
    fn legacy_borrow_drain_is_caught_as_the_cash_coverage_erodes() {
        let (fired, malicious, genesis) = run_venue("legacy-borrow-drain");
        assert_eq!((malicious.first(), malicious.last()), (Some(&(genesis + 99)), Some(&(genesis + 140))));
        // 40 borrows of $5k (0.25 % of the deposits each): no single block jumps 1 %, the bound is crossed
        // after four, the first borrow moves a utilisation that was flat at 0.
        assert!(fired["legacy-cash-jump"].is_empty());
        assert_eq!(blocks(&fired, "legacy-cash-bounds").first(), Some(&(genesis + 105)));
        assert_eq!(blocks(&fired, "legacy-utilisation-zscore"), vec![genesis + 101]);
        assert_eq!(blocks(&fired, "legacy-utilisation-cusum").first(), Some(&(genesis + 111)));
    }

    #[test]
    fn spot_pump_is_caught_by_the_spot_against_the_feed() {
        let (fired, malicious, genesis) = run_venue("spot-pump");
        let (first_pump, borrow) = (genesis + 100, genesis + 102);
        assert_eq!(malicious.last(), Some(&borrow));
        let f = blocks(&fired, "spot-vs-feed");
        assert_eq!(f.first(), Some(&first_pump), "caught at the first pump, before the borrow: {f:?}");
        assert!(f.contains(&borrow));
        let at_pump = &fired["measure-spot-vs-feed"].iter().find(|(n, _)| *n == first_pump).unwrap().1;
        let deviation = serde_json::from_str::<serde_json::Value>(at_pump).unwrap()["deviation_bps"].as_f64().unwrap();
        eprintln!("spot against the feed at the first pump: {deviation:.0} bps");
        assert!(deviation > 5_000.0, "{deviation}");
        assert!(blocks(&fired, "spot-zscore").contains(&first_pump));
        for name in ["legacy-cash-jump", "legacy-cash-bounds", "legacy-utilisation-cusum"] {
            assert!(fired[name].is_empty(), "{name} watches another contract");
        }
    }

    /// The largest |`key`| a measuring detector saw.
    fn largest(fired: &Fired, name: &str, key: &str) -> f64 {
        fired[name]
            .iter()
            .map(|(_, e)| serde_json::from_str::<serde_json::Value>(e).unwrap()[key].as_f64().unwrap().abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn benign_crash_leaves_the_attack_detectors_silent() {
        let (fired, malicious, genesis) = run_venue("benign-crash");
        assert!(malicious.is_empty());
        let mut silent = vec!["spot-vs-feed".to_string(), "spot-zscore".to_string()];
        silent.extend(
            ["legacy-cash-jump", "legacy-cash-bounds", "legacy-utilisation-cusum", "legacy-utilisation-zscore"]
                .map(String::from),
        );
        for id in [1, 2, 3] {
            silent.extend(["jump", "bounds", "zscore", "cusum"].map(|d| format!("market-{id}-share-price-{d}")));
        }
        for name in &silent {
            assert!(fired[name].is_empty(), "{name} fired on a benign crash: {:?}", fired[name]);
        }
        // Margins: the spot stays within 3.8 % of the feed (the limit is 10 %), lenders' share prices move less
        // than a basis point a block (the jump limit is 100) and never fall below their start.
        assert!(largest(&fired, "measure-spot-vs-feed", "deviation_bps") < 400.0);
        for id in [1, 2] {
            assert!(largest(&fired, &format!("measure-market-{id}-jump"), "change_bps") < 1.0);
            let lowest = fired[&format!("measure-market-{id}-min")]
                .iter()
                .map(|(_, e)| serde_json::from_str::<serde_json::Value>(e).unwrap()["value"].as_f64().unwrap())
                .fold(f64::INFINITY, f64::min);
            assert!(lowest >= 1.0, "market {id}: {lowest}");
        }
        // What does fire on the benign run: the spot's CUSUM (a real change point of the returns) and the jump
        // detector on the AMM spot (ordinary swaps move a $6M pair by 1 %; jump is for share prices).
        assert_eq!(blocks(&fired, "spot-cusum"), vec![genesis + 39]);
        assert!(!fired["spot-jump"].is_empty());
    }

    // -------------------------------------------------------------------------------- mainnet

    const SDAI: Address = address!("83F20F44975D03b1b09e64809B757c47f942BEeA");
    const USDC_WETH: Address = address!("B4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc");
    const ETH_USD: Address = address!("5f4eC3Df9cbd43714FE2740f5E3616155c5b8419");

    /// The conformance suite's mainnet case for series kind `ty`: its detector of [`mainnet_toml`] on block
    /// 18,000,000 with [`mainnet_answers`].
    pub(super) fn mainnet_case(ty: &str) -> (String, Bundle) {
        let doc: toml::Table = toml::from_str(&mainnet_toml()).unwrap();
        let list = doc["detector"].as_array().unwrap();
        let mut table = list.iter().find(|d| d["type"].as_str() == Some(ty)).unwrap().as_table().unwrap().clone();
        table.remove("type");
        let block = crate::testdata::mainnet_block(mainnet_answers(60, &mut Noise(77)));
        (toml::to_string(&table).unwrap(), block)
    }

    fn mainnet_toml() -> String {
        let share_price = format!(
            r#"series.numerator = {{ to = "{SDAI}", function = "totalAssets() returns (uint256)", decimals = 18 }}
series.denominator = {{ to = "{SDAI}", function = "totalSupply() returns (uint256)", decimals = 18 }}"#
        );
        let spot = format!(
            r#"series.numerator = {{ to = "{USDC_WETH}", function = "getReserves() returns (uint112, uint112, uint32)", output = 0, decimals = 6 }}
series.denominator = {{ to = "{USDC_WETH}", function = "getReserves() returns (uint112, uint112, uint32)", output = 1, decimals = 18 }}"#
        );
        let head = |ty: &str, name: &str, target: Address| {
            format!("[[detector]]\ntype = \"{ty}\"\nname = \"{name}\"\nprotocol = \"mainnet\"\nscope = {{ target = \"{target}\" }}\n")
        };
        [
            format!("{}{share_price}\n", head("jump", "sdai-jump", SDAI)),
            format!("{}{share_price}\nmin = 1.0\n", head("ratio-bounds", "sdai-bounds", SDAI)),
            format!("{}{share_price}\n", head("cusum", "sdai-cusum", SDAI)),
            format!("{}{spot}\ntransform = \"log-return\"\n", head("ewma-zscore", "eth-spot-zscore", USDC_WETH)),
            format!(
                "{}{spot}\nreference = {{ to = \"{ETH_USD}\", function = \"latestRoundData() returns (uint80, int256, uint256, uint256, uint80)\", output = 1, decimals = 8 }}\n",
                head("reference-deviation", "eth-spot-vs-feed", USDC_WETH)
            ),
        ]
        .join("\n")
    }

    /// Plausible answers at a block around 18,000,000: sDAI at 1.044 growing 5 % a year, ETH at $1,650 with
    /// 0.1 % noise on the pair.
    fn mainnet_answers(i: u64, noise: &mut Noise) -> Answers {
        let call = |to: Address, sig: &str| {
            let f = Function::parse(sig).unwrap();
            Probe { to, data: f.abi_encode_input(&[]).unwrap().into() }
        };
        let supply = 1_000_000_000.0;
        let assets = supply * 1.044 * (1.0 + 0.05 * (i as f64) / 2_600_000.0);
        let eth = 1_650.0 * (1.0 + 0.001 * noise.normal());
        let weth = 18_180.0;
        let raw = |x: f64, d: i32| U256::from((x * 10f64.powi(d)).round() as u128);
        let reserves = DynSolValue::Tuple(vec![
            DynSolValue::Uint(raw(weth * eth, 6), 112),
            DynSolValue::Uint(raw(weth, 18), 112),
            DynSolValue::Uint(U256::from(1_693_066_000u64), 32),
        ])
        .abi_encode_params();
        [
            (
                call(SDAI, "totalAssets() returns (uint256)"),
                Ok(DynSolValue::Uint(raw(assets, 18), 256).abi_encode().into()),
            ),
            (
                call(SDAI, "totalSupply() returns (uint256)"),
                Ok(DynSolValue::Uint(raw(supply, 18), 256).abi_encode().into()),
            ),
            (call(USDC_WETH, "getReserves() returns (uint112, uint112, uint32)"), Ok(reserves.into())),
            (call(ETH_USD, "latestRoundData() returns (uint80, int256, uint256, uint256, uint80)"), Ok(round(1_650.5))),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn silent_on_mainnet_block_18000000_and_it_reads_its_probes() {
        let mut detectors = build_all(&mainnet_toml());
        assert_eq!(detectors.len(), 5);
        let mut noise = Noise(77);
        // Warm the stateful ones with 60 plausible blocks before the real one.
        for i in 0..60u64 {
            let b = bundle(17_999_940 + i, 0, mainnet_answers(i, &mut noise));
            for d in &mut detectors {
                assert!(d.on_block(&b).unwrap().is_empty(), "{} at #{}", d.name(), b.header.number);
            }
        }
        let answers = mainnet_answers(60, &mut noise);
        let block = crate::testdata::mainnet_block(answers.clone());
        assert_eq!(block.header.number, 18_000_000);
        for d in &mut detectors {
            assert!(d.on_block(&block).unwrap().is_empty(), "{} fired on mainnet", d.name());
            // Each of its probes is read: without any one of them the block is an error naming it.
            for p in d.probes() {
                let mut partial = answers.clone();
                partial.remove(&p);
                let e = d.on_block(&crate::testdata::mainnet_block(partial)).unwrap_err();
                assert_eq!((e.detector.as_str(), e.block.number), (d.name(), 18_000_000));
                assert!(
                    e.cause.to_string().contains(&format!("on {}", p.to))
                        && e.cause.to_string().contains("was not read"),
                    "{e}"
                );
            }
        }
    }

    // -------------------------------------------------------------------------------- configuration

    #[test]
    fn every_toml_example_of_the_module_doc_parses_and_builds() {
        let text = crate::testdata::doc_toml(include_str!("series.rs"));
        let doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let types: Vec<&str> =
            doc["detector"].as_array().unwrap().iter().map(|d| d["type"].as_str().unwrap()).collect();
        let series_types = ["ewma-zscore", "cusum", "reference-deviation", "ratio-bounds", "jump"];
        assert_eq!(types, series_types, "one example per type, in order");
        let detectors = build_all(&text);
        assert_eq!(detectors.len(), 5);
        // The defaults as documented, and the keys given.
        let mut t = doc["detector"].as_array().unwrap()[0].as_table().unwrap().clone();
        t.remove("type");
        let Some(DetectorConfig::EwmaZscore(z)) =
            DetectorConfig::deserialize_typed("ewma-zscore", toml::Value::Table(t)).unwrap()
        else {
            panic!()
        };
        assert_eq!((z.transform, z.lambda, z.warmup_blocks, z.max_zscore), (Transform::LogReturn, 0.97, 30, 8.0));
        assert_eq!(
            (z.min_abs_change, z.min_change_bps, z.severity, z.skip_reverts),
            (0.0, 10.0, Severity::Medium, false)
        );
        let minimal = |ty: &str, extra: &str| {
            let text = format!(
                "name = \"x\"\nprotocol = \"p\"\nscope = {{ target = \"{VAULT}\" }}\nseries = {{ to = \"{VAULT}\", function = \"f() returns (uint256)\" }}\n{extra}"
            );
            DetectorConfig::deserialize_typed(ty, toml::Value::Table(toml::from_str(&text).unwrap())).unwrap().unwrap()
        };
        let DetectorConfig::Cusum(c) = minimal("cusum", "") else { panic!() };
        assert_eq!(
            (c.transform, c.k, c.h, c.min_sd, c.min_sd_bps, c.severity),
            (Transform::Level, 0.5, 8.0, 0.0, 10.0, Severity::Medium)
        );
        let DetectorConfig::Jump(j) = minimal("jump", "") else { panic!() };
        assert_eq!((j.max_jump_bps, j.direction, j.severity), (100.0, Direction::Both, Severity::High));
        let DetectorConfig::RatioBounds(b) = minimal("ratio-bounds", "min = 1.0") else { panic!() };
        assert_eq!((b.kind, b.severity, b.max), (FindingKind::Degraded, Severity::High, None));
        let reference = format!("reference = {{ to = \"{FEED}\", function = \"g() returns (int256)\" }}");
        let DetectorConfig::ReferenceDeviation(r) = minimal("reference-deviation", &reference) else { panic!() };
        assert_eq!((r.max_deviation_bps, r.persist_blocks, r.severity), (1_000.0, 1, Severity::High));
        assert_eq!(minimal("jump", "").type_name(), "jump");
        assert!(DetectorConfig::deserialize_typed("outflow-rat", toml::Value::Table(toml::Table::new()))
            .unwrap()
            .is_none());
        // A wrong key is refused with its name.
        let e = DetectorConfig::deserialize_typed(
            "jump",
            toml::Value::Table(toml::from_str("name = \"x\"\nmax_jmp_bps = 5").unwrap()),
        );
        assert!(e.unwrap_err().to_string().contains("unknown field `max_jmp_bps`"));
    }
}
