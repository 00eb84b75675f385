//! Model-based property test of the MPSC ring: several producers' claim, commit, truncate and
//! abort steps interleaved deterministically on one thread, against an oracle of the claim order.
//!
//! The oracle is the list of claims in the order they took room from the shared tail. The
//! consumer must read committed records in that order, pass over aborted ones, and stop at the
//! first claim still outstanding, even when claims made after it are already committed. A second
//! model keeps a single producer handle and no clones, so that its claims take the path for one
//! handle alone.

use logbuf::queue::{ClaimError, mpsc};
use proptest::prelude::*;
use typed_arena::Arena;

/// Producers taking part.
const PRODUCERS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// Producer `p` claims `len` bytes (if it holds no claim yet) and fills them with garbage.
    Claim { p: usize, len: usize },
    /// Producer `p` writes its record (`seed`) and commits, truncated to `truncate % (len + 2)`
    /// bytes when given.
    Commit {
        p: usize,
        seed: u8,
        truncate: Option<usize>,
    },
    /// Producer `p` drops its claim.
    Abort { p: usize },
    /// The consumer reads one record.
    Read,
    /// The consumer reads up to `max` records in one batch.
    ReadBatch { max: usize },
}

/// What the oracle knows of each claim, in claim order.
#[derive(Debug)]
enum Entry {
    /// Claimed by this producer and not yet resolved.
    #[allow(dead_code)] // The index is for failure output.
    Outstanding(usize),
    Committed(Vec<u8>),
    Aborted,
}

