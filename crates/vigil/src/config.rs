//! Configuration in TOML: the Guardian and its response keys, the policy, and the detectors.
//!
//! ```toml
//! [guardian]
//! address = "0x…"
//! chain_id = 31337
//!
//! [policy]
//! notify_at = "medium"      # findings at or above this severity are notified
//! pause_at = "critical"     # exploit or suspicious findings at or above this severity pause their scope
//!
//! [[detector]]
//! type = "outflow-rate"     # or "price-deviation", "admin-change", "solvency"
//! name = "legacy-market-outflow"
//! …                          # the detector's own keys: see vigil_detect
//!
//! [source]                  # `vigil run` only: the chain to follow (docs/operations.md)
//! rpc = ["http://127.0.0.1:8545"]
//!
//! [node]
//! store = "vigil.sqlite"
//! ```
//!
//! Unknown keys and bad values are errors that name the file, the line and the key, with a suggestion when a
//! known key is close ([`ConfigError`]). `vigil check FILE` validates a file without running anything.

use std::path::Path;

use alloy::primitives::Address;
use serde::Deserialize;
use vigil_core::Detector;
pub use vigil_detect::DetectorConfig;
use vigil_detect::{
    correlation::{CorrelationConfig, StageCorrelator},
    BuildContext, ConfigIssue, DETECTOR_TYPES,
};
use vigil_respond::Policy;

use crate::engine::{PauseFees, GWEI};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The Guardian that pauses go through.
    pub guardian: GuardianConfig,
    /// Which findings lead to which actions.
    pub policy: Policy,
    /// The detectors.
    pub detectors: Vec<DetectorConfig>,
    /// The node's signing keys for pause reports.
    pub responder: Option<ResponderConfig>,
    /// Where notifications go.
    pub notifiers: Vec<WebhookConfig>,
    /// The chain to follow (`vigil run`).
    pub source: Option<SourceConfig>,
    /// The node's store and servers.
    pub node: NodeConfig,
    /// Stage correlation of findings by actor (`[correlation]`; off when absent).
    pub correlation: Option<CorrelationConfig>,
    /// The oracle network (`[network]`; a node that signs alone when absent).
    pub network: Option<NetworkConfig>,
    /// Screening of pending transactions before they execute (`[screening]`; off when absent).
    pub screening: Option<ScreeningConfig>,
    /// The attestation service for a SecurityGate (`[gate]`; off when absent).
    pub gate: Option<GateConfig>,
    /// The file's folder: relative paths in the file (a rule's `abi`) are read from it. Empty for the working
    /// directory.
    pub dir: std::path::PathBuf,
}

/// The chain to follow (`[source]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// HTTP JSON-RPC endpoints of the chain, tried in order of health; at least one.
    pub rpc: Vec<String>,
    /// A WebSocket endpoint for new heads (`eth_subscribe`); without it, or while it is down, the head is polled.
    #[serde(default)]
    pub ws: Option<String>,
    /// The chain id the endpoints must report. Default: the Guardian's.
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// First block when the store is empty. Default: the head at start.
    #[serde(default)]
    pub start_block: Option<u64>,
    /// How often to ask for the head when no WebSocket head arrives, in milliseconds. Default 1000.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// Blocks whose hashes are kept to find the common ancestor of a reorg. Default 64.
    #[serde(default = "default_reorg_depth")]
    pub reorg_depth: u64,
    /// Blocks before the cursor read at start to refill the detectors' windows. Default 128.
    #[serde(default = "default_warm_up")]
    pub warm_up_blocks: u64,
    /// Fetch callTracer traces for every block. Default: when a detector reads them (`reentrancy`,
    /// `flash-loan`); `false` with such a detector is an error.
    #[serde(default)]
    pub traces: Option<bool>,
    /// Timeout of one request, in milliseconds. Default 10000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts per request across endpoints. Default 8.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Confirmations each response waits for.
    #[serde(default)]
    pub confirmations: Confirmations,
}

