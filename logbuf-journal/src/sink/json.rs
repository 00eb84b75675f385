//! JSON lines with the keys of `tracing-subscriber`'s JSON format, formatted on the worker
//! thread, so log pipelines that read `fmt().json()` output read these unchanged.
//!
//! ```text
//! {"timestamp":"2026-11-29T06:40:00.123456Z","level":"INFO","fields":{"message":"query done","rows":3},"target":"app::db","span":{"table":"users","name":"db"},"spans":[{"path":"/users","name":"request"},{"table":"users","name":"db"}]}
//! ```
//!
//! One object per line, its keys in this order, each present when its option is on and it has
//! something to say:
//!
//! | key | what | option |
//! |:--|:--|:--|
//! | `timestamp` | RFC 3339, UTC (`…Z`) or local (`…+01:00`), microseconds; or the uptime or a custom format ([`Timestamps`]) | [`JsonFormat::with_timestamps`] |
//! | `level` | `"TRACE"` … `"ERROR"` | [`JsonFormat::with_level`] |
//! | `fields` | the event's fields, `message` among them | [`JsonFormat::flatten_event`] puts them at the top level instead |
//! | `target` | the event's target | [`JsonFormat::with_target`] |
//! | `filename`, `line_number` | the callsite's source file and line | [`JsonFormat::with_file`], [`JsonFormat::with_line_number`] |
//! | `span` | the innermost span: its fields, then `name` | [`JsonFormat::with_current_span`] |
//! | `spans` | every span the event is in, outermost first, each as `span` is | [`JsonFormat::with_span_list`] |
//! | `threadName` | the name of the thread that logged the event (its id, as `threadId`, if it has none) | [`JsonFormat::with_thread_names`] |
//! | `threadId` | the journal's id of that thread, `"ThreadId(N)"` | [`JsonFormat::with_thread_ids`] |
//!
//! Records the journal had to drop ([`Record::Dropped`]) are reported by an object of their
//! own with the same keys, level `WARN`, target `logbuf` ([`JsonFormat::render_dropped`]):
//!
//! ```text
//! {"timestamp":"2026-11-29T06:40:00.123456Z","level":"WARN","fields":{"message":"records dropped","dropped":1234,"thread":"worker-3","reason":"ring full or record too large"},"target":"logbuf"}
//! ```
//!
//! From format 2.3 on, `fields` also holds `callsites`: the callsites the report names, the
//! most first, each as `{"target", "name", "file", "line", "count"}`.
//!
//! Values map as `tracing-subscriber` maps them: `u64` and `i64` to JSON integers, `f64` to
//! numbers (`NaN` and infinities to `null`), booleans to booleans, strings to strings; `u128`
//! and `i128` to strings of their decimal digits (no JSON reader is obliged to keep more than
//! an `f64`'s precision); text formatted on the logging thread (`Debug` and `Display` values,
//! messages) to strings as it is; bytes to a string of hex, `"[61 62]"`; errors to the string
//! of their message. Fields that were not recorded are left out. A span's fields come sorted
//! by name, each with its latest value.
//!
//! `span` and `spans` both follow the event's parent. For an event given an explicit parent
//! (`info!(parent: &span, ..)`) on a thread that is not inside that span, `fmt` writes the
//! parent as `span` but takes `spans` from the spans the thread is in; here `spans` lists the
//! parent and its ancestors, as the text format does.
//!
//! Every control character in a string is escaped (`\n`, `\u001b`, and also DEL and the C1
//! controls, which JSON allows raw), so a line never breaks and never drives a terminal.

use crate::IdMap;
use std::io::{self, Write};

use super::text::{
    Bytes, DROP_TARGET, DropReport, Lines, SpanClosing, Target, TimeFormatter, Timestamps,
    field_name, hex_bytes, push_duration, push_i64, push_u64,
};
use super::{Entry, Sink};
use crate::read::{EventInContext, OwnedValue, Span};
use crate::wire::{Level, Record, SpanClose, SpanCloseTimes, Value};
use std::fmt::Write as _;

/// One of the format's own keys, quoted and followed by its colon, for [`Object::known`].
macro_rules! known {
    ($key:literal) => {
        concat!("\"", $key, "\":")
    };
}

// === impl JsonFormat ===

