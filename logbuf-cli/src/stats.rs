//! `logbuf stats`: a summary of one or more journal files.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use logbuf_journal::file::{FileReader, ReadStats};
use logbuf_journal::read::{Callsite, Context};
use logbuf_journal::wire::{Clock, Level, Record};

use crate::filter::level_name;
use crate::input::{Exit, damage_report, open_journal, plural};
use crate::time::{format_duration, format_nanos};

/// A callsite as the summary groups it: the same source location in several files (a rotated
/// series, or runs of the same program) counts once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallsiteKey {
    /// Level.
    pub level: Level,
    /// Target.
    pub target: String,
    /// Name.
    pub name: String,
    /// `file:line`, when recorded.
    pub location: Option<String>,
}

impl CallsiteKey {
    /// The key of a callsite as a file defines it.
    pub fn of(c: &Callsite) -> Self {
        Self {
            level: c.level,
            target: c.target.clone(),
            name: c.name.clone(),
            location: c.file.as_ref().map(|f| match c.line {
                Some(line) => format!("{f}:{line}"),
                None => f.clone(),
            }),
        }
    }
}

/// Figures gathered over every file added.
#[derive(Debug, Default)]
pub struct Stats {
    /// Files read (opened as journals).
    pub files: u64,
    /// Their size in bytes.
    pub bytes: u64,
    /// Events with a known callsite.
    pub events: u64,
    /// Spans created.
    pub spans: u64,
    /// Events per level, indexed by `Level as usize` (trace first).
    pub levels: [u64; 5],
    /// Events per callsite.
    pub callsites: HashMap<CallsiteKey, u64>,
    /// Events per thread: journal thread id and name.
    pub threads: HashMap<(u64, Option<String>), u64>,
    /// Earliest and latest event, nanoseconds since the Unix epoch.
    pub time: Option<(u64, u64)>,
    /// Records the journal reported dropped: events and span records.
    pub dropped: u64,
    /// Span records among `dropped`, in files of format 2.2 and later.
    pub dropped_spans: u64,
    /// Drops in files older than format 2.2, which do not tell events from span records.
    pub dropped_untold: u64,
    /// Dropped records per callsite, as the journal's drop reports name them (format 2.3 on).
    pub lost_callsites: HashMap<CallsiteKey, u64>,
    /// Dropped records the reports that name callsites do not name: of callsites past the
    /// ones a report names, or of no callsite (span records after a span's creation).
    pub lost_unnamed: u64,
    /// Dropped records in reports that name no callsites at all (files older than format
    /// 2.3).
    pub lost_untold: u64,
    /// Events flight recorders held in memory and let go unwritten, as no trigger came
    /// (format 2.4 `Discarded` records): discarded by design, not dropped.
    pub discarded: u64,
    /// What the file readers skipped, summed over files.
    pub read: ReadStats,
    /// Events and spans whose callsite was missing.
    pub orphans: u64,
    /// Span enter and exit records (written by the tracing layer only when asked for).
    pub span_transitions: u64,
    /// Busy and idle time of the spans closed with their times, per span callsite.
    pub span_times: HashMap<SpanKey, SpanTimes>,
}

/// A span callsite as the span times group it: target and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanKey {
    /// Target.
    pub target: String,
    /// Span name.
    pub name: String,
}

/// Busy and idle time summed over the spans of one callsite closed with their times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanTimes {
    /// Spans closed with their times.
    pub closed: u64,
    /// Nanoseconds they were entered, summed.
    pub busy: u64,
    /// Nanoseconds from creation to close they were not entered, summed.
    pub idle: u64,
}

impl Stats {
    /// Reads the journal at `path` and adds its figures. Returns the exit status it calls
    /// for; failures and damage get a line on `diagnostics`.
    pub fn add_path(&mut self, path: &Path, diagnostics: &mut dyn Write) -> Exit {
        match open_journal(path) {
            Ok(file) => {
                let exit = self.add(path, file, 0, diagnostics);
                self.bytes += crate::input::input_bytes(path);
                exit
            }
            Err(failure) => {
                let _ = writeln!(diagnostics, "logbuf: {failure}");
                failure.exit
            }
        }
    }

    /// Reads `file` (`bytes` long, named `path` in messages) to its end and adds its figures.
    pub fn add<R: Read>(
        &mut self,
        path: &Path,
        file: FileReader<R>,
        bytes: u64,
        diagnostics: &mut dyn Write,
    ) -> Exit {
        let own = file.header().clock;
        self.add_with_clocks(path, file, &[own], bytes, diagnostics)
    }

