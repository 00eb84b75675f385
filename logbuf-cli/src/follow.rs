//! `logbuf follow`: print a journal's events as they are written, like `tail -f`, and carry
//! on into the next file when the log rotates.
//!
//! How rotation is noticed, whenever the open file has no more bytes:
//!
//! - A file of a stamped series, as the rotating sink names them (`app.2026-11-29T06.lbf`,
//!   `app.2026-11-29T06.1.lbf`: the base name, a stamp starting with a date, an optional
//!   counter, the extension), is followed into the next file of its series: when the directory
//!   holds a later name of the same series (by stamp, then counter), the old file is read to
//!   its end once more a poll interval later and following moves on to the earliest such
//!   file, one file at a time. A file renamed when it was rotated is found under its new name
//!   (on Linux, through `/proc/self/fd`).
//! - When the series is read to its end and the path followed is a stable name outside it
//!   (the sink's "current" symbolic link or fixed name) that names another file, following
//!   goes back to that name.
//! - Otherwise the path given is looked up again. If it now names another file (another
//!   device and inode: the old file was renamed away and a new one created), or the same file
//!   shorter than what was read (truncated in place), the old file is read to its end and the
//!   new file from its start. If the path is missing for a while (between a rename and the
//!   creation of the next file), following waits for it to come back.
//!
//! The files of one process are read with one clock: each file's times come from the first
//! file's clock pair and its own, as `cat` does for a series ([`crate::input::series_clocks`]).
//!
//! A record still being written when the file has no more bytes is waited for, not counted as
//! a torn tail: the reader only reports a torn tail when the file was replaced. A frame whose
//! length was damaged near the end of the file is waited for only until a good frame is
//! written after it ([`logbuf_journal::file::FileReader::live`]): the frames written later are
//! printed as they come.
//!
//! Unix only: telling a replaced file from the one being read takes device and inode numbers.
//! Elsewhere [`run`] says so and returns [`Exit::Error`].

// Elsewhere only `run`'s refusal is compiled in.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use crate::cat::{Options, Source};
use crate::input::{Exit, damage_report, describe_io, journal_from, open_plain};
use crate::render::Renderer;
use logbuf_journal::wire::Clock;

/// How to follow.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Format and filter.
    pub cat: Options,
    /// How many of the events already in the file to print before following (like
    /// `tail -n`).
    pub backlog: usize,
    /// How long to wait before looking for new bytes again.
    pub poll: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            cat: Options::default(),
            backlog: 10,
            poll: Duration::from_millis(100),
        }
    }
}

/// Rendered lines on their way out. Until the file is first read to its end, lines go to a
/// backlog of the last few; after that, straight to the writer, flushed whenever the file has
/// no more bytes for now.
struct Output<'o> {
    out: &'o mut dyn Write,
    buf: Vec<u8>,
    backlog: Option<VecDeque<Vec<u8>>>,
    keep: usize,
    error: Option<io::Error>,
    /// The file of a stamped series to go on with, once the current one is finished.
    next: Option<PathBuf>,
}

impl Output<'_> {
    fn line(&mut self, render: impl FnOnce(&mut Vec<u8>)) {
        match &mut self.backlog {
            Some(lines) => {
                if self.keep == 0 {
                    return;
                }
                let mut line = if lines.len() >= self.keep {
                    lines.pop_front().unwrap_or_default()
                } else {
                    Vec::new()
                };
                line.clear();
                render(&mut line);
                lines.push_back(line);
            }
            None => {
                render(&mut self.buf);
                if self.buf.len() >= 1 << 16 {
                    self.flush();
                }
            }
        }
    }

    /// Writes what is waiting, ending the backlog phase.
    fn flush(&mut self) {
        if let Some(lines) = self.backlog.take() {
            for line in lines {
                self.buf.extend_from_slice(&line);
            }
        }
        if self.error.is_some() {
            self.buf.clear();
            return;
        }
        let result = self
            .out
            .write_all(&self.buf)
            .and_then(|()| self.out.flush());
        self.buf.clear();
        if let Err(e) = result {
            self.error = Some(e);
        }
    }
}