/// How events are written as JSON: the options of `tracing-subscriber`'s JSON format, and the
/// renderer.
///
/// The defaults are `fmt().json()`'s: timestamp, level, `fields`, target, `span` and `spans`;
/// no thread names or ids, no file or line.
///
/// ```
/// use logbuf_journal::read::Context;
/// use logbuf_journal::sink::json::JsonFormat;
/// use logbuf_journal::sink::text::Timestamps;
/// use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, Value};
///
/// let mut context = Context::new();
/// context.apply(&Record::Callsite(Callsite { id: 1, kind: CallsiteKind::Event,
///     level: Level::Warn, target: "app", name: "event", module_path: None,
///     file: None, line: None, fields: vec!["message", "retries"] }));
/// let event = Event { callsite: 1, time: 0, thread: 1, parent: None,
///     values: vec![Value::Debug("slow"), Value::U64(3)] };
///
/// let format = JsonFormat::new().with_timestamps(Timestamps::None);
/// let mut line = Vec::new();
/// format.render(&context.event(event).unwrap(), &mut line);
/// assert_eq!(
///     String::from_utf8(line).unwrap(),
///     "{\"level\":\"WARN\",\"fields\":{\"message\":\"slow\",\"retries\":3},\"target\":\"app\"}\n",
/// );
/// ```
#[derive(Debug, Clone)]
pub struct JsonFormat {
    timestamps: Timestamps,
    flatten_event: bool,
    current_span: bool,
    span_list: bool,
    target: bool,
    level: bool,
    thread_names: bool,
    thread_ids: bool,
    file: bool,
    line_number: bool,
    span_close: bool,
    time: TimeFormatter,
}

impl Default for JsonFormat {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonFormat {
    /// `fmt().json()`'s defaults.
    pub fn new() -> Self {
        Self {
            timestamps: Timestamps::Rfc3339Utc,
            flatten_event: false,
            current_span: true,
            span_list: true,
            target: true,
            level: true,
            thread_names: false,
            thread_ids: false,
            file: false,
            line_number: false,
            span_close: false,
            time: TimeFormatter::json(),
        }
    }

    /// An object when a span closes, as `fmt().json()` with `with_span_events(FmtSpan::CLOSE)`
    /// writes it: the keys of an event's object, with the span's level, target, file and line,
    /// the fields `message` (`"close"`), `time.busy` and `time.idle` (strings, `"1.25ms"`),
    /// the span as `span` and the spans it is in as `spans` (outermost first, not the span
    /// itself; `[]` for a span at the root). `fmt` writes as `spans` the spans the closing
    /// thread is in, which are the same for a span closed inside the spans it was made in,
    /// as spans usually are.
    ///
    /// The times are there only when the journal has them, as for the text sink
    /// ([`TextFormat::with_span_close`](super::text::TextFormat::with_span_close)), which
    /// also says which thread is shown. Default off.
    ///
    /// ```
    /// use logbuf_journal::sink::json::JsonSink;
    ///
    /// let sink = JsonSink::stdout().with_format(|f| f.with_span_close(true));
    /// # drop(sink);
    /// ```
    pub fn with_span_close(mut self, on: bool) -> Self {
        self.span_close = on;
        self
    }

    /// How to write `timestamp`; [`Timestamps::None`] leaves the key out. Default
    /// [`Timestamps::Rfc3339Utc`].
    pub fn with_timestamps(mut self, timestamps: Timestamps) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// The event's fields at the top level of the object instead of under `fields`. Default
    /// off.
    pub fn flatten_event(mut self, flatten: bool) -> Self {
        self.flatten_event = flatten;
        self
    }

    /// The innermost span, under `span`. Default on.
    pub fn with_current_span(mut self, on: bool) -> Self {
        self.current_span = on;
        self
    }

    /// Every span the event is in, under `spans`. Default on.
    pub fn with_span_list(mut self, on: bool) -> Self {
        self.span_list = on;
        self
    }

    /// `target`. Default on.
    pub fn with_target(mut self, on: bool) -> Self {
        self.target = on;
        self
    }

    /// `level`. Default on.
    pub fn with_level(mut self, on: bool) -> Self {
        self.level = on;
        self
    }

    /// `threadName`: the thread's name, or `"ThreadId(N)"` for a thread without one. Default
    /// off.
    pub fn with_thread_names(mut self, on: bool) -> Self {
        self.thread_names = on;
        self
    }

    /// `threadId`. Default off.
    pub fn with_thread_ids(mut self, on: bool) -> Self {
        self.thread_ids = on;
        self
    }

    /// `filename`. Default off.
    pub fn with_file(mut self, on: bool) -> Self {
        self.file = on;
        self
    }

    /// `line_number`. Default off.
    pub fn with_line_number(mut self, on: bool) -> Self {
        self.line_number = on;
        self
    }

    /// Appends the event's object, with a line feed, to `out`.
    pub fn render(&self, event: &EventInContext<'_>, out: &mut Vec<u8>) {
        self.render_with(event, &IdMap::default(), out);
    }

