//! `logbuf cat`'s decode-and-render rate: a journal file of a few million events, generated
//! into a temporary directory, decoded and rendered to text and to JSON lines through the
//! command's library (`logbuf_cli::cat::run_paths`, the code `logbuf cat` runs, without the
//! process), output discarded. Beside it: decoding alone (`read::Reader`, no rendering), and
//! tracing-subscriber's `fmt` formatting the same events in process, as the peer's text cost.
//!
//! ```text
//! chrt -f 10 cargo bench -p logbuf-benches --bench cli_decode
//! # knobs: --events N (2000000), --rounds N (5)      env LOGBUF_BENCH_EVENTS, LOGBUF_BENCH_ROUNDS
//! #        --only N: run one row (1 decode, 2 text, 3 JSON, 4 peer, 5 decode via Reader,
//! #        6 text on 2 threads, 7 JSON on 2 threads), for profiling
//! ```
//!
//! Events as in the `journal` bench, `info!(user_id, latency_ms, ok, "request handled")`, each
//! inside a `request{path}` span (a new span every 100 events), so the text shows a span
//! context as real logs do.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use logbuf_benches::{Table, fmt, machine, median, setting};
use logbuf_cli::cat::{self, Options};
use logbuf_cli::render::Format;
use logbuf_journal::read::Reader;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{FullPolicy, Journal};

/// Writes `events` events to a journal file at `path`; returns its size in bytes.
fn generate(path: &Path, events: u64) -> u64 {
    let (journal, guard) = Journal::builder()
        .ring_capacity(8 << 20)
        .policy(FullPolicy::Block)
        .file(path)
        .expect("journal file")
        .build()
        .expect("journal");
    let span = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "bench::cli",
        name: "request",
        module_path: Some("bench::cli"),
        file: Some("benches/cli_decode.rs"),
        line: Some(30),
        fields: vec!["path"],
    });
    let event = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "bench::cli",
        name: "event benches/cli_decode.rs:40",
        module_path: Some("bench::cli"),
        file: Some("benches/cli_decode.rs"),
        line: Some(40),
        fields: vec!["message", "user_id", "latency_ms", "ok"],
    });
    let mut id = 0;
    for i in 0..events {
        if i % 100 == 0 {
            if id > 0 {
                journal.write(32, |enc, at| enc.span_exit(id, at.time, at.thread));
                journal.write(32, |enc, at| enc.span_close(id, at.time));
            }
            id += 1;
            journal.write(64, |enc, at| {
                enc.span_new(id, None, span, at.time, at.thread, 1);
                enc.value_str("/users");
            });
            journal.write(32, |enc, at| enc.span_enter(id, at.time, at.thread));
        }
        journal.write(64, |enc, at| {
            enc.event(event, at.time, at.thread, Some(id), 4);
            enc.value_str("request handled");
            enc.value_u64(i);
            enc.value_f64(0.25);
            enc.value_bool(true);
        });
    }
    drop(guard);
    std::fs::metadata(path).expect("file").len()
}

/// Counts bytes written and throws them away.
#[derive(Default)]
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Seconds to decode and render every event of `path` in `format` on `jobs` threads, and
/// bytes written.
fn cat_once(path: &PathBuf, format: Format, jobs: usize, events: u64) -> (f64, u64) {
    let options = Options {
        format,
        jobs,
        ..Options::default()
    };
    let mut out = Count::default();
    let mut diagnostics = Vec::new();
    let start = Instant::now();
    let summary = cat::run_paths(
        std::slice::from_ref(path),
        &options,
        &mut out,
        &mut diagnostics,
    )
    .expect("cat");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        summary.events_written,
        events,
        "{}",
        String::from_utf8_lossy(&diagnostics)
    );
    (secs, out.0)
}

/// Seconds to decode every event with its context as `logbuf cat` does (`cat::Source`),
/// rendering nothing.
fn decode_once(path: &Path, events: u64) -> f64 {
    let start = Instant::now();
    let file = logbuf_cli::input::open_journal(path).expect("open");
    let mut source = cat::Source::new(path.to_path_buf(), file);
    let mut n = 0u64;
    let mut sum = 0u64;
    source
        .visit(|item, _| {
            n += 1;
            if let cat::Item::Event(event) = item {
                sum = sum.wrapping_add(event.unix_nanos.unwrap_or(0) ^ event.spans.len() as u64);
            }
            false
        })
        .expect("read");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(n, events);
    std::hint::black_box(sum);
    secs
}

