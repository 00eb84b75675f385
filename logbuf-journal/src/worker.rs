//! The worker thread: drains every thread's ring, orders records by timestamp within the order
//! window, writes definitions before the records that use them, reports drops, and drives the
//! sinks.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use crate::clock;
use crate::journal::{RingEntry, STAMP, Shared, ThreadSlot, Timing, lock};
use crate::sink::{Entry, Sink};
use crate::wire::{Clock, Dropped, Record};

/// How often sink errors are reported on stderr, at most.
const ERROR_REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// How often a clock record is written, so readers can turn ticks into wall-clock time.
const CLOCK_INTERVAL: Duration = Duration::from_secs(1);
/// Most bytes of records the worker holds back for ordering.
const STAGE_LIMIT: usize = 4 << 20;
/// Largest staging buffer kept for reuse after a burst.
const SPARE_LIMIT: usize = 16 << 20;
/// Spins of an idle worker before it parks.
const IDLE_SPINS: u32 = 32;

/// A record read from a ring, waiting for its turn.
struct Staged {
    time: u64,
    /// Arrival order, to keep records with equal timestamps in the order they were read.
    seq: u64,
    start: usize,
    len: usize,
}

struct Worker {
    shared: Arc<Shared>,
    sinks: Vec<Box<dyn Sink>>,
    timing: Timing,
    rings: Vec<RingEntry>,
    staged: Vec<Staged>,
    arena: Vec<u8>,
    /// Emptied buffers from the last `emit`, reused by the next.
    spare_staged: Vec<Staged>,
    spare_arena: Vec<u8>,
    seq: u64,
    last_flush: Instant,
    last_clock: Instant,
    /// The last clock pair read.
    last_pair: Clock,
    errors_unreported: u64,
    last_error_report: Option<Instant>,
}

pub(crate) fn run(shared: Arc<Shared>, sinks: Vec<Box<dyn Sink>>, timing: Timing) {
    let mut w = Worker {
        shared,
        sinks,
        timing,
        rings: Vec::new(),
        staged: Vec::new(),
        arena: Vec::new(),
        spare_staged: Vec::new(),
        spare_arena: Vec::new(),
        seq: 0,
        last_flush: Instant::now(),
        last_clock: Instant::now(),
        last_pair: Clock {
            ticks: 0,
            unix_nanos: 0,
        },
        errors_unreported: 0,
        last_error_report: None,
    };
    w.write_clock();
    w.write_clock_ahead();
    let mut idle = 0u32;
    loop {
        // Read the requests before draining: everything committed before a flush request was
        // made is then in the rings when they are drained below.
        let ticket = lock(&w.shared.flush).requested;
        let shutdown = w.shared.shutdown.load(Ordering::Acquire);
        let read = w.drain();
        w.write_definitions();
        w.report_drops();
        w.reap();
        let everything = shutdown || ticket > lock(&w.shared.flush).done;
        w.emit(everything);
        if w.last_clock.elapsed() >= CLOCK_INTERVAL {
            w.write_clock();
        }
        if everything || w.last_flush.elapsed() >= w.timing.flush_interval {
            w.flush_sinks(shutdown);
        }
        // After the flush above, so a reopen requested with a flush ticket finds the records
        // committed before the request in the old file.
        if everything && w.shared.reopen.swap(false, Ordering::AcqRel) {
            w.reopen_sinks();
        }
        if everything {
            let mut state = lock(&w.shared.flush);
            state.done = state.done.max(ticket);
            if shutdown && read == 0 {
                drop(state);
                // Drops counted by threads that left after this round's report.
                if w.report_drops() > 0 {
                    w.flush_sinks(true);
                }
                let mut state = lock(&w.shared.flush);
                state.exited = true;
                drop(state);
                w.shared.flushed.notify_all();
                return;
            }
            drop(state);
            w.shared.flushed.notify_all();
        }
        if read > 0 {
            idle = 0;
        } else if idle < IDLE_SPINS {
            idle += 1;
            std::hint::spin_loop();
        } else {
            // Wake in time to write staged records once the order window has passed.
            let wait = if w.staged.is_empty() {
                w.timing.idle_park
            } else {
                w.timing.idle_park.min(w.timing.order_window)
            };
            std::thread::park_timeout(wait);
        }
    }
}

