//! The journal: per-thread rings on the logging side, a worker thread that drains them into
//! sinks in time order.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, Thread};
use std::time::Duration;

use logbuf::queue::{CapacityError, ClaimError, Consumer, mpsc, spsc};

use crate::clock;
use crate::drops::DropTable;
use crate::encode::{Encoder, Overflow};
use crate::recorder::FlightRecorder;
use crate::sink::{BinaryFileSink, Sink};
use crate::wire::{Callsite, Interned, Record, ThreadName};
use crate::worker;

/// Bytes in front of every ring record: the tick counter, little-endian, so the worker can order
/// records without decoding them.
pub(crate) const STAMP: usize = 8;

/// What to do with an event when the thread's ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    /// Drop the event and count it; the worker writes a [`Dropped`](crate::wire::Dropped)
    /// record saying how many, and which callsites they came from (for records written with
    /// [`Journal::write_event`] and [`Journal::write_span_new`]), so the loss shows in the log
    /// itself. The default.
    Drop,
    /// Spin, then yield, until the worker makes room. Nothing is lost; the logging thread waits.
    Block,
}

/// How logging threads share rings; see [`Builder::rings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rings {
    /// Each logging thread gets its own SPSC ring, created on its first write and freed after
    /// the thread exits. The default: no contention between threads, and one busy thread
    /// cannot fill the others' room. Memory grows with the number of logging threads.
    PerThread,
    /// All threads write into one MPSC ring of [`Builder::ring_capacity`] bytes: memory stays
    /// fixed however many threads log, at the price of a compare-exchange on a shared cache
    /// line per record when threads log at the same time.
    Shared,
}

/// When and where a record is written: handed to the encoding closure of [`Journal::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The tick counter at the write.
    pub time: u64,
    /// The journal's id for the writing thread (named by a `ThreadName` record).
    pub thread: u64,
}

/// The outcome of [`Journal::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The record is in the ring.
    Committed,
    /// The record was dropped and counted: the ring was full (under [`FullPolicy::Drop`]),
    /// the record was larger than a ring can hold, or the thread was already inside a write.
    Dropped,
}

/// Why a journal could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// The ring capacity is out of range.
    Capacity(CapacityError),
    /// The worker thread could not be started.
    Spawn(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Capacity(e) => write!(f, "journal ring: {e}"),
            BuildError::Spawn(e) => write!(f, "cannot start the journal worker: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Capacity(e) => Some(e),
            BuildError::Spawn(e) => Some(e),
        }
    }
}

/// Counters of a running journal; see [`Journal::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records handed to the sinks (events, spans and the journal's own records).
    pub records_written: u64,
    /// Bytes of those records.
    pub bytes_written: u64,
    /// Records dropped: the ring was full or the record too large, the thread was already
    /// inside a write, or the journal had closed. The worker reports each drop in the log (a
    /// [`Dropped`](crate::wire::Dropped) record) at its next pass; drops after it stopped are
    /// counted here only.
    pub dropped: u64,
    /// Span records among [`Stats::dropped`] (written with [`Journal::write_span`]); the rest
    /// were events.
    pub dropped_spans: u64,
    /// Errors the sinks returned.
    pub sink_errors: u64,
    /// Panics caught in sinks; a sink that panicked is called no more.
    pub sink_panics: u64,
    /// Events a flight recorder (the journal's, and those of [`Recorded`](crate::sink::Recorded)
    /// sinks) held and let go unwritten because no trigger came while they were in its
    /// window: discarded by design, not dropped (see [`crate::recorder`]). Updated at each
    /// worker pass.
    pub discarded: u64,
    /// One entry per ring in use: each running thread that has logged (its journal thread id)
    /// and, under [`Rings::Shared`], the shared ring (thread 0), with the most bytes the worker
    /// found waiting in it in one pass (a lower bound of the ring's high-water mark). Threads
    /// that have exited drop out once their records are written; none once the worker has
    /// stopped.
    pub rings: Vec<RingStats>,
}

/// Per-thread figures in [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Journal thread id.
    pub thread: u64,
    /// Most bytes waiting in the ring at one worker pass.
    pub high_water: usize,
}

/// Settings for a journal; [`Journal::builder`] makes one.
pub struct Builder {
    ring_capacity: usize,
    rings: Rings,
    policy: FullPolicy,
    sinks: Vec<Box<dyn Sink>>,
    pub(crate) timing: Timing,
    recorder: Option<FlightRecorder>,
}

/// The worker's clockwork, shared with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) flush_interval: Duration,
    pub(crate) idle_park: Duration,
    pub(crate) order_window: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("ring_capacity", &self.ring_capacity)
            .field("rings", &self.rings)
            .field("policy", &self.policy)
            .field("sinks", &self.sinks.len())
            .field("timing", &self.timing)
            .field("recorder", &self.recorder)
            .finish()
    }
}

