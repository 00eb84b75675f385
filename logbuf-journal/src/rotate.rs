//! File rotation by size and by time, with retention and compression.
//!
//! A [`RotatingFile`] writes a series of files named after a base path and the start of the
//! period each one covers, and moves on to a new file when the period ends or the file would
//! grow past a size limit. [`Rotation`] says when and how:
//!
//! | setting | meaning |
//! |---|---|
//! | [`Rotation::minutely`], [`hourly`](Rotation::hourly), [`daily`](Rotation::daily) | a new file when the wall-clock minute, hour or day changes |
//! | [`Rotation::max_size`] (or [`Rotation::size`] alone) | a new file before one would pass this many bytes |
//! | [`Rotation::time_zone`], [`Rotation::local`] | the zone the periods are counted in; UTC by default |
//! | [`Rotation::keep_files`] | keep this many rotated files, delete the oldest others |
//! | [`Rotation::max_age`] | delete rotated files whose records are all older than this |
//! | [`Rotation::compress`] | gzip rotated files on a background thread |
//! | [`Rotation::current`] | how the file being written can be found under a stable name |
//! | [`Rotation::clock`] | where "now" comes from (tests use a [`ManualClock`]) |
//!
//! ```
//! use logbuf_journal::rotate::{ManualClock, Rotation, RotatingFile};
//! use std::io::Write;
//!
//! let dir = tempfile::tempdir()?;
//! let clock = ManualClock::new("2026-11-29T06:59:00Z".parse()?);
//! let rotation = Rotation::hourly().keep_files(24).clock(clock.clone());
//! let mut file = RotatingFile::new(dir.path().join("app.log"), rotation)?;
//!
//! file.write_all(b"first hour\n")?;
//! clock.advance(chrono::TimeDelta::minutes(1));
//! file.write_all(b"second hour\n")?;
//! file.flush()?;
//!
//! assert_eq!(std::fs::read(dir.path().join("app.2026-11-29T06.log"))?, b"first hour\n");
//! assert_eq!(std::fs::read(dir.path().join("app.2026-11-29T07.log"))?, b"second hour\n");
//! # #[cfg(unix)]
//! // `app.log` is a symbolic link to the file being written.
//! assert_eq!(std::fs::read(dir.path().join("app.log"))?, b"second hour\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # File names
//!
//! The base path `logs/app.log` gives `logs/app.<stamp>.log`, where the stamp is the start of
//! the period in the rotation's time zone: `2026-11-29T06-34` (minutely), `2026-11-29T06`
//! (hourly), `2026-11-29` (daily), or the second the file was started when rotating by size
//! only (`2026-11-29T06-34-12`). Names never collide: a file is only ever created new, and when
//! its name is taken (a second file in the same period after a size rotation, the hour that
//! repeats when daylight saving time ends, a process started again within the period, a clock
//! set back) it gets a counter, `app.2026-11-29T06.1.log`, one above the highest counter of
//! that stamp. Files sort by stamp, then counter, oldest first; the one exception is the hour
//! repeated when daylight saving time ends with minutely files, whose names sort by local
//! minute, so the files of its two passes interleave.
//!
//! # Time zones and daylight saving time
//!
//! The minutely and hourly periods change when the local time or the UTC offset changes, so the
//! hour repeated in the autumn is a period of its own (with a counter in its name) and the hour
//! skipped in the spring has no file. The daily period changes when the local date changes,
//! whatever the offset. The period is checked when "now" passes a whole UTC minute, which is
//! exact for every zone whose offsets are whole minutes (all zones since 1972). With the system
//! clock, the time until that minute is measured with the journal's tick counter, which costs
//! less than reading the wall clock at every write; a wall clock set forward or back is seen
//! at the next look, at most a minute later.
//!
//! # The current name
//!
//! [`Current::Link`] (the default on Unix) keeps a symbolic link at the base path that points to
//! the file being written, replaced atomically at each rotation, so `tail -F logs/app.log`
//! follows the log. [`Current::Fixed`] writes the active file at the base path itself and
//! renames it to its stamped name when it is rotated (the scheme of `logrotate`, and the choice
//! where symbolic links are not available). [`Current::None`] only writes stamped files.
//!
//! # Retention and compression
//!
//! Retention only ever deletes rotated files of this series: names made of the base name, a
//! stamp of this rotation's kind, an optional counter, the extension and an optional `.gz`.
//! The file being written is never deleted. Compression writes `<name>.gz.part`, syncs it,
//! renames it to `<name>.gz` and only then removes the original. A rotated file is synced (or
//! compressed) and retention applied on a background thread, so the writer never waits for
//! the disk when it rotates; retention also runs once at start. [`RotatingFile::wait_idle`]
//! waits for that work and dropping the file finishes it.
//!
//! # Records and errors
//!
//! Rotation happens between records, and is decided when bytes arrive. Through
//! [`io::Write`], a file is only rotated when the bytes written so far end with a newline, so
//! a line written in several pieces is never split; a sink that buffers lines itself hands
//! over whole lines, and the size limit and the period then apply to what it hands over (the
//! file buffers on its own: no `BufWriter` is needed in front of it). The size limit counts
//! whole records: a file is rotated before a record that would take it past the limit,
//! unless the file holds no record yet. A rotation loses nothing when it fails: if the new
//! file cannot be made, the directory is made again (it may have been removed) and the file
//! tried once more; if that fails too (a name taken by a directory, no file descriptors left),
//! the bytes go to the file already open, the rotation is tried again [`ROTATE_RETRY`] later
//! (not on every write), and the error is returned from the next
//! [`flush`](io::Write::flush), as are errors of the background thread and of the link.
//! [`RotatingFile::rotate`] and [`RotatingFile::reopen`] return their error themselves.
//!
//! # With the journal's sinks
//!
//! - Binary files: [`BinaryFileSink::rotating`](crate::sink::BinaryFileSink::rotating). Each
//!   file starts with the header, every callsite and thread name seen so far and the spans
//!   still open, so it decodes on its own.
//! - Text: `TextSink::new(RotatingFile::new(path, rotation)?)`, and the same for any sink that
//!   takes an [`io::Write`].

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc};

