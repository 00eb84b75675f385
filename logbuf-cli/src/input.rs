//! Opening journal files with one-line errors, reporting damage, and the command's exit codes.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use logbuf_journal::file::{FileReader, OpenError, ReadStats};
use logbuf_journal::wire::{Clock, Record};

/// Bytes read from a file at a time.
pub const READ_BUFFER: usize = 1 << 18;

/// The command's exit status. When several things went wrong, the most severe one wins:
/// [`Exit::Error`], then [`Exit::NotAJournal`], then [`Exit::Damaged`].
///
/// ```
/// use logbuf_cli::Exit;
///
/// assert_eq!(Exit::Damaged.worst(Exit::NotAJournal), Exit::NotAJournal);
/// assert_eq!(Exit::Ok.worst(Exit::Damaged).code(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `0`: every file was read whole.
    Ok,
    /// `1`: bad arguments, or a file could not be read (missing, a directory, permissions, an
    /// I/O error), or output failed.
    Error,
    /// `2`: a file is not a logbuf journal (text, random bytes, an empty file) or is of a
    /// format version this reader does not read.
    NotAJournal,
    /// `3`: a journal was read, but damaged frames were skipped, its end was cut short, or its
    /// header was damaged. What could be decoded was written.
    Damaged,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::NotAJournal => 2,
            Exit::Damaged => 3,
        }
    }

    fn severity(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Damaged => 1,
            Exit::NotAJournal => 2,
            Exit::Error => 3,
        }
    }

    /// The more severe of the two.
    #[must_use]
    pub fn worst(self, other: Exit) -> Exit {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

/// A file that could not be opened as a journal: one line for the user, and the exit status.
#[derive(Debug)]
pub struct OpenFailure {
    /// The file.
    pub path: PathBuf,
    /// Why, in a few words.
    pub reason: String,
    /// The exit status this failure calls for.
    pub exit: Exit,
}

impl fmt::Display for OpenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for OpenFailure {}

/// A short description of an I/O error, without the OS error number.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_owned(),
                None => text,
            }
        }
    }
}

/// Checks that `path` is a non-empty regular file (or something readable that is not a
/// directory) and opens it.
///
/// # Errors
///
/// An [`OpenFailure`] naming the file: missing, a directory, empty, unreadable.
pub fn open_plain(path: &Path) -> Result<File, OpenFailure> {
    let fail = |reason: String, exit| OpenFailure {
        path: path.to_path_buf(),
        reason,
        exit,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(describe_io(&e), Exit::Error))?;
    if meta.is_dir() {
        return Err(fail("is a directory".to_owned(), Exit::Error));
    }
    if meta.is_file() && meta.len() == 0 {
        return Err(fail(
            "empty file, not a logbuf journal".to_owned(),
            Exit::NotAJournal,
        ));
    }
    File::open(path).map_err(|e| fail(describe_io(&e), Exit::Error))
}

/// Reads the preamble and header from `src`, turning [`OpenError`]s into one-line failures.
///
/// # Errors
///
/// An [`OpenFailure`] naming `path`.
pub fn journal_from<R: Read>(path: &Path, src: R) -> Result<FileReader<R>, OpenFailure> {
    FileReader::new(src).map_err(|e| {
        let (reason, exit) = match e {
            OpenError::Io(e) => (describe_io(&e), Exit::Error),
            OpenError::NotAJournal => (
                "not a logbuf journal (it does not start with the journal's magic bytes)"
                    .to_owned(),
                Exit::NotAJournal,
            ),
            e @ OpenError::UnsupportedVersion { .. } => (e.to_string(), Exit::NotAJournal),
            OpenError::BadHeader => (
                "journal header is damaged or cut short; nothing could be read".to_owned(),
                Exit::Damaged,
            ),
        };
        OpenFailure {
            path: path.to_path_buf(),
            reason,
            exit,
        }
    })
}

/// The path that stands for standard input.
pub const STDIN: &str = "-";

