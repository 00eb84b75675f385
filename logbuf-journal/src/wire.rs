//! The journal's records, as serde types encoded with [postcard](https://docs.rs/postcard).
//!
//! These types are the definition of the format; `FORMAT.md` in this crate spells out the bytes.
//! A record is a postcard-encoded [`Record`]: a varint kind (the variant index) followed by the
//! fields of that kind, in declaration order. Integers are varints (LEB128, signed ones
//! zig-zagged first), `f64` is 8 little-endian bytes, strings and byte strings are a varint
//! length and the bytes, an `Option` is a `0` or a `1` followed by the value, a `Vec` is a varint
//! count followed by the items.
//!
//! # Version rules
//!
//! The format has a major and a minor version ([`FORMAT_MAJOR`], [`FORMAT_MINOR`]). A minor
//! version may add record kinds at the end of [`Record`] and value kinds at the end of
//! [`Value`]; readers skip record kinds they do not know (the frame around each record gives its
//! length). Anything else (a field added, removed or reordered, a kind renumbered) is a new
//! major version, which older readers refuse.
//!
//! ```
//! use logbuf_journal::wire::{Event, Record, Value};
//!
//! let record = Record::Event(Event {
//!     callsite: 3,
//!     time: 1_000,
//!     thread: 1,
//!     parent: None,
//!     values: vec![Value::Str("done"), Value::U64(42)],
//! });
//! let bytes = postcard::to_allocvec(&record).unwrap();
//! assert_eq!(bytes, [1, 3, 0xe8, 0x07, 1, 0, 2, 7, 4, b'd', b'o', b'n', b'e', 1, 42]);
//! assert_eq!(postcard::from_bytes::<Record<'_>>(&bytes).unwrap(), record);
//! ```

use serde::{Deserialize, Serialize};

/// Major version of the format: readers refuse files of another major version.
pub const FORMAT_MAJOR: u16 = 2;
/// Minor version of the format: newer minors only add record and value kinds at the end.
///
/// 2.3 added [`Record::DroppedCallsites`]; 2.4 added [`Record::Discarded`].
pub const FORMAT_MINOR: u16 = 4;

