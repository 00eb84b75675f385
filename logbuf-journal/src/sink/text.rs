//! Human-readable text, laid out like `tracing-subscriber`'s default `fmt` output and formatted
//! on the worker thread.
//!
//! ```text
//! 2026-11-29T06:40:00.123456Z  INFO request{path="/users"}:db{table="users"}: app::db: query done rows=3
//! ```
//!
//! One line per event: the timestamp, the level padded to five characters, the thread name and
//! id when asked for, the spans the event is in (outermost first, each with its fields), the
//! target, the file and line when asked for, the message and the other fields as `name=value`.
//! Values are written as `fmt` writes them: strings quoted and escaped (`path="/users"`),
//! numbers and booleans plain, text formatted on the logging thread (`Debug` and `Display`
//! values, messages) as it is, bytes as hex (`[61 62]`), errors as their message followed by
//! `name.sources=[..]` when they have sources.
//!
//! Records the journal had to drop ([`Record::Dropped`]) are reported on a line of their own,
//! laid out like an event's, at level `WARN` with target `logbuf` ([`DropReport`]):
//!
//! ```text
//! 2026-11-29T06:40:00.123456Z  WARN logbuf: 1,234 records dropped on thread worker-3 (ring full or record too large)
//! ```
//!
//! From format 2.3 on, the line ends with the callsites that lost the most
//! ([`DropReport::message`]): `; most from app::db src/db.rs:42 (1,000), 234 more`.
//!
//! Unlike `fmt`, a line never breaks and never carries a terminal escape sequence from the data:
//! in messages, `Debug`/`Display` values, names, targets and file names, line feeds and carriage
//! returns are written as `\n` and `\r`, and other control characters (ESC among them) as
//! `fmt` writes the ones it escapes (`\x1b`, `\x7f`, `\u{9b}`). Tabs stay as they are.
//!
//! That is the default layout, [`Layout::Full`]. [`Layout::Compact`] is `fmt`'s compact one
//! and [`Layout::EnvLogger`] env_logger's default format ([`TextFormat::env_logger`]);
//! [`TextFormat::with_span_close`] adds a line when a span closes, as `fmt`'s `FmtSpan::CLOSE`
//! does; [`Timestamps`] has `fmt`'s timers (UTC, local, uptime, strftime-like formats).
//!
//! A span's fields are shown as `fmt` shows them: the values it was created with, then the
//! values recorded on it later, in the order they were recorded (a field recorded twice shows
//! twice). [`TextSink`] keeps each open span's fields as text, written once when the span opens
//! rather than for every event inside it. [`TextFormat::render`] alone, given only an event's
//! context, shows each field's latest value in the order the callsite declares them.
//!
//! ```
//! use logbuf_journal::Journal;
//! use logbuf_journal::sink::text::{TextSink, Timestamps};
//! use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)] struct Shared(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Shared {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(b); Ok(b.len()) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let out = Shared::default();
//! # let writer = out.clone();
//!
//! let sink = TextSink::new(writer).with_timestamps(Timestamps::None);
//! let (journal, guard) = Journal::builder().sink(sink).build()?;
//! let callsite = journal.register_callsite(&Callsite {
//!     id: 0,
//!     kind: CallsiteKind::Event,
//!     level: Level::Info,
//!     target: "app",
//!     name: "event app.rs:1",
//!     module_path: None,
//!     file: None,
//!     line: None,
//!     fields: vec!["message", "user"],
//! });
//! journal.write(64, |enc, at| {
//!     enc.event(callsite, at.time, at.thread, None, 2);
//!     enc.value_debug(format_args!("signed in"));
//!     enc.value_str("ada");
//! });
//! drop(guard);
//! # let text = String::from_utf8(out.0.lock().unwrap().clone())?;
//! assert_eq!(text, " INFO app: signed in user=\"ada\"\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::IdMap;
use std::any::Any;
use std::cell::{Cell, RefCell};

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};

use super::{Entry, Sink};
use crate::read::{
    Callsite, Context, EventInContext, LostCallsite, OwnedValue, Span, UNKNOWN_STRING,
};
use crate::rotate::RotatingFile;
use crate::wire::{self, Dropped, Level, Record, SpanClose, SpanCloseTimes, Value};

/// How a sink writes each event's time.
///
/// ```
/// use logbuf_journal::sink::text::{TextSink, Timestamps};
///
/// // fmt's `with_timer(ChronoUtc::new("%H:%M:%S%.3f".into()))`:
/// let sink = TextSink::stderr().with_timestamps(Timestamps::Custom("%H:%M:%S%.3f"));
/// // fmt's `with_timer(Uptime::default())`: `   1.000250000s`.
/// let sink = sink.with_timestamps(Timestamps::Uptime);
/// # drop(sink);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timestamps {
    /// RFC 3339 in UTC with microseconds, `2026-11-29T06:40:00.123456Z`, as `fmt`'s default
    /// timer writes it.
    #[default]
    Rfc3339Utc,
    /// RFC 3339 in the local time zone with microseconds and the offset,
    /// `2026-11-29T07:40:00.123456+01:00`. (`fmt`'s `ChronoLocal::rfc_3339()` writes as many
    /// decimals as the time needs, up to nine:
    /// [`Timestamps::CustomLocal`]`("%Y-%m-%dT%H:%M:%S%.f%:z")` writes exactly that.)
    Local,
    /// Time since the journal started (its first clock record the sink saw; for
    /// [`TextFormat::render`] alone, the first time it rendered), as `fmt`'s `Uptime` timer
    /// writes it: seconds right-aligned to four places, then nine decimals, `   1.000250000s`.
    Uptime,
    /// The UTC time in a strftime-like format of chrono's
    /// ([`chrono::format::strftime`]), as `fmt`'s `ChronoUtc::new(format)` writes it: `%Y`,
    /// `%m`, `%d`, `%H`, `%M`, `%S`, `%.3f` and so on. A format chrono cannot use writes no
    /// timestamp. A format made at run time can be given with [`String::leak`].
    Custom(&'static str),
    /// [`Timestamps::Custom`] in the local time zone, as `fmt`'s `ChronoLocal::new(format)`.
    CustomLocal(&'static str),
    /// No timestamp.
    None,
}

/// Formats wall-clock times, keeping the text of the last second it formatted.
#[derive(Debug, Default)]
pub(crate) struct TimeFormatter {
    /// Whether local, the second last formatted, and its `YYYY-MM-DDTHH:MM:SS` (then, for
    /// local time, the offset `+HH:MM` in bytes 19..25).
    cache: Cell<Option<(bool, u64, [u8; 25])>>,
    /// For custom formats without parts finer than a second: the format and second last
    /// formatted, and the text.
    custom: RefCell<Option<(Timestamps, u64, Vec<u8>)>>,
    /// Where [`Timestamps::Uptime`] counts from, in nanoseconds since the Unix epoch.
    start: Cell<Option<u64>>,
    /// Custom formats' text is escaped for a JSON string rather than for a line of text.
    json: bool,
}

impl Clone for TimeFormatter {
    fn clone(&self) -> Self {
        Self {
            start: self.start.clone(),
            json: self.json,
            ..Self::default()
        }
    }
}

impl TimeFormatter {
    /// A formatter whose custom formats' text goes into JSON strings.
    pub(crate) fn json() -> Self {
        Self {
            json: true,
            ..Self::default()
        }
    }

    /// Sets where [`Timestamps::Uptime`] counts from, unless it is set already.
    pub(crate) fn start_at(&self, unix_nanos: u64) {
        if self.start.get().is_none() {
            self.start.set(Some(unix_nanos));
        }
    }

    /// Appends the time `unix_nanos` in the form `kind` asks for; `false` if there is nothing
    /// to write (no timestamps, or a time out of range).
    #[inline]
    pub(crate) fn write(&self, kind: Timestamps, unix_nanos: u64, out: &mut Vec<u8>) -> bool {
        let local = match kind {
            Timestamps::Rfc3339Utc => false,
            Timestamps::Local => true,
            Timestamps::None => return false,
            Timestamps::Uptime => {
                self.uptime(unix_nanos, out);
                return true;
            }
            Timestamps::Custom(format) | Timestamps::CustomLocal(format) => {
                return self.custom(kind, format, unix_nanos, out);
            }
        };
        let secs = unix_nanos / 1_000_000_000;
        let micros = (unix_nanos % 1_000_000_000) / 1_000;
        let text = match self.cache.get() {
            Some((form, cached, text)) if form == local && cached == secs => text,
            _ => match second_text(local, secs) {
                Some(text) => {
                    self.cache.set(Some((local, secs, text)));
                    text
                }
                None => return false,
            },
        };
        // Put together here and copied once: the second, six digits of microseconds (below a
        // million: three pairs), the zone.
        let mut stamp = [0u8; 32];
        stamp[..19].copy_from_slice(&text[..19]);
        stamp[19] = b'.';
        let micros = micros as usize;
        for (at, pair) in [
            (20, micros / 10_000),
            (22, micros / 100 % 100),
            (24, micros % 100),
        ] {
            stamp[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair * 2..pair * 2 + 2]);
        }
        let end = if local {
            stamp[26..32].copy_from_slice(&text[19..25]);
            32
        } else {
            stamp[26] = b'Z';
            27
        };
        out.extend_from_slice(&stamp[..end]);
        true
    }

    /// Time since the start: `   1.000250000s`.
    #[inline(never)]
    fn uptime(&self, unix_nanos: u64, out: &mut Vec<u8>) {
        self.start_at(unix_nanos);
        let since = unix_nanos.saturating_sub(self.start.get().unwrap_or(unix_nanos));
        let secs = since / 1_000_000_000;
        if secs < 1000 {
            out.extend(std::iter::repeat_n(b' ', 4 - decimal_len(secs)));
        }
        push_u64(out, secs, 1);
        out.push(b'.');
        push_u64(out, since % 1_000_000_000, 9);
        out.push(b's');
    }

    /// A custom format: from the cache when it has no part finer than a second and the second
    /// is the one formatted last.
    #[inline(never)]
    fn custom(&self, kind: Timestamps, format: &str, unix_nanos: u64, out: &mut Vec<u8>) -> bool {
        let secs = unix_nanos / 1_000_000_000;
        let per_second = !has_subsecond(format);
        if per_second
            && let Some((form, cached, text)) = &*self.custom.borrow()
            && *form == kind
            && *cached == secs
        {
            out.extend_from_slice(text);
            return true;
        }
        let start = out.len();
        let Ok(nanos) = i64::try_from(unix_nanos) else {
            return false;
        };
        let utc = chrono::DateTime::from_timestamp_nanos(nanos);
        let items = chrono::format::StrftimeItems::new(format);
        let written = if matches!(kind, Timestamps::CustomLocal(_)) {
            let local = utc.with_timezone(&chrono::Local);
            write!(Bytes(out), "{}", local.format_with_items(items))
        } else {
            write!(Bytes(out), "{}", utc.format_with_items(items))
        };
        if written.is_err() {
            out.truncate(start);
            return false;
        }
        // A format may hold anything (`%n`, `%t`, quotes): escaped as the sink escapes text,
        // so that a line stays one line and a JSON string stays valid.
        let special =
            |b: &u8| TEXT_SPECIAL[usize::from(*b)] || (self.json && (*b == b'"' || *b == b'\\'));
        if out[start..].iter().any(special) {
            let raw = String::from_utf8_lossy(&out[start..]).into_owned();
            out.truncate(start);
            if self.json {
                super::json::string(&raw, out);
                // Without the quotes `string` puts around it.
                out.remove(start);
                out.pop();
            } else {
                escape_into(&raw, out);
            }
        }
        if per_second {
            *self.custom.borrow_mut() = Some((kind, secs, out[start..].to_vec()));
        }
        true
    }
}

