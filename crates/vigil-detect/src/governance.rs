//! Governance attacks: proposals that move funds or privileges, and proposals or votes made with freshly
//! borrowed voting power (Beanstalk, April 2022).
//!
//! The detector decodes the proposal and vote events of the watched governors, by flavour:
//!
//! - `venue`: the venue's `LegacyGovernance`: `Proposed(uint256 indexed id, address indexed proposer, address[]
//!   targets, bytes[] calldatas, string description)` and `Voted(uint256 indexed id, address indexed voter,
//!   uint256 votes)`; it counts votes at the current block, so power acquired in the same block votes;
//! - `oz-governor`: OpenZeppelin Governor's `ProposalCreated(uint256 proposalId, address proposer, address[]
//!   targets, uint256[] values, string[] signatures, bytes[] calldatas, uint256 voteStart, uint256 voteEnd,
//!   string description)`, `VoteCast(address indexed voter, uint256 proposalId, uint8 support, uint256 weight,
//!   string reason)` and `VoteCastWithParams`;
//! - `compound-bravo`: Compound Governor Bravo, whose `ProposalCreated` and `VoteCast` have OpenZeppelin's shape;
//!   a non-empty `signatures[i]` gives the selector and `calldatas[i]` holds the arguments only.
//!
//! Findings, all on the governor's configured scope, with `actor` = the transaction's sender:
//!
//! - **fund-moving or privileged code** in a proposal: a call whose selector transfers, spends, withdraws or
//!   approves (`transfer`, `transferFrom`, `approve`, `spend`, `withdraw`, `_grantComp`, …) on a watched
//!   `treasuries` contract, or upgrades, grants a role or hands over ownership or admin (`upgradeTo`,
//!   `upgradeToAndCall`, `upgrade`, `grantRole`, `transferOwnership`, `setAdmin`, `_setPendingAdmin`, …) on any
//!   target. Selectors and targets only: the detector reads no code. `proposal_severity` (default high),
//!   suspicious, stage preparation;
//! - **freshly borrowed voting power**: the proposer or voter, the transaction's sender or its callee took a
//!   flash loan of the governance `token` in the same transaction (an ERC-3156 `FlashLoan(address indexed
//!   receiver, address indexed token, uint256 amount, uint256 fee)` of a configured lender, or a `Transfer` of
//!   `token` from a configured lender to it and back within the transaction), or the proposer's or voter's
//!   votes rose within `fresh_power_blocks` (`DelegateVotesChanged` of `token`) by at least
//!   `fresh_power_share_bps` of its power. Critical exploit, stage exploitation. Snapshot governors
//!   (`oz-governor`, `compound-bravo`) read a proposer's votes at the previous block and a voter's at the
//!   proposal's snapshot, so for them only power gained in earlier blocks counts, and only for proposals;
//!   a flash loan in the same transaction is reported all the same (an attempt).
//!
//! A proposal carrying fund-moving code made with borrowed power is the Beanstalk pattern: one critical finding
//! at the *propose* block, with the decoded calls in its evidence, so the pause lands before the later commit.
//!
//! Role grants and upgrades that actually happen are the admin-change detector's ([`crate::admin`]); this one
//! reports what governance is asked to do, not what the watched contracts did.
//!
//! Evidence: the governor, the proposal id, the decoded dangerous calls (`index`, `target`, `selector`,
//! `function`, `class` funds or privilege, `recipient` when an argument names one), the number of calls, and for
//! borrowed power the borrower, lender, amount and how it was seen (`flash-loan-event`, `transfer-round-trip`,
//! `delegate-votes`).
//!
//! Parameters: `governors` (each `address`, `flavour` "venue" | "oz-governor" | "compound-bravo", and `scope
//! = { target, id }`, default the whole governor), `token` (required), `lenders` (default none), `treasuries`
//! (default none), `fresh_power_blocks` (default 50), `fresh_power_share_bps` (default 5_000),
//! `proposal_severity` (default high).
//!
//! State: `DelegateVotesChanged` of `token` per block, for `fresh_power_blocks` plus the reorg depth, so
//! `revert_to` forgets orphaned blocks exactly.
//!
//! ```toml
//! [[detector]]
//! type = "governance"
//! name = "governance"
//! protocol = "venue"
//! token = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
//! lenders = ["0xB7f8BC63BbcaD18155201308C8f3540b07f84F5e"]
//! treasuries = ["0x9A9f2CCfdE556A7E9Ff0848998Aa4a0CFD8863AE"]
//! fresh_power_blocks = 50
//! fresh_power_share_bps = 5000
//! proposal_severity = "high"
//!
//! [[detector.governors]]
//! address = "0x68B1D87F95878fE05B998F19b66F4baba5De1aed"
//! flavour = "venue"
//!
//! [[detector.governors]]
//! address = "0x5FC8d32690cc91D4c39d9d3abcBD16989F875707"
//! flavour = "oz-governor"
//! ```

use std::collections::BTreeMap;

use alloy::{
    primitives::{keccak256, Address, Bytes, FixedBytes, B256, U256},
    rpc::types::Log,
    sol,
    sol_types::SolEvent,
};
use serde::Deserialize;
use vigil_core::{finding::Stage, BlockRef, Bundle, Detector, DetectorError, Finding, FindingKind, Scope, Severity};

use crate::history::History;
use crate::registry::{BuildContext, BuildError, ConfigIssue, DetectorKind};
use crate::watch::ScopeRef;

sol! {
    event Proposed(uint256 indexed id, address indexed proposer, address[] targets, bytes[] calldatas, string description);
    event Voted(uint256 indexed id, address indexed voter, uint256 votes);
    event ProposalCreated(uint256 proposalId, address proposer, address[] targets, uint256[] values, string[] signatures, bytes[] calldatas, uint256 voteStart, uint256 voteEnd, string description);
    event VoteCast(address indexed voter, uint256 proposalId, uint8 support, uint256 weight, string reason);
    event VoteCastWithParams(address indexed voter, uint256 proposalId, uint8 support, uint256 weight, string reason, bytes params);
    event FlashLoan(address indexed receiver, address indexed token, uint256 amount, uint256 fee);
    event Transfer(address indexed from, address indexed to, uint256 value);
    event DelegateVotesChanged(address indexed delegate, uint256 previousVotes, uint256 newVotes);
}

