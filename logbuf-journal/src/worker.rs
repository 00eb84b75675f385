//! The worker thread: drains every thread's ring, orders records by timestamp within the order
//! window, writes definitions before the records that use them, reports drops, and drives the
//! sinks.
//!
//! Each ring keeps its own queue of records read and not yet written, already in the order they
//! go out; a pass merges the queues' heads, so a record costs the same however many are held
//! back. The worker sleeps between passes unless a ring was found filling up: held back for the
//! order window anyway, records lose nothing by waiting a pass, and the worker's cost per record
//! stays low when records trickle in.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use crate::clock;
use crate::drops::{self, REPORTED};
use crate::journal::{RingEntry, STAMP, Shared, ThreadSlot, Timing, lock};
use crate::recorder::{FlightRecorder, Recorder};
use crate::sink::{Entry, Sink};
use crate::wire::{
    Clock, Dropped, DroppedCallsite, DroppedCallsites, DroppedSpans, Record, ThreadEnd,
};

/// How often sink errors are reported on stderr, at most.
const ERROR_REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// How often a clock record is written, so readers can turn ticks into wall-clock time.
const CLOCK_INTERVAL: Duration = Duration::from_secs(1);
/// Most bytes of records the worker holds back for ordering.
const STAGE_LIMIT: usize = 4 << 20;
/// Largest buffer of held records a ring keeps for reuse once it has none held.
const SPARE_LIMIT: usize = 16 << 20;
/// A ring's buffer of held records is compacted once it is this large and at least half of it
/// is records already written.
const COMPACT_AT: usize = 64 << 10;
/// A pass that finds a ring holding more than this share of its capacity (1/n) is followed by
/// another at once, not by a sleep.
const BUSY_SHARE: usize = 4;

/// A record read from a ring, waiting for its turn.
#[derive(Clone, Copy)]
struct Held {
    /// The order it goes out in: its timestamp, raised to its ring's previous record's for a
    /// thread's own ring, so a thread's records keep their order even if its counter stepped
    /// back (a move to a core whose counter lags).
    key: u64,
    /// Arrival order, to keep records with equal keys in the order they were read.
    seq: u64,
    start: usize,
    len: usize,
}

/// A ring and the records read from it that are still held back.
struct Stage {
    ring: RingEntry,
    queue: Queue,
}

/// Records read from one ring and held back.
struct Queue {
    /// Held records in the order they go out.
    held: VecDeque<Held>,
    /// Their bytes, and bytes of records already written until the next compaction.
    arena: Vec<u8>,
    /// Bytes of `arena` that `held` still refers to.
    live: usize,
    /// The key of the last record read from a thread's own ring.
    last_key: u64,
    /// The shared ring: records of several threads, sorted as they arrive.
    mixed: bool,
}

impl Queue {
    fn new(mixed: bool) -> Self {
        Self {
            held: VecDeque::new(),
            arena: Vec::new(),
            live: 0,
            last_key: 0,
            mixed,
        }
    }

    /// Holds one record read from the ring.
    fn push(&mut self, time: u64, seq: u64, body: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(body);
        self.live += body.len();
        if !self.mixed {
            let key = time.max(self.last_key);
            self.last_key = key;
            self.held.push_back(Held {
                key,
                seq,
                start,
                len: body.len(),
            });
            return;
        }
        // Threads stamp before they claim, so the shared ring is nearly in time order: the
        // record's place is found from the back.
        let held = Held {
            key: time,
            seq,
            start,
            len: body.len(),
        };
        let at = self
            .held
            .iter()
            .rposition(|h| (h.key, h.seq) <= (held.key, held.seq))
            .map_or(0, |i| i + 1);
        self.held.insert(at, held);
    }

