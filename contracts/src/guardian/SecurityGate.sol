// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {TwoStepGovernance} from "./TwoStepGovernance.sol";

/// @notice What the gate asks the Guardian: the oracle set that signs attestations is the one that signs pauses,
/// checked by the same rule (k signers of the set, sorted by address).
interface IOracleSet {
    function configVersion() external view returns (uint256);
    function checkQuorum(bytes32 digest, bytes[] calldata signatures) external view returns (address[] memory);
}

/// @title SecurityGate
/// @notice Attestation-gated entry, for the order flow no mempool shows (a private relay, a builder of one's own).
/// A protected function calls `checkpoint(caller, amount, keccak256(msg.data))` on entry. When the call is risky
/// by its contract's rule (an amount above the rule's, a caller that is not the transaction's origin, i.e. a
/// contract, or a caller first seen by the gate fewer than `youngBlocks` blocks ago), it passes only if the
/// transaction carries an attestation from the oracle set (k of n, the Guardian's signers and threshold) that
/// this exact sequence of risky calls was simulated and found safe: the attestation lists the execution hash of
/// every risky call in order (keccak of the protected contract, the caller and the call's calldata hash) for one
/// transaction origin, with a deadline at most `MAX_ATTESTATION_BLOCKS` blocks ahead, and it is used once.
///
/// A transaction carries its attestation through `saveAttestation` (called first in the transaction by the
/// origin's contract or wallet) or through the protected contract's `attestedCall`, which saves it and runs the
/// call on itself; either way it lives in transient storage, so it never outlives its transaction.
///
/// A node learns the execution hashes by simulating the transaction with the `simulation` slot set (a state
/// override; nothing on chain can set it): a risky call without an attestation then emits `Checkpoint` instead of
/// reverting. Modelled on Forta Firewall's SecurityValidator; docs/screening.md says what it covers.
contract SecurityGate is EIP712, TwoStepGovernance {
    /// @notice What the oracle nodes sign (EIP-712).
    struct Attestation {
        address origin;
        uint256 deadline;
        uint256 configVersion;
        bytes32[] executionHashes;
    }

    /// @notice The risk rule of one protected contract. Inactive: every call passes.
    struct Rule {
        uint128 amountAbove;
        uint32 youngBlocks;
        bool contractCallers;
        bool active;
    }

    bytes32 public constant ATTESTATION_TYPEHASH =
        keccak256("Attestation(address origin,uint256 deadline,uint256 configVersion,bytes32[] executionHashes)");
    /// @notice An attestation is for the next few blocks only: the state it was simulated on moves on.
    uint256 public constant MAX_ATTESTATION_BLOCKS = 10;
    /// @notice At most this many risky calls in one attested transaction.
    uint256 public constant MAX_EXECUTION_HASHES = 32;

    IOracleSet public immutable oracles;
    mapping(address => Rule) public rules;
    /// @notice Block at which the gate first saw each caller of a protected contract with a `youngBlocks` rule.
    mapping(address => uint64) public firstSeen;
    /// @notice Digests of the attestations already used.
    mapping(bytes32 => bool) public used;
    /// @notice Never written on chain: a node's simulation sets this slot (a state override) to learn the
    /// execution hashes of a transaction.
    bytes32 public constant SIMULATION_SLOT = keccak256("vigil.security-gate.simulation");

    /// @dev Transient: the saved attestation's hash count and the next one to match; the hashes follow at
    /// `_HASHES + i`.
    uint256 private transient _count;
    uint256 private transient _cursor;
    uint256 private constant _HASHES = uint256(keccak256("vigil.security-gate.execution-hashes"));

    event RuleSet(address indexed target, uint128 amountAbove, uint32 youngBlocks, bool contractCallers, bool active);
    event AttestationSaved(address indexed origin, bytes32 indexed digest, uint256 calls);
    event Checkpoint(address indexed target, address indexed caller, bytes32 executionHash, bool attested);

    error AttestationRequired(address target, address caller, bytes32 executionHash);
    error WrongOrigin(address origin, address txOrigin);
    error AttestationExpired(uint256 deadline, uint256 blockNumber);
    error DeadlineTooFar(uint256 deadline, uint256 latest);
    error WrongConfigVersion(uint256 attested, uint256 current);
    error AttestationUsed(bytes32 digest);
    error BadExecutionHashes(uint256 count);
    error AttestationAlreadySaved();
    /// @dev Raised by the Guardian's `checkQuorum`, declared here for the gate's ABI.
    error NotEnoughSignatures(uint256 valid, uint256 threshold);
    error SignersNotSorted(uint256 index, address signer);
    error NotASigner(uint256 index, address recovered);

    constructor(address governance_, IOracleSet oracles_) EIP712("Vigil SecurityGate", "1") TwoStepGovernance(governance_) {
        if (address(oracles_) == address(0)) revert ZeroAddress();
        oracles = oracles_;
    }

    /// @notice Sets the risk rule of `target` (a protected contract).
    function setRule(address target, Rule calldata rule) external onlyGovernance {
        rules[target] = rule;
        emit RuleSet(target, rule.amountAbove, rule.youngBlocks, rule.contractCallers, rule.active);
    }

    /// @notice Saves the transaction's attestation (once per transaction), after checking its origin, deadline,
    /// oracle set version, single use and k signatures of the oracle set, sorted by signer address.
    function saveAttestation(Attestation calldata a, bytes[] calldata signatures) external {
        if (_count != 0) revert AttestationAlreadySaved();
        if (a.origin != tx.origin) revert WrongOrigin(a.origin, tx.origin);
        if (block.number > a.deadline) revert AttestationExpired(a.deadline, block.number);
        if (a.deadline > block.number + MAX_ATTESTATION_BLOCKS) {
            revert DeadlineTooFar(a.deadline, block.number + MAX_ATTESTATION_BLOCKS);
        }
        uint256 version = oracles.configVersion();
        if (a.configVersion != version) revert WrongConfigVersion(a.configVersion, version);
        uint256 n = a.executionHashes.length;
        if (n == 0 || n > MAX_EXECUTION_HASHES) revert BadExecutionHashes(n);
        bytes32 digest = hashAttestation(a);
        if (used[digest]) revert AttestationUsed(digest);
        used[digest] = true;
        oracles.checkQuorum(digest, signatures);
        for (uint256 i = 0; i < n; i++) {
            bytes32 h = a.executionHashes[i];
            uint256 slot = _HASHES + i;
            assembly {
                tstore(slot, h)
            }
        }
        _count = n;
        _cursor = 0;
        emit AttestationSaved(a.origin, digest, n);
    }

    /// @notice Called by a protected contract on entry to a protected function, with its caller, the amount the
    /// call moves and the hash of its calldata. A risky call must match the next execution hash of the saved
    /// attestation, or it reverts with `AttestationRequired`.
    function checkpoint(address caller, uint256 amount, bytes32 callHash) external {
        Rule memory r = rules[msg.sender];
        if (!r.active) return;
        // A contract, or an account with delegated code (EIP-7702), is a contract caller.
        bool risky = amount > r.amountAbove || (r.contractCallers && (caller != tx.origin || caller.code.length > 0));
        if (r.youngBlocks != 0) {
            uint64 seen = firstSeen[caller];
            if (seen == 0) {
                seen = uint64(block.number);
                firstSeen[caller] = seen;
            }
            if (block.number < uint256(seen) + r.youngBlocks) risky = true;
        }
        if (!risky) return;
        bytes32 h = executionHash(msg.sender, caller, callHash);
        uint256 i = _cursor;
        bytes32 expected;
        if (i < _count) {
            uint256 slot = _HASHES + i;
            assembly {
                expected := tload(slot)
            }
        }
        if (i >= _count || expected != h) {
            if (_simulating()) {
                emit Checkpoint(msg.sender, caller, h, false);
                return;
            }
            revert AttestationRequired(msg.sender, caller, h);
        }
        _cursor = i + 1;
        emit Checkpoint(msg.sender, caller, h, true);
    }

    /// @notice The execution hash of one risky call: what an attestation lists.
    function executionHash(address target, address caller, bytes32 callHash) public pure returns (bytes32) {
        return keccak256(abi.encode(target, caller, callHash));
    }

    /// @notice The EIP-712 digest the oracle nodes sign.
    function hashAttestation(Attestation calldata a) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    ATTESTATION_TYPEHASH,
                    a.origin,
                    a.deadline,
                    a.configVersion,
                    keccak256(abi.encodePacked(a.executionHashes))
                )
            )
        );
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _simulating() internal view returns (bool on) {
        bytes32 slot = SIMULATION_SLOT;
        assembly {
            on := sload(slot)
        }
    }
}
