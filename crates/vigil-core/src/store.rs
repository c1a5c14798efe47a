//! The store: what a node keeps across restarts, as a trait every backend implements (SQLite in `vigil-store`
//! today; Postgres, shared by several nodes, later).
//!
//! The contract, whatever the backend:
//!
//! - [`Store::commit_block`] writes everything a block produced (findings, the incidents it opened or moved to
//!   another state, the actions it made due with their signed calldata) and moves the cursor to the block, in one
//!   transaction: after a crash the
//!   store holds all of a block's results and the cursor at it, or none of them and the cursor before it. Blocks are
//!   committed in order: a block more than one past the cursor is refused ([`StoreError::OutOfOrder`]).
//! - An action is recorded once per (incident, kind): committing it again changes nothing, so an incident never
//!   takes the same action twice, also across restarts.
//! - [`Store::revert_to`] marks the findings of orphaned blocks retracted, never deleting them, retracts the
//!   actions those blocks planned and that were not carried out yet (the replacement block plans them again), and
//!   moves the cursor back to the common ancestor.
//! - The actions table is the outbox: an action is `planned` until it is carried out (`sent`, `delivered`), and
//!   after a restart the planned ones are taken up again.

use alloy::primitives::{Bytes, B256};

use crate::{Action, ActionKind, BlockRef, Finding, Incident};

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("store {store}: {source}")]
    Backend {
        /// The database (a file path, `:memory:`, a URL without credentials).
        store: String,
        /// The database's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The schema could not be migrated.
    #[error("store {store}: migration failed: {reason}")]
    Migration {
        /// The database.
        store: String,
        /// The error.
        reason: String,
    },
    /// A row does not decode (a corrupt or foreign database).
    #[error("store {store}: table {table}: {reason}")]
    Corrupt {
        /// The database.
        store: String,
        /// The table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A block was committed out of order.
    #[error("store {store}: block #{got} committed after #{cursor}; blocks must be committed in order")]
    OutOfOrder {
        /// The database.
        store: String,
        /// The cursor.
        cursor: u64,
        /// The block.
        got: u64,
    },
}

/// A stored action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAction {
    /// The incident.
    pub incident: B256,
    /// What.
    pub kind: ActionKind,
    /// The block whose findings led to it.
    pub block: u64,
    /// Signed calldata, for transactions.
    pub calldata: Option<Bytes>,
    /// `planned` (waiting for its confirmations or its delivery), `sent` (a transaction out), `delivered` (a
    /// notification every endpoint took), `landed`, `failed`, or `retracted` (its block was orphaned first).
    pub state: String,
    /// Block of the last state change.
    pub state_block: Option<u64>,
    /// Hash of the block whose findings led to it (zero for rows written before the outbox).
    pub block_hash: B256,
    /// Hash of the evidence.
    pub evidence_hash: B256,
    /// Delivery attempts so far.
    pub attempts: u64,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// What the node needs from its store: the cursor and the recent canonical blocks to resume from, a block's results
/// committed with the cursor, the incidents and actions to restore, action states, the failure log, and the
/// findings. See the module documentation for the contract.
pub trait Store: Send {
    /// The last committed block.
    fn cursor(&self) -> Result<Option<BlockRef>, StoreError>;

    /// Writes a block's findings (each with the incident it joined), the incidents it opened or changed (state,
    /// severity, what was notified: a known incident is updated) and the actions it made due, with their signed
    /// calldata, and moves the cursor to the block, in one transaction.
    fn commit_block(
        &mut self,
        block: BlockRef,
        findings: &[(Finding, B256)],
        incidents: &[&Incident],
        actions: &[(Action, Option<Bytes>)],
    ) -> Result<(), StoreError>;

    /// Writes what screening a pending transaction decided (the engine's `screen`): its findings, each at the
    /// simulated block it names and with the incident it joined, the incidents they opened or changed and the
    /// actions they made due, with their signed calldata, in one transaction. The cursor does not move: the
    /// transaction is in no block yet. A later `revert_to` below the simulated block retracts them as it does a
    /// block's.
    fn commit_screened(
        &mut self,
        findings: &[(Finding, B256)],
        incidents: &[&Incident],
        actions: &[(Action, Option<Bytes>)],
    ) -> Result<(), StoreError>;

    /// Marks findings of blocks after `ancestor` retracted and moves the cursor back to it.
    fn revert_to(&mut self, ancestor: BlockRef) -> Result<(), StoreError>;

    /// Records that an action's transaction landed or failed at `block` (`state`: `landed` or `failed`).
    fn set_action_state(&self, incident: B256, kind: &ActionKind, state: &str, block: u64) -> Result<(), StoreError>;

    /// Counts a delivery attempt of an action, with its error (`None` when it succeeded).
    fn record_attempt(&self, incident: B256, kind: &ActionKind, error: Option<&str>) -> Result<(), StoreError>;

    /// Every action, in the order of the blocks that made them due.
    fn actions(&self) -> Result<Vec<StoredAction>, StoreError>;

    /// Every incident, in the order they opened, as last committed (without findings: see [`Store::findings`]).
    fn incidents(&self) -> Result<Vec<Incident>, StoreError>;

    /// Findings stored, in the order committed, with whether they are retracted.
    fn findings(&self) -> Result<Vec<(Finding, bool)>, StoreError>;

    /// Block numbers committed, in order, with how many times each was committed (once, unless a reorg replaced
    /// it).
    fn processed(&self) -> Result<Vec<(u64, u64)>, StoreError>;

    /// The canonical blocks committed at or below the cursor, newest last, at most `limit` of them (the follower's
    /// reorg window after a restart).
    fn recent_blocks(&self, limit: u64) -> Result<Vec<BlockRef>, StoreError>;

    /// Records that fetching or processing `block` failed at `stage` (it is retried, never skipped).
    fn record_failure(&self, block: u64, stage: &str, error: &str) -> Result<(), StoreError>;

    /// Failures recorded, oldest first: (block, stage, error).
    fn failures(&self) -> Result<Vec<(u64, String, String)>, StoreError>;
}