use crate::journal::lock;

// === clocks ===

/// Where a [`RotatingFile`] gets "now" from.
///
/// Implemented by [`SystemClock`], [`ManualClock`] and any `Fn() -> DateTime<Utc>`.
pub trait Clock: Send + Sync + 'static {
    /// The time now.
    fn now(&self) -> DateTime<Utc>;
}

impl<F> Clock for F
where
    F: Fn() -> DateTime<Utc> + Send + Sync + 'static,
{
    fn now(&self) -> DateTime<Utc> {
        self()
    }
}

/// The system's wall clock; the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, for tests. Clones share the same time.
///
/// ```
/// use logbuf_journal::rotate::{Clock, ManualClock};
///
/// let clock = ManualClock::new("2026-03-08T06:59:30Z".parse()?);
/// let other = clock.clone();
/// other.advance(chrono::TimeDelta::seconds(30));
/// assert_eq!(clock.now().to_rfc3339(), "2026-03-08T07:00:00+00:00");
/// # Ok::<(), chrono::ParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            nanos: Arc::new(AtomicI64::new(nanos_of(at))),
        }
    }

    /// Sets the time.
    pub fn set(&self, at: DateTime<Utc>) {
        self.nanos.store(nanos_of(at), Ordering::Relaxed);
    }

    /// Moves the time by `by` (backwards when negative).
    pub fn advance(&self, by: TimeDelta) {
        let by = by.num_nanoseconds().unwrap_or(i64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(by))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

fn nanos_of(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

// === time zones ===

/// A [`TimeZone`] with its type erased.
trait Zone: Send + Sync {
    /// Local time and UTC offset (seconds) at `t`.
    fn local(&self, t: DateTime<Utc>) -> (NaiveDateTime, i32);
    /// The first instant whose local time is `local` (or, in a gap, the end of the gap).
    fn earliest(&self, local: NaiveDateTime) -> Option<DateTime<Utc>>;
}

struct ZoneOf<Tz>(Tz);

impl<Tz: TimeZone + Send + Sync> Zone for ZoneOf<Tz> {
    fn local(&self, t: DateTime<Utc>) -> (NaiveDateTime, i32) {
        let local = t.with_timezone(&self.0);
        (local.naive_local(), local.offset().fix().local_minus_utc())
    }

    fn earliest(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        // Step out of a gap (spring forward) a minute at a time; gaps are at most a day.
        let mut at = local;
        for _ in 0..=24 * 60 {
            if let Some(t) = self.0.from_local_datetime(&at).earliest() {
                return Some(t.with_timezone(&Utc));
            }
            at = at.checked_add_signed(TimeDelta::minutes(1))?;
        }
        None
    }
}

// === settings ===

/// The length of a rotation period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// A new file every minute.
    Minutely,
    /// A new file every hour.
    Hourly,
    /// A new file every day.
    Daily,
}

/// How the file being written can be found under the base path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Current {
    /// A symbolic link at the base path points to the active file (stamped like the others).
    /// Where symbolic links are not supported (outside Unix) this is [`Current::None`].
    #[cfg_attr(unix, default)]
    Link,
    /// The active file is the base path itself; it gets its stamped name when rotated.
    Fixed,
    /// Only stamped files; nothing at the base path.
    #[cfg_attr(not(unix), default)]
    None,
}