/// Digits of `v` in decimal.
fn decimal_len(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Whether a strftime format may write a part of a second (`%f`, `%.3f`, `%+`, ...), or
/// something else that is not the same all through a second: such formats are formatted
/// for every line.
fn has_subsecond(format: &str) -> bool {
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        rest = &rest[at + 1..];
        // Padding and width modifiers, then the specifier (`%%` is a literal percent sign).
        let spec = rest.trim_start_matches([
            '-', '_', '0', '.', ':', '#', '1', '2', '3', '4', '5', '6', '7', '8', '9',
        ]);
        match spec.chars().next() {
            Some('f' | '+') => return true,
            Some(c) => rest = &spec[c.len_utf8()..],
            None => break,
        }
    }
    false
}

/// `YYYY-MM-DDTHH:MM:SS` and, for local time, the offset.
fn second_text(local: bool, secs: u64) -> Option<[u8; 25]> {
    let secs = i64::try_from(secs).ok()?;
    let utc = chrono::DateTime::from_timestamp(secs, 0)?;
    let mut text = [b' '; 25];
    let mut cursor = io::Cursor::new(&mut text[..]);
    let written = if local {
        let local = utc.with_timezone(&chrono::Local);
        write!(cursor, "{}", local.format("%Y-%m-%dT%H:%M:%S%:z"))
    } else {
        write!(cursor, "{}", utc.format("%Y-%m-%dT%H:%M:%S"))
    };
    // Years past 9999 do not fit the form; leave them out rather than misalign.
    (written.is_ok() && cursor.position() == if local { 25 } else { 19 }).then_some(text)
}

/// `fmt::Write` into a byte buffer.
pub(crate) struct Bytes<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends `text` with the characters that could break the line or drive a terminal escaped:
/// `\n`, `\r`, and other C0 controls, DEL and C1 controls as `\xNN` / `\u{NN}`. Tabs stay.
pub(crate) fn escape_into(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    // Most text has nothing to escape: C0 controls and DEL are single bytes below 0x20 or
    // 0x7f, C1 controls start with 0xc2.
    if !has_text_special(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let escaped: Option<&str> = match c {
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => None,
            c if (c as u32) < 0x20 || c == '\x7f' || ('\u{80}'..='\u{9f}').contains(&c) => Some(""),
            _ => None,
        };
        let Some(short) = escaped else { continue };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            let code = c as u32;
            if code < 0x80 {
                let _ = write!(Bytes(out), "\\x{code:02x}");
            } else {
                let _ = write!(Bytes(out), "\\u{{{code:x}}}");
            }
        } else {
            out.extend_from_slice(short.as_bytes());
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `v` in decimal, at least `width` digits (zero-padded).
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    // Two digits at a time.
    while v >= 100 {
        let pair = usize::from((v % 100) as u8) * 2;
        v /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = usize::from(v as u8) * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + v as u8;
    }
    let at = at.min(digits.len().saturating_sub(width));
    out.extend_from_slice(&digits[at..]);
}

/// `00` to `99`, two bytes each.
static DIGIT_PAIRS: [u8; 200] = {
    let mut pairs = [0; 200];
    let mut n = 0;
    while n < 100 {
        pairs[n * 2] = b'0' + (n / 10) as u8;
        pairs[n * 2 + 1] = b'0' + (n % 10) as u8;
        n += 1;
    }
    pairs
};

/// Appends `v` in decimal.
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs(), 1);
}

/// [`colors`] with this process's `NO_COLOR` and `RUST_LOG_STYLE`.
fn colors_from_env(terminal: bool) -> bool {
    colors(
        terminal,
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("RUST_LOG_STYLE").as_deref(),
    )
}

/// Whether a stream gets ANSI colours: `style` (`RUST_LOG_STYLE`) `always` or `never`
/// decides; otherwise a terminal does, unless `no_color` (`NO_COLOR`) is set and not empty.
fn colors(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    style: Option<&std::ffi::OsStr>,
) -> bool {
    match style.and_then(|s| s.to_str()).map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("always") => true,
        Some(s) if s.eq_ignore_ascii_case("never") => false,
        _ => terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// Whether `bytes` hold a byte of [`TEXT_SPECIAL`]: eight bytes at a time, then the rest one
/// at a time.
#[inline]
fn has_text_special(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A high bit where a byte of `v` is zero (exact as a whole: no false answer for `any`).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().expect("chunks of 8"));
        // Bytes below 0x20: below 0x80, `x - 0x20` borrows into the high bit.
        let control = x.wrapping_sub(0x20 * ONES) & !x & HIGH;
        if control | zero(x ^ (0x7f * ONES)) | zero(x ^ (0xc2 * ONES)) != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| TEXT_SPECIAL[usize::from(b)])
}

/// Bytes that [`escape_into`] may have to escape: C0 controls, DEL, and 0xc2, which starts
/// the C1 controls.
static TEXT_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[0x7f] = true;
    table[0xc2] = true;
    table
};

/// A field name as `fmt` shows it: without a raw-identifier `r#`.
pub(crate) fn field_name(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// Bytes as `fmt` shows them: `[61 62 ff]`.
pub(crate) fn hex_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let _ = write!(Bytes(out), "{b:02x}");
    }
    out.push(b']');
}

// === styles ===

const RESET: &str = "\x1b[0m";
const DIMMED: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const ITALIC: &str = "\x1b[3m";
const BRIGHT_BLACK: &str = "\x1b[90m";

fn level_text(level: Level) -> (&'static str, &'static str) {
    match level {
        Level::Trace => ("TRACE", "\x1b[35m"),
        Level::Debug => ("DEBUG", "\x1b[34m"),
        Level::Info => (" INFO", "\x1b[32m"),
        Level::Warn => (" WARN", "\x1b[33m"),
        Level::Error => ("ERROR", "\x1b[31m"),
    }
}

/// A level as env_logger writes it: padded to five characters, and its colour.
fn env_logger_level(level: Level) -> (&'static str, &'static str) {
    match level {
        Level::Trace => ("TRACE", "\x1b[36m"),
        Level::Debug => ("DEBUG", "\x1b[34m"),
        Level::Info => ("INFO ", "\x1b[32m"),
        Level::Warn => ("WARN ", "\x1b[33m"),
        Level::Error => ("ERROR", "\x1b[1m\x1b[31m"),
    }
}

/// A span's busy or idle time as `fmt` writes it in close lines: three significant digits
/// at most, in ns, µs, ms or s (`1.25ms`, `35.4µs`, `120s`).
pub(crate) fn push_duration(out: &mut Vec<u8>, nanos: u64) {
    let mut value = nanos as f64;
    for unit in ["ns", "µs", "ms"] {
        if value < 1000.0 {
            let decimals = if value < 10.0 {
                2
            } else if value < 100.0 {
                1
            } else {
                0
            };
            let _ = write!(Bytes(out), "{value:.decimals$}{unit}");
            return;
        }
        value /= 1000.0;
    }
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    let _ = write!(Bytes(out), "{value:.decimals$}s");
}

/// What a line says before its message and fields, from an event, a span's close or a drop
/// report.
struct LineHead<'a> {
    unix_nanos: Option<u64>,
    level: Level,
    thread: u64,
    thread_name: Option<&'a str>,
    target: &'a str,
    file: Option<&'a str>,
    line: Option<u32>,
}

/// How a [`TextFormat`] lays out its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// `fmt`'s default (`Full`) layout: the spans with their fields before the target, the
    /// message and fields after it.
    ///
    /// ```text
    /// 2026-11-29T06:40:00.123456Z  INFO request{path="/users"}:db{table="users"}: app::db: query done rows=3
    /// ```
    #[default]
    Full,
    /// `fmt`'s compact layout (`fmt().compact()`): the span names before the target, their
    /// fields after the event's, outermost first.
    ///
    /// ```text
    /// 2026-11-29T06:40:00.123456Z  INFO request:db: app::db: query done rows=3 path="/users" table="users"
    /// ```
    Compact,
    /// env_logger's default format: the header in brackets (the timestamp, the level padded
    /// to five characters, the file and line when asked for, the target unless it is empty),
    /// then the message and the other fields as env_logger writes key-values (` key=value`,
    /// each value as its `Display` writes it: strings unquoted, `1e300` in full). Spans, thread names and thread ids are not shown, as env_logger has
    /// none. [`TextFormat::env_logger`] also sets env_logger's timestamps.
    ///
    /// ```text
    /// [2026-12-04T19:46:07Z INFO  my_crate::db] connected to pg user=ada
    /// ```
    ///
    /// Unlike env_logger, a message with a line feed stays on one line (`\n`, as in the other
    /// layouts) rather than going on to indented lines.
    EnvLogger,
}

// === impl TextFormat ===

/// How events are laid out as text: the options of `tracing-subscriber`'s default `fmt`
/// format, and the renderer.
///
/// The defaults are `fmt`'s: RFC 3339 UTC timestamps, level and target shown; thread names,
/// thread ids, file and line hidden; no ANSI colours ([`TextSink::stdout`] and
/// [`TextSink::stderr`] turn them on for a terminal).
///
/// ```
/// use logbuf_journal::read::Context;
/// use logbuf_journal::sink::text::{TextFormat, Timestamps};
/// use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, Value};
///
/// let mut context = Context::new();
/// context.apply(&Record::Callsite(Callsite { id: 1, kind: CallsiteKind::Event,
///     level: Level::Warn, target: "app", name: "event", module_path: None,
///     file: Some("src/app.rs"), line: Some(7), fields: vec!["message", "retries"] }));
/// let event = Event { callsite: 1, time: 0, thread: 1, parent: None,
///     values: vec![Value::Debug("slow"), Value::U64(3)] };
///
/// let format = TextFormat::new().with_timestamps(Timestamps::None).with_line_number(true);
/// let mut line = Vec::new();
/// format.render(&context.event(event).unwrap(), &mut line);
/// assert_eq!(line, b" WARN app: 7: slow retries=3\n");
/// ```
#[derive(Debug, Clone)]
pub struct TextFormat {
    timestamps: Timestamps,
    ansi: bool,
    target: bool,
    level: bool,
    thread_names: bool,
    thread_ids: bool,
    file: bool,
    line_number: bool,
    layout: Layout,
    span_close: bool,
    time: TimeFormatter,
    /// Bytes of the longest thread name written so far.
    longest_thread_name: Cell<usize>,
}

