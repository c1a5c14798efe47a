// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The one call a protected contract makes to its Guardian.
interface IGuardian {
    function isPaused(address target, uint256 scope) external view returns (bool);
}

/// @title GuardianProtected
/// @notice Base for every venue contract: state-changing user functions that can take value out or put new value
/// at risk carry `whenNotPaused(scope)`, so a pause accepted by the Guardian for this contract (scope 0) or for
/// one of its markets (scope id) stops them. Functions that only make the protocol safer (repaying debt, adding
/// collateral, liquidating an unhealthy position) stay open during a pause, so that a pause never turns falling
/// collateral into bad debt; docs/contracts.md lists, per contract and function, what a pause stops.
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

    function _checkNotPaused(uint256 scope) internal view {
        if (guardian.isPaused(address(this), scope)) revert ScopePaused(address(this), scope);
    }
}
