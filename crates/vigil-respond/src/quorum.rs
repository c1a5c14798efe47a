//! Shares of the oracle network: one node's EIP-712 signature of a pause report, checked before it is counted,
//! and collected per report until a quorum of the Guardian's oracle set has signed it.
//!
//! In network mode each node holds one key of the oracle set. A node that decides a pause signs the report
//! (a *share*) and sends it to its peers; a node that holds `threshold` valid shares of one report can submit
//! `pauseWithQuorum`. A share is counted only after the checks the Guardian will make, against the Guardian's
//! state the node read at its latest block ([`GuardianView`]), in this order:
//!
//! 1. the signature is a well-formed 65-byte ECDSA signature that recovers, over the report's digest under the
//!    Guardian's EIP-712 domain, to a member of the current oracle set (forged shares and shares of a node
//!    rotated out are refused);
//! 2. the report has not expired and its deadline is within the Guardian's max report lifetime;
//! 3. the report's config version is the Guardian's (a new oracle set voids every share in flight);
//! 4. the report carries the scope's current nonce (a report already used, or voided by a governance action,
//!    is a replay) and the scope has a mandate; 2–4 in the order of the contract's `_admit`, so a report
//!    failing several rules is refused for the reason the contract would give;
//! 5. the signer has not signed this report before (a duplicate is not counted twice), and has no more than
//!    [`MAX_REPORTS_PER_SIGNER`] reports pending (a node that signs reports in bulk cannot fill the book).
//!
//! [`ShareBook::prune`] applies 2–4 again to what is pending whenever the Guardian's state moves, so a share
//! counted earlier does not outlive the rule it passed. [`ShareBook::quorum`] returns the signatures of a
//! report that has enough, ordered by signer address as the Guardian requires.

use std::collections::BTreeMap;

use alloy::{
    dyn_abi::Eip712Domain,
    primitives::{Address, Bytes, B256, U256},
    signers::{local::PrivateKeySigner, Signature},
};
use vigil_core::{guardian_domain, report_digest, sign_report, PauseReport, QuorumError, Scope};

use crate::guardian::GuardianView;

/// Reports one signer may have pending at once (a scope under attack needs one; a few for reorgs and
/// concurrent incidents).
pub const MAX_REPORTS_PER_SIGNER: usize = 8;

/// One node's signature of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The report signed.
    pub report: PauseReport,
    /// The 65-byte ECDSA signature (r, s, v) of its EIP-712 digest.
    pub signature: Bytes,
}

/// Why a share was not counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareRejection {
    /// The report names another oracle-set version.
    #[error("the report is for oracle-set version {got}; the Guardian's is {current}")]
    WrongVersion {
        /// The report's version.
        got: U256,
        /// The Guardian's.
        current: U256,
    },
    /// The signature is not a signature, or does not recover.
    #[error("the signature does not recover a signer: {0}")]
    BadSignature(String),
    /// The signature recovers to an address outside the oracle set (forged, or a node rotated out).
    #[error("{signer} is not in the oracle set (version {version})")]
    NotASigner {
        /// The recovered address.
        signer: Address,
        /// The oracle set's version.
        version: U256,
    },
    /// The report's deadline has passed.
    #[error("the report expired at {deadline}; the latest block's time is {now}")]
    Expired {
        /// The deadline.
        deadline: u64,
        /// The latest block's time.
        now: u64,
    },
    /// The report's deadline is further ahead than the Guardian accepts.
    #[error("the deadline {deadline} is more than the Guardian's {lifetime} s after {now}")]
    TooLong {
        /// The deadline.
        deadline: u64,
        /// The latest block's time.
        now: u64,
        /// The Guardian's max report lifetime.
        lifetime: u64,
    },
    /// The scope has no mandate in force.
    #[error("{0} has no mandate")]
    NoMandate(Scope),
    /// The report's nonce is not the scope's (an old report: a replay; or one from the future).
    #[error("the report carries nonce {got} of {scope}; the Guardian's is {current}")]
    WrongNonce {
        /// The scope.
        scope: Scope,
        /// The report's nonce.
        got: U256,
        /// The Guardian's.
        current: U256,
    },
    /// The signer's share of this report is already counted.
    #[error("{0} has already signed this report")]
    Duplicate(Address),
    /// The signer has too many reports pending.
    #[error("{signer} already has {pending} reports pending (at most {MAX_REPORTS_PER_SIGNER})")]
    TooMany {
        /// The signer.
        signer: Address,
        /// Its pending reports.
        pending: usize,
    },
}

