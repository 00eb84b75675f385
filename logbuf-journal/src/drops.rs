//! Per-thread counts of dropped records by callsite, for the worker's drop reports.
//!
//! A thread that drops a record (its ring full, the record too large) counts it here on its
//! own thread, so the counting is lock-free and allocates nothing: a fixed table of
//! [`TABLE`] entries, each one `AtomicU64` holding a callsite id (high 32 bits) and a count
//! (low 32 bits), and an `other` counter for the drops no entry can take (no callsite known, the
//! table full, an id or a count past 32 bits).
//!
//! - Counting a drop of callsite `c`: an entry holding `c` is bumped by a compare-exchange of
//!   the whole word; failing that, the first free entry (the word `0`) is claimed for `c` with a
//!   count of 1 by a compare-exchange from `0`. A compare-exchange fails only when the word
//!   changed under it (the worker emptied the entry, or another thread counting into the same
//!   table took it): the scan starts again, at most [`RETRIES`] times, then the drop goes to
//!   `other`. So a drop costs a bounded number of steps whatever the worker does, and is
//!   always counted exactly once.
//! - Taking the counts (the worker, once per report): each entry is swapped with `0` and
//!   `other` with `0`. A swap takes a word whole, so a count and its callsite are never torn
//!   apart, and an increment lands either in the word taken or in the next one.
//!
//! Ids and counts live in one word so that the worker can empty an entry and free it for
//! another callsite in one step: with two words, an increment racing the reset could land in a
//! freed entry and be counted against the next callsite to claim it.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries in a table: how many distinct callsites a thread counts exactly between two reports.
/// Fewer under loom, so that its models can fill the table.
pub(crate) const TABLE: usize = if cfg!(loom) { 3 } else { 16 };

/// Callsites a drop report names: those of the thread's table that lost the most.
pub(crate) const REPORTED: usize = 8;

/// How many times a count starts its scan again after a compare-exchange lost to the worker
/// before it settles for `other`.
pub(crate) const RETRIES: usize = 4;

/// Bits of an entry's count; the callsite id takes the bits above.
const COUNT_BITS: u32 = 32;
/// The largest count an entry holds; past it, drops of its callsite go to `other`.
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
/// The largest callsite id an entry holds.
const ID_MAX: u64 = u32::MAX as u64;

/// Dropped records of one thread by callsite, since the worker last took them.
#[derive(Debug)]
pub(crate) struct DropTable {
    entries: [AtomicU64; TABLE],
    other: AtomicU64,
}

impl Default for DropTable {
    fn default() -> Self {
        Self::new()
    }
}

impl DropTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self {
            entries: std::array::from_fn(|_| AtomicU64::new(0)),
            other: AtomicU64::new(0),
        }
    }

    /// Counts one dropped record of `callsite` (`0`: unknown, counted in `other`).
    ///
    /// Every update is a Release read-modify-write: what the thread did before (the drop's
    /// count in the thread's total) is visible to the worker once its Acquire swap takes it.
    pub(crate) fn count(&self, callsite: u64) {
        if callsite != 0 && callsite <= ID_MAX {
            let mine = callsite << COUNT_BITS;
            for _ in 0..RETRIES {
                match self.try_count(mine) {
                    Attempt::Counted => return,
                    Attempt::Full => break,
                    Attempt::Raced => {}
                }
            }
        }
        self.other.fetch_add(1, Ordering::Release);
    }

    /// One scan: bump the entry holding the callsite (`mine`: its id in the high bits), or
    /// claim a free one.
    fn try_count(&self, mine: u64) -> Attempt {
        let mut free = None;
        for entry in &self.entries {
            let word = entry.load(Ordering::Relaxed);
            if word == 0 {
                free = free.or(Some(entry));
            } else if word & !COUNT_MAX == mine {
                if word & COUNT_MAX == COUNT_MAX {
                    return Attempt::Full;
                }
                return match entry.compare_exchange(
                    word,
                    word + 1,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => Attempt::Counted,
                    Err(_) => Attempt::Raced,
                };
            }
        }
        let Some(entry) = free else {
            return Attempt::Full;
        };
        match entry.compare_exchange(0, mine | 1, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => Attempt::Counted,
            Err(_) => Attempt::Raced,
        }
    }

    /// Takes every count, leaving the table empty: calls `each(callsite, count)` for each
    /// entry in use (a callsite may come twice, if it took two entries), and returns the drops
    /// counted in `other`.
    ///
    /// The swaps are Acquire: the counting threads' earlier writes (the drops' counts in their
    /// totals) are visible once their counts are taken.
    pub(crate) fn take(&self, mut each: impl FnMut(u64, u64)) -> u64 {
        for entry in &self.entries {
            let word = entry.swap(0, Ordering::Acquire);
            if word != 0 {
                each(word >> COUNT_BITS, word & COUNT_MAX);
            }
        }
        self.other.swap(0, Ordering::Acquire)
    }
}

