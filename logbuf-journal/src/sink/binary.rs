//! The binary journal file sink.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{Entry, Sink};
use crate::IdMap;
use crate::encode::varint_len;
use crate::file::{FileHeader, FileWriter};
use crate::rotate::{RotatingFile, Rotation};
use crate::wire::{self, Record, SpanRecord, Value};

/// Writes the journal as a binary file, read back with [`FileReader`](crate::file::FileReader)
/// and the `logbuf` command.
///
/// Every callsite and interned-string record is kept, and so are the names of the threads still
/// running and the spans still open (each one's `SpanNew` and its recorded values), so a file
/// started again (after [`BinaryFileSink::reopen`], or a rotation with
/// [`BinaryFileSink::rotating`]) repeats them and decodes on its own, spans included. What is
/// no longer live is forgotten, so this state (and each file's preamble) stays bounded under
/// thread churn: the name of a thread that ended (a `ThreadEnd` record, format 2.2), and past
/// [`MAX_OPEN_SPANS`] spans whose close has not come (a close lost to a full ring), the oldest.
///
/// A rotation that fails (the directory removed: it is made again and the file tried once
/// more; a name taken; no file descriptors left) loses nothing: the record and those after it
/// go to the current file, the rotation is tried again after
/// [`ROTATE_RETRY`](crate::rotate::ROTATE_RETRY), and the error is returned from the next
/// flush.
///
/// A file that refuses writes (a full disk, an I/O error) loses nothing at first: what it did
/// not take is kept and written first once it takes writes again, as [`FileWriter`] does, up
/// to [`MAX_UNWRITTEN`](crate::file::MAX_UNWRITTEN) bytes; past that the waiting records are
/// dropped, counted ([`BinaryFileSink::lost_records`]) and the error says how many. A rotation
/// waits while the file it would close still refuses its records.
///
/// ```
/// use logbuf_journal::Journal;
/// use logbuf_journal::rotate::Rotation;
/// use logbuf_journal::sink::BinaryFileSink;
///
/// let dir = tempfile::tempdir()?;
/// // Hourly files in local time, at most 64 MiB each, the last 48 kept and compressed.
/// let rotation = Rotation::hourly().local().max_size(64 << 20).keep_files(48).compress(true);
/// let sink = BinaryFileSink::rotating(dir.path().join("app.lbf"), rotation)?;
/// let (journal, guard) = Journal::builder().sink(sink).build()?;
/// # drop((journal, guard));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BinaryFileSink {
    path: PathBuf,
    out: Out,
    /// Callsite and interned-string records seen so far, to start a new file with.
    definitions: Vec<Vec<u8>>,
    /// Names of the threads that have not ended, by thread id.
    threads: BTreeMap<u64, Vec<u8>>,
    /// Spans not closed yet, to start a new file with.
    spans: OpenSpans,
    header: FileHeader,
    /// A rotation that failed while the record was written to the current file, returned
    /// from the next flush.
    deferred: Option<io::Error>,
}

#[derive(Debug)]
enum Out {
    /// One file, truncated on reopen.
    Plain(Option<FileWriter<BufWriter<File>>>),
    /// A rotating series, its records framed into blocks; frames the file refuses are kept
    /// and written again (see [`FileWriter`]).
    Rotating(Box<FileWriter<RotatingFile>>),
}

