//! Model-based property test of the SPSC ring.
//!
//! Random sequences of claims (committed, dropped, aborted, truncated, forgotten) and reads (one
//! at a time, or in batches, sometimes held open while the producer claims) run on small rings,
//! so the tail wraps around and the ring fills up all the time. A plain `VecDeque` is the oracle
//! for what the consumer must read, and a position model of the ring bounds when a claim may
//! (and must) fail with `Full`.
//!
//! Every claim is first filled entirely with garbage (0xFF, random bytes, or words that look
//! like valid length headers) before the real record is written into its prefix, so leftovers of
//! truncated, dropped or forgotten claims would show up as bogus records if the ring ever let the
//! consumer see them.

// `WriteClaim` has no `Drop` today, so `mem::forget` on it is the same as dropping it; the test
// forgets claims anyway so that it keeps checking that forgetting is harmless.
#![allow(clippy::forget_non_drop)]

use std::collections::VecDeque;

use logbuf::queue::{ClaimError, spsc};
use proptest::prelude::*;

/// Bytes of the length word in front of every record.
const HEADER: usize = 8;

/// Bytes a record of `len` payload bytes occupies in the ring: header plus payload, rounded up
/// to a multiple of 8.
fn span(len: usize) -> usize {
    (len + HEADER + 7) & !7
}

// === Operations ===

/// What to fill a claim with before the real record is written.
#[derive(Debug, Clone, Copy)]
enum Garbage {
    /// Every byte 0xFF (a length word of all ones is a huge skip).
    Ff,
    /// Pseudo-random bytes from this seed.
    Random(u64),
    /// Every 8-byte word holds this value: a plausible committed length word.
    FakeHeader(usize),
}

/// What happens to a claim after it is filled.
#[derive(Debug, Clone, Copy)]
enum Finish {
    /// Write the record and commit it.
    Commit,
    /// Let the claim go out of scope.
    Drop,
    /// `WriteClaim::abort`.
    Abort,
    /// Write a prefix, truncate to this many bytes (`0..=len + 4`: sometimes 0, sometimes at
    /// or above the length), then commit.
    Truncate(usize),
    /// `mem::forget` the claim full of garbage.
    Forget,
}

#[derive(Debug, Clone)]
struct ClaimOp {
    len: usize,
    seed: u8,
    garbage: Garbage,
    finish: Finish,
}

#[derive(Debug, Clone)]
enum Op {
    Claim(ClaimOp),
    /// `Consumer::try_claim`; with `hold`, the producer makes this claim while the read claim is
    /// held, and the held record must be unchanged afterwards.
    ReadOne {
        hold: Option<ClaimOp>,
    },
    /// Reads up to `max` records through one `Batch`; with `hold`, the producer makes this claim
    /// before the batch is dropped.
    ReadBatch {
        max: usize,
        hold: Option<ClaimOp>,
    },
}

fn claim_op(max: usize) -> impl Strategy<Value = ClaimOp> {
    let len = prop_oneof![
        1 => Just(0),
        1 => (max + 1)..=(max + 8),
        1 => Just(max),
        12 => 1..=max,
    ];
    let garbage = prop_oneof![
        Just(Garbage::Ff),
        any::<u64>().prop_map(Garbage::Random),
        (1..=max).prop_map(Garbage::FakeHeader),
    ];
    let finish = prop_oneof![
        4 => Just(Finish::Commit),
        1 => Just(Finish::Drop),
        1 => Just(Finish::Abort),
        3 => Just(Finish::Truncate(0)),
        1 => Just(Finish::Forget),
    ];
    (len, any::<u8>(), garbage, finish).prop_flat_map(|(len, seed, garbage, finish)| {
        let finish = match finish {
            Finish::Truncate(_) => (0..=len + 4).prop_map(Finish::Truncate).boxed(),
            other => Just(other).boxed(),
        };
        finish.prop_map(move |finish| ClaimOp {
            len,
            seed,
            garbage,
            finish,
        })
    })
}

fn op(max: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => claim_op(max).prop_map(Op::Claim),
        3 => proptest::option::weighted(0.2, claim_op(max)).prop_map(|hold| Op::ReadOne { hold }),
        1 => (1..=8usize, proptest::option::weighted(0.2, claim_op(max)))
            .prop_map(|(max, hold)| Op::ReadBatch { max, hold }),
    ]
}