/// Bytes read from standard input so far (for `stats`, which cannot ask its size).
static STDIN_BYTES: AtomicU64 = AtomicU64::new(0);

/// Standard input, counting what it reads.
struct CountedStdin(io::Stdin);

impl Read for CountedStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        STDIN_BYTES.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The size of the input at `path`: the file's length, or for [`STDIN`] the bytes read from
/// it so far; 0 when unknown.
pub fn input_bytes(path: &Path) -> u64 {
    if path == Path::new(STDIN) {
        STDIN_BYTES.load(Ordering::Relaxed)
    } else {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }
}

/// Opens the journal file at `path` for reading, with a large read buffer; `-` ([`STDIN`])
/// reads standard input. A gzip-compressed journal (`.lbf.gz`, as `Rotation::compress`
/// leaves rotated files) is decompressed as it is read; a compressed stream that is corrupt
/// or cut short ends where the damage is, and [`damage_report`] reports it.
///
/// # Errors
///
/// An [`OpenFailure`] naming the file.
pub fn open_journal(path: &Path) -> Result<Journal, OpenFailure> {
    let fail = |e: io::Error| OpenFailure {
        path: path.to_path_buf(),
        reason: describe_io(&e),
        exit: Exit::Error,
    };
    let opened = if path == Path::new(STDIN) {
        let stdin = CountedStdin(io::stdin());
        journal_from(path, gunzipped(path, stdin).map_err(fail)?)
    } else {
        let file = open_plain(path)?;
        journal_from(path, gunzipped(path, file).map_err(fail)?)
    };
    opened.map_err(|failure| match compression_damage(path) {
        // The header could not be read because the compressed stream failed first.
        Some(why) => OpenFailure {
            path: path.to_path_buf(),
            reason: why,
            exit: Exit::Damaged,
        },
        None => failure,
    })
}

/// Compressed inputs whose gzip stream failed (corrupt, or cut short) while read, by path,
/// with the line that says so: [`damage_report`] reports it, so every subcommand says it and
/// exits with [`Exit::Damaged`]. An entry lasts until the path is opened again.
static COMPRESSION_DAMAGE: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

fn compression_damage_list() -> MutexGuard<'static, Vec<(PathBuf, String)>> {
    COMPRESSION_DAMAGE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// What went wrong with the compressed stream of `path`, if anything, since it was opened.
fn compression_damage(path: &Path) -> Option<String> {
    compression_damage_list()
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, why)| why.clone())
}

/// A gzip decoder whose stream errors (a corrupt or cut-short compressed file) end the input
/// where the damage is, as a clean end, and are kept for [`damage_report`]: the journal reader
/// yields every record before the damage, and counts a frame the damage cut as a torn tail.
/// Errors of the file beneath (an I/O error) pass through as they are.
struct GzipStream<R> {
    decoder: R,
    path: PathBuf,
    failed: bool,
}

impl<R: Read> Read for GzipStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(0);
        }
        match self.decoder.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidInput
                        | io::ErrorKind::InvalidData
                        | io::ErrorKind::UnexpectedEof
                ) =>
            {
                self.failed = true;
                compression_damage_list().push((
                    self.path.clone(),
                    format!(
                        "the compressed stream is damaged or cut short ({}); what came before \
                         it was read",
                        describe_io(&e)
                    ),
                ));
                Ok(0)
            }
            other => other,
        }
    }
}

/// The first bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `src`, decompressed on the fly if it is gzip (a rotated file compressed with
/// `Rotation::compress`, or `gzip`'s output): streaming, without a temporary file.
fn gunzipped<R: Read + Send + 'static>(path: &Path, src: R) -> io::Result<Box<dyn Read + Send>> {
    compression_damage_list().retain(|(p, _)| p != path);
    let mut src = BufReader::with_capacity(READ_BUFFER, src);
    if src.fill_buf()?.starts_with(&GZIP_MAGIC) {
        let decoder = GzipStream {
            decoder: flate2::read::MultiGzDecoder::new(src),
            path: path.to_path_buf(),
            failed: false,
        };
        return Ok(Box::new(BufReader::with_capacity(READ_BUFFER, decoder)));
    }
    Ok(Box::new(src))
}

