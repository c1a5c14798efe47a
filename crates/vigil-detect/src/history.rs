//! The one reorg window: a detector's state after each recent block, kept for the detector's own window plus the
//! source's reorg depth ([`crate::registry::BuildContext::reorg_depth`]), so that `revert_to` forgets exactly what
//! orphaned blocks taught it and a reorg as deep as the source replays still leaves a full window behind.
//!
//! Entries are kept by block number, not by count: a detector that records only the blocks that taught it
//! something (a creation, a vote-power change) keeps them as long as one that records every block.

use std::collections::VecDeque;

use vigil_core::BlockRef;

use crate::registry::DEFAULT_REORG_DEPTH;

/// State after each recent block, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct History<S> {
    /// (block, state after it).
    pub(crate) entries: VecDeque<(BlockRef, S)>,
    /// The detector's own window, in blocks.
    window: u64,
    /// The deepest reorg the source replays.
    reorg_depth: u64,
}

impl<S> History<S> {
    /// State for the last `window` blocks plus the default reorg depth (see [`History::with_reorg_depth`]).
    pub(crate) fn new(window: u64) -> Self {
        Self { entries: VecDeque::new(), window, reorg_depth: DEFAULT_REORG_DEPTH }
    }

    /// The same window, kept `reorg_depth` blocks deeper (the source's).
    pub(crate) fn with_reorg_depth(mut self, reorg_depth: u64) -> Self {
        self.reorg_depth = reorg_depth;
        self
    }

    /// Blocks kept behind the latest: the window plus the reorg depth.
    pub(crate) fn keep(&self) -> u64 {
        self.window.saturating_add(self.reorg_depth)
    }

    /// The state after the latest block.
    pub(crate) fn last(&self) -> Option<&S> {
        self.entries.back().map(|(_, s)| s)
    }

    /// (block, state), oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(BlockRef, S)> {
        self.entries.iter()
    }

    /// Starts block `number`: forgets what an earlier reading of `number` or a later block taught (the engine's
    /// retry replaces a block's first result), and the blocks older than the window plus the reorg depth.
    pub(crate) fn start(&mut self, number: u64) {
        while self.entries.back().is_some_and(|(b, _)| b.number >= number) {
            self.entries.pop_back();
        }
        // Block `number` itself is about to be recorded: keep `keep() - 1` blocks before it.
        let oldest = number.saturating_sub(self.keep().saturating_sub(1));
        while self.entries.front().is_some_and(|(b, _)| b.number < oldest) {
            self.entries.pop_front();
        }
    }

    /// Records the state after `block` (started with [`History::start`], or started here).
    pub(crate) fn push(&mut self, block: BlockRef, state: S) {
        self.start(block.number);
        self.entries.push_back((block, state));
    }

    /// Forgets the blocks after `ancestor`.
    pub(crate) fn revert_to(&mut self, ancestor: BlockRef) {
        while self.entries.back().is_some_and(|(b, _)| b.number > ancestor.number) {
            self.entries.pop_back();
        }
    }
}

impl<S: Clone + Default> History<S> {
    /// The state before block `number` (forgetting any earlier result for `number` or later: a retry); the
    /// default before the first block.
    pub(crate) fn before(&mut self, number: u64) -> S {
        self.start(number);
        self.last().cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::B256;

    use super::*;

    fn at(number: u64) -> BlockRef {
        BlockRef { number, hash: B256::with_last_byte(number as u8) }
    }

    #[test]
    fn keeps_the_window_plus_the_reorg_depth_by_block_number() {
        let mut h = History::new(10).with_reorg_depth(5);
        for n in 1..=40 {
            h.push(at(n), n);
        }
        assert_eq!(h.entries.len(), 15);
        assert_eq!(h.entries.front().unwrap().0.number, 26);
        // Sparse entries are kept by number, not count.
        let mut sparse = History::new(10).with_reorg_depth(5);
        for n in (1..=40).step_by(10) {
            sparse.push(at(n), n);
        }
        assert_eq!(sparse.iter().map(|(b, _)| b.number).collect::<Vec<_>>(), vec![21, 31]);
        sparse.start(45);
        assert_eq!(sparse.entries.len(), 1, "block 31 is within 15 blocks of 45");
        sparse.start(46);
        assert_eq!(sparse.entries.len(), 0, "block 31 is older than 15 blocks before 46");
    }

    #[test]
    fn a_retried_block_replaces_its_first_result_and_a_revert_forgets_orphans() {
        let mut h = History::new(1);
        for n in 1..=5 {
            h.push(at(n), n);
        }
        assert_eq!(h.before(4), 3);
        h.push(at(4), 40);
        assert_eq!(h.last(), Some(&40));
        h.revert_to(at(2));
        assert_eq!(h.last(), Some(&2));
    }
}
