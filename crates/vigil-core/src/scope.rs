//! Guardian scopes: which part of a protected contract a pause covers.
//!
//! Scope 0 is the whole target contract; any other id is one segment of it (a lending market id, a pool),
//! so a response can contain damage to that segment while the rest keeps working.

use alloy::primitives::{Address, U256};
use std::fmt;

/// A (target contract, scope id) pair as the Guardian keys mandates and pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    /// The protected contract.
    pub target: Address,
    /// 0 for the whole contract, otherwise the segment id (market, pool).
    pub id: U256,
}

impl Scope {
    /// The whole target contract.
    pub fn whole(target: Address) -> Self {
        Self { target, id: U256::ZERO }
    }

    /// One segment (market, pool) of the target contract.
    pub fn segment(target: Address, id: u64) -> Self {
        Self { target, id: U256::from(id) }
    }

    /// Whether a pause of this scope (the whole target when its id is 0) covers `other`.
    pub fn covers(&self, other: Scope) -> bool {
        other.target == self.target && (self.is_whole() || other.id == self.id)
    }

    /// True when this scope covers the whole target.
    pub fn is_whole(&self) -> bool {
        self.id.is_zero()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}/*", self.target)
        } else {
            write!(f, "{}/{}", self.target, self.id)
        }
    }
}
