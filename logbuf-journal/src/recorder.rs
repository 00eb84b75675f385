//! The flight recorder: debug and trace events kept in memory, written only around an error.
//!
//! In production a program logs at `info`, and when something fails the `debug` lines that
//! would explain it were never written. With a flight recorder the program logs `debug` (and
//! `trace`) all the time, at the logging thread's usual cost, and the *worker* decides what is
//! worth keeping: events below a level ([`FlightRecorder::hold_below`], `INFO` by default) are
//! held in a bounded window in memory instead of being written. When a trigger comes, the
//! window's events are written (in the order they were logged, with their original timestamps,
//! threads and spans) right before the trigger, and so is everything logged during the next
//! moments ([`FlightRecorder::after`]).
//!
//! The window is bounded by age ([`FlightRecorder::window`], 10 s by default: events older
//! than that when a trigger comes are not written) and by bytes ([`FlightRecorder::bytes`],
//! 8 MiB by default: past it the oldest events go). Events that leave the window without a
//! trigger are *discarded by design*: counted in [`Stats::discarded`](crate::Stats::discarded)
//! and in the log itself ([`Discarded`] records, which `logbuf stats` sums), apart from the
//! drops of full rings.
//!
//! Triggers:
//!
//! - an event at or above a level ([`FlightRecorder::trigger_at`], `ERROR` by default);
//! - [`Journal::dump`](crate::Journal::dump);
//! - a panic: a journal built with a flight recorder installs
//!   [`Journal::install_panic_hook`](crate::Journal::install_panic_hook), which writes the
//!   panic and dumps the window (unless [`FlightRecorder::dump_on_panic`] says not to);
//! - `SIGUSR1`, with [`FlightRecorder::dump_on_sigusr1`] (Unix).
//!
//! A dump says where the window starts: before its first event comes an `INFO` event of
//! target `logbuf::recorder` (callsite id [`MARKER_CALLSITE`], thread 0), stamped with the
//! first held event's time, whose fields say how many events follow (`held`) and how many were
//! discarded by design since the previous dump (`discarded`). Every sink shows it as it shows
//! any event, and so does `logbuf cat`.
//!
//! A recorder serves the whole journal ([`Builder::flight_recorder`](crate::Builder::flight_recorder))
//! or one sink ([`Sink::recorded`], a [`Recorded`] sink), so one file
//! can take everything at `debug` while another gets `debug` only around errors.
//!
//! ```
//! use std::time::Duration;
//! use logbuf_journal::Journal;
//! use logbuf_journal::recorder::FlightRecorder;
//! use logbuf_journal::wire::Level;
//!
//! # let dir = tempfile::tempdir()?;
//! let (journal, _guard) = Journal::builder()
//!     .file(dir.path().join("app.lbf"))?
//!     .flight_recorder(
//!         FlightRecorder::new()
//!             .hold_below(Level::Info)
//!             .window(Duration::from_secs(10))
//!             .bytes(8 << 20)
//!             .after(Duration::from_secs(2)),
//!     )
//!     .build()?;
//! // ... debug events are held; an error writes the last 10 s of them before it ...
//! journal.dump(); // or write the window now
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Span records are never held: a span's creation, values, enters and exits go out at once, so
//! sinks know the spans of the held events when those are written. A span's close is held back
//! while events in it are held, and goes out after them. If the program reuses the id of such
//! a span before they go out, its close goes out then, and the held events in it are written
//! without it as parent rather than under the new span.
//!
//! Memory: the held records and a 13-byte header each fill one buffer of
//! [`FlightRecorder::bytes`] bytes, allocated once; besides it, the recorder keeps one map
//! entry per span that held events are in and per callsite.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::IdMap;
use crate::clock;
use crate::sink::{Entry, Sink};
use crate::wire::{Callsite, CallsiteKind, Discarded, Event, Level, Record, Value};

/// The callsite id of the marker event a dump starts with (target `logbuf::recorder`). The
/// journal gives its callsites ids from 1 upwards, so this one is never taken.
pub const MARKER_CALLSITE: u64 = 1 << 62;

/// The target of the marker event.
pub const MARKER_TARGET: &str = "logbuf::recorder";

