// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
import {GuardianProtected} from "../guardian/GuardianProtected.sol";

/// @title ReserveVault
/// @notice The venue's treasury of protocol-owned reserves, behind an upgradeable (UUPS, ERC-1967) proxy.
/// Roles: the operations key holds DEFAULT_ADMIN_ROLE and grants roles; UPGRADER_ROLE may upgrade; SPENDER_ROLE
/// (governance) may pay out. RoleGranted and Upgraded events tell a monitor about every change.
/// Guardian scope 0 (on the proxy address) stops payouts and upgrades.
contract ReserveVault is Initializable, AccessControl, UUPSUpgradeable, GuardianProtected {
    using SafeERC20 for IERC20;

    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");
    bytes32 public constant SPENDER_ROLE = keccak256("SPENDER_ROLE");

    event Spent(address indexed token, address indexed to, uint256 amount, address indexed by);

    constructor(address guardian_) GuardianProtected(guardian_) {
        _disableInitializers();
    }

    function initialize(address admin) external initializer {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(UPGRADER_ROLE, admin);
    }

    function spend(address token, address to, uint256 amount) external onlyRole(SPENDER_ROLE) whenNotPaused(0) {
        IERC20(token).safeTransfer(to, amount);
        emit Spent(token, to, amount, msg.sender);
    }

    function version() external pure virtual returns (string memory) {
        return "1";
    }

    function _authorizeUpgrade(address) internal view override onlyRole(UPGRADER_ROLE) {
        _checkNotPaused(0);
    }
}

/// @title ReserveVaultProxy
/// @notice The ERC-1967 proxy in front of ReserveVault.
contract ReserveVaultProxy is ERC1967Proxy {
    constructor(address implementation, bytes memory data) ERC1967Proxy(implementation, data) {}
}