impl Builder {
    /// Bytes of each thread's ring (rounded up to a power of two). Default 1 MiB: size it for
    /// the largest burst one thread logs within [`Builder::idle_park_interval`].
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = bytes;
        self
    }

    /// One ring per logging thread (the default) or one ring shared by all; see [`Rings`].
    pub fn rings(mut self, rings: Rings) -> Self {
        self.rings = rings;
        self
    }

    /// What to do when a thread's ring is full. Default [`FullPolicy::Drop`].
    pub fn policy(mut self, policy: FullPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Adds a sink. Records go to every sink, in the order they were added.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Adds a binary file sink writing to `path`.
    ///
    /// # Errors
    ///
    /// If the file cannot be created.
    pub fn file(self, path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(self.sink(BinaryFileSink::create(path)?))
    }

    /// Adds a binary file sink writing a rotated series of files at `base`; see
    /// [`BinaryFileSink::rotating`] and [`crate::rotate`].
    ///
    /// ```
    /// use logbuf_journal::Journal;
    /// use logbuf_journal::rotate::Rotation;
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let (journal, _guard) = Journal::builder()
    ///     .rotating_file(dir.path().join("app.lbf"), Rotation::daily().keep_files(7))?
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If the first file cannot be created.
    pub fn rotating_file(
        self,
        base: impl AsRef<Path>,
        rotation: crate::rotate::Rotation,
    ) -> io::Result<Self> {
        Ok(self.sink(BinaryFileSink::rotating(base, rotation)?))
    }

    /// How often the worker flushes sinks while records arrive. Default 100 ms.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.timing.flush_interval = interval;
        self
    }

    /// How long the worker sleeps between passes over the rings. Default 2 ms. A pass that
    /// finds a ring more than a quarter full is followed by another at once, and a thread that
    /// finds its ring full wakes the worker (under [`FullPolicy::Block`], or once per drop
    /// report under [`FullPolicy::Drop`]). Records are held back for the
    /// [order window](Builder::order_window) anyway, so a pass every few milliseconds delays
    /// nothing, and costs the worker far less per record than passes that each find a few.
    pub fn idle_park_interval(mut self, interval: Duration) -> Self {
        self.timing.idle_park = interval.max(Duration::from_micros(10));
        self
    }

    /// How long the worker holds records back so that records from other threads with earlier
    /// timestamps can be written before them. Records whose timestamps are further apart than
    /// this across threads are written in time order; closer ones may be written in the order
    /// the worker found them. Default 10 ms. The worker holds back at most 4 MiB of records
    /// however fast they come: past that, the oldest are written before their window has
    /// passed.
    pub fn order_window(mut self, window: Duration) -> Self {
        self.timing.order_window = window;
        self
    }

    /// Puts a flight recorder in front of every sink: events below its level are held in
    /// memory and written only around a trigger (an error, a panic, [`Journal::dump`]). See
    /// [`crate::recorder`]; for one sink only, see [`Sink::recorded`].
    pub fn flight_recorder(mut self, recorder: FlightRecorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// How long dropping the [`Guard`] waits for the worker to write everything. Default 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.timing.shutdown_timeout = timeout;
        self
    }

    /// Starts the worker thread.
    ///
    /// # Errors
    ///
    /// See [`BuildError`].
    pub fn build(self) -> Result<(Journal, Guard), BuildError> {
        // Check the capacity now, not on some thread's first event.
        drop(spsc::try_new(self.ring_capacity).map_err(BuildError::Capacity)?);
        let mut pending = Pending::default();
        let mut slots = Vec::new();
        let shared_ring = match self.rings {
            Rings::PerThread => None,
            Rings::Shared => {
                let (producer, consumer) =
                    mpsc::try_new(self.ring_capacity).map_err(BuildError::Capacity)?;
                // Thread 0 stands for the shared ring in `Stats::rings`; drops are counted on
                // the slots of the threads that log.
                let slot = Arc::new(ThreadSlot::new(0));
                slots.push(slot.clone());
                pending.rings.push(RingEntry { consumer, slot });
                Some(Mutex::new(producer))
            }
        };
        static NEXT_JOURNAL: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(Shared {
            id: NEXT_JOURNAL.fetch_add(1, Ordering::Relaxed),
            closed: AtomicBool::new(false),
            ring_capacity: self.ring_capacity,
            policy: self.policy,
            pending: Mutex::new(pending),
            shared_ring,
            slots: Mutex::new(slots),
            worker: OnceLock::new(),
            flush: Mutex::new(FlushState::default()),
            flushed: Condvar::new(),
            shutdown: AtomicBool::new(false),
            dump_at: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            reopen: AtomicBool::new(false),
            leftover: Mutex::new(Vec::new()),
            panic_callsite: OnceLock::new(),
            shutdown_timeout: self.timing.shutdown_timeout,
            next_thread: AtomicU64::new(1),
            next_callsite: AtomicU64::new(1),
            records_written: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            sink_errors: AtomicU64::new(0),
            sink_panics: AtomicU64::new(0),
            lost_reentrant: AtomicU64::new(0),
            lost_spans: AtomicU64::new(0),
            dropped_spans: AtomicU64::new(0),
        });
        let timing = self.timing;
        let sinks = self.sinks;
        let recorder = self.recorder;
        let worker_shared = shared.clone();
        let handle = thread::Builder::new()
            .name("logbuf-journal".into())
            .spawn(move || worker::run(worker_shared, sinks, timing, recorder))
            .map_err(BuildError::Spawn)?;
        let _ = shared.worker.set(handle.thread().clone());
        let guard = Guard {
            shared: shared.clone(),
            timeout: timing.shutdown_timeout,
            handle: Some(handle),
        };
        let journal = Journal { shared };
        if let Some(recorder) = recorder {
            if recorder.dump_on_panic {
                journal.install_panic_hook();
            }
            if recorder.dump_on_sigusr1 {
                crate::recorder::install_sigusr1();
            }
        }
        Ok((journal, guard))
    }
}

