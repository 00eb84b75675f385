//! A checked-in journal file and its expected decoding, so the format cannot drift silently:
//! today's writer must produce the same bytes, and today's reader must decode them to the same
//! records.
//!
//! After an intended format change (a new major or minor version), regenerate both files with
//! `LOGBUF_BLESS=1 cargo test -p logbuf-journal --test golden` and review the diff. The files
//! of earlier versions stay, and are still read.

use std::fmt::Write as _;
use std::path::Path;

use logbuf_journal::encode::Encoder;
use logbuf_journal::file::{FileHeader, FileReader, FileWriter};
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Discarded, Dropped, DroppedCallsite, DroppedCallsites,
    DroppedSpans, FollowsFrom, Interned, Level, Record, SpanClose, SpanCloseTimes, SpanTransition,
    ThreadEnd, ThreadName,
};

/// Writes the golden journal: every record kind, and events through the hot-path encoder.
fn golden_bytes() -> Vec<u8> {
    let header = FileHeader {
        pid: 4321,
        program: "golden".into(),
        clock: Clock {
            ticks: 1_000,
            unix_nanos: 1_764_388_800_000_000_000,
        },
    };
    let mut w = FileWriter::new(Vec::new(), &header).unwrap();
    let mut put = |r: Record<'_>| w.write_record(&postcard::to_allocvec(&r).unwrap()).unwrap();
    put(Record::Clock(Clock {
        ticks: 1_000,
        unix_nanos: 1_764_388_800_000_000_000,
    }));
    put(Record::ThreadName(ThreadName {
        thread: 1,
        name: "main",
    }));
    put(Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "app::server",
        name: "request",
        module_path: Some("app::server"),
        file: Some("src/server.rs"),
        line: Some(42),
        fields: vec!["method", "path"],
    }));
    put(Record::Callsite(Callsite {
        id: 2,
        kind: CallsiteKind::Event,
        level: Level::Warn,
        target: "app::server",
        name: "event src/server.rs:57",
        module_path: Some("app::server"),
        file: Some("src/server.rs"),
        line: Some(57),
        fields: vec!["message", "status", "latency", "ok", "err"],
    }));
    let mut buf = [0u8; 256];
    let mut enc = Encoder::new(&mut buf);
    enc.span_new(7, None, 1, 1_100, 1, 2);
    enc.value_str("GET");
    enc.value_debug(format_args!("{:?}", "/users/42"));
    let n = enc.finish().unwrap();
    w.write_record(&buf[..n]).unwrap();
    w.write_record(
        &postcard::to_allocvec(&Record::SpanEnter(SpanTransition {
            id: 7,
            time: 1_150,
            thread: 1,
        }))
        .unwrap(),
    )
    .unwrap();
    let mut enc = Encoder::new(&mut buf);
    enc.event(2, 1_200, 1, Some(7), 5);
    enc.value_debug(format_args!("slow response after {} retries", 3));
    enc.value_u64(503);
    enc.value_f64(0.25);
    enc.value_bool(false);
    enc.value_error(&std::io::Error::other("upstream timed out"));
    let n = enc.finish().unwrap();
    w.write_record(&buf[..n]).unwrap();
    let mut enc = Encoder::new(&mut buf);
    enc.event(2, 1_300, 1, None, 5);
    enc.value_str("plain message");
    enc.value_i64(-12);
    enc.value_u128(u128::MAX);
    enc.value_i128(i128::MIN);
    enc.value_bytes(b"\x00\xff");
    let n = enc.finish().unwrap();
    w.write_record(&buf[..n]).unwrap();
    // A second block: an interned message and an event that refers to it.
    w.end_block().unwrap();
    w.write_record(
        &postcard::to_allocvec(&Record::Interned(Interned {
            id: 1,
            text: "request done",
        }))
        .unwrap(),
    )
    .unwrap();
    let mut enc = Encoder::new(&mut buf);
    enc.event(2, 1_350, 1, Some(7), 5);
    enc.value_interned(1);
    enc.value_u64(200);
    enc.value_f64(0.5);
    enc.value_bool(true);
    enc.value_empty();
    let n = enc.finish().unwrap();
    w.write_record(&buf[..n]).unwrap();
    let mut put = |r: Record<'_>| w.write_record(&postcard::to_allocvec(&r).unwrap()).unwrap();
    put(Record::SpanExit(SpanTransition {
        id: 7,
        time: 1_400,
        thread: 1,
    }));
    put(Record::FollowsFrom(FollowsFrom {
        span: 8,
        follows: 7,
    }));
    put(Record::SpanClose(SpanClose { id: 7, time: 1_500 }));
    // Format 2.3: two of the three were callsite 2's, before the report.
    put(Record::DroppedCallsites(DroppedCallsites {
        thread: 1,
        callsites: vec![DroppedCallsite {
            callsite: 2,
            count: 2,
        }],
    }));
    put(Record::Dropped(Dropped {
        thread: 1,
        count: 3,
        first_time: 1_250,
        last_time: 1_260,
    }));
    // Format 2.2: one of the three was a span record.
    put(Record::DroppedSpans(DroppedSpans {
        thread: 1,
        count: 1,
    }));
    // Format 2.1: a span closed with its times, through the hot-path encoder and as serde
    // writes it.
    let mut enc = Encoder::new(&mut buf);
    enc.span_close_times(9, 2_000, 300, 200_000);
    let n = enc.finish().unwrap();
    w.write_record(&buf[..n]).unwrap();
    w.write_record(
        &postcard::to_allocvec(&Record::SpanCloseTimes(SpanCloseTimes {
            id: 10,
            time: 2_100,
            busy: 0,
            idle: 1_100,
        }))
        .unwrap(),
    )
    .unwrap();
    // Format 2.2: a thread ended.
    put2(
        &mut w,
        Record::ThreadEnd(ThreadEnd {
            thread: 1,
            time: 2_200,
        }),
    );
    // Format 2.4: a flight recorder's events discarded by design.
    put2(
        &mut w,
        Record::Discarded(Discarded {
            count: 12,
            first_time: 1_100,
            last_time: 2_150,
        }),
    );
    w.finish().unwrap()
}

