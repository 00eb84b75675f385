//! From tracing's callsite metadata to the journal's callsite ids, without a lock on the hot
//! path.
//!
//! Each layer owns a [`Callsites`] table: a locked map from the address of a callsite's
//! `&'static Metadata` to the id the journal gave its definition. In front of it, every thread
//! keeps a small open-addressed cache of `(table, metadata address) -> id` in a thread-local
//! array of `Cell`s: a callsite lives in the first free slot of a short run starting at its
//! hash, so callsites that hash alike do not push each other out. A hit costs a hash, a
//! thread-local load and two compares (a few more for a callsite that found its home slot
//! taken); a miss (a thread's first event from a callsite) takes the lock, registers the
//! callsite with the journal if no thread has yet, and fills a slot. Only a thread that logs
//! from more callsites than a run has room for evicts, and takes the lock again for the
//! callsite it evicted.
//!
//! The journal writes a callsite's definition before any record that a thread writes after
//! the registration returns. A thread that finds the id in the map learned it under the lock,
//! after the registering thread put the definition in, so the same holds for every thread.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use logbuf_journal::Journal;
use logbuf_journal::wire::{self, CallsiteKind};
use tracing_core::{Level, Metadata};

/// Slots in each thread's cache (a power of two): 12 KiB a thread.
const SLOTS: usize = 512;

/// Slots a callsite may sit in, from its hash on.
const PROBES: usize = 8;

/// One cached mapping. `table == 0` marks an empty slot (tables are numbered from 1).
#[derive(Clone, Copy)]
struct Slot {
    table: u64,
    key: usize,
    id: u64,
}

impl Slot {
    const EMPTY: Slot = Slot {
        table: 0,
        key: 0,
        id: 0,
    };
}

thread_local! {
    static CACHE: [Cell<Slot>; SLOTS] = const { [const { Cell::new(Slot::EMPTY) }; SLOTS] };
}

/// A layer's callsite table. See the [module docs](self).
pub(crate) struct Callsites {
    table: u64,
    ids: Mutex<HashMap<usize, u64>>,
}

impl fmt::Debug for Callsites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callsites")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// The cache key of a callsite: the address of its metadata, which is `'static` and unique.
#[inline(always)]
fn key(meta: &'static Metadata<'static>) -> usize {
    std::ptr::from_ref(meta).addr()
}

#[inline(always)]
fn slot_index(table: u64, key: usize) -> usize {
    let h = (key as u64 ^ table.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - SLOTS.trailing_zeros())) as usize
}

impl Callsites {
    pub(crate) fn new() -> Self {
        static NEXT_TABLE: AtomicU64 = AtomicU64::new(1);
        Self {
            table: NEXT_TABLE.fetch_add(1, Ordering::Relaxed),
            ids: Mutex::new(HashMap::new()),
        }
    }

    /// The journal's id for `meta`'s callsite, registering it on first use.
    #[inline]
    pub(crate) fn id(&self, journal: &Journal, meta: &'static Metadata<'static>) -> u64 {
        let key = key(meta);
        let home = slot_index(self.table, key);
        let hit = CACHE.try_with(|cache| {
            for probe in 0..PROBES {
                let slot = cache[(home + probe) % SLOTS].get();
                if slot.table == self.table && slot.key == key {
                    return Some(slot.id);
                }
                if slot.table == 0 {
                    break;
                }
            }
            None
        });
        match hit {
            Ok(Some(id)) => id,
            _ => self.miss(journal, meta, home),
        }
    }

    #[cold]
    #[inline(never)]
    fn miss(&self, journal: &Journal, meta: &'static Metadata<'static>, home: usize) -> u64 {
        let id = self.register(journal, meta);
        // Fails only while the thread's locals are torn down; the next event asks again.
        let _ = CACHE.try_with(|cache| {
            // The first free slot of the run, or else the home slot.
            let index = (0..PROBES)
                .map(|probe| (home + probe) % SLOTS)
                .find(|&i| cache[i].get().table == 0)
                .unwrap_or(home);
            cache[index].set(Slot {
                table: self.table,
                key: key(meta),
                id,
            });
        });
        id
    }