/// Blocks on top of a finding's block before its response acts (`[source.confirmations]`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Confirmations {
    /// Pauses act at once by default (0): an attack does not wait for finality.
    #[serde(default)]
    pub pause: u64,
    /// Notifications wait for 2 blocks by default, so that a reorg retracts them before anyone is woken.
    #[serde(default = "default_notify_confirmations")]
    pub notify: u64,
}

impl Default for Confirmations {
    fn default() -> Self {
        Self { pause: 0, notify: default_notify_confirmations() }
    }
}

/// The node (`[node]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The SQLite store. Default `vigil.sqlite` (relative to the working directory).
    #[serde(default = "default_store")]
    pub store: std::path::PathBuf,
    /// Address for `/metrics` and `/health`, e.g. `127.0.0.1:9184`. Default: no server.
    #[serde(default)]
    pub metrics: Option<std::net::SocketAddr>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self { store: default_store(), metrics: None }
    }
}

vigil_core::defaults! {
    default_poll_ms: u64 = 1000;
    default_reorg_depth: u64 = vigil_detect::registry::DEFAULT_REORG_DEPTH;
    default_warm_up: u64 = 128;
    default_timeout_ms: u64 = 10_000;
    default_attempts: u32 = 8;
    default_notify_confirmations: u64 = 2;
    default_store: std::path::PathBuf = "vigil.sqlite".into();
}

/// The node's keys.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResponderConfig {
    /// One or more key sources (a demo node may hold k keys; a production node holds one).
    pub keys: Vec<crate::keys::KeySource>,
}

/// A webhook endpoint (`[[notifier]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Always `webhook` for now.
    #[serde(rename = "type")]
    pub kind: WebhookKind,
    /// The endpoint.
    pub url: String,
    /// The environment variable holding the HMAC secret.
    pub secret_env: String,
}

/// Notifier kinds.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// JSON POST with an HMAC-SHA256 signature header.
    Webhook,
}

/// The file as read: detectors stay tables (with their place in the file) until their `type` is known, so that
/// their errors can name their own key and line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    guardian: GuardianConfig,
    #[serde(default)]
    policy: Policy,
    #[serde(rename = "detector", default)]
    detectors: Vec<toml::Spanned<toml::Table>>,
    #[serde(default)]
    responder: Option<ResponderConfig>,
    #[serde(rename = "notifier", default)]
    notifiers: Vec<WebhookConfig>,
    #[serde(default)]
    source: Option<SourceConfig>,
    #[serde(default)]
    node: NodeConfig,
    #[serde(default)]
    correlation: Option<CorrelationConfig>,
    #[serde(default)]
    network: Option<NetworkConfig>,
    #[serde(default)]
    screening: Option<ScreeningConfig>,
    #[serde(default)]
    gate: Option<GateConfig>,
}

/// The oracle network (`[network]`, docs/oracle-network.md): this node holds one key of the Guardian's oracle
/// set, signs a share of each pause it decides and sends it to its peers; a node holding the Guardian's threshold
/// of shares for one report submits it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Where this node's inbox listens (`127.0.0.1:9650`).
    pub listen: std::net::SocketAddr,
    /// The other nodes of the oracle set.
    #[serde(rename = "peer", default)]
    pub peers: Vec<PeerConfig>,
    /// A peer's report on a scope is signed only when this node's own detectors decided a pause of the same
    /// scope at most this many blocks from the report's block.
    #[serde(default = "default_join_window")]
    pub join_window_blocks: u64,
    /// Blocks after this node signed a report without the report reaching its threshold before the node alerts
    /// "quorum unreachable".
    #[serde(default = "default_quorum_timeout")]
    pub quorum_timeout_blocks: u64,
    /// Milliseconds a peer has to take a message.
    #[serde(default = "default_peer_timeout")]
    pub peer_timeout_ms: u64,
    /// Messages per second one peer may send this node (a flood beyond it is dropped).
    #[serde(default = "default_peer_rate")]
    pub rate_per_second: u32,
}

