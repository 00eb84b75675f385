//! Reading a journal as events in context: each event with its callsite, its thread's name, the
//! spans it is in (outermost first) and its wall-clock time.
//!
//! [`Reader`] reads a file. [`Context`] is the state machine underneath it, for records that
//! come from elsewhere (a sink on the worker thread, a file followed as it grows): feed it every
//! record in order with [`Context::apply`], and ask it for an event's context with
//! [`Context::event`].
//!
//! ```
//! # use logbuf_journal::Journal;
//! # use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
//! use logbuf_journal::read::Reader;
//!
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("app.lbf");
//! # let (journal, guard) = Journal::builder().file(&path)?.build()?;
//! # let span_cs = journal.register_callsite(&Callsite { id: 0, kind: CallsiteKind::Span,
//! #     level: Level::Info, target: "app", name: "request", module_path: None, file: None,
//! #     line: None, fields: vec!["path"] });
//! # let event_cs = journal.register_callsite(&Callsite { id: 0, kind: CallsiteKind::Event,
//! #     level: Level::Warn, target: "app", name: "event", module_path: None, file: None,
//! #     line: None, fields: vec!["message"] });
//! # journal.write(64, |enc, at| { enc.span_new(1, None, span_cs, at.time, at.thread, 1); enc.value_str("/users"); });
//! # journal.write(64, |enc, at| { enc.event(event_cs, at.time, at.thread, Some(1), 1); enc.value_str("slow"); });
//! # drop(guard);
//! let mut reader = Reader::open(&path)?;
//! while let Some(event) = reader.next_event() {
//!     let event = event?;
//!     let spans: Vec<&str> = event.spans.iter().map(|s| s.callsite.name.as_str()).collect();
//!     assert_eq!((event.callsite.level, spans), (logbuf_journal::wire::Level::Warn, vec!["request"]));
//!     assert!(event.unix_nanos.is_some());
//!     assert_eq!(event.thread_name, Some("main"));
//! }
//! assert!(reader.stats().is_clean());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::IdMap;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use crate::file::{FileReader, OpenError, ReadStats};
use crate::wire::{self, CallsiteKind, Level, Record, Value};

/// A callsite definition, owned by the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callsite {
    /// Id records refer to it by.
    pub id: u64,
    /// Event or span.
    pub kind: CallsiteKind,
    /// Level.
    pub level: Level,
    /// Target.
    pub target: String,
    /// Name.
    pub name: String,
    /// Module path.
    pub module_path: Option<String>,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Field names.
    pub fields: Vec<String>,
}

impl From<&wire::Callsite<'_>> for Callsite {
    fn from(c: &wire::Callsite<'_>) -> Self {
        Self {
            id: c.id,
            kind: c.kind,
            level: c.level,
            target: c.target.to_owned(),
            name: c.name.to_owned(),
            module_path: c.module_path.map(str::to_owned),
            file: c.file.map(str::to_owned),
            line: c.line,
            fields: c.fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }
}

/// A field value owned by the reader (span values outlive the record they came in).
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    /// Not recorded.
    Empty,
    /// `u64`.
    U64(u64),
    /// `i64`.
    I64(i64),
    /// `u128`.
    U128(u128),
    /// `i128`.
    I128(i128),
    /// `f64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// String.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Text formatted on the logging thread.
    Debug(String),
    /// An error and its sources, outermost first.
    Error {
        /// `Display` of the error.
        message: String,
        /// `Display` of each source.
        sources: Vec<String>,
    },
}

impl OwnedValue {
    /// The value as the wire's [`Value`], borrowing its text: for code that writes both
    /// kinds (a sink's span values beside an event's).
    ///
    /// ```
    /// use logbuf_journal::read::OwnedValue;
    /// use logbuf_journal::wire::Value;
    ///
    /// assert_eq!(OwnedValue::Str("GET".into()).borrowed(), Value::Str("GET"));
    /// assert_eq!(OwnedValue::U64(7).borrowed(), Value::U64(7));
    /// ```
    pub fn borrowed(&self) -> Value<'_> {
        match self {
            OwnedValue::Empty => Value::Empty,
            OwnedValue::U64(v) => Value::U64(*v),
            OwnedValue::I64(v) => Value::I64(*v),
            OwnedValue::U128(v) => Value::U128(*v),
            OwnedValue::I128(v) => Value::I128(*v),
            OwnedValue::F64(v) => Value::F64(*v),
            OwnedValue::Bool(v) => Value::Bool(*v),
            OwnedValue::Str(s) => Value::Str(s),
            OwnedValue::Bytes(b) => Value::Bytes(b),
            OwnedValue::Debug(s) => Value::Debug(s),
            OwnedValue::Error { message, sources } => Value::Error {
                message,
                sources: sources.iter().map(String::as_str).collect(),
            },
        }
    }
}

