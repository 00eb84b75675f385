//! Single-producer, single-consumer ring of variable-length byte records.
//!
//! ```
//! use logbuf::queue::spsc;
//!
//! let (mut producer, mut consumer) = spsc::new(4096);
//!
//! let mut claim = producer.try_claim(5).unwrap();
//! claim.copy_from_slice(b"hello");
//! claim.commit();
//!
//! let record = consumer.try_claim().unwrap();
//! assert_eq!(&*record, b"hello");
//! drop(record); // zeroes the bytes and gives them back to the producer
//! assert!(consumer.try_claim().is_none());
//! ```
//!
//! # Protocol
//!
//! One flat buffer of `capacity` bytes (a power of two) and free-running positions; a position's
//! byte offset is `position & (capacity - 1)`.
//!
//! ```text
//!   shared:       head (CachePadded, written by the consumer only)
//!   producer:     tail, cached_head, dirty_end        (thread-local, never shared)
//!   consumer:     head, released                      (thread-local)
//!
//!   buffer:  | len | payload..pad | len | payload | 0 0 0 0 0 0 0 0 ....... | SKIP|n | 0 ... |
//!            ^ released (published head)            ^ tail: next record's length word is 0
//!
//!   record:  [ length word: 8 bytes ][ payload: len bytes ][ 0..7 bytes to the next multiple of 8 ]
//!   length word:  0              not committed (the consumer stops here)
//!                 1..=max        committed record of that many payload bytes
//!                 SKIP | n       skip n bytes of payload (padding before the wrap)
//! ```
//!
//! - **Claim.** The producer checks `tail + need - cached_head <= capacity`, reloading `head`
//!   (`Acquire`, pairing with the consumer's `Release` store of `head`) only when the cached
//!   value says full. A record never straddles the end of the buffer: if it does not fit before
//!   the end, the producer writes a skip record over the rest (`Release`, pairing with the
//!   consumer's `Acquire` load of the length word) and claims at the start.
//! - **Commit.** The producer writes the payload with plain stores, then the length word with a
//!   `Release` store. The consumer's `Acquire` load of a non-zero length word makes the payload
//!   visible. The length word is the only commit marker: the producer never writes a shared
//!   tail, so a commit costs one store to a cache line the consumer will read anyway.
//! - **Read and release.** The consumer reads the record in place, then zeroes its bytes, header
//!   included, and publishes the new `head` with a `Release` store: every `capacity / 16` bytes,
//!   and whenever it finds nothing more to read (see [`Consumer`]). Because every byte it hands
//!   back is zero, every length word the producer has not yet written reads as 0: "not
//!   committed".
//! - **Truncate and abort.** A claim that is truncated or dropped without `commit` gives its
//!   unused bytes straight back to the ring: the producer's tail simply does not move past
//!   them. Those bytes may hold whatever the caller wrote, so the producer remembers how far such
//!   dirty bytes reach (`dirty_end`), and before committing a record that ends inside them it
//!   zeroes the one word after the record, where the consumer will look next.
//!
//! # Limits
//!
//! Capacity is rounded up to a power of two between [`CapacityError::MIN`] and
//! [`CapacityError::MAX`]. A record's payload may be up to half the capacity minus the 8-byte
//! header ([`Producer::max_record_len`]): a record that large fits an empty ring wherever the
//! tail stands, so `Full` always clears once the consumer catches up.
//!
//! # Hazards
//!
//! - A [`ReadClaim`] or [`Batch`] that is held stops the producer from reusing its bytes and
//!   everything after them. One that is `mem::forget`-ten delivers its record again on the next
//!   read.
//! - `mem::forget` on a [`WriteClaim`] is harmless here: the claim simply never becomes visible
//!   and its bytes are reused. (It is not harmless on the [MPSC ring](super::mpsc).)

use std::fmt;
use std::ops::{Deref, DerefMut};

pub use super::{Batch, Consumer, ReadClaim};
use super::{CapacityError, ClaimError};
use crate::ring::{
    HEADER, Ring, after, check_len, checked_capacity, max_record_len, placement, span,
};
use crate::sync::{Arc, Ordering};

/// Creates a ring of at least `capacity` bytes (rounded up to a power of two).
///
/// # Panics
///
/// If `capacity` is below [`CapacityError::MIN`] or above [`CapacityError::MAX`], or its buffer
/// cannot be allocated; use [`try_new`] to get an error instead.
///
/// ```
/// let (producer, consumer) = logbuf::queue::spsc::new(1000);
/// assert_eq!(producer.capacity(), 1024);
/// assert_eq!(consumer.capacity(), 1024);
/// ```
pub fn new(capacity: usize) -> (Producer, Consumer) {
    match try_new(capacity) {
        Ok(pair) => pair,
        Err(e) => panic!("{e}"),
    }
}

