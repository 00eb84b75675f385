//! Loom models of the MPSC claim/commit/read protocol with two producers.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p logbuf --release --test loom_mpsc
//! ```
#![cfg(loom)]

use logbuf::queue::{ClaimError, mpsc};
use loom::thread;

fn write(p: &mut mpsc::Producer, record: &[u8]) {
    loop {
        match p.try_write(record) {
            Ok(()) => return,
            Err(ClaimError::Full) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reads until every producer is gone and nothing is left.
fn read_until_disconnected(c: &mut mpsc::Consumer) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        if let Some(r) = c.try_claim() {
            out.push(r.to_vec());
        } else if c.is_disconnected() {
            while let Some(r) = c.try_claim() {
                out.push(r.to_vec());
            }
            return out;
        } else {
            thread::yield_now();
        }
    }
}

/// Each producer's records arrive complete and in its own order.
fn assert_per_producer(seen: &[Vec<u8>], expected: &[&[Vec<u8>]]) {
    for (tag, want) in expected.iter().enumerate() {
        let got: Vec<_> = seen.iter().filter(|r| r[0] == tag as u8).cloned().collect();
        assert_eq!(&got, want, "producer {tag}");
    }
    assert_eq!(seen.len(), expected.iter().map(|e| e.len()).sum::<usize>());
}

#[test]
fn concurrent_claims_and_out_of_order_commits() {
    loom::model(|| {
        let (mut p0, mut c) = mpsc::new(128);
        let mut p1 = p0.clone();
        let a = thread::spawn(move || write(&mut p0, &[0; 8]));
        let b = thread::spawn(move || {
            // Claim, then yield before committing, so the other producer can claim after and
            // commit first.
            let mut claim = p1.try_claim(5).unwrap();
            claim.fill(1);
            thread::yield_now();
            claim.commit();
        });
        let seen = read_until_disconnected(&mut c);
        assert_per_producer(&seen, &[&[vec![0; 8]], &[vec![1; 5]]]);
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn abort_and_truncate_leave_skips() {
    loom::model(|| {
        let (mut p0, mut c) = mpsc::new(128);
        let mut p1 = p0.clone();
        let a = thread::spawn(move || {
            let mut claim = p0.try_claim(16).unwrap();
            claim.fill(0xff);
            drop(claim);
        });
        let b = thread::spawn(move || {
            let mut claim = p1.try_claim(24).unwrap();
            claim.fill(1);
            claim.truncate(3);
            claim.commit();
        });
        let seen = read_until_disconnected(&mut c);
        assert_eq!(seen, vec![vec![1; 3]]);
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn wrap_around_with_padding() {
    loom::model(|| {
        // Start the lap half way through a 64-byte ring, so the two producers' claims cross
        // the end: whichever order they claim in, one record lands at the end or pads to it,
        // and the other wraps to the start.
        let (mut p0, mut c) = mpsc::new(64);
        p0.try_write(&[9; 24]).unwrap();
        drop(c.try_claim().unwrap());
        let mut p1 = p0.clone();
        let a = thread::spawn(move || write(&mut p0, &[0; 8]));
        let b = thread::spawn(move || write(&mut p1, &[1; 24]));
        let seen = read_until_disconnected(&mut c);
        assert_per_producer(&seen, &[&[vec![0; 8]], &[vec![1; 24]]]);
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn full_is_reported_not_waited_for() {
    loom::model(|| {
        // Three producers race for a 64-byte ring that holds two 24-byte records and is never
        // read: exactly two claims succeed and the third sees Full at once.
        let (mut p0, mut c) = mpsc::new(64);
        let mut p1 = p0.clone();
        let mut p2 = p0.clone();
        let a = thread::spawn(move || p0.try_write(&[0; 24]));
        let b = thread::spawn(move || p1.try_write(&[1; 24]));
        let z = p2.try_write(&[2; 24]);
        let results = [a.join().unwrap(), b.join().unwrap(), z];
        let full = results
            .iter()
            .filter(|r| **r == Err(ClaimError::Full))
            .count();
        assert_eq!(full, 1, "{results:?}");
        assert_eq!(p2.try_write(&[2; 1]), Err(ClaimError::Full));
        let mut seen = 0;
        while c.try_claim().is_some() {
            seen += 1;
        }
        assert_eq!(seen, 2);
    });
}

#[test]
fn the_last_handle_claims_alone_after_the_other_leaves() {
    loom::model(|| {
        // One handle writes and drops while the other writes twice: the survivor's second
        // claim may take the single-handle path, and must see the other's claim on `tail`.
        let (mut p0, mut c) = mpsc::new(128);
        let mut p1 = p0.clone();
        let a = thread::spawn(move || {
            write(&mut p0, &[0; 8]);
            drop(p0);
        });
        write(&mut p1, &[1; 8]);
        write(&mut p1, &[1; 16]);
        let b = thread::spawn(move || drop(p1));
        let seen = read_until_disconnected(&mut c);
        assert_per_producer(&seen, &[&[vec![0; 8]], &[vec![1; 8], vec![1; 16]]]);
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn a_stale_tail_never_reports_full_on_an_empty_ring() {
    loom::model(|| {
        // One lap written and read first, so that `p0`'s cached head (0) is a whole ring behind
        // its tail (64): its next claim reloads `head`. Should `p1` claim, commit and be read
        // in between `p0`'s load of `tail` and its load of `head`, the fresh head is past the
        // stale tail. The ring never holds more than 48 of its 64 bytes, so no claim may fail.
        let (mut p0, mut c) = mpsc::new(64);
        p0.try_write(&[9; 24]).unwrap();
        p0.try_write(&[9; 24]).unwrap();
        while c.try_claim().is_some() {}
        assert!(c.is_empty());
        let mut p1 = p0.clone();
        let a = thread::spawn(move || p0.try_write(&[0; 8]));
        let b = thread::spawn(move || p1.try_write(&[1; 24]));
        let seen = read_until_disconnected(&mut c);
        assert_eq!(a.join().unwrap(), Ok(()), "p0's claim on a ring with room");
        assert_eq!(b.join().unwrap(), Ok(()), "p1's claim on a ring with room");
        assert_per_producer(&seen, &[&[vec![0; 8]], &[vec![1; 24]]]);
    });
}
