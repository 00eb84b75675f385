//! A corpus of hostile journal files, each about as large as asked, and a clean file of the
//! same size: damaged, cut short, junk made to look like frames (adversarial lengths), span
//! parents that form a cycle, a huge callsite table, a deep chain of spans. For each file,
//! the events (by their `seq` field) that were written in frames no damage touched: a reader
//! must give back every one of them.
//!
//! Used by `tests/hostile_corpus.rs` (no panic, every intact event read, by the reader and by
//! `logbuf cat`) and `benches/hostile_decode.rs` (decode rate against the clean file).

use logbuf_journal::file::{FileHeader, FileWriter};
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Event, Level, Record, SpanClose, SpanNew, ThreadName, Value,
};

use crate::XorShift64;

/// One file of the corpus.
#[derive(Debug, Clone)]
pub struct HostileFile {
    /// A short name for tables.
    pub name: &'static str,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// `seq` of every event in a frame no damage touched, in file order.
    pub intact: Vec<u64>,
    /// Every event written, by `seq`: what a reader returns is among these.
    pub written: u64,
}

/// Id of the event callsite whose fields are `message` and `seq`.
pub const EVENT_CALLSITE: u64 = 2;
const SPAN_CALLSITE: u64 = 1;
/// Bytes at the start of a file no damage touches (the callsite definitions live there).
const KEEP: usize = 64 << 10;

fn header() -> FileHeader {
    FileHeader {
        pid: 4242,
        program: "hostile".into(),
        clock: Clock {
            ticks: 1_000,
            unix_nanos: 1_764_000_000_000_000_000,
        },
    }
}

/// Builds a file block by block, remembering which events each frame holds.
struct Builder {
    w: FileWriter<Vec<u8>>,
    /// Start and end of each frame, and the `seq`s of its events.
    frames: Vec<(usize, usize, Vec<u64>)>,
    pending: Vec<u64>,
    seq: u64,
    time: u64,
}

impl Builder {
    fn new() -> Self {
        let mut b = Self {
            w: FileWriter::new(Vec::new(), &header()).expect("in memory"),
            frames: Vec::new(),
            pending: Vec::new(),
            seq: 0,
            time: 1_000,
        };
        b.put(&Record::ThreadName(ThreadName {
            thread: 1,
            name: "main",
        }));
        b.put(&Record::Callsite(Callsite {
            id: SPAN_CALLSITE,
            kind: CallsiteKind::Span,
            level: Level::Info,
            target: "hostile",
            name: "request",
            module_path: Some("hostile"),
            file: Some("hostile.rs"),
            line: Some(1),
            fields: vec!["path"],
        }));
        b.put(&Record::Callsite(Callsite {
            id: EVENT_CALLSITE,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "hostile",
            name: "event",
            module_path: Some("hostile"),
            file: Some("hostile.rs"),
            line: Some(2),
            fields: vec!["message", "seq"],
        }));
        b
    }

    fn len(&self) -> usize {
        self.w.bytes_written() as usize + self.w.pending() as usize
    }

    fn put(&mut self, record: &Record<'_>) {
        let before = self.w.bytes_written() as usize;
        let bytes = postcard::to_allocvec(record).expect("encodes");
        self.w.write_record(&bytes).expect("in memory");
        self.note(before);
    }

    fn note(&mut self, before: usize) {
        let after = self.w.bytes_written() as usize;
        if after != before {
            self.frames
                .push((before, after, std::mem::take(&mut self.pending)));
        }
    }

    fn event(&mut self, callsite: u64, parent: Option<u64>) {
        self.time += 7;
        let seq = self.seq;
        self.seq += 1;
        self.pending.push(seq);
        self.put(&Record::Event(Event {
            callsite,
            time: self.time,
            thread: 1,
            parent,
            values: vec![Value::Str("request handled"), Value::U64(seq)],
        }));
    }

    fn span(&mut self, id: u64, parent: Option<u64>, callsite: u64) {
        self.time += 3;
        self.put(&Record::SpanNew(SpanNew {
            id,
            parent,
            callsite,
            time: self.time,
            thread: 1,
            values: vec![Value::Str("/users")],
        }));
    }

