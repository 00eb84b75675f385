//! `logbuf export --chrome`: spans and events as Chrome trace-event JSON, which Perfetto
//! (<https://ui.perfetto.dev>) and `chrome://tracing` open.
//!
//! - Each time a thread enters and then exits a span (records kinds 4 and 5, written when the
//!   tracing layer is asked to record every enter and exit) becomes one complete event
//!   (`"ph":"X"`) on that thread: `ts` at the enter, `dur` until the exit, the span's fields in
//!   `args`. An enter with no exit by the end of the input is closed at the last time seen in
//!   that process's files, with `"unclosed": true` in its `args`.
//! - A span with no enter or exit records (the tracing layer's default) becomes one complete
//!   event from its creation to its close, on the thread that created it, with its fields and,
//!   from a close record with times (kind 12), `busy_us` and `idle_us` in `args`: how long it
//!   was entered on some thread, and not.
//! - Each event becomes an instant event (`"ph":"i"`, thread scope) named by its message,
//!   with its level, target and fields in `args`; dropped-event reports become instant events
//!   too.
//! - `pid` is the writing process's id from the file header, `tid` the journal's thread id;
//!   metadata events (`"ph":"M"`) name the process and the threads.
//! - Times are microseconds since the earliest file's start.
//!
//! Files are read in the order of their start time, so a span entered in one file of a
//! rotated series and exited in the next pairs up; the files of one process share one clock
//! ([`series_clocks`]).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use logbuf_journal::file::FileReader;
use logbuf_journal::read::{Callsite, Context, OwnedValue};
use logbuf_journal::wire::{Clock, Record, Value};

use crate::filter::level_name;
use crate::input::{Exit, damage_report, series_clocks};

/// An entered span waiting for its exit.
#[derive(Debug)]
struct Open {
    start: u64,
    name: String,
    target: String,
    args: Vec<u8>,
}

/// Writes trace events to a buffer, comma-separated, handing it to the writer in chunks.
struct Trace<'o> {
    out: &'o mut dyn Write,
    buf: Vec<u8>,
    first: bool,
    /// Nanoseconds since the Unix epoch that `ts` 0 stands for.
    base: u64,
}

impl Trace<'_> {
    fn begin_event(&mut self) {
        if !self.first {
            self.buf.extend_from_slice(b",\n");
        }
        self.first = false;
    }

    fn end_event(&mut self) -> io::Result<()> {
        if self.buf.len() >= 1 << 16 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn micros(&mut self, nanos: u64) {
        let rel = nanos.saturating_sub(self.base);
        let _ = write!(self.buf, "{}.{:03}", rel / 1000, rel % 1000);
    }
}

fn json_str(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn json_value(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Empty => out.extend_from_slice(b"null"),
        Value::U64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::I64(v) => {
            let _ = write!(out, "{v}");
        }
        // Beyond what JSON numbers carry exactly in most readers.
        Value::U128(v) => json_str(&v.to_string(), out),
        Value::I128(v) => json_str(&v.to_string(), out),
        Value::F64(v) if v.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
        Value::F64(v) => json_str(&v.to_string(), out),
        Value::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
        Value::Str(s) | Value::Debug(s) => json_str(s, out),
        Value::Bytes(b) => {
            let _ = serde_json::to_writer(&mut *out, b);
        }
        Value::Error { message, sources } => {
            let mut text = (*message).to_owned();
            for source in sources {
                text.push_str(": ");
                text.push_str(source);
            }
            json_str(&text, out);
        }
        // The reader's context resolves interned strings; one left had no definition.
        Value::Interned(_) => json_str(logbuf_journal::read::UNKNOWN_STRING, out),
    }
}

/// `"name":value` pairs of the recorded fields, comma-separated, each preceded by a comma.
fn field_pairs<'v>(
    callsite: &Callsite,
    values: impl Iterator<Item = Value<'v>>,
    out: &mut Vec<u8>,
) {
    for (name, value) in callsite.fields.iter().zip(values) {
        if matches!(value, Value::Empty) {
            continue;
        }
        out.push(b',');
        json_str(name, out);
        out.push(b':');
        json_value(&value, out);
    }
}

/// The args object of the span `id` as the context holds it now.
fn span_args(context: &Context, id: u64) -> Vec<u8> {
    let mut args = Vec::new();
    let _ = write!(args, "{{\"span_id\":{id}");
    if let Some(span) = context.span(id) {
        field_pairs(
            &span.callsite,
            span.values.iter().map(OwnedValue::borrowed),
            &mut args,
        );
    }
    args.push(b'}');
    args
}

/// Per process (header pid): state that outlives one file of a rotated series.
#[derive(Debug, Default)]
struct Process {
    /// Entered spans by (span id, thread), innermost last.
    open: HashMap<(u64, u64), Vec<Open>>,
    /// Latest time seen, nanoseconds since the Unix epoch.
    last: u64,
    named_threads: HashSet<u64>,
    /// Open spans that had an enter record: their enters are slices, their lives are not.
    entered: HashSet<u64>,
    /// Whether its `process_name` metadata event is out.
    named: bool,
}