/// Bytes of a held record's header in the recorder's buffer: length (4), time (8), flags (1).
const HEADER: usize = 13;
/// The record is a span close held back for the events in it.
const FLAG_CLOSE: u8 = 1;
/// A held span close already written (its id was reused): skip it.
const FLAG_DEAD: u8 = 2;
/// A held event whose parent span was closed and its id reused: written without a parent.
const FLAG_ORPHAN: u8 = 4;

/// Settings of a flight recorder; see the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlightRecorder {
    pub(crate) hold_below: Level,
    pub(crate) trigger: Option<Level>,
    pub(crate) window: Duration,
    pub(crate) bytes: usize,
    pub(crate) after: Duration,
    pub(crate) dump_on_panic: bool,
    pub(crate) dump_on_sigusr1: bool,
}

impl Default for FlightRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl FlightRecorder {
    /// The defaults: events below `INFO` held, for 10 s and up to 8 MiB; an `ERROR` event
    /// triggers, and so does a panic; what comes in the 2 s after a trigger is written too.
    pub const fn new() -> Self {
        Self {
            hold_below: Level::Info,
            trigger: Some(Level::Error),
            window: Duration::from_secs(10),
            bytes: 8 << 20,
            after: Duration::from_secs(2),
            dump_on_panic: true,
            dump_on_sigusr1: false,
        }
    }

    /// Events below `level` are held (`Level::Info`, the default, holds `DEBUG` and `TRACE`;
    /// `Level::Trace` holds nothing).
    pub const fn hold_below(mut self, level: Level) -> Self {
        self.hold_below = level;
        self
    }

    /// An event at `level` or above triggers a dump. Default `ERROR`.
    pub const fn trigger_at(mut self, level: Level) -> Self {
        self.trigger = Some(level);
        self
    }

    /// No event triggers a dump: only [`Journal::dump`](crate::Journal::dump), a panic and
    /// (if enabled) `SIGUSR1` do.
    pub const fn no_level_trigger(mut self) -> Self {
        self.trigger = None;
        self
    }

    /// How far back a dump reaches: held events older than this when a trigger comes are not
    /// written (discarded by design). Default 10 s.
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Most bytes the window holds (records and a 13-byte header each); past it the oldest
    /// events are discarded. Default 8 MiB.
    pub const fn bytes(mut self, bytes: usize) -> Self {
        self.bytes = bytes;
        self
    }

    /// How long after a trigger held levels are written as they come instead of held (by the
    /// events' timestamps). Default 2 s; zero holds them again at once.
    pub const fn after(mut self, after: Duration) -> Self {
        self.after = after;
        self
    }

    /// Whether a journal built with this recorder installs
    /// [`Journal::install_panic_hook`](crate::Journal::install_panic_hook), so a panic writes
    /// itself and the window. Default `true`. Has no effect on [`Sink::recorded`]: call
    /// `install_panic_hook` for sinks with a recorder of their own.
    pub const fn dump_on_panic(mut self, on: bool) -> Self {
        self.dump_on_panic = on;
        self
    }

    /// Whether `SIGUSR1` dumps the window (Unix; default `false`). The journal installs a
    /// signal handler that only raises a flag, which the worker reads at its next pass
    /// (within [`Builder::idle_park_interval`](crate::Builder::idle_park_interval)). It
    /// replaces the process's previous `SIGUSR1` handler, whose default action ends the
    /// process. On other platforms this does nothing.
    pub const fn dump_on_sigusr1(mut self, on: bool) -> Self {
        self.dump_on_sigusr1 = on;
        self
    }
}

/// A sink behind a flight recorder of its own: made by [`Sink::recorded`].
///
/// ```
/// use logbuf_journal::{Journal, Sink};
/// use logbuf_journal::recorder::FlightRecorder;
/// use logbuf_journal::sink::BinaryFileSink;
///
/// # let dir = tempfile::tempdir()?;
/// // Everything into one file; the other gets debug only around errors.
/// let (journal, _guard) = Journal::builder()
///     .file(dir.path().join("all.lbf"))?
///     .sink(BinaryFileSink::create(dir.path().join("errors.lbf"))?.recorded(FlightRecorder::new()))
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Recorded<S> {
    inner: S,
    recorder: Recorder,
}

impl<S: Sink> Recorded<S> {
    /// `inner`, behind a recorder with the settings `config`.
    pub fn new(config: FlightRecorder, inner: S) -> Self {
        Self {
            inner,
            recorder: Recorder::new(config),
        }
    }

