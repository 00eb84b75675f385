//! Loom models of the per-callsite drop table (`src/drops.rs`): a logging thread counting
//! drops while the worker takes the counts.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p logbuf-journal --release --test loom_drops --target-dir target/loom
//! ```
#![cfg(loom)]

#[path = "../src/drops.rs"]
#[allow(dead_code)]
mod drops;

use std::collections::BTreeMap;

use drops::{DropTable, TABLE, merged};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;

/// A thread's drop counters as the journal keeps them: the total, and the table.
#[derive(Default)]
struct Slot {
    dropped: AtomicU64,
    table: DropTable,
}

impl Slot {
    /// What `drop_event` does: the total, then the callsite.
    fn drop_one(&self, callsite: u64) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.table.count(callsite);
    }

    /// What the worker's `take_drops` does: the counts by callsite and the rest, their sum
    /// taken off the total, which must hold all of them.
    fn take(&self, named: &mut BTreeMap<u64, u64>) -> u64 {
        let (counts, other) = merged(&self.table);
        let count: u64 = counts.iter().map(|c| c.1).sum::<u64>() + other;
        let before = self.dropped.fetch_sub(count, Ordering::Relaxed);
        assert!(before >= count, "took {count} drops of a total of {before}");
        for (callsite, n) in counts {
            *named.entry(callsite).or_insert(0) += n;
        }
        other
    }
}

/// One thread drops records of two callsites while the worker takes the counts: every drop
/// is counted once, against its callsite, and the total never holds fewer than were taken.
#[test]
fn counts_taken_while_a_thread_drops_are_exact() {
    loom::model(|| {
        let slot = Arc::new(Slot::default());
        let writer = {
            let slot = slot.clone();
            thread::spawn(move || {
                for callsite in [1, 2, 1] {
                    slot.drop_one(callsite);
                }
            })
        };
        let mut named = BTreeMap::new();
        let mut other = slot.take(&mut named);
        writer.join().unwrap();
        other += slot.take(&mut named);
        assert_eq!(
            other, 0,
            "a race with the worker costs a retry, not the callsite"
        );
        assert_eq!(named, BTreeMap::from([(1, 2), (2, 1)]));
        assert_eq!(slot.dropped.load(Ordering::Relaxed), 0);
    });
}

/// More callsites than the table holds, taken while they are counted: those that find no
/// entry go to `other`, and nothing is lost or counted twice.
#[test]
fn a_full_table_loses_nothing() {
    loom::model(|| {
        let slot = Arc::new(Slot::default());
        let callsites: Vec<u64> = (1..=TABLE as u64 + 1).collect();
        let writer = {
            let (slot, callsites) = (slot.clone(), callsites.clone());
            thread::spawn(move || {
                for &callsite in &callsites {
                    slot.drop_one(callsite);
                }
            })
        };
        let mut named = BTreeMap::new();
        let mut other = slot.take(&mut named);
        writer.join().unwrap();
        other += slot.take(&mut named);
        assert_eq!(named.values().sum::<u64>() + other, callsites.len() as u64);
        assert!(named.iter().all(|(c, n)| callsites.contains(c) && *n == 1));
        assert_eq!(slot.dropped.load(Ordering::Relaxed), 0);
    });
}

/// Two threads counting into one table (a table is one thread's, but nothing in it relies on
/// that) while the worker takes: a callsite may take two entries, the counts still add up.
#[test]
fn two_counting_threads_lose_nothing() {
    loom::model(|| {
        let slot = Arc::new(Slot::default());
        let writers: Vec<_> = [[1, 2], [2, 1]]
            .into_iter()
            .map(|callsites| {
                let slot = slot.clone();
                thread::spawn(move || {
                    for callsite in callsites {
                        slot.drop_one(callsite);
                    }
                })
            })
            .collect();
        let mut named = BTreeMap::new();
        let mut other = slot.take(&mut named);
        for w in writers {
            w.join().unwrap();
        }
        other += slot.take(&mut named);
        assert_eq!(named.values().sum::<u64>() + other, 4);
        assert!(named.get(&1).copied().unwrap_or(0) <= 2);
        assert!(named.get(&2).copied().unwrap_or(0) <= 2);
        assert_eq!(slot.dropped.load(Ordering::Relaxed), 0);
    });
}
