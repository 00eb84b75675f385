//! A channel with one sender and one receiver, over the [SPSC queue](crate::queue::spsc).
//!
//! ```
//! use std::time::Duration;
//!
//! let (mut tx, mut rx) = logbuf::channel::spsc::channel(4096);
//! let mut claim = tx.try_send(5).unwrap();
//! claim.copy_from_slice(b"hello");
//! claim.commit();
//! tx.notify();
//! assert_eq!(&*rx.recv_timeout(Duration::from_secs(1)).unwrap(), b"hello");
//! ```

use crate::queue;
use crate::sync::Arc;

use super::Signal;

/// The sending end of an SPSC channel. `Send`, not `Clone`.
pub type Sender = super::Sender<queue::spsc::Producer>;

/// The receiving end; the same type for every channel kind.
pub use super::Receiver;

/// Creates a channel over a ring of at least `capacity` bytes (rounded up to a power of two).
///
/// # Panics
///
/// If `capacity` is out of range, as [`queue::spsc::new`] does.
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let (producer, consumer) = queue::spsc::new(capacity);
    let signal = Arc::new(Signal::new());
    (
        Sender::new(producer, signal.clone()),
        Receiver::new(consumer, signal),
    )
}
