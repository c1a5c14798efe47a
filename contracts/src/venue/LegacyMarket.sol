// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {GuardianProtected} from "../guardian/GuardianProtected.sol";
import {AggregatorV3Interface} from "./PriceFeed.sol";

/// @title LegacyMarket
/// @notice The venue's first money market, still holding lenders' stablecoins. Single asset with Euler-style
/// accounting: deposits (eBalance), debt (dBalance), self-collateralised leverage (`mint` / `burn`), WETH
/// collateral priced by the feed, and soft liquidations whose discount grows with how unhealthy the violator is.
///
/// DELIBERATELY FLAWED, for Vigil's attack scenarios:
/// - `borrow` checks each borrow against the account's borrowing power, not the power left after its existing
///   debt, so many small borrows drain the market (logic bug).
/// - `donateToReserves` lowers the donor's deposit without a health check, so an account can make itself deeply
///   insolvent and be liquidated at the maximum discount by its owner's second account (Euler, March 2023).
/// Guardian scope 0 pauses the whole market.
contract LegacyMarket is GuardianProtected {
    using SafeERC20 for IERC20;

    uint256 public constant DEPOSIT_FACTOR = 0.95e18;
    uint256 public constant COLLATERAL_FACTOR = 0.75e18;
    uint256 public constant MAX_DISCOUNT = 0.2e18;
    uint256 public constant MAX_BORROW_PER_TX = 5_000e6;

    IERC20 public immutable asset;
    IERC20 public immutable collateralToken;
    AggregatorV3Interface public immutable feed;

    mapping(address => uint256) public eBalance;
    mapping(address => uint256) public dBalance;
    mapping(address => uint256) public collateralOf;
    uint256 public totalDeposits;
    uint256 public totalDebt;
    uint256 public reserves;

    event Deposit(address indexed account, uint256 amount);
    event Withdraw(address indexed account, uint256 amount);
    event CollateralDeposited(address indexed account, uint256 amount);
    event CollateralWithdrawn(address indexed account, uint256 amount);
    event Borrow(address indexed account, uint256 amount);
    event Repay(address indexed account, uint256 amount);
    event Mint(address indexed account, uint256 amount);
    event Burn(address indexed account, uint256 amount);
    event DonateToReserves(address indexed account, uint256 amount);
    event Liquidation(
        address indexed liquidator, address indexed violator, uint256 repay, uint256 yield, uint256 discount
    );

    error Unhealthy(address account, uint256 health);
    error NotLiquidatable(uint256 health);
    error TooLarge(uint256 amount, uint256 limit);
    error InsufficientCash(uint256 amount, uint256 cash);

    constructor(address guardian_, address asset_, address collateral_, address feed_) GuardianProtected(guardian_) {
        asset = IERC20(asset_);
        collateralToken = IERC20(collateral_);
        feed = AggregatorV3Interface(feed_);
    }

    function deposit(uint256 amount) external whenNotPaused(0) {
        eBalance[msg.sender] += amount;
        totalDeposits += amount;
        asset.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposit(msg.sender, amount);
    }

    function withdraw(uint256 amount) external whenNotPaused(0) gated(amount) {
        eBalance[msg.sender] -= amount;
        totalDeposits -= amount;
        _requireHealthy(msg.sender);
        _pay(msg.sender, amount);
        emit Withdraw(msg.sender, amount);
    }

    /// @notice Open during a pause: adding collateral only makes a position safer.
    function depositCollateral(uint256 amount) external {
        collateralOf[msg.sender] += amount;
        collateralToken.safeTransferFrom(msg.sender, address(this), amount);
        emit CollateralDeposited(msg.sender, amount);
    }

    function withdrawCollateral(uint256 amount) external whenNotPaused(0) gated(amount) {
        collateralOf[msg.sender] -= amount;
        _requireHealthy(msg.sender);
        collateralToken.safeTransfer(msg.sender, amount);
        emit CollateralWithdrawn(msg.sender, amount);
    }

    /// @notice FLAWED: checks `amount` against the whole borrowing power, ignoring debt already taken.
    function borrow(uint256 amount) external whenNotPaused(0) gated(amount) {
        if (amount > MAX_BORROW_PER_TX) revert TooLarge(amount, MAX_BORROW_PER_TX);
        uint256 power = borrowingPower(msg.sender);
        if (amount > power) revert TooLarge(amount, power);
        dBalance[msg.sender] += amount;
        totalDebt += amount;
        _pay(msg.sender, amount);
        emit Borrow(msg.sender, amount);
    }

    /// @notice Open during a pause: repaying only brings the asset in.
    function repay(uint256 amount) external {
        dBalance[msg.sender] -= amount;
        totalDebt -= amount;
        asset.safeTransferFrom(msg.sender, address(this), amount);
        emit Repay(msg.sender, amount);
    }

    /// @notice Leverage: adds `amount` to both deposit and debt (self-collateralised).
    function mint(uint256 amount) external whenNotPaused(0) {
        eBalance[msg.sender] += amount;
        dBalance[msg.sender] += amount;
        totalDeposits += amount;
        totalDebt += amount;
        _requireHealthy(msg.sender);
        emit Mint(msg.sender, amount);
    }

    /// @notice Deleverage: removes `amount` from both deposit and debt. Open during a pause: it moves no tokens
    /// and only lowers debt.
    function burn(uint256 amount) external {
        eBalance[msg.sender] -= amount;
        dBalance[msg.sender] -= amount;
        totalDeposits -= amount;
        totalDebt -= amount;
        emit Burn(msg.sender, amount);
    }

    /// @notice FLAWED: gives part of the caller's deposit to the reserves with no health check.
    function donateToReserves(uint256 amount) external whenNotPaused(0) {
        eBalance[msg.sender] -= amount;
        totalDeposits -= amount;
        reserves += amount;
        emit DonateToReserves(msg.sender, amount);
    }

    /// @notice Takes over `repayAmount` of an unhealthy violator's debt and receives its deposit at a discount
    /// of (1 - health), capped at 20 %. The liquidator must stay healthy. Stopped by a pause, unlike the margin
    /// pool's: it brings no tokens in (the liquidator takes over the debt), so it cannot save the market from
    /// bad debt, and it is the step through which the Euler-style attack takes a violator's deposit.
    function liquidate(address violator, uint256 repayAmount) external whenNotPaused(0) {
        uint256 h = health(violator);
        if (h >= 1e18) revert NotLiquidatable(h);
        uint256 discount = 1e18 - h;
        if (discount > MAX_DISCOUNT) discount = MAX_DISCOUNT;
        uint256 yield = repayAmount * 1e18 / (1e18 - discount);
        if (yield > eBalance[violator]) {
            yield = eBalance[violator];
            repayAmount = yield * (1e18 - discount) / 1e18;
        }
        if (repayAmount > dBalance[violator]) revert TooLarge(repayAmount, dBalance[violator]);
        dBalance[violator] -= repayAmount;
        dBalance[msg.sender] += repayAmount;
        eBalance[violator] -= yield;
        eBalance[msg.sender] += yield;
        _requireHealthy(msg.sender);
        emit Liquidation(msg.sender, violator, repayAmount, yield, discount);
    }

    // ---------------------------------------------------------------- views

    /// @notice USD (asset units) per whole WETH, from the feed.
    function collateralPrice() public view returns (uint256) {
        (, int256 answer,,,) = feed.latestRoundData();
        return uint256(answer) * 1e6 / 10 ** feed.decimals();
    }

    function borrowingPower(address account) public view returns (uint256) {
        return (eBalance[account] * DEPOSIT_FACTOR + collateralOf[account] * collateralPrice() / 1e18 * COLLATERAL_FACTOR)
            / 1e18;
    }

    /// @notice Risk-adjusted assets over debt, 1e18 = 1; max uint without debt.
    function health(address account) public view returns (uint256) {
        uint256 debt = dBalance[account];
        if (debt == 0) return type(uint256).max;
        return borrowingPower(account) * 1e18 / debt;
    }

    function cash() public view returns (uint256) {
        return asset.balanceOf(address(this));
    }

    function _requireHealthy(address account) internal view {
        uint256 h = health(account);
        if (h < 1e18) revert Unhealthy(account, h);
    }

    function _pay(address to, uint256 amount) internal {
        uint256 c = cash();
        if (amount > c) revert InsufficientCash(amount, c);
        asset.safeTransfer(to, amount);
    }
}
