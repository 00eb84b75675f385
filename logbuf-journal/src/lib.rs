//! The event journal shared by logbuf's `tracing` and `log` back ends.
//!
//! On the logging thread, [`Journal::write`] encodes a record straight into the thread's own
//! SPSC ring (created on the thread's first write): no lock, no allocation, no system call. A
//! worker thread drains every ring, orders records by timestamp, writes callsite and thread
//! definitions before the records that use them, reports dropped events in the log itself, and
//! hands everything to the [`Sink`]s.
//!
//! ```
//! use logbuf_journal::Journal;
//! use logbuf_journal::file::FileReader;
//! use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, Value};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.lbf");
//! let (journal, guard) = Journal::builder().file(&path)?.build()?;
//!
//! let callsite = journal.register_callsite(&Callsite {
//!     id: 0,
//!     kind: CallsiteKind::Event,
//!     level: Level::Info,
//!     target: "demo",
//!     name: "event demo.rs:1",
//!     module_path: Some("demo"),
//!     file: Some("demo.rs"),
//!     line: Some(1),
//!     fields: vec!["message", "user"],
//! });
//! journal.write(64, |enc, at| {
//!     enc.event(callsite, at.time, at.thread, None, 2);
//!     enc.value_str("signed in");
//!     enc.value_u64(42);
//! });
//! drop(guard); // writes everything and syncs the file
//!
//! let mut reader = FileReader::open(&path)?;
//! let mut values = Vec::new();
//! while let Some(record) = reader.next_record() {
//!     if let Record::Event(event) = record? {
//!         values.push(format!("{:?}", event.values));
//!     }
//! }
//! assert_eq!(values, [r#"[Str("signed in"), U64(42)]"#]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`wire`]: the versioned record format (serde types, postcard encoding), documented byte by
//!   byte in `FORMAT.md`.
//! - [`encode`]: the hot-path encoder that writes those records straight into a ring claim.
//! - [`file`](mod@file): binary journal files: header, checksummed frames, a reader that survives torn
//!   tails and damage.
//! - [`sink`]: the [`Sink`] trait and the sinks: binary file (plain or rotating), human text
//!   and JSON lines formatted on the worker thread, and per-sink level thresholds.
//! - [`exit`]: flushing journals when the process exits without dropping their guard
//!   (`std::process::exit`, `main` returning with the guard leaked).
//! - [`rotate`]: rotation by size and time (any time zone), retention, compression.
//! - [`recorder`]: the flight recorder, which holds `debug` and `trace` events in memory and
//!   writes them only around an error.
//! - [`read`]: events read back from a file with their callsite, thread, spans and wall-clock
//!   time.
//!
//! The journal knows nothing of `tracing` or `log`: front ends turn their events into
//! [`wire`] records through the [`encode::Encoder`].

mod clock;
mod drops;
pub mod encode;
pub mod exit;
pub mod file;
mod journal;
pub mod read;
pub mod recorder;
pub mod rotate;
pub mod sink;
pub mod wire;
mod worker;

/// A map keyed by the ids records carry (callsites, threads, spans): the worker and readers
/// look ids up for every record, and SipHash cost a fifth of the text sink's instructions.
pub(crate) type IdMap<V> = std::collections::HashMap<u64, V, foldhash::fast::RandomState>;

pub use exit::flush_at_exit;
pub use journal::{
    BuildError, Builder, FullPolicy, Guard, Journal, RingStats, Rings, Stamp, Stats, Written,
};
pub use sink::Sink;
