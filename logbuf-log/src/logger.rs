//! The [`Logger`]: `log::Log` on a journal, with callsites interned in a thread-local cache.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use log::kv::{self, VisitSource, VisitValue};
use log::{LevelFilter, Log, Metadata, Record};
use logbuf_journal::encode::Encoder;
use logbuf_journal::wire::{self, CallsiteKind};
use logbuf_journal::{Journal, Stamp, Written};

use crate::reload::{self, ReloadHandle, Shared};

/// Keys a record can carry before the key list spills to the heap.
const INLINE_KEYS: usize = 16;
/// Callsites one thread caches per logger before the cache is cleared (it fills again from the
/// logger's shared table). Only programs with targets or keys made at run time reach it.
const CACHE_LIMIT: usize = 4096;
/// Loggers one thread keeps a cache for; a program has one, tests make many.
const CACHED_LOGGERS: usize = 8;
/// Guess at a formatted message's length, in bytes.
const FORMATTED_GUESS: usize = 128;
/// Upper bound of the room a callsite's records get beyond the guesses, which grows (from 0)
/// each time one of its records turns out longer than its claim.
const MAX_EXTRA: usize = 1 << 16;
/// Bytes an event header takes at most: kind, three varints of up to 10 bytes, the parent and
/// the value count.
const HEADER_BOUND: usize = 1 + 10 + 10 + 10 + 1 + 5;
/// Guess per key-value pair.
const KV_GUESS: usize = 24;

/// A `log::Log` that encodes records into a [`Journal`].
///
/// Made by [`Builder::build`](crate::Builder::build) (to call it directly or wrap it) or
/// installed as the global logger by [`Builder::init`](crate::Builder::init).
///
/// On the logging thread a record costs a level check, a lookup of its callsite in a
/// thread-local cache (no lock after the callsite's first record on the thread), and the
/// encoding of the message and key-values straight into the thread's ring: a message without
/// arguments is copied, one with arguments is formatted in place, key-values of primitive types
/// are stored as typed values. Nothing is allocated for a record whose encoding fits the
/// ring, unless a `Display` or `Debug` impl of an argument allocates or the filter has a
/// message pattern (`RUST_LOG=info/pattern`, which env_logger also matches against the
/// formatted message).
///
/// Its filter can be changed while it runs, through a [`ReloadHandle`]
/// ([`Logger::reload_handle`]).
pub struct Logger {
    id: u64,
    journal: Journal,
    /// The filter, which a [`ReloadHandle`] may replace.
    filter: Arc<Shared>,
    /// Callsites of all threads, by content: the journal's id for each.
    interned: Mutex<HashMap<SiteKey, u64>>,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("journal", &self.journal)
            .field("filter", &*self.filter)
            .finish_non_exhaustive()
    }
}

