//! What the simulated kernel and hardware did, kept for tests and the demo
//! without growing with the guest: the newest entries in a ring of fixed
//! capacity, and counts over the whole run.
//!
//! A guest controls how many commands it submits, so a log with one entry
//! per command would be memory the guest can make the host spend. The ring
//! keeps the recent past (what a test asserts on); the counters keep what a
//! long run reports (how many commands, per queue).

use std::collections::{BTreeMap, VecDeque};

/// Entries a journal keeps unless the backend is told otherwise
/// ([`super::SimBackend::set_journal_capacity`]): enough for every test and
/// the demo's default script, 2 MiB or so of host memory per journal.
pub const DEFAULT_CAPACITY: usize = 1 << 16;

/// A ring of the newest `capacity` entries, with per-key counts of all
/// entries ever recorded (their sum is the total: one key, `()`, when the
/// entries are not told apart).
#[derive(Debug, Clone)]
pub struct Journal<T, K: Ord = ()> {
    recent: VecDeque<T>,
    capacity: usize,
    per_key: BTreeMap<K, u64>,
}

impl<T, K: Ord> Default for Journal<T, K> {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl<T, K: Ord> Journal<T, K> {
    /// An empty journal keeping at most `capacity` entries (0 keeps none,
    /// only counts).
    pub fn with_capacity(capacity: usize) -> Self {
        Journal {
            recent: VecDeque::new(),
            capacity,
            per_key: BTreeMap::new(),
        }
    }

    /// Records `entry` under `key`; the oldest entry goes when the ring is full.
    pub fn record(&mut self, key: K, entry: T) {
        *self.per_key.entry(key).or_insert(0) += 1;
        if self.capacity == 0 {
            return;
        }
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(entry);
    }

    /// Changes the capacity, dropping the oldest entries that no longer fit.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.recent.len() > capacity {
            self.recent.pop_front();
        }
    }

    /// The entries kept, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &T> {
        self.recent.iter()
    }

    /// How many entries were ever recorded (kept or not).
    pub fn total(&self) -> u64 {
        self.per_key.values().sum()
    }

    /// How many entries were ever recorded under each key.
    pub fn per_key(&self) -> &BTreeMap<K, u64> {
        &self.per_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_counts_everything() {
        let mut j: Journal<u32, u8> = Journal::with_capacity(3);
        for i in 0..10 {
            j.record((i % 2) as u8, i);
        }
        assert_eq!(j.recent().copied().collect::<Vec<_>>(), [7, 8, 9]);
        assert_eq!(j.total(), 10);
        assert_eq!(j.per_key().get(&0), Some(&5));
        assert_eq!(j.per_key().get(&1), Some(&5));
        j.set_capacity(1);
        assert_eq!(j.recent().copied().collect::<Vec<_>>(), [9]);
        let mut none: Journal<u32> = Journal::with_capacity(0);
        none.record((), 1);
        assert_eq!((none.recent().count(), none.total()), (0, 1));
    }
}