impl Default for TextFormat {
    fn default() -> Self {
        Self::new()
    }
}

impl TextFormat {
    /// `fmt`'s defaults.
    pub fn new() -> Self {
        Self {
            timestamps: Timestamps::Rfc3339Utc,
            ansi: false,
            target: true,
            level: true,
            thread_names: false,
            thread_ids: false,
            file: false,
            line_number: false,
            layout: Layout::Full,
            span_close: false,
            time: TimeFormatter::default(),
            longest_thread_name: Cell::new(0),
        }
    }

    /// env_logger's default format, for programs and scripts that read it: layout
    /// [`Layout::EnvLogger`] with timestamps in UTC to the second, as env_logger writes them
    /// ([`Timestamps::Custom`]`("%Y-%m-%dT%H:%M:%SZ")`; `%.3f` before the `Z` gives
    /// env_logger's `format_timestamp_millis`).
    ///
    /// ```
    /// use logbuf_journal::sink::text::{TextFormat, TextSink};
    ///
    /// // [2026-12-04T19:46:07Z INFO  my_crate] connected to pg
    /// let sink = TextSink::stderr().with_format(|f| TextFormat::env_logger().with_ansi(f.ansi()));
    /// # drop(sink);
    /// ```
    pub fn env_logger() -> Self {
        Self::new()
            .with_layout(Layout::EnvLogger)
            .with_timestamps(Timestamps::Custom("%Y-%m-%dT%H:%M:%SZ"))
    }

    /// How lines are laid out ([`Layout`]). Default [`Layout::Full`], `fmt`'s default.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// `fmt`'s compact layout, as `fmt().compact()`: [`Layout::Compact`].
    ///
    /// ```
    /// use logbuf_journal::read::Context;
    /// use logbuf_journal::sink::text::TextFormat;
    /// use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, SpanNew, Value};
    ///
    /// let mut context = Context::new();
    /// for (id, kind, name, fields) in [
    ///     (1, CallsiteKind::Span, "request", vec!["path"]),
    ///     (2, CallsiteKind::Event, "event", vec!["message", "rows"]),
    /// ] {
    ///     context.apply(&Record::Callsite(Callsite { id, kind, level: Level::Info,
    ///         target: "app", name, module_path: None, file: None, line: None, fields }));
    /// }
    /// context.apply(&Record::SpanNew(SpanNew { id: 5, parent: None, callsite: 1, time: 0,
    ///     thread: 1, values: vec![Value::Str("/users")] }));
    /// let event = Event { callsite: 2, time: 0, thread: 1, parent: Some(5),
    ///     values: vec![Value::Debug("done"), Value::U64(3)] };
    /// let mut line = Vec::new();
    /// TextFormat::new().without_time().compact().render(&context.event(event).unwrap(), &mut line);
    /// assert_eq!(line, b" INFO request: app: done rows=3 path=\"/users\"\n");
    /// ```
    pub fn compact(self) -> Self {
        self.with_layout(Layout::Compact)
    }

    /// The layout in use.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// A line when a span closes, as `fmt`'s `with_span_events(FmtSpan::CLOSE)` writes it:
    /// laid out as an event of the span's level, target, file and line, inside the span, with
    /// the message `close` and the span's busy and idle times:
    ///
    /// ```text
    /// 2026-11-29T06:40:00.123456Z  INFO request{path="/users"}: app: close time.busy=1.20ms time.idle=35.4µs
    /// ```
    ///
    /// The times are in the journal only when the layer measures them
    /// (`LogbufLayer::builder().span_times(true)` in logbuf-tracing, off by default because
    /// it costs every enter and exit); without them the line ends at `close`, as `fmt`'s does
    /// with its timing off. The thread shown (with [`TextFormat::with_thread_names`] or
    /// [`TextFormat::with_thread_ids`]) is the one that created the span: the journal does not
    /// record which thread closed it. Default off.
    ///
    /// ```
    /// use logbuf_journal::sink::text::TextSink;
    ///
    /// let sink = TextSink::stderr().with_format(|f| f.with_span_close(true));
    /// # drop(sink);
    /// ```
    pub fn with_span_close(mut self, close: bool) -> Self {
        self.span_close = close;
        self
    }

    /// Whether span close lines are on ([`TextFormat::with_span_close`]).
    pub fn span_close(&self) -> bool {
        self.span_close
    }

    /// How to write timestamps. Default [`Timestamps::Rfc3339Utc`].
    pub fn with_timestamps(mut self, timestamps: Timestamps) -> Self {
        self.timestamps = timestamps;
        self
    }

    /// No timestamps, as `fmt`'s `without_time`.
    pub fn without_time(self) -> Self {
        self.with_timestamps(Timestamps::None)
    }

    /// ANSI colours and styles, as `fmt` uses them. Default off.
    pub fn with_ansi(mut self, ansi: bool) -> Self {
        self.ansi = ansi;
        self
    }

    /// The event's target. Default on.
    pub fn with_target(mut self, target: bool) -> Self {
        self.target = target;
        self
    }

    /// The event's level. Default on.
    pub fn with_level(mut self, level: bool) -> Self {
        self.level = level;
        self
    }

    /// The name of the thread that logged the event (its id, `ThreadId(NN)`, when it has no
    /// name and ids are not shown), right-aligned to the longest name written so far as
    /// `fmt` aligns them. Default off.
    pub fn with_thread_names(mut self, names: bool) -> Self {
        self.thread_names = names;
        self
    }

    /// The journal's id of the thread that logged the event, as `ThreadId(NN)`. Default off.
    pub fn with_thread_ids(mut self, ids: bool) -> Self {
        self.thread_ids = ids;
        self
    }

    /// The source file of the event's callsite. Default off.
    pub fn with_file(mut self, file: bool) -> Self {
        self.file = file;
        self
    }

    /// The source line of the event's callsite. Default off.
    pub fn with_line_number(mut self, line: bool) -> Self {
        self.line_number = line;
        self
    }

    /// Whether ANSI colours are on.
    pub fn ansi(&self) -> bool {
        self.ansi
    }

    /// Appends the event's line, with its line feed, to `out`.
    ///
    /// A span's fields are written from its values as they stand: each field's latest value,
    /// in the order the callsite declares them. [`TextSink`] keeps each span's fields as they
    /// were recorded instead, which is `fmt`'s layout (see the [module docs](self)).
    pub fn render(&self, event: &EventInContext<'_>, out: &mut Vec<u8>) {
        self.render_with(event, &SpanFields::default(), out);
    }

    /// [`TextFormat::render`] with the spans' fields as `spans` kept them, in `fmt`'s layout
    /// (a span `spans` does not know is written from its values).
    pub fn render_with(&self, event: &EventInContext<'_>, spans: &SpanFields, out: &mut Vec<u8>) {
        self.render_event(event, spans, None, out);
    }

    /// [`TextFormat::render_with`], with what is the same on every line of a callsite copied
    /// from `texts` (rendered in this format) where it has the callsite.
    fn render_event(
        &self,
        event: &EventInContext<'_>,
        spans: &SpanFields,
        texts: Option<&CallsiteTexts>,
        out: &mut Vec<u8>,
    ) {
        let callsite = event.callsite;
        let values = event.event.values.iter().map(Field::Wire);
        if self.layout == Layout::Full {
            let cached = texts.and_then(|texts| texts.get(callsite));
            // The default, written straight: the worker's usual path.
            self.head(
                event.unix_nanos,
                callsite.level,
                event.event.thread,
                event.thread_name,
                out,
            );
            if !event.spans.is_empty() {
                for span in &event.spans {
                    let name = texts.and_then(|texts| texts.get(&span.callsite));
                    self.span(span, name, spans.get(span.id), out);
                }
                out.push(b' ');
            }
            match cached {
                Some(text) => out.extend_from_slice(&text.location),
                None => self.location(
                    &callsite.target,
                    callsite.file.as_deref(),
                    callsite.line,
                    out,
                ),
            }
            let names = cached.map(|text| &*text.fields);
            self.fields(&callsite.fields, names, values, out);
            out.push(b'\n');
            return;
        }
        let head = LineHead {
            unix_nanos: event.unix_nanos,
            level: callsite.level,
            thread: event.event.thread,
            thread_name: event.thread_name,
            target: &callsite.target,
            file: callsite.file.as_deref(),
            line: callsite.line,
        };
        self.line(&head, &event.spans, spans, out, |format, out| {
            if format.layout == Layout::EnvLogger {
                format.env_logger_fields(&callsite.fields, values, out);
            } else {
                format.fields(&callsite.fields, None, values, out);
            }
        });
    }

    /// Appends the line for a span's close ([`TextFormat::with_span_close`]), with its line
    /// feed, to `out`, the spans' fields as `spans` kept them.
    ///
    /// ```
    /// use logbuf_journal::read::Context;
    /// use logbuf_journal::sink::text::{SpanClosing, SpanFields, TextFormat};
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
    /// let closing = SpanClosing::new(&context, &close).unwrap();
    /// let mut line = Vec::new();
    /// TextFormat::new().render_close(&closing, &SpanFields::new(), &mut line);
    /// assert_eq!(
    ///     String::from_utf8(line).unwrap(),
    ///     " INFO job: app: close time.busy=1.25ms time.idle=35.4µs\n",
    /// );
    /// ```
    pub fn render_close(&self, closing: &SpanClosing<'_>, spans: &SpanFields, out: &mut Vec<u8>) {
        let callsite = &closing.span.callsite;
        let head = LineHead {
            unix_nanos: closing.unix_nanos,
            level: callsite.level,
            thread: closing.span.thread,
            thread_name: closing.thread_name,
            target: &callsite.target,
            file: callsite.file.as_deref(),
            line: callsite.line,
        };
        self.line(&head, &closing.scope, spans, out, |format, out| {
            out.extend_from_slice(b"close");
            if let Some((busy, idle)) = closing.times {
                for (name, nanos) in [("time.busy", busy), ("time.idle", idle)] {
                    out.push(b' ');
                    if format.layout == Layout::EnvLogger {
                        out.extend_from_slice(name.as_bytes());
                        out.push(b'=');
                    } else {
                        format.name(name, out);
                    }
                    push_duration(out, nanos);
                }
            }
        });
    }

