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
//! An event callsite's message is interned with the journal the first time one of its events
//! is seen, when it is a literal (`info!("done")`): it formats in one piece whose bytes lie in
//! read-only static data ([`statics`](crate::statics)). Events then carry the string's id when
//! their message is that piece (the same address and length), and the text otherwise. Text
//! made at run time (`info!("{}", email)`) is never interned, even when it formats in one
//! piece: the journal would keep it for the life of the process and repeat it in every
//! rotated file. The layer keeps no copy of the text, only its address and length.
//!
//! Records of the `log` crate bridged by tracing-log's `LogTracer` all come from one
//! callsite per level (target `log`), with the record's target, module, file and line as
//! fields. They are recorded under a callsite of their own, made from the normalized metadata
//! (tracing-log's `NormalizeEvent`), with the message as its only field: a table keyed by
//! level, target, module, file and line, in front of which every thread keeps a small
//! direct-mapped cache of its own, so that a record of a known call site takes no lock.
//!
//! The journal writes a callsite's definition before any record that a thread writes after
//! the registration returns. A thread that finds the id in the map learned it under the lock,
//! after the registering thread put the definition in, so the same holds for every thread.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use logbuf_journal::Journal;
use logbuf_journal::wire::{self, CallsiteKind};
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Level, Metadata};

use crate::statics;

/// Slots in each thread's cache (a power of two): 28 KiB a thread.
const SLOTS: usize = 512;

/// Slots a callsite may sit in, from its hash on.
const PROBES: usize = 8;

/// A callsite's interned message, if it has one.
pub(crate) type Message = Option<Literal>;

/// A callsite's literal message: where its bytes lie (read-only static data, fixed while the
/// object holding them is loaded; never read through this address), a copy of its text, and
/// the id the journal interned the text under.
///
/// The address is the quick test; the text the sure one. The compiler may give the same
/// literal more than one address (each inlined copy of a function in another codegen unit can
/// carry its own copy of the bytes), so a message that comes out in one piece from another
/// address is compared by its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Literal {
    /// Address of the literal's first byte.
    pub(crate) addr: usize,
    /// The literal's text: a copy kept for the life of the process (see [`kept`]).
    pub(crate) text: &'static str,
    /// The interned string's id.
    pub(crate) id: u64,
}

impl Literal {
    /// Whether `s`, a message that came out in one piece, is this literal.
    #[inline(always)]
    pub(crate) fn is(&self, s: &str) -> bool {
        s.len() == self.text.len() && (s.as_ptr().addr() == self.addr || s == self.text)
    }
}

/// `text`, kept for the life of the process: one copy for each distinct literal message any
/// layer has seen (a literal is program text, so their number is bounded by the program's
/// callsites).
fn kept(text: &str) -> &'static str {
    static KEPT: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&text) = kept.get(text) {
        return text;
    }
    let text: &'static str = Box::leak(Box::from(text));
    kept.insert(text);
    text
}

/// What records of a callsite need of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    /// The journal's id of the callsite.
    pub(crate) id: u64,
    /// Its interned message, if it has one.
    pub(crate) message: Message,
}

/// One cached mapping. `table == 0` marks an empty slot (tables are numbered from 1). Fields
/// are read one by one: a probe reads the table and key, a hit the site.
struct Slot {
    table: Cell<u64>,
    key: Cell<usize>,
    site: Cell<Site>,
}

impl Slot {
    const fn empty() -> Slot {
        Slot {
            table: Cell::new(0),
            key: Cell::new(0),
            site: Cell::new(Site {
                id: 0,
                message: None,
            }),
        }
    }
}

/// A callsite in a layer's table.
struct Entry {
    id: u64,
    /// `None` until an event of the callsite was seen (events only: spans have `Some(None)`).
    message: Option<Message>,
}

/// Slots in each thread's cache of bridged `log` call sites.
const BRIDGED_SLOTS: usize = 64;

/// A bridged `log` call site: what tells it from the others.
#[derive(Clone, PartialEq, Eq, Hash)]
struct LogSite {
    level: Level,
    target: Box<str>,
    module_path: Option<Box<str>>,
    file: Option<Box<str>>,
    line: Option<u32>,
}

