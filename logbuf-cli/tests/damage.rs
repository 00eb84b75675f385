//! Hostile input through the library the command runs: a good journal, cut, flipped, spliced
//! and overwritten in many random ways, goes through `cat` (text and JSON), `stats`, span
//! timings and field statistics (`stats --spans --field`, `--html`) and the Chrome export.
//! None may panic; the export must stay one JSON document with a complete event for every
//! enter it saw; the HTML page must stay well-formed; the exit status must say damage
//! whenever the bytes changed.

use std::path::{Path, PathBuf};

use logbuf_cli::cat::{self, Options};
use logbuf_cli::filter::Filter;
use logbuf_cli::query::{self, GroupBy, Query};
use logbuf_cli::render::Format;
use logbuf_cli::{Exit, export, html, stats};
use logbuf_journal::Journal;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};

/// A journal with spans, nested events and several value kinds.
fn journal(dir: &Path) -> PathBuf {
    let path = dir.join("good.lbf");
    let (journal, guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    let span = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "app",
        name: "request",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["id"],
    });
    let event = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Warn,
        target: "app::db",
        name: "event",
        module_path: None,
        file: Some("src/db.rs"),
        line: Some(9),
        fields: vec!["message", "n", "x", "ok", "raw"],
    });
    for i in 0..40u64 {
        journal.write(64, |enc, at| {
            enc.span_new(i + 1, None, span, at.time, at.thread, 1);
            enc.value_u64(i);
        });
        journal.write(32, |enc, at| enc.span_enter(i + 1, at.time, at.thread));
        journal.write(128, |enc, at| {
            enc.event(event, at.time, at.thread, Some(i + 1), 5);
            enc.value_debug(format_args!("row {i} \"quoted\"\n"));
            enc.value_i64(-(i as i64));
            enc.value_f64(i as f64 / 3.0);
            enc.value_bool(i % 2 == 0);
            enc.value_bytes(&[0, 1, 0xff]);
        });
        journal.write(32, |enc, at| enc.span_exit(i + 1, at.time, at.thread));
        journal.write(32, |enc, at| enc.span_close(i + 1, at.time));
    }
    drop(guard);
    path
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(good: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = good.to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(5) {
            0 => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            1 => bytes.truncate(rng.below(bytes.len())),
            2 => {
                let at = rng.below(bytes.len());
                let len = rng.below(64).min(bytes.len() - at);
                bytes.drain(at..at + len);
            }
            3 => {
                let at = rng.below(bytes.len());
                let junk: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, junk);
            }
            _ => {
                let at = rng.below(bytes.len());
                let len = rng.below(32).min(bytes.len() - at);
                for b in &mut bytes[at..at + len] {
                    *b = rng.next() as u8;
                }
            }
        }
        if bytes.is_empty() {
            break;
        }
    }
    bytes
}

#[test]
fn mangled_journals_never_panic_and_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let good_path = journal(dir.path());
    let good = std::fs::read(&good_path).unwrap();
    let path = dir.path().join("bad.lbf");

    // The untouched file is clean.
    let mut out = Vec::new();
    let mut diag = Vec::new();
    let summary = cat::run_paths(
        std::slice::from_ref(&good_path),
        &Options::default(),
        &mut out,
        &mut diag,
    )
    .unwrap();
    assert_eq!((summary.exit, summary.events_written), (Exit::Ok, 40));

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut damaged = 0;
    for round in 0..200 {
        let bytes = mutate(&good, &mut rng);
        std::fs::write(&path, &bytes).unwrap();
        let paths = [path.clone()];
        let mut cat_exit = Exit::Ok;
        for format in [Format::Text { color: true }, Format::Json] {
            let options = Options {
                format,
                ..Options::default()
            };
            let (mut out, mut diag) = (Vec::new(), Vec::new());
            let summary = cat::run_paths(&paths, &options, &mut out, &mut diag).unwrap();
            let text = String::from_utf8(out).expect("output is UTF-8");
            assert_eq!(text.lines().count() as u64, summary.events_written);
            if format == Format::Json {
                for line in text.lines() {
                    serde_json::from_str::<serde_json::Value>(line)
                        .unwrap_or_else(|e| panic!("round {round}: {e}: {line}"));
                }
            }
            let diag = String::from_utf8(diag).unwrap();
            if bytes != good {
                // Changed bytes are either reported or were harmless to decoding: a flipped
                // value byte under an intact checksum cannot happen, so a clean read of
                // different bytes means the change fell in a region nothing reads.
                if summary.exit == Exit::Ok {
                    assert_eq!(diag, "", "round {round}");
                } else {
                    assert!(
                        !diag.is_empty(),
                        "round {round}: {:?} unexplained",
                        summary.exit
                    );
                    assert!(diag.lines().all(|l| l.starts_with("logbuf: ")), "{diag}");
                }
            }
            if format == Format::Json && summary.exit != Exit::Ok {
                damaged += 1;
            }
            cat_exit = summary.exit;
        }
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        stats::run(&paths, 5, &mut out, &mut diag).unwrap();
        // Span timings and field statistics read what `cat` reads and say the same exit;
        // their HTML page stays well-formed.
        let query = Query {
            spans: true,
            field: Some("x".into()),
            by: GroupBy::Span,
            filter: Filter {
                level: Some(Level::Info),
                ..Filter::default()
            },
            top: 5,
        };
        let mut diag = Vec::new();
        let (report, exit) = query::collect(&paths, &query, &mut diag);
        assert_eq!(exit, cat_exit, "round {round}");
        let mut page = Vec::new();
        html::write(report.spans.as_ref().unwrap(), "bad.lbf", &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        let options = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        roxmltree::Document::parse_with_options(&page, options)
            .unwrap_or_else(|e| panic!("round {round}: page not well-formed: {e}"));
        report.write_text(&mut Vec::new(), 5).unwrap();
        let (mut out, mut diag) = (Vec::new(), Vec::new());
        export::chrome(&paths, &mut out, &mut diag).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("round {round}: export is not JSON: {e}"));
        let events = doc["traceEvents"].as_array().unwrap();
        for e in events.iter().filter(|e| e["ph"] == "X") {
            assert!(e["dur"].as_f64().unwrap() >= 0.0, "{e}");
        }
    }
    assert!(damaged > 130, "most mutations are damage: {damaged}");
}