/// When to rotate, what to keep, and how: see the [module docs](self).
#[derive(Clone)]
pub struct Rotation {
    period: Option<Period>,
    max_size: Option<u64>,
    zone: Arc<dyn Zone>,
    clock: Arc<dyn Clock>,
    /// The clock is [`SystemClock`]: between looks at it, the tick counter measures time.
    system_clock: bool,
    keep_files: Option<usize>,
    max_age: Option<Duration>,
    compress: bool,
    current: Current,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("period", &self.period)
            .field("max_size", &self.max_size)
            .field("keep_files", &self.keep_files)
            .field("max_age", &self.max_age)
            .field("compress", &self.compress)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Rotation {
    fn with_period(period: Option<Period>) -> Self {
        Self {
            period,
            max_size: None,
            zone: Arc::new(ZoneOf(Utc)),
            clock: Arc::new(SystemClock),
            system_clock: true,
            keep_files: None,
            max_age: None,
            compress: false,
            current: Current::default(),
        }
    }

    /// One file, never rotated (until [`RotatingFile::rotate`] or a reopen); settings can
    /// still add a size limit.
    pub fn never() -> Self {
        Self::with_period(None)
    }

    /// A new file every minute.
    pub fn minutely() -> Self {
        Self::with_period(Some(Period::Minutely))
    }

    /// A new file every hour.
    pub fn hourly() -> Self {
        Self::with_period(Some(Period::Hourly))
    }

    /// A new file every day.
    pub fn daily() -> Self {
        Self::with_period(Some(Period::Daily))
    }

    /// A new file before one would grow past `bytes`, and no time period.
    pub fn size(bytes: u64) -> Self {
        Self::never().max_size(bytes)
    }

    /// Adds a size limit to the period: a new file before one would grow past `bytes`. A file
    /// holds at least one record, so a record longer than the limit gets a file of its own.
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Counts periods, and stamps file names, in `zone` (for example a `chrono_tz::Tz`).
    pub fn time_zone<Tz>(mut self, zone: Tz) -> Self
    where
        Tz: TimeZone + Send + Sync + 'static,
    {
        self.zone = Arc::new(ZoneOf(zone));
        self
    }

    /// Counts periods in the system's local time zone.
    pub fn local(self) -> Self {
        self.time_zone(chrono::Local)
    }

    /// Takes "now" from `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self.system_clock = false;
        self
    }

    /// Keeps the `n` most recent rotated files (besides the active one) and deletes older ones.
    pub fn keep_files(mut self, n: usize) -> Self {
        self.keep_files = Some(n);
        self
    }

    /// Deletes rotated files whose records are all older than `age`: a file's records end
    /// where the next period in the series starts (the next later stamp among the files, or
    /// the active file's).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Compresses rotated files with gzip on a background thread (`.gz` appended).
    pub fn compress(mut self, yes: bool) -> Self {
        self.compress = yes;
        self
    }

    /// How the active file is found under the base path; see [`Current`].
    pub fn current(mut self, current: Current) -> Self {
        self.current = current;
        self
    }

    /// The stamp format of this rotation's file names.
    fn stamp(&self) -> Stamp {
        match self.period {
            Some(Period::Minutely) => Stamp::Minute,
            Some(Period::Hourly) => Stamp::Hour,
            Some(Period::Daily) => Stamp::Day,
            None => Stamp::Second,
        }
    }

    /// The period `now` falls in: its local start and (for periods under a day) its offset.
    fn key(&self, now: DateTime<Utc>) -> Key {
        let (local, offset) = self.zone.local(now);
        let start = match self.period {
            Some(Period::Minutely) => local.with_second(0).and_then(|t| t.with_nanosecond(0)),
            Some(Period::Hourly) => local
                .with_minute(0)
                .and_then(|t| t.with_second(0))
                .and_then(|t| t.with_nanosecond(0)),
            Some(Period::Daily) => Some(local.date().and_time(chrono::NaiveTime::MIN)),
            None => local.with_nanosecond(0),
        }
        .unwrap_or(local);
        let offset = match self.period {
            Some(Period::Minutely | Period::Hourly) => offset,
            _ => 0,
        };
        Key { start, offset }
    }
}

/// A period: its local start and the UTC offset it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    start: NaiveDateTime,
    offset: i32,
}

/// The stamp kinds of file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Minute,
    Hour,
    Day,
    Second,
}

impl Stamp {
    fn format(self, t: NaiveDateTime) -> String {
        let f = match self {
            Stamp::Minute => "%Y-%m-%dT%H-%M",
            Stamp::Hour => "%Y-%m-%dT%H",
            Stamp::Day => "%Y-%m-%d",
            Stamp::Second => "%Y-%m-%dT%H-%M-%S",
        };
        t.format(f).to_string()
    }

    fn len(self) -> usize {
        match self {
            Stamp::Minute => 16,
            Stamp::Hour => 13,
            Stamp::Day => 10,
            Stamp::Second => 19,
        }
    }