/// One journal record.
///
/// The variant index is the record kind on the wire; new kinds are only ever appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record<'a> {
    /// Kind 0: what a callsite is, written once before its first event or span (and again at
    /// the start of every file, so each file decodes on its own).
    #[serde(borrow)]
    Callsite(Callsite<'a>),
    /// Kind 1: an event.
    #[serde(borrow)]
    Event(Event<'a>),
    /// Kind 2: a span was created.
    #[serde(borrow)]
    SpanNew(SpanNew<'a>),
    /// Kind 3: values were recorded on an existing span.
    #[serde(borrow)]
    SpanRecord(SpanRecord<'a>),
    /// Kind 4: a thread entered a span.
    SpanEnter(SpanTransition),
    /// Kind 5: a thread exited a span.
    SpanExit(SpanTransition),
    /// Kind 6: a span was closed; its id may be reused afterwards.
    SpanClose(SpanClose),
    /// Kind 7: a span follows from another (a causal link that is not parenthood).
    FollowsFrom(FollowsFrom),
    /// Kind 8: the name of a thread, written before its first record.
    #[serde(borrow)]
    ThreadName(ThreadName<'a>),
    /// Kind 9: events a thread dropped because its ring was full.
    Dropped(Dropped),
    /// Kind 10: a pairing of the tick counter with wall-clock time.
    Clock(Clock),
    /// Kind 11: a string that values refer to by id ([`Value::Interned`]), written once before
    /// its first use (and again at the start of every file).
    #[serde(borrow)]
    Interned(Interned<'a>),
    /// Kind 12 (format 2.1): a span was closed, with how long it was busy (entered on some
    /// thread) and idle over its life. Writers of 2.1 write this in place of
    /// [`Record::SpanClose`]; readers treat both as the span's close.
    SpanCloseTimes(SpanCloseTimes),
    /// Kind 13 (format 2.2): a thread has ended and all its records were written before this
    /// one; its id is never used again. Readers and sinks can forget its name, and a file
    /// started later does not repeat it.
    ThreadEnd(ThreadEnd),
    /// Kind 14 (format 2.2): how many of the records the [`Record::Dropped`] right before it
    /// counts were span records (creation, values, enter, exit, close, follows-from) rather
    /// than events. Written only when some were.
    DroppedSpans(DroppedSpans),
    /// Kind 15 (format 2.3): which callsites the records of the [`Record::Dropped`] right
    /// after it came from, the callsites that lost the most first. Writers of 2.3 write one
    /// before every `Dropped` record; the records it does not name are the rest of that
    /// record's `count`.
    DroppedCallsites(DroppedCallsites),
    /// Kind 16 (format 2.4): events a flight recorder held in memory and let go without
    /// writing them, because no trigger came while they were in its window: discarded by
    /// design, not lost (see [`crate::recorder`]).
    Discarded(Discarded),
}

/// Whether a callsite emits events or creates spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallsiteKind {
    /// `0`: an event callsite.
    Event,
    /// `1`: a span callsite.
    Span,
}

/// Verbosity level, ordered from the most to the least verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// `0`
    Trace,
    /// `1`
    Debug,
    /// `2`
    Info,
    /// `3`
    Warn,
    /// `4`
    Error,
}

/// A callsite: the static description events and spans refer to by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callsite<'a> {
    /// The id events and spans use; unique within a file.
    pub id: u64,
    /// Event or span.
    pub kind: CallsiteKind,
    /// Level.
    pub level: Level,
    /// Target, usually the module path.
    pub target: &'a str,
    /// Name: the span name, or an event's name (tracing makes one from file and line).
    pub name: &'a str,
    /// Module path, if known.
    pub module_path: Option<&'a str>,
    /// Source file, if known.
    pub file: Option<&'a str>,
    /// Source line, if known.
    pub line: Option<u32>,
    /// Field names, in the order events and spans give their values.
    #[serde(borrow)]
    pub fields: Vec<&'a str>,
}

/// An event: a callsite, when, on which thread, inside which span, with which values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<'a> {
    /// Callsite id.
    pub callsite: u64,
    /// Tick counter at the event; [`Clock`] records turn ticks into wall-clock time.
    pub time: u64,
    /// Thread id, as given by the journal (small integers, named by [`ThreadName`]).
    pub thread: u64,
    /// Id of the span the event is in, if any.
    pub parent: Option<u64>,
    /// Values in the order of the callsite's fields; [`Value::Empty`] for fields not recorded.
    #[serde(borrow)]
    pub values: Vec<Value<'a>>,
}

/// A new span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanNew<'a> {
    /// The span's id; unique among open spans.
    pub id: u64,
    /// Parent span, if any.
    pub parent: Option<u64>,
    /// Callsite id.
    pub callsite: u64,
    /// Tick counter at creation.
    pub time: u64,
    /// Thread that created it.
    pub thread: u64,
    /// Values in the order of the callsite's fields; [`Value::Empty`] for fields not recorded.
    #[serde(borrow)]
    pub values: Vec<Value<'a>>,
}

/// Values recorded on an existing span after its creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord<'a> {
    /// The span's id.
    pub id: u64,
    /// Values in the order of the callsite's fields; [`Value::Empty`] for fields not recorded
    /// by this call.
    #[serde(borrow)]
    pub values: Vec<Value<'a>>,
}

/// A thread entering or exiting a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanTransition {
    /// The span's id.
    pub id: u64,
    /// Tick counter at the transition.
    pub time: u64,
    /// The thread.
    pub thread: u64,
}

/// A span closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanClose {
    /// The span's id.
    pub id: u64,
    /// Tick counter at the close.
    pub time: u64,
}

