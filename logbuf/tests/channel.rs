//! Blocking channels: disconnects in both directions with records in flight, timeouts, prompt
//! wake-ups, an idle receiver's CPU time, and a multi-threaded stress with checksummed records.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Lengths, SEED, check_record, fill_record};
use logbuf::channel::{RecvTimeoutError, TryRecvError, TrySendError, mpsc, spsc};

#[test]
fn receiver_drains_everything_before_disconnected() {
    let (mut tx, mut rx) = spsc::channel(1024);
    for i in 0..10u8 {
        tx.send_bytes(&[i; 7]).unwrap();
    }
    drop(tx);
    assert!(rx.is_disconnected());
    for i in 0..10u8 {
        assert_eq!(&*rx.recv().unwrap(), &[i; 7]);
    }
    assert!(rx.recv().is_err());
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Disconnected);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).unwrap_err(),
        RecvTimeoutError::Disconnected
    );
}

#[test]
fn mpsc_disconnects_only_after_every_sender() {
    let (tx, mut rx) = mpsc::channel(1024);
    let mut a = tx.clone();
    let mut b = tx;
    a.send_bytes(b"a").unwrap();
    drop(a);
    assert_eq!(rx.try_recv().as_deref().ok(), Some(&b"a"[..]));
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    b.send_bytes(b"b").unwrap();
    drop(b);
    assert_eq!(&*rx.recv().unwrap(), b"b");
    assert!(rx.recv().is_err());
}

#[test]
fn senders_see_the_receiver_go() {
    let (mut tx, rx) = spsc::channel(1024);
    let mut claim = tx.try_send(4).unwrap();
    claim.copy_from_slice(b"lost");
    claim.commit();
    drop(rx);
    assert!(tx.is_disconnected());
    assert_eq!(tx.try_send(4).unwrap_err(), TrySendError::Disconnected);
    assert_eq!(tx.send_bytes(b"x").unwrap_err(), TrySendError::Disconnected);

    let (tx, rx) = mpsc::channel(1024);
    let mut tx2 = tx.clone();
    drop(rx);
    assert_eq!(tx2.send(1).unwrap_err(), TrySendError::Disconnected);
}

#[test]
fn length_errors_and_full() {
    let (mut tx, _rx) = spsc::channel(64);
    assert_eq!(tx.try_send(0).unwrap_err(), TrySendError::ZeroLength);
    assert_eq!(
        tx.send(25).unwrap_err(),
        TrySendError::TooLarge { len: 25, max: 24 }
    );
    assert_eq!(tx.max_record_len(), 24);
    while tx.send_bytes(&[0; 8]).is_ok() {}
    assert_eq!(tx.try_send(8).unwrap_err(), TrySendError::Full);
    assert_eq!(
        tx.send(8).unwrap_err(),
        TrySendError::Full,
        "send gives up after its spins"
    );
}

#[test]
fn recv_timeout_waits_about_as_long_as_asked() {
    let (_tx, mut rx) = mpsc::channel(1024);
    for wait in [Duration::from_millis(1), Duration::from_millis(30)] {
        let t = Instant::now();
        assert_eq!(
            rx.recv_timeout(wait).unwrap_err(),
            RecvTimeoutError::Timeout
        );
        let took = t.elapsed();
        assert!(
            took >= wait,
            "returned after {took:?}, before the {wait:?} timeout"
        );
        assert!(
            took < wait + Duration::from_secs(2),
            "returned {took:?} after a {wait:?} timeout"
        );
    }
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
}

#[test]
fn notify_wakes_a_parked_receiver_at_once() {
    let (mut tx, mut rx) = spsc::channel(1024);
    // Long enough that only a notification can explain a prompt return.
    rx.set_park_interval(Duration::from_secs(30));
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let mut claim = tx.try_send(3).unwrap();
        claim.copy_from_slice(b"hey");
        claim.commit();
        tx.notify();
        tx
    });
    let t = Instant::now();
    assert_eq!(&*rx.recv_timeout(Duration::from_secs(60)).unwrap(), b"hey");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "woke after {:?}",
        t.elapsed()
    );
    drop(sender.join().unwrap());
}

#[test]
fn dropping_the_last_sender_wakes_a_parked_receiver() {
    let (tx, mut rx) = mpsc::channel(1024);
    rx.set_park_interval(Duration::from_secs(30));
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(tx);
    });
    let t = Instant::now();
    assert!(rx.recv().is_err());
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "woke after {:?}",
        t.elapsed()
    );
    sender.join().unwrap();
}

