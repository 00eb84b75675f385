//! A channel with many senders and one receiver, over the [MPSC queue](crate::queue::mpsc).
//!
//! ```
//! let (tx, mut rx) = logbuf::channel::mpsc::channel(4096);
//! let mut a = tx.clone();
//! let mut b = tx;
//! a.send_bytes(b"a").unwrap();
//! b.send_bytes(b"b").unwrap();
//! drop((a, b));
//! assert_eq!(&*rx.recv().unwrap(), b"a");
//! assert_eq!(&*rx.recv().unwrap(), b"b");
//! assert!(rx.recv().is_err());
//! ```

use crate::queue;
use crate::sync::Arc;

use super::Signal;

/// A sending end of an MPSC channel. `Clone + Send`; the receiver sees a disconnect once every
/// clone is dropped.
pub type Sender = super::Sender<queue::mpsc::Producer>;

/// The receiving end; the same type for every channel kind.
pub use super::Receiver;

/// Creates a channel over a ring of at least `capacity` bytes (rounded up to a power of two).
///
/// # Panics
///
/// If `capacity` is out of range, as [`queue::mpsc::new`] does.
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let (producer, consumer) = queue::mpsc::new(capacity);
    let signal = Arc::new(Signal::new());
    (
        Sender::new(producer, signal.clone()),
        Receiver::new(consumer, signal),
    )
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        Sender::new((*self.producer).clone(), self.signal.clone())
    }
}