/// Configuration of a governance detector.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GovernanceConfig {
    /// Name of this detector instance.
    pub name: String,
    /// The protocol watched.
    pub protocol: String,
    /// The governors watched.
    pub governors: Vec<GovernorConfig>,
    /// The governance token: its `Transfer` and `DelegateVotesChanged` logs and flash loans tell borrowed power.
    pub token: Address,
    /// Flash lenders of `token` (ERC-3156 `FlashLoan` events, or transfers out and back within a transaction).
    /// Default none.
    #[serde(default)]
    pub lenders: Vec<Address>,
    /// Treasuries and reserves: a proposal calling a fund-moving function on one of them is reported. Default
    /// none (upgrades, role grants and ownership changes are reported on any target regardless).
    #[serde(default)]
    pub treasuries: Vec<Address>,
    /// Blocks back (besides the current one) in which a rise of a proposer's or voter's votes counts as fresh.
    /// Default 50 (10 minutes at 12 s).
    #[serde(default = "default_fresh_blocks")]
    pub fresh_power_blocks: u64,
    /// Share of the proposer's or voter's votes that must be fresh, in basis points. Default 5_000 (half).
    #[serde(default = "default_fresh_share")]
    pub fresh_power_share_bps: u64,
    /// Severity of a proposal carrying fund-moving or privileged code (without borrowed power). Default high.
    #[serde(default = "default_high")]
    pub proposal_severity: Severity,
}

/// One watched governor.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GovernorConfig {
    /// The governor contract (the emitter of the proposal and vote events).
    pub address: Address,
    /// Which events it emits.
    pub flavour: Flavour,
    /// The Guardian scope findings are about. Default the whole governor (`{ target = address, id = 0 }`).
    #[serde(default)]
    pub scope: Option<ScopeRef>,
}

/// The event set a governor emits.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    /// The venue's `LegacyGovernance` (`Proposed`, `Voted`; votes read at the current block).
    Venue,
    /// OpenZeppelin Governor (`ProposalCreated`, `VoteCast`, `VoteCastWithParams`; votes read at a snapshot).
    OzGovernor,
    /// Compound Governor Bravo (OpenZeppelin's event shapes; votes read at a snapshot).
    CompoundBravo,
}

impl Flavour {
    fn snapshot(self) -> bool {
        !matches!(self, Flavour::Venue)
    }
}

vigil_core::defaults! {
    default_fresh_blocks: u64 = 50;
    default_fresh_share: u64 = 5_000;
    default_high: Severity = Severity::High;
}

/// What a dangerous call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Moves or approves funds: reported on treasuries only.
    Funds,
    /// Upgrades, grants a role, hands over ownership or admin: reported on any target.
    Privilege,
}

impl Class {
    fn as_str(self) -> &'static str {
        match self {
            Class::Funds => "funds",
            Class::Privilege => "privilege",
        }
    }
}

/// Dangerous functions: signature, class, index of the argument naming the recipient (new owner, spender,
/// implementation, grantee).
const DANGEROUS: &[(&str, Class, Option<usize>)] = &[
    ("transfer(address,uint256)", Class::Funds, Some(0)),
    ("transferFrom(address,address,uint256)", Class::Funds, Some(1)),
    ("safeTransferFrom(address,address,uint256)", Class::Funds, Some(1)),
    ("approve(address,uint256)", Class::Funds, Some(0)),
    ("increaseAllowance(address,uint256)", Class::Funds, Some(0)),
    ("spend(address,address,uint256)", Class::Funds, Some(1)),
    ("withdraw(uint256)", Class::Funds, None),
    ("withdraw(address,uint256)", Class::Funds, Some(0)),
    ("withdraw(address,address,uint256)", Class::Funds, Some(1)),
    ("withdrawTo(address,uint256)", Class::Funds, Some(0)),
    ("sendValue(address,uint256)", Class::Funds, Some(0)),
    ("sweep(address,address)", Class::Funds, Some(1)),
    ("_grantComp(address,uint256)", Class::Funds, Some(0)),
    ("_reduceReserves(uint256)", Class::Funds, None),
    ("upgradeTo(address)", Class::Privilege, Some(0)),
    ("upgradeToAndCall(address,bytes)", Class::Privilege, Some(0)),
    ("upgrade(address,address)", Class::Privilege, Some(1)),
    ("upgradeAndCall(address,address,bytes)", Class::Privilege, Some(1)),
    ("_setImplementation(address,bool,bytes)", Class::Privilege, Some(0)),
    ("grantRole(bytes32,address)", Class::Privilege, Some(1)),
    ("transferOwnership(address)", Class::Privilege, Some(0)),
    ("setOwner(address)", Class::Privilege, Some(0)),
    ("setAdmin(address)", Class::Privilege, Some(0)),
    ("changeAdmin(address)", Class::Privilege, Some(0)),
    ("setPendingAdmin(address)", Class::Privilege, Some(0)),
    ("_setPendingAdmin(address)", Class::Privilege, Some(0)),
];

fn selector_of(signature: &str) -> FixedBytes<4> {
    FixedBytes::from_slice(&keccak256(signature.as_bytes())[..4])
}

/// The address in 32-byte argument word `k`, if the word holds one.
fn address_arg(args: &[u8], k: usize) -> Option<Address> {
    let w = args.get(32 * k..32 * (k + 1))?;
    w[..12].iter().all(|b| *b == 0).then(|| Address::from_slice(&w[12..]))
}

