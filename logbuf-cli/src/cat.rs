//! `logbuf cat`: decode journal files, filter, and write events as text or JSON lines, merging
//! several files (a rotated series) in wall-clock order. Reports of records the journal dropped
//! are written as the text and JSON sinks write them: a `WARN` line with target `logbuf`.
//!
//! Streaming: each file is read through a fixed buffer, and memory holds each file's callsite
//! table, thread names and open spans, never its events.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use logbuf_journal::file::{FileReader, ReadStats};
use logbuf_journal::read::{Context, EventInContext};
use logbuf_journal::sink::text::{DropReport, SpanFields, TextFormat};
use logbuf_journal::wire::{Clock, Record};

use crate::filter::Filter;
use crate::input::{Exit, damage_report, open_journal};
use crate::render::{Details, Format, Renderer};

/// Output is handed to the writer in pieces of about this size.
const OUT_CHUNK: usize = 1 << 16;

/// What to write and which events.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Text or JSON.
    pub format: Format,
    /// Which events.
    pub filter: Filter,
    /// What each line shows beyond the defaults.
    pub details: Details,
    /// Threads to render one big file with (see [`crate::parallel`]); `0` and `1` mean the
    /// calling thread alone. Several files are always merged on the calling thread.
    pub jobs: usize,
}

/// Files smaller than this are read on the calling thread whatever [`Options::jobs`] says:
/// starting workers would cost more than it saves.
pub const PARALLEL_MIN_BYTES: u64 = 4 << 20;

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Events and reports of dropped records decoded, before filtering.
    pub events_read: u64,
    /// Lines written: events and reports of dropped records.
    pub events_written: u64,
    /// The exit status the run calls for.
    pub exit: Exit,
}

/// What a [`Source`] hands over: an event, or a report of records the journal dropped, which
/// is written as a line of its own ([`DropReport`]).
#[derive(Debug, Clone, Copy)]
pub enum Item<'r> {
    /// An event with its context.
    Event(&'r EventInContext<'r>),
    /// A report of dropped records with its thread name and time.
    Dropped(&'r DropReport<'r>),
}

impl Item<'_> {
    /// The tick reading the item is placed at; `None` for a report that gives none.
    pub fn ticks(&self) -> Option<u64> {
        match self {
            Item::Event(event) => Some(event.event.time),
            Item::Dropped(report) => report.ticks(),
        }
    }

    /// Nanoseconds since the Unix epoch, if the clock records tell.
    pub fn unix_nanos(&self) -> Option<u64> {
        match self {
            Item::Event(event) => event.unix_nanos,
            Item::Dropped(report) => report.unix_nanos,
        }
    }
}

/// One journal being read: its records, the context they build (callsites, threads, open
/// spans, clock), and the name reports use for it.
///
/// Events are handed to a closure rather than returned, so each record is decoded once and
/// the event can borrow the read buffer.
#[derive(Debug)]
pub struct Source<R: Read> {
    /// The file's path, for messages.
    pub path: PathBuf,
    file: FileReader<R>,
    context: Context,
    /// The fixed map from ticks to merge order, shared by the files of one process.
    order: Option<TickMap>,
    /// Span fields as text, kept in this format's style once [`Source::keep_span_text`] asks.
    span_text: Option<TextFormat>,
    spans: SpanFields,
}

/// A fixed linear map from a process's tick counter to nanoseconds since the Unix epoch,
/// through two clock pairs. The files of one process get the same map, so their events sort
/// in tick order, whatever clock records each file holds.
#[derive(Debug, Clone, Copy)]
struct TickMap {
    anchor: Clock,
    nanos_per_tick: f64,
}

impl TickMap {
    fn new(first: Clock, last: Clock) -> Option<Self> {
        let ticks = last.ticks.checked_sub(first.ticks).filter(|&t| t > 0)?;
        let nanos = last.unix_nanos.checked_sub(first.unix_nanos)?;
        Some(Self {
            anchor: last,
            nanos_per_tick: nanos as f64 / ticks as f64,
        })
    }

    fn nanos(&self, ticks: u64) -> u64 {
        let delta =
            (i128::from(ticks) - i128::from(self.anchor.ticks)) as f64 * self.nanos_per_tick;
        let nanos = i128::from(self.anchor.unix_nanos) + delta as i128;
        u64::try_from(nanos.max(0)).unwrap_or(u64::MAX)
    }
}

