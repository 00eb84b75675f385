//! Syslog: each event as an RFC 5424 message (or RFC 3164, for old daemons) sent to a syslog
//! daemon over UDP, TCP with octet-counting framing (RFC 6587), or a Unix datagram socket
//! (`/dev/log`, on Unix only), formatted and sent on the worker thread.
//!
//! ```text
//! <14>1 2026-11-29T07:40:00.123456+01:00 web-1 shop 4242 app::db [logbuf@32473 level="INFO" target="app::db" thread="main"][fields@32473 message="query done" rows="3"][span1@32473 name="request" path="/users"] request{path="/users"}: app::db: query done rows=3
//! ```
//!
//! - `PRI`: the facility ([`Facility`], default `user`) and the level's severity: `ERROR` →
//!   3 (`err`), `WARN` → 4 (`warning`), `INFO` → 6 (`info`), `DEBUG` and `TRACE` → 7
//!   (`debug`).
//! - `TIMESTAMP`: the event's time with microseconds and the local offset
//!   ([`Timestamps::Local`], the default) or in UTC; `-` when the journal has no clock yet.
//! - `HOSTNAME` (default: the machine's, from `gethostname`), `APP-NAME` (default: the
//!   executable's file name), `PROCID` (the process id), `MSGID` (the event's target, or its
//!   callsite name: [`MsgId`]). Characters outside printable US-ASCII become `_`, and each is
//!   cut to the RFC's length (255, 48, 128, 32).
//! - Structured data: `logbuf@PEN` with the level, the target, the thread's name, file and
//!   line; `fields@PEN` with the event's recorded fields, `message` among them; one
//!   `spanN@PEN` per span the event is in, outermost first (`span1`), with `name` and the
//!   span's recorded fields. Values are written as text (numbers in decimal, booleans as
//!   `true`/`false`, bytes as hex `[61 62]`, errors as their message) with `"`, `\` and `]`
//!   escaped by a backslash as RFC 5424 section 6.3.3 requires; every other character,
//!   control characters and non-ASCII text included, is sent as it is (UTF-8). Parameter names
//!   keep the printable ASCII characters RFC 5424 allows in an `SD-NAME` (not `=`, space, `]`
//!   or `"`), others become `_`, cut to 32. `PEN` is the private enterprise number
//!   ([`SyslogFormat::with_enterprise_id`], default 32473, the number RFC 5612 reserves for
//!   documentation).
//! - `MSG`: the event as the [`text`](super::text) sink writes it, without time or level (spans,
//!   target, message, fields), so it is safe to print: control characters are escaped
//!   (`\n`, `\x1b`) as RFC 5424 advises ("SHOULD avoid octet values below 32"). It starts with
//!   a byte order mark when it holds non-ASCII text, as RFC 5424 requires of UTF-8 `MSG`
//!   ([`SyslogFormat::with_bom`]).
//!
//! Messages longer than [`SyslogFormat::with_max_len`] (default 8 KiB, rsyslog's default
//! limit) lose the end of their text, then their structured data.
//!
//! RFC 3164 ([`SyslogFormat::rfc3164`]): `<PRI>Mmm dd hh:mm:ss HOSTNAME APP-NAME[PID]: MSG`,
//! local time; over a Unix socket without the host name, as the C library's `syslog(3)` writes
//! it. That is what `/dev/log` readers parse by default (rsyslog's `imuxsock`, journald), so
//! [`SyslogSink::local`] and [`SyslogSink::unix`] start with RFC 3164; give them
//! [`SyslogFormat::rfc5424`] for a socket whose reader parses RFC 5424 (`imuxsock` with
//! `useSpecialParser="off"`).
//!
//! Reports of dropped records ([`Record::Dropped`]) are sent as `warning` messages with MSGID
//! `logbuf` and the text the text sink writes ([`DropReport`]).
//!
//! # Connections
//!
//! The sink never makes the worker wait on the network. Sockets are non-blocking; a TCP
//! connection is made on a short-lived thread of its own (at most
//! [`SyslogSink::with_connect_timeout`], default 5 s) while the worker goes on. Messages wait
//! in a bounded buffer ([`SyslogSink::with_buffer_limit`], default 1 MiB) while there is no
//! connection or the socket is full; TCP messages are sent in batches (when 16 KiB wait, and at
//! each flush of the journal). A connection that fails, or that the daemon closed (checked
//! before each TCP batch), is made again after a backoff that doubles from 50 ms to 5 s
//! ([`SyslogSink::with_backoff`]); a TCP message cut off by the failure is sent again whole.
//! A new UDP socket first sends an empty datagram (daemons ignore them) and carries messages
//! once no refusal has come back within the shortest backoff, so retries while the daemon is
//! down cost no message.
//!
//! A message that finds the buffer full is lost: counted ([`SyslogStats::lost`]), returned as
//! an error (which the journal counts in [`Stats::sink_errors`](crate::Stats::sink_errors)
//! and reports on stderr), and, once messages go through again, reported to the daemon itself
//! by a `warning` message: `12 messages lost before reaching the syslog daemon ...`, with
//! structured data `[lost@PEN count="12"]`. When the journal shuts down, the sink waits at most
//! [`SyslogSink::with_drain_timeout`] (default 1 s) for the buffer to empty; what is left is
//! lost and counted. Failed connections are errors too. What the sink cannot see is not counted:
//! see RELIABILITY.md ("Syslog").
//!
//! ```no_run
//! use logbuf_journal::Journal;
//! use logbuf_journal::sink::syslog::{Facility, SyslogSink};
//!
//! let sink = SyslogSink::tcp("127.0.0.1:514")?
//!     .with_format(|f| f.with_app_name("shop").with_facility(Facility::Local0));
//! let stats = sink.stats();
//! let (journal, guard) = Journal::builder().sink(sink).build()?;
//! // ... log ...
//! drop(guard);
//! println!("{} sent, {} lost", stats.sent(), stats.lost());
//! # drop(journal);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
#[cfg(unix)]
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::text::{
    Bytes, DROP_TARGET, DropReport, SpanFields, TextFormat, TimeFormatter, Timestamps, decode,
    field_name, hex_bytes, push_i64, push_u64,
};
use super::{Entry, Sink};
use crate::read::{Context, EventInContext, OwnedValue, Span, UNKNOWN_STRING};
use crate::wire::{Level, Record, Value};

// === format ===

/// The syslog facility: which part of the system the messages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    AuthPriv = 10,
    Ftp = 11,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

/// The syslog severity of a level: `ERROR` → 3, `WARN` → 4, `INFO` → 6, `DEBUG` and
/// `TRACE` → 7.
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// Which message format the sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFormat {
    /// RFC 5424, with structured data.
    Rfc5424,
    /// RFC 3164 ("BSD syslog"), for old daemons and `/dev/log` readers: no structured data,
    /// second precision, no year.
    Rfc3164,
}

