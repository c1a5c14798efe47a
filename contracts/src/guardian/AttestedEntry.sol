// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SecurityGate} from "./SecurityGate.sol";

/// @title AttestedEntry
/// @notice How a transaction carries its SecurityGate attestation into a contract: save it in the gate for this
/// transaction, then run `data` on the calling contract itself by delegatecall, so the caller stays the account
/// that called (OpenZeppelin's Multicall does the same). Protected contracts use it in `attestedCall`;
/// `AttestedCaller` gives it to a user's own contract (a wallet, a bot; the attack contracts, which try it too).
library AttestedEntry {
    function saveAndRun(SecurityGate gate, bytes calldata attestation, bytes[] calldata signatures, bytes calldata data)
        internal
        returns (bytes memory result)
    {
        gate.saveAttestation(abi.decode(attestation, (SecurityGate.Attestation)), signatures);
        bool ok;
        (ok, result) = address(this).delegatecall(data);
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }
}

/// @title AttestedCaller
/// @notice For a contract of one's own whose calls reach protected contracts: `attestedCall(gate, attestation,
/// signatures, data)` saves the attestation in `gate` and runs `data` on this contract with the same caller.
abstract contract AttestedCaller {
    function attestedCall(SecurityGate gate, bytes calldata attestation, bytes[] calldata signatures, bytes calldata data)
        external
        returns (bytes memory)
    {
        return AttestedEntry.saveAndRun(gate, attestation, signatures, data);
    }
}
