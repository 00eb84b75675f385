//! The consumer side, one type for the SPSC and MPSC rings: reading committed records in order,
//! passing over skips, zeroing each record as it is consumed, and handing the bytes back to the
//! producers in chunks, each with one `Release` store of `head`.
//!
//! Why chunks: a store of `head` per record makes the line holding `head` bounce between the
//! cores on every record once the ring is full, and lets the producer write into the lines right
//! behind the ones the consumer is reading. Publishing every `capacity / 16` bytes, and whenever
//! the consumer catches up, keeps both apart; `BENCHMARKS.md` has the measurements.

use std::fmt;
use std::ops::Deref;

use crate::ring::{HEADER, Ring, SKIP, span};
use crate::sync::{Arc, Ordering};

/// Fraction of the capacity the consumer may hold consumed-but-unpublished while it keeps
/// reading. Loom's rings are tiny; half of one still holds back two small records.
const RELEASE_CHUNK_DIVISOR: usize = if cfg!(loom) { 2 } else { 16 };

/// The reading end of a ring ([`spsc`](super::spsc) or [`mpsc`](super::mpsc)). `Send`, not
/// `Clone`.
///
/// Records come out in the order producers claimed room for them; the consumer waits at a
/// claim that is not committed yet and never reads past it.
///
/// Consumed records are zeroed at once and handed back to the producers in chunks of
/// `capacity / 16` bytes, and in full whenever a read finds nothing waiting (or on
/// [`Consumer::release`]), so a consumer that stops reading part-way through a busy stream holds
/// at most a sixteenth of the ring.
pub struct Consumer {
    ring: Arc<Ring>,
    /// Position of the next record to look at; everything before it is zeroed.
    head: usize,
    /// Position published in `ring.head`.
    released: usize,
    /// Publish once this many bytes are consumed and not yet published.
    chunk: usize,
}

impl Consumer {
    pub(crate) fn new(ring: Arc<Ring>) -> Self {
        let chunk = ring.capacity / RELEASE_CHUNK_DIVISOR;
        Self {
            ring,
            head: 0,
            released: 0,
            chunk,
        }
    }

    /// Finds the next committed record at or after `self.head`, consuming skips on the way.
    /// Returns its position and payload length, leaving `self.head` on it. When there is none,
    /// publishes everything consumed so far.
    #[inline]
    fn peek(&mut self) -> Option<(usize, usize)> {
        loop {
            let ring = &*self.ring;
            // Everything up to `released + capacity` may belong to producers; once the unread
            // window covers the whole ring there is nothing committed beyond it.
            if self.head.wrapping_sub(self.released) >= ring.capacity {
                self.release();
                return None;
            }
            let off = self.head & ring.mask();
            // Acquire pairs with the producer's Release store of this length word, so the
            // payload written before it is visible below.
            let word = ring.buf.load_header(off, Ordering::Acquire);
            if word == 0 {
                self.release();
                return None;
            }
            let len = word & !SKIP;
            debug_assert!(
                span(len) <= ring.capacity - off,
                "corrupt length word {word:#x} at {off}"
            );
            if word & SKIP != 0 {
                self.consume(span(len));
                continue;
            }
            return Some((self.head, len));
        }
    }

    /// Zeroes the record of `span` bytes at `head` and moves past it; publishes when a chunk's
    /// worth is waiting.
    #[inline]
    fn consume(&mut self, span: usize) {
        let ring = &*self.ring;
        // SAFETY: the record at `head` was committed (its length word acquired) and is read;
        // records never straddle the end of the buffer, and no producer writes these bytes
        // until a `head` store past them, which `release` makes after this.
        unsafe { ring.buf.zero(self.head & ring.mask(), span) };
        self.head = self.head.wrapping_add(span);
        if self.head.wrapping_sub(self.released) >= self.chunk {
            self.release();
        }
    }

    /// Hands everything consumed so far back to the producers.
    ///
    /// Reads do this by themselves every `capacity / 16` bytes and whenever they find nothing
    /// waiting; call it when you stop reading for a while without having seen an empty ring.
    #[inline]
    pub fn release(&mut self) {
        if self.head != self.released {
            // Release pairs with the producers' Acquire load of `head` before they claim: the
            // zeroes written in `consume` are in place before any producer reuses these bytes.
            self.ring.head.store(self.head, Ordering::Release);
            self.released = self.head;
        }
    }

