//! The journal's costs: what the logging thread pays per event, how fast the worker writes a
//! binary file (with one thread logging at the same time; and alone, merging 1, 2 or 16
//! threads' rings in one pass), and how many bytes an event takes on disk beside
//! tracing-subscriber's text.
//!
//! ```text
//! chrt -f 10 cargo bench -p logbuf-benches --bench journal
//! # knobs: --events N (1000000), --rounds N (5)      env LOGBUF_BENCH_EVENTS, LOGBUF_BENCH_ROUNDS
//! ```
//!
//! The event has three fields besides its message, as in
//! `info!(user_id = 42u64, latency_ms = 0.25, ok = true, "request handled")`, and is written as
//! the front ends write it: the message, which has no arguments, as the id of a string
//! interned once. Bytes per event are also measured through the tracing layer itself, for
//! that very `info!`.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;
use logbuf_benches::{Table, cycles, fmt, machine, median, setting};
use logbuf_journal::sink::Entry;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{FullPolicy, Journal, Rings, Sink, Written};

/// Threads (one ring each) of the worker-alone figures.
const WORKER_THREADS: [u64; 3] = [1, 2, 16];

/// Throws records away, counting them: isolates the logging thread's cost from disk speed.
struct Discard(Arc<AtomicU64>);

impl Sink for Discard {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        self.0
            .fetch_add(entry.bytes().len() as u64, Ordering::Relaxed);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The callsite's id and the id of its interned message.
fn callsite(journal: &Journal) -> (u64, u64) {
    let id = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "bench::journal",
        name: "event benches/journal.rs:40",
        module_path: Some("bench::journal"),
        file: Some("benches/journal.rs"),
        line: Some(40),
        fields: vec!["message", "user_id", "latency_ms", "ok"],
    });
    (id, journal.intern("request handled"))
}

/// One event, as a front end writes it.
#[inline(always)]
fn log(journal: &Journal, (cs, message): (u64, u64), i: u64) -> Written {
    journal.write(48, |enc, at| {
        enc.event(cs, at.time, at.thread, None, 4);
        enc.value_interned(message);
        enc.value_u64(i);
        enc.value_f64(0.25);
        enc.value_bool(true);
    })
}

/// Per-event cost on the logging thread while the worker drains concurrently.
/// Also returns the mean over batches of 1000 events timed together, which carries no
/// timed-region overhead.
fn hot_path(events: u64, rings: Rings) -> (Histogram<u64>, u64, f64) {
    let bytes = Arc::new(AtomicU64::new(0));
    let (journal, guard) = Journal::builder()
        .rings(rings)
        .ring_capacity(64 << 20)
        .sink(Discard(bytes.clone()))
        .build()
        .expect("journal");
    let cs = callsite(&journal);
    log(&journal, cs, 0); // the thread's ring is created on its first write
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let mut dropped = 0;
    for i in 0..events {
        let t0 = cycles::start();
        let written = log(&journal, cs, i);
        let t1 = cycles::stop();
        hist.saturating_record(t1 - t0);
        dropped += u64::from(written == Written::Dropped);
    }
    let mut batched = 0;
    for b in 0..events / 1000 {
        let t0 = cycles::start();
        for i in 0..1000 {
            dropped += u64::from(log(&journal, cs, b * 1000 + i) == Written::Dropped);
        }
        batched += cycles::stop() - t0;
    }
    drop(guard);
    (
        hist,
        dropped,
        batched as f64 / (events / 1000 * 1000).max(1) as f64,
    )
}

/// Events per second from one thread to a binary file, until the file is synced.
fn to_file(events: u64) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.lbf");
    let (journal, guard) = Journal::builder()
        .ring_capacity(4 << 20)
        .policy(FullPolicy::Block)
        .file(&path)
        .expect("file")
        .build()
        .expect("journal");
    let cs = callsite(&journal);
    let start = Instant::now();
    for i in 0..events {
        log(&journal, cs, i);
    }
    drop(guard); // drains, writes, syncs
    let secs = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).expect("file").len();
    (events as f64 / secs, size)
}

/// The worker alone: `threads` threads fill their rings with `events` events in all while the
/// worker sleeps, then the worker writes them all, merged in time order, to a binary file in
/// one pass. Events per second of that pass (one core), and the events dropped.
fn worker_alone(events: u64, threads: u64) -> (f64, u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let per_thread = events / threads;
    let (journal, guard) = Journal::builder()
        // Room for each thread's share: an event takes about 60 bytes in the ring.
        .ring_capacity((per_thread as usize * 64).next_power_of_two())
        .idle_park_interval(std::time::Duration::from_secs(3600))
        .file(dir.path().join("worker.lbf"))
        .expect("file")
        .build()
        .expect("journal");
    let cs = callsite(&journal);
    // Let the worker finish its first pass and fall asleep.
    journal.flush();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let dropped: u64 = (0..threads)
        .map(|_| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|i| u64::from(log(&journal, cs, i) == Written::Dropped))
                    .sum::<u64>()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .sum();
    let start = Instant::now();
    journal.flush();
    let secs = start.elapsed().as_secs_f64();
    drop(guard);
    ((per_thread * threads - dropped) as f64 / secs, dropped)
}

/// Bytes per event in a binary file written through the tracing layer, for the `info!` the
/// text figure is measured with.
fn layer_bytes(events: u64) -> f64 {
    use tracing_subscriber::layer::SubscriberExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("layer.lbf");
    let (layer, guard) = logbuf_tracing::LogbufLayer::builder()
        .file(&path)
        .policy(FullPolicy::Block)
        .build()
        .expect("layer");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..events {
            tracing::info!(target: "bench::journal", user_id = i, latency_ms = 0.25, ok = true, "request handled");
        }
    });
    drop(guard);
    std::fs::metadata(&path).expect("file").len() as f64 / events as f64
}

