// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IOperatorRegistry {
    function register() external payable;
    function requestWithdrawal(uint256 amount) external;
    function withdraw() external;
}

/// @title RegistryReentrancy
/// @notice An operator that is a contract and tries to withdraw its bond twice: when the first payout arrives,
/// its `receive` calls `withdraw` again and swallows the revert, so the first payout still completes. What it
/// ends with is what the registry paid it once, or twice if the registry's state or guard were wrong.
contract RegistryReentrancy {
    IOperatorRegistry public immutable registry;
    uint256 public reentries;
    bool public reentrySucceeded;

    constructor(address registry_) {
        registry = IOperatorRegistry(registry_);
    }

    function join() external payable {
        registry.register{value: msg.value}();
    }

    function request(uint256 amount) external {
        registry.requestWithdrawal(amount);
    }

    function withdraw() external {
        registry.withdraw();
    }

    receive() external payable {
        if (reentries == 0) {
            reentries = 1;
            try registry.withdraw() {
                reentrySucceeded = true;
            } catch {}
        }
    }
}