/// Creates a ring of at least `capacity` bytes, or says why it cannot: a capacity out of range,
/// or a buffer the system cannot allocate ([`CapacityError::is_allocation_failure`]).
///
/// ```
/// assert!(logbuf::queue::spsc::try_new(8).is_err());
/// assert!(logbuf::queue::spsc::try_new(1 << 20).is_ok());
/// ```
pub fn try_new(capacity: usize) -> Result<(Producer, Consumer), CapacityError> {
    let capacity = checked_capacity(capacity)?;
    let ring = Arc::new(Ring::try_new(capacity).ok_or(CapacityError::alloc_failed(capacity))?);
    let producer = Producer {
        ring: ring.clone(),
        tail: 0,
        cached_head: 0,
        dirty_end: 0,
        capacity,
        max_len: max_record_len(capacity),
    };
    Ok((producer, Consumer::new(ring)))
}

// === impl Producer ===

/// The writing end of an SPSC ring. `Send`, not `Clone`.
pub struct Producer {
    ring: Arc<Ring>,
    /// Position of the next record.
    tail: usize,
    /// Last `head` seen; the consumer has released at least this far.
    cached_head: usize,
    /// Bytes in `[tail, dirty_end)` may hold leftovers of truncated or dropped claims.
    dirty_end: usize,
    capacity: usize,
    max_len: usize,
}

impl Producer {
    /// Claims room for a record of exactly `len` bytes.
    ///
    /// The claim derefs to `&mut [u8]` of `len` bytes (not zeroed if an earlier claim there was
    /// dropped); write the record into it and call [`WriteClaim::commit`]. Dropping the claim
    /// without committing gives the room back.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Full`] if the consumer has not freed enough room yet;
    /// [`ClaimError::ZeroLength`] and [`ClaimError::TooLarge`] for lengths no ring state accepts.
    #[inline]
    pub fn try_claim(&mut self, len: usize) -> Result<WriteClaim<'_>, ClaimError> {
        check_len(len, self.max_len)?;
        let span = span(len);
        let (pad, need) = placement(self.tail, span, self.capacity);
        if self.tail.wrapping_add(need).wrapping_sub(self.cached_head) > self.capacity {
            // Acquire pairs with the consumer's Release store of `head`: the bytes it handed
            // back are zero before we write them.
            self.cached_head = self.ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_add(need).wrapping_sub(self.cached_head) > self.capacity {
                return Err(ClaimError::Full);
            }
        }
        if pad != 0 {
            self.ring
                .write_padding(self.tail & (self.capacity - 1), pad);
            self.tail = self.tail.wrapping_add(pad);
        }
        let pos = self.tail;
        let end = pos.wrapping_add(span);
        if after(end, self.dirty_end) {
            self.dirty_end = end;
        }
        let off = pos & (self.capacity - 1);
        self.ring.buf.note_write(off + HEADER, len);
        Ok(WriteClaim {
            producer: self,
            off,
            len,
        })
    }

    /// Copies `record` into the ring as one record.
    ///
    /// ```
    /// let (mut tx, mut rx) = logbuf::queue::spsc::new(256);
    /// tx.try_write(b"abc").unwrap();
    /// assert_eq!(&*rx.try_claim().unwrap(), b"abc");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Producer::try_claim`].
    #[inline]
    pub fn try_write(&mut self, record: &[u8]) -> Result<(), ClaimError> {
        let mut claim = self.try_claim(record.len())?;
        claim.copy_from_slice(record);
        claim.commit();
        Ok(())
    }

    /// Capacity of the ring in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The largest record length [`Producer::try_claim`] accepts.
    pub fn max_record_len(&self) -> usize {
        self.max_len
    }

    /// Bytes in use right now (records not yet released by the consumer, their headers and
    /// padding). Exact for the producer's own writes; the consumer may have released more since.
    pub fn used_bytes(&self) -> usize {
        self.tail
            .wrapping_sub(self.ring.head.load(Ordering::Acquire))
    }

    /// Whether the consumer has been dropped: nothing written from now on will be read.
    pub fn is_disconnected(&self) -> bool {
        self.ring.consumer_gone()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.ring.drop_producer();
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

// === impl WriteClaim ===

/// Room for one record, claimed from a [`Producer`]. Derefs to `&mut [u8]`.
///
/// [`commit`](WriteClaim::commit) makes the record visible to the consumer; dropping the claim
/// without committing gives the room back and the consumer never sees it.
#[must_use = "a WriteClaim that is dropped without commit() discards the record"]
pub struct WriteClaim<'a> {
    producer: &'a mut Producer,
    /// Buffer offset of the length word.
    off: usize,
    len: usize,
}

