// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SecurityGate} from "./SecurityGate.sol";
import {AttestedEntry} from "./AttestedEntry.sol";

/// @notice What a protected contract asks its Guardian: whether a scope is paused, and which gate screens entry.
interface IGuardian {
    function isPaused(address target, uint256 scope) external view returns (bool);
    function gate() external view returns (SecurityGate);
}

/// @title GuardianProtected
/// @notice Base for every venue contract: state-changing user functions that can take value out or put new value
/// at risk carry `whenNotPaused(scope)`, so a pause accepted by the Guardian for this contract (scope 0) or for
/// one of its markets (scope id) stops them. Functions that only make the protocol safer (repaying debt, adding
/// collateral, liquidating an unhealthy position) stay open during a pause, so that a pause never turns falling
/// collateral into bad debt; docs/contracts.md lists, per contract and function, what a pause stops.
/// Functions that take value out also carry `gated(amount)`: when governance set a SecurityGate on the Guardian,
/// a risky call by the gate's rule for this contract needs an attestation of the oracle set (docs/screening.md),
/// which an account sends with `attestedCall`.
abstract contract GuardianProtected {
    IGuardian public immutable guardian;

    error ScopePaused(address target, uint256 scope);

    constructor(address guardian_) {
        guardian = IGuardian(guardian_);
    }

    modifier whenNotPaused(uint256 scope) {
        _checkNotPaused(scope);
        _;
    }

    modifier gated(uint256 amount) {
        _checkpoint(amount);
        _;
    }

    /// @notice Saves `attestation` (an ABI-encoded `SecurityGate.Attestation`) in the gate for this transaction,
    /// then runs `data` on this contract with the same caller (a call to itself by delegatecall, as OpenZeppelin's
    /// Multicall does).
    function attestedCall(bytes calldata attestation, bytes[] calldata signatures, bytes calldata data)
        external
        returns (bytes memory)
    {
        return AttestedEntry.saveAndRun(guardian.gate(), attestation, signatures, data);
    }

    function _checkpoint(uint256 amount) internal {
        SecurityGate g = guardian.gate();
        if (address(g) != address(0)) g.checkpoint(msg.sender, amount, keccak256(msg.data));
    }

    function _checkNotPaused(uint256 scope) internal view {
        if (guardian.isPaused(address(this), scope)) revert ScopePaused(address(this), scope);
    }
}