    /// [`JsonFormat::render`] with the spans' objects taken from `spans` where it has them.
    fn render_with(&self, event: &EventInContext<'_>, spans: &IdMap<Vec<u8>>, out: &mut Vec<u8>) {
        let callsite = event.callsite;
        let head = Head {
            unix_nanos: event.unix_nanos,
            level: callsite.level,
            target: &callsite.target,
            file: callsite.file.as_deref(),
            line: callsite.line,
            thread: event.event.thread,
            thread_name: event.thread_name,
        };
        let names = callsite.fields.iter().map(String::as_str);
        let values = event.event.values.iter().map(Field::Wire);
        let current = event.spans.last().copied();
        let mut obj = self.object_start(&head, out);
        if self.flatten_event {
            fields(&mut obj, names.zip(values));
        } else {
            let mut inner = Object::open(obj.known(known!("fields")));
            fields(&mut inner, names.zip(values));
            inner.close();
        }
        self.object_end(obj, &head, current, &event.spans, spans);
    }

    /// Appends the object for a span's close ([`JsonFormat::with_span_close`]), with a line
    /// feed, to `out`.
    ///
    /// ```
    /// use logbuf_journal::read::Context;
    /// use logbuf_journal::sink::json::JsonFormat;
    /// use logbuf_journal::sink::text::{SpanClosing, Timestamps};
    /// use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, SpanCloseTimes, SpanNew};
    ///
    /// let mut context = Context::new();
    /// context.apply(&Record::Callsite(Callsite { id: 1, kind: CallsiteKind::Span,
    ///     level: Level::Info, target: "app", name: "job", module_path: None, file: None,
    ///     line: None, fields: vec![] }));
    /// context.apply(&Record::SpanNew(SpanNew { id: 4, parent: None, callsite: 1, time: 0,
    ///     thread: 1, values: vec![] }));
    /// let close = Record::SpanCloseTimes(SpanCloseTimes { id: 4, time: 0, busy: 1_250_000,
    ///     idle: 35_400 });
    /// let mut line = Vec::new();
    /// JsonFormat::new().render_close(&SpanClosing::new(&context, &close).unwrap(), &mut line);
    /// assert_eq!(
    ///     String::from_utf8(line).unwrap(),
    ///     "{\"level\":\"INFO\",\"fields\":{\"message\":\"close\",\"time.busy\":\"1.25ms\",\
    ///      \"time.idle\":\"35.4µs\"},\"target\":\"app\",\"span\":{\"name\":\"job\"},\
    ///      \"spans\":[]}\n",
    /// );
    /// ```
    pub fn render_close(&self, closing: &SpanClosing<'_>, out: &mut Vec<u8>) {
        self.render_close_with(closing, &IdMap::default(), out);
    }

    fn render_close_with(
        &self,
        closing: &SpanClosing<'_>,
        spans: &IdMap<Vec<u8>>,
        out: &mut Vec<u8>,
    ) {
        let callsite = &closing.span.callsite;
        let head = Head {
            unix_nanos: closing.unix_nanos,
            level: callsite.level,
            target: &callsite.target,
            file: callsite.file.as_deref(),
            line: callsite.line,
            thread: closing.span.thread,
            thread_name: closing.thread_name,
        };
        let around = &closing.scope[..closing.scope.len().saturating_sub(1)];
        let members = |obj: &mut Object<'_>| {
            string("close", obj.key("message"));
            if let Some((busy, idle)) = closing.times {
                for (key, nanos) in [("time.busy", busy), ("time.idle", idle)] {
                    let out = obj.key(key);
                    out.push(b'"');
                    push_duration(out, nanos);
                    out.push(b'"');
                }
            }
        };
        let mut obj = self.object_start(&head, out);
        if self.flatten_event {
            members(&mut obj);
        } else {
            let mut inner = Object::open(obj.known(known!("fields")));
            members(&mut inner);
            inner.close();
        }
        self.object_end(obj, &head, Some(closing.span), around, spans);
    }

    /// Opens an object and writes what comes before its fields: `timestamp`, `level`.
    #[inline(always)]
    fn object_start<'o>(&self, head: &Head<'_>, out: &'o mut Vec<u8>) -> Object<'o> {
        let mut obj = Object::open(out);
        if !matches!(self.timestamps, Timestamps::None)
            && let Some(nanos) = head.unix_nanos
        {
            self.timestamp(&mut obj, nanos);
        }
        if self.level {
            obj.known(level_member(head.level));
        }
        obj
    }

