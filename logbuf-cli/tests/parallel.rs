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

/// A file that grows while the workers read it: every worker reads to the length the file had
/// when the run started, so the output holds the events of that prefix, each once, with no
/// gap (each worker reading to its own end of file left holes between chunks).
#[test]
fn a_file_growing_during_the_run_gives_a_whole_prefix() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.lbf");
    let (journal, guard) = Journal::builder()
        .file(&path)
        .unwrap()
        .flush_interval(std::time::Duration::from_millis(1))
        .build()
        .unwrap();
    let cs = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "app",
        name: "live",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["message", "i"],
    });
    let log = |i: u64| {
        journal.write(64, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 2);
            enc.value_str("event");
            enc.value_u64(i);
        })
    };
    let mut next = 0;
    while next < 4 * CHUNK {
        log(next);
        next += 1;
    }
    journal.flush();
    let stop = AtomicBool::new(false);
    let options = Options {
        format: Format::Json,
        ..Options::default()
    };
    for _ in 0..10 {
        let from = next;
        let run_and_logged = std::thread::scope(|scope| {
            // Events keep arriving, flushed every millisecond, while the workers read.
            let writer = scope.spawn(|| {
                let mut i = from;
                // A bounded amount, so that a reader chasing the end of the file ends too.
                while !stop.load(Ordering::Relaxed) && i < from + 50 * CHUNK {
                    for _ in 0..16 {
                        log(i);
                        i += 1;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                i
            });
            let run = threads(&path, &options, 3);
            stop.store(true, Ordering::Relaxed);
            (run, writer.join().unwrap())
        });
        let ((summary, out, _), logged) = (run_and_logged.0, run_and_logged.1);
        next = logged;
        stop.store(false, Ordering::Relaxed);
        let seen: Vec<u64> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["fields"]["i"].as_u64().unwrap()
            })
            .collect();
        let want: Vec<u64> = (0..seen.len() as u64).collect();
        assert_eq!(seen, want, "a gap in the output");
        assert!(seen.len() as u64 >= 4 * CHUNK);
        assert_eq!(summary.events_written, seen.len() as u64);
    }
    drop(guard);
}
