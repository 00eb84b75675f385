//! A [`tracing_subscriber::Layer`] that hands events to the logbuf journal: the thread that
//! logs encodes the event's values into its own lock-free ring and goes on; a worker thread
//! writes them to sinks (a binary file, human-readable text, JSON lines).
//!
//! ```
//! use logbuf_journal::read::Reader;
//! use logbuf_journal::wire::Value;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.lbf");
//! let (layer, guard) = logbuf_tracing::LogbufLayer::builder().file(&path).build()?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("request", path = "/api/v1/orders");
//!     let _entered = span.enter();
//!     tracing::info!(user_id = 42u64, latency_us = 17.5, "request done");
//! });
//! drop(guard); // writes everything out and syncs the file
//!
//! let mut reader = Reader::open(&path)?;
//! let event = reader.next_event().expect("one event")?;
//! assert_eq!(event.callsite.fields, ["message", "user_id", "latency_us"]);
//! assert_eq!(event.event.values, [Value::Str("request done"), Value::U64(42), Value::F64(17.5)]);
//! assert_eq!(event.spans[0].callsite.name, "request");
//! assert_eq!(event.thread_name, Some("main"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! In an application, install it once with the rest of the subscriber, or use the one-line
//! setups [`init`] (text on standard error) and [`init_file`] (a binary file), which read
//! `RUST_LOG` like `tracing_subscriber::fmt::init`:
//!
//! ```no_run
//! use tracing_subscriber::EnvFilter;
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! let (layer, _guard) = logbuf_tracing::LogbufLayer::builder()
//!     .file("logs/app.lbf")
//!     .sink(logbuf_journal::sink::text::TextSink::stderr())
//!     .build()?;
//! tracing_subscriber::registry()
//!     .with(EnvFilter::from_default_env())
//!     .with(layer)
//!     .init();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The one-line setups also bridge the `log` crate, as `fmt::init` does: they set tracing-log's
//! `LogTracer` as the `log` logger, so the `log` records of dependencies become events too.
//! Whoever installs the layer by hand can do the same (`tracing_log::LogTracer::init()`). The
//! layer records a bridged record under its own callsite, the record's target, module, file
//! and line (tracing-log's normalized metadata), with its message as the only field: text,
//! JSON, the binary file and `logbuf cat` show `INFO my_crate::db: connected`, as `fmt` does.
//!
//! The [`Guard`] keeps the worker running: bind it to a named variable (`_guard`, not `_`)
//! that lives until the program ends. Dropping it writes everything logged so far and syncs
//! the sinks.
//! The one-line setups [`init`] and [`init_file`] also have the journal flushed when the
//! process exits without dropping the guard (`std::process::exit`, or `main` returning with
//! the guard leaked).
//!
//! # What the logging thread does
//!
//! For an event that passes the filters, [`LogbufLayer`]:
//!
//! 1. finds the journal's id for the event's callsite in a small thread-local cache keyed by
//!    the callsite's `&'static Metadata` (the callsite's name, target, level, file, line and
//!    field names are written to the journal once, when the callsite is first seen);
//! 2. finds the event's parent span: the explicit parent (from the registry), or the
//!    innermost span the thread entered, from a thread-local stack the layer keeps in
//!    `on_enter` and `on_exit` (so an event costs no lookup of the span's data);
//! 3. claims room in the thread's ring and writes the record straight into it: the callsite
//!    id, a tick-counter timestamp, the thread, the parent span and the values, in the order
//!    of the callsite's fields, then commits it with one store.
//!
//! No lock, no heap allocation and no system call for events whose fields are numbers,
//! booleans, strings and bytes; the only thread-local state is the callsite cache, the stack
//! of entered spans and the journal's ring. (With [`Builder::span_times`], entering and
//! exiting a span takes the span's lock in the registry, to keep its busy time.) Values keep
//! their types:
//!
//! | recorded as | stored as |
//! |---|---|
//! | `u64`, `i64`, `u128`, `i128`, `f64`, `bool` | the number or boolean |
//! | `&str`, `&[u8]` | the string or bytes, copied |
//! | `&dyn Error` | its `Display` and that of each `source()`, formatted now |
//! | `?value` (`Debug`) | its `Debug` text, formatted now straight into the ring |
//! | the message | the id of a string interned once per callsite, when it is the callsite's literal; else a string when it formats in one piece, text formatted now otherwise |
//! | a field not recorded | an empty value |
//!
//! A callsite's message is interned the first time one of its events is seen, if it is a
//! literal: it formats in one piece whose bytes lie in the read-only data of the executable
//! or a loaded library (checked on Linux; elsewhere nothing is interned). Every event whose
//! message comes out in one piece as that literal (at its address, or with its text, as
//! when the compiler gave an inlined copy of the callsite its own copy of the literal) then
//! carries a one- or two-byte id instead of it. Text made at run time, even in one piece (`info!("{}", email)`,
//! a number), is never interned: each event carries its own text, and nothing of it is kept
//! by the layer or repeated in rotated files. Readers give interned messages back as strings.
//! Either way the message is formatted once per event: into the ring as it is checked, the
//! literal's piece recognised and not copied.
//!
//! Formatting timestamps, levels and text happens on the worker thread, or never when the
//! binary file is read back later with [`logbuf_journal::read::Reader`] or the `logbuf`
//! command.
//!
//! # Spans
//!
//! Span creation (with the span's parent and values), `record`, close and follows-from each
//! become a record. Every event carries its parent span, so a reader rebuilds each event's
//! span chain.
//!
//! A span's close record carries the time of the close, so its duration (creation to close)
//! is known. With [`Builder::span_times`] it also carries the span's busy and idle time, as
//! tracing-subscriber's `fmt` prints them with `FmtSpan::CLOSE`: busy while at least one
//! thread had the span entered (entering it again while it is entered, on the same thread or
//! another, counts once), idle the rest of its life from creation to close. The layer then
//! keeps them in the span's registry extensions, read from the journal's tick counter in
//! `on_enter`, `on_exit` and `on_close` (a lookup of the span and its lock, no record), so
//! they follow a span that an async runtime polls on one worker thread and then another.
//! Readers turn the ticks into nanoseconds like other times
//! ([`logbuf_journal::read::Context::duration_nanos`]). They are off by default, as in `fmt`,
//! for their cost: a lookup and a lock on every enter and exit, which tokio makes on every
//! poll, was a fifth of the layer's instructions per request of a traced HTTP service
//! (BENCHMARKS.md, "What a request costs"). Without them, entering and exiting a span is a
//! push and a pop on a thread-local stack.
//!
//! Enter and exit themselves are recorded, with their thread and time, only when asked for
//! ([`Builder::record_enter_exit`]), for a timeline of every poll (`logbuf export --chrome`
//! shows each enter-exit as a slice; without them, a span is one slice from creation to
//! close). They are off by default because of their volume: tokio enters and exits a task's
//! span on every poll, about 30 enter and exit records for a request that logs 4 events,
//! most of the records the worker handles, and they made the binary file larger than
//! `fmt`'s text of the same events. A span's life is two records by default (its creation
//! and its close).
//!
//! An event without an explicit parent is recorded in the innermost span its thread entered
//! among those this layer records: under a per-layer filter, spans the filter leaves out are
//! skipped. (tracing-subscriber's `Context::event_span` answers the same except when the
//! innermost entered span is filtered out and was made with an explicit parent: it then gives
//! that span's nearest recorded ancestor.)
//!
//! # When things go wrong
//!
//! - A full ring drops the event and counts it (or, with [`FullPolicy::Block`], waits); the
//!   worker writes how many were lost into the log itself.
//! - An event logged while the same thread is writing another one (from a `Debug`
//!   implementation that logs) is dropped and counted the same way: it neither panics nor
//!   deadlocks.
//! - A sink's I/O errors are counted by the worker ([`Journal::stats`]).
//!
//! # Sharing the journal
//!
//! [`LogbufLayer::from_journal`] builds a layer on a journal built elsewhere, and
//! [`LogbufLayer::journal`] hands out the layer's journal, so that the `log` back end
//! (`logbuf-log`) and this layer write into one file.

