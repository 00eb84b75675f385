//! Channels: the [queues](crate::queue) with a receiver that sleeps when there is nothing to do.
//!
//! - [`spsc::channel`]: one sender, one receiver.
//! - [`mpsc::channel`]: `Clone` senders, one receiver.
//!
//! Senders cost what the raw queue costs: [`Sender::try_send`] is one load of the receiver's
//! liveness flag plus the queue's claim, and never makes a system call. The receiver spins
//! briefly, then parks with a timeout, so it notices records and disconnects even when no
//! sender calls [`Sender::notify`]; a `notify` wakes it at once. The timeout starts at the *park
//! interval* ([`DEFAULT_PARK_INTERVAL`] unless [set](Receiver::set_park_interval)) and doubles
//! while nothing arrives, up to the *maximum park interval* ([`DEFAULT_MAX_PARK_INTERVAL`]), so
//! an idle receiver costs almost nothing.
//!
//! ```
//! use std::time::Duration;
//! use logbuf::channel::mpsc;
//!
//! let (tx, mut rx) = mpsc::channel(64 * 1024);
//! let writer = std::thread::spawn({
//!     let mut tx = tx.clone();
//!     move || tx.send_bytes(b"from a thread").unwrap()
//! });
//! assert_eq!(&*rx.recv_timeout(Duration::from_secs(5)).unwrap(), b"from a thread");
//! writer.join().unwrap();
//! drop(tx);
//! assert!(rx.recv().is_err(), "every sender is gone and nothing is left");
//! ```
//!
//! # Wake-ups
//!
//! ```text
//!   receiver                                   sender
//!   store state = PARKED                       commit (Release store of the length word)
//!   heavy barrier  ───────── pairs ─────────   light barrier
//!   re-check queue; park if still empty        load state; unpark only if PARKED
//! ```
//!
//! The two barriers are ordered one way or the other: either the sender's load sees `PARKED`
//! and unparks, or the receiver's re-check sees the record. A record committed and notified
//! while the receiver is falling asleep is never left waiting for the park timeout.
//!
//! On Linux the heavy barrier is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` and the light
//! one only a compiler fence, so `notify` on an awake receiver costs one load of a line the
//! receiver rarely writes; the receiver pays the system call once each time it goes to sleep
//! (it stays `PARKED` across timeouts). Elsewhere, or where the system call is refused, both are
//! `fence(SeqCst)`; that is also the form the loom model in `tests/loom_channel.rs` checks, as
//! loom cannot model `membarrier`.
//!
//! A notifier moves the state from `PARKED` to `NOTIFYING` with a compare-exchange before it
//! reads the receiver's thread handle, and the receiver waits out `NOTIFYING` before it changes
//! that handle, so the handle is never read while it is written.

use std::fmt;
use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::queue::{self, Batch, ClaimError, Consumer, ReadClaim};
use crate::sync::{
    Arc, AtomicUsize, Ordering, Thread, UnsafeCell, barrier, current_thread, park_timeout,
    spin_loop, yield_now,
};

pub mod mpsc;
pub mod spsc;

/// How long an idle receiver first sleeps before it looks again without being notified.
pub const DEFAULT_PARK_INTERVAL: Duration = Duration::from_millis(5);
/// The longest an idle receiver sleeps before it looks again without being notified.
pub const DEFAULT_MAX_PARK_INTERVAL: Duration = Duration::from_millis(100);

/// Spins of a sender's [`Sender::send`] before it gives up with `Full` (and of
/// [`Sender::send_timeout`] before it starts yielding): about 10 µs to 100 µs, depending on the
/// machine.
const SEND_SPINS: u32 = if cfg!(loom) { 2 } else { 4096 };
/// Spins, then yields, of a receiver before it parks.
const RECV_SPINS: u32 = if cfg!(loom) { 1 } else { 64 };
const RECV_YIELDS: u32 = if cfg!(loom) { 0 } else { 8 };
/// Spins of a receiver waiting for a notifier to leave `NOTIFYING` before it yields instead.
const NOTIFY_SPINS: u32 = if cfg!(loom) { 1 } else { 128 };

