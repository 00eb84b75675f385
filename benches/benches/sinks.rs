//! The text and JSON sinks: what the logging thread pays per event with each sink (the point:
//! the same), how many events per second the worker formats, beside tracing-subscriber's `fmt`
//! and `json` formatters doing the same work on the logging thread.
//!
//! ```text
//! chrt -f 10 cargo bench -p logbuf-benches --bench sinks
//! # knobs: --events N (200000), --rounds N (5)      env LOGBUF_BENCH_EVENTS, LOGBUF_BENCH_ROUNDS
//! ```
//!
//! The event, in a span `request{method="GET" id=7}`:
//! `info!(user_id = 42u64, latency_us = 17.5, path = "/api/v1/orders", "request done")`.

use std::io;
use std::time::{Duration, Instant};

use logbuf_benches::{Table, cycles, fmt, fmt_ratio, machine, median, setting};
use logbuf_journal::read::Context;
use logbuf_journal::sink::json::{JsonFormat, JsonSink};
use logbuf_journal::sink::text::{TextFormat, TextSink};
use logbuf_journal::wire::{Callsite, CallsiteKind, Clock, Event, Level, Record, SpanNew, Value};
use logbuf_journal::{FullPolicy, Journal};
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::prelude::*;

/// Events timed together on the logging thread; the journal is flushed between bursts, so
/// rings never fill and no event waits or is dropped.
const BURST: u64 = 1000;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Binary,
    Text,
    Json,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Binary, Kind::Text, Kind::Json];

    fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary file",
            Kind::Text => "text sink",
            Kind::Json => "JSON sink",
        }
    }
}

/// A `LogbufLayer` writing to the sink `kind`, and its journal. With `park`, the worker sleeps
/// up to a second when idle, so that it does not run during a burst.
fn layer(
    kind: Kind,
    dir: &tempfile::TempDir,
    park: bool,
) -> (LogbufLayer, Journal, logbuf_journal::Guard) {
    let builder = Journal::builder()
        .ring_capacity(16 << 20)
        .policy(FullPolicy::Block);
    let builder = if park {
        builder.idle_park_interval(Duration::from_secs(1))
    } else {
        builder
    };
    let builder = match kind {
        Kind::Binary => builder.file(dir.path().join("bench.lbf")).expect("file"),
        Kind::Text => builder.sink(TextSink::new(io::sink())),
        Kind::Json => builder.sink(JsonSink::new(io::sink())),
    };
    let (journal, guard) = builder.build().expect("journal");
    let layer = LogbufLayer::from_journal(journal.clone()).record_enter_exit(false);
    (layer, journal, guard)
}

#[inline(always)]
fn event() {
    tracing::info!(
        user_id = 42u64,
        latency_us = 17.5,
        path = "/api/v1/orders",
        "request done"
    );
}

/// Mean cycles per event on the logging thread, in bursts, with `between` run untimed after
/// each burst.
fn bursts(events: u64, mut between: impl FnMut()) -> f64 {
    let span = tracing::info_span!("request", method = "GET", id = 7u64);
    let _entered = span.enter();
    event();
    between();
    let mut total = 0;
    for _ in 0..events / BURST {
        let t0 = cycles::start();
        for _ in 0..BURST {
            event();
        }
        total += cycles::stop() - t0;
        between();
    }
    total as f64 / (events / BURST * BURST) as f64
}

/// The logging thread's cost per event through `LogbufLayer` into sink `kind`; with `park`,
/// while the worker sleeps (the encoding and commit alone), else while it drains and formats
/// at the same time.
fn logbuf_hot(kind: Kind, events: u64, park: bool) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (layer, journal, guard) = layer(kind, &dir, park);
    let subscriber = tracing_subscriber::registry().with(layer);
    let cost = tracing::subscriber::with_default(subscriber, || {
        bursts(events, || {
            journal.flush();
        })
    });
    drop(guard);
    cost
}

