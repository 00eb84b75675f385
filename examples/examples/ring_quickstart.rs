//! Two threads, one SPSC ring: a producer writes sequence-numbered records of varying length,
//! a consumer checks every one, and both report what they paid.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example ring_quickstart
//! ```

use std::time::{Duration, Instant};

use logbuf::queue::{ClaimError, spsc};

const RECORDS: u64 = 2_000_000;

fn main() {
    let (mut producer, mut consumer) = spsc::new(1 << 20);
    println!(
        "ring: {} bytes, records up to {} bytes",
        producer.capacity(),
        producer.max_record_len()
    );

    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        let mut full = 0u64;
        let mut busy = Duration::ZERO;
        for seq in 0..RECORDS {
            let len = 8 + (seq % 120) as usize;
            let t = Instant::now();
            loop {
                match producer.try_claim(len) {
                    Ok(mut claim) => {
                        claim[..8].copy_from_slice(&seq.to_le_bytes());
                        claim[8..].fill(seq as u8);
                        claim.commit();
                        break;
                    }
                    Err(ClaimError::Full) => {
                        full += 1;
                        std::hint::spin_loop();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            busy += t.elapsed();
        }
        (full, busy)
    });

    let mut expected = 0u64;
    let mut bytes = 0u64;
    while expected < RECORDS {
        let mut batch = consumer.batch();
        while let Some(record) = batch.next() {
            let seq = u64::from_le_bytes(record[..8].try_into().expect("8-byte prefix"));
            assert_eq!(seq, expected, "records arrive in order");
            assert!(
                record[8..].iter().all(|&b| b == seq as u8),
                "record {seq} intact"
            );
            bytes += record.len() as u64;
            expected += 1;
        }
    }
    let elapsed = started.elapsed();
    let (full, busy) = writer.join().expect("producer thread");

    println!(
        "{RECORDS} records, {:.1} MB in {:.1} ms: {:.1} M records/s",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64() * 1e3,
        RECORDS as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "producer: {:.1} ns per record (including {full} retries on a full ring)",
        busy.as_nanos() as f64 / RECORDS as f64
    );
    println!("consumer: verified every record in order");
    assert!(consumer.is_disconnected());
}