impl ShareRejection {
    /// A short name per kind (for metrics and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WrongVersion { .. } => "wrong-version",
            Self::BadSignature(_) => "bad-signature",
            Self::NotASigner { .. } => "not-a-signer",
            Self::Expired { .. } => "expired",
            Self::TooLong { .. } => "too-long",
            Self::NoMandate(_) => "no-mandate",
            Self::WrongNonce { .. } => "wrong-nonce",
            Self::Duplicate(_) => "duplicate",
            Self::TooMany { .. } => "too-many",
        }
    }
}

/// A share counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// The report's digest.
    pub digest: B256,
    /// Who signed it.
    pub signer: Address,
    /// Distinct signers of the report so far.
    pub signers: usize,
    /// Whether they reach the Guardian's threshold.
    pub quorum: bool,
}

#[derive(Debug, Clone)]
struct Pending {
    report: PauseReport,
    signatures: BTreeMap<Address, Bytes>,
}

/// The shares of reports not yet landed, by report digest.
#[derive(Debug, Clone)]
pub struct ShareBook {
    domain: Eip712Domain,
    pending: BTreeMap<B256, Pending>,
}

/// Checks `report` against the Guardian's state `view`, in the order of the contract's `_admit` (rules 2–4 of
/// the module docs).
fn check_report(report: &PauseReport, view: &GuardianView) -> Result<(), ShareRejection> {
    let (deadline, now) = (report.deadline.saturating_to::<u64>(), view.timestamp);
    if deadline < now {
        return Err(ShareRejection::Expired { deadline, now });
    }
    if deadline - now > view.max_report_lifetime {
        return Err(ShareRejection::TooLong { deadline, now, lifetime: view.max_report_lifetime });
    }
    if report.configVersion != view.config_version {
        return Err(ShareRejection::WrongVersion { got: report.configVersion, current: view.config_version });
    }
    let scope = Scope { target: report.target, id: report.scope };
    let state = view.scope(scope);
    // A scope never mandated is not in the snapshot; its nonce is still 0.
    let current = state.map_or(U256::ZERO, |s| s.nonce);
    if report.nonce != current {
        return Err(ShareRejection::WrongNonce { scope, got: report.nonce, current });
    }
    if !state.is_some_and(|s| s.active) {
        return Err(ShareRejection::NoMandate(scope));
    }
    Ok(())
}

impl ShareBook {
    /// A book for the Guardian at `guardian` on `chain_id`.
    pub fn new(chain_id: u64, guardian: Address) -> Self {
        Self { domain: guardian_domain(chain_id, guardian), pending: BTreeMap::new() }
    }

    /// The digest every signer of `report` signs.
    pub fn digest(&self, report: &PauseReport) -> B256 {
        report_digest(report, &self.domain)
    }

    /// Signs `report` with `key`: this node's share, to count with [`ShareBook::add`] and send to its peers.
    pub fn sign(&self, report: PauseReport, key: &PrivateKeySigner) -> Result<Share, QuorumError> {
        let signature = sign_report(&report, &self.domain, &[key])?.remove(0);
        Ok(Share { report, signature })
    }

