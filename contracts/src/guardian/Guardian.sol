// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {TwoStepGovernance} from "./TwoStepGovernance.sol";

/// @title Guardian
/// @notice The only door through which automated responses reach a protocol. Governance (a timelock) grants
/// mandates: for a target contract and a scope (0 = the whole target, other ids = one market or pool), how long
/// an emergency pause may last, how long to wait before the next one, and until when the mandate holds.
/// A pause is accepted only from a report signed by a strict majority of the current oracle set (independent
/// Vigil nodes), for this chain, the current config version and the scope's current nonce, before its deadline
/// and within the max report lifetime, inside a live mandate, outside the cooldowns of the scope and of every
/// scope covering it, and within the target's pause budget. A pause ends by itself; only governance lifts it
/// early or extends it.
///
/// What no quorum of oracles can do, whatever it signs:
/// - keep any segment of a target paused for more than `budget` seconds in any rolling window of `window`
///   seconds (every accepted pause of the target, on any scope, is charged its full length to one budget);
/// - re-pause a scope that governance lifted, through that scope or a scope covering it, before the cooldown;
/// - land a report that outlived the max report lifetime, or one signed before the scope's state last changed.
contract Guardian is EIP712, TwoStepGovernance {
    /// @notice What the oracle nodes sign (EIP-712).
    struct PauseReport {
        address target;
        uint256 scope;
        bytes32 incidentId;
        bytes32 evidenceHash;
        uint256 observedBlock;
        uint256 deadline;
        uint256 configVersion;
        uint256 nonce;
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

    /// @notice One entry of `pauseNonces`: the nonce a report for (target, scope) must carry now.
    struct ScopeNonce {
        address target;
        uint256 scope;
        uint256 nonce;
    }

    /// @notice One mandated (target, scope) as a node needs it to tell whether a pause would be admitted: the
    /// nonce a report must carry, the mandate, the pause state, the target's budget (defaults filled in) and the
    /// cooldown governance's unpause of scope 0 put on the whole target.
    struct ScopeView {
        address target;
        uint256 scope;
        uint256 nonce;
        Mandate mandate;
        PauseState pause;
        Budget budget;
        uint64 targetCooldownUntil;
    }

    /// @notice Everything `pauseWithQuorum` checks besides the signatures, for every mandated scope, in one read.
    struct Snapshot {
        uint256 configVersion;
        uint256 threshold;
        address[] signers;
        Bounds bounds;
        uint64 timestamp;
        ScopeView[] scopes;
    }

    /// @notice Governance's bounds on mandates and reports.
    struct Bounds {
        uint64 minCooldownSeconds;
        uint64 maxPauseLength;
        uint64 maxMandateHorizon;
        uint64 maxReportLifetime;
    }

    /// @notice The pause budget of one target and its accounting. `used` seconds were charged in the window
    /// opened at `windowStart`; the next window opens no earlier than `nextWindowAt`.
    struct Budget {
        uint64 budgetSeconds;
        uint64 windowSeconds;
        uint64 windowStart;
        uint64 used;
        uint64 nextWindowAt;
    }

    bytes32 public constant PAUSE_REPORT_TYPEHASH = keccak256(
        "PauseReport(address target,uint256 scope,bytes32 incidentId,bytes32 evidenceHash,uint256 observedBlock,uint256 deadline,uint256 configVersion,uint256 nonce)"
    );
    /// @notice OCR2's limit: at most 31 oracles; the threshold is a strict majority.
    uint256 public constant MAX_SIGNERS = 31;

    /// @notice Hard limits on governance's own settings, so that no setting can make the arithmetic overflow.
    uint64 public constant MAX_COOLDOWN_LIMIT = 365 days;
    uint64 public constant MIN_COOLDOWN_LIMIT = 30 days;
    uint64 public constant MAX_PAUSE_LIMIT = 365 days;
    uint64 public constant MAX_HORIZON_LIMIT = 5 * 365 days;
    uint64 public constant MAX_LIFETIME_LIMIT = 1 days;
    uint64 public constant MAX_WINDOW_LIMIT = 365 days;
    uint64 public constant MAX_EXTENSION = 365 days;

    /// @notice Defaults: see docs/contracts.md.
    uint64 public constant DEFAULT_MIN_COOLDOWN = 1 hours;
    uint64 public constant DEFAULT_MAX_PAUSE = 7 days;
    uint64 public constant DEFAULT_MAX_HORIZON = 2 * 365 days;
    uint64 public constant DEFAULT_MAX_LIFETIME = 10 minutes;
    uint64 public constant DEFAULT_BUDGET = 7 days;
    uint64 public constant DEFAULT_WINDOW = 30 days;

    address[] private _signers;
    mapping(address => bool) public isSigner;
    uint256 public threshold;
    uint256 public configVersion;
    /// @notice The SecurityGate protected contracts consult for risky calls (docs/screening.md); zero: none.
    address public gate;
    Bounds private _bounds;

    mapping(address => mapping(uint256 => Mandate)) private _mandates;
    mapping(address => mapping(uint256 => PauseState)) private _pauses;
    mapping(address => mapping(uint256 => uint256)) private _nonces;
    mapping(address => Budget) private _budgets;
    mapping(address => uint64) private _targetCooldownUntil;
    /// @dev Every (target, scope) governance ever granted a mandate for, in grant order: the scopes a report can
    /// be for. Grows only by governance's grants.
    ScopeNonce[] private _mandated;
    mapping(address => mapping(uint256 => bool)) private _isMandated;

    event GateSet(address indexed gate);
    event OracleSetUpdated(uint256 indexed configVersion, address[] signers, uint256 threshold);
    event BoundsUpdated(
        uint64 minCooldownSeconds, uint64 maxPauseLength, uint64 maxMandateHorizon, uint64 maxReportLifetime
    );
    event PauseBudgetSet(address indexed target, uint64 budgetSeconds, uint64 windowSeconds);
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
    event NonceAdvanced(address indexed target, uint256 indexed scope, uint256 nonce);

    error BadOracleSet(string reason);
    error DeadlinePassed(uint256 deadline, uint256 nowTs);
    error ReportLifetimeTooLong(uint256 deadline, uint256 nowTs, uint64 maxReportLifetime);
    error WrongConfigVersion(uint256 reportVersion, uint256 currentVersion);
    error WrongNonce(address target, uint256 scope, uint256 reportNonce, uint256 currentNonce);
    error NoMandate(address target, uint256 scope);
    error MandateExpired(address target, uint256 scope, uint64 expiry);
    error MandateOutOfBounds(string field, uint256 value, uint256 bound);
    error BoundOutOfRange(string field, uint256 value, uint256 limit);
    error InCooldown(address target, uint256 scope, uint64 nextPauseAllowedAt);
    error AlreadyPaused(address target, uint256 scope, uint64 pausedUntil);
    error PauseBudgetExhausted(address target, uint64 used, uint64 requested, uint64 budget, uint64 nextWindowAt);
    error NotEnoughSignatures(uint256 valid, uint256 threshold);
    error SignersNotSorted(uint256 index, address signer);
    error NotASigner(uint256 index, address recovered);
    error NotPaused(address target, uint256 scope);
    error BadExtension(uint64 pausedUntil, uint64 requested);

    constructor(address governance_, address[] memory signers_, uint256 threshold_)
        EIP712("Vigil Guardian", "1")
        TwoStepGovernance(governance_)
    {
        _setOracleSet(signers_, threshold_);
        _setBounds(Bounds(DEFAULT_MIN_COOLDOWN, DEFAULT_MAX_PAUSE, DEFAULT_MAX_HORIZON, DEFAULT_MAX_LIFETIME));
    }

    // ---------------------------------------------------------------- governance (and TwoStepGovernance)

    /// @notice Replaces the oracle set; the config version increases, so every report signed for an older set
    /// is rejected.
    function setOracleSet(address[] calldata signers_, uint256 threshold_) external onlyGovernance {
        _setOracleSet(signers_, threshold_);
    }

    /// @notice Sets the SecurityGate that protected contracts ask about risky calls (`address(0)`: none).
    function setGate(address gate_) external onlyGovernance {
        gate = gate_;
        emit GateSet(gate_);
    }

    /// @notice Sets the bounds every later mandate and report must respect. Pauses already granted are cut to
    /// the new max pause length when they are triggered.
    function setBounds(Bounds calldata b) external onlyGovernance {
        _setBounds(b);
    }

    /// @notice Sets the pause budget of `target`: at most `budgetSeconds` of pauses (all scopes together) in any
    /// rolling window of `windowSeconds`. The accounting of the current window is kept.
    function setPauseBudget(address target, uint64 budgetSeconds, uint64 windowSeconds) external onlyGovernance {
        if (target == address(0)) revert ZeroAddress();
        if (windowSeconds == 0 || windowSeconds > MAX_WINDOW_LIMIT) {
            revert BoundOutOfRange("windowSeconds", windowSeconds, MAX_WINDOW_LIMIT);
        }
        if (budgetSeconds == 0 || budgetSeconds > windowSeconds) {
            revert BoundOutOfRange("budgetSeconds", budgetSeconds, windowSeconds);
        }
        Budget storage b = _budgets[target];
        b.budgetSeconds = budgetSeconds;
        b.windowSeconds = windowSeconds;
        emit PauseBudgetSet(target, budgetSeconds, windowSeconds);
    }

    function grantMandate(address target, uint256 scope, uint64 maxPauseSeconds, uint64 cooldownSeconds, uint64 expiry)
        external
        onlyGovernance
    {
        if (target == address(0)) revert ZeroAddress();
        Bounds memory b = _bounds;
        if (maxPauseSeconds == 0) revert MandateOutOfBounds("maxPauseSeconds", maxPauseSeconds, 1);
        if (maxPauseSeconds > b.maxPauseLength) {
            revert MandateOutOfBounds("maxPauseSeconds", maxPauseSeconds, b.maxPauseLength);
        }
        if (cooldownSeconds < b.minCooldownSeconds) {
            revert MandateOutOfBounds("cooldownSeconds", cooldownSeconds, b.minCooldownSeconds);
        }
        if (cooldownSeconds > MAX_COOLDOWN_LIMIT) {
            revert MandateOutOfBounds("cooldownSeconds", cooldownSeconds, MAX_COOLDOWN_LIMIT);
        }
        if (expiry <= block.timestamp) revert MandateOutOfBounds("expiry", expiry, block.timestamp + 1);
        if (expiry > block.timestamp + b.maxMandateHorizon) {
            revert MandateOutOfBounds("expiry", expiry, block.timestamp + b.maxMandateHorizon);
        }
        _mandates[target][scope] = Mandate(maxPauseSeconds, cooldownSeconds, expiry, true);
        if (!_isMandated[target][scope]) {
            _isMandated[target][scope] = true;
            _mandated.push(ScopeNonce(target, scope, 0));
        }
        emit MandateGranted(target, scope, maxPauseSeconds, cooldownSeconds, expiry);
        _advanceNonce(target, scope);
    }

    function revokeMandate(address target, uint256 scope) external onlyGovernance {
        if (!_mandates[target][scope].active) revert NoMandate(target, scope);
        delete _mandates[target][scope];
        emit MandateRevoked(target, scope);
        _advanceNonce(target, scope);
    }

    /// @notice Lifts a pause early. The mandate's cooldown starts now for this scope and for every scope that
    /// covers it (lifting scope 0 blocks every scope of the target; lifting scope N blocks N and 0), so the
    /// oracle cannot re-pause the lifted segment at once through another scope.
    function unpause(address target, uint256 scope) external onlyGovernance {
        PauseState storage p = _pauses[target][scope];
        if (p.pausedUntil <= block.timestamp) revert NotPaused(target, scope);
        p.pausedUntil = uint64(block.timestamp);
        uint64 until = uint64(block.timestamp) + _mandates[target][scope].cooldownSeconds;
        p.nextPauseAllowedAt = until;
        if (scope == 0) {
            if (_targetCooldownUntil[target] < until) _targetCooldownUntil[target] = until;
        } else {
            _blockUntil(_pauses[target][0], until);
        }
        emit Unpaused(target, scope, msg.sender);
        _advanceNonce(target, scope);
    }

    /// @notice Keeps a live pause in force until `until` (later than its current end, at most `MAX_EXTENSION`
    /// from now). Extensions are governance's decision and are not charged to the oracle's pause budget.
    function extendPause(address target, uint256 scope, uint64 until) external onlyGovernance {
        PauseState storage p = _pauses[target][scope];
        if (p.pausedUntil <= block.timestamp) revert NotPaused(target, scope);
        if (until <= p.pausedUntil || until > block.timestamp + MAX_EXTENSION) revert BadExtension(p.pausedUntil, until);
        p.pausedUntil = until;
        _blockUntil(p, until + _mandates[target][scope].cooldownSeconds);
        emit PauseExtended(target, scope, until);
        _advanceNonce(target, scope);
    }

    // ---------------------------------------------------------------- oracle

    /// @notice Pauses `report.scope` of `report.target`. `signatures` must come from distinct current signers,
    /// ordered by signer address, strictly ascending (this is how duplicates are rejected).
    function pauseWithQuorum(PauseReport calldata report, bytes[] calldata signatures) external {
        (uint64 until, uint64 cooldown) = _admit(report);
        address[] memory signed = _checkSignatures(hashReport(report), signatures);
        PauseState storage p = _pauses[report.target][report.scope];
        p.pausedUntil = until;
        p.nextPauseAllowedAt = until + cooldown;
        p.incidentId = report.incidentId;
        emit Paused(
            report.target, report.scope, report.incidentId, report.evidenceHash, report.observedBlock, until, signed
        );
        _advanceNonce(report.target, report.scope);
    }

    // ---------------------------------------------------------------- views

    /// @notice What protected contracts check: true while the whole target (scope 0) or this scope is paused.
    function isPaused(address target, uint256 scope) public view returns (bool) {
        return _pauses[target][0].pausedUntil > block.timestamp
            || (scope != 0 && _pauses[target][scope].pausedUntil > block.timestamp);
    }

    /// @notice The nonce a report for (target, scope) must carry now. It advances on every accepted pause and
    /// on every governance action on the scope (mandate granted or revoked, unpause, extension).
    function nonceOf(address target, uint256 scope) external view returns (uint256) {
        return _nonces[target][scope];
    }

    /// @notice The current nonce of every scope governance ever granted a mandate for (one read gives a node
    /// the nonce of whichever scope it decides to pause).
    function pauseNonces() external view returns (ScopeNonce[] memory all) {
        all = _mandated;
        for (uint256 i = 0; i < all.length; i++) {
            all[i].nonce = _nonces[all[i].target][all[i].scope];
        }
    }

    /// @notice What a node reads at every block to decide pauses the Guardian admits (see `_admit`).
    function snapshot() external view returns (Snapshot memory s) {
        s.configVersion = configVersion;
        s.threshold = threshold;
        s.signers = _signers;
        s.bounds = _bounds;
        s.timestamp = uint64(block.timestamp);
        s.scopes = new ScopeView[](_mandated.length);
        for (uint256 i = 0; i < _mandated.length; i++) {
            address target = _mandated[i].target;
            uint256 scope = _mandated[i].scope;
            Budget memory b = _budgets[target];
            (b.budgetSeconds, b.windowSeconds) = _budgetOf(b);
            s.scopes[i] = ScopeView(
                target,
                scope,
                _nonces[target][scope],
                _mandates[target][scope],
                _pauses[target][scope],
                b,
                _targetCooldownUntil[target]
            );
        }
    }

    /// @notice Checks that `signatures` over `digest` are from at least `threshold` distinct signers of the current
    /// oracle set, sorted by signer address; returns the signers. The SecurityGate checks attestations with it.
    function checkQuorum(bytes32 digest, bytes[] calldata signatures) external view returns (address[] memory) {
        return _checkSignatures(digest, signatures);
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
                    r.configVersion,
                    r.nonce
                )
            )
        );
    }

    function signers() external view returns (address[] memory) {
        return _signers;
    }

    function bounds() external view returns (Bounds memory) {
        return _bounds;
    }

    /// @notice The pause budget of `target` (the defaults where governance set none) and its accounting.
    function pauseBudget(address target) external view returns (Budget memory b) {
        b = _budgets[target];
        (b.budgetSeconds, b.windowSeconds) = _budgetOf(b);
    }

    /// @notice Until when governance's unpause of scope 0 blocks every pause of `target`.
    function targetCooldownUntil(address target) external view returns (uint64) {
        return _targetCooldownUntil[target];
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

    /// @dev A scope may be paused only outside its own cooldown, the cooldown governance set on the whole
    /// target (unpause of scope 0), and, for a segment, outside scope 0's cooldown after governance lifted one
    /// of its segments (see `unpause`).
    /// @dev Every rule a report must meet besides its signatures; charges the pause to the target's budget and
    /// returns when it ends and the scope's cooldown after it.
    function _admit(PauseReport calldata report) internal returns (uint64 until, uint64 cooldown) {
        address target = report.target;
        uint256 scope = report.scope;
        if (block.timestamp > report.deadline) revert DeadlinePassed(report.deadline, block.timestamp);
        uint64 lifetime = _bounds.maxReportLifetime;
        if (report.deadline - block.timestamp > lifetime) {
            revert ReportLifetimeTooLong(report.deadline, block.timestamp, lifetime);
        }
        if (report.configVersion != configVersion) revert WrongConfigVersion(report.configVersion, configVersion);
        uint256 nonce = _nonces[target][scope];
        if (report.nonce != nonce) revert WrongNonce(target, scope, report.nonce, nonce);

        Mandate memory m = _mandates[target][scope];
        if (!m.active) revert NoMandate(target, scope);
        if (block.timestamp >= m.expiry) revert MandateExpired(target, scope, m.expiry);

        PauseState storage p = _pauses[target][scope];
        if (p.pausedUntil > block.timestamp) revert AlreadyPaused(target, scope, p.pausedUntil);
        _checkCooldowns(target, scope, p);

        uint64 length = m.maxPauseSeconds < _bounds.maxPauseLength ? m.maxPauseSeconds : _bounds.maxPauseLength;
        until = uint64(block.timestamp) + length;
        _charge(target, length, until);
        cooldown = m.cooldownSeconds;
    }

    function _checkCooldowns(address target, uint256 scope, PauseState storage p) internal view {
        if (block.timestamp < p.nextPauseAllowedAt) revert InCooldown(target, scope, p.nextPauseAllowedAt);
        uint64 whole = _targetCooldownUntil[target];
        if (block.timestamp < whole) revert InCooldown(target, 0, whole);
    }

    /// @dev Charges a pause of `length` seconds ending at `until` to the target's budget. Windows: a window
    /// opens at the first pause after `nextWindowAt`; within it at most `budget` seconds are charged; the next
    /// window opens no earlier than `window` after this one opened and `window - budget` after the last charged
    /// pause ends. So pauses charged to two consecutive windows are at least `window - budget` apart, and any
    /// rolling interval of `window` seconds holds at most `budget` paused seconds (budget <= window).
    function _charge(address target, uint64 length, uint64 until) internal {
        Budget storage s = _budgets[target];
        (uint64 budget, uint64 window) = _budgetOf(s);
        uint64 nowTs = uint64(block.timestamp);
        if (nowTs >= s.nextWindowAt) {
            s.windowStart = nowTs;
            s.used = 0;
        }
        if (uint256(s.used) + length > budget) {
            revert PauseBudgetExhausted(target, s.used, length, budget, s.nextWindowAt);
        }
        s.used += length;
        uint64 next = s.windowStart + window;
        uint64 afterLast = until + (window - budget);
        if (afterLast > next) next = afterLast;
        if (next > s.nextWindowAt) s.nextWindowAt = next;
    }

    function _budgetOf(Budget memory b) internal pure returns (uint64 budget, uint64 window) {
        if (b.windowSeconds == 0) return (DEFAULT_BUDGET, DEFAULT_WINDOW);
        return (b.budgetSeconds, b.windowSeconds);
    }

    function _blockUntil(PauseState storage p, uint64 until) internal {
        if (p.nextPauseAllowedAt < until) p.nextPauseAllowedAt = until;
    }

    function _advanceNonce(address target, uint256 scope) internal {
        uint256 n = ++_nonces[target][scope];
        emit NonceAdvanced(target, scope, n);
    }

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

    function _setBounds(Bounds memory b) internal {
        if (b.minCooldownSeconds == 0 || b.minCooldownSeconds > MIN_COOLDOWN_LIMIT) {
            revert BoundOutOfRange("minCooldownSeconds", b.minCooldownSeconds, MIN_COOLDOWN_LIMIT);
        }
        if (b.maxPauseLength == 0 || b.maxPauseLength > MAX_PAUSE_LIMIT) {
            revert BoundOutOfRange("maxPauseLength", b.maxPauseLength, MAX_PAUSE_LIMIT);
        }
        if (b.maxMandateHorizon == 0 || b.maxMandateHorizon > MAX_HORIZON_LIMIT) {
            revert BoundOutOfRange("maxMandateHorizon", b.maxMandateHorizon, MAX_HORIZON_LIMIT);
        }
        if (b.maxReportLifetime == 0 || b.maxReportLifetime > MAX_LIFETIME_LIMIT) {
            revert BoundOutOfRange("maxReportLifetime", b.maxReportLifetime, MAX_LIFETIME_LIMIT);
        }
        _bounds = b;
        emit BoundsUpdated(b.minCooldownSeconds, b.maxPauseLength, b.maxMandateHorizon, b.maxReportLifetime);
    }

    /// @dev OCR2's rules: 1 <= n <= 31 distinct non-zero signers, and k a strict majority (n/2 < k <= n), so two
    /// disjoint quorums cannot exist and a minority cannot pause.
    function _setOracleSet(address[] memory signers_, uint256 threshold_) internal {
        uint256 n = signers_.length;
        if (n == 0 || n > MAX_SIGNERS) revert BadOracleSet("signer count must be 1 to 31");
        if (threshold_ > n) revert BadOracleSet("threshold above signer count");
        if (threshold_ * 2 <= n) revert BadOracleSet("threshold must be a strict majority");
        for (uint256 i = 0; i < _signers.length; i++) {
            isSigner[_signers[i]] = false;
        }
        delete _signers;
        for (uint256 i = 0; i < n; i++) {
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
