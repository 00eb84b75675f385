//! Two-thread stress tests of the SPSC ring.
//!
//! A producer thread writes a long sequence of records whose lengths come from a fixed-seed
//! PRNG; a consumer thread regenerates the same lengths and checks every record's length,
//! sequence number and checksum, in order, and that exactly `N` arrive before the producer's
//! disconnect ends the stream. Producers sometimes claim an upper bound and truncate, and
//! sometimes give up a claim full of a bogus (but well-formed) record, which the consumer must
//! never see. Consumers mix `try_claim` and batches.
//!
//! ```text
//! cargo test -p logbuf --release --test spsc_stress
//! ```

// `WriteClaim` has no `Drop` today, so `mem::forget` on it is the same as dropping it; the test
// forgets claims anyway so that it keeps checking that forgetting is harmless.
#![allow(clippy::forget_non_drop)]

mod common;

use std::thread;

use common::{Backoff, Lengths, Rng, SEED, check_record, fill_record};
use logbuf::queue::{ClaimError, spsc};

/// Records per test.
const N: u64 = if cfg!(miri) {
    1_000
} else if cfg!(debug_assertions) {
    200_000
} else {
    2_000_000
};

/// Ordinary record lengths are in `1..=MAX_LEN` (clamped to the ring's maximum).
const MAX_LEN: usize = if cfg!(miri) { 64 } else { 1024 };

/// Sequence number of the bogus record written into a claim that is then given up: never one
/// the consumer expects.
fn bogus(seq: u64) -> u64 {
    !seq
}

// === Threads ===

#[derive(Clone, Copy, Debug)]
enum ProducerStyle {
    /// Claims exactly the record's length and commits.
    Exact,
    /// Also claims upper bounds and truncates, and gives up claims (dropped or forgotten).
    Mixed,
}

#[derive(Clone, Copy, Debug)]
enum ConsumerStyle {
    Claim,
    Batch,
    Mixed,
}

/// Writes records `0..n`, then drops the producer. Returns early if the consumer goes away
/// (it panicked), so the test fails instead of hanging.
fn produce(mut producer: spsc::Producer, n: u64, style: ProducerStyle) {
    let max = producer.max_record_len();
    let mut lengths = Lengths::new(SEED, MAX_LEN, max);
    let mut rng = Rng::new(0x00DD_BA11);
    for seq in 0..n {
        let len = lengths.next();
        let mixed = matches!(style, ProducerStyle::Mixed);
        if mixed && rng.below(16) == 0 {
            // A claim given up: full of a well-formed record the consumer must never see.
            let bogus_len = 1 + rng.below((MAX_LEN + 64).min(max));
            if let Ok(mut claim) = producer.try_claim(bogus_len) {
                fill_record(&mut claim, bogus(seq));
                if rng.below(2) == 0 {
                    drop(claim);
                } else {
                    std::mem::forget(claim);
                }
            }
        }
        // An upper bound, to be truncated to `len`.
        let bound = if mixed && rng.below(4) == 0 {
            (len + 1 + rng.below(64)).min(max)
        } else {
            len
        };
        let mut backoff = Backoff::new();
        loop {
            match producer.try_claim(bound) {
                Ok(mut claim) => {
                    if bound > len {
                        // Words of value 1 would read as committed 1-byte records.
                        for (i, b) in claim[len..].iter_mut().enumerate() {
                            *b = u8::from((len + i).is_multiple_of(8));
                        }
                    }
                    fill_record(&mut claim[..len], seq);
                    claim.truncate(len);
                    claim.commit();
                    break;
                }
                Err(ClaimError::Full) => {
                    if producer.is_disconnected() {
                        return;
                    }
                    backoff.wait("producer", seq);
                }
                Err(e) => panic!("record {seq} ({bound} bytes): {e}"),
            }
        }
    }
}

/// Reads and checks records until the producer has disconnected and nothing is left; returns
/// how many arrived.
fn consume(mut consumer: spsc::Consumer, style: ConsumerStyle) -> u64 {
    // The same lengths as the producer's, whose `max_record_len` is half the capacity less the
    // 8-byte header.
    let mut lengths = Lengths::new(SEED, MAX_LEN, consumer.capacity() / 2 - 8);
    let mut rng = Rng::new(0xC0FFEE);
    let mut seq = 0u64;
    let mut backoff = Backoff::new();
    loop {
        let batch = match style {
            ConsumerStyle::Claim => false,
            ConsumerStyle::Batch => true,
            ConsumerStyle::Mixed => rng.below(2) == 0,
        };
        let mut read = 0;
        if batch {
            let limit = 1 + rng.below(64);
            let mut batch = consumer.batch();
            while read < limit {
                let Some(record) = batch.next() else { break };
                check_record(record, seq, lengths.next());
                seq += 1;
                read += 1;
            }
            assert_eq!(batch.count(), read);
        } else if let Some(record) = consumer.try_claim() {
            check_record(&record, seq, lengths.next());
            seq += 1;
            read = 1;
        }
        if read > 0 {
            backoff.reset();
        } else if consumer.is_disconnected() {
            // Every record committed before the disconnect is visible now.
            if consumer.is_empty() {
                assert!(consumer.try_claim().is_none());
                assert!(consumer.is_disconnected());
                return seq;
            }
        } else {
            backoff.wait("consumer", seq);
        }
    }
}