/// Counts bytes written.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<u64>>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        *self.0.lock().expect("counter") += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes tracing-subscriber's default `fmt` output takes for the same events (no ANSI).
fn text_bytes(events: u64) -> u64 {
    let counter = Counter::default();
    let writer = counter.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..events {
            tracing::info!(target: "bench::journal", user_id = i, latency_ms = 0.25, ok = true, "request handled");
        }
    });
    *counter.0.lock().expect("counter")
}

fn main() {
    let events = setting("events", "LOGBUF_BENCH_EVENTS", 1_000_000) as u64;
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 5);
    let per_ns = cycles::ticks_per_ns(200);
    println!(
        "## journal\n\nmachine: {}\nunit: {} ({per_ns:.3} per ns)\n",
        machine(),
        cycles::UNIT
    );

    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut mean = Vec::new();
    let mut batch_mean = Vec::new();
    let mut drops = 0;
    let mut rates = Vec::new();
    let mut size = 0;
    let mut shared_p50 = Vec::new();
    let mut shared_batch = Vec::new();
    let mut alone: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        let (hist, dropped, batched) = hot_path(events, Rings::Shared);
        shared_batch.push(batched);
        shared_p50.push(hist.value_at_quantile(0.5) as f64);
        drops += dropped;
        let (hist, dropped, batched) = hot_path(events, Rings::PerThread);
        batch_mean.push(batched);
        p50.push(hist.value_at_quantile(0.5) as f64);
        p99.push(hist.value_at_quantile(0.99) as f64);
        mean.push(hist.mean());
        drops += dropped;
        let (rate, bytes) = to_file(events);
        rates.push(rate);
        size = bytes;
        for (i, threads) in WORKER_THREADS.into_iter().enumerate() {
            let (rate, dropped) = worker_alone(events, threads);
            alone[i].push(rate);
            drops += dropped;
        }
    }
    let (p50, p99, mean) = (median(&mut p50), median(&mut p99), median(&mut mean));
    let batch_mean = median(&mut batch_mean);
    let (overhead, _) = cycles::overhead(100_000);
    let rate = median(&mut rates);
    let mut t = Table::new(["figure", "value", "target"]);
    t.row([
        "hot path, encode + commit, p50".into(),
        format!("{} cyc, {} ns", fmt(p50, 0), fmt(p50 / per_ns, 1)),
        "< 50 ns".to_string(),
    ]);
    t.row([
        "hot path, p99".into(),
        format!("{} cyc, {} ns", fmt(p99, 0), fmt(p99 / per_ns, 1)),
        String::new(),
    ]);
    t.row([
        "hot path, mean over batches of 1000 (no timer cost)".into(),
        format!(
            "{} cyc, {} ns",
            fmt(batch_mean, 1),
            fmt(batch_mean / per_ns, 1)
        ),
        "< 50 ns".to_string(),
    ]);
    let (shared_p50, shared_batch) = (median(&mut shared_p50), median(&mut shared_batch));
    t.row([
        "hot path, shared MPSC ring (`Rings::Shared`), p50".into(),
        format!(
            "{} cyc, {} ns",
            fmt(shared_p50, 0),
            fmt(shared_p50 / per_ns, 1)
        ),
        String::new(),
    ]);
    t.row([
        "hot path, shared MPSC ring, mean over batches of 1000".into(),
        format!(
            "{} cyc, {} ns",
            fmt(shared_batch, 1),
            fmt(shared_batch / per_ns, 1)
        ),
        String::new(),
    ]);
    t.row([
        "hot path, mean".into(),
        format!("{} cyc, {} ns", fmt(mean, 1), fmt(mean / per_ns, 1)),
        String::new(),
    ]);
    t.row([
        "worker to a binary file (1 thread, synced)".into(),
        format!(
            "{} M events/s, {} MB/s",
            fmt(rate / 1e6, 2),
            fmt(rate * size as f64 / events as f64 / 1e6, 0)
        ),
        ">= 5 M events/s".to_string(),
    ]);
    for (threads, rates) in WORKER_THREADS.into_iter().zip(&mut alone) {
        t.row([
            format!("worker alone, {threads} ring(s) merged, to a binary file (one pass)"),
            format!("{} M events/s", fmt(median(rates) / 1e6, 2)),
            String::new(),
        ]);
    }
    let per_event = size as f64 / events as f64;
    let text = text_bytes(events.min(200_000)) as f64 / events.min(200_000) as f64;
    let layer = layer_bytes(events.min(200_000));
    t.row([
        "bytes per event, binary file".into(),
        fmt(per_event, 1),
        String::new(),
    ]);
    t.row([
        "bytes per event, binary file through the tracing layer".into(),
        fmt(layer, 1),
        String::new(),
    ]);
    t.row([
        "bytes per event, tracing-subscriber fmt text".into(),
        fmt(text, 1),
        String::new(),
    ]);
    t.row([
        "binary / text".into(),
        format!("{:.2}", per_event / text),
        "<= 0.33".to_string(),
    ]);
    t.row([
        "binary through the tracing layer / text".into(),
        format!("{:.2}", layer / text),
        "<= 0.33".to_string(),
    ]);
    println!(
        "{events} events per round, {rounds} rounds, medians over rounds; events dropped in the hot-path runs: {drops}; \
         per-event figures include the timed region's own cost ({overhead} cyc median) except the batch mean\n"
    );
    println!("{}", t.render());
}