    /// [`Stats::add`], reading times with these clock pairs in place of the file's header's
    /// (see [`series_clocks`](crate::input::series_clocks)).
    pub fn add_with_clocks<R: Read>(
        &mut self,
        path: &Path,
        mut file: FileReader<R>,
        clocks: &[Clock],
        bytes: u64,
        diagnostics: &mut dyn Write,
    ) -> Exit {
        let mut exit = Exit::Ok;
        let tells_spans = file.version() >= (2, 2);
        let mut context = Context::new();
        for pair in clocks {
            context.add_clock(*pair);
        }
        let mut per_callsite: HashMap<u64, u64> = HashMap::new();
        let mut per_thread: HashMap<u64, u64> = HashMap::new();
        // The context forgets a thread's name at its `ThreadEnd`; the summary names every
        // thread that logged.
        let mut names: HashMap<u64, String> = HashMap::new();
        while let Some(record) = crate::input::next_record(&mut file, path, diagnostics, &mut exit)
        {
            if clocks.len() > 1 && matches!(record, Record::Clock(_)) {
                // One clock for the whole series, as `cat::Source::with_clocks` reads it.
                continue;
            }
            if let Record::SpanCloseTimes(close) = &record
                && let Some(span) = context.span(close.id)
            {
                let key = SpanKey {
                    target: span.callsite.target.clone(),
                    name: span.callsite.name.clone(),
                };
                let times = self.span_times.entry(key).or_default();
                times.closed += 1;
                times.busy = times
                    .busy
                    .saturating_add(context.duration_nanos(close.busy));
                times.idle = times
                    .idle
                    .saturating_add(context.duration_nanos(close.idle));
            }
            let known = context.apply(&record);
            match record {
                Record::Event(event) if known => {
                    self.events += 1;
                    *per_callsite.entry(event.callsite).or_default() += 1;
                    *per_thread.entry(event.thread).or_default() += 1;
                    if let Some(at) = context.unix_nanos(event.time) {
                        self.time = Some(match self.time {
                            None => (at, at),
                            Some((lo, hi)) => (lo.min(at), hi.max(at)),
                        });
                    }
                }
                Record::ThreadName(t) => {
                    names.insert(t.thread, t.name.to_owned());
                }
                Record::SpanNew(_) => self.spans += 1,
                Record::Dropped(d) => match context.drop_callsites(d.thread) {
                    Some(named) => {
                        let mut told = 0;
                        for lost in named {
                            *self
                                .lost_callsites
                                .entry(CallsiteKey::of(&lost.callsite))
                                .or_default() += lost.count;
                            told += lost.count;
                        }
                        self.lost_unnamed += d.count.saturating_sub(told);
                    }
                    None => self.lost_untold += d.count,
                },
                Record::SpanEnter(_) | Record::SpanExit(_) => self.span_transitions += 1,
                _ => {}
            }
        }
        for (id, count) in per_callsite {
            if let Some(c) = context.callsite(id) {
                self.levels[c.level as usize] += count;
                *self.callsites.entry(CallsiteKey::of(c)).or_default() += count;
            }
        }
        for (thread, count) in per_thread {
            let name = names.get(&thread).cloned();
            *self.threads.entry((thread, name)).or_default() += count;
        }
        let read = file.stats();
        if let Some((line, damage)) = damage_report(path, read, context.orphans()) {
            let _ = writeln!(diagnostics, "logbuf: {line}");
            exit = exit.worst(damage);
        }
        self.files += 1;
        self.bytes += bytes;
        self.dropped += context.dropped();
        self.dropped_spans += context.dropped_spans();
        self.discarded += context.discarded();
        if !tells_spans {
            self.dropped_untold += context.dropped();
        }
        self.orphans += context.orphans();
        self.read.records += read.records;
        self.read.damaged_regions += read.damaged_regions;
        self.read.damaged_bytes += read.damaged_bytes;
        self.read.unknown_records += read.unknown_records;
        self.read.undecodable_records += read.undecodable_records;
        self.read.torn_tail_bytes += read.torn_tail_bytes;
        exit
    }