fn op(max: usize) -> impl Strategy<Value = Op> {
    let p = 0..PRODUCERS;
    prop_oneof![
        4 => (p.clone(), prop_oneof![1 => Just(0), 1 => (max + 1)..=(max + 4), 10 => 1..=max])
            .prop_map(|(p, len)| Op::Claim { p, len }),
        4 => (p.clone(), any::<u8>(), proptest::option::of(any::<usize>()))
            .prop_map(|(p, seed, truncate)| Op::Commit { p, seed, truncate }),
        1 => p.prop_map(|p| Op::Abort { p }),
        3 => Just(Op::Read),
        1 => (1..6usize).prop_map(|max| Op::ReadBatch { max }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    let ops = if cfg!(miri) { 40 } else { 200 };
    prop_oneof![Just(64usize), Just(128), Just(256)].prop_flat_map(move |cap| {
        let max = cap / 2 - 8;
        (Just(cap), proptest::collection::vec(op(max), 1..ops))
    })
}

fn record(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add(i as u8).wrapping_mul(31))
        .collect()
}

/// The record the consumer must read next, moving `front` past aborted claims.
fn expected_front(oracle: &[Entry], front: &mut usize) -> Option<Vec<u8>> {
    while let Some(Entry::Aborted) = oracle.get(*front) {
        *front += 1;
    }
    match oracle.get(*front) {
        Some(Entry::Committed(r)) => Some(r.clone()),
        _ => None,
    }
}

fn run(cap: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let arena = Arena::new();
    let (base, mut consumer) = mpsc::new(cap);
    let max = base.max_record_len();
    // Each producer's claim, with its index in the oracle.
    let mut claims: Vec<Option<(mpsc::WriteClaim<'_>, usize)>> =
        (0..PRODUCERS).map(|_| None).collect();
    // Every claim in the order it took room from the tail.
    let mut oracle: Vec<Entry> = Vec::new();
    // Index of the next claim the consumer has not read or passed.
    let mut front = 0usize;
    // The last read found nothing and everything claimed was read or passed: the consumer
    // has handed every byte back, so any valid claim must succeed.
    let mut drained = true;

    for op in ops {
        match op {
            Op::Claim { p, len } => {
                if claims[p].is_some() {
                    continue;
                }
                // A clone per claim: the claim borrows it, and the arena keeps it alive.
                let producer: &mut mpsc::Producer = arena.alloc(base.clone());
                match producer.try_claim(len) {
                    Ok(mut claim) => {
                        prop_assert!((1..=max).contains(&len));
                        prop_assert!(claim.iter().all(|&b| b == 0), "fresh claims are zeroed");
                        claim.fill(0xff);
                        claims[p] = Some((claim, oracle.len()));
                        oracle.push(Entry::Outstanding(p));
                        drained = false;
                    }
                    Err(ClaimError::ZeroLength) => prop_assert_eq!(len, 0),
                    Err(ClaimError::TooLarge { len: l, max: m }) => {
                        prop_assert!(len > max);
                        prop_assert_eq!((l, m), (len, max));
                    }
                    Err(ClaimError::Full) => {
                        prop_assert!((1..=max).contains(&len));
                        prop_assert!(
                            !drained,
                            "Full although the consumer handed everything back"
                        );
                    }
                }
            }
            Op::Commit { p, seed, truncate } => {
                let Some((mut claim, at)) = claims[p].take() else {
                    continue;
                };
                let full = record(seed, claim.len());
                claim.copy_from_slice(&full);
                let kept = truncate.map_or(full.len(), |t| (t % (full.len() + 2)).min(full.len()));
                claim.truncate(kept);
                prop_assert_eq!(claim.len(), kept);
                claim.commit();
                oracle[at] = if kept == 0 {
                    Entry::Aborted
                } else {
                    Entry::Committed(full[..kept].to_vec())
                };
            }
            Op::Abort { p } => {
                let Some((claim, at)) = claims[p].take() else {
                    continue;
                };
                drop(claim);
                oracle[at] = Entry::Aborted;
            }
            Op::Read => {
                let want = expected_front(&oracle, &mut front);
                let got = consumer.try_claim().map(|r| r.to_vec());
                prop_assert_eq!(&got, &want);
                if got.is_some() {
                    front += 1;
                }
                drained = got.is_none() && front == oracle.len();
            }
            Op::ReadBatch { max } => {
                let mut batch = consumer.batch();
                for _ in 0..max {
                    let want = expected_front(&oracle, &mut front);
                    let got = batch.next().map(<[u8]>::to_vec);
                    prop_assert_eq!(&got, &want);
                    if got.is_none() {
                        break;
                    }
                    front += 1;
                }
                // A batch hands back only what it read, not the skips after it.
                drained = false;
            }
        }
        let mut peek = front;
        prop_assert_eq!(
            consumer.is_empty(),
            expected_front(&oracle, &mut peek).is_none()
        );
    }

    // Commit what is outstanding as it stands (full of 0xFF): it must come out in claim order
    // with everything else.
    for slot in &mut claims {
        if let Some((claim, at)) = slot.take() {
            oracle[at] = Entry::Committed(vec![0xff; claim.len()]);
            claim.commit();
        }
    }
    let mut rest = Vec::new();
    while let Some(r) = consumer.try_claim() {
        rest.push(r.to_vec());
    }
    let want: Vec<Vec<u8>> = oracle[front..]
        .iter()
        .filter_map(|e| match e {
            Entry::Committed(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    prop_assert_eq!(rest, want);
    prop_assert!(consumer.is_empty());
    // Everything was handed back: the largest record fits again.
    let mut producer = base.clone();
    prop_assert!(producer.try_write(&vec![7; max]).is_ok());
    Ok(())
}

/// A step of the model with one producer handle and no clones: the producer claims room with
/// a plain store of `tail` then, not a compare-exchange. A claim borrows the only handle, so
/// one claim at a time, resolved in the same step after `reads` reads by the consumer.
#[derive(Debug, Clone)]
enum SoloOp {
    /// Claim `len` bytes, fill them with garbage, let the consumer read `reads` times, then
    /// commit (truncated to `truncate % (len + 2)` bytes when given) or, when `abort`, drop.
    Claim {
        len: usize,
        reads: usize,
        seed: u8,
        truncate: Option<usize>,
        abort: bool,
    },
    /// The consumer reads one record.
    Read,
    /// The consumer reads up to `max` records in one batch.
    ReadBatch { max: usize },
}

fn solo_scenario() -> impl Strategy<Value = (usize, Vec<SoloOp>)> {
    let ops = if cfg!(miri) { 40 } else { 200 };
    prop_oneof![Just(64usize), Just(128), Just(256)].prop_flat_map(move |cap| {
        let max = cap / 2 - 8;
        let op = prop_oneof![
            6 => (
                prop_oneof![1 => Just(0), 1 => (max + 1)..=(max + 4), 10 => 1..=max],
                0..3usize,
                any::<u8>(),
                proptest::option::of(any::<usize>()),
                proptest::bool::weighted(0.2),
            )
                .prop_map(|(len, reads, seed, truncate, abort)| SoloOp::Claim {
                    len,
                    reads,
                    seed,
                    truncate,
                    abort,
                }),
            3 => Just(SoloOp::Read),
            1 => (1..6usize).prop_map(|max| SoloOp::ReadBatch { max }),
        ];
        (Just(cap), proptest::collection::vec(op, 1..ops))
    })
}

/// One read by the consumer, checked against the oracle; returns whether it found nothing
/// with everything claimed read or passed.
fn checked_read(
    consumer: &mut mpsc::Consumer,
    oracle: &[Entry],
    front: &mut usize,
) -> Result<bool, TestCaseError> {
    let want = expected_front(oracle, front);
    let got = consumer.try_claim().map(|r| r.to_vec());
    prop_assert_eq!(&got, &want);
    if got.is_some() {
        *front += 1;
    }
    Ok(got.is_none() && *front == oracle.len())
}

fn run_solo(cap: usize, ops: Vec<SoloOp>) -> Result<(), TestCaseError> {
    let (mut producer, mut consumer) = mpsc::new(cap);
    let max = producer.max_record_len();
    let mut oracle: Vec<Entry> = Vec::new();
    let mut front = 0usize;
    let mut drained = true;
    for op in ops {
        match op {
            SoloOp::Claim {
                len,
                reads,
                seed,
                truncate,
                abort,
            } => match producer.try_claim(len) {
                Ok(mut claim) => {
                    prop_assert!((1..=max).contains(&len));
                    prop_assert!(claim.iter().all(|&b| b == 0), "fresh claims are zeroed");
                    claim.fill(0xff);
                    let at = oracle.len();
                    oracle.push(Entry::Outstanding(0));
                    for _ in 0..reads {
                        checked_read(&mut consumer, &oracle, &mut front)?;
                    }
                    if abort {
                        drop(claim);
                        oracle[at] = Entry::Aborted;
                    } else {
                        let full = record(seed, len);
                        claim.copy_from_slice(&full);
                        let kept = truncate.map_or(len, |t| (t % (len + 2)).min(len));
                        claim.truncate(kept);
                        claim.commit();
                        oracle[at] = if kept == 0 {
                            Entry::Aborted
                        } else {
                            Entry::Committed(full[..kept].to_vec())
                        };
                    }
                    drained = false;
                }
                Err(ClaimError::ZeroLength) => prop_assert_eq!(len, 0),
                Err(ClaimError::TooLarge { .. }) => prop_assert!(len > max),
                Err(ClaimError::Full) => {
                    prop_assert!((1..=max).contains(&len));
                    prop_assert!(
                        !drained,
                        "Full although the consumer handed everything back"
                    );
                }
            },
            SoloOp::Read => drained = checked_read(&mut consumer, &oracle, &mut front)?,
            SoloOp::ReadBatch { max } => {
                let mut batch = consumer.batch();
                for _ in 0..max {
                    let want = expected_front(&oracle, &mut front);
                    let got = batch.next().map(<[u8]>::to_vec);
                    prop_assert_eq!(&got, &want);
                    if got.is_none() {
                        break;
                    }
                    front += 1;
                }
                drained = false;
            }
        }
        let mut peek = front;
        prop_assert_eq!(
            consumer.is_empty(),
            expected_front(&oracle, &mut peek).is_none()
        );
    }
    // Nothing is outstanding: reading until a read finds nothing passes every claim and hands
    // every byte back, so the largest record fits again.
    while !checked_read(&mut consumer, &oracle, &mut front)? {}
    prop_assert!(producer.try_write(&vec![7; max]).is_ok());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 512 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mpsc_matches_claim_order_oracle((cap, ops) in scenario()) {
        run(cap, ops)?;
    }

    /// The same oracle with a single producer handle, which claims with a plain store.
    #[test]
    fn mpsc_single_handle_matches_claim_order_oracle((cap, ops) in solo_scenario()) {
        run_solo(cap, ops)?;
    }
}