// === shared state ===

/// A thread's ring as the worker holds it, and the thread's counters.
pub(crate) struct RingEntry {
    pub(crate) consumer: Consumer,
    pub(crate) slot: Arc<ThreadSlot>,
}

/// Counters a logging thread updates and the worker reads.
#[derive(Debug)]
pub(crate) struct ThreadSlot {
    pub(crate) thread: u64,
    pub(crate) dropped: AtomicU64,
    /// Span records among `dropped`.
    pub(crate) dropped_spans: AtomicU64,
    pub(crate) first_drop: AtomicU64,
    pub(crate) last_drop: AtomicU64,
    pub(crate) high_water: AtomicUsize,
    /// The drops not yet reported, by callsite. Each drop counted in `dropped` is counted here
    /// after it; the worker takes a report's drops from here and subtracts them from `dropped`.
    pub(crate) callsites: DropTable,
}

impl ThreadSlot {
    fn new(thread: u64) -> Self {
        Self {
            thread,
            dropped: AtomicU64::new(0),
            dropped_spans: AtomicU64::new(0),
            first_drop: AtomicU64::new(0),
            last_drop: AtomicU64::new(0),
            high_water: AtomicUsize::new(0),
            callsites: DropTable::new(),
        }
    }
}

/// Handed from logging threads to the worker under a lock, off the hot path: new rings, and
/// definitions (callsites, thread names) to write before the records that use them.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) rings: Vec<RingEntry>,
    pub(crate) definitions: Vec<Vec<u8>>,
    /// Strings interned so far, by text: the id of each.
    pub(crate) interned: HashMap<Box<str>, u64>,
}

#[derive(Debug, Default)]
pub(crate) struct FlushState {
    pub(crate) requested: u64,
    pub(crate) done: u64,
    /// The worker has exited.
    pub(crate) exited: bool,
}

pub(crate) struct Shared {
    id: u64,
    /// The worker has stopped taking records, or is about to: writes are dropped and counted.
    /// Beside `id`, which every write reads too.
    pub(crate) closed: AtomicBool,
    ring_capacity: usize,
    policy: FullPolicy,
    pub(crate) pending: Mutex<Pending>,
    /// Under [`Rings::Shared`], the producer each logging thread clones on its first write.
    shared_ring: Option<Mutex<mpsc::Producer>>,
    /// Every logging thread's counters (and the shared ring's), for the worker's drop reports
    /// and [`Journal::stats`]; the worker removes those of threads that are gone.
    pub(crate) slots: Mutex<Vec<Arc<ThreadSlot>>>,
    worker: OnceLock<Thread>,
    pub(crate) flush: Mutex<FlushState>,
    pub(crate) flushed: Condvar,
    pub(crate) shutdown: AtomicBool,
    /// [`Journal::dump`] asked the flight recorders to write their window, at this tick (0:
    /// not asked).
    pub(crate) dump_at: AtomicU64,
    /// Events the flight recorders discarded by design, as of the worker's last pass.
    pub(crate) discarded: AtomicU64,
    /// The rings of threads still running when the worker stopped, so that records committed
    /// after its last pass are counted (by the guard and [`Journal::stats`]). They hold no
    /// memory the threads' own handles do not hold already.
    pub(crate) leftover: Mutex<Vec<Consumer>>,
    /// [`Journal::reopen`] asked the sinks to reopen their files.
    pub(crate) reopen: AtomicBool,
    /// The callsite of panic events, registered by the first panic.
    panic_callsite: OnceLock<u64>,
    shutdown_timeout: Duration,
    next_thread: AtomicU64,
    next_callsite: AtomicU64,
    pub(crate) records_written: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) sink_errors: AtomicU64,
    pub(crate) sink_panics: AtomicU64,
    /// Events dropped where no thread slot could take the count (re-entrant writes, writes
    /// during thread teardown, writes after the journal closed); the worker reports them as
    /// thread 0.
    pub(crate) lost_reentrant: AtomicU64,
    /// Span records among `lost_reentrant`.
    pub(crate) lost_spans: AtomicU64,
    /// Span records among `dropped`.
    pub(crate) dropped_spans: AtomicU64,
}

