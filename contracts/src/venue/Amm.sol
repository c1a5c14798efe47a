// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {GuardianProtected} from "../guardian/GuardianProtected.sol";

/// @notice Uniswap v2's flash-swap callback.
interface IVenuePairCallee {
    function venuePairCall(address sender, uint256 amount0, uint256 amount1, bytes calldata data) external;
}

/// @title VenuePair
/// @notice A constant-product pair in the manner of Uniswap v2: the pair is its own LP token, tokens are sent to
/// it before mint / swap, a 0.3 % fee stays in the pool, and it emits Uniswap v2's Mint / Burn / Swap / Sync
/// events with the same signatures. Guardian scope 0 pauses the pair.
contract VenuePair is ERC20, ReentrancyGuard, GuardianProtected {
    using SafeERC20 for IERC20;

    uint256 public constant MINIMUM_LIQUIDITY = 1000;
    address public immutable token0;
    address public immutable token1;
    uint112 private reserve0;
    uint112 private reserve1;
    uint32 private blockTimestampLast;
    uint256 public price0CumulativeLast;
    uint256 public price1CumulativeLast;

    event Mint(address indexed sender, uint256 amount0, uint256 amount1);
    event Burn(address indexed sender, uint256 amount0, uint256 amount1, address indexed to);
    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );
    event Sync(uint112 reserve0, uint112 reserve1);

    error InsufficientLiquidityMinted();
    error InsufficientLiquidityBurned();
    error InsufficientOutputAmount();
    error InsufficientInputAmount();
    error InsufficientLiquidity();
    error InvalidTo();
    error Overflow();
    error KInvariant();

    constructor(address guardian_, address tokenA, address tokenB)
        ERC20("Venue LP", "VLP")
        GuardianProtected(guardian_)
    {
        (token0, token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
    }

    function getReserves() public view returns (uint112, uint112, uint32) {
        return (reserve0, reserve1, blockTimestampLast);
    }

    function mint(address to) external nonReentrant whenNotPaused(0) returns (uint256 liquidity) {
        (uint112 r0, uint112 r1,) = getReserves();
        uint256 balance0 = IERC20(token0).balanceOf(address(this));
        uint256 balance1 = IERC20(token1).balanceOf(address(this));
        uint256 amount0 = balance0 - r0;
        uint256 amount1 = balance1 - r1;
        uint256 supply = totalSupply();
        if (supply == 0) {
            liquidity = Math.sqrt(amount0 * amount1) - MINIMUM_LIQUIDITY;
            _mint(address(0xdead), MINIMUM_LIQUIDITY);
        } else {
            liquidity = Math.min(amount0 * supply / r0, amount1 * supply / r1);
        }
        if (liquidity == 0) revert InsufficientLiquidityMinted();
        _mint(to, liquidity);
        _update(balance0, balance1, r0, r1);
        emit Mint(msg.sender, amount0, amount1);
    }

    function burn(address to) external nonReentrant whenNotPaused(0) returns (uint256 amount0, uint256 amount1) {
        (uint112 r0, uint112 r1,) = getReserves();
        uint256 balance0 = IERC20(token0).balanceOf(address(this));
        uint256 balance1 = IERC20(token1).balanceOf(address(this));
        uint256 liquidity = balanceOf(address(this));
        uint256 supply = totalSupply();
        amount0 = liquidity * balance0 / supply;
        amount1 = liquidity * balance1 / supply;
        if (amount0 == 0 || amount1 == 0) revert InsufficientLiquidityBurned();
        _burn(address(this), liquidity);
        IERC20(token0).safeTransfer(to, amount0);
        IERC20(token1).safeTransfer(to, amount1);
        balance0 = IERC20(token0).balanceOf(address(this));
        balance1 = IERC20(token1).balanceOf(address(this));
        _update(balance0, balance1, r0, r1);
        emit Burn(msg.sender, amount0, amount1, to);
    }

    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data)
        external
        nonReentrant
        whenNotPaused(0)
    {
        if (amount0Out == 0 && amount1Out == 0) revert InsufficientOutputAmount();
        (uint112 r0, uint112 r1,) = getReserves();
        if (amount0Out >= r0 || amount1Out >= r1) revert InsufficientLiquidity();
        if (to == token0 || to == token1) revert InvalidTo();
        if (amount0Out > 0) IERC20(token0).safeTransfer(to, amount0Out);
        if (amount1Out > 0) IERC20(token1).safeTransfer(to, amount1Out);
        if (data.length > 0) IVenuePairCallee(to).venuePairCall(msg.sender, amount0Out, amount1Out, data);
        (uint256 amount0In, uint256 amount1In) = _settleSwap(r0, r1, amount0Out, amount1Out);
        emit Swap(msg.sender, amount0In, amount1In, amount0Out, amount1Out, to);
    }

    /// @dev Checks the fee-adjusted constant product after a swap and updates the reserves.
    function _settleSwap(uint112 r0, uint112 r1, uint256 amount0Out, uint256 amount1Out)
        private
        returns (uint256 amount0In, uint256 amount1In)
    {
        uint256 balance0 = IERC20(token0).balanceOf(address(this));
        uint256 balance1 = IERC20(token1).balanceOf(address(this));
        amount0In = balance0 > r0 - amount0Out ? balance0 - (r0 - amount0Out) : 0;
        amount1In = balance1 > r1 - amount1Out ? balance1 - (r1 - amount1Out) : 0;
        if (amount0In == 0 && amount1In == 0) revert InsufficientInputAmount();
        uint256 adjusted0 = balance0 * 1000 - amount0In * 3;
        uint256 adjusted1 = balance1 * 1000 - amount1In * 3;
        if (adjusted0 * adjusted1 < uint256(r0) * uint256(r1) * 1000 ** 2) revert KInvariant();
        _update(balance0, balance1, r0, r1);
    }

    /// @notice Force reserves to match balances.
    function sync() external nonReentrant whenNotPaused(0) {
        _update(IERC20(token0).balanceOf(address(this)), IERC20(token1).balanceOf(address(this)), reserve0, reserve1);
    }

    function _update(uint256 balance0, uint256 balance1, uint112 r0, uint112 r1) private {
        if (balance0 > type(uint112).max || balance1 > type(uint112).max) revert Overflow();
        uint32 ts = uint32(block.timestamp);
        unchecked {
            uint32 elapsed = ts - blockTimestampLast;
            if (elapsed > 0 && r0 != 0 && r1 != 0) {
                price0CumulativeLast += (uint256(r1) << 112) / r0 * elapsed;
                price1CumulativeLast += (uint256(r0) << 112) / r1 * elapsed;
            }
        }
        reserve0 = uint112(balance0);
        reserve1 = uint112(balance1);
        blockTimestampLast = ts;
        emit Sync(reserve0, reserve1);
    }
}

