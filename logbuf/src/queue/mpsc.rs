//! Multi-producer, single-consumer ring of variable-length byte records.
//!
//! The same record layout, errors, claims and consumer as the [SPSC ring](super::spsc); the
//! producer handle is `Clone`, and every clone claims room from one shared tail.
//!
//! ```
//! use logbuf::queue::mpsc;
//!
//! let (producer, mut consumer) = mpsc::new(64 * 1024);
//! std::thread::scope(|s| {
//!     for t in 0..4u8 {
//!         let mut producer = producer.clone();
//!         s.spawn(move || {
//!             for _ in 0..100 {
//!                 while producer.try_write(&[t; 16]).is_err() {
//!                     std::hint::spin_loop();
//!                 }
//!             }
//!         });
//!     }
//! });
//! drop(producer);
//! let mut per_thread = [0; 4];
//! while let Some(record) = consumer.try_claim() {
//!     per_thread[record[0] as usize] += 1;
//! }
//! assert_eq!(per_thread, [100; 4]);
//! assert!(consumer.is_disconnected());
//! ```
//!
//! # Protocol
//!
//! ```text
//!   shared:    tail (CachePadded; producers CAS it)   head (CachePadded; the consumer stores it)
//!   producer:  cached_head (per clone)
//!
//!   P1 claims [t, t+32)  P2 claims [t+32, t+48)      P2 commits first, P1 later
//!   | 0 (P1 writing..)  | 24 | payload |  0 ...       the consumer stops at P1's zero word
//!   | 24 | payload      | 8  | payload |  0 ...       and reads both once P1 commits
//! ```
//!
//! - **Claim.** A producer loads `tail` (`Relaxed`), computes the padding and room it needs, and
//!   checks that room against its cached `head`, reloading `head` (`Acquire`, pairing with the
//!   consumer's `Release` store) only when the cache says full. The `tail` it loaded may be
//!   stale by then (others claimed, the consumer read and released past it), so before it
//!   reports full it loads `tail` again and starts over if it moved. It then moves `tail` forward with
//!   a compare-exchange (`Relaxed`: the read-modify-write order on `tail` alone hands out
//!   disjoint ranges; the bytes in them were ordered by the `head` acquire). On failure it retries
//!   with the value it got back. A failed check against a `tail` that has not moved is
//!   [`ClaimError::Full`] at once.
//! - **One handle left.** When the producer count (loaded with `Acquire`, pairing with the
//!   `Release` decrement of each dropped handle) is 1, the claiming handle is the only one, and it
//!   is borrowed for the claim, so no clone can appear meanwhile: it moves `tail` with a plain
//!   store instead of a locked compare-exchange, which would wait for the previous record's
//!   lines to come back from the consumer's core.
//! - **Commit.** As in the SPSC ring: payload first, then the length word with a `Release` store
//!   that the consumer's `Acquire` load pairs with. Commits may arrive out of claim order; the
//!   consumer stops at the first length word that is still zero and never reads past it.
//! - **Abort and truncate.** Room, once claimed from the shared tail, cannot be handed back
//!   safely (another producer may have claimed after it), so a dropped claim becomes a skip record
//!   over its whole span, and a truncated claim becomes a record followed by a skip over the rest.
//!   The consumer passes over skips and zeroes them like any record.
//!
//! ## Why a compare-exchange and not a fetch-add
//!
//! A fetch-add claim (Aeron's term appender) never retries, but it moves the tail before it
//! knows whether the room is free. A producer that overshoots a full ring then owns a range that
//! still holds unread records: it can neither write its skip record there nor give the range
//! back, so it would have to wait for the consumer. That turns "full" into a wait, which this
//! crate promises never to do. The compare-exchange checks room and claims in one step, and the
//! cached head keeps the common case to one load and one successful CAS. The measured costs of
//! both claims are in `BENCHMARKS.md`.
//!
//! # Hazards
//!
//! - **A claim that is held stalls the consumer.** Records are read in claim order; a producer
//!   that holds a [`WriteClaim`] keeps every record claimed after it from being read.
//! - **`mem::forget` on a [`WriteClaim`] deadlocks the ring.** Its length word is never written,
//!   so the consumer waits at it forever and the ring fills up. Let claims drop or commit.
//! - As for every ring: a held [`ReadClaim`] or [`Batch`] keeps its room from being reused, and
//!   one that is `mem::forget`-ten delivers its record again on the next read.