    /// A whole line in the layout asked for: what comes before the message and fields, the
    /// message and fields `body` writes, what comes after, and the line feed.
    fn line(
        &self,
        head: &LineHead<'_>,
        scope: &[&Span],
        spans: &SpanFields,
        out: &mut Vec<u8>,
        body: impl FnOnce(&Self, &mut Vec<u8>),
    ) {
        match self.layout {
            Layout::Full => {
                self.full_prefix(head, scope, spans, out);
                body(self, out);
            }
            Layout::Compact => {
                self.line_start(head, out);
                if !scope.is_empty() {
                    for span in scope {
                        self.style(BOLD, out, |out| escape_into(&span.callsite.name, out));
                        out.push(b':');
                    }
                    out.push(b' ');
                }
                self.compact_location(head, out);
                body(self, out);
                for span in scope {
                    let start = out.len();
                    out.push(b' ');
                    self.style(DIMMED, out, |out| match spans.get(span.id) {
                        Some(fields) => out.extend_from_slice(fields),
                        None => {
                            let values = span.values.iter().map(Field::Owned);
                            self.fields(&span.callsite.fields, None, values, out);
                        }
                    });
                    let empty = if self.ansi {
                        DIMMED.len() + RESET.len() + 1
                    } else {
                        1
                    };
                    if out.len() - start == empty {
                        out.truncate(start);
                    }
                }
            }
            Layout::EnvLogger => {
                self.env_logger_head(head, out);
                body(self, out);
            }
        }
        out.push(b'\n');
    }

    /// What comes before the message and fields in the default layout.
    #[inline(always)]
    fn full_prefix(
        &self,
        head: &LineHead<'_>,
        scope: &[&Span],
        spans: &SpanFields,
        out: &mut Vec<u8>,
    ) {
        self.line_start(head, out);
        if !scope.is_empty() {
            for span in scope {
                self.span(span, None, spans.get(span.id), out);
            }
            out.push(b' ');
        }
        self.location(head.target, head.file, head.line, out);
    }

    /// [`TextFormat::head`] for `head`.
    fn line_start(&self, head: &LineHead<'_>, out: &mut Vec<u8>) {
        self.head(
            head.unix_nanos,
            head.level,
            head.thread,
            head.thread_name,
            out,
        );
    }

    /// The target, file and line of the default layout.
    #[inline(always)]
    fn location(&self, target: &str, file: Option<&str>, line: Option<u32>, out: &mut Vec<u8>) {
        if self.target {
            self.style(DIMMED, out, |out| escape_into(target, out));
            self.style(DIMMED, out, |out| out.push(b':'));
            out.push(b' ');
        }
        let line = line.filter(|_| self.line_number);
        if self.file
            && let Some(file) = file
        {
            self.style(DIMMED, out, |out| escape_into(file, out));
            self.style(DIMMED, out, |out| out.push(b':'));
            if line.is_none() {
                out.push(b' ');
            }
        }
        if let Some(line) = line {
            self.style(DIMMED, out, |out| {
                push_u64(out, u64::from(line), 1);
                out.push(b':');
            });
            out.push(b' ');
        }
    }

    /// The target, file and line of the compact layout.
    fn compact_location(&self, head: &LineHead<'_>, out: &mut Vec<u8>) {
        let mut space = false;
        if self.target {
            self.style(DIMMED, out, |out| escape_into(head.target, out));
            self.style(DIMMED, out, |out| out.push(b':'));
            space = true;
        }
        if self.file
            && let Some(file) = head.file
        {
            if self.target {
                out.push(b' ');
            }
            self.style(DIMMED, out, |out| escape_into(file, out));
            self.style(DIMMED, out, |out| out.push(b':'));
            space = true;
        }
        if self.line_number
            && let Some(line) = head.line
        {
            self.style(DIMMED, out, |out| push_u64(out, u64::from(line), 1));
            self.style(DIMMED, out, |out| out.push(b':'));
            space = true;
        }
        if space {
            out.push(b' ');
        }
    }

    /// env_logger's header, `[2026-12-04T19:46:07Z INFO  my_crate] `: the timestamp, the
    /// level padded to five, the file (and line), the target unless empty, each when its
    /// option is on, in brackets when any is.
    fn env_logger_head(&self, head: &LineHead<'_>, out: &mut Vec<u8>) {
        let mut opened = false;
        if let Some(nanos) = head.unix_nanos
            && !matches!(self.timestamps, Timestamps::None)
        {
            let start = out.len();
            self.env_logger_value(&mut opened, out);
            if !self.time.write(self.timestamps, nanos, out) {
                out.truncate(start);
                opened = false;
            }
        }
        if self.level {
            self.env_logger_value(&mut opened, out);
            let (text, colour) = env_logger_level(head.level);
            self.style(colour, out, |out| out.extend_from_slice(text.as_bytes()));
        }
        if self.file
            && let Some(file) = head.file
        {
            self.env_logger_value(&mut opened, out);
            escape_into(file, out);
            if self.line_number
                && let Some(line) = head.line
            {
                out.push(b':');
                push_u64(out, u64::from(line), 1);
            }
        }
        if self.target && !head.target.is_empty() {
            self.env_logger_value(&mut opened, out);
            escape_into(head.target, out);
        }
        if opened {
            self.style(BRIGHT_BLACK, out, |out| out.push(b']'));
            out.push(b' ');
        }
    }

    /// What comes before a value of env_logger's header: `[` before the first, a space
    /// before the others.
    fn env_logger_value(&self, opened: &mut bool, out: &mut Vec<u8>) {
        if *opened {
            out.push(b' ');
        } else {
            *opened = true;
            self.style(BRIGHT_BLACK, out, |out| out.push(b'['));
        }
    }

    /// Fields as env_logger writes a record's message and key-values: the message as it is,
    /// then ` key=value` for each other field, strings unquoted (their `Display`).
    fn env_logger_fields<'v>(
        &self,
        names: &[String],
        values: impl Iterator<Item = Field<'v>>,
        out: &mut Vec<u8>,
    ) {
        for (name, value) in names.iter().zip(values) {
            if value.is_empty() {
                continue;
            }
            let name = field_name(name);
            let text = |out: &mut Vec<u8>| match value {
                Field::Wire(Value::Str(text)) => escape_into(text, out),
                Field::Owned(OwnedValue::Str(text)) => escape_into(text, out),
                Field::Wire(Value::F64(v)) | Field::Owned(OwnedValue::F64(v)) => {
                    let _ = write!(Bytes(out), "{v}");
                }
                _ => value.text(out),
            };
            if name == "message" {
                text(out);
                continue;
            }
            out.push(b' ');
            self.style(ITALIC, out, |out| escape_into(name, out));
            out.push(b'=');
            text(out);
        }
    }

    /// Appends the report of dropped records `report`, with its line feed, to `out`: a line
    /// laid out like an event's, at level `WARN`, target `logbuf`, on the thread whose records
    /// were dropped, with [`DropReport::message`] as its message.
    ///
    /// ```
    /// use logbuf_journal::read::Context;
    /// use logbuf_journal::sink::text::{DropReport, TextFormat};
    /// use logbuf_journal::wire::{Dropped, Record, ThreadName};
    ///
    /// let mut context = Context::new();
    /// context.apply(&Record::ThreadName(ThreadName { thread: 3, name: "worker-3" }));
    /// let dropped = Dropped { thread: 3, count: 1234, first_time: 0, last_time: 0 };
    /// let mut line = Vec::new();
    /// TextFormat::new().render_dropped(&DropReport::new(&context, dropped), &mut line);
    /// assert_eq!(
    ///     String::from_utf8(line).unwrap(),
    ///     " WARN logbuf: 1,234 records dropped on thread worker-3 (ring full or record too large)\n",
    /// );
    /// ```
    pub fn render_dropped(&self, report: &DropReport<'_>, out: &mut Vec<u8>) {
        let head = LineHead {
            unix_nanos: report.unix_nanos,
            level: Level::Warn,
            thread: report.dropped.thread,
            thread_name: report.thread_name,
            target: DROP_TARGET,
            file: None,
            line: None,
        };
        self.line(&head, &[], &SpanFields::default(), out, |_, out| {
            report.message(out)
        });
    }

    /// The start of a line: timestamp, level, thread name and id, each as the options ask.
    fn head(
        &self,
        unix_nanos: Option<u64>,
        level: Level,
        thread: u64,
        thread_name: Option<&str>,
        out: &mut Vec<u8>,
    ) {
        if !matches!(self.timestamps, Timestamps::None)
            && let Some(nanos) = unix_nanos
        {
            let start = out.len();
            let mut written = false;
            self.style(DIMMED, out, |out| {
                written = self.time.write(self.timestamps, nanos, out);
            });
            if written {
                out.push(b' ');
            } else {
                out.truncate(start);
            }
        }
        if self.level {
            let (text, colour) = level_text(level);
            self.style(colour, out, |out| out.extend_from_slice(text.as_bytes()));
            out.push(b' ');
        }
        if self.thread_names {
            match thread_name {
                Some(name) => {
                    // Right-aligned to the longest name so far, as `fmt` does.
                    let longest = self.longest_thread_name.get().max(name.len());
                    self.longest_thread_name.set(longest);
                    let pad = longest.saturating_sub(name.chars().count());
                    out.extend(std::iter::repeat_n(b' ', pad));
                    escape_into(name, out);
                    out.push(b' ');
                }
                None if self.thread_ids => {}
                None => thread_id(thread, out),
            }
        }
        if self.thread_ids {
            thread_id(thread, out);
        }
    }

    /// A span in the default layout: its name (copied from `cached` when given), its fields
    /// (`kept`, or its values), and the colon after.
    #[inline(always)]
    fn span(
        &self,
        span: &Span,
        cached: Option<&CallsiteText>,
        kept: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) {
        match cached {
            Some(text) => out.extend_from_slice(&text.name),
            None => self.style(BOLD, out, |out| escape_into(&span.callsite.name, out)),
        }
        match kept {
            Some([]) => {}
            Some(fields) => {
                self.style(BOLD, out, |out| out.push(b'{'));
                out.extend_from_slice(fields);
                self.style(BOLD, out, |out| out.push(b'}'));
            }
            None if span.values.iter().any(|v| *v != OwnedValue::Empty) => {
                self.style(BOLD, out, |out| out.push(b'{'));
                let values = span.values.iter().map(Field::Owned);
                self.fields(&span.callsite.fields, None, values, out);
                self.style(BOLD, out, |out| out.push(b'}'));
            }
            None => {}
        }
        self.style(DIMMED, out, |out| out.push(b':'));
    }

    /// The fields named `names` with `values`, each `name=` copied from `cached` (a
    /// [`CallsiteText::fields`] of the same names, in this format) when given.
    fn fields<'v>(
        &self,
        names: &[String],
        cached: Option<&[Option<Box<[u8]>>]>,
        values: impl Iterator<Item = Field<'v>>,
        out: &mut Vec<u8>,
    ) {
        let mut first = true;
        for (i, (name, value)) in names.iter().zip(values).enumerate() {
            if value.is_empty() {
                continue;
            }
            if !first {
                out.push(b' ');
            }
            first = false;
            let text = cached.and_then(|cached| cached.get(i));
            let message = match text {
                Some(text) => text.is_none(),
                None => field_name(name) == "message",
            };
            if message {
                // A message is text even when it came as a string value: no quotes.
                match value {
                    Field::Wire(Value::Str(text)) => escape_into(text, out),
                    Field::Owned(OwnedValue::Str(text)) => escape_into(text, out),
                    _ => value.text(out),
                }
                continue;
            }
            match text {
                Some(Some(text)) => out.extend_from_slice(text),
                _ => self.name(field_name(name), out),
            }
            match value.error_sources() {
                Some(sources) => {
                    value.text(out);
                    if sources.len() > 0 {
                        let name = field_name(name);
                        out.push(b' ');
                        self.style(ITALIC, out, |out| escape_into(name, out));
                        self.style(ITALIC, out, |out| out.extend_from_slice(b".sources"));
                        self.style(DIMMED, out, |out| out.push(b'='));
                        out.push(b'[');
                        for (i, source) in sources.enumerate() {
                            if i > 0 {
                                out.extend_from_slice(b", ");
                            }
                            escape_into(source, out);
                        }
                        out.push(b']');
                    }
                }
                None => value.text(out),
            }
        }
    }

    /// `name=`, styled.
    fn name(&self, name: &str, out: &mut Vec<u8>) {
        self.style(ITALIC, out, |out| escape_into(name, out));
        self.style(DIMMED, out, |out| out.push(b'='));
    }

    /// Writes what `body` writes inside the style's escape codes when colours are on.
    fn style(&self, code: &str, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
        if self.ansi {
            out.extend_from_slice(code.as_bytes());
            body(out);
            out.extend_from_slice(RESET.as_bytes());
        } else {
            body(out);
        }
    }
}

