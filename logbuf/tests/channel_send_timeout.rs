//! Senders that wait for room: `send_timeout` and `send_bytes_timeout` spin, then yield, until
//! the record fits, the deadline passes or the receiver is gone. The first three tests are the
//! nexus-logbuf scenarios whose `send` waits for room where ours gives up after a brief spin.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{check_record, fill_record};
use logbuf::channel::{TrySendError, mpsc, spsc};

/// Longer than any of these tests takes; reaching it is a failure.
const LONG: Duration = Duration::from_secs(30);

/// Four senders, a hundred 128-byte messages each, into a 4 KiB channel (room for under 30
/// of them) that a receiver drains with pauses: every message arrives, in each sender's order.
#[test]
fn four_senders_a_hundred_messages_each_into_4k() {
    let (tx, mut rx) = mpsc::channel(4096);
    thread::scope(|s| {
        for id in 0..4u64 {
            let mut tx = tx.clone();
            s.spawn(move || {
                let mut msg = [0u8; 128];
                for i in 0..100 {
                    fill_record(&mut msg, id << 32 | i);
                    tx.send_bytes_timeout(&msg, LONG).unwrap();
                }
            });
        }
        drop(tx);
        let mut next = [0u64; 4];
        let mut n = 0;
        while let Ok(record) = rx.recv() {
            let tag = u64::from_le_bytes(record[..8].try_into().unwrap());
            let id = (tag >> 32) as usize;
            check_record(&record, (id as u64) << 32 | next[id], 128);
            next[id] += 1;
            n += 1;
            drop(record);
            if n % 16 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(next, [100; 4]);
    });
}

/// Two hundred messages from one thread to another through a channel that holds eight, with
/// a receiver slower than the sender; the sender claims, writes in place and notifies.
#[test]
fn two_hundred_messages_across_threads() {
    let (mut tx, mut rx) = spsc::channel(1024);
    let sender = thread::spawn(move || {
        for i in 0..200u64 {
            let mut claim = tx.send_timeout(100, LONG).unwrap();
            fill_record(&mut claim, i);
            claim.commit();
            tx.notify();
        }
    });
    for i in 0..200u64 {
        let record = rx.recv().unwrap();
        check_record(&record, i, 100);
        drop(record);
        thread::sleep(Duration::from_micros(200));
    }
    sender.join().unwrap();
    assert!(rx.recv().is_err());
}

/// A sender waiting on a full channel gives up with `Disconnected` when the receiver goes.
#[test]
fn a_waiting_sender_sees_the_receiver_go() {
    let (mut tx, rx) = mpsc::channel(64);
    tx.send_bytes(&[1; 24]).unwrap();
    tx.send_bytes(&[2; 24]).unwrap();
    let receiver = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        drop(rx);
    });
    assert_eq!(
        tx.send_bytes_timeout(&[3; 24], LONG).unwrap_err(),
        TrySendError::Disconnected
    );
    assert_eq!(
        tx.send_timeout(24, LONG).unwrap_err(),
        TrySendError::Disconnected
    );
    receiver.join().unwrap();
}

/// With no room by the deadline, `Full`, and not before the deadline.
#[test]
fn a_waiting_sender_gives_up_at_the_deadline() {
    let (mut tx, mut rx) = spsc::channel(64);
    tx.send_bytes(&[1; 24]).unwrap();
    tx.send_bytes(&[2; 24]).unwrap();
    let timeout = Duration::from_millis(30);
    let start = Instant::now();
    assert_eq!(
        tx.send_timeout(24, timeout).unwrap_err(),
        TrySendError::Full
    );
    assert!(
        start.elapsed() >= timeout,
        "gave up after {:?}",
        start.elapsed()
    );
    let start = Instant::now();
    assert_eq!(
        tx.send_bytes_timeout(&[3; 24], timeout).unwrap_err(),
        TrySendError::Full
    );
    assert!(
        start.elapsed() >= timeout,
        "gave up after {:?}",
        start.elapsed()
    );
    // Errors no wait can cure come back at once, deadline or not.
    assert_eq!(
        tx.send_timeout(0, LONG).unwrap_err(),
        TrySendError::ZeroLength
    );
    assert!(matches!(
        tx.send_bytes_timeout(&[0; 25], LONG),
        Err(TrySendError::TooLarge { len: 25, max: 24 })
    ));
    // Room made while the sender waits is taken.
    assert_eq!(&*rx.recv().unwrap(), &[1; 24]);
    tx.send_bytes_timeout(&[3; 24], timeout).unwrap();
}
