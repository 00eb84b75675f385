//! Setting a logger up: [`Builder`], [`Guard`], [`Error`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;
use logbuf_journal::exit::DEFAULT_SHUTDOWN_TIMEOUT;
use logbuf_journal::recorder::FlightRecorder;
use logbuf_journal::sink::BinaryFileSink;
use logbuf_journal::sink::text::{Layout, TextFormat, TextSink};
use logbuf_journal::{BuildError, FullPolicy, Journal, Sink};

use crate::{Logger, ReloadHandle};

/// The environment variable [`Builder::from_default_env`] and [`init`](crate::init) read.
pub const DEFAULT_FILTER_ENV: &str = "RUST_LOG";

/// Why a logger could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A logger is already installed in this process (`log` allows one).
    #[error("a global logger is already installed: {0}")]
    SetLogger(#[from] log::SetLoggerError),
    /// The journal could not be started.
    #[error("cannot start the journal: {0}")]
    Journal(#[from] BuildError),
    /// The binary file could not be created.
    #[error("cannot create the log file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A filter string given to [`Builder::try_parse_filters`] is not valid.
    #[error("invalid log filter: {0}")]
    Filter(#[from] env_filter::ParseError),
    /// [`Builder::journal`] was combined with settings that only apply to a journal the
    /// builder makes (sinks, files, ring capacity, policy, flush interval, layout, flight
    /// recorder).
    #[error("sinks and ring settings cannot be applied to a journal given with Builder::journal")]
    JournalSettings,
}

/// Settings for a [`Logger`]: filters, where records go, and the journal's ring.
///
/// Filters use env_logger's directive syntax (`RUST_LOG=warn,my_app=debug,my_app::db=trace`,
/// with an optional `/pattern` matched against messages), parsed by the same crate env_logger
/// uses. With no directive at all only errors are logged, as with env_logger.
///
/// Records go to every sink added with [`Builder::file`] and [`Builder::sink`] (text lines with
/// [`TextSink`], JSON lines with [`JsonSink`](logbuf_journal::sink::json::JsonSink), your own
/// [`Sink`]). With none, they go to standard error as text lines laid out like
/// `tracing-subscriber`'s `fmt` output, formatted on the worker thread.
///
/// ```
/// use log::LevelFilter;
///
/// let dir = tempfile::tempdir()?;
/// let (logger, guard) = logbuf_log::Builder::new()
///     .filter_level(LevelFilter::Info)
///     .filter_module("noisy::dependency", LevelFilter::Warn)
///     .file(dir.path().join("app.lbf"))
///     .build()?;
/// assert_eq!(logger.max_level(), LevelFilter::Info);
/// drop(guard);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Builder {
    filter: env_filter::Builder,
    message_filter: bool,
    files: Vec<PathBuf>,
    sinks: Vec<Box<dyn Sink>>,
    ring_capacity: Option<usize>,
    policy: Option<FullPolicy>,
    flush_interval: Option<Duration>,
    journal: Option<Journal>,
    layout: Option<Layout>,
    recorder: Option<FlightRecorder>,
    /// Some filter directive was given (by the environment or a method).
    directed: bool,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("filter", &self.filter)
            .field("files", &self.files)
            .field("sinks", &self.sinks.len())
            .field("ring_capacity", &self.ring_capacity)
            .field("policy", &self.policy)
            .field("journal", &self.journal)
            .field("layout", &self.layout)
            .field("recorder", &self.recorder)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// No filter directives (errors only, until some are added) and the default sinks.
    pub fn new() -> Self {
        Self {
            filter: env_filter::Builder::new(),
            message_filter: false,
            files: Vec::new(),
            sinks: Vec::new(),
            ring_capacity: None,
            policy: None,
            flush_interval: None,
            journal: None,
            layout: None,
            recorder: None,
            directed: false,
        }
    }

    /// Filters from the `RUST_LOG` environment variable, if set.
    pub fn from_default_env() -> Self {
        Self::from_env(DEFAULT_FILTER_ENV)
    }

    /// Filters from the environment variable `var`, if set. Invalid directives are reported on
    /// stderr and skipped, as env_logger does.
    pub fn from_env(var: &str) -> Self {
        let builder = Self::new();
        match std::env::var(var) {
            Ok(spec) => builder.parse_filters(&spec),
            Err(_) => builder,
        }
    }

    /// Filters from the `RUST_LOG` environment variable if it is set, from `default` otherwise:
    /// env_logger's `Env::default().default_filter_or(default)`.
    ///
    /// ```no_run
    /// let _guard = logbuf_log::Builder::from_default_env_or("info").init()?;
    /// # Ok::<(), logbuf_log::Error>(())
    /// ```
    pub fn from_default_env_or(default: &str) -> Self {
        Self::from_env_or(DEFAULT_FILTER_ENV, default)
    }

    /// Filters from the environment variable `var` if it is set (even to an empty string, as
    /// env_logger reads it), from `default` otherwise: env_logger's
    /// `Env::new().filter_or(var, default)`.
    ///
    /// ```
    /// let (logger, _guard) = logbuf_log::Builder::from_env_or("MY_APP_LOG_UNSET", "warn").build()?;
    /// assert_eq!(logger.max_level(), log::LevelFilter::Warn);
    /// # Ok::<(), logbuf_log::Error>(())
    /// ```
    pub fn from_env_or(var: &str, default: &str) -> Self {
        match std::env::var(var) {
            Ok(spec) => Self::new().parse_filters(&spec),
            Err(_) => Self::new().parse_filters(default),
        }
    }

    /// Adds the directives of `spec` (env_logger's syntax: `warn,my_app=debug/pattern`).
    /// Invalid directives are reported on stderr and skipped, as env_logger does. A message
    /// pattern replaces an earlier one.
    pub fn parse_filters(mut self, spec: &str) -> Self {
        self.directed = true;
        self.message_filter = spec.contains('/');
        self.filter.parse(spec);
        self
    }

    /// Adds the directives of `spec`, or fails on the first invalid one.
    ///
    /// # Errors
    ///
    /// [`Error::Filter`] says what is wrong.
    pub fn try_parse_filters(mut self, spec: &str) -> Result<Self, Error> {
        self.filter.try_parse(spec)?;
        self.directed = true;
        self.message_filter = spec.contains('/');
        Ok(self)
    }

    /// Lets records of `level` and more severe through, for every target without a directive
    /// of its own.
    pub fn filter_level(mut self, level: LevelFilter) -> Self {
        self.directed = true;
        self.filter.filter_level(level);
        self
    }

    /// Sets the level of `module` (a target prefix, `my_app::db`).
    pub fn filter_module(mut self, module: &str, level: LevelFilter) -> Self {
        self.directed = true;
        self.filter.filter_module(module, level);
        self
    }

    /// [`Builder::filter_module`] for `Some(module)`, [`Builder::filter_level`] for `None`.
    pub fn filter(mut self, module: Option<&str>, level: LevelFilter) -> Self {
        self.directed = true;
        self.filter.filter(module, level);
        self
    }

    /// How the default text sink on standard error lays out its lines ([`Layout`]): `fmt`'s
    /// layout ([`Layout::Full`]) unless set. [`Layout::EnvLogger`] writes env_logger's
    /// default format, with its timestamps ([`TextFormat::env_logger`]), for scripts that
    /// read it:
    ///
    /// ```text
    /// [2026-12-04T19:46:07Z INFO  my_crate::db] connected to pg user=ada
    /// ```
    ///
    /// Sinks added with [`Builder::sink`] keep their own format, and a [`Builder::file`]
    /// with no other sink writes no text; so does this setting then.
    ///
    /// ```
    /// use logbuf_journal::sink::text::Layout;
    ///
    /// let (logger, guard) = logbuf_log::Builder::new().layout(Layout::EnvLogger).build()?;
    /// # drop((logger, guard));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = Some(layout);
        self
    }

    /// Puts a flight recorder in the journal (see [`logbuf_journal::recorder`]): records below
    /// its level (`Info` by default: `debug!` and `trace!`) are held in memory and written
    /// only around an error, a panic or [`Journal::dump`].
    ///
    /// The filters decide what reaches the recorder. With no directive at all (`RUST_LOG`
    /// unset, no `filter*` call), the logger lets `debug` through when a recorder is on
    /// (errors only without one); with directives, they are used as given: `RUST_LOG=debug`
    /// records every crate's `debug!`, `RUST_LOG=info,my_app=trace` only `my_app`'s, down
    /// to `trace!`; `RUST_LOG=info` gives the recorder nothing to hold.
    ///
    /// ```
    /// use logbuf_log::FlightRecorder;
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let (logger, _guard) = logbuf_log::Builder::new()
    ///     .file(dir.path().join("app.lbf"))
    ///     .flight_recorder(FlightRecorder::new().dump_on_panic(false))
    ///     .build()?;
    /// assert_eq!(logger.max_level(), log::LevelFilter::Debug);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flight_recorder(mut self, recorder: FlightRecorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Writes a binary journal file at `path` (created or truncated when the logger is built),
    /// read back with [`logbuf_journal::read::Reader`] or the `logbuf` command.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// Adds a sink. Records go to every sink, in the order they were added.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Bytes of each logging thread's ring; see
    /// [`logbuf_journal::Builder::ring_capacity`]. Default 1 MiB.
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = Some(bytes);
        self
    }

    /// What to do when a thread's ring is full; default [`FullPolicy::Drop`], which counts the
    /// records lost and reports them in the log.
    pub fn policy(mut self, policy: FullPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// How often the worker flushes the sinks while records arrive. Default 100 ms.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = Some(interval);
        self
    }

    /// Logs into an existing journal (one a `tracing` layer also writes to, so that both
    /// façades end up in one file in one order) instead of starting one. The journal's owner
    /// keeps its guard; the sinks and ring settings of this builder do not apply.
    pub fn journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Builds the logger without installing it: to call it directly, or to wrap it in a `Log`
    /// of your own.
    ///
    /// # Errors
    ///
    /// A file that cannot be created, a journal that cannot start, or
    /// [`Error::JournalSettings`].
    pub fn build(mut self) -> Result<(Logger, Guard), Error> {
        if self.recorder.is_some() && !self.directed {
            self.filter.filter_level(LevelFilter::Debug);
        }
        let filter = self.filter.build();
        let (journal, inner) = match self.journal.take() {
            Some(journal) => {
                if !self.files.is_empty()
                    || !self.sinks.is_empty()
                    || self.ring_capacity.is_some()
                    || self.policy.is_some()
                    || self.flush_interval.is_some()
                    || self.layout.is_some()
                    || self.recorder.is_some()
                {
                    return Err(Error::JournalSettings);
                }
                (journal, None)
            }
            None => {
                let mut builder = Journal::builder();
                if let Some(bytes) = self.ring_capacity {
                    builder = builder.ring_capacity(bytes);
                }
                if let Some(policy) = self.policy {
                    builder = builder.policy(policy);
                }
                if let Some(interval) = self.flush_interval {
                    builder = builder.flush_interval(interval);
                }
                if let Some(recorder) = self.recorder {
                    builder = builder.flight_recorder(recorder);
                }
                let mut sinks = std::mem::take(&mut self.sinks);
                for path in &self.files {
                    let sink = BinaryFileSink::create(path).map_err(|source| Error::File {
                        path: path.clone(),
                        source,
                    })?;
                    sinks.push(Box::new(sink));
                }
                if sinks.is_empty() {
                    let sink = TextSink::stderr();
                    let sink = match self.layout {
                        Some(Layout::EnvLogger) => {
                            sink.with_format(|f| TextFormat::env_logger().with_ansi(f.ansi()))
                        }
                        Some(layout) => sink.with_layout(layout),
                        None => sink,
                    };
                    sinks.push(Box::new(sink));
                }
                for sink in sinks {
                    builder = builder.sink(BoxedSink(sink));
                }
                let (journal, guard) = builder.build()?;
                (journal, Some(guard))
            }
        };
        let logger = Logger::new(journal.clone(), filter, self.message_filter);
        let reload = logger.reload_handle();
        Ok((
            logger,
            Guard {
                journal,
                inner,
                reload,
            },
        ))
    }

    /// Builds the logger and installs it as the process's `log` logger, with
    /// `log::set_max_level` set to the most verbose level the filters let through. To change
    /// the filter later, keep [`Guard::reload_handle`]: `log::max_level()` follows it.
    ///
    /// # Process exit
    ///
    /// The journal is also flushed when the process exits without dropping the guard, as
    /// env_logger's output is: `std::process::exit` (`log::error!(...)` then `exit(1)` loses
    /// nothing) or `main` returning while the guard is in a `static` or leaked. The exiting
    /// thread waits for the worker at most the journal's default shutdown timeout
    /// ([`DEFAULT_SHUTDOWN_TIMEOUT`](logbuf_journal::exit::DEFAULT_SHUTDOWN_TIMEOUT), 30 s);
    /// this holds for a journal given with [`Builder::journal`] too. A process killed by a
    /// signal, or ended by `abort` or `_exit`, runs no exit handler; see
    /// [`logbuf_journal::exit`]. [`Builder::build`] alone does not do this.
    ///
    /// # Errors
    ///
    /// [`Error::SetLogger`] if a logger is already installed, or an error of
    /// [`Builder::build`].
    pub fn init(self) -> Result<Guard, Error> {
        let (logger, guard) = self.build()?;
        let shared = logger.shared().clone();
        shared.install(|| log::set_boxed_logger(Box::new(logger)))?;
        logbuf_journal::exit::flush_at_exit(&guard.journal, DEFAULT_SHUTDOWN_TIMEOUT);
        Ok(guard)
    }
}