/// What goes in an RFC 5424 message's `MSGID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgId {
    /// The event's target (`app::db`). The default.
    Target,
    /// The callsite's name (`tracing` names events `event src/db.rs:12`).
    Name,
    /// Nothing (`-`).
    None,
}

/// How events are written as syslog messages; see the [module docs](self).
///
/// ```
/// use logbuf_journal::read::Context;
/// use logbuf_journal::sink::syslog::{Facility, SyslogFormat};
/// use logbuf_journal::sink::text::Timestamps;
/// use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, Value};
///
/// let mut context = Context::new();
/// context.apply(&Record::Callsite(Callsite { id: 1, kind: CallsiteKind::Event,
///     level: Level::Warn, target: "app", name: "event", module_path: None,
///     file: None, line: None, fields: vec!["message", "path"] }));
/// let event = Event { callsite: 1, time: 0, thread: 1, parent: None,
///     values: vec![Value::Debug("slow"), Value::Str("/a\"b]")] };
///
/// let format = SyslogFormat::new()
///     .with_hostname("web-1")
///     .with_app_name("shop")
///     .with_procid(42)
///     .with_facility(Facility::Local0)
///     .with_timestamps(Timestamps::None);
/// let mut message = Vec::new();
/// format.render(&context.event(event).unwrap(), &mut message);
/// assert_eq!(
///     String::from_utf8(message).unwrap(),
///     "<132>1 - web-1 shop 42 app [logbuf@32473 level=\"WARN\" target=\"app\"]\
///      [fields@32473 message=\"slow\" path=\"/a\\\"b\\]\"] app: slow path=\"/a\\\"b]\"",
/// );
/// ```
#[derive(Debug, Clone)]
pub struct SyslogFormat {
    format: MessageFormat,
    facility: Facility,
    hostname: String,
    app_name: String,
    procid: u32,
    msgid: MsgId,
    enterprise_id: u32,
    timestamps: Timestamps,
    bom: bool,
    max_len: usize,
    /// RFC 3164 without the host name, as `syslog(3)` writes to `/dev/log`.
    local: bool,
    text: TextFormat,
    time: TimeFormatter,
}

impl Default for SyslogFormat {
    fn default() -> Self {
        Self::new()
    }
}

impl SyslogFormat {
    /// RFC 5424, facility `user`, this machine's host name, the executable's name, this
    /// process's id, the target as `MSGID`, local time with microseconds and offset.
    pub fn new() -> Self {
        Self {
            format: MessageFormat::Rfc5424,
            facility: Facility::User,
            hostname: printable(&hostname(), 255),
            app_name: printable(&app_name(), 48),
            procid: std::process::id(),
            msgid: MsgId::Target,
            enterprise_id: 32473,
            timestamps: Timestamps::Local,
            bom: true,
            max_len: 8192,
            local: false,
            text: TextFormat::new()
                .with_timestamps(Timestamps::None)
                .with_level(false)
                .with_ansi(false),
            time: TimeFormatter::default(),
        }
    }

    /// RFC 5424 messages (the default, but for [`SyslogSink::local`] and [`SyslogSink::unix`]).
    pub fn rfc5424(mut self) -> Self {
        self.format = MessageFormat::Rfc5424;
        self
    }

    /// RFC 3164 messages.
    pub fn rfc3164(mut self) -> Self {
        self.format = MessageFormat::Rfc3164;
        self
    }

    /// The message format in use.
    pub fn message_format(&self) -> MessageFormat {
        self.format
    }

    /// The facility. Default [`Facility::User`].
    pub fn with_facility(mut self, facility: Facility) -> Self {
        self.facility = facility;
        self
    }

    /// `HOSTNAME`. Default: the machine's host name.
    pub fn with_hostname(mut self, hostname: &str) -> Self {
        self.hostname = printable(hostname, 255);
        self
    }

    /// `APP-NAME` (RFC 3164: the tag). Default: the executable's file name.
    pub fn with_app_name(mut self, app_name: &str) -> Self {
        self.app_name = printable(app_name, 48);
        self
    }

    /// `PROCID`. Default: this process's id.
    pub fn with_procid(mut self, procid: u32) -> Self {
        self.procid = procid;
        self
    }

    /// What goes in `MSGID`. Default [`MsgId::Target`].
    pub fn with_msgid(mut self, msgid: MsgId) -> Self {
        self.msgid = msgid;
        self
    }

    /// The private enterprise number after the `@` of the structured data's ids. Default
    /// 32473, reserved for documentation by RFC 5612; an organisation with its own number
    /// should use it.
    pub fn with_enterprise_id(mut self, pen: u32) -> Self {
        self.enterprise_id = pen;
        self
    }

    /// How to write `TIMESTAMP`: [`Timestamps::Local`] (the default, with the offset),
    /// [`Timestamps::Rfc3339Utc`], or [`Timestamps::None`] for `-` (the daemon then uses the
    /// time it received the message). A syslog timestamp is RFC 3339: the other forms are
    /// taken as [`Timestamps::Local`] ([`Timestamps::CustomLocal`]) or
    /// [`Timestamps::Rfc3339Utc`] ([`Timestamps::Custom`], [`Timestamps::Uptime`]).
    pub fn with_timestamps(mut self, timestamps: Timestamps) -> Self {
        self.timestamps = match timestamps {
            Timestamps::CustomLocal(_) => Timestamps::Local,
            Timestamps::Custom(_) | Timestamps::Uptime => Timestamps::Rfc3339Utc,
            other => other,
        };
        self
    }

    /// Whether a `MSG` holding non-ASCII text starts with a byte order mark (U+FEFF), as
    /// RFC 5424 requires of UTF-8 text. Default on; some readers keep the mark in their output.
    pub fn with_bom(mut self, bom: bool) -> Self {
        self.bom = bom;
        self
    }

    /// The longest message, in bytes (without TCP's length prefix); at least 480 (what RFC 5426
    /// asks every receiver to take). Default 8192.
    pub fn with_max_len(mut self, max: usize) -> Self {
        self.max_len = max.max(480);
        self
    }

    /// The [`TextFormat`] of `MSG`: by default without time and level, no colours. `options` is
    /// given the current one and returns the one to use.
    pub fn with_text(mut self, options: impl FnOnce(TextFormat) -> TextFormat) -> Self {
        self.text = options(self.text).with_ansi(false);
        self
    }

    /// Appends the event's message (no framing, no line feed) to `out`.
    pub fn render(&self, event: &EventInContext<'_>, out: &mut Vec<u8>) {
        self.render_with(event, &SpanFields::default(), out);
    }

