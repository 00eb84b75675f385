//! A waiting receiver hands back the room of skip records (aborted claims, the cut-off rest of
//! truncated ones, padding before the wrap) before it sleeps, so senders never see a channel
//! that is full of nothing but skips while the receiver waits for records.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Rng, check_record, fill_record};
use logbuf::channel::{RecvTimeoutError, TrySendError, mpsc};

const WAIT: Duration = Duration::from_millis(20);

/// The reproducer: two aborted claims fill most of a 64-byte ring with skips; a receiver that
/// waits and times out must leave their room to the senders.
#[test]
fn aborted_claims_do_not_jam_a_waiting_receiver() {
    let (mut tx, mut rx) = mpsc::channel(64);
    drop(tx.try_send(24).unwrap());
    drop(tx.try_send(24).unwrap());
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    tx.send_bytes(b"x").unwrap();
    assert_eq!(&*rx.recv_timeout(WAIT).unwrap(), b"x");
}

/// Claims truncated to nothing, and the rest of a claim cut short, are skips too.
#[test]
fn truncated_claims_do_not_jam_a_waiting_receiver() {
    let (mut tx, mut rx) = mpsc::channel(64);
    let mut claim = tx.try_send(24).unwrap();
    claim.fill(0xff);
    claim.truncate(0);
    claim.commit();
    let mut claim = tx.try_send(24).unwrap();
    claim.fill(0xee);
    claim.truncate(1);
    claim.commit();
    // The 1-byte record comes out; the 16-byte skip behind it stays at the front.
    assert_eq!(&*rx.recv_timeout(WAIT).unwrap(), &[0xee]);
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    // 24 bytes need 32 of the 64: only possible once both skips are handed back.
    tx.send_bytes(&[7; 24]).unwrap();
    tx.send_bytes(&[8; 24]).unwrap();
    assert_eq!(&*rx.recv_timeout(WAIT).unwrap(), &[7; 24]);
    assert_eq!(&*rx.recv_timeout(WAIT).unwrap(), &[8; 24]);
}

/// A skip, then the padding before the wrap, then another skip: the whole ring.
#[test]
fn skips_around_the_wrap_padding_do_not_jam_a_waiting_receiver() {
    let (mut tx, mut rx) = mpsc::channel(64);
    tx.send_bytes(&[1; 24]).unwrap(); // 0..32
    assert_eq!(&*rx.recv_timeout(WAIT).unwrap(), &[1; 24]);
    drop(tx.try_send(8).unwrap()); // skip over 32..48
    drop(tx.try_send(24).unwrap()); // padding over 48..64, skip over 0..32
    assert_eq!(
        tx.try_send(1).unwrap_err(),
        TrySendError::Full,
        "the ring is all skips"
    );
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    tx.send_bytes(&[2; 24]).unwrap();
    tx.send_bytes(&[3; 24]).unwrap();
    assert_eq!(&*rx.recv_timeout(WAIT).unwrap(), &[2; 24]);
    assert_eq!(&*rx.recv_timeout(WAIT).unwrap(), &[3; 24]);
}

/// `recv` (no deadline) also hands skips back before it sleeps: a sender blocked on a ring of
/// skips gets room while the receiver waits, and its record wakes the receiver.
#[test]
fn recv_hands_skips_back_while_it_waits() {
    let (mut tx, mut rx) = mpsc::channel(64);
    drop(tx.try_send(24).unwrap());
    drop(tx.try_send(24).unwrap());
    let sender = thread::spawn(move || {
        let start = Instant::now();
        loop {
            match tx.send_bytes(b"late") {
                Ok(()) => return tx,
                Err(TrySendError::Full) if start.elapsed() < Duration::from_secs(10) => {
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("sender stuck: {e}"),
            }
        }
    });
    assert_eq!(&*rx.recv().unwrap(), b"late");
    drop(sender.join().unwrap());
}

const SENDERS: u64 = 3;
const PER_SENDER: u64 = if cfg!(miri) {
    100
} else if cfg!(debug_assertions) {
    20_000
} else {
    200_000
};
/// The longest a sender may see `Full` in a row before the test calls the channel jammed. The
/// receiver sleeps at most its maximum park interval (100 ms) between looks.
const JAMMED: Duration = Duration::from_secs(10);

/// Senders abort a third of their claims (some dropped, some truncated to nothing) and truncate
/// others; the receiver only ever waits with `recv_timeout`. Every committed record arrives, in
/// each sender's order, with its sequence number and checksum intact, and no sender sees `Full`
/// for long.
#[test]
fn stress_aborting_senders_and_a_waiting_receiver() {
    let (tx, mut rx) = mpsc::channel(256);
    let max = tx.max_record_len();
    thread::scope(|s| {
        for id in 0..SENDERS {
            let mut tx = tx.clone();
            s.spawn(move || {
                let mut rng = Rng::new(0x5EED ^ id);
                let mut seq = 0;
                let mut full_since: Option<Instant> = None;
                while seq < PER_SENDER {
                    let len = 16 + rng.below(max - 16 + 1);
                    let claim = match tx.try_send(len) {
                        Ok(claim) => claim,
                        Err(TrySendError::Full) => {
                            let since = *full_since.get_or_insert_with(Instant::now);
                            assert!(
                                since.elapsed() < JAMMED,
                                "sender {id} saw Full for {JAMMED:?} at record {seq}"
                            );
                            thread::yield_now();
                            continue;
                        }
                        Err(e) => panic!("sender {id}: {e}"),
                    };
                    full_since = None;
                    let mut claim = claim;
                    match rng.below(6) {
                        0 => {
                            fill_record(&mut claim, !0);
                            drop(claim);
                        }
                        1 => {
                            fill_record(&mut claim, !0);
                            claim.truncate(0);
                            claim.commit();
                        }
                        r => {
                            let keep = if r == 2 {
                                16 + rng.below(len - 15)
                            } else {
                                len
                            };
                            fill_record(&mut claim[..keep], id << 48 | seq);
                            claim.truncate(keep);
                            claim.commit();
                            seq += 1;
                        }
                    }
                    tx.notify();
                }
            });
        }
        drop(tx);
        let mut next = [0u64; SENDERS as usize];
        loop {
            match rx.recv_timeout(Duration::from_millis(1)) {
                Ok(record) => {
                    assert!(record.len() >= 16, "record of {} bytes", record.len());
                    let tag = u64::from_le_bytes(record[..8].try_into().unwrap());
                    let id = (tag >> 48) as usize;
                    assert!(id < SENDERS as usize, "unknown sender in {tag:#x}");
                    check_record(&record, (id as u64) << 48 | next[id], record.len());
                    next[id] += 1;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        assert_eq!(next, [PER_SENDER; SENDERS as usize]);
    });
}
