// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {GuardianProtected} from "../guardian/GuardianProtected.sol";
import {AggregatorV3Interface} from "./PriceFeed.sol";

/// @title OptionVault
/// @notice Covered calls on WETH, cash-settled in WETH. A writer locks WETH and offers a European call (strike in
/// stablecoin units per WETH, expiry, premium); a buyer pays the premium to the writer; after expiry anyone
/// settles at the feed price: the buyer receives amount × (price − strike) / price WETH when in the money, the
/// writer the rest. Unsold offers can be cancelled. Guardian scope 0 pauses the vault.
contract OptionVault is ReentrancyGuard, GuardianProtected {
    using SafeERC20 for IERC20;

    enum State {
        None,
        Offered,
        Bought,
        Settled,
        Cancelled
    }

    struct OptionTerms {
        address writer;
        address buyer;
        uint256 amount;
        uint256 strike;
        uint256 premium;
        uint64 expiry;
        State state;
    }

    IERC20 public immutable underlying;
    IERC20 public immutable quote;
    AggregatorV3Interface public immutable feed;
    uint256 public optionCount;
    mapping(uint256 => OptionTerms) private _options;

    event OptionWritten(
        uint256 indexed optionId, address indexed writer, uint256 amount, uint256 strike, uint256 premium, uint64 expiry
    );
    event OptionBought(uint256 indexed optionId, address indexed buyer, uint256 premium);
    event OptionSettled(uint256 indexed optionId, uint256 price, uint256 buyerPayout, uint256 writerPayout);
    event OptionCancelled(uint256 indexed optionId);

    error BadOption(string reason);
    error WrongState(uint256 optionId, State state);
    error NotExpired(uint64 expiry);
    error Expired(uint64 expiry);
    error NotWriter(address caller);

    constructor(address guardian_, address underlying_, address quote_, address feed_) GuardianProtected(guardian_) {
        underlying = IERC20(underlying_);
        quote = IERC20(quote_);
        feed = AggregatorV3Interface(feed_);
    }

    function write(uint256 amount, uint256 strike, uint256 premium, uint64 expiry)
        external
        nonReentrant
        whenNotPaused(0)
        returns (uint256 id)
    {
        if (amount == 0 || strike == 0) revert BadOption("zero amount or strike");
        if (expiry <= block.timestamp) revert BadOption("expiry in the past");
        id = ++optionCount;
        _options[id] = OptionTerms(msg.sender, address(0), amount, strike, premium, expiry, State.Offered);
        underlying.safeTransferFrom(msg.sender, address(this), amount);
        emit OptionWritten(id, msg.sender, amount, strike, premium, expiry);
    }

    function buy(uint256 id) external nonReentrant whenNotPaused(0) {
        OptionTerms storage o = _options[id];
        if (o.state != State.Offered) revert WrongState(id, o.state);
        if (block.timestamp >= o.expiry) revert Expired(o.expiry);
        o.buyer = msg.sender;
        o.state = State.Bought;
        quote.safeTransferFrom(msg.sender, o.writer, o.premium);
        emit OptionBought(id, msg.sender, o.premium);
    }

    function settle(uint256 id) external nonReentrant whenNotPaused(0) returns (uint256 buyerPayout) {
        OptionTerms storage o = _options[id];
        if (o.state != State.Bought) revert WrongState(id, o.state);
        if (block.timestamp < o.expiry) revert NotExpired(o.expiry);
        o.state = State.Settled;
        uint256 price = settlementPrice();
        if (price > o.strike) buyerPayout = o.amount * (price - o.strike) / price;
        uint256 writerPayout = o.amount - buyerPayout;
        if (buyerPayout > 0) underlying.safeTransfer(o.buyer, buyerPayout);
        if (writerPayout > 0) underlying.safeTransfer(o.writer, writerPayout);
        emit OptionSettled(id, price, buyerPayout, writerPayout);
    }

    function cancel(uint256 id) external nonReentrant whenNotPaused(0) {
        OptionTerms storage o = _options[id];
        if (o.state != State.Offered) revert WrongState(id, o.state);
        if (msg.sender != o.writer) revert NotWriter(msg.sender);
        o.state = State.Cancelled;
        underlying.safeTransfer(o.writer, o.amount);
        emit OptionCancelled(id);
    }

    /// @notice Feed price in quote units per whole underlying (quote has 6 decimals).
    function settlementPrice() public view returns (uint256) {
        (, int256 answer,,,) = feed.latestRoundData();
        return uint256(answer) * 1e6 / 10 ** feed.decimals();
    }

    function option(uint256 id) external view returns (OptionTerms memory) {
        return _options[id];
    }
}
