//! Binary journal files: a header, then checksummed frames each holding a block of records.
//!
//! ```text
//! file:    magic (8) | major u16 LE | minor u16 LE | header frame | frame | frame | ...
//! frame:   len u32 LE | crc32 u32 LE (of the payload) | payload (len bytes)
//! block:   record len (varint) | record | record len | record | ...
//! ```
//!
//! The header frame's payload is a postcard [`FileHeader`]; every other frame's payload is a
//! block of postcard [`Record`]s, each behind its length. [`FileWriter`] collects records into a
//! block and writes it as one frame once it holds [`BLOCK_SIZE`] bytes, or when flushed. The
//! checksum lets [`FileReader`] tell a torn tail (a crash mid-write) and damaged bytes from
//! records: it stops cleanly at a torn tail, and skips damage by scanning for the next frame
//! whose checksum holds, in time linear in the file's size whatever the damaged bytes say
//! (`FORMAT.md`, "Reading damaged files", gives the bound). Files of format 1 (one record per
//! frame) are read too.
//!
//! ```
//! use logbuf_journal::file::{FileHeader, FileReader, FileWriter};
//! use logbuf_journal::wire::{Clock, Record, ThreadName};
//!
//! let header = FileHeader { pid: 7, program: "demo".into(), clock: Clock { ticks: 0, unix_nanos: 0 } };
//! let mut writer = FileWriter::new(Vec::new(), &header).unwrap();
//! let record = Record::ThreadName(ThreadName { thread: 1, name: "main" });
//! writer.write_record(&postcard::to_allocvec(&record).unwrap()).unwrap();
//! let bytes = writer.finish().unwrap();
//!
//! let mut reader = FileReader::new(&bytes[..]).unwrap();
//! assert_eq!(reader.header().program, "demo");
//! assert_eq!(reader.next_record().unwrap().unwrap(), record);
//! assert!(reader.next_record().is_none());
//! assert!(reader.stats().is_clean());
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::encode::varint_len;
use crate::wire::{Clock, FORMAT_MAJOR, FORMAT_MINOR, Record};

/// The first eight bytes of every journal file. The high byte and the `\r\n`/`\n` pair catch
/// transfers that mangle binary files.
pub const MAGIC: [u8; 8] = *b"\x89LBF\r\n\x1a\n";

/// The largest frame payload a reader accepts. Records are at most half a ring; this bounds
/// what a damaged length can make a reader wait for.
pub const MAX_FRAME: usize = 16 << 20;

/// The largest record a frame holds: a block of one record, behind its length.
pub const MAX_RECORD: usize = MAX_FRAME - 4;

/// Bytes of records a [`FileWriter`] collects before it writes them as one frame. A frame's
/// header costs 8 bytes, a tenth of a byte per record at this size; damage to a frame loses
/// the records of that frame, about a hundred.
pub const BLOCK_SIZE: usize = 4096;

const FRAME_HEADER: usize = 8;
/// Magic, major and minor.
const PREAMBLE: usize = 12;
/// Record kinds this version knows (`Record`'s variants).
const KNOWN_KINDS: u64 = 17;
/// The first major version, whose frames held one record each.
const MAJOR_ONE_RECORD_FRAMES: u16 = 1;
/// Checksum bytes a reader may spend on frames that turn out bad, per byte of file before the
/// frame it checks, in each of its budgets (see `FileReader::judge`).
const RESYNC_WORK: u64 = 2;
/// The largest frame of each size class that has budgets of its own (see `FileReader::judge`):
/// a false frame of one size cannot use up the budget a good frame of another size needs.
const SIZE_CLASSES: [usize; 4] = [8 << 10, 128 << 10, 2 << 20, MAX_FRAME];
/// Records of a candidate frame's block that must parse before its checksum is computed,
/// while scanning damage.
const RESYNC_RECORDS: usize = 8;
/// Incomplete frames a live reader remembers while it waits (see `FileReader::live`).
const LOOKAHEAD_PENDING: usize = 16;