/// @title VenueRouter
/// @notice Uniswap v2 router's core for one-pair paths: pulls the caller's tokens into the pair, then mints,
/// burns or swaps with slippage bounds.
contract VenueRouter {
    using SafeERC20 for IERC20;

    error Slippage(uint256 amountOut, uint256 minOut);
    error UnknownToken(address token);

    /// @notice Output for `amountIn` of the pair's input side, after the 0.3 % fee.
    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 inWithFee = amountIn * 997;
        return inWithFee * reserveOut / (reserveIn * 1000 + inWithFee);
    }

    function quote(VenuePair pair, address tokenIn, uint256 amountIn) public view returns (uint256) {
        (uint112 r0, uint112 r1,) = pair.getReserves();
        if (tokenIn == pair.token0()) return getAmountOut(amountIn, r0, r1);
        if (tokenIn == pair.token1()) return getAmountOut(amountIn, r1, r0);
        revert UnknownToken(tokenIn);
    }

    function swapExactIn(VenuePair pair, address tokenIn, uint256 amountIn, uint256 minOut, address to)
        external
        returns (uint256 amountOut)
    {
        amountOut = quote(pair, tokenIn, amountIn);
        if (amountOut < minOut) revert Slippage(amountOut, minOut);
        IERC20(tokenIn).safeTransferFrom(msg.sender, address(pair), amountIn);
        if (tokenIn == pair.token0()) pair.swap(0, amountOut, to, "");
        else pair.swap(amountOut, 0, to, "");
    }

    function addLiquidity(VenuePair pair, uint256 amount0, uint256 amount1, address to)
        external
        returns (uint256 liquidity)
    {
        IERC20(pair.token0()).safeTransferFrom(msg.sender, address(pair), amount0);
        IERC20(pair.token1()).safeTransferFrom(msg.sender, address(pair), amount1);
        liquidity = pair.mint(to);
    }

    function removeLiquidity(VenuePair pair, uint256 liquidity, address to)
        external
        returns (uint256 amount0, uint256 amount1)
    {
        IERC20(address(pair)).safeTransferFrom(msg.sender, address(pair), liquidity);
        (amount0, amount1) = pair.burn(to);
    }
}
