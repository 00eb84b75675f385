//! A `tracing_subscriber::Layer` on the logbuf journal.

mod callsites;
mod layer;
mod values;

use std::io;
use std::path::{Path, PathBuf};

use logbuf_journal::sink::text::TextSink;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

pub use layer::{Builder, LogbufLayer};
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
    Init(#[from] TryInitError),
}

/// The filter the one-line setups use: `RUST_LOG` if set (directives it cannot parse are
/// skipped), `info` otherwise.
fn env_filter() -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy()
}

/// Installs a global subscriber writing human-readable lines to standard error (laid out like
/// `tracing-subscriber`'s `fmt` output, formatted on the journal's worker thread), filtered by
/// `RUST_LOG` (default `info`). Keep the returned [`Guard`] alive while logging.
///
/// ```
/// let _guard = logbuf_tracing::init()?;
/// tracing::info!(user_id = 42u64, "signed in");
/// # Ok::<(), logbuf_tracing::Error>(())
/// ```
///
/// # Errors
///
/// The journal could not start, or a global subscriber was already set.
pub fn init() -> Result<Guard, Error> {
    let (layer, guard) = LogbufLayer::builder().sink(TextSink::stderr()).build()?;
    tracing_subscriber::registry()
        .with(env_filter())
        .with(layer)
        .try_init()?;
    Ok(guard)
}

/// Installs a global subscriber writing a binary journal file at `path`, filtered by
/// `RUST_LOG` (default `info`).
///
/// # Errors
///
/// The file could not be created, the journal could not start, or a global subscriber was
/// already set.
pub fn init_file(path: impl AsRef<Path>) -> Result<Guard, Error> {
    let (layer, guard) = LogbufLayer::builder().file(path).build()?;
    tracing_subscriber::registry()
        .with(env_filter())
        .with(layer)
        .try_init()?;
    Ok(guard)
}