impl BinaryFileSink {
    /// Creates (or truncates) the file at `path`, creating its directory if needed.
    ///
    /// # Errors
    ///
    /// If the directory or file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let mut sink = Self::empty(path, Out::Plain(None));
        sink.reopen().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create journal file {}: {e}", path.display()),
            )
        })?;
        Ok(sink)
    }

    /// Writes a series of files at `base` rotated as `rotation` says (see
    /// [`rotate`](crate::rotate) for the names). Each file starts with the header, every
    /// callsite and thread name seen so far and the spans still open, so it decodes on its
    /// own; rotation happens between records.
    ///
    /// # Errors
    ///
    /// If the first file cannot be made (see [`RotatingFile::new`]).
    pub fn rotating(base: impl AsRef<Path>, rotation: Rotation) -> io::Result<Self> {
        let file = RotatingFile::for_records(base.as_ref(), rotation)?;
        let out = Out::Rotating(Box::new(FileWriter::framing(file)));
        let mut sink = Self::empty(base.as_ref(), out);
        sink.start_file()?;
        Ok(sink)
    }

    fn empty(path: &Path, out: Out) -> Self {
        Self {
            path: path.to_path_buf(),
            out,
            definitions: Vec::new(),
            threads: BTreeMap::new(),
            spans: OpenSpans::default(),
            header: header(),
            deferred: None,
        }
    }

    /// Closes the current file and starts a new one: header, then every definition seen so
    /// far and the spans still open. A sink made with [`BinaryFileSink::create`] starts its
    /// file again from the beginning (use after moving the file away, log rotation by another
    /// tool); a rotating sink starts a new file as [`RotatingFile::reopen`] does.
    ///
    /// # Errors
    ///
    /// If the file cannot be created; the sink then tries again on the next write.
    pub fn reopen(&mut self) -> io::Result<()> {
        match &mut self.out {
            Out::Plain(writer) => {
                if let Some(mut old) = writer.take() {
                    old.flush()?;
                }
                if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&self.path)?;
                self.header.clock = crate::clock::global().pair();
                let mut w = FileWriter::new(BufWriter::with_capacity(1 << 16, file), &self.header)?;
                w.write_record(&clock_ahead(&self.header))?;
                for record in preamble_records(&self.definitions, &self.threads, &self.spans) {
                    w.write_record(record)?;
                }
                // The file is a journal from the start: a process killed before the first
                // flush leaves a file that reads as empty, not one without a header.
                w.flush()?;
                *writer = Some(w);
                Ok(())
            }
            Out::Rotating(w) => {
                // The records collected so far belong to the old file.
                w.end_block()?;
                let file = w.get_mut();
                if let Err(e) = file.reopen() {
                    file.rotate_next();
                    return Err(e);
                }
                self.start_file()
            }
        }
    }

    /// Records dropped because their file refused them for too long (see
    /// [`FileWriter`]'s [`MAX_UNWRITTEN`](crate::file::MAX_UNWRITTEN)); each drop was also
    /// returned as an error saying how many records went.
    pub fn lost_records(&self) -> u64 {
        match &self.out {
            Out::Plain(w) => w.as_ref().map_or(0, FileWriter::lost_records),
            Out::Rotating(w) => w.lost_records(),
        }
    }

    /// The file's path; for a rotating sink, the file being written.
    pub fn path(&self) -> &Path {
        match &self.out {
            Out::Plain(_) => &self.path,
            Out::Rotating(w) => w.get_ref().path(),
        }
    }

    /// Writes the preamble of a new rotated file: header, definitions, open spans.
    fn start_file(&mut self) -> io::Result<()> {
        let Out::Rotating(w) = &mut self.out else {
            return Ok(());
        };
        // Called with no frame waiting (after a rotation, or at the start), so the preamble
        // goes to the file first.
        let file = w.get_mut();
        self.header.clock = crate::clock::global().pair();
        let result = (|| {
            let mut preamble = FileWriter::new(Vec::new(), &self.header)?;
            preamble.write_record(&clock_ahead(&self.header))?;
            for record in preamble_records(&self.definitions, &self.threads, &self.spans) {
                preamble.write_record(record)?;
            }
            file.write_all(&preamble.finish()?)
        })();
        match result {
            Ok(()) => {
                file.mark_preamble();
                // As for a plain file: a journal from the start, whenever the process dies.
                file.flush()
            }
            Err(e) => {
                // A file without its whole preamble is left behind; the next write starts
                // another.
                file.rotate_next();
                Err(e)
            }
        }
    }

    /// How many records a file started now would repeat in its preamble: callsites and
    /// interned strings, names of threads that have not ended, and open spans (with their
    /// recorded values).
    pub fn preamble_len(&self) -> usize {
        preamble_records(&self.definitions, &self.threads, &self.spans).count()
    }

    /// Keeps what a new file must start with.
    fn remember(&mut self, bytes: &[u8]) {
        match bytes.first() {
            // Kinds 0 (callsite) and 11 (interned string) define what later records refer to.
            Some(0 | 11) => self.definitions.push(bytes.to_vec()),
            // Kind 8 names a thread until kind 13 says it ended (the thread id comes first).
            Some(8) => {
                if let Some(thread) = span_id(bytes) {
                    self.threads.insert(thread, bytes.to_vec());
                }
            }
            Some(13) => {
                if let Some(thread) = span_id(bytes) {
                    self.threads.remove(&thread);
                }
            }
            Some(2) => self.spans.new_span(bytes),
            Some(3) => self.spans.record(bytes),
            // Kind 6 closes a span, and so does kind 12 (a close with its times).
            Some(6 | 12) => self.spans.close(bytes),
            _ => {}
        }
    }
}