    /// Writes the summary, with the `top` busiest callsites.
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub fn write(&self, out: &mut dyn Write, top: usize) -> io::Result<()> {
        writeln!(
            out,
            "files:        {} ({} bytes)",
            self.files,
            thousands(self.bytes)
        )?;
        let per_event = if self.events == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", self.bytes as f64 / self.events as f64)
        };
        writeln!(
            out,
            "events:       {} ({per_event} bytes per event, file bytes / events)",
            thousands(self.events)
        )?;
        writeln!(
            out,
            "spans:        {} ({} enter/exit records)",
            thousands(self.spans),
            thousands(self.span_transitions)
        )?;
        match self.time {
            Some((lo, hi)) => writeln!(
                out,
                "time:         {} .. {} ({})",
                format_nanos(lo),
                format_nanos(hi),
                format_duration(hi - lo)
            )?,
            None => writeln!(out, "time:         -")?,
        }
        let events = self.dropped - self.dropped_spans - self.dropped_untold;
        write!(
            out,
            "dropped:      {} event{} and {} span record{} reported dropped by the journal",
            thousands(events),
            plural(events),
            thousands(self.dropped_spans),
            plural(self.dropped_spans)
        )?;
        if self.dropped_untold > 0 {
            write!(
                out,
                ", and {} record{} in files older than format 2.2, which do not say which",
                thousands(self.dropped_untold),
                plural(self.dropped_untold)
            )?;
        }
        writeln!(out)?;
        if self.discarded > 0 {
            writeln!(
                out,
                "discarded:    {} event{} held by a flight recorder and not written, as no trigger came (by design, not dropped)",
                thousands(self.discarded),
                plural(self.discarded)
            )?;
        }
        writeln!(
            out,
            "damage:       {} damaged region{} ({} bytes) skipped, torn tail {} bytes, {} undecodable, {} unknown kind, {} without callsite",
            self.read.damaged_regions,
            plural(self.read.damaged_regions),
            self.read.damaged_bytes,
            self.read.torn_tail_bytes,
            self.read.undecodable_records,
            self.read.unknown_records,
            self.orphans
        )?;

        writeln!(out, "\nevents per level:")?;
        for level in [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ] {
            writeln!(
                out,
                "  {:<5} {:>12}",
                level_name(level),
                thousands(self.levels[level as usize])
            )?;
        }

        let mut callsites: Vec<_> = self.callsites.iter().collect();
        callsites.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        writeln!(
            out,
            "\ntop {} callsite{} of {}:",
            top.min(callsites.len()),
            plural(top.min(callsites.len()) as u64),
            callsites.len()
        )?;
        for (key, count) in callsites.into_iter().take(top) {
            write_callsite(out, key, *count)?;
        }
        self.write_lost(out, top)?;

        if !self.span_times.is_empty() {
            let mut spans: Vec<_> = self.span_times.iter().collect();
            spans.sort_by(|a, b| b.1.busy.cmp(&a.1.busy).then_with(|| a.0.cmp(b.0)));
            writeln!(
                out,
                "\nspan times (spans closed with their times, busiest {} of {}):",
                top.min(spans.len()),
                spans.len()
            )?;
            writeln!(
                out,
                "  {:>12}  {:>12}  {:>12}  {:>12}  span",
                "closed", "busy", "idle", "busy mean"
            )?;
            for (key, times) in spans.into_iter().take(top) {
                writeln!(
                    out,
                    "  {:>12}  {:>12}  {:>12}  {:>12}  {} {}",
                    thousands(times.closed),
                    format_duration(times.busy),
                    format_duration(times.idle),
                    format_duration(times.busy / times.closed.max(1)),
                    key.target,
                    key.name
                )?;
            }
        }

        let mut threads: Vec<_> = self.threads.iter().collect();
        threads.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        writeln!(out, "\nevents per thread:")?;
        for ((id, name), count) in threads {
            writeln!(
                out,
                "  {:>12}  #{id} {}",
                thousands(*count),
                name.as_deref().unwrap_or("(unnamed)")
            )?;
        }
        Ok(())
    }
}

impl Stats {
    /// The dropped records by callsite, the most first (ties by callsite).
    fn lost_ranked(&self) -> Vec<(&CallsiteKey, u64)> {
        let mut lost: Vec<_> = self.lost_callsites.iter().map(|(k, n)| (k, *n)).collect();
        lost.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        lost
    }

    /// The section on dropped records by callsite, when records were dropped.
    fn write_lost(&self, out: &mut dyn Write, top: usize) -> io::Result<()> {
        if self.dropped == 0 {
            return Ok(());
        }
        let lost = self.lost_ranked();
        if lost.is_empty() {
            writeln!(out, "\nlost events by callsite:")?;
        } else {
            writeln!(
                out,
                "\nlost events by callsite (top {} of {} the journal's drop reports name):",
                top.min(lost.len()),
                lost.len()
            )?;
        }
        let mut rest = 0;
        for (i, (key, count)) in lost.iter().enumerate() {
            if i < top {
                write_callsite(out, key, *count)?;
            } else {
                rest += count;
            }
        }
        if rest > 0 {
            writeln!(
                out,
                "  {:>12}  of the other {} callsite{} named",
                thousands(rest),
                lost.len() - top,
                plural((lost.len() - top) as u64)
            )?;
        }
        if self.lost_unnamed > 0 {
            writeln!(
                out,
                "  {:>12}  not named: of callsites past those a report names, span records after a span's creation, writes outside a thread's ring",
                thousands(self.lost_unnamed)
            )?;
        }
        if self.lost_untold > 0 {
            writeln!(
                out,
                "  {:>12}  in files older than format 2.3, which do not name callsites",
                thousands(self.lost_untold)
            )?;
        }
        Ok(())
    }