    /// Drops the bytes of records already written once they are most of the buffer: in place
    /// (a move within the allocation, never a new one: fresh large allocations and their
    /// release cost page faults and TLB shootdowns that reach the logging threads' cores).
    fn compact(&mut self) {
        if self.held.is_empty() {
            self.arena.clear();
            self.live = 0;
            // A burst may have grown it far; do not hold on to that much for ever.
            if self.arena.capacity() > SPARE_LIMIT {
                self.arena = Vec::new();
            }
            return;
        }
        if self.arena.len() < COMPACT_AT || self.arena.len() < 2 * self.live {
            return;
        }
        // A thread's own ring: the held records are the buffer's tail, in order. The shared
        // ring: sorted on arrival, so the earliest bytes still held start the live part.
        let cut = if self.mixed {
            self.held.iter().map(|h| h.start).min().unwrap_or(0)
        } else {
            self.held.front().map_or(0, |h| h.start)
        };
        self.arena.drain(..cut);
        for h in &mut self.held {
            h.start -= cut;
        }
        if self.mixed && self.arena.len() >= 4 * self.live + COMPACT_AT {
            // Records held back far behind later ones left holes: gather them.
            let mut arena = Vec::with_capacity(self.live);
            for h in &mut self.held {
                let start = arena.len();
                arena.extend_from_slice(&self.arena[h.start..h.start + h.len]);
                h.start = start;
            }
            self.arena = arena;
        }
    }
}

/// One sink and whether it is still called: a sink that panicked is not.
struct SinkSlot {
    sink: Box<dyn Sink>,
    panicked: bool,
}

/// The sinks and the counters of what was handed to them.
struct Out {
    shared: Arc<Shared>,
    sinks: Vec<SinkSlot>,
    /// Counters not yet added to `Shared`'s: published once per pass, not once per record.
    records: u64,
    bytes: u64,
    errors: u64,
    errors_unreported: u64,
    last_error_report: Option<Instant>,
    /// The journal's flight recorder, in front of every sink.
    recorder: Option<Box<Recorder>>,
}

impl Out {
    /// Hands one record to the flight recorder, if there is one, or to every sink.
    fn write(&mut self, bytes: &[u8]) {
        match self.recorder.take() {
            Some(mut recorder) => {
                recorder.write(bytes, &mut |b| self.deliver(b));
                self.recorder = Some(recorder);
            }
            None => self.deliver(bytes),
        }
    }

    /// Has the flight recorders (the journal's and the sinks') write their window.
    fn dump(&mut self, at: u64) {
        if let Some(mut recorder) = self.recorder.take() {
            recorder.dump(at, &mut |b| self.deliver(b));
            self.recorder = Some(recorder);
        }
        self.each("dump", |s| s.dump());
    }

    /// Writes the flight recorder's count of discarded events; at shutdown (`last`), with
    /// everything it still holds counted as discarded.
    fn report_discarded(&mut self, last: bool) {
        if let Some(mut recorder) = self.recorder.take() {
            if last {
                recorder.finish(&mut |b| self.deliver(b));
            } else {
                recorder.report(&mut |b| self.deliver(b));
            }
            self.recorder = Some(recorder);
        }
    }

    /// Hands one record to every sink.
    fn deliver(&mut self, bytes: &[u8]) {
        for (i, slot) in self.sinks.iter_mut().enumerate() {
            if slot.panicked {
                continue;
            }
            let sink = &mut slot.sink;
            match catch_unwind(AssertUnwindSafe(|| sink.write(Entry::new(bytes)))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.errors += 1;
                    self.errors_unreported += 1;
                    report(&mut self.last_error_report, &mut self.errors_unreported, &e);
                }
                Err(payload) => disable(&self.shared, slot, i, "write", &*payload),
            }
        }
        self.records += 1;
        self.bytes += bytes.len() as u64;
    }

    /// Calls `call` on every sink that has not panicked, counting errors and catching panics.
    fn each(&mut self, what: &str, mut call: impl FnMut(&mut dyn Sink) -> io::Result<()>) {
        for (i, slot) in self.sinks.iter_mut().enumerate() {
            if slot.panicked {
                continue;
            }
            let sink = &mut *slot.sink;
            match catch_unwind(AssertUnwindSafe(|| call(sink))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.errors += 1;
                    self.errors_unreported += 1;
                    report(&mut self.last_error_report, &mut self.errors_unreported, &e);
                }
                Err(payload) => disable(&self.shared, slot, i, what, &*payload),
            }
        }
    }

    /// Adds the counters to `Shared`'s, for [`Journal::stats`](crate::Journal::stats).
    fn publish(&mut self) {
        let shared = &self.shared;
        if self.records > 0 {
            shared
                .records_written
                .fetch_add(self.records, Ordering::Relaxed);
            shared
                .bytes_written
                .fetch_add(self.bytes, Ordering::Relaxed);
        }
        if self.errors > 0 {
            shared.sink_errors.fetch_add(self.errors, Ordering::Relaxed);
        }
        let discarded = self.recorder.as_ref().map_or(0, |r| r.discarded_total())
            + self
                .sinks
                .iter()
                .filter(|s| !s.panicked)
                .map(|s| s.sink.discarded())
                .sum::<u64>();
        shared.discarded.fetch_max(discarded, Ordering::Relaxed);
        (self.records, self.bytes, self.errors) = (0, 0, 0);
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        // A sink's own `Drop` may panic too; the worker is exiting and has nothing left to
        // protect, but the process should not abort over it.
        for slot in self.sinks.drain(..) {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(slot)));
        }
    }
}