impl Sink for BinaryFileSink {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let bytes = entry.bytes();
        self.remember(bytes);
        match &mut self.out {
            Out::Plain(writer) => {
                if writer.is_none() {
                    self.reopen()?;
                }
                match &mut self.out {
                    Out::Plain(Some(w)) => w.write_record(bytes),
                    _ => Ok(()),
                }
            }
            Out::Rotating(w) => {
                // The frame header comes with the block's first record.
                let pending = w.pending();
                let incoming = u64::from(pending == 0) * FRAME_HEADER
                    + (varint_len(bytes.len() as u64) + bytes.len()) as u64;
                let mut refused = None;
                let waiting = pending + w.unwritten();
                if let Some(now) = w.get_mut().rotation_due(waiting, incoming) {
                    // The records collected so far belong to the file they were written for:
                    // while it refuses them, the rotation waits (and is tried again on the
                    // next record). Past `MAX_UNWRITTEN` they are dropped and counted, and the
                    // rotation goes on.
                    if let Err(e) = w.end_block() {
                        refused = Some(e);
                    }
                    if w.unwritten() > 0 {
                        w.get_mut().rotate_next();
                    } else {
                        match w.get_mut().rotate_at(now) {
                            // The record just remembered is in the preamble if it is a
                            // definition or a span's state; written again below, it would be
                            // there twice.
                            Ok(()) if matches!(bytes.first(), Some(0 | 2 | 3 | 8 | 11)) => {
                                let started = self.start_file();
                                return refused.map_or(started, Err);
                            }
                            Ok(()) => self.start_file()?,
                            // The current file is still open: the record goes there, the
                            // rotation is tried again later, and the error comes from the next
                            // flush.
                            Err(e) => self.deferred = Some(e),
                        }
                    }
                }
                match &mut self.out {
                    Out::Rotating(w) => {
                        let written = w.write_record(bytes);
                        refused.map_or(written, Err)
                    }
                    Out::Plain(_) => Ok(()),
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Out::Plain(Some(w)) => w.flush(),
            Out::Plain(None) => Ok(()),
            Out::Rotating(w) => {
                w.flush()?;
                match self.deferred.take() {
                    Some(e) => Err(io::Error::new(
                        e.kind(),
                        format!("rotation failed, the current file is still written: {e}"),
                    )),
                    None => Ok(()),
                }
            }
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        match &mut self.out {
            Out::Plain(Some(w)) => w.get_mut().get_ref().sync_data(),
            Out::Plain(None) => Ok(()),
            Out::Rotating(w) => {
                let file = w.get_mut();
                file.sync_data()?;
                file.flush()
            }
        }
    }

    fn reopen(&mut self) -> io::Result<()> {
        BinaryFileSink::reopen(self)
    }
}

/// The most spans whose close has not come that a binary sink keeps to start a new file with;
/// past this, the oldest are forgotten (a close lost to a full ring would otherwise keep its
/// span for the sink's lifetime).
pub const MAX_OPEN_SPANS: usize = 16_384;

/// What a new file starts with after its header: definitions, the names of threads still
/// running, the open spans.
fn preamble_records<'a>(
    definitions: &'a [Vec<u8>],
    threads: &'a BTreeMap<u64, Vec<u8>>,
    spans: &'a OpenSpans,
) -> impl Iterator<Item = &'a Vec<u8>> {
    definitions
        .iter()
        .chain(threads.values())
        .chain(spans.records())
}

