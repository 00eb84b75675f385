//! Loom models of the SPSC claim/commit/read protocol.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p logbuf --release --test loom_spsc
//! ```
#![cfg(loom)]

use logbuf::queue::{ClaimError, spsc};
use loom::thread;

/// Writes `record`, yielding while the ring is full.
fn write(p: &mut spsc::Producer, record: &[u8]) {
    loop {
        match p.try_write(record) {
            Ok(()) => return,
            Err(ClaimError::Full) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reads until `n` records arrived, or the producer is gone and nothing is left.
fn read(c: &mut spsc::Consumer, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < n {
        if let Some(r) = c.try_claim() {
            out.push(r.to_vec());
        } else if c.is_disconnected() {
            // Everything committed before the drop is visible now.
            while let Some(r) = c.try_claim() {
                out.push(r.to_vec());
            }
            break;
        } else {
            thread::yield_now();
        }
    }
    out
}

#[test]
fn claim_commit_read() {
    loom::model(|| {
        let (mut p, mut c) = spsc::new(64);
        let t = thread::spawn(move || {
            write(&mut p, &[1; 8]);
            write(&mut p, &[2; 5]);
        });
        assert_eq!(read(&mut c, 2), vec![vec![1; 8], vec![2; 5]]);
        t.join().unwrap();
    });
}

#[test]
fn abort_and_truncate() {
    loom::model(|| {
        let (mut p, mut c) = spsc::new(64);
        let t = thread::spawn(move || {
            let mut claim = p.try_claim(24).unwrap();
            claim.fill(0xff);
            drop(claim);
            let mut claim = p.try_claim(24).unwrap();
            claim.fill(0xee);
            claim[..2].copy_from_slice(b"ok");
            claim.truncate(2);
            claim.commit();
            write(&mut p, b"next");
        });
        assert_eq!(read(&mut c, 2), vec![b"ok".to_vec(), b"next".to_vec()]);
        t.join().unwrap();
    });
}

#[test]
fn wrap_around_and_full() {
    loom::model(|| {
        // 64 bytes: 24-byte payloads take 32, 8-byte ones 16. The third record pads 48..64 and
        // wraps to 0, which needs the consumer to have released the first.
        let (mut p, mut c) = spsc::new(64);
        let t = thread::spawn(move || {
            write(&mut p, &[1; 24]);
            write(&mut p, &[2; 8]);
            write(&mut p, &[3; 24]);
        });
        assert_eq!(read(&mut c, 3), vec![vec![1; 24], vec![2; 8], vec![3; 24]]);
        t.join().unwrap();
    });
}

#[test]
fn batch_read_across_wrap() {
    loom::model(|| {
        let (mut p, mut c) = spsc::new(64);
        let t = thread::spawn(move || {
            write(&mut p, &[1; 24]);
            write(&mut p, &[2; 24]);
            write(&mut p, &[3; 24]);
        });
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let mut batch = c.batch();
            while let Some(r) = batch.next() {
                seen.push(r.to_vec());
            }
            drop(batch);
            thread::yield_now();
        }
        assert_eq!(seen, vec![vec![1; 24], vec![2; 24], vec![3; 24]]);
        t.join().unwrap();
    });
}

#[test]
fn disconnect_after_commit_loses_nothing() {
    loom::model(|| {
        let (mut p, mut c) = spsc::new(64);
        let t = thread::spawn(move || {
            write(&mut p, b"last words");
            drop(p);
        });
        assert_eq!(read(&mut c, usize::MAX), vec![b"last words".to_vec()]);
        t.join().unwrap();
    });
}

#[test]
fn claim_given_up_before_the_wrap_padding() {
    loom::model(|| {
        // 64 bytes: records at 0..32 and 32..48, then a claim of 48..64 filled and given up,
        // then a record that pads over those very bytes and wraps to 0. The consumer zeroes the
        // padding after reading its length word, so the given-up claim's bytes must be ordered
        // before that by the padding's store.
        let (mut p, mut c) = spsc::new(64);
        let t = thread::spawn(move || {
            write(&mut p, &[1; 24]);
            write(&mut p, &[2; 8]);
            let mut claim = p.try_claim(8).unwrap();
            claim.fill(0xff);
            drop(claim);
            write(&mut p, &[3; 24]);
        });
        assert_eq!(read(&mut c, 3), vec![vec![1; 24], vec![2; 8], vec![3; 24]]);
        t.join().unwrap();
    });
}
