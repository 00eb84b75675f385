//! `logbuf stats --spans` and `--field` beside `logbuf cat`, under criterion, over one
//! generated rotated series: events per second of the whole series, through the command's
//! library (`logbuf_cli::query::collect` and `logbuf_cli::cat::run_paths`, the code the
//! command runs, without the process). The target: statistics at no less than half of `cat`'s
//! rate.
//!
//! ```text
//! cargo bench -p logbuf-benches --bench stats_query
//! # knobs: env LOGBUF_BENCH_EVENTS (2000000), LOGBUF_BENCH_ROTATE_MB (16)
//! ```
//!
//! The series: `info!(user_id, latency_ms, ok, "request handled")` inside `request{path}`
//! spans (a new span every 100 events, entered and closed with its busy and idle times, as the
//! tracing layer writes them), through the rotating binary sink, rotated by size.
//!
//! - `cat_text`: `logbuf cat` on the series (the files merged in time order), text discarded.
//! - `cat_decode_only`: every file decoded with context as `cat` does (`cat::Source`),
//!   rendering nothing: the floor under any reader.
//! - `stats_spans`: `logbuf stats --spans`.
//! - `stats_field`: `logbuf stats --field latency_ms`.
//! - `stats_field_by_span`: `logbuf stats --field latency_ms --by span`.
//! - `stats_spans_field_filtered`: `--spans --field latency_ms --level info --span request`:
//!   filters make every event's context be built.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logbuf_benches::setting;
use logbuf_cli::cat::{self, Options};
use logbuf_cli::filter::Filter;
use logbuf_cli::query::{self, GroupBy, Query};
use logbuf_cli::render::Format;
use logbuf_journal::rotate::{Current, Rotation};
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{FullPolicy, Journal};

/// Writes `events` events as a series rotated every `rotate` bytes into `dir`; returns the
/// files, oldest first, and their total size.
fn generate(dir: &Path, events: u64, rotate: u64) -> (Vec<PathBuf>, u64) {
    let (journal, guard) = Journal::builder()
        .ring_capacity(8 << 20)
        .policy(FullPolicy::Block)
        .rotating_file(
            dir.join("bench.lbf"),
            Rotation::size(rotate).current(Current::None),
        )
        .expect("journal file")
        .build()
        .expect("journal");
    let span = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "bench::stats",
        name: "request",
        module_path: Some("bench::stats"),
        file: Some("benches/stats_query.rs"),
        line: Some(50),
        fields: vec!["path"],
    });
    let event = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "bench::stats",
        name: "event benches/stats_query.rs:60",
        module_path: Some("bench::stats"),
        file: Some("benches/stats_query.rs"),
        line: Some(60),
        fields: vec!["message", "user_id", "latency_ms", "ok"],
    });
    let mut id = 0;
    let mut opened = 0;
    for i in 0..events {
        if i % 100 == 0 {
            if id > 0 {
                journal.write(48, |enc, at| {
                    let life = at.time.saturating_sub(opened);
                    enc.span_close_times(id, at.time, life / 2, life - life / 2);
                });
            }
            id += 1;
            journal.write(64, |enc, at| {
                opened = at.time;
                enc.span_new(id, None, span, at.time, at.thread, 1);
                enc.value_str(if id % 3 == 0 { "/orders" } else { "/users" });
            });
        }
        journal.write(64, |enc, at| {
            enc.event(event, at.time, at.thread, Some(id), 4);
            enc.value_str("request handled");
            enc.value_u64(i % 500);
            enc.value_f64((i * 7_919 % 50_000) as f64 / 10.0);
            enc.value_bool(true);
        });
    }
    drop(guard);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "lbf"))
        .collect();
    files.sort();
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("file").len())
        .sum();
    (files, bytes)
}

/// Throws output away.
struct Discard;

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let events = setting("events", "LOGBUF_BENCH_EVENTS", 2_000_000) as u64;
    let rotate = (setting("rotate-mb", "LOGBUF_BENCH_ROTATE_MB", 16) as u64) << 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let (files, bytes) = generate(dir.path(), events, rotate);
    println!(
        "series: {events} events in {} files, {bytes} bytes ({:.1} bytes per event)",
        files.len(),
        bytes as f64 / events as f64
    );

    let mut group = c.benchmark_group("stats_query");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(15));

    group.bench_function("cat_text", |b| {
        let options = Options {
            format: Format::Text { color: false },
            jobs: 1,
            ..Options::default()
        };
        b.iter(|| {
            let mut diagnostics = Vec::new();
            let summary =
                cat::run_paths(&files, &options, &mut Discard, &mut diagnostics).expect("cat");
            assert_eq!(summary.events_written, events);
        })
    });
    group.bench_function("cat_decode_only", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for path in &files {
                let file = logbuf_cli::input::open_journal(path).expect("open");
                let mut source = cat::Source::new(path.clone(), file);
                source
                    .visit(|item, _| {
                        if let cat::Item::Event(event) = item {
                            n += u64::from(event.unix_nanos.is_some());
                        }
                        false
                    })
                    .expect("read");
            }
            assert_eq!(n, events);
        })
    });
    let field = Some("latency_ms".to_owned());
    let queries = [
        (
            "stats_spans",
            Query {
                spans: true,
                top: 10,
                ..Query::default()
            },
        ),
        (
            "stats_field",
            Query {
                field: field.clone(),
                top: 10,
                ..Query::default()
            },
        ),
        (
            "stats_field_by_span",
            Query {
                field: field.clone(),
                by: GroupBy::Span,
                top: 10,
                ..Query::default()
            },
        ),
        (
            "stats_spans_field_filtered",
            Query {
                spans: true,
                field,
                filter: Filter {
                    level: Some(Level::Info),
                    span: Some("request".to_owned()),
                    ..Filter::default()
                },
                top: 10,
                ..Query::default()
            },
        ),
    ];
    for (name, q) in queries {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut diagnostics = Vec::new();
                let (report, _) = query::collect(&files, &q, &mut diagnostics);
                if let Some(field) = &report.field {
                    assert_eq!(field.with_field, events);
                }
                std::hint::black_box(report)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