/// The identity of a file: device and inode.
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// A file that reads as if it never ended: at its end it waits for more bytes, and reports
/// the end only once the path names another file (rotation) or the file was truncated.
#[cfg(unix)]
struct Growing<'a, 'o> {
    file: File,
    /// The path it was opened by.
    path: PathBuf,
    /// Whether that is the path being followed (and not a file of its series found after it).
    via_watch: bool,
    /// The path being followed, when it is a stable name outside the series (a fixed current
    /// name or a symbolic link): where to go back to once the series is read to its end.
    stable: Option<&'a Path>,
    id: (u64, u64),
    pos: u64,
    poll: Duration,
    output: Rc<RefCell<Output<'o>>>,
    /// Stops following when the output is gone (a closed pipe) or, in tests, after a while.
    stop: &'a dyn Fn() -> bool,
}

#[cfg(unix)]
impl Read for Growing<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.pos += n as u64;
                return Ok(n);
            }
            // A later file of its series: the writer has moved on. Files renamed when rotated
            // are found under their new name.
            let name = current_name(&self.file).unwrap_or_else(|| self.path.clone());
            if let Some(next) = next_in_series(&name) {
                // Give the writer a moment to finish the old file.
                std::thread::sleep(self.poll);
                let n = self.file.read(buf)?;
                if n > 0 {
                    self.pos += n as u64;
                    return Ok(n);
                }
                self.output.borrow_mut().next = Some(next);
                return Ok(0);
            }
            let replaced = if self.via_watch {
                match std::fs::metadata(&self.path) {
                    Ok(meta) => identity(&meta) != self.id || meta.len() < self.pos,
                    Err(_) => false,
                }
            } else {
                // The last file of the series: go back to the stable name unless it names
                // this very file (a link to the newest file).
                self.stable
                    .and_then(|p| std::fs::metadata(p).ok())
                    .is_some_and(|meta| identity(&meta) != self.id)
            };
            if replaced {
                // Bytes written to the old file just before it was replaced.
                let n = self.file.read(buf)?;
                self.pos += n as u64;
                return Ok(n);
            }
            let failed = {
                let mut output = self.output.borrow_mut();
                output.flush();
                output.error.is_some()
            };
            if failed || (self.stop)() {
                return Ok(0);
            }
            std::thread::sleep(self.poll);
        }
    }
}

/// The path an open file has now (it may have been renamed since it was opened), where the
/// system says.
fn current_name(file: &File) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .ok()
            .filter(|p| p.is_absolute())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        None
    }
}

/// A file name of a stamped series split at the stamp: the base name, the stamp, the counter
/// (0 when there is none) and the extension. `app.2026-11-29T06.1.lbf` gives
/// `("app", "2026-11-29T06", 1, "lbf")`.
fn series_name(name: &str) -> Option<(&str, &str, u64, &str)> {
    let at = name
        .char_indices()
        .find(|&(i, c)| c == '.' && name[i + 1..].starts_with(|d: char| d.is_ascii_digit()))?
        .0;
    let (base, rest) = (&name[..at], &name[at + 1..]);
    let (middle, ext) = rest.rsplit_once('.')?;
    let (stamp, counter) = match middle.rsplit_once('.') {
        Some((stamp, counter))
            if !counter.is_empty() && counter.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (stamp, counter.parse().ok()?)
        }
        _ => (middle, 0),
    };
    // A date first (`2026-11-29`), so that numbered copies (`app.1.lbf`, older the higher the
    // number, as logrotate keeps them) are not taken for a series.
    let dated = stamp.len() >= 10
        && stamp.bytes().take(10).enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    (dated && !base.is_empty() && !ext.is_empty()).then_some((base, stamp, counter, ext))
}

/// The earliest file of `path`'s stamped series that comes after it, if there is one.
fn next_in_series(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let (base, stamp, counter, ext) = series_name(name)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut best: Option<((String, u64), PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let other = entry.file_name();
        let Some((b, s, c, e)) = other.to_str().and_then(series_name) else {
            continue;
        };
        if b != base || e != ext || (s, c) <= (stamp, counter) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|((bs, bc), _)| (s, c) < (bs.as_str(), *bc))
        {
            best = Some(((s.to_owned(), c), entry.path()));
        }
    }
    best.map(|(_, path)| path)
}