    fn close(&mut self, id: u64) {
        self.time += 3;
        self.put(&Record::SpanClose(SpanClose {
            id,
            time: self.time,
        }));
    }

    /// Events in spans of 100, as a service writes them, until the file holds `size` bytes.
    fn events_until(&mut self, size: usize) {
        let mut span = 1_000_000 + self.seq;
        while self.len() < size {
            span += 1;
            self.span(span, None, SPAN_CALLSITE);
            for _ in 0..100 {
                self.event(EVENT_CALLSITE, Some(span));
            }
            self.close(span);
        }
    }

    fn end_block(&mut self) {
        let before = self.w.bytes_written() as usize;
        self.w.end_block().expect("in memory");
        self.note(before);
    }

    /// The bytes and the frames.
    fn finish(mut self) -> Built {
        self.end_block();
        let written = self.seq;
        let bytes = self.w.finish().expect("in memory");
        Built {
            bytes,
            frames: self.frames,
            written,
        }
    }
}

struct Built {
    bytes: Vec<u8>,
    frames: Vec<(usize, usize, Vec<u64>)>,
    written: u64,
}

impl Built {
    /// The file with `ranges` of it overwritten by `fill`; the events of the frames they
    /// touch are lost.
    fn overwrite(
        self,
        name: &'static str,
        ranges: &[(usize, usize)],
        mut fill: impl FnMut(usize) -> u8,
    ) -> HostileFile {
        let mut bytes = self.bytes;
        for &(from, to) in ranges {
            for (i, b) in bytes[from..to].iter_mut().enumerate() {
                *b = fill(from + i);
            }
        }
        let intact = self
            .frames
            .iter()
            .filter(|(s, e, _)| ranges.iter().all(|&(from, to)| to <= *s || from >= *e))
            .flat_map(|(_, _, seqs)| seqs.iter().copied())
            .collect();
        HostileFile {
            name,
            bytes,
            intact,
            written: self.written,
        }
    }

    /// The file with `junk` inserted between two frames near `at`: no frame is touched.
    fn insert(self, name: &'static str, at: usize, junk: &[u8]) -> HostileFile {
        let boundary = self
            .frames
            .iter()
            .map(|f| f.1)
            .find(|&end| end >= at)
            .unwrap_or(self.bytes.len());
        let mut bytes = self.bytes;
        bytes.splice(boundary..boundary, junk.iter().copied());
        HostileFile {
            name,
            bytes,
            intact: self.frames.into_iter().flat_map(|f| f.2).collect(),
            written: self.written,
        }
    }
}

fn clean_of(size: usize) -> Built {
    let mut b = Builder::new();
    b.events_until(size);
    b.finish()
}

/// How deep the span chains of a file of `size` bytes go: a span per KiB, at least 4096
/// (far past the 128 spans `logbuf cat` writes per event) and at most 10 000.
fn chain_depth(size: usize) -> u64 {
    (size as u64 >> 10).clamp(4096, 10_000)
}

fn repeat(pattern: &[u8], len: usize) -> Vec<u8> {
    pattern.iter().copied().cycle().take(len).collect()
}

/// Ranges of `len` bytes every `every` bytes, past the first [`KEEP`] bytes, within `size`.
fn every(size: usize, every: usize, len: usize) -> Vec<(usize, usize)> {
    (KEEP..size.saturating_sub(len))
        .step_by(every)
        .map(|at| (at, at + len))
        .collect()
}

/// The clean file of about `size` bytes (at least 256 KiB): events in spans, as a service
/// writes them.
pub fn clean(size: usize) -> HostileFile {
    let built = clean_of(size.max(256 << 10));
    built.overwrite("clean", &[], |_| 0)
}