/// A ring capacity (64, 128 or 256) and the operations to run on it.
fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    let max_ops = if cfg!(miri) { 30 } else { 200 };
    prop_oneof![Just(64usize), Just(128), Just(256)].prop_flat_map(move |cap| {
        (
            Just(cap),
            proptest::collection::vec(op(cap / 2 - HEADER), 1..=max_ops),
        )
    })
}

// === Seeded operations ===

/// xorshift64, for the seeded runs (cheaper than proptest under Miri, and longer).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) % n as u64) as usize
    }

    /// Picks an index with probability proportional to its weight.
    fn weighted(&mut self, weights: &[usize]) -> usize {
        let mut r = self.below(weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        unreachable!()
    }
}

/// The same distribution as [`claim_op`].
fn random_claim(rng: &mut Rng, max: usize) -> ClaimOp {
    let len = match rng.weighted(&[1, 1, 1, 12]) {
        0 => 0,
        1 => max + 1 + rng.below(8),
        2 => max,
        _ => 1 + rng.below(max),
    };
    let garbage = match rng.below(3) {
        0 => Garbage::Ff,
        1 => Garbage::Random(rng.0),
        _ => Garbage::FakeHeader(1 + rng.below(max)),
    };
    let finish = match rng.weighted(&[4, 1, 1, 3, 1]) {
        0 => Finish::Commit,
        1 => Finish::Drop,
        2 => Finish::Abort,
        3 => Finish::Truncate(rng.below(len + 5)),
        _ => Finish::Forget,
    };
    ClaimOp {
        len,
        seed: rng.below(256) as u8,
        garbage,
        finish,
    }
}

/// The same distribution as [`op`].
fn random_ops(seed: u64, cap: usize, n: usize) -> Vec<Op> {
    let max = cap / 2 - HEADER;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let hold = |rng: &mut Rng| (rng.below(5) == 0).then(|| random_claim(rng, max));
    (0..n)
        .map(|_| match rng.weighted(&[6, 3, 1]) {
            0 => Op::Claim(random_claim(&mut rng, max)),
            1 => Op::ReadOne {
                hold: hold(&mut rng),
            },
            _ => Op::ReadBatch {
                max: 1 + rng.below(8),
                hold: hold(&mut rng),
            },
        })
        .collect()
}

// === Model ===

enum Slot {
    /// Padding the producer wrote before wrapping to the start of the buffer.
    Skip { end: usize },
    /// A committed record.
    Record { end: usize, data: Vec<u8> },
}

/// What the ring must hold: the records in order, plus enough of the positions to say when a
/// claim must succeed and when it must fail.
struct Model {
    cap: usize,
    max: usize,
    /// Free-running position of the next record.
    tail: usize,
    /// Skips and records written and not yet released by the consumer, in ring order.
    slots: VecDeque<Slot>,
    /// End of the last record the consumer released: the published head is at least here.
    released: usize,
    /// Makes every record's content distinct.
    serial: u64,
}

impl Model {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            max: cap / 2 - HEADER,
            tail: 0,
            slots: VecDeque::new(),
            released: 0,
            serial: 0,
        }
    }

    fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Record { data, .. } => Some(&data[..]),
            Slot::Skip { .. } => None,
        })
    }

    fn record_count(&self) -> usize {
        self.records().count()
    }

    fn nth_record(&self, n: usize) -> Option<Vec<u8>> {
        self.records().nth(n).map(<[u8]>::to_vec)
    }

    /// The furthest the published head can be: past skips in front of the first unread record,
    /// never past that record.
    fn head_upper_bound(&self) -> usize {
        let mut head = self.released;
        for slot in &self.slots {
            match slot {
                Slot::Skip { end } => head = *end,
                Slot::Record { .. } => break,
            }
        }
        head
    }

    /// Padding and total room a claim of `len` bytes needs at the current tail.
    fn plan(&self, len: usize) -> (usize, usize) {
        let span = span(len);
        let room = self.cap - (self.tail & (self.cap - 1));
        if span <= room {
            (0, span)
        } else {
            (room, room + span)
        }
    }

    fn fits(&self, need: usize, head: usize) -> bool {
        self.tail.wrapping_add(need).wrapping_sub(head) <= self.cap
    }

    fn push_skip(&mut self, pad: usize) {
        self.tail = self.tail.wrapping_add(pad);
        self.slots.push_back(Slot::Skip { end: self.tail });
    }

    fn push_record(&mut self, data: Vec<u8>) {
        self.tail = self.tail.wrapping_add(span(data.len()));
        self.slots.push_back(Slot::Record {
            end: self.tail,
            data,
        });
    }

    /// The consumer has read and released the first record (and the skips before it).
    fn pop_record(&mut self) -> Vec<u8> {
        loop {
            match self.slots.pop_front() {
                Some(Slot::Skip { .. }) => {}
                Some(Slot::Record { end, data }) => {
                    self.released = end;
                    return data;
                }
                None => panic!("model: no record to pop"),
            }
        }
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }
}