/// Bytes of a frame's header (FORMAT.md).
const FRAME_HEADER: u64 = 8;

// === open spans ===

/// The spans not closed yet: each one's `SpanNew` record and its recorded values merged into
/// one `SpanRecord`, in the order the spans were opened (parents before children).
///
/// A traced service opens and closes spans all the time, so this is on the worker's path for
/// every span: a fast hash of the span id, the opening order kept in a queue whose entries of
/// closed spans are skipped and dropped lazily, and the buffers of closed spans reused.
#[derive(Debug, Default)]
struct OpenSpans {
    by_id: IdMap<OpenSpan>,
    /// `(seq, id)` of the spans in the order they were opened; an entry whose span is closed
    /// (or whose id was opened again, with a later `seq`) is stale.
    order: VecDeque<(u64, u64)>,
    next_seq: u64,
    /// Buffers of closed spans' records, for the next spans'.
    spare: Vec<Vec<u8>>,
}

#[derive(Debug)]
struct OpenSpan {
    seq: u64,
    new: Vec<u8>,
    /// The values recorded since, merged; `None` before the first.
    recorded: Option<Vec<u8>>,
}

/// Spare buffers kept, and the largest one kept.
const SPARE_BUFFERS: usize = 64;
const SPARE_BUFFER_LEN: usize = 1024;

impl OpenSpans {
    fn new_span(&mut self, bytes: &[u8]) {
        let Some(id) = span_id(bytes) else { return };
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut new = self.spare.pop().unwrap_or_default();
        new.clear();
        new.extend_from_slice(bytes);
        let old = self.by_id.insert(
            id,
            OpenSpan {
                seq,
                new,
                recorded: None,
            },
        );
        if let Some(old) = old {
            self.recycle(old);
        }
        self.order.push_back((seq, id));
        while self.by_id.len() > MAX_OPEN_SPANS {
            let Some((seq, oldest)) = self.order.pop_front() else {
                break;
            };
            if self.by_id.get(&oldest).is_some_and(|s| s.seq == seq) {
                let span = self.by_id.remove(&oldest).expect("looked up just now");
                self.recycle(span);
            }
        }
        // Stale entries are at most as many as live ones (and a few): each compaction scans
        // the queue once and removes at least half of it.
        if self.order.len() > 2 * self.by_id.len() + 64 {
            let by_id = &self.by_id;
            self.order
                .retain(|(seq, id)| by_id.get(id).is_some_and(|s| s.seq == *seq));
        }
    }

    fn record(&mut self, bytes: &[u8]) {
        let Some(span) = span_id(bytes).and_then(|id| self.by_id.get_mut(&id)) else {
            return;
        };
        span.recorded = Some(match span.recorded.take() {
            None => bytes.to_vec(),
            Some(old) => merge_records(&old, bytes).unwrap_or_else(|| bytes.to_vec()),
        });
    }

    fn close(&mut self, bytes: &[u8]) {
        if let Some(span) = span_id(bytes).and_then(|id| self.by_id.remove(&id)) {
            self.recycle(span);
        }
    }