// === errors ===

/// Why a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrySendError {
    /// No room right now; the receiver frees room as it reads.
    Full,
    /// The receiver is gone; nothing sent will ever be read.
    Disconnected,
    /// A record of zero bytes was asked for. Retrying cannot help.
    ZeroLength,
    /// The record is larger than this channel can ever hold. Retrying cannot help.
    TooLarge {
        /// The length asked for.
        len: usize,
        /// The largest length this channel accepts.
        max: usize,
    },
}

impl From<ClaimError> for TrySendError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Full => TrySendError::Full,
            ClaimError::ZeroLength => TrySendError::ZeroLength,
            ClaimError::TooLarge { len, max } => TrySendError::TooLarge { len, max },
        }
    }
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full => f.write_str("channel is full"),
            TrySendError::Disconnected => f.write_str("receiver is disconnected"),
            TrySendError::ZeroLength => f.write_str("record length is zero"),
            TrySendError::TooLarge { len, max } => {
                write!(
                    f,
                    "record of {len} bytes exceeds the channel's maximum of {max} bytes"
                )
            }
        }
    }
}

impl std::error::Error for TrySendError {}

/// Every sender is gone and every record sent has been received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on an empty and disconnected channel")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// No record is committed yet.
    Empty,
    /// Every sender is gone and every record sent has been received.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => RecvError.fmt(f),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// Why [`Receiver::recv_timeout`] returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecvTimeoutError {
    /// No record arrived in time.
    Timeout,
    /// Every sender is gone and every record sent has been received.
    Disconnected,
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting on a channel"),
            RecvTimeoutError::Disconnected => RecvError.fmt(f),
        }
    }
}

impl std::error::Error for RecvTimeoutError {}

// === the queues a channel wraps ===

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::queue::spsc::Producer {}
    impl Sealed for crate::queue::mpsc::Producer {}
}

/// The writing end of a queue a [`Sender`] wraps: [`queue::spsc::Producer`] or
/// [`queue::mpsc::Producer`]. Sealed.
pub trait QueueProducer: sealed::Sealed + fmt::Debug {
    /// The queue's write claim.
    type Claim<'a>
    where
        Self: 'a;
    #[doc(hidden)]
    fn claim(&mut self, len: usize) -> Result<Self::Claim<'_>, ClaimError>;
    #[doc(hidden)]
    fn write(&mut self, record: &[u8]) -> Result<(), ClaimError>;
    #[doc(hidden)]
    fn consumer_gone(&self) -> bool;
    #[doc(hidden)]
    fn max_len(&self) -> usize;
}

macro_rules! impl_queue_producer {
    ($kind:ident) => {
        impl QueueProducer for queue::$kind::Producer {
            type Claim<'a> = queue::$kind::WriteClaim<'a>;
            #[inline]
            fn claim(&mut self, len: usize) -> Result<Self::Claim<'_>, ClaimError> {
                self.try_claim(len)
            }
            #[inline]
            fn write(&mut self, record: &[u8]) -> Result<(), ClaimError> {
                self.try_write(record)
            }
            #[inline]
            fn consumer_gone(&self) -> bool {
                self.is_disconnected()
            }
            fn max_len(&self) -> usize {
                self.max_record_len()
            }
        }
    };
}

impl_queue_producer!(spsc);
impl_queue_producer!(mpsc);

// === impl Signal ===

const RUNNING: usize = 0;
const PARKED: usize = 1;
const NOTIFYING: usize = 2;

/// The receiver's sleep state and thread handle, shared with the senders.
pub(crate) struct Signal {
    state: CachePadded<AtomicUsize>,
    /// Written by the receiver only while `state` is `RUNNING`; read by a notifier only while
    /// it holds `NOTIFYING`.
    thread: UnsafeCell<Option<Thread>>,
    /// Whether the barriers are asymmetric (`membarrier`); fixed for the channel's life, so
    /// both sides of every handshake use the same kind.
    asymmetric: bool,
}