/// What a file says about where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHeader {
    /// Process id of the writer.
    pub pid: u32,
    /// Program name of the writer.
    pub program: String,
    /// Tick counter and wall clock when the file was started.
    pub clock: Clock,
}

// === writing ===

/// Writes a journal file: the preamble and header on creation, then records in blocks.
///
/// Records wait in the current block until it holds [`BLOCK_SIZE`] bytes or
/// [`FileWriter::flush`] (or [`FileWriter::end_block`]) writes it: flush before handing the
/// inner writer's bytes to anyone, and [`FileWriter::finish`] at the end. Dropped, the writer
/// writes its block (ignoring errors, as `BufWriter` does).
///
/// # When the inner writer fails
///
/// A frame the inner writer did not take (a full disk, an I/O error) is not dropped: its bytes
/// from where the writer stopped are kept and written first on the next
/// [`FileWriter::write_record`] that ends a block, [`FileWriter::end_block`] or
/// [`FileWriter::flush`], so a writer that recovers gets every record once, in order, and the
/// file stays clean. Each failed attempt returns the writer's error. What is kept is bounded:
/// when more than [`MAX_UNWRITTEN`] bytes of frames are waiting, they are dropped, the error
/// returned says how many records went with them (`"N records dropped: ..."`), and
/// [`FileWriter::lost_records`] counts them. A frame dropped after part of it was written
/// leaves a damaged region that readers skip and report.
#[derive(Debug)]
pub struct FileWriter<W: Write> {
    /// `None` only once [`FileWriter::finish`] has taken it.
    inner: Option<W>,
    bytes: u64,
    block: Vec<u8>,
    /// Records in `block`.
    block_records: u64,
    /// Framed bytes the inner writer has not taken yet, oldest first.
    unwritten: Vec<u8>,
    /// Bytes and records of each frame in `unwritten` (the first one's bytes counting only
    /// what is left of it).
    frames: std::collections::VecDeque<(usize, u64)>,
    /// Records dropped because frames could not be written.
    lost: u64,
}

/// Bytes of frames a [`FileWriter`] keeps for writing again while its inner writer fails;
/// past this, they are dropped and counted.
pub const MAX_UNWRITTEN: usize = 1 << 20;

impl<W: Write> FileWriter<W> {
    /// Writes the preamble and `header` to `inner`.
    ///
    /// # Errors
    ///
    /// What `inner` returns.
    pub fn new(mut inner: W, header: &FileHeader) -> io::Result<Self> {
        let mut preamble = [0u8; PREAMBLE];
        preamble[..8].copy_from_slice(&MAGIC);
        preamble[8..10].copy_from_slice(&FORMAT_MAJOR.to_le_bytes());
        preamble[10..12].copy_from_slice(&FORMAT_MINOR.to_le_bytes());
        inner.write_all(&preamble)?;
        let mut writer = Self {
            inner: Some(inner),
            bytes: PREAMBLE as u64,
            block: Vec::with_capacity(BLOCK_SIZE + 64),
            block_records: 0,
            unwritten: Vec::new(),
            frames: std::collections::VecDeque::new(),
            lost: 0,
        };
        let header = postcard::to_allocvec(header).map_err(io::Error::other)?;
        writer.write_frame(&header, 0)?;
        Ok(writer)
    }

    /// A writer that frames records into `inner` as they are, with no preamble or header: for
    /// an owner that writes those itself (the rotating binary sink, at the start of each file).
    pub(crate) fn framing(inner: W) -> Self {
        Self {
            inner: Some(inner),
            bytes: 0,
            block: Vec::with_capacity(BLOCK_SIZE + 64),
            block_records: 0,
            unwritten: Vec::new(),
            frames: std::collections::VecDeque::new(),
            lost: 0,
        }
    }

    /// Bytes of frames the inner writer has not taken yet.
    pub(crate) fn unwritten(&self) -> u64 {
        self.unwritten.len() as u64
    }

    /// The inner writer, to look at.
    pub(crate) fn get_ref(&self) -> &W {
        match &self.inner {
            Some(inner) => inner,
            // Only `finish` takes it, and `finish` consumes the writer.
            None => unreachable!("FileWriter used after finish"),
        }
    }

