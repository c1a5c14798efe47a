// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title TwoStepGovernance
/// @notice The governance of the Guardian and of the OperatorRegistry: one address (the protocol's timelock) holds
/// every power, and hands it over in two steps, so that a mistyped address cannot take it: the current governance
/// names a pending one, which must accept. Until then the current governance keeps every power.
abstract contract TwoStepGovernance {
    address public governance;
    address public pendingGovernance;

    event GovernanceTransferStarted(address indexed currentGovernance, address indexed pendingGovernance);
    event GovernanceTransferred(address indexed previousGovernance, address indexed newGovernance);

    error NotGovernance(address caller);
    error NotPendingGovernance(address caller, address pending);
    error ZeroAddress();

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    constructor(address governance_) {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
        emit GovernanceTransferred(address(0), governance_);
    }

    /// @notice First step of a governance transfer: `newGovernance` becomes pending and must call
    /// `acceptGovernance`. Until then the current governance keeps every power; `address(0)` cancels.
    function transferGovernance(address newGovernance) external onlyGovernance {
        pendingGovernance = newGovernance;
        emit GovernanceTransferStarted(governance, newGovernance);
    }

    /// @notice Second step: the pending address takes over.
    function acceptGovernance() external {
        address pending = pendingGovernance;
        if (msg.sender != pending || pending == address(0)) revert NotPendingGovernance(msg.sender, pending);
        emit GovernanceTransferred(governance, pending);
        governance = pending;
        pendingGovernance = address(0);
    }
}
