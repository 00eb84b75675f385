//! Records for the stress tests: sequence-numbered, checksummed, of lengths from a fixed-seed
//! PRNG that producer and consumer both replay.
#![allow(dead_code)] // Each test binary uses its own part.

use std::time::{Duration, Instant};

/// Seed of the length sequences.
pub(crate) const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// xorshift64.
#[derive(Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform enough in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next() >> 11) % n as u64) as usize
    }
}

/// Record lengths: mostly `1..=max_len`, and about one in a thousand near `ring_max`, the
/// largest record the ring accepts.
pub(crate) struct Lengths {
    rng: Rng,
    max_len: usize,
    ring_max: usize,
}

impl Lengths {
    pub(crate) fn new(seed: u64, max_len: usize, ring_max: usize) -> Self {
        Self {
            rng: Rng::new(seed),
            max_len: max_len.min(ring_max),
            ring_max,
        }
    }

    pub(crate) fn next(&mut self) -> usize {
        if self.rng.below(1000) == 0 {
            self.ring_max - self.rng.below(8.min(self.ring_max))
        } else {
            1 + self.rng.below(self.max_len)
        }
    }
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Writes record `seq` into `buf` (its whole length): for 16 bytes or more, `seq`, PRNG bytes
/// and the FNV-1a hash of what precedes it; for fewer, bytes derived from `seq`.
pub(crate) fn fill_record(buf: &mut [u8], seq: u64) {
    let len = buf.len();
    if len < 16 {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = short_byte(seq, i);
        }
        return;
    }
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    let mut rng = Rng::new(seq.wrapping_mul(0x2545_F491_4F6C_DD1D));
    for chunk in buf[8..len - 8].chunks_mut(8) {
        let n = chunk.len();
        chunk.copy_from_slice(&rng.next().to_le_bytes()[..n]);
    }
    let sum = fnv1a(&buf[..len - 8]);
    buf[len - 8..].copy_from_slice(&sum.to_le_bytes());
}

fn short_byte(seq: u64, i: usize) -> u8 {
    seq.wrapping_mul(31).wrapping_add(i as u64) as u8
}

/// Checks that `record` is record `seq` of length `len`.
pub(crate) fn check_record(record: &[u8], seq: u64, len: usize) {
    assert_eq!(record.len(), len, "record {seq:#x}: wrong length");
    if len < 16 {
        for (i, &b) in record.iter().enumerate() {
            assert_eq!(
                b,
                short_byte(seq, i),
                "record {seq:#x} ({len} bytes): byte {i}"
            );
        }
        return;
    }
    let got = u64::from_le_bytes(record[..8].try_into().unwrap());
    assert_eq!(
        got, seq,
        "record {seq:#x} ({len} bytes): wrong sequence number"
    );
    let sum = u64::from_le_bytes(record[len - 8..].try_into().unwrap());
    assert_eq!(
        sum,
        fnv1a(&record[..len - 8]),
        "record {seq:#x} ({len} bytes): bad checksum"
    );
}

/// How long a thread may wait for the other one before the test gives up on the ring.
pub(crate) const STALL_LIMIT: Duration = Duration::from_secs(60);

/// Waiting for the other thread: spins, then yields (the tests may run on two cores with other
/// tests beside them). Panics after [`STALL_LIMIT`] without progress, so that a ring that wedges
/// (each side waiting for the other) fails the test instead of hanging it.
pub(crate) struct Backoff {
    spins: u32,
    since: Option<Instant>,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self {
            spins: 0,
            since: None,
        }
    }

    /// The thread made progress.
    pub(crate) fn reset(&mut self) {
        self.spins = 0;
        self.since = None;
    }

    pub(crate) fn wait(&mut self, who: &str, seq: u64) {
        self.spins += 1;
        if self.spins < 64 {
            std::hint::spin_loop();
            return;
        }
        std::thread::yield_now();
        if self.spins.is_multiple_of(1024) {
            let since = *self.since.get_or_insert_with(Instant::now);
            assert!(
                since.elapsed() < STALL_LIMIT,
                "{who}: no progress for {STALL_LIMIT:?} at record {seq}"
            );
        }
    }
}