/// Reads `paths` and writes one Chrome trace-event JSON document to `out`. Returns the exit
/// status: files that cannot be opened, or are damaged, get a line on `diagnostics`.
///
/// # Errors
///
/// Writing to `out` failed.
pub fn chrome(
    paths: &[PathBuf],
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> io::Result<Exit> {
    let (mut files, mut exit) = crate::input::open_all(paths, diagnostics);
    files.sort_by_key(|(_, f)| f.header().clock.unix_nanos);
    let headers: Vec<_> = files
        .iter()
        .map(|(_, f)| (f.header().pid, f.header().clock))
        .collect();
    let clocks = series_clocks(&headers);
    let base = files
        .first()
        .map_or(0, |(_, f)| f.header().clock.unix_nanos);
    let mut trace = Trace {
        out,
        buf: Vec::with_capacity(1 << 17),
        first: true,
        base,
    };
    trace
        .buf
        .extend_from_slice(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n");
    let mut processes: HashMap<u32, Process> = HashMap::new();
    for ((path, file), clocks) in files.into_iter().zip(clocks) {
        let pid = file.header().pid;
        let process = processes.entry(pid).or_default();
        if !process.named {
            process.named = true;
            trace.begin_event();
            let _ = write!(
                trace.buf,
                "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":"
            );
            json_str(&file.header().program, &mut trace.buf);
            trace.buf.extend_from_slice(b"}}");
        }
        let (read_exit, file_exit) = export_file(&path, file, &clocks, pid, process, &mut trace)?;
        if let Some(e) = read_exit {
            crate::input::report_read_failure(&path, &e, diagnostics, &mut exit);
        }
        if let Some((line, damage)) = file_exit {
            let _ = writeln!(diagnostics, "logbuf: {line}");
            exit = exit.worst(damage);
        }
    }
    // Close what is still entered at the end of the input.
    let mut pids: Vec<_> = processes.keys().copied().collect();
    pids.sort_unstable();
    for pid in pids {
        let process = processes.get_mut(&pid).expect("listed");
        let last = process.last;
        let mut open: Vec<_> = process.open.drain().collect();
        open.sort_by_key(|((id, thread), _)| (*thread, *id));
        for ((_, thread), stack) in open {
            for span in stack {
                let mut args = span.args;
                args.pop();
                args.extend_from_slice(b",\"unclosed\":true}");
                complete(
                    &mut trace,
                    pid,
                    thread,
                    &span.name,
                    &span.target,
                    span.start,
                    last,
                    &args,
                );
                trace.end_event()?;
            }
        }
    }
    trace.buf.extend_from_slice(b"\n]}\n");
    trace.out.write_all(&trace.buf)?;
    trace.out.flush()?;
    Ok(exit)
}

#[allow(clippy::too_many_arguments)] // One per field of the trace event.
fn complete(
    trace: &mut Trace<'_>,
    pid: u32,
    thread: u64,
    name: &str,
    target: &str,
    start: u64,
    end: u64,
    args: &[u8],
) {
    trace.begin_event();
    trace.buf.extend_from_slice(b"{\"name\":");
    json_str(name, &mut trace.buf);
    trace.buf.extend_from_slice(b",\"cat\":");
    json_str(target, &mut trace.buf);
    let _ = write!(
        trace.buf,
        ",\"ph\":\"X\",\"pid\":{pid},\"tid\":{thread},\"ts\":"
    );
    trace.micros(start);
    trace.buf.extend_from_slice(b",\"dur\":");
    let dur = end.saturating_sub(start);
    let _ = write!(trace.buf, "{}.{:03}", dur / 1000, dur % 1000);
    trace.buf.extend_from_slice(b",\"args\":");
    trace.buf.extend_from_slice(args);
    trace.buf.push(b'}');
}

/// A span's life, from its creation to its close, as one slice.
struct Life {
    thread: u64,
    name: String,
    target: String,
    start: u64,
    end: u64,
    args: Vec<u8>,
}

/// The slice of span `id` closing at `time` (ticks), with its busy and idle ticks if the close
/// record gave them; `None` for a span that had enter records (its enters are its slices) or
/// whose creation is not in the input.
fn life(
    context: &Context,
    process: &mut Process,
    id: u64,
    time: u64,
    times: Option<(u64, u64)>,
) -> Option<Life> {
    if process.entered.remove(&id) {
        return None;
    }
    let span = context.span(id)?;
    let start = context.unix_nanos(span.time)?;
    let end = context.unix_nanos(time)?.max(start);
    let mut args = span_args(context, id);
    if let Some((busy, idle)) = times {
        args.pop();
        for (name, ticks) in [("busy_us", busy), ("idle_us", idle)] {
            let nanos = context.duration_nanos(ticks);
            let _ = write!(args, ",\"{name}\":{}.{:03}", nanos / 1000, nanos % 1000);
        }
        args.push(b'}');
    }
    Some(Life {
        thread: span.thread,
        name: span.callsite.name.clone(),
        target: span.callsite.target.clone(),
        start,
        end,
        args,
    })
}

type FileOutcome = (Option<io::Error>, Option<(String, Exit)>);

fn export_file<R: Read>(
    path: &std::path::Path,
    mut file: FileReader<R>,
    clocks: &[Clock],
    pid: u32,
    process: &mut Process,
    trace: &mut Trace<'_>,
) -> io::Result<FileOutcome> {
    let mut context = Context::new();
    for pair in clocks {
        context.add_clock(*pair);
    }
    process.last = process.last.max(file.header().clock.unix_nanos);
    let mut read_error = None;
    while let Some(record) = file.next_record() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                read_error = Some(e);
                break;
            }
        };
        if clocks.len() > 1 && matches!(record, Record::Clock(_)) {
            // One clock for the whole series, as `cat::Source::with_clocks` reads it.
            continue;
        }
        // A span's life as a slice, taken before the close takes the span out of the context.
        let life = match &record {
            Record::SpanClose(c) => life(&context, process, c.id, c.time, None),
            Record::SpanCloseTimes(c) => {
                life(&context, process, c.id, c.time, Some((c.busy, c.idle)))
            }
            _ => None,
        };
        let known = context.apply(&record);
        if let Some(life) = life {
            process.last = process.last.max(life.end);
            complete(
                trace,
                pid,
                life.thread,
                &life.name,
                &life.target,
                life.start,
                life.end,
                &life.args,
            );
        }
        match record {
            Record::ThreadName(t) if process.named_threads.insert(t.thread) => {
                trace.begin_event();
                let _ = write!(
                    trace.buf,
                    "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{},\"args\":{{\"name\":",
                    t.thread
                );
                json_str(t.name, &mut trace.buf);
                trace.buf.extend_from_slice(b"}}");
            }
            Record::SpanEnter(t) => {
                process.entered.insert(t.id);
                let Some(at) = context.unix_nanos(t.time) else {
                    continue;
                };
                process.last = process.last.max(at);
                let (name, target) = match context.span(t.id) {
                    Some(span) => (span.callsite.name.clone(), span.callsite.target.clone()),
                    None => (format!("span {}", t.id), String::new()),
                };
                process
                    .open
                    .entry((t.id, t.thread))
                    .or_default()
                    .push(Open {
                        start: at,
                        name,
                        target,
                        args: span_args(&context, t.id),
                    });
            }
            Record::SpanExit(t) => {
                let Some(at) = context.unix_nanos(t.time) else {
                    continue;
                };
                process.last = process.last.max(at);
                let key = (t.id, t.thread);
                let Some(open) = process.open.get_mut(&key).and_then(Vec::pop) else {
                    // An exit whose enter is in a file not given: nothing to pair it with.
                    continue;
                };
                if process.open.get(&key).is_some_and(Vec::is_empty) {
                    process.open.remove(&key);
                }
                let args = if context.span(t.id).is_some() {
                    span_args(&context, t.id)
                } else {
                    open.args
                };
                complete(
                    trace,
                    pid,
                    t.thread,
                    &open.name,
                    &open.target,
                    open.start,
                    at,
                    &args,
                );
            }
            Record::Event(event) if known => {
                let Some(event) = context.event(event) else {
                    continue;
                };
                let at = event.unix_nanos.unwrap_or(process.last);
                process.last = process.last.max(at);
                let callsite = event.callsite;
                let message = callsite
                    .fields
                    .iter()
                    .zip(&event.event.values)
                    .find_map(|(name, value)| match value {
                        Value::Str(s) | Value::Debug(s) if name == "message" => Some(*s),
                        _ => None,
                    })
                    .unwrap_or(&callsite.name);
                trace.begin_event();
                trace.buf.extend_from_slice(b"{\"name\":");
                json_str(message, &mut trace.buf);
                trace.buf.extend_from_slice(b",\"cat\":");
                json_str(&callsite.target, &mut trace.buf);
                let _ = write!(
                    trace.buf,
                    ",\"ph\":\"i\",\"s\":\"t\",\"pid\":{pid},\"tid\":{},\"ts\":",
                    event.event.thread
                );
                trace.micros(at);
                let _ = write!(
                    trace.buf,
                    ",\"args\":{{\"level\":\"{}\"",
                    level_name(callsite.level)
                );
                field_pairs(callsite, event.event.values.iter().cloned(), &mut trace.buf);
                if let Some(span) = event.spans.last() {
                    let _ = write!(trace.buf, ",\"span_id\":{}", span.id);
                }
                trace.buf.extend_from_slice(b"}}");
            }
            Record::Dropped(d) => {
                let at = context.unix_nanos(d.last_time).unwrap_or(process.last);
                trace.begin_event();
                let _ = write!(
                    trace.buf,
                    "{{\"name\":\"{} events dropped\",\"cat\":\"logbuf\",\"ph\":\"i\",\"s\":\"t\",\"pid\":{pid},\"tid\":{},\"ts\":",
                    d.count, d.thread
                );
                trace.micros(at);
                let _ = write!(trace.buf, ",\"args\":{{\"dropped\":{}}}}}", d.count);
            }
            _ => {}
        }
        trace.end_event()?;
    }
    let report = damage_report(path, file.stats(), context.orphans());
    Ok((read_error, report))
}