/// A boxed sink handed to the journal builder, which takes `impl Sink`.
struct BoxedSink(Box<dyn Sink>);

impl Sink for BoxedSink {
    fn write(&mut self, entry: logbuf_journal::sink::Entry<'_>) -> std::io::Result<()> {
        self.0.write(entry)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.0.sync()
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        self.0.reopen()
    }

    fn dump(&mut self) -> std::io::Result<()> {
        self.0.dump()
    }

    fn discarded(&self) -> u64 {
        self.0.discarded()
    }
}

/// Keeps logging running: dropping it writes everything logged so far and, when the logger
/// started its own journal, stops the journal's worker (records logged afterwards are
/// dropped). A logger given an existing journal with [`Builder::journal`] only flushes it.
///
/// Bind it to a named variable that lives as long as logging should work: `let _guard = ...`.
/// Binding it to `_` drops it at once.
#[must_use = "dropping the guard stops logging; bind it with `let _guard = ...`"]
pub struct Guard {
    journal: Journal,
    inner: Option<logbuf_journal::Guard>,
    reload: ReloadHandle,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("journal", &self.journal)
            .field("owns_journal", &self.inner.is_some())
            .finish()
    }
}

impl Guard {
    /// The journal the logger writes to, to share with other front ends.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// A handle that changes the logger's filter while it runs (after [`Builder::init`] too,
    /// with `log::max_level()` following it); see [`ReloadHandle`].
    pub fn reload_handle(&self) -> ReloadHandle {
        self.reload.clone()
    }

    /// Waits until every record logged before the call is written and the sinks are flushed;
    /// see [`Journal::flush`].
    pub fn flush(&self) -> bool {
        self.journal.flush()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self.inner.take() {
            Some(guard) => drop(guard),
            None => {
                self.journal.flush();
            }
        }
    }
}
