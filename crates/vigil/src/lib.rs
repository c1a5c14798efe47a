//! Vigil's engine and its front ends (the `vigil` binary is a thin command line over this library).
//!
//! - [`attest`]: the node's attestation service for attestation-gated entry (the SecurityGate);
//! - [`config`]: the TOML configuration and its validation;
//! - [`engine`]: bundles → detectors → findings → incidents → pause transactions;
//! - [`keys`]: signing keys from an environment variable, a file or an encrypted keystore;
//! - [`proving`]: the front ends of `vigil demo`, `vigil eval`, `vigil sim` and `vigil venue` (feature `sim`);
//! - [`demo`]: the end-to-end demonstration on the in-process chain (feature `sim`);
//! - [`eval`]: detection rates, delays, funds saved and false alarms over many seeds (`vigil eval`, feature `sim`);
//! - [`replay`]: the detectors over recorded blocks (`vigil replay`);
//! - [`run`]: the node following a live chain over JSON-RPC (`vigil run`), its metrics and health endpoints;
//! - [`status`]: the head, the stored cursor, the lag and each endpoint's health (`vigil status`).

//!
//! The feature `sim` (on by default) links the proving ground (`vigil-sim`: the in-process chain, the reference
//! venue, the attack scenarios) and what is built on it; `--no-default-features` builds the production node
//! without it.

pub mod attest;
pub mod config;
#[cfg(feature = "sim")]
pub mod demo;
pub mod engine;
#[cfg(feature = "sim")]
pub mod eval;
pub mod keys;
#[cfg(feature = "sim")]
pub mod proving;
pub mod replay;
pub mod run;
pub mod status;

/// The demo's configuration (`config/demo.toml`, the reference venue's detectors), embedded: the default of
/// `vigil replay` and `vigil eval`.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.toml");
