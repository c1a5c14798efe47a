//! What detectors' configurations name: a Guardian scope (`{ target = "0x…", id = 2 }`) and a watched protocol
//! contract with the scope its findings concern (`{ address = "0x…", scope = { target = "0x…", id = 2 } }`).

use alloy::primitives::Address;
use serde::Deserialize;
use vigil_core::Scope;

/// A Guardian scope in configuration: `{ target = "0x…", id = 2 }`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScopeRef {
    /// The protected contract.
    pub target: Address,
    /// The segment; default 0 (the whole contract).
    #[serde(default)]
    pub id: u64,
}

impl ScopeRef {
    /// The scope.
    pub fn scope(&self) -> Scope {
        Scope::segment(self.target, self.id)
    }
}

/// The scope `s`, or the whole of `address` when none is given.
pub fn scope_or_whole(address: Address, s: Option<ScopeRef>) -> Scope {
    s.map(|s| s.scope()).unwrap_or(Scope::whole(address))
}

/// A watched protocol contract.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProtocolContract {
    /// The contract.
    pub address: Address,
    /// The scope a finding concerns. Default the whole contract.
    #[serde(default)]
    pub scope: Option<ScopeRef>,
}

impl ProtocolContract {
    /// The scope a finding about this contract concerns.
    pub fn scope(&self) -> Scope {
        scope_or_whole(self.address, self.scope)
    }
}
