// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {GuardianProtected} from "../guardian/GuardianProtected.sol";
import {AggregatorV3Interface} from "./PriceFeed.sol";
import {VenuePair} from "./Amm.sol";

/// @title MarginPool
/// @notice Isolated lending markets that lend one loan token (the stablecoin) against one collateral token each.
/// Lenders supply the loan token for shares; borrowers post collateral and borrow up to the market's LTV, paying
/// an origination fee that accrues to the market's lenders; positions whose health factor falls below 1 at the
/// liquidation threshold can be liquidated with a bonus, at most half the debt at a time.
/// A market prices its collateral either from a Chainlink-compatible feed or from a VenuePair's spot reserves
/// (the classic weak oracle: one large swap moves it). Each market id is a Guardian scope; scope 0 pauses all.
/// A pause stops what takes value out or puts new value at risk (supply, withdraw, borrow, withdrawCollateral)
/// and keeps open what makes a market safer (repay, supplyCollateral, liquidate), as Aave's freeze and
/// Compound's per-action pauses do: a paused market must not turn falling collateral into bad debt.
contract MarginPool is Ownable, ReentrancyGuard, GuardianProtected {
    using SafeERC20 for IERC20;

    enum OracleKind {
        Feed,
        AmmSpot
    }

    struct MarketParams {
        address collateral;
        OracleKind oracleKind;
        address oracle;
        uint16 ltvBps;
        uint16 liquidationThresholdBps;
        uint16 liquidationBonusBps;
        uint16 borrowFeeBps;
    }

    struct Market {
        MarketParams params;
        uint256 collateralScale;
        uint256 totalSupplyAssets;
        uint256 totalSupplyShares;
        uint256 totalBorrows;
        uint256 totalCollateral;
        bool exists;
    }

    struct Position {
        uint256 supplyShares;
        uint256 collateral;
        uint256 debt;
    }

    uint256 public constant BPS = 10_000;
    uint256 public constant CLOSE_FACTOR_BPS = 5_000;
    IERC20 public immutable loanToken;
    uint256 public marketCount;
    mapping(uint256 => Market) private _markets;
    mapping(uint256 => mapping(address => Position)) private _positions;

    event MarketCreated(uint256 indexed marketId, MarketParams params);
    event MarketParamsUpdated(uint256 indexed marketId, MarketParams oldParams, MarketParams newParams);
    event Supply(uint256 indexed marketId, address indexed caller, address indexed onBehalf, uint256 assets, uint256 shares);
    event Withdraw(uint256 indexed marketId, address indexed caller, address indexed receiver, uint256 assets, uint256 shares);
    event SupplyCollateral(uint256 indexed marketId, address indexed caller, address indexed onBehalf, uint256 assets);
    event WithdrawCollateral(uint256 indexed marketId, address indexed caller, address indexed receiver, uint256 assets);
    event Borrow(uint256 indexed marketId, address indexed borrower, address indexed receiver, uint256 assets, uint256 fee);
    event Repay(uint256 indexed marketId, address indexed caller, address indexed onBehalf, uint256 assets);
    event Liquidate(
        uint256 indexed marketId,
        address indexed liquidator,
        address indexed borrower,
        uint256 repaid,
        uint256 seized,
        uint256 badDebt
    );

    error UnknownMarket(uint256 marketId);
    error BadParams(string reason);
    error ZeroAmount();
    error InsufficientCash(uint256 requested, uint256 available);
    error Unhealthy(uint256 healthFactor);
    error Healthy(uint256 healthFactor);
    error RepayTooLarge(uint256 requested, uint256 maximum);
    error BadPrice(uint256 marketId);

    constructor(address guardian_, address owner_, address loanToken_) Ownable(owner_) GuardianProtected(guardian_) {
        loanToken = IERC20(loanToken_);
    }

    // ---------------------------------------------------------------- governance

    function createMarket(MarketParams calldata params) external onlyOwner returns (uint256 id) {
        _validate(params);
        id = ++marketCount;
        Market storage m = _markets[id];
        m.params = params;
        m.collateralScale = 10 ** IERC20Metadata(params.collateral).decimals();
        m.exists = true;
        emit MarketCreated(id, params);
    }

    /// @notice Changes a market's risk parameters or oracle; the collateral token cannot change.
    function setMarketParams(uint256 id, MarketParams calldata params) external onlyOwner {
        Market storage m = _market(id);
        _validate(params);
        if (params.collateral != m.params.collateral) revert BadParams("collateral cannot change");
        emit MarketParamsUpdated(id, m.params, params);
        m.params = params;
    }

    // ---------------------------------------------------------------- lenders

    function supply(uint256 id, uint256 assets, address onBehalf)
        external
        nonReentrant
        whenNotPaused(id)
        returns (uint256 shares)
    {
        if (assets == 0) revert ZeroAmount();
        Market storage m = _market(id);
        shares = m.totalSupplyShares == 0 ? assets : assets * m.totalSupplyShares / m.totalSupplyAssets;
        if (shares == 0) revert ZeroAmount();
        m.totalSupplyAssets += assets;
        m.totalSupplyShares += shares;
        _positions[id][onBehalf].supplyShares += shares;
        loanToken.safeTransferFrom(msg.sender, address(this), assets);
        emit Supply(id, msg.sender, onBehalf, assets, shares);
    }

    /// @notice Burns `shares` of the caller's supply for loan tokens, as far as the market's cash allows.
    function withdraw(uint256 id, uint256 shares, address receiver)
        external
        nonReentrant
        whenNotPaused(id)
        gated(shares)
        returns (uint256 assets)
    {
        if (shares == 0) revert ZeroAmount();
        Market storage m = _market(id);
        assets = shares * m.totalSupplyAssets / m.totalSupplyShares;
        uint256 available = m.totalSupplyAssets - m.totalBorrows;
        if (assets > available) revert InsufficientCash(assets, available);
        _positions[id][msg.sender].supplyShares -= shares;
        m.totalSupplyShares -= shares;
        m.totalSupplyAssets -= assets;
        loanToken.safeTransfer(receiver, assets);
        emit Withdraw(id, msg.sender, receiver, assets, shares);
    }

    // ---------------------------------------------------------------- borrowers

    /// @notice Open during a pause: adding collateral only makes a position safer.
    function supplyCollateral(uint256 id, uint256 assets, address onBehalf) external nonReentrant {
        if (assets == 0) revert ZeroAmount();
        Market storage m = _market(id);
        m.totalCollateral += assets;
        _positions[id][onBehalf].collateral += assets;
        IERC20(m.params.collateral).safeTransferFrom(msg.sender, address(this), assets);
        emit SupplyCollateral(id, msg.sender, onBehalf, assets);
    }

    function withdrawCollateral(uint256 id, uint256 assets, address receiver)
        external
        nonReentrant
        whenNotPaused(id)
        gated(assets)
    {
        if (assets == 0) revert ZeroAmount();
        Market storage m = _market(id);
        Position storage p = _positions[id][msg.sender];
        p.collateral -= assets;
        m.totalCollateral -= assets;
        _requireBorrowable(id, p);
        IERC20(m.params.collateral).safeTransfer(receiver, assets);
        emit WithdrawCollateral(id, msg.sender, receiver, assets);
    }

    function borrow(uint256 id, uint256 assets, address receiver)
        external
        nonReentrant
        whenNotPaused(id)
        gated(assets)
    {
        if (assets == 0) revert ZeroAmount();
        Market storage m = _market(id);
        uint256 available = m.totalSupplyAssets - m.totalBorrows;
        if (assets > available) revert InsufficientCash(assets, available);
        uint256 fee = assets * m.params.borrowFeeBps / BPS;
        Position storage p = _positions[id][msg.sender];
        p.debt += assets + fee;
        m.totalBorrows += assets + fee;
        m.totalSupplyAssets += fee;
        _requireBorrowable(id, p);
        loanToken.safeTransfer(receiver, assets);
        emit Borrow(id, msg.sender, receiver, assets, fee);
    }

    /// @notice Open during a pause: repaying only brings loan tokens in.
    function repay(uint256 id, uint256 assets, address onBehalf) external nonReentrant returns (uint256) {
        Market storage m = _market(id);
        Position storage p = _positions[id][onBehalf];
        if (assets > p.debt) assets = p.debt;
        if (assets == 0) revert ZeroAmount();
        p.debt -= assets;
        m.totalBorrows -= assets;
        loanToken.safeTransferFrom(msg.sender, address(this), assets);
        emit Repay(id, msg.sender, onBehalf, assets);
        return assets;
    }

    /// @notice Repays up to half of an unhealthy borrower's debt and seizes collateral worth the repaid amount
    /// plus the liquidation bonus. Debt left with no collateral behind it is written off against the lenders.
    /// Open during a pause, so that falling collateral does not become bad debt while the market is stopped.
    function liquidate(uint256 id, address borrower, uint256 repayAssets)
        external
        nonReentrant
        returns (uint256 seized)
    {
        Market storage m = _market(id);
        Position storage p = _positions[id][borrower];
        uint256 hf = _healthFactor(id, p, m.params.liquidationThresholdBps);
        if (hf >= 1e18) revert Healthy(hf);
        uint256 maxRepay = p.debt * CLOSE_FACTOR_BPS / BPS;
        if (maxRepay == 0) maxRepay = p.debt;
        if (repayAssets == 0) revert ZeroAmount();
        if (repayAssets > maxRepay) revert RepayTooLarge(repayAssets, maxRepay);
        uint256 price = collateralPrice(id);
        seized = repayAssets * (BPS + m.params.liquidationBonusBps) / BPS * m.collateralScale / price;
        if (seized > p.collateral) {
            seized = p.collateral;
            repayAssets = seized * price / m.collateralScale * BPS / (BPS + m.params.liquidationBonusBps);
        }
        p.debt -= repayAssets;
        p.collateral -= seized;
        m.totalBorrows -= repayAssets;
        m.totalCollateral -= seized;
        uint256 badDebt;
        if (p.collateral == 0 && p.debt > 0) {
            badDebt = p.debt;
            m.totalBorrows -= badDebt;
            m.totalSupplyAssets -= badDebt;
            p.debt = 0;
        }
        loanToken.safeTransferFrom(msg.sender, address(this), repayAssets);
        IERC20(m.params.collateral).safeTransfer(msg.sender, seized);
        emit Liquidate(id, msg.sender, borrower, repayAssets, seized, badDebt);
    }

    // ---------------------------------------------------------------- views

    /// @notice Loan-token units per whole collateral token (10**collateralDecimals units).
    function collateralPrice(uint256 id) public view returns (uint256 price) {
        Market storage m = _market(id);
        MarketParams memory params = m.params;
        if (params.oracleKind == OracleKind.Feed) {
            AggregatorV3Interface feed = AggregatorV3Interface(params.oracle);
            (, int256 answer,,,) = feed.latestRoundData();
            if (answer <= 0) revert BadPrice(id);
            price = uint256(answer) * 10 ** IERC20Metadata(address(loanToken)).decimals() / 10 ** feed.decimals();
        } else {
            VenuePair pair = VenuePair(params.oracle);
            (uint112 r0, uint112 r1,) = pair.getReserves();
            (uint256 loanReserve, uint256 collReserve) = pair.token0() == address(loanToken) ? (r0, r1) : (r1, r0);
            if (collReserve == 0) revert BadPrice(id);
            price = loanReserve * m.collateralScale / collReserve;
        }
        if (price == 0) revert BadPrice(id);
    }

    /// @notice Collateral value at the liquidation threshold over debt, 1e18 = 1; max uint without debt.
    function healthFactor(uint256 id, address user) external view returns (uint256) {
        Market storage m = _market(id);
        return _healthFactor(id, _positions[id][user], m.params.liquidationThresholdBps);
    }

    function market(uint256 id) external view returns (Market memory) {
        return _market(id);
    }

    function position(uint256 id, address user) external view returns (Position memory) {
        return _positions[id][user];
    }

    /// @notice Loan tokens a lender's shares are worth now.
    function supplyBalance(uint256 id, address user) external view returns (uint256) {
        Market storage m = _market(id);
        if (m.totalSupplyShares == 0) return 0;
        return _positions[id][user].supplyShares * m.totalSupplyAssets / m.totalSupplyShares;
    }

    /// @notice Loan tokens available to borrow or withdraw.
    function cash(uint256 id) external view returns (uint256) {
        Market storage m = _market(id);
        return m.totalSupplyAssets - m.totalBorrows;
    }

    // ---------------------------------------------------------------- internals

    function _market(uint256 id) internal view returns (Market storage m) {
        m = _markets[id];
        if (!m.exists) revert UnknownMarket(id);
    }

    function _healthFactor(uint256 id, Position storage p, uint256 thresholdBps) internal view returns (uint256) {
        if (p.debt == 0) return type(uint256).max;
        uint256 value = p.collateral * collateralPrice(id) / _markets[id].collateralScale;
        return value * thresholdBps * 1e18 / BPS / p.debt;
    }

    function _requireBorrowable(uint256 id, Position storage p) internal view {
        uint256 hf = _healthFactor(id, p, _markets[id].params.ltvBps);
        if (hf < 1e18) revert Unhealthy(hf);
    }

    function _validate(MarketParams calldata params) internal pure {
        if (params.collateral == address(0) || params.oracle == address(0)) revert BadParams("zero address");
        if (params.ltvBps == 0 || params.ltvBps > params.liquidationThresholdBps) revert BadParams("ltv");
        if (params.liquidationThresholdBps >= BPS) revert BadParams("liquidation threshold");
        if (uint256(params.liquidationThresholdBps) * (BPS + params.liquidationBonusBps) / BPS >= BPS) {
            revert BadParams("liquidation bonus too large for threshold");
        }
        if (params.borrowFeeBps > 500) revert BadParams("borrow fee");
    }
}
