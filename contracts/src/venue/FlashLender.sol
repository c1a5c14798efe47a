// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC3156FlashLender} from "@openzeppelin/contracts/interfaces/IERC3156FlashLender.sol";
import {IERC3156FlashBorrower} from "@openzeppelin/contracts/interfaces/IERC3156FlashBorrower.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {GuardianProtected} from "../guardian/GuardianProtected.sol";

/// @title FlashLender
/// @notice An ERC-3156 flash lender holding deep liquidity of the venue's tokens, with a 5 bps fee kept by the
/// lender. Guardian scope 0 pauses flash loans.
contract FlashLender is IERC3156FlashLender, ReentrancyGuard, GuardianProtected {
    using SafeERC20 for IERC20;

    bytes32 public constant CALLBACK_SUCCESS = keccak256("ERC3156FlashBorrower.onFlashLoan");
    uint256 public constant FEE_BPS = 5;

    event FlashLoan(address indexed receiver, address indexed token, uint256 amount, uint256 fee);

    error AmountTooLarge(uint256 amount, uint256 available);
    error CallbackFailed();

    constructor(address guardian_) GuardianProtected(guardian_) {}

    function maxFlashLoan(address token) public view override returns (uint256) {
        return IERC20(token).balanceOf(address(this));
    }

    function flashFee(address, uint256 amount) public pure override returns (uint256) {
        return (amount * FEE_BPS + 9_999) / 10_000;
    }

    function flashLoan(IERC3156FlashBorrower receiver, address token, uint256 amount, bytes calldata data)
        external
        override
        nonReentrant
        whenNotPaused(0)
        gated(amount)
        returns (bool)
    {
        uint256 available = maxFlashLoan(token);
        if (amount > available) revert AmountTooLarge(amount, available);
        uint256 fee = flashFee(token, amount);
        IERC20(token).safeTransfer(address(receiver), amount);
        if (receiver.onFlashLoan(msg.sender, token, amount, fee, data) != CALLBACK_SUCCESS) revert CallbackFailed();
        IERC20(token).safeTransferFrom(address(receiver), address(this), amount + fee);
        emit FlashLoan(address(receiver), token, amount, fee);
        return true;
    }
}