    /// Registers `meta`'s callsite with the journal unless that was done already; its id.
    pub(crate) fn register(&self, journal: &Journal, meta: &'static Metadata<'static>) -> u64 {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        // Registered under the lock, so that whoever reads the id from the map does so after
        // the definition is with the journal.
        *ids.entry(key(meta))
            .or_insert_with(|| journal.register_callsite(&callsite(meta)))
    }
}

/// The journal's description of a tracing callsite.
pub(crate) fn callsite(meta: &'static Metadata<'static>) -> wire::Callsite<'static> {
    wire::Callsite {
        id: 0,
        kind: if meta.is_span() {
            CallsiteKind::Span
        } else {
            CallsiteKind::Event
        },
        level: level(*meta.level()),
        target: meta.target(),
        name: meta.name(),
        module_path: meta.module_path(),
        file: meta.file(),
        line: meta.line(),
        fields: meta.fields().iter().map(|f| f.name()).collect(),
    }
}

/// The journal's level for a tracing level.
pub(crate) fn level(level: Level) -> wire::Level {
    if level == Level::ERROR {
        wire::Level::Error
    } else if level == Level::WARN {
        wire::Level::Warn
    } else if level == Level::INFO {
        wire::Level::Info
    } else if level == Level::DEBUG {
        wire::Level::Debug
    } else {
        wire::Level::Trace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tracing_core::callsite::Identifier;
    use tracing_core::field::FieldSet;
    use tracing_core::{Kind, Metadata};

    /// A callsite that does nothing, to give metadata an identity.
    struct Site;

    impl tracing_core::Callsite for Site {
        fn set_interest(&self, _: tracing_core::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("not registered with tracing")
        }
    }

    static SITE: Site = Site;

    /// Leaked metadata for `n` distinct callsites.
    fn metadata(n: usize) -> Vec<&'static Metadata<'static>> {
        (0..n)
            .map(|i| {
                let name: &'static str = Box::leak(format!("event {i}").into_boxed_str());
                let meta = Metadata::new(
                    name,
                    "test",
                    Level::INFO,
                    None,
                    None,
                    None,
                    FieldSet::new(&["message"], Identifier(&SITE)),
                    Kind::EVENT,
                );
                &*Box::leak(Box::new(meta))
            })
            .collect()
    }

    #[test]
    fn callsites_sharing_a_home_slot_both_stay_cached() {
        let (journal, _guard) = Journal::builder().build().unwrap();
        let callsites = Callsites::new();
        // More callsites than slots: two of them share a home slot.
        let metas = metadata(SLOTS + 1);
        let mut by_home = HashMap::new();
        let (a, b) = metas
            .iter()
            .find_map(|m| {
                let home = slot_index(callsites.table, key(m));
                by_home.insert(home, *m).map(|other| (other, *m))
            })
            .expect("pigeonhole");
        let ids = (callsites.id(&journal, a), callsites.id(&journal, b));
        assert_ne!(ids.0, ids.1);
        // Both are answered from this thread's cache now: with the map emptied, a miss would
        // register the callsite again under a new id.
        callsites.ids.lock().unwrap().clear();
        for _ in 0..3 {
            assert_eq!((callsites.id(&journal, a), callsites.id(&journal, b)), ids);
        }
    }

    #[test]
    fn more_callsites_than_the_cache_holds() {
        let (journal, _guard) = Journal::builder().build().unwrap();
        let callsites = Callsites::new();
        let metas = metadata(2 * SLOTS);
        let ids: Vec<u64> = metas.iter().map(|m| callsites.id(&journal, m)).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), metas.len());
        let again: Vec<u64> = metas.iter().map(|m| callsites.id(&journal, m)).collect();
        assert_eq!(again, ids);
    }
}