/// A peer (`[[network.peer]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The address of its oracle key.
    pub address: Address,
    /// Its inbox (`http://127.0.0.1:9651`).
    pub url: String,
}

vigil_core::defaults! {
    default_join_window: u64 = 3;
    default_quorum_timeout: u64 = 3;
    default_peer_timeout: u64 = 500;
    default_peer_rate: u32 = 50;
}

/// The Guardian.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuardianConfig {
    /// Its address.
    pub address: Address,
    /// The chain it is on (part of the EIP-712 domain).
    pub chain_id: u64,
    /// How long a signed report stays valid, in seconds. Default 600, the Guardian's default max report lifetime;
    /// a longer one is refused by the Guardian (`ReportLifetimeTooLong`).
    #[serde(default = "default_validity")]
    pub report_validity_seconds: u64,
}

vigil_core::defaults! {
    default_validity: u64 = 600;
}

/// Screening of pending transactions before they execute (`[screening]`; off when absent): each pending
/// transaction is simulated on the head's state, the detectors run on the block it would make, and a finding at
/// the pause level front-runs it with a pause that outbids its tip (docs/screening.md).
///
/// ```toml
/// [screening]
/// pause_priority_fee_gwei = 5   # the tip of every pause transaction
/// outbid_gwei = 2               # added to the pending transaction's tip by the pause that front-runs it
/// max_priority_fee_gwei = 500   # the most a front-running pause tips
/// mempool_poll_ms = 200         # `vigil run`: how often the node's txpool is read between blocks
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScreeningConfig {
    /// The tip of every pause transaction, in gwei. Default 5.
    #[serde(default = "default_pause_tip_gwei")]
    pub pause_priority_fee_gwei: u64,
    /// What the pause that front-runs a pending transaction adds to its tip, in gwei. Default 2.
    #[serde(default = "default_outbid_gwei")]
    pub outbid_gwei: u64,
    /// The most a front-running pause tips, in gwei. Default 500.
    #[serde(default = "default_max_tip_gwei")]
    pub max_priority_fee_gwei: u64,
    /// `vigil run`: how often the node's pending transactions are read (`txpool_content`) while it waits for
    /// the next block, in milliseconds. Default 200.
    #[serde(default = "default_mempool_poll_ms")]
    pub mempool_poll_ms: u64,
}

// The fee defaults are the engine's own (`PauseFees::default`), in gwei.
vigil_core::defaults! {
    default_pause_tip_gwei: u64 = (PauseFees::default().priority_fee / GWEI) as u64;
    default_outbid_gwei: u64 = (PauseFees::default().outbid / GWEI) as u64;
    default_max_tip_gwei: u64 = (PauseFees::default().max_priority_fee / GWEI) as u64;
    default_mempool_poll_ms: u64 = 200;
}

impl ScreeningConfig {
    /// The tips the engine's pauses pay.
    pub fn fees(&self) -> PauseFees {
        PauseFees {
            priority_fee: self.pause_priority_fee_gwei as u128 * GWEI,
            outbid: self.outbid_gwei as u128 * GWEI,
            max_priority_fee: self.max_priority_fee_gwei as u128 * GWEI,
        }
    }
}

/// The attestation service of `vigil run` for a SecurityGate (`[gate]`, docs/screening.md): `POST /attest` on
/// the metrics server simulates a transaction on the head's state in the gate's simulation mode and answers with
/// an attestation signed by the node's oracle keys, or a refusal with the findings.
///
/// ```toml
/// [gate]
/// address = "0x…"          # the SecurityGate
/// attestation_blocks = 3   # blocks an attestation stays valid after the head (1 to 10)
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// The SecurityGate's address.
    pub address: alloy::primitives::Address,
    /// Blocks an attestation stays valid after the head. Default 3; the gate accepts at most 10.
    #[serde(default = "default_attestation_blocks")]
    pub attestation_blocks: u64,
}