    /// Adds `record`, an encoded [`Record`], to the current block; writes the block once it
    /// holds [`BLOCK_SIZE`] bytes.
    ///
    /// # Errors
    ///
    /// What the inner writer returns; `InvalidInput` for an empty record or one over
    /// [`MAX_RECORD`] bytes.
    pub fn write_record(&mut self, record: &[u8]) -> io::Result<()> {
        if record.is_empty() || record.len() > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a record is 1 to {MAX_RECORD} bytes, not {}", record.len()),
            ));
        }
        if self.block.len() + record.len() + 4 > MAX_FRAME {
            self.end_block()?;
        }
        push_varint(&mut self.block, record.len() as u64);
        self.block.extend_from_slice(record);
        self.block_records += 1;
        if self.block.len() >= BLOCK_SIZE {
            self.end_block()?;
        }
        Ok(())
    }

    /// Writes the records collected so far as one frame (nothing if there are none), after
    /// the frames an earlier failure left unwritten.
    ///
    /// # Errors
    ///
    /// What the inner writer returns; the frame is then kept and written again on the next
    /// call (see [When the inner writer fails](FileWriter#when-the-inner-writer-fails)).
    pub fn end_block(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return if self.unwritten.is_empty() {
                Ok(())
            } else {
                self.push_unwritten()
            };
        }
        let block = std::mem::take(&mut self.block);
        let records = std::mem::take(&mut self.block_records);
        let result = self.write_frame(&block, records);
        self.block = block;
        self.block.clear();
        result
    }

    /// Records dropped so far because their frames could not be written (see
    /// [When the inner writer fails](FileWriter#when-the-inner-writer-fails)).
    pub fn lost_records(&self) -> u64 {
        self.lost
    }

    /// Bytes of records waiting in the current block, framed as they will be written.
    pub fn pending(&self) -> u64 {
        if self.block.is_empty() {
            0
        } else {
            (FRAME_HEADER + self.block.len()) as u64
        }
    }

    /// Writes the current block and flushes the inner writer.
    ///
    /// # Errors
    ///
    /// What the inner writer returns.
    pub fn flush(&mut self) -> io::Result<()> {
        self.end_block()?;
        self.inner().flush()
    }

    fn inner(&mut self) -> &mut W {
        match &mut self.inner {
            Some(inner) => inner,
            // Only `finish` takes it, and `finish` consumes the writer.
            None => unreachable!("FileWriter used after finish"),
        }
    }

    fn write_frame(&mut self, payload: &[u8], records: u64) -> io::Result<()> {
        let mut head = [0u8; FRAME_HEADER];
        head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        self.unwritten.extend_from_slice(&head);
        self.unwritten.extend_from_slice(payload);
        self.frames
            .push_back((FRAME_HEADER + payload.len(), records));
        self.push_unwritten()
    }

    /// Hands the unwritten frames to the inner writer, keeping what it does not take; past
    /// [`MAX_UNWRITTEN`] bytes, drops them and says how many records went.
    fn push_unwritten(&mut self) -> io::Result<()> {
        let mut done = 0;
        let result = loop {
            if done == self.unwritten.len() {
                break Ok(());
            }
            let Some(inner) = self.inner.as_mut() else {
                // Only `finish` takes it, and `finish` consumes the writer.
                unreachable!("FileWriter used after finish")
            };
            match inner.write(&self.unwritten[done..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.bytes += done as u64;
        self.unwritten.drain(..done);
        let mut taken = done;
        while let Some((bytes, _)) = self.frames.front_mut() {
            if taken < *bytes {
                *bytes -= taken;
                break;
            }
            taken -= *bytes;
            self.frames.pop_front();
        }
        let Err(e) = result else {
            return Ok(());
        };
        if self.unwritten.len() <= MAX_UNWRITTEN {
            return Err(e);
        }
        let lost: u64 = self.frames.drain(..).map(|(_, records)| records).sum();
        self.unwritten.clear();
        self.lost += lost;
        Err(io::Error::new(
            e.kind(),
            format!("{lost} records dropped: their frames could not be written: {e}"),
        ))
    }

    /// Bytes written to the inner writer so far, preamble included (not the current block).
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// The inner writer. Records in the current block are not in it yet.
    pub fn get_mut(&mut self) -> &mut W {
        self.inner()
    }

    /// Writes the current block, flushes, and gives back the inner writer.
    ///
    /// # Errors
    ///
    /// What the inner writer returns.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        match self.inner.take() {
            Some(inner) => Ok(inner),
            None => unreachable!("FileWriter used after finish"),
        }
    }
}