impl Worker {
    /// Moves every committed record from the rings into the staging area; drops rings whose
    /// thread is gone once they are empty. Returns how many records were read.
    fn drain(&mut self) -> usize {
        self.rings.append(&mut lock(&self.shared.pending).rings);
        let mut read = 0;
        for ring in &mut self.rings {
            let mut bytes = 0;
            let mut batch = ring.consumer.batch();
            while let Some(record) = batch.next() {
                bytes += record.len();
                let Some((stamp, body)) = record.split_first_chunk::<STAMP>() else {
                    continue;
                };
                self.staged.push(Staged {
                    time: u64::from_le_bytes(*stamp),
                    seq: self.seq,
                    start: self.arena.len(),
                    len: body.len(),
                });
                self.seq += 1;
                self.arena.extend_from_slice(body);
                read += 1;
            }
            drop(batch);
            ring.slot.high_water.fetch_max(bytes, Ordering::Relaxed);
        }
        read
    }

    /// Frees the rings of threads that are gone, once they are empty. Their drop counters stay
    /// in `Shared::slots` until `report_drops` has reported them.
    fn reap(&mut self) {
        // `is_disconnected` is read first: records committed before the producer left are
        // visible to `is_empty`.
        self.rings
            .retain(|r| !(r.consumer.is_disconnected() && r.consumer.is_empty()));
    }

    /// Writes the callsite and thread-name definitions registered so far. Called after
    /// `drain`: a definition is registered before the records that use it are committed, so
    /// every record drained so far has its definition here or earlier.
    fn write_definitions(&mut self) {
        let definitions = std::mem::take(&mut lock(&self.shared.pending).definitions);
        for def in &definitions {
            self.write(def);
        }
    }

