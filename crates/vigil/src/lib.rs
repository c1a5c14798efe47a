//! Vigil's engine and its front ends (the `vigil` binary is a thin command line over this library).
//!
//! - [`config`]: the TOML configuration and its validation;
//! - [`engine`]: bundles → detectors → findings → incidents → pause transactions;
//! - [`keys`]: signing keys from an environment variable, a file or an encrypted keystore;
//! - [`demo`]: the end-to-end demonstration on the in-process chain;
//! - [`eval`]: detection rates, delays, funds saved and false alarms over many seeds (`vigil eval`);
//! - [`replay`]: the detectors over recorded blocks (`vigil replay`);
//! - [`run`]: the node following a live chain over JSON-RPC (`vigil run`), its metrics and health endpoints.

pub mod config;
pub mod demo;
pub mod engine;
pub mod eval;
pub mod keys;
pub mod replay;
pub mod run;