/// A proposal's dangerous calls, as evidence.
fn dangerous_calls(
    targets: &[Address],
    signatures: &[String],
    calldatas: &[Bytes],
    treasuries: &[Address],
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for (i, (target, data)) in targets.iter().zip(calldatas).enumerate() {
        // Bravo: a non-empty signature gives the selector and the calldata holds the arguments only.
        let (selector, args) = match signatures.get(i).filter(|s| !s.is_empty()) {
            Some(sig) => (selector_of(sig), &data[..]),
            None if data.len() >= 4 => (FixedBytes::from_slice(&data[..4]), &data[4..]),
            None => continue,
        };
        let Some((function, class, recipient)) = DANGEROUS.iter().find(|(sig, _, _)| selector_of(sig) == selector)
        else {
            continue;
        };
        if *class == Class::Funds && !treasuries.contains(target) {
            continue;
        }
        let recipient = recipient.and_then(|k| address_arg(args, k));
        out.push(serde_json::json!({
            "index": i,
            "target": target,
            "selector": selector,
            "function": function,
            "class": class.as_str(),
            "recipient": recipient,
        }));
    }
    out
}

/// How borrowed power was seen.
#[derive(Debug, Clone, PartialEq)]
struct Borrowed {
    borrower: Address,
    lender: Option<Address>,
    amount: U256,
    how: &'static str,
    since_block: u64,
}

impl Borrowed {
    fn evidence(&self) -> serde_json::Value {
        serde_json::json!({
            "borrower": self.borrower,
            "lender": self.lender,
            "amount": self.amount.to_string(),
            "how": self.how,
            "since_block": self.since_block,
        })
    }
}

/// Vote-power changes of one block: delegate → (votes before its first change, votes after its last change).
type Powers = BTreeMap<Address, (U256, U256)>;

/// What the last block's processing read, to show that logs were read and decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GovernanceStats {
    /// Logs of successful transactions looked at.
    pub logs: u64,
    /// Proposal events of watched governors decoded.
    pub proposals: u64,
    /// Vote events of watched governors decoded.
    pub votes: u64,
    /// Logs of watched governors whose topic matched but whose data did not decode.
    pub undecodable: u64,
    /// `Transfer` logs of the token decoded.
    pub token_transfers: u64,
    /// `DelegateVotesChanged` logs of the token decoded.
    pub delegate_changes: u64,
    /// Flash loans of the token seen (ERC-3156 events of configured lenders and round trips).
    pub flash_loans: u64,
}

/// The detector.
pub struct GovernanceDetector {
    cfg: GovernanceConfig,
    /// Vote-power changes of recent blocks that had any, oldest first: `fresh_power_blocks` plus the reorg depth.
    history: History<Powers>,
    stats: GovernanceStats,
}

impl GovernanceDetector {
    /// A detector from its configuration.
    pub fn new(cfg: GovernanceConfig) -> Self {
        let history = History::new(cfg.fresh_power_blocks);
        Self { cfg, history, stats: GovernanceStats::default() }
    }

    /// The same detector, its vote-power history kept `reorg_depth` blocks deeper (the source's).
    pub fn with_reorg_depth(mut self, reorg_depth: u64) -> Self {
        self.history = self.history.with_reorg_depth(reorg_depth);
        self
    }

    /// What the last block's processing read.
    pub fn last_block_stats(&self) -> GovernanceStats {
        self.stats
    }

    /// Flash loans of the token in one transaction's logs, by borrower.
    fn flash_borrowers(&mut self, logs: &[Log], block: u64) -> BTreeMap<Address, Borrowed> {
        let mut out = BTreeMap::new();
        // (lender, borrower) → amounts out and back.
        let mut trips: BTreeMap<(Address, Address), (U256, U256)> = BTreeMap::new();
        for log in logs {
            let topic = log.topic0().copied().unwrap_or_default();
            let emitter = log.address();
            if topic == FlashLoan::SIGNATURE_HASH && self.cfg.lenders.contains(&emitter) {
                if let Ok(e) = FlashLoan::decode_log(&log.inner) {
                    if e.token == self.cfg.token {
                        self.stats.flash_loans += 1;
                        out.insert(
                            e.receiver,
                            Borrowed {
                                borrower: e.receiver,
                                lender: Some(emitter),
                                amount: e.amount,
                                how: "flash-loan-event",
                                since_block: block,
                            },
                        );
                    }
                }
            } else if topic == Transfer::SIGNATURE_HASH && emitter == self.cfg.token {
                let Ok(e) = Transfer::decode_log(&log.inner) else { continue };
                if self.cfg.lenders.contains(&e.from) {
                    trips.entry((e.from, e.to)).or_default().0 += e.value;
                }
                if self.cfg.lenders.contains(&e.to) {
                    trips.entry((e.to, e.from)).or_default().1 += e.value;
                }
            }
        }
        for ((lender, borrower), (lent, back)) in trips {
            if !lent.is_zero() && back >= lent && !out.contains_key(&borrower) {
                self.stats.flash_loans += 1;
                out.insert(
                    borrower,
                    Borrowed {
                        borrower,
                        lender: Some(lender),
                        amount: lent,
                        how: "transfer-round-trip",
                        since_block: block,
                    },
                );
            }
        }
        out
    }

    /// The delegate's votes gained within the window, if they make up enough of its power.
    /// `running` holds this block's changes up to the event; snapshot governors ignore the current block.
    fn fresh_power(&self, current: u64, running: &Powers, delegate: Address, snapshot: bool) -> Option<Borrowed> {
        let start = current.saturating_sub(self.cfg.fresh_power_blocks);
        let mut first: Option<(u64, U256)> = None;
        let mut now: Option<U256> = None;
        let past = self.history.iter().filter(|(b, _)| b.number >= start && b.number < current);
        for (b, powers) in past {
            if let Some((before, after)) = powers.get(&delegate) {
                first.get_or_insert((b.number, *before));
                now = Some(*after);
            }
        }
        if !snapshot {
            if let Some((before, after)) = running.get(&delegate) {
                first.get_or_insert((current, *before));
                now = Some(*after);
            }
        }
        let ((since, before), now) = (first?, now?);
        let gain = now.checked_sub(before).filter(|g| !g.is_zero())?;
        let enough = gain.saturating_mul(U256::from(10_000u64))
            >= now.saturating_mul(U256::from(self.cfg.fresh_power_share_bps));
        enough.then_some(Borrowed {
            borrower: delegate,
            lender: None,
            amount: gain,
            how: "delegate-votes",
            since_block: since,
        })
    }