impl LogSite {
    fn of(meta: &Metadata<'_>) -> Self {
        Self {
            level: *meta.level(),
            target: meta.target().into(),
            module_path: meta.module_path().map(Into::into),
            file: meta.file().map(Into::into),
            line: meta.line(),
        }
    }

    /// Whether `meta` is this call site's, comparing without allocating.
    fn is(&self, meta: &Metadata<'_>) -> bool {
        self.line == meta.line()
            && self.level == *meta.level()
            && *self.target == *meta.target()
            && self.module_path.as_deref() == meta.module_path()
            && self.file.as_deref() == meta.file()
    }
}

/// A slot of a thread's cache of bridged call sites: the table, the call site, its id.
type BridgedSlot = Option<(u64, LogSite, u64)>;

thread_local! {
    static CACHE: [Slot; SLOTS] = const { [const { Slot::empty() }; SLOTS] };
    static BRIDGED: RefCell<Vec<BridgedSlot>> = const { RefCell::new(Vec::new()) };
}

/// A layer's callsite table. See the [module docs](self).
pub(crate) struct Callsites {
    table: u64,
    ids: Mutex<HashMap<usize, Entry>>,
    /// Bridged `log` call sites and their ids.
    bridged: Mutex<HashMap<LogSite, u64>>,
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
            bridged: Mutex::new(HashMap::new()),
        }
    }

    /// The journal's id for a bridged `log` record's callsite, `meta` being the record's
    /// normalized metadata (its own target, module, file and line; the message its only
    /// field), registering it on first use.
    pub(crate) fn bridged(&self, journal: &Journal, meta: &Metadata<'_>) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.table.hash(&mut hasher);
        meta.level().hash(&mut hasher);
        meta.target().hash(&mut hasher);
        meta.module_path().hash(&mut hasher);
        meta.file().hash(&mut hasher);
        meta.line().hash(&mut hasher);
        let index = (hasher.finish() % BRIDGED_SLOTS as u64) as usize;
        let cached = BRIDGED.try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            match cache.get(index) {
                Some(Some((table, site, id))) if *table == self.table && site.is(meta) => Some(*id),
                _ => None,
            }
        });
        if let Ok(Some(id)) = cached {
            return id;
        }
        let site = LogSite::of(meta);
        let id = {
            let mut bridged = self.bridged.lock().unwrap_or_else(PoisonError::into_inner);
            *bridged
                .entry(site.clone())
                .or_insert_with(|| journal.register_callsite(&callsite(meta)))
        };
        // Fails only while the thread's locals are torn down, or while this thread is in
        // the cache already; the next record asks again.
        let _ = BRIDGED.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                if cache.is_empty() {
                    cache.resize(BRIDGED_SLOTS, None);
                }
                cache[index] = Some((self.table, site, id));
            }
        });
        id
    }

    /// Stops this thread from giving `meta`'s callsite an interned message: its messages
    /// differ from event to event.
    #[cold]
    pub(crate) fn forget_message(&self, meta: &'static Metadata<'static>) {
        let key = key(meta);
        let home = slot_index(self.table, key);
        let _ = CACHE.try_with(|cache| {
            for probe in 0..PROBES {
                let slot = &cache[(home + probe) % SLOTS];
                if slot.table.get() == self.table && slot.key.get() == key {
                    let mut site = slot.site.get();
                    site.message = None;
                    slot.site.set(site);
                    return;
                }
            }
        });
    }

    /// What records of `meta`'s callsite need, registering it on first use; `event` is the
    /// event being recorded (`None` for spans).
    #[inline]
    pub(crate) fn site(
        &self,
        journal: &Journal,
        meta: &'static Metadata<'static>,
        event: Option<&Event<'_>>,
    ) -> Site {
        let key = key(meta);
        let home = slot_index(self.table, key);
        let hit = CACHE.try_with(|cache| {
            for probe in 0..PROBES {
                let slot = &cache[(home + probe) % SLOTS];
                let table = slot.table.get();
                if table == self.table && slot.key.get() == key {
                    return Some(slot.site.get());
                }
                if table == 0 {
                    break;
                }
            }
            None
        });
        match hit {
            Ok(Some(site)) => site,
            _ => self.miss(journal, meta, home, event),
        }
    }

    #[cold]
    #[inline(never)]
    fn miss(
        &self,
        journal: &Journal,
        meta: &'static Metadata<'static>,
        home: usize,
        event: Option<&Event<'_>>,
    ) -> Site {
        let site = self.lookup(journal, meta, event);
        // Fails only while the thread's locals are torn down; the next event asks again.
        let _ = CACHE.try_with(|cache| {
            // The first free slot of the run, or else the home slot.
            let index = (0..PROBES)
                .map(|probe| (home + probe) % SLOTS)
                .find(|&i| cache[i].table.get() == 0)
                .unwrap_or(home);
            let slot = &cache[index];
            slot.table.set(self.table);
            slot.key.set(key(meta));
            slot.site.set(site);
        });
        site
    }

    /// The callsite from the table, registered if new, its message interned if this is its
    /// first event.
    fn lookup(
        &self,
        journal: &Journal,
        meta: &'static Metadata<'static>,
        event: Option<&Event<'_>>,
    ) -> Site {
        let id = {
            let mut ids = self.lock();
            let entry = self.entry(&mut ids, journal, meta);
            match entry.message {
                Some(message) => {
                    return Site {
                        id: entry.id,
                        message,
                    };
                }
                None => entry.id,
            }
        };
        let Some(event) = event else {
            return Site { id, message: None };
        };
        // Formatted without the lock: a message's `Debug` may log.
        let literal = literal_message(event);
        let mut ids = self.lock();
        let entry = self.entry(&mut ids, journal, meta);
        let message = *entry.message.get_or_insert_with(|| {
            literal.map(|(text, addr)| Literal {
                addr,
                text: kept(&text),
                id: journal.intern(&text),
            })
        });
        Site { id, message }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Entry>> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The table's entry for `meta`, registering the callsite with the journal if new.
    /// Registered under the lock, so that whoever reads the id from the table does so after
    /// the definition is with the journal.
    fn entry<'t>(
        &self,
        ids: &'t mut HashMap<usize, Entry>,
        journal: &Journal,
        meta: &'static Metadata<'static>,
    ) -> &'t mut Entry {
        ids.entry(key(meta)).or_insert_with(|| Entry {
            id: journal.register_callsite(&callsite(meta)),
            message: if meta.is_event() { None } else { Some(None) },
        })
    }

    /// The journal's id for `meta`'s callsite.
    #[cfg(test)]
    fn id(&self, journal: &Journal, meta: &'static Metadata<'static>) -> u64 {
        self.site(journal, meta, None).id
    }

    /// Registers `meta`'s callsite with the journal unless that was done already; its id.
    pub(crate) fn register(&self, journal: &Journal, meta: &'static Metadata<'static>) -> u64 {
        self.entry(&mut self.lock(), journal, meta).id
    }
}