impl WriteClaim<'_> {
    /// Publishes the record to the consumer.
    ///
    /// A claim truncated to zero bytes publishes nothing, since records are never empty.
    #[inline]
    pub fn commit(self) {
        let p = &mut *self.producer;
        if self.len == 0 {
            return;
        }
        // The claim borrows the producer, so the tail has not moved since it was made.
        let end = p.tail.wrapping_add(span(self.len));
        let buf = &p.ring.buf;
        if after(p.dirty_end, end) {
            // The consumer reads the word at `end` next; it may hold leftovers of a dropped or
            // truncated claim. It lies inside room this producer claimed, so nobody else
            // touches it. Relaxed: the Release store below orders it.
            buf.store_header(end & (p.capacity - 1), 0, Ordering::Relaxed);
        }
        buf.note_write(self.off + HEADER, self.len);
        // Release pairs with the consumer's Acquire load of the length word: the payload
        // (and the zero above) are visible to it before it reads them.
        buf.store_header(self.off, self.len, Ordering::Release);
        p.tail = end;
    }

    /// Shortens the record to `len` bytes; a `len` at or above the current length does nothing.
    /// The bytes cut off go back to the ring.
    ///
    /// ```
    /// let (mut tx, mut rx) = logbuf::queue::spsc::new(256);
    /// let mut claim = tx.try_claim(64).unwrap(); // an upper bound
    /// claim[..2].copy_from_slice(b"hi");
    /// claim.truncate(2);
    /// claim.commit();
    /// assert_eq!(&*rx.try_claim().unwrap(), b"hi");
    /// ```
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Drops the claim without publishing it (the same as letting it go out of scope).
    pub fn abort(self) {}
}

impl Deref for WriteClaim<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the payload lies in room claimed by this producer, which the
        // `&mut Producer` borrow makes ours alone until commit. Shared: `&self` may be
        // borrowed many times at once.
        unsafe { self.producer.ring.payload_ref(self.off, self.len) }
    }
}

impl DerefMut for WriteClaim<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference into the room.
        unsafe { self.producer.ring.payload(self.off, self.len) }
    }
}