    /// The next committed record, or `None` if it is not committed yet.
    ///
    /// Dropping the returned claim zeroes the record; its room goes back to the producers with
    /// the next chunk (see [`Consumer`]).
    #[inline]
    pub fn try_claim(&mut self) -> Option<ReadClaim<'_>> {
        let (pos, len) = self.peek()?;
        let off = (pos & self.ring.mask()) + HEADER;
        self.ring.buf.note_read(off, len);
        Some(ReadClaim {
            reader: self,
            off,
            len,
            span: span(len),
        })
    }

    /// Reads records in a loop; see [`Batch`].
    pub fn batch(&mut self) -> Batch<'_> {
        Batch {
            reader: self,
            pending: 0,
            count: 0,
        }
    }

    /// Consumes the skip records at the front and says whether a committed record waits
    /// behind them. When none does, everything consumed is handed back to the producers, so a
    /// consumer that waits on this never holds the room of aborted claims or padding.
    #[inline]
    pub(crate) fn skip_to_record(&mut self) -> bool {
        self.peek().is_some()
    }

    /// Whether no committed record is waiting at the front. Looks past skip records without
    /// consuming them; a consumer that waits for records should read with
    /// [`Consumer::try_claim`] (which hands skips back) rather than wait on this alone.
    pub fn is_empty(&self) -> bool {
        let ring = &*self.ring;
        let mut pos = self.head;
        loop {
            if pos.wrapping_sub(self.released) >= ring.capacity {
                return true;
            }
            let word = ring.buf.load_header(pos & ring.mask(), Ordering::Acquire);
            if word == 0 {
                return true;
            }
            if word & SKIP == 0 {
                return false;
            }
            pos = pos.wrapping_add(span(word & !SKIP));
        }
    }

    /// Capacity of the ring in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.capacity
    }

    /// Whether every producer has been dropped. Records committed before that stay readable:
    /// once this returns `true` and [`Consumer::try_claim`] returns `None`, nothing more will
    /// ever arrive.
    pub fn is_disconnected(&self) -> bool {
        self.ring.producers_gone()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.ring.drop_consumer();
    }
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

/// A committed record, read in place. Derefs to the record's bytes.
///
/// Dropping it zeroes the record and hands its space back to the producers. Holding it keeps
/// that space (and everything after it) from being reused, so drop it promptly.
///
/// `mem::forget` on a read claim consumes nothing: the next read returns the same record
/// again. That is sound (nothing is freed behind a live borrow) and deliberate: only the drop
/// moves the consumer on, so a claim that never ends never loses its record.
#[must_use = "a ReadClaim releases its record when dropped; dropping it at once discards the record"]
pub struct ReadClaim<'a> {
    reader: &'a mut Consumer,
    /// Buffer offset of the payload.
    off: usize,
    len: usize,
    span: usize,
}

impl Deref for ReadClaim<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the producer committed `len` bytes at `off` with a Release store this
        // consumer acquired; nobody writes them until `release` publishes a head past them,
        // which happens only after this claim is dropped.
        unsafe { std::slice::from_raw_parts(self.reader.ring.buf.ptr(self.off), self.len) }
    }
}

impl Drop for ReadClaim<'_> {
    #[inline]
    fn drop(&mut self) {
        self.reader.consume(self.span);
    }
}

impl fmt::Debug for ReadClaim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadClaim")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Reads records one after another in a loop, without a claim object per record.
///
/// Each call to [`Batch::next`] consumes the record returned before (zeroing it) and returns the
/// next committed one. Room goes back to the producers in chunks, as for
/// [`Consumer::try_claim`], and in full when `next` finds nothing waiting.
///
/// The last record returned is consumed on the next call or when the batch is dropped; a
/// batch that is `mem::forget`-ten leaves it in place, and the next read returns it again
/// (the records before it stay consumed).
///
/// ```
/// let (mut tx, mut rx) = logbuf::queue::spsc::new(1024);
/// for i in 0..3u8 {
///     tx.try_write(&[i; 5]).unwrap();
/// }
/// let mut batch = rx.batch();
/// let mut seen = Vec::new();
/// while let Some(record) = batch.next() {
///     seen.push(record[0]);
/// }
/// drop(batch);
/// assert_eq!(seen, [0, 1, 2]);
/// ```
#[must_use = "a Batch reads nothing until `next` is called"]
pub struct Batch<'a> {
    reader: &'a mut Consumer,
    /// Span of the record last returned, consumed on the next call or at drop.
    pending: usize,
    count: usize,
}

impl Batch<'_> {
    /// The next committed record, or `None` when none is committed yet.
    #[allow(clippy::should_implement_trait)] // Lending: the record borrows the batch.
    #[inline]
    pub fn next(&mut self) -> Option<&[u8]> {
        if self.pending != 0 {
            self.reader.consume(self.pending);
            self.pending = 0;
        }
        let (pos, len) = self.reader.peek()?;
        let ring = &*self.reader.ring;
        let off = (pos & ring.mask()) + HEADER;
        ring.buf.note_read(off, len);
        self.pending = span(len);
        self.count += 1;
        // SAFETY: as in `ReadClaim::deref`: committed, acquired, and not released before the
        // batch moves past it, which needs `&mut self` and so ends this borrow first.
        Some(unsafe { std::slice::from_raw_parts(ring.buf.ptr(off), len) })
    }

    /// Records returned so far.
    pub fn count(&self) -> usize {
        self.count
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if self.pending != 0 {
            self.reader.consume(self.pending);
        }
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}
