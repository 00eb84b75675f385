//! Journal files: round trips, a torn tail at every byte offset, flipped bytes, foreign input.
//! The reader never panics and yields what the damage left intact.

use logbuf_journal::file::{FileHeader, FileReader, FileWriter, OpenError};
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Dropped, Event, FollowsFrom, Level, Record, SpanClose, SpanNew,
    SpanRecord, SpanTransition, ThreadName, Value,
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
    match i % 11 {
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
        _ => Record::Clock(Clock {
            ticks: i << 20,
            unix_nanos: i << 30,
        }),
    }
}

const TEXT: &str = "le café — 日本";

/// A file of `n` records; returns its bytes, the encoded records and where each frame ends.
fn file(n: u64) -> (Vec<u8>, Vec<Vec<u8>>, Vec<usize>) {
    let mut w = FileWriter::new(Vec::new(), &header()).unwrap();
    let mut records = Vec::new();
    let mut ends = Vec::new();
    for i in 0..n {
        let bytes = postcard::to_allocvec(&record(i, TEXT)).unwrap();
        w.write_record(&bytes).unwrap();
        ends.push(w.bytes_written() as usize);
        records.push(bytes);
    }
    (w.into_inner(), records, ends)
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
    let (bytes, records, _) = file(44);
    let mut reader = FileReader::new(&bytes[..]).unwrap();
    assert_eq!(reader.header(), &header());
    assert_eq!(reader.version(), (1, 0));
    for i in 0..44 {
        assert_eq!(reader.next_record().unwrap().unwrap(), record(i, TEXT));
    }
    assert!(reader.next_record().is_none());
    assert!(reader.stats().is_clean());
    assert_eq!(reader.stats().records, records.len() as u64);
}

#[test]
fn a_torn_tail_at_every_offset_yields_a_prefix() {
    let (bytes, records, ends) = file(23);
    let header_end = ends[0] - (records[0].len() + 8);
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
    ) {
        let (mut bytes, records, ends) = file(30);
        let header_end = ends[0] - (records[0].len() + 8);
        let mut hit = vec![false; records.len()];
        for (at, mask) in &flips {
            // Damage records, not the header (a damaged header is its own error).
            let at = header_end + at.index(bytes.len() - header_end);
            bytes[at] ^= mask;
            let frame = ends.iter().position(|&end| at < end).unwrap();
            hit[frame] = true;
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
        let (_, stats) = read_all(&w.into_inner()).unwrap();
        prop_assert!(stats.records <= bytes.len() as u64 / 9);
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
    let (mut bytes, _, _) = file(1);
    bytes[8] = 2; // major version 2
    match FileReader::new(&bytes[..]) {
        Err(e @ OpenError::UnsupportedVersion { major: 2, minor: 0 }) => {
            assert!(e.to_string().contains("2.0"), "{e}")
        }
        other => panic!("{other:?}"),
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
    let (got, stats) = read_all(&w.into_inner()).unwrap();
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