/// Stops calling a sink that panicked, and says so.
#[cold]
fn disable(shared: &Shared, slot: &mut SinkSlot, index: usize, what: &str, payload: &dyn Any) {
    slot.panicked = true;
    shared.sink_panics.fetch_add(1, Ordering::Relaxed);
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    eprintln!(
        "logbuf-journal: sink {index} panicked in `{what}` ({message}); it gets no more records, \
         the other sinks go on"
    );
}

/// Closes the journal when the worker exits, however it exits: writers stop filling rings no
/// one reads, and whoever waits for a flush or for the shutdown is woken.
struct Exit(Arc<Shared>);

impl Drop for Exit {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        lock(&self.0.flush).exited = true;
        self.0.flushed.notify_all();
    }
}

struct Worker {
    shared: Arc<Shared>,
    out: Out,
    timing: Timing,
    stages: Vec<Stage>,
    /// Bytes held in all stages.
    held: usize,
    /// The merge's heap, kept between passes.
    heads: Vec<Reverse<(u64, u64, usize)>>,
    seq: u64,
    last_flush: Instant,
    last_clock: Instant,
    /// The last clock pair read.
    last_pair: Clock,
    /// Threads seen gone whose end is not written yet, with the pass that saw them.
    ended: Vec<(u64, u64)>,
    /// Drain passes so far.
    passes: u64,
    /// With `SIGUSR1` dumps on, the count of signals already answered.
    signals: Option<u64>,
}

pub(crate) fn run(
    shared: Arc<Shared>,
    sinks: Vec<Box<dyn Sink>>,
    timing: Timing,
    recorder: Option<FlightRecorder>,
) {
    let _exit = Exit(shared.clone());
    crate::journal::mark_worker(&shared);
    let mut w = Worker::new(shared, sinks, timing);
    w.out.recorder = recorder.map(|r| Box::new(Recorder::new(r)));
    w.signals = recorder
        .filter(|r| r.dump_on_sigusr1)
        .map(|_| crate::recorder::signals());
    w.write_clock();
    w.write_clock_ahead();
    loop {
        // Read the requests before draining: everything committed before a flush request was
        // made is then in the rings when they are drained below.
        let ticket = lock(&w.shared.flush).requested;
        let shutdown = w.shared.shutdown.load(Ordering::Acquire);
        // A dump writes every record committed before it was asked for, so it is read before
        // the drain too, and it writes everything held for ordering first.
        let dump = match w.shared.dump_at.swap(0, Ordering::AcqRel) {
            0 if w.signalled() => Some(clock::global().now()),
            0 => None,
            at => Some(at),
        };
        let (_, busy) = w.drain();
        w.write_definitions();
        w.report_drops();
        w.reap();
        let everything = shutdown || dump.is_some() || ticket > lock(&w.shared.flush).done;
        if let Some(at) = dump {
            // The window goes out where the dump was asked for: after the records stamped
            // before it, before those stamped after.
            w.emit_until(true, at);
            w.out.dump(at);
        }
        w.emit(everything);
        if w.last_clock.elapsed() >= CLOCK_INTERVAL {
            w.write_clock();
        }
        if shutdown {
            w.finish();
            return;
        }
        if everything || w.last_flush.elapsed() >= w.timing.flush_interval {
            w.flush_sinks(false);
        }
        // After the flush above, so a reopen requested with a flush ticket finds the records
        // committed before the request in the old file.
        if everything && w.shared.reopen.swap(false, Ordering::AcqRel) {
            w.out.each("reopen", |s| s.reopen());
        }
        w.out.publish();
        if everything {
            let mut state = lock(&w.shared.flush);
            state.done = state.done.max(ticket);
            drop(state);
            w.shared.flushed.notify_all();
        }
        if !busy {
            // Wake in time to write held records once the order window has passed.
            let wait = if w.held == 0 {
                w.timing.idle_park
            } else {
                w.timing.idle_park.min(w.timing.order_window)
            };
            std::thread::park_timeout(wait);
        }
    }
}