/// The event's `message`, if it is a literal: it formats in one piece, whose bytes lie in
/// read-only static data. Its text and the address of its bytes.
fn literal_message(event: &Event<'_>) -> Option<(String, usize)> {
    struct Find(Option<(String, usize)>);
    struct Pieces {
        text: String,
        addr: usize,
        pieces: usize,
    }
    impl fmt::Write for Pieces {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if s.is_empty() {
                return Ok(());
            }
            self.pieces += 1;
            if self.pieces > 1 {
                // Assembled from pieces: not a literal.
                return Err(fmt::Error);
            }
            self.addr = s.as_ptr().addr();
            self.text.push_str(s);
            Ok(())
        }
    }
    impl Visit for Find {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" && self.0.is_none() {
                let mut w = Pieces {
                    text: String::new(),
                    addr: 0,
                    pieces: 0,
                };
                if fmt::write(&mut w, format_args!("{value:?}")).is_ok()
                    && w.pieces == 1
                    && statics::read_only_static(w.addr, w.text.len())
                {
                    self.0 = Some((w.text, w.addr));
                }
            }
        }
    }
    let mut find = Find(None);
    event.record(&mut find);
    find.0
}

/// The journal's description of a tracing callsite.
pub(crate) fn callsite<'a>(meta: &Metadata<'a>) -> wire::Callsite<'a> {
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
