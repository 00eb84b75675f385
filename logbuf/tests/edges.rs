//! Edge cases of the rings' and channels' public API: extreme settings and capacities, claims
//! seen through two shared references, and forgotten read claims.

use std::thread;
use std::time::Duration;

use logbuf::channel::{RecvTimeoutError, spsc as chan};
use logbuf::queue::{CapacityError, mpsc, spsc};

/// The largest park interval is taken as it is: the receiver waits until its deadline or a
/// notification, and neither the doubling of the interval nor the next wait panics.
#[test]
fn park_interval_of_duration_max() {
    let (mut tx, mut rx) = chan::channel(64);
    rx.set_park_interval(Duration::MAX);
    rx.set_max_park_interval(Duration::MAX);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    // A notification still wakes a receiver that would otherwise sleep for ever.
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        tx.send_bytes(b"wake").unwrap();
        tx
    });
    assert_eq!(&*rx.recv().unwrap(), b"wake");
    drop(sender.join().unwrap());
    assert!(rx.recv().is_err());
}

/// The largest capacity in range is one no machine can allocate: an error, not an abort.
/// (Not under Miri, which stops the program at an allocation larger than its memory instead of
/// failing it.)
#[test]
#[cfg(not(miri))]
fn capacity_that_cannot_be_allocated_is_an_error() {
    let err = spsc::try_new(CapacityError::MAX).unwrap_err();
    assert_eq!(err.requested(), CapacityError::MAX);
    assert!(err.is_allocation_failure());
    assert!(err.to_string().contains("allocate"), "{err}");
    let err = mpsc::try_new(CapacityError::MAX).unwrap_err();
    assert!(err.is_allocation_failure());
    let err = spsc::try_new(CapacityError::MAX + 1).unwrap_err();
    assert!(!err.is_allocation_failure());
    assert!(err.to_string().contains("out of range"), "{err}");
}

/// Two shared borrows of one write claim live at once (Miri checks that this is sound).
#[test]
fn a_write_claim_read_through_two_shared_borrows() {
    let (mut p, mut c) = spsc::new(64);
    let mut claim = p.try_claim(4).unwrap();
    claim.copy_from_slice(b"abcd");
    let (x, y): (&[u8], &[u8]) = (&claim, &claim);
    assert_eq!(x, y);
    assert_eq!(x[0], b'a');
    claim.commit();
    assert_eq!(&*c.try_claim().unwrap(), b"abcd");

    let (mut p, mut c) = mpsc::new(64);
    let mut claim = p.try_claim(4).unwrap();
    claim.copy_from_slice(b"efgh");
    let (x, y): (&[u8], &[u8]) = (&claim, &claim);
    assert_eq!(x, y);
    assert_eq!(y[3], b'h');
    claim.commit();
    assert_eq!(&*c.try_claim().unwrap(), b"efgh");
}

/// A read claim or batch that is forgotten consumes nothing: the record is delivered again.
#[test]
fn forgotten_read_claims_deliver_the_record_again() {
    let (mut p, mut c) = spsc::new(64);
    p.try_write(b"once").unwrap();
    std::mem::forget(c.try_claim().unwrap());
    let mut batch = c.batch();
    assert_eq!(batch.next(), Some(&b"once"[..]));
    std::mem::forget(batch);
    assert_eq!(&*c.try_claim().unwrap(), b"once");
    assert!(c.try_claim().is_none());
}
