//! The state both ends of a ring share, and the record framing both rings use.
//!
//! See the module docs of [`crate::queue::spsc`] for the protocol; this module holds only what
//! the SPSC and MPSC rings have in common.

use crossbeam_utils::CachePadded;

use crate::queue::{CapacityError, ClaimError};
use crate::sync::{AtomicUsize, Buffer, Ordering};

/// Bytes of the length word in front of every record.
pub(crate) const HEADER: usize = 8;
/// Records start on multiples of this.
pub(crate) const ALIGN: usize = 8;
/// High bit of the length word: the record is a skip the consumer passes over.
pub(crate) const SKIP: usize = 1 << (usize::BITS - 1);
/// The smallest ring.
pub(crate) const MIN_CAPACITY: usize = 64;
/// The largest ring: positions are free-running `usize`s, and comparisons between them treat a
/// difference of `usize::MAX / 2` or more as negative.
pub(crate) const MAX_CAPACITY: usize = 1 << (usize::BITS - 2);

/// Bytes a record of payload length `len` occupies: header plus payload, rounded up to
/// [`ALIGN`]. `len` is at most [`MAX_CAPACITY`], so this cannot overflow.
#[inline(always)]
pub(crate) const fn span(len: usize) -> usize {
    (len + HEADER + ALIGN - 1) & !(ALIGN - 1)
}

/// The largest payload a ring of `capacity` bytes accepts. A record may need padding up to the
/// end of the buffer first; a span of at most half the capacity always fits an empty ring
/// wherever its tail stands, so a claim never fails with `Full` forever.
#[inline]
pub(crate) const fn max_record_len(capacity: usize) -> usize {
    capacity / 2 - HEADER
}

/// Checks a claim length: `Ok` for `1..=max`, else the error no retry can cure.
#[inline(always)]
pub(crate) fn check_len(len: usize, max: usize) -> Result<(), ClaimError> {
    if len.wrapping_sub(1) >= max {
        Err(len_error(len, max))
    } else {
        Ok(())
    }
}

#[cold]
fn len_error(len: usize, max: usize) -> ClaimError {
    if len == 0 {
        ClaimError::ZeroLength
    } else {
        ClaimError::TooLarge { len, max }
    }
}

/// `a` is after `b` on the free-running position line.
#[inline(always)]
pub(crate) const fn after(a: usize, b: usize) -> bool {
    (a.wrapping_sub(b) as isize) > 0
}

/// Where a record of `span` bytes goes when the tail stands at `tail`: the padding needed first
/// (0, or the bytes up to the end of the buffer when the record does not fit before it) and the
/// total room the claim takes, padding included.
#[inline(always)]
pub(crate) const fn placement(tail: usize, span: usize, capacity: usize) -> (usize, usize) {
    let room = capacity - (tail & (capacity - 1));
    if span <= room {
        (0, span)
    } else {
        (room, room + span)
    }
}

/// Rounds a requested capacity up to a power of two and checks its range.
pub(crate) fn checked_capacity(requested: usize) -> Result<usize, CapacityError> {
    if requested > MAX_CAPACITY {
        return Err(CapacityError::new(requested));
    }
    let capacity = requested.max(MIN_CAPACITY).next_power_of_two();
    if requested < MIN_CAPACITY {
        return Err(CapacityError::new(requested));
    }
    Ok(capacity)
}

/// What producers and the consumer of one ring share.
pub(crate) struct Ring {
    pub(crate) buf: Buffer,
    pub(crate) capacity: usize,
    /// Position up to which the consumer has read and zeroed the buffer. Written by the
    /// consumer only.
    pub(crate) head: CachePadded<AtomicUsize>,
    /// Next free position, for rings whose producers claim through a shared tail (MPSC).
    pub(crate) tail: CachePadded<AtomicUsize>,
    /// Live producer handles.
    pub(crate) producers: CachePadded<AtomicUsize>,
    /// 1 while the consumer handle lives, 0 after.
    pub(crate) consumer: AtomicUsize,
}

impl Ring {
    /// A ring of `capacity` bytes (checked by [`checked_capacity`]), or `None` when the
    /// buffer cannot be allocated.
    pub(crate) fn try_new(capacity: usize) -> Option<Self> {
        debug_assert!(capacity.is_power_of_two() && capacity >= MIN_CAPACITY);
        Some(Self {
            buf: Buffer::try_new(capacity)?,
            capacity,
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            producers: CachePadded::new(AtomicUsize::new(1)),
            consumer: AtomicUsize::new(1),
        })
    }

    #[inline(always)]
    pub(crate) fn mask(&self) -> usize {
        self.capacity - 1
    }

    /// Writes a skip record over the `pad` bytes from buffer offset `off` to the end of the
    /// buffer, so the consumer passes over them to the start.
    #[inline]
    pub(crate) fn write_padding(&self, off: usize, pad: usize) {
        debug_assert_eq!(off + pad, self.capacity);
        // Release pairs with the consumer's Acquire load of the length word: anything written
        // into these bytes before (leftovers of dropped claims) happens before it zeroes them.
        self.buf
            .store_header(off, SKIP | (pad - HEADER), Ordering::Release);
    }

    /// The payload of the record whose length word is at buffer offset `off`.
    ///
    /// # Safety
    /// The caller owns `[off + HEADER, off + HEADER + len)` for the lifetime it picks: a
    /// producer between claim and commit, the consumer between acquiring the length word and
    /// releasing the record.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)] // Ownership comes from the ring protocol, not the borrow.
    pub(crate) unsafe fn payload(&self, off: usize, len: usize) -> &mut [u8] {
        // SAFETY: in bounds because records never straddle the end of the buffer; exclusive
        // by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.buf.ptr(off + HEADER), len) }
    }

    /// The payload of the record whose length word is at buffer offset `off`, shared: for a
    /// claim's `Deref`, which may hand out several of these at once, so it must not make a
    /// `&mut` (two of which may never coexist).
    ///
    /// # Safety
    /// As for [`Ring::payload`], except that other shared borrows made here may coexist.
    #[inline(always)]
    pub(crate) unsafe fn payload_ref(&self, off: usize, len: usize) -> &[u8] {
        // SAFETY: in bounds as in `payload`; nobody writes the range while the caller owns it
        // and holds this shared borrow.
        unsafe { std::slice::from_raw_parts(self.buf.ptr(off + HEADER), len) }
    }

    /// The consumer is gone: nothing written from now on will be read.
    #[inline]
    pub(crate) fn consumer_gone(&self) -> bool {
        self.consumer.load(Ordering::Relaxed) == 0
    }

    /// Every producer is gone. `Acquire` pairs with the `Release` decrement in a producer's
    /// drop, so every record committed before that drop is visible to a read that follows.
    #[inline]
    pub(crate) fn producers_gone(&self) -> bool {
        self.producers.load(Ordering::Acquire) == 0
    }

    pub(crate) fn drop_producer(&self) {
        // Release: the consumer's Acquire in `producers_gone` then sees every commit made
        // before this drop.
        self.producers.fetch_sub(1, Ordering::Release);
    }

    pub(crate) fn drop_consumer(&self) {
        self.consumer.store(0, Ordering::Relaxed);
    }
}