/// Waits for `path` to exist (it may be between a rename and the next file's creation) and
/// opens it; `None` when told to stop.
#[cfg(unix)]
fn open_when_there(
    path: &Path,
    poll: Duration,
    stop: &dyn Fn() -> bool,
) -> Option<io::Result<(File, (u64, u64))>> {
    loop {
        match File::open(path) {
            Ok(file) => {
                return Some(file.metadata().map(|meta| (file, identity(&meta))));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Some(Err(e)),
        }
        if stop() {
            return None;
        }
        std::thread::sleep(poll);
    }
}

/// Follows the journal at `path`, writing events to `out` as they come, until `stop` returns
/// true (checked whenever there is nothing new to read) or writing fails. The `logbuf`
/// command passes a `stop` that never fires; the process ends with a signal.
///
/// Returns the exit status: [`Exit::Error`] if the file is missing at the start or cannot be
/// read, [`Exit::NotAJournal`] if it is not a journal, [`Exit::Damaged`] if damage was
/// skipped; each with a line on `diagnostics`. On systems other than Unix it only writes
/// [`UNSUPPORTED`] there and returns [`Exit::Error`].
///
/// # Errors
///
/// Writing to `out` failed.
pub fn run(
    path: &Path,
    options: &FollowOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
    stop: &dyn Fn() -> bool,
) -> io::Result<Exit> {
    #[cfg(unix)]
    return follow(path, options, out, diagnostics, stop);
    #[cfg(not(unix))]
    {
        let _ = (path, options, out, stop);
        let _ = writeln!(diagnostics, "logbuf: {UNSUPPORTED}");
        Ok(Exit::Error)
    }
}

/// What `logbuf follow` says on systems where it cannot work.
pub const UNSUPPORTED: &str = "follow is not supported on this system: it tells a rotated or \
    replaced file from the one it reads by device and inode numbers, which only Unix systems \
    give; use `logbuf cat` on the files instead";

/// [`run`], on Unix.
#[cfg(unix)]
fn follow(
    path: &Path,
    options: &FollowOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
    stop: &dyn Fn() -> bool,
) -> io::Result<Exit> {
    // The first file must be there, and be a journal or empty (about to be written).
    let mut exit = Exit::Ok;
    match open_plain(path) {
        Ok(_) => {}
        Err(failure) if failure.exit == Exit::NotAJournal => {} // empty: wait for the header
        Err(failure) => {
            let _ = writeln!(diagnostics, "logbuf: {failure}");
            return Ok(failure.exit);
        }
    }
    let output = Rc::new(RefCell::new(Output {
        out,
        buf: Vec::with_capacity(1 << 16),
        backlog: Some(VecDeque::with_capacity(options.backlog.min(4096))),
        keep: options.backlog,
        error: None,
        next: None,
    }));
    let watch = path;
    let renderer = Renderer::new(options.cat.format, options.cat.details);
    // The first file's process and clock pair, to read later files of the same process with.
    let mut first_clock: Option<(u32, Clock)> = None;
    loop {
        // The next file of a series, when the last one ended there; else the path followed.
        let explicit = output.borrow_mut().next.take();
        let explicit = explicit.and_then(|p| {
            let file = File::open(&p).ok()?;
            let id = identity(&file.metadata().ok()?);
            Some((p, file, id))
        });
        let via_watch = explicit.is_none();
        let (path, opened) = match explicit {
            Some((p, file, id)) => (p, Some(Ok((file, id)))),
            None => (
                watch.to_path_buf(),
                open_when_there(watch, options.poll, stop),
            ),
        };
        let path = path.as_path();
        let (file, id) = match opened {
            None => break,
            Some(Ok(opened)) => opened,
            Some(Err(e)) => {
                let _ = writeln!(
                    diagnostics,
                    "logbuf: {}: {}",
                    path.display(),
                    describe_io(&e)
                );
                exit = exit.worst(Exit::Error);
                break;
            }
        };
        let growing = Growing {
            file,
            path: path.to_path_buf(),
            id,
            pos: 0,
            poll: options.poll,
            output: output.clone(),
            via_watch,
            stable: (watch
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(series_name)
                .is_none())
            .then_some(watch),
            stop,
        };
        // Live: a frame whose length was damaged near the end is waited for only until a
        // good frame is found after it, not until 16 MiB arrive.
        let journal = match journal_from(path, growing) {
            Ok(journal) => journal.live(),
            Err(failure) => {
                if stop() || output.borrow().error.is_some() {
                    break;
                }
                // The first file, or a replacement, that is not a journal ends following.
                let _ = writeln!(diagnostics, "logbuf: {failure}");
                exit = exit.worst(failure.exit);
                break;
            }
        };
        let (pid, own) = (journal.header().pid, journal.header().clock);
        let (_, first) = *first_clock.get_or_insert((pid, own));
        let clocks = match first_clock {
            Some((first_pid, _)) if first_pid == pid && first.ticks < own.ticks => {
                vec![first, own]
            }
            _ => vec![own],
        };
        let mut source = Source::with_clocks(path.to_path_buf(), journal, &clocks);
        let filter = &options.cat.filter;
        if let Some(format) = renderer.text_format() {
            source.keep_span_text(format);
        }
        let read = source.visit(|item, spans| {
            if filter.matches_item(item) {
                output
                    .borrow_mut()
                    .line(|buf| renderer.render_item(item, spans, buf));
            }
            false
        });
        if let Err(e) = read {
            crate::input::report_read_failure(path, &e, diagnostics, &mut exit);
        }
        if stop() {
            // The file ended only because following stopped: what is unread is not damage.
            break;
        }
        if let Some((line, damage)) = damage_report(path, source.stats(), source.orphans()) {
            let _ = writeln!(diagnostics, "logbuf: {line}");
            exit = exit.worst(damage);
        }
        if stop() || output.borrow().error.is_some() {
            break;
        }
    }
    let mut output = output.borrow_mut();
    output.flush();
    match output.error.take() {
        Some(e) => Err(e),
        None => Ok(exit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_names() {
        assert_eq!(
            series_name("app.2026-11-29T06.lbf"),
            Some(("app", "2026-11-29T06", 0, "lbf"))
        );
        assert_eq!(
            series_name("my.app.2026-11-29T06-34.12.lbf"),
            Some(("my.app", "2026-11-29T06-34", 12, "lbf"))
        );
        assert_eq!(series_name("app.lbf"), None);
        assert_eq!(
            series_name("app.2026-11-29.lbf.gz").map(|n| n.3),
            Some("gz")
        );
        assert_eq!(series_name("app.1.lbf"), None, "a numbered copy");
        assert_eq!(series_name("app.2026.lbf"), None);
        assert_eq!(series_name(".2026-11-29.lbf"), None);
    }

    #[test]
    fn next_in_a_series_goes_by_stamp_then_counter() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "app.2026-11-29T06.lbf",
            "app.2026-11-29T06.2.lbf",
            "app.2026-11-29T06.10.lbf",
            "app.2026-11-29T07.lbf",
            "app.2026-11-29T07.lbf.gz",
            "other.2026-11-29T08.lbf",
            "app.lbf",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let next = |name: &str| {
            next_in_series(&dir.path().join(name))
                .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        };
        assert_eq!(
            next("app.2026-11-29T06.lbf").as_deref(),
            Some("app.2026-11-29T06.2.lbf")
        );
        assert_eq!(
            next("app.2026-11-29T06.2.lbf").as_deref(),
            Some("app.2026-11-29T06.10.lbf")
        );
        assert_eq!(
            next("app.2026-11-29T06.10.lbf").as_deref(),
            Some("app.2026-11-29T07.lbf")
        );
        assert_eq!(next("app.2026-11-29T07.lbf"), None);
        assert_eq!(next("app.lbf"), None);
    }
}