/// A span closing, with its busy and idle time: what a span's enter and exit records would
/// tell, without a record per enter and exit.
///
/// `busy` counts the ticks during which at least one thread had the span entered (a span
/// entered again while entered, on the same thread or another, counts once); `idle` is the rest
/// of its life, from its creation to `time`. Both are tick counts, turned into nanoseconds
/// with the rate [`Clock`] records give, like times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanCloseTimes {
    /// The span's id.
    pub id: u64,
    /// Tick counter at the close.
    pub time: u64,
    /// Ticks the span was entered, on any thread.
    pub busy: u64,
    /// Ticks from its creation to its close that it was not entered.
    pub idle: u64,
}

/// A causal link from one span to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowsFrom {
    /// The span that follows.
    pub span: u64,
    /// The span it follows from.
    pub follows: u64,
}

/// The name of a thread id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadName<'a> {
    /// Thread id.
    pub thread: u64,
    /// Its name.
    pub name: &'a str,
}

/// A thread that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadEnd {
    /// Thread id.
    pub thread: u64,
    /// Tick counter when the journal saw the thread gone (after its last record).
    pub time: u64,
}

/// How many of a [`Dropped`] report's records were span records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedSpans {
    /// Thread id, as in the `Dropped` record before.
    pub thread: u64,
    /// Span records among that record's `count`.
    pub count: u64,
}

/// Which callsites the records of a [`Dropped`] report came from: written right before it.
///
/// The journal names at most 8 callsites per report, those that lost the most records (ties
/// by callsite id), with their exact counts; the records it does not name (of other callsites,
/// or of no callsite: span records after a span's creation, writes that gave none) are the
/// `Dropped` record's `count` less the sum of these. Readers must take any number of entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedCallsites {
    /// Thread id, as in the `Dropped` record after it.
    pub thread: u64,
    /// Callsites and how many of their records were dropped, the most first.
    pub callsites: Vec<DroppedCallsite>,
}

/// One callsite in a [`DroppedCallsites`] record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedCallsite {
    /// Callsite id.
    pub callsite: u64,
    /// Records of it dropped.
    pub count: u64,
}

/// Events a flight recorder discarded by design since its previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discarded {
    /// How many events.
    pub count: u64,
    /// Tick counter of the oldest of them.
    pub first_time: u64,
    /// Tick counter of the newest of them.
    pub last_time: u64,
}

/// Events dropped by one thread because its ring was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Thread id.
    pub thread: u64,
    /// How many events were dropped.
    pub count: u64,
    /// Tick counter at the first dropped event.
    pub first_time: u64,
    /// Tick counter at the last dropped event.
    pub last_time: u64,
}

/// A pairing of the tick counter with wall-clock time. Two of these give the tick rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// Tick counter.
    pub ticks: u64,
    /// Nanoseconds since the Unix epoch at the same moment.
    pub unix_nanos: u64,
}

/// A string defined once and referred to by id: messages without arguments, which a callsite
/// repeats with every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interned<'a> {
    /// The id [`Value::Interned`] refers to; unique within a file.
    pub id: u64,
    /// The text.
    pub text: &'a str,
}

/// A field value.
///
/// The variant index is the value kind on the wire; new kinds are only ever appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value<'a> {
    /// Kind 0: the field was not recorded.
    Empty,
    /// Kind 1.
    U64(u64),
    /// Kind 2.
    I64(i64),
    /// Kind 3.
    U128(u128),
    /// Kind 4.
    I128(i128),
    /// Kind 5.
    F64(f64),
    /// Kind 6.
    Bool(bool),
    /// Kind 7: a string value.
    Str(&'a str),
    /// Kind 8: a byte string.
    Bytes(&'a [u8]),
    /// Kind 9: text formatted on the logging thread: `Debug` values and formatted messages.
    Debug(&'a str),
    /// Kind 10: an error, its message and the messages of its source chain, outermost first.
    Error {
        /// `Display` of the error.
        message: &'a str,
        /// `Display` of each `source()`, outermost first.
        #[serde(borrow)]
        sources: Vec<&'a str>,
    },
    /// Kind 11: a string defined by an [`Interned`] record, by its id. Readers resolve it to
    /// [`Value::Str`].
    Interned(u64),
}
