// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {GuardianProtected} from "../guardian/GuardianProtected.sol";

/// @title LegacyVault
/// @notice An old savings vault for the hook-enabled token (hBTC).
///
/// DELIBERATELY FLAWED, for Vigil's attack scenarios: `withdrawAll` transfers before it clears the balance and
/// has no reentrancy guard, so a receiver hook can re-enter it and withdraw the same balance again and again.
/// Guardian scope 0 pauses the vault.
contract LegacyVault is GuardianProtected {
    IERC20 public immutable token;
    mapping(address => uint256) public balanceOf;
    uint256 public totalDeposits;

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);

    error NothingToWithdraw();
    error TransferFailed();

    constructor(address guardian_, address token_) GuardianProtected(guardian_) {
        token = IERC20(token_);
    }

    function deposit(uint256 amount) external whenNotPaused(0) gated(amount) {
        if (!token.transferFrom(msg.sender, address(this), amount)) revert TransferFailed();
        balanceOf[msg.sender] += amount;
        totalDeposits += amount;
        emit Deposited(msg.sender, amount);
    }

    /// @notice FLAWED: interaction before effects.
    function withdrawAll() external whenNotPaused(0) gated(balanceOf[msg.sender]) {
        uint256 amount = balanceOf[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        if (!token.transfer(msg.sender, amount)) revert TransferFailed();
        balanceOf[msg.sender] = 0;
        totalDeposits = totalDeposits >= amount ? totalDeposits - amount : 0;
        emit Withdrawn(msg.sender, amount);
    }
}
