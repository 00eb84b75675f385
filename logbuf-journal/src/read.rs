//! Reading a journal as events in context: each event with its callsite, its thread's name, the
//! spans it is in (outermost first) and its wall-clock time.
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

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

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
        }
    }
}

/// A span that is open at the point the reader has reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The span's id.
    pub id: u64,
    /// Its parent, if any.
    pub parent: Option<u64>,
    /// Its callsite.
    pub callsite: Callsite,
    /// Its values, in callsite order, with later `record`s applied.
    pub values: Vec<OwnedValue>,
}

/// An event with its context, as [`Reader::next_event`] yields it.
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
}

/// Turns tick readings into wall-clock time from `Clock` pairs: the rate comes from the first
/// and the latest pair, the offset from the latest pair at or before the reading.
#[derive(Debug, Default)]
struct WallClock {
    first: Option<wire::Clock>,
    latest: Option<wire::Clock>,
}

impl WallClock {
    fn add(&mut self, pair: wire::Clock) {
        self.first.get_or_insert(pair);
        self.latest = Some(pair);
    }

    fn nanos(&self, ticks: u64) -> Option<u64> {
        let (first, latest) = (self.first?, self.latest?);
        let span_ticks = latest.ticks.checked_sub(first.ticks)?;
        let span_nanos = latest.unix_nanos.checked_sub(first.unix_nanos)?;
        // One pair, or pairs read back to back: assume one tick per nanosecond until a later
        // pair gives the rate.
        let per_tick = if span_ticks < 1_000 {
            1.0
        } else {
            span_nanos as f64 / span_ticks as f64
        };
        let delta = (ticks as f64 - latest.ticks as f64) * per_tick;
        Some((latest.unix_nanos as f64 + delta).max(0.0) as u64)
    }
}

/// Reads a journal file event by event, with context. Streaming: memory holds the callsite
/// table, thread names and the spans still open, not the file.
#[derive(Debug)]
pub struct Reader<R: Read> {
    file: FileReader<R>,
    callsites: HashMap<u64, Callsite>,
    threads: HashMap<u64, String>,
    spans: HashMap<u64, Span>,
    clock: WallClock,
    orphans: u64,
    dropped: u64,
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
        let mut clock = WallClock::default();
        clock.add(file.header().clock);
        Self {
            file,
            callsites: HashMap::new(),
            threads: HashMap::new(),
            spans: HashMap::new(),
            clock,
            orphans: 0,
            dropped: 0,
        }
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
            let frame = match self.file.next_known_frame()? {
                Ok(frame) => frame,
                Err(e) => return Some(Err(e)),
            };
            let Ok(record) = postcard::from_bytes::<Record<'_>>(self.file.payload(frame)) else {
                self.file.count(false);
                continue;
            };
            let event_ready = match record {
                Record::Callsite(c) => {
                    self.callsites.insert(c.id, Callsite::from(&c));
                    false
                }
                Record::ThreadName(t) => {
                    self.threads.insert(t.thread, t.name.to_owned());
                    false
                }
                Record::Clock(pair) => {
                    self.clock.add(pair);
                    false
                }
                Record::SpanNew(s) => {
                    match self.callsites.get(&s.callsite) {
                        Some(callsite) => {
                            let span = Span {
                                id: s.id,
                                parent: s.parent,
                                callsite: callsite.clone(),
                                values: s.values.iter().map(OwnedValue::from).collect(),
                            };
                            self.spans.insert(s.id, span);
                        }
                        None => self.orphans += 1,
                    }
                    false
                }
                Record::SpanRecord(r) => {
                    if let Some(span) = self.spans.get_mut(&r.id) {
                        for (slot, value) in span.values.iter_mut().zip(&r.values) {
                            if *value != Value::Empty {
                                *slot = OwnedValue::from(value);
                            }
                        }
                    }
                    false
                }
                Record::SpanClose(c) => {
                    self.spans.remove(&c.id);
                    false
                }
                Record::Dropped(d) => {
                    self.dropped += d.count;
                    false
                }
                Record::SpanEnter(_) | Record::SpanExit(_) | Record::FollowsFrom(_) => false,
                Record::Event(e) => {
                    let known = self.callsites.contains_key(&e.callsite);
                    self.orphans += u64::from(!known);
                    known
                }
            };
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
        let callsite = self.callsites.get(&event.callsite)?;
        let mut spans = Vec::new();
        let mut next = event.parent;
        while let Some(id) = next {
            match self.spans.get(&id) {
                // A parent chain longer than the open spans is a cycle (damage).
                Some(span) if spans.len() <= self.spans.len() => {
                    spans.push(span);
                    next = span.parent;
                }
                _ => break,
            }
        }
        spans.reverse();
        Some(Ok(EventInContext {
            thread_name: self.threads.get(&event.thread).map(String::as_str),
            unix_nanos: self.clock.nanos(event.time),
            event,
            callsite,
            spans,
        }))
    }

    /// What the file reader met besides good records.
    pub fn stats(&self) -> &ReadStats {
        self.file.stats()
    }

    /// Events and spans whose callsite was never defined (skipped).
    pub fn orphans(&self) -> u64 {
        self.orphans
    }

    /// Events the journal reported as dropped, so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
