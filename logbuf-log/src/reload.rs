//! Changing a logger's filter while it runs: [`ReloadHandle`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use log::LevelFilter;

use crate::Error;

/// Bits of [`Shared::word`] that hold the most verbose level (`LevelFilter as u64`, 0 to 5).
const LEVEL_BITS: u64 = 0b111;
/// The bit of [`Shared::word`] that says the filter has a message pattern.
const MESSAGE_BIT: u64 = 1 << 3;
/// Where the generation starts in [`Shared::word`].
const GENERATION_SHIFT: u32 = 4;

/// The filter of one logger, shared by the logger and its [`ReloadHandle`]s.
///
/// The logging thread reads one atomic word per record ([`Shared::word`]): the most verbose
/// level, whether there is a message pattern, and a generation that changes with every
/// reload. Callsites cache their decision with the generation it was made under and decide
/// again when it has changed; the filter itself is behind an [`ArcSwap`], loaded without a
/// lock where a decision is made (a callsite's first record after a reload) and for each
/// record when there is a message pattern.
pub(crate) struct Shared {
    current: ArcSwap<env_filter::Filter>,
    /// `generation << GENERATION_SHIFT | MESSAGE_BIT? | max_level`. Stored (release) after
    /// [`Shared::current`], so that a thread that reads a generation (acquire) and then loads
    /// the filter gets that generation's filter or a later one, never an earlier one.
    word: AtomicU64,
    /// The logger is the process's `log` logger: a reload sets `log::set_max_level` too.
    installed: AtomicBool,
    /// Serialises reloads (and installation), so that the filter, the word and `log`'s
    /// maximum level always end up describing the same filter. Never taken when logging.
    writer: Mutex<()>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.word();
        f.debug_struct("Shared")
            .field("filter", &**self.current.load())
            .field("max_level", &max_level(word))
            .field("generation", &generation(word))
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(filter: env_filter::Filter, message_filter: bool) -> Self {
        let word = word_of(&filter, message_filter, 0);
        Self {
            current: ArcSwap::from_pointee(filter),
            word: AtomicU64::new(word),
            installed: AtomicBool::new(false),
            writer: Mutex::new(()),
        }
    }

    /// The word the logging thread reads: see [`max_level`], [`message_filter`],
    /// [`generation`].
    #[inline(always)]
    pub(crate) fn word(&self) -> u64 {
        self.word.load(Ordering::Acquire)
    }

    /// The filter now (of the generation read before, or a later one).
    #[inline]
    pub(crate) fn filter(&self) -> arc_swap::Guard<Arc<env_filter::Filter>> {
        self.current.load()
    }

    /// Marks the logger as installed and sets `log`'s maximum level to its filter's, with no
    /// reload in between. `install` sets the logger (and fails if one is set already).
    pub(crate) fn install(
        &self,
        install: impl FnOnce() -> Result<(), log::SetLoggerError>,
    ) -> Result<(), log::SetLoggerError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        install()?;
        self.installed.store(true, Ordering::Release);
        log::set_max_level(max_level(self.word()));
        Ok(())
    }

    fn replace(&self, filter: env_filter::Filter, message_filter: bool) {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let next = generation(self.word.load(Ordering::Relaxed)) + 1;
        let word = word_of(&filter, message_filter, next);
        self.current.store(Arc::new(filter));
        self.word.store(word, Ordering::Release);
        if self.installed.load(Ordering::Acquire) {
            log::set_max_level(max_level(word));
        }
    }
}

fn word_of(filter: &env_filter::Filter, message_filter: bool, generation: u64) -> u64 {
    generation << GENERATION_SHIFT
        | if message_filter { MESSAGE_BIT } else { 0 }
        | filter.filter() as u64
}

/// The most verbose level the filter of `word` lets through.
#[inline(always)]
pub(crate) fn max_level(word: u64) -> LevelFilter {
    match word & LEVEL_BITS {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Whether a record of `level` may pass the filter of `word` (its directives decide the rest).
#[inline(always)]
pub(crate) fn level_passes(word: u64, level: log::Level) -> bool {
    level as u64 <= word & LEVEL_BITS
}

/// Whether the filter of `word` has a message pattern.
#[inline(always)]
pub(crate) fn message_filter(word: u64) -> bool {
    word & MESSAGE_BIT != 0
}

/// The reload count of `word`'s filter: decisions made under another generation are stale.
#[inline(always)]
pub(crate) fn generation(word: u64) -> u64 {
    word >> GENERATION_SHIFT
}

/// Changes the filter of a running [`Logger`](crate::Logger), from any thread: env_logger's
/// directives (`warn,my_app=debug`), like `tracing_subscriber::reload` for `tracing`.
///
/// Get one from [`Guard::reload_handle`](crate::Guard::reload_handle) (after
/// [`Builder::init`](crate::Builder::init)) or
/// [`Logger::reload_handle`](crate::Logger::reload_handle); clones change the same logger.
///
/// A new filter replaces the old one whole (it is not added to it). Records logged after the
/// call returns are judged by it; a record logged while it is being replaced, by the old one
/// or the new one. When the logger is the process's `log` logger (installed by
/// [`Builder::init`](crate::Builder::init)), `log::max_level()` follows the new filter, so
/// that `log`'s macros skip what it filters out; a logger you install yourself (wrapped in a
/// `Log` of your own) leaves `log`'s maximum level to you: set it to
/// [`ReloadHandle::max_level`].
///
/// Logging stays lock-free: a record reads one atomic word to see whether the filter changed
/// since its callsite was last decided on; only the first record of each callsite after a
/// reload looks at the new filter (an atomic pointer load, no lock).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let (logger, guard) = logbuf_log::Builder::new()
///     .parse_filters("warn")
///     .file(dir.path().join("app.lbf"))
///     .build()?;
/// let handle = guard.reload_handle();
/// handle.set_filters("warn,my_app::db=debug")?;
/// assert_eq!(logger.max_level(), log::LevelFilter::Debug);
/// handle.set_level(log::LevelFilter::Error);
/// assert_eq!(handle.max_level(), log::LevelFilter::Error);
/// assert!(handle.set_filters("my_app=loud").is_err()); // nothing changed
/// assert_eq!(logger.max_level(), log::LevelFilter::Error);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ReloadHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ReloadHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadHandle")
            .field("filter", &*self.shared)
            .finish()
    }
}

impl ReloadHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Replaces the filter with the directives of `spec`, in env_logger's syntax
    /// (`warn,my_app=debug,my_app::db=trace`, optionally `/pattern` for the message). With no
    /// directive at all only errors pass, as with a new [`Builder`](crate::Builder).
    ///
    /// # Errors
    ///
    /// [`Error::Filter`] on the first invalid directive; the filter is then left as it was.
    pub fn set_filters(&self, spec: &str) -> Result<(), Error> {
        let mut builder = env_filter::Builder::new();
        builder.try_parse(spec)?;
        self.shared.replace(builder.build(), spec.contains('/'));
        Ok(())
    }

    /// Replaces the filter with one level for every target.
    pub fn set_level(&self, level: LevelFilter) {
        let mut builder = env_filter::Builder::new();
        builder.filter_level(level);
        self.shared.replace(builder.build(), false);
    }

    /// The most verbose level the filter lets through now.
    pub fn max_level(&self) -> LevelFilter {
        max_level(self.shared.word())
    }
}