// SAFETY: `thread` is written and read only under the state protocol above, which gives each
// access exclusive use of the slot; everything else is atomic or immutable.
unsafe impl Sync for Signal {}
// SAFETY: `Thread` is `Send`; the atomics are.
unsafe impl Send for Signal {}

impl Signal {
    pub(crate) fn new() -> Self {
        Self {
            state: CachePadded::new(AtomicUsize::new(RUNNING)),
            thread: UnsafeCell::new(None),
            asymmetric: barrier::asymmetric(),
        }
    }

    /// Wakes the receiver if it is parked. Called after a commit or a disconnect.
    #[inline]
    pub(crate) fn notify(&self) {
        // Pairs with the heavy barrier in `park`: either the load below sees PARKED, or the
        // receiver's re-check after its barrier sees what this thread committed before.
        barrier::light(self.asymmetric);
        if self.state.load(Ordering::Relaxed) == PARKED {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        // Acquire pairs with the Release store of PARKED: the thread handle written before it
        // is visible.
        if self
            .state
            .compare_exchange(PARKED, NOTIFYING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: holding NOTIFYING, this notifier is the only one reading the slot, and
            // the receiver does not write it until the state leaves NOTIFYING.
            let thread = self.thread.with(|slot| unsafe { (*slot).clone() });
            // Release pairs with the receiver's Acquire when it sees RUNNING again: the read
            // above is done before it may write the slot.
            self.state.store(RUNNING, Ordering::Release);
            if let Some(thread) = thread {
                thread.unpark();
            }
        }
    }

    /// Parks the calling (receiver) thread for at most `timeout`, unless `ready` says there is
    /// something to do once the senders can see that this thread is parked. The state stays
    /// `PARKED` afterwards, so that parking again costs no second barrier; call [`Signal::leave`]
    /// before going back to work.
    fn park(&self, timeout: Duration, ready: impl FnOnce() -> bool) {
        if self.state.load(Ordering::Relaxed) != PARKED {
            // A notifier may still be reading the slot: wait until it is done. It may have been
            // preempted there, so after a few spins give it the core.
            let mut spins = 0;
            while self.state.load(Ordering::Acquire) == NOTIFYING {
                wait_for_notifier(&mut spins);
            }
            // SAFETY: the state is RUNNING and only this receiver moves it out of RUNNING, so
            // no notifier touches the slot now.
            self.thread
                .with_mut(|slot| unsafe { *slot = Some(current_thread()) });
            // Release pairs with a notifier's Acquire compare-exchange: it sees the handle.
            self.state.store(PARKED, Ordering::Release);
            // Pairs with the light barrier in `notify`.
            barrier::heavy(self.asymmetric);
        }
        if !ready() {
            park_timeout(timeout);
        }
    }

    /// Leaves `PARKED` after [`Signal::park`]. A notifier that got in first is between
    /// `NOTIFYING` and `RUNNING` or done; wait for it, and Acquire its Release so its read of the
    /// slot is over.
    fn leave(&self) {
        let mut spins = 0;
        loop {
            match self
                .state
                .compare_exchange(PARKED, RUNNING, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) | Err(RUNNING) => return,
                Err(_) => wait_for_notifier(&mut spins),
            }
        }
    }
}

/// One step of a sender's wait for room: [`SEND_SPINS`] spins, then a yield per step, until
/// `deadline` (none: for ever), after which it is `Full`. `spins` stops counting at the limit.
#[inline]
fn wait_for_room(spins: &mut u32, deadline: Option<Instant>) -> Result<(), TrySendError> {
    if *spins < SEND_SPINS {
        *spins += 1;
        spin_loop();
        return Ok(());
    }
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Err(TrySendError::Full);
    }
    yield_now();
    Ok(())
}

