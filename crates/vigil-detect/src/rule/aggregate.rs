//! Windowed aggregation: per-group counts or sums over the last `window_blocks` blocks, kept for the window plus
//! the source's reorg depth so that a revert forgets exactly the orphaned blocks.

use super::*;

/// Aggregation state. Each group's contributions are kept per block that had any (a short deque per group), and
/// per block the groups it touched and the groups above the threshold after it (the armed state), for the window
/// plus [`REORG_DEPTH`] blocks: a revert pops exactly the orphaned blocks' entries.
#[derive(Debug)]
pub(super) struct Aggregator {
    pub(super) window_blocks: u64,
    pub(super) above: f64,
    pub(super) group_by: Option<Expr>,
    pub(super) sum: Option<Expr>,
    pub(super) groups: HashMap<GroupKey, VecDeque<(u64, f64, u64)>>,
    /// The window plus `reorg_depth` blocks.
    pub(super) history: VecDeque<AggBlock>,
    /// The deepest reorg the source replays.
    pub(super) reorg_depth: u64,
    /// The block being read and its groups so far.
    pub(super) current: Option<(BlockRef, HashMap<GroupKey, GroupNow>)>,
}

/// A group: an address (most `group_by`s, compared without formatting) or any other text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum GroupKey {
    /// `None` is `""` (and the single group of a rule without `group_by`).
    Addr(Option<Address>),
    Text(String),
}

impl GroupKey {
    pub(super) fn from_text(s: String) -> Self {
        if s.is_empty() {
            return GroupKey::Addr(None);
        }
        let lower =
            s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match s.parse() {
            Ok(a) if lower => GroupKey::Addr(Some(a)),
            _ => GroupKey::Text(s),
        }
    }

    pub(super) fn text(&self) -> String {
        match self {
            GroupKey::Addr(a) => opt_addr_str(a),
            GroupKey::Text(s) => s.clone(),
        }
    }
}

/// A group within the block being read.
#[derive(Debug, Clone, Copy)]
pub(super) struct GroupNow {
    /// Its total and matches over the window's earlier blocks.
    base: (f64, u64),
    /// This block's.
    now: (f64, u64),
    /// Below the threshold after the previous block, and not fired since.
    armed: bool,
}

#[derive(Debug)]
pub(super) struct AggBlock {
    block: BlockRef,
    touched: Vec<GroupKey>,
    above: HashSet<GroupKey>,
}

impl Aggregator {
    pub(super) fn first_in_window(&self, number: u64) -> u64 {
        number.saturating_sub(self.window_blocks - 1)
    }

    /// Forgets the newest block.
    pub(super) fn pop_back(&mut self) {
        let Some(b) = self.history.pop_back() else { return };
        forget(&mut self.groups, b, true);
    }

    pub(super) fn revert_to(&mut self, number: u64) {
        while self.history.back().is_some_and(|b| b.block.number > number) {
            self.pop_back();
        }
    }

    pub(super) fn begin(&mut self, block: BlockRef) {
        // A block at or below the last one replaces it (the engine reverts first; this keeps the state sane).
        self.revert_to(block.number.saturating_sub(1));
        self.current = Some((block, HashMap::new()));
    }

    /// The group's total over the window ending at `number`, from the blocks already ended.
    pub(super) fn window_total(&self, key: &GroupKey, number: u64) -> (f64, u64) {
        let first = self.first_in_window(number);
        self.groups.get(key).map_or((0.0, 0), |q| window_sum(q, first, number))
    }

    /// Adds a match; `Some((total, matches))` when this match makes its group cross the threshold.
    pub(super) fn add(&mut self, key: &GroupKey, amount: f64) -> Option<(f64, u64)> {
        let Self { window_blocks, above, groups: ended, history, current, .. } = self;
        let (block, groups) = current.as_mut()?;
        let number = block.number;
        let g = groups.entry(key.clone()).or_insert_with(|| {
            let first = number.saturating_sub(*window_blocks - 1);
            let base = ended.get(key).map_or((0.0, 0), |q| window_sum(q, first, number));
            let armed = !history.back().is_some_and(|b| b.above.contains(key));
            GroupNow { base, now: (0.0, 0), armed }
        });
        g.now.0 += amount;
        g.now.1 += 1;
        let (total, matches) = (g.base.0 + g.now.0, g.base.1 + g.now.1);
        if total > *above && g.armed {
            g.armed = false;
            return Some((total, matches));
        }
        None
    }

    pub(super) fn end(&mut self) {
        let Some((block, current)) = self.current.take() else { return };
        let number = block.number;
        let mut above = HashSet::new();
        if let Some(previous) = self.history.back() {
            for key in previous.above.iter().filter(|k| !current.contains_key(*k)) {
                if self.window_total(key, number).0 > self.above {
                    above.insert(key.clone());
                }
            }
        }
        let mut touched = Vec::with_capacity(current.len());
        for (key, g) in current {
            if g.base.0 + g.now.0 > self.above {
                above.insert(key.clone());
            }
            self.groups.entry(key.clone()).or_default().push_back((number, g.now.0, g.now.1));
            touched.push(key);
        }
        self.history.push_back(AggBlock { block, touched, above });
        while self.history.len() as u64 > self.window_blocks + self.reorg_depth {
            let Some(old) = self.history.pop_front() else { break };
            forget(&mut self.groups, old, false);
        }
    }

    pub(super) fn blocks_in_window(&self, number: u64) -> usize {
        let first = self.first_in_window(number);
        self.history.iter().filter(|b| b.block.number >= first).count() + 1
    }
}

/// Forgets what block `b` added to its groups (the newest block, or the oldest), and the groups left empty.
fn forget(groups: &mut HashMap<GroupKey, VecDeque<(u64, f64, u64)>>, b: AggBlock, newest: bool) {
    for key in b.touched {
        let Some(q) = groups.get_mut(&key) else { continue };
        let end = if newest { q.back() } else { q.front() };
        if end.is_some_and(|e| e.0 == b.block.number) {
            if newest {
                q.pop_back();
            } else {
                q.pop_front();
            }
        }
        if q.is_empty() {
            groups.remove(&key);
        }
    }
}

/// A group's (total, matches) over its blocks `first ..= number`.
fn window_sum(q: &VecDeque<(u64, f64, u64)>, first: u64, number: u64) -> (f64, u64) {
    let mut total = (0.0, 0);
    for (_, s, n) in q.iter().rev().take_while(|e| e.0 >= first && e.0 <= number) {
        total.0 += s;
        total.1 += n;
    }
    total
}
