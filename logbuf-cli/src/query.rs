//! `logbuf stats --spans` and `logbuf stats --field NAME`: span timings and field statistics.
//!
//! - **Spans** ([`SpanReport`]): for every span closed in the input, grouped by span name and
//!   target: its duration (creation to close) and, where the file says, its busy time (entered
//!   on some thread) and idle time (the rest). Busy and idle come from the close record with
//!   times (format 2.1, the tracing layer's default) or, for a span closed without them, from
//!   its enter and exit records (`record_enter_exit(true)`): busy is the time at least one
//!   thread had it entered. A span with neither has a duration only.
//! - **Fields** ([`FieldReport`]): every event's own value of one field, optionally grouped by
//!   callsite, target or innermost span. Numbers (unsigned, signed, 128-bit, floating point)
//!   get count, min, p50, p90, p99, max and mean; other values (strings, `Debug` text, bools,
//!   errors, bytes) are counted per distinct value.
//!
//! # Precision
//!
//! Percentiles are exact, over every value: the values are kept (8 bytes each: per span its
//! duration, busy and idle time; per event its number) and sorted once at the end. The
//! percentile `p` of `n` sorted values is the nearest-rank one, the value at 1-based rank
//! `ceil(p * n / 100)` ([`nearest_rank`]): always a value that occurred. Durations are whole
//! nanoseconds, turned from the journal's ticks at the rate its clock records give. Numbers are
//! kept as `f64`: integers beyond 2^53 in magnitude are rounded to the nearest `f64`; the mean
//! is the `f64` sum (in ascending order) over the count. Memory grows with the number of values (and of distinct
//! text values), never with the file's other events.
//!
//! Both read the input as `logbuf stats` does: every file once, a rotated series with one
//! clock ([`series_clocks`](crate::input::series_clocks)), compressed files decompressed as
//! they are read; the filters of [`Filter`] select the events (fields) and spans
//! ([`Filter::matches_span`]) counted.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use logbuf_journal::file::FileReader;
use logbuf_journal::read::Context;
use logbuf_journal::wire::{Clock, Record, Value};
use serde_json::{Value as Json, json};

use crate::filter::Filter;
use crate::input::{Exit, damage_report, plural};
use crate::time::format_duration;

/// How field values are grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupBy {
    /// One group: every event with the field.
    #[default]
    All,
    /// Per event callsite: target, name and source location.
    Callsite,
    /// Per target.
    Target,
    /// Per innermost span name (`(no span)` for events outside any span).
    Span,
}

impl GroupBy {
    /// The word the reports use for a group.
    pub fn label(self) -> &'static str {
        match self {
            GroupBy::All => "all",
            GroupBy::Callsite => "callsite",
            GroupBy::Target => "target",
            GroupBy::Span => "span",
        }
    }
}

/// What to gather.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Span timings.
    pub spans: bool,
    /// Statistics of this field.
    pub field: Option<String>,
    /// How field values are grouped.
    pub by: GroupBy,
    /// Which events and spans count.
    pub filter: Filter,
    /// How many span names, and how many distinct text values per group, to list (all of
    /// them in JSON and HTML for spans).
    pub top: usize,
}

/// The 1-based nearest rank of percentile `percent` among `n` sorted values,
/// `ceil(percent * n / 100)` (at least 1), as a 0-based index.
///
/// ```
/// use logbuf_cli::query::nearest_rank;
/// assert_eq!(nearest_rank(10, 50), 4); // the 5th of 10
/// assert_eq!(nearest_rank(10, 99), 9); // the 10th
/// assert_eq!(nearest_rank(1, 50), 0);
/// ```
pub fn nearest_rank(n: usize, percent: u32) -> usize {
    let rank = (n as u128 * u128::from(percent)).div_ceil(100);
    usize::try_from(rank)
        .unwrap_or(usize::MAX)
        .clamp(1, n.max(1))
        - 1
}

/// Count, extremes and percentiles of a set of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary<T> {
    /// How many values.
    pub count: u64,
    /// The least.
    pub min: T,
    /// The median (nearest rank).
    pub p50: T,
    /// The 90th percentile (nearest rank).
    pub p90: T,
    /// The 99th percentile (nearest rank).
    pub p99: T,
    /// The greatest.
    pub max: T,
}