/// A string as `Debug` writes it (`fmt` writes string values so), without going through the
/// formatter when it has nothing to escape.
fn quoted(text: &str, w: Bytes<'_>) -> fmt::Result {
    let plain = text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' && b != b'\'');
    if plain {
        w.0.push(b'"');
        w.0.extend_from_slice(text.as_bytes());
        w.0.push(b'"');
        Ok(())
    } else {
        let mut w = w;
        write!(w, "{text:?}")
    }
}

fn thread_id(thread: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(b"ThreadId(");
    push_u64(out, thread, 2);
    out.extend_from_slice(b") ");
}

/// A value from an event record or from a span, for the shared field writer.
#[derive(Clone, Copy)]
enum Field<'v> {
    Wire(&'v Value<'v>),
    Owned(&'v OwnedValue),
}

impl<'v> Field<'v> {
    fn is_empty(self) -> bool {
        matches!(
            self,
            Field::Wire(Value::Empty) | Field::Owned(OwnedValue::Empty)
        )
    }

    /// An error's sources, or `None` if the value is not an error.
    fn error_sources(self) -> Option<impl ExactSizeIterator<Item = &'v str>> {
        let list: Box<dyn ExactSizeIterator<Item = &'v str>> = match self {
            Field::Wire(Value::Error { sources, .. }) => Box::new(sources.iter().copied()),
            Field::Owned(OwnedValue::Error { sources, .. }) => {
                Box::new(sources.iter().map(String::as_str))
            }
            _ => return None,
        };
        Some(list)
    }

    /// The value as `fmt` writes it.
    fn text(self, out: &mut Vec<u8>) {
        let mut w = Bytes(out);
        let _ = match self {
            Field::Wire(v) => match v {
                Value::Empty => Ok(()),
                Value::U64(v) => {
                    push_u64(w.0, *v, 1);
                    Ok(())
                }
                Value::I64(v) => {
                    push_i64(w.0, *v);
                    Ok(())
                }
                Value::U128(v) => write!(w, "{v}"),
                Value::I128(v) => write!(w, "{v}"),
                Value::F64(v) => write!(w, "{v:?}"),
                Value::Bool(v) => write!(w, "{v}"),
                Value::Str(v) => quoted(v, w),
                Value::Bytes(v) => {
                    hex_bytes(v, w.0);
                    Ok(())
                }
                Value::Debug(v) => {
                    escape_into(v, w.0);
                    Ok(())
                }
                Value::Error { message, .. } => {
                    escape_into(message, w.0);
                    Ok(())
                }
                // Resolved by the context before rendering: only a missing definition is left.
                Value::Interned(_) => {
                    escape_into(UNKNOWN_STRING, w.0);
                    Ok(())
                }
            },
            Field::Owned(v) => match v {
                OwnedValue::Empty => Ok(()),
                OwnedValue::U64(v) => {
                    push_u64(w.0, *v, 1);
                    Ok(())
                }
                OwnedValue::I64(v) => {
                    push_i64(w.0, *v);
                    Ok(())
                }
                OwnedValue::U128(v) => write!(w, "{v}"),
                OwnedValue::I128(v) => write!(w, "{v}"),
                OwnedValue::F64(v) => write!(w, "{v:?}"),
                OwnedValue::Bool(v) => write!(w, "{v}"),
                OwnedValue::Str(v) => quoted(v, w),
                OwnedValue::Bytes(v) => {
                    hex_bytes(v, w.0);
                    Ok(())
                }
                OwnedValue::Debug(v) => {
                    escape_into(v, w.0);
                    Ok(())
                }
                OwnedValue::Error { message, .. } => {
                    escape_into(message, w.0);
                    Ok(())
                }
            },
        };
    }
}

// === span fields as recorded ===

/// Each open span's fields as text, written once when the span opens and extended when values
/// are recorded on it, as `fmt` keeps them: values recorded later come after the others, and
/// a field recorded twice shows twice. [`TextSink`] keeps one; a reader that renders events
/// itself keeps one beside its [`Context`] and renders with [`TextFormat::render_with`].
///
/// ```
/// use logbuf_journal::read::Context;
/// use logbuf_journal::sink::text::{SpanFields, TextFormat};
/// use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, SpanNew, SpanRecord, Value};
///
/// let format = TextFormat::new().without_time();
/// let (mut context, mut spans) = (Context::new(), SpanFields::new());
/// let span = |id, name, fields| Record::Callsite(Callsite { id, kind: CallsiteKind::Span,
///     level: Level::Info, target: "app", name, module_path: None, file: None, line: None,
///     fields });
/// let records = [
///     span(1, "req", vec!["user", "path"]),
///     Record::Callsite(Callsite { id: 2, kind: CallsiteKind::Event, level: Level::Info,
///         target: "app", name: "event", module_path: None, file: None, line: None,
///         fields: vec!["message"] }),
///     Record::SpanNew(SpanNew { id: 5, parent: None, callsite: 1, time: 0, thread: 1,
///         values: vec![Value::Empty, Value::Str("/a")] }),
///     Record::SpanRecord(SpanRecord { id: 5, values: vec![Value::U64(7), Value::Empty] }),
/// ];
/// for record in &records {
///     spans.apply(&format, &context, record);
///     context.apply(record);
/// }
/// let event = Event { callsite: 2, time: 0, thread: 1, parent: Some(5),
///     values: vec![Value::Debug("hi")] };
/// let mut line = Vec::new();
/// format.render_with(&context.event(event).unwrap(), &spans, &mut line);
/// assert_eq!(line, b" INFO req{path=\"/a\" user=7}: app: hi\n");
/// ```
#[derive(Debug, Default)]
pub struct SpanFields {
    spans: IdMap<Vec<u8>>,
    /// Texts of closed spans, emptied, for spans to come.
    free: Vec<Vec<u8>>,
    /// The allocation of the last values resolved, for the next.
    resolved: Vec<Value<'static>>,
}

/// At most this many texts of closed spans are kept for spans to come.
const FREE_TEXTS: usize = 64;

impl SpanFields {
    /// No spans.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fields of span `id` as text, if it is open.
    pub fn get(&self, id: u64) -> Option<&[u8]> {
        self.spans.get(&id).map(Vec::as_slice)
    }

    /// Takes in one record (records other than span creation, recording and closing change
    /// nothing), written in `format`'s style. `context` is the context the events are rendered
    /// with; this may be called before or after the record is applied to it.
    pub fn apply(&mut self, format: &TextFormat, context: &Context, record: &Record<'_>) {
        self.apply_with(format, context, record, None);
    }

    /// [`SpanFields::apply`], with the field names copied from `texts` (rendered in `format`)
    /// where it has the span's callsite.
    fn apply_with(
        &mut self,
        format: &TextFormat,
        context: &Context,
        record: &Record<'_>,
        texts: Option<&CallsiteTexts>,
    ) {
        match record {
            Record::SpanNew(new) => {
                let Some(callsite) = context.callsite(new.callsite) else {
                    return;
                };
                let names = texts
                    .and_then(|texts| texts.get(callsite))
                    .map(|text| &*text.fields);
                let mut text = self.free.pop().unwrap_or_default();
                self.write(
                    format,
                    context,
                    &callsite.fields,
                    names,
                    &new.values,
                    &mut text,
                );
                self.spans.insert(new.id, text);
                forget_forgotten(&mut self.spans, context, new.id);
            }
            Record::SpanRecord(update) => {
                let Some(span) = context.span(update.id) else {
                    return;
                };
                if update.values.iter().all(|v| *v == Value::Empty) {
                    return;
                }
                let Some(mut text) = self.spans.remove(&update.id) else {
                    return;
                };
                if !text.is_empty() {
                    text.push(b' ');
                }
                let names = texts
                    .and_then(|texts| texts.get(&span.callsite))
                    .map(|text| &*text.fields);
                self.write(
                    format,
                    context,
                    &span.callsite.fields,
                    names,
                    &update.values,
                    &mut text,
                );
                self.spans.insert(update.id, text);
            }
            Record::SpanClose(SpanClose { id, .. })
            | Record::SpanCloseTimes(SpanCloseTimes { id, .. }) => {
                if let Some(mut text) = self.spans.remove(id)
                    && self.free.len() < FREE_TEXTS
                {
                    text.clear();
                    self.free.push(text);
                }
            }
            _ => {}
        }
    }