    /// Writes what comes after an object's fields, `current` as `span` and, when there is one,
    /// `list` as `spans`, and closes it and the line.
    #[inline(always)]
    fn object_end(
        &self,
        mut obj: Object<'_>,
        head: &Head<'_>,
        current: Option<&Span>,
        list: &[&Span],
        spans: &IdMap<Vec<u8>>,
    ) {
        let span_object = |span: &Span, out: &mut Vec<u8>| match spans.get(&span.id) {
            Some(object) => out.extend_from_slice(object),
            None => span_object(span, out),
        };
        if self.target {
            string(head.target, obj.known(known!("target")));
        }
        if self.file
            && let Some(file) = head.file
        {
            string(file, obj.known(known!("filename")));
        }
        if self.line_number
            && let Some(line) = head.line
        {
            push_u64(obj.known(known!("line_number")), u64::from(line), 1);
        }
        if self.current_span
            && let Some(span) = current
        {
            span_object(span, obj.known(known!("span")));
        }
        if self.span_list && current.is_some() {
            let out = obj.known(known!("spans"));
            out.push(b'[');
            for (i, span) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                span_object(span, out);
            }
            out.push(b']');
        }
        if self.thread_names {
            match head.thread_name {
                Some(name) => string(name, obj.known(known!("threadName"))),
                None => thread_id(head.thread, obj.known(known!("threadName"))),
            }
        }
        if self.thread_ids {
            thread_id(head.thread, obj.known(known!("threadId")));
        }
        obj.close_line();
    }
}

/// What an object says besides its fields and spans.
struct Head<'a> {
    unix_nanos: Option<u64>,
    level: Level,
    target: &'a str,
    file: Option<&'a str>,
    line: Option<u32>,
    thread: u64,
    thread_name: Option<&'a str>,
}

impl JsonFormat {
    /// Appends the object for the report of dropped records `report`, with a line feed, to
    /// `out`: the keys of an event's object, with level `WARN`, target `logbuf` and the fields
    /// `message` (`"records dropped"`), `dropped` (the count), `thread` (the name of the
    /// thread whose records were dropped, `"ThreadId(N)"` if it has none; left out for thread
    /// 0, records dropped where no thread's ring could count them) and `reason`.
    ///
    /// ```
    /// use logbuf_journal::read::Context;
    /// use logbuf_journal::sink::json::JsonFormat;
    /// use logbuf_journal::sink::text::DropReport;
    /// use logbuf_journal::wire::{Dropped, Record, ThreadName};
    ///
    /// let mut context = Context::new();
    /// context.apply(&Record::ThreadName(ThreadName { thread: 3, name: "worker-3" }));
    /// let dropped = Dropped { thread: 3, count: 1234, first_time: 0, last_time: 0 };
    /// let mut line = Vec::new();
    /// JsonFormat::new().render_dropped(&DropReport::new(&context, dropped), &mut line);
    /// assert_eq!(
    ///     String::from_utf8(line).unwrap(),
    ///     "{\"level\":\"WARN\",\"fields\":{\"message\":\"records dropped\",\"dropped\":1234,\
    ///      \"thread\":\"worker-3\",\"reason\":\"ring full or record too large\"},\"target\":\"logbuf\"}\n",
    /// );
    /// ```
    pub fn render_dropped(&self, report: &DropReport<'_>, out: &mut Vec<u8>) {
        let thread = report.dropped.thread;
        let mut obj = Object::open(out);
        if !matches!(self.timestamps, Timestamps::None)
            && let Some(nanos) = report.unix_nanos
        {
            self.timestamp(&mut obj, nanos);
        }
        if self.level {
            string(level_name(Level::Warn), obj.key("level"));
        }
        let members = |obj: &mut Object<'_>| {
            string("records dropped", obj.key("message"));
            push_u64(obj.key("dropped"), report.dropped.count, 1);
            if thread != 0 {
                match report.thread_name {
                    Some(name) => string(name, obj.key("thread")),
                    None => thread_id(thread, obj.key("thread")),
                }
                string("ring full or record too large", obj.key("reason"));
                lost_callsites(report, obj);
            } else {
                string(
                    "outside any thread's ring: re-entrant writes or thread teardown",
                    obj.key("reason"),
                );
            }
        };
        if self.flatten_event {
            members(&mut obj);
        } else {
            let mut inner = Object::open(obj.known(known!("fields")));
            members(&mut inner);
            inner.close();
        }
        if self.target {
            string(DROP_TARGET, obj.key("target"));
        }
        if self.thread_names {
            match report.thread_name {
                Some(name) => string(name, obj.key("threadName")),
                None => thread_id(thread, obj.key("threadName")),
            }
        }
        if self.thread_ids {
            thread_id(thread, obj.key("threadId"));
        }
        obj.close();
        out.push(b'\n');
    }
}

impl JsonFormat {
    /// `timestamp`, the first member of `obj`; left out when there is no time to write (a
    /// custom format chrono cannot use, a year past 9999).
    #[inline]
    fn timestamp(&self, obj: &mut Object<'_>, nanos: u64) {
        let mark = obj.out.len();
        let out = obj.known(known!("timestamp"));
        out.push(b'"');
        let written = self.time.write(self.timestamps, nanos, out);
        out.push(b'"');
        if !written {
            obj.out.truncate(mark);
            obj.first = true;
        }
    }
}

