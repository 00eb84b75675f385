//! Writing out what was logged when the process exits without dropping the [`Guard`].
//!
//! A command-line program that logs `error!("...")` and then calls `std::process::exit(1)`
//! never drops its [`Guard`]: `exit` runs no destructor. Neither does returning from `main`
//! while the guard sits in a `static` or was leaked. The worker thread is then killed with the
//! process, and whatever it had not written yet (the error, most of the time) is lost.
//!
//! [`flush_at_exit`] registers a journal to be flushed when the process exits: the first call
//! installs one C `atexit` handler, which flushes every journal registered so far with
//! [`Journal::flush_timeout`], waiting at most the timeout given with each. The flush is done
//! by the thread that calls `exit` (or returns from `main`), while the worker thread is still
//! running: the worker writes, the exiting thread waits for it, then the process ends.
//!
//! ```
//! use std::time::Duration;
//!
//! # let dir = tempfile::tempdir()?;
//! let (journal, guard) = logbuf_journal::Journal::builder()
//!     .file(dir.path().join("app.lbf"))?
//!     .build()?;
//! logbuf_journal::exit::flush_at_exit(&journal, Duration::from_secs(30));
//! // ... log ...
//! // `std::process::exit(1)` here would still write everything logged above.
//! drop(guard);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The one-line setups of `logbuf-tracing` and `logbuf-log` (their global `init` functions)
//! call it for the journal they start.
//!
//! # What it covers, and what it cannot
//!
//! - `std::process::exit` (from any thread) and returning from `main` run `atexit` handlers:
//!   everything logged before is written and the sinks flushed (not synced: the data is with
//!   the operating system, which keeps it when the process ends; a power loss may not).
//! - A process killed by a signal (`SIGKILL`, or `SIGTERM` without a handler), `abort`
//!   (including `panic = "abort"`, whose panic hook is [`Journal::install_panic_hook`]'s
//!   business) and `libc::_exit` run no `atexit` handler: nothing is flushed.
//! - The wait is bounded: a worker stuck in a slow sink delays the exit by at most the
//!   timeout, then the process ends anyway and what was not written is lost.
//! - A journal whose guard was dropped has a stopped worker; flushing it returns at once.
//! - A `Sink` that calls `exit` from the worker thread is not waited for (a thread cannot
//!   wait for itself).
//! - The handler never panics across the C boundary: a panic inside it is caught and the
//!   remaining journals are skipped. It does not wait on a registration in progress on
//!   another thread for more than a moment ([`LOCK_WAIT`]).
//!
//! [`Guard`]: crate::Guard

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, TryLockError};
use std::time::{Duration, Instant};

use crate::Journal;

/// The default of [`Builder::shutdown_timeout`](crate::Builder::shutdown_timeout): the bound the
/// one-line setups of the front ends pass to [`flush_at_exit`].
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the exit handler tries to take the list of journals while another thread is
/// registering one, before it gives up on flushing.
pub const LOCK_WAIT: Duration = Duration::from_millis(100);

/// A journal to flush at exit, and how long to wait for it.
struct Registered {
    journal: Journal,
    timeout: Duration,
}

/// Every journal registered with [`flush_at_exit`], in order.
static REGISTERED: Mutex<Vec<Registered>> = Mutex::new(Vec::new());
/// Installs [`at_exit`] once.
static INSTALL: Once = Once::new();
/// Whether `atexit` accepted [`at_exit`].
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Has `journal` flushed when the process exits (`std::process::exit`, or `main` returning),
/// waiting at most `timeout` for its worker: pass the journal's
/// [`shutdown_timeout`](crate::Builder::shutdown_timeout). The first call installs the `atexit`
/// handler; later calls add to its list. The list holds a clone of the journal (a handle)
/// until the process ends; a journal whose guard was dropped costs nothing at exit.
///
/// All journals are flushed one after the other, each within `timeout` of the start of the
/// handler, so the exit waits at most the longest timeout.
///
/// Returns whether the handler is installed (`atexit` refuses only when out of memory).
pub fn flush_at_exit(journal: &Journal, timeout: Duration) -> bool {
    REGISTERED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Registered {
            journal: journal.clone(),
            timeout,
        });
    // Outside the list's lock: the handler never waits on `INSTALL`.
    INSTALL.call_once(|| {
        // SAFETY: `at_exit` is an `extern "C" fn()` that lives as long as the program (it is a
        // plain function) and never unwinds: it catches every panic inside it.
        let refused = unsafe { libc::atexit(at_exit) };
        INSTALLED.store(refused == 0, Ordering::Release);
    });
    INSTALLED.load(Ordering::Acquire)
}

/// The `atexit` handler: flushes every registered journal. Never unwinds.
extern "C" fn at_exit() {
    // A panic here is not reported again; the process is ending either way.
    let _ = catch_unwind(AssertUnwindSafe(flush_registered));
}

/// Takes the registered journals and flushes each, all within their timeouts of now.
fn flush_registered() {
    let start = Instant::now();
    let Some(journals) = take_registered(start) else {
        return;
    };
    for entry in &journals {
        let left = (start + entry.timeout).saturating_duration_since(Instant::now());
        entry.journal.flush_timeout(left);
    }
}

/// The registered journals, leaving the list empty; `None` if another thread held the list
/// for all of [`LOCK_WAIT`].
fn take_registered(start: Instant) -> Option<Vec<Registered>> {
    loop {
        match REGISTERED.try_lock() {
            Ok(mut list) => return Some(std::mem::take(&mut *list)),
            Err(TryLockError::Poisoned(poisoned)) => {
                return Some(std::mem::take(&mut *poisoned.into_inner()));
            }
            Err(TryLockError::WouldBlock) => {
                if start.elapsed() >= LOCK_WAIT {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
