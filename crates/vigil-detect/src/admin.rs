//! Admin changes: ownership, role, implementation, oracle and parameter changes on watched contracts.
//!
//! Each watched contract's logs are matched against the events of OpenZeppelin's Ownable, AccessControl and
//! ERC-1967 proxies, and the venue's own parameter events. Role grants and upgrades are high-severity
//! suspicious findings (a stolen key's first move); ownership transfers and parameter changes are medium.

use alloy::{primitives::Address, sol, sol_types::SolEvent};
use serde::Deserialize;
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Scope, Severity};

sol! {
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);
    event Upgraded(address indexed implementation);
    event AdminChanged(address previousAdmin, address newAdmin);
    event KeeperChanged(address indexed previousKeeper, address indexed newKeeper);
}

/// Configuration of an admin-change detector.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminChangeConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// Contracts watched; findings are about scope 0 of the contract that emitted the event.
    pub contracts: Vec<Address>,
    /// Severity of role grants and upgrades. Default high.
    #[serde(default = "default_high")]
    pub privilege_severity: Severity,
}

fn default_high() -> Severity {
    Severity::High
}

/// The detector (stateless: every change is a finding of its block).
pub struct AdminChangeDetector {
    cfg: AdminChangeConfig,
}

impl AdminChangeDetector {
    /// A detector from its configuration.
    pub fn new(cfg: AdminChangeConfig) -> Self {
        Self { cfg }
    }
}

impl Detector for AdminChangeDetector {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block: BlockRef = bundle.block_ref();
        let mut findings = Vec::new();
        for log in bundle.logs() {
            let contract = log.address();
            if !self.cfg.contracts.contains(&contract) {
                continue;
            }
            let topic = log.topic0().copied().unwrap_or_default();
            let (severity, title, evidence) = if topic == RoleGranted::SIGNATURE_HASH {
                let e = RoleGranted::decode_log(&log.inner).map(|l| l.data);
                let Ok(e) = e else { continue };
                (
                    self.cfg.privilege_severity,
                    format!("role {} granted to {} by {}", e.role, e.account, e.sender),
                    serde_json::json!({"event": "RoleGranted", "role": e.role, "account": e.account, "sender": e.sender}),
                )
            } else if topic == Upgraded::SIGNATURE_HASH {
                let Ok(e) = Upgraded::decode_log(&log.inner) else { continue };
                (
                    self.cfg.privilege_severity,
                    format!("implementation upgraded to {}", e.implementation),
                    serde_json::json!({"event": "Upgraded", "implementation": e.implementation}),
                )
            } else if topic == OwnershipTransferred::SIGNATURE_HASH {
                let Ok(e) = OwnershipTransferred::decode_log(&log.inner) else { continue };
                (
                    Severity::Medium,
                    format!("ownership transferred from {} to {}", e.previousOwner, e.newOwner),
                    serde_json::json!({"event": "OwnershipTransferred", "from": e.previousOwner, "to": e.newOwner}),
                )
            } else if topic == RoleRevoked::SIGNATURE_HASH
                || topic == AdminChanged::SIGNATURE_HASH
                || topic == KeeperChanged::SIGNATURE_HASH
                || topic == vigil_contracts::MarginPool::MarketParamsUpdated::SIGNATURE_HASH
            {
                (
                    Severity::Medium,
                    format!("administrative event {topic} on {contract}"),
                    serde_json::json!({"topic0": topic}),
                )
            } else {
                continue;
            };
            findings.push(crate::finding(
                (&self.cfg.name, &self.cfg.protocol),
                block,
                log.transaction_hash,
                (Scope::whole(contract), severity, FindingKind::Suspicious),
                title,
                evidence,
                &[("contract", contract.to_string())],
            ));
        }
        Ok(findings)
    }

    fn revert_to(&mut self, _ancestor: BlockRef) {}
}