impl Logger {
    pub(crate) fn new(journal: Journal, filter: env_filter::Filter, message_filter: bool) -> Self {
        static NEXT_LOGGER: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_LOGGER.fetch_add(1, Ordering::Relaxed),
            journal,
            filter: Arc::new(Shared::new(filter, message_filter)),
            interned: Mutex::new(HashMap::new()),
        }
    }

    /// The most verbose level any directive of the filter lets through (now: a
    /// [`ReloadHandle`] may change it); the builder sets `log::set_max_level` to it.
    pub fn max_level(&self) -> LevelFilter {
        reload::max_level(self.filter.word())
    }

    /// A handle that changes this logger's filter while it runs, from any thread.
    pub fn reload_handle(&self) -> ReloadHandle {
        ReloadHandle::new(self.filter.clone())
    }

    /// The shared filter, for the builder to install the logger with.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.filter
    }

    /// The journal records go to, to share with other front ends (the `tracing` layer).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Finds the record's callsite: in the thread's cache, or else in the shared table (and
    /// then in the journal, registering it).
    /// The decision cached is the one made under `generation` of the filter.
    #[inline]
    fn site(&self, record: &Record<'_>, keys: &[&str], generation: u64) -> Site {
        let hash = site_hash(record, keys);
        let cached = CACHES.try_with(|caches| {
            let caches = caches.try_borrow().ok()?;
            let cache = caches.iter().find(|c| c.logger == self.id)?;
            cache
                .get(hash, record, keys)
                .filter(|s| s.site.generation == generation)
                .map(|s| Site {
                    extra: s.extra.get(),
                    ..s.site
                })
        });
        match cached {
            Ok(Some(site)) => site,
            // Not cached yet, decided under an earlier filter, or the thread's cache is gone
            // (thread teardown) or in use (a record logged while another is looked up).
            Ok(None) | Err(_) => self.site_slow(record, keys, hash, generation),
        }
    }

    #[cold]
    #[inline(never)]
    fn site_slow(&self, record: &Record<'_>, keys: &[&str], hash: u64, generation: u64) -> Site {
        let key = SiteKey::of(record, keys);
        // The filter of `generation` or a later one: a decision is never cached under a
        // generation later than the filter it was made with.
        let enabled = self.filter.filter().enabled(record.metadata());
        let id = if enabled {
            let mut interned = self.interned.lock().unwrap_or_else(PoisonError::into_inner);
            match interned.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.register(&key);
                    interned.insert(key.clone(), id);
                    id
                }
            }
        } else {
            0
        };
        // Interned once per thread and callsite; the journal gives the same text the same id.
        let message = record
            .args()
            .as_str()
            .filter(|_| enabled)
            .map(|m| (m, self.journal.intern(m)));
        let site = Site {
            id,
            enabled,
            extra: 0,
            message,
            generation,
        };
        let cached = CachedSite {
            hash,
            level: record.level(),
            line: record.line(),
            target: key.target.clone().into_boxed_str(),
            target_static: record
                .module_path_static()
                .filter(|m| std::ptr::eq(*m, record.target())),
            module: Loc::of(record.module_path_static(), key.module.as_deref()),
            file: Loc::of(record.file_static(), key.file.as_deref()),
            keys: key
                .keys
                .iter()
                .map(|k| k.clone().into_boxed_str())
                .collect(),
            site,
            extra: Cell::new(0),
        };
        let _ = CACHES.try_with(|caches| {
            let Ok(mut caches) = caches.try_borrow_mut() else {
                return;
            };
            let index = match caches.iter().position(|c| c.logger == self.id) {
                Some(i) => i,
                None => {
                    if caches.len() >= CACHED_LOGGERS {
                        // The oldest logger's cache: most likely of a logger that is gone.
                        caches.remove(0);
                    }
                    caches.push(ThreadCache::new(self.id));
                    caches.len() - 1
                }
            };
            caches[index].insert(cached, record, keys);
        });
        site
    }

    fn register(&self, key: &SiteKey) -> u64 {
        let name = match (&key.file, key.line) {
            (Some(file), Some(line)) => format!("event {file}:{line}"),
            (Some(file), None) => format!("event {file}"),
            _ => format!("event {}", key.target),
        };
        let mut fields = Vec::with_capacity(1 + key.keys.len());
        fields.push("message");
        fields.extend(key.keys.iter().map(String::as_str));
        self.journal.register_callsite(&wire::Callsite {
            id: 0,
            kind: CallsiteKind::Event,
            level: wire_level(key.level),
            target: &key.target,
            name: &name,
            module_path: key.module.as_deref(),
            file: key.file.as_deref(),
            line: key.line,
            fields,
        })
    }

    /// Remembers that records of this callsite need more room than guessed.
    #[cold]
    fn grow_extra(&self, record: &Record<'_>, keys: &[&str]) {
        if keys.is_empty()
            && let Some(fast) = Fast::of(self.id, record)
            && let Some(mut site) = fast.get()
        {
            site.extra = (site.extra * 2).clamp(64, MAX_EXTRA);
            fast.set(site);
        }
        let hash = site_hash(record, keys);
        let _ = CACHES.try_with(|caches| {
            let Ok(caches) = caches.try_borrow() else {
                return;
            };
            if let Some(site) = caches
                .iter()
                .find(|c| c.logger == self.id)
                .and_then(|c| c.get(hash, record, keys))
            {
                site.extra.set((site.extra.get() * 2).clamp(64, MAX_EXTRA));
            }
        });
    }
}

impl Logger {
    #[inline]
    fn log_with_keys(&self, record: &Record<'_>, keys: &[&str], word: u64) {
        self.write(
            record,
            keys,
            self.site(record, keys, reload::generation(word)),
            word,
        );
    }

