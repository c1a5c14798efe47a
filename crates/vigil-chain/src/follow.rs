//! Following the canonical chain: the next block after the cursor, or a revert to the common ancestor when the
//! chain reorganised.
//!
//! The follower keeps the hashes of the last [`Follower::depth`] blocks handed on. The next block's parent hash
//! must equal the hash it holds for the block before; if not, it walks back, comparing its hashes with the
//! endpoints' canonical ones, to the newest block both chains share, and yields [`ChainEvent::RevertTo`] that
//! ancestor. The consumer unwinds, and the follower goes on from the ancestor's successor. A reorg deeper than
//! the window is an error: nothing is assumed.
//!
//! The follower never skips: it yields block `cursor + 1` or nothing (when that block is above the head), and a
//! failed fetch leaves the cursor where it was, to be tried again.

use std::collections::BTreeMap;

use alloy::primitives::B256;
use vigil_core::{BlockRef, ChainEvent, Probe};

use crate::fetch::{FetchError, Fetcher};

/// Errors of the follower.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A request failed.
    #[error(transparent)]
    Rpc(#[from] crate::rpc::RpcError),
    /// No common ancestor within the window.
    #[error("reorg deeper than {depth} blocks below #{number}: no common ancestor among the blocks kept")]
    TooDeep {
        /// The block whose parent did not match.
        number: u64,
        /// The window.
        depth: u64,
    },
}

impl FollowError {
    /// Whether retrying may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            FollowError::Fetch(e) => e.is_retryable(),
            FollowError::Rpc(_) => true,
            FollowError::TooDeep { .. } => false,
        }
    }
}

/// Follows one chain from a cursor.
pub struct Follower {
    fetcher: Fetcher,
    recent: BTreeMap<u64, B256>,
    next: u64,
    depth: u64,
    probes: Vec<Probe>,
    traces: bool,
}

impl Follower {
    /// A follower that yields `start` next, knowing the hashes of the blocks before it (`recent`, e.g. from the
    /// store; may be empty at a first start), and keeps `depth` hashes for reorg detection.
    pub fn new(
        fetcher: Fetcher,
        start: u64,
        recent: Vec<BlockRef>,
        depth: u64,
        probes: Vec<Probe>,
        traces: bool,
    ) -> Self {
        let recent = recent.into_iter().filter(|b| b.number < start).map(|b| (b.number, b.hash)).collect();
        Self { fetcher, recent, next: start, depth: depth.max(1), probes, traces }
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The block yielded next.
    pub fn next_number(&self) -> u64 {
        self.next
    }

    /// Reorg window.
    pub fn depth(&self) -> u64 {
        self.depth
    }

    /// The next event if block [`Follower::next_number`] is at or below `head`, else `None`.
    pub async fn next_event(&mut self, head: u64) -> Result<Option<ChainEvent>, FollowError> {
        let number = self.next;
        if number > head {
            // At the head: a reorg that replaced or removed the tip shows up only as a different hash there.
            if let Some((&tip, &hash)) = self.recent.last_key_value() {
                if self.fetcher.hash_of(tip).await? != Some(hash) {
                    return self.unwind(tip + 1).await.map(Some);
                }
            }
            return Ok(None);
        }
        let bundle = self.fetcher.bundle(number, &self.probes, self.traces).await?;
        if let Some(parent) = number.checked_sub(1).and_then(|p| self.recent.get(&p)) {
            if *parent != bundle.parent_hash() {
                return self.unwind(number).await.map(Some);
            }
        }
        self.recent.insert(number, bundle.block_ref().hash);
        while self.recent.len() as u64 > self.depth {
            self.recent.pop_first();
        }
        self.next = number + 1;
        Ok(Some(ChainEvent::NewBlock(Box::new(bundle))))
    }

    /// Block `number`'s parent is not the block processed before it: finds the common ancestor, forgets the
    /// orphaned hashes, and yields the revert.
    async fn unwind(&mut self, number: u64) -> Result<ChainEvent, FollowError> {
        let ancestor = self.find_ancestor(number).await?;
        tracing::warn!(
            event = "Reorg",
            block = number,
            ancestor = ancestor.number,
            orphaned = number - 1 - ancestor.number,
            "block #{} as processed is no longer on the canonical chain; unwinding to #{}",
            number - 1,
            ancestor.number
        );
        self.recent.retain(|n, _| *n <= ancestor.number);
        self.next = ancestor.number + 1;
        self.fetcher.client().metrics().reorgs.inc();
        Ok(ChainEvent::RevertTo { ancestor })
    }

    async fn find_ancestor(&self, number: u64) -> Result<BlockRef, FollowError> {
        for (&n, &hash) in self.recent.iter().rev() {
            if self.fetcher.hash_of(n).await? == Some(hash) {
                return Ok(BlockRef { number: n, hash });
            }
        }
        Err(FollowError::TooDeep { number, depth: self.depth })
    }
}