use std::fmt;
use std::ops::{Deref, DerefMut};

pub use super::{Batch, Consumer, ReadClaim};
use super::{CapacityError, ClaimError};
use crate::ring::{
    HEADER, Ring, SKIP, check_len, checked_capacity, max_record_len, placement, span,
};
use crate::sync::{Arc, Ordering};

/// Creates a ring of at least `capacity` bytes (rounded up to a power of two).
///
/// # Panics
///
/// If `capacity` is below [`CapacityError::MIN`] or above [`CapacityError::MAX`], or its buffer
/// cannot be allocated; use [`try_new`] to get an error instead.
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
/// assert!(logbuf::queue::mpsc::try_new(0).is_err());
/// ```
pub fn try_new(capacity: usize) -> Result<(Producer, Consumer), CapacityError> {
    let capacity = checked_capacity(capacity)?;
    let ring = Arc::new(Ring::try_new(capacity).ok_or(CapacityError::alloc_failed(capacity))?);
    let producer = Producer {
        ring: ring.clone(),
        cached_head: 0,
        capacity,
        max_len: max_record_len(capacity),
    };
    Ok((producer, Consumer::new(ring)))
}

// === impl Producer ===

/// A writing end of an MPSC ring. `Clone + Send`; the consumer sees a disconnect once every
/// clone is dropped.
pub struct Producer {
    ring: Arc<Ring>,
    /// Last `head` this handle saw; the consumer has released at least this far.
    cached_head: usize,
    capacity: usize,
    max_len: usize,
}

impl Producer {
    /// Claims room for a record of exactly `len` bytes.
    ///
    /// The claim derefs to `&mut [u8]` of `len` zeroed bytes; write the record into it and call
    /// [`WriteClaim::commit`]. Dropping the claim without committing leaves a skip record the
    /// consumer passes over.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Full`] if the consumer has not freed enough room yet;
    /// [`ClaimError::ZeroLength`] and [`ClaimError::TooLarge`] for lengths no ring state accepts.
    #[inline]
    pub fn try_claim(&mut self, len: usize) -> Result<WriteClaim<'_>, ClaimError> {
        check_len(len, self.max_len)?;
        let span = span(len);
        let ring = &*self.ring;
        // Acquire pairs with the Release decrement in the drop of the last other handle: its
        // claims on `tail` happen before this one. With one handle left, and that one borrowed
        // here, nobody else can claim, and `tail` moves with a plain store.
        let alone = ring.producers.load(Ordering::Acquire) == 1;
        let mut tail = ring.tail.load(Ordering::Relaxed);
        let pad = loop {
            let (pad, need) = placement(tail, span, self.capacity);
            if tail.wrapping_add(need).wrapping_sub(self.cached_head) > self.capacity {
                // Acquire pairs with the consumer's Release store of `head`: the bytes it
                // handed back are zero before we write them.
                self.cached_head = ring.head.load(Ordering::Acquire);
                if tail.wrapping_add(need).wrapping_sub(self.cached_head) > self.capacity {
                    // `tail` may be stale: other producers may have claimed, and the consumer
                    // read and released, since it was loaded, so that the fresh head is past
                    // it and the difference wraps into "full" on an empty ring. The head just
                    // acquired covers only claims whose CAS happened before it, so a tail
                    // loaded now is at or past it: if that tail is the one we have, the ring
                    // really is full for it; if not, try again from the new one.
                    let now = ring.tail.load(Ordering::Relaxed);
                    if now == tail {
                        return Err(ClaimError::Full);
                    }
                    tail = now;
                    continue;
                }
            }
            if alone {
                // Relaxed: only this thread claims; the bytes were ordered by the Acquire
                // load of `head`, as below.
                ring.tail.store(tail.wrapping_add(need), Ordering::Relaxed);
                break pad;
            }
            // Relaxed: the CAS's place in `tail`'s modification order is what makes the range
            // ours; the bytes in it were ordered by the Acquire load of `head` above (or an
            // earlier one on this handle that saw at least as far).
            match ring.tail.compare_exchange_weak(
                tail,
                tail.wrapping_add(need),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break pad,
                Err(now) => tail = now,
            }
        };
        if pad != 0 {
            ring.write_padding(tail & (self.capacity - 1), pad);
        }
        let off = tail.wrapping_add(pad) & (self.capacity - 1);
        ring.buf.note_write(off + HEADER, len);
        Ok(WriteClaim {
            ring,
            off,
            len,
            span,
            done: false,
        })
    }

    /// Copies `record` into the ring as one record.
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

    /// Bytes claimed by all producers and not yet released by the consumer (records, their
    /// headers and padding). A snapshot: both ends may have moved since.
    pub fn used_bytes(&self) -> usize {
        let head = self.ring.head.load(Ordering::Acquire);
        self.ring.tail.load(Ordering::Relaxed).wrapping_sub(head)
    }

    /// Whether the consumer has been dropped: nothing written from now on will be read.
    pub fn is_disconnected(&self) -> bool {
        self.ring.consumer_gone()
    }
}