    /// `word` is the filter's ([`Shared::word`]) as read for this record.
    #[inline(always)]
    fn write(&self, record: &Record<'_>, keys: &[&str], site: Site, word: u64) {
        if !site.enabled || (reload::message_filter(word) && !self.filter.filter().matches(record))
        {
            return;
        }
        let n_keys = keys.len();
        let args = *record.args();
        let message = args.as_str();
        let guess = HEADER_BOUND
            + message.map_or(FORMATTED_GUESS, |m| m.len() + 5)
            + n_keys * KV_GUESS
            + site.extra;
        let mut calls = 0u32;
        let written =
            self.journal
                .write_event(site.id, guess, |enc: &mut Encoder<'_>, at: Stamp| {
                    calls += 1;
                    enc.event(site.id, at.time, at.thread, None, 1 + n_keys);
                    match (message, site.message) {
                        // The same literal (address and length) as the one interned.
                        (Some(m), Some((text, id))) if std::ptr::eq(m, text) => {
                            enc.value_interned(id)
                        }
                        (Some(m), _) => enc.value_str(m),
                        (None, _) => formatted(enc, args),
                    }
                    if n_keys > 0 {
                        key_values(enc, record, n_keys);
                    }
                });
        if calls > 1 && written == Written::Committed {
            self.grow_extra(record, keys);
        }
    }
}

/// A message with arguments, formatted in place; out of line, so that the closure
/// [`Logger::write`] hands the journal stays small enough to inline for literals.
#[inline(never)]
fn formatted(enc: &mut Encoder<'_>, args: fmt::Arguments<'_>) {
    enc.value_debug(args);
}

/// The record's key-values, one value per key.
#[inline(never)]
fn key_values(enc: &mut Encoder<'_>, record: &Record<'_>, n_keys: usize) {
    let mut values = EncodeValues { enc, left: n_keys };
    let _ = record.key_values().visit(&mut values);
    // A source that yields fewer pairs the second time: the record still has one value per
    // field.
    for _ in 0..values.left {
        values.enc.value_empty();
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        reload::level_passes(self.filter.word(), metadata.level())
            && self.filter.filter().enabled(metadata)
    }

    #[inline]
    fn log(&self, record: &Record<'_>) {
        // One atomic load: the level, and whether the filter changed since a callsite's
        // decision was cached.
        let word = self.filter.word();
        if !reload::level_passes(word, record.level()) {
            return;
        }
        let generation = reload::generation(word);
        if record.key_values().count() == 0 {
            let site = match Fast::of(self.id, record) {
                Some(fast) => match fast.get().filter(|s| s.generation == generation) {
                    Some(site) => site,
                    None => {
                        let site = self.site(record, &[], generation);
                        fast.set(site);
                        site
                    }
                },
                None => self.site(record, &[], generation),
            };
            self.write(record, &[], site, word);
        } else {
            let mut keys = KeyList::new();
            let _ = record.key_values().visit(&mut keys);
            self.log_with_keys(record, keys.as_slice(), word);
        }
    }

    fn flush(&self) {
        self.journal.flush();
    }
}

