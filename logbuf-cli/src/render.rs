//! Turning an event in context into a line of text or JSON.

use std::io::Write;

use logbuf_journal::read::{EventInContext, OwnedValue};
use logbuf_journal::wire::{Level, Value};

use crate::filter::level_name;

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines laid out like the text sink's (and tracing-subscriber's `fmt`).
    Text {
        /// Whether to colour levels and dim context with ANSI escapes.
        color: bool,
    },
    /// One JSON object per line, with the JSON sink's keys.
    Json,
}

impl Default for Format {
    fn default() -> Self {
        Format::Text { color: false }
    }
}

/// Renders events in a [`Format`].
#[derive(Debug)]
pub struct Renderer {
    format: Format,
}

impl Renderer {
    /// A renderer for `format`.
    pub fn new(format: Format) -> Self {
        Self { format }
    }

    /// Appends `event`, as one line ending in `\n`, to `out`.
    pub fn render(&mut self, event: &EventInContext<'_>, out: &mut Vec<u8>) {
        match self.format {
            Format::Text { color } => text(event, color, out),
            Format::Json => json(event, out),
        }
    }
}

fn timestamp(nanos: Option<u64>, out: &mut Vec<u8>) {
    match nanos {
        Some(n) => out.extend_from_slice(crate::time::format_nanos(n).as_bytes()),
        None => out.extend_from_slice(b"-"),
    }
}

fn level_color(level: Level) -> &'static str {
    match level {
        Level::Trace => "\x1b[35m",
        Level::Debug => "\x1b[34m",
        Level::Info => "\x1b[32m",
        Level::Warn => "\x1b[33m",
        Level::Error => "\x1b[31m",
    }
}

fn text(event: &EventInContext<'_>, color: bool, out: &mut Vec<u8>) {
    let dim = |out: &mut Vec<u8>, on: bool| {
        if color {
            out.extend_from_slice(if on { b"\x1b[2m" } else { b"\x1b[0m" });
        }
    };
    dim(out, true);
    timestamp(event.unix_nanos, out);
    dim(out, false);
    out.push(b' ');
    let level = event.callsite.level;
    if color {
        out.extend_from_slice(level_color(level).as_bytes());
    }
    let _ = write!(out, "{:>5}", level_name(level));
    if color {
        out.extend_from_slice(b"\x1b[0m");
    }
    out.push(b' ');
    for span in &event.spans {
        if color {
            out.extend_from_slice(b"\x1b[1m");
        }
        out.extend_from_slice(span.callsite.name.as_bytes());
        if color {
            out.extend_from_slice(b"\x1b[0m");
        }
        let mut first = true;
        for (name, value) in span.callsite.fields.iter().zip(&span.values) {
            if matches!(value, OwnedValue::Empty) {
                continue;
            }
            out.push(if first { b'{' } else { b' ' });
            first = false;
            let _ = write!(out, "{name}=");
            owned_text(value, out);
        }
        if !first {
            out.push(b'}');
        }
        out.push(b':');
    }
    if !event.spans.is_empty() {
        out.push(b' ');
    }
    dim(out, true);
    let _ = write!(out, "{}:", event.callsite.target);
    dim(out, false);
    let mut first = true;
    for (name, value) in event.callsite.fields.iter().zip(&event.event.values) {
        if matches!(value, Value::Empty) {
            continue;
        }
        out.push(b' ');
        if name == "message" && first {
            value_text(value, false, out);
        } else {
            let _ = write!(out, "{name}=");
            value_text(value, true, out);
        }
        first = false;
    }
    out.push(b'\n');
}