fn stress(capacity: usize, producer_style: ProducerStyle, consumer_style: ConsumerStyle) {
    let (producer, consumer) = spsc::new(capacity);
    assert_eq!(producer.capacity(), capacity);
    let received = thread::scope(|s| {
        // Both ends move into their threads, so a panic on either side drops that end and
        // the other side stops too.
        let reader = s.spawn(move || consume(consumer, consumer_style));
        s.spawn(move || produce(producer, N, producer_style));
        reader.join().unwrap()
    });
    assert_eq!(received, N, "records received");
}

#[test]
fn stress_64k_mixed() {
    stress(64 * 1024, ProducerStyle::Mixed, ConsumerStyle::Mixed);
}

#[test]
fn stress_64k_exact_batches() {
    stress(64 * 1024, ProducerStyle::Exact, ConsumerStyle::Batch);
}

#[test]
fn stress_256_mixed() {
    stress(256, ProducerStyle::Mixed, ConsumerStyle::Mixed);
}

#[test]
fn stress_256_exact_claims() {
    stress(256, ProducerStyle::Exact, ConsumerStyle::Claim);
}

// === Disconnect ===

#[test]
fn records_committed_before_producer_drop_stay_readable() {
    let (mut producer, mut consumer) = spsc::new(256);
    for i in 0..3u8 {
        producer.try_write(&[i; 10]).unwrap();
    }
    // A claim in progress when the producer goes away is never seen.
    let mut claim = producer.try_claim(20).unwrap();
    claim.fill(0xFF);
    drop(claim);
    assert!(!consumer.is_disconnected());
    drop(producer);
    assert!(consumer.is_disconnected());
    for i in 0..3u8 {
        assert_eq!(&*consumer.try_claim().unwrap(), &[i; 10]);
    }
    assert!(consumer.try_claim().is_none());
    assert!(consumer.is_empty());
    assert!(consumer.is_disconnected());
}

#[test]
fn producer_sees_consumer_drop() {
    let (mut producer, consumer) = spsc::new(256);
    assert!(!producer.is_disconnected());
    drop(consumer);
    assert!(producer.is_disconnected());
    // Writing to a ring nobody reads is allowed; it just fills up.
    let mut writes = 0;
    while producer.try_write(&[1; 8]).is_ok() {
        writes += 1;
    }
    assert!(writes > 0);
    assert_eq!(producer.try_write(&[1; 8]), Err(ClaimError::Full));
    assert!(producer.is_disconnected());
}

/// The consumer reads part of the stream and drops its end; the producer, writing as fast as
/// it can, must notice and stop.
#[test]
fn producer_sees_consumer_drop_across_threads() {
    let (mut producer, mut consumer) = spsc::new(1024);
    let stop_after = N / 100;
    thread::scope(|s| {
        s.spawn(move || {
            let mut lengths = Lengths::new(SEED, MAX_LEN, consumer.capacity() / 2 - 8);
            let mut seq = 0;
            let mut backoff = Backoff::new();
            while seq < stop_after {
                if let Some(record) = consumer.try_claim() {
                    check_record(&record, seq, lengths.next());
                    seq += 1;
                    backoff.reset();
                } else {
                    backoff.wait("consumer", seq);
                }
            }
            drop(consumer);
        });
        let mut lengths = Lengths::new(SEED, MAX_LEN, producer.max_record_len());
        let mut seq = 0;
        let mut backoff = Backoff::new();
        let mut len = lengths.next();
        while !producer.is_disconnected() {
            match producer.try_claim(len) {
                Ok(mut claim) => {
                    fill_record(&mut claim, seq);
                    claim.commit();
                    seq += 1;
                    len = lengths.next();
                    backoff.reset();
                }
                Err(ClaimError::Full) => backoff.wait("producer", seq),
                Err(e) => panic!("{e}"),
            }
        }
        // The consumer read `stop_after` records; the ones written after them were never
        // read, so they all had to fit the ring at once, at 16 bytes or more each. (That at
        // least `stop_after` were written is true by construction, and proves nothing.)
        let unread_max = (producer.capacity() / 16) as u64;
        assert!(
            seq <= stop_after + unread_max,
            "{seq} written, {stop_after} read: more unread records than the ring holds"
        );
    });
}