impl<W: Write> Drop for FileWriter<W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = self.flush();
        }
    }
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

// === reading ===

/// Why a file could not be opened as a journal.
#[derive(Debug)]
pub enum OpenError {
    /// Reading failed.
    Io(io::Error),
    /// The file does not start with [`MAGIC`]: it is not a logbuf journal.
    NotAJournal,
    /// The file was written in a major version this reader does not read.
    UnsupportedVersion {
        /// Major version of the file.
        major: u16,
        /// Minor version of the file.
        minor: u16,
    },
    /// The header frame is missing or damaged.
    BadHeader,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Io(e) => write!(f, "cannot read: {e}"),
            OpenError::NotAJournal => f.write_str("not a logbuf journal (bad magic bytes)"),
            OpenError::UnsupportedVersion { major, minor } => write!(
                f,
                "journal format {major}.{minor} is not supported (this reader reads {MAJOR_ONE_RECORD_FRAMES}.x to {FORMAT_MAJOR}.x)"
            ),
            OpenError::BadHeader => f.write_str("journal header is damaged or truncated"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

/// What a reader met besides good records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records returned.
    pub records: u64,
    /// Runs of damaged bytes skipped to reach the next good frame.
    pub damaged_regions: u64,
    /// Bytes in those runs.
    pub damaged_bytes: u64,
    /// Good frames holding a record kind this reader does not know (from a newer minor version).
    pub unknown_records: u64,
    /// Good frames whose record would not decode (a value kind from a newer minor version).
    pub undecodable_records: u64,
    /// Bytes at the end of the file that do not make a whole frame: a write cut short.
    pub torn_tail_bytes: u64,
}

impl ReadStats {
    /// Whether every byte of the file was a good, known record.
    pub fn is_clean(&self) -> bool {
        *self
            == ReadStats {
                records: self.records,
                ..ReadStats::default()
            }
    }
}

/// Reads a journal file record by record, streaming, tolerant of torn tails and damage.
///
/// [`FileReader::next_record`] never panics, whatever the bytes: damage is skipped and counted
/// in [`FileReader::stats`].
#[derive(Debug)]
pub struct FileReader<R: Read> {
    src: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// File offset of `buf[0]`.
    consumed_base: usize,
    eof: bool,
    header: FileHeader,
    major: u16,
    minor: u16,
    /// Records of the current block not read yet are `buf[block..block_end]`.
    block: usize,
    block_end: usize,
    stats: ReadStats,
    /// Payload bytes checksummed so far.
    checksummed: u64,
    /// Checksum bytes spent on record frames that turned out bad, by size class, for frames
    /// followed by what looks like a frame header, then for the others.
    false_checksums: [u64; 2 * SIZE_CLASSES.len()],
    /// Whether the source is a file still being written (see [`FileReader::live`]).
    live: bool,
    /// What a live reader learnt looking past a frame it waits for.
    ahead: Ahead,
}

impl FileReader<BufReader<File>> {
    /// Opens the journal file at `path`.
    ///
    /// # Errors
    ///
    /// See [`OpenError`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::new(BufReader::with_capacity(1 << 16, File::open(path)?))
    }
}