impl Worker {
    fn new(shared: Arc<Shared>, sinks: Vec<Box<dyn Sink>>, timing: Timing) -> Self {
        let sinks = sinks
            .into_iter()
            .map(|sink| SinkSlot {
                sink,
                panicked: false,
            })
            .collect();
        Worker {
            out: Out {
                shared: shared.clone(),
                sinks,
                records: 0,
                bytes: 0,
                errors: 0,
                errors_unreported: 0,
                last_error_report: None,
                recorder: None,
            },
            shared,
            timing,
            stages: Vec::new(),
            held: 0,
            heads: Vec::new(),
            seq: 0,
            last_flush: Instant::now(),
            last_clock: Instant::now(),
            last_pair: Clock {
                ticks: 0,
                unix_nanos: 0,
            },
            ended: Vec::new(),
            passes: 0,
            signals: None,
        }
    }

    /// Whether a `SIGUSR1` came since the last pass (with those dumps on).
    fn signalled(&mut self) -> bool {
        let Some(seen) = self.signals else {
            return false;
        };
        let now = crate::recorder::signals();
        self.signals = Some(now);
        now != seen
    }

    /// The last pass, on shutdown. The journal is closed (writes from now on are dropped and
    /// counted), so the rings only hold what was committed before, and writes that were under
    /// way when it closed: drain until a pass finds nothing, write it all, report every drop,
    /// and put the sinks' data on disk. Bounded by what the rings hold, however busy the
    /// threads that log are.
    fn finish(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        let ticket = lock(&self.shared.flush).requested;
        loop {
            std::thread::yield_now();
            let (read, _) = self.drain();
            self.write_definitions();
            self.report_drops();
            self.emit(true);
            if read == 0 {
                break;
            }
        }
        self.flush_sinks(true);
        self.out.publish();
        // Nothing is held back now; the guard counts what is committed from here on.
        *lock(&self.shared.leftover) = self
            .stages
            .drain(..)
            .filter(|s| !s.ring.consumer.is_disconnected())
            .map(|s| s.ring.consumer)
            .collect();
        // Every flush requested so far is done; `Exit` wakes those who wait.
        let mut state = lock(&self.shared.flush);
        state.done = state.done.max(ticket);
    }

    /// Moves every committed record from the rings into their stages; returns how many records
    /// were read, and whether a ring was found more than 1/[`BUSY_SHARE`] full.
    fn drain(&mut self) -> (usize, bool) {
        {
            let mut pending = lock(&self.shared.pending);
            let mixed = self.shared.is_shared_ring();
            self.stages
                .extend(pending.rings.drain(..).map(|ring| Stage {
                    ring,
                    queue: Queue::new(mixed),
                }));
        }
        self.passes += 1;
        let (mut read, mut busy) = (0, false);
        for stage in &mut self.stages {
            let mut bytes = 0;
            let mut batch = stage.ring.consumer.batch();
            while let Some(record) = batch.next() {
                bytes += record.len();
                let Some((stamp, body)) = record.split_first_chunk::<STAMP>() else {
                    continue;
                };
                stage.queue.push(u64::from_le_bytes(*stamp), self.seq, body);
                self.seq += 1;
                self.held += body.len();
                read += 1;
            }
            drop(batch);
            busy |= bytes > stage.ring.consumer.capacity() / BUSY_SHARE;
            stage
                .ring
                .slot
                .high_water
                .fetch_max(bytes, Ordering::Relaxed);
        }
        (read, busy)
    }