    /// The sink inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The sink inside, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

/// Passes records to a sink, keeping its first error.
fn into_sink<S: Sink>(inner: &mut S, result: &mut io::Result<()>) -> impl FnMut(&[u8]) {
    move |bytes| {
        if let Err(e) = inner.write(Entry::new(bytes))
            && result.is_ok()
        {
            *result = Err(e);
        }
    }
}

impl<S: Sink> Sink for Recorded<S> {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let mut result = Ok(());
        self.recorder
            .write(entry.bytes(), &mut into_sink(&mut self.inner, &mut result));
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        self.recorder
            .report(&mut into_sink(&mut self.inner, &mut result));
        self.inner.flush().and(result)
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        self.recorder
            .finish(&mut into_sink(&mut self.inner, &mut result));
        self.inner.sync().and(result)
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.inner.reopen()
    }

    fn dump(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        self.recorder.dump(
            clock::global().now(),
            &mut into_sink(&mut self.inner, &mut result),
        );
        self.inner.dump().and(result)
    }

    fn discarded(&self) -> u64 {
        self.recorder.discarded_total() + self.inner.discarded()
    }
}

/// Dumps requested by `SIGUSR1`, counted by the signal handler.
pub(crate) static SIGNALS: AtomicU64 = AtomicU64::new(0);

/// Installs the `SIGUSR1` handler once.
#[cfg(unix)]
pub(crate) fn install_sigusr1() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn on_signal(_: libc::c_int) {
        // Only an atomic: async-signal-safe.
        SIGNALS.fetch_add(1, Ordering::Relaxed);
    }
    ONCE.call_once(|| {
        // SAFETY: `sigaction` with a zeroed struct (a valid bit pattern for it), an empty mask
        // and `SA_RESTART`; the handler is a plain `extern "C" fn` that lives as long as the
        // program and only touches an atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
        }
    });
}

/// Does nothing: `SIGUSR1` is Unix's.
#[cfg(not(unix))]
pub(crate) fn install_sigusr1() {}

/// Dumps requested by `SIGUSR1` so far.
pub(crate) fn signals() -> u64 {
    SIGNALS.load(Ordering::Relaxed)
}

/// The recorder itself, driven by the worker (for the whole journal) or by a [`Recorded`] sink:
/// records go in, and out through `out` at once or when a trigger comes.
pub(crate) struct Recorder {
    config: FlightRecorder,
    /// Nanoseconds from one tick reading to a later one.
    nanos: fn(u64, u64) -> u64,
    /// Level of every callsite seen.
    levels: IdMap<Level>,
    /// Held records, each behind its header, oldest first; allocated to `config.bytes` on first
    /// use and never grown.
    buffer: VecDeque<u8>,
    /// Held events (not span closes) in `buffer`.
    held: u64,
    /// Held events per span they are in.
    refs: IdMap<u32>,
    /// Spans whose close is held back.
    closing: IdMap<()>,
    /// The newest time seen on a held record.
    newest: u64,
    /// After a trigger at this time, held levels go out as they come for `config.after`.
    open_since: Option<u64>,
    /// Discarded since the last [`Discarded`] record.
    pending: Option<Discarded>,
    /// Discarded since the last dump, for its marker.
    since_dump: u64,
    /// Discarded in all.
    total: u64,
    /// The marker's callsite has gone out.
    marker_defined: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("config", &self.config)
            .field("held", &self.held)
            .field("bytes", &self.buffer.len())
            .field("discarded", &self.total)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    pub(crate) fn new(config: FlightRecorder) -> Self {
        Self::with_clock(config, |a, b| clock::global().nanos_between(a, b))
    }

    /// A recorder that turns ticks into nanoseconds with `nanos`.
    pub(crate) fn with_clock(config: FlightRecorder, nanos: fn(u64, u64) -> u64) -> Self {
        Self {
            config,
            nanos,
            levels: IdMap::default(),
            buffer: VecDeque::new(),
            held: 0,
            refs: IdMap::default(),
            closing: IdMap::default(),
            newest: 0,
            open_since: None,
            pending: None,
            since_dump: 0,
            total: 0,
            marker_defined: false,
        }
    }

    /// Events discarded by design so far.
    pub(crate) fn discarded_total(&self) -> u64 {
        self.total
    }

    /// Nanoseconds from `from` to `to`, zero if `to` is earlier.
    fn age(&self, from: u64, to: u64) -> u64 {
        if to <= from {
            0
        } else {
            (self.nanos)(from, to)
        }
    }

