//! The EIP-712 pause report that a quorum of Vigil nodes signs, and how signatures are produced and ordered.
//!
//! The report is declared here with `sol!`, field for field as the Guardian contract's `PauseReport` struct
//! (same name, same fields in the same order, same types), so its EIP-712 type hash and struct hash are the ones
//! the contract verifies (the nonce included); `vigil_contracts` converts it into the binding's `Guardian::PauseReport` for a call,
//! and tests there prove that both types sign to the same digest. The domain is
//! `{name: "Vigil Guardian", version: "1", chainId, verifyingContract: guardian}`: a signature made for one
//! chain or one Guardian deployment does not verify on another. The Guardian rejects duplicate signers by
//! requiring signatures ordered by signer address, strictly ascending; [`sign_report`] returns them so.
//!
//! Independent nodes that see the same chain must sign the same digest, so the report's identifiers are
//! canonical: computed from chain data and configuration names by fixed ABI encodings, never from JSON or
//! floats (docs/oracle-network.md):
//!
//! - [`incident_id`] = `keccak256(abi.encode(keccak256(protocol), target, scopeId, firstBlockHash))`, the block
//!   of the incident's first finding;
//! - [`evidence_hash`] = `keccak256(abi.encode(keccak256(detector), blockHash, txHash, blockNumber, severity,
//!   kind))` of the finding that decided the pause (`txHash` zero when the finding names none; `severity` 0–4
//!   from info to critical, `kind` 0–3 for exploit, suspicious, degraded, info).

use alloy::{
    dyn_abi::Eip712Domain,
    primitives::{keccak256, Address, Bytes, B256, U256},
    signers::{local::PrivateKeySigner, SignerSync},
    sol,
    sol_types::{eip712_domain, SolStruct, SolValue},
};

use crate::{Finding, FindingKind, Scope, Severity};

sol! {
    /// What the oracle nodes sign (EIP-712): the Guardian's
    /// `PauseReport(address target,uint256 scope,bytes32 incidentId,bytes32 evidenceHash,uint256 observedBlock,uint256 deadline,uint256 configVersion,uint256 nonce)`.
    #[sol(all_derives)]
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct PauseReport {
        /// The protected contract.
        address target;
        /// The Guardian scope of `target` (0 = the whole contract).
        uint256 scope;
        /// The incident the pause answers.
        bytes32 incidentId;
        /// Hash of the evidence (the findings that led to the pause).
        bytes32 evidenceHash;
        /// The block the findings were observed at.
        uint256 observedBlock;
        /// Unix time after which the Guardian refuses the report; at most the Guardian's max report lifetime
        /// (10 minutes by default) after the block the report lands in.
        uint256 deadline;
        /// The Guardian's oracle-set version the signers belong to.
        uint256 configVersion;
        /// The Guardian's nonce of (target, scope) (`nonceOf`, `pauseNonces`): it advances on every accepted
        /// pause and every governance action on the scope, so a report lands once and a leftover one is void.
        uint256 nonce;
    }
}

/// EIP-712 domain name of the Guardian.
pub const GUARDIAN_DOMAIN_NAME: &str = "Vigil Guardian";
/// EIP-712 domain version of the Guardian.
pub const GUARDIAN_DOMAIN_VERSION: &str = "1";

/// Errors while signing a pause report.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// The signer failed (a hardware or remote signer may; a local key does not in practice).
    #[error("signer {signer} could not sign the pause report: {source}")]
    Sign {
        /// Address of the signer that failed.
        signer: Address,
        /// The signer's error.
        #[source]
        source: alloy::signers::Error,
    },
    /// The same key was given twice; the Guardian would reject the report.
    #[error("signer {0} appears twice; each oracle node signs once")]
    DuplicateSigner(Address),
}

/// The Guardian's EIP-712 domain on `chain_id` at address `guardian`.
pub fn guardian_domain(chain_id: u64, guardian: Address) -> Eip712Domain {
    eip712_domain! {
        name: GUARDIAN_DOMAIN_NAME,
        version: GUARDIAN_DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: guardian,
    }
}