vigil_core::defaults! {
    default_attestation_blocks: u64 = crate::attest::DEFAULT_VALIDITY_BLOCKS;
}

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a bad value.
    #[error("{path}: line {line}: {message}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong, naming the key.
        message: String,
        /// A suggestion.
        hint: Option<String>,
    },
    /// Valid TOML, but the pieces do not fit together.
    #[error("{path}: {message}")]
    Inconsistent {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// More than one of the above, in the order of the file: every error is reported at once.
    #[error("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many {
        /// The errors.
        errors: Vec<ConfigError>,
    },
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: name.clone(), source })?;
        Self::parse(&name, &text)
    }

    /// Parses and validates `text`, naming it `name` in errors. Every error of the file is reported (one error as
    /// itself, several as [`ConfigError::Many`]), except TOML syntax and the keys outside `[[detector]]`, which
    /// stop at the first.
    pub fn parse(name: &str, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let start = e.span().map(|s| s.start).unwrap_or(0);
            let message = e.message().trim().to_string();
            let line = key_line(text, start, &message);
            ConfigError::Invalid { path: name.to_string(), line, hint: suggestion(&message), message }
        })?;
        let dir = Path::new(name).parent().map(Path::to_path_buf).unwrap_or_default();
        let ctx = build_context(raw.source.as_ref(), &dir);
        let mut errors = Vec::new();
        let mut detectors = Vec::new();
        for (i, table) in raw.detectors.iter().enumerate() {
            match detector_from(name, text, i, table, &ctx) {
                Ok(d) => detectors.push(d),
                Err(e) => errors.extend(e),
            }
        }
        let config = Config {
            guardian: raw.guardian,
            policy: raw.policy,
            detectors,
            responder: raw.responder,
            notifiers: raw.notifiers,
            source: raw.source,
            node: raw.node,
            correlation: raw.correlation,
            network: raw.network,
            screening: raw.screening,
            gate: raw.gate,
            dir,
        };
        config.validate(name, &mut errors);
        match errors.len() {
            0 => Ok(config),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Many { errors }),
        }
    }

    /// Adds every inconsistency between the pieces to `errors`.
    fn validate(&self, name: &str, errors: &mut Vec<ConfigError>) {
        let mut inconsistent =
            |message: String| errors.push(ConfigError::Inconsistent { path: name.to_string(), message });
        if let Some(c) = &self.correlation {
            if let Err(e) = c.validate() {
                inconsistent(format!("[correlation] {e}"));
            }
        }
        if self.responder.as_ref().is_some_and(|r| r.keys.is_empty()) {
            inconsistent("[responder] keys is empty".into());
        }
        if let Some(network) = &self.network {
            match self.responder.as_ref().map(|r| r.keys.len()) {
                Some(1) => {}
                Some(n) => inconsistent(format!(
                    "[network] a node of the oracle network holds exactly one key of the oracle set; [responder] \
                     lists {n}"
                )),
                None => inconsistent("[network] needs [responder] with this node's one key".into()),
            }
            for p in &network.peers {
                if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                    inconsistent(format!("[[network.peer]] url `{}` is not an http(s) URL", p.url));
                }
            }
            if network.rate_per_second == 0 {
                inconsistent("[network] rate_per_second must be at least 1".into());
            }
        }
        if let Some(g) = &self.gate {
            if !(1..=10).contains(&g.attestation_blocks) {
                inconsistent(format!(
                    "[gate] attestation_blocks is {}; the gate accepts 1 to 10",
                    g.attestation_blocks
                ));
            }
            if self.responder.is_none() {
                inconsistent("[gate] needs [responder] with the node's oracle keys, which sign attestations".into());
            }
        }
        for n in &self.notifiers {
            if !(n.url.starts_with("http://") || n.url.starts_with("https://")) {
                inconsistent(format!("notifier url `{}` is not an http(s) URL", n.url));
            }
        }
        if let Some(source) = &self.source {
            if source.rpc.is_empty() {
                inconsistent("[source] rpc is empty: give at least one HTTP endpoint".into());
            }
            for url in &source.rpc {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    inconsistent(format!("[source] rpc `{url}` is not an http(s) URL"));
                }
            }
            if let Some(ws) = &source.ws {
                if !(ws.starts_with("ws://") || ws.starts_with("wss://")) {
                    inconsistent(format!("[source] ws `{ws}` is not a ws(s) URL"));
                }
            }
            let readers: Vec<&str> =
                self.detectors.iter().filter(|d| d.reads().requires_traces()).map(DetectorConfig::name).collect();
            if source.traces == Some(false) && !readers.is_empty() {
                inconsistent(format!(
                    "[source] traces = false, but detectors {} read call traces: set traces = true (the node must \
                     serve debug_traceBlockByHash or trace_block) or remove them",
                    readers.join(", ")
                ));
            }
            if source.reorg_depth == 0 || source.max_attempts == 0 || source.poll_interval_ms == 0 {
                inconsistent("[source] reorg_depth, max_attempts and poll_interval_ms must be at least 1".into());
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for d in &self.detectors {
            if !names.insert(d.name()) {
                inconsistent(format!("two detectors are named \"{}\"; names must be unique", d.name()));
            }
        }
    }

    /// Whether a detector requires call traces (the source must then trace every block).
    pub fn needs_traces(&self) -> bool {
        self.detectors.iter().any(|d| d.reads().requires_traces())
    }

    /// What every detector's build shares: the source's reorg depth (the default without `[source]`) and the
    /// file's folder.
    pub fn build_context(&self) -> BuildContext {
        build_context(self.source.as_ref(), &self.dir)
    }

    /// Whether `vigil run` fetches traces: `[source] traces` when given, else whether a detector reads them.
    pub fn fetch_traces(&self) -> bool {
        self.source.as_ref().and_then(|s| s.traces).unwrap_or_else(|| self.needs_traces())
    }

    /// Builds every detector.
    ///
    /// # Panics
    /// When a detector cannot be built: [`Config::parse`] builds each once to refuse such a file, so this happens
    /// only for a `Config` assembled by hand.
    pub fn build_detectors(&self) -> Vec<Box<dyn Detector>> {
        let ctx = self.build_context();
        self.detectors
            .iter()
            .map(|d| d.build(&ctx).unwrap_or_else(|e| panic!("detector \"{}\": {e}", d.name())))
            .collect()
    }

    /// The tips of the engine's pause transactions: `[screening]`'s, or the defaults.
    pub fn pause_fees(&self) -> PauseFees {
        self.screening.as_ref().map(ScreeningConfig::fees).unwrap_or_default()
    }

    /// The stage correlator, when `[correlation]` is configured.
    pub fn build_correlator(&self) -> Option<StageCorrelator> {
        self.correlation.clone().map(StageCorrelator::new)
    }
}