/// Events per second through `LogbufLayer` into sink `kind`, from the first event until the
/// worker has written the last one: the worker's rate when it is the slower side.
fn logbuf_worker(kind: Kind, events: u64) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let (layer, journal, guard) = layer(kind, &dir, false);
    let subscriber = tracing_subscriber::registry().with(layer);
    let secs = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", method = "GET", id = 7u64);
        let _entered = span.enter();
        event();
        journal.flush();
        let start = Instant::now();
        for _ in 0..events {
            event();
        }
        journal.flush();
        start.elapsed().as_secs_f64()
    });
    drop(guard);
    events as f64 / secs
}

/// The logging thread's cost per event with tracing-subscriber formatting on it, into
/// `io::sink()`.
fn fmt_hot(json: bool, events: u64) -> f64 {
    let registry = tracing_subscriber::registry();
    if json {
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(io::sink);
        tracing::subscriber::with_default(registry.with(layer), || bursts(events, || {}))
    } else {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(io::sink);
        tracing::subscriber::with_default(registry.with(layer), || bursts(events, || {}))
    }
}

/// Events per second of the renderers alone (no decoding, no context updates, no writing):
/// the text and JSON formats of the bench's event.
fn render_rate(kind: Kind, events: u64) -> f64 {
    let mut context = Context::new();
    let records = [
        Record::Clock(Clock {
            ticks: 0,
            unix_nanos: 1_795_934_400_000_000_000,
        }),
        Record::Callsite(Callsite {
            id: 1,
            kind: CallsiteKind::Span,
            level: Level::Info,
            target: "sinks",
            name: "request",
            module_path: Some("sinks"),
            file: Some("benches/benches/sinks.rs"),
            line: Some(70),
            fields: vec!["method", "id"],
        }),
        Record::Callsite(Callsite {
            id: 2,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "sinks",
            name: "event benches/benches/sinks.rs:60",
            module_path: Some("sinks"),
            file: Some("benches/benches/sinks.rs"),
            line: Some(60),
            fields: vec!["message", "user_id", "latency_us", "path"],
        }),
        Record::SpanNew(SpanNew {
            id: 1,
            parent: None,
            callsite: 1,
            time: 10,
            thread: 1,
            values: vec![Value::Str("GET"), Value::U64(7)],
        }),
    ];
    for record in &records {
        context.apply(record);
    }
    let event = context
        .event(Event {
            callsite: 2,
            time: 1_234_567,
            thread: 1,
            parent: Some(1),
            values: vec![
                Value::Debug("request done"),
                Value::U64(42),
                Value::F64(17.5),
                Value::Str("/api/v1/orders"),
            ],
        })
        .expect("callsite");
    let text = TextFormat::new();
    let json = JsonFormat::new();
    let mut line = Vec::with_capacity(512);
    let start = Instant::now();
    for _ in 0..events {
        line.clear();
        match kind {
            Kind::Json => json.render(&event, &mut line),
            _ => text.render(&event, &mut line),
        }
        std::hint::black_box(&line);
    }
    events as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let events = setting("events", "LOGBUF_BENCH_EVENTS", 200_000) as u64;
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 5);
    let per_ns = cycles::ticks_per_ns(200);
    println!(
        "## sinks\n\nmachine: {}\nunit: {} ({per_ns:.3} per ns)\n",
        machine(),
        cycles::UNIT
    );

    // Per round: logging-thread cycles per event for each sink and for fmt text/json; worker
    // and renderer rates.
    let mut hot: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut hot_vs_binary: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut hot_vs_fmt: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut parked: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut parked_vs_binary: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut fmt_text = Vec::new();
    let mut fmt_json = Vec::new();
    let mut worker: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut render: Vec<Vec<f64>> = vec![Vec::new(); 2];
    let mut render_vs_fmt: Vec<Vec<f64>> = vec![Vec::new(); 2];
    for round in 0..rounds {
        // Each round starts with another sink, so that none is always measured first.
        let mut costs = [0.0; 3];
        for i in 0..3 {
            let k = (round + i) % 3;
            costs[k] = logbuf_hot(Kind::ALL[k], events, false);
            let cost = logbuf_hot(Kind::ALL[k], events, true);
            parked[k].push(cost);
        }
        for k in 0..3 {
            parked_vs_binary[k].push(parked[k][round] / parked[0][round]);
        }
        let text = fmt_hot(false, events);
        let json = fmt_hot(true, events);
        for (i, &c) in costs.iter().enumerate() {
            hot[i].push(c);
            hot_vs_binary[i].push(c / costs[0]);
            hot_vs_fmt[i].push(c / if i == 2 { json } else { text });
        }
        fmt_text.push(text);
        fmt_json.push(json);
        for i in 0..3 {
            let k = (round + i) % 3;
            worker[k].push(logbuf_worker(Kind::ALL[k], events));
        }
        for (i, (k, theirs)) in [(Kind::Text, text), (Kind::Json, json)]
            .into_iter()
            .enumerate()
        {
            let rate = render_rate(k, events);
            render[i].push(rate);
            // Their rate on one thread is 1 / cost.
            render_vs_fmt[i].push(rate / (per_ns * 1e9 / theirs));
        }
    }

    let ns = |cyc: f64| format!("{} cyc, {} ns", fmt(cyc, 0), fmt(cyc / per_ns, 1));
    let mut t = Table::new([
        "logging thread, per event in a span",
        "median",
        "vs logbuf + binary file",
        "vs fmt (text) / fmt json",
    ]);
    for (i, k) in Kind::ALL.iter().enumerate() {
        t.row([
            format!("LogbufLayer + {}, worker draining meanwhile", k.name()),
            ns(median(&mut hot[i])),
            fmt_ratio(median(&mut hot_vs_binary[i])),
            fmt_ratio(median(&mut hot_vs_fmt[i])),
        ]);
    }
    for (i, k) in Kind::ALL.iter().enumerate() {
        t.row([
            format!("LogbufLayer + {}, worker asleep", k.name()),
            ns(median(&mut parked[i])),
            fmt_ratio(median(&mut parked_vs_binary[i])),
            String::new(),
        ]);
    }
    let (text, json) = (median(&mut fmt_text), median(&mut fmt_json));
    t.row([
        "tracing-subscriber fmt, to io::sink".to_string(),
        ns(text),
        String::new(),
        "1.00x".to_string(),
    ]);
    t.row([
        "tracing-subscriber fmt json, to io::sink".to_string(),
        ns(json),
        String::new(),
        "1.00x".to_string(),
    ]);
    println!(
        "{events} events per round in bursts of {BURST} (the journal flushed between bursts, \
         untimed), {rounds} rounds; medians over rounds, ratios are medians of per-round ratios\n"
    );
    println!("{}", t.render());

    let mut w = Table::new(["formatting, events/s", "median", "vs fmt on its thread"]);
    for (i, k) in Kind::ALL.iter().enumerate() {
        w.row([
            format!(
                "worker, LogbufLayer + {} (first event to last written)",
                k.name()
            ),
            format!("{} M", fmt(median(&mut worker[i]) / 1e6, 2)),
            String::new(),
        ]);
    }
    for (i, name) in ["TextFormat::render", "JsonFormat::render"]
        .iter()
        .enumerate()
    {
        w.row([
            format!("{name} alone"),
            format!("{} M", fmt(median(&mut render[i]) / 1e6, 2)),
            fmt_ratio(median(&mut render_vs_fmt[i])),
        ]);
    }
    w.row([
        "tracing-subscriber fmt (1 / cost per event)".to_string(),
        format!("{} M", fmt(per_ns * 1e9 / text / 1e6, 2)),
        String::new(),
    ]);
    w.row([
        "tracing-subscriber fmt json (1 / cost per event)".to_string(),
        format!("{} M", fmt(per_ns * 1e9 / json / 1e6, 2)),
        String::new(),
    ]);
    println!("{}", w.render());
}
