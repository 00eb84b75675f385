//! Lock-free rings of variable-length byte records, built for logging: the thread that writes
//! pays for a bounds check, a `memcpy` and one store.
//!
//! - [`queue::spsc`]: one producer, one consumer; the producer never touches a shared counter.
//! - [`queue::mpsc`]: many producers (`Clone` handles), one consumer.
//! - [`channel::spsc`] and [`channel::mpsc`]: the same rings with a receiver that parks when
//!   idle and wakes on [`channel::Sender::notify`] or after its park interval.
//!
//! Every ring is a flat, power-of-two byte buffer with free-running positions. A record is an
//! 8-byte length word followed by its payload, padded to 8 bytes. The length word is the commit
//! marker: it is written last, with `Release`, and zero means "not committed yet"; its high bit
//! marks a skip (padding before the wrap). The consumer zeroes what it has read before handing
//! it back, so the next lap starts from zeros.
//!
//! ```
//! use logbuf::queue::spsc;
//!
//! let (mut producer, mut consumer) = spsc::new(64 * 1024);
//! std::thread::scope(|s| {
//!     s.spawn(move || {
//!         for i in 0u32..1000 {
//!             while producer.try_write(&i.to_le_bytes()).is_err() {
//!                 std::hint::spin_loop();
//!             }
//!         }
//!     });
//!     let mut next = 0u32;
//!     while next < 1000 {
//!         if let Some(record) = consumer.try_claim() {
//!             assert_eq!(u32::from_le_bytes(record[..].try_into().unwrap()), next);
//!             next += 1;
//!         }
//!     }
//! });
//! ```
//!
//! No sender in this crate blocks: a full ring is [`queue::ClaimError::Full`], and retrying or
//! dropping is the caller's choice.

pub mod channel;
pub mod queue;
mod ring;
mod sync;
