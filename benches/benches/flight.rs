//! The flight recorder's costs, under criterion:
//!
//! - `logging_thread/info_recorder_off`: what the logging thread pays for
//!   `info!(user_id, latency_ms, ok, "request handled")` through `LogbufLayer` today;
//! - `logging_thread/debug_recorder_on`: the same event at `debug!` with the journal's flight
//!   recorder on (the event is held on the worker, not written). The logging thread does the
//!   same work for both: the recorder runs on the worker.
//! - `worker/plain_sink`: the worker's sink call for one such event's record, to a sink that
//!   throws it away;
//! - `worker/held_event`: the same record through a flight recorder (`Sink::recorded`) that
//!   holds it: a copy into the window, and, the window full (by bytes), the oldest discarded.
//!
//! ```text
//! cargo bench -p logbuf-benches --bench flight -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Both logging cases use 64 MiB rings and `FullPolicy::Block` into a sink that discards; the
//! events are timed in batches of 100 000, and the journal is flushed, untimed, after each, so
//! no event waits for room or is dropped: the figure is the logging thread's own, not the
//! worker's speed (the worker drains concurrently in both cases).

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logbuf_journal::recorder::FlightRecorder;
use logbuf_journal::sink::Entry;
use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, Value};
use logbuf_journal::{FullPolicy, Sink};
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::layer::SubscriberExt;

/// Events timed together, then written out untimed: about 4 MB of records, well within the
/// 64 MiB ring.
const BATCH: u64 = 100_000;

/// Throws records away.
struct Discard;

impl Sink for Discard {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        black_box(entry.bytes());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn logging_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("flight/logging_thread");
    group.throughput(Throughput::Elements(1));
    for (name, recorder) in [("info_recorder_off", false), ("debug_recorder_on", true)] {
        let mut builder = LogbufLayer::builder()
            .sink(Discard)
            .ring_capacity(64 << 20)
            .policy(FullPolicy::Block);
        if recorder {
            builder = builder.flight_recorder(FlightRecorder::new().dump_on_panic(false));
        }
        let (layer, guard) = builder.build().expect("layer");
        let journal = layer.journal().clone();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            group.bench_function(name, |b| {
                let mut i = 0u64;
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let batch = left.min(BATCH);
                        left -= batch;
                        let start = Instant::now();
                        for _ in 0..batch {
                            i += 1;
                            if recorder {
                                tracing::debug!(
                                    user_id = i,
                                    latency_ms = 0.25,
                                    ok = true,
                                    "request handled"
                                );
                            } else {
                                tracing::info!(
                                    user_id = i,
                                    latency_ms = 0.25,
                                    ok = true,
                                    "request handled"
                                );
                            }
                        }
                        total += start.elapsed();
                        // Untimed: the worker empties the ring, so the next batch never waits
                        // for room.
                        journal.flush();
                    }
                    total
                });
            });
        });
        let stats = journal.stats();
        eprintln!(
            "{name}: written {} records, dropped {}, discarded by design {}",
            stats.records_written, stats.dropped, stats.discarded
        );
        drop(guard);
    }
    group.finish();
}

/// The records a worker hands its sinks: the callsite, then one event.
fn records() -> (Vec<u8>, Vec<u8>) {
    let callsite = Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Event,
        level: Level::Debug,
        target: "bench::flight",
        name: "event benches/flight.rs:1",
        module_path: Some("bench::flight"),
        file: Some("benches/flight.rs"),
        line: Some(1),
        fields: vec!["message", "user_id", "latency_ms", "ok"],
    });
    let event = Record::Event(Event {
        callsite: 1,
        time: 1 << 40,
        thread: 1,
        parent: None,
        values: vec![
            Value::Interned(1),
            Value::U64(42),
            Value::F64(0.25),
            Value::Bool(true),
        ],
    });
    (
        postcard::to_allocvec(&callsite).expect("callsite"),
        postcard::to_allocvec(&event).expect("event"),
    )
}

fn worker(c: &mut Criterion) {
    let (callsite, event) = records();
    let mut group = c.benchmark_group("flight/worker");
    group.throughput(Throughput::Elements(1));
    group.bench_function("plain_sink", |b| {
        let mut sink = Discard;
        sink.write(Entry::new(&callsite)).expect("write");
        b.iter(|| sink.write(Entry::new(black_box(&event))));
    });
    group.bench_function("held_event", |b| {
        let mut sink = Discard.recorded(FlightRecorder::new());
        sink.write(Entry::new(&callsite)).expect("write");
        b.iter(|| sink.write(Entry::new(black_box(&event))));
        black_box(sink.discarded());
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = logging_thread, worker
}
criterion_main!(benches);
