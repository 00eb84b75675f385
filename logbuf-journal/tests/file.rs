//! Journal files: round trips, a torn tail at every byte offset, flipped bytes, foreign input.
//! The reader never panics and yields what the damage left intact.

use logbuf_journal::file::{FileHeader, FileReader, FileWriter, OpenError};
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Dropped, Event, FORMAT_MAJOR, FORMAT_MINOR, FollowsFrom,
    Interned, Level, Record, SpanClose, SpanCloseTimes, SpanNew, SpanRecord, SpanTransition,
    ThreadName, Value,
};
use proptest::prelude::*;

fn header() -> FileHeader {
    FileHeader {
        pid: 4242,
        program: "file-test".into(),
        clock: Clock {
            ticks: 1,
            unix_nanos: 2,
        },
    }
}

/// A record of every kind, cycling, with content that depends on `i`.
fn record(i: u64, text: &str) -> Record<'_> {
    match i % 13 {
        0 => Record::Callsite(Callsite {
            id: i,
            kind: if i.is_multiple_of(2) {
                CallsiteKind::Event
            } else {
                CallsiteKind::Span
            },
            level: Level::Warn,
            target: text,
            name: "name",
            module_path: Some(text),
            file: None,
            line: Some(i as u32),
            fields: vec!["message", text],
        }),
        1 => Record::Event(Event {
            callsite: i,
            time: i * 1000,
            thread: i % 3,
            parent: i.is_multiple_of(2).then_some(i / 2),
            values: vec![
                Value::Str(text),
                Value::U64(i),
                Value::I64(-(i as i64)),
                Value::Empty,
            ],
        }),
        2 => Record::SpanNew(SpanNew {
            id: i,
            parent: None,
            callsite: 1,
            time: i,
            thread: 2,
            values: vec![
                Value::F64(i as f64 / 3.0),
                Value::Bool(true),
                Value::Bytes(text.as_bytes()),
            ],
        }),
        3 => Record::SpanRecord(SpanRecord {
            id: i,
            values: vec![Value::Debug(text)],
        }),
        4 => Record::SpanEnter(SpanTransition {
            id: i,
            time: i,
            thread: 1,
        }),
        5 => Record::SpanExit(SpanTransition {
            id: i,
            time: i + 1,
            thread: 1,
        }),
        6 => Record::SpanClose(SpanClose { id: i, time: i + 2 }),
        7 => Record::FollowsFrom(FollowsFrom {
            span: i,
            follows: i - 1,
        }),
        8 => Record::ThreadName(ThreadName {
            thread: i,
            name: text,
        }),
        9 => Record::Dropped(Dropped {
            thread: 1,
            count: i,
            first_time: 5,
            last_time: 9,
        }),
        11 => Record::Interned(Interned { id: i, text }),
        12 => Record::SpanCloseTimes(SpanCloseTimes {
            id: i,
            time: i + 3,
            busy: i / 2,
            idle: i << 7,
        }),
        _ => Record::Clock(Clock {
            ticks: i << 20,
            unix_nanos: i << 30,
        }),
    }
}

const TEXT: &str = "le café — 日本";

/// Where a frame starts and ends in a file.
type Frame = (usize, usize);

/// A file of `n` records in blocks of `per_block`; returns its bytes, the encoded records and
/// where the frame holding each record starts and ends.
fn blocks(n: u64, per_block: u64) -> (Vec<u8>, Vec<Vec<u8>>, Vec<Frame>) {
    let mut w = FileWriter::new(Vec::new(), &header()).unwrap();
    let mut records = Vec::new();
    let mut frames = Vec::new();
    let mut start = w.bytes_written() as usize;
    for i in 0..n {
        let bytes = postcard::to_allocvec(&record(i, TEXT)).unwrap();
        w.write_record(&bytes).unwrap();
        records.push(bytes);
        if (i + 1) % per_block == 0 || i + 1 == n {
            w.end_block().unwrap();
            let end = w.bytes_written() as usize;
            let in_block = records.len() - frames.len();
            frames.extend(std::iter::repeat_n((start, end), in_block));
            start = end;
        }
    }
    (w.finish().unwrap(), records, frames)
}

/// A file of `n` records, one per frame; returns its bytes, the encoded records and where each
/// frame ends.
fn file(n: u64) -> (Vec<u8>, Vec<Vec<u8>>, Vec<usize>) {
    let (bytes, records, frames) = blocks(n, 1);
    (bytes, records, frames.iter().map(|f| f.1).collect())
}

/// Every record a reader yields, re-encoded, and its stats.
fn read_all(bytes: &[u8]) -> Result<(Vec<Vec<u8>>, logbuf_journal::file::ReadStats), OpenError> {
    let mut reader = FileReader::new(bytes)?;
    let mut out = Vec::new();
    while let Some(record) = reader.next_record() {
        out.push(postcard::to_allocvec(&record.unwrap()).unwrap());
    }
    Ok((out, reader.stats().clone()))
}

