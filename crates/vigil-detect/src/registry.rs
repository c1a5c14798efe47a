//! The detector registry: what every detector kind supplies, and the one list of kinds.
//!
//! A kind is one module holding its configuration (serde, defaults documented, unknown keys refused) and an
//! implementation of [`DetectorKind`]: its `type` name, what it reads (the fetch plan: receipts, call traces;
//! the probes follow from the built detector's [`Detector::probes`]), [`DetectorKind::validate`], which collects
//! every error of the configuration, and [`DetectorKind::build`], which compiles signatures, ABIs and expressions
//! once. The list in `lib.rs` (`detectors!`) generates [`crate::DetectorConfig`] (one variant per kind),
//! [`crate::DETECTOR_TYPES`], the dispatch, and one conformance test per kind (`crate::conformance`): a kind is
//! not registered until it passes. Adding a kind touches its module and that list.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use vigil_core::Detector;

/// What every build shares: the source's reorg depth (detectors keep their state that many blocks deeper than
/// their own windows) and the folder relative paths in a configuration are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildContext {
    /// The deepest reorg the source replays (`[source] reorg_depth`). Default 64.
    pub reorg_depth: u64,
    /// The configuration file's folder; empty for the working directory.
    pub config_dir: PathBuf,
}

impl Default for BuildContext {
    fn default() -> Self {
        Self { reorg_depth: DEFAULT_REORG_DEPTH, config_dir: PathBuf::new() }
    }
}

/// The reorg depth when the configuration has no `[source]` (that of `[source] reorg_depth`'s default).
pub const DEFAULT_REORG_DEPTH: u64 = 64;

/// Whether a detector reads call traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceUse {
    /// Never.
    Unused,
    /// When the bundle has them (it sees more with them, and works without).
    Optional,
    /// Always: without them each block is an error.
    Required,
}

/// What a detector reads of a block beyond its header, transactions and declared probes: the parts of the fetch
/// plan that cost round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    /// Receipts (status, created contract, logs).
    pub receipts: bool,
    /// Call traces.
    pub traces: TraceUse,
}

impl Reads {
    /// Receipts only.
    pub const RECEIPTS: Reads = Reads { receipts: true, traces: TraceUse::Unused };
    /// Declared probes only (and the block's header and transactions).
    pub const PROBES: Reads = Reads { receipts: false, traces: TraceUse::Unused };

    /// Whether every block must come with its call traces.
    pub fn requires_traces(&self) -> bool {
        self.traces == TraceUse::Required
    }
}

/// One error of a detector's configuration: the key it is about and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigIssue {
    /// The key, as written in the detector's table (`window_blocks`, `series.numerator.function`).
    pub key: String,
    /// What is wrong, naming the key.
    pub message: String,
}

impl ConfigIssue {
    /// An issue about `key`.
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self { key: key.to_string(), message: message.into() }
    }

    /// The issues of `checks` that fail: (holds, key, what is wrong).
    pub fn failing<const N: usize>(checks: [(bool, &str, String); N]) -> Vec<ConfigIssue> {
        checks.into_iter().filter(|(holds, ..)| !holds).map(|(_, key, message)| Self::new(key, message)).collect()
    }
}

/// A detector that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A key's value is not usable (found by [`DetectorKind::validate`]).
    #[error("{0}")]
    Invalid(#[from] ConfigIssue),
    /// A rule's signature, ABI or expression.
    #[error(transparent)]
    Rule(#[from] crate::rule::RuleError),
    /// A series' signature, argument or parameter.
    #[error(transparent)]
    Series(#[from] crate::series::SeriesError),
}

/// What the list in `lib.rs` says of a kind (it implements this trait): its name and what it reads.
pub trait Registered {
    /// The kind's name, as written after `type =`.
    const TYPE: &'static str;

    /// What a detector of this kind reads ([`DetectorKind::reads`] when it depends on the configuration).
    const READS: Reads;
}

/// A detector kind: its configuration (whose `name` key names the detector), and what the registry asks of it.
pub trait DetectorKind: Registered + DeserializeOwned + Clone + std::fmt::Debug + PartialEq {
    /// What this detector reads, known from the configuration alone.
    fn reads(&self) -> Reads {
        Self::READS
    }

    /// Every error of the configuration (empty when it is usable). Errors that need compiling (signatures,
    /// expressions) are [`DetectorKind::build`]'s.
    fn validate(&self) -> Vec<ConfigIssue> {
        Vec::new()
    }

    /// The detector, built once. Called on a configuration that [`DetectorKind::validate`] passed.
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Detector>, BuildError>;
}

/// Generates, from the list of kinds (`Variant(module::Config) = "type", reads;`, in the order error messages
/// list them), [`crate::DetectorConfig`], [`crate::DETECTOR_TYPES`], each kind's [`Registered`], their
/// dispatch, and one conformance test per kind.
macro_rules! detectors {
    ($($(#[$doc:meta])* $variant:ident($config:ty) = $type:literal, $reads:expr;)+) => {
        $(impl $crate::registry::Registered for $config {
            const TYPE: &'static str = $type;
            const READS: $crate::registry::Reads = $reads;
        })+

        /// One detector's configuration; `type` picks the kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum DetectorConfig {
            $($(#[$doc])* $variant($config),)+
        }

        /// The detector kinds, as written after `type =`.
        pub const DETECTOR_TYPES: &[&str] = &[$($type,)+];

        impl DetectorConfig {
            /// Deserializes the table of a detector of kind `type_name` (the table without its `type` key).
            /// `Ok(None)` when no kind has that name.
            pub fn deserialize_typed<'de, D: serde::Deserializer<'de>>(
                type_name: &str,
                de: D,
            ) -> Result<Option<Self>, D::Error> {
                $(if type_name == $type {
                    return <$config as serde::Deserialize>::deserialize(de).map(|c| Some(Self::$variant(c)));
                })+
                Ok(None)
            }

            /// The kind, as written after `type =`.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $type,)+
                }
            }

            /// The detector's configured name.
            pub fn name(&self) -> &str {
                match self {
                    $(Self::$variant(c) => &c.name,)+
                }
            }

            /// What the detector reads.
            pub fn reads(&self) -> $crate::registry::Reads {
                match self {
                    $(Self::$variant(c) => $crate::registry::DetectorKind::reads(c),)+
                }
            }

            /// Every error of the configuration.
            pub fn validate(&self) -> Vec<$crate::registry::ConfigIssue> {
                match self {
                    $(Self::$variant(c) => $crate::registry::DetectorKind::validate(c),)+
                }
            }

            /// Builds the detector: the configuration validated (the first error returned), then signatures,
            /// ABIs and expressions compiled, once.
            pub fn build(
                &self,
                ctx: &$crate::registry::BuildContext,
            ) -> Result<Box<dyn vigil_core::Detector>, $crate::registry::BuildError> {
                if let Some(issue) = self.validate().into_iter().next() {
                    return Err(issue.into());
                }
                match self {
                    $(Self::$variant(c) => $crate::registry::DetectorKind::build(c, ctx),)+
                }
            }
        }

        /// Every kind passes the conformance suite.
        #[cfg(test)]
        #[allow(non_snake_case)]
        mod conformance_suite {
            use super::*;
            $(
                #[test]
                fn $variant() {
                    $crate::conformance::check::<$config>();
                }
            )+
        }
    };
}
pub(crate) use detectors;