    /// Appends `values` as fields named `names`, interned strings resolved.
    fn write(
        &mut self,
        format: &TextFormat,
        context: &Context,
        names: &[String],
        cached: Option<&[Option<Box<[u8]>>]>,
        values: &[Value<'_>],
        text: &mut Vec<u8>,
    ) {
        // Nothing to resolve, the usual case: written from the record's values.
        if !values.iter().any(|v| matches!(v, Value::Interned(_))) {
            format.fields(names, cached, values.iter().map(Field::Wire), text);
            return;
        }
        let mut resolved = super::decode::recycle(std::mem::take(&mut self.resolved));
        resolved.extend(values.iter().map(|v| match *v {
            Value::Interned(id) => context.resolve(id),
            ref v => v.clone(),
        }));
        format.fields(names, cached, resolved.iter().map(Field::Wire), text);
        self.resolved = super::decode::recycle(resolved);
    }
}

/// What the default layout writes of a callsite the same on every line, rendered once, when
/// the sink takes in the callsite's definition: copied on each line instead of checked for
/// characters to escape and styled again.
#[derive(Debug)]
struct CallsiteText {
    /// The address of the context's callsite this was rendered from: a callsite redefined
    /// under the same id (or a span opened before that) is not this one.
    of: usize,
    /// The target, file and line, as [`TextFormat::location`] writes them.
    location: Vec<u8>,
    /// The name as a span's is written.
    name: Vec<u8>,
    /// Each field's `name=` as [`TextFormat::name`] writes it, `None` for a message.
    fields: Box<[Option<Box<[u8]>>]>,
}

impl CallsiteText {
    /// `callsite`'s text in `format`.
    fn new(format: &TextFormat, callsite: &Callsite) -> Self {
        let mut location = Vec::new();
        format.location(
            &callsite.target,
            callsite.file.as_deref(),
            callsite.line,
            &mut location,
        );
        let mut name = Vec::new();
        format.style(BOLD, &mut name, |out| escape_into(&callsite.name, out));
        let fields = callsite
            .fields
            .iter()
            .map(|field| {
                let field = field_name(field);
                (field != "message").then(|| {
                    let mut text = Vec::new();
                    format.name(field, &mut text);
                    text.into_boxed_slice()
                })
            })
            .collect();
        Self {
            of: std::ptr::from_ref(callsite).addr(),
            location,
            name,
            fields,
        }
    }
}

/// The [`CallsiteText`]s of a sink's callsites, by id, in the sink's format.
#[derive(Debug, Default)]
struct CallsiteTexts(IdMap<CallsiteText>);

impl CallsiteTexts {
    /// The text of `callsite`, if it is the one kept for its id. The callsite kept for an id
    /// is alive in the context, so no other callsite has its address.
    #[inline]
    fn get(&self, callsite: &Callsite) -> Option<&CallsiteText> {
        self.0
            .get(&callsite.id)
            .filter(|text| text.of == std::ptr::from_ref(callsite).addr())
    }

    /// Keeps the text of the callsite `context` now has for `id`, in `format`.
    fn define(&mut self, format: &TextFormat, context: &Context, id: u64) {
        match context.callsite(id) {
            Some(callsite) => {
                self.0.insert(id, CallsiteText::new(format, callsite));
            }
            None => {
                self.0.remove(&id);
            }
        }
    }
}

/// Drops the entries of spans `context` no longer has (it keeps at most
/// [`MAX_OPEN_SPANS`](crate::sink::MAX_OPEN_SPANS) open), once there are enough of them to be
/// worth a pass: what a sink keeps per span stays bounded like the context. The entry of
/// `opening`, the span being opened, stays whether or not the context has it yet.
pub(crate) fn forget_forgotten(spans: &mut IdMap<Vec<u8>>, context: &Context, opening: u64) {
    if spans.len() > context.open_spans() + 1024 {
        spans.retain(|id, _| *id == opening || context.span(*id).is_some());
    }
}

// === spans closing ===

/// A span closing ([`Record::SpanClose`] or [`Record::SpanCloseTimes`]) with what the context
/// knows about it, for the close lines of [`TextFormat::with_span_close`] and
/// [`JsonFormat::with_span_close`](super::json::JsonFormat::with_span_close). Made before the
/// record is applied to the context, while the span is still open there.
#[derive(Debug, Clone)]
pub struct SpanClosing<'a> {
    /// The span.
    pub span: &'a Span,
    /// The span and the spans it is in, outermost first (the span last; at most
    /// [`MAX_SCOPE`](crate::read::MAX_SCOPE), the innermost).
    pub scope: Vec<&'a Span>,
    /// The name of the thread that created the span, if the journal recorded one.
    pub thread_name: Option<&'a str>,
    /// When it closed, in nanoseconds since the Unix epoch; `None` before any clock record.
    pub unix_nanos: Option<u64>,
    /// Its busy and idle time in nanoseconds, when the record has them.
    pub times: Option<(u64, u64)>,
}

impl<'a> SpanClosing<'a> {
    /// The close `record` describes, if it is a span's close and the span is open in
    /// `context`.
    pub fn new(context: &'a Context, record: &Record<'_>) -> Option<Self> {
        let (id, time, times) = match record {
            Record::SpanClose(close) => (close.id, close.time, None),
            Record::SpanCloseTimes(close) => (
                close.id,
                close.time,
                Some((
                    context.duration_nanos(close.busy),
                    context.duration_nanos(close.idle),
                )),
            ),
            _ => return None,
        };
        let span = context.span(id)?;
        // The chain up from the span, at most `MAX_SCOPE` long, each span once (a cycle of
        // parents is damage). Walked here rather than with `Context::scope`, which the
        // worker's event path keeps to itself.
        let mut scope = vec![span];
        let mut next = span.parent;
        while let Some(parent) = next.and_then(|id| context.span(id)) {
            if scope.len() >= crate::read::MAX_SCOPE || scope.iter().any(|s| s.id == parent.id) {
                break;
            }
            scope.push(parent);
            next = parent.parent;
        }
        scope.reverse();
        Some(Self {
            span,
            scope,
            thread_name: context.thread_name(span.thread),
            unix_nanos: context.unix_nanos(time),
            times,
        })
    }
}

// === reports of dropped records ===

/// The target of the lines that report dropped records.
pub const DROP_TARGET: &str = "logbuf";

/// A report of dropped records ([`Record::Dropped`]) with what the context knows about it: the
/// thread's name and the wall-clock time. The text and JSON sinks write one line for each,
/// at level `WARN` with target [`DROP_TARGET`] ([`TextFormat::render_dropped`],
/// [`JsonFormat::render_dropped`](super::json::JsonFormat::render_dropped)).
///
/// A report counts every record a thread could not put in its ring: events and span records
/// alike, of any level. Sinks therefore write it whatever their level threshold
/// ([`MinLevel`](super::MinLevel) lets it through): the records it counts may have been errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropReport<'a> {
    /// The record as the journal wrote it.
    pub dropped: Dropped,
    /// The name of the thread whose records were dropped, if the journal recorded one.
    pub thread_name: Option<&'a str>,
    /// When: the last dropped record's time (the first's when the last is unknown), in
    /// nanoseconds since the Unix epoch; `None` when neither is known or no clock record came
    /// before.
    pub unix_nanos: Option<u64>,
    /// The callsites whose records were dropped, the most first, when the journal said
    /// (format 2.3 on: [`Context::drop_callsites`]); the rest of the count came from callsites
    /// not named, or from none.
    pub callsites: Option<&'a [LostCallsite]>,
}

impl<'a> DropReport<'a> {
    /// The report of `dropped`, with the thread name and wall-clock time `context` gives it.
    pub fn new(context: &'a Context, dropped: Dropped) -> Self {
        let time = Self::ticks_of(&dropped);
        Self {
            dropped,
            thread_name: context.thread_name(dropped.thread),
            unix_nanos: time.and_then(|t| context.unix_nanos(t)),
            callsites: context.drop_callsites(dropped.thread),
        }
    }

    /// The tick reading the report is placed at: the last dropped record's, or the first's
    /// when the last is unknown (`0`); `None` when neither is known.
    pub fn ticks(&self) -> Option<u64> {
        Self::ticks_of(&self.dropped)
    }

    fn ticks_of(dropped: &Dropped) -> Option<u64> {
        [dropped.last_time, dropped.first_time]
            .into_iter()
            .find(|&t| t != 0)
    }

    /// Appends the report's message: `1,234 records dropped on thread worker-3 (ring full or
    /// record too large)`, the thread by its name, or as `ThreadId(NN)` without one. Thread 0
    /// stands for records dropped where no thread's ring could count them: written from
    /// inside another write on the same thread, or while the thread was being torn down.
    ///
    /// When the report names the callsites (format 2.3 on), the message ends with the
    /// [`MESSAGE_CALLSITES`] that lost the most, each as target and `file:line` (or name):
    /// `; most from app::db src/db.rs:42 (1,000), app::http src/http.rs:7 (200), 34 more`.
    pub fn message(&self, out: &mut Vec<u8>) {
        self.message_head(out);
        let Some(named) = self.callsites.filter(|n| !n.is_empty()) else {
            return;
        };
        out.extend_from_slice(b"; most from ");
        let mut told = 0;
        for (i, lost) in named.iter().take(MESSAGE_CALLSITES).enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            let callsite = &lost.callsite;
            escape_into(&callsite.target, out);
            out.push(b' ');
            match (&callsite.file, callsite.line) {
                (Some(file), Some(line)) => {
                    escape_into(file, out);
                    out.push(b':');
                    push_u64(out, u64::from(line), 1);
                }
                (Some(file), None) => escape_into(file, out),
                (None, _) => escape_into(&callsite.name, out),
            }
            out.extend_from_slice(b" (");
            push_thousands(out, lost.count);
            out.push(b')');
            told += lost.count;
        }
        let rest = self.dropped.count.saturating_sub(told);
        if rest > 0 {
            out.extend_from_slice(b", ");
            push_thousands(out, rest);
            out.extend_from_slice(b" more");
        }
    }

    fn message_head(&self, out: &mut Vec<u8>) {
        let count = self.dropped.count;
        push_thousands(out, count);
        out.extend_from_slice(if count == 1 {
            b" record dropped ".as_slice()
        } else {
            b" records dropped ".as_slice()
        });
        if self.dropped.thread == 0 {
            out.extend_from_slice(
                b"outside any thread's ring (re-entrant writes or thread teardown)",
            );
            return;
        }
        out.extend_from_slice(b"on thread ");
        match self.thread_name {
            Some(name) => escape_into(name, out),
            None => {
                thread_id(self.dropped.thread, out);
                // `thread_id` ends with a space, for a column.
                out.pop();
            }
        }
        out.extend_from_slice(b" (ring full or record too large)");
    }
}

/// How many callsites [`DropReport::message`] names.
pub const MESSAGE_CALLSITES: usize = 3;

/// Appends `v` in decimal with a comma between each group of three digits: `1,234,567`.
pub(crate) fn push_thousands(out: &mut Vec<u8>, v: u64) {
    let mut digits = Vec::with_capacity(20);
    push_u64(&mut digits, v, 1);
    for (i, d) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(b',');
        }
        out.push(*d);
    }
}

// === the line sink machinery shared with the JSON sink ===

/// Where a line sink writes: any writer, or one the sink knows how to reopen and sync.
pub(crate) enum Target {
    /// A rotating file: reopened on [`Sink::reopen`], synced on [`Sink::sync`].
    Rotating(Box<RotatingFile>),
    /// A plain file: synced on [`Sink::sync`].
    File(File),
    /// Anything else.
    Other(Box<dyn Write + Send>),
}

impl Target {
    /// Sorts a writer into the kinds the sink treats apart.
    pub(crate) fn of<W: Write + Send + 'static>(writer: W) -> Self {
        let mut slot = Some(writer);
        let any: &mut dyn Any = &mut slot;
        if let Some(file) = any
            .downcast_mut::<Option<RotatingFile>>()
            .and_then(Option::take)
        {
            return Target::Rotating(Box::new(file));
        }
        if let Some(file) = any.downcast_mut::<Option<File>>().and_then(Option::take) {
            return Target::File(file);
        }
        match slot {
            Some(writer) => Target::Other(Box::new(writer)),
            // Taken above only when it was one of the other kinds.
            None => Target::Other(Box::new(io::sink())),
        }
    }
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Rotating(w) => w.write(buf),
            Target::File(w) => w.write(buf),
            Target::Other(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Rotating(w) => w.flush(),
            Target::File(w) => w.flush(),
            Target::Other(w) => w.flush(),
        }
    }
}