    /// Frees the rings of threads that are gone, once everything they held is written. Their
    /// drop counters stay in `Shared::slots` until `report_drops` has reported them.
    fn reap(&mut self) {
        // `is_disconnected` is read first: records committed before the producer left are
        // visible to `is_empty`.
        self.stages.retain(|s| {
            !(s.ring.consumer.is_disconnected()
                && s.ring.consumer.is_empty()
                && s.queue.held.is_empty())
        });
    }

    /// Writes the callsite and thread-name definitions registered so far. Called after
    /// `drain`: a definition is registered before the records that use it are committed, so
    /// every record drained so far has its definition here or earlier.
    fn write_definitions(&mut self) {
        let definitions = std::mem::take(&mut lock(&self.shared.pending).definitions);
        for def in &definitions {
            self.out.write(def);
        }
    }

    /// Turns the threads' drop counters into `Dropped` records.
    fn report_drops(&mut self) -> usize {
        let mut reports = Vec::new();
        let pass = self.passes;
        let ended = &mut self.ended;
        lock(&self.shared.slots).retain(|slot| {
            // Only this list still holds the slot: its thread is gone (and its own ring, if it
            // had one, reaped), so it counts no more drops.
            let gone = Arc::strong_count(slot) == 1;
            if gone {
                // Pairs with the Release decrement of the thread's last `Arc` clone: its last
                // drop counts are visible to `take_drops` below.
                fence(Ordering::Acquire);
                ended.push((slot.thread, pass));
            }
            reports.extend(take_drops(slot));
            !gone
        });
        // A thread registers its name before its slot: the names of the threads reported on
        // are among the definitions registered by now, and go out before the reports.
        self.write_definitions();
        let spans = self.shared.lost_spans.swap(0, Ordering::Relaxed);
        let lost = self.shared.lost_reentrant.swap(0, Ordering::Relaxed);
        if lost > 0 {
            let now = clock::global().now();
            let report = Dropped {
                thread: 0,
                count: lost,
                first_time: now,
                last_time: now,
            };
            let spans = spans_of(&self.shared.lost_spans, spans, lost);
            reports.push((report, spans, Vec::new()));
        }
        let reported = reports.len();
        for (report, spans, callsites) in reports {
            self.write_drops(report, spans, callsites);
        }
        self.write_thread_ends();
        reported
    }

    /// Writes a `ThreadEnd` for each thread seen gone once all its records are written, after
    /// its last drop report, so sinks can forget its name. A thread with a ring of its own is
    /// seen gone only once that ring was reaped, its records written. On the shared ring, its
    /// records were committed before it was seen gone, so a later pass drained them: they are
    /// written once nothing is held after that pass's drain.
    fn write_thread_ends(&mut self) {
        if self.ended.is_empty() {
            return;
        }
        let now = clock::global().now();
        let (pass, shared_ring) = (self.passes, self.shared.is_shared_ring());
        let all_written = self.held == 0;
        let mut ends = Vec::new();
        self.ended.retain(|&(thread, seen)| {
            let done = !shared_ring || (seen < pass && all_written);
            if done {
                ends.push(thread);
            }
            !done
        });
        for thread in ends {
            if let Ok(bytes) =
                postcard::to_allocvec(&Record::ThreadEnd(ThreadEnd { thread, time: now }))
            {
                self.out.write(&bytes);
            }
        }
    }