    /// Checks `share` (every rule of the module docs) and counts it.
    pub fn add(&mut self, share: &Share, view: &GuardianView) -> Result<Counted, ShareRejection> {
        let digest = self.digest(&share.report);
        let signature =
            Signature::try_from(share.signature.as_ref()).map_err(|e| ShareRejection::BadSignature(e.to_string()))?;
        let signer =
            signature.recover_address_from_prehash(&digest).map_err(|e| ShareRejection::BadSignature(e.to_string()))?;
        if !view.signers.contains(&signer) {
            return Err(ShareRejection::NotASigner { signer, version: view.config_version });
        }
        check_report(&share.report, view)?;
        if self.pending.get(&digest).is_some_and(|p| p.signatures.contains_key(&signer)) {
            return Err(ShareRejection::Duplicate(signer));
        }
        let pending = self.pending.values().filter(|p| p.signatures.contains_key(&signer)).count();
        if pending >= MAX_REPORTS_PER_SIGNER {
            return Err(ShareRejection::TooMany { signer, pending });
        }
        let entry = self
            .pending
            .entry(digest)
            .or_insert_with(|| Pending { report: share.report.clone(), signatures: BTreeMap::new() });
        entry.signatures.insert(signer, share.signature.clone());
        let signers = entry.signatures.len();
        Ok(Counted { digest, signer, signers, quorum: signers as u64 >= view.threshold })
    }

    /// The report `digest` and `threshold` of its signatures, ordered by signer address (what `pauseWithQuorum`
    /// takes), when it has that many.
    pub fn quorum(&self, digest: B256, threshold: u64) -> Option<(PauseReport, Vec<Bytes>)> {
        let p = self.pending.get(&digest)?;
        let n = usize::try_from(threshold).ok()?;
        (n > 0 && p.signatures.len() >= n).then(|| (p.report.clone(), p.signatures.values().take(n).cloned().collect()))
    }

    /// Who has signed report `digest`.
    pub fn signers(&self, digest: B256) -> Vec<Address> {
        self.pending.get(&digest).map(|p| p.signatures.keys().copied().collect()).unwrap_or_default()
    }

    /// The reports pending, with their digests.
    pub fn reports(&self) -> impl Iterator<Item = (B256, &PauseReport)> {
        self.pending.iter().map(|(d, p)| (*d, &p.report))
    }