impl From<&Value<'_>> for OwnedValue {
    fn from(v: &Value<'_>) -> Self {
        match v {
            Value::Empty => OwnedValue::Empty,
            Value::U64(v) => OwnedValue::U64(*v),
            Value::I64(v) => OwnedValue::I64(*v),
            Value::U128(v) => OwnedValue::U128(*v),
            Value::I128(v) => OwnedValue::I128(*v),
            Value::F64(v) => OwnedValue::F64(*v),
            Value::Bool(v) => OwnedValue::Bool(*v),
            Value::Str(v) => OwnedValue::Str((*v).to_owned()),
            Value::Bytes(v) => OwnedValue::Bytes(v.to_vec()),
            Value::Debug(v) => OwnedValue::Debug((*v).to_owned()),
            Value::Error { message, sources } => OwnedValue::Error {
                message: (*message).to_owned(),
                sources: sources.iter().map(|s| (*s).to_owned()).collect(),
            },
            // Without the context's table; `Context::owned` resolves it.
            Value::Interned(_) => OwnedValue::Debug(UNKNOWN_STRING.to_owned()),
        }
    }
}

/// What stands for an interned string whose definition is missing (damage).
pub const UNKNOWN_STRING: &str = "<undefined interned string>";

/// A span that is open at the point the reader has reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The span's id.
    pub id: u64,
    /// Its parent, if any.
    pub parent: Option<u64>,
    /// Its callsite (shared with the context's table, so that opening a span copies nothing).
    pub callsite: Arc<Callsite>,
    /// Its values, in callsite order, with later `record`s applied.
    pub values: Vec<OwnedValue>,
    /// Tick counter at its creation.
    pub time: u64,
    /// The thread that created it.
    pub thread: u64,
}

/// An event with its context, as [`Reader::next_event`] and [`Context::event`] give it.
#[derive(Debug)]
pub struct EventInContext<'a> {
    /// The event as recorded.
    pub event: wire::Event<'a>,
    /// Its callsite. Events whose callsite was never defined (damage) are skipped and counted.
    pub callsite: &'a Callsite,
    /// The name of the thread that logged it, if the journal recorded one.
    pub thread_name: Option<&'a str>,
    /// The spans the event is in, outermost first.
    pub spans: Vec<&'a Span>,
    /// Nanoseconds since the Unix epoch, from the journal's clock records; `None` before the
    /// first one.
    pub unix_nanos: Option<u64>,
    /// How many spans the event is in beyond those in `spans`, outside the outermost of
    /// them: always 0 from [`Context::event`], which gives every span; from
    /// [`Context::bounded_event`], which gives at most [`MAX_SCOPE`], the spans it left out.
    pub spans_elided: u64,
}

/// The most spans [`Context::bounded_event`] gives an event: the innermost ones. Real programs
/// nest a few spans, a few dozen at most; a chain deeper than this is a runaway recursion or a
/// crafted file, and rendering thousands of spans on every line of it would make reading the
/// file cost its depth times its events.
pub const MAX_SCOPE: usize = 128;

/// Chains at least this deep (at their innermost span's creation) are kept by
/// [`Context::bounded_event`] for the next event in the same span; shallower ones cost less
/// to walk again than to keep.
const KEEP_SCOPE_FROM: usize = 8;

/// At most this many chains are kept at once (each holds at most [`MAX_SCOPE`] spans).
const KEPT_SCOPES: usize = 1024;

/// Turns tick readings into wall-clock time from `Clock` pairs: the rate comes from the two
/// pairs furthest apart, the offset from the pair met last.
#[derive(Debug, Default)]
struct WallClock {
    /// The pairs with the least and the most ticks: the rate comes from them.
    earliest: Option<wire::Clock>,
    furthest: Option<wire::Clock>,
    /// The pair met last: readings are placed relative to it.
    latest: Option<wire::Clock>,
    /// [`WallClock::rate`] of the pairs so far (0 before the first).
    per_tick: f64,
}

/// 2^63: every `f64` of smaller magnitude truncates to an `i64`.
const I64_RANGE: f64 = 9_223_372_036_854_775_808.0;

impl WallClock {
    fn add(&mut self, pair: wire::Clock) {
        if self.earliest.is_none_or(|e| pair.ticks < e.ticks) {
            self.earliest = Some(pair);
        }
        if self.furthest.is_none_or(|f| pair.ticks > f.ticks) {
            self.furthest = Some(pair);
        }
        self.latest = Some(pair);
        self.per_tick = self.rate();
    }

    /// Nanoseconds per tick, as worked out when the last pair came.
    fn per_tick(&self) -> f64 {
        if self.latest.is_some() {
            self.per_tick
        } else {
            1.0
        }
    }