impl<T: Copy> Summary<T> {
    /// The summary of `sorted` (ascending); `None` if it is empty.
    pub fn of_sorted(sorted: &[T]) -> Option<Self> {
        let n = sorted.len();
        Some(Self {
            count: n as u64,
            min: *sorted.first()?,
            p50: sorted[nearest_rank(n, 50)],
            p90: sorted[nearest_rank(n, 90)],
            p99: sorted[nearest_rank(n, 99)],
            max: sorted[n - 1],
        })
    }
}

/// Nanosecond durations, sorted, with their summary and total.
#[derive(Debug, Clone, PartialEq)]
pub struct Durations {
    /// Every duration, ascending.
    pub sorted: Vec<u64>,
    /// Their summary.
    pub summary: Summary<u64>,
    /// Their sum (saturating).
    pub total: u64,
}

impl Durations {
    fn new(mut values: Vec<u64>) -> Option<Self> {
        values.sort_unstable();
        let summary = Summary::of_sorted(&values)?;
        let total = values.iter().fold(0u64, |a, v| a.saturating_add(*v));
        Some(Self {
            sorted: values,
            summary,
            total,
        })
    }

    fn json(&self) -> Json {
        let s = &self.summary;
        json!({
            "count": s.count, "min_ns": s.min, "p50_ns": s.p50, "p90_ns": s.p90,
            "p99_ns": s.p99, "max_ns": s.max, "total_ns": self.total,
        })
    }
}

/// The spans of one name and target.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanGroup {
    /// Span name.
    pub name: String,
    /// Target of its callsite.
    pub target: String,
    /// Creation to close, every span.
    pub duration: Durations,
    /// Busy time, of the spans whose busy time is known.
    pub busy: Option<Durations>,
    /// Idle time, of the same spans.
    pub idle: Option<Durations>,
}

/// Span timings per span name and target, busiest (by total duration) first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanReport {
    /// The groups, by total duration, greatest first (then by name and target).
    pub groups: Vec<SpanGroup>,
    /// Spans counted (closed, known, passing the filters).
    pub closed: u64,
    /// Of those, spans whose busy and idle time came from a close record with times.
    pub from_close_times: u64,
    /// Of those, spans whose busy and idle time came from enter and exit records.
    pub from_transitions: u64,
}

/// One group of field values.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldGroup {
    /// The group's name (a callsite, a target, a span name, or `all`).
    pub name: String,
    /// The numbers, ascending.
    pub numbers: Vec<f64>,
    /// Their summary.
    pub summary: Option<Summary<f64>>,
    /// Their mean.
    pub mean: Option<f64>,
    /// Distinct text values with their counts, most frequent first (then by value).
    pub texts: Vec<(String, u64)>,
    /// Text values counted (the sum of `texts`' counts).
    pub text_count: u64,
}

/// Statistics of one field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldReport {
    /// The field's name.
    pub field: String,
    /// How the groups are made.
    pub by: GroupBy,
    /// Events that passed the filters.
    pub events: u64,
    /// Of those, events with the field recorded.
    pub with_field: u64,
    /// The groups, most values first (then by name).
    pub groups: Vec<FieldGroup>,
}

/// What a run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Span timings, when asked for.
    pub spans: Option<SpanReport>,
    /// Field statistics, when asked for.
    pub field: Option<FieldReport>,
}

/// Enter/exit bookkeeping of an open span: threads that have it entered, since when, and the
/// busy ticks so far.
#[derive(Debug, Default, Clone, Copy)]
struct Transit {
    active: u64,
    since: u64,
    busy: u64,
}

#[derive(Debug, Default)]
struct SpanAcc {
    duration: Vec<u64>,
    busy: Vec<u64>,
    idle: Vec<u64>,
}

#[derive(Debug, Default)]
struct FieldAcc {
    numbers: Vec<f64>,
    texts: HashMap<String, u64>,
    text_count: u64,
}

impl FieldAcc {
    fn text(&mut self, text: &str) {
        self.text_count += 1;
        match self.texts.get_mut(text) {
            Some(n) => *n += 1,
            None => {
                self.texts.insert(text.to_owned(), 1);
            }
        }
    }

