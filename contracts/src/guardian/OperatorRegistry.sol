// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {TwoStepGovernance} from "./TwoStepGovernance.sol";

/// @notice What the registry needs of the Guardian: the EIP-712 digest of a report, as its oracle nodes sign it.
interface IReportHasher {
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

    function hashReport(PauseReport calldata r) external view returns (bytes32);
}

/// @title OperatorRegistry
/// @notice The bonds of the Guardian's oracle operators. Each operator registers with its oracle signing key as
/// `msg.sender` and posts a bond in ETH. Governance (the protocol's timelock) can slash the signers of a false
/// pause report, and only them: the evidence is the report itself and the signatures over its EIP-712 digest as
/// the Guardian computes it, so a slash names exactly the keys that signed. The report need not have landed: a
/// share a lying node sent its peers is evidence too. Each signer is slashed at most once per report. Slashed ETH
/// goes to the protocol's beneficiary (its treasury). A withdrawal waits `withdrawalDelay` seconds, and the bond
/// stays slashable while it waits, so an operator cannot sign a false report and leave before governance acts.
/// Governance can raise the delay, never lower it below the floor fixed at deployment.
contract OperatorRegistry is ReentrancyGuard, TwoStepGovernance {
    /// @notice A withdrawal waiting for its delay.
    struct Withdrawal {
        uint256 amount;
        uint64 availableAt;
    }

    /// @notice The Guardian whose reports are the evidence.
    IReportHasher public immutable guardian;
    /// @notice The shortest withdrawal delay governance may ever set (seconds).
    uint64 public immutable withdrawalDelayFloor;

    /// @notice Where slashed bonds go.
    address public beneficiary;
    /// @notice The bond an operator must hold to count as bonded.
    uint256 public minBond;
    /// @notice Seconds a withdrawal waits.
    uint64 public withdrawalDelay;

    /// @notice Each operator's bond (0 when not registered or fully slashed or withdrawn).
    mapping(address => uint256) public bondOf;
    /// @notice Whether an address registered.
    mapping(address => bool) public registered;
    /// @notice Each operator's pending withdrawal.
    mapping(address => Withdrawal) public withdrawalOf;
    /// @notice Whether an operator was slashed for a report digest.
    mapping(bytes32 => mapping(address => bool)) public slashed;

    event Registered(address indexed operator, uint256 bond);
    event ToppedUp(address indexed operator, uint256 amount, uint256 bond);
    event WithdrawalRequested(address indexed operator, uint256 amount, uint64 availableAt);
    event WithdrawalCancelled(address indexed operator);
    event Withdrawn(address indexed operator, uint256 amount);
    event Slashed(address indexed operator, bytes32 indexed digest, uint256 amount, string reason);
    event MinBondSet(uint256 minBond);
    event WithdrawalDelaySet(uint64 delay);
    event BeneficiarySet(address beneficiary);

    error AlreadyRegistered(address operator);
    error NotRegistered(address operator);
    error BondTooSmall(uint256 bond, uint256 minBond);
    error WithdrawalPending(address operator, uint64 availableAt);
    error NoWithdrawal(address operator);
    error WithdrawalNotReady(uint64 availableAt, uint256 nowTs);
    error AmountTooLarge(uint256 amount, uint256 bond);
    error DelayBelowFloor(uint64 delay, uint64 floor);
    error BadSignature(uint256 index);
    error NothingSlashed(bytes32 digest);
    error TransferFailed(address to, uint256 amount);

    /// @param guardian_ the Guardian whose report digests are the evidence of a slash
    /// @param governance_ who may slash and set the parameters
    /// @param beneficiary_ where slashed bonds go
    /// @param minBond_ the bond that counts as bonded
    /// @param withdrawalDelay_ seconds a withdrawal waits; also the floor it may never go below
    constructor(
        address guardian_,
        address governance_,
        address beneficiary_,
        uint256 minBond_,
        uint64 withdrawalDelay_
    ) TwoStepGovernance(governance_) {
        if (guardian_ == address(0) || beneficiary_ == address(0)) revert ZeroAddress();
        guardian = IReportHasher(guardian_);
        beneficiary = beneficiary_;
        minBond = minBond_;
        withdrawalDelay = withdrawalDelay_;
        withdrawalDelayFloor = withdrawalDelay_;
    }

    // ---------------------------------------------------------------- operators

    /// @notice Registers `msg.sender` (an oracle signing key) with the ETH sent as its bond, at least `minBond`.
    function register() external payable {
        if (registered[msg.sender]) revert AlreadyRegistered(msg.sender);
        if (msg.value < minBond) revert BondTooSmall(msg.value, minBond);
        registered[msg.sender] = true;
        bondOf[msg.sender] = msg.value;
        emit Registered(msg.sender, msg.value);
    }

    /// @notice Adds the ETH sent to `msg.sender`'s bond.
    function topUp() external payable {
        if (!registered[msg.sender]) revert NotRegistered(msg.sender);
        bondOf[msg.sender] += msg.value;
        emit ToppedUp(msg.sender, msg.value, bondOf[msg.sender]);
    }

    /// @notice Starts a withdrawal of `amount` of `msg.sender`'s bond, available after `withdrawalDelay`. The
    /// bond stays slashable until it is withdrawn; the operator no longer counts as bonded.
    function requestWithdrawal(uint256 amount) external {
        if (!registered[msg.sender]) revert NotRegistered(msg.sender);
        Withdrawal storage w = withdrawalOf[msg.sender];
        if (w.availableAt != 0) revert WithdrawalPending(msg.sender, w.availableAt);
        if (amount == 0 || amount > bondOf[msg.sender]) revert AmountTooLarge(amount, bondOf[msg.sender]);
        uint64 availableAt = uint64(block.timestamp) + withdrawalDelay;
        withdrawalOf[msg.sender] = Withdrawal(amount, availableAt);
        emit WithdrawalRequested(msg.sender, amount, availableAt);
    }

    /// @notice Cancels `msg.sender`'s pending withdrawal.
    function cancelWithdrawal() external {
        if (withdrawalOf[msg.sender].availableAt == 0) revert NoWithdrawal(msg.sender);
        delete withdrawalOf[msg.sender];
        emit WithdrawalCancelled(msg.sender);
    }

    /// @notice Pays out `msg.sender`'s pending withdrawal once its delay has passed: the amount requested, or what
    /// is left of the bond if it was slashed meanwhile.
    function withdraw() external nonReentrant {
        Withdrawal memory w = withdrawalOf[msg.sender];
        if (w.availableAt == 0) revert NoWithdrawal(msg.sender);
        if (block.timestamp < w.availableAt) revert WithdrawalNotReady(w.availableAt, block.timestamp);
        uint256 amount = w.amount < bondOf[msg.sender] ? w.amount : bondOf[msg.sender];
        bondOf[msg.sender] -= amount;
        delete withdrawalOf[msg.sender];
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    /// @notice Whether `operator` holds at least `minBond` with no withdrawal pending.
    function isBonded(address operator) external view returns (bool) {
        return bondOf[operator] >= minBond && withdrawalOf[operator].availableAt == 0;
    }

    // ---------------------------------------------------------------- governance

    /// @notice Slashes up to `amountPerSigner` of the bond of every registered operator whose signature of
    /// `report` is among `signatures` (the digest is the Guardian's `hashReport`), each at most once per report;
    /// sends the total to the beneficiary. A signature that does not recover reverts; a signer not registered,
    /// or already slashed for this report, is passed over; a call that slashes no one reverts.
    function slash(
        IReportHasher.PauseReport calldata report,
        bytes[] calldata signatures,
        uint256 amountPerSigner,
        string calldata reason
    ) external onlyGovernance nonReentrant returns (uint256 total) {
        bytes32 digest = guardian.hashReport(report);
        for (uint256 i = 0; i < signatures.length; i++) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) revert BadSignature(i);
            if (!registered[signer] || slashed[digest][signer]) continue;
            slashed[digest][signer] = true;
            uint256 bond = bondOf[signer];
            uint256 amount = amountPerSigner < bond ? amountPerSigner : bond;
            bondOf[signer] = bond - amount;
            total += amount;
            emit Slashed(signer, digest, amount, reason);
        }
        if (total == 0) revert NothingSlashed(digest);
        _send(beneficiary, total);
    }

    /// @notice Sets the bond that counts as bonded.
    function setMinBond(uint256 minBond_) external onlyGovernance {
        minBond = minBond_;
        emit MinBondSet(minBond_);
    }

    /// @notice Sets the withdrawal delay; never below the floor fixed at deployment. Withdrawals already pending
    /// keep their time.
    function setWithdrawalDelay(uint64 delay) external onlyGovernance {
        if (delay < withdrawalDelayFloor) revert DelayBelowFloor(delay, withdrawalDelayFloor);
        withdrawalDelay = delay;
        emit WithdrawalDelaySet(delay);
    }

    /// @notice Sets where slashed bonds go.
    function setBeneficiary(address beneficiary_) external onlyGovernance {
        if (beneficiary_ == address(0)) revert ZeroAddress();
        beneficiary = beneficiary_;
        emit BeneficiarySet(beneficiary_);
    }

    function _send(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
