//! Admin changes: ownership, role, implementation, oracle and parameter changes on watched contracts.
//!
//! Each watched contract's logs are matched against the events of OpenZeppelin's Ownable, AccessControl and
//! ERC-1967 proxies, and the protocol's own administrative events, named by signature in `parameter_events`
//! (`"MarketParamsUpdated(uint256,(address,uint8),(address,uint8))"`: parameter, oracle and keeper changes). Role
//! grants and upgrades are high-severity suspicious findings (a stolen key's first move); ownership transfers and
//! the other changes are medium.
//!
//! On the proving ground's reserve vault (`vigil venue` prints the addresses):
//! ```toml
//! [[detector]]
//! type = "admin-change"
//! name = "reserve-admin"
//! protocol = "venue"
//! contracts = ["0x9A9f2CCfdE556A7E9Ff0848998Aa4a0CFD8863AE"]
//! privilege_severity = "critical"   # role grants and upgrades; default high
//! parameter_events = []             # the protocol's own events, e.g. "MarketParamsUpdated(uint256,(address,uint8),(address,uint8))"
//! ```

use alloy::{
    json_abi::Event,
    primitives::{Address, B256},
    sol,
    sol_types::SolEvent,
};
use serde::Deserialize;
use vigil_core::{BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Scope, Severity};

use crate::registry::{BuildContext, BuildError, ConfigIssue, DetectorKind};

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
    /// The protocol's own administrative events, as signatures (`Name(type,…)`, tuples in parentheses): each is
    /// a medium change. Default none.
    #[serde(default)]
    pub parameter_events: Vec<String>,
}

impl AdminChangeConfig {
    /// The topic of each of `parameter_events`, or the issue with the first that does not parse.
    fn parameter_topics(&self) -> Result<Vec<B256>, ConfigIssue> {
        (self.parameter_events.iter().enumerate())
            .map(|(i, sig)| {
                let sig = sig.trim();
                let parsed = Event::parse(sig).or_else(|_| Event::parse(&format!("event {sig}")));
                parsed.map(|e| e.selector()).map_err(|e| {
                    ConfigIssue::new(
                        "parameter_events",
                        format!("parameter_events[{i}]: cannot parse the event signature `{sig}`: {e}"),
                    )
                })
            })
            .collect()
    }
}

vigil_core::defaults! {
    default_high: Severity = Severity::High;
}

/// The detector (stateless: every change is a finding of its block).
pub struct AdminChangeDetector {
    cfg: AdminChangeConfig,
    /// The topics of `parameter_events`.
    parameter_topics: Vec<B256>,
}

impl AdminChangeDetector {
    /// A detector from its configuration (its `parameter_events` parsed).
    pub fn new(cfg: AdminChangeConfig) -> Result<Self, ConfigIssue> {
        Ok(Self { parameter_topics: cfg.parameter_topics()?, cfg })
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
                || self.parameter_topics.contains(&topic)
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

impl DetectorKind for AdminChangeConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = ConfigIssue::failing([(!self.contracts.is_empty(), "contracts", "contracts is empty".into())]);
        issues.extend(self.parameter_topics().err());
        issues
    }

    fn build(&self, _: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
        Ok(Box::new(AdminChangeDetector::new(self.clone())?))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, keccak256, LogData, B256};
    use vigil_contracts::MarginPool;
    use vigil_sim::Venue;

    use super::*;
    use crate::testdata::{busiest, mainnet_block, run_scenario, synthetic_block, USDC, WETH};

    const WATCHED: Address = address!("00000000000000000000000000000000000000c0");
    const UNWATCHED: Address = address!("00000000000000000000000000000000000000c1");
    const A: Address = address!("00000000000000000000000000000000000000b0");
    const B: Address = address!("00000000000000000000000000000000000000b1");

    /// The venue's MarginPool parameter event (`MarketParams` is a tuple of seven).
    const MARKET_PARAMS_UPDATED: &str = "MarketParamsUpdated(uint256 indexed marketId, \
        (address,uint8,address,uint16,uint16,uint16,uint16) oldParams, \
        (address,uint8,address,uint16,uint16,uint16,uint16) newParams)";

    /// The conformance suite's mainnet case: block 18,000,000's 8 busiest emitters watched.
    pub(super) fn mainnet_case() -> (String, Bundle) {
        let bundle = mainnet_block(Default::default());
        let top = busiest(bundle.logs().map(|l| l.address()), 8);
        let list = top.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
        (format!("name = \"busiest\"\nprotocol = \"mainnet\"\ncontracts = [{list}]\n"), bundle)
    }