#[test]
fn every_record_kind_round_trips() {
    let (bytes, records, _) = blocks(44, 5);
    let mut reader = FileReader::new(&bytes[..]).unwrap();
    assert_eq!(reader.header(), &header());
    assert_eq!(reader.version(), (FORMAT_MAJOR, FORMAT_MINOR));
    for i in 0..44 {
        assert_eq!(reader.next_record().unwrap().unwrap(), record(i, TEXT));
    }
    assert!(reader.next_record().is_none());
    assert!(reader.stats().is_clean());
    assert_eq!(reader.stats().records, records.len() as u64);
}

#[test]
fn a_torn_tail_at_every_offset_yields_a_prefix() {
    for per_block in [1, 3, 23] {
        torn_tail_at_every_offset(per_block);
    }
}

fn torn_tail_at_every_offset(per_block: u64) {
    let (bytes, records, frames) = blocks(23, per_block);
    let ends: Vec<usize> = frames.iter().map(|f| f.1).collect();
    let header_end = frames[0].0;
    for cut in 0..bytes.len() {
        let result = read_all(&bytes[..cut]);
        if cut < header_end {
            assert!(
                matches!(result, Err(OpenError::NotAJournal | OpenError::BadHeader)),
                "cut at {cut}: {result:?}"
            );
            continue;
        }
        let (got, stats) = result.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let whole = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(got, records[..whole], "cut at {cut}");
        let last_end = if whole == 0 {
            header_end
        } else {
            ends[whole - 1]
        };
        assert_eq!(
            stats.torn_tail_bytes,
            (cut - last_end) as u64,
            "cut at {cut}"
        );
        assert_eq!(stats.damaged_regions, 0, "cut at {cut}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 500 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn flipped_bytes_lose_only_the_frames_they_hit(
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), 1..=255u8), 1..6),
        per_block in 1..6u64,
    ) {
        let (mut bytes, records, frames) = blocks(30, per_block);
        let header_end = frames[0].0;
        let mut hit = vec![false; records.len()];
        for (at, mask) in &flips {
            // Damage records, not the header (a damaged header is its own error).
            let at = header_end + at.index(bytes.len() - header_end);
            bytes[at] ^= mask;
            for (i, &(start, end)) in frames.iter().enumerate() {
                hit[i] |= (start..end).contains(&at);
            }
        }
        let (got, stats) = read_all(&bytes).unwrap();
        // What comes out is in order and each one is a real record...
        let mut next = 0;
        for record in &got {
            let i = records[next..].iter().position(|r| r == record).expect("a record that was written");
            next += i + 1;
        }
        // ...and every frame no flip touched survives.
        for (i, record) in records.iter().enumerate() {
            if !hit[i] {
                prop_assert!(got.contains(record), "untouched record {} lost", i);
            }
        }
        prop_assert!(stats.damaged_regions + stats.torn_tail_bytes.min(1) >= 1);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = read_all(&bytes);
        // The same bytes behind a valid preamble and header reach the frame scanner.
        let mut w = FileWriter::new(Vec::new(), &header()).unwrap();
        w.get_mut().extend_from_slice(&bytes);
        let (_, stats) = read_all(&w.finish().unwrap()).unwrap();
        // A record takes at least two bytes: its length and its kind.
        prop_assert!(stats.records <= bytes.len() as u64 / 2);
    }
}