    /// Nanoseconds per tick, from the two pairs furthest apart.
    fn rate(&self) -> f64 {
        let (Some(earliest), Some(furthest)) = (self.earliest, self.furthest) else {
            return 1.0;
        };
        let span_ticks = furthest.ticks - earliest.ticks;
        let span_nanos = i128::from(furthest.unix_nanos) - i128::from(earliest.unix_nanos);
        // One pair, pairs read back to back, or a wall clock set back between them: assume one
        // tick per nanosecond until pairs further apart give the rate.
        if span_ticks < 1_000 || span_nanos <= 0 {
            1.0
        } else {
            span_nanos as f64 / span_ticks as f64
        }
    }

    fn nanos(&self, ticks: u64) -> Option<u64> {
        let latest = self.latest?;
        let per_tick = self.per_tick();
        // The offset from the latest pair in floating point (small), the sum in integers:
        // nanoseconds since 1970 need more bits than an `f64` has.
        let ticks = i128::from(ticks) - i128::from(latest.ticks);
        // The same `f64` either way; from an `i64` it takes a fraction of the instructions.
        let ticks = match i64::try_from(ticks) {
            Ok(t) => t as f64,
            Err(_) => ticks as f64,
        };
        let delta = ticks * per_tick;
        // The same truncation either way where an `i64` holds it (NaN goes the long way, to
        // 0 as well); from an `i64` it takes a fraction of the instructions.
        let delta = if delta.abs() < I64_RANGE {
            i128::from(delta as i64)
        } else {
            delta as i128
        };
        let nanos = (i128::from(latest.unix_nanos) + delta).max(0);
        Some(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Nanoseconds a number of ticks lasts, at the rate `nanos` uses.
    fn duration(&self, ticks: u64) -> u64 {
        // `as` saturates: a duration too long for a `u64` of nanoseconds is damage.
        (ticks as f64 * self.per_tick()) as u64
    }
}

/// What the records seen so far say about the ones to come: callsite definitions, thread
/// names, the spans still open (with their values), wall-clock time from `Clock` records, and
/// counts of orphans and drops.
///
/// Memory holds the callsite table, the thread names and the open spans, never the events.
///
/// ```
/// use logbuf_journal::read::Context;
/// use logbuf_journal::wire::{Callsite, CallsiteKind, Clock, Event, Level, Record, SpanNew, Value};
///
/// let records = [
///     Record::Clock(Clock { ticks: 1_000, unix_nanos: 1_700_000_000_000_000_000 }),
///     Record::Callsite(Callsite { id: 1, kind: CallsiteKind::Span, level: Level::Info,
///         target: "app", name: "request", module_path: None, file: None, line: None,
///         fields: vec!["path"] }),
///     Record::Callsite(Callsite { id: 2, kind: CallsiteKind::Event, level: Level::Info,
///         target: "app", name: "event", module_path: None, file: None, line: None,
///         fields: vec!["message"] }),
///     Record::SpanNew(SpanNew { id: 7, parent: None, callsite: 1, time: 1_500, thread: 1,
///         values: vec![Value::Str("/users")] }),
///     Record::Event(Event { callsite: 2, time: 2_000, thread: 1, parent: Some(7),
///         values: vec![Value::Debug("done")] }),
/// ];
/// let mut context = Context::new();
/// for record in &records {
///     context.apply(record);
///     if let Record::Event(event) = record {
///         let event = context.event(event.clone()).expect("callsite defined");
///         assert_eq!(event.callsite.target, "app");
///         assert_eq!(event.spans[0].callsite.name, "request");
///         assert_eq!(event.unix_nanos, Some(1_700_000_000_000_001_000));
///     }
/// }
/// ```
#[derive(Debug, Default)]
pub struct Context {
    callsites: IdMap<Arc<Callsite>>,
    threads: IdMap<String>,
    interned: IdMap<Box<str>>,
    /// Open spans, each with the number of its creation among all (for `order`) and its
    /// depth when it was created (1 for a span whose parent is not open). Shared with the
    /// chains in `scopes`.
    spans: IdMap<(Arc<Span>, u64, usize)>,
    /// Chains [`Context::bounded_event`] walked, by innermost span: the spans (innermost
    /// first) and how many were left out above them. Emptied whenever a span opens, closes,
    /// is forgotten or records values, so a chain kept is the chain the spans form now.
    scopes: IdMap<(Vec<Arc<Span>>, u64)>,
    /// The greatest depth of a span at its creation: no true chain of parents is longer, so
    /// a walk up a chain stops there (a cycle, in a damaged or crafted file).
    deepest: usize,
    /// Spans by creation, oldest first, to forget the oldest past
    /// [`MAX_OPEN_SPANS`](crate::sink::MAX_OPEN_SPANS). Entries of closed spans stay until
    /// the next compaction.
    order: VecDeque<(u64, u64)>,
    created: u64,
    clock: WallClock,
    orphans: u64,
    dropped: u64,
    dropped_spans: u64,
    /// The breakdown by callsite of the next `Dropped` record (format 2.3: written before it).
    next_drop_callsites: Option<wire::DroppedCallsites>,
    /// The breakdown of the last `Dropped` record, if one came before it: its thread and the
    /// callsites named, resolved.
    drop_callsites: Option<(u64, Vec<LostCallsite>)>,
    discarded: u64,
    /// Spans are opened without their values, and recorded values are not applied
    /// ([`Context::without_span_values`]).
    no_span_values: bool,
}

/// A callsite a drop report names (format 2.3), with how many of the report's records were
/// its.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostCallsite {
    /// The callsite.
    pub callsite: Arc<Callsite>,
    /// Records of it dropped.
    pub count: u64,
}

impl Context {
    /// An empty context: no callsites, no threads, no spans, no clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context that keeps no span values: every [`Span`] it gives has empty
    /// [`Span::values`], and [`Record::SpanRecord`] changes nothing. Everything else (the
    /// spans themselves, their callsites, parents, times and threads) is kept as usual.
    ///
    /// For code that keeps what it needs of span values itself, as the text sink keeps each
    /// span's fields as rendered text: it saves a copy of every span's values.
    ///
    /// ```
    /// use logbuf_journal::read::Context;
    /// use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, SpanNew, Value};
    ///
    /// let mut context = Context::new().without_span_values();
    /// context.apply(&Record::Callsite(Callsite { id: 1, kind: CallsiteKind::Span,
    ///     level: Level::Info, target: "app", name: "request", module_path: None, file: None,
    ///     line: None, fields: vec!["path"] }));
    /// context.apply(&Record::SpanNew(SpanNew { id: 7, parent: None, callsite: 1, time: 0,
    ///     thread: 1, values: vec![Value::Str("/users")] }));
    /// let span = context.span(7).unwrap();
    /// assert_eq!((span.callsite.name.as_str(), span.values.len()), ("request", 0));
    /// ```
    pub fn without_span_values(mut self) -> Self {
        self.no_span_values = true;
        self
    }