fn thread_id(thread: u64, out: &mut Vec<u8>) {
    let _ = write!(Bytes(out), "\"ThreadId({thread})\"");
}

/// The `level` member of an object, key and value.
fn level_member(level: Level) -> &'static str {
    match level {
        Level::Trace => concat!(known!("level"), "\"TRACE\""),
        Level::Debug => concat!(known!("level"), "\"DEBUG\""),
        Level::Info => concat!(known!("level"), "\"INFO\""),
        Level::Warn => concat!(known!("level"), "\"WARN\""),
        Level::Error => concat!(known!("level"), "\"ERROR\""),
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    }
}

/// Writes an object's members one key at a time.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Object<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Writes a member's key given quoted, with its colon (`known!("level")`), and hands back
    /// the buffer for the value: the format's own keys, which need no escaping, in one copy.
    #[inline]
    fn known(&mut self, quoted: &'static str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.extend_from_slice(quoted.as_bytes());
        self.out
    }

    /// Writes `"key":` and hands back the buffer for the value.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        string(key, self.out);
        self.out.push(b':');
        self.out
    }

    fn close(self) {
        self.out.push(b'}');
    }

    /// Closes the object and the line.
    fn close_line(self) {
        self.out.extend_from_slice(b"}\n");
    }
}

/// The callsites a drop report names (format 2.3 on), as `"callsites"`: an array of
/// `{"target", "name", "file", "line", "count"}`, the most first; nothing when it names none.
fn lost_callsites(report: &DropReport<'_>, obj: &mut Object<'_>) {
    let Some(named) = report.callsites.filter(|n| !n.is_empty()) else {
        return;
    };
    let out = obj.key("callsites");
    out.push(b'[');
    for (i, lost) in named.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let callsite = &lost.callsite;
        let mut entry = Object::open(out);
        string(&callsite.target, entry.key("target"));
        string(&callsite.name, entry.key("name"));
        if let Some(file) = &callsite.file {
            string(file, entry.key("file"));
        }
        if let Some(line) = callsite.line {
            push_u64(entry.key("line"), u64::from(line), 1);
        }
        push_u64(entry.key("count"), lost.count, 1);
        entry.close();
    }
    out.push(b']');
}

/// A span as an object: its recorded fields sorted by name, then `name`.
fn span_object(span: &Span, out: &mut Vec<u8>) {
    let members = span
        .callsite
        .fields
        .iter()
        .map(|n| field_name(n))
        .zip(&span.values)
        .filter(|(_, v)| **v != OwnedValue::Empty);
    let mut obj = Object::open(out);
    // Most spans have a few fields: sorted on the stack, without a vector.
    const FEW: usize = 8;
    let mut few: [(&str, &OwnedValue); FEW] = [("", &OwnedValue::Empty); FEW];
    let mut n = 0;
    let mut more = Vec::new();
    for member in members {
        if n < FEW {
            few[n] = member;
            n += 1;
        } else {
            if more.is_empty() {
                more.extend_from_slice(&few);
            }
            more.push(member);
        }
    }
    let sorted: &mut [(&str, &OwnedValue)] = if more.is_empty() {
        &mut few[..n]
    } else {
        &mut more
    };
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    fields(&mut obj, sorted.iter().map(|&(n, v)| (n, Field::Owned(v))));
    string(&span.callsite.name, obj.known(known!("name")));
    obj.close();
}

/// Writes recorded fields as members of `obj`.
fn fields<'v, 'n>(obj: &mut Object<'_>, fields: impl Iterator<Item = (&'n str, Field<'v>)>) {
    for (name, value) in fields {
        if value.is_empty() {
            continue;
        }
        value.write(obj.key(field_name(name)));
    }
}

/// A value from an event record or from a span.
#[derive(Clone, Copy)]
enum Field<'v> {
    Wire(&'v Value<'v>),
    Owned(&'v OwnedValue),
}