/// A poisoned lock only means a thread panicked while holding it; the data is still consistent
/// for our purposes (plain counters and queues), so carry on.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn wake_worker(&self) {
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }

    /// Counts (as dropped) and discards the records committed into the rings after the
    /// worker's last pass: writes that were under way when the journal closed.
    fn count_late(&self) -> u64 {
        let mut leftover = lock(&self.leftover);
        // Rings of threads that registered as the journal closed.
        leftover.extend(lock(&self.pending).rings.drain(..).map(|r| r.consumer));
        let late = leftover
            .iter_mut()
            .map(|consumer| {
                let mut batch = consumer.batch();
                let mut n = 0;
                while batch.next().is_some() {
                    n += 1;
                }
                n
            })
            .sum();
        self.lost_reentrant.fetch_add(late, Ordering::Relaxed);
        late
    }

    /// All threads write into one ring ([`Rings::Shared`]).
    pub(crate) fn is_shared_ring(&self) -> bool {
        self.shared_ring.is_some()
    }
}

thread_local! {
    /// The id of the journal whose worker this thread is; 0 on other threads.
    static WORKER_OF: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Marks the calling thread as `shared`'s worker: its writes into its own journal (a sink that
/// logs) never wait for room, since only it could make room.
pub(crate) fn mark_worker(shared: &Shared) {
    WORKER_OF.with(|w| w.set(shared.id));
}

fn is_worker_of(shared: &Shared) -> bool {
    WORKER_OF
        .try_with(|w| w.get() == shared.id)
        .unwrap_or(false)
}

// === thread-local rings ===

/// A thread's producer for one journal.
struct Local {
    journal: u64,
    producer: LocalProducer,
    slot: Arc<ThreadSlot>,
}

/// The thread's own ring, or its handle on the journal's shared one.
enum LocalProducer {
    Own(spsc::Producer),
    Shared(mpsc::Producer),
}

impl LocalProducer {
    fn is_disconnected(&self) -> bool {
        match self {
            LocalProducer::Own(p) => p.is_disconnected(),
            LocalProducer::Shared(p) => p.is_disconnected(),
        }
    }
}

thread_local! {
    static LOCALS: RefCell<Vec<Local>> = const { RefCell::new(Vec::new()) };
}

/// A claim on either kind of ring: one claim-encode-commit loop serves both, so the record's
/// encoding is one call site, small enough for the compiler to inline.
enum LocalClaim<'a> {
    Own(spsc::WriteClaim<'a>),
    Shared(mpsc::WriteClaim<'a>),
}

impl LocalClaim<'_> {
    #[inline(always)]
    fn bytes(&mut self) -> &mut [u8] {
        match self {
            LocalClaim::Own(c) => c,
            LocalClaim::Shared(c) => c,
        }
    }

    #[inline(always)]
    fn commit(self, len: usize) {
        match self {
            LocalClaim::Own(mut c) => {
                c.truncate(len);
                c.commit();
            }
            LocalClaim::Shared(mut c) => {
                c.truncate(len);
                c.commit();
            }
        }
    }
}

impl LocalProducer {
    #[inline(always)]
    fn try_claim(&mut self, len: usize) -> Result<LocalClaim<'_>, ClaimError> {
        match self {
            LocalProducer::Own(p) => p.try_claim(len).map(LocalClaim::Own),
            LocalProducer::Shared(p) => p.try_claim(len).map(LocalClaim::Shared),
        }
    }

    #[inline]
    fn max_record_len(&self) -> usize {
        match self {
            LocalProducer::Own(p) => p.max_record_len(),
            LocalProducer::Shared(p) => p.max_record_len(),
        }
    }
}

// === impl Journal ===

