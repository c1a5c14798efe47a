//! The Guardian responder: what the Guardian would admit, the signed `pauseWithQuorum` call, and the Guardian's
//! events.
//!
//! At every block the node reads the Guardian's `snapshot()` (one `eth_call` probe at that block): the oracle
//! set and its config version, the bounds, and for every mandated scope its nonce, mandate, pause state, its
//! target's pause budget and the cooldown governance put on the whole target. [`GuardianView::admit`] mirrors
//! the contract's `_admit` on that state: a pause is prepared only if the Guardian would take it; otherwise the
//! [`Refusal`] says why (no mandate, expired, already paused, cooldown, budget spent, too few keys). Reading
//! the state at each block, rather than rebuilding it from events, keeps the node exact across restarts and
//! reorgs at the cost of one probe per block (the two probes it replaces, config version and nonces, cost the
//! same).
//!
//! The report binds the incident id, the evidence hash, the block the findings were observed at, a deadline (the
//! smaller of the node's `report_validity_seconds` and the Guardian's max report lifetime, from the block's
//! time), the config version and the scope's nonce; it is signed under the Guardian's EIP-712 domain by the
//! node's keys that belong to the oracle set (a demo node holds k keys; in the oracle network each node holds
//! one). Keys are never printed: `Debug` shows addresses only.

use std::fmt;

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use serde::Serialize;
use vigil_contracts::Guardian;
use vigil_core::{guardian_domain, sign_report, Action, Bundle, PauseReport, Probe, Refusal, Scope};

use crate::responder::{Observation, PrepareError, Prepared, Responder};

/// The probe of the Guardian's `snapshot()`.
pub fn snapshot_probe(guardian: Address) -> Probe {
    Probe { to: guardian, data: Guardian::snapshotCall {}.abi_encode().into() }
}

/// One mandated scope as the Guardian holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeState {
    /// The scope.
    pub scope: Scope,
    /// The nonce a report must carry now.
    pub nonce: U256,
    /// Whether the mandate is in force (false once revoked).
    pub active: bool,
    /// Longest pause of the mandate (seconds).
    pub max_pause_seconds: u64,
    /// Wait after a pause ends before the next (seconds).
    pub cooldown_seconds: u64,
    /// When the mandate ends (unix seconds).
    pub expiry: u64,
    /// When the scope's pause ends (in the past when not paused).
    pub paused_until: u64,
    /// When the scope may be paused again.
    pub next_pause_allowed_at: u64,
    /// The incident of its last pause.
    pub incident: B256,
    /// The target's pause budget per window (seconds).
    pub budget_seconds: u64,
    /// The budget's window (seconds).
    pub window_seconds: u64,
    /// When the current window opened.
    pub window_start: u64,
    /// Seconds charged in it.
    pub used: u64,
    /// When the next window may open.
    pub next_window_at: u64,
    /// Until when governance's unpause of scope 0 blocks every scope of the target.
    pub target_cooldown_until: u64,
}

impl ScopeState {
    /// Seconds of the target's budget charged in the window in force at `now` (none once the next window may
    /// open: the contract's `_charge` starts a new one then).
    pub fn budget_used(&self, now: u64) -> u64 {
        if now >= self.next_window_at {
            0
        } else {
            self.used
        }
    }
}

/// The Guardian's state at one block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardianView {
    /// The oracle set's version (reports must carry it).
    pub config_version: U256,
    /// Signatures needed.
    pub threshold: u64,
    /// The oracle set.
    pub signers: Vec<Address>,
    /// The bounds: the shortest cooldown a mandate may have (seconds).
    pub min_cooldown_seconds: u64,
    /// The longest pause any mandate may give (seconds).
    pub max_pause_length: u64,
    /// How far ahead a mandate may expire (seconds).
    pub max_mandate_horizon: u64,
    /// The longest a report may live (deadline − now, seconds).
    pub max_report_lifetime: u64,
    /// The block's time.
    pub timestamp: u64,
    /// Every scope governance ever granted a mandate for.
    pub scopes: Vec<ScopeState>,
}

/// The snapshot did not decode.
#[derive(Debug, thiserror::Error)]
#[error("the Guardian's snapshot() does not decode ({0}); is the Guardian older than v2?")]
pub struct ViewError(String);