impl Field<'_> {
    fn is_empty(self) -> bool {
        matches!(
            self,
            Field::Wire(Value::Empty) | Field::Owned(OwnedValue::Empty)
        )
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Field::Wire(v) => match v {
                Value::Empty => out.extend_from_slice(b"null"),
                Value::U64(v) => push_u64(out, *v, 1),
                Value::I64(v) => push_i64(out, *v),
                Value::U128(v) => quoted_integer(v, out),
                Value::I128(v) => quoted_integer(v, out),
                Value::F64(v) => float(*v, out),
                Value::Bool(v) => integer(v, out),
                Value::Str(v) | Value::Debug(v) => string(v, out),
                Value::Bytes(v) => hex_string(v, out),
                Value::Error { message, .. } => string(message, out),
                // Resolved by the context before rendering: only a missing definition is left.
                Value::Interned(_) => string(crate::read::UNKNOWN_STRING, out),
            },
            Field::Owned(v) => match v {
                OwnedValue::Empty => out.extend_from_slice(b"null"),
                OwnedValue::U64(v) => push_u64(out, *v, 1),
                OwnedValue::I64(v) => push_i64(out, *v),
                OwnedValue::U128(v) => quoted_integer(v, out),
                OwnedValue::I128(v) => quoted_integer(v, out),
                OwnedValue::F64(v) => float(*v, out),
                OwnedValue::Bool(v) => integer(v, out),
                OwnedValue::Str(v) | OwnedValue::Debug(v) => string(v, out),
                OwnedValue::Bytes(v) => hex_string(v, out),
                OwnedValue::Error { message, .. } => string(message, out),
            },
        }
    }
}

/// A value whose `Display` is its JSON (integers, booleans).
fn integer(v: impl std::fmt::Display, out: &mut Vec<u8>) {
    let _ = write!(Bytes(out), "{v}");
}

fn quoted_integer(v: impl std::fmt::Display, out: &mut Vec<u8>) {
    let _ = write!(Bytes(out), "\"{v}\"");
}

/// A number as serde_json writes it (shortest round-trip digits, `1e+300`), `null` when not
/// finite.
fn float(v: f64, out: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *out, &v).is_err() {
        out.extend_from_slice(b"null");
    }
}

fn hex_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    hex_bytes(bytes, out);
    out.push(b'"');
}

/// Bytes that [`string`] may have to escape: C0 controls, DEL, `"`, `\\`, and 0xc2, which
/// starts the C1 controls.
static JSON_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[0x7f] = true;
    table[0xc2] = true;
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Whether any byte of the 8 in `word` is one [`JSON_SPECIAL`] marks: below 0x20, `"`,
/// `\\`, DEL or 0xc2. Exact for the word as a whole (the per-byte flags of the subtractions
/// may be wrong past a byte that borrows, but only after a byte that is itself a match).
#[inline]
fn has_special(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Some byte below `n` (n <= 0x80): it borrows into its own high bit, which was clear.
    let below = |n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    // Some byte equal to `b`: a zero byte of the exclusive or.
    let equal = |b: u8| {
        let x = word ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    (below(0x20) | equal(b'"') | equal(b'\\') | equal(0x7f) | equal(0xc2)) != 0
}

/// Whether `bytes` hold a byte [`string`] may have to escape: eight bytes at a time, the
/// rest one by one.
fn needs_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        if has_special(word) {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| JSON_SPECIAL[usize::from(b)])
}

/// A JSON string, with every control character (C0, DEL, C1) escaped.
pub(crate) fn string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = text.as_bytes();
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let short: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            '\u{8}' => b"\\b",
            '\u{c}' => b"\\f",
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            let _ = write!(Bytes(out), "\\u{:04x}", c as u32);
        } else {
            out.extend_from_slice(short);
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

// === impl JsonSink ===

/// A [`Sink`] writing each event as one JSON object per line (see the [module docs](self) and
/// [`JsonFormat`] for the keys and options).
///
/// Lines are buffered (64 KiB) and pushed to the writer when the buffer fills and when the
/// journal flushes. Spans, callsites and thread names are tracked from the records the sink is
/// given, so a sink must see every record from the start of the journal.
///
/// ```
/// use logbuf_journal::Journal;
/// use logbuf_journal::sink::json::JsonSink;
///
/// let dir = tempfile::tempdir()?;
/// let file = std::fs::File::create(dir.path().join("app.jsonl"))?;
/// let (journal, guard) = Journal::builder()
///     .sink(JsonSink::new(file).with_format(|f| f.flatten_event(true).with_thread_names(true)))
///     .build()?;
/// # drop((journal, guard));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonSink {
    lines: Lines,
    format: JsonFormat,
    /// Each open span's object, written when it opens and again when values are recorded on
    /// it, rather than for every event inside it.
    spans: IdMap<Vec<u8>>,
    /// Buffers of closed spans' objects, for the next spans' (at most [`SPARE_BUFFERS`]).
    spare: Vec<Vec<u8>>,
}

/// Buffers of closed spans' objects a [`JsonSink`] keeps for reuse.
const SPARE_BUFFERS: usize = 64;