/// The incident id of `protocol`'s incident about `scope` that opened at the block `first_block` (its hash):
/// `keccak256(abi.encode(keccak256(protocol), target, scopeId, firstBlockHash))`.
pub fn incident_id(protocol: &str, scope: Scope, first_block: B256) -> B256 {
    keccak256((keccak256(protocol), scope.target, scope.id, first_block).abi_encode())
}

/// The evidence hash of a pause decided on `finding`: `keccak256(abi.encode(keccak256(detector), blockHash,
/// txHash, blockNumber, severity, kind))`. Titles and evidence values are left out: they hold floats and
/// formatting, which two honest nodes need not reproduce bit for bit.
pub fn evidence_hash(finding: &Finding) -> B256 {
    let severity: u8 = match finding.severity {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    };
    let kind: u8 = match finding.kind {
        FindingKind::Exploit => 0,
        FindingKind::Suspicious => 1,
        FindingKind::Degraded => 2,
        FindingKind::Info => 3,
    };
    let facts = (
        keccak256(&finding.detector),
        finding.block.hash,
        finding.tx.unwrap_or_default(),
        U256::from(finding.block.number),
        // abi.encode pads a uint8 to one word, as it does a uint256 of the same value.
        U256::from(severity),
        U256::from(kind),
    );
    keccak256(facts.abi_encode())
}

/// The digest the signers sign and the Guardian recovers from.
pub fn report_digest(report: &PauseReport, domain: &Eip712Domain) -> B256 {
    report.eip712_signing_hash(domain)
}

/// Signs `report` with each key and returns the 65-byte signatures ordered by signer address, ascending,
/// as `pauseWithQuorum` expects.
pub fn sign_report(
    report: &PauseReport,
    domain: &Eip712Domain,
    signers: &[&PrivateKeySigner],
) -> Result<Vec<Bytes>, QuorumError> {
    sign_ordered(report_digest(report, domain), signers)
}

