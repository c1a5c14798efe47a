// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title StableToken
/// @notice A USD stablecoin with 6 decimals (like USDC); the owner (the issuer) mints and burns.
contract StableToken is ERC20, Ownable {
    constructor(string memory name_, string memory symbol_, address issuer) ERC20(name_, symbol_) Ownable(issuer) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function burn(address from, uint256 amount) external onlyOwner {
        _burn(from, amount);
    }
}

/// @title WrappedEther
/// @notice An 18-decimal WETH9-like token: deposit ETH to mint, withdraw to burn, with WETH9's events.
contract WrappedEther is ERC20 {
    event Deposit(address indexed dst, uint256 wad);
    event Withdrawal(address indexed src, uint256 wad);

    error EthTransferFailed();

    constructor() ERC20("Wrapped Ether", "WETH") {}

    receive() external payable {
        deposit();
    }

    function deposit() public payable {
        _mint(msg.sender, msg.value);
        emit Deposit(msg.sender, msg.value);
    }

    function withdraw(uint256 wad) external {
        _burn(msg.sender, wad);
        emit Withdrawal(msg.sender, wad);
        (bool ok,) = msg.sender.call{value: wad}("");
        if (!ok) revert EthTransferFailed();
    }
}

/// @title GovToken
/// @notice The venue's governance token: checkpointed votes (ERC20Votes, block-number clock) and permits.
/// The whole supply is minted once to the initial holder.
contract GovToken is ERC20, ERC20Permit, ERC20Votes {
    constructor(address holder, uint256 supply) ERC20("Venue Governance", "VGOV") ERC20Permit("Venue Governance") {
        _mint(holder, supply);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}

/// @notice Implemented by contracts that registered for transfer hooks on a HookToken.
interface ITokenReceiverHook {
    function onTokenReceived(address from, uint256 amount) external;
}

/// @title HookToken
/// @notice An 18-decimal wrapped asset with ERC-777-style receive hooks: a contract that registered itself is
/// called after it receives tokens. Legitimate integrations use this for deposits; it is also the callback
/// through which the legacy vault can be re-entered.
contract HookToken is ERC20, Ownable {
    mapping(address => bool) public hookRegistered;

    event HookRegistered(address indexed account, bool enabled);

    constructor(address issuer) ERC20("Hooked BTC", "hBTC") Ownable(issuer) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function setHook(bool enabled) external {
        hookRegistered[msg.sender] = enabled;
        emit HookRegistered(msg.sender, enabled);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (to != address(0) && hookRegistered[to]) {
            ITokenReceiverHook(to).onTokenReceived(from, value);
        }
    }
}