impl JsonSink {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self::new(io::stdout())
    }

    /// Writes to standard error.
    pub fn stderr() -> Self {
        Self::new(io::stderr())
    }

    /// Writes to `writer` (a file, a rotating file, a socket, a buffer).
    ///
    /// A [`RotatingFile`](crate::rotate::RotatingFile) is reopened on
    /// [`Journal::reopen`](crate::Journal::reopen), and a rotating or plain file is synced to
    /// disk when the journal shuts down.
    pub fn new(writer: impl Write + Send + 'static) -> Self {
        Self {
            lines: Lines::new(Target::of(writer), true),
            format: JsonFormat::new(),
            spans: IdMap::default(),
            spare: Vec::new(),
        }
    }

    /// Sets the options: `options` is given the current [`JsonFormat`] and returns the one to
    /// use.
    pub fn with_format(mut self, options: impl FnOnce(JsonFormat) -> JsonFormat) -> Self {
        self.format = options(self.format);
        self
    }

    /// The format in use.
    pub fn format(&self) -> &JsonFormat {
        &self.format
    }

    /// Takes one record, as the worker hands it over: definitions and span records update the
    /// sink's context, events and reports of dropped records are written as lines (see
    /// [`JsonFormat::render_dropped`]). For records that do not come from a
    /// journal's worker (a file read back, a test).
    ///
    /// # Errors
    ///
    /// Writing failed; the sink can be called again.
    pub fn write_record(&mut self, record: Record<'_>) -> io::Result<()> {
        if let Record::Dropped(dropped) = record {
            let format = &self.format;
            return self
                .lines
                .write_dropped(dropped, |report, out| format.render_dropped(report, out));
        }
        let changed = match &record {
            Record::SpanNew(new) => Some(new.id),
            Record::SpanRecord(update) => Some(update.id),
            Record::SpanClose(SpanClose { id, .. })
            | Record::SpanCloseTimes(SpanCloseTimes { id, .. }) => {
                if self.format.span_close {
                    let (format, spans) = (&self.format, &self.spans);
                    self.lines.write_with(|context, out| {
                        if let Some(closing) = SpanClosing::new(context, &record) {
                            format.render_close_with(&closing, spans, out);
                        }
                    })?;
                }
                if let Some(object) = self.spans.remove(id) {
                    self.keep_spare(object);
                }
                None
            }
            Record::Clock(pair) => {
                self.format.time.start_at(pair.unix_nanos);
                None
            }
            _ => None,
        };
        let (format, spans) = (&self.format, &self.spans);
        let written = self
            .lines
            .write(record, |event, out| format.render_with(event, spans, out));
        if let Some(id) = changed {
            match self.lines.context.span(id) {
                Some(span) => {
                    let mut object = self.spare.pop().unwrap_or_default();
                    object.clear();
                    span_object(span, &mut object);
                    if let Some(old) = self.spans.insert(id, object) {
                        self.keep_spare(old);
                    }
                    crate::sink::text::forget_forgotten(&mut self.spans, &self.lines.context, id);
                }
                None => {
                    if let Some(object) = self.spans.remove(&id) {
                        self.keep_spare(object);
                    }
                }
            }
        }
        written
    }
}

impl JsonSink {
    /// Keeps a span object's buffer for a later span, unless enough are kept or it grew large.
    fn keep_spare(&mut self, object: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && object.capacity() <= 4096 {
            self.spare.push(object);
        }
    }
}

