//! The consumer side, one type for the SPSC and MPSC rings: reading committed records in order,
//! passing over skips, zeroing what was read and handing it back with one `Release` store.

use std::fmt;
use std::ops::Deref;

use crate::ring::{HEADER, Ring, SKIP, span};
use crate::sync::{Arc, Ordering};

/// The reading end of a ring ([`spsc`](super::spsc) or [`mpsc`](super::mpsc)). `Send`, not
/// `Clone`.
///
/// Records come out in the order producers claimed room for them; the consumer waits at a
/// claim that is not committed yet and never reads past it.
pub struct Consumer {
    ring: Arc<Ring>,
    /// Position of the next record to look at.
    head: usize,
    /// Position up to which bytes are zeroed and published in `ring.head`.
    released: usize,
}

impl Consumer {
    pub(crate) fn new(ring: Arc<Ring>) -> Self {
        Self {
            ring,
            head: 0,
            released: 0,
        }
    }

    /// Finds the next committed record at or after `self.head`, passing over skips. Returns
    /// its position and payload length, leaving `self.head` on it.
    #[inline]
    fn peek(&mut self) -> Option<(usize, usize)> {
        let ring = &*self.ring;
        loop {
            // Everything up to `released + capacity` may belong to producers; once the unread
            // window covers the whole ring there is nothing committed beyond it.
            if self.head.wrapping_sub(self.released) >= ring.capacity {
                return None;
            }
            let off = self.head & ring.mask();
            // Acquire pairs with the producer's Release store of this length word, so the
            // payload written before it is visible below.
            let word = ring.buf.load_header(off, Ordering::Acquire);
            if word == 0 {
                return None;
            }
            let len = word & !SKIP;
            debug_assert!(
                span(len) <= ring.capacity - off,
                "corrupt length word {word:#x} at {off}"
            );
            if word & SKIP != 0 {
                self.head = self.head.wrapping_add(span(len));
                continue;
            }
            return Some((self.head, len));
        }
    }

    /// Zeroes everything between `released` and `head` and publishes `head` to producers.
    #[inline]
    fn release(&mut self) {
        let len = self.head.wrapping_sub(self.released);
        if len == 0 {
            return;
        }
        let ring = &*self.ring;
        let off = self.released & ring.mask();
        let first = len.min(ring.capacity - off);
        // SAFETY: [released, head) was committed by producers and read by this consumer; no
        // producer writes it until it sees the `head` store below.
        unsafe { ring.buf.zero(off, first) };
        if len > first {
            // SAFETY: as above, for the part that wrapped to the start of the buffer.
            unsafe { ring.buf.zero(0, len - first) };
        }
        // Release pairs with the producers' Acquire load of `head` before they claim: the zeroes
        // written above are in place before any producer reuses these bytes.
        ring.head.store(self.head, Ordering::Release);
        self.released = self.head;
    }

    /// The next committed record, or `None` if it is not committed yet.
    ///
    /// Dropping the returned claim zeroes the record and gives its room back to the producers.
    #[inline]
    pub fn try_claim(&mut self) -> Option<ReadClaim<'_>> {
        match self.peek() {
            Some((pos, len)) => {
                let off = (pos & self.ring.mask()) + HEADER;
                self.ring.buf.note_read(off, len);
                Some(ReadClaim {
                    reader: self,
                    off,
                    len,
                    span: span(len),
                })
            }
            None => {
                // Hand back skips passed over on the way.
                self.release();
                None
            }
        }
    }

    /// Reads several records and releases them together; see [`Batch`].
    pub fn batch(&mut self) -> Batch<'_> {
        Batch {
            reader: self,
            pending: 0,
            count: 0,
        }
    }

    /// Whether no committed record is waiting at the front.
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
        self.reader.head = self.reader.head.wrapping_add(self.span);
        self.reader.release();
    }
}

impl fmt::Debug for ReadClaim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadClaim")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Reads many records and releases them all with one store when dropped.
///
/// Each call to [`Batch::next`] returns the next committed record; the previous one stays
/// unreleased until the batch is dropped, when everything read is zeroed and handed back at
/// once. That saves a shared store per record, which matters when the consumer is the
/// bottleneck; the price is that producers get no space back until the batch ends.
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
        self.reader.head = self.reader.head.wrapping_add(self.pending);
        self.pending = 0;
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
        self.reader.head = self.reader.head.wrapping_add(self.pending);
        self.reader.release();
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}