    /// Takes in one record: definitions, spans opening, recording and closing, clock pairs and
    /// drop reports change the context; other records leave it as it is (an event with an
    /// unknown callsite is counted as an orphan).
    ///
    /// Returns `true` for an event whose callsite is known, the events
    /// [`Context::event`] gives a context to.
    pub fn apply(&mut self, record: &Record<'_>) -> bool {
        match record {
            Record::Callsite(c) => {
                self.callsites.insert(c.id, Arc::new(Callsite::from(c)));
            }
            Record::ThreadName(t) => {
                self.threads.insert(t.thread, t.name.to_owned());
            }
            Record::Interned(i) => {
                self.interned.insert(i.id, i.text.into());
            }
            Record::Clock(pair) => self.clock.add(*pair),
            Record::SpanNew(s) => match self.callsites.get(&s.callsite) {
                Some(callsite) => {
                    let span = Span {
                        id: s.id,
                        parent: s.parent,
                        callsite: Arc::clone(callsite),
                        values: if self.no_span_values {
                            Vec::new()
                        } else {
                            s.values.iter().map(|v| self.owned(v)).collect()
                        },
                        time: s.time,
                        thread: s.thread,
                    };
                    self.open(span);
                }
                None => self.orphans += 1,
            },
            // Nothing of the span changes when its values are not kept.
            Record::SpanRecord(_) if self.no_span_values => {}
            Record::SpanRecord(r) => {
                let values: Vec<Option<OwnedValue>> = r
                    .values
                    .iter()
                    .map(|v| (*v != Value::Empty).then(|| self.owned(v)))
                    .collect();
                self.forget_scopes();
                if let Some((span, ..)) = self.spans.get_mut(&r.id) {
                    // No kept chain holds the span now: this does not copy it.
                    let span = Arc::make_mut(span);
                    for (slot, value) in span.values.iter_mut().zip(values) {
                        if let Some(value) = value {
                            *slot = value;
                        }
                    }
                }
            }
            Record::SpanClose(c) => {
                self.forget_scopes();
                self.spans.remove(&c.id);
            }
            Record::SpanCloseTimes(c) => {
                self.forget_scopes();
                self.spans.remove(&c.id);
            }
            // Format 2.2: the thread's records are all before this one; its name goes.
            Record::ThreadEnd(t) => {
                self.threads.remove(&t.thread);
            }
            Record::Dropped(d) => {
                self.dropped += d.count;
                self.drop_callsites = self
                    .next_drop_callsites
                    .take()
                    .filter(|named| named.thread == d.thread)
                    .map(|named| (d.thread, self.lost_callsites(&named, d.count)));
            }
            Record::DroppedCallsites(d) => self.next_drop_callsites = Some(d.clone()),
            Record::DroppedSpans(d) => self.dropped_spans += d.count,
            // Format 2.4: a flight recorder's events discarded by design.
            Record::Discarded(d) => self.discarded += d.count,
            Record::SpanEnter(_) | Record::SpanExit(_) | Record::FollowsFrom(_) => {}
            Record::Event(e) => {
                let known = self.callsites.contains_key(&e.callsite);
                self.orphans += u64::from(!known);
                return known;
            }
        }
        false
    }