/// What a record needs of its callsite.
#[derive(Clone, Copy)]
struct Site {
    id: u64,
    enabled: bool,
    extra: usize,
    /// The message without arguments first seen at the callsite, and the id the journal
    /// interned it under: a record with the same `'static` text refers to it by id.
    message: Option<(&'static str, u64)>,
    /// The filter's generation `enabled` was decided under.
    generation: u64,
}

// === the thread-local caches ===

/// Slots of the thread-local table for records made by `log`'s macros (a power of two).
const FAST_SLOTS: usize = 64;

/// A callsite in [`FAST`]: the addresses and lengths of its `'static` file and module path
/// (which is also its target), its line and level. `logger == 0` marks an empty slot. Fields
/// are read one by one, not copied as a whole.
struct FastSlot {
    logger: Cell<u64>,
    file: Cell<(usize, usize)>,
    module: Cell<(usize, usize)>,
    /// Line and level, as [`Fast::place`].
    place: Cell<u64>,
    site: Cell<Site>,
}

impl FastSlot {
    const fn empty() -> FastSlot {
        FastSlot {
            logger: Cell::new(0),
            file: Cell::new((0, 0)),
            module: Cell::new((0, 0)),
            place: Cell::new(0),
            site: Cell::new(Site {
                id: 0,
                enabled: false,
                extra: 0,
                message: None,
                generation: 0,
            }),
        }
    }
}

thread_local! {
    /// Each thread's direct-mapped table for records without key-values whose file and
    /// module path are `'static` and whose target is the module path, as `log`'s macros make
    /// them: a few loads of thread-local memory find such a record's callsite. A `'static`
    /// string's address and length stand for its text (static memory is never reused for
    /// other text). Other records, and records whose slot another callsite holds, go through
    /// [`CACHES`].
    static FAST: [FastSlot; FAST_SLOTS] = const { [const { FastSlot::empty() }; FAST_SLOTS] };
}

/// A record's key and place in [`FAST`].
struct Fast {
    logger: u64,
    file: (usize, usize),
    module: (usize, usize),
    place: u64,
    index: usize,
}

impl Fast {
    /// The record's key, if it is a record [`FAST`] holds.
    #[inline]
    fn of(logger: u64, record: &Record<'_>) -> Option<Fast> {
        let file = record.file_static()?;
        let module = record.module_path_static()?;
        if !std::ptr::eq(module, record.target()) {
            return None;
        }
        let line = record.line().unwrap_or(0);
        let file = (file.as_ptr() as usize, file.len());
        Some(Fast {
            logger,
            file,
            module: (module.as_ptr() as usize, module.len()),
            place: u64::from(line) << 8 | record.level() as u64,
            // Callsites of one file differ in their lines; files in their addresses.
            index: (file.0 >> 3 ^ line as usize) % FAST_SLOTS,
        })
    }

    /// The callsite, if the slot holds it.
    #[inline]
    fn get(&self) -> Option<Site> {
        FAST.try_with(|slots| {
            let slot = &slots[self.index];
            (slot.logger.get() == self.logger
                && slot.place.get() == self.place
                && slot.file.get() == self.file
                && slot.module.get() == self.module)
                .then(|| slot.site.get())
        })
        .ok()
        .flatten()
    }

    /// Puts the callsite in the slot (a callsite there before is looked up in [`CACHES`]
    /// from then on, until it takes the slot back).
    fn set(&self, site: Site) {
        let _ = FAST.try_with(|slots| {
            let slot = &slots[self.index];
            slot.logger.set(self.logger);
            slot.file.set(self.file);
            slot.module.set(self.module);
            slot.place.set(self.place);
            slot.site.set(site);
        });
    }
}

thread_local! {
    static CACHES: RefCell<Vec<ThreadCache>> = const { RefCell::new(Vec::new()) };
}

/// One thread's callsites for one logger: a direct-mapped table by [`site_hash`], and a map
/// for the callsites whose slot is taken.
struct ThreadCache {
    logger: u64,
    slots: Box<[Option<CachedSite>]>,
    overflow: HashMap<u64, Vec<CachedSite>, BuildHasherDefault<PassThrough>>,
    len: usize,
}

/// Slots of a [`ThreadCache`]'s table (a power of two).
const SLOTS: usize = 256;

impl ThreadCache {
    fn new(logger: u64) -> Self {
        Self {
            logger,
            slots: (0..SLOTS).map(|_| None).collect(),
            overflow: HashMap::default(),
            len: 0,
        }
    }

    #[inline]
    fn slot(hash: u64) -> usize {
        // The mixer leaves its best bits at the top.
        (hash >> (64 - SLOTS.trailing_zeros())) as usize
    }

    #[inline]
    fn get(&self, hash: u64, record: &Record<'_>, keys: &[&str]) -> Option<&CachedSite> {
        match &self.slots[Self::slot(hash)] {
            Some(site) if site.matches(hash, record, keys) => Some(site),
            _ if self.overflow.is_empty() => None,
            _ => self
                .overflow
                .get(&hash)?
                .iter()
                .find(|s| s.matches(hash, record, keys)),
        }
    }