    /// Takes one record: holds it, or hands it to `out` (after the window, for a trigger).
    pub(crate) fn write(&mut self, bytes: &[u8], out: &mut dyn FnMut(&[u8])) {
        match bytes.first() {
            // An event: held, written, or a trigger.
            Some(1) => {
                let Some(head) = event_head(bytes) else {
                    return out(bytes);
                };
                // An event of an unknown callsite cannot be rendered anyway: pass it on.
                let Some(&level) = self.levels.get(&head.callsite) else {
                    return out(bytes);
                };
                if level < self.config.hold_below {
                    // Since the last trigger: within `after` of it, written as it comes; past
                    // it, held again from now on. An event stamped before the trigger that
                    // arrives after it (another thread's, within the order window) is held.
                    let open = match self.open_since {
                        Some(t) if head.time >= t => {
                            let open =
                                u128::from(self.age(t, head.time)) <= self.config.after.as_nanos();
                            if !open {
                                self.open_since = None;
                            }
                            open
                        }
                        _ => false,
                    };
                    if open {
                        out(bytes);
                    } else {
                        self.hold(bytes, head, out);
                    }
                } else if self.config.trigger.is_some_and(|t| level >= t) {
                    self.dump(head.time, out);
                    out(bytes);
                } else {
                    out(bytes);
                }
            }
            // A callsite: remember its level.
            Some(0) => {
                if let Ok(Record::Callsite(c)) = postcard::from_bytes::<Record<'_>>(bytes) {
                    self.levels.insert(c.id, c.level);
                }
                out(bytes);
            }
            // A span's creation: a held close of the same id goes first.
            Some(2) => {
                if let Some((id, _)) = leading_varint(&bytes[1..])
                    && self.closing.contains_key(&id)
                {
                    self.release_close(id, out);
                }
                out(bytes);
            }
            // A span's close: held back while events in it are held.
            Some(6 | 12) => match leading_varint(&bytes[1..]) {
                Some((id, _)) if self.refs.contains_key(&id) && !self.closing.contains_key(&id) => {
                    let time = self.newest;
                    if self.push(bytes, time, FLAG_CLOSE, out) {
                        self.closing.insert(id, ());
                    } else {
                        out(bytes);
                    }
                }
                _ => out(bytes),
            },
            _ => out(bytes),
        }
    }

    /// Holds an event, making room first.
    fn hold(&mut self, bytes: &[u8], head: EventHead, out: &mut dyn FnMut(&[u8])) {
        self.newest = self.newest.max(head.time);
        // Age out what the window no longer reaches.
        let window = self.config.window.as_nanos();
        while let Some((_, front, _)) = self.front_header()
            && u128::from(self.age(front, self.newest)) > window
        {
            self.pop(out);
        }
        if self.push(bytes, head.time, 0, out) {
            self.held += 1;
            if let Some(parent) = head.parent {
                *self.refs.entry(parent).or_insert(0) += 1;
            }
        } else {
            self.count_discard(head.time);
        }
    }

    /// Puts a record behind its header at the back of the buffer, taking records out of the
    /// front to make room; `false` if it can never fit.
    fn push(&mut self, bytes: &[u8], time: u64, flags: u8, out: &mut dyn FnMut(&[u8])) -> bool {
        let need = HEADER + bytes.len();
        let Ok(len) = u32::try_from(bytes.len()) else {
            return false;
        };
        if need > self.config.bytes {
            return false;
        }
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(self.config.bytes);
        }
        while self.buffer.len() + need > self.config.bytes {
            self.pop(out);
        }
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&len.to_le_bytes());
        header[4..12].copy_from_slice(&time.to_le_bytes());
        header[12] = flags;
        self.buffer.extend(&header);
        self.buffer.extend(bytes);
        true
    }

    /// The header at the front of the buffer: length, time, flags.
    fn front_header(&self) -> Option<(usize, u64, u8)> {
        if self.buffer.len() < HEADER {
            return None;
        }
        let mut header = [0u8; HEADER];
        for (d, s) in header.iter_mut().zip(self.buffer.range(..HEADER)) {
            *d = *s;
        }
        Some(parse_header(&header))
    }

    /// Takes the front record out of the buffer: an event is discarded (counted); a held span
    /// close goes to `out`, the events in its span being gone.
    fn pop(&mut self, out: &mut dyn FnMut(&[u8])) {
        let Some((len, time, flags)) = self.front_header() else {
            return;
        };
        let end = HEADER + len;
        let mut gone = None;
        {
            let (a, b) = self.buffer.as_slices();
            let record: std::borrow::Cow<'_, [u8]> = if end <= a.len() {
                std::borrow::Cow::Borrowed(&a[HEADER..end])
            } else {
                std::borrow::Cow::Owned(a.iter().chain(b).skip(HEADER).take(len).copied().collect())
            };
            if flags & FLAG_CLOSE != 0 {
                if flags & FLAG_DEAD == 0 {
                    if let Some((id, _)) = record.get(1..).and_then(leading_varint) {
                        self.closing.remove(&id);
                    }
                    out(&record);
                }
            } else {
                gone = Some(
                    (flags & FLAG_ORPHAN == 0)
                        .then(|| event_head(&record).and_then(|h| h.parent))
                        .flatten(),
                );
            }
        }
        self.buffer.drain(..end);
        if let Some(parent) = gone {
            self.forget(parent);
            self.count_discard(time);
        }
    }

    /// One held event in span `parent` is gone.
    fn forget(&mut self, parent: Option<u64>) {
        self.held = self.held.saturating_sub(1);
        if let Some(parent) = parent
            && let Some(n) = self.refs.get_mut(&parent)
        {
            *n -= 1;
            if *n == 0 {
                self.refs.remove(&parent);
            }
        }
    }

    fn count_discard(&mut self, time: u64) {
        self.total += 1;
        self.since_dump += 1;
        match &mut self.pending {
            Some(d) => {
                d.count += 1;
                d.first_time = d.first_time.min(time);
                d.last_time = d.last_time.max(time);
            }
            None => {
                self.pending = Some(Discarded {
                    count: 1,
                    first_time: time,
                    last_time: time,
                })
            }
        }
    }

    /// A span whose close is held gets its id reused: its close goes out now, and the held
    /// events in it will be written without a parent.
    #[cold]
    fn release_close(&mut self, id: u64, out: &mut dyn FnMut(&[u8])) {
        let buffer = self.buffer.make_contiguous();
        let mut at = 0;
        while at + HEADER <= buffer.len() {
            let (len, _, flags) = parse_header(&buffer[at..at + HEADER]);
            let record = at + HEADER..at + HEADER + len;
            if flags & FLAG_CLOSE != 0 {
                if flags & FLAG_DEAD == 0
                    && leading_varint(&buffer[record.start + 1..record.end]).map(|(v, _)| v)
                        == Some(id)
                {
                    out(&buffer[record.clone()]);
                    buffer[at + 12] |= FLAG_DEAD;
                }
            } else if flags & FLAG_ORPHAN == 0
                && event_head(&buffer[record.clone()]).and_then(|h| h.parent) == Some(id)
            {
                buffer[at + 12] |= FLAG_ORPHAN;
            }
            at = record.end;
        }
        self.closing.remove(&id);
        self.refs.remove(&id);
    }

    /// Writes the window (events not older than `window` before `now`, which is the
    /// trigger's time) to `out`, after a marker, and lets held levels through for
    /// `config.after` from `now`.
    pub(crate) fn dump(&mut self, now: u64, out: &mut dyn FnMut(&[u8])) {
        self.open_since = Some(now);
        if self.buffer.is_empty() {
            return;
        }
        let window = self.config.window.as_nanos();
        let nanos = self.nanos;
        let age = |t: u64| if now <= t { 0 } else { nanos(t, now) };
        let buffer = std::mem::take(&mut self.buffer);
        let mut buffer = buffer;
        let bytes = buffer.make_contiguous();
        // First, which events go out (the count and the first time, for the marker) and which
        // are too old (counted in the marker).
        let (mut count, mut first) = (0u64, None);
        let mut at = 0;
        while at + HEADER <= bytes.len() {
            let (len, time, flags) = parse_header(&bytes[at..at + HEADER]);
            if flags & FLAG_CLOSE != 0 {
            } else if u128::from(age(time)) <= window {
                count += 1;
                first = Some(first.map_or(time, |f: u64| f.min(time)));
            } else {
                self.count_discard(time);
            }
            at += HEADER + len;
        }
        self.report(out);
        if let Some(first) = first {
            self.marker(first, count, out);
        }
        let mut at = 0;
        while at + HEADER <= bytes.len() {
            let (len, time, flags) = parse_header(&bytes[at..at + HEADER]);
            let record = &bytes[at + HEADER..at + HEADER + len];
            at += HEADER + len;
            if flags & FLAG_CLOSE != 0 {
                if flags & FLAG_DEAD == 0 {
                    out(record);
                }
            } else if u128::from(age(time)) > window {
                // Counted above.
            } else if flags & FLAG_ORPHAN != 0 {
                out(&without_parent(record));
            } else {
                out(record);
            }
        }
        // Counted in the next dump's marker, not this one's.
        self.since_dump = 0;
        buffer.clear();
        self.buffer = buffer;
        self.held = 0;
        self.refs.clear();
        self.closing.clear();
    }

    /// The marker a dump starts with.
    fn marker(&mut self, first: u64, held: u64, out: &mut dyn FnMut(&[u8])) {
        if !self.marker_defined {
            let callsite = Record::Callsite(Callsite {
                id: MARKER_CALLSITE,
                kind: CallsiteKind::Event,
                level: Level::Info,
                target: MARKER_TARGET,
                name: "flight recorder window",
                module_path: Some(MARKER_TARGET),
                file: None,
                line: None,
                fields: vec!["message", "held", "discarded"],
            });
            if let Ok(bytes) = postcard::to_allocvec(&callsite) {
                out(&bytes);
                self.marker_defined = true;
            }
        }
        let marker = Record::Event(Event {
            callsite: MARKER_CALLSITE,
            time: first,
            thread: 0,
            parent: None,
            values: vec![
                Value::Str("flight recorder: the events held before this trigger start here"),
                Value::U64(held),
                Value::U64(self.since_dump),
            ],
        });
        if let Ok(bytes) = postcard::to_allocvec(&marker) {
            out(&bytes);
        }
    }

    /// Writes a [`Discarded`] record for what was discarded since the last one, if anything.
    pub(crate) fn report(&mut self, out: &mut dyn FnMut(&[u8])) {
        if let Some(report) = self.pending.take()
            && let Ok(bytes) = postcard::to_allocvec(&Record::Discarded(report))
        {
            out(&bytes);
        }
    }

    /// The journal is shutting down: what is still held is discarded (held span closes go
    /// out), and reported.
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(&[u8])) {
        while !self.buffer.is_empty() {
            self.pop(out);
        }
        self.report(out);
    }
}