    /// Takes in a clock pair that did not come as a record (a file header's).
    pub fn add_clock(&mut self, pair: wire::Clock) {
        self.clock.add(pair);
    }

    /// The event with its context as it stands now (apply the event's record first, or
    /// not: events change nothing); `None` if its callsite is unknown.
    ///
    /// Values that refer to interned strings come as [`Value::Str`].
    pub fn event<'a>(&'a self, event: wire::Event<'a>) -> Option<EventInContext<'a>> {
        self.event_with(event, Vec::new())
    }

    /// [`Context::event`], with the spans put in `spans` (emptied first): a caller that
    /// takes the vector back from each event it is done with allocates once for all of them.
    pub(crate) fn event_with<'a>(
        &'a self,
        mut event: wire::Event<'a>,
        mut spans: Vec<&'a Span>,
    ) -> Option<EventInContext<'a>> {
        let callsite = self.callsites.get(&event.callsite)?;
        for value in &mut event.values {
            if let Value::Interned(id) = *value {
                *value = self.resolve(id);
            }
        }
        spans.clear();
        if event.parent.is_some() {
            self.walk(event.parent, usize::MAX, &mut spans);
            spans.reverse();
        }
        Some(EventInContext {
            thread_name: self.thread_name(event.thread),
            unix_nanos: self.clock.nanos(event.time),
            spans,
            spans_elided: 0,
            event,
            callsite,
        })
    }

    /// [`Context::event`], with at most [`MAX_SCOPE`] spans: the innermost ones, and in
    /// [`EventInContext::spans_elided`] how many more the event is in. The spans left out are
    /// counted as they stood when the innermost of them was opened.
    ///
    /// It costs at most [`MAX_SCOPE`] steps however deep the chain, and next to nothing for
    /// the next events in the same span while no span opens, closes or records: a deep chain
    /// is walked once and kept. A cycle of parents (damage, or a crafted file) ends where a
    /// span comes round again: each span is given once.
    ///
    /// ```
    /// use logbuf_journal::read::{Context, MAX_SCOPE};
    /// use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, SpanNew};
    ///
    /// let mut context = Context::new();
    /// for (id, kind) in [(1, CallsiteKind::Span), (2, CallsiteKind::Event)] {
    ///     context.apply(&Record::Callsite(Callsite { id, kind, level: Level::Info,
    ///         target: "app", name: "deep", module_path: None, file: None, line: None,
    ///         fields: vec![] }));
    /// }
    /// for id in 1..=1000 {
    ///     let parent = (id > 1).then(|| id - 1);
    ///     context.apply(&Record::SpanNew(SpanNew { id, parent, callsite: 1, time: id,
    ///         thread: 1, values: vec![] }));
    /// }
    /// let event = Event { callsite: 2, time: 2_000, thread: 1, parent: Some(1000),
    ///     values: vec![] };
    /// let event = context.bounded_event(event).unwrap();
    /// assert_eq!(event.spans.len(), MAX_SCOPE);
    /// assert_eq!(event.spans.last().unwrap().id, 1000);
    /// assert_eq!(event.spans_elided, 1000 - MAX_SCOPE as u64);
    /// ```
    pub fn bounded_event<'a>(
        &'a mut self,
        mut event: wire::Event<'a>,
    ) -> Option<EventInContext<'a>> {
        if let Some(parent) = event.parent
            && self
                .spans
                .get(&parent)
                .is_some_and(|(.., depth)| *depth >= KEEP_SCOPE_FROM)
            && !self.scopes.contains_key(&parent)
        {
            let mut walked = Vec::new();
            let elided = self.walk(event.parent, MAX_SCOPE, &mut walked);
            // Each span of the chain is open (the walk met it in the table) and given once.
            let chain: Vec<Arc<Span>> = walked
                .iter()
                .filter_map(|s| self.spans.get(&s.id).map(|(span, ..)| Arc::clone(span)))
                .collect();
            if self.scopes.len() >= KEPT_SCOPES {
                self.scopes.clear();
            }
            self.scopes.insert(parent, (chain, elided));
        }
        let this: &'a Context = self;
        let callsite = this.callsites.get(&event.callsite)?;
        for value in &mut event.values {
            if let Value::Interned(id) = *value {
                *value = this.resolve(id);
            }
        }
        let kept = event
            .parent
            .filter(|_| !this.scopes.is_empty())
            .and_then(|parent| this.scopes.get(&parent));
        let (spans, spans_elided) = match kept {
            Some((chain, elided)) => (chain.iter().rev().map(|s| &**s).collect(), *elided),
            None => {
                let mut chain = Vec::new();
                let elided = this.walk(event.parent, MAX_SCOPE, &mut chain);
                chain.reverse();
                (chain, elided)
            }
        };
        Some(EventInContext {
            thread_name: this.thread_name(event.thread),
            unix_nanos: this.clock.nanos(event.time),
            spans,
            spans_elided,
            event,
            callsite,
        })
    }

    /// The span `parent` and its open ancestors, innermost first, at most `limit` of them,
    /// each once, appended to `chain` (empty); returns how many open ancestors are beyond
    /// them, as counted when the first of those was opened.
    ///
    /// A walk ends at a span that is not open, at a span met before (a cycle: found by
    /// Brent's method, a constant amount of work per step), or past the deepest chain any span
    /// had at its creation (no true chain is longer).
    fn walk<'s>(&'s self, parent: Option<u64>, limit: usize, chain: &mut Vec<&'s Span>) -> u64 {
        let limit = limit.min(self.deepest);
        // Brent: `tortoise` is the span met at the last power of two, `steps` the spans met
        // since; a span equal to it closes a cycle of `steps + 1` spans.
        let (mut tortoise, mut power, mut steps) = (None, 1usize, 0usize);
        let mut next = parent;
        while let Some(id) = next {
            let Some((span, _, depth)) = self.spans.get(&id) else {
                break;
            };
            if tortoise == Some(id) {
                // The cycle starts at the first span met again `cycle` spans later (the span
                // after the chain is `id`): keep the spans up to its end.
                let cycle = steps + 1;
                let first = (0..chain.len())
                    .find(|&i| chain.get(i + cycle).map_or(id, |s| s.id) == chain[i].id)
                    .unwrap_or(chain.len());
                chain.truncate(first.saturating_add(cycle));
                return 0;
            }
            if chain.len() >= limit {
                // Stopped by the deepest chain seen: a cycle, nothing left out. Stopped by
                // `limit`: the spans above, as many as `span` had when it opened.
                return if chain.len() >= self.deepest {
                    0
                } else {
                    *depth as u64
                };
            }
            chain.push(span);
            steps += 1;
            if steps == power {
                tortoise = Some(id);
                power = power.saturating_mul(2);
                steps = 0;
            }
            next = span.parent;
        }
        0
    }

    /// The value an interned string id stands for: [`Value::Str`] with its text, or, for an
    /// id never defined (damage), [`Value::Debug`] saying so.
    pub fn resolve(&self, id: u64) -> Value<'_> {
        match self.interned.get(&id) {
            Some(text) => Value::Str(text),
            None => Value::Debug(UNKNOWN_STRING),
        }
    }

    /// `values` with interned strings resolved.
    pub fn resolved<'a>(&'a self, values: &[Value<'a>]) -> Vec<Value<'a>> {
        values
            .iter()
            .map(|v| match *v {
                Value::Interned(id) => self.resolve(id),
                ref v => v.clone(),
            })
            .collect()
    }

    /// `value` owned, with an interned string resolved.
    pub fn owned(&self, value: &Value<'_>) -> OwnedValue {
        match *value {
            Value::Interned(id) => OwnedValue::from(&self.resolve(id)),
            ref v => OwnedValue::from(v),
        }
    }

    /// The span `parent` and its ancestors that are open, outermost first. A chain is walked
    /// no further than the deepest chain any span had at its creation, and a cycle of parents
    /// (damage) ends where a span comes round again: each span is given once.
    pub fn scope(&self, parent: Option<u64>) -> Vec<&Span> {
        let mut chain = Vec::new();
        self.walk(parent, usize::MAX, &mut chain);
        chain.reverse();
        chain
    }

    /// The callsite with this id, if defined.
    pub fn callsite(&self, id: u64) -> Option<&Callsite> {
        self.callsites.get(&id).map(|c| &**c)
    }

    /// How many thread names are known: those named and not ended (a [`Record::ThreadEnd`]
    /// forgets a name).
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// The name of a journal thread id, if recorded.
    pub fn thread_name(&self, thread: u64) -> Option<&str> {
        self.threads.get(&thread).map(String::as_str)
    }

    /// The open span with this id.
    pub fn span(&self, id: u64) -> Option<&Span> {
        self.spans.get(&id).map(|(span, ..)| &**span)
    }

    /// Forgets the chains [`Context::bounded_event`] kept: a span is about to open, close or
    /// change.
    fn forget_scopes(&mut self) {
        if !self.scopes.is_empty() {
            self.scopes.clear();
        }
    }

    /// Opens a span; past [`MAX_OPEN_SPANS`](crate::sink::MAX_OPEN_SPANS) open ones, forgets
    /// the oldest (spans whose close was lost to a full ring would otherwise stay forever).
    fn open(&mut self, span: Span) {
        self.forget_scopes();
        let (id, created) = (span.id, self.created);
        self.created += 1;
        let depth = span
            .parent
            .and_then(|p| self.spans.get(&p))
            .map_or(1, |(.., depth)| depth.saturating_add(1));
        self.deepest = self.deepest.max(depth);
        self.spans.insert(id, (Arc::new(span), created, depth));
        self.order.push_back((id, created));
        while self.spans.len() > crate::sink::MAX_OPEN_SPANS {
            let Some((id, created)) = self.order.pop_front() else {
                break;
            };
            if self.spans.get(&id).is_some_and(|(_, c, _)| *c == created) {
                self.spans.remove(&id);
            }
        }
        if self.order.len() > 2 * self.spans.len() + 1024 {
            let spans = &self.spans;
            self.order
                .retain(|(id, created)| spans.get(id).is_some_and(|(_, c, _)| c == created));
        }
    }

    /// How many spans are open.
    pub fn open_spans(&self) -> usize {
        self.spans.len()
    }

    /// Nanoseconds since the Unix epoch of a tick reading, from the clock pairs seen so far;
    /// `None` before the first.
    pub fn unix_nanos(&self, ticks: u64) -> Option<u64> {
        self.clock.nanos(ticks)
    }

    /// Nanoseconds a number of ticks lasts (a span's busy or idle time), at the tick rate the
    /// clock pairs seen so far give: one tick a nanosecond until two pairs far enough apart
    /// give the rate.
    pub fn duration_nanos(&self, ticks: u64) -> u64 {
        self.clock.duration(ticks)
    }

    /// Events and spans whose callsite was never defined.
    pub fn orphans(&self) -> u64 {
        self.orphans
    }

    /// Records reported as dropped, so far: events and span records.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Span records among [`Context::dropped`] (known from files of format 2.2 on).
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_spans
    }

    /// The callsites the last `Dropped` record applied names, the most records first, if it
    /// is a report of `thread` and came with its breakdown (files of format 2.3 on). The
    /// report's records these do not count came from callsites it does not name, or from no
    /// callsite.
    ///
    /// ```
    /// use logbuf_journal::read::Context;
    /// use logbuf_journal::wire::{
    ///     Callsite, CallsiteKind, Dropped, DroppedCallsite, DroppedCallsites, Level, Record,
    /// };
    ///
    /// let mut context = Context::new();
    /// context.apply(&Record::Callsite(Callsite { id: 4, kind: CallsiteKind::Event,
    ///     level: Level::Info, target: "app::db", name: "query", module_path: None,
    ///     file: Some("src/db.rs"), line: Some(42), fields: vec![] }));
    /// context.apply(&Record::DroppedCallsites(DroppedCallsites { thread: 1,
    ///     callsites: vec![DroppedCallsite { callsite: 4, count: 90 }] }));
    /// context.apply(&Record::Dropped(Dropped { thread: 1, count: 100, first_time: 0,
    ///     last_time: 0 }));
    /// let named = context.drop_callsites(1).unwrap();
    /// assert_eq!((named[0].callsite.target.as_str(), named[0].count), ("app::db", 90));
    /// ```
    pub fn drop_callsites(&self, thread: u64) -> Option<&[LostCallsite]> {
        match &self.drop_callsites {
            Some((t, named)) if *t == thread => Some(named),
            _ => None,
        }
    }

    /// The callsites `named` gives, resolved; those not defined are left out, and the counts
    /// are bounded by the report's `count` (a damaged or crafted file may claim more).
    fn lost_callsites(&self, named: &wire::DroppedCallsites, count: u64) -> Vec<LostCallsite> {
        let mut left = count;
        let mut lost = Vec::with_capacity(named.callsites.len());
        for entry in &named.callsites {
            let Some(callsite) = self.callsites.get(&entry.callsite) else {
                continue;
            };
            let n = entry.count.min(left);
            if n == 0 {
                continue;
            }
            left -= n;
            lost.push(LostCallsite {
                callsite: Arc::clone(callsite),
                count: n,
            });
        }
        lost
    }

    /// Events flight recorders reported discarded by design in the records applied so far
    /// ([`Record::Discarded`], format 2.4): held in memory and never written, because no
    /// trigger came. Not drops.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }
}