    /// Reads a stamp of this kind back; `None` for anything else.
    fn parse(self, s: &str) -> Option<NaiveDateTime> {
        let b = s.as_bytes();
        // ASCII only: the slices below then fall on character boundaries.
        if b.len() != self.len() || !s.is_ascii() {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<u32> {
            let digits = &s[from..to];
            digits
                .bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| digits.parse().ok())
                .flatten()
        };
        let sep = |at: usize, c: u8| b.get(at) == Some(&c);
        if !(sep(4, b'-') && sep(7, b'-')) {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
        let (mut h, mut m, mut sec) = (0, 0, 0);
        if b.len() > 10 {
            if !sep(10, b'T') {
                return None;
            }
            h = num(11, 13)?;
        }
        if b.len() > 13 {
            if !sep(13, b'-') {
                return None;
            }
            m = num(14, 16)?;
        }
        if b.len() > 16 {
            if !sep(16, b'-') {
                return None;
            }
            sec = num(17, 19)?;
        }
        date.and_hms_opt(h, m, sec)
    }
}

// === the series of files ===

/// The names of one series of files.
#[derive(Debug)]
struct Series {
    dir: PathBuf,
    base: PathBuf,
    stem: String,
    ext: Option<String>,
    stamp: Stamp,
}

/// A file of the series found on disk.
#[derive(Debug, Clone)]
struct Member {
    time: NaiveDateTime,
    counter: u64,
    /// The uncompressed name's path (which may exist only compressed).
    path: PathBuf,
}

impl Series {
    fn new(base: &Path, stamp: Stamp) -> io::Result<Self> {
        let name = base
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "rotating file base {} needs a UTF-8 file name",
                        base.display()
                    ),
                )
            })?;
        let (stem, ext) = match name.rfind('.') {
            Some(dot) if dot > 0 => (&name[..dot], Some(name[dot + 1..].to_owned())),
            _ => (name, None),
        };
        let dir = base
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(Self {
            dir,
            base: base.to_path_buf(),
            stem: stem.to_owned(),
            ext,
            stamp,
        })
    }

    fn path(&self, stamp: &str, counter: u64) -> PathBuf {
        let mut name = format!("{}.{stamp}", self.stem);
        if counter > 0 {
            name.push_str(&format!(".{counter}"));
        }
        if let Some(ext) = &self.ext {
            name.push('.');
            name.push_str(ext);
        }
        self.dir.join(name)
    }

    /// Reads a file name of the series: stamp time, counter, whether compressed.
    fn parse(&self, name: &str) -> Option<(NaiveDateTime, u64, bool)> {
        let rest = name.strip_prefix(&self.stem)?.strip_prefix('.')?;
        let (rest, gz) = match rest.strip_suffix(".gz") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let mid = match &self.ext {
            Some(ext) => rest.strip_suffix(ext.as_str())?.strip_suffix('.')?,
            None => rest,
        };
        let len = self.stamp.len();
        let time = self.stamp.parse(mid.get(..len)?)?;
        let counter = match &mid[len..] {
            "" => 0,
            tail => {
                let digits = tail.strip_prefix('.')?;
                if digits.is_empty()
                    || digits.starts_with('0')
                    || !digits.bytes().all(|c| c.is_ascii_digit())
                {
                    return None;
                }
                digits.parse().ok()?
            }
        };
        Some((time, counter, gz))
    }

    /// The files of the series, oldest first; a file and its compressed copy count once.
    fn members(&self) -> io::Result<Vec<Member>> {
        let mut members: Vec<Member> = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some((time, counter, _)) = name.to_str().and_then(|n| self.parse(n)) else {
                continue;
            };
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            if !members
                .iter()
                .any(|m| m.time == time && m.counter == counter)
            {
                members.push(Member {
                    time,
                    counter,
                    path: self.path(&self.stamp.format(time), counter),
                });
            }
        }
        members.sort_by_key(|m| (m.time, m.counter));
        Ok(members)
    }

    /// Creates a new file for `stamp`: the stamped name if no file of that stamp exists,
    /// otherwise a counter one above the highest.
    fn create(&self, stamp: &str) -> io::Result<(PathBuf, File)> {
        let mut counter = self.next_counter(stamp)?;
        loop {
            let path = self.path(stamp, counter);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((path, file)),
                // Made by someone else since the directory was read.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => counter += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Gives an existing file a free stamped name; returns the new path.
    fn rename_to_stamped(&self, from: &Path, stamp: &str) -> io::Result<PathBuf> {
        let mut counter = self.next_counter(stamp)?;
        loop {
            let to = self.path(stamp, counter);
            let taken = to.symlink_metadata().is_ok() || gz_path(&to).symlink_metadata().is_ok();
            if !taken {
                fs::rename(from, &to)?;
                return Ok(to);
            }
            counter += 1;
        }
    }

    fn next_counter(&self, stamp: &str) -> io::Result<u64> {
        let Some(time) = self.stamp.parse(stamp) else {
            return Ok(0);
        };
        let mut next = 0;
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if let Some((t, counter, _)) = name.to_str().and_then(|n| self.parse(n))
                && t == time
            {
                next = next.max(counter + 1);
            }
        }
        Ok(next)
    }
}