/// The record a claim commits: its serial number, then a pattern from `seed`.
fn content(serial: u64, seed: u8, len: usize) -> Vec<u8> {
    let tag = serial.to_le_bytes();
    (0..len)
        .map(|i| match tag.get(i) {
            Some(&b) => b,
            None => seed.wrapping_add((i as u8).wrapping_mul(29)),
        })
        .collect()
}

fn fill_garbage(buf: &mut [u8], garbage: Garbage) {
    match garbage {
        Garbage::Ff => buf.fill(0xFF),
        Garbage::Random(seed) => {
            let mut x = seed | 1;
            for b in buf {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
        }
        Garbage::FakeHeader(word) => {
            // The claim starts on an 8-byte boundary of the ring, so each chunk covers one word.
            for chunk in buf.chunks_mut(8) {
                let n = chunk.len();
                chunk.copy_from_slice(&(word as u64).to_le_bytes()[..n]);
            }
        }
    }
}

// === Running ===

fn run_claim(producer: &mut spsc::Producer, model: &mut Model, op: &ClaimOp) {
    let (len, max) = (op.len, model.max);
    let result = producer.try_claim(len);
    if len == 0 {
        assert_eq!(
            result.err(),
            Some(ClaimError::ZeroLength),
            "claim of 0 bytes"
        );
        return;
    }
    if len > max {
        assert_eq!(
            result.err(),
            Some(ClaimError::TooLarge { len, max }),
            "claim of {len} bytes, max {max}"
        );
        return;
    }
    let (pad, need) = model.plan(len);
    let must_fit = model.fits(need, model.released);
    let may_fit = model.fits(need, model.head_upper_bound());
    let mut claim = match result {
        Err(ClaimError::Full) => {
            assert!(
                !must_fit,
                "claim of {len} bytes (pad {pad}) failed with Full, but the consumer has released \
                 enough room (tail {}, released {}, capacity {})",
                model.tail, model.released, model.cap
            );
            assert!(
                model.record_count() > 0,
                "Full although every committed record has been read"
            );
            return;
        }
        Err(e) => panic!("claim of {len} bytes: unexpected {e:?}"),
        Ok(claim) => {
            assert!(
                may_fit,
                "claim of {len} bytes (pad {pad}) succeeded, but the consumer has not released \
                 enough room (tail {}, head at most {}, capacity {})",
                model.tail,
                model.head_upper_bound(),
                model.cap
            );
            claim
        }
    };
    if pad != 0 {
        // The padding is written as a skip record at claim time, whatever becomes of the claim.
        model.push_skip(pad);
    }
    assert_eq!(claim.len(), len);
    fill_garbage(&mut claim, op.garbage);
    let serial = model.next_serial();
    match op.finish {
        Finish::Commit => {
            let data = content(serial, op.seed, len);
            claim.copy_from_slice(&data);
            claim.commit();
            model.push_record(data);
        }
        Finish::Drop => drop(claim),
        Finish::Abort => claim.abort(),
        Finish::Forget => std::mem::forget(claim),
        Finish::Truncate(to) => {
            let kept = to.min(len);
            let data = content(serial, op.seed, kept);
            claim[..kept].copy_from_slice(&data);
            claim.truncate(to);
            assert_eq!(claim.len(), kept, "truncate({to}) of a {len}-byte claim");
            assert_eq!(&claim[..], &data[..]);
            claim.commit();
            if kept > 0 {
                model.push_record(data);
            }
        }
    }
}

fn read_one(
    producer: &mut spsc::Producer,
    consumer: &mut spsc::Consumer,
    model: &mut Model,
    hold: Option<&ClaimOp>,
) {
    let expected = model.nth_record(0);
    match (consumer.try_claim(), expected) {
        (Some(record), Some(expected)) => {
            assert_eq!(&*record, &expected[..], "try_claim read the wrong record");
            if let Some(op) = hold {
                run_claim(producer, model, op);
                assert_eq!(
                    &*record,
                    &expected[..],
                    "a held record changed while the producer claimed"
                );
            }
            drop(record);
            model.pop_record();
        }
        (None, None) => {
            if let Some(op) = hold {
                run_claim(producer, model, op);
            }
        }
        (Some(record), None) => panic!("try_claim read {:?}; nothing is committed", &*record),
        (None, Some(expected)) => panic!("try_claim read nothing; {expected:?} is committed"),
    }
}

fn read_batch(
    producer: &mut spsc::Producer,
    consumer: &mut spsc::Consumer,
    model: &mut Model,
    max: usize,
    hold: Option<&ClaimOp>,
) {
    let mut batch = consumer.batch();
    let mut read = 0;
    let mut held = false;
    while read < max {
        let expected = model.nth_record(usize::from(read > 0));
        let next = batch.next();
        // `next` consumes the record it returned before; on rings this small every consumed
        // record is handed back at once.
        if read > 0 {
            model.pop_record();
        }
        match (next, expected) {
            (Some(record), Some(expected)) => {
                assert_eq!(record, &expected[..], "batch record {read} is wrong");
                read += 1;
                if let (true, Some(op)) = (read == max, hold) {
                    held = true;
                    run_claim(producer, model, op);
                    assert_eq!(
                        record,
                        &expected[..],
                        "a record in an open batch changed while the producer claimed"
                    );
                }
            }
            (None, None) => {
                read = 0;
                break;
            }
            (Some(record), None) => {
                panic!("batch record {read} is {record:?}; nothing more is committed")
            }
            (None, Some(expected)) => {
                panic!("batch record {read} is missing; {expected:?} is committed")
            }
        }
    }
    if let (false, Some(op)) = (held, hold) {
        run_claim(producer, model, op);
    }
    drop(batch);
    // Dropping the batch consumes the record it returned last.
    if read > 0 {
        model.pop_record();
    }
}

/// Checks what can be checked between operations, when no claim is outstanding.
fn check_idle(producer: &spsc::Producer, consumer: &spsc::Consumer, model: &Model) {
    assert_eq!(
        consumer.is_empty(),
        model.record_count() == 0,
        "is_empty() with {} records committed and unread",
        model.record_count()
    );
    let used = producer.used_bytes();
    let low = model.tail.wrapping_sub(model.head_upper_bound());
    let high = model.tail.wrapping_sub(model.released);
    assert!(
        (low..=high).contains(&used),
        "used_bytes() is {used}, expected {low}..={high}"
    );
    assert!(!producer.is_disconnected());
    assert!(!consumer.is_disconnected());
}

fn run_model(cap: usize, ops: &[Op]) {
    // Ask for less than a power of two where that still rounds up to `cap`.
    let requested = if cap > 64 { cap / 2 + 1 } else { cap };
    let (mut producer, mut consumer) = spsc::new(requested);
    assert_eq!(producer.capacity(), cap);
    assert_eq!(consumer.capacity(), cap);
    let mut model = Model::new(cap);
    assert_eq!(producer.max_record_len(), model.max);

    for op in ops {
        match op {
            Op::Claim(claim) => run_claim(&mut producer, &mut model, claim),
            Op::ReadOne { hold } => {
                read_one(&mut producer, &mut consumer, &mut model, hold.as_ref())
            }
            Op::ReadBatch { max, hold } => read_batch(
                &mut producer,
                &mut consumer,
                &mut model,
                *max,
                hold.as_ref(),
            ),
        }
        check_idle(&producer, &consumer, &model);
    }

    // Drain, alternating the two ways of reading.
    let mut by_batch = false;
    while model.record_count() > 0 {
        if by_batch {
            read_batch(&mut producer, &mut consumer, &mut model, 3, None);
        } else {
            read_one(&mut producer, &mut consumer, &mut model, None);
        }
        by_batch = !by_batch;
        check_idle(&producer, &consumer, &model);
    }
    assert!(consumer.try_claim().is_none());
    assert!(consumer.batch().next().is_none());
    assert!(consumer.is_empty());

    // A drained ring takes a record of the largest size, wherever its tail stands.
    let max = model.max;
    let mut claim = producer
        .try_claim(max)
        .expect("a drained ring must accept a record of max_record_len bytes");
    let data = content(u64::MAX, 7, max);
    claim.copy_from_slice(&data);
    claim.commit();
    assert!(!consumer.is_empty());
    assert_eq!(
        &*consumer.try_claim().expect("the max-size record"),
        &data[..]
    );
    assert!(consumer.try_claim().is_none());

    drop(producer);
    assert!(consumer.is_disconnected());
    assert!(consumer.try_claim().is_none());
}

fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 2,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig {
            cases: 256,
            ..ProptestConfig::default()
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn spsc_matches_model((cap, ops) in scenario()) {
        run_model(cap, &ops);
    }
}

// === Deterministic cases ===

/// Long runs of seeded operations: many more laps around the ring than a proptest case makes.
#[test]
fn seeded_long_runs_match_model() {
    let (seeds, ops) = if cfg!(miri) { (2, 100) } else { (20, 5_000) };
    for seed in 0..seeds {
        for cap in [64, 128, 256] {
            run_model(cap, &random_ops(seed, cap, ops));
        }
    }
}

/// Drives a fresh ring's tail to every 8-byte offset and checks that, once drained, it accepts
/// a record of `max_record_len` bytes there, also with garbage left behind by a dropped claim
/// and with the skip of an aborted wrapping claim not yet passed by the consumer.
#[test]
fn drained_ring_accepts_max_record_at_every_offset() {
    for cap in [64, 128, 256] {
        let max = cap / 2 - HEADER;
        for offset in (0..cap).step_by(8) {
            for leftovers in [false, true] {
                let (mut producer, mut consumer) = spsc::new(cap);
                assert_eq!(producer.max_record_len(), max);
                // Records of 16 bytes span 24 = 3 * 8 bytes; 3 is odd, so every multiple of 8
                // is reached within cap / 8 records.
                let mut tail = 0;
                let mut n = 0u8;
                while tail % cap != offset {
                    producer.try_write(&[n; 16]).unwrap();
                    assert_eq!(&*consumer.try_claim().unwrap(), &[n; 16]);
                    tail += 24;
                    n = n.wrapping_add(1);
                }
                if leftovers {
                    // Garbage that looks like committed headers, in a claim that is dropped.
                    let mut claim = producer.try_claim(max).unwrap();
                    fill_garbage(&mut claim, Garbage::FakeHeader(8));
                    drop(claim);
                    // A wrapping claim writes a skip; abort it without the consumer looking.
                    let mut claim = producer.try_claim(max).unwrap();
                    fill_garbage(&mut claim, Garbage::Ff);
                    claim.abort();
                }
                let mut claim = producer.try_claim(max).unwrap_or_else(|e| {
                    panic!("cap {cap}, offset {offset}, leftovers {leftovers}: {e}")
                });
                let data = content(u64::from(n), 3, max);
                claim.copy_from_slice(&data);
                claim.commit();
                assert_eq!(&*consumer.try_claim().unwrap(), &data[..]);
                assert!(consumer.try_claim().is_none());
                assert!(consumer.is_empty());
            }
        }
    }
}

/// Claims full of words that read as valid length headers, given up in each possible way, are
/// never seen by the consumer, and a short record committed over them reads back exactly.
#[test]
fn leftovers_of_given_up_claims_are_never_read() {
    for way in 0..4 {
        let (mut producer, mut consumer) = spsc::new(128);
        let mut claim = producer.try_claim(56).unwrap();
        fill_garbage(&mut claim, Garbage::FakeHeader(8));
        match way {
            0 => drop(claim),
            1 => claim.abort(),
            2 => std::mem::forget(claim),
            _ => {
                claim[..2].copy_from_slice(b"hi");
                claim.truncate(2);
                claim.commit();
            }
        }
        assert_eq!(consumer.is_empty(), way != 3);
        producer.try_write(b"x").unwrap();
        if way == 3 {
            assert_eq!(&*consumer.try_claim().unwrap(), b"hi");
        }
        assert_eq!(&*consumer.try_claim().unwrap(), b"x");
        assert!(consumer.try_claim().is_none(), "way {way}");
        assert!(consumer.is_empty());
    }
}

/// A claim truncated to zero bytes commits nothing, and its room goes back to the ring.
#[test]
fn truncate_to_zero_commits_nothing() {
    let (mut producer, mut consumer) = spsc::new(64);
    for _ in 0..10 {
        let mut claim = producer.try_claim(24).unwrap();
        claim.fill(0xFF);
        claim.truncate(0);
        assert!(claim.is_empty());
        claim.commit();
        assert!(consumer.is_empty());
        assert!(consumer.try_claim().is_none());
    }
    assert_eq!(producer.used_bytes(), 0);
}