impl Sink for JsonSink {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let record = self.lines.decode(&entry)?;
        self.write_record(record)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lines.flush()
    }

    fn sync(&mut self) -> io::Result<()> {
        self.lines.sync()
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.lines.reopen()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_every_control_character() {
        let text = "q\"b\\n\nr\rt\tb\u{8}f\u{c}e\x1bd\x7fc\u{9b}é✓";
        let mut out = Vec::new();
        string(text, &mut out);
        let json = String::from_utf8(out).unwrap();
        assert_eq!(
            json,
            "\"q\\\"b\\\\n\\nr\\rt\\tb\\bf\\fe\\u001bd\\u007fc\\u009bé✓\""
        );
        assert!(!json.chars().any(|c| c.is_control()));
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, text);
    }

    /// The format's own keys and level members, written in one copy, are what `key` and
    /// `string` write for them.
    #[test]
    fn known_keys_are_what_key_writes() {
        let pairs = [
            (known!("fields"), "fields"),
            (known!("target"), "target"),
            (known!("filename"), "filename"),
            (known!("line_number"), "line_number"),
            (known!("span"), "span"),
            (known!("spans"), "spans"),
            (known!("threadName"), "threadName"),
            (known!("threadId"), "threadId"),
            (known!("timestamp"), "timestamp"),
            (known!("name"), "name"),
        ];
        for (quoted, key) in pairs {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            let mut a = Object::open(&mut fast);
            a.key("x");
            a.known(quoted);
            let mut b = Object::open(&mut slow);
            b.key("x");
            b.key(key);
            assert_eq!(fast, slow, "{key}");
        }
        for level in [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
        ] {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            Object::open(&mut fast).known(level_member(level));
            string(level_name(level), Object::open(&mut slow).key("level"));
            assert_eq!(fast, slow, "{level:?}");
        }
    }

    /// A span's object lists its recorded fields sorted by name (raw identifiers without
    /// `r#`), empty ones left out, then its name: with few fields and with more than the
    /// stack holds.
    #[test]
    fn span_objects_sort_their_fields() {
        use crate::read::{Callsite, Span};
        use crate::wire::CallsiteKind;
        for n in 0..14u64 {
            // Names in an order that is not sorted; every third value empty.
            let names: Vec<String> = (0..n)
                .map(|i| {
                    let k = (i * 7) % 14;
                    if k == 3 {
                        "r#type".to_owned()
                    } else {
                        format!("f{k:02}")
                    }
                })
                .collect();
            let values: Vec<OwnedValue> = (0..n)
                .map(|i| {
                    if i % 3 == 2 {
                        OwnedValue::Empty
                    } else {
                        OwnedValue::U64(i)
                    }
                })
                .collect();
            let span = Span {
                id: 1,
                parent: None,
                callsite: std::sync::Arc::new(Callsite {
                    id: 1,
                    kind: CallsiteKind::Span,
                    level: Level::Info,
                    target: "t".to_owned(),
                    name: "s".to_owned(),
                    module_path: None,
                    file: None,
                    line: None,
                    fields: names.clone(),
                }),
                values: values.clone(),
                time: 0,
                thread: 1,
            };
            let mut out = Vec::new();
            span_object(&span, &mut out);
            let mut expect: Vec<(String, u64)> = names
                .iter()
                .zip(&values)
                .filter_map(|(name, v)| match v {
                    OwnedValue::U64(v) => Some((field_name(name).to_owned(), *v)),
                    _ => None,
                })
                .collect();
            expect.sort();
            let mut json: String = expect
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v},"))
                .collect();
            json.push_str("\"name\":\"s\"");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{{{json}}}"),
                "{n} fields"
            );
        }
    }

    /// Eight bytes at a time finds what the table finds, for every byte value at every
    /// position of a word, beside every other byte value, and in longer runs.
    #[test]
    fn words_are_searched_as_the_table_searches_bytes() {
        let table = |bytes: &[u8]| bytes.iter().any(|&b| JSON_SPECIAL[usize::from(b)]);
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for at in [0, 3, 7] {
                    let mut word = [b'a'; 8];
                    word[at] = a;
                    word[(at + 1) % 8] = b;
                    assert_eq!(needs_escape(&word), table(&word), "{word:02x?}");
                }
            }
        }
    }

    proptest::proptest! {
        /// A string's JSON is what serde_json reads back as the same text, and has no
        /// control character in it.
        #[test]
        fn strings_read_back_as_they_were(
            text in proptest::string::string_regex("(.|[\\x00-\\x20\"\\\\\\x7f\\u{80}-\\u{a0}é✓]){0,40}").unwrap(),
        ) {
            let mut out = Vec::new();
            string(&text, &mut out);
            let json = String::from_utf8(out).unwrap();
            proptest::prop_assert!(!json.chars().any(char::is_control), "{json:?}");
            let back: String = serde_json::from_str(&json).unwrap();
            let bytes = text.as_bytes();
            proptest::prop_assert_eq!(
                needs_escape(bytes),
                bytes.iter().any(|&b| JSON_SPECIAL[usize::from(b)])
            );
            proptest::prop_assert_eq!(back, text);
        }
    }

    #[test]
    fn a_timestamp_that_cannot_be_written_is_left_out() {
        use crate::read::Context;
        use crate::wire::{Callsite, CallsiteKind, Clock, Event};
        let mut context = Context::new();
        context.apply(&Record::Clock(Clock {
            ticks: 0,
            unix_nanos: 1_795_934_400_123_456_789,
        }));
        context.apply(&Record::Callsite(Callsite {
            id: 1,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "app",
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["message"],
        }));
        let event = || Event {
            callsite: 1,
            time: 0,
            thread: 1,
            parent: None,
            values: vec![Value::Debug("hi")],
        };
        let render = |timestamps| {
            let mut line = Vec::new();
            JsonFormat::new()
                .with_timestamps(timestamps)
                .render(&context.event(event()).unwrap(), &mut line);
            String::from_utf8(line).unwrap()
        };
        let rest = "\"level\":\"INFO\",\"fields\":{\"message\":\"hi\"},\"target\":\"app\"}\n";
        assert_eq!(render(Timestamps::Custom("%Q")), format!("{{{rest}"));
        assert_eq!(
            render(Timestamps::Custom("%H\"%n")),
            format!("{{\"timestamp\":\"06\\\"\\n\",{rest}")
        );
        assert_eq!(
            render(Timestamps::Uptime),
            format!("{{\"timestamp\":\"   0.000000000s\",{rest}")
        );
    }
}