    /// [`SyslogFormat::render`] with the spans' text fields as `spans` kept them.
    fn render_with(&self, event: &EventInContext<'_>, spans: &SpanFields, out: &mut Vec<u8>) {
        let callsite = event.callsite;
        let mut text = Vec::with_capacity(128);
        self.text.render_with(event, spans, &mut text);
        text.pop(); // the line feed
        escape_tabs(&mut text);
        let msgid = match self.msgid {
            MsgId::Target => callsite.target.as_str(),
            MsgId::Name => callsite.name.as_str(),
            MsgId::None => "",
        };
        let sd = |out: &mut Vec<u8>| {
            let pen = self.enterprise_id;
            let mut element = Element::open(out, "logbuf", pen);
            element.param("level", |o| o.extend_from_slice(level_name(callsite.level)));
            element.param("target", |o| {
                o.extend_from_slice(callsite.target.as_bytes())
            });
            if let Some(name) = event.thread_name {
                element.param("thread", |o| o.extend_from_slice(name.as_bytes()));
            }
            if let Some(file) = &callsite.file {
                element.param("file", |o| o.extend_from_slice(file.as_bytes()));
            }
            if let Some(line) = callsite.line {
                element.param("line", |o| push_u64(o, u64::from(line), 1));
            }
            element.close();
            let recorded = callsite
                .fields
                .iter()
                .zip(&event.event.values)
                .filter(|(_, v)| **v != Value::Empty);
            let mut element = Element::open(out, "fields", pen);
            for (name, value) in recorded {
                element.param(name, |o| wire_text(value, o));
            }
            element.close();
            for (i, span) in event.spans.iter().enumerate() {
                span_element(span, i + 1, pen, out);
            }
        };
        self.message(
            severity(callsite.level),
            event.unix_nanos,
            msgid,
            sd,
            &text,
            out,
        );
    }

    /// Appends the message reporting the dropped records `report` to `out`: severity
    /// `warning`, `MSGID` `logbuf`, the text the text sink writes ([`DropReport::message`]),
    /// and structured data `[logbuf@PEN level="WARN" target="logbuf"][dropped@PEN count="N"
    /// thread="..."]`.
    pub fn render_dropped(&self, report: &DropReport<'_>, out: &mut Vec<u8>) {
        let mut text = Vec::with_capacity(96);
        text.extend_from_slice(DROP_TARGET.as_bytes());
        text.extend_from_slice(b": ");
        report.message(&mut text);
        let sd = |out: &mut Vec<u8>| {
            let pen = self.enterprise_id;
            let mut element = Element::open(out, "logbuf", pen);
            element.param("level", |o| o.extend_from_slice(b"WARN"));
            element.param("target", |o| o.extend_from_slice(DROP_TARGET.as_bytes()));
            element.close();
            let mut element = Element::open(out, "dropped", pen);
            element.param("count", |o| push_u64(o, report.dropped.count, 1));
            if let Some(name) = report.thread_name {
                element.param("thread", |o| o.extend_from_slice(name.as_bytes()));
            }
            element.close();
        };
        self.message(
            severity(Level::Warn),
            report.unix_nanos,
            DROP_TARGET,
            sd,
            &text,
            out,
        );
    }

    /// The sink's own report of `count` messages it lost.
    fn render_lost(&self, count: u64, out: &mut Vec<u8>) {
        let mut text = Vec::with_capacity(160);
        text.extend_from_slice(DROP_TARGET.as_bytes());
        text.extend_from_slice(b": ");
        push_u64(&mut text, count, 1);
        text.extend_from_slice(if count == 1 {
            b" message lost".as_slice()
        } else {
            b" messages lost".as_slice()
        });
        text.extend_from_slice(
            b" before reaching the syslog daemon (it was unreachable or too slow and the \
              sink's buffer was full)",
        );
        let sd = |out: &mut Vec<u8>| {
            let pen = self.enterprise_id;
            let mut element = Element::open(out, "logbuf", pen);
            element.param("level", |o| o.extend_from_slice(b"WARN"));
            element.param("target", |o| o.extend_from_slice(DROP_TARGET.as_bytes()));
            element.close();
            let mut element = Element::open(out, "lost", pen);
            element.param("count", |o| push_u64(o, count, 1));
            element.close();
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_nanos()).ok());
        self.message(severity(Level::Warn), now, DROP_TARGET, sd, &text, out);
    }

    /// Writes a whole message, cut to the longest length.
    fn message(
        &self,
        severity: u8,
        unix_nanos: Option<u64>,
        msgid: &str,
        sd: impl Fn(&mut Vec<u8>),
        text: &[u8],
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        out.push(b'<');
        push_u64(out, self.facility as u64 * 8 + u64::from(severity), 1);
        out.push(b'>');
        if self.format == MessageFormat::Rfc3164 {
            self.header_3164(unix_nanos, out);
            let room = self.max_len.saturating_sub(out.len() - start);
            out.extend_from_slice(&text[..utf8_floor(text, room)]);
            return;
        }
        out.extend_from_slice(b"1 ");
        let stamped = !matches!(self.timestamps, Timestamps::None)
            && unix_nanos.is_some_and(|nanos| self.time.write(self.timestamps, nanos, out));
        if !stamped {
            out.push(b'-');
        }
        out.push(b' ');
        nil_or(&self.hostname, out);
        out.push(b' ');
        nil_or(&self.app_name, out);
        out.push(b' ');
        push_u64(out, u64::from(self.procid), 1);
        out.push(b' ');
        let msgid = printable(msgid, 32);
        nil_or(&msgid, out);
        out.push(b' ');
        let header = out.len();
        sd(out);
        if out.len() == header {
            out.push(b'-');
        }
        if out.len() - start + 1 > self.max_len {
            // The structured data alone is too long: leave it out; the text has the values.
            out.truncate(header);
            out.push(b'-');
        }
        let bom: &[u8] = if self.bom && !text.is_ascii() {
            "\u{feff}".as_bytes()
        } else {
            b""
        };
        let room = self
            .max_len
            .saturating_sub(out.len() - start + 1 + bom.len());
        let cut = utf8_floor(text, room);
        if cut == 0 {
            return;
        }
        out.push(b' ');
        out.extend_from_slice(bom);
        out.extend_from_slice(&text[..cut]);
    }

    /// `Mmm dd hh:mm:ss HOSTNAME APP-NAME[PID]: `, local time (now, when the event's is not
    /// known).
    fn header_3164(&self, unix_nanos: Option<u64>, out: &mut Vec<u8>) {
        let nanos = unix_nanos.and_then(|n| i64::try_from(n).ok());
        let utc = nanos
            .map(chrono::DateTime::from_timestamp_nanos)
            .unwrap_or_else(chrono::Utc::now);
        let local = utc.with_timezone(&chrono::Local);
        let _ = write!(Bytes(out), "{} ", local.format("%b %e %H:%M:%S"));
        if !self.local {
            nil_or(&self.hostname, out);
            out.push(b' ');
        }
        let tag: String = self.app_name.chars().take(32).collect();
        nil_or(&tag, out);
        out.push(b'[');
        push_u64(out, u64::from(self.procid), 1);
        out.extend_from_slice(b"]: ");
    }
}