mod callsites;
mod entered;
mod layer;
mod statics;
mod timing;
mod values;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use logbuf_journal::exit::DEFAULT_SHUTDOWN_TIMEOUT;
use logbuf_journal::sink::text::TextSink;
use tracing_core::dispatcher::{self, Dispatch, SetGlobalDefaultError};
use tracing_log::AsLog;
use tracing_log::log::SetLoggerError;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

pub use layer::{Builder, LogbufLayer};
pub use logbuf_journal::recorder::FlightRecorder;
pub use logbuf_journal::{FullPolicy, Guard, Journal};

/// Why a layer could not be built or installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A log file could not be created.
    #[error("cannot create the log file {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The journal could not be started.
    #[error("cannot start the journal")]
    Journal(#[from] logbuf_journal::BuildError),
    /// A global default subscriber was already set.
    #[error("cannot install the global tracing subscriber")]
    Init(#[from] SetGlobalDefaultError),
    /// A `log` logger was already set, so `log` records could not be bridged: nothing was
    /// installed.
    #[error(
        "cannot bridge `log` records into `tracing`: a `log` logger is already set (env_logger, \
         logbuf_log, tracing-log's LogTracer or another); nothing was installed. To keep that \
         logger, build the layer with LogbufLayer::builder() and install the subscriber yourself"
    )]
    LogLogger(#[source] SetLoggerError),
}