/// How one scan of [`DropTable::try_count`] went.
enum Attempt {
    Counted,
    /// No entry holds the callsite and none is free, or its count is at its maximum.
    Full,
    /// A compare-exchange found the word changed: scan again.
    Raced,
}

/// The counts taken from a table, merged by callsite and sorted: most drops first, then by
/// callsite id. Allocates; for the worker.
pub(crate) fn merged(table: &DropTable) -> (Vec<(u64, u64)>, u64) {
    let mut counts: Vec<(u64, u64)> = Vec::with_capacity(TABLE);
    let other =
        table.take(
            |callsite, count| match counts.iter_mut().find(|(c, _)| *c == callsite) {
                Some((_, n)) => *n += count,
                None => counts.push((callsite, count)),
            },
        );
    counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    (counts, other)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_by_callsite_and_empties_on_take() {
        let table = DropTable::new();
        for (callsite, n) in [(3, 5), (1, 2), (7, 5), (0, 4)] {
            for _ in 0..n {
                table.count(callsite);
            }
        }
        assert_eq!(merged(&table), (vec![(3, 5), (7, 5), (1, 2)], 4));
        assert_eq!(merged(&table), (vec![], 0));
    }

    #[test]
    fn a_full_table_counts_the_rest_in_other() {
        let table = DropTable::new();
        for callsite in 1..=TABLE as u64 + 3 {
            table.count(callsite);
            table.count(callsite);
        }
        let (counts, other) = merged(&table);
        let expected: Vec<(u64, u64)> = (1..=TABLE as u64).map(|c| (c, 2)).collect();
        assert_eq!((counts, other), (expected, 6));
    }

    #[test]
    fn ids_past_32_bits_and_saturated_counts_go_to_other() {
        let table = DropTable::new();
        table.count(ID_MAX + 1);
        table.entries[0].store((5 << COUNT_BITS) | COUNT_MAX, Ordering::Relaxed);
        table.count(5);
        assert_eq!(merged(&table), (vec![(5, COUNT_MAX)], 2));
    }

    /// Two threads drop records of 24 callsites (more than the table holds) while another
    /// takes the counts as fast as it can: per callsite, what was taken by name plus what went
    /// to `other` is what was dropped, and the total never held fewer drops than were taken.
    #[test]
    fn counts_taken_under_contention_add_up() {
        use std::sync::atomic::AtomicBool;

        const PER_THREAD: u64 = 200_000;
        let table = DropTable::new();
        let total = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        let (named, other) = std::thread::scope(|s| {
            let writers: Vec<_> = (0..2u64)
                .map(|t| {
                    let (table, total) = (&table, &total);
                    s.spawn(move || {
                        for i in 0..PER_THREAD {
                            total.fetch_add(1, Ordering::Relaxed);
                            table.count(1 + (i * (t + 3)) % 24);
                        }
                    })
                })
                .collect();
            let taker = s.spawn(|| {
                let mut named = [0u64; 25];
                let mut other = 0;
                let mut take = || {
                    let mut taken = 0;
                    let rest = table.take(|callsite, n| {
                        named[usize::try_from(callsite).unwrap()] += n;
                        taken += n;
                    });
                    other += rest;
                    taken + rest
                };
                while !done.load(Ordering::Acquire) {
                    let taken = take();
                    let held = total.fetch_sub(taken, Ordering::Relaxed);
                    assert!(held >= taken, "took {taken} of {held}");
                }
                let taken = take();
                assert_eq!(total.fetch_sub(taken, Ordering::Relaxed), taken);
                (named, other)
            });
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, Ordering::Release);
            taker.join().unwrap()
        });
        let mut dropped = [0u64; 25];
        for t in 0..2u64 {
            for i in 0..PER_THREAD {
                dropped[usize::try_from(1 + (i * (t + 3)) % 24).unwrap()] += 1;
            }
        }
        assert!(named.iter().zip(&dropped).all(|(n, d)| n <= d));
        let unnamed: u64 = dropped.iter().zip(&named).map(|(d, n)| d - n).sum();
        assert_eq!(unnamed, other);
        assert_eq!(named.iter().sum::<u64>() + other, 2 * PER_THREAD);
        assert_eq!(total.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn an_entry_emptied_by_the_worker_is_claimed_again() {
        let table = DropTable::new();
        table.count(9);
        table.count(4);
        let (counts, other) = merged(&table);
        assert_eq!((counts, other), (vec![(4, 1), (9, 1)], 0));
        table.count(4);
        table.count(4);
        assert_eq!(merged(&table), (vec![(4, 2)], 0));
    }
}