/// Seconds to decode every event with `read::Reader` (which decodes each event twice so that
/// it can return it), rendering nothing.
fn reader_once(path: &Path, events: u64) -> f64 {
    let start = Instant::now();
    let mut reader = Reader::open(path).expect("open");
    let mut n = 0u64;
    let mut sum = 0u64;
    while let Some(event) = reader.next_event() {
        let event = event.expect("read");
        n += 1;
        sum = sum.wrapping_add(event.unix_nanos.unwrap_or(0) ^ event.spans.len() as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(n, events);
    std::hint::black_box(sum);
    secs
}

/// Seconds for tracing-subscriber's `fmt` (no colours) to format `events` events with the same
/// fields inside a span, to a writer that discards; and bytes written.
fn tracing_fmt_once(events: u64) -> (f64, u64) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<u64>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            *self.0.lock().expect("count") += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let counter = Shared::default();
    let writer = counter.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let start = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        let mut i = 0;
        while i < events {
            let span = tracing::info_span!(target: "bench::cli", "request", path = "/users");
            let _entered = span.enter();
            for _ in 0..100.min(events - i) {
                tracing::info!(target: "bench::cli", user_id = i, latency_ms = 0.25, ok = true, "request handled");
                i += 1;
            }
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let bytes = *counter.0.lock().expect("count");
    (secs, bytes)
}

fn main() {
    let events = setting("events", "LOGBUF_BENCH_EVENTS", 2_000_000) as u64;
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 5);
    let only = setting("only", "LOGBUF_BENCH_ONLY", 0);
    println!("## cli_decode\n\nmachine: {}\n", machine());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.lbf");
    let size = generate(&path, events);
    println!(
        "file: {events} events, {size} bytes ({:.1} bytes per event)\n",
        size as f64 / events as f64
    );

    let mut decode = Vec::new();
    let mut reader = Vec::new();
    let mut text = Vec::new();
    let mut json = Vec::new();
    let mut text2 = Vec::new();
    let mut json2 = Vec::new();
    let mut peer = Vec::new();
    let (mut text_bytes, mut json_bytes, mut peer_bytes) = (0, 0, 0);
    // The order rotates so that no variant always runs on a warm or cold cache.
    for round in 0..rounds {
        for step in 0..7 {
            let row = (round + step) % 7;
            if only != 0 && row + 1 != only {
                continue;
            }
            match row {
                0 => decode.push(events as f64 / decode_once(&path, events)),
                4 => reader.push(events as f64 / reader_once(&path, events)),
                1 => {
                    let (secs, bytes) = cat_once(&path, Format::Text { color: false }, 1, events);
                    text.push(events as f64 / secs);
                    text_bytes = bytes;
                }
                2 => {
                    let (secs, bytes) = cat_once(&path, Format::Json, 1, events);
                    json.push(events as f64 / secs);
                    json_bytes = bytes;
                }
                3 => {
                    let (secs, bytes) = tracing_fmt_once(events);
                    peer.push(events as f64 / secs);
                    peer_bytes = bytes;
                }
                5 => {
                    let (secs, _) = cat_once(&path, Format::Text { color: false }, 2, events);
                    text2.push(events as f64 / secs);
                }
                6 => {
                    let (secs, _) = cat_once(&path, Format::Json, 2, events);
                    json2.push(events as f64 / secs);
                }
                _ => unreachable!(),
            }
        }
    }
    if only != 0 {
        return;
    }
    let (text2, json2) = (median(&mut text2), median(&mut json2));
    let (decode, reader, text, json, peer) = (
        median(&mut decode),
        median(&mut reader),
        median(&mut text),
        median(&mut json),
        median(&mut peer),
    );
    let per_event = size as f64 / events as f64;
    let mut t = Table::new([
        "path",
        "M events/s (median)",
        "MB/s of journal read",
        "MB/s written",
        "vs tracing fmt",
        "target",
    ]);
    let mut row = |name: &str, rate: f64, out_bytes: Option<u64>, target: &str| {
        t.row([
            name.to_string(),
            fmt(rate / 1e6, 2),
            fmt(rate * per_event / 1e6, 0),
            out_bytes.map_or_else(
                || "-".to_string(),
                |b| fmt(rate * b as f64 / events as f64 / 1e6, 0),
            ),
            format!("{:.2}x", rate / peer),
            target.to_string(),
        ]);
    };
    row("decode only, as cat does (cat::Source)", decode, None, "");
    row("decode only, read::Reader", reader, None, "");
    row(
        "logbuf cat, text (cat::run_paths)",
        text,
        Some(text_bytes),
        ">= 2 M events/s",
    );
    row("logbuf cat --json", json, Some(json_bytes), "");
    row(
        "logbuf cat -j 2, text (2 threads, parallel::run_file)",
        text2,
        Some(text_bytes),
        ">= 2 M events/s",
    );
    row("logbuf cat -j 2 --json", json2, Some(json_bytes), "");
    row(
        "peer: tracing-subscriber fmt, formatting live events",
        peer,
        Some(peer_bytes),
        "",
    );
    println!("{events} events per round, {rounds} rounds, medians over rounds\n");
    println!("{}", t.render());
}
