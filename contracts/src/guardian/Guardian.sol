// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Guardian
/// @notice The only door through which automated responses reach a protocol. Governance (a timelock) grants
/// mandates: for a target contract and a scope (0 = the whole target, other ids = one market or pool), how long
/// an emergency pause may last, how long to wait before the next one, and until when the mandate holds.
/// A pause is accepted only from a report signed by at least `threshold` distinct members of the current oracle
/// set (independent Vigil nodes), for this chain and the current config version, before its deadline, inside a
/// live mandate and outside its cooldown. A pause ends by itself; only governance lifts it early or extends it.
contract Guardian is EIP712 {
    /// @notice What the oracle nodes sign (EIP-712).
    struct PauseReport {
        address target;
        uint256 scope;
        bytes32 incidentId;
        bytes32 evidenceHash;
        uint256 observedBlock;
        uint256 deadline;
        uint256 configVersion;
    }

    /// @notice A mandate granted by governance for one (target, scope).
    struct Mandate {
        uint64 maxPauseSeconds;
        uint64 cooldownSeconds;
        uint64 expiry;
        bool active;
    }

    /// @notice The pause state of one (target, scope).
    struct PauseState {
        uint64 pausedUntil;
        uint64 nextPauseAllowedAt;
        bytes32 incidentId;
    }

    bytes32 public constant PAUSE_REPORT_TYPEHASH = keccak256(
        "PauseReport(address target,uint256 scope,bytes32 incidentId,bytes32 evidenceHash,uint256 observedBlock,uint256 deadline,uint256 configVersion)"
    );
    uint256 public constant MAX_SIGNERS = 64;

    address public governance;
    address[] private _signers;
    mapping(address => bool) public isSigner;
    uint256 public threshold;
    uint256 public configVersion;

    mapping(address => mapping(uint256 => Mandate)) private _mandates;
    mapping(address => mapping(uint256 => PauseState)) private _pauses;
    mapping(bytes32 => bool) public reportUsed;

    event GovernanceTransferred(address indexed previousGovernance, address indexed newGovernance);
    event OracleSetUpdated(uint256 indexed configVersion, address[] signers, uint256 threshold);
    event MandateGranted(
        address indexed target, uint256 indexed scope, uint64 maxPauseSeconds, uint64 cooldownSeconds, uint64 expiry
    );
    event MandateRevoked(address indexed target, uint256 indexed scope);
    event Paused(
        address indexed target,
        uint256 indexed scope,
        bytes32 indexed incidentId,
        bytes32 evidenceHash,
        uint256 observedBlock,
        uint64 pausedUntil,
        address[] signers
    );
    event PauseExtended(address indexed target, uint256 indexed scope, uint64 pausedUntil);
    event Unpaused(address indexed target, uint256 indexed scope, address indexed by);

    error NotGovernance(address caller);
    error ZeroAddress();
    error BadOracleSet(string reason);
    error DeadlinePassed(uint256 deadline, uint256 nowTs);
    error WrongConfigVersion(uint256 reportVersion, uint256 currentVersion);
    error NoMandate(address target, uint256 scope);
    error MandateExpired(address target, uint256 scope, uint64 expiry);
    error InCooldown(address target, uint256 scope, uint64 nextPauseAllowedAt);
    error AlreadyPaused(address target, uint256 scope, uint64 pausedUntil);
    error ReportAlreadyUsed(bytes32 digest);
    error NotEnoughSignatures(uint256 valid, uint256 threshold);
    error SignersNotSorted(uint256 index, address signer);
    error NotASigner(uint256 index, address recovered);
    error NotPaused(address target, uint256 scope);
    error BadExtension(uint64 pausedUntil, uint64 requested);
    error BadMandate(string reason);

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    constructor(address governance_, address[] memory signers_, uint256 threshold_) EIP712("Vigil Guardian", "1") {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        emit GovernanceTransferred(address(0), governance_);
        _setOracleSet(signers_, threshold_);
    }

    // ---------------------------------------------------------------- governance

    function transferGovernance(address newGovernance) external onlyGovernance {
        if (newGovernance == address(0)) revert ZeroAddress();
        emit GovernanceTransferred(governance, newGovernance);
        governance = newGovernance;
    }

    /// @notice Replaces the oracle set; the config version increases, so every report signed for an older set
    /// is rejected.
    function setOracleSet(address[] calldata signers_, uint256 threshold_) external onlyGovernance {
        _setOracleSet(signers_, threshold_);
    }

    function grantMandate(address target, uint256 scope, uint64 maxPauseSeconds, uint64 cooldownSeconds, uint64 expiry)
        external
        onlyGovernance
    {
        if (target == address(0)) revert ZeroAddress();
        if (maxPauseSeconds == 0) revert BadMandate("max pause seconds is zero");
        if (expiry <= block.timestamp) revert BadMandate("expiry is in the past");
        _mandates[target][scope] = Mandate(maxPauseSeconds, cooldownSeconds, expiry, true);
        emit MandateGranted(target, scope, maxPauseSeconds, cooldownSeconds, expiry);
    }

    function revokeMandate(address target, uint256 scope) external onlyGovernance {
        if (!_mandates[target][scope].active) revert NoMandate(target, scope);
        delete _mandates[target][scope];
        emit MandateRevoked(target, scope);
    }

    /// @notice Lifts a pause early. The mandate's cooldown starts now, so the oracle cannot re-pause at once.
    function unpause(address target, uint256 scope) external onlyGovernance {
        PauseState storage p = _pauses[target][scope];
        if (p.pausedUntil <= block.timestamp) revert NotPaused(target, scope);
        p.pausedUntil = uint64(block.timestamp);
        p.nextPauseAllowedAt = uint64(block.timestamp) + _mandates[target][scope].cooldownSeconds;
        emit Unpaused(target, scope, msg.sender);
    }

    /// @notice Keeps a live pause in force until `until` (later than its current end).
    function extendPause(address target, uint256 scope, uint64 until) external onlyGovernance {
        PauseState storage p = _pauses[target][scope];
        if (p.pausedUntil <= block.timestamp) revert NotPaused(target, scope);
        if (until <= p.pausedUntil) revert BadExtension(p.pausedUntil, until);
        uint64 cooldown = p.nextPauseAllowedAt - p.pausedUntil;
        p.pausedUntil = until;
        p.nextPauseAllowedAt = until + cooldown;
        emit PauseExtended(target, scope, until);
    }

    // ---------------------------------------------------------------- oracle

    /// @notice Pauses `report.scope` of `report.target`. `signatures` must come from distinct current signers,
    /// ordered by signer address, strictly ascending (this is how duplicates are rejected).
    function pauseWithQuorum(PauseReport calldata report, bytes[] calldata signatures) external {
        if (block.timestamp > report.deadline) revert DeadlinePassed(report.deadline, block.timestamp);
        if (report.configVersion != configVersion) revert WrongConfigVersion(report.configVersion, configVersion);

        Mandate memory m = _mandates[report.target][report.scope];
        if (!m.active) revert NoMandate(report.target, report.scope);
        if (block.timestamp >= m.expiry) revert MandateExpired(report.target, report.scope, m.expiry);

        PauseState storage p = _pauses[report.target][report.scope];
        if (p.pausedUntil > block.timestamp) revert AlreadyPaused(report.target, report.scope, p.pausedUntil);
        if (block.timestamp < p.nextPauseAllowedAt) {
            revert InCooldown(report.target, report.scope, p.nextPauseAllowedAt);
        }

        bytes32 digest = hashReport(report);
        if (reportUsed[digest]) revert ReportAlreadyUsed(digest);
        address[] memory signed = _checkSignatures(digest, signatures);
        reportUsed[digest] = true;

        uint64 until = uint64(block.timestamp) + m.maxPauseSeconds;
        p.pausedUntil = until;
        p.nextPauseAllowedAt = until + m.cooldownSeconds;
        p.incidentId = report.incidentId;
        emit Paused(
            report.target, report.scope, report.incidentId, report.evidenceHash, report.observedBlock, until, signed
        );
    }

    // ---------------------------------------------------------------- views

    /// @notice What protected contracts check: true while the whole target (scope 0) or this scope is paused.
    function isPaused(address target, uint256 scope) public view returns (bool) {
        return _pauses[target][0].pausedUntil > block.timestamp
            || (scope != 0 && _pauses[target][scope].pausedUntil > block.timestamp);
    }

    function hashReport(PauseReport calldata r) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    PAUSE_REPORT_TYPEHASH,
                    r.target,
                    r.scope,
                    r.incidentId,
                    r.evidenceHash,
                    r.observedBlock,
                    r.deadline,
                    r.configVersion
                )
            )
        );
    }

    function signers() external view returns (address[] memory) {
        return _signers;
    }

    function mandate(address target, uint256 scope) external view returns (Mandate memory) {
        return _mandates[target][scope];
    }

    function pauseState(address target, uint256 scope) external view returns (PauseState memory) {
        return _pauses[target][scope];
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- internals

    function _checkSignatures(bytes32 digest, bytes[] calldata signatures) internal view returns (address[] memory) {
        if (signatures.length < threshold) revert NotEnoughSignatures(signatures.length, threshold);
        address[] memory signed = new address[](signatures.length);
        address last = address(0);
        for (uint256 i = 0; i < signatures.length; i++) {
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError || !isSigner[recovered]) revert NotASigner(i, recovered);
            if (recovered <= last) revert SignersNotSorted(i, recovered);
            last = recovered;
            signed[i] = recovered;
        }
        return signed;
    }

    function _setOracleSet(address[] memory signers_, uint256 threshold_) internal {
        if (signers_.length == 0 || signers_.length > MAX_SIGNERS) revert BadOracleSet("signer count");
        if (threshold_ == 0 || threshold_ > signers_.length) revert BadOracleSet("threshold");
        for (uint256 i = 0; i < _signers.length; i++) {
            isSigner[_signers[i]] = false;
        }
        delete _signers;
        for (uint256 i = 0; i < signers_.length; i++) {
            address s = signers_[i];
            if (s == address(0)) revert ZeroAddress();
            if (isSigner[s]) revert BadOracleSet("duplicate signer");
            isSigner[s] = true;
            _signers.push(s);
        }
        threshold = threshold_;
        configVersion += 1;
        emit OracleSetUpdated(configVersion, signers_, threshold_);
    }
}