#[test]
fn foreign_input_is_refused_plainly() {
    assert!(matches!(
        FileReader::new(&b""[..]),
        Err(OpenError::NotAJournal)
    ));
    assert!(matches!(
        FileReader::new(&b"2026-11-29 INFO hello\n"[..]),
        Err(OpenError::NotAJournal)
    ));
    for major in [0, 3] {
        let (mut bytes, _, _) = file(1);
        bytes[8] = major;
        match FileReader::new(&bytes[..]) {
            Err(e @ OpenError::UnsupportedVersion { minor, .. }) if minor == FORMAT_MINOR => {
                assert!(e.to_string().contains(&format!("{major}.{minor}")), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
    let (mut bytes, _, _) = file(1);
    bytes[14] ^= 0xff; // inside the header frame's length/checksum
    assert!(matches!(
        FileReader::new(&bytes[..]),
        Err(OpenError::BadHeader)
    ));
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        FileReader::open(dir.path()),
        Err(OpenError::Io(_))
    ));
    assert!(matches!(
        FileReader::open(dir.path().join("missing.lbf")),
        Err(OpenError::Io(_))
    ));
}

#[test]
fn records_of_unknown_kinds_are_skipped_and_counted() {
    let mut w = FileWriter::new(Vec::new(), &header()).unwrap();
    // Kind 60, from some newer minor version, and a known kind with a value kind from the future.
    w.write_record(&[60, 1, 2, 3]).unwrap();
    w.write_record(&[1, 0, 0, 0, 0, 1, 99]).unwrap();
    let known = postcard::to_allocvec(&record(8, "after")).unwrap();
    w.write_record(&known).unwrap();
    let (got, stats) = read_all(&w.finish().unwrap()).unwrap();
    assert_eq!(got, vec![known]);
    assert_eq!((stats.unknown_records, stats.undecodable_records), (1, 1));
    assert!(!stats.is_clean());
}

#[test]
fn files_on_disk_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.lbf");
    // Enough records to need several refills of the reader's buffer.
    let mut w = FileWriter::new(std::fs::File::create(&path).unwrap(), &header()).unwrap();
    let big = "x".repeat(3000);
    for i in 0..2_000 {
        w.write_record(&postcard::to_allocvec(&record(i, &big)).unwrap())
            .unwrap();
    }
    drop(w);
    let mut reader = FileReader::open(&path).unwrap();
    let mut n = 0;
    while let Some(r) = reader.next_record() {
        assert_eq!(r.unwrap(), record(n, &big));
        n += 1;
    }
    assert_eq!(n, 2_000);
    assert!(reader.stats().is_clean());
}

#[test]
fn a_block_whose_first_length_is_huge_is_damage_not_a_panic() {
    // A frame whose payload starts with the largest varint: its checksum holds, but the
    // length it gives cannot fit (found by the fuzzer: the plausibility check overflowed).
    let mut payload = vec![0xff; 9];
    payload.push(0x01);
    payload.extend_from_slice(&[0; 6]);
    let mut w = FileWriter::new(Vec::new(), &header()).unwrap();
    let frame_at = w.get_mut().len();
    w.get_mut()
        .extend_from_slice(&(payload.len() as u32).to_le_bytes());
    w.get_mut()
        .extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    w.get_mut().extend_from_slice(&payload);
    let known = postcard::to_allocvec(&record(3, "after")).unwrap();
    w.write_record(&known).unwrap();
    let bytes = w.finish().unwrap();
    assert!(bytes.len() > frame_at);
    let (got, stats) = read_all(&bytes).unwrap();
    assert_eq!(got, vec![known]);
    assert_eq!(stats.damaged_regions, 1);
}

/// A writer that fails its next `failures` writes (after taking part of the first, as a disk
/// that fills mid-write does), then takes everything.
#[derive(Default)]
struct Flaky {
    out: Vec<u8>,
    failures: u32,
}

impl std::io::Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.failures > 0 {
            self.failures -= 1;
            if buf.len() > 100 && self.failures.is_multiple_of(2) {
                // Part of it goes through before the disk fills.
                self.out.extend_from_slice(&buf[..37]);
                return Ok(37);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left",
            ));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn event(n: u64) -> Vec<u8> {
    postcard::to_allocvec(&Record::Event(Event {
        callsite: 1,
        time: n,
        thread: 1,
        parent: None,
        values: vec![Value::U64(n), Value::Str("some text to fill the frames")],
    }))
    .unwrap()
}

#[test]
fn frames_whose_write_failed_are_written_when_the_writer_recovers() {
    let mut w = FileWriter::new(Flaky::default(), &header()).unwrap();
    let mut errors = 0;
    for n in 0..10_000u64 {
        if n % 1_000 == 0 {
            // A fault every 1 000 records: 7 failed writes in a row.
            w.get_mut().failures = 7;
        }
        errors += u32::from(w.write_record(&event(n)).is_err());
        if n % 250 == 0 {
            errors += u32::from(w.flush().is_err());
        }
    }
    assert!(errors > 0, "the faults were met");
    w.flush().unwrap();
    assert_eq!(w.lost_records(), 0);
    let bytes = w.finish().unwrap().out;
    let mut reader = FileReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(record) = reader.next_record() {
        let Record::Event(e) = record.unwrap() else {
            panic!("not an event")
        };
        assert_eq!(e.time, n, "every record once, in order");
        n += 1;
    }
    assert_eq!(n, 10_000);
    assert!(reader.stats().is_clean(), "{:?}", reader.stats());
}

#[test]
fn a_writer_that_keeps_failing_loses_a_bounded_counted_number_of_records() {
    let mut w = FileWriter::new(Flaky::default(), &header()).unwrap();
    w.get_mut().failures = u32::MAX;
    let mut named = 0u64;
    for n in 0..100_000u64 {
        if let Err(e) = w.write_record(&event(n)) {
            // "N records dropped ..." when a bound was passed.
            if let Some((count, _)) = e.to_string().split_once(" records dropped") {
                named += count.parse::<u64>().unwrap();
            }
        }
    }
    assert!(w.lost_records() > 0);
    assert_eq!(named, w.lost_records());
    // What is still held is at most the bound (1 MiB) and a block: the rest was dropped.
    let record_bytes = event(99_999).len() as u64 + 1;
    assert!(100_000 - w.lost_records() <= ((1 << 20) + 4096 * 2) / record_bytes);
    // Recovered: what is held is written.
    w.get_mut().failures = 0;
    w.flush().unwrap();
    let kept = 100_000 - w.lost_records();
    let bytes = w.finish().unwrap().out;
    let mut reader = FileReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while let Some(record) = reader.next_record() {
        record.unwrap();
        n += 1;
    }
    assert_eq!(n, kept);
}
