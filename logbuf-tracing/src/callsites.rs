//! From tracing's callsite metadata to the journal's callsite ids, without a lock on the hot
//! path.
//!
//! Each layer owns a [`Callsites`] table: a locked map from the address of a callsite's
//! `&'static Metadata` to the id the journal gave its definition. In front of it, every thread
//! keeps a small direct-mapped cache of `(table, metadata address) -> id` in a thread-local
//! array of `Cell`s. A hit costs a hash, one thread-local load and two compares; a miss (a
//! thread's first event from a callsite, or a slot taken over by another callsite) takes the
//! lock, registers the callsite with the journal if no thread has yet, and fills the slot.
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

/// Slots in each thread's cache (a power of two).
const SLOTS: usize = 256;

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
        let index = slot_index(self.table, key);
        let hit = CACHE.try_with(|cache| {
            let slot = cache[index].get();
            (slot.table == self.table && slot.key == key).then_some(slot.id)
        });
        match hit {
            Ok(Some(id)) => id,
            _ => self.miss(journal, meta, index),
        }
    }

    #[cold]
    #[inline(never)]
    fn miss(&self, journal: &Journal, meta: &'static Metadata<'static>, index: usize) -> u64 {
        let id = self.register(journal, meta);
        // Fails only while the thread's locals are torn down; the next event asks again.
        let _ = CACHE.try_with(|cache| {
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