/// The filter the one-line setups use: `RUST_LOG` if set (directives it cannot parse are
/// skipped), `info` otherwise.
fn env_filter() -> EnvFilter {
    filter_or(LevelFilter::INFO)
}

/// `RUST_LOG` if set (directives it cannot parse are skipped), `default` otherwise.
fn filter_or(default: LevelFilter) -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(default.into())
        .from_env_lossy()
}

/// Installs a global subscriber writing human-readable lines to standard error (laid out like
/// `tracing-subscriber`'s `fmt` output, formatted on the journal's worker thread), filtered by
/// `RUST_LOG` (default `info`), with `log` records bridged into it (tracing-log's
/// `LogTracer`). Keep the returned [`Guard`] alive while logging.
///
/// ```
/// let _guard = logbuf_tracing::init()?;
/// tracing::info!(user_id = 42u64, "signed in");
/// # Ok::<(), logbuf_tracing::Error>(())
/// ```
///
/// # Process exit
///
/// The journal is also flushed when the process exits without dropping the guard:
/// `std::process::exit` (`tracing::error!(...)` then `exit(1)` loses nothing) or `main`
/// returning while the guard is in a `static` or leaked. The exiting thread waits for the
/// worker at most the journal's default shutdown timeout
/// ([`DEFAULT_SHUTDOWN_TIMEOUT`], 30 s). A
/// process killed by a signal, or ended by `abort` or `_exit`, runs no exit handler; see
/// [`logbuf_journal::exit`].
///
/// # Errors
///
/// The journal could not start, a `log` logger was already set ([`Error::LogLogger`]:
/// nothing is installed), or a global subscriber was already set ([`Error::Init`]).
pub fn init() -> Result<Guard, Error> {
    install(
        LogbufLayer::builder().sink(TextSink::stderr()),
        env_filter(),
    )
}

/// [`init`] with a flight recorder (see [`logbuf_journal::recorder`]): `debug` and `trace`
/// events are kept in memory and written to standard error only around an error (the last
/// 10 s of them, right before it), a panic, or [`Journal::dump`].
///
/// The filter is `RUST_LOG` if set, `debug` otherwise (where [`init`] has `info`): what the
/// filter lets through is what the recorder can hold. `RUST_LOG=debug` records every crate's
/// `debug`; `RUST_LOG=info,my_app=trace` records `my_app` down to `trace` and the rest at
/// `info` (written as they come); `RUST_LOG=info` leaves the recorder nothing to hold.
///
/// ```no_run
/// let _guard = logbuf_tracing::init_flight_recorder()?;
/// tracing::debug!(host = "db-1", "connecting"); // held in memory
/// tracing::error!("query failed"); // writes "connecting", then this
/// # Ok::<(), logbuf_tracing::Error>(())
/// ```
///
/// For other sinks or settings, [`Builder::flight_recorder`] with a filter of your own.
///
/// # Errors
///
/// As [`init`].
pub fn init_flight_recorder() -> Result<Guard, Error> {
    install(
        LogbufLayer::builder()
            .sink(TextSink::stderr())
            .flight_recorder(FlightRecorder::new()),
        filter_or(LevelFilter::DEBUG),
    )
}