    fn scope_of(&self, g: &GovernorConfig) -> Scope {
        match g.scope {
            Some(s) => Scope::segment(s.target, s.id),
            None => Scope::whole(g.address),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        g: &GovernorConfig,
        block: BlockRef,
        tx: B256,
        actor: Address,
        proposal: U256,
        (severity, kind, stage): (Severity, FindingKind, Stage),
        title: String,
        evidence: serde_json::Value,
    ) -> Finding {
        let labels = [("governor", g.address.to_string()), ("proposal", proposal.to_string())];
        let class = (self.scope_of(g), severity, kind);
        crate::finding((&self.cfg.name, &self.cfg.protocol), block, Some(tx), class, title, evidence, &labels)
            .with_actor(actor, stage)
    }
}

/// A decoded governor event.
enum GovEvent {
    Proposal { id: U256, proposer: Address, targets: Vec<Address>, signatures: Vec<String>, calldatas: Vec<Bytes> },
    Vote { id: U256, voter: Address, weight: U256 },
}

/// Decodes a watched governor's log; `Err(())` when the topic matched but the data did not decode.
fn decode(flavour: Flavour, log: &Log) -> Option<Result<GovEvent, ()>> {
    let topic = *log.topic0()?;
    let ev = match flavour {
        Flavour::Venue if topic == Proposed::SIGNATURE_HASH => Proposed::decode_log(&log.inner).map(|e| {
            let e = e.data;
            GovEvent::Proposal {
                id: e.id,
                proposer: e.proposer,
                signatures: Vec::new(),
                targets: e.targets,
                calldatas: e.calldatas,
            }
        }),
        Flavour::Venue if topic == Voted::SIGNATURE_HASH => {
            Voted::decode_log(&log.inner).map(|e| GovEvent::Vote { id: e.id, voter: e.voter, weight: e.votes })
        }
        Flavour::OzGovernor | Flavour::CompoundBravo if topic == ProposalCreated::SIGNATURE_HASH => {
            ProposalCreated::decode_log(&log.inner).map(|e| {
                let e = e.data;
                GovEvent::Proposal {
                    id: e.proposalId,
                    proposer: e.proposer,
                    targets: e.targets,
                    signatures: e.signatures,
                    calldatas: e.calldatas,
                }
            })
        }
        Flavour::OzGovernor | Flavour::CompoundBravo if topic == VoteCast::SIGNATURE_HASH => {
            VoteCast::decode_log(&log.inner).map(|e| GovEvent::Vote {
                id: e.proposalId,
                voter: e.voter,
                weight: e.weight,
            })
        }
        Flavour::OzGovernor if topic == VoteCastWithParams::SIGNATURE_HASH => {
            VoteCastWithParams::decode_log(&log.inner).map(|e| GovEvent::Vote {
                id: e.proposalId,
                voter: e.voter,
                weight: e.weight,
            })
        }
        _ => return None,
    };
    Some(ev.map_err(|_| ()))
}

impl Detector for GovernanceDetector {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn on_block(&mut self, bundle: &Bundle) -> Result<Vec<Finding>, DetectorError> {
        let block = bundle.block_ref();
        // A block at or below one already seen replaces it (the engine should have called `revert_to`).
        self.history.start(block.number);
        self.stats = GovernanceStats::default();
        let mut running = Powers::new();
        let mut findings = Vec::new();
        for receipt in bundle.receipts.iter().filter(|r| r.status) {
            self.stats.logs += receipt.logs.len() as u64;
            let borrowers = self.flash_borrowers(&receipt.logs, block.number);
            for log in &receipt.logs {
                let emitter = log.address();
                if emitter == self.cfg.token {
                    if log.topic0() == Some(&DelegateVotesChanged::SIGNATURE_HASH) {
                        if let Ok(e) = DelegateVotesChanged::decode_log(&log.inner) {
                            self.stats.delegate_changes += 1;
                            running.entry(e.delegate).or_insert((e.previousVotes, e.newVotes)).1 = e.newVotes;
                        }
                    } else if log.topic0() == Some(&Transfer::SIGNATURE_HASH) {
                        self.stats.token_transfers += u64::from(Transfer::decode_log(&log.inner).is_ok());
                    }
                }
                let Some(g) = self.cfg.governors.iter().find(|g| g.address == emitter) else { continue };
                let Some(ev) = decode(g.flavour, log) else { continue };
                let Ok(ev) = ev else {
                    self.stats.undecodable += 1;
                    continue;
                };
                let (id, who, is_proposal) = match &ev {
                    GovEvent::Proposal { id, proposer, .. } => (*id, *proposer, true),
                    GovEvent::Vote { id, voter, .. } => (*id, *voter, false),
                };
                if is_proposal {
                    self.stats.proposals += 1;
                } else {
                    self.stats.votes += 1;
                }
                // Borrowed power: a flash loan to the proposer or voter, the sender or its callee, else fresh votes
                // (snapshot governors count votes gained in earlier blocks only, and for proposals only).
                let flash =
                    [Some(who), Some(receipt.from), receipt.to].into_iter().flatten().find_map(|a| borrowers.get(&a));
                let fresh = if flash.is_none() && (is_proposal || !g.flavour.snapshot()) {
                    self.fresh_power(block.number, &running, who, g.flavour.snapshot())
                } else {
                    None
                };
                let borrowed = flash.cloned().or(fresh);
                let (tx, actor) = (receipt.transaction_hash, receipt.from);
                let governor = g.address;
                match ev {
                    GovEvent::Proposal { targets, signatures, calldatas, .. } => {
                        let calls = dangerous_calls(&targets, &signatures, &calldatas, &self.cfg.treasuries);
                        let functions: Vec<&str> =
                            calls.iter().filter_map(|c| c["function"].as_str()).collect::<Vec<_>>();
                        let evidence = serde_json::json!({
                            "governor": governor,
                            "proposal": id.to_string(),
                            "proposer": who,
                            "calls": targets.len(),
                            "dangerous_calls": calls,
                            "borrowed_power": borrowed.as_ref().map(Borrowed::evidence),
                        });
                        let f = match (&borrowed, calls.is_empty()) {
                            (Some(b), false) => Some((
                                (Severity::Critical, FindingKind::Exploit, Stage::Exploitation),
                                format!(
                                    "proposal {id} on {governor} made with borrowed voting power ({}) carries \
                                     fund-moving or privileged calls: {} (Beanstalk pattern)",
                                    b.how,
                                    functions.join(", ")
                                ),
                            )),
                            (Some(b), true) => Some((
                                (Severity::Critical, FindingKind::Exploit, Stage::Exploitation),
                                format!("proposal {id} on {governor} made with borrowed voting power ({})", b.how),
                            )),
                            (None, false) => Some((
                                (self.cfg.proposal_severity, FindingKind::Suspicious, Stage::Preparation),
                                format!(
                                    "proposal {id} on {governor} carries fund-moving or privileged calls: {}",
                                    functions.join(", ")
                                ),
                            )),
                            (None, true) => None,
                        };
                        if let Some((class, title)) = f {
                            findings.push(self.finding(g, block, tx, actor, id, class, title, evidence));
                        }
                    }
                    GovEvent::Vote { voter, weight, .. } => {
                        let Some(b) = borrowed else { continue };
                        let evidence = serde_json::json!({
                            "governor": governor,
                            "proposal": id.to_string(),
                            "voter": voter,
                            "weight": weight.to_string(),
                            "borrowed_power": b.evidence(),
                        });
                        let title = format!(
                            "vote of {voter} on proposal {id} on {governor} with borrowed voting power ({})",
                            b.how
                        );
                        let class = (Severity::Critical, FindingKind::Exploit, Stage::Exploitation);
                        findings.push(self.finding(g, block, tx, actor, id, class, title, evidence));
                    }
                }
            }
        }
        if !running.is_empty() {
            self.history.push(block, running);
        }
        Ok(findings)
    }