/// A handle to a journal, cheap to clone, used by the logging front ends.
#[derive(Clone)]
pub struct Journal {
    shared: Arc<Shared>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Settings with their defaults.
    pub fn builder() -> Builder {
        Builder {
            ring_capacity: 1 << 20,
            rings: Rings::PerThread,
            policy: FullPolicy::Drop,
            sinks: Vec::new(),
            timing: Timing {
                flush_interval: Duration::from_millis(100),
                idle_park: Duration::from_millis(2),
                order_window: Duration::from_millis(10),
                shutdown_timeout: Duration::from_secs(30),
            },
            recorder: None,
        }
    }

    /// The tick counter now, as records are stamped with.
    #[inline]
    pub fn now(&self) -> u64 {
        clock::global().now()
    }

    /// Registers a callsite and returns the id records refer to it by. Its definition is
    /// written before any record that the calling thread writes after this returns. The `id`
    /// in `callsite` is ignored.
    pub fn register_callsite(&self, callsite: &Callsite<'_>) -> u64 {
        let id = self.shared.next_callsite.fetch_add(1, Ordering::Relaxed);
        let def = Record::Callsite(Callsite {
            id,
            ..callsite.clone()
        });
        self.define(&def);
        id
    }

    /// Interns `text`: returns the id an [`Encoder::value_interned`] refers to it by, the same
    /// id for the same text every time. Its definition is written before any record that the
    /// calling thread writes after this returns.
    ///
    /// For text a callsite repeats with every record, such as a message without arguments:
    /// the record then carries a varint instead of the text. Takes a lock; front ends intern
    /// once per callsite, not per record. Each text interned stays in memory for the
    /// journal's lifetime, so intern literals, not text made at run time.
    ///
    /// ```
    /// # let (journal, _guard) = logbuf_journal::Journal::builder().build()?;
    /// let id = journal.intern("request done");
    /// assert_eq!(journal.intern("request done"), id);
    /// assert_ne!(journal.intern("request failed"), id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn intern(&self, text: &str) -> u64 {
        let mut pending = lock(&self.shared.pending);
        if let Some(&id) = pending.interned.get(text) {
            return id;
        }
        let id = pending.interned.len() as u64 + 1;
        match postcard::to_allocvec(&Record::Interned(Interned { id, text })) {
            Ok(bytes) => pending.definitions.push(bytes),
            Err(_) => {
                self.shared.lost_reentrant.fetch_add(1, Ordering::Relaxed);
            }
        }
        pending.interned.insert(text.into(), id);
        id
    }

    fn define(&self, record: &Record<'_>) {
        match postcard::to_allocvec(record) {
            Ok(bytes) => lock(&self.shared.pending).definitions.push(bytes),
            Err(_) => {
                self.shared.lost_reentrant.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Writes one record from the calling thread: `encode` writes it with the [`Encoder`] it is
    /// given (and the record's [`Stamp`]: time and thread), into at most `max_len` bytes at first. If the record
    /// turns out longer, `encode` is called again with room for all of it.
    ///
    /// No lock, no allocation, no system call, except on a thread's first write (which creates
    /// and registers its ring) and under [`FullPolicy::Block`] when the ring is full.
    ///
    /// A drop is reported without its callsite; [`Journal::write_event`] names it.
    #[inline]
    pub fn write(&self, max_len: usize, encode: impl FnMut(&mut Encoder<'_>, Stamp)) -> Written {
        self.write_at(self.now(), Kind::Event, 0, max_len, encode)
    }

    /// [`Journal::write`] for an event of `callsite` (the id [`Journal::register_callsite`]
    /// gave): a drop is counted against the callsite, and the worker's report of it names the
    /// callsite (a [`DroppedCallsites`](crate::wire::DroppedCallsites) record in the log), so
    /// readers can tell which events were lost.
    ///
    /// ```
    /// # use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
    /// # let (journal, _guard) = logbuf_journal::Journal::builder().build()?;
    /// # let callsite = journal.register_callsite(&Callsite { id: 0, kind: CallsiteKind::Event,
    /// #     level: Level::Info, target: "app", name: "done", module_path: None, file: None,
    /// #     line: None, fields: vec!["n"] });
    /// journal.write_event(callsite, 32, |enc, at| {
    ///     enc.event(callsite, at.time, at.thread, None, 1);
    ///     enc.value_u64(7);
    /// });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn write_event(
        &self,
        callsite: u64,
        max_len: usize,
        encode: impl FnMut(&mut Encoder<'_>, Stamp),
    ) -> Written {
        self.write_at(self.now(), Kind::Event, callsite, max_len, encode)
    }

    /// [`Journal::write`] for a span record (creation, values, enter, exit, close,
    /// follows-from): the same, but a drop is counted as a span record's
    /// ([`Stats::dropped_spans`], a [`DroppedSpans`](crate::wire::DroppedSpans) record in the
    /// log), so readers can tell dropped events from dropped span records.
    #[inline]
    pub fn write_span(
        &self,
        max_len: usize,
        encode: impl FnMut(&mut Encoder<'_>, Stamp),
    ) -> Written {
        self.write_at(self.now(), Kind::Span, 0, max_len, encode)
    }

    /// [`Journal::write_span`] for the creation of a span of `callsite`: a drop is counted as
    /// a span record's and against the callsite, as [`Journal::write_event`] does. The other
    /// span records (values, enter, exit, close) carry a span id, not a callsite: their drops
    /// are counted without one.
    #[inline]
    pub fn write_span_new(
        &self,
        callsite: u64,
        max_len: usize,
        encode: impl FnMut(&mut Encoder<'_>, Stamp),
    ) -> Written {
        self.write_at(self.now(), Kind::Span, callsite, max_len, encode)
    }

    /// [`Journal::write`] with the record stamped `time`; a drop is counted against
    /// `callsite` (`0`: none).
    #[inline]
    pub(crate) fn write_at(
        &self,
        time: u64,
        kind: Kind,
        callsite: u64,
        max_len: usize,
        mut encode: impl FnMut(&mut Encoder<'_>, Stamp),
    ) -> Written {
        if self.shared.closed.load(Ordering::Relaxed) {
            return self.drop_unattributed(kind);
        }
        let written = LOCALS.try_with(|cell| {
            let Ok(mut locals) = cell.try_borrow_mut() else {
                // Logging from inside a write on this thread (a `Debug` impl that logs).
                return None;
            };
            let local = match locals.iter().position(|l| l.journal == self.shared.id) {
                Some(i) => &mut locals[i],
                None => self.register_thread(&mut locals)?,
            };
            Some(self.write_local(local, time, kind, callsite, max_len, &mut encode))
        });
        match written {
            Ok(Some(w)) => w,
            // Re-entrant, or the thread's locals are gone (thread exit) or could not be made.
            _ => self.drop_unattributed(kind),
        }
    }

    /// A drop no thread slot counts: a write after the journal closed (no ring is made), a
    /// re-entrant write, a write during thread teardown.
    #[cold]
    fn drop_unattributed(&self, kind: Kind) -> Written {
        if kind == Kind::Span {
            self.shared.lost_spans.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.lost_reentrant.fetch_add(1, Ordering::Relaxed);
        Written::Dropped
    }

    #[inline]
    fn write_local(
        &self,
        local: &mut Local,
        time: u64,
        kind: Kind,
        callsite: u64,
        max_len: usize,
        encode: &mut impl FnMut(&mut Encoder<'_>, Stamp),
    ) -> Written {
        let slot = &local.slot;
        let producer = &mut local.producer;
        let max = producer.max_record_len();
        let mut want = max_len.max(1).saturating_add(STAMP);
        let mut spins = 0u32;
        loop {
            // The claim's borrow of the producer ends with this statement, so the retry paths
            // below can use the producer again.
            let error = match producer.try_claim(want) {
                Ok(mut claim) => {
                    let bytes = claim.bytes();
                    let mut enc = Encoder::new(&mut bytes[STAMP..]);
                    encode(
                        &mut enc,
                        Stamp {
                            time,
                            thread: slot.thread,
                        },
                    );
                    match enc.finish() {
                        Ok(len) => {
                            bytes[..STAMP].copy_from_slice(&time.to_le_bytes());
                            claim.commit(STAMP + len);
                            return Written::Committed;
                        }
                        Err(Overflow { needed }) => {
                            drop(claim);
                            if STAMP + needed <= want || STAMP + needed > max {
                                return drop_event(slot, time, kind, callsite);
                            }
                            want = STAMP + needed;
                            continue;
                        }
                    }
                }
                Err(error) => error,
            };
            match error {
                ClaimError::Full if self.shared.policy == FullPolicy::Block => {
                    // Only the worker makes room: it cannot wait for itself (a sink that
                    // logs), and no one makes room once it is gone.
                    if producer.is_disconnected()
                        || self.shared.closed.load(Ordering::Relaxed)
                        || is_worker_of(&self.shared)
                    {
                        return drop_event(slot, time, kind, callsite);
                    }
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        self.shared.wake_worker();
                        thread::yield_now();
                    }
                }
                // An upper bound past the ring's maximum: try the maximum, the record may
                // still fit it.
                ClaimError::TooLarge { .. } if want > max => want = max,
                ClaimError::Full => {
                    // The worker sleeps between passes while rings stay below a quarter
                    // full; a full one wants it now. Woken once per report, not per drop.
                    if slot.dropped.load(Ordering::Relaxed) == 0 {
                        self.shared.wake_worker();
                    }
                    return drop_event(slot, time, kind, callsite);
                }
                _ => return drop_event(slot, time, kind, callsite),
            }
        }
    }

    #[cold]
    fn register_thread<'l>(&self, locals: &'l mut Vec<Local>) -> Option<&'l mut Local> {
        // Forget rings of journals that are gone.
        locals.retain(|l| !l.producer.is_disconnected());
        let (producer, own_ring) = match &self.shared.shared_ring {
            Some(shared) => (LocalProducer::Shared(lock(shared).clone()), None),
            None => {
                let (producer, consumer) = spsc::try_new(self.shared.ring_capacity).ok()?;
                (LocalProducer::Own(producer), Some(consumer))
            }
        };
        let thread = self.shared.next_thread.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(ThreadSlot::new(thread));
        let current = thread::current();
        let name = current
            .name()
            .map_or_else(|| format!("{:?}", current.id()), str::to_owned);
        let def = postcard::to_allocvec(&Record::ThreadName(ThreadName {
            thread,
            name: &name,
        }))
        .ok()?;
        {
            let mut pending = lock(&self.shared.pending);
            pending.definitions.push(def);
            if let Some(consumer) = own_ring {
                pending.rings.push(RingEntry {
                    consumer,
                    slot: slot.clone(),
                });
            }
        }
        lock(&self.shared.slots).push(slot.clone());
        locals.push(Local {
            journal: self.shared.id,
            producer,
            slot,
        });
        locals.last_mut()
    }

    /// Returns once every record committed before the call is written and the sinks are
    /// flushed, or the worker has stopped. Waits at most `timeout`; returns whether the flush
    /// completed in time.
    pub fn flush_timeout(&self, timeout: Duration) -> bool {
        if self
            .shared
            .worker
            .get()
            .is_some_and(|w| w.id() == thread::current().id())
        {
            // A sink logging into its own journal: the worker cannot wait for itself.
            return false;
        }
        let deadline = std::time::Instant::now() + timeout;
        let mut state = lock(&self.shared.flush);
        state.requested += 1;
        let ticket = state.requested;
        self.shared.wake_worker();
        while state.done < ticket && !state.exited {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .flushed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.done >= ticket
    }

    /// [`Journal::flush_timeout`] with no practical limit (an hour).
    pub fn flush(&self) -> bool {
        self.flush_timeout(Duration::from_secs(3600))
    }

    /// Writes everything committed before the call, then has every sink close and reopen its
    /// file ([`Sink::reopen`]), as `logrotate` expects after it moved the file away. Returns
    /// whether that happened within `timeout`.
    pub fn reopen(&self, timeout: Duration) -> bool {
        self.shared.reopen.store(true, Ordering::Release);
        self.flush_timeout(timeout)
    }

    /// Has the flight recorders (the journal's and its sinks', see [`crate::recorder`]) write
    /// the events they hold, as an error would: after the records logged before the call,
    /// before those logged after it. Returns at once: the worker writes them at its next
    /// pass, with every record committed before the call; [`Journal::flush`] after it waits
    /// until they are written. Two dumps close together write each event once. Without a
    /// flight recorder it does nothing.
    pub fn dump(&self) {
        let now = self.now().max(1);
        self.shared.dump_at.fetch_max(now, Ordering::AcqRel);
        self.shared.wake_worker();
    }

    /// Installs a panic hook that has the flight recorders write what they hold
    /// ([`Journal::dump`]), writes the panic into the journal as an `Error` event (target
    /// `panic`, fields `message` and `location`) and flushes every sink, then runs the
    /// hook that was installed before (by default, the one printing the message). The journal's
    /// records therefore reach the disk before the process unwinds, or aborts under
    /// `panic = "abort"`.
    ///
    /// The hook waits at most the builder's [`shutdown_timeout`](Builder::shutdown_timeout) for
    /// the flush. It holds the journal weakly: once the journal is gone, it only runs the
    /// previous hook.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let (journal, _guard) = logbuf_journal::Journal::builder()
    ///     .file(dir.path().join("app.lbf"))?
    ///     .build()?;
    /// journal.install_panic_hook();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn install_panic_hook(&self) {
        let journal = Arc::downgrade(&self.shared);
        let timeout = self.shared.shutdown_timeout;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(shared) = journal.upgrade() {
                let journal = Journal { shared };
                journal.dump();
                journal.write_panic(info);
                journal.flush_timeout(timeout);
            }
            previous(info);
        }));
    }

    #[cold]
    fn write_panic(&self, info: &std::panic::PanicHookInfo<'_>) {
        let callsite = *self.shared.panic_callsite.get_or_init(|| {
            self.register_callsite(&Callsite {
                id: 0,
                kind: crate::wire::CallsiteKind::Event,
                level: crate::wire::Level::Error,
                target: "panic",
                name: "panic",
                module_path: None,
                file: None,
                line: None,
                fields: vec!["message", "location"],
            })
        });
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("Box<dyn Any>");
        let location = info.location();
        self.write_event(callsite, message.len() + 64, |enc, at| {
            enc.event(callsite, at.time, at.thread, None, 2);
            enc.value_str(message);
            match location {
                Some(l) => {
                    enc.value_debug(format_args!("{}:{}:{}", l.file(), l.line(), l.column()))
                }
                None => enc.value_empty(),
            }
        });
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let closed = lock(&self.shared.flush).exited;
        if closed {
            self.shared.count_late();
        }
        let slots = lock(&self.shared.slots);
        // Drops the worker has not reported yet, and (once it is gone) never will.
        let unreported = self.shared.lost_reentrant.load(Ordering::Relaxed)
            + slots
                .iter()
                .map(|s| s.dropped.load(Ordering::Relaxed))
                .sum::<u64>();
        let unreported_spans = self.shared.lost_spans.load(Ordering::Relaxed)
            + slots
                .iter()
                .map(|s| s.dropped_spans.load(Ordering::Relaxed))
                .sum::<u64>();
        let rings = if closed {
            Vec::new()
        } else {
            slots
                .iter()
                .map(|s| RingStats {
                    thread: s.thread,
                    high_water: s.high_water.load(Ordering::Relaxed),
                })
                .collect()
        };
        drop(slots);
        Stats {
            records_written: self.shared.records_written.load(Ordering::Relaxed),
            bytes_written: self.shared.bytes_written.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed) + unreported,
            dropped_spans: self.shared.dropped_spans.load(Ordering::Relaxed) + unreported_spans,
            sink_errors: self.shared.sink_errors.load(Ordering::Relaxed),
            sink_panics: self.shared.sink_panics.load(Ordering::Relaxed),
            discarded: self.shared.discarded.load(Ordering::Relaxed),
            rings,
        }
    }
}

/// What a record is, for counting drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Event,
    Span,
}