    /// Caches `site` (of `record` and `keys`), in place of the callsite's entry decided under
    /// an earlier filter if there is one.
    fn insert(&mut self, site: CachedSite, record: &Record<'_>, keys: &[&str]) {
        let slot = &mut self.slots[Self::slot(site.hash)];
        let stale = match slot {
            Some(old) if old.matches(site.hash, record, keys) => Some(old),
            _ => self.overflow.get_mut(&site.hash).and_then(|sites| {
                sites
                    .iter_mut()
                    .find(|s| s.matches(site.hash, record, keys))
            }),
        };
        if let Some(old) = stale {
            // The room its records turned out to need still holds.
            old.site = Site {
                extra: 0,
                ..site.site
            };
            return;
        }
        if self.len >= CACHE_LIMIT {
            self.slots.iter_mut().for_each(|s| *s = None);
            self.overflow.clear();
            self.len = 0;
        }
        self.len += 1;
        match &mut self.slots[Self::slot(site.hash)] {
            free @ None => *free = Some(site),
            Some(_) => self.overflow.entry(site.hash).or_default().push(site),
        }
    }
}

/// A module path or file as first seen: a `'static` string is compared by address first.
enum Loc {
    None,
    Static(&'static str),
    Owned(Box<str>),
}

impl Loc {
    fn of(static_str: Option<&'static str>, s: Option<&str>) -> Self {
        match (static_str, s) {
            (Some(s), _) => Loc::Static(s),
            (None, Some(s)) => Loc::Owned(s.into()),
            (None, None) => Loc::None,
        }
    }

    #[inline]
    fn matches(&self, static_str: Option<&'static str>, s: Option<&str>) -> bool {
        match (self, static_str) {
            (Loc::Static(a), Some(b)) if std::ptr::eq(*a, b) => true,
            (Loc::None, _) => s.is_none(),
            (Loc::Static(a), _) => s == Some(*a),
            (Loc::Owned(a), _) => s == Some(&**a),
        }
    }
}

struct CachedSite {
    hash: u64,
    level: log::Level,
    line: Option<u32>,
    target: Box<str>,
    /// The target as a `'static` string, when it was the record's static module path (as
    /// `log`'s macros make it): a record whose target has the same address and length has the
    /// same text, so the text need not be compared.
    target_static: Option<&'static str>,
    module: Loc,
    file: Loc,
    keys: Box<[Box<str>]>,
    /// The decision, id and message, as of [`Site::generation`] (its `extra` is unused: see
    /// [`CachedSite::extra`]).
    site: Site,
    /// Room beyond the guesses that this callsite's records turned out to need.
    extra: Cell<usize>,
}

impl CachedSite {
    #[inline(always)]
    fn matches(&self, hash: u64, record: &Record<'_>, keys: &[&str]) -> bool {
        self.hash == hash
            && self.level == record.level()
            && self.line == record.line()
            && self.file.matches(record.file_static(), record.file())
            && self
                .module
                .matches(record.module_path_static(), record.module_path())
            && (self
                .target_static
                .is_some_and(|t| std::ptr::eq(t, record.target()))
                || *self.target == *record.target())
            && self.keys.len() == keys.len()
            && (keys.is_empty() || self.keys.iter().zip(keys).all(|(a, b)| **a == **b))
    }
}

/// A callsite by content: what the logger's shared table is keyed by.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SiteKey {
    level: log::Level,
    target: String,
    module: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    keys: Vec<String>,
}

impl SiteKey {
    fn of(record: &Record<'_>, keys: &[&str]) -> Self {
        Self {
            level: record.level(),
            target: record.target().to_owned(),
            module: record.module_path().map(str::to_owned),
            file: record.file().map(str::to_owned),
            line: record.line(),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        }
    }
}

/// Mixes the addresses and lengths of a record's strings with its level and line: cheap, and
/// the same for every record of a callsite whose strings are `'static`. Entries are compared
/// by content, so equal hashes of different callsites only share a bucket.
#[inline]
fn site_hash(record: &Record<'_>, keys: &[&str]) -> u64 {
    // The file's address and the line tell most call sites apart; the target's address and
    // length and the level cover records made by hand. One multiplication for all of them.
    let target = record.target();
    let file = record.file_static().map_or(0, |f| f.as_ptr() as u64);
    let place = u64::from(record.line().unwrap_or(0)) << 40 | (record.level() as u64) << 32;
    let mut h = Mix(file ^ place ^ (target.as_ptr() as u64).rotate_left(17) ^ target.len() as u64);
    h.add(0);
    for key in keys {
        h.add(key.as_ptr() as u64 ^ ((key.len() as u64) << 48));
    }
    h.0
}

/// A multiply-rotate mixer (the FxHash step): enough to spread addresses over a table.
#[derive(Default)]
struct Mix(u64);

impl Mix {
    #[inline(always)]
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

// === key-values ===

/// The keys of a record, in order: on the stack, or all in `spill` once there are more than
/// [`INLINE_KEYS`].
struct KeyList<'kvs> {
    inline: [&'kvs str; INLINE_KEYS],
    len: usize,
    spill: Vec<&'kvs str>,
}

impl<'kvs> KeyList<'kvs> {
    fn new() -> Self {
        Self {
            inline: [""; INLINE_KEYS],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn as_slice(&self) -> &[&'kvs str] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }
}

impl<'kvs> VisitSource<'kvs> for KeyList<'kvs> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, _: kv::Value<'kvs>) -> Result<(), kv::Error> {
        // `log` keys are borrowed for the source's lifetime; a key that ever is not is named
        // by a question mark.
        let key = key.to_borrowed_str().unwrap_or("?");
        if self.len < INLINE_KEYS {
            self.inline[self.len] = key;
            self.len += 1;
        } else {
            if self.spill.is_empty() {
                self.spill.extend_from_slice(&self.inline);
            }
            self.spill.push(key);
        }
        Ok(())
    }
}

/// Writes a record's values, as typed as `log` gives them.
struct EncodeValues<'e, 'b> {
    enc: &'e mut Encoder<'b>,
    /// Values still expected: a source that yields more pairs than the first time is cut off.
    left: usize,
}

impl<'kvs> VisitSource<'kvs> for EncodeValues<'_, '_> {
    fn visit_pair(&mut self, _: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        if self.left == 0 {
            return Ok(());
        }
        self.left -= 1;
        let mut typed = EncodeValue {
            enc: self.enc,
            done: false,
        };
        let _ = value.visit(&mut typed);
        if !typed.done {
            self.enc.value_debug(format_args!("{value}"));
        }
        Ok(())
    }
}

/// One value: [`EncodeValue::done`] tells whether the visitor wrote it.
struct EncodeValue<'e, 'b> {
    enc: &'e mut Encoder<'b>,
    done: bool,
}

impl<'v> VisitValue<'v> for EncodeValue<'_, '_> {
    fn visit_any(&mut self, value: kv::Value<'_>) -> Result<(), kv::Error> {
        self.enc.value_debug(format_args!("{value}"));
        self.done = true;
        Ok(())
    }