impl GuardianView {
    /// Decodes what `snapshot()` returned.
    pub fn decode(bytes: &[u8]) -> Result<Self, ViewError> {
        let s = Guardian::snapshotCall::abi_decode_returns(bytes).map_err(|e| ViewError(e.to_string()))?;
        Ok(Self {
            config_version: s.configVersion,
            threshold: s.threshold.saturating_to(),
            signers: s.signers,
            min_cooldown_seconds: s.bounds.minCooldownSeconds,
            max_pause_length: s.bounds.maxPauseLength,
            max_mandate_horizon: s.bounds.maxMandateHorizon,
            max_report_lifetime: s.bounds.maxReportLifetime,
            timestamp: s.timestamp,
            scopes: s
                .scopes
                .into_iter()
                .map(|v| ScopeState {
                    scope: Scope { target: v.target, id: v.scope },
                    nonce: v.nonce,
                    active: v.mandate.active,
                    max_pause_seconds: v.mandate.maxPauseSeconds,
                    cooldown_seconds: v.mandate.cooldownSeconds,
                    expiry: v.mandate.expiry,
                    paused_until: v.pause.pausedUntil,
                    next_pause_allowed_at: v.pause.nextPauseAllowedAt,
                    incident: v.pause.incidentId,
                    budget_seconds: v.budget.budgetSeconds,
                    window_seconds: v.budget.windowSeconds,
                    window_start: v.budget.windowStart,
                    used: v.budget.used,
                    next_window_at: v.budget.nextWindowAt,
                    target_cooldown_until: v.targetCooldownUntil,
                })
                .collect(),
        })
    }

    /// The state of `scope`, if it ever had a mandate.
    pub fn scope(&self, scope: Scope) -> Option<&ScopeState> {
        self.scopes.iter().find(|s| s.scope == scope)
    }

    /// When a pause of `scope` (or of its whole target) in force at `now` ends.
    pub fn paused_until(&self, scope: Scope, now: u64) -> Option<u64> {
        let whole = Scope::whole(scope.target);
        [scope, whole]
            .into_iter()
            .filter_map(|s| self.scope(s))
            .map(|s| s.paused_until)
            .filter(|&until| until > now)
            .max()
    }

    /// The pause of `scope` the Guardian would admit at `now`, signed by `held` keys of ours: its nonce and its
    /// length, or why it would not (the contract's `_admit`, then the signatures it counts, in its order).
    pub fn admit(&self, scope: Scope, now: u64, held: &[Address]) -> Result<(U256, u64), Refusal> {
        let s = self.scope(scope).filter(|s| s.active).ok_or(Refusal::NoMandate)?;
        if now >= s.expiry {
            return Err(Refusal::MandateExpired { expiry: s.expiry });
        }
        if let Some(until) = self.paused_until(scope, now) {
            return Err(Refusal::AlreadyPaused { until });
        }
        if now < s.next_pause_allowed_at {
            return Err(Refusal::InCooldown { until: s.next_pause_allowed_at });
        }
        if now < s.target_cooldown_until {
            return Err(Refusal::TargetInCooldown { until: s.target_cooldown_until });
        }
        let length = s.max_pause_seconds.min(self.max_pause_length);
        let used = s.budget_used(now);
        if used + length > s.budget_seconds {
            return Err(Refusal::BudgetExhausted {
                used,
                requested: length,
                budget: s.budget_seconds,
                next_window_at: s.next_window_at,
            });
        }
        let ours = held.iter().filter(|a| self.signers.contains(a)).count() as u64;
        if ours < self.threshold {
            return Err(Refusal::TooFewSigners { held: ours, threshold: self.threshold });
        }
        Ok((s.nonce, length))
    }
}

/// Pauses through the Guardian.
pub struct GuardianResponder {
    guardian: Address,
    chain_id: u64,
    keys: Vec<PrivateKeySigner>,
    sender: Address,
    validity_seconds: u64,
    /// The oracle network's mode: the keys held sign a share and the threshold is reached with the peers' shares.
    shares: bool,
}

impl fmt::Debug for GuardianResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardianResponder")
            .field("guardian", &self.guardian)
            .field("chain_id", &self.chain_id)
            .field("signers", &self.keys.iter().map(|k| k.address()).collect::<Vec<_>>())
            .field("sender", &self.sender)
            .finish()
    }
}

impl GuardianResponder {
    /// A responder for `guardian` on `chain_id`, signing with `keys`, its reports valid for `validity_seconds`
    /// (capped by the Guardian's max report lifetime); the transaction is sent by the first key's address.
    pub fn new(guardian: Address, chain_id: u64, keys: Vec<PrivateKeySigner>, validity_seconds: u64) -> Self {
        let sender = keys.first().map(|k| k.address()).unwrap_or_default();
        Self { guardian, chain_id, keys, sender, validity_seconds, shares: false }
    }