/// Reads a journal file event by event, with context. Streaming: memory holds the callsite
/// table, thread names and the spans still open, not the file.
#[derive(Debug)]
pub struct Reader<R: Read> {
    file: FileReader<R>,
    context: Context,
}

impl Reader<BufReader<File>> {
    /// Opens the journal file at `path`.
    ///
    /// # Errors
    ///
    /// See [`OpenError`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Ok(Self::new(FileReader::open(path)?))
    }
}

impl<R: Read> Reader<R> {
    /// Reads events from a [`FileReader`].
    pub fn new(file: FileReader<R>) -> Self {
        let mut context = Context::new();
        context.add_clock(file.header().clock);
        Self { file, context }
    }

    /// The next event, with its context; `None` at the end of the file.
    ///
    /// # Errors
    ///
    /// Reading the file failed.
    pub fn next_event(&mut self) -> Option<io::Result<EventInContext<'_>>> {
        // Apply everything up to the next event whose callsite is known; the event is decoded
        // again below, outside the loop, so that it can borrow the reader's buffer.
        let frame = loop {
            let frame = match self.file.next_known_record()? {
                Ok(frame) => frame,
                Err(e) => return Some(Err(e)),
            };
            let Ok(record) = postcard::from_bytes::<Record<'_>>(self.file.payload(frame)) else {
                self.file.count(false);
                continue;
            };
            let event_ready = self.context.apply(&record);
            self.file.count(true);
            if event_ready {
                break frame;
            }
        };
        let Ok(Record::Event(event)) = postcard::from_bytes::<Record<'_>>(self.file.payload(frame))
        else {
            // Decoded as an event a moment ago from the same bytes.
            return Some(Err(io::Error::other(
                "journal record changed while being read",
            )));
        };
        self.context.event(event).map(Ok)
    }

    /// The context as it stands after the last event returned.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// What the file reader met besides good records.
    pub fn stats(&self) -> &ReadStats {
        self.file.stats()
    }

    /// Events and spans whose callsite was never defined (skipped).
    pub fn orphans(&self) -> u64 {
        self.context.orphans
    }

    /// Records the journal reported as dropped, so far: events and span records.
    pub fn dropped(&self) -> u64 {
        self.context.dropped
    }

    /// Span records among [`Reader::dropped`] (known from files of format 2.2 on).
    pub fn dropped_spans(&self) -> u64 {
        self.context.dropped_spans
    }

    /// Events flight recorders reported discarded by design in the records read so far (see
    /// [`Context::discarded`]).
    pub fn discarded(&self) -> u64 {
        self.context.discarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wall clock's reading worked out in 128-bit integers and floating point all
    /// through, as the shortcuts through `i64` must give it.
    fn nanos_in_i128(latest: wire::Clock, per_tick: f64, ticks: u64) -> u64 {
        let ticks = (i128::from(ticks) - i128::from(latest.ticks)) as f64;
        let nanos = (i128::from(latest.unix_nanos) + (ticks * per_tick) as i128).max(0);
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }

    #[test]
    fn readings_are_those_of_the_128_bit_sums_at_every_scale() {
        let pairs = [
            (0, 0),
            (1 << 40, 1_700_000_000_000_000_000),
            (u64::MAX, u64::MAX / 2),
        ];
        // Rates from the two pairs furthest apart: none, slow and fast counters, and ones
        // that carry offsets past an `i64` of nanoseconds.
        let rates = [
            (0, 0),
            (1_000_000, 333_333),
            (1_000_000, 3_000_000),
            (1 << 62, u64::MAX),
        ];
        let ticks = [
            0,
            1,
            999,
            1 << 40,
            (1 << 40) + 12_345_678,
            (1 << 40) - 1,
            i64::MAX as u64,
            i64::MAX as u64 + 1,
            1 << 63 | 12_345,
            u64::MAX - 1,
            u64::MAX,
        ];
        for (ticks_apart, nanos_apart) in rates {
            for (latest_ticks, latest_nanos) in pairs {
                let mut clock = WallClock::default();
                let start = wire::Clock {
                    ticks: latest_ticks.saturating_sub(ticks_apart),
                    unix_nanos: latest_nanos.saturating_sub(nanos_apart),
                };
                let latest = wire::Clock {
                    ticks: latest_ticks,
                    unix_nanos: latest_nanos,
                };
                clock.add(start);
                clock.add(latest);
                let per_tick = clock.per_tick();
                for &t in &ticks {
                    assert_eq!(
                        clock.nanos(t),
                        Some(nanos_in_i128(latest, per_tick, t)),
                        "{t} ticks, {per_tick} ns per tick, latest {latest:?}"
                    );
                }
            }
        }
    }
}