    fn revert_to(&mut self, ancestor: BlockRef) {
        self.history.revert_to(ancestor);
    }
}

impl DetectorKind for GovernanceConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        let share = self.fresh_power_share_bps;
        ConfigIssue::failing([
            (!self.governors.is_empty(), "governors", "governors is empty: watch at least one governor".into()),
            (
                (1..=10_000).contains(&share),
                "fresh_power_share_bps",
                format!("fresh_power_share_bps must be between 1 and 10000, found {share}"),
            ),
        ])
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Detector>, BuildError> {
        Ok(Box::new(GovernanceDetector::new(self.clone()).with_reorg_depth(ctx.reorg_depth)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use alloy::primitives::{address, LogData};
    use alloy::sol_types::SolCall;

    use super::*;

    /// The conformance suite's mainnet case: block 18,000,000 with Compound's two governors watched, the token
    /// with the most transfers in the block as the governance token, Balancer's vault and Aave v3's pool as lenders.
    pub(super) fn mainnet_case() -> (String, Bundle) {
        let bundle = crate::testdata::mainnet_block(Default::default());
        let mut counts: BTreeMap<Address, u64> = BTreeMap::new();
        for log in bundle.logs().filter(|l| l.topic0() == Some(&Transfer::SIGNATURE_HASH)) {
            *counts.entry(log.address()).or_default() += 1;
        }
        let (token, _) = counts.into_iter().max_by_key(|(_, c)| *c).unwrap();
        let table = format!(
            r#"name = "dao"
protocol = "mainnet"
token = "{token}"
lenders = ["0xBA12222222228d8Ba445958a75a0704d566BF2C8", "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"]
treasuries = ["0x6d903f6003cca6255D85CcA4D3B5E5146dC33925"]
governors = [
  {{ address = "0xc0Da02939E1441F497fd74F78cE7Decb17B66529", flavour = "compound-bravo" }},
  {{ address = "0x408ED6354d4973f66138C91495F2f2FCbd8724C3", flavour = "compound-bravo" }},
]
"#
        );
        (table, bundle)
    }

    crate::conformance::case!(GovernanceConfig, "governance.rs", "governance-takeover", 402, mainnet_case);

    const GOVERNOR: Address = address!("00000000000000000000000000000000000000a1");
    const TOKEN: Address = address!("00000000000000000000000000000000000000a2");
    const LENDER: Address = address!("00000000000000000000000000000000000000a3");
    const TREASURY: Address = address!("00000000000000000000000000000000000000a4");
    const SENDER: Address = address!("00000000000000000000000000000000000000b1");
    const VOTER: Address = address!("00000000000000000000000000000000000000b2");
    const RECIPIENT: Address = address!("00000000000000000000000000000000000000b3");

    sol! {
        function transfer(address to, uint256 amount);
        function spend(address token, address to, uint256 amount);
        function setVotingDelay(uint256 delay);
    }

    fn config(flavour: Flavour) -> GovernanceConfig {
        GovernanceConfig {
            name: "gov".into(),
            protocol: "test".into(),
            governors: vec![GovernorConfig { address: GOVERNOR, flavour, scope: None }],
            token: TOKEN,
            lenders: vec![LENDER],
            treasuries: vec![TREASURY],
            fresh_power_blocks: default_fresh_blocks(),
            fresh_power_share_bps: default_fresh_share(),
            proposal_severity: Severity::High,
        }
    }

    /// A synthetic transaction: sender, callee, logs as (emitter, data).
    type SynthTx = (Address, Address, Vec<(Address, LogData)>);

    /// Findings per block number.
    type PerBlock = Vec<(u64, Vec<Finding>)>;

    /// A block `number` whose transactions all succeeded.
    fn bundle(number: u64, txs: Vec<SynthTx>) -> Bundle {
        let hash = |n: u64, k: u64| B256::from(U256::from(n * 1_000 + k));
        let block_hash = hash(number, 999);
        let transactions: Vec<_> = txs
            .iter()
            .enumerate()
            .map(|(i, (from, to, _))| {
                serde_json::json!({"hash": hash(number, i as u64), "from": from, "to": to, "value": "0x0",
                    "input": "0x", "nonce": "0x0", "gas": "0x5208"})
            })
            .collect();
        let header = serde_json::json!({
            "number": format!("{number:#x}"), "hash": block_hash, "parentHash": hash(number - 1, 999),
            "timestamp": format!("{:#x}", number * 12), "miner": Address::ZERO, "gasLimit": "0x1c9c380",
            "gasUsed": "0x0", "transactions": transactions,
        });
        let receipts: Vec<_> = txs
            .iter()
            .enumerate()
            .map(|(i, (from, to, logs))| {
                let logs: Vec<_> = logs
                    .iter()
                    .enumerate()
                    .map(|(k, (emitter, data))| {
                        serde_json::json!({"address": emitter, "topics": data.topics(), "data": data.data,
                            "transactionHash": hash(number, i as u64), "logIndex": format!("{k:#x}")})
                    })
                    .collect();
                serde_json::json!({"transactionHash": hash(number, i as u64), "blockHash": block_hash,
                    "from": from, "to": to, "status": "0x1", "gasUsed": "0x5208", "logs": logs})
            })
            .collect();
        let block = vigil_core::BlockPart::from_json(&header.to_string()).unwrap();
        let receipts = vigil_core::ReceiptsPart::from_json(&serde_json::Value::from(receipts).to_string()).unwrap();
        Bundle::from_parts(block, receipts, None, Default::default())
    }

    fn venue_proposal(id: u64, proposer: Address, targets: Vec<Address>, calldatas: Vec<Bytes>) -> (Address, LogData) {
        let e = Proposed { id: U256::from(id), proposer, targets, calldatas, description: "BIP".into() };
        (GOVERNOR, e.encode_log_data())
    }

    fn delegate(delegate: Address, from: u64, to: u64) -> (Address, LogData) {
        let e = DelegateVotesChanged { delegate, previousVotes: U256::from(from), newVotes: U256::from(to) };
        (TOKEN, e.encode_log_data())
    }

    fn transfer_log(from: Address, to: Address, value: u64) -> (Address, LogData) {
        (TOKEN, Transfer { from, to, value: U256::from(value) }.encode_log_data())
    }

    #[test]
    fn the_toml_example_parses() {
        let cfg: GovernanceConfig =
            crate::testdata::doc_detector(include_str!("governance.rs"), "governance").try_into().unwrap();
        assert_eq!(cfg.governors.len(), 2);
        assert_eq!(cfg.governors[0].flavour, Flavour::Venue);
        assert_eq!(cfg.governors[1].flavour, Flavour::OzGovernor);
        assert_eq!(cfg.governors[1].scope, None);
        assert_eq!((cfg.fresh_power_blocks, cfg.fresh_power_share_bps), (50, 5_000));
        // Defaults, and unknown keys refused.
        let min: GovernanceConfig = toml::from_str(
            "name = \"g\"\nprotocol = \"p\"\ntoken = \"0x00000000000000000000000000000000000000a2\"\n\
             governors = [{ address = \"0x00000000000000000000000000000000000000a1\", flavour = \"oz-governor\" }]",
        )
        .unwrap();
        assert_eq!((min.lenders.len(), min.treasuries.len(), min.proposal_severity), (0, 0, Severity::High));
        assert_eq!((min.fresh_power_blocks, min.fresh_power_share_bps), (50, 5_000));
        assert!(toml::from_str::<GovernanceConfig>(
            "name = \"g\"\nprotocol = \"p\"\ntoken = \"0x00000000000000000000000000000000000000a2\"\n\
             governors = []\nfresh_blocks = 3"
        )
        .is_err());
    }

    #[test]
    fn the_event_signatures_match_the_venue_contracts() {
        use vigil_contracts::{FlashLender, GovToken, LegacyGovernance, VenueGovernor};
        assert_eq!(Proposed::SIGNATURE_HASH, LegacyGovernance::Proposed::SIGNATURE_HASH);
        assert_eq!(Voted::SIGNATURE_HASH, LegacyGovernance::Voted::SIGNATURE_HASH);
        assert_eq!(ProposalCreated::SIGNATURE_HASH, VenueGovernor::ProposalCreated::SIGNATURE_HASH);
        assert_eq!(VoteCast::SIGNATURE_HASH, VenueGovernor::VoteCast::SIGNATURE_HASH);
        assert_eq!(VoteCastWithParams::SIGNATURE_HASH, VenueGovernor::VoteCastWithParams::SIGNATURE_HASH);
        assert_eq!(FlashLoan::SIGNATURE_HASH, FlashLender::FlashLoan::SIGNATURE_HASH);
        assert_eq!(DelegateVotesChanged::SIGNATURE_HASH, GovToken::DelegateVotesChanged::SIGNATURE_HASH);
        assert_eq!(selector_of("spend(address,address,uint256)"), spendCall::SELECTOR);
    }

    #[test]
    fn a_benign_proposal_is_silent() {
        let mut d = GovernanceDetector::new(config(Flavour::Venue));
        // Long-held votes (changed 100 blocks ago), no flash loan, a parameter change; a transfer on a contract
        // that is not a treasury is not fund-moving either.
        let old = bundle(900, vec![(VOTER, TOKEN, vec![delegate(VOTER, 0, 5_000)])]);
        assert!(d.on_block(&old).unwrap().is_empty());
        let calls = vec![
            Bytes::from(setVotingDelayCall { delay: U256::from(7) }.abi_encode()),
            Bytes::from(transferCall { to: RECIPIENT, amount: U256::from(1) }.abi_encode()),
        ];
        let b = bundle(1_000, vec![(VOTER, GOVERNOR, vec![venue_proposal(1, VOTER, vec![GOVERNOR, TOKEN], calls)])]);
        assert!(d.on_block(&b).unwrap().is_empty());
        assert_eq!((d.last_block_stats().proposals, d.last_block_stats().logs), (1, 1));
        // A vote without borrowed power is silent too.
        let vote = (GOVERNOR, Voted { id: U256::from(1), voter: VOTER, votes: U256::from(5_000) }.encode_log_data());
        assert!(d.on_block(&bundle(1_001, vec![(VOTER, GOVERNOR, vec![vote])])).unwrap().is_empty());
        assert_eq!(d.last_block_stats().votes, 1);
    }

    #[test]
    fn an_oz_proposal_created_is_decoded() {
        let mut d = GovernanceDetector::new(config(Flavour::OzGovernor));
        let e = ProposalCreated {
            proposalId: U256::from(42),
            proposer: VOTER,
            targets: vec![TREASURY, GOVERNOR],
            values: vec![U256::ZERO, U256::ZERO],
            signatures: vec![String::new(), String::new()],
            calldatas: vec![
                transferCall { to: RECIPIENT, amount: U256::from(1_000_000) }.abi_encode().into(),
                setVotingDelayCall { delay: U256::from(1) }.abi_encode().into(),
            ],
            voteStart: U256::from(10),
            voteEnd: U256::from(20),
            description: "grant".into(),
        };
        let f = d.on_block(&bundle(500, vec![(SENDER, GOVERNOR, vec![(GOVERNOR, e.encode_log_data())])])).unwrap();
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(
            (f[0].severity, f[0].kind, f[0].stage()),
            (Severity::High, FindingKind::Suspicious, Some(Stage::Preparation))
        );
        assert_eq!((f[0].actor(), f[0].scope), (Some(SENDER), Scope::whole(GOVERNOR)));
        let calls = f[0].evidence["dangerous_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["function"], "transfer(address,uint256)");
        assert_eq!(calls[0]["recipient"], serde_json::json!(RECIPIENT));
        assert_eq!(f[0].evidence["proposal"], "42");

        // Compound Bravo: the signature gives the selector, the calldata holds the arguments; an upgrade counts on
        // any target.
        let mut d = GovernanceDetector::new(config(Flavour::CompoundBravo));
        let impl_ = address!("00000000000000000000000000000000000000c1");
        let e = ProposalCreated {
            proposalId: U256::from(7),
            proposer: VOTER,
            targets: vec![GOVERNOR],
            values: vec![U256::ZERO],
            signatures: vec!["upgradeTo(address)".into()],
            calldatas: vec![alloy::sol_types::SolValue::abi_encode(&impl_).into()],
            voteStart: U256::from(10),
            voteEnd: U256::from(20),
            description: "upgrade".into(),
        };
        let f = d.on_block(&bundle(500, vec![(SENDER, GOVERNOR, vec![(GOVERNOR, e.encode_log_data())])])).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["dangerous_calls"][0]["recipient"], serde_json::json!(impl_));
        assert_eq!(f[0].evidence["dangerous_calls"][0]["class"], "privilege");
    }

    #[test]
    fn a_vote_with_a_lender_round_trip_is_critical() {
        let mut d = GovernanceDetector::new(config(Flavour::OzGovernor));
        let vote = VoteCast {
            voter: VOTER,
            proposalId: U256::from(3),
            support: 1,
            weight: U256::from(10),
            reason: String::new(),
        };
        let logs = vec![
            transfer_log(LENDER, VOTER, 1_000),
            (GOVERNOR, vote.encode_log_data()),
            transfer_log(VOTER, LENDER, 1_001),
        ];
        let f = d.on_block(&bundle(700, vec![(SENDER, VOTER, logs)])).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].severity, f[0].kind, f[0].stage()),
            (Severity::Critical, FindingKind::Exploit, Some(Stage::Exploitation))
        );
        assert_eq!(f[0].evidence["borrowed_power"]["how"], "transfer-round-trip");
        assert_eq!(d.last_block_stats().token_transfers, 2);
        // Tokens that stay (a purchase from the lender's address) are no flash loan.
        let logs = vec![transfer_log(LENDER, VOTER, 1_000), (GOVERNOR, vote.encode_log_data())];
        assert!(d.on_block(&bundle(701, vec![(SENDER, VOTER, logs)])).unwrap().is_empty());
    }