    /// Drops what the Guardian's state `view` voids: reports of another oracle-set version, expired or with a
    /// used nonce, and signatures of signers no longer in the set. Returns how many reports were dropped.
    pub fn prune(&mut self, view: &GuardianView) -> usize {
        let before = self.pending.len();
        self.pending.retain(|_, p| {
            p.signatures.retain(|signer, _| view.signers.contains(signer));
            !p.signatures.is_empty() && check_report(&p.report, view).is_ok()
        });
        before - self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardian::ScopeState;

    const CHAIN: u64 = 31337;

    fn keys() -> Vec<PrivateKeySigner> {
        (1..=6u8).map(|i| PrivateKeySigner::from_bytes(&B256::repeat_byte(i)).unwrap()).collect()
    }

    fn guardian() -> Address {
        Address::repeat_byte(0x66)
    }

    fn scope() -> Scope {
        Scope::segment(Address::repeat_byte(0xaa), 2)
    }

    /// An oracle set of the first five keys, 3 of 5, version 1, at time 1,000, scope 2 mandated at nonce 4.
    fn view() -> GuardianView {
        let state = ScopeState {
            scope: scope(),
            nonce: U256::from(4),
            active: true,
            max_pause_seconds: 3_600,
            cooldown_seconds: 600,
            expiry: 1_000_000,
            paused_until: 0,
            next_pause_allowed_at: 0,
            incident: B256::ZERO,
            budget_seconds: 86_400,
            window_seconds: 604_800,
            window_start: 0,
            used: 0,
            next_window_at: 0,
            target_cooldown_until: 0,
        };
        GuardianView {
            config_version: U256::from(1),
            threshold: 3,
            signers: keys().iter().take(5).map(|k| k.address()).collect(),
            min_cooldown_seconds: 60,
            max_pause_length: 86_400,
            max_mandate_horizon: 31_536_000,
            max_report_lifetime: 600,
            timestamp: 1_000,
            scopes: vec![state],
        }
    }

    fn report() -> PauseReport {
        PauseReport {
            target: scope().target,
            scope: scope().id,
            incidentId: B256::repeat_byte(1),
            evidenceHash: B256::repeat_byte(2),
            observedBlock: U256::from(100),
            deadline: U256::from(1_300),
            configVersion: U256::from(1),
            nonce: U256::from(4),
        }
    }

    #[test]
    fn three_of_five_shares_make_a_quorum_whose_signatures_recover_in_ascending_order() {
        let mut book = ShareBook::new(CHAIN, guardian());
        let keys = keys();
        let view = view();
        let mut last = None;
        for k in keys.iter().take(3) {
            let share = book.sign(report(), k).unwrap();
            last = Some(book.add(&share, &view).unwrap());
        }
        let counted = last.unwrap();
        assert_eq!((counted.signers, counted.quorum), (3, true));
        let (r, sigs) = book.quorum(counted.digest, view.threshold).unwrap();
        assert_eq!(r, report());
        let digest = report_digest(&report(), &guardian_domain(CHAIN, guardian()));
        assert_eq!(counted.digest, digest);
        let signers: Vec<Address> = sigs
            .iter()
            .map(|s| Signature::try_from(s.as_ref()).unwrap().recover_address_from_prehash(&digest).unwrap())
            .collect();
        let mut expected: Vec<Address> = keys.iter().take(3).map(|k| k.address()).collect();
        expected.sort();
        assert_eq!(signers, expected);
        assert!(book.quorum(counted.digest, 4).is_none(), "three are not four");
    }

    #[test]
    fn forged_duplicated_expired_replayed_and_wrong_version_shares_are_not_counted() {
        let mut book = ShareBook::new(CHAIN, guardian());
        let keys = keys();
        let view = view();
        let share = book.sign(report(), &keys[0]).unwrap();
        book.add(&share, &view).unwrap();
        let digest = book.digest(&report());

        // Duplicated: the same share again.
        assert_eq!(book.add(&share, &view), Err(ShareRejection::Duplicate(keys[0].address())));
        // Forged: a key outside the oracle set.
        let outsider = book.sign(report(), &keys[5]).unwrap();
        assert_eq!(
            book.add(&outsider, &view),
            Err(ShareRejection::NotASigner { signer: keys[5].address(), version: U256::from(1) })
        );
        // Forged: a member's signature over another report, passed off as this one's (recovers elsewhere).
        let mut other = report();
        other.evidenceHash = B256::repeat_byte(9);
        let theirs = book.sign(other, &keys[1]).unwrap();
        let passed_off = Share { report: report(), signature: theirs.signature.clone() };
        assert!(matches!(book.add(&passed_off, &view), Err(ShareRejection::NotASigner { .. })));
        // Forged: not a signature.
        let garbage = Share { report: report(), signature: Bytes::from(vec![7u8; 12]) };
        assert!(matches!(book.add(&garbage, &view), Err(ShareRejection::BadSignature(_))));
        // Expired, and a deadline beyond the Guardian's max lifetime.
        let mut old = report();
        old.deadline = U256::from(999);
        let expired = book.sign(old, &keys[1]).unwrap();
        assert_eq!(book.add(&expired, &view), Err(ShareRejection::Expired { deadline: 999, now: 1_000 }));
        let mut long = report();
        long.deadline = U256::from(1_601);
        let too_long = book.sign(long, &keys[1]).unwrap();
        assert!(matches!(book.add(&too_long, &view), Err(ShareRejection::TooLong { .. })));
        // Replayed: a report of an earlier nonce (already used or voided).
        let mut used = report();
        used.nonce = U256::from(3);
        let replay = book.sign(used, &keys[1]).unwrap();
        assert!(matches!(book.add(&replay, &view), Err(ShareRejection::WrongNonce { .. })));
        // Wrong version.
        let mut v2 = report();
        v2.configVersion = U256::from(2);
        let wrong = book.sign(v2, &keys[1]).unwrap();
        assert!(matches!(book.add(&wrong, &view), Err(ShareRejection::WrongVersion { .. })));
        // A scope with no mandate.
        let mut elsewhere = report();
        elsewhere.scope = U256::from(3);
        elsewhere.nonce = U256::ZERO;
        let unmandated = book.sign(elsewhere, &keys[1]).unwrap();
        assert!(matches!(book.add(&unmandated, &view), Err(ShareRejection::NoMandate(_))));

        // None of them was counted.
        assert_eq!(book.signers(digest), vec![keys[0].address()]);
        assert_eq!(book.reports().count(), 1);
    }

    #[test]
    fn a_signer_cannot_fill_the_book() {
        let mut book = ShareBook::new(CHAIN, guardian());
        let keys = keys();
        let view = view();
        for i in 0..MAX_REPORTS_PER_SIGNER {
            let mut r = report();
            r.evidenceHash = B256::with_last_byte(i as u8);
            book.add(&book.sign(r, &keys[0]).unwrap(), &view).unwrap();
        }
        let mut r = report();
        r.evidenceHash = B256::repeat_byte(0xee);
        let share = book.sign(r, &keys[0]).unwrap();
        assert_eq!(
            book.add(&share, &view),
            Err(ShareRejection::TooMany { signer: keys[0].address(), pending: MAX_REPORTS_PER_SIGNER })
        );
        // Others still can.
        assert!(book.add(&book.sign(report(), &keys[1]).unwrap(), &view).is_ok());
    }

    #[test]
    fn a_new_oracle_set_a_used_nonce_and_time_void_what_is_pending() {
        let keys = keys();
        let fill = |book: &mut ShareBook, view: &GuardianView| {
            for k in keys.iter().take(2) {
                book.add(&book.sign(report(), k).unwrap(), view).unwrap();
            }
        };
        let digest = ShareBook::new(CHAIN, guardian()).digest(&report());

        // A node rotated out: its share is dropped, the others stay.
        let mut book = ShareBook::new(CHAIN, guardian());
        fill(&mut book, &view());
        let mut rotated = view();
        rotated.signers.retain(|a| *a != keys[0].address());
        rotated.signers.push(keys[5].address());
        assert_eq!(book.prune(&rotated), 0);
        assert_eq!(book.signers(digest), vec![keys[1].address()]);
        // A rotated-out node's new share is refused.
        let late = book.sign(report(), &keys[0]).unwrap();
        assert!(matches!(book.add(&late, &rotated), Err(ShareRejection::NotASigner { .. })));

        // A new config version voids the report in flight; so does a nonce that moved on (a pause landed, or
        // governance acted on the scope), and a deadline that passed.
        let voiding: [fn(&mut GuardianView); 3] =
            [|v| v.config_version = U256::from(2), |v| v.scopes[0].nonce = U256::from(5), |v| v.timestamp = 1_301];
        for change in voiding {
            let mut book = ShareBook::new(CHAIN, guardian());
            fill(&mut book, &view());
            let mut moved = view();
            change(&mut moved);
            assert_eq!(book.prune(&moved), 1, "{moved:?}");
            assert_eq!(book.reports().count(), 0);
        }

        // Nothing changed: nothing dropped.
        let mut book = ShareBook::new(CHAIN, guardian());
        fill(&mut book, &view());
        assert_eq!(book.prune(&view()), 0);
        assert_eq!(book.signers(digest).len(), 2);
    }
}