    fn value(&mut self, value: &Value<'_>) -> bool {
        let number = match *value {
            Value::Empty => return false,
            Value::U64(v) => v as f64,
            Value::I64(v) => v as f64,
            Value::U128(v) => v as f64,
            Value::I128(v) => v as f64,
            Value::F64(v) if !v.is_nan() => v,
            Value::F64(_) => {
                self.text("NaN");
                return true;
            }
            Value::Bool(v) => {
                self.text(if v { "true" } else { "false" });
                return true;
            }
            Value::Str(v) | Value::Debug(v) => {
                self.text(v);
                return true;
            }
            Value::Error { message, .. } => {
                self.text(message);
                return true;
            }
            Value::Bytes(v) => {
                self.text(&String::from_utf8_lossy(v));
                return true;
            }
            Value::Interned(_) => {
                self.text(logbuf_journal::read::UNKNOWN_STRING);
                return true;
            }
        };
        self.numbers.push(number);
        true
    }
}

/// Gathers a [`Report`] over one file after another.
#[derive(Debug, Default)]
pub struct Collector {
    query: Query,
    spans: HashMap<(String, String), SpanAcc>,
    closed: u64,
    from_close_times: u64,
    from_transitions: u64,
    groups: Vec<(String, FieldAcc)>,
    group_index: HashMap<String, usize>,
    events: u64,
    with_field: u64,
}

/// Per file: where an event callsite keeps the field, and its group when the callsite alone
/// decides it.
type FieldSlot = Option<(usize, Option<usize>)>;

impl Collector {
    /// A collector for `query`.
    pub fn new(query: Query) -> Self {
        Self {
            query,
            ..Self::default()
        }
    }