impl<R: Read> Source<R> {
    /// Reads events from `file`, named `path` in messages, with its header's clock pair.
    pub fn new(path: PathBuf, file: FileReader<R>) -> Self {
        let own = file.header().clock;
        Self::with_clocks(path, file, &[own])
    }

    /// Reads events from `file` with these clock pairs in place of its header's (see
    /// [`series_clocks`](crate::input::series_clocks)). Given two or more, the file's own
    /// clock records are passed over, so that every file of the series maps ticks to
    /// wall-clock time with the same line: times agree across files and never go back where
    /// ticks do not.
    pub fn with_clocks(path: PathBuf, file: FileReader<R>, clocks: &[Clock]) -> Self {
        let mut context = Context::new();
        for pair in clocks {
            context.add_clock(*pair);
        }
        let order = match clocks {
            [first, .., last] => TickMap::new(*first, *last),
            _ => None,
        };
        Self {
            path,
            file,
            context,
            order,
            span_text: None,
            spans: SpanFields::new(),
        }
    }

    /// Keeps each open span's fields as `format` writes them, for
    /// [`Renderer::render_with`](crate::render::Renderer::render_with): the text sink's layout
    /// (fields in the order recorded), formatted once per span.
    pub fn keep_span_text(&mut self, format: &TextFormat) {
        self.span_text = Some(format.clone());
    }