impl<R: Read> FileReader<R> {
    /// Reads and checks the preamble and header from `src`.
    ///
    /// # Errors
    ///
    /// See [`OpenError`].
    pub fn new(src: R) -> Result<Self, OpenError> {
        let mut reader = Self {
            src,
            buf: vec![0; 1 << 16],
            start: 0,
            end: 0,
            consumed_base: 0,
            eof: false,
            header: FileHeader {
                pid: 0,
                program: String::new(),
                clock: Clock {
                    ticks: 0,
                    unix_nanos: 0,
                },
            },
            major: FORMAT_MAJOR,
            minor: 0,
            block: 0,
            block_end: 0,
            stats: ReadStats::default(),
            checksummed: 0,
            false_checksums: [0; 2 * SIZE_CLASSES.len()],
            live: false,
            ahead: Ahead::default(),
        };
        if !reader.fill(PREAMBLE)? || reader.buf[..8] != MAGIC {
            return Err(OpenError::NotAJournal);
        }
        let major = u16::from_le_bytes([reader.buf[8], reader.buf[9]]);
        let minor = u16::from_le_bytes([reader.buf[10], reader.buf[11]]);
        if !(MAJOR_ONE_RECORD_FRAMES..=FORMAT_MAJOR).contains(&major) {
            return Err(OpenError::UnsupportedVersion { major, minor });
        }
        reader.major = major;
        reader.minor = minor;
        reader.start = PREAMBLE;
        let Some((at, len)) = reader.frame_at_start(Check::Header)? else {
            return Err(OpenError::BadHeader);
        };
        reader.header =
            postcard::from_bytes(&reader.buf[at..at + len]).map_err(|_| OpenError::BadHeader)?;
        reader.start = at + len;
        Ok(reader)
    }

    /// Reads the source as a file still being written, whose reads wait for more bytes at its
    /// end (as `logbuf follow` reads): a frame whose bytes are not all there yet is waited
    /// for only until a good frame is found after its header. The writer appends whole
    /// frames, so a frame that later ones follow is damage (a length damaged near the end of
    /// a live file would otherwise hold up everything after it until 16 MiB arrive).
    ///
    /// A frame whose payload holds the bytes of a whole good frame (a record carrying a
    /// journal file) could be taken for damage while it is being written; no writer of this
    /// crate writes such records.
    #[must_use]
    pub fn live(mut self) -> Self {
        self.live = true;
        self
    }

    /// The file's header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The file's format version, major and minor.
    pub fn version(&self) -> (u16, u16) {
        (self.major, self.minor)
    }

    /// What was met so far besides good records.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Bytes of frame payloads checksummed so far, those of good frames included: the measure
    /// of the work reading a file costs. See the bound in `FORMAT.md` ("Reading damaged
    /// files").
    pub fn checksummed_bytes(&self) -> u64 {
        self.checksummed
    }