/// Whether the file at `path` is gzip-compressed (read by [`open_journal`] through a decoder,
/// and so from its start only: no parallel reading).
pub fn is_gzip(path: &Path) -> bool {
    let mut head = [0; 2];
    File::open(path).is_ok_and(|mut f| f.read_exact(&mut head).is_ok() && head == GZIP_MAGIC)
}

/// A line describing what a reader skipped in `path`, and whether that is damage
/// ([`Exit::Damaged`]) or only records of a newer format version ([`Exit::Ok`]); `None` if the
/// file was read whole.
///
/// ```
/// use logbuf_cli::input::damage_report;
/// use logbuf_cli::Exit;
/// use logbuf_journal::file::ReadStats;
///
/// let stats = ReadStats { records: 10, torn_tail_bytes: 7, ..ReadStats::default() };
/// let (line, exit) = damage_report("app.lbf".as_ref(), &stats, 0).unwrap();
/// assert_eq!(line, "app.lbf: the last 7 bytes are a record cut short (torn tail), skipped");
/// assert_eq!(exit, Exit::Damaged);
/// ```
pub fn damage_report(path: &Path, stats: &ReadStats, orphans: u64) -> Option<(String, Exit)> {
    let mut parts = Vec::new();
    let mut exit = Exit::Ok;
    if let Some(why) = compression_damage(path) {
        parts.push(why);
        exit = Exit::Damaged;
    }
    if stats.damaged_regions > 0 {
        parts.push(format!(
            "skipped {} damaged region{} ({} bytes)",
            stats.damaged_regions,
            plural(stats.damaged_regions),
            stats.damaged_bytes
        ));
        exit = Exit::Damaged;
    }
    if stats.torn_tail_bytes > 0 {
        parts.push(format!(
            "the last {} bytes are a record cut short (torn tail), skipped",
            stats.torn_tail_bytes
        ));
        exit = Exit::Damaged;
    }
    if orphans > 0 {
        parts.push(format!(
            "skipped {orphans} event{} or span{} whose callsite definition is missing",
            plural(orphans),
            plural(orphans)
        ));
        exit = Exit::Damaged;
    }
    if stats.unknown_records > 0 {
        parts.push(format!(
            "skipped {} record{} of a kind this reader does not know (newer format)",
            stats.unknown_records,
            plural(stats.unknown_records)
        ));
    }
    if stats.undecodable_records > 0 {
        parts.push(format!(
            "skipped {} record{} that would not decode",
            stats.undecodable_records,
            plural(stats.undecodable_records)
        ));
    }
    (!parts.is_empty()).then(|| (format!("{}: {}", path.display(), parts.join("; ")), exit))
}