/// The hostile files, each of about `size` bytes (at least 256 KiB).
pub fn corpus(size: usize) -> Vec<HostileFile> {
    let size = size.max(256 << 10);
    let mut files = Vec::new();
    let mut rng = XorShift64::new(0x5eed);

    // Damage as disks and transfers do it.
    let built = clean_of(size);
    let flips: Vec<_> = every(built.bytes.len(), 64 << 10, 1);
    files.push(built.overwrite("bit flips every 64 KiB", &flips, |_| 0x55));
    let built = clean_of(size);
    let zeros = every(built.bytes.len(), 256 << 10, 4096);
    files.push(built.overwrite("4 KiB zeroed every 256 KiB", &zeros, |_| 0));
    let built = clean_of(size);
    let junk = every(built.bytes.len(), 1 << 20, 64 << 10);
    files.push(built.overwrite("64 KiB random every 1 MiB", &junk, |_| rng.next_u64() as u8));
    let built = clean_of(size);
    let cut = built.bytes.len() - 1000;
    let len = built.bytes.len();
    let mut file = built.overwrite("cut short (torn tail)", &[(cut, len)], |_| 0);
    file.bytes.truncate(cut);
    files.push(file);

    // Junk made to read as frames, between good frames: a quarter of the file up front,
    // most of it in the middle.
    let junk_len = size / 2;
    for (name, pattern) in [
        // The report's shape: every fourth offset a length just under 16 MiB.
        (
            "length just under 16 MiB, repeated",
            &[0xf0, 0xff, 0xff, 0x00][..],
        ),
        // Frames of ~900 KiB whose records parse, each followed by another.
        (
            "chained frames whose records parse",
            &[0x04, 0x03, 0x0e, 0x00][..],
        ),
        // Every other offset a frame of 64 KiB of one-byte records.
        ("one-byte records, every other offset", &[0x01, 0x00][..]),
    ] {
        let built = clean_of(size - junk_len);
        let at = built.bytes.len() / 4;
        files.push(built.insert(name, at, &repeat(pattern, junk_len)));
    }
    // A false header claiming 24 KiB after every good frame.
    {
        let mut b = Builder::new();
        let span = 7;
        b.span(span, None, SPAN_CALLSITE);
        while b.len() < size {
            for _ in 0..20 {
                b.event(EVENT_CALLSITE, Some(span));
            }
            b.end_block();
            b.w.get_mut()
                .extend_from_slice(&(24u32 << 10).to_le_bytes());
            b.w.get_mut().extend_from_slice(&[0xaa; 4]);
        }
        let written = b.seq;
        let bytes = b.w.finish().expect("in memory");
        files.push(HostileFile {
            name: "false 24 KiB length after each frame",
            bytes,
            intact: (0..written).collect(),
            written,
        });
    }

    // Span parents that name each other, with many open spans.
    {
        let mut b = Builder::new();
        b.span(1, Some(2), SPAN_CALLSITE);
        b.span(2, Some(1), SPAN_CALLSITE);
        let open = chain_depth(size);
        for id in 3..3 + open {
            b.span(id, Some(id - 1), SPAN_CALLSITE);
        }
        while b.len() < size {
            b.event(EVENT_CALLSITE, Some(1));
            b.event(EVENT_CALLSITE, Some(2 + open));
        }
        let built = b.finish();
        files.push(built.overwrite("span parents in a cycle", &[], |_| 0));
    }

    // A callsite table of half the file, then events of them all.
    {
        let mut b = Builder::new();
        let name = "a callsite name long enough to make a table of many bytes".repeat(2);
        let mut id = 100;
        while b.len() < size / 2 {
            id += 1;
            b.put(&Record::Callsite(Callsite {
                id,
                kind: CallsiteKind::Event,
                level: Level::Warn,
                target: &name,
                name: &name,
                module_path: Some(&name),
                file: Some("hostile.rs"),
                line: Some(id as u32),
                fields: vec!["message", "seq"],
            }));
        }
        let mut cs = 100;
        while b.len() < size {
            cs = if cs >= id { 101 } else { cs + 1 };
            b.event(cs, None);
        }
        let built = b.finish();
        files.push(built.overwrite("huge callsite table", &[], |_| 0));
    }

    // A chain of nested spans (4096 deep up to 4 MiB, 10 000 in files of 10 MiB and more),
    // events in the deepest.
    {
        let mut b = Builder::new();
        let depth = chain_depth(size);
        b.span(1, None, SPAN_CALLSITE);
        for id in 2..=depth {
            b.span(id, Some(id - 1), SPAN_CALLSITE);
        }
        while b.len() < size {
            b.event(EVENT_CALLSITE, Some(depth));
        }
        let built = b.finish();
        files.push(built.overwrite("deep span chain", &[], |_| 0));
    }
    files
}
