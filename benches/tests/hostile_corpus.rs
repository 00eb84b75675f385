//! Every file of the hostile corpus (`src/hostile.rs`) through the journal reader and through
//! `logbuf cat` (text and JSON): nothing panics, every event of a frame no damage touched is
//! read back, nothing is made up, and the checksum work stays within the bound `FORMAT.md`
//! gives (26 times the file's size).

use logbuf_benches::hostile::{self, HostileFile};
use logbuf_cli::cat::{self, Options};
use logbuf_cli::render::Format;
use logbuf_journal::file::FileReader;
use logbuf_journal::read::MAX_SCOPE;
use logbuf_journal::wire::{Record, Value};

/// About 256 KiB a file: large enough for every kind of junk to repeat many times, with span
/// chains 4096 deep (`cat` writes the innermost 128 spans of each and counts the rest).
const SIZE: usize = 256 << 10;

/// `seq` of every event the reader returns, and the bytes it checksummed.
fn read(file: &HostileFile) -> (Vec<u64>, u64) {
    let mut reader = FileReader::new(&file.bytes[..]).expect("the header is intact");
    let mut seqs = Vec::new();
    while let Some(record) = reader.next_record() {
        if let Ok(Record::Event(e)) = record
            && let Some(Value::U64(seq)) = e.values.get(1)
        {
            seqs.push(*seq);
        }
    }
    (seqs, reader.checksummed_bytes())
}

/// Checks that `got` holds every intact event, in order, and only events that were written.
fn check_events(name: &str, how: &str, file: &HostileFile, got: &[u64]) {
    assert!(
        got.iter().all(|&s| s < file.written),
        "{name} ({how}): an event that was never written"
    );
    let mut at = 0;
    for &want in &file.intact {
        match got[at..].iter().position(|&s| s == want) {
            Some(i) => at += i + 1,
            None => panic!("{name} ({how}): intact event {want} missing or out of order"),
        }
    }
}

/// `seq` of every event in `logbuf cat`'s JSON lines, and the most spans an event was in
/// (those written and those counted as left out). No line lists more than [`MAX_SCOPE`] spans.
fn cat_json(path: &std::path::Path) -> (Vec<u64>, u64) {
    let options = Options {
        format: Format::Json,
        ..Options::default()
    };
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    cat::run_paths(&[path.to_path_buf()], &options, &mut out, &mut diag).expect("cat runs");
    let mut deepest = 0;
    let seqs = String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let shown = v["spans"].as_array().map_or(0, Vec::len);
            assert!(shown <= MAX_SCOPE, "{shown} spans on a line");
            let elided = v
                .get("spans_elided")
                .map_or(0, |n| n.as_u64().expect("a count"));
            deepest = deepest.max(shown as u64 + elided);
            v["fields"]["seq"].as_u64().expect("a seq field")
        })
        .collect();
    (seqs, deepest)
}

#[test]
fn the_hostile_corpus_reads_back_every_intact_event() {
    let dir = tempfile::tempdir().unwrap();
    let files = hostile::corpus(SIZE);
    assert!(files.len() >= 10);
    for file in files.iter().chain([&hostile::clean(SIZE)]) {
        let name = file.name;
        let (got, work) = read(file);
        check_events(name, "reader", file, &got);
        let bound = 26 * file.bytes.len() as u64;
        assert!(
            work <= bound,
            "{name}: {work} bytes checksummed, bound {bound}"
        );

        let path = dir.path().join("hostile.lbf");
        std::fs::write(&path, &file.bytes).unwrap();
        let (seqs, deepest) = cat_json(&path);
        check_events(name, "cat --json", file, &seqs);
        // Events in the deepest span of a chain 4096 deep (`hostile::chain_depth` at this
        // size): 128 spans written, 3968 counted; the spans off the cycle count it once.
        match name {
            "deep span chain" => assert_eq!(deepest, 4096, "{name}"),
            "span parents in a cycle" => assert_eq!(deepest, 4096 + 2, "{name}"),
            _ => assert!(deepest <= 1, "{name}: {deepest}"),
        }
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        let summary = cat::run_paths(
            std::slice::from_ref(&path),
            &Options::default(),
            &mut out,
            &mut diag,
        )
        .unwrap();
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(
            text.lines().count() as u64,
            summary.events_written,
            "{name}"
        );
        assert!(summary.events_written >= file.intact.len() as u64, "{name}");
    }
}