/// Counts a dropped record on its thread's slot, for the worker to report: in the total, then
/// against its callsite. Lock-free and allocation-free (see [`DropTable::count`]).
#[cold]
fn drop_event(slot: &ThreadSlot, time: u64, kind: Kind, callsite: u64) -> Written {
    if kind == Kind::Span {
        // Before the Release increment of `dropped` below.
        slot.dropped_spans.fetch_add(1, Ordering::Relaxed);
    }
    let _ = slot
        .first_drop
        .compare_exchange(0, time, Ordering::Relaxed, Ordering::Relaxed);
    slot.last_drop.store(time, Ordering::Relaxed);
    slot.dropped.fetch_add(1, Ordering::Relaxed);
    // Release, after the total: the worker's Acquire swap of this count sees the times stored
    // above and the total it subtracts the count from.
    slot.callsites.count(callsite);
    Written::Dropped
}

// === impl Guard ===

/// Keeps the journal's worker running; dropping it writes everything logged so far, syncs the
/// sinks and stops the worker.
///
/// Bind it to a named variable that lives as long as logging should work: `let _guard = ...`.
/// Binding it to `_` drops it at once, and everything logged afterwards is discarded.
#[must_use = "dropping the guard stops the journal; bind it with `let _guard = ...`"]
pub struct Guard {
    shared: Arc<Shared>,
    timeout: Duration,
    handle: Option<thread::JoinHandle<()>>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Writes from now on are dropped and counted: the worker's last pass is bounded by
        // what the rings hold, however busy the logging threads are.
        self.shared.closed.store(true, Ordering::Release);
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake_worker();
        let deadline = std::time::Instant::now() + self.timeout;
        let mut state = lock(&self.shared.flush);
        while !state.exited {
            let now = std::time::Instant::now();
            if now >= deadline {
                eprintln!(
                    "logbuf-journal: the worker did not finish writing within {:?}; giving up on it",
                    self.timeout
                );
                return;
            }
            state = self
                .shared
                .flushed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(state);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        // Writes that were under way when the journal closed (the thread was preempted between
        // its check and its commit) and committed after the worker's last pass: lost, but not
        // silently.
        let late = self.shared.count_late();
        if late > 0 {
            eprintln!(
                "logbuf-journal: {late} record(s) committed while the journal closed were not written"
            );
        }
    }
}
