//! Loom models of the channel's park/notify handshake. Under loom a parked receiver has no
//! timeout to fall back on, so a lost wake-up is a deadlock, which loom reports.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p logbuf --release --test loom_channel
//! ```
#![cfg(loom)]

use logbuf::channel::{mpsc, spsc};
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