fn gz_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

// === the rotating file ===

/// A file that rotates by time and size as [`Rotation`] says; see the [module docs](self).
///
/// Implements [`io::Write`], so a line-oriented sink can write to it; the binary file sink
/// uses it through [`BinaryFileSink::rotating`](crate::sink::BinaryFileSink::rotating).
pub struct RotatingFile {
    series: Arc<Series>,
    rotation: Rotation,
    active: Active,
    /// Shared with the background thread, so retention never deletes the active file.
    shared: Arc<Mutex<ActiveInfo>>,
    /// Unix nanoseconds at which to look at the period again (the next whole UTC minute).
    next_check: i64,
    /// With the system clock, the tick counter at the last look and the nanoseconds from
    /// there to `next_check`: reading it costs less than reading the wall clock.
    look: (u64, u64),
    /// A rotation failed and is tried again on the next write.
    pending: bool,
    /// After a failed rotation, no other is tried before this (see [`ROTATE_RETRY`]).
    retry_at: Option<std::time::Instant>,
    /// Rotate at line starts in `write` (text); off when the caller says where records end.
    line_mode: bool,
    at_line_start: bool,
    /// Errors found off the write path, returned from the next flush.
    errors: Arc<Mutex<Option<io::Error>>>,
    background: Background,
}

/// The file being written.
#[derive(Debug)]
struct Active {
    path: PathBuf,
    out: BufWriter<File>,
    key: Key,
    stamp: String,
    bytes: u64,
    /// Bytes written before the first record (a binary file's header and definitions).
    preamble: u64,
}

#[derive(Debug)]
struct ActiveInfo {
    path: PathBuf,
    start: NaiveDateTime,
}

impl fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingFile")
            .field("base", &self.series.base)
            .field("active", &self.active.path)
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

impl RotatingFile {
    /// Starts the series at `base` (creating its directory if needed) with a new file for the
    /// current period, and the background thread that syncs, compresses and deletes rotated
    /// files.
    ///
    /// # Errors
    ///
    /// If `base` has no UTF-8 file name, or the directory, the file, the link or the thread
    /// cannot be made.
    pub fn new(base: impl AsRef<Path>, rotation: Rotation) -> io::Result<Self> {
        Self::with_mode(base.as_ref(), rotation, true)
    }

    /// A rotating file that rotates only when its owner asks ([`RotatingFile::rotate_if_due`]).
    pub(crate) fn for_records(base: &Path, rotation: Rotation) -> io::Result<Self> {
        Self::with_mode(base, rotation, false)
    }

    fn with_mode(base: &Path, rotation: Rotation, line_mode: bool) -> io::Result<Self> {
        let series = Arc::new(Series::new(base, rotation.stamp())?);
        fs::create_dir_all(&series.dir)?;
        let errors = Arc::new(Mutex::new(None));
        let now = rotation.clock.now();
        let key = rotation.key(now);
        let shared = Arc::new(Mutex::new(ActiveInfo {
            path: base.to_path_buf(),
            start: key.start,
        }));
        let background = Background::start(
            series.clone(),
            rotation.clone(),
            shared.clone(),
            errors.clone(),
        )?;
        // A file left at the base path by an earlier run becomes a rotated file.
        let moved = Self::move_aside(&series, &rotation, None)?;
        let active = Self::open(&series, &rotation, &shared, key)?;
        if let Some(moved) = moved {
            background.send(Job::Retire(moved));
        }
        background.send(Job::Prune(now));
        let mut file = Self {
            series,
            rotation,
            active,
            shared,
            next_check: 0,
            look: (0, 0),
            pending: false,
            retry_at: None,
            line_mode,
            at_line_start: true,
            errors,
            background,
        };
        file.schedule(now);
        file.link();
        Ok(file)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.active.path
    }

    /// The base path the series is named after.
    pub fn base(&self) -> &Path {
        &self.series.base
    }

    /// Starts a new file now, whatever the rotation says.
    ///
    /// # Errors
    ///
    /// If the new file cannot be made; the file is then rotated on the next write.
    pub fn rotate(&mut self) -> io::Result<()> {
        let now = self.rotation.clock.now();
        self.rotate_at(now)
    }

    /// Closes the active file and starts a new one, as after `logrotate` moved files away.
    /// With [`Current::Fixed`], a file still at the base path is rotated (renamed) first;
    /// otherwise the new file is a new stamped file (with a counter if its name is taken).
    ///
    /// # Errors
    ///
    /// As [`RotatingFile::rotate`].
    pub fn reopen(&mut self) -> io::Result<()> {
        self.rotate()
    }