    crate::conformance::case!(AdminChangeConfig, "admin.rs", "admin-key", 110, mainnet_case);

    #[test]
    fn the_parameter_event_signature_gives_the_bindings_topic_and_a_bad_one_is_named() {
        let c = cfg(vec![WATCHED], Severity::High);
        assert_eq!(c.parameter_topics().unwrap(), vec![MarginPool::MarketParamsUpdated::SIGNATURE_HASH]);
        let bad = AdminChangeConfig { parameter_events: vec!["Changed(uint256".into()], ..c };
        let issues = bad.validate();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "parameter_events");
        assert!(issues[0]
            .message
            .starts_with("parameter_events[0]: cannot parse the event signature `Changed(uint256`"));
    }

    fn cfg(contracts: Vec<Address>, privilege_severity: Severity) -> AdminChangeConfig {
        let parameter_events = vec![MARKET_PARAMS_UPDATED.to_string()];
        AdminChangeConfig {
            name: "admin".into(),
            protocol: "test".into(),
            contracts,
            privilege_severity,
            parameter_events,
        }
    }

    /// Each administrative event, and the event it is reported as.
    fn events() -> Vec<(LogData, &'static str)> {
        let role = keccak256("UPGRADER_ROLE");
        vec![
            (RoleGranted { role, account: A, sender: B }.encode_log_data(), "RoleGranted"),
            (Upgraded { implementation: A }.encode_log_data(), "Upgraded"),
            (OwnershipTransferred { previousOwner: A, newOwner: B }.encode_log_data(), "OwnershipTransferred"),
            (RoleRevoked { role, account: A, sender: B }.encode_log_data(), "RoleRevoked"),
            (AdminChanged { previousAdmin: A, newAdmin: B }.encode_log_data(), "AdminChanged"),
            (KeeperChanged { previousKeeper: A, newKeeper: B }.encode_log_data(), "KeeperChanged"),
            (
                MarginPool::MarketParamsUpdated {
                    marketId: alloy::primitives::U256::from(2),
                    oldParams: Default::default(),
                    newParams: Default::default(),
                }
                .encode_log_data(),
                "MarketParamsUpdated",
            ),
        ]
    }

    #[test]
    fn role_grants_and_upgrades_take_the_privilege_severity_and_other_changes_are_medium() {
        let logs: Vec<(Address, LogData)> = events().into_iter().map(|(d, _)| (WATCHED, d)).collect();
        let bundle = synthetic_block(7, 0, &[(true, logs)], Default::default());
        let tx = bundle.transactions[0].hash;
        for privilege in [Severity::Critical, Severity::High] {
            let f = AdminChangeDetector::new(cfg(vec![WATCHED], privilege)).unwrap().on_block(&bundle).unwrap();
            let severities: Vec<Severity> = f.iter().map(|f| f.severity).collect();
            let mut expected = vec![privilege, privilege];
            expected.extend([Severity::Medium; 5]);
            assert_eq!(severities, expected);
            for f in &f {
                assert_eq!(
                    (f.kind, f.scope, f.tx, f.block.number),
                    (FindingKind::Suspicious, Scope::whole(WATCHED), Some(tx), 7)
                );
                assert_eq!(f.labels["contract"], WATCHED.to_string());
            }
            // The decoded events say who and what.
            assert_eq!(f[0].evidence["event"], "RoleGranted");
            assert_eq!(f[0].evidence["account"], serde_json::json!(A));
            assert_eq!(f[0].evidence["role"], serde_json::json!(keccak256("UPGRADER_ROLE")));
            assert_eq!(f[1].evidence, serde_json::json!({"event": "Upgraded", "implementation": A}));
            assert_eq!(f[2].evidence, serde_json::json!({"event": "OwnershipTransferred", "from": A, "to": B}));
            for (f, (data, _)) in f[3..].iter().zip(&events()[3..]) {
                assert_eq!(f.evidence["topic0"], serde_json::json!(data.topics()[0]));
            }
        }
        // The default privilege severity is high.
        let c: AdminChangeConfig =
            serde_json::from_value(serde_json::json!({"name": "a", "protocol": "p", "contracts": [WATCHED]})).unwrap();
        assert_eq!(c.privilege_severity, Severity::High);
    }

    #[test]
    fn the_same_events_elsewhere_or_reverted_and_other_events_are_ignored() {
        let elsewhere: Vec<(Address, LogData)> = events().into_iter().map(|(d, _)| (UNWATCHED, d)).collect();
        let reverted: Vec<(Address, LogData)> = events().into_iter().map(|(d, _)| (WATCHED, d)).collect();
        // A transfer, and a log with RoleGranted's topic that does not decode as one (a topic short).
        let transfer = vigil_contracts::IERC20::Transfer { from: A, to: B, value: Default::default() };
        let short = LogData::new_unchecked(vec![RoleGranted::SIGNATURE_HASH, B256::ZERO], Default::default());
        let other = vec![(WATCHED, transfer.encode_log_data()), (WATCHED, short)];
        let bundle = synthetic_block(7, 0, &[(true, elsewhere), (false, reverted), (true, other)], Default::default());
        let mut det = AdminChangeDetector::new(cfg(vec![WATCHED], Severity::High)).unwrap();
        assert_eq!(det.on_block(&bundle).unwrap(), vec![]);
        // Watching the other contract too, its seven changes are found.
        let mut det = AdminChangeDetector::new(cfg(vec![WATCHED, UNWATCHED], Severity::High)).unwrap();
        let f = det.on_block(&bundle).unwrap();
        assert_eq!(f.len(), 7);
        assert!(f.iter().all(|f| f.scope == Scope::whole(UNWATCHED)));
    }

    #[test]
    fn the_admin_key_attack_is_reported_at_the_role_grant_and_the_upgrade() {
        // demo.toml's "reserve-admin".
        let make = |v: &Venue| {
            AdminChangeDetector::new(AdminChangeConfig {
                name: "reserve-admin".into(),
                ..cfg(vec![v.reserve], Severity::Critical)
            })
            .unwrap()
        };
        let (run, seen) = run_scenario("admin-key", None, make, |_| {});
        let malicious: Vec<u64> = seen.iter().filter(|(_, m, _)| !m.is_empty()).map(|(n, _, _)| *n).collect();
        // Block 101 grants the upgrader role with the stolen key, 102 deploys the drainer, 103 upgrades and drains.
        assert_eq!(malicious, vec![101, 102, 103]);
        let found: Vec<(u64, Severity, &str)> = seen
            .iter()
            .flat_map(|(n, _, f)| f.iter().map(move |f| (*n, f.severity, f.evidence["event"].as_str().unwrap())))
            .collect();
        assert_eq!(found, vec![(101, Severity::Critical, "RoleGranted"), (103, Severity::Critical, "Upgraded")]);
        for (n, m, f) in seen.iter().filter(|(_, _, f)| !f.is_empty()) {
            assert_eq!(f[0].scope, Scope::whole(run.venue.reserve));
            assert_eq!(f[0].tx.as_ref(), m.last(), "#{n}: the malicious transaction");
        }
        let granted = &seen.iter().find(|(n, _, _)| *n == 101).unwrap().2[0];
        assert_eq!(granted.evidence["account"], serde_json::json!(run.actors.attacker.address()));
    }

    #[test]
    fn silent_on_mainnet_block_18000000_watching_its_8_busiest_emitters_and_it_reads_their_logs() {
        let mut bundle = mainnet_block(Default::default());
        let top = busiest(bundle.logs().map(|l| l.address()), 8);
        // WETH, USDT and USDC first.
        assert_eq!(top[..3], [WETH, address!("dAC17F958D2ee523a2206206994597C13D831ec7"), USDC]);
        let theirs = bundle.logs().filter(|l| top.contains(&l.address())).count();
        assert_eq!(theirs, 153);
        let mut det = AdminChangeDetector::new(cfg(top.clone(), Severity::High)).unwrap();
        let f = det.on_block(&bundle).unwrap();
        assert!(f.is_empty(), "{f:#?}");
        // Every one of their logs is read: given a keeper change's topic, each is a medium finding of its
        // transaction.
        let mut txs = Vec::new();
        for r in &mut bundle.receipts {
            for l in r.logs.iter_mut().filter(|l| top.contains(&l.address())) {
                let mut topics = l.topics().to_vec();
                topics[0] = KeeperChanged::SIGNATURE_HASH;
                l.inner.data = LogData::new_unchecked(topics, l.inner.data.data.clone());
                txs.push(l.transaction_hash);
            }
        }
        let f = det.on_block(&bundle).unwrap();
        assert_eq!(f.iter().map(|f| f.tx).collect::<Vec<_>>(), txs);
        assert!(f.iter().all(|f| f.severity == Severity::Medium && top.contains(&f.scope.target)));
    }
}
