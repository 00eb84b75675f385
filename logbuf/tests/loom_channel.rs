//! Loom models of the channel's park/notify handshake. Under loom a parked receiver has no
//! timeout to fall back on, so a lost wake-up is a deadlock, which loom reports.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p logbuf --release --test loom_channel
//! ```
#![cfg(loom)]

use logbuf::channel::{TrySendError, mpsc, spsc};
use loom::thread;

#[test]
fn a_notified_record_is_never_missed() {
    loom::model(|| {
        let (mut tx, mut rx) = spsc::channel(64);
        let t = thread::spawn(move || {
            let mut claim = tx.try_send(3).unwrap();
            claim.copy_from_slice(b"abc");
            claim.commit();
            tx.notify();
            tx
        });
        assert_eq!(&*rx.recv().unwrap(), b"abc");
        drop(t.join().unwrap());
    });
}

#[test]
fn the_last_sender_leaving_wakes_the_receiver() {
    loom::model(|| {
        let (tx, mut rx) = spsc::channel(64);
        let t = thread::spawn(move || drop(tx));
        assert!(rx.recv().is_err());
        t.join().unwrap();
    });
}

#[test]
fn two_senders_both_arrive() {
    loom::model(|| {
        // The senders outlive both receives (the threads hand them back), so only
        // `send_bytes`'s own notification can wake the receiver, not a sender's drop.
        let (mut a, mut rx) = mpsc::channel(64);
        let mut b = a.clone();
        let ta = thread::spawn(move || {
            a.send_bytes(b"a").unwrap();
            a
        });
        let tb = thread::spawn(move || {
            b.send_bytes(b"b").unwrap();
            b
        });
        let first = rx.recv().unwrap().to_vec();
        let mut got = vec![first, rx.recv().unwrap().to_vec()];
        got.sort();
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
        drop(ta.join().unwrap());
        drop(tb.join().unwrap());
    });
}

#[test]
fn a_parking_receiver_hands_skips_back() {
    loom::model(|| {
        // Two given-up claims fill the ring with skips before the receiver waits. Only the
        // receiver can hand their room back; it must do so before it parks (under loom, for
        // good), or the sender can never send the record that would wake it.
        let (mut tx, mut rx) = mpsc::channel(64);
        drop(tx.try_send(24).unwrap());
        drop(tx.try_send(24).unwrap());
        let t = thread::spawn(move || {
            loop {
                match tx.send_bytes(b"x") {
                    Ok(()) => return tx,
                    Err(TrySendError::Full) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        assert_eq!(&*rx.recv().unwrap(), b"x");
        drop(t.join().unwrap());
    });
}