    /// Writes a drop report: the callsites its records came from, the report, and how many of
    /// its records were span records if any were.
    fn write_drops(&mut self, report: Dropped, spans: u64, callsites: Vec<DroppedCallsite>) {
        self.shared
            .dropped
            .fetch_add(report.count, Ordering::Relaxed);
        self.shared
            .dropped_spans
            .fetch_add(spans, Ordering::Relaxed);
        let named = Record::DroppedCallsites(DroppedCallsites {
            thread: report.thread,
            callsites,
        });
        if let Ok(bytes) = postcard::to_allocvec(&named) {
            self.out.write(&bytes);
        }
        if let Ok(bytes) = postcard::to_allocvec(&Record::Dropped(report)) {
            self.out.write(&bytes);
        }
        if spans > 0 {
            let record = Record::DroppedSpans(DroppedSpans {
                thread: report.thread,
                count: spans,
            });
            if let Ok(bytes) = postcard::to_allocvec(&record) {
                self.out.write(&bytes);
            }
        }
    }

    /// Writes held records in order: all of them, or those older than the order window (and,
    /// past [`STAGE_LIMIT`] bytes held, the oldest until the rest fit).
    fn emit(&mut self, everything: bool) {
        self.emit_until(everything, u64::MAX);
    }

    /// [`Worker::emit`], of the records ordered at or before `until` only.
    fn emit_until(&mut self, everything: bool, until: u64) {
        if self.held == 0 {
            return;
        }
        let ticks = clock::global();
        let now = ticks.now();
        let window = u64::try_from(self.timing.order_window.as_nanos()).unwrap_or(u64::MAX);
        let ready = |key: u64| key <= now && ticks.nanos_between(key, now) >= window;
        let mut heads = BinaryHeap::from(std::mem::take(&mut self.heads));
        heads.extend(
            self.stages
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.queue.held.front().map(|h| Reverse((h.key, h.seq, i)))),
        );
        while let Some(&Reverse((key, _, i))) = heads.peek() {
            if key > until || !(everything || self.held > STAGE_LIMIT || ready(key)) {
                break;
            }
            heads.pop();
            // Write this ring's records while they come before every other ring's next one:
            // one heap operation per switch between rings, not per record.
            let bound = heads.peek().map(|&Reverse((key, seq, _))| (key, seq));
            let queue = &mut self.stages[i].queue;
            while let Some(h) = queue.held.pop_front() {
                self.out.write(&queue.arena[h.start..h.start + h.len]);
                queue.live -= h.len;
                self.held -= h.len;
                let Some(next) = queue.held.front() else {
                    break;
                };
                let first = bound.is_none_or(|b| (next.key, next.seq) < b);
                if !(first
                    && next.key <= until
                    && (everything || self.held > STAGE_LIMIT || ready(next.key)))
                {
                    heads.push(Reverse((next.key, next.seq, i)));
                    break;
                }
            }
        }
        let mut heads = heads.into_vec();
        heads.clear();
        self.heads = heads;
        for stage in &mut self.stages {
            stage.queue.compact();
        }
    }

    fn write_clock(&mut self) {
        self.last_clock = Instant::now();
        let pair = clock::global().pair();
        self.last_pair = pair;
        if let Ok(bytes) = postcard::to_allocvec(&Record::Clock(pair)) {
            self.out.write(&bytes);
        }
    }

    /// A pair derived from the last one read, so sinks know the counter's rate at once.
    fn write_clock_ahead(&mut self) {
        let ahead = clock::global().pair_ahead(self.last_pair);
        if let Ok(bytes) = postcard::to_allocvec(&Record::Clock(ahead)) {
            self.out.write(&bytes);
        }
    }

    fn flush_sinks(&mut self, sync: bool) {
        self.last_flush = Instant::now();
        self.out.report_discarded(sync);
        if sync {
            self.out.each("sync", |s| s.sync());
        } else {
            self.out.each("flush", |s| s.flush());
        }
    }
}

