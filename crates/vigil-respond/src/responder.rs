//! The responder trait: how one kind of on-chain action is carried out and followed.
//!
//! The engine is generic over the way a pause is taken: it asks its [`Responder`] which probes to read at every
//! block, hands it each block to [`Responder::observe`] (what the chain says about pauses: taken, reverted,
//! extended, lifted), and asks it to [`Responder::prepare`] every pause the incident book decides. A responder
//! either returns the transaction to send or a [`Refusal`]: the reason the contract that takes the action would
//! reject it now, so that nothing is sent that must revert and people are told why nothing happened. The
//! Guardian responder ([`crate::guardian::GuardianResponder`]) is the one implementation today; the quorum
//! shares of the oracle network are the next.

use alloy::primitives::{Address, Bytes, B256};
use vigil_core::{Action, Bundle, Probe, Refusal, Scope};

/// What the chain said in one block about pauses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A pause took effect, whoever sent it.
    Paused {
        /// The scope (scope 0: the whole target).
        scope: Scope,
        /// When it ends (unix seconds).
        until: u64,
        /// The incident its report named.
        incident: B256,
    },
    /// A pause transaction sent by this node reverted.
    Reverted {
        /// Its transaction.
        tx: B256,
        /// Its calldata (what identifies the pause it carried).
        input: Option<Bytes>,
    },
    /// Governance moved the end of a pause.
    Extended {
        /// The scope.
        scope: Scope,
        /// The new end.
        until: u64,
    },
    /// Governance lifted a pause.
    Lifted {
        /// The scope.
        scope: Scope,
    },
}

/// A transaction to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Sender.
    pub from: Address,
    /// Callee.
    pub to: Address,
    /// Calldata.
    pub data: Bytes,
    /// When the pause would end if it landed in the next block (unix seconds).
    pub until: u64,
}

/// Why an action was not prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The contract would reject it now.
    #[error("pause not possible: {0}")]
    Refused(Refusal),
    /// Its state could not be read at the block (a probe failed or does not decode).
    #[error("block #{block}: {what}")]
    State {
        /// The block.
        block: u64,
        /// What is missing.
        what: String,
    },
    /// The report could not be signed.
    #[error("the report could not be signed: {0}")]
    Sign(String),
}

/// Carries out and follows one kind of on-chain action.
pub trait Responder: Send {
    /// The contract it acts through.
    fn contract(&self) -> Address;
    /// The account it sends from.
    fn sender(&self) -> Address;
    /// What it must read at every block (as `eth_call` probes at that block).
    fn probes(&self) -> Vec<Probe>;
    /// What `bundle` says about pauses.
    fn observe(&self, bundle: &Bundle) -> Vec<Observation>;
    /// The transaction carrying `action` out, decided on `bundle`, or why the contract would reject it.
    fn prepare(&self, action: &Action, scope: Scope, bundle: &Bundle) -> Result<Prepared, PrepareError>;
}