    #[test]
    fn fresh_power_is_kept_per_block_and_reverted_exactly() {
        let mut d = GovernanceDetector::new(config(Flavour::Venue));
        let a = bundle(100, vec![(VOTER, TOKEN, vec![delegate(VOTER, 10, 1_000)])]);
        d.on_block(&a).unwrap();
        let vote = (GOVERNOR, Voted { id: U256::from(1), voter: VOTER, votes: U256::from(1_000) }.encode_log_data());
        let b = bundle(105, vec![(VOTER, GOVERNOR, vec![vote.clone()])]);
        let f = d.on_block(&b).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["borrowed_power"]["how"], "delegate-votes");
        assert_eq!(f[0].evidence["borrowed_power"]["since_block"], 100);
        // Block 100 is orphaned: the same vote on the new chain is silent.
        d.revert_to(BlockRef { number: 99, hash: B256::ZERO });
        assert!(d.on_block(&b).unwrap().is_empty());
        // Power gained more than `fresh_power_blocks` ago is not fresh.
        let mut d = GovernanceDetector::new(config(Flavour::Venue));
        d.on_block(&a).unwrap();
        assert!(d.on_block(&bundle(151, vec![(VOTER, GOVERNOR, vec![vote])])).unwrap().is_empty());
    }

    /// Runs `scenario` with a governance detector on the venue's legacy governance; findings per block number,
    /// the blocks with malicious transactions, and the block number of offset `i`.
    fn run_scenario(scenario: &str) -> (PerBlock, BTreeSet<u64>, impl Fn(u64) -> u64) {
        let spec = vigil_sim::scenario::find(scenario).unwrap();
        let opts = vigil_sim::scenario::RunOptions { seed: 1, tracing: false, ..Default::default() };
        let mut run = vigil_sim::scenario::ScenarioRun::start(spec, opts).unwrap();
        let v = &run.venue;
        let cfg = GovernanceConfig {
            name: "governance".into(),
            protocol: "venue".into(),
            governors: vec![
                GovernorConfig {
                    address: v.legacy_governance,
                    flavour: Flavour::Venue,
                    scope: Some(ScopeRef { target: v.legacy_governance, id: 0 }),
                },
                GovernorConfig { address: v.governor, flavour: Flavour::OzGovernor, scope: None },
            ],
            token: v.gov,
            lenders: vec![v.flash_lender],
            treasuries: vec![v.reserve],
            fresh_power_blocks: default_fresh_blocks(),
            fresh_power_share_bps: default_fresh_share(),
            proposal_severity: Severity::High,
        };
        let mut d = GovernanceDetector::new(cfg);
        let genesis = run.number_of(0);
        let (mut out, mut malicious) = (Vec::new(), BTreeSet::new());
        while let Some(block) = run.next_block(vec![]).unwrap() {
            if block.labels.iter().any(|l| l.malicious) {
                malicious.insert(block.number());
            }
            let bundle = run.chain.bundle(&block, &BTreeSet::new());
            out.push((block.number(), d.on_block(&bundle).unwrap()));
        }
        (out, malicious, move |i| genesis + i)
    }

    #[test]
    fn governance_takeover_is_critical_at_the_propose_block() {
        let (blocks, malicious, number_of) = run_scenario("governance-takeover");
        let fired: Vec<(u64, &Finding)> = blocks.iter().flat_map(|(n, f)| f.iter().map(move |f| (*n, f))).collect();
        let first_malicious = *malicious.first().unwrap();
        let propose = number_of(100);
        eprintln!(
            "first malicious block #{first_malicious}, malicious blocks {malicious:?}, findings at {:?}",
            fired.iter().map(|(n, f)| (*n, f.severity, f.title.as_str())).collect::<Vec<_>>()
        );
        let first = fired.first().expect("the takeover is detected");
        assert_eq!(first.0, propose, "critical at the propose block");
        assert_eq!((first.1.severity, first.1.kind), (Severity::Critical, FindingKind::Exploit));
        assert_eq!(first.1.evidence["borrowed_power"]["how"], "flash-loan-event");
        assert_eq!(first.1.evidence["dangerous_calls"][0]["function"], "spend(address,address,uint256)");
        assert!(first.1.title.contains("Beanstalk"));
        // Silent on every benign block; the commit block fires too (the flash-borrowed vote).
        for (n, f) in &fired {
            assert!(malicious.contains(n), "finding on benign block #{n}: {}", f.title);
        }
        assert!(fired.iter().any(|(n, f)| *n > propose && f.title.contains("vote")));
    }

    #[test]
    fn benign_crash_is_silent() {
        let (blocks, malicious, _) = run_scenario("benign-crash");
        assert!(malicious.is_empty());
        for (n, f) in &blocks {
            assert!(f.is_empty(), "finding on #{n}: {f:#?}");
        }
    }

    #[test]
    fn mainnet_block_is_silent_and_read() {
        let bundle = crate::testdata::mainnet_block(Default::default());
        // The token with the most Transfer logs in the block.
        let mut counts: BTreeMap<Address, u64> = BTreeMap::new();
        for log in bundle.logs().filter(|l| l.topic0() == Some(&Transfer::SIGNATURE_HASH)) {
            *counts.entry(log.address()).or_default() += 1;
        }
        let (token, transfers) = counts.into_iter().max_by_key(|(_, c)| *c).unwrap();
        let cfg = GovernanceConfig {
            name: "dao".into(),
            protocol: "mainnet".into(),
            governors: vec![
                GovernorConfig {
                    address: address!("c0Da02939E1441F497fd74F78cE7Decb17B66529"),
                    flavour: Flavour::CompoundBravo,
                    scope: None,
                },
                GovernorConfig {
                    address: address!("408ED6354d4973f66138C91495F2f2FCbd8724C3"),
                    flavour: Flavour::CompoundBravo,
                    scope: None,
                },
            ],
            token,
            // Balancer's vault and Aave v3's pool lend flash.
            lenders: vec![
                address!("BA12222222228d8Ba445958a75a0704d566BF2C8"),
                address!("87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"),
            ],
            treasuries: vec![address!("6d903f6003cca6255D85CcA4D3B5E5146dC33925")],
            fresh_power_blocks: default_fresh_blocks(),
            fresh_power_share_bps: default_fresh_share(),
            proposal_severity: Severity::High,
        };
        let mut d = GovernanceDetector::new(cfg);
        let f = d.on_block(&bundle).unwrap();
        assert!(f.is_empty(), "{f:#?}");
        let s = d.last_block_stats();
        eprintln!("token {token}: {transfers} transfers; stats {s:?}");
        assert_eq!(s.logs, 291);
        assert_eq!(s.token_transfers, transfers);
        assert!(transfers > 5);
    }
}
