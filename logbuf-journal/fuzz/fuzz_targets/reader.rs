//! Feeds arbitrary bytes to the journal file reader, raw and behind a valid preamble and
//! header, and renders whatever events come out as text and JSON: nothing may panic, loop
//! forever or allocate without bound.
//!
//! ```text
//! cargo install cargo-fuzz
//! cd logbuf-journal && cargo +nightly fuzz run reader -- -max_total_time=300
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use logbuf_journal::file::{FileHeader, FileReader, FileWriter};
use logbuf_journal::read::Reader;
use logbuf_journal::sink::json::JsonFormat;
use logbuf_journal::sink::text::TextFormat;
use logbuf_journal::wire::Clock;

fn read_all(bytes: &[u8]) {
    if let Ok(mut reader) = FileReader::new(bytes) {
        while let Some(record) = reader.next_record() {
            let _ = record.map(|r| format!("{r:?}"));
        }
    }
    if let Ok(file) = FileReader::new(bytes) {
        let mut reader = Reader::new(file);
        let (text, json) = (TextFormat::new(), JsonFormat::new());
        let mut out = Vec::new();
        while let Some(Ok(event)) = reader.next_event() {
            out.clear();
            text.render(&event, &mut out);
            json.render(&event, &mut out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    read_all(data);
    let header = FileHeader {
        pid: 1,
        program: "fuzz".into(),
        clock: Clock {
            ticks: 0,
            unix_nanos: 0,
        },
    };
    let mut w = FileWriter::new(Vec::new(), &header).expect("in-memory writer");
    w.get_mut().extend_from_slice(data);
    read_all(&w.finish().expect("in-memory writer"));
});