/// Signs `digest` with each key and returns the 65-byte signatures ordered by signer address, ascending (the
/// order the Guardian and the SecurityGate require, so that no signer counts twice).
pub fn sign_ordered(digest: B256, signers: &[&PrivateKeySigner]) -> Result<Vec<Bytes>, QuorumError> {
    let mut ordered: Vec<&PrivateKeySigner> = signers.to_vec();
    ordered.sort_by_key(|s| s.address());
    for pair in ordered.windows(2) {
        if pair[0].address() == pair[1].address() {
            return Err(QuorumError::DuplicateSigner(pair[0].address()));
        }
    }
    ordered
        .iter()
        .map(|s| {
            s.sign_hash_sync(&digest)
                .map(|sig| Bytes::from(sig.as_bytes().to_vec()))
                .map_err(|source| QuorumError::Sign { signer: s.address(), source })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, U256};
    use alloy::signers::Signature;

    fn report() -> PauseReport {
        PauseReport {
            target: address!("0x00000000000000000000000000000000000000aa"),
            scope: U256::from(2),
            incidentId: B256::repeat_byte(1),
            evidenceHash: B256::repeat_byte(2),
            observedBlock: U256::from(100),
            deadline: U256::from(1_000),
            configVersion: U256::from(1),
            nonce: U256::from(3),
        }
    }

    fn finding() -> Finding {
        Finding {
            detector: "spot-vs-feed".into(),
            protocol: "venue".into(),
            scope: Scope::segment(Address::repeat_byte(0xaa), 2),
            severity: Severity::Critical,
            kind: FindingKind::Exploit,
            block: crate::BlockRef { number: 100, hash: B256::repeat_byte(0xbb) },
            tx: Some(B256::repeat_byte(0xcc)),
            title: "spot price 2449.99 is 3402 bps from the feed's 1827.13".into(),
            evidence: serde_json::json!({"spot": 2449.9912, "deviation_bps": 3402}),
            labels: Default::default(),
        }
    }

    #[test]
    fn the_evidence_hash_is_the_abi_encoding_of_the_findings_integer_facts() {
        let f = finding();
        // The encoding written out word by word, as Solidity's abi.encode lays it out.
        let mut words = Vec::new();
        words.extend_from_slice(keccak256("spot-vs-feed").as_slice());
        words.extend_from_slice(B256::repeat_byte(0xbb).as_slice());
        words.extend_from_slice(B256::repeat_byte(0xcc).as_slice());
        words.extend_from_slice(&U256::from(100).to_be_bytes::<32>());
        words.extend_from_slice(&U256::from(4).to_be_bytes::<32>());
        words.extend_from_slice(&U256::from(0).to_be_bytes::<32>());
        assert_eq!(evidence_hash(&f), keccak256(&words));
        // Titles, evidence values and labels are not part of it: two nodes formatting a float differently
        // still sign the same digest.
        let mut g = f.clone();
        g.title = "spot price 2449.991 is 3402 bps from the feed's 1827.130".into();
        g.evidence = serde_json::json!({"deviation_bps": 3402, "spot": 2449.9912000001});
        g.labels.insert("actor".into(), "0x01".into());
        assert_eq!(evidence_hash(&f), evidence_hash(&g));
        // Every identifying fact is.
        let changed: [fn(&mut Finding); 6] = [
            |f| f.detector = "other".into(),
            |f| f.block.hash = B256::repeat_byte(1),
            |f| f.tx = None,
            |f| f.block.number = 101,
            |f| f.severity = Severity::High,
            |f| f.kind = FindingKind::Suspicious,
        ];
        for change in changed {
            let mut g = f.clone();
            change(&mut g);
            assert_ne!(evidence_hash(&f), evidence_hash(&g), "{g:?}");
        }
    }

    #[test]
    fn the_incident_id_is_the_abi_encoding_of_protocol_scope_and_first_block() {
        let scope = Scope::segment(Address::repeat_byte(0xaa), 2);
        let first = B256::repeat_byte(0xbb);
        let mut words = Vec::new();
        words.extend_from_slice(keccak256("venue").as_slice());
        words.extend_from_slice(&[0u8; 12]);
        words.extend_from_slice(scope.target.as_slice());
        words.extend_from_slice(&U256::from(2).to_be_bytes::<32>());
        words.extend_from_slice(first.as_slice());
        assert_eq!(incident_id("venue", scope, first), keccak256(&words));
        assert_ne!(incident_id("venue", scope, first), incident_id("venue", Scope::segment(scope.target, 3), first));
        assert_ne!(incident_id("venue", scope, first), incident_id("venue2", scope, first));
    }

    #[test]
    fn signatures_are_ordered_by_signer_and_recover_to_their_signers() {
        let keys: Vec<PrivateKeySigner> = (0..5).map(|_| PrivateKeySigner::random()).collect();
        let refs: Vec<&PrivateKeySigner> = keys.iter().collect();
        let domain = guardian_domain(31337, Address::repeat_byte(7));
        let sigs = sign_report(&report(), &domain, &refs).unwrap();
        let digest = report_digest(&report(), &domain);
        let recovered: Vec<Address> = sigs
            .iter()
            .map(|b| Signature::try_from(b.as_ref()).unwrap().recover_address_from_prehash(&digest).unwrap())
            .collect();
        let mut expected: Vec<Address> = keys.iter().map(|k| k.address()).collect();
        expected.sort();
        assert_eq!(recovered, expected);
    }

    #[test]
    fn a_duplicate_key_is_refused() {
        let key = PrivateKeySigner::random();
        let domain = guardian_domain(1, Address::ZERO);
        let err = sign_report(&report(), &domain, &[&key, &key]).unwrap_err();
        assert!(matches!(err, QuorumError::DuplicateSigner(a) if a == key.address()));
    }

    #[test]
    fn the_nonce_is_signed() {
        assert!(PauseReport::eip712_encode_type().ends_with(",uint256 configVersion,uint256 nonce)"));
        let domain = guardian_domain(1, Address::repeat_byte(7));
        let mut other = report();
        other.nonce += U256::from(1);
        assert_ne!(report_digest(&report(), &domain), report_digest(&other, &domain));
    }

    #[test]
    fn the_digest_depends_on_chain_and_guardian() {
        let r = report();
        let a = report_digest(&r, &guardian_domain(1, Address::repeat_byte(7)));
        let b = report_digest(&r, &guardian_domain(31337, Address::repeat_byte(7)));
        let c = report_digest(&r, &guardian_domain(1, Address::repeat_byte(8)));
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}