/// What the recorder reads of an event without decoding it.
#[derive(Debug, Clone, Copy)]
struct EventHead {
    callsite: u64,
    time: u64,
    parent: Option<u64>,
}

/// The head of an event record: kind, callsite, time, thread, parent.
fn event_head(bytes: &[u8]) -> Option<EventHead> {
    let rest = bytes.get(1..)?;
    let (callsite, rest) = leading_varint(rest)?;
    let (time, rest) = leading_varint(rest)?;
    let (_thread, rest) = leading_varint(rest)?;
    let parent = match rest.first()? {
        0 => None,
        1 => Some(leading_varint(&rest[1..])?.0),
        _ => return None,
    };
    Some(EventHead {
        callsite,
        time,
        parent,
    })
}

/// An event record whose parent span was closed and its id reused: the same without it.
fn without_parent(record: &[u8]) -> Vec<u8> {
    match postcard::from_bytes::<Record<'_>>(record) {
        Ok(Record::Event(mut event)) => {
            event.parent = None;
            postcard::to_allocvec(&Record::Event(event)).unwrap_or_else(|_| record.to_vec())
        }
        _ => record.to_vec(),
    }
}

fn parse_header(header: &[u8]) -> (usize, u64, u8) {
    let mut len = [0u8; 4];
    len.copy_from_slice(&header[..4]);
    let mut time = [0u8; 8];
    time.copy_from_slice(&header[4..12]);
    (
        u32::from_le_bytes(len) as usize,
        u64::from_le_bytes(time),
        header[12],
    )
}

