//! Resynchronising after damage costs work linear in the file's size, whatever the damaged
//! bytes say, and still finds the good frames after them.
//!
//! The work is measured, not timed: [`FileReader::checksummed_bytes`] counts the payload bytes
//! the reader checksummed, which `FORMAT.md` bounds by 26 times the bytes read.

use logbuf_journal::file::{FileHeader, FileReader, FileWriter};
use logbuf_journal::wire::{Clock, Event, Record, Value};

/// The bound `FORMAT.md` gives: checksummed bytes per byte of file.
const WORK_PER_BYTE: u64 = 26;

fn header() -> FileHeader {
    FileHeader {
        pid: 1,
        program: "resync".into(),
        clock: Clock {
            ticks: 0,
            unix_nanos: 0,
        },
    }
}

fn event(i: u64) -> Vec<u8> {
    postcard::to_allocvec(&Record::Event(Event {
        callsite: 1,
        time: i,
        thread: 1,
        parent: None,
        values: vec![Value::U64(i), Value::Str("some text to make a record")],
    }))
    .unwrap()
}

/// `before` records in full blocks, `junk`, then `after` records in full blocks.
fn file_around(junk: &[u8], before: u64, after: u64) -> Vec<u8> {
    let mut w = FileWriter::new(Vec::new(), &header()).unwrap();
    for i in 0..before {
        w.write_record(&event(i)).unwrap();
    }
    w.end_block().unwrap();
    w.get_mut().extend_from_slice(junk);
    for i in before..before + after {
        w.write_record(&event(i)).unwrap();
    }
    w.finish().unwrap()
}

/// The times of the events read, the bytes checksummed, and the damage seen.
fn read(bytes: &[u8]) -> (Vec<u64>, u64, u64) {
    let mut reader = FileReader::new(bytes).unwrap();
    let mut times = Vec::new();
    while let Some(record) = reader.next_record() {
        if let Record::Event(e) = record.unwrap() {
            times.push(e.time);
        }
    }
    let damaged = reader.stats().damaged_bytes;
    (times, reader.checksummed_bytes(), damaged)
}

fn repeat(pattern: &[u8], len: usize) -> Vec<u8> {
    pattern.iter().copied().cycle().take(len).collect()
}

/// Reads a file of good records around `junk`; checks the work bound and that every record
/// outside the junk is read.
fn check(name: &str, junk: &[u8]) {
    let (before, after) = (300, 300);
    let bytes = file_around(junk, before, after);
    let (times, work, damaged) = read(&bytes);
    let bound = WORK_PER_BYTE * bytes.len() as u64;
    assert!(
        work <= bound,
        "{name}: {work} bytes checksummed for a file of {} (bound {bound})",
        bytes.len()
    );
    assert_eq!(
        times,
        (0..before + after).collect::<Vec<_>>(),
        "{name}: records lost"
    );
    assert_eq!(damaged, junk.len() as u64, "{name}");
}

#[test]
fn a_repeated_length_costs_linear_work() {
    // The shape of the report: every fourth offset reads as a frame of about 32 KiB whose
    // first record length fits, so every one of them used to be checksummed.
    check("f0 7f 00 00", &repeat(&[0xf0, 0x7f, 0x00, 0x00], 96 << 10));
    // Every other offset a frame of 64 KiB + 1 made of one-byte records of kind 0: the
    // records parse, only the checksum can tell.
    check("01 00", &repeat(&[0x01, 0x00], 160 << 10));
}

#[test]
fn frames_that_chain_cost_linear_work() {
    // Every fourth offset a frame of 772 bytes, made of records that parse, followed by
    // another such frame: nothing but the checksum tells them from good frames.
    check("04 03 00 00", &repeat(&[0x04, 0x03, 0x00, 0x00], 96 << 10));
}

#[test]
fn a_false_length_after_each_good_frame_costs_linear_work() {
    // Each good frame is followed by a header claiming a 24 KiB frame (whose payload would
    // start with the next good frame, so its first length fits): each used to be checksummed.
    let mut w = FileWriter::new(Vec::new(), &header()).unwrap();
    let n = 2_000;
    for i in 0..n {
        w.write_record(&event(i)).unwrap();
        w.end_block().unwrap();
        let false_len: u32 = 24 << 10;
        w.get_mut().extend_from_slice(&false_len.to_le_bytes());
        w.get_mut().extend_from_slice(&[0xaa; 4]);
    }
    let bytes = w.finish().unwrap();
    let (times, work, _) = read(&bytes);
    let bound = WORK_PER_BYTE * bytes.len() as u64;
    assert!(work <= bound, "{work} bytes checksummed, bound {bound}");
    assert_eq!(times, (0..n).collect::<Vec<_>>());
}
