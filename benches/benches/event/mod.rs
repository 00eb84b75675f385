//! The `tracing` event the logging-thread benches (`tracing_layer`, `otlp`) log, and the
//! timed part of a logging thread's run: each event timed on its own, then batches of 1000
//! timed as a whole.

use hdrhistogram::Histogram;
use logbuf_benches::cycles;

/// The event every case logs.
#[inline(always)]
pub(crate) fn log() {
    tracing::info!(
        user_id = 42u64,
        latency_us = 17.5,
        path = "/api/v1/orders",
        "request done"
    );
}

/// A histogram of cycle-counter ticks.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("histogram")
}

/// One thread's figures: the per-event histogram and the batch mean (ticks per event).
pub(crate) struct ThreadRun {
    pub(crate) hist: Histogram<u64>,
    pub(crate) batch_mean: f64,
}

/// Logs `events` events timed one by one, then as many again in batches of 1000.
pub(crate) fn timed(events: u64) -> ThreadRun {
    let mut hist = histogram();
    for _ in 0..events {
        let t0 = cycles::start();
        log();
        let t1 = cycles::stop();
        // Saturating: a thread moved between cores may read a counter slightly behind.
        hist.saturating_record(t1.saturating_sub(t0));
    }
    let batches = (events / 1000).max(1);
    let t0 = cycles::start();
    for _ in 0..batches {
        for _ in 0..1000 {
            log();
        }
    }
    let t1 = cycles::stop();
    ThreadRun {
        hist,
        batch_mean: t1.wrapping_sub(t0) as f64 / (batches * 1000) as f64,
    }
}