/// The LEB128 varint at the start of `bytes` and the bytes after it, if it is complete and
/// fits in a `u64`.
fn leading_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        let bits = u64::from(b & 0x7f);
        value |= bits.checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    /// A recorder whose ticks are nanoseconds, fed records stamped by the test.
    struct Fixture {
        recorder: Recorder,
        out: Vec<Vec<u8>>,
    }

    impl Fixture {
        fn new(config: FlightRecorder) -> Self {
            let mut fixture = Fixture {
                recorder: Recorder::with_clock(config, |a, b| b - a),
                out: Vec::new(),
            };
            for (id, level) in [(1, Level::Debug), (2, Level::Error)] {
                fixture.put(&Record::Callsite(Callsite {
                    id,
                    kind: CallsiteKind::Event,
                    level,
                    target: "t",
                    name: "e",
                    module_path: None,
                    file: None,
                    line: None,
                    fields: vec!["n"],
                }));
            }
            fixture.out.clear();
            fixture
        }

        fn put(&mut self, record: &Record<'_>) {
            let bytes = postcard::to_allocvec(record).unwrap();
            let out = &mut self.out;
            self.recorder.write(&bytes, &mut |b| out.push(b.to_vec()));
        }

        fn event(&mut self, callsite: u64, time: u64) {
            self.put(&Record::Event(Event {
                callsite,
                time,
                thread: 1,
                parent: None,
                values: vec![Value::U64(time)],
            }));
        }

        /// The times of the events written, the marker's as `(time, held, discarded)`.
        fn written(&self) -> Vec<String> {
            self.out
                .iter()
                .filter_map(|b| match postcard::from_bytes::<Record<'_>>(b).ok()? {
                    Record::Event(e) if e.callsite == MARKER_CALLSITE => Some(format!(
                        "marker {} {:?} {:?}",
                        e.time, e.values[1], e.values[2]
                    )),
                    Record::Event(e) => Some(format!("{} {}", e.callsite, e.time)),
                    _ => None,
                })
                .collect()
        }
    }

    #[test]
    fn the_last_ten_seconds_before_an_error_and_nothing_older() {
        // The defaults: a 10 s window, errors trigger.
        let mut f = Fixture::new(FlightRecorder::new());
        // 30 s of debug events, one every 500 ms.
        for n in 0..60 {
            f.event(1, n * SECOND / 2);
        }
        assert!(f.written().is_empty());
        let error = 30 * SECOND;
        f.event(2, error);
        let mut want = vec![format!("marker {} U64(20) U64(40)", 20 * SECOND)];
        // 20 s, 20.5 s, ... 29.5 s: the ten seconds before the error, in order.
        want.extend((40..60).map(|n| format!("1 {}", n * SECOND / 2)));
        want.push(format!("2 {error}"));
        assert_eq!(f.written(), want);
        assert_eq!(f.recorder.discarded_total(), 40);
    }

    #[test]
    fn events_older_than_the_window_at_the_trigger_are_not_written() {
        let mut f = Fixture::new(FlightRecorder::new().after(Duration::ZERO));
        f.event(1, 0);
        f.event(1, 5 * SECOND);
        // Nothing newer came: the first two are still held, but 10 s before the dump
        // reaches back to 6 s only.
        f.recorder.dump(16 * SECOND, &mut |_| {});
        assert_eq!(f.recorder.discarded_total(), 2);
        f.event(1, 17 * SECOND);
        let out = &mut f.out;
        f.recorder.dump(18 * SECOND, &mut |b| out.push(b.to_vec()));
        assert_eq!(
            f.written(),
            [
                format!("marker {} U64(1) U64(0)", 17 * SECOND),
                format!("1 {}", 17 * SECOND)
            ]
        );
    }

    #[test]
    fn a_late_event_from_before_the_trigger_does_not_end_the_after_period() {
        let mut f = Fixture::new(FlightRecorder::new().after(Duration::from_secs(2)));
        f.event(2, 10 * SECOND);
        // Stamped before the error, arriving after it: held.
        f.event(1, 10 * SECOND - 1);
        // Within 2 s of the error: written as they come.
        f.event(1, 11 * SECOND);
        // Past them: held.
        f.event(1, 13 * SECOND);
        assert_eq!(
            f.written(),
            [format!("2 {}", 10 * SECOND), format!("1 {}", 11 * SECOND)]
        );
    }

    #[test]
    fn a_record_larger_than_the_bound_is_discarded_not_kept() {
        let mut f = Fixture::new(FlightRecorder::new().bytes(16));
        f.event(1, 1);
        assert_eq!(f.recorder.discarded_total(), 1);
        assert!(f.recorder.buffer.is_empty());
    }
}