/// What the text and JSON sinks share: the context the records build up, the buffered writer,
/// and the line being rendered.
///
/// The buffer only ever holds whole lines, so what the writer is handed at each flush (or for a
/// line longer than the buffer) ends at the end of a line, where a rotating file can start a
/// new file.
pub(crate) struct Lines {
    pub(crate) context: Context,
    writer: BufWriter<Target>,
    line: Vec<u8>,
    /// The allocation of the last decoded record's values, for the next record.
    values: Vec<Value<'static>>,
    /// The allocation of the last event's spans, for the next event.
    scope: Vec<&'static Span>,
}

impl fmt::Debug for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines")
            .field("open_spans", &self.context.open_spans())
            .field("buffered", &self.writer.buffer().len())
            .finish_non_exhaustive()
    }
}

impl Lines {
    /// Lines written to `writer`, with a context that keeps span values or not
    /// ([`Context::without_span_values`]: for a sink that keeps span fields itself).
    pub(crate) fn new(writer: Target, span_values: bool) -> Self {
        let context = if span_values {
            Context::new()
        } else {
            Context::new().without_span_values()
        };
        Self {
            context,
            writer: BufWriter::with_capacity(1 << 16, writer),
            line: Vec::with_capacity(256),
            values: Vec::new(),
            scope: Vec::new(),
        }
    }

    /// Decodes a worker entry, as an I/O error if it is not a record: events and span
    /// creations into the vector of values the last record left (see [`Lines::write`]).
    pub(crate) fn decode<'a>(&mut self, entry: &Entry<'a>) -> io::Result<Record<'a>> {
        let values = super::decode::recycle(std::mem::take(&mut self.values));
        match super::decode::record(entry.bytes(), values) {
            Some(record) => Ok(record),
            None => decode(entry),
        }
    }

    /// Applies `record` to the context and, for an event, writes the line `render` makes.
    pub(crate) fn write(
        &mut self,
        record: Record<'_>,
        render: impl FnOnce(&EventInContext<'_>, &mut Vec<u8>),
    ) -> io::Result<()> {
        let event_ready = self.context.apply(&record);
        let event = match record {
            Record::Event(event) if event_ready => event,
            Record::Event(wire::Event { values, .. })
            | Record::SpanNew(wire::SpanNew { values, .. }) => {
                self.values = super::decode::recycle(values);
                return Ok(());
            }
            _ => return Ok(()),
        };
        let scope = recycle_scope(std::mem::take(&mut self.scope));
        let Some(event) = self.context.event_with(event, scope) else {
            return Ok(());
        };
        self.line.clear();
        render(&event, &mut self.line);
        self.scope = recycle_scope(event.spans);
        self.values = super::decode::recycle(event.event.values);
        self.writer.write_all(&self.line)
    }

    /// Applies the drop report `dropped` to the context and writes the line `render` makes.
    pub(crate) fn write_dropped(
        &mut self,
        dropped: Dropped,
        render: impl FnOnce(&DropReport<'_>, &mut Vec<u8>),
    ) -> io::Result<()> {
        self.context.apply(&Record::Dropped(dropped));
        self.line.clear();
        render(&DropReport::new(&self.context, dropped), &mut self.line);
        self.writer.write_all(&self.line)
    }

    /// Writes the line `render` makes from the context as it stands, if it makes one.
    pub(crate) fn write_with(
        &mut self,
        render: impl FnOnce(&Context, &mut Vec<u8>),
    ) -> io::Result<()> {
        self.line.clear();
        render(&self.context, &mut self.line);
        if self.line.is_empty() {
            return Ok(());
        }
        self.writer.write_all(&self.line)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// Flushes, then puts the data on disk if the writer is a file.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        match self.writer.get_mut() {
            Target::Rotating(file) => file.sync_data(),
            Target::File(file) => file.sync_data(),
            Target::Other(_) => Ok(()),
        }
    }

    /// Flushes, then reopens the writer if it is a rotating file.
    pub(crate) fn reopen(&mut self) -> io::Result<()> {
        self.writer.flush()?;
        match self.writer.get_mut() {
            Target::Rotating(file) => file.reopen(),
            Target::File(_) | Target::Other(_) => Ok(()),
        }
    }
}

/// An empty vector of another lifetime with `scope`'s allocation, for the next event.
#[allow(
    clippy::unnecessary_filter_map,
    reason = "`filter` cannot change the item type, which is the point"
)]
fn recycle_scope<'b>(scope: Vec<&Span>) -> Vec<&'b Span> {
    // Same size and alignment: collected in place, keeping the allocation.
    scope.into_iter().filter_map(|_| None).collect()
}

/// Decodes a worker entry, as an I/O error if it is not a record.
pub(crate) fn decode<'a>(entry: &Entry<'a>) -> io::Result<Record<'a>> {
    entry
        .record()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

// === impl TextSink ===

/// A [`Sink`] writing each event as a line of text laid out like `tracing-subscriber`'s `fmt`
/// output (see the [module docs](self) and [`TextFormat`] for the options).
///
/// Lines are buffered (64 KiB) and pushed to the writer when the buffer fills and when the
/// journal flushes. Spans, callsites and thread names are tracked from the records the sink is
/// given, so a sink must see every record from the start of the journal.
#[derive(Debug)]
pub struct TextSink {
    lines: Lines,
    format: TextFormat,
    spans: SpanFields,
    /// Callsites' texts in `format`, kept from their definitions on.
    texts: CallsiteTexts,
}

impl TextSink {
    /// Writes to standard output, with ANSI colours if it is a terminal: see
    /// [`TextSink::stderr`] for the variables that change that.
    pub fn stdout() -> Self {
        let ansi = colors_from_env(io::stdout().is_terminal());
        Self::new(io::stdout()).with_ansi(ansi)
    }

    /// Writes to standard error, with ANSI colours if it is a terminal. As with env_logger,
    /// `RUST_LOG_STYLE=always` or `never` decides regardless; otherwise (`auto`, unset) a
    /// terminal gets colours unless `NO_COLOR` is set and not empty (<https://no-color.org>),
    /// which tracing-subscriber's `fmt` honours too.
    pub fn stderr() -> Self {
        let ansi = colors_from_env(io::stderr().is_terminal());
        Self::new(io::stderr()).with_ansi(ansi)
    }

    /// Writes to `writer` (a file, a rotating file, a socket, a buffer), without colours.
    ///
    /// A [`RotatingFile`] is reopened on [`Journal::reopen`](crate::Journal::reopen), and a
    /// rotating or plain [`File`] is synced to disk when the journal shuts down.
    pub fn new(writer: impl Write + Send + 'static) -> Self {
        Self {
            // The sink keeps each span's fields as text (`spans`): the context need not keep
            // their values too.
            lines: Lines::new(Target::of(writer), false),
            format: TextFormat::new(),
            spans: SpanFields::default(),
            texts: CallsiteTexts::default(),
        }
    }

    /// Sets the options: `options` is given the current [`TextFormat`] and returns the one to
    /// use. The methods below set one option each.
    ///
    /// ```
    /// use logbuf_journal::sink::text::{TextSink, Timestamps};
    ///
    /// let sink = TextSink::stderr()
    ///     .with_format(|f| f.with_timestamps(Timestamps::Local).with_thread_names(true));
    /// # drop(sink);
    /// ```
    pub fn with_format(mut self, options: impl FnOnce(TextFormat) -> TextFormat) -> Self {
        self.format = options(self.format);
        // Rendered in the format that was: the lines to come are written without them.
        self.texts = CallsiteTexts::default();
        self
    }

    /// The format in use.
    pub fn format(&self) -> &TextFormat {
        &self.format
    }

    /// See [`TextFormat::with_timestamps`].
    pub fn with_timestamps(self, timestamps: Timestamps) -> Self {
        self.with_format(|f| f.with_timestamps(timestamps))
    }

    /// See [`TextFormat::without_time`].
    pub fn without_time(self) -> Self {
        self.with_format(|f| f.without_time())
    }

    /// See [`TextFormat::with_ansi`]; overrides what [`TextSink::stdout`] and
    /// [`TextSink::stderr`] detected.
    pub fn with_ansi(self, ansi: bool) -> Self {
        self.with_format(|f| f.with_ansi(ansi))
    }

    /// See [`TextFormat::with_target`].
    pub fn with_target(self, target: bool) -> Self {
        self.with_format(|f| f.with_target(target))
    }

    /// See [`TextFormat::with_level`].
    pub fn with_level(self, level: bool) -> Self {
        self.with_format(|f| f.with_level(level))
    }

    /// See [`TextFormat::with_thread_names`].
    pub fn with_thread_names(self, names: bool) -> Self {
        self.with_format(|f| f.with_thread_names(names))
    }

    /// See [`TextFormat::with_thread_ids`].
    pub fn with_thread_ids(self, ids: bool) -> Self {
        self.with_format(|f| f.with_thread_ids(ids))
    }

    /// See [`TextFormat::with_file`].
    pub fn with_file(self, file: bool) -> Self {
        self.with_format(|f| f.with_file(file))
    }

    /// See [`TextFormat::with_line_number`].
    pub fn with_line_number(self, line: bool) -> Self {
        self.with_format(|f| f.with_line_number(line))
    }

    /// See [`TextFormat::with_layout`].
    ///
    /// ```
    /// use logbuf_journal::sink::text::{Layout, TextSink};
    ///
    /// let sink = TextSink::stderr().with_layout(Layout::Compact);
    /// # drop(sink);
    /// ```
    pub fn with_layout(self, layout: Layout) -> Self {
        self.with_format(|f| f.with_layout(layout))
    }

    /// See [`TextFormat::compact`].
    pub fn compact(self) -> Self {
        self.with_layout(Layout::Compact)
    }

    /// See [`TextFormat::with_span_close`].
    pub fn with_span_close(self, close: bool) -> Self {
        self.with_format(|f| f.with_span_close(close))
    }

