//! Feeds arbitrary records, written as whole frames into two files of one series, to
//! `logbuf cat`'s merge of a series in text and JSON: the series merge, the span context
//! (parents that form chains and cycles, spans closed out of order, the bounded scope) and the
//! rendering see hostile records rather than hostile framing, which a fuzzer cannot get past
//! (every frame carries a CRC). Nothing may panic, loop forever or allocate without bound.
//!
//! ```text
//! cd logbuf-journal && cargo +nightly fuzz run series -- -max_total_time=300
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use logbuf_cli::cat::{self, Options, Source};
use logbuf_cli::render::Format;
use logbuf_journal::file::{FileHeader, FileReader, FileWriter};
use logbuf_journal::wire::Clock;

/// A journal file whose records are `records`, each in a valid frame.
fn file(records: &[&[u8]], ticks: u64) -> Vec<u8> {
    let header = FileHeader {
        pid: 1,
        program: "fuzz".into(),
        clock: Clock {
            ticks,
            unix_nanos: ticks,
        },
    };
    let mut w = FileWriter::new(Vec::new(), &header).expect("in-memory writer");
    for record in records {
        // Records the writer refuses (empty, too long) are left out, as a sink would.
        let _ = w.write_record(record);
    }
    w.finish().expect("in-memory writer")
}

/// Cuts `data` into records: a length byte, then that many bytes.
fn records(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len).min(rest.len());
        let (record, rest) = rest.split_at(len);
        out.push(record);
        data = rest;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte says how many records go to the first file; the rest go to the second.
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let all = records(rest);
    let (a, b) = all.split_at(usize::from(first).min(all.len()));
    let files = [file(a, 0), file(b, 1_000)];
    for format in [Format::Text { color: false }, Format::Json] {
        let sources: Vec<Source<&[u8]>> = files
            .iter()
            .enumerate()
            .filter_map(|(i, bytes)| {
                let reader = FileReader::new(bytes.as_slice()).ok()?;
                Some(Source::new(format!("part{i}.lbf").into(), reader))
            })
            .collect();
        let options = Options {
            format,
            filter: Default::default(),
            details: Default::default(),
            jobs: 1,
        };
        let _ = cat::run(sources, &options, &mut std::io::sink(), &mut std::io::sink());
    }
});