impl Clone for Producer {
    fn clone(&self) -> Self {
        // Relaxed: this handle keeps the count above zero while the clone is made, so nobody
        // can observe zero in between.
        self.ring.producers.fetch_add(1, Ordering::Relaxed);
        Self {
            ring: self.ring.clone(),
            cached_head: self.cached_head,
            capacity: self.capacity,
            max_len: self.max_len,
        }
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
/// without committing writes a skip record the consumer passes over. Holding a claim keeps the
/// consumer from reading any record claimed after it.
#[must_use = "a WriteClaim that is dropped without commit() discards the record"]
pub struct WriteClaim<'a> {
    ring: &'a Ring,
    /// Buffer offset of the length word.
    off: usize,
    len: usize,
    /// Bytes claimed, header and alignment included.
    span: usize,
    done: bool,
}

impl WriteClaim<'_> {
    /// Publishes the record to the consumer.
    ///
    /// A claim truncated to zero bytes publishes nothing, since records are never empty.
    #[inline]
    pub fn commit(mut self) {
        self.publish();
    }

    /// Shortens the record to `len` bytes; a `len` at or above the current length does nothing.
    /// The bytes cut off become a skip record after it.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Drops the claim without publishing it (the same as letting it go out of scope).
    pub fn abort(self) {}

    #[inline]
    fn publish(&mut self) {
        self.done = true;
        let used = if self.len == 0 { 0 } else { span(self.len) };
        if used < self.span {
            // Relaxed: the consumer reaches this word only through the record before it, whose
            // Release store below (or the skip's own, when nothing is used) orders it.
            let skip = SKIP | (self.span - used - HEADER);
            let order = if used == 0 {
                Ordering::Release
            } else {
                Ordering::Relaxed
            };
            self.ring.buf.store_header(self.off + used, skip, order);
        }
        if used != 0 {
            self.ring.buf.note_write(self.off + HEADER, self.len);
            // Release pairs with the consumer's Acquire load of the length word: the payload
            // is visible to it before it reads it.
            self.ring
                .buf
                .store_header(self.off, self.len, Ordering::Release);
        }
    }
}

impl Drop for WriteClaim<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.len = 0;
            self.publish();
        }
    }
}

impl Deref for WriteClaim<'_> {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the CAS on `tail` gave this claim its range alone, and nothing reads it
        // before the length word is published in `publish`, which consumes the claim. Shared:
        // `&self` may be borrowed many times at once.
        unsafe { self.ring.payload_ref(self.off, self.len) }
    }
}