    /// Takes one record, as the worker hands it over: definitions and span records update the
    /// sink's context, events and reports of dropped records ([`DropReport`]) are written as
    /// lines. For records that do not come from a journal's worker (a file read back, a test).
    ///
    /// # Errors
    ///
    /// Writing failed; the sink can be called again.
    pub fn write_record(&mut self, record: Record<'_>) -> io::Result<()> {
        let (format, spans, texts) = (&self.format, &mut self.spans, &mut self.texts);
        if let Record::Callsite(callsite) = &record {
            let id = callsite.id;
            self.lines.context.apply(&record);
            texts.define(format, &self.lines.context, id);
            return Ok(());
        }
        if let Record::Dropped(dropped) = record {
            return self
                .lines
                .write_dropped(dropped, |report, out| format.render_dropped(report, out));
        }
        match record {
            Record::SpanNew(_) | Record::SpanRecord(_) => {
                spans.apply_with(format, &self.lines.context, &record, Some(texts));
            }
            Record::SpanClose(_) | Record::SpanCloseTimes(_) => {
                if format.span_close {
                    self.lines.write_with(|context, out| {
                        if let Some(closing) = SpanClosing::new(context, &record) {
                            format.render_close(&closing, spans, out);
                        }
                    })?;
                }
                spans.apply(format, &self.lines.context, &record);
            }
            Record::Clock(pair) => format.time.start_at(pair.unix_nanos),
            _ => {}
        }
        let texts = Some(&*texts);
        self.lines.write(record, |event, out| {
            format.render_event(event, spans, texts, out)
        })
    }
}

impl Sink for TextSink {
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
    fn colours_follow_rust_log_style_then_no_color_then_the_terminal() {
        use std::ffi::OsStr;
        let os = |s: &'static str| Some(OsStr::new(s));
        // No variables: the terminal decides.
        assert!(colors(true, None, None));
        assert!(!colors(false, None, None));
        // NO_COLOR set and not empty: none, even on a terminal; empty counts as unset.
        assert!(!colors(true, os("1"), None));
        assert!(colors(true, os(""), None));
        // RUST_LOG_STYLE, as env_logger reads it: always and never decide, auto defers.
        assert!(colors(false, None, os("always")));
        assert!(colors(false, os("1"), os("Always")));
        assert!(!colors(true, None, os("never")));
        assert!(colors(true, None, os("auto")));
        assert!(!colors(true, os("1"), os("auto")));
        // Anything else is auto.
        assert!(colors(true, None, os("sometimes")));
    }

    #[test]
    fn the_word_scan_finds_exactly_the_special_bytes_anywhere() {
        // Every byte value at every position of texts of every length up to 24, among bytes
        // around the special ones and the word scan's borrows.
        let background = [b'a', 0x20, 0x21, 0x7e, 0x80, 0xc1, 0xc3, 0xff];
        for len in 1..=24 {
            for &fill in &background {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut text = vec![fill; len];
                        text[at] = b;
                        let want = text.iter().any(|&b| TEXT_SPECIAL[usize::from(b)]);
                        assert_eq!(has_text_special(&text), want, "{text:02x?}");
                    }
                }
            }
        }
    }

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        escape_into(s, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escaped("plain ✓"), "plain ✓");
        assert_eq!(escaped("a\nb\rc\td"), "a\\nb\\rc\td");
        assert_eq!(escaped("\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(
            escaped("\x00\x07\x7f\u{9b}\u{a0}"),
            "\\x00\\x07\\x7f\\u{9b}\u{a0}"
        );
    }

    #[test]
    fn decimal_digits() {
        let mut out = Vec::new();
        for (v, width, text) in [
            (0, 1, "0"),
            (7, 2, "07"),
            (123, 6, "000123"),
            (999_999, 6, "999999"),
            (u64::MAX, 1, "18446744073709551615"),
            (5, 30, "00000000000000000005"),
        ] {
            out.clear();
            push_u64(&mut out, v, width);
            assert_eq!(out, text.as_bytes());
        }
        // Every number of digits, each with every width up to one past it.
        let mut v = 1u64;
        for _ in 0..20 {
            for n in [
                v - 1,
                v,
                v.saturating_add(9),
                v.saturating_mul(5).saturating_add(3),
                v.saturating_mul(10) - 1,
            ] {
                for width in 0..=21 {
                    out.clear();
                    push_u64(&mut out, n, width);
                    let want = format!("{n:0width$}");
                    // At most 20 digits, as many as a `u64` has.
                    let want = &want[want.len().saturating_sub(20.max(n.to_string().len()))..];
                    assert_eq!(out, want.as_bytes(), "{n} width {width}");
                }
            }
            v = v.saturating_mul(10);
        }
        for v in [0, -1, 42, i64::MIN, i64::MAX] {
            out.clear();
            push_i64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }

    #[test]
    fn utc_and_local_timestamps() {
        let time = TimeFormatter::default();
        let mut out = Vec::new();
        // 2026-11-29T06:40:00.123456Z
        let nanos = 1_795_934_400_123_456_789;
        assert!(time.write(Timestamps::Rfc3339Utc, nanos, &mut out));
        assert_eq!(out, b"2026-11-29T06:40:00.123456Z");
        out.clear();
        // From the cache, a microsecond later.
        assert!(time.write(Timestamps::Rfc3339Utc, nanos + 1_000, &mut out));
        assert_eq!(out, b"2026-11-29T06:40:00.123457Z");
        // Every digit of the microseconds, and the nanoseconds below them dropped.
        let second = nanos - 123_456_789;
        for micros in [0, 7, 10, 99, 100, 9_999, 10_000, 99_999, 100_000, 999_999] {
            out.clear();
            assert!(time.write(
                Timestamps::Rfc3339Utc,
                second + micros * 1_000 + 999,
                &mut out
            ));
            assert_eq!(out, format!("2026-11-29T06:40:00.{micros:06}Z").as_bytes());
        }

        // The same formatter, asked for another form of the same second.
        let local = time;
        out.clear();
        assert!(local.write(Timestamps::Local, nanos, &mut out));
        let expected = chrono::DateTime::from_timestamp_nanos(nanos as i64)
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
            .to_string();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn uptime_custom_and_invalid_timestamps() {
        let time = TimeFormatter::default();
        let mut out = Vec::new();
        let start = 1_795_934_400_123_456_789;
        time.start_at(start);
        // Set once: a later start changes nothing.
        time.start_at(start + 5);
        for (since, text) in [
            (0, "   0.000000000s"),
            (1_000_250_000, "   1.000250000s"),
            (999_999_999_999, " 999.999999999s"),
            (1_234_000_000_007, "1234.000000007s"),
        ] {
            out.clear();
            assert!(time.write(Timestamps::Uptime, start + since, &mut out));
            assert_eq!(String::from_utf8_lossy(&out), text);
        }
        // Before the start: zero, not a wrapped count.
        out.clear();
        assert!(time.write(Timestamps::Uptime, start - 1, &mut out));
        assert_eq!(out, b"   0.000000000s");

        // 2026-11-29T06:40:00.123456789Z; a per-second format from the cache, then the next
        // second, then a format with a fraction.
        for (format, nanos, text) in [
            ("%d/%m/%Y %H:%M:%S", start, "29/11/2026 06:40:00"),
            ("%d/%m/%Y %H:%M:%S", start + 1_000, "29/11/2026 06:40:00"),
            (
                "%d/%m/%Y %H:%M:%S",
                start + 1_000_000_000,
                "29/11/2026 06:40:01",
            ),
            ("%H:%M:%S%.3f", start, "06:40:00.123"),
            ("%H:%M:%S%.3f", start + 1_000_000, "06:40:00.124"),
            ("%s%%", start, "1795934400%"),
        ] {
            out.clear();
            assert!(time.write(Timestamps::Custom(format), nanos, &mut out));
            assert_eq!(String::from_utf8_lossy(&out), text, "{format}");
        }
        // A format chrono cannot use writes nothing, and says so.
        out.clear();
        out.extend_from_slice(b"kept");
        assert!(!time.write(Timestamps::Custom("%Q"), start, &mut out));
        assert!(!time.write(Timestamps::CustomLocal("%"), start, &mut out));
        assert_eq!(out, b"kept");
        // What a format writes is escaped: a line stays a line, a JSON string a string.
        out.clear();
        assert!(time.write(Timestamps::Custom("%H%n\x1b\"%t"), start, &mut out));
        assert_eq!(String::from_utf8_lossy(&out), "06\\n\\x1b\"\t");
        out.clear();
        assert!(TimeFormatter::json().write(Timestamps::Custom("%H%n\"\\"), start, &mut out));
        assert_eq!(String::from_utf8_lossy(&out), "06\\n\\\"\\\\");
        // Local custom formats are chrono's local time.
        out.clear();
        assert!(time.write(Timestamps::CustomLocal("%H:%M %:z"), start, &mut out));
        let expected = chrono::DateTime::from_timestamp_nanos(start as i64)
            .with_timezone(&chrono::Local)
            .format("%H:%M %:z")
            .to_string();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn which_formats_change_within_a_second() {
        for format in [
            "%H:%M:%S",
            "%Y-%m-%dT%H:%M:%SZ",
            "%s",
            "%%f",
            "100%% %T",
            "",
        ] {
            assert!(!has_subsecond(format), "{format}");
        }
        for format in ["%f", "%.f", "%.3f", "%3f", "%+", "%T%.6f", "%%%f", "%-9f"] {
            assert!(has_subsecond(format), "{format}");
        }
    }

    #[test]
    fn durations_as_fmt_writes_them() {
        let mut out = Vec::new();
        for (nanos, text) in [
            (0, "0.00ns"),
            (7, "7.00ns"),
            (42, "42.0ns"),
            (999, "999ns"),
            (1_000, "1.00µs"),
            (35_400, "35.4µs"),
            (1_250_000, "1.25ms"),
            (999_000_000, "999ms"),
            (3_000_000_000, "3.00s"),
            (120_000_000_000, "120s"),
            (1_500_000_000_000, "1500s"),
        ] {
            out.clear();
            push_duration(&mut out, nanos);
            assert_eq!(String::from_utf8_lossy(&out), text, "{nanos}");
        }
    }

    #[test]
    fn a_close_in_a_cycle_of_parents_lists_each_span_once() {
        use crate::wire::{Callsite, CallsiteKind, SpanClose, SpanNew};
        let mut context = Context::new();
        context.apply(&Record::Callsite(Callsite {
            id: 1,
            kind: CallsiteKind::Span,
            level: Level::Info,
            target: "app",
            name: "s",
            module_path: None,
            file: None,
            line: None,
            fields: vec![],
        }));
        // Damage: 1's parent is 2 and 2's is 1.
        for (id, parent) in [(1, 2), (2, 1)] {
            context.apply(&Record::SpanNew(SpanNew {
                id,
                parent: Some(parent),
                callsite: 1,
                time: 0,
                thread: 1,
                values: vec![],
            }));
        }
        let close = Record::SpanClose(SpanClose { id: 2, time: 0 });
        let closing = SpanClosing::new(&context, &close).unwrap();
        let ids: Vec<u64> = closing.scope.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 2]);
        let mut line = Vec::new();
        TextFormat::new()
            .without_time()
            .render_close(&closing, &SpanFields::new(), &mut line);
        assert_eq!(line, b" INFO s:s: app: close\n");
        // Not a close, or a span that is not open: nothing.
        assert!(
            SpanClosing::new(&context, &Record::SpanClose(SpanClose { id: 9, time: 0 })).is_none()
        );
        assert!(
            SpanClosing::new(
                &context,
                &Record::ThreadEnd(crate::wire::ThreadEnd { thread: 1, time: 0 })
            )
            .is_none()
        );
    }
}