    fn group(&mut self, name: &str) -> usize {
        if let Some(&i) = self.group_index.get(name) {
            return i;
        }
        self.groups.push((name.to_owned(), FieldAcc::default()));
        self.group_index
            .insert(name.to_owned(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// Where callsite `id` keeps the field, and its group unless it depends on the span.
    fn slot(&mut self, context: &Context, id: u64, field: &str) -> FieldSlot {
        let callsite = context.callsite(id)?;
        let index = callsite.fields.iter().position(|f| f == field)?;
        let group = match self.query.by {
            GroupBy::All => Some(self.group("all")),
            GroupBy::Target => Some(self.group(&callsite.target)),
            GroupBy::Callsite => {
                let mut name = format!("{} {}", callsite.target, callsite.name);
                if let Some(file) = &callsite.file {
                    let at = match callsite.line {
                        Some(line) => format!("{file}:{line}"),
                        None => file.clone(),
                    };
                    if !callsite.name.contains(&at) {
                        name = format!("{name} ({at})");
                    }
                }
                Some(self.group(&name))
            }
            GroupBy::Span => None,
        };
        Some((index, group))
    }

    /// Reads `file` (named `path` in messages) to its end with these clock pairs (its
    /// header's, or a series' from [`series_clocks`](crate::input::series_clocks)) and adds
    /// what it holds. Returns the exit status it calls for; failures and damage get a line on
    /// `diagnostics`.
    pub fn add<R: Read>(
        &mut self,
        path: &Path,
        mut file: FileReader<R>,
        clocks: &[Clock],
        diagnostics: &mut dyn Write,
    ) -> Exit {
        let mut exit = Exit::Ok;
        let mut context = Context::new();
        for pair in clocks {
            context.add_clock(*pair);
        }
        let spans = self.query.spans;
        let field = self.query.field.clone();
        let filtered = !self.query.filter.is_empty();
        let mut transits: HashMap<u64, Transit> = HashMap::new();
        let mut slots: HashMap<u64, FieldSlot> = HashMap::new();
        while let Some(record) = crate::input::next_record(&mut file, path, diagnostics, &mut exit)
        {
            if clocks.len() > 1 && matches!(record, Record::Clock(_)) {
                continue;
            }
            if spans {
                match &record {
                    Record::SpanNew(s) => {
                        transits.remove(&s.id);
                    }
                    Record::SpanEnter(t) => {
                        let transit = transits.entry(t.id).or_default();
                        if transit.active == 0 {
                            transit.since = t.time;
                        }
                        transit.active += 1;
                    }
                    Record::SpanExit(t) => {
                        if let Some(transit) = transits.get_mut(&t.id)
                            && transit.active > 0
                        {
                            transit.active -= 1;
                            if transit.active == 0 {
                                transit.busy = transit
                                    .busy
                                    .saturating_add(t.time.saturating_sub(transit.since));
                            }
                        }
                    }
                    Record::SpanClose(c) => {
                        let transit = transits.remove(&c.id);
                        self.close(&context, c.id, c.time, None, transit);
                    }
                    Record::SpanCloseTimes(c) => {
                        transits.remove(&c.id);
                        self.close(&context, c.id, c.time, Some((c.busy, c.idle)), None);
                    }
                    _ => {}
                }
            }
            let known = context.apply(&record);
            if let (true, Some(field), Record::Event(event)) = (known, &field, record) {
                let slot = match slots.get(&event.callsite) {
                    Some(slot) => *slot,
                    None => {
                        let slot = self.slot(&context, event.callsite, field);
                        slots.insert(event.callsite, slot);
                        slot
                    }
                };
                if filtered {
                    let Some(event) = context.event(event) else {
                        continue;
                    };
                    if !self.query.filter.matches(&event) {
                        continue;
                    }
                    self.events += 1;
                    let Some((index, group)) = slot else {
                        continue;
                    };
                    let group = match group {
                        Some(group) => group,
                        None => self.group(
                            event
                                .spans
                                .last()
                                .map_or("(no span)", |s| s.callsite.name.as_str()),
                        ),
                    };
                    if let Some(value) = event.event.values.get(index)
                        && self.groups[group].1.value(value)
                    {
                        self.with_field += 1;
                    }
                } else {
                    self.events += 1;
                    let Some((index, group)) = slot else {
                        continue;
                    };
                    let group = match group {
                        Some(group) => group,
                        None => {
                            let name = event
                                .parent
                                .and_then(|p| context.span(p))
                                .map_or("(no span)", |s| s.callsite.name.as_str());
                            self.group(name)
                        }
                    };
                    let value = match event.values.get(index) {
                        Some(Value::Interned(id)) => context.resolve(*id),
                        Some(value) => value.clone(),
                        None => continue,
                    };
                    if self.groups[group].1.value(&value) {
                        self.with_field += 1;
                    }
                }
            }
        }
        if let Some((line, damage)) = damage_report(path, file.stats(), context.orphans()) {
            let _ = writeln!(diagnostics, "logbuf: {line}");
            exit = exit.worst(damage);
        }
        exit
    }

    /// Counts span `id` closing at tick `time`, if it is known and passes the filters.
    fn close(
        &mut self,
        context: &Context,
        id: u64,
        time: u64,
        times: Option<(u64, u64)>,
        transit: Option<Transit>,
    ) {
        let Some(span) = context.span(id) else {
            return;
        };
        if !self.query.filter.is_empty() {
            let scope = context.scope(span.parent);
            let matches = self.query.filter.matches_span(
                span,
                &scope,
                context.thread_name(span.thread),
                context.unix_nanos(span.time),
            );
            if !matches {
                return;
            }
        }
        let life = time.saturating_sub(span.time);
        let busy_idle = match (times, transit) {
            (Some(times), _) => {
                self.from_close_times += 1;
                Some(times)
            }
            (None, Some(t)) => {
                self.from_transitions += 1;
                let open = if t.active > 0 {
                    time.saturating_sub(t.since)
                } else {
                    0
                };
                let busy = t.busy.saturating_add(open).min(life);
                Some((busy, life - busy))
            }
            (None, None) => None,
        };
        self.closed += 1;
        let key = (span.callsite.name.clone(), span.callsite.target.clone());
        let acc = self.spans.entry(key).or_default();
        acc.duration.push(context.duration_nanos(life));
        if let Some((busy, idle)) = busy_idle {
            acc.busy.push(context.duration_nanos(busy));
            acc.idle.push(context.duration_nanos(idle));
        }
    }

    /// The report: values sorted, groups ordered.
    pub fn finish(self) -> Report {
        let spans = self.query.spans.then(|| {
            let mut groups: Vec<SpanGroup> = self
                .spans
                .into_iter()
                .filter_map(|((name, target), acc)| {
                    Some(SpanGroup {
                        name,
                        target,
                        duration: Durations::new(acc.duration)?,
                        busy: Durations::new(acc.busy),
                        idle: Durations::new(acc.idle),
                    })
                })
                .collect();
            groups.sort_by(|a, b| {
                b.duration
                    .total
                    .cmp(&a.duration.total)
                    .then_with(|| (&a.name, &a.target).cmp(&(&b.name, &b.target)))
            });
            SpanReport {
                groups,
                closed: self.closed,
                from_close_times: self.from_close_times,
                from_transitions: self.from_transitions,
            }
        });
        let field = self.query.field.map(|field| {
            let mut groups: Vec<FieldGroup> = self
                .groups
                .into_iter()
                .filter(|(_, acc)| !acc.numbers.is_empty() || acc.text_count > 0)
                .map(|(name, mut acc)| {
                    acc.numbers.sort_unstable_by(f64::total_cmp);
                    let mut texts: Vec<(String, u64)> = acc.texts.into_iter().collect();
                    texts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    FieldGroup {
                        name,
                        summary: Summary::of_sorted(&acc.numbers),
                        // Summed in sorted order: the same whatever order the files came in.
                        mean: (!acc.numbers.is_empty())
                            .then(|| acc.numbers.iter().sum::<f64>() / acc.numbers.len() as f64),
                        numbers: acc.numbers,
                        texts,
                        text_count: acc.text_count,
                    }
                })
                .collect();
            groups.sort_by(|a, b| {
                let count = |g: &FieldGroup| g.numbers.len() as u64 + g.text_count;
                count(b).cmp(&count(a)).then_with(|| a.name.cmp(&b.name))
            });
            FieldReport {
                field,
                by: self.query.by,
                events: self.events,
                with_field: self.with_field,
                groups,
            }
        });
        Report { spans, field }
    }
}

/// Reads every file in `paths` (a rotated series with one clock) and gathers the report `query`
/// asks for; failures and damage get a line on `diagnostics`.
pub fn collect(paths: &[PathBuf], query: &Query, diagnostics: &mut dyn Write) -> (Report, Exit) {
    let (files, mut exit) = crate::input::open_series(paths, diagnostics);
    let mut collector = Collector::new(query.clone());
    for (path, file, clocks) in files {
        exit = exit.worst(collector.add(&path, file, &clocks, diagnostics));
    }
    (collector.finish(), exit)
}

/// A number as the reports write it: integers without a fraction, others with up to three
/// decimals (or in exponent form when very large or very small).
///
/// ```
/// use logbuf_cli::query::format_number;
/// assert_eq!(format_number(200.0), "200");
/// assert_eq!(format_number(0.25), "0.25");
/// assert_eq!(format_number(2.0 / 3.0), "0.667");
/// ```
pub fn format_number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    if v != 0.0 && v.is_finite() && (v.abs() >= 1e15 || v.abs() < 1e-3) {
        return format!("{v:.3e}");
    }
    let text = format!("{v:.3}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

impl Report {
    /// Writes the report as text; `top` limits the span names and text values listed.
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub fn write_text(&self, out: &mut dyn Write, top: usize) -> io::Result<()> {
        if let Some(spans) = &self.spans {
            write_spans(spans, out, top)?;
        }
        if let Some(field) = &self.field {
            if self.spans.is_some() {
                writeln!(out)?;
            }
            write_field(field, out, top)?;
        }
        Ok(())
    }

    /// The report as one JSON value: `{"spans": ..., "field": ...}`, each present when asked
    /// for. Durations are integers of nanoseconds (`*_ns`); every span name is listed, and the
    /// `top` most frequent text values of each group.
    pub fn json(&self, top: usize) -> Json {
        let mut object = serde_json::Map::new();
        if let Some(spans) = &self.spans {
            let groups: Vec<Json> = spans
                .groups
                .iter()
                .map(|g| {
                    json!({
                        "name": g.name,
                        "target": g.target,
                        "count": g.duration.summary.count,
                        "duration": g.duration.json(),
                        "busy": g.busy.as_ref().map(Durations::json),
                        "idle": g.idle.as_ref().map(Durations::json),
                    })
                })
                .collect();
            object.insert(
                "spans".into(),
                json!({
                    "closed": spans.closed,
                    "times_from_close_records": spans.from_close_times,
                    "times_from_enter_exit": spans.from_transitions,
                    "groups": groups,
                }),
            );
        }
        if let Some(field) = &self.field {
            let groups: Vec<Json> = field
                .groups
                .iter()
                .map(|g| {
                    let numeric = g.summary.map(|s| {
                        json!({
                            "count": s.count, "min": s.min, "p50": s.p50, "p90": s.p90,
                            "p99": s.p99, "max": s.max, "mean": g.mean,
                        })
                    });
                    let top: Vec<Json> = g
                        .texts
                        .iter()
                        .take(top)
                        .map(|(value, count)| json!({"value": value, "count": count}))
                        .collect();
                    json!({
                        "group": g.name,
                        "numeric": numeric,
                        "text": {"count": g.text_count, "distinct": g.texts.len(), "top": top},
                    })
                })
                .collect();
            object.insert(
                "field".into(),
                json!({
                    "name": field.field,
                    "by": field.by.label(),
                    "events": field.events,
                    "with_field": field.with_field,
                    "groups": groups,
                }),
            );
        }
        Json::Object(object)
    }
}

fn write_spans(spans: &SpanReport, out: &mut dyn Write, top: usize) -> io::Result<()> {
    let shown = top.min(spans.groups.len());
    writeln!(
        out,
        "spans closed: {} ({} with busy/idle from close records, {} from enter/exit records)",
        crate::stats::thousands(spans.closed),
        crate::stats::thousands(spans.from_close_times),
        crate::stats::thousands(spans.from_transitions),
    )?;
    writeln!(
        out,
        "span names by total time: {shown} of {} (exact nearest-rank percentiles)",
        spans.groups.len()
    )?;
    for g in spans.groups.iter().take(top) {
        writeln!(
            out,
            "\n{} ({}): {} span{}",
            g.name,
            g.target,
            crate::stats::thousands(g.duration.summary.count),
            plural(g.duration.summary.count)
        )?;
        writeln!(
            out,
            "  {:<9}{:>12}{:>12}{:>12}{:>12}{:>12}{:>14}",
            "", "count", "p50", "p90", "p99", "max", "total"
        )?;
        for (label, d) in [
            ("duration", Some(&g.duration)),
            ("busy", g.busy.as_ref()),
            ("idle", g.idle.as_ref()),
        ] {
            let Some(d) = d else {
                continue;
            };
            let s = &d.summary;
            writeln!(
                out,
                "  {:<9}{:>12}{:>12}{:>12}{:>12}{:>12}{:>14}",
                label,
                crate::stats::thousands(s.count),
                format_duration(s.p50),
                format_duration(s.p90),
                format_duration(s.p99),
                format_duration(s.max),
                format_duration(d.total),
            )?;
        }
    }
    Ok(())
}

fn write_field(field: &FieldReport, out: &mut dyn Write, top: usize) -> io::Result<()> {
    writeln!(
        out,
        "field {}: in {} of {} event{} (exact nearest-rank percentiles)",
        field.field,
        crate::stats::thousands(field.with_field),
        crate::stats::thousands(field.events),
        plural(field.events),
    )?;
    let numeric: Vec<&FieldGroup> = field
        .groups
        .iter()
        .filter(|g| g.summary.is_some())
        .collect();
    if !numeric.is_empty() {
        writeln!(
            out,
            "\n  {:>12}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}  {}",
            "count",
            "min",
            "p50",
            "p90",
            "p99",
            "max",
            "mean",
            match field.by {
                GroupBy::All => "group",
                by => by.label(),
            }
        )?;
        for g in numeric {
            let (Some(s), Some(mean)) = (g.summary, g.mean) else {
                continue;
            };
            writeln!(
                out,
                "  {:>12}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}  {}",
                crate::stats::thousands(s.count),
                format_number(s.min),
                format_number(s.p50),
                format_number(s.p90),
                format_number(s.p99),
                format_number(s.max),
                format_number(mean),
                g.name
            )?;
        }
    }
    for g in field.groups.iter().filter(|g| g.text_count > 0) {
        let shown = top.min(g.texts.len());
        writeln!(
            out,
            "\n  text values, {}: {} in {} distinct, top {shown}:",
            g.name,
            crate::stats::thousands(g.text_count),
            crate::stats::thousands(g.texts.len() as u64),
        )?;
        for (value, count) in g.texts.iter().take(top) {
            writeln!(out, "  {:>12}  {value}", crate::stats::thousands(*count))?;
        }
    }
    Ok(())
}
