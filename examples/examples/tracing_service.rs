//! A small multi-threaded service logging through `LogbufLayer` into a binary journal file:
//! each request runs in a span with its own fields, logs an event when done and a warning now
//! and then. Afterwards it prints what the logging threads paid per event, what the journal
//! wrote, and the last lines of the file decoded with the reader.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example tracing_service [-- FILE]
//! ```
//!
//! Without `FILE`, the journal goes to `logbuf-service.lbf` in the system's temporary
//! directory; `tracing_read_back` reads it again.

use std::collections::VecDeque;
use std::hint::black_box;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use logbuf_journal::read::Reader;
use logbuf_journal::sink::text::TextFormat;
use logbuf_tracing::LogbufLayer;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

const THREADS: usize = 4;
const REQUESTS: u64 = 10_000;

/// Pretends to work for about `micros` microseconds.
fn work(micros: u64) -> u64 {
    let until = Instant::now() + Duration::from_micros(micros);
    let mut x = 0u64;
    while Instant::now() < until {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    x
}

/// One worker thread's requests; returns the nanoseconds each `info!` took.
fn serve(worker: usize) -> Vec<u64> {
    let mut costs = Vec::with_capacity(REQUESTS as usize);
    for i in 0..REQUESTS {
        let id = worker as u64 * REQUESTS + i;
        let path = if i % 3 == 0 {
            "/api/v1/orders"
        } else {
            "/api/v1/users"
        };
        let span = tracing::info_span!("request", id, path);
        let _entered = span.enter();
        black_box(work(2));
        let latency_us = (id * 7_919 % 50_000) as f64 / 10.0;
        let started = Instant::now();
        tracing::info!(
            user_id = i % 500,
            latency_us,
            status = 200u16,
            "request done"
        );
        costs.push(started.elapsed().as_nanos() as u64);
        if i % 5_000 == 4_999 {
            tracing::warn!(queue_depth = i / 100, "falling behind");
        }
    }
    costs
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join("logbuf-service.lbf"),
        PathBuf::from,
    );
    // Each span's close record carries its busy and idle time (`logbuf stats --spans`).
    let (layer, guard) = LogbufLayer::builder()
        .file(&path)
        .span_times(true)
        .build()?;
    let journal = layer.journal().clone();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));

    let started = Instant::now();
    let mut costs: Vec<u64> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|w| {
                let dispatch = &dispatch;
                thread::Builder::new()
                    .name(format!("worker-{w}"))
                    .spawn_scoped(s, move || {
                        tracing::dispatcher::with_default(dispatch, || serve(w))
                    })
                    .expect("worker thread")
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let elapsed = started.elapsed();
    drop(dispatch);
    drop(guard); // writes everything out and syncs the file
    let stats = journal.stats();

    costs.sort_unstable();
    println!(
        "{THREADS} threads served {} requests in {:.2?}",
        THREADS as u64 * REQUESTS,
        elapsed
    );
    println!(
        "info! on the logging threads, timed with Instant (its own ~20-40 ns included): \
         p50 {} ns, p99 {} ns, p999 {} ns",
        percentile(&costs, 0.5),
        percentile(&costs, 0.99),
        percentile(&costs, 0.999),
    );
    println!(
        "journal: {} records, {} bytes written to {} ({} bytes on disk); {} dropped",
        stats.records_written,
        stats.bytes_written,
        path.display(),
        std::fs::metadata(&path)?.len(),
        stats.dropped,
    );

    // Read the file back: every event with its callsite, thread, span chain and wall-clock
    // time, rendered as tracing-subscriber's fmt would have written it.
    let format = TextFormat::new().with_thread_names(true);
    let mut reader = Reader::open(&path)?;
    let mut last = VecDeque::new();
    let mut events = 0u64;
    while let Some(event) = reader.next_event() {
        let mut line = Vec::new();
        format.render(&event?, &mut line);
        events += 1;
        if last.len() == 5 {
            last.pop_front();
        }
        last.push_back(String::from_utf8_lossy(&line).into_owned());
    }
    println!("read back {events} events; the last ones:");
    for line in last {
        print!("  {line}");
    }
    Ok(())
}
