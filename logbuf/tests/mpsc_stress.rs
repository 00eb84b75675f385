//! Multi-producer stress tests of the MPSC ring.
//!
//! Two and four producer threads (on a two-core machine: oversubscribed on purpose) each write a
//! stream of records (16 bytes and up) whose lengths come from their own fixed-seed PRNG. Every record carries its
//! producer and sequence number (`producer << 48 | seq`) and a checksum. The consumer replays
//! each producer's lengths and checks that every producer's stream arrives complete and in
//! order. Producers also truncate claims and give some up; the consumer must never see those.
//!
//! ```text
//! cargo test -p logbuf --release --test mpsc_stress
//! ```

mod common;

use std::thread;

use common::{Backoff, Lengths, Rng, SEED, check_record, fill_record};
use logbuf::queue::{ClaimError, mpsc};

/// Records per producer.
const N: u64 = if cfg!(miri) {
    500
} else if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};

const MAX_LEN: usize = if cfg!(miri) { 128 } else { 1024 };

fn tag(producer: u64, seq: u64) -> u64 {
    producer << 48 | seq
}

/// Records are at least 16 bytes, so every one carries its tag and checksum.
fn record_len(lengths: &mut Lengths) -> usize {
    lengths.next().max(16)
}

fn produce(mut producer: mpsc::Producer, id: u64) {
    let max = producer.max_record_len();
    let mut lengths = Lengths::new(SEED ^ id, MAX_LEN, max);
    let mut rng = Rng::new(0x5EED ^ id);
    for seq in 0..N {
        let len = record_len(&mut lengths);
        if rng.below(32) == 0 {
            // A claim given up, full of a well-formed record nobody may see.
            if let Ok(mut claim) = producer.try_claim(1 + rng.below(max)) {
                fill_record(&mut claim, tag(id, seq) | 1 << 63);
            }
        }
        let bound = if rng.below(4) == 0 {
            (len + 1 + rng.below(64)).min(max)
        } else {
            len
        };
        let mut backoff = Backoff::new();
        loop {
            let err = match producer.try_claim(bound) {
                Ok(mut claim) => {
                    claim.fill(0xff);
                    fill_record(&mut claim[..len], tag(id, seq));
                    claim.truncate(len);
                    claim.commit();
                    break;
                }
                Err(e) => e,
            };
            assert_eq!(
                err,
                ClaimError::Full,
                "producer {id} record {seq} ({bound} bytes)"
            );
            if producer.is_disconnected() {
                return;
            }
            backoff.wait("producer", seq);
        }
    }
}

fn consume(mut consumer: mpsc::Consumer, producers: u64) -> Vec<u64> {
    let max = consumer.capacity() / 2 - 8;
    let mut lengths: Vec<Lengths> = (0..producers)
        .map(|id| Lengths::new(SEED ^ id, MAX_LEN, max))
        .collect();
    let mut next = vec![0u64; producers as usize];
    let mut check = |record: &[u8]| {
        let id = u64::from_le_bytes(record[..8].try_into().unwrap()) >> 48;
        assert!(id < producers, "unknown producer {id}");
        let seq = next[id as usize];
        check_record(record, tag(id, seq), record_len(&mut lengths[id as usize]));
        next[id as usize] += 1;
    };
    let mut rng = Rng::new(0xC0FFEE);
    let mut backoff = Backoff::new();
    let mut received = 0u64;
    loop {
        let mut read = 0;
        if rng.below(2) == 0 {
            let mut batch = consumer.batch();
            while let Some(record) = batch.next() {
                check(record);
                read += 1;
            }
        } else if let Some(record) = consumer.try_claim() {
            check(&record);
            read = 1;
        }
        received += read;
        if read > 0 {
            backoff.reset();
        } else if consumer.is_disconnected() {
            if consumer.is_empty() {
                return next;
            }
        } else {
            backoff.wait("consumer", received);
        }
    }
}

fn stress(capacity: usize, producers: u64) {
    let (producer, consumer) = mpsc::new(capacity);
    let counts = thread::scope(|s| {
        let reader = s.spawn(move || consume(consumer, producers));
        for id in 0..producers {
            let p = producer.clone();
            s.spawn(move || produce(p, id));
        }
        drop(producer);
        reader.join().unwrap()
    });
    assert_eq!(
        counts,
        vec![N; producers as usize],
        "records received per producer"
    );
}

#[test]
fn two_producers_64k() {
    stress(64 * 1024, 2);
}

#[test]
fn four_producers_64k() {
    stress(64 * 1024, 4);
}

#[test]
fn four_producers_tiny_ring() {
    stress(256, 4);
}