    /// The next record, skipping damage and records this version cannot decode; `None` at the
    /// end of the file (or at a torn tail).
    ///
    /// # Errors
    ///
    /// Reading the source failed; the reader can be tried again.
    pub fn next_record(&mut self) -> Option<io::Result<Record<'_>>> {
        loop {
            let frame = match self.next_known_record()? {
                Ok(frame) => frame,
                Err(e) => return Some(Err(e)),
            };
            // SAFETY: `buf` is not touched again until the next call, which needs `&mut self`
            // and so ends the returned borrow first. The raw pointer only tells the borrow
            // checker that the loop's other path (which refills `buf`) does not overlap with
            // this one's return.
            let payload: &[u8] = unsafe { &*std::ptr::from_ref(self.payload(frame)) };
            match postcard::from_bytes::<Record<'_>>(payload) {
                Ok(record) => {
                    self.stats.records += 1;
                    return Some(Ok(record));
                }
                Err(_) => self.stats.undecodable_records += 1,
            }
        }
    }

    /// The next record of a kind this version knows, from a good frame, as a place in the
    /// buffer for [`FileReader::payload`]; valid until the next call.
    pub(crate) fn next_known_record(&mut self) -> Option<io::Result<(usize, usize)>> {
        loop {
            let (at, len) = if self.block < self.block_end {
                match self.next_in_block() {
                    Some(record) => record,
                    None => continue,
                }
            } else {
                let (at, len) = match self.next_frame() {
                    Ok(Some(frame)) => frame,
                    Ok(None) => return None,
                    Err(e) => return Some(Err(e)),
                };
                if self.major != MAJOR_ONE_RECORD_FRAMES {
                    (self.block, self.block_end) = (at, at + len);
                    continue;
                }
                (at, len)
            };
            if matches!(read_varint(&self.buf[at..at + len]), Some(kind) if kind < KNOWN_KINDS) {
                return Some(Ok((at, len)));
            }
            self.stats.unknown_records += 1;
        }
    }

    /// The next record of the current block. A length that overruns the block (a writer's
    /// fault: the checksum held) makes the rest of the block one undecodable record.
    fn next_in_block(&mut self) -> Option<(usize, usize)> {
        let rest = &self.buf[self.block..self.block_end];
        let record = read_varint(rest).and_then(|len| {
            let skip = varint_len(len);
            let len = usize::try_from(len).ok()?;
            (len > 0 && len <= rest.len() - skip).then_some((self.block + skip, len))
        });
        match record {
            Some((at, len)) => {
                self.block = at + len;
                Some((at, len))
            }
            None => {
                self.block = self.block_end;
                self.stats.undecodable_records += 1;
                None
            }
        }
    }

    /// The payload of a frame [`FileReader::next_known_frame`] returned.
    pub(crate) fn payload(&self, (at, len): (usize, usize)) -> &[u8] {
        &self.buf[at..at + len]
    }

    /// Counts a frame the caller decoded into a record, or could not.
    pub(crate) fn count(&mut self, decoded: bool) {
        if decoded {
            self.stats.records += 1;
        } else {
            self.stats.undecodable_records += 1;
        }
    }

    /// Finds the next good frame at or after `start`, skipping damage; returns its payload's
    /// place in `buf` and moves `start` past it.
    fn next_frame(&mut self) -> io::Result<Option<(usize, usize)>> {
        let mut damaged_from = None;
        loop {
            let check = if damaged_from.is_some() {
                Check::Resync
            } else {
                Check::Next
            };
            match self.frame_at_start(check)? {
                Some((at, len)) => {
                    if let Some(from) = damaged_from {
                        self.stats.damaged_regions += 1;
                        self.stats.damaged_bytes +=
                            (self.consumed_at(at - FRAME_HEADER) - from) as u64;
                    }
                    self.start = at + len;
                    return Ok(Some((at, len)));
                }
                None if self.start == self.end && self.eof => {
                    if let Some(from) = damaged_from {
                        // Damage running to the end of the file is a torn tail.
                        self.stats.torn_tail_bytes += (self.consumed_at(self.end) - from) as u64;
                    }
                    return Ok(None);
                }
                None => {
                    damaged_from.get_or_insert(self.consumed_at(self.start));
                    self.start += 1;
                }
            }
        }
    }

    /// File offset of `buf[i]`.
    fn consumed_at(&self, i: usize) -> usize {
        self.consumed_base + i
    }

    /// The length field of the frame header at `buf[i]` (which must be there).
    fn len_at(&self, i: usize) -> usize {
        let head = &self.buf[i..i + 4];
        u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize
    }

    /// Whether a good frame starts at `start`: its length is in range, it is all there, and its
    /// checksum holds (and, for a record frame, its records parse: see [`Check`]). Returns
    /// the payload's place in `buf`.
    fn frame_at_start(&mut self, check: Check) -> io::Result<Option<(usize, usize)>> {
        if !self.fill(FRAME_HEADER)? {
            return Ok(None);
        }
        let len = self.len_at(self.start);
        if len == 0 || len > MAX_FRAME || !self.fill_frame(FRAME_HEADER + len)? {
            return Ok(None);
        }
        let at = self.start + FRAME_HEADER;
        if check == Check::Header {
            let head = &self.buf[self.start + 4..at];
            let crc = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            self.checksummed += len as u64;
            return Ok((crc32fast::hash(&self.buf[at..at + len]) == crc).then_some((at, len)));
        }
        if !self.live {
            // The next frame's header and first byte, if the file has them: which budget a
            // false frame is charged to depends on them.
            self.fill(2 * FRAME_HEADER + len + 1)?;
        }
        let at = self.start + FRAME_HEADER;
        Ok(self
            .judge(self.start, check == Check::Resync)
            .then_some((at, len)))
    }

    /// Whether the record frame whose header is at `buf[i]`, all of it in the buffer, is good.
    ///
    /// Before the checksum: the payload must start with a record length that fits (and, while
    /// scanning damage, its first [`RESYNC_RECORDS`] records must parse, see
    /// [`FileReader::records_parse`]). Then the checksum is computed only while the checksum
    /// bytes already spent on frames that turned out bad stay within [`RESYNC_WORK`] per
    /// byte of file before this frame; a frame past that budget is taken as damage unchecked.
    /// There are eight such budgets, one per size class ([`SIZE_CLASSES`]) for frames
    /// followed by something that looks like a frame header (or the end of the file), as good
    /// frames are, and one per size class for the rest, so that false frames of one size and
    /// shape do not use up the budget a good frame of another needs. Good frames cost no
    /// budget.
    fn judge(&mut self, i: usize, resync: bool) -> bool {
        let len = self.len_at(i);
        let at = i + FRAME_HEADER;
        let payload = &self.buf[at..at + len];
        let plausible = if resync {
            self.records_parse(payload)
        } else if self.major == MAJOR_ONE_RECORD_FRAMES {
            payload[0] < 0x80
        } else {
            read_varint(payload)
                .is_some_and(|n| n > 0 && n.saturating_add(varint_len(n) as u64) <= len as u64)
        };
        if !plausible {
            return false;
        }
        let class = SIZE_CLASSES
            .iter()
            .position(|&max| len <= max)
            .unwrap_or(SIZE_CLASSES.len() - 1);
        let budget = usize::from(!self.followed_by_frame(at + len)) * SIZE_CLASSES.len() + class;
        if self.false_checksums[budget] > RESYNC_WORK * self.consumed_at(i) as u64 {
            return false;
        }
        let head = &self.buf[i + 4..at];
        let crc = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        self.checksummed += len as u64;
        if crc32fast::hash(&self.buf[at..at + len]) == crc {
            true
        } else {
            self.false_checksums[budget] += len as u64;
            false
        }
    }

    /// The record kinds a frame of this file may hold: those this reader knows, unless the
    /// file comes from a newer minor version (then any kind of one byte).
    fn kind_limit(&self) -> u64 {
        if self.major == FORMAT_MAJOR && self.minor > FORMAT_MINOR {
            0x80
        } else {
            KNOWN_KINDS
        }
    }

    /// Whether `payload` starts as a writer's frame does: one record of a kind this file may
    /// hold (format 1), or a block whose first [`RESYNC_RECORDS`] records (or all of them)
    /// each have a length that fits and a kind this file may hold. Bytes that only look like
    /// a frame header rarely pass this; it costs at most [`RESYNC_RECORDS`] steps.
    fn records_parse(&self, payload: &[u8]) -> bool {
        let limit = self.kind_limit();
        if self.major == MAJOR_ONE_RECORD_FRAMES {
            return u64::from(payload[0]) < limit;
        }
        let mut rest = payload;
        for _ in 0..RESYNC_RECORDS {
            if rest.is_empty() {
                return true;
            }
            let Some(n) = read_varint(rest) else {
                return false;
            };
            let skip = varint_len(n);
            if n == 0 || n > (rest.len() - skip) as u64 {
                return false;
            }
            // A kind below 0x80 is its single varint byte.
            if u64::from(rest[skip]) >= limit {
                return false;
            }
            rest = &rest[skip + n as usize..];
        }
        true
    }

    /// Whether what is in the buffer at `buf[e]` (after a candidate frame) could be where the
    /// next frame starts: a length in range and a first payload byte that can start a block,
    /// or fewer bytes than a header (the end of the file, or not written yet).
    fn followed_by_frame(&self, e: usize) -> bool {
        let rest = &self.buf[e..self.end];
        if rest.len() < FRAME_HEADER {
            return true;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len == 0 || len > MAX_FRAME {
            return false;
        }
        match rest.get(FRAME_HEADER) {
            None => true,
            Some(&b) if self.major == MAJOR_ONE_RECORD_FRAMES => u64::from(b) < self.kind_limit(),
            Some(&b) => b != 0,
        }
    }

    /// Makes the `n` bytes of the frame at `start` available; `false` if the source ends
    /// first. For a live source (see [`FileReader::live`]), also `false`, without waiting,
    /// as soon as a good frame is found after `start`: the writer appends whole frames, so
    /// a frame that later ones follow will not be completed.
    fn fill_frame(&mut self, n: usize) -> io::Result<bool> {
        if !self.live {
            return self.fill(n);
        }
        loop {
            if self.end - self.start >= n {
                return Ok(true);
            }
            if self.eof || self.good_frame_ahead() {
                return Ok(false);
            }
            self.read_more()?;
        }
    }

    /// Whether a good frame, all of it in the buffer, starts after `start`. Remembers how far
    /// it looked, the good frame found, and a few frames it found incomplete (to look at again
    /// once their bytes are there), so that waiting costs time linear in the bytes that come.
    fn good_frame_ahead(&mut self) -> bool {
        let from = self.consumed_at(self.start) + 1;
        let read = self.consumed_at(self.end);
        if let Some(good) = self.ahead.good {
            if good >= from {
                return true;
            }
            self.ahead.good = None;
        }
        let mut k = 0;
        while k < self.ahead.pending.len() {
            let (pos, end) = self.ahead.pending[k];
            if pos < from {
                self.ahead.pending.swap_remove(k);
            } else if end > read {
                k += 1;
            } else {
                self.ahead.pending.swap_remove(k);
                if self.judge(pos - self.consumed_base, true) {
                    self.ahead.good = Some(pos);
                    return true;
                }
            }
        }
        let mut pos = self.ahead.scanned.max(from);
        while pos + FRAME_HEADER <= read {
            let len = self.len_at(pos - self.consumed_base);
            if len != 0 && len <= MAX_FRAME {
                let end = pos + FRAME_HEADER + len;
                if end > read {
                    self.ahead.wait_for(pos, end);
                } else if self.judge(pos - self.consumed_base, true) {
                    self.ahead.good = Some(pos);
                    self.ahead.scanned = pos + 1;
                    return true;
                }
            }
            pos += 1;
        }
        self.ahead.scanned = pos;
        false
    }

    /// Makes `n` bytes available from `start`, reading more as needed. `false` if the source
    /// ends first. The buffer grows only as bytes arrive, so a damaged length cannot make it
    /// allocate more than the file holds.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        while self.end - self.start < n {
            if self.eof {
                return Ok(false);
            }
            self.read_more()?;
        }
        Ok(true)
    }

    /// Reads once from the source (what it has, at least a byte, or the end).
    fn read_more(&mut self) -> io::Result<()> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.consumed_base += self.start;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        let end = self.buf.len();
        match self.src.read(&mut self.buf[self.end..end]) {
            Ok(0) => self.eof = true,
            Ok(read) => self.end += read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// How [`FileReader::frame_at_start`] checks a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The header frame: only its checksum.
    Header,
    /// The frame right after a good one: its first record length must fit.
    Next,
    /// A place tried while scanning damage: its first records must parse.
    Resync,
}

/// What a live reader learnt looking past a frame it waits for (file offsets).
#[derive(Debug, Default)]
struct Ahead {
    /// Where to go on looking.
    scanned: usize,
    /// A good frame found.
    good: Option<usize>,
    /// Frames whose bytes were not all there: where each starts and ends.
    pending: Vec<(usize, usize)>,
}

impl Ahead {
    /// Remembers the incomplete frame at `pos`, keeping the [`LOOKAHEAD_PENDING`] that end
    /// first (a writer's frame ends soon; a false one's length is mostly large).
    fn wait_for(&mut self, pos: usize, end: usize) {
        if self.pending.len() < LOOKAHEAD_PENDING {
            self.pending.push((pos, end));
        } else if let Some(last) = self.pending.iter_mut().max_by_key(|p| p.1)
            && last.1 > end
        {
            *last = (pos, end);
        }
    }
}

/// The varint at the start of `bytes`, if it is one.
fn read_varint(bytes: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}