fn put2(w: &mut FileWriter<Vec<u8>>, record: Record<'_>) {
    w.write_record(&postcard::to_allocvec(&record).unwrap())
        .unwrap();
}

fn decode(bytes: &[u8]) -> String {
    let mut reader = FileReader::new(bytes).unwrap();
    let mut text = format!("{:?}\n", reader.header());
    while let Some(record) = reader.next_record() {
        writeln!(text, "{:?}", record.unwrap()).unwrap();
    }
    assert!(reader.stats().is_clean());
    text
}

#[test]
fn files_of_format_1_still_read() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bytes = std::fs::read(dir.join("v1.0.lbf")).unwrap();
    assert_eq!(FileReader::new(&bytes[..]).unwrap().version(), (1, 0));
    assert_eq!(
        decode(&bytes),
        std::fs::read_to_string(dir.join("v1.0.txt")).unwrap()
    );
}

#[test]
fn files_of_format_2_0_still_read() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bytes = std::fs::read(dir.join("v2.0.lbf")).unwrap();
    assert_eq!(FileReader::new(&bytes[..]).unwrap().version(), (2, 0));
    assert_eq!(
        decode(&bytes),
        std::fs::read_to_string(dir.join("v2.0.txt")).unwrap()
    );
}

#[test]
fn files_of_format_2_1_still_read() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bytes = std::fs::read(dir.join("v2.1.lbf")).unwrap();
    assert_eq!(FileReader::new(&bytes[..]).unwrap().version(), (2, 1));
    assert_eq!(
        decode(&bytes),
        std::fs::read_to_string(dir.join("v2.1.txt")).unwrap()
    );
}

#[test]
fn files_of_format_2_2_still_read() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bytes = std::fs::read(dir.join("v2.2.lbf")).unwrap();
    assert_eq!(FileReader::new(&bytes[..]).unwrap().version(), (2, 2));
    assert_eq!(
        decode(&bytes),
        std::fs::read_to_string(dir.join("v2.2.txt")).unwrap()
    );
}

#[test]
fn files_of_format_2_3_still_read() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bytes = std::fs::read(dir.join("v2.3.lbf")).unwrap();
    assert_eq!(FileReader::new(&bytes[..]).unwrap().version(), (2, 3));
    assert_eq!(
        decode(&bytes),
        std::fs::read_to_string(dir.join("v2.3.txt")).unwrap()
    );
}

#[test]
fn the_format_has_not_drifted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let (lbf, txt) = (dir.join("v2.4.lbf"), dir.join("v2.4.txt"));
    if std::env::var_os("LOGBUF_BLESS").is_some() {
        std::fs::write(&lbf, golden_bytes()).unwrap();
        std::fs::write(&txt, decode(&golden_bytes())).unwrap();
    }
    let checked_in = std::fs::read(&lbf).unwrap();
    assert_eq!(FileReader::new(&checked_in[..]).unwrap().version(), (2, 4));
    assert_eq!(golden_bytes(), checked_in, "the writer's bytes changed");
    assert_eq!(
        decode(&checked_in),
        std::fs::read_to_string(&txt).unwrap(),
        "the decoding changed"
    );
}