    /// Hands events and reports of dropped records to `visit`, in file order, with the spans'
    /// fields as text (empty unless [`Source::keep_span_text`] asked for them), until it
    /// returns `true` (then returns `Ok(true)`) or the file ends (`Ok(false)`).
    ///
    /// # Errors
    ///
    /// Reading the file failed.
    pub fn visit(
        &mut self,
        mut visit: impl FnMut(Item<'_>, &SpanFields) -> bool,
    ) -> io::Result<bool> {
        while let Some(record) = self.file.next_record() {
            let record = record?;
            if self.order.is_some() && matches!(record, Record::Clock(_)) {
                // One clock for the whole series: see `with_clocks`.
                continue;
            }
            if let Some(format) = &self.span_text
                && matches!(
                    record,
                    Record::SpanNew(_)
                        | Record::SpanRecord(_)
                        | Record::SpanClose(_)
                        | Record::SpanCloseTimes(_)
                )
            {
                self.spans.apply(format, &self.context, &record);
            }
            if let Record::Dropped(dropped) = record {
                self.context.apply(&record);
                let report = DropReport::new(&self.context, dropped);
                if visit(Item::Dropped(&report), &self.spans) {
                    return Ok(true);
                }
                continue;
            }
            if self.context.apply(&record)
                && let Record::Event(event) = record
                && let Some(event) = self.context.bounded_event(event)
                && visit(Item::Event(&event), &self.spans)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// What the file reader met besides good records.
    pub fn stats(&self) -> &ReadStats {
        self.file.stats()
    }

    /// Events and spans whose callsite was never defined (skipped).
    pub fn orphans(&self) -> u64 {
        self.context.orphans()
    }
}

/// Opens `paths`, then writes their events to `out` (see [`run`]). Files that cannot be opened
/// get one line each on `diagnostics`, are left out, and set the exit status.
///
/// # Errors
///
/// Writing to `out` failed.
pub fn run_paths(
    paths: &[PathBuf],
    options: &Options,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> io::Result<Summary> {
    if let [path] = paths
        && options.jobs > 1
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() >= PARALLEL_MIN_BYTES)
        && !crate::input::is_gzip(path)
    {
        return match open_journal(path) {
            Ok(_) => crate::parallel::run_file(path, options, options.jobs, out, diagnostics),
            Err(failure) => {
                let _ = writeln!(diagnostics, "logbuf: {failure}");
                Ok(Summary {
                    events_read: 0,
                    events_written: 0,
                    exit: failure.exit,
                })
            }
        };
    }
    let (files, exit) = crate::input::open_series(paths, diagnostics);
    let sources = files
        .into_iter()
        .map(|(path, file, clocks)| Source::with_clocks(path, file, &clocks))
        .collect();
    let mut summary = run(sources, options, out, diagnostics)?;
    summary.exit = summary.exit.worst(exit);
    Ok(summary)
}

/// Writes the events of `sources` that pass the filter to `out`: one source in file order,
/// several merged by wall-clock time (ties go to the source listed first; within a source,
/// file order is kept). What a source skipped (damage, a torn tail) is reported on
/// `diagnostics` once it is read to its end.
///
/// # Errors
///
/// Writing to `out` failed. Read errors of a source are reported on `diagnostics` and end
/// that source, not the run.
pub fn run<R: Read>(
    sources: Vec<Source<R>>,
    options: &Options,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> io::Result<Summary> {
    let mut summary = Summary {
        events_read: 0,
        events_written: 0,
        exit: Exit::Ok,
    };
    let renderer = Renderer::new(options.format, options.details);
    if sources.len() == 1 {
        let mut sources = sources;
        let mut source = sources.pop().expect("one source");
        let mut buf = Vec::with_capacity(OUT_CHUNK + 4096);
        let mut write_error = None;
        if let Some(format) = renderer.text_format() {
            source.keep_span_text(format);
        }
        let read = source.visit(|item, spans| {
            summary.events_read += 1;
            if options.filter.matches_item(item) {
                renderer.render_item(item, spans, &mut buf);
                summary.events_written += 1;
                if buf.len() >= OUT_CHUNK {
                    if let Err(e) = out.write_all(&buf) {
                        write_error = Some(e);
                        return true;
                    }
                    buf.clear();
                }
            }
            false
        });
        if let Some(e) = write_error {
            return Err(e);
        }
        if let Err(e) = read {
            read_failed(&source.path, &e, diagnostics, &mut summary);
        }
        out.write_all(&buf)?;
        finish(&source, diagnostics, &mut summary);
    } else {
        merge(sources, options, &renderer, out, diagnostics, &mut summary)?;
    }
    out.flush()?;
    Ok(summary)
}

fn read_failed(path: &Path, e: &io::Error, diagnostics: &mut dyn Write, summary: &mut Summary) {
    crate::input::report_read_failure(path, e, diagnostics, &mut summary.exit);
}

fn finish<R: Read>(source: &Source<R>, diagnostics: &mut dyn Write, summary: &mut Summary) {
    if let Some((line, exit)) = damage_report(&source.path, source.stats(), source.orphans()) {
        let _ = writeln!(diagnostics, "logbuf: {line}");
        summary.exit = summary.exit.worst(exit);
    }
}

/// A source's next event that passes the filter, rendered into `line`; its time, or `None`
/// when the source is done.
fn next_rendered<R: Read>(
    source: &mut Source<R>,
    options: &Options,
    renderer: &Renderer,
    line: &mut Vec<u8>,
    diagnostics: &mut dyn Write,
    summary: &mut Summary,
) -> Option<u64> {
    let mut at = 0;
    let filter = &options.filter;
    let events_read = &mut summary.events_read;
    let order = source.order;
    let found = source.visit(|item, spans| {
        *events_read += 1;
        if !filter.matches_item(item) {
            return false;
        }
        line.clear();
        renderer.render_item(item, spans, line);
        at = match (&order, item.ticks()) {
            (Some(map), Some(ticks)) => map.nanos(ticks),
            _ => item.unix_nanos().unwrap_or(0),
        };
        true
    });
    match found {
        Ok(true) => Some(at),
        Ok(false) => None,
        Err(e) => {
            read_failed(&source.path, &e, diagnostics, summary);
            None
        }
    }
}

/// The k-way merge: each source keeps its next line rendered; the earliest goes out.
fn merge<R: Read>(
    mut sources: Vec<Source<R>>,
    options: &Options,
    renderer: &Renderer,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
    summary: &mut Summary,
) -> io::Result<()> {
    let mut lines: Vec<Vec<u8>> = vec![Vec::new(); sources.len()];
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, source) in sources.iter_mut().enumerate() {
        if let Some(format) = renderer.text_format() {
            source.keep_span_text(format);
        }
        match next_rendered(
            source,
            options,
            renderer,
            &mut lines[i],
            diagnostics,
            summary,
        ) {
            Some(at) => heap.push(Reverse((at, i))),
            None => finish(source, diagnostics, summary),
        }
    }
    let mut buf = Vec::with_capacity(OUT_CHUNK + 4096);
    while let Some(Reverse((_, i))) = heap.pop() {
        buf.extend_from_slice(&lines[i]);
        summary.events_written += 1;
        if buf.len() >= OUT_CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
        let source = &mut sources[i];
        match next_rendered(
            source,
            options,
            renderer,
            &mut lines[i],
            diagnostics,
            summary,
        ) {
            Some(at) => heap.push(Reverse((at, i))),
            None => finish(source, diagnostics, summary),
        }
    }
    out.write_all(&buf)
}