impl DerefMut for WriteClaim<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference into the range.
        unsafe { self.ring.payload(self.off, self.len) }
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
    fn length_errors() {
        let (mut p, _c) = new(64);
        assert_eq!(p.try_claim(0).unwrap_err(), ClaimError::ZeroLength);
        assert_eq!(
            p.try_claim(25).unwrap_err(),
            ClaimError::TooLarge { len: 25, max: 24 }
        );
        assert!(try_new(CapacityError::MAX + 1).is_err());
    }

    #[test]
    fn commits_out_of_order_are_read_in_claim_order() {
        let (mut p1, mut c) = new(256);
        let mut p2 = p1.clone();
        let mut a = p1.try_claim(4).unwrap();
        let mut b = p2.try_claim(4).unwrap();
        b.copy_from_slice(b"bbbb");
        b.commit();
        assert!(
            c.try_claim().is_none(),
            "the consumer waits at the uncommitted first claim"
        );
        assert!(c.is_empty());
        a.copy_from_slice(b"aaaa");
        a.commit();
        assert_eq!(read_all(&mut c), vec![b"aaaa".to_vec(), b"bbbb".to_vec()]);
    }

    #[test]
    fn abort_leaves_a_skip() {
        let (mut p, mut c) = new(64);
        let mut claim = p.try_claim(24).unwrap();
        claim.fill(0xff);
        drop(claim);
        assert_eq!(
            p.used_bytes(),
            32,
            "the skip holds its room until the consumer passes it"
        );
        p.try_write(b"x").unwrap();
        assert_eq!(read_all(&mut c), vec![b"x".to_vec()]);
        assert_eq!(p.used_bytes(), 0);
    }

    #[test]
    fn truncate_leaves_a_skip_after_the_record() {
        let (mut p, mut c) = new(128);
        let mut claim = p.try_claim(56).unwrap();
        claim.fill(0xff);
        claim.truncate(3);
        claim.commit();
        p.try_write(b"next").unwrap();
        assert_eq!(read_all(&mut c), vec![vec![0xff; 3], b"next".to_vec()]);
        let mut claim = p.try_claim(8).unwrap();
        claim.truncate(0);
        claim.commit();
        assert!(c.try_claim().is_none());
        assert_eq!(p.used_bytes(), 0);
    }

    #[test]
    fn full_wrap_and_exact_fit() {
        let (mut p, mut c) = new(64);
        p.try_write(&[1; 24]).unwrap();
        p.try_write(&[2; 8]).unwrap();
        assert_eq!(p.try_claim(24).unwrap_err(), ClaimError::Full);
        assert_eq!(read_all(&mut c).len(), 2);
        p.try_write(&[3; 24]).unwrap(); // pads 48..64, lands at 0
        assert_eq!(p.used_bytes(), 16 + 32);
        assert_eq!(p.try_claim(24).unwrap_err(), ClaimError::Full);
        assert_eq!(read_all(&mut c), vec![vec![3; 24]]);
        p.try_write(&[4; 24]).unwrap(); // 32..64: exact fit at the end
        p.try_write(&[5; 24]).unwrap(); // 0..32: no padding
        assert_eq!(p.used_bytes(), 64);
        assert_eq!(read_all(&mut c), vec![vec![4; 24], vec![5; 24]]);
    }

    #[test]
    fn disconnect_waits_for_every_clone() {
        let (mut p, mut c) = new(64);
        let mut q = p.clone();
        p.try_write(b"p").unwrap();
        drop(p);
        assert!(!c.is_disconnected());
        q.try_write(b"q").unwrap();
        drop(q);
        assert!(c.is_disconnected());
        assert_eq!(read_all(&mut c), vec![b"p".to_vec(), b"q".to_vec()]);

        let (p, c) = new(64);
        drop(c);
        assert!(p.is_disconnected());
        assert!(p.clone().is_disconnected());
    }

    #[test]
    fn endpoints_are_send_and_producer_clones() {
        fn send<T: Send>() {}
        fn clone<T: Clone>() {}
        send::<Producer>();
        send::<Consumer>();
        clone::<Producer>();
        let (p, _c) = new(64);
        assert_eq!(format!("{p:?}"), "Producer { capacity: 64, .. }");
    }
}
