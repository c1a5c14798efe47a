// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {GovernorVotesQuorumFraction} from
    "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {GuardianProtected} from "../guardian/GuardianProtected.sol";

/// @title VenueTimelock
/// @notice The timelock that owns the Guardian and the venue's parameters; the governor is its proposer.
contract VenueTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}

/// @title VenueGovernor
/// @notice OpenZeppelin Governor voting with VGOV at a past snapshot (flash-borrowed tokens carry no weight),
/// 4 % quorum, executing through the VenueTimelock.
contract VenueGovernor is
    Governor,
    GovernorSettings,
    GovernorCountingSimple,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorTimelockControl
{
    constructor(IVotes token, TimelockController timelock, uint48 votingDelay, uint32 votingPeriod, uint256 threshold)
        Governor("Venue Governor")
        GovernorSettings(votingDelay, votingPeriod, threshold)
        GovernorVotes(token)
        GovernorVotesQuorumFraction(4)
        GovernorTimelockControl(timelock)
    {}

    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function state(uint256 proposalId) public view override(Governor, GovernorTimelockControl) returns (ProposalState) {
        return super.state(proposalId);
    }

    function proposalNeedsQueuing(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (bool)
    {
        return super.proposalNeedsQueuing(proposalId);
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}

/// @title LegacyGovernance
/// @notice The venue's first governance module, still holding the SPENDER_ROLE on the reserve vault.
/// Beanstalk-style: anyone with VGOV votes proposes calls; after one hour, a two-thirds supermajority of the
/// supply may `emergencyCommit` at once; after one day a simple majority may `commit`. (Beanstalk's delays were
/// one and seven days; the proving ground scales them down so that a scenario spans hundreds of blocks.)
///
/// DELIBERATELY FLAWED, for Vigil's attack scenarios: votes are read at the current block (`getVotes`), not at a
/// snapshot before the proposal, so flash-borrowed tokens vote (Beanstalk, April 2022).
/// Guardian scope 0 pauses proposing, voting and committing.
contract LegacyGovernance is GuardianProtected {
    struct Proposal {
        address proposer;
        uint64 createdAt;
        uint256 forVotes;
        bool executed;
        address[] targets;
        bytes[] calldatas;
    }

    uint256 public constant EMERGENCY_DELAY = 1 hours;
    uint256 public constant NORMAL_DELAY = 1 days;
    uint256 public constant PROPOSAL_THRESHOLD = 1_000e18;

    ERC20Votes public immutable token;
    uint256 public proposalCount;
    mapping(uint256 => Proposal) private _proposals;
    mapping(uint256 => mapping(address => bool)) public hasVoted;

    event Proposed(uint256 indexed id, address indexed proposer, address[] targets, bytes[] calldatas, string description);
    event Voted(uint256 indexed id, address indexed voter, uint256 votes);
    event Committed(uint256 indexed id, address indexed by, bool emergency);

    error BelowThreshold(uint256 votes, uint256 threshold);
    error BadProposal(string reason);
    error AlreadyVoted(uint256 id, address voter);
    error TooEarly(uint256 readyAt);
    error NotEnoughVotes(uint256 forVotes, uint256 needed);
    error CallFailed(uint256 index, bytes reason);

    constructor(address guardian_, ERC20Votes token_) GuardianProtected(guardian_) {
        token = token_;
    }

    function propose(address[] calldata targets, bytes[] calldata calldatas, string calldata description)
        external
        whenNotPaused(0)
        returns (uint256 id)
    {
        uint256 votes = token.getVotes(msg.sender);
        if (votes < PROPOSAL_THRESHOLD) revert BelowThreshold(votes, PROPOSAL_THRESHOLD);
        if (targets.length == 0 || targets.length != calldatas.length) revert BadProposal("targets and calldatas");
        id = ++proposalCount;
        Proposal storage p = _proposals[id];
        p.proposer = msg.sender;
        p.createdAt = uint64(block.timestamp);
        p.targets = targets;
        for (uint256 i = 0; i < calldatas.length; i++) {
            p.calldatas.push(calldatas[i]);
        }
        emit Proposed(id, msg.sender, targets, calldatas, description);
    }

    /// @notice FLAWED: counts the voter's votes at the current block.
    function vote(uint256 id) external whenNotPaused(0) {
        Proposal storage p = _proposal(id);
        if (hasVoted[id][msg.sender]) revert AlreadyVoted(id, msg.sender);
        hasVoted[id][msg.sender] = true;
        uint256 votes = token.getVotes(msg.sender);
        p.forVotes += votes;
        emit Voted(id, msg.sender, votes);
    }

    function emergencyCommit(uint256 id) external whenNotPaused(0) {
        Proposal storage p = _proposal(id);
        if (block.timestamp < p.createdAt + EMERGENCY_DELAY) revert TooEarly(p.createdAt + EMERGENCY_DELAY);
        uint256 needed = (token.totalSupply() * 2 + 2) / 3;
        if (p.forVotes < needed) revert NotEnoughVotes(p.forVotes, needed);
        _execute(id, p, true);
    }

    function commit(uint256 id) external whenNotPaused(0) {
        Proposal storage p = _proposal(id);
        if (block.timestamp < p.createdAt + NORMAL_DELAY) revert TooEarly(p.createdAt + NORMAL_DELAY);
        uint256 needed = token.totalSupply() / 2 + 1;
        if (p.forVotes < needed) revert NotEnoughVotes(p.forVotes, needed);
        _execute(id, p, false);
    }

    function proposal(uint256 id) external view returns (Proposal memory) {
        return _proposals[id];
    }

    function _proposal(uint256 id) internal view returns (Proposal storage p) {
        p = _proposals[id];
        if (p.proposer == address(0)) revert BadProposal("unknown id");
        if (p.executed) revert BadProposal("already executed");
    }

    function _execute(uint256 id, Proposal storage p, bool emergency) internal {
        p.executed = true;
        for (uint256 i = 0; i < p.targets.length; i++) {
            (bool ok, bytes memory reason) = p.targets[i].call(p.calldatas[i]);
            if (!ok) revert CallFailed(i, reason);
        }
        emit Committed(id, msg.sender, emergency);
    }
}
