//! A detector's state after each recent block, so that `revert_to` forgets exactly what orphaned blocks taught it.

use std::collections::VecDeque;

use vigil_core::BlockRef;

/// How many blocks of state a [`History`] keeps by default (deeper than any reorg the engine replays).
pub(crate) const KEEP: usize = 128;

/// State after each recent block, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct History<S> {
    /// (block, state after it).
    pub(crate) entries: VecDeque<(BlockRef, S)>,
    /// The most entries kept.
    keep: usize,
}

impl<S> Default for History<S> {
    /// The last [`KEEP`] blocks.
    fn default() -> Self {
        Self { entries: VecDeque::new(), keep: KEEP }
    }
}

impl<S> History<S> {
    /// Every block pushed until forgotten ([`History::forget_before`], [`History::revert_to`]).
    pub(crate) fn unbounded() -> Self {
        Self { entries: VecDeque::new(), keep: usize::MAX }
    }

    /// The state after the latest block.
    pub(crate) fn last(&self) -> Option<&S> {
        self.entries.back().map(|(_, s)| s)
    }

    /// (block, state), oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(BlockRef, S)> {
        self.entries.iter()
    }

    /// Forgets block `number` and later ones (a block read again replaces its first result).
    pub(crate) fn forget_from(&mut self, number: u64) {
        while self.entries.back().is_some_and(|(b, _)| b.number >= number) {
            self.entries.pop_back();
        }
    }

    /// Forgets the blocks before `number`.
    pub(crate) fn forget_before(&mut self, number: u64) {
        while self.entries.front().is_some_and(|(b, _)| b.number < number) {
            self.entries.pop_front();
        }
    }

    /// Records the state after `block`, forgetting the oldest beyond the entries kept.
    pub(crate) fn push(&mut self, block: BlockRef, state: S) {
        self.entries.push_back((block, state));
        while self.entries.len() > self.keep {
            self.entries.pop_front();
        }
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
        self.forget_from(number);
        self.last().cloned().unwrap_or_default()
    }
}