    /// Flushes and asks the operating system to put the active file's data on disk.
    ///
    /// # Errors
    ///
    /// An I/O error.
    pub fn sync_data(&mut self) -> io::Result<()> {
        self.active.out.flush()?;
        self.active.out.get_ref().sync_data()
    }

    /// Waits until the background thread has done the compression and retention asked of it
    /// so far.
    ///
    /// # Errors
    ///
    /// The latest error the background thread met since the last flush.
    pub fn wait_idle(&mut self) -> io::Result<()> {
        let (tx, rx) = mpsc::channel();
        self.background.send(Job::Barrier(tx));
        let _ = rx.recv();
        self.take_error()
    }

    /// Rotates if a new period has started, or if `incoming` more bytes would take the file
    /// past the size limit. Returns whether a new file was started.
    pub(crate) fn rotate_if_due(&mut self, incoming: u64) -> io::Result<bool> {
        match self.rotation_due(0, incoming) {
            Some(now) => {
                self.rotate_at(now)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether [`RotatingFile::rotate_if_due`] would rotate, and if so the time to pass to
    /// [`RotatingFile::rotate_at`]: for a writer that holds `pending` bytes for the active file
    /// (written before rotating) and has `incoming` more.
    pub(crate) fn rotation_due(&mut self, pending: u64, incoming: u64) -> Option<DateTime<Utc>> {
        if self
            .retry_at
            .is_some_and(|at| std::time::Instant::now() < at)
        {
            // A rotation failed a moment ago: the current file takes the records meanwhile.
            return None;
        }
        let size_due = self.pending
            || self.rotation.max_size.is_some_and(|max| {
                (self.active.bytes > self.active.preamble || pending > 0)
                    && self
                        .active
                        .bytes
                        .saturating_add(pending)
                        .saturating_add(incoming)
                        > max
            });
        if !size_due && !self.time_to_look() {
            return None;
        }
        let now = self.rotation.clock.now();
        (size_due || self.period_changed(now)).then_some(now)
    }

    /// Marks everything written so far as the file's preamble, which the size limit does
    /// not count as records.
    pub(crate) fn mark_preamble(&mut self) {
        self.active.preamble = self.active.bytes;
    }

    /// Asks for a rotation on the next [`RotatingFile::rotate_if_due`].
    pub(crate) fn rotate_next(&mut self) {
        self.pending = true;
    }

    /// Whether the clock may have passed the next look: always with an injected clock; with
    /// the system clock, once the tick counter says so.
    fn time_to_look(&self) -> bool {
        if self.rotation.period.is_none() {
            return false;
        }
        if !self.rotation.system_clock {
            return true;
        }
        let ticks = crate::clock::global();
        ticks.nanos_between(self.look.0, ticks.now()) >= self.look.1
    }

    /// Looks at the period `now` falls in; true when it is not the active file's.
    fn period_changed(&mut self, now: DateTime<Utc>) -> bool {
        let t = nanos_of(now);
        // Also look when the clock went back past the last look.
        if t >= self.next_check || t < self.next_check.saturating_sub(60_000_000_000) {
            self.schedule(now);
            return self.rotation.key(now) != self.active.key;
        }
        false
    }

    /// Sets the next look at the period: the next whole UTC minute after `now`.
    fn schedule(&mut self, now: DateTime<Utc>) {
        self.next_check = next_minute(now);
        let wait = self.next_check.saturating_sub(nanos_of(now)).max(0);
        self.look = (crate::clock::global().now(), wait as u64);
    }

    /// Rotates now. If the new file cannot be made, the directory is made again (it may have
    /// been removed) and the file tried once more; if that fails too, the current file stays
    /// the one written, and no rotation is tried for [`ROTATE_RETRY`].
    pub(crate) fn rotate_at(&mut self, now: DateTime<Utc>) -> io::Result<()> {
        let result = self.try_rotate_at(now);
        self.retry_at = match result {
            Ok(()) => None,
            Err(_) => Some(std::time::Instant::now() + ROTATE_RETRY),
        };
        result
    }

    fn try_rotate_at(&mut self, now: DateTime<Utc>) -> io::Result<()> {
        self.pending = true;
        // Written to the operating system here; synced (or compressed) in the background.
        self.active.out.flush()?;
        let key = self.rotation.key(now);
        let mut retired = None;
        if self.rotation.current == Current::Fixed {
            let stamp = self.active.stamp.clone();
            if let Some(moved) = Self::move_aside(&self.series, &self.rotation, Some(&stamp))? {
                if self.active.path == self.series.base {
                    self.active.path.clone_from(&moved);
                }
                retired = Some(moved);
            } else if self.active.path != self.series.base && self.active.path.exists() {
                // Renamed by an earlier attempt whose new file could not be made.
                retired = Some(self.active.path.clone());
            }
        } else if self.active.path.exists() {
            retired = Some(self.active.path.clone());
        }
        let active = match Self::open(&self.series, &self.rotation, &self.shared, key) {
            Ok(active) => active,
            Err(_) => {
                // The directory may be gone (removed by hand, a cleanup job): make it again.
                fs::create_dir_all(&self.series.dir)?;
                Self::open(&self.series, &self.rotation, &self.shared, key)?
            }
        };
        self.active = active;
        self.pending = false;
        self.schedule(now);
        self.at_line_start = true;
        self.link();
        if let Some(old) = retired {
            self.background.send(Job::Retire(old));
        }
        self.background.send(Job::Prune(now));
        Ok(())
    }

    /// With [`Current::Fixed`] or [`Current::Link`], renames a regular file at the base path
    /// to a stamped name: `stamp`, or the period of its modification time. Returns the new
    /// path.
    fn move_aside(
        series: &Series,
        rotation: &Rotation,
        stamp: Option<&str>,
    ) -> io::Result<Option<PathBuf>> {
        if rotation.current == Current::None {
            return Ok(None);
        }
        let meta = match series.base.symlink_metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !meta.is_file() {
            return Ok(None);
        }
        let stamp = match stamp {
            Some(s) => s.to_owned(),
            None => {
                let when = meta
                    .modified()
                    .map(DateTime::<Utc>::from)
                    .unwrap_or_else(|_| rotation.clock.now());
                series.stamp.format(rotation.key(when).start)
            }
        };
        series.rename_to_stamped(&series.base, &stamp).map(Some)
    }

    fn open(
        series: &Series,
        rotation: &Rotation,
        shared: &Mutex<ActiveInfo>,
        key: Key,
    ) -> io::Result<Active> {
        let stamp = series.stamp.format(key.start);
        // Retention reads the active path under this lock: it never sees the new file
        // before it is known as the active one.
        let mut info = lock(shared);
        let (path, file) = if rotation.current == Current::Fixed {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&series.base)?;
            (series.base.clone(), file)
        } else {
            series.create(&stamp)?
        };
        info.path.clone_from(&path);
        info.start = key.start;
        drop(info);
        Ok(Active {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            key,
            stamp,
            bytes: 0,
            preamble: 0,
        })
    }

    /// Points the link at the active file; an error is returned from the next flush.
    fn link(&mut self) {
        if self.rotation.current != Current::Link {
            return;
        }
        if let Err(e) = self.try_link() {
            *lock(&self.errors) = Some(e);
        }
    }

    #[cfg(unix)]
    fn try_link(&self) -> io::Result<()> {
        let target = self.active.path.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "active file has no name")
        })?;
        let name = self.series.base.file_name().unwrap_or_default();
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(".link");
        let tmp = self.series.dir.join(tmp_name);
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::os::unix::fs::symlink(target, &tmp)?;
        fs::rename(&tmp, &self.series.base)
    }

    /// Making a symbolic link takes a privilege on Windows: the files are written, and the
    /// next flush says why there is no link.
    #[cfg(not(unix))]
    fn try_link(&self) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Current::Link (a symbolic link to the active file) is only made on Unix systems",
        ))
    }

    fn take_error(&self) -> io::Result<()> {
        match lock(&self.errors).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// How long a rotating file keeps writing to its current file after a rotation failed before
/// it tries again.
pub const ROTATE_RETRY: Duration = Duration::from_secs(1);

fn next_minute(now: DateTime<Utc>) -> i64 {
    let t = nanos_of(now);
    t.div_euclid(60_000_000_000)
        .saturating_add(1)
        .saturating_mul(60_000_000_000)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.line_mode && self.at_line_start {
            // A rotation that fails leaves the current file in use: the bytes go there, and
            // the error comes from the next flush.
            if let Err(e) = self.rotate_if_due(buf.len() as u64) {
                *lock(&self.errors) = Some(e);
            }
        }
        let n = self.active.out.write(buf)?;
        self.active.bytes += n as u64;
        if n > 0 {
            self.at_line_start = buf[n - 1] == b'\n';
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.active.out.flush()?;
        self.take_error()
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        let _ = self.active.out.flush();
        self.background.stop();
    }
}

// === the background thread ===

enum Job {
    /// A file was rotated: compress it, or sync it.
    Retire(PathBuf),
    Prune(DateTime<Utc>),
    Barrier(mpsc::Sender<()>),
}

struct Background {
    tx: Option<mpsc::Sender<Job>>,
    handle: Option<JoinHandle<()>>,
}

impl Background {
    fn start(
        series: Arc<Series>,
        rotation: Rotation,
        active: Arc<Mutex<ActiveInfo>>,
        errors: Arc<Mutex<Option<io::Error>>>,
    ) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("logbuf-rotate".into())
            .spawn(move || {
                for job in rx {
                    let result = match job {
                        Job::Retire(path) if rotation.compress => compress(&path),
                        Job::Retire(path) => sync(&path),
                        Job::Prune(now) => prune(&series, &rotation, &active, now),
                        Job::Barrier(done) => {
                            let _ = done.send(());
                            Ok(())
                        }
                    };
                    if let Err(e) = result {
                        *lock(&errors) = Some(e);
                    }
                }
            })?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    fn send(&self, job: Job) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(job);
        }
    }

    /// Finishes the queued work and ends the thread.
    fn stop(&mut self) {
        drop(self.tx.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Puts a rotated file's data on disk.
fn sync(path: &Path) -> io::Result<()> {
    // Opened for writing: some systems only sync files opened so.
    match OpenOptions::new().write(true).open(path) {
        Ok(file) => file.sync_all(),
        // Moved away or deleted meanwhile: nothing to do.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Gzips `path` into `path.gz`: through a `.gz.part` file that is synced and renamed, then the
/// original is removed.
fn compress(path: &Path) -> io::Result<()> {
    let input = match File::open(path) {
        Ok(f) => f,
        // Moved away or deleted meanwhile: nothing to do.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let part = with_suffix(path, ".gz.part");
    let out = File::create(&part)?;
    let mut encoder = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 16, out),
        flate2::Compression::default(),
    );
    io::copy(&mut BufReader::with_capacity(1 << 16, input), &mut encoder)?;
    let out = encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
    out.sync_all()?;
    drop(out);
    fs::rename(&part, gz_path(path))?;
    fs::remove_file(path)
}

/// Deletes the rotated files that retention no longer keeps.
fn prune(
    series: &Series,
    rotation: &Rotation,
    active: &Mutex<ActiveInfo>,
    now: DateTime<Utc>,
) -> io::Result<()> {
    let (members, active_path, active_start) = {
        let info = lock(active);
        let members = match series.members() {
            Ok(members) => members,
            // The directory was removed meanwhile: nothing left to prune.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        (members, info.path.clone(), info.start)
    };
    let rotated: Vec<&Member> = members.iter().filter(|m| m.path != active_path).collect();
    let mut doomed = vec![false; rotated.len()];
    if let Some(keep) = rotation.keep_files {
        let old = rotated.len().saturating_sub(keep);
        doomed[..old].iter_mut().for_each(|d| *d = true);
    }
    if let Some(age) = rotation.max_age {
        let age = TimeDelta::from_std(age).unwrap_or(TimeDelta::MAX);
        for (i, m) in rotated.iter().enumerate() {
            // Where this file's records end: the next later stamp in the series.
            let end = rotated[i + 1..]
                .iter()
                .map(|n| n.time)
                .chain(std::iter::once(active_start))
                .find(|t| *t > m.time);
            let Some(end) = end.and_then(|t| rotation.zone.earliest(t)) else {
                continue;
            };
            if now.signed_duration_since(end) > age {
                doomed[i] = true;
            }
        }
    }
    let mut result = Ok(());
    for (m, _) in rotated.iter().zip(&doomed).filter(|(_, d)| **d) {
        for path in [m.path.clone(), gz_path(&m.path)] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => result = Err(e),
                _ => {}
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_the_system_clock_the_tick_counter_says_when_to_look() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation::minutely().current(Current::None);
        let mut file = RotatingFile::new(dir.path().join("app.log"), rotation).unwrap();
        let first = file.path().to_path_buf();
        // The active file seems to be from five minutes ago and the minute to wait for has
        // passed, but the tick counter says the next look is far off.
        file.active.key.start -= TimeDelta::minutes(5);
        file.next_check = 0;
        file.look = (crate::clock::global().now(), u64::MAX);
        file.write_all(b"a\n").unwrap();
        assert_eq!(file.path(), first);
        // The look is due: the wall clock says another minute, and the file is rotated.
        file.look.1 = 0;
        file.write_all(b"b\n").unwrap();
        assert_ne!(file.path(), first);
        file.flush().unwrap();
        assert_eq!(fs::read(&first).unwrap(), b"a\n");
        assert_eq!(fs::read(file.path()).unwrap(), b"b\n");
    }

    #[test]
    fn stamps_read_back() {
        for (stamp, text) in [
            (Stamp::Minute, "2026-11-29T06-34"),
            (Stamp::Hour, "2026-11-29T06"),
            (Stamp::Day, "2026-11-29"),
            (Stamp::Second, "2026-11-29T06-34-12"),
        ] {
            let time = stamp.parse(text).unwrap();
            assert_eq!(stamp.format(time), text);
            assert_eq!(stamp.len(), text.len());
        }
        assert_eq!(Stamp::Hour.parse("2026-11-29T24"), None);
        assert_eq!(Stamp::Hour.parse("2026-11-29 06"), None);
        assert_eq!(Stamp::Day.parse("2026-02-30"), None);
    }
}
