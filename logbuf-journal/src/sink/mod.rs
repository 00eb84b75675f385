//! Where the worker puts records: the [`Sink`] trait and the sinks.
//!
//! - [`BinaryFileSink`]: the binary journal file, read back with [`crate::read`] and the
//!   `logbuf` command; one file ([`BinaryFileSink::create`]) or a rotated series of
//!   self-contained files ([`BinaryFileSink::rotating`]).
//! - [`text`]: human-readable lines laid out like `tracing-subscriber`'s `fmt` output, formatted
//!   on the worker thread.
//! - [`json`]: one JSON object per line, with the keys of `tracing-subscriber`'s JSON format.
//! - [`syslog`]: RFC 5424 (or RFC 3164) messages to a syslog daemon over UDP, TCP or a Unix
//!   socket, with bounded buffering and reconnection, sent from the worker thread.
//! - [`MinLevel`]: any sink with a level threshold of its own ([`Sink::min_level`]), so one
//!   journal can feed several sinks at different levels.
//! - [`Recorded`]: any sink behind a flight recorder of its own ([`Sink::recorded`]): debug
//!   and trace events reach it only around an error (see [`crate::recorder`]).

use std::io;

use crate::wire::Record;

mod binary;
mod decode;
mod filter;
pub mod json;
pub mod syslog;
pub mod text;

pub use crate::recorder::Recorded;
pub use binary::{BinaryFileSink, MAX_OPEN_SPANS};
pub use filter::MinLevel;

/// A record on its way to the sinks: its encoded bytes, decoded on demand.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    bytes: &'a [u8],
}

impl<'a> Entry<'a> {
    /// An entry for the record `bytes` (postcard-encoded [`Record`]), as the worker hands
    /// them over; for driving a sink directly.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The record's postcard bytes, as a binary sink stores them.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The record, decoded.
    ///
    /// # Errors
    ///
    /// If the bytes are not a record (which the journal's own encoder never produces).
    pub fn record(&self) -> Result<Record<'a>, postcard::Error> {
        // Events and span records, the bulk of a journal, by the hand decoder (which decodes
        // only what postcard decodes the same way); everything else by postcard.
        match decode::record(self.bytes, Vec::new()) {
            Some(record) => Ok(record),
            None => postcard::from_bytes(self.bytes),
        }
    }
}

/// A destination for journal records, driven by the worker thread.
///
/// The worker calls [`Sink::write`] for every record in time order, [`Sink::flush`] at the
/// flush interval and on [`Journal::flush`](crate::Journal::flush), and [`Sink::sync`] when the
/// journal shuts down. Errors are counted and reported by the worker, which keeps going; a sink
/// should be ready to be called again after an error.
pub trait Sink: Send {
    /// Takes one record.
    ///
    /// # Errors
    ///
    /// An I/O error; the worker counts it and goes on with the next record.
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()>;

    /// Pushes buffered records to the operating system.
    ///
    /// # Errors
    ///
    /// An I/O error; the worker counts it.
    fn flush(&mut self) -> io::Result<()>;

    /// Flushes and asks the operating system to put the data on disk.
    ///
    /// # Errors
    ///
    /// An I/O error; the worker counts it.
    fn sync(&mut self) -> io::Result<()> {
        self.flush()
    }

    /// Closes and opens again whatever the sink writes to, as after an external tool moved the
    /// file away (`logrotate`). Called on [`Journal::reopen`](crate::Journal::reopen). Sinks
    /// without a file do nothing.
    ///
    /// # Errors
    ///
    /// An I/O error; the worker counts it.
    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Writes out what a flight recorder inside the sink holds (see [`crate::recorder`]).
    /// Called on [`Journal::dump`](crate::Journal::dump), on a panic and on `SIGUSR1`
    /// (when enabled). Sinks without a recorder do nothing; sinks that wrap another pass
    /// it on.
    ///
    /// # Errors
    ///
    /// An I/O error; the worker counts it.
    fn dump(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Events a flight recorder inside the sink discarded by design so far (added to
    /// [`Stats::discarded`](crate::Stats::discarded)). Sinks that wrap another pass it on.
    fn discarded(&self) -> u64 {
        0
    }

    /// This sink behind a flight recorder of its own (see [`Recorded`]): events below the
    /// recorder's level reach it only around a trigger.
    fn recorded(self, recorder: crate::recorder::FlightRecorder) -> Recorded<Self>
    where
        Self: Sized,
    {
        Recorded::new(recorder, self)
    }

    /// This sink, taking only events at `min` or above (see [`MinLevel`]).
    fn min_level(self, min: crate::wire::Level) -> MinLevel<Self>
    where
        Self: Sized,
    {
        MinLevel::new(min, self)
    }
}