fn level_name(level: Level) -> &'static [u8] {
    match level {
        Level::Trace => b"TRACE",
        Level::Debug => b"DEBUG",
        Level::Info => b"INFO",
        Level::Warn => b"WARN",
        Level::Error => b"ERROR",
    }
}

/// Tabs as `\t`: the text format keeps them, RFC 5424 advises against every control
/// character in `MSG`.
fn escape_tabs(text: &mut Vec<u8>) {
    if !text.contains(&b'\t') {
        return;
    }
    let mut escaped = Vec::with_capacity(text.len() + 8);
    for &b in text.iter() {
        if b == b'\t' {
            escaped.extend_from_slice(b"\\t");
        } else {
            escaped.push(b);
        }
    }
    *text = escaped;
}

/// `text`, or `-` for nothing.
fn nil_or(text: &str, out: &mut Vec<u8>) {
    if text.is_empty() {
        out.push(b'-');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// `text` with every character outside printable US-ASCII (33..=126) as `_`, at most `max`
/// characters: a header field of RFC 5424.
fn printable(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn utf8_floor(text: &[u8], max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    // Continuation bytes are 0b10xx_xxxx.
    while end > 0 && text[end] & 0xc0 == 0x80 {
        end -= 1;
    }
    end
}

/// Appends `name` as an `SD-NAME`: printable US-ASCII but `=`, space, `]` and `"`; others
/// become `_`; at most 32 characters; `_` for nothing.
fn sd_name(name: &str, out: &mut Vec<u8>) {
    let start = out.len();
    for c in field_name(name).chars().take(32) {
        let ok = c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"');
        out.push(if ok { c as u8 } else { b'_' });
    }
    if out.len() == start {
        out.push(b'_');
    }
}

/// Appends `value` as a `PARAM-VALUE`'s content: `"`, `\` and `]` escaped with a backslash.
fn escape_param(value: &[u8], out: &mut Vec<u8>) {
    for &b in value {
        if matches!(b, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// Writes one `SD-ELEMENT`.
struct Element<'o> {
    out: &'o mut Vec<u8>,
    scratch: Vec<u8>,
}

impl<'o> Element<'o> {
    /// `[name@pen`
    fn open(out: &'o mut Vec<u8>, name: &str, pen: u32) -> Self {
        out.push(b'[');
        out.extend_from_slice(name.as_bytes());
        out.push(b'@');
        push_u64(out, u64::from(pen), 1);
        Self {
            out,
            scratch: Vec::new(),
        }
    }

    /// ` name="value"`, with the value `write` writes, escaped.
    fn param(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>)) {
        self.out.push(b' ');
        sd_name(name, self.out);
        self.out.extend_from_slice(b"=\"");
        self.scratch.clear();
        write(&mut self.scratch);
        escape_param(&self.scratch, self.out);
        self.out.push(b'"');
    }

    fn close(self) {
        self.out.push(b']');
    }
}

/// `[spanN@pen name="..." field="..."]`.
fn span_element(span: &Span, n: usize, pen: u32, out: &mut Vec<u8>) {
    let mut id = String::with_capacity(8);
    let _ = write!(id, "span{n}");
    let mut element = Element::open(out, &id, pen);
    element.param("name", |o| {
        o.extend_from_slice(span.callsite.name.as_bytes())
    });
    for (name, value) in span.callsite.fields.iter().zip(&span.values) {
        if *value != OwnedValue::Empty {
            element.param(name, |o| wire_text(&value.borrowed(), o));
        }
    }
    element.close();
}

/// A value as the text of a parameter.
fn wire_text(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Empty => {}
        Value::U64(v) => push_u64(out, *v, 1),
        Value::I64(v) => push_i64(out, *v),
        Value::U128(v) => {
            let _ = write!(Bytes(out), "{v}");
        }
        Value::I128(v) => {
            let _ = write!(Bytes(out), "{v}");
        }
        Value::F64(v) => {
            let _ = write!(Bytes(out), "{v:?}");
        }
        Value::Bool(v) => {
            let _ = write!(Bytes(out), "{v}");
        }
        Value::Str(v) | Value::Debug(v) => out.extend_from_slice(v.as_bytes()),
        Value::Bytes(v) => hex_bytes(v, out),
        Value::Error { message, .. } => out.extend_from_slice(message.as_bytes()),
        // Resolved by the context before rendering: only a missing definition is left.
        Value::Interned(_) => out.extend_from_slice(UNKNOWN_STRING.as_bytes()),
    }
}

/// The error a datagram too long for the transport fails with.
#[cfg(unix)]
const EMSGSIZE: i32 = libc::EMSGSIZE;
/// The error a datagram too long for the transport fails with: Windows' `WSAEMSGSIZE`.
#[cfg(not(unix))]
const EMSGSIZE: i32 = 10040;

/// The machine's host name, from `COMPUTERNAME` (set by Windows); empty if it is not set.
#[cfg(not(unix))]
fn hostname() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

/// The machine's host name, from `gethostname`; empty if it cannot be had.
#[cfg(unix)]
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call;
    // `gethostname` writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The executable's file name; empty if it cannot be had.
fn app_name() -> String {
    let exe = std::env::current_exe()
        .ok()
        .or_else(|| std::env::args_os().next().map(PathBuf::from));
    exe.as_deref()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// === counters ===

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    lost: AtomicU64,
    buffered: AtomicU64,
    connections: AtomicU64,
    failures: AtomicU64,
    resent: AtomicU64,
}

/// What a [`SyslogSink`] has done, readable from any thread while the journal runs and after
/// ([`SyslogSink::stats`]).
#[derive(Debug, Clone)]
pub struct SyslogStats(Arc<Counters>);

impl SyslogStats {
    /// Messages handed whole to the operating system's socket (the sink's own reports of lost
    /// messages among them; a message sent again after a reset counts again).
    pub fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// Messages lost: dropped because the buffer was full, refused by the socket as too
    /// large, or still buffered when the journal shut down. Each was also an error returned to
    /// the worker.
    pub fn lost(&self) -> u64 {
        self.0.lost.load(Ordering::Relaxed)
    }

    /// Messages waiting in the buffer now.
    pub fn buffered(&self) -> u64 {
        self.0.buffered.load(Ordering::Relaxed)
    }

    /// Connections made (for UDP and Unix sockets: sockets connected to the address).
    pub fn connections(&self) -> u64 {
        self.0.connections.load(Ordering::Relaxed)
    }

    /// TCP messages sent again because the daemon reset the connection (see
    /// [`SyslogSink::tcp`]); those it had read before the reset arrive twice.
    pub fn resent(&self) -> u64 {
        self.0.resent.load(Ordering::Relaxed)
    }

    /// Connections that failed or broke: connects refused or timed out, sockets that
    /// returned an error, TCP connections the daemon closed.
    pub fn failures(&self) -> u64 {
        self.0.failures.load(Ordering::Relaxed)
    }
}

// === connections ===

#[derive(Debug, Clone)]
enum Endpoint {
    Udp(SocketAddr),
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Endpoint {
    fn describe(&self) -> String {
        match self {
            Endpoint::Udp(a) => format!("udp://{a}"),
            Endpoint::Tcp(a) => format!("tcp://{a}"),
            Endpoint::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    fn is_stream(&self) -> bool {
        matches!(self, Endpoint::Tcp(_))
    }
}

#[derive(Debug)]
enum Conn {
    /// Not connected; the next attempt not before this.
    Down(Instant),
    /// A TCP connect under way on a thread of its own.
    Connecting(JoinHandle<io::Result<TcpStream>>),
    /// A UDP socket that sent an empty datagram at this time: if no refusal comes back within
    /// the shortest backoff, the daemon is there. A message sent to a daemon that is not there
    /// would be lost unseen.
    UdpProbe(UdpSocket, Instant),
    Tcp(TcpStream),
    Udp(UdpSocket),
    #[cfg(unix)]
    Unix(UnixDatagram),
}

impl Conn {
    /// Connected: messages can be sent.
    fn is_up(&self) -> bool {
        match self {
            Conn::Tcp(_) | Conn::Udp(_) => true,
            #[cfg(unix)]
            Conn::Unix(_) => true,
            Conn::Down(_) | Conn::Connecting(_) | Conn::UdpProbe(..) => false,
        }
    }
}

/// A message ready to send, framed for its transport.
#[derive(Debug)]
struct Frame {
    bytes: Vec<u8>,
    /// The sink's own report of lost messages, not an event's message: not counted as lost
    /// itself if it cannot be sent.
    note: bool,
}

impl std::ops::Deref for Frame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// TCP batches are sent once this much waits (and at every flush).
const TCP_BATCH: usize = 16 * 1024;

/// Buffers kept for reuse.
const SPARE_BUFFERS: usize = 256;

// === impl SyslogSink ===

/// A [`Sink`] sending each event to a syslog daemon; see the [module docs](self).
///
/// Spans, callsites and thread names are tracked from the records the sink is given, so a sink
/// must see every record from the start of the journal.
#[derive(Debug)]
pub struct SyslogSink {
    context: Context,
    spans: SpanFields,
    format: SyslogFormat,
    endpoint: Endpoint,
    conn: Conn,
    backoff: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    connect_timeout: Duration,
    drain_timeout: Duration,
    /// Framed messages waiting, oldest first, and how many bytes of the first went out.
    queue: VecDeque<Frame>,
    queued_bytes: usize,
    front_sent: usize,
    limit: usize,
    /// TCP: the messages written last on this connection (at most `resend` bytes), sent again
    /// if the daemon resets it: a reset says it threw away bytes it had taken.
    written: VecDeque<Frame>,
    resend: usize,
    written_bytes: usize,
    spare: Vec<Vec<u8>>,
    /// The message being rendered.
    message: Vec<u8>,
    /// Losses the daemon has not been told of.
    unreported: u64,
    stats: Arc<Counters>,
}

impl SyslogSink {
    /// Sends RFC 5424 messages over UDP to `addr` (`"127.0.0.1:514"`; a name is resolved
    /// now, on the calling thread). UDP says nothing of what arrives: see RELIABILITY.md.
    ///
    /// # Errors
    ///
    /// `addr` does not resolve.
    pub fn udp(addr: impl ToSocketAddrs) -> io::Result<Self> {
        Ok(Self::new(
            Endpoint::Udp(resolve(addr)?),
            SyslogFormat::new(),
        ))
    }

    /// Sends RFC 5424 messages over TCP to `addr`, framed by octet counting (RFC 6587: the
    /// length in decimal, a space, the message). The address is resolved now; the connection
    /// is made on the worker's first message, without the worker waiting for it.
    ///
    /// Before each batch the sink checks whether the daemon closed the connection, so nothing
    /// is written into a closed one. A daemon that stops with bytes it has not read resets the
    /// connection; the sink then sends again the last messages it wrote (64 KiB of them:
    /// [`SyslogSink::with_resend_window`]), so they are not lost, and those the daemon had read
    /// arrive twice ([`SyslogStats::resent`]).
    ///
    /// # Errors
    ///
    /// `addr` does not resolve.
    pub fn tcp(addr: impl ToSocketAddrs) -> io::Result<Self> {
        Ok(Self::new(
            Endpoint::Tcp(resolve(addr)?),
            SyslogFormat::new(),
        ))
    }

    /// Sends RFC 3164 messages without host name, as `syslog(3)` does, to the Unix datagram
    /// socket at `path`. [`SyslogFormat::rfc5424`] switches to RFC 5424. Unix only: elsewhere
    /// every attempt to connect fails with [`io::ErrorKind::Unsupported`], which says so.
    pub fn unix(path: impl AsRef<Path>) -> Self {
        let mut format = SyslogFormat::new().rfc3164();
        format.local = true;
        Self::new(Endpoint::Unix(path.as_ref().to_owned()), format)
    }

    /// [`SyslogSink::unix`] on `/dev/log`, where the system's syslog daemon (or journald)
    /// listens.
    pub fn local() -> Self {
        Self::unix("/dev/log")
    }

    fn new(endpoint: Endpoint, format: SyslogFormat) -> Self {
        let min_backoff = Duration::from_millis(50);
        Self {
            context: Context::new(),
            spans: SpanFields::new(),
            format,
            endpoint,
            conn: Conn::Down(Instant::now()),
            backoff: min_backoff,
            min_backoff,
            max_backoff: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(1),
            queue: VecDeque::new(),
            queued_bytes: 0,
            front_sent: 0,
            limit: 1 << 20,
            written: VecDeque::new(),
            resend: 64 * 1024,
            written_bytes: 0,
            spare: Vec::new(),
            message: Vec::with_capacity(512),
            unreported: 0,
            stats: Arc::default(),
        }
    }

    /// Sets the message options: `options` is given the current [`SyslogFormat`] and returns
    /// the one to use.
    pub fn with_format(mut self, options: impl FnOnce(SyslogFormat) -> SyslogFormat) -> Self {
        let local = self.format.local;
        self.format = options(self.format);
        self.format.local = local;
        self
    }

    /// The message options in use.
    pub fn format(&self) -> &SyslogFormat {
        &self.format
    }

    /// The most bytes of messages kept while they cannot be sent (at least one message is
    /// always taken). Default 1 MiB.
    pub fn with_buffer_limit(mut self, bytes: usize) -> Self {
        self.limit = bytes;
        self
    }

    /// TCP: how many bytes of the messages written last are kept to be sent again if the
    /// daemon resets the connection (it stopped without reading them). Default 64 KiB: a
    /// daemon that reads as it should has less than that unread when it stops. 0 sends
    /// nothing twice and loses what the daemon had not read.
    pub fn with_resend_window(mut self, bytes: usize) -> Self {
        self.resend = bytes;
        self
    }

    /// How long one TCP connect may take (on its own thread; the worker never waits for it).
    /// Default 5 s.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The wait before the first new attempt after a connection failed or broke, doubling
    /// with each failure up to `max`. Default 50 ms to 5 s.
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self.backoff = min;
        self
    }

    /// How long the sink may wait, when the journal shuts down, for the buffered messages to
    /// go out; what is left then is lost and counted. Default 1 s.
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// A handle on the sink's counters, to read while the journal owns the sink.
    pub fn stats(&self) -> SyslogStats {
        SyslogStats(Arc::clone(&self.stats))
    }

    /// Takes one record, as the worker hands it over: definitions and span records update the
    /// sink's context, events and reports of dropped records are sent as messages. For records
    /// that do not come from a journal's worker (a file read back, a test).
    ///
    /// # Errors
    ///
    /// A message was lost (the buffer was full), or the connection failed; the sink can be
    /// called again.
    pub fn write_record(&mut self, record: Record<'_>) -> io::Result<()> {
        self.message.clear();
        match record {
            Record::Dropped(dropped) => {
                self.context.apply(&record);
                let report = DropReport::new(&self.context, dropped);
                self.format.render_dropped(&report, &mut self.message);
            }
            Record::Event(_) => {
                if !self.context.apply(&record) {
                    return Ok(());
                }
                let Record::Event(event) = record else {
                    return Ok(());
                };
                let Some(event) = self.context.event(event) else {
                    return Ok(());
                };
                self.format
                    .render_with(&event, &self.spans, &mut self.message);
            }
            Record::SpanNew(_)
            | Record::SpanRecord(_)
            | Record::SpanClose(_)
            | Record::SpanCloseTimes(_) => {
                self.spans.apply(&self.format.text, &self.context, &record);
                self.context.apply(&record);
                return Ok(());
            }
            other => {
                self.context.apply(&other);
                return Ok(());
            }
        }
        self.send_rendered()
    }

    /// Queues the message in `self.message` and sends what can go.
    fn send_rendered(&mut self) -> io::Result<()> {
        let mut result = self.poll_conn();
        self.report_losses();
        let framed = framed_len(&self.endpoint, self.message.len());
        if !self.queue.is_empty() && self.queued_bytes + framed > self.limit {
            // Make room if the socket takes it now.
            if self.conn.is_up() {
                result = result.and(self.send_queued());
            }
            if !self.queue.is_empty() && self.queued_bytes + framed > self.limit {
                self.lose(1);
                return Err(io::Error::other(format!(
                    "syslog {}: a message was lost: {} bytes wait to be sent (the limit), {}",
                    self.endpoint.describe(),
                    self.queued_bytes,
                    self.state(),
                )));
            }
        }
        let mut frame = self.spare.pop().unwrap_or_default();
        frame.clear();
        if self.endpoint.is_stream() {
            push_u64(&mut frame, self.message.len() as u64, 1);
            frame.push(b' ');
        }
        frame.extend_from_slice(&self.message);
        self.push(Frame {
            bytes: frame,
            note: false,
        });
        let due = !self.endpoint.is_stream() || self.queued_bytes >= TCP_BATCH;
        if due && self.conn.is_up() {
            result = result.and(self.send_queued());
        }
        result
    }

    fn push(&mut self, frame: Frame) {
        self.queued_bytes += frame.len();
        self.queue.push_back(frame);
        self.stats
            .buffered
            .store(self.queue.len() as u64, Ordering::Relaxed);
    }

    /// Counts `n` messages as lost, to be reported to the daemon when messages go through.
    fn lose(&mut self, n: u64) {
        self.unreported += n;
        self.stats.lost.fetch_add(n, Ordering::Relaxed);
    }

    /// Queues the report of the losses the daemon has not been told of, if there is room.
    fn report_losses(&mut self) {
        if self.unreported == 0 {
            return;
        }
        let mut note = Vec::with_capacity(256);
        self.format.render_lost(self.unreported, &mut note);
        let mut frame = self.spare.pop().unwrap_or_default();
        frame.clear();
        if self.endpoint.is_stream() {
            push_u64(&mut frame, note.len() as u64, 1);
            frame.push(b' ');
        }
        frame.extend_from_slice(&note);
        if !self.queue.is_empty() && self.queued_bytes + frame.len() > self.limit {
            self.spare.push(frame);
            return;
        }
        self.unreported = 0;
        self.push(Frame {
            bytes: frame,
            note: true,
        });
    }

    /// What the connection is doing, for error messages.
    fn state(&self) -> &'static str {
        match self.conn {
            Conn::Down(_) => "no connection (retrying)",
            Conn::Connecting(_) | Conn::UdpProbe(..) => "connecting",
            _ => "the socket does not take more",
        }
    }

    /// Moves the connection on: starts an attempt when one is due, picks up a finished TCP
    /// connect. Errors are failed attempts.
    fn poll_conn(&mut self) -> io::Result<()> {
        match &mut self.conn {
            Conn::Down(at) if Instant::now() >= *at => self.connect(),
            Conn::UdpProbe(socket, sent) => match socket.take_error() {
                Ok(None) if sent.elapsed() < self.min_backoff => Ok(()),
                Ok(None) => {
                    let Conn::UdpProbe(socket, _) =
                        std::mem::replace(&mut self.conn, Conn::Down(Instant::now()))
                    else {
                        return Ok(());
                    };
                    self.connected(Conn::Udp(socket));
                    Ok(())
                }
                Ok(Some(e)) | Err(e) => Err(self.failed("unreachable", e)),
            },
            Conn::Connecting(handle) if handle.is_finished() => {
                let Conn::Connecting(handle) =
                    std::mem::replace(&mut self.conn, Conn::Down(Instant::now()))
                else {
                    return Ok(());
                };
                let result = handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("the connecting thread panicked")));
                match result.and_then(|s| s.set_nonblocking(true).map(|()| s)) {
                    Ok(stream) => {
                        self.connected(Conn::Tcp(stream));
                        Ok(())
                    }
                    Err(e) => Err(self.failed("cannot connect", e)),
                }
            }
            _ => Ok(()),
        }
    }

    fn connect(&mut self) -> io::Result<()> {
        let made = match &self.endpoint {
            Endpoint::Udp(addr) => {
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                UdpSocket::bind(local)
                    .and_then(|s| s.connect(addr).map(|()| s))
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .and_then(|s| s.send(&[]).map(|_| Conn::UdpProbe(s, Instant::now())))
            }
            #[cfg(unix)]
            Endpoint::Unix(path) => UnixDatagram::unbound()
                .and_then(|s| s.connect(path).map(|()| s))
                .and_then(|s| s.set_nonblocking(true).map(|()| Conn::Unix(s))),
            #[cfg(not(unix))]
            Endpoint::Unix(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "Unix datagram sockets exist only on Unix systems: use SyslogSink::udp or tcp",
            )),
            Endpoint::Tcp(addr) => {
                let (addr, timeout) = (*addr, self.connect_timeout);
                std::thread::Builder::new()
                    .name("logbuf-syslog-connect".into())
                    .spawn(move || TcpStream::connect_timeout(&addr, timeout))
                    .map(Conn::Connecting)
            }
        };
        match made {
            Ok(conn @ (Conn::Connecting(_) | Conn::UdpProbe(..))) => {
                self.conn = conn;
                Ok(())
            }
            Ok(conn) => {
                self.connected(conn);
                Ok(())
            }
            Err(e) => Err(self.failed("cannot connect", e)),
        }
    }

    fn connected(&mut self, conn: Conn) {
        self.conn = conn;
        self.front_sent = 0;
        while let Some(frame) = self.written.pop_front() {
            recycle(&mut self.spare, frame.bytes);
        }
        self.written_bytes = 0;
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops the connection and schedules the next attempt; the error to return.
    fn failed(&mut self, what: &str, e: io::Error) -> io::Error {
        self.conn = Conn::Down(Instant::now() + self.backoff);
        let error = io::Error::new(
            e.kind(),
            format!(
                "syslog {}: {what}: {e}; next attempt in {:?}, {} message(s) buffered",
                self.endpoint.describe(),
                self.backoff,
                self.queue.len(),
            ),
        );
        self.backoff = (self.backoff * 2).min(self.max_backoff);
        // A message cut off by the failure goes out whole on the next connection.
        self.front_sent = 0;
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        error
    }

    /// Sends what the socket takes now, without waiting.
    fn send_queued(&mut self) -> io::Result<()> {
        let result = match &mut self.conn {
            Conn::Tcp(stream) => send_stream(stream, &self.queue, self.front_sent),
            Conn::Udp(socket) => send_datagrams(&self.queue, |m| socket.send(m)),
            #[cfg(unix)]
            Conn::Unix(socket) => send_datagrams(&self.queue, |m| socket.send(m)),
            Conn::Down(_) | Conn::Connecting(_) | Conn::UdpProbe(..) => return Ok(()),
        };
        let Sent {
            messages,
            bytes,
            error,
        } = result;
        if messages > 0 || bytes > 0 {
            self.backoff = self.min_backoff;
        }
        // `bytes` counts bytes of the message after the last whole one (TCP).
        for _ in 0..messages {
            let Some(frame) = self.queue.pop_front() else {
                break;
            };
            self.queued_bytes -= frame.len();
            if self.endpoint.is_stream() {
                self.written_bytes += frame.len();
                self.written.push_back(frame);
                while self.written_bytes > self.resend {
                    let Some(old) = self.written.pop_front() else {
                        break;
                    };
                    self.written_bytes -= old.len();
                    recycle(&mut self.spare, old.bytes);
                }
            } else {
                recycle(&mut self.spare, frame.bytes);
            }
        }
        if messages > 0 {
            self.front_sent = 0;
        }
        self.front_sent += bytes;
        self.stats
            .sent
            .fetch_add(messages as u64, Ordering::Relaxed);
        self.stats
            .buffered
            .store(self.queue.len() as u64, Ordering::Relaxed);
        match error {
            None => Ok(()),
            Some(Failure::Refused(e)) => {
                // The socket will never take this message.
                if let Some(frame) = self.queue.pop_front() {
                    self.queued_bytes -= frame.len();
                    if !frame.note {
                        self.lose(1);
                    }
                }
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "syslog {}: a message was lost: the socket refused it: {e}",
                        self.endpoint.describe()
                    ),
                ))
            }
            Some(Failure::Broken(what, e)) => {
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) {
                    // The daemon reset the connection: it closed with bytes it had not read,
                    // or got bytes after it closed. Send the last ones again.
                    let again = self.written.len();
                    while let Some(frame) = self.written.pop_back() {
                        self.queued_bytes += frame.len();
                        self.queue.push_front(frame);
                    }
                    self.written_bytes = 0;
                    self.stats.resent.fetch_add(again as u64, Ordering::Relaxed);
                    self.stats
                        .buffered
                        .store(self.queue.len() as u64, Ordering::Relaxed);
                }
                Err(self.failed(what, e))
            }
        }
    }

    /// Sends everything if it can within `timeout`: connecting at once if there is no
    /// connection, waiting for the socket. Returns whether the buffer is empty.
    fn drain_for(&mut self, timeout: Duration) -> (bool, Option<io::Error>) {
        let deadline = Instant::now() + timeout;
        let mut first_error = None;
        if let Conn::Down(at) = &mut self.conn {
            *at = Instant::now();
        }
        loop {
            if let Err(e) = self.poll_conn() {
                first_error.get_or_insert(e);
            }
            self.report_losses();
            if let Err(e) = self.send_queued() {
                first_error.get_or_insert(e);
            }
            if self.queue.is_empty() && self.unreported == 0 {
                return (true, first_error);
            }
            if Instant::now() >= deadline {
                return (false, first_error);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// What one round of sending did.
struct Sent {
    /// Whole messages sent.
    messages: usize,
    /// Bytes of the next message sent after them (TCP), on top of what was sent before if no
    /// whole message went.
    bytes: usize,
    error: Option<Failure>,
}

enum Failure {
    /// The socket refuses this message (too large): it is lost.
    Refused(io::Error),
    /// The connection is gone; the message waits for the next.
    Broken(&'static str, io::Error),
}

fn send_stream(stream: &mut TcpStream, queue: &VecDeque<Frame>, front_sent: usize) -> Sent {
    let mut sent = Sent {
        messages: 0,
        bytes: 0,
        error: None,
    };
    if queue.is_empty() {
        return sent;
    }
    // Has the daemon closed the connection? Writing into it would lose the messages unseen.
    let mut probe = [0u8; 512];
    match stream.peek(&mut probe) {
        Ok(0) => {
            sent.error = Some(Failure::Broken(
                "the daemon closed the connection",
                io::Error::from(io::ErrorKind::ConnectionAborted),
            ));
            return sent;
        }
        Ok(_) => {
            // Plain TCP syslog daemons say nothing; take whatever came so it cannot pile up.
            let _ = stream.read(&mut probe);
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => {
            sent.error = Some(Failure::Broken("connection lost", e));
            return sent;
        }
    }
    let mut index = 0;
    let mut offset = front_sent;
    while index < queue.len() {
        let mut slices = Vec::with_capacity(64);
        slices.push(IoSlice::new(&queue[index][offset..]));
        slices.extend(queue.range(index + 1..).take(63).map(|f| IoSlice::new(f)));
        match stream.write_vectored(&slices) {
            Ok(0) => {
                sent.error = Some(Failure::Broken(
                    "connection lost",
                    io::Error::from(io::ErrorKind::WriteZero),
                ));
                break;
            }
            Ok(mut n) => {
                while n > 0 && index < queue.len() {
                    let left = queue[index].len() - offset;
                    if n >= left {
                        n -= left;
                        index += 1;
                        offset = 0;
                    } else {
                        offset += n;
                        n = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                sent.error = Some(Failure::Broken("connection lost", e));
                break;
            }
        }
    }
    sent.messages = index;
    sent.bytes = if index == 0 {
        offset - front_sent
    } else {
        offset
    };
    sent
}

fn send_datagrams(
    queue: &VecDeque<Frame>,
    mut send: impl FnMut(&[u8]) -> io::Result<usize>,
) -> Sent {
    let mut sent = Sent {
        messages: 0,
        bytes: 0,
        error: None,
    };
    for frame in queue {
        match send(frame) {
            Ok(_) => sent.messages += 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.raw_os_error() == Some(EMSGSIZE) => {
                sent.error = Some(Failure::Refused(e));
                break;
            }
            Err(e) => {
                sent.error = Some(Failure::Broken("cannot send", e));
                break;
            }
        }
    }
    sent
}

/// Keeps `frame` for a later message, if the pool has room and it is not large.
fn recycle(spare: &mut Vec<Vec<u8>>, frame: Vec<u8>) {
    if spare.len() < SPARE_BUFFERS && frame.capacity() <= 64 * 1024 {
        spare.push(frame);
    }
}

fn framed_len(endpoint: &Endpoint, len: usize) -> usize {
    if endpoint.is_stream() {
        len + 1 + len.checked_ilog10().unwrap_or(0) as usize + 1
    } else {
        len
    }
}

fn resolve(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing"))
}

impl Sink for SyslogSink {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        self.write_record(decode(&entry)?)
    }

    /// Moves the connection on and sends what the socket takes now, without waiting.
    fn flush(&mut self) -> io::Result<()> {
        let result = self.poll_conn();
        self.report_losses();
        result.and(self.send_queued())
    }

    /// Sends what is buffered, waiting at most the drain timeout; what is left then is lost
    /// and counted.
    fn sync(&mut self) -> io::Result<()> {
        let (empty, error) = self.drain_for(self.drain_timeout);
        if empty {
            return error.map_or(Ok(()), Err);
        }
        let left = self.queue.iter().filter(|f| !f.note).count();
        self.queue.clear();
        self.queued_bytes = 0;
        self.front_sent = 0;
        self.stats.buffered.store(0, Ordering::Relaxed);
        self.lose(left as u64);
        Err(io::Error::other(format!(
            "syslog {}: {left} message(s) lost: not sent within {:?} of the shutdown ({}){}",
            self.endpoint.describe(),
            self.drain_timeout,
            self.state(),
            error.map(|e| format!("; {e}")).unwrap_or_default(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd_names_and_values_follow_rfc_5424() {
        let mut out = Vec::new();
        sd_name("a b=c]d\"é_r#x", &mut out);
        assert_eq!(out, b"a_b_c_d___r#x");
        out.clear();
        sd_name("r#type", &mut out);
        assert_eq!(out, b"type");
        out.clear();
        sd_name(&"x".repeat(40), &mut out);
        assert_eq!(out.len(), 32);
        out.clear();
        escape_param("a\"b\\c]d\n[é".as_bytes(), &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\]d\n[é".as_bytes());
    }

    #[test]
    fn long_messages_lose_their_text_end_then_their_structured_data() {
        use crate::wire::{Callsite, CallsiteKind, Event};
        let mut context = Context::new();
        context.apply(&Record::Callsite(Callsite {
            id: 1,
            kind: CallsiteKind::Event,
            level: Level::Error,
            target: "app",
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["message", "blob"],
        }));
        let format = SyslogFormat::new()
            .with_hostname("h")
            .with_app_name("a")
            .with_procid(1)
            .with_timestamps(Timestamps::None)
            .with_max_len(600);
        let render = |message: &str, blob: &str| {
            let event = Event {
                callsite: 1,
                time: 0,
                thread: 1,
                parent: None,
                values: vec![Value::Debug(message), Value::Str(blob)],
            };
            let mut out = Vec::new();
            format.render(&context.event(event).unwrap(), &mut out);
            String::from_utf8(out).unwrap()
        };
        // Text cut on a character boundary, structured data whole.
        let long = "é".repeat(200);
        let message = render(&long, "b");
        assert!(
            message.len() <= 600 && message.len() > 590,
            "{}",
            message.len()
        );
        assert!(message.starts_with("<11>1 - h a 1 app [logbuf@32473 level=\"ERROR\""));
        assert!(message.contains(&format!("[fields@32473 message=\"{long}\" blob=\"b\"]")));
        // Structured data too long for the limit: left out, the text carries the values.
        let message = render("m", &"x".repeat(700));
        assert!(
            message.starts_with("<11>1 - h a 1 app - app: m blob=\"xxx"),
            "{message}"
        );
        assert_eq!(message.len(), 600);
    }

    #[test]
    fn cuts_end_on_character_boundaries() {
        let text = "aé✓".as_bytes();
        assert_eq!(utf8_floor(text, 10), 6);
        assert_eq!(utf8_floor(text, 5), 3);
        assert_eq!(utf8_floor(text, 2), 1);
        assert_eq!(
            framed_len(&Endpoint::Tcp(([127, 0, 0, 1], 1).into()), 9),
            11
        );
        assert_eq!(
            framed_len(&Endpoint::Tcp(([127, 0, 0, 1], 1).into()), 10),
            13
        );
    }
}