/// What detectors are built with: `[source] reorg_depth` (its default without a source) and the file's folder.
fn build_context(source: Option<&SourceConfig>, dir: &Path) -> BuildContext {
    let reorg_depth = source.map_or(vigil_detect::registry::DEFAULT_REORG_DEPTH, |s| s.reorg_depth);
    BuildContext { reorg_depth, config_dir: dir.to_path_buf() }
}

/// Reads detector `index` from its table, validates and builds it, naming its own key and line in every error.
fn detector_from(
    path: &str,
    text: &str,
    index: usize,
    table: &toml::Spanned<toml::Table>,
    ctx: &BuildContext,
) -> Result<DetectorConfig, Vec<ConfigError>> {
    let start = table.span().start;
    let mut t = table.get_ref().clone();
    let label = t
        .get("name")
        .and_then(|n| n.as_str())
        .map(|n| format!("detector \"{n}\""))
        .unwrap_or(format!("detector #{}", index + 1));
    let invalid = |line: usize, message: String, hint: Option<String>| ConfigError::Invalid {
        path: path.to_string(),
        line,
        message,
        hint,
    };
    let kind = match t.remove("type") {
        Some(toml::Value::String(k)) => k,
        Some(other) => {
            let line = key_line(text, start, "`type`");
            return Err(vec![invalid(line, format!("{label}: type: expected a string, found {other}"), None)]);
        }
        None => {
            let message = format!("{label}: missing key `type` (one of {})", DETECTOR_TYPES.join(", "));
            return Err(vec![invalid(line_of(text, start), message, None)]);
        }
    };
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(toml::Value::Table(t), &mut track);
    let built = match DetectorConfig::deserialize_typed(&kind, de) {
        Ok(Some(built)) => built,
        Ok(None) => {
            let message = format!(
                "{label}: type: unknown detector type `{kind}`, expected one of `{}`",
                DETECTOR_TYPES.join("`, `")
            );
            let expected = DETECTOR_TYPES.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ");
            let hint = suggestion(&format!("`{kind}` expected {expected}"));
            return Err(vec![invalid(key_line(text, start, "`type`"), message, hint)]);
        }
        Err(e) => {
            let key = track.path().to_string();
            let message = e.message().trim().to_string();
            let key = if key == "." { message.split('`').nth(1).unwrap_or_default().to_string() } else { key };
            let line = key_line(text, start, &format!("`{key}`"));
            let hint = suggestion(&message);
            return Err(vec![invalid(line, format!("{label}: {key}: {message}"), hint)]);
        }
    };
    // Every error of the configuration, each at its key's line.
    let issues = built.validate();
    if !issues.is_empty() {
        let at = |i: &ConfigIssue| key_line(text, start, &format!("`{}`", i.key));
        return Err(issues.iter().map(|i| invalid(at(i), format!("{label}: {i}"), None)).collect());
    }
    // Signatures, ABIs and expressions are checked here, so that a bad one is refused with its place in the file.
    if let Err(e) = built.build(ctx) {
        let message = e.to_string();
        let message = if message.starts_with(&label) { message } else { format!("{label}: {message}") };
        return Err(vec![invalid(key_line(text, start, &message), message, None)]);
    }
    Ok(built)
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The line of the key a message names in backquotes (`unknown field `x``), searched from `from` on; else the
/// line of `from`.
fn key_line(text: &str, from: usize, message: &str) -> usize {
    let from = from.min(text.len());
    let Some(key) = message.split('`').nth(1) else { return line_of(text, from) };
    let mut offset = from;
    for line in text[from..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with(key) && trimmed[key.len()..].trim_start().starts_with('=') {
            return line_of(text, offset);
        }
        offset += line.len();
    }
    line_of(text, from)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" and "unknown variant", the closest expected name.
fn suggestion(message: &str) -> Option<String> {
    let found = message.split('`').nth(1)?;
    let expected: Vec<&str> = message.split("expected").nth(1)?.split('`').skip(1).step_by(2).collect();
    vigil_core::suggest::closest(found, expected).map(|e| format!("did you mean `{e}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[guardian]
address = "0x0165878A594ca255338adfa4d48449f69242Eb8F"
chain_id = 31337

[[detector]]
type = "outflow-rate"
name = "legacy-outflow"
protocol = "venue"
contract = "0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82"
assets = ["0x5FbDB2315678afecb367f032d93F642f64180aa3"]
"#;

    fn err(text: &str) -> String {
        Config::parse("vigil.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn a_good_config_parses_with_defaults() {
        let c = Config::parse("vigil.toml", GOOD).unwrap();
        assert_eq!(c.detectors.len(), 1);
        let DetectorConfig::OutflowRate(o) = &c.detectors[0] else { panic!() };
        assert_eq!((o.window_blocks, o.min_retained_bps), (50, 9_500));
        assert_eq!(c.guardian.report_validity_seconds, 600);
        assert_eq!(c.policy, Policy::default());
    }

    #[test]
    fn an_unknown_key_names_line_and_key_with_a_suggestion() {
        let text = GOOD.replace("assets =", "window_blocs = 10\nassets =");
        let e = err(&text);
        assert!(
            e.starts_with(
                "vigil.toml: line 11: detector \"legacy-outflow\": window_blocs: unknown field `window_blocs`"
            ),
            "{e}"
        );
        assert!(e.ends_with("(did you mean `window_blocks`?)"), "{e}");
    }

    #[test]
    fn an_unknown_detector_type_is_named() {
        let e = err(&GOOD.replace("outflow-rate", "outflow-rat"));
        assert!(
            e.starts_with("vigil.toml: line 7: detector \"legacy-outflow\": type: unknown detector type `outflow-rat`"),
            "{e}"
        );
        assert!(e.contains("did you mean `outflow-rate`?"), "{e}");
    }

    #[test]
    fn a_bad_value_names_its_line() {
        let e = err(&GOOD.replace("chain_id = 31337", "chain_id = \"mainnet\""));
        assert!(e.starts_with("vigil.toml: line 4: invalid type: string \"mainnet\", expected u64"), "{e}");
        let e = err(&GOOD.replace("0x0DCd1Bf9A1b36cE34237eEaFef220932846BCD82", "0x1234"));
        assert!(e.starts_with("vigil.toml: line 10: detector \"legacy-outflow\": contract: "), "{e}");
        let e = err(&GOOD.replace("[guardian]", "[guardian]\nadress = 1"));
        assert!(e.starts_with("vigil.toml: line 3: unknown field `adress`"), "{e}");
        assert!(e.ends_with("(did you mean `address`?)"), "{e}");
        let e = err(&GOOD.replace("[guardian]", "[guardian\n"));
        assert!(e.starts_with("vigil.toml: line 2:"), "{e}");
    }

    #[test]
    fn a_source_parses_with_defaults_and_bad_values_are_named() {
        let text = format!("{GOOD}\n[source]\nrpc = [\"http://127.0.0.1:8545\"]\nws = \"ws://127.0.0.1:8545\"\n");
        let c = Config::parse("vigil.toml", &text).unwrap();
        let source = c.source.unwrap();
        assert_eq!(source.confirmations, Confirmations { pause: 0, notify: 2 });
        assert_eq!((source.reorg_depth, source.warm_up_blocks, source.poll_interval_ms), (64, 128, 1000));
        assert_eq!(c.node.store, std::path::PathBuf::from("vigil.sqlite"));

        let e = err(&text.replace("ws = ", "pol_interval_ms = 5\nws = "));
        assert!(
            e.contains("line 15") && e.contains("pol_interval_ms") && e.contains("did you mean `poll_interval_ms`?"),
            "{e}"
        );
        let e = err(&text.replace("ws://", "http://"));
        assert!(e.contains("[source] ws `http://127.0.0.1:8545` is not a ws(s) URL"), "{e}");
        let e = err(&text.replace("rpc = [\"http://127.0.0.1:8545\"]", "rpc = []"));
        assert!(e.contains("[source] rpc is empty"), "{e}");
        let e = err(&format!("{text}\n[source.confirmations]\nnotfy = 3\n"));
        assert!(e.contains("did you mean `notify`?"), "{e}");
    }

    #[test]
    fn keys_and_notifiers_parse_and_are_checked() {
        let text = format!(
            "{GOOD}\n[responder]\nkeys = [{{ env = \"VIGIL_KEY\" }}]\n\n[[notifier]]\ntype = \"webhook\"\nurl = \"https://hooks.example/vigil\"\nsecret_env = \"VIGIL_HOOK_SECRET\"\n"
        );
        let c = Config::parse("vigil.toml", &text).unwrap();
        assert_eq!(c.responder.unwrap().keys.len(), 1);
        assert_eq!(c.notifiers[0].url, "https://hooks.example/vigil");
        let e = err(&text.replace("https://hooks.example/vigil", "hooks.example"));
        assert_eq!(e, "vigil.toml: notifier url `hooks.example` is not an http(s) URL");
        let e = err(&text.replace("type = \"webhook\"", "type = \"slack\""));
        assert!(e.contains("unknown variant `slack`, expected `webhook`"), "{e}");
    }

    #[test]
    fn every_error_of_the_file_is_reported_each_at_its_line() {
        let second = GOOD[GOOD.find("[[detector]]").unwrap()..]
            .replace("legacy-outflow", "second")
            .replace("assets = [\"0x5FbDB2315678afecb367f032d93F642f64180aa3\"]", "assets = []\nwindow_blocks = 0");
        let text = format!("{GOOD}min_retained_bps = 0\n{second}\n[source]\nrpc = []\n");
        let e = Config::parse("vigil.toml", &text).unwrap_err();
        let ConfigError::Many { errors } = &e else { panic!("{e}") };
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "vigil.toml: line 12: detector \"legacy-outflow\": min_retained_bps must be between 1 and 9999, found 0",
                "vigil.toml: line 19: detector \"second\": window_blocks must be at least 1",
                "vigil.toml: line 18: detector \"second\": assets is empty",
                "vigil.toml: [source] rpc is empty: give at least one HTTP endpoint",
            ]
        );
        assert_eq!(e.to_string(), lines.join("\n"));
    }

    #[test]
    fn a_missing_key_and_inconsistent_values_are_named() {
        let e = err(&GOOD.replace("protocol = \"venue\"\n", ""));
        assert!(e.contains("missing field `protocol`"), "{e}");
        let e = err(&format!("{GOOD}min_retained_bps = 10000\n"));
        assert_eq!(
            e,
            "vigil.toml: line 12: detector \"legacy-outflow\": min_retained_bps must be between 1 and 9999, found 10000"
        );
        let twice = format!("{GOOD}{}", &GOOD[GOOD.find("[[detector]]").unwrap()..]);
        assert_eq!(err(&twice), "vigil.toml: two detectors are named \"legacy-outflow\"; names must be unique");
    }

    #[test]
    fn a_network_node_holds_one_key_and_names_its_peers() {
        let one = "[responder]\nkeys = [{ env = \"VIGIL_KEY\" }]\n";
        let network = "[network]\nlisten = \"127.0.0.1:9650\"\n\n[[network.peer]]\naddress = \"0x0000000000000000000000000000000000000001\"\nurl = \"http://127.0.0.1:9651\"\n";
        let c = Config::parse("vigil.toml", &format!("{GOOD}\n{one}\n{network}")).unwrap();
        let n = c.network.unwrap();
        assert_eq!(n.peers.len(), 1);
        assert_eq!(
            (n.join_window_blocks, n.quorum_timeout_blocks, n.peer_timeout_ms, n.rate_per_second),
            (3, 3, 500, 50)
        );
        let two = "[responder]\nkeys = [{ env = \"A\" }, { env = \"B\" }]\n";
        let e = err(&format!("{GOOD}\n{two}\n{network}"));
        assert!(
            e.contains(
                "[network] a node of the oracle network holds exactly one key of the oracle set; [responder] lists 2"
            ),
            "{e}"
        );
        let e = err(&format!("{GOOD}\n{network}"));
        assert_eq!(e, "vigil.toml: [network] needs [responder] with this node's one key");
        let e = err(&format!("{GOOD}\n{one}\n{}", network.replace("http://127.0.0.1:9651", "127.0.0.1:9651")));
        assert_eq!(e, "vigil.toml: [[network.peer]] url `127.0.0.1:9651` is not an http(s) URL");
        let e = err(&format!("{GOOD}\n{one}\n{}", network.replace("listen =", "lisen =")));
        assert!(e.contains("unknown field `lisen`"), "{e}");
    }
}
