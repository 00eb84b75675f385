//! `logbuf cat` on several threads writes exactly what one thread writes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use logbuf_cli::Exit;
use logbuf_cli::cat::{self, Options, Summary};
use logbuf_cli::filter::{Filter, parse_level};
use logbuf_cli::parallel::{self, CHUNK};
use logbuf_cli::render::{Details, Format};
use logbuf_journal::Journal;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};

const EVENTS: u64 = 3 * CHUNK + 123;

/// Events at two levels on two threads, in spans that open and close across chunk edges.
fn journal(dir: &Path) -> PathBuf {
    let path = dir.join("big.lbf");
    let (journal, guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    let site = |kind, level, name| {
        journal.register_callsite(&Callsite {
            id: 0,
            kind,
            level,
            target: "app",
            name,
            module_path: None,
            file: None,
            line: None,
            fields: vec!["message", "i"],
        })
    };
    let span = site(CallsiteKind::Span, Level::Info, "batch");
    let info = site(CallsiteKind::Event, Level::Info, "info");
    let warn = site(CallsiteKind::Event, Level::Warn, "warn");
    std::thread::scope(|scope| {
        for t in 0..2u64 {
            let journal = &journal;
            std::thread::Builder::new()
                .name(format!("t{t}"))
                .spawn_scoped(scope, move || {
                    let mut id = 0;
                    for i in (t..EVENTS).step_by(2) {
                        if i % 1000 < 2 {
                            if id != 0 {
                                journal.write(32, |enc, at| enc.span_close(id, at.time));
                            }
                            id = i + 1;
                            journal.write(64, |enc, at| {
                                enc.span_new(id, None, span, at.time, at.thread, 2);
                                enc.value_str("b");
                                enc.value_u64(i);
                            });
                        }
                        let cs = if i % 7 == 0 { warn } else { info };
                        journal.write(64, |enc, at| {
                            enc.event(cs, at.time, at.thread, Some(id), 2);
                            enc.value_str("event");
                            enc.value_u64(i);
                        });
                    }
                })
                .unwrap();
        }
    });
    drop(guard);
    path
}

fn one_thread(path: &Path, options: &Options) -> (Summary, Vec<u8>, String) {
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    let summary = cat::run_paths(&[path.to_path_buf()], options, &mut out, &mut diag).unwrap();
    (summary, out, String::from_utf8(diag).unwrap())
}

fn threads(path: &Path, options: &Options, n: usize) -> (Summary, Vec<u8>, String) {
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    let summary = parallel::run_file(path, options, n, &mut out, &mut diag).unwrap();
    (summary, out, String::from_utf8(diag).unwrap())
}

#[test]
fn same_output_as_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(dir.path());
    let all = Options::default();
    let warnings = Options {
        format: Format::Json,
        filter: Filter {
            level: Some(parse_level("warn").unwrap()),
            ..Filter::default()
        },
        details: Details {
            threads: true,
            source: true,
        },
        jobs: 1,
    };
    for options in [&all, &warnings] {
        let single = one_thread(&path, options);
        assert_eq!(single.0.exit, Exit::Ok);
        assert_eq!(single.0.events_read, EVENTS);
        for n in [2, 3] {
            let multi = threads(&path, options, n);
            assert_eq!(multi.0, single.0, "{n} threads");
            assert!(multi.1 == single.1, "{n} threads: output differs");
            assert_eq!(multi.2, single.2);
        }
    }
    let single = one_thread(&path, &warnings);
    assert_eq!(single.0.events_written, EVENTS.div_ceil(7));
}

#[test]
fn same_output_and_report_for_a_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    bytes[len / 3] ^= 0x10;
    bytes[len / 2] ^= 0x01;
    bytes.truncate(len - 3);
    std::fs::write(&path, &bytes).unwrap();
    let single = one_thread(&path, &Options::default());
    assert_eq!(single.0.exit, Exit::Damaged);
    assert!(single.2.contains("damaged region") && single.2.contains("torn tail"));
    let multi = threads(&path, &Options::default(), 2);
    assert_eq!(multi.0, single.0);
    assert!(multi.1 == single.1, "output differs");
    assert_eq!(multi.2, single.2);
}

/// Accepts `limit` bytes, then fails as a closed pipe does.
struct Closing {
    limit: usize,
}

impl Write for Closing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.limit < buf.len() {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        self.limit -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_writer_stops_every_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(dir.path());
    let mut out = Closing { limit: 100_000 };
    let mut diag = Vec::new();
    let err = parallel::run_file(&path, &Options::default(), 3, &mut out, &mut diag).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}