#[test]
fn records_found_without_notify_within_the_park_interval() {
    let (mut tx, mut rx) = spsc::channel(1024);
    rx.set_park_interval(Duration::from_millis(2));
    assert_eq!(rx.park_interval(), Duration::from_millis(2));
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        let mut claim = tx.try_send(2).unwrap();
        claim.copy_from_slice(b"ok");
        claim.commit(); // no notify
        tx
    });
    assert_eq!(&*rx.recv_timeout(Duration::from_secs(10)).unwrap(), b"ok");
    drop(sender.join().unwrap());
}

/// CPU time this thread has used, from the scheduler's own accounting.
#[cfg(all(target_os = "linux", not(miri)))]
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns: u64 = stat.split_whitespace().next().unwrap().parse().unwrap();
    Duration::from_nanos(ns)
}

#[cfg(all(target_os = "linux", not(miri)))]
#[test]
fn an_idle_receiver_uses_almost_no_cpu() {
    let (_tx, mut rx) = mpsc::channel(1024);
    let (cpu, wall) = thread::spawn(move || {
        let cpu = thread_cpu_time();
        let wall = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(1)).unwrap_err(),
            RecvTimeoutError::Timeout
        );
        (thread_cpu_time() - cpu, wall.elapsed())
    })
    .join()
    .unwrap();
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    eprintln!(
        "idle receiver: {cpu:?} of CPU in {wall:?} ({:.3}% of a core)",
        share * 100.0
    );
    // About 200 wake-ups a second at the default interval cost well under 1% of a core; allow
    // ten times that for a loaded machine.
    assert!(
        share < 0.10,
        "idle receiver used {:.1}% of a core",
        share * 100.0
    );
}

#[test]
fn stress_two_senders_checksummed() {
    const N: u64 = if cfg!(miri) {
        300
    } else if cfg!(debug_assertions) {
        50_000
    } else {
        500_000
    };
    let (tx, mut rx) = mpsc::channel(16 * 1024);
    let max = tx.max_record_len();
    thread::scope(|s| {
        for id in 0..2u64 {
            let mut tx = tx.clone();
            s.spawn(move || {
                let mut lengths = Lengths::new(SEED ^ id, 512, max);
                for seq in 0..N {
                    let len = lengths.next().max(16);
                    loop {
                        match tx.send(len) {
                            Ok(mut claim) => {
                                fill_record(&mut claim, id << 48 | seq);
                                claim.commit();
                                break;
                            }
                            Err(TrySendError::Full) => thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                    if seq % 64 == 0 {
                        tx.notify();
                    }
                }
            });
        }
        drop(tx);
        let mut lengths: Vec<_> = (0..2u64)
            .map(|id| Lengths::new(SEED ^ id, 512, max))
            .collect();
        let mut next = [0u64; 2];
        while let Ok(record) = rx.recv() {
            let id = (u64::from_le_bytes(record[..8].try_into().unwrap()) >> 48) as usize;
            check_record(
                &record,
                (id as u64) << 48 | next[id],
                lengths[id].next().max(16),
            );
            next[id] += 1;
        }
        assert_eq!(next, [N; 2]);
    });
}

/// Many sleep/wake handshakes in a row: with a park interval far longer than the receive
/// timeout, only the notifications can deliver the records in time, so a single lost wake-up
/// fails the test with a timeout.
#[test]
fn no_wake_up_is_lost_over_many_handshakes() {
    const ROUNDS: u32 = if cfg!(miri) { 20 } else { 2_000 };
    let (mut ping_tx, mut ping_rx) = spsc::channel(1024);
    let (mut pong_tx, mut pong_rx) = spsc::channel(1024);
    for rx in [&mut ping_rx, &mut pong_rx] {
        rx.set_park_interval(Duration::from_secs(600));
        rx.set_max_park_interval(Duration::from_secs(600));
    }
    let echo = thread::spawn(move || {
        for _ in 0..ROUNDS {
            let round = ping_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("ping lost")
                .to_vec();
            pong_tx.send_bytes(&round).unwrap();
        }
    });
    for round in 0..ROUNDS {
        ping_tx.send_bytes(&round.to_le_bytes()).unwrap();
        let back = pong_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("pong lost");
        assert_eq!(&*back, &round.to_le_bytes());
    }
    echo.join().unwrap();
}

#[test]
fn park_interval_settings() {
    let (_tx, mut rx) = mpsc::channel(1024);
    assert_eq!(rx.park_interval(), logbuf::channel::DEFAULT_PARK_INTERVAL);
    assert_eq!(
        rx.max_park_interval(),
        logbuf::channel::DEFAULT_MAX_PARK_INTERVAL
    );
    rx.set_park_interval(Duration::ZERO);
    assert_eq!(rx.park_interval(), Duration::from_micros(1));
    rx.set_max_park_interval(Duration::from_millis(3));
    assert_eq!(rx.max_park_interval(), Duration::from_millis(3));
    // Growing sleeps still end at the requested timeout.
    let t = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
}
