//! A `log::Log` back end on the logbuf journal: set up like env_logger (`RUST_LOG` works the
//! same), while the logging thread only encodes the record into its own ring and a worker
//! thread writes it out.
//!
//! ```
//! use logbuf_journal::read::{OwnedValue, Reader};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.lbf");
//! let guard = logbuf_log::Builder::new()
//!     .parse_filters("info,my_app::db=warn")
//!     .file(&path)
//!     .init()?;
//!
//! log::info!(user_id = 42, ok = true; "request done in {} us", 17.5);
//! log::info!("static message");
//! log::debug!("filtered out");
//! drop(guard); // writes everything and syncs the file
//!
//! let mut reader = Reader::open(&path)?;
//! let first = reader.next_event().unwrap()?;
//! assert_eq!(first.callsite.fields, ["message", "user_id", "ok"]);
//! let values: Vec<OwnedValue> = first.event.values.iter().map(OwnedValue::from).collect();
//! assert_eq!(values, [
//!     OwnedValue::Debug("request done in 17.5 us".into()),
//!     OwnedValue::I64(42),
//!     OwnedValue::Bool(true),
//! ]);
//! let second = reader.next_event().unwrap()?;
//! assert_eq!(OwnedValue::from(&second.event.values[0]), OwnedValue::Str("static message".into()));
//! assert!(reader.next_event().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Filters
//!
//! [`Builder::parse_filters`], [`Builder::from_env`] and [`init`] take env_logger's directive
//! syntax (`warn,my_app=debug,my_app::db=trace`, optionally `/pattern` for the message),
//! parsed by `env_filter`, the crate env_logger itself uses; the tests compare the decisions
//! with env_logger's for a table of `RUST_LOG` strings. A record's level and target are
//! checked once per callsite and thread (and once more after each reload of the filter), not
//! per record; only a message pattern is matched
//! against each record's text (and, as in env_logger, formats it into a `String`).
//!
//! # What a record costs
//!
//! [`Logger::log`](log::Log::log) checks the level (one atomic load, which also says whether
//! the filter was reloaded since the callsite's decision), finds the record's callsite in a
//! thread-local cache (keyed by the addresses of its `'static` strings; records as `log`'s
//! macros make them, without key-values, in a direct-mapped table; the first record of a
//! callsite on a thread takes a lock once), and encodes the record into the thread's ring:
//!
//! - a message without arguments (`args.as_str()`, a `'static` literal) is interned with the
//!   journal on the callsite's first record, and records whose message is that literal (same
//!   address) carry its id; another literal at the same callsite is copied as a string; never
//!   formatted;
//! - a message with arguments is formatted straight into the ring claim, which is sized from
//!   the callsite's earlier records; a longer message is measured and written again with room
//!   for all of it;
//! - key-values (`log`'s `kv` feature) are stored as typed values: integers, floats, booleans,
//!   strings and errors as such, anything else as its formatted text.
//!
//! A callsite is interned by level, target, module path, file, line and the record's keys, so
//! records of one call site with different key sets each decode with their own field names.
//! After a callsite's first record on a thread, logging allocates nothing (unless an argument's
//! `Display` does). The `log_backends` bench in the workspace measures the logging thread's
//! cost beside env_logger, ftlog, fast_log and spdlog-rs (see `BENCHMARKS.md`).
//!
//! # Changing the filter at run time
//!
//! [`Guard::reload_handle`] (or [`Logger::reload_handle`]) gives a [`ReloadHandle`]:
//! `handle.set_filters("warn,my_app=debug")` replaces the filter while threads log, and
//! `log::max_level()` follows it. A record pays one atomic load for this; callsites decide
//! again after a reload, on their next record.
//!
//! # Sharing a journal with `tracing`
//!
//! [`Builder::journal`] logs into a journal that a `tracing` layer writes to as well: both
//! façades then end up in one file, in one time order.

mod builder;
mod logger;
mod reload;
mod test_logger;

pub use builder::{Builder, DEFAULT_FILTER_ENV, Error, Guard};
/// What a full ring does ([`Builder::policy`]): re-exported so that a program needs no
/// dependency on `logbuf-journal` to choose it.
pub use logbuf_journal::FullPolicy;
/// The flight recorder's settings ([`Builder::flight_recorder`]): re-exported so that a
/// program needs no dependency on `logbuf-journal` to turn it on.
pub use logbuf_journal::recorder::FlightRecorder;
/// The text layouts, for [`Builder::layout`].
pub use logbuf_journal::sink::text::Layout;
pub use logger::Logger;
pub use reload::ReloadHandle;
pub use test_logger::init_test;

/// Installs a logger with filters from `RUST_LOG` that writes text lines to standard error:
/// `Builder::from_default_env().init()`. Like [`Builder::init`], it has the journal flushed
/// when the process exits without dropping the guard (`std::process::exit`, or `main`
/// returning with the guard leaked).
///
/// # Errors
///
/// See [`Builder::init`].
pub fn init() -> Result<Guard, Error> {
    Builder::from_default_env().init()
}

/// [`init`] with a flight recorder (see [`logbuf_journal::recorder`]): `debug!` and
/// `trace!` records are kept in memory, and written to standard error only around an error
/// (the last 10 s of them, before it), a panic or [`Journal::dump`](logbuf_journal::Journal::dump).
/// With `RUST_LOG` unset, `debug` is recorded; set it to choose what is recorded, e.g.
/// `RUST_LOG=info,my_app=trace` (see [`Builder::flight_recorder`]).
///
/// ```no_run
/// let _guard = logbuf_log::init_flight_recorder()?;
/// log::debug!("connecting to the database"); // held
/// log::error!("the query failed"); // writes the debug line above, then this one
/// # Ok::<(), logbuf_log::Error>(())
/// ```
///
/// # Errors
///
/// See [`Builder::init`].
pub fn init_flight_recorder() -> Result<Guard, Error> {
    Builder::from_default_env()
        .flight_recorder(FlightRecorder::new())
        .init()
}