    fn visit_null(&mut self) -> Result<(), kv::Error> {
        self.enc.value_empty();
        self.done = true;
        Ok(())
    }

    fn visit_u64(&mut self, value: u64) -> Result<(), kv::Error> {
        self.enc.value_u64(value);
        self.done = true;
        Ok(())
    }

    fn visit_i64(&mut self, value: i64) -> Result<(), kv::Error> {
        self.enc.value_i64(value);
        self.done = true;
        Ok(())
    }

    fn visit_u128(&mut self, value: u128) -> Result<(), kv::Error> {
        self.enc.value_u128(value);
        self.done = true;
        Ok(())
    }

    fn visit_i128(&mut self, value: i128) -> Result<(), kv::Error> {
        self.enc.value_i128(value);
        self.done = true;
        Ok(())
    }

    fn visit_f64(&mut self, value: f64) -> Result<(), kv::Error> {
        self.enc.value_f64(value);
        self.done = true;
        Ok(())
    }

    fn visit_bool(&mut self, value: bool) -> Result<(), kv::Error> {
        self.enc.value_bool(value);
        self.done = true;
        Ok(())
    }

    fn visit_str(&mut self, value: &str) -> Result<(), kv::Error> {
        self.enc.value_str(value);
        self.done = true;
        Ok(())
    }

    fn visit_char(&mut self, value: char) -> Result<(), kv::Error> {
        self.enc.value_str(value.encode_utf8(&mut [0; 4]));
        self.done = true;
        Ok(())
    }
}

/// `log`'s level as the journal's.
fn wire_level(level: log::Level) -> wire::Level {
    match level {
        log::Level::Error => wire::Level::Error,
        log::Level::Warn => wire::Level::Warn,
        log::Level::Info => wire::Level::Info,
        log::Level::Debug => wire::Level::Debug,
        log::Level::Trace => wire::Level::Trace,
    }
}