    /// Turns the threads' drop counters into `Dropped` records.
    fn report_drops(&mut self) -> usize {
        let mut reports = Vec::new();
        lock(&self.shared.slots).retain(|slot| {
            // Only this list still holds the slot: its thread is gone (and its own ring, if it
            // had one, reaped), so it counts no more drops.
            let gone = Arc::strong_count(slot) == 1;
            if gone {
                // Pairs with the Release decrement of the thread's last `Arc` clone: its last
                // drop counts are visible to `take_drops` below.
                fence(Ordering::Acquire);
            }
            reports.extend(take_drops(slot));
            !gone
        });
        let lost = self.shared.lost_reentrant.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let now = clock::global().now();
            reports.push(Dropped {
                thread: 0,
                count: lost,
                first_time: now,
                last_time: now,
            });
        }
        let reported = reports.len();
        for report in reports {
            self.write_drops(report);
        }
        reported
    }

    fn write_drops(&mut self, report: Dropped) {
        self.shared
            .dropped
            .fetch_add(report.count, Ordering::Relaxed);
        if let Ok(bytes) = postcard::to_allocvec(&Record::Dropped(report)) {
            self.write(&bytes);
        }
    }

    /// Writes staged records in time order: all of them, or those older than the order window.
    fn emit(&mut self, everything: bool) {
        if self.staged.is_empty() {
            return;
        }
        self.staged.sort_unstable_by_key(|s| (s.time, s.seq));
        let ticks = clock::global();
        let now = ticks.now();
        let window = u64::try_from(self.timing.order_window.as_nanos()).unwrap_or(u64::MAX);
        let mut ready = if everything {
            self.staged.len()
        } else {
            self.staged
                .partition_point(|s| s.time <= now && ticks.nanos_between(s.time, now) >= window)
        };
        // Hold back at most STAGE_LIMIT bytes: past that, the oldest go out before their
        // window has passed, so memory does not grow with the logging rate.
        let mut held: usize = self.staged[ready..].iter().map(|s| s.len).sum();
        while held > STAGE_LIMIT && ready < self.staged.len() {
            held -= self.staged[ready].len;
            ready += 1;
        }
        if ready == 0 {
            return;
        }
        // Swap in the spare buffers (kept between calls, so a busy worker does not allocate).
        let mut staged =
            std::mem::replace(&mut self.staged, std::mem::take(&mut self.spare_staged));
        let mut arena = std::mem::replace(&mut self.arena, std::mem::take(&mut self.spare_arena));
        for s in &staged[..ready] {
            self.write(&arena[s.start..s.start + s.len]);
        }
        // Keep what is not ready, compacting the arena.
        for s in &staged[ready..] {
            let start = self.arena.len();
            self.arena
                .extend_from_slice(&arena[s.start..s.start + s.len]);
            self.staged.push(Staged { start, ..*s });
        }
        staged.clear();
        arena.clear();
        // A burst may have grown them far; do not hold on to that much for ever.
        if arena.capacity() > SPARE_LIMIT {
            arena = Vec::new();
            staged = Vec::new();
        }
        self.spare_staged = staged;
        self.spare_arena = arena;
    }

    fn write_clock(&mut self) {
        self.last_clock = Instant::now();
        let pair = clock::global().pair();
        self.last_pair = pair;
        if let Ok(bytes) = postcard::to_allocvec(&Record::Clock(pair)) {
            self.write(&bytes);
        }
    }

    /// A pair derived from the last one read, so sinks know the counter's rate at once.
    fn write_clock_ahead(&mut self) {
        let ahead = clock::global().pair_ahead(self.last_pair);
        if let Ok(bytes) = postcard::to_allocvec(&Record::Clock(ahead)) {
            self.write(&bytes);
        }
    }

    /// Hands one record to every sink.
    fn write(&mut self, bytes: &[u8]) {
        let mut failed = 0;
        for sink in &mut self.sinks {
            if let Err(e) = sink.write(Entry::new(bytes)) {
                failed += 1;
                self.errors_unreported += 1;
                report(&mut self.last_error_report, &mut self.errors_unreported, &e);
            }
        }
        self.shared.sink_errors.fetch_add(failed, Ordering::Relaxed);
        self.shared.records_written.fetch_add(1, Ordering::Relaxed);
        self.shared
            .bytes_written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }

    fn reopen_sinks(&mut self) {
        for sink in &mut self.sinks {
            if let Err(e) = sink.reopen() {
                self.shared.sink_errors.fetch_add(1, Ordering::Relaxed);
                self.errors_unreported += 1;
                report(&mut self.last_error_report, &mut self.errors_unreported, &e);
            }
        }
    }

    fn flush_sinks(&mut self, sync: bool) {
        self.last_flush = Instant::now();
        for sink in &mut self.sinks {
            let result = if sync { sink.sync() } else { sink.flush() };
            if let Err(e) = result {
                self.shared.sink_errors.fetch_add(1, Ordering::Relaxed);
                self.errors_unreported += 1;
                report(&mut self.last_error_report, &mut self.errors_unreported, &e);
            }
        }
    }
}

/// The drops a thread counted since the last call, if any.
fn take_drops(slot: &ThreadSlot) -> Option<Dropped> {
    // Acquire pairs with the Release increment in `drop_event`: the times are in place.
    let count = slot.dropped.swap(0, Ordering::Acquire);
    (count > 0).then(|| Dropped {
        thread: slot.thread,
        count,
        first_time: slot.first_drop.swap(0, Ordering::Relaxed),
        last_time: slot.last_drop.load(Ordering::Relaxed),
    })
}

/// Reports sink errors on stderr, at most once per [`ERROR_REPORT_INTERVAL`].
fn report(last: &mut Option<Instant>, unreported: &mut u64, error: &io::Error) {
    if last.is_none_or(|t| t.elapsed() >= ERROR_REPORT_INTERVAL) {
        eprintln!("logbuf-journal: {unreported} sink error(s), the latest: {error}");
        *last = Some(Instant::now());
        *unreported = 0;
    }
}