/// `"s"` unless `n` is one.
pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The clock pairs to read each file of a set with, so that files one process wrote (a
/// rotated series) share one tick rate and one anchor.
///
/// A file's header holds one pair of the journal's tick counter and the wall clock; a reader
/// that has only that pair (a rotated file read before its writer's next clock record) must
/// guess the tick rate. Files with the same writer process id share one tick counter, so the
/// earliest and the latest of their header pairs give the rate over the whole series, and
/// reading every file with those two pairs maps ticks to the same wall-clock times in every
/// file: events sort across files as they were written.
///
/// Returns, for each header `(pid, pair)` in `headers`, the pairs to start its context with:
/// its own pair alone when no other file has its process id, or when the pairs of that
/// process do not advance together (a process id reused after a reboot).
///
/// ```
/// use logbuf_cli::input::series_clocks;
/// use logbuf_journal::wire::Clock;
///
/// let pair = |ticks, unix_nanos| Clock { ticks, unix_nanos };
/// let clocks = series_clocks(&[(7, pair(5_000, 2_000)), (7, pair(1_000, 1_000)), (8, pair(9, 9))]);
/// assert_eq!(clocks[0], [pair(1_000, 1_000), pair(5_000, 2_000)]);
/// assert_eq!(clocks[1], [pair(1_000, 1_000), pair(5_000, 2_000)]);
/// assert_eq!(clocks[2], [pair(9, 9)]);
/// ```
pub fn series_clocks(headers: &[(u32, Clock)]) -> Vec<Vec<Clock>> {
    headers
        .iter()
        .map(|&(pid, own)| {
            let mut same: Vec<Clock> = headers
                .iter()
                .filter(|(p, _)| *p == pid)
                .map(|(_, c)| *c)
                .collect();
            same.sort_by_key(|c| (c.unix_nanos, c.ticks));
            let advancing = same.windows(2).all(|w| w[1].ticks >= w[0].ticks);
            match (same.first(), same.last()) {
                (Some(first), Some(last)) if advancing && first != last => vec![*first, *last],
                _ => vec![own],
            }
        })
        .collect()
}

/// A journal file opened for reading.
pub type Journal = FileReader<Box<dyn Read + Send>>;

/// Says on `diagnostics` that reading `path` failed with `e`, and makes `exit` an error.
pub fn report_read_failure(
    path: &Path,
    e: &io::Error,
    diagnostics: &mut dyn std::io::Write,
    exit: &mut Exit,
) {
    let _ = writeln!(
        diagnostics,
        "logbuf: {}: read failed: {}",
        path.display(),
        describe_io(e)
    );
    *exit = exit.worst(Exit::Error);
}

/// The next record of `file` (named `path`); `None` at its end and after a read failure,
/// which [`report_read_failure`] reports.
pub fn next_record<'f, R: Read>(
    file: &'f mut FileReader<R>,
    path: &Path,
    diagnostics: &mut dyn std::io::Write,
    exit: &mut Exit,
) -> Option<Record<'f>> {
    match file.next_record()? {
        Ok(record) => Some(record),
        Err(e) => {
            report_read_failure(path, &e, diagnostics, exit);
            None
        }
    }
}

/// [`open_all`], each file with the clock pairs it is read with as part of one series
/// ([`series_clocks`]).
pub fn open_series(
    paths: &[PathBuf],
    diagnostics: &mut dyn std::io::Write,
) -> (Vec<(PathBuf, Journal, Vec<Clock>)>, Exit) {
    let (files, exit) = open_all(paths, diagnostics);
    let headers: Vec<_> = files
        .iter()
        .map(|(_, f)| (f.header().pid, f.header().clock))
        .collect();
    let files = files
        .into_iter()
        .zip(series_clocks(&headers))
        .map(|((path, file), clocks)| (path, file, clocks))
        .collect();
    (files, exit)
}

/// Opens every journal in `paths`, in order, each file once: a path that names a file already
/// listed (a "current" symbolic link beside the file it points to, a name given twice) is
/// left out. Files that cannot be opened get one line each on `diagnostics`; the exit status
/// says the worst.
pub fn open_all(
    paths: &[PathBuf],
    diagnostics: &mut dyn std::io::Write,
) -> (Vec<(PathBuf, Journal)>, Exit) {
    let mut exit = Exit::Ok;
    let mut seen = std::collections::HashSet::new();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        if let Ok(meta) = std::fs::metadata(path)
            && meta.is_file()
            && !seen.insert(file_key(path, &meta))
        {
            continue;
        }
        match open_journal(path) {
            Ok(file) => files.push((path.clone(), file)),
            Err(failure) => {
                let _ = writeln!(diagnostics, "logbuf: {failure}");
                exit = exit.worst(failure.exit);
            }
        }
    }
    (files, exit)
}

/// What two names of one file have in common: the device and inode.
#[cfg(unix)]
fn file_key(_path: &Path, meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// What two names of one file have in common, where there are no inode numbers: the canonical
/// path (symbolic links resolved; two hard links to one file are not recognised).
#[cfg(not(unix))]
fn file_key(path: &Path, _meta: &std::fs::Metadata) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