    /// Keeps a closed span's buffers for the next spans, up to a bound.
    fn recycle(&mut self, span: OpenSpan) {
        for buf in std::iter::once(span.new).chain(span.recorded) {
            if self.spare.len() < SPARE_BUFFERS && buf.capacity() <= SPARE_BUFFER_LEN {
                self.spare.push(buf);
            }
        }
    }

    /// The records that reopen every open span, parents first.
    fn records(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.order
            .iter()
            .filter_map(|(seq, id)| self.by_id.get(id).filter(|s| s.seq == *seq))
            .flat_map(|s| std::iter::once(&s.new).chain(s.recorded.as_ref()))
    }
}

/// The span id (or, in a thread's records, the thread id): the first varint after the kind
/// byte (FORMAT.md).
fn span_id(bytes: &[u8]) -> Option<u64> {
    let mut id = 0u64;
    for (i, b) in bytes.get(1..)?.iter().take(10).enumerate() {
        id |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(id);
        }
    }
    None
}

/// One `SpanRecord` with the values of `later` over those of `earlier`, as a reader applies
/// them (an `Empty` value leaves the earlier one).
fn merge_records(earlier: &[u8], later: &[u8]) -> Option<Vec<u8>> {
    let (Ok(Record::SpanRecord(a)), Ok(Record::SpanRecord(b))) = (
        postcard::from_bytes::<Record<'_>>(earlier),
        postcard::from_bytes::<Record<'_>>(later),
    ) else {
        return None;
    };
    let len = a.values.len().max(b.values.len());
    let values = (0..len)
        .map(|i| match (a.values.get(i), b.values.get(i)) {
            (_, Some(v)) if *v != Value::Empty => v.clone(),
            (Some(v), _) => v.clone(),
            _ => Value::Empty,
        })
        .collect();
    postcard::to_allocvec(&Record::SpanRecord(SpanRecord { id: b.id, values })).ok()
}

/// A `Clock` record derived from the header's pair (see FORMAT.md), so the file gives the
/// counter's rate from its first record on, read alone.
fn clock_ahead(header: &FileHeader) -> Vec<u8> {
    let ahead = crate::clock::global().pair_ahead(header.clock);
    postcard::to_allocvec(&Record::Clock(ahead)).unwrap_or_default()
}

fn header() -> FileHeader {
    FileHeader {
        pid: std::process::id(),
        program: program_name(),
        clock: wire::Clock {
            ticks: 0,
            unix_nanos: 0,
        },
    }
}

fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Records as the sink sees them: the kind byte, then the span id as a varint (ids < 128
    // are one byte).
    const NEW: u8 = 2;
    const CLOSE: u8 = 6;

    fn open_ids(spans: &OpenSpans) -> Vec<u8> {
        spans.records().map(|r| r[1]).collect()
    }

    #[test]
    fn open_spans_come_in_opening_order_and_a_reopened_id_moves_last() {
        let mut spans = OpenSpans::default();
        for id in [5, 3, 7] {
            spans.new_span(&[NEW, id]);
        }
        spans.close(&[CLOSE, 3]);
        // The registry gave a closed span's id to a new span: it is the newest.
        spans.new_span(&[NEW, 5]);
        assert_eq!(open_ids(&spans), [7, 5]);
    }

    #[test]
    fn the_opening_order_stays_bounded_by_the_open_spans() {
        let mut spans = OpenSpans::default();
        spans.new_span(&[NEW, 100]); // stays open throughout
        for _ in 0..10_000 {
            spans.new_span(&[NEW, 1]);
            spans.new_span(&[NEW, 2]);
            spans.close(&[CLOSE, 2]);
            spans.close(&[CLOSE, 1]);
        }
        assert!(
            spans.order.len() <= 2 * spans.by_id.len() + 64 + 1,
            "{}",
            spans.order.len()
        );
        assert!(spans.spare.len() <= SPARE_BUFFERS);
        spans.new_span(&[NEW, 9]);
        assert_eq!(open_ids(&spans), [100, 9]);
    }
}
