//! Single-thread cost of the SPSC rings' operations, under criterion: no second thread, so no
//! cache-line traffic between cores, only the instructions of claim, copy, commit, read and
//! release.
//!
//! - `roundtrip_64B`: write one 64-byte record, read it back (claim, sum its bytes, release).
//! - `burst32_64B`: write 32 records of 64 bytes, then read all 32 back; logbuf reads them
//!   once per record (`try_claim`) and once with a single `batch`.
//!
//! Sample sizes and times are kept small so the whole file runs in well under a minute.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logbuf_benches::word_sum;

const RING: usize = 64 * 1024;
const PAYLOAD: [u8; 64] = [0x5A; 64];
const BURST: usize = 32;

fn roundtrip(c: &mut Criterion) {
    let mut group = c.benchmark_group("roundtrip_64B");
    group.throughput(Throughput::Elements(1));

    let (mut tx, mut rx) = logbuf::queue::spsc::new(RING);
    group.bench_function("logbuf", |b| {
        b.iter(|| {
            let mut claim = tx.try_claim(PAYLOAD.len()).expect("ring has room");
            claim.copy_from_slice(black_box(&PAYLOAD));
            claim.commit();
            let record = rx.try_claim().expect("record was committed");
            black_box(word_sum(&record))
        })
    });

    let (mut tx, mut rx) = nexus_logbuf::queue::spsc::new(RING);
    group.bench_function("nexus-logbuf", |b| {
        b.iter(|| {
            let mut claim = tx.try_claim(PAYLOAD.len()).expect("ring has room");
            claim.copy_from_slice(black_box(&PAYLOAD));
            claim.commit();
            let record = rx.try_claim().expect("record was committed");
            black_box(word_sum(&record))
        })
    });
    group.finish();
}

fn burst(c: &mut Criterion) {
    let mut group = c.benchmark_group("burst32_64B");
    group.throughput(Throughput::Elements(BURST as u64));

    let (mut tx, mut rx) = logbuf::queue::spsc::new(RING);
    group.bench_function("logbuf try_claim", |b| {
        b.iter(|| {
            for _ in 0..BURST {
                let mut claim = tx.try_claim(PAYLOAD.len()).expect("ring has room");
                claim.copy_from_slice(black_box(&PAYLOAD));
                claim.commit();
            }
            let mut sum = 0;
            for _ in 0..BURST {
                sum ^= word_sum(&rx.try_claim().expect("record was committed"));
            }
            black_box(sum)
        })
    });

    let (mut tx, mut rx) = logbuf::queue::spsc::new(RING);
    group.bench_function("logbuf batch", |b| {
        b.iter(|| {
            for _ in 0..BURST {
                let mut claim = tx.try_claim(PAYLOAD.len()).expect("ring has room");
                claim.copy_from_slice(black_box(&PAYLOAD));
                claim.commit();
            }
            let mut sum = 0;
            let mut batch = rx.batch();
            while let Some(record) = batch.next() {
                sum ^= word_sum(record);
            }
            assert_eq!(batch.count(), BURST);
            drop(batch);
            black_box(sum)
        })
    });

    let (mut tx, mut rx) = nexus_logbuf::queue::spsc::new(RING);
    group.bench_function("nexus-logbuf try_claim", |b| {
        b.iter(|| {
            for _ in 0..BURST {
                let mut claim = tx.try_claim(PAYLOAD.len()).expect("ring has room");
                claim.copy_from_slice(black_box(&PAYLOAD));
                claim.commit();
            }
            let mut sum = 0;
            for _ in 0..BURST {
                sum ^= word_sum(&rx.try_claim().expect("record was committed"));
            }
            black_box(sum)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2));
    targets = roundtrip, burst
}
criterion_main!(benches);