    /// A responder for a node of the oracle network holding one `key`: each pause it prepares carries this
    /// node's signature alone (its share), decided as if the threshold were reached, which the peers' shares do.
    /// The pause is refused as `TooFewSigners` only while the key is outside the oracle set.
    pub fn sharing(guardian: Address, chain_id: u64, key: PrivateKeySigner, validity_seconds: u64) -> Self {
        Self { shares: true, ..Self::new(guardian, chain_id, vec![key], validity_seconds) }
    }

    /// The addresses of the keys held.
    pub fn signers(&self) -> Vec<Address> {
        self.keys.iter().map(|k| k.address()).collect()
    }

    /// The Guardian's state at the bundle's block.
    pub fn view(&self, bundle: &Bundle) -> Result<GuardianView, PrepareError> {
        let number = bundle.block_ref().number;
        let bytes = bundle.probe(&snapshot_probe(self.guardian)).ok_or_else(|| PrepareError::State {
            block: number,
            what: format!("the Guardian's snapshot() at {} could not be read", self.guardian),
        })?;
        GuardianView::decode(bytes).map_err(|e| PrepareError::State { block: number, what: e.to_string() })
    }

    /// The signed `pauseWithQuorum` calldata for `scope` at the Guardian's `config_version` and the scope's
    /// `nonce`, valid until `deadline`, signed by the keys held that are in `oracle_set`.
    pub fn pause_call(
        &self,
        scope: Scope,
        action: &Action,
        deadline: u64,
        (config_version, nonce): (U256, U256),
        oracle_set: &[Address],
    ) -> Result<Bytes, PrepareError> {
        let report = PauseReport {
            target: scope.target,
            scope: scope.id,
            incidentId: action.incident,
            evidenceHash: action.evidence_hash,
            observedBlock: U256::from(action.block.number),
            deadline: U256::from(deadline),
            configVersion: config_version,
            nonce,
        };
        let keys: Vec<&PrivateKeySigner> = self.keys.iter().filter(|k| oracle_set.contains(&k.address())).collect();
        let signatures = sign_report(&report, &guardian_domain(self.chain_id, self.guardian), &keys)
            .map_err(|e| PrepareError::Sign(e.to_string()))?;
        Ok(Guardian::pauseWithQuorumCall { report: report.into(), signatures }.abi_encode().into())
    }
}

impl Responder for GuardianResponder {
    fn contract(&self) -> Address {
        self.guardian
    }

    fn sender(&self) -> Address {
        self.sender
    }

    fn probes(&self) -> Vec<Probe> {
        vec![snapshot_probe(self.guardian)]
    }

    fn observe(&self, bundle: &Bundle) -> Vec<Observation> {
        let mut seen = Vec::new();
        for receipt in &bundle.receipts {
            if !receipt.status {
                if receipt.from == self.sender && receipt.to == Some(self.guardian) {
                    let input = bundle
                        .transactions
                        .iter()
                        .find(|t| t.hash == receipt.transaction_hash)
                        .map(|t| t.input.clone());
                    seen.push(Observation::Reverted { tx: receipt.transaction_hash, input });
                }
                continue;
            }
            for log in receipt.logs.iter().filter(|l| l.inner.address == self.guardian) {
                if let Ok(p) = Guardian::Paused::decode_log(&log.inner) {
                    let scope = Scope { target: p.target, id: p.scope };
                    seen.push(Observation::Paused { scope, until: p.pausedUntil, incident: p.incidentId });
                } else if let Ok(e) = Guardian::PauseExtended::decode_log(&log.inner) {
                    seen.push(Observation::Extended {
                        scope: Scope { target: e.target, id: e.scope },
                        until: e.pausedUntil,
                    });
                } else if let Ok(u) = Guardian::Unpaused::decode_log(&log.inner) {
                    seen.push(Observation::Lifted { scope: Scope { target: u.target, id: u.scope } });
                }
            }
        }
        seen
    }

    fn prepare(&self, action: &Action, scope: Scope, bundle: &Bundle) -> Result<Prepared, PrepareError> {
        let view = self.view(bundle)?;
        let now = bundle.timestamp();
        let ours = self.signers();
        let held = match self.shares {
            true if ours.iter().any(|a| view.signers.contains(a)) => view.signers.clone(),
            _ => ours,
        };
        let (nonce, length) = view.admit(scope, now, &held).map_err(PrepareError::Refused)?;
        let deadline = now + self.validity_seconds.min(view.max_report_lifetime);
        let data = self.pause_call(scope, action, deadline, (view.config_version, nonce), &view.signers)?;
        Ok(Prepared { from: self.sender, to: self.guardian, data, until: now + length })
    }
}