fn value_text(value: &Value<'_>, quoted: bool, out: &mut Vec<u8>) {
    match value {
        Value::Empty => {}
        Value::U64(v) => out.extend_from_slice(itoa(*v as u128, &mut [0; 40])),
        Value::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::U128(v) => {
            let _ = write!(out, "{v}");
        }
        Value::I128(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
        Value::Str(s) if quoted => {
            let _ = write!(out, "{s:?}");
        }
        Value::Str(s) | Value::Debug(s) => out.extend_from_slice(s.as_bytes()),
        Value::Bytes(b) => {
            let _ = write!(out, "{b:?}");
        }
        Value::Error { message, sources } => {
            out.extend_from_slice(message.as_bytes());
            for s in sources.iter() {
                let _ = write!(out, ": {s}");
            }
        }
    }
}

fn owned_text(value: &OwnedValue, out: &mut Vec<u8>) {
    match value {
        OwnedValue::Empty => {}
        OwnedValue::U64(v) => {
            let _ = write!(out, "{v}");
        }
        OwnedValue::I64(v) => {
            let _ = write!(out, "{v}");
        }
        OwnedValue::U128(v) => {
            let _ = write!(out, "{v}");
        }
        OwnedValue::I128(v) => {
            let _ = write!(out, "{v}");
        }
        OwnedValue::F64(v) => {
            let _ = write!(out, "{v}");
        }
        OwnedValue::Bool(v) => {
            let _ = write!(out, "{v}");
        }
        OwnedValue::Str(s) => {
            let _ = write!(out, "{s:?}");
        }
        OwnedValue::Debug(s) => out.extend_from_slice(s.as_bytes()),
        OwnedValue::Bytes(b) => {
            let _ = write!(out, "{b:?}");
        }
        OwnedValue::Error { message, sources } => {
            out.extend_from_slice(message.as_bytes());
            for s in sources {
                let _ = write!(out, ": {s}");
            }
        }
    }
}

/// Decimal digits of `v`, written from the end of `buf`.
fn itoa(mut v: u128, buf: &mut [u8; 40]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[at..];
        }
    }
}

fn json_str(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn json_value(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Empty => out.extend_from_slice(b"null"),
        Value::U64(v) => out.extend_from_slice(itoa(u128::from(*v), &mut [0; 40])),
        Value::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::U128(v) => {
            let _ = write!(out, "\"{v}\"");
        }
        Value::I128(v) => {
            let _ = write!(out, "\"{v}\"");
        }
        Value::F64(v) if v.is_finite() => {
            let _ = write!(out, "{v}");
        }
        Value::F64(v) => {
            let _ = write!(out, "\"{v}\"");
        }
        Value::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
        Value::Str(s) | Value::Debug(s) => json_str(s, out),
        Value::Bytes(b) => {
            let _ = serde_json::to_writer(&mut *out, b);
        }
        Value::Error { message, sources } => {
            let mut text = (*message).to_owned();
            for s in sources.iter() {
                text.push_str(": ");
                text.push_str(s);
            }
            json_str(&text, out);
        }
    }
}

fn owned_json(value: &OwnedValue, out: &mut Vec<u8>) {
    let borrowed = match value {
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
    };
    json_value(&borrowed, out);
}

fn json(event: &EventInContext<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timestamp\":");
    match event.unix_nanos {
        Some(n) => json_str(&crate::time::format_nanos(n), out),
        None => out.extend_from_slice(b"null"),
    }
    let _ = write!(
        out,
        ",\"level\":\"{}\",\"fields\":{{",
        level_name(event.callsite.level)
    );
    let mut first = true;
    for (name, value) in event.callsite.fields.iter().zip(&event.event.values) {
        if matches!(value, Value::Empty) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        json_str(name, out);
        out.push(b':');
        json_value(value, out);
    }
    out.extend_from_slice(b"},\"target\":");
    json_str(&event.callsite.target, out);
    let span_json = |span: &logbuf_journal::read::Span, out: &mut Vec<u8>| {
        out.push(b'{');
        for (name, value) in span.callsite.fields.iter().zip(&span.values) {
            if matches!(value, OwnedValue::Empty) {
                continue;
            }
            json_str(name, out);
            out.push(b':');
            owned_json(value, out);
            out.push(b',');
        }
        out.extend_from_slice(b"\"name\":");
        json_str(&span.callsite.name, out);
        out.push(b'}');
    };
    if let Some(span) = event.spans.last() {
        out.extend_from_slice(b",\"span\":");
        span_json(span, out);
        out.extend_from_slice(b",\"spans\":[");
        for (i, span) in event.spans.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            span_json(span, out);
        }
        out.push(b']');
    }
    if let Some(name) = event.thread_name {
        out.extend_from_slice(b",\"threadName\":");
        json_str(name, out);
    }
    let _ = write!(out, ",\"threadId\":{}", event.event.thread);
    out.extend_from_slice(b"}\n");
}