impl fmt::Debug for WriteClaim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteClaim")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn read_all(c: &mut Consumer) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(r) = c.try_claim() {
            out.push(r.to_vec());
        }
        out
    }

    #[test]
    fn capacity_is_rounded_and_checked() {
        assert_eq!(new(64).0.capacity(), 64);
        assert_eq!(new(65).0.capacity(), 128);
        assert_eq!(try_new(63).unwrap_err().requested(), 63);
        assert_eq!(try_new(0).unwrap_err().requested(), 0);
        assert!(try_new(CapacityError::MAX + 1).is_err());
        assert!(try_new(usize::MAX).is_err());
        assert_eq!(new(64).0.max_record_len(), 24);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn new_panics_on_bad_capacity() {
        let _ = new(1);
    }

    #[test]
    fn zero_and_too_large_are_permanent_errors() {
        let (mut p, _c) = new(64);
        assert_eq!(p.try_claim(0).unwrap_err(), ClaimError::ZeroLength);
        assert_eq!(
            p.try_claim(25).unwrap_err(),
            ClaimError::TooLarge { len: 25, max: 24 }
        );
        assert_eq!(
            p.try_claim(usize::MAX).unwrap_err(),
            ClaimError::TooLarge {
                len: usize::MAX,
                max: 24
            }
        );
        assert!(!p.try_claim(0).unwrap_err().is_retryable());
        assert!(p.try_claim(24).is_ok());
    }

    #[test]
    fn full_then_space_after_read() {
        let (mut p, mut c) = new(64);
        // Four records of span 16 fill 64 bytes exactly.
        for i in 0..4u8 {
            p.try_write(&[i; 8]).unwrap();
        }
        assert_eq!(p.used_bytes(), 64);
        assert_eq!(p.try_claim(1).unwrap_err(), ClaimError::Full);
        assert!(p.try_claim(1).unwrap_err().is_retryable());
        assert_eq!(&*c.try_claim().unwrap(), &[0; 8]);
        p.try_write(&[9; 8]).unwrap();
        assert_eq!(
            read_all(&mut c),
            vec![vec![1; 8], vec![2; 8], vec![3; 8], vec![9; 8]]
        );
        assert!(c.is_empty());
    }

    #[test]
    fn wrap_with_padding() {
        let (mut p, mut c) = new(64);
        p.try_write(&[1; 24]).unwrap(); // span 32 at 0
        p.try_write(&[2; 8]).unwrap(); // span 16 at 32
        assert_eq!(read_all(&mut c).len(), 2);
        // Tail at 48: a span-32 record does not fit the last 16 bytes, so a 16-byte skip pads
        // to the end and the record lands at 0.
        p.try_write(&[3; 20]).unwrap();
        assert_eq!(p.used_bytes(), 16 + 32);
        assert!(!c.is_empty());
        assert_eq!(read_all(&mut c), vec![vec![3; 20]]);
        assert_eq!(p.used_bytes(), 0);
    }

    #[test]
    fn exact_fit_at_the_end() {
        let (mut p, mut c) = new(64);
        p.try_write(&[1; 24]).unwrap();
        assert_eq!(read_all(&mut c).len(), 1);
        p.try_write(&[2; 24]).unwrap(); // 32..64 exactly
        p.try_write(&[3; 24]).unwrap(); // 0..32, no padding
        assert_eq!(p.used_bytes(), 64);
        assert_eq!(read_all(&mut c), vec![vec![2; 24], vec![3; 24]]);
    }

    #[test]
    fn padding_is_counted_against_room() {
        let (mut p, mut c) = new(64);
        p.try_write(&[1; 24]).unwrap(); // 0..32
        p.try_write(&[2; 8]).unwrap(); // 32..48
        // Needs 16 bytes of padding plus 32: only 16 are free.
        assert_eq!(p.try_claim(24).unwrap_err(), ClaimError::Full);
        drop(c.try_claim());
        // 0..32 is free: 16 bytes of padding plus 32 fit exactly in the 48 free bytes.
        p.try_write(&[3; 24]).unwrap();
        assert_eq!(p.used_bytes(), 64);
        assert_eq!(read_all(&mut c), vec![vec![2; 8], vec![3; 24]]);
        p.try_write(&[4; 24]).unwrap();
        assert_eq!(read_all(&mut c), vec![vec![4; 24]]);
    }

    #[test]
    fn abort_before_wrap_returns_room() {
        let (mut p, mut c) = new(64);
        let mut claim = p.try_claim(24).unwrap();
        claim.fill(0xff);
        drop(claim);
        assert_eq!(p.used_bytes(), 0);
        assert!(c.try_claim().is_none());
        p.try_write(&[5; 4]).unwrap();
        p.try_write(&[6; 4]).unwrap();
        assert_eq!(read_all(&mut c), vec![vec![5; 4], vec![6; 4]]);
    }

    #[test]
    fn abort_after_wrap_keeps_padding_consistent() {
        let (mut p, mut c) = new(64);
        p.try_write(&[1; 24]).unwrap();
        p.try_write(&[2; 8]).unwrap();
        assert_eq!(read_all(&mut c).len(), 2);
        let mut claim = p.try_claim(20).unwrap(); // pads 48..64, claims 0..32
        claim.fill(0xff);
        claim.abort();
        assert!(
            c.try_claim().is_none(),
            "the skip is passed over and nothing else is visible"
        );
        assert_eq!(p.used_bytes(), 0);
        p.try_write(&[7; 3]).unwrap();
        assert_eq!(read_all(&mut c), vec![vec![7; 3]]);
    }

    #[test]
    fn truncate_publishes_prefix_and_returns_rest() {
        let (mut p, mut c) = new(128);
        let mut claim = p.try_claim(56).unwrap();
        claim.fill(0xff); // leftovers beyond the truncated end must never read as a length
        claim[..3].copy_from_slice(b"abc");
        claim.truncate(3);
        assert_eq!(claim.len(), 3);
        claim.truncate(10); // growing is a no-op
        assert_eq!(claim.len(), 3);
        claim.commit();
        assert_eq!(p.used_bytes(), 16);
        assert_eq!(read_all(&mut c), vec![b"abc".to_vec()]);
        assert!(c.is_empty());
        p.try_write(b"de").unwrap();
        p.try_write(b"fgh").unwrap();
        assert_eq!(read_all(&mut c), vec![b"de".to_vec(), b"fgh".to_vec()]);
    }

    #[test]
    fn truncate_to_zero_commits_nothing() {
        let (mut p, mut c) = new(64);
        let mut claim = p.try_claim(8).unwrap();
        claim.fill(0xee);
        claim.truncate(0);
        claim.commit();
        assert!(c.try_claim().is_none());
        assert_eq!(p.used_bytes(), 0);
    }

    #[test]
    #[allow(clippy::forget_non_drop)] // Guards the promise should the claim ever gain a Drop.
    fn forgotten_claim_leaves_no_trace() {
        let (mut p, mut c) = new(128);
        let mut claim = p.try_claim(56).unwrap();
        claim.fill(0xff);
        std::mem::forget(claim);
        p.try_write(b"x").unwrap();
        p.try_write(b"y").unwrap();
        assert_eq!(read_all(&mut c), vec![b"x".to_vec(), b"y".to_vec()]);
    }

    #[test]
    fn read_claim_zeroes_and_releases() {
        let (mut p, mut c) = new(64);
        p.try_write(&[1; 24]).unwrap();
        {
            let r = c.try_claim().unwrap();
            assert_eq!(r.len(), 24);
            assert_eq!(p.used_bytes(), 32, "held claim keeps its room");
        }
        assert_eq!(p.used_bytes(), 0);
    }

    #[test]
    fn room_goes_back_in_chunks_and_when_caught_up() {
        // 1024 bytes: chunks of 64, records of span 16.
        let (mut p, mut c) = new(1024);
        for i in 0..8u8 {
            p.try_write(&[i; 8]).unwrap();
        }
        drop(c.try_claim().unwrap());
        assert_eq!(p.used_bytes(), 128, "one record is less than a chunk");
        c.release();
        assert_eq!(p.used_bytes(), 112, "release hands back what was read");
        for _ in 0..4 {
            drop(c.try_claim().unwrap());
        }
        assert_eq!(p.used_bytes(), 48, "a chunk's worth goes back by itself");
        drop(c.try_claim().unwrap());
        assert_eq!(p.used_bytes(), 48);
        let mut batch = c.batch();
        assert!(batch.next().is_some() && batch.next().is_some());
        assert!(batch.next().is_none());
        drop(batch);
        assert_eq!(p.used_bytes(), 0, "finding nothing hands back everything");
    }

    #[test]
    fn batch_reads_in_order() {
        let (mut p, mut c) = new(256);
        for i in 1..=5u8 {
            p.try_write(&[i; 9]).unwrap();
        }
        let mut batch = c.batch();
        assert_eq!(batch.next(), Some(&[1u8; 9][..]));
        assert_eq!(batch.next(), Some(&[2u8; 9][..]));
        assert_eq!(batch.count(), 2);
        drop(batch);
        assert_eq!(p.used_bytes(), 3 * 24);
        let mut batch = c.batch();
        let mut rest = Vec::new();
        while let Some(r) = batch.next() {
            rest.push(r[0]);
        }
        assert_eq!(batch.next(), None);
        drop(batch);
        assert_eq!(rest, [3, 4, 5]);
        assert_eq!(p.used_bytes(), 0);
    }

    #[test]
    fn batch_over_a_whole_ring_of_laps() {
        let (mut p, mut c) = new(64);
        for lap in 0..10u8 {
            while p.try_write(&[lap; 8]).is_ok() {}
            let mut batch = c.batch();
            let mut n = 0;
            while let Some(r) = batch.next() {
                assert_eq!(r, &[lap; 8]);
                n += 1;
            }
            assert_eq!(n, 4);
        }
    }

    #[test]
    fn disconnect_both_ways() {
        let (mut p, mut c) = new(64);
        assert!(!p.is_disconnected() && !c.is_disconnected());
        p.try_write(b"last").unwrap();
        drop(p);
        assert!(c.is_disconnected());
        assert_eq!(
            &*c.try_claim().unwrap(),
            b"last",
            "committed records survive the producer"
        );
        assert!(c.try_claim().is_none());

        let (p, c) = new(64);
        drop(c);
        assert!(p.is_disconnected());
    }

    #[test]
    fn debug_does_not_dump_buffers() {
        let (mut p, mut c) = new(64);
        assert_eq!(format!("{p:?}"), "Producer { capacity: 64, .. }");
        assert_eq!(format!("{c:?}"), "Consumer { capacity: 64, .. }");
        let claim = p.try_claim(3).unwrap();
        assert_eq!(format!("{claim:?}"), "WriteClaim { len: 3, .. }");
        claim.commit();
        let r = c.try_claim().unwrap();
        assert_eq!(format!("{r:?}"), "ReadClaim { len: 3, .. }");
    }

    #[test]
    fn endpoints_are_send() {
        fn send<T: Send>() {}
        send::<Producer>();
        send::<Consumer>();
    }
}