/// Installs a global subscriber writing a binary journal file at `path`, filtered by
/// `RUST_LOG` (default `info`), with `log` records bridged into it (tracing-log's
/// `LogTracer`).
///
/// # Process exit
///
/// The journal is also flushed when the process exits without dropping the guard:
/// `std::process::exit` (`tracing::error!(...)` then `exit(1)` loses nothing) or `main`
/// returning while the guard is in a `static` or leaked. The exiting thread waits for the
/// worker at most the journal's default shutdown timeout
/// ([`DEFAULT_SHUTDOWN_TIMEOUT`], 30 s). A
/// process killed by a signal, or ended by `abort` or `_exit`, runs no exit handler; see
/// [`logbuf_journal::exit`].
///
/// # Errors
///
/// The file could not be created, the journal could not start, a `log` logger was already
/// set ([`Error::LogLogger`]: nothing is installed), or a global subscriber was already set
/// ([`Error::Init`]).
pub fn init_file(path: impl AsRef<Path>) -> Result<Guard, Error> {
    install(LogbufLayer::builder().file(path), env_filter())
}

/// Sets up logging for tests, like `tracing_subscriber::fmt().with_test_writer()`: what a test
/// logs (with `tracing`, or `log` records bridged by tracing-log's `LogTracer`) is captured by
/// the test harness with that test's output, shown when it fails and hidden when it passes.
/// Call it at the start of every test that logs; it may be called any number of times, from
/// any thread (only the first call installs anything).
///
/// The lines are laid out as [`init`] lays them out (without colours), filtered by `RUST_LOG`
/// (default `info`), but formatted on the thread that logs and printed with `print!`, which is
/// what the harness captures (for the test's thread and the threads it spawns): no journal,
/// no worker thread. For tests only; programs use [`init`].
///
/// Does nothing when a global subscriber is set already; `log` records are not bridged when a
/// `log` logger is set already.
///
/// ```
/// logbuf_tracing::init_test();
/// tracing::info!("shown only if this test fails");
/// logbuf_tracing::init_test(); // again: nothing happens
/// ```
pub fn init_test() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(env_filter()).with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_test_writer(),
        );
        if dispatcher::set_global_default(Dispatch::new(subscriber)).is_ok()
            && tracing_log::LogTracer::init().is_ok()
        {
            tracing_log::log::set_max_level(LevelFilter::current().as_log());
        }
    });
}

/// Builds the layer, installs it globally behind the `RUST_LOG` filter with tracing-log's
/// `LogTracer` as the `log` logger (as `fmt::init` does, whatever features other crates of the
/// build enable), and has its journal flushed at process exit (within the journal's default
/// shutdown timeout, which the one-line setups keep).
///
/// The `log` logger is set first: when one is set already, nothing is installed. (A global
/// subscriber set already is found out after that, so the `LogTracer` then stays, forwarding
/// `log` records to that subscriber.)
fn install(builder: Builder, filter: EnvFilter) -> Result<Guard, Error> {
    /// A one-line setup installed its subscriber and its `LogTracer`: another one is refused
    /// for the subscriber, the first thing that is set.
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    let (layer, guard) = builder.build()?;
    let journal = layer.journal().clone();
    let subscriber = tracing_subscriber::registry().with(filter).with(layer);
    if !INSTALLED.load(Ordering::Acquire) {
        tracing_log::LogTracer::init().map_err(Error::LogLogger)?;
    }
    dispatcher::set_global_default(Dispatch::new(subscriber))?;
    INSTALLED.store(true, Ordering::Release);
    // `log` skips records above the subscriber's most verbose level before making them.
    tracing_log::log::set_max_level(LevelFilter::current().as_log());
    logbuf_journal::exit::flush_at_exit(&journal, DEFAULT_SHUTDOWN_TIMEOUT);
    Ok(guard)
}