/// The drops a thread counted since the last call, if any: the report, how many were span
/// records, and the callsites that lost the most (at most [`REPORTED`]).
fn take_drops(slot: &ThreadSlot) -> Option<(Dropped, u64, Vec<DroppedCallsite>)> {
    // Taken before the count: a span drop counted here has its count increment after it (in
    // `drop_event`), in this count or the next.
    let spans = slot.dropped_spans.swap(0, Ordering::Relaxed);
    // The report counts the drops taken from the callsite table, each counted in the table
    // after the total. Its Acquire swaps pair with the Release updates in `drop_event`: the
    // times are in place, and the total holds every drop taken, so the subtraction below
    // leaves the drops still on their way into the table (none once the thread is gone).
    let (mut counts, other) = drops::merged(&slot.callsites);
    let count = counts.iter().map(|&(_, n)| n).sum::<u64>() + other;
    if count == 0 {
        return None;
    }
    slot.dropped.fetch_sub(count, Ordering::Relaxed);
    let spans = spans_of(&slot.dropped_spans, spans, count);
    counts.truncate(REPORTED);
    let report = Dropped {
        thread: slot.thread,
        count,
        first_time: slot.first_drop.swap(0, Ordering::Relaxed),
        last_time: slot.last_drop.load(Ordering::Relaxed),
    };
    let callsites = counts
        .into_iter()
        .map(|(callsite, count)| DroppedCallsite { callsite, count })
        .collect();
    Some((report, spans, callsites))
}

/// The span records among `count` drops, from `spans` taken off `counter` just before: a span
/// drop whose count increment came after the count was taken goes back to `counter`, for the
/// next report.
fn spans_of(counter: &AtomicU64, spans: u64, count: u64) -> u64 {
    if spans > count {
        counter.fetch_add(spans - count, Ordering::Relaxed);
    }
    spans.min(count)
}

/// Reports sink errors on stderr, at most once per [`ERROR_REPORT_INTERVAL`].
fn report(last: &mut Option<Instant>, unreported: &mut u64, error: &io::Error) {
    if last.is_none_or(|t| t.elapsed() >= ERROR_REPORT_INTERVAL) {
        eprintln!("logbuf-journal: {unreported} sink error(s), the latest: {error}");
        *last = Some(Instant::now());
        *unreported = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::journal::{Journal, Rings};
    use crate::wire::{Callsite, CallsiteKind, Level, Value};

    /// Keeps the `seq` field of every event, in the order the sink got them.
    #[derive(Clone, Default)]
    struct Seqs(Arc<Mutex<Vec<u64>>>);

    impl Sink for Seqs {
        fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
            if let Ok(Record::Event(e)) = entry.record()
                && let Some(Value::U64(seq)) = e.values.first()
            {
                self.0.lock().unwrap().push(*seq);
            }
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Two threads write records stamped `times` (their `seq` is the stamp plus 1000 times the
    /// thread's number), then a flush writes them: the order the sink got them.
    fn order(rings: Rings, times: [&'static [u64]; 2]) -> Vec<u64> {
        let seqs = Seqs::default();
        let (journal, guard) = Journal::builder()
            .rings(rings)
            .sink(seqs.clone())
            .build()
            .unwrap();
        let cs = journal.register_callsite(&Callsite {
            id: 0,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "order",
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["seq"],
        });
        // Stamped far ahead of the clock, the records are never ready before the flush below,
        // however early the worker drains them: they go out together, merged.
        let base = journal.now() + (1 << 50);
        for (n, times) in times.into_iter().enumerate() {
            let journal = journal.clone();
            std::thread::spawn(move || {
                for &time in times {
                    journal.write_at(
                        base + time,
                        crate::journal::Kind::Event,
                        cs,
                        16,
                        |enc, at| {
                            enc.event(cs, at.time, at.thread, None, 1);
                            enc.value_u64(time + 1000 * n as u64);
                        },
                    );
                }
            })
            .join()
            .unwrap();
        }
        assert!(journal.flush());
        drop(guard);
        seqs.0.lock().unwrap().clone()
    }

    #[test]
    fn a_thread_whose_counter_steps_back_keeps_its_order() {
        let got = order(Rings::PerThread, [&[100, 50, 200, 10], &[60, 150]]);
        assert_eq!(got, [1060, 100, 50, 1150, 200, 10]);
    }

    #[test]
    fn the_shared_ring_is_written_in_time_order() {
        let got = order(Rings::Shared, [&[100, 50, 200, 10], &[60, 150]]);
        assert_eq!(got, [10, 50, 1060, 100, 1150, 200]);
    }
}