/// One step of the receiver's wait for a notifier that holds `NOTIFYING`: a notifier holds it
/// for a few instructions, so spin; but one preempted there holds it for a time slice, and on a
/// busy core it may need this one to run, so after [`NOTIFY_SPINS`] spins yield instead.
#[inline]
fn wait_for_notifier(spins: &mut u32) {
    if *spins < NOTIFY_SPINS {
        *spins += 1;
        spin_loop();
    } else {
        yield_now();
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Signal { .. }")
    }
}

// === impl Sender ===

/// The sending end of a channel; see [`spsc::Sender`] and [`mpsc::Sender`].
pub struct Sender<P: QueueProducer> {
    /// Dropped by hand in `Drop`, before the receiver is notified of the disconnect.
    producer: ManuallyDrop<P>,
    signal: Arc<Signal>,
}

impl<P: QueueProducer> Sender<P> {
    fn new(producer: P, signal: Arc<Signal>) -> Self {
        Self {
            producer: ManuallyDrop::new(producer),
            signal,
        }
    }

    /// Claims room for a record of `len` bytes, once.
    ///
    /// Write the record into the claim and `commit` it, then call [`Sender::notify`] (or let the
    /// receiver find it within its park interval).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Disconnected`] if the receiver is gone, [`TrySendError::Full`] if there is
    /// no room now, and the length errors no retry can cure.
    #[inline]
    pub fn try_send(&mut self, len: usize) -> Result<P::Claim<'_>, TrySendError> {
        if self.producer.consumer_gone() {
            return Err(TrySendError::Disconnected);
        }
        Ok(self.producer.claim(len)?)
    }

    /// Claims room for a record of `len` bytes, spinning a bounded while (no system call, no
    /// sleep) if the channel is full.
    ///
    /// Unlike nexus-logbuf's `send`, this does not wait until there is room: a receiver that
    /// falls behind for more than the spin makes it return `Full`. To wait, call
    /// [`Sender::send_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Sender::try_send`]; `Full` once the spins are used up.
    #[inline]
    pub fn send(&mut self, len: usize) -> Result<P::Claim<'_>, TrySendError> {
        let producer: *mut P = &mut *self.producer;
        let mut spins = 0;
        loop {
            // SAFETY: a fresh borrow of the producer each time round; a failed attempt's borrow
            // ends with its error, so at most the returned claim still borrows it. (The
            // borrow checker cannot see that a borrow returned on one path ends on the other.)
            let producer = unsafe { &mut *producer };
            if producer.consumer_gone() {
                return Err(TrySendError::Disconnected);
            }
            match producer.claim(len) {
                Ok(claim) => return Ok(claim),
                Err(ClaimError::Full) if spins < SEND_SPINS => {
                    spins += 1;
                    spin_loop();
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Copies `record` into the channel as one record and notifies the receiver, spinning a
    /// bounded while if the channel is full, as [`Sender::send`] does.
    ///
    /// # Errors
    ///
    /// As [`Sender::send`].
    pub fn send_bytes(&mut self, record: &[u8]) -> Result<(), TrySendError> {
        let mut spins = 0;
        loop {
            if self.producer.consumer_gone() {
                return Err(TrySendError::Disconnected);
            }
            match self.producer.write(record) {
                Ok(()) => break,
                Err(ClaimError::Full) if spins < SEND_SPINS => {
                    spins += 1;
                    spin_loop();
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.notify();
        Ok(())
    }

    /// Claims room for a record of `len` bytes, waiting up to `timeout` for it while the
    /// channel is full: it spins a while, then yields its time slice between attempts. It never
    /// sleeps or parks (the receiver, which frees the room, does not wake senders), and gives up
    /// as soon as the receiver is gone.
    ///
    /// This is the call for a producer that would rather wait than drop a record, as
    /// nexus-logbuf's `Sender::send` does; [`Sender::send`] gives up after a brief spin. A
    /// `timeout` too large for an [`Instant`] waits without a deadline.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (mut tx, mut rx) = logbuf::channel::spsc::channel(64);
    /// let reader = std::thread::spawn(move || {
    ///     let mut got = Vec::new();
    ///     while let Ok(record) = rx.recv() {
    ///         got.push(record[0]);
    ///     }
    ///     got
    /// });
    /// for i in 0..100u8 {
    ///     // The ring holds two of these at a time: each send waits for the reader.
    ///     let mut claim = tx.send_timeout(24, Duration::from_secs(10)).unwrap();
    ///     claim.fill(i);
    ///     claim.commit();
    ///     tx.notify();
    /// }
    /// drop(tx);
    /// assert_eq!(reader.join().unwrap(), (0..100).collect::<Vec<u8>>());
    /// ```
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if there was still no room at the deadline,
    /// [`TrySendError::Disconnected`] as soon as the receiver is gone, and the length errors no
    /// wait can cure at once.
    pub fn send_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<P::Claim<'_>, TrySendError> {
        let deadline = Instant::now().checked_add(timeout);
        let producer: *mut P = &mut *self.producer;
        let mut spins = 0;
        loop {
            // SAFETY: as in `send`: a fresh borrow each time round, and only the returned
            // claim outlives its attempt.
            let producer = unsafe { &mut *producer };
            if producer.consumer_gone() {
                return Err(TrySendError::Disconnected);
            }
            match producer.claim(len) {
                Ok(claim) => return Ok(claim),
                Err(ClaimError::Full) => wait_for_room(&mut spins, deadline)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Copies `record` into the channel as one record and notifies the receiver, waiting up to
    /// `timeout` for room as [`Sender::send_timeout`] does.
    ///
    /// # Errors
    ///
    /// As [`Sender::send_timeout`].
    pub fn send_bytes_timeout(
        &mut self,
        record: &[u8],
        timeout: Duration,
    ) -> Result<(), TrySendError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut spins = 0;
        loop {
            if self.producer.consumer_gone() {
                return Err(TrySendError::Disconnected);
            }
            match self.producer.write(record) {
                Ok(()) => break,
                Err(ClaimError::Full) => wait_for_room(&mut spins, deadline)?,
                Err(e) => return Err(e.into()),
            }
        }
        self.notify();
        Ok(())
    }

    /// Wakes the receiver if it is parked. When it is not, this costs one load of a cache line
    /// the receiver writes only when it goes to sleep or wakes (plus a `SeqCst` fence where the
    /// asymmetric barrier is unavailable; see the [module docs](self)).
    #[inline]
    pub fn notify(&self) {
        self.signal.notify();
    }

    /// Whether the receiver is gone: nothing sent from now on will be read.
    pub fn is_disconnected(&self) -> bool {
        self.producer.consumer_gone()
    }

    /// The largest record length this channel accepts.
    pub fn max_record_len(&self) -> usize {
        self.producer.max_len()
    }
}

impl<P: QueueProducer> Drop for Sender<P> {
    fn drop(&mut self) {
        // SAFETY: dropped exactly once, here, and never used after.
        unsafe { ManuallyDrop::drop(&mut self.producer) };
        // The receiver may be parked waiting for records that will now never come.
        self.signal.notify();
    }
}

impl<P: QueueProducer> fmt::Debug for Sender<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("producer", &*self.producer)
            .finish_non_exhaustive()
    }
}

// === impl Receiver ===

/// The receiving end of a channel, SPSC or MPSC alike.
pub struct Receiver {
    consumer: Consumer,
    signal: Arc<Signal>,
    park_interval: Duration,
    max_park_interval: Duration,
}

impl Receiver {
    fn new(consumer: Consumer, signal: Arc<Signal>) -> Self {
        Self {
            consumer,
            signal,
            park_interval: DEFAULT_PARK_INTERVAL,
            max_park_interval: DEFAULT_MAX_PARK_INTERVAL,
        }
    }

    /// The next record if one is committed.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is, [`TryRecvError::Disconnected`] if none is and every
    /// sender is gone.
    #[inline]
    pub fn try_recv(&mut self) -> Result<ReadClaim<'_>, TryRecvError> {
        // Load before looking: records committed before the last sender left are visible then.
        let gone = self.consumer.is_disconnected();
        match self.consumer.try_claim() {
            Some(record) => Ok(record),
            None if gone => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next record, waiting for it as long as it takes.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once every sender is gone and every record has been received.
    pub fn recv(&mut self) -> Result<ReadClaim<'_>, RecvError> {
        self.recv_deadline(None).map_err(|_| RecvError)
    }

    /// The next record, waiting at most `timeout` for it.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if none arrived in time, [`RecvTimeoutError::Disconnected`]
    /// once every sender is gone and every record has been received.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<ReadClaim<'_>, RecvTimeoutError> {
        self.recv_deadline(Instant::now().checked_add(timeout))
    }

    fn recv_deadline(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<ReadClaim<'_>, RecvTimeoutError> {
        let mut spins = 0;
        let mut parked = false;
        let mut interval = self.park_interval;
        let timed_out = loop {
            let gone = self.consumer.is_disconnected();
            // Consumes leading skips (aborted or truncated claims, padding) and hands their
            // room back when nothing follows them: waiting on them would keep it from the
            // senders, who may need it to send the record this receiver waits for.
            if self.consumer.skip_to_record() || gone {
                break false;
            }
            // `spins` stops counting once the spins and yields are used up, so it never
            // overflows however long the receiver waits.
            if spins < RECV_SPINS {
                spin_loop();
                spins += 1;
            } else if spins < RECV_SPINS + RECV_YIELDS {
                yield_now();
                spins += 1;
            } else {
                let mut wait = interval;
                if let Some(deadline) = deadline {
                    let now = Instant::now();
                    if now >= deadline {
                        break true;
                    }
                    wait = wait.min(deadline - now);
                }
                // Hand back what was read before sleeping on it.
                self.consumer.release();
                let consumer = &mut self.consumer;
                self.signal.park(wait, || {
                    consumer.skip_to_record() || consumer.is_disconnected()
                });
                parked = true;
                // Saturating: a park interval near `Duration::MAX` stays there.
                interval = interval
                    .saturating_mul(2)
                    .min(self.max_park_interval.max(self.park_interval));
            }
        };
        if parked {
            self.signal.leave();
        }
        if timed_out {
            return Err(RecvTimeoutError::Timeout);
        }
        // A record is waiting, or every sender is gone and what they sent has been received.
        self.consumer
            .try_claim()
            .ok_or(RecvTimeoutError::Disconnected)
    }

    /// Reads the records committed so far and releases them together; see [`Batch`].
    pub fn batch(&mut self) -> Batch<'_> {
        self.consumer.batch()
    }

    /// Whether every sender is gone. Records they sent stay readable until received.
    pub fn is_disconnected(&self) -> bool {
        self.consumer.is_disconnected()
    }

    /// Whether no record is waiting.
    pub fn is_empty(&self) -> bool {
        self.consumer.is_empty()
    }

    /// How long an idle receiver first sleeps before looking again without a notification.
    pub fn park_interval(&self) -> Duration {
        self.park_interval
    }

    /// Sets how long an idle receiver first sleeps before looking again without a
    /// notification; each further sleep doubles it, up to [`Receiver::max_park_interval`].
    /// Shorter finds un-notified records sooner and costs more CPU when idle. A zero interval is
    /// taken as one microsecond.
    pub fn set_park_interval(&mut self, interval: Duration) {
        self.park_interval = interval.max(Duration::from_micros(1));
    }

    /// The longest an idle receiver sleeps before looking again without a notification.
    pub fn max_park_interval(&self) -> Duration {
        self.max_park_interval
    }

    /// Sets the longest an idle receiver sleeps before looking again without a notification.
    /// An interval below the park interval is taken as the park interval: no growth.
    pub fn set_max_park_interval(&mut self, interval: Duration) {
        self.max_park_interval = interval;
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("consumer", &self.consumer)
            .field("park_interval", &self.park_interval)
            .field("max_park_interval", &self.max_park_interval)
            .finish_non_exhaustive()
    }
}