    /// The summary as JSON, with the `top` busiest callsites (and the `top` that lost the
    /// most records).
    pub fn json(&self, top: usize) -> serde_json::Value {
        use serde_json::json;
        let callsite = |key: &CallsiteKey, count: u64| {
            json!({
                "count": count,
                "level": level_name(key.level),
                "target": key.target,
                "name": key.name,
                "location": key.location,
            })
        };
        let mut callsites: Vec<_> = self.callsites.iter().collect();
        callsites.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let mut threads: Vec<_> = self.threads.iter().collect();
        threads.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let lost = self.lost_ranked();
        let named_rest: u64 = lost.iter().skip(top).map(|(_, n)| n).sum();
        json!({
            "files": self.files,
            "bytes": self.bytes,
            "events": self.events,
            "spans": self.spans,
            "span_transitions": self.span_transitions,
            "time": self.time.map(|(lo, hi)| json!({
                "first": format_nanos(lo),
                "last": format_nanos(hi),
                "nanos": hi - lo,
            })),
            "levels": {
                "error": self.levels[Level::Error as usize],
                "warn": self.levels[Level::Warn as usize],
                "info": self.levels[Level::Info as usize],
                "debug": self.levels[Level::Debug as usize],
                "trace": self.levels[Level::Trace as usize],
            },
            "callsites": callsites.iter().take(top).map(|(k, n)| callsite(k, **n)).collect::<Vec<_>>(),
            "callsites_total": callsites.len(),
            "threads": threads.iter().map(|((id, name), n)| json!({
                "id": id,
                "name": name,
                "events": n,
            })).collect::<Vec<_>>(),
            "dropped": {
                "total": self.dropped,
                "events": self.dropped - self.dropped_spans - self.dropped_untold,
                "span_records": self.dropped_spans,
                "kind_unknown": self.dropped_untold,
                "by_callsite": lost.iter().take(top).map(|(k, n)| callsite(k, *n)).collect::<Vec<_>>(),
                "callsites_named": lost.len(),
                "by_other_callsites": named_rest,
                "not_named": self.lost_unnamed,
                "before_format_2_3": self.lost_untold,
            },
            "damage": {
                "damaged_regions": self.read.damaged_regions,
                "damaged_bytes": self.read.damaged_bytes,
                "torn_tail_bytes": self.read.torn_tail_bytes,
                "undecodable_records": self.read.undecodable_records,
                "unknown_records": self.read.unknown_records,
                "orphans": self.orphans,
            },
        })
    }
}

/// One callsite's line in the summary: the count, level, target, name and location.
fn write_callsite(out: &mut dyn Write, key: &CallsiteKey, count: u64) -> io::Result<()> {
    write!(
        out,
        "  {:>12}  {:<5} {} {}",
        thousands(count),
        level_name(key.level),
        key.target,
        key.name
    )?;
    match &key.location {
        Some(at) => writeln!(out, " ({at})"),
        None => writeln!(out),
    }
}

/// Reads every file in `paths` and writes the summary to `out`; returns the exit status.
///
/// # Errors
///
/// Writing to `out` failed.
pub fn run(
    paths: &[PathBuf],
    top: usize,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> io::Result<Exit> {
    run_as(paths, top, false, out, diagnostics)
}

/// [`run`], writing the summary as JSON ([`Stats::json`]) when `json` is set.
///
/// # Errors
///
/// Writing to `out` failed.
pub fn run_as(
    paths: &[PathBuf],
    top: usize,
    json: bool,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> io::Result<Exit> {
    let mut stats = Stats::default();
    let (files, mut exit) = crate::input::open_series(paths, diagnostics);
    for (path, file, clocks) in files {
        exit = exit.worst(stats.add_with_clocks(&path, file, &clocks, 0, diagnostics));
        // After reading: standard input's size is what was read.
        stats.bytes += crate::input::input_bytes(&path);
    }
    if stats.files > 0 {
        if json {
            serde_json::to_writer_pretty(&mut *out, &stats.json(top))?;
            writeln!(out)?;
        } else {
            stats.write(out, top)?;
        }
    }
    out.flush()?;
    Ok(exit)
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
