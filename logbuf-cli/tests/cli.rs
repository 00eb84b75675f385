//! The `logbuf` command end to end: every subcommand and filter against files the journal
//! writes in the test, and damaged inputs with their exit codes and messages.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use logbuf_journal::Journal;
use logbuf_journal::file::{FileHeader, FileWriter};
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Discarded, Dropped, Event, Level, Record, SpanClose,
    SpanCloseTimes, SpanNew, SpanTransition, ThreadName, Value,
};
use serde_json::Value as Json;

fn logbuf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run logbuf")
}

fn path_arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = logbuf(args);
    let run = Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "panic: {}",
        run.stderr
    );
    run
}

/// Callsites of the sample application.
struct Sites {
    request: u64,
    query: u64,
    info: u64,
    warn: u64,
    error: u64,
    debug: u64,
}

fn callsite<'a>(
    kind: CallsiteKind,
    level: Level,
    target: &'a str,
    name: &'a str,
    line: u32,
    fields: Vec<&'a str>,
) -> Callsite<'a> {
    Callsite {
        id: 0,
        kind,
        level,
        target,
        name,
        module_path: Some(target),
        file: Some("src/app.rs"),
        line: Some(line),
        fields,
    }
}

fn sites(journal: &Journal) -> Sites {
    use CallsiteKind::{Event as E, Span as S};
    Sites {
        request: journal.register_callsite(&callsite(
            S,
            Level::Info,
            "app::http",
            "request",
            10,
            vec!["path", "status"],
        )),
        query: journal.register_callsite(&callsite(
            S,
            Level::Debug,
            "app::db",
            "query",
            20,
            vec!["table"],
        )),
        info: journal.register_callsite(&callsite(
            E,
            Level::Info,
            "app::http",
            "event src/app.rs:30",
            30,
            vec!["message", "user_id"],
        )),
        warn: journal.register_callsite(&callsite(
            E,
            Level::Warn,
            "app::db",
            "event src/app.rs:40",
            40,
            vec!["message", "rows", "slow"],
        )),
        error: journal.register_callsite(&callsite(
            E,
            Level::Error,
            "app::db",
            "event src/app.rs:50",
            50,
            vec!["message", "code"],
        )),
        debug: journal.register_callsite(&callsite(
            E,
            Level::Debug,
            "other",
            "event src/app.rs:60",
            60,
            vec!["message"],
        )),
    }
}

/// The sample application's log: on a thread named `worker-1`, a request span holding a query
/// span, with events at every level inside and outside them; on the test thread, a debug event
/// from another target. Returns the path.
///
/// Events, in order:
/// 1. INFO app::http "starting" user_id=7 (no span, worker-1)
/// 2. INFO app::http "handling" user_id=42 (in request{path="/users"})
/// 3. WARN app::db "slow query" rows=100 slow=true (in request, query{table="users"})
/// 4. ERROR app::db "failed" code=-5 (in request, query)
/// 5. INFO app::http "done" user_id=42 (in request; status recorded as 500 on the span)
/// 6. DEBUG other "background" (test thread, no span)
///
/// The journal is flushed after each event, as a lightly loaded service's is, so each event
/// ends a frame: damage to one event's bytes costs that event only.
fn sample(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let (journal, guard) = Journal::builder()
        .file(&path)
        .expect("journal file")
        .build()
        .expect("journal");
    let s = sites(&journal);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("worker-1".into())
            .spawn_scoped(scope, || {
                let event = |cs: u64,
                             parent: Option<u64>,
                             message: &str,
                             rest: &dyn Fn(&mut logbuf_journal::encode::Encoder<'_>),
                             n: usize| {
                    journal.write(256, |enc, at| {
                        enc.event(cs, at.time, at.thread, parent, n);
                        enc.value_str(message);
                        rest(enc);
                    });
                    journal.flush();
                };
                event(s.info, None, "starting", &|e| e.value_u64(7), 2);
                journal.write(128, |enc, at| {
                    enc.span_new(1, None, s.request, at.time, at.thread, 2);
                    enc.value_str("/users");
                    enc.value_empty();
                });
                journal.write(64, |enc, at| enc.span_enter(1, at.time, at.thread));
                event(s.info, Some(1), "handling", &|e| e.value_u64(42), 2);
                journal.write(128, |enc, at| {
                    enc.span_new(2, Some(1), s.query, at.time, at.thread, 1);
                    enc.value_str("users");
                });
                journal.write(64, |enc, at| enc.span_enter(2, at.time, at.thread));
                event(
                    s.warn,
                    Some(2),
                    "slow query",
                    &|e| {
                        e.value_u64(100);
                        e.value_bool(true);
                    },
                    3,
                );
                event(s.error, Some(2), "failed", &|e| e.value_i64(-5), 2);
                journal.write(64, |enc, at| enc.span_exit(2, at.time, at.thread));
                journal.write(64, |enc, at| enc.span_close(2, at.time));
                journal.write(64, |enc, _| {
                    enc.span_record(1, 2);
                    enc.value_empty();
                    enc.value_u64(500);
                });
                event(s.info, Some(1), "done", &|e| e.value_u64(42), 2);
                journal.write(64, |enc, at| enc.span_exit(1, at.time, at.thread));
                journal.write(64, |enc, at| enc.span_close(1, at.time));
            })
            .expect("spawn");
    });
    journal.write(64, |enc, at| {
        enc.event(s.debug, at.time, at.thread, None, 1);
        enc.value_str("background");
    });
    journal.flush();
    drop(guard);
    path
}

/// A journal file written record by record, with clock records that make tick `t` the time
/// `base + t` nanoseconds: for tests that need exact times.
struct Crafted {
    writer: FileWriter<File>,
}

const BASE: u64 = 1_764_000_000_000_000_000; // 2025-11-24T16:00:00Z

impl Crafted {
    fn new(path: &Path, pid: u32) -> Self {
        let header = FileHeader {
            pid,
            program: "crafted".into(),
            clock: Clock {
                ticks: 0,
                unix_nanos: BASE,
            },
        };
        let mut c = Crafted {
            writer: FileWriter::new(File::create(path).expect("create"), &header).expect("header"),
        };
        c.record(&Record::Clock(Clock {
            ticks: 1_000_000_000_000,
            unix_nanos: BASE + 1_000_000_000_000,
        }));
        c
    }

    fn record(&mut self, record: &Record<'_>) {
        let bytes = postcard::to_allocvec(record).expect("encode");
        self.writer.write_record(&bytes).expect("write");
    }

    fn event_site(&mut self, id: u64, level: Level, target: &str) {
        self.record(&Record::Callsite(Callsite {
            id,
            kind: CallsiteKind::Event,
            level,
            target,
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["message"],
        }));
    }

    fn event(&mut self, callsite: u64, time: u64, thread: u64, message: &str) {
        self.record(&Record::Event(Event {
            callsite,
            time,
            thread,
            parent: None,
            values: vec![Value::Str(message)],
        }));
    }
}

fn messages(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let (_, rest) = line.rsplit_once(": ").expect("target: message");
            rest.split(' ').next().unwrap_or_default().to_owned()
        })
        .collect()
}

// === cat ===

#[test]
fn cat_text_shows_every_event_with_its_context() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "app.lbf");
    let r = run(&["cat", path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", r.stdout);
    assert!(lines[0].contains(" INFO ") && lines[0].contains("app::http: starting user_id=7"));
    assert!(lines[1].contains("request{path=\"/users\"}: app::http: handling user_id=42"));
    assert!(lines[2].contains(" WARN "), "{}", lines[2]);
    assert!(
        lines[2].contains("request{path=\"/users\"}:query{table=\"users\"}: app::db: slow query rows=100 slow=true"),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains("ERROR") && lines[3].contains("failed code=-5"));
    assert!(lines[4].contains("status=500"), "{}", lines[4]);
    assert!(lines[5].contains("DEBUG") && lines[5].contains("other: background"));
    let detailed = run(&["cat", "--threads", "--source", path_arg(&path)]);
    let warn = detailed.stdout.lines().nth(2).unwrap();
    assert!(
        warn.contains(" WARN worker-1 ThreadId(01) request"),
        "{warn}"
    );
    assert!(
        warn.contains("app::db: src/app.rs:40: slow query"),
        "{warn}"
    );
    // RFC 3339 timestamps in UTC, in order.
    let stamps: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert!(
        stamps.iter().all(|s| s.ends_with('Z') && s.contains('T')),
        "{stamps:?}"
    );
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted);
}

#[test]
fn cat_json_lines_parse_with_the_json_sinks_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "app.lbf");
    let r = run(&["cat", "--json", path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<Json> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 6);
    let warn = &lines[2];
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["target"], "app::db");
    assert_eq!(warn["fields"]["message"], "slow query");
    assert_eq!(warn["fields"]["rows"], 100);
    assert_eq!(warn["fields"]["slow"], true);
    assert_eq!(warn["span"]["name"], "query");
    assert_eq!(warn["spans"][0]["name"], "request");
    assert_eq!(warn["spans"][0]["path"], "/users");
    assert_eq!(warn.get("threadName"), None, "the JSON sink's default");
    let threads = run(&["cat", "--json", "--threads", "--source", path_arg(&path)]);
    let warn: Json = serde_json::from_str(threads.stdout.lines().nth(2).unwrap()).unwrap();
    assert_eq!(warn["threadName"], "worker-1");
    assert_eq!(warn["filename"], "src/app.rs");
    assert_eq!(warn["line_number"], 40);
    assert!(warn["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[3]["fields"]["code"], -5);
}

#[test]
fn cat_filters() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "app.lbf");
    let p = path_arg(&path);
    let shown = |args: &[&str]| {
        let mut all = vec!["cat", p];
        all.extend_from_slice(args);
        let r = run(&all);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        messages(&r.stdout)
    };
    assert_eq!(shown(&["--level", "warn"]), ["slow", "failed"]);
    assert_eq!(shown(&["--level", "ERROR"]), ["failed"]);
    assert_eq!(shown(&["--level", "debug"]).len(), 6);
    assert_eq!(shown(&["--level", "info"]).len(), 5);
    assert_eq!(shown(&["--target", "app::db"]), ["slow", "failed"]);
    assert_eq!(shown(&["--target", "app"]).len(), 5);
    assert_eq!(shown(&["--target", "nothing"]).len(), 0);
    assert_eq!(shown(&["--thread", "worker-1"]).len(), 5);
    assert_eq!(
        shown(&["--thread", "1"]).len(),
        5,
        "thread id 1 is worker-1"
    );
    assert_eq!(shown(&["--thread", "2"]), ["background"]);
    assert_eq!(shown(&["--span", "query"]), ["slow", "failed"]);
    assert_eq!(shown(&["--span", "request"]).len(), 4);
    assert_eq!(shown(&["--field", "user_id=42"]), ["handling", "done"]);
    assert_eq!(
        shown(&["--field", "user_id=42", "--field", "status=500"]),
        ["done"]
    );
    assert_eq!(
        shown(&["--field", "table=users"]),
        ["slow", "failed"],
        "span fields count"
    );
    assert_eq!(shown(&["--field", "slow=true"]), ["slow"]);
    assert_eq!(shown(&["--field", "code=-5"]), ["failed"]);
    assert_eq!(
        shown(&["--field", "path=/users", "--level", "error"]),
        ["failed"]
    );
    // The file was written just now.
    assert_eq!(shown(&["--since", "1h"]).len(), 6);
    assert_eq!(shown(&["--since", "1d", "--until", "1h"]).len(), 0);
    assert_eq!(shown(&["--until", "2000-01-01T00:00:00Z"]).len(), 0);
    assert_eq!(shown(&["--since", "2000-01-01T00:00:00Z"]).len(), 6);
}

#[test]
fn cat_time_range_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timed.lbf");
    let mut c = Crafted::new(&path, 1);
    c.event_site(1, Level::Info, "t");
    for (i, second) in [0u64, 60, 120, 180].into_iter().enumerate() {
        c.event(1, second * 1_000_000_000, 1, &format!("m{i}"));
    }
    drop(c);
    let r = run(&[
        "cat",
        path_arg(&path),
        "--since",
        "2025-11-24T16:01:00Z",
        "--until",
        "2025-11-24T17:03:00+01:00",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(messages(&r.stdout), ["m1", "m2"]);
    assert!(
        r.stdout.starts_with("2025-11-24T16:01:00.000000Z"),
        "{}",
        r.stdout
    );
}

#[test]
fn cat_merges_files_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.lbf");
    let b = dir.path().join("b.lbf");
    let mut fa = Crafted::new(&a, 1);
    let mut fb = Crafted::new(&b, 2);
    fa.event_site(1, Level::Info, "a");
    fb.event_site(9, Level::Warn, "b");
    for i in 0..5u64 {
        fa.event(1, (2 * i) * 1000, 1, &format!("e{}", 2 * i));
        fb.event(9, (2 * i + 1) * 1000, 1, &format!("e{}", 2 * i + 1));
    }
    drop((fa, fb));
    // Listed in the other order: the output still follows time.
    let r = run(&["cat", path_arg(&b), path_arg(&a)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let expected: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    assert_eq!(messages(&r.stdout), expected);
    // Filters apply to every file.
    let r = run(&["cat", path_arg(&a), path_arg(&b), "--level", "warn"]);
    assert_eq!(messages(&r.stdout), ["e1", "e3", "e5", "e7", "e9"]);
}

#[test]
fn cat_color() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "app.lbf");
    let always = run(&["cat", "--color", "always", path_arg(&path)]);
    assert!(always.stdout.contains("\x1b["), "{}", always.stdout);
    let never = run(&["cat", "--color", "never", path_arg(&path)]);
    assert!(!never.stdout.contains('\x1b'));
    // Not a terminal: auto means none.
    let auto = run(&["cat", path_arg(&path)]);
    assert!(!auto.stdout.contains('\x1b'));
    let json = run(&["cat", "--json", "--color", "always", path_arg(&path)]);
    for line in json.stdout.lines() {
        serde_json::from_str::<Json>(line).expect("JSON stays JSON");
    }
}

#[test]
fn usage_errors_and_help() {
    let help = run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Examples:") && help.stdout.contains("Exit codes:"));
    let cat_help = run(&["cat", "--help"]);
    assert_eq!(cat_help.code, 0);
    assert!(
        cat_help.stdout.contains("--field <KEY=VALUE>"),
        "{}",
        cat_help.stdout
    );
    let r = run(&["cat", "x.lbf", "--level", "loud"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not a level"), "{}", r.stderr);
    let r = run(&["cat", "x.lbf", "--since", "yesterday"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not a time"), "{}", r.stderr);
    let r = run(&["cat", "x.lbf", "--field", "novalue"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("key=value"), "{}", r.stderr);
    let r = run(&["cat"]);
    assert_eq!(r.code, 1);
    let r = run(&["frobnicate"]);
    assert_eq!(r.code, 1);
}

// === damaged and foreign input ===

/// Every reading subcommand on `path`: exit code and a stderr line containing `message`.
fn rejected(path: &Path, code: i32, message: &str) {
    for args in [
        vec!["cat", path_arg(path)],
        vec!["stats", path_arg(path)],
        vec!["export", "--chrome", path_arg(path)],
    ] {
        let r = run(&args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.lines().count(),
            1,
            "{args:?}: one line: {}",
            r.stderr
        );
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(path_arg(path)),
            "names the file: {}",
            r.stderr
        );
    }
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    rejected(&dir.path().join("nope.lbf"), 1, "no such file");
}

#[test]
fn directory() {
    let dir = tempfile::tempdir().unwrap();
    rejected(dir.path(), 1, "is a directory");
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.lbf");
    File::create(&path).unwrap();
    rejected(&path, 2, "empty file");
}

#[test]
fn text_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, "2026-11-29T08:00:00Z INFO app: hello\n".repeat(50)).unwrap();
    rejected(&path, 2, "not a logbuf journal");
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.lbf");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..10_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    rejected(&path, 2, "not a logbuf journal");
}

#[test]
fn header_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample(dir.path(), "app.lbf");
    let bytes = std::fs::read(&good).unwrap();
    let path = dir.path().join("cut.lbf");
    std::fs::write(&path, &bytes[..14]).unwrap();
    rejected(&path, 3, "header is damaged or cut short");
}

#[test]
fn truncated_file_prints_what_decodes_and_reports_the_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample(dir.path(), "app.lbf");
    let bytes = std::fs::read(&good).unwrap();
    let path = dir.path().join("torn.lbf");
    // Cut inside the debug event, the last event written (a thread's end may follow it).
    let at = bytes
        .windows(10)
        .rposition(|w| w == b"background")
        .expect("the debug event");
    std::fs::write(&path, &bytes[..at + 3]).unwrap();
    let r = run(&["cat", path_arg(&path)]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        messages(&r.stdout),
        ["starting", "handling", "slow", "failed", "done"]
    );
    assert!(r.stderr.contains("torn tail"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
    let s = run(&["stats", path_arg(&path)]);
    assert_eq!(s.code, 3);
    assert!(s.stdout.contains("events:       5"), "{}", s.stdout);
    assert!(
        s.stdout.contains("torn tail 15 bytes") || s.stdout.contains("torn tail"),
        "{}",
        s.stdout
    );
    let e = run(&["export", "--chrome", path_arg(&path)]);
    assert_eq!(e.code, 3);
    serde_json::from_str::<Json>(&e.stdout).expect("still a whole JSON document");
}

#[test]
fn bit_flip_skips_one_record_and_reports_damage() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample(dir.path(), "app.lbf");
    let mut bytes = std::fs::read(&good).unwrap();
    // Flip a bit inside the "slow query" event's message.
    let at = bytes
        .windows(10)
        .position(|w| w == b"slow query")
        .expect("message bytes");
    bytes[at + 2] ^= 0x04;
    let path = dir.path().join("flipped.lbf");
    std::fs::write(&path, &bytes).unwrap();
    let r = run(&["cat", path_arg(&path)]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        messages(&r.stdout),
        ["starting", "handling", "failed", "done", "background"]
    );
    assert!(
        r.stderr.contains("skipped 1 damaged region"),
        "{}",
        r.stderr
    );
    let s = run(&["stats", path_arg(&path)]);
    assert_eq!(s.code, 3);
    assert!(s.stdout.contains("1 damaged region"), "{}", s.stdout);
}

#[test]
fn good_files_still_print_beside_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample(dir.path(), "app.lbf");
    let missing = dir.path().join("missing.lbf");
    let r = run(&["cat", path_arg(&missing), path_arg(&good)]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout.lines().count(), 6);
    assert!(
        r.stderr.contains("missing.lbf: no such file"),
        "{}",
        r.stderr
    );
}

// === stats ===

#[test]
fn stats_counts_levels_callsites_threads_and_drops() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "app.lbf");
    let r = run(&["stats", path_arg(&path), "--top", "2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = &r.stdout;
    assert!(out.contains("files:        1 ("), "{out}");
    assert!(out.contains("events:       6 ("), "{out}");
    assert!(
        out.contains("spans:        2 (4 enter/exit records)"),
        "{out}"
    );
    assert!(
        out.contains("dropped:      0 events and 0 span records"),
        "{out}"
    );
    assert!(
        out.contains("damage:       0 damaged regions (0 bytes) skipped, torn tail 0 bytes"),
        "{out}"
    );
    let level = |name: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {out}"));
        line.split_whitespace().last().unwrap().parse().unwrap()
    };
    assert_eq!(
        (
            level("ERROR"),
            level("WARN"),
            level("INFO"),
            level("DEBUG"),
            level("TRACE")
        ),
        (1, 1, 3, 1, 0)
    );
    assert!(out.contains("top 2 callsites of 4:"), "{out}");
    let top = out
        .lines()
        .skip_while(|l| !l.starts_with("top 2"))
        .nth(1)
        .unwrap();
    assert!(
        top.contains("3  INFO  app::http event src/app.rs:30 (src/app.rs:30)"),
        "{top}"
    );
    assert!(out.contains("5  #1 worker-1"), "{out}");
    let bytes_per_event: f64 = out
        .lines()
        .find(|l| l.starts_with("events:"))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let size = std::fs::metadata(&path).unwrap().len() as f64;
    assert!(
        (bytes_per_event - size / 6.0).abs() < 0.1,
        "{bytes_per_event}"
    );
}

#[test]
fn stats_sums_the_times_of_spans_closed_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("times.lbf");
    let mut c = Crafted::new(&path, 4);
    for (id, name) in [(1u64, "task"), (2, "query")] {
        c.record(&Record::Callsite(Callsite {
            id,
            kind: CallsiteKind::Span,
            level: Level::Info,
            target: "app",
            name,
            module_path: None,
            file: None,
            line: None,
            fields: vec![],
        }));
    }
    // Two tasks and a query; one enter and exit pair; 1 tick is 1 ns.
    for (id, callsite) in [(1u64, 1u64), (2, 1), (3, 2)] {
        c.record(&Record::SpanNew(SpanNew {
            id,
            parent: None,
            callsite,
            time: 1_000,
            thread: 1,
            values: vec![],
        }));
    }
    c.record(&Record::SpanEnter(SpanTransition {
        id: 3,
        time: 1_500,
        thread: 1,
    }));
    c.record(&Record::SpanExit(SpanTransition {
        id: 3,
        time: 2_000,
        thread: 1,
    }));
    for (id, busy, idle) in [
        (1u64, 2_000_000u64, 1_000u64),
        (2, 4_000_000, 3_000),
        (3, 500, 7_000),
    ] {
        c.record(&Record::SpanCloseTimes(SpanCloseTimes {
            id,
            time: 9_000,
            busy,
            idle,
        }));
    }
    drop(c);
    let r = run(&["stats", path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = &r.stdout;
    assert!(
        out.contains("spans:        3 (2 enter/exit records)"),
        "{out}"
    );
    let section: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("span times"))
        .take(4)
        .collect();
    assert!(section[0].contains("busiest 2 of 2"), "{out}");
    let cells = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cells(section[2]),
        ["2", "6.000ms", "4.000µs", "3.000ms", "app", "task"],
        "{out}"
    );
    assert_eq!(
        cells(section[3]),
        ["1", "0.500µs", "7.000µs", "0.500µs", "app", "query"],
        "{out}"
    );
}

#[test]
fn stats_reports_dropped_records_and_sums_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drops.lbf");
    let mut c = Crafted::new(&path, 1);
    c.event_site(1, Level::Info, "t");
    c.record(&Record::ThreadName(ThreadName {
        thread: 3,
        name: "busy",
    }));
    c.event(1, 1_000_000_000, 3, "a");
    c.record(&Record::Dropped(Dropped {
        thread: 3,
        count: 17,
        first_time: 1_000_000_000,
        last_time: 2_000_000_000,
    }));
    c.event(1, 61_000_000_000, 3, "b");
    drop(c);
    let other = sample(dir.path(), "app.lbf");
    let r = run(&["stats", path_arg(&path), path_arg(&other)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("dropped:      17 events and 0 span records"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("files:        2"), "{}", r.stdout);
    assert!(r.stdout.contains("events:       8 ("), "{}", r.stdout);
    assert!(r.stdout.contains("2  #3 busy"), "{}", r.stdout);
    let alone = run(&["stats", path_arg(&path)]);
    assert!(
        alone.stdout.contains(
            "time:         2025-11-24T16:00:01.000000Z .. 2025-11-24T16:01:01.000000Z (1m 0.000s)"
        ),
        "{}",
        alone.stdout
    );
}

#[test]
fn stats_shows_drops_and_what_a_flight_recorder_discarded_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorded.lbf");
    let mut c = Crafted::new(&path, 1);
    c.event_site(1, Level::Info, "t");
    c.event(1, 1_000_000_000, 3, "a");
    c.record(&Record::Dropped(Dropped {
        thread: 3,
        count: 17,
        first_time: 1_000_000_000,
        last_time: 2_000_000_000,
    }));
    for count in [40, 2] {
        c.record(&Record::Discarded(Discarded {
            count,
            first_time: 1_000_000_000,
            last_time: 2_000_000_000,
        }));
    }
    drop(c);
    let r = run(&["stats", path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("dropped:      17 events and 0 span records"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "discarded:    42 events held by a flight recorder and not written, as no trigger came"
        ),
        "{}",
        r.stdout
    );
    // A file without any says nothing of it.
    let plain = sample(dir.path(), "app.lbf");
    let r = run(&["stats", path_arg(&plain)]);
    assert!(!r.stdout.contains("discarded:"), "{}", r.stdout);
}

#[test]
fn cat_shows_where_a_flight_recorder_window_starts() {
    use logbuf_journal::recorder::FlightRecorder;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorded.lbf");
    let (journal, guard) = Journal::builder()
        .file(&path)
        .unwrap()
        .flight_recorder(FlightRecorder::new().dump_on_panic(false))
        .build()
        .unwrap();
    let site = |level, target| {
        journal.register_callsite(&Callsite {
            id: 0,
            kind: CallsiteKind::Event,
            level,
            target,
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["message"],
        })
    };
    let (debug, error) = (site(Level::Debug, "app::db"), site(Level::Error, "app"));
    for (callsite, message) in [
        (debug, "connecting"),
        (debug, "retrying"),
        (error, "failed"),
    ] {
        journal.write(64, |enc, at| {
            enc.event(callsite, at.time, at.thread, None, 1);
            enc.value_str(message);
        });
    }
    drop(guard);
    let r = run(&["cat", path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    assert!(
        lines[0].contains("logbuf::recorder")
            && lines[0].contains("flight recorder")
            && lines[0].contains("held=2"),
        "{}",
        r.stdout
    );
    assert!(lines[1].contains("DEBUG") && lines[1].contains("connecting"));
    assert!(lines[2].contains("DEBUG") && lines[2].contains("retrying"));
    assert!(lines[3].contains("ERROR") && lines[3].contains("failed"));
}

// === export ===

fn chrome(args: &[&str]) -> (Vec<Json>, Run) {
    let mut all = vec!["export", "--chrome"];
    all.extend_from_slice(args);
    let r = run(&all);
    let doc: Json = serde_json::from_str(&r.stdout).expect("the export parses as JSON");
    (
        doc["traceEvents"].as_array().expect("traceEvents").clone(),
        r,
    )
}

#[test]
fn chrome_export_pairs_every_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "app.lbf");
    let (events, r) = chrome(&[path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let complete: Vec<&Json> = events.iter().filter(|e| e["ph"] == "X").collect();
    let names: Vec<&str> = complete
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["query", "request"], "exit order");
    let (query, request) = (complete[0], complete[1]);
    let span_of = |e: &Json| {
        (
            e["ts"].as_f64().unwrap(),
            e["ts"].as_f64().unwrap() + e["dur"].as_f64().unwrap(),
        )
    };
    let (q0, q1) = span_of(query);
    let (r0, r1) = span_of(request);
    assert!(
        r0 <= q0 && q1 <= r1,
        "query inside request: {r0} {q0} {q1} {r1}"
    );
    assert_eq!(query["tid"], request["tid"]);
    assert_eq!(request["args"]["path"], "/users");
    assert_eq!(request["args"]["status"], 500);
    assert_eq!(query["args"]["table"], "users");
    assert_eq!(request["cat"], "app::http");
    let instants: Vec<&Json> = events.iter().filter(|e| e["ph"] == "i").collect();
    assert_eq!(instants.len(), 6);
    let slow = instants.iter().find(|e| e["name"] == "slow query").unwrap();
    assert_eq!(slow["args"]["level"], "WARN");
    assert_eq!(slow["args"]["rows"], 100);
    assert_eq!(slow["s"], "t");
    let slow_ts = slow["ts"].as_f64().unwrap();
    assert!(q0 <= slow_ts && slow_ts <= q1);
    let thread_names: Vec<&Json> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .collect();
    assert!(
        thread_names
            .iter()
            .any(|e| e["args"]["name"] == "worker-1" && e["tid"] == request["tid"]),
        "{thread_names:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "M" && e["name"] == "process_name")
    );
    for e in &events {
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
    }
}

#[test]
fn chrome_export_shows_spans_without_enter_records_from_creation_to_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("closes.lbf");
    let mut c = Crafted::new(&path, 4);
    c.record(&Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "app::task",
        name: "task",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["n"],
    }));
    for (id, time, thread) in [(1u64, 1_000u64, 1u64), (2, 2_000, 2), (3, 2_500, 1)] {
        c.record(&Record::SpanNew(SpanNew {
            id,
            parent: None,
            callsite: 1,
            time,
            thread,
            values: vec![Value::U64(id)],
        }));
    }
    // Span 3 has enter records: its enters are its slices, its life is not one.
    c.record(&Record::SpanEnter(SpanTransition {
        id: 3,
        time: 3_000,
        thread: 1,
    }));
    c.record(&Record::SpanExit(SpanTransition {
        id: 3,
        time: 3_500,
        thread: 1,
    }));
    // Closed with its times (format 2.1) on another thread than the one that made it.
    c.record(&Record::SpanCloseTimes(SpanCloseTimes {
        id: 1,
        time: 9_000,
        busy: 3_000,
        idle: 5_000,
    }));
    // A plain close, as format 2.0 writers without enter records leave it.
    c.record(&Record::SpanClose(SpanClose { id: 2, time: 4_000 }));
    c.record(&Record::SpanCloseTimes(SpanCloseTimes {
        id: 3,
        time: 4_500,
        busy: 500,
        idle: 1_500,
    }));
    drop(c);
    let (events, r) = chrome(&[path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let complete: Vec<&Json> = events.iter().filter(|e| e["ph"] == "X").collect();
    let row = |e: &Json| {
        (
            e["args"]["n"].as_u64().unwrap(),
            e["tid"].as_u64().unwrap(),
            e["ts"].as_f64().unwrap(),
            e["dur"].as_f64().unwrap(),
        )
    };
    let rows: Vec<_> = complete.iter().map(|e| row(e)).collect();
    assert_eq!(
        rows,
        [(3, 1, 3.0, 0.5), (1, 1, 1.0, 8.0), (2, 2, 2.0, 2.0)],
        "{complete:?}"
    );
    let task = complete[1];
    assert_eq!(
        (task["name"].as_str(), task["cat"].as_str()),
        (Some("task"), Some("app::task"))
    );
    assert_eq!(task["args"]["busy_us"], 3.0);
    assert_eq!(task["args"]["idle_us"], 5.0);
    assert!(complete[2]["args"].get("busy_us").is_none());
}

#[test]
fn chrome_export_closes_dangling_spans_and_writes_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dangling.lbf");
    let mut c = Crafted::new(&path, 4);
    c.record(&Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "t",
        name: "outer",
        module_path: None,
        file: None,
        line: None,
        fields: vec![],
    }));
    c.event_site(2, Level::Info, "t");
    for (id, thread) in [(1u64, 1u64), (2, 2)] {
        c.record(&Record::SpanNew(SpanNew {
            id,
            parent: None,
            callsite: 1,
            time: 1_000,
            thread,
            values: vec![],
        }));
    }
    c.record(&Record::SpanEnter(SpanTransition {
        id: 1,
        time: 2_000,
        thread: 1,
    }));
    c.record(&Record::SpanEnter(SpanTransition {
        id: 2,
        time: 3_000,
        thread: 2,
    }));
    c.record(&Record::SpanExit(SpanTransition {
        id: 2,
        time: 5_000,
        thread: 2,
    }));
    c.record(&Record::SpanClose(SpanClose { id: 2, time: 5_500 }));
    // Entered again on another thread and never exited; an exit with no enter.
    c.record(&Record::SpanEnter(SpanTransition {
        id: 1,
        time: 6_000,
        thread: 3,
    }));
    c.record(&Record::SpanExit(SpanTransition {
        id: 9,
        time: 6_500,
        thread: 3,
    }));
    c.event(2, 10_000, 1, "last");
    drop(c);
    let out = dir.path().join("trace.json");
    let r = run(&["export", "--chrome", path_arg(&path), "-o", path_arg(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let doc: Json = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    let mut complete: Vec<(u64, f64, f64, bool)> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
                e["args"]["unclosed"] == true,
            )
        })
        .collect();
    complete.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Times in microseconds from the file's start (tick 0).
    assert_eq!(
        complete,
        [
            (1, 2.0, 8.0, true),
            (2, 3.0, 2.0, false),
            (3, 6.0, 4.0, true)
        ]
    );
}

// === follow ===

/// Lines of a child's stdout, read on a thread, with a bounded wait.
struct Lines {
    rx: mpsc::Receiver<String>,
}

impl Lines {
    fn new(child: &mut Child) -> Self {
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx }
    }

    #[track_caller]
    fn next(&self) -> String {
        self.rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a line within 20 s")
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking()
            && let Some(mut stderr) = self.0.stderr.take()
        {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            eprintln!("logbuf follow's stderr: {text}");
        }
    }
}

#[test]
fn follow_prints_new_events_and_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.lbf");
    let (journal, guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    let s = sites(&journal);
    let log = |cs: u64, message: &str| {
        journal.write(128, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 2);
            enc.value_str(message);
            enc.value_u64(1);
        });
    };
    for i in 0..5 {
        log(s.info, &format!("old{i}"));
    }
    assert!(journal.flush());
    let mut child = Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args([
            "follow",
            path_arg(&path),
            "-n",
            "2",
            "--poll-ms",
            "10",
            "--level",
            "info",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::new(&mut child);
    let child = Killed(child);
    // The last two events already there.
    assert!(lines.next().contains("old3"));
    assert!(lines.next().contains("old4"));
    // New ones as they are written; the filter applies.
    journal.write(128, |enc, at| {
        enc.event(s.debug, at.time, at.thread, None, 1);
        enc.value_str("hidden");
    });
    log(s.warn, "new1");
    assert!(journal.flush());
    let line = lines.next();
    assert!(line.contains("WARN") && line.contains("new1"), "{line}");
    // Rotation: the file is renamed away and a new one created at the path.
    std::fs::rename(&path, dir.path().join("live.1.lbf")).unwrap();
    log(s.info, "late-in-old-file");
    assert!(journal.reopen(Duration::from_secs(10)));
    log(s.error, "in-new-file");
    assert!(journal.flush());
    let line = lines.next();
    assert!(line.contains("late-in-old-file"), "{line}");
    let line = lines.next();
    assert!(
        line.contains("ERROR") && line.contains("in-new-file"),
        "{line}"
    );
    drop(child);
    drop(guard);
}

#[test]
fn follow_rejects_what_it_cannot_follow() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["follow", path_arg(&dir.path().join("nope.lbf"))]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no such file"), "{}", r.stderr);
    let text = dir.path().join("app.log");
    std::fs::write(&text, "hello, this is text and not a journal\n").unwrap();
    let r = run(&["follow", path_arg(&text)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a logbuf journal"), "{}", r.stderr);
    let r = run(&["follow", path_arg(dir.path())]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is a directory"), "{}", r.stderr);
}

#[test]
fn output_closed_early_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.lbf");
    let (journal, guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    let s = sites(&journal);
    // Far more text than a pipe holds.
    for i in 0..20_000u64 {
        journal.write(128, |enc, at| {
            enc.event(s.info, at.time, at.thread, None, 2);
            enc.value_str("a line long enough to fill the pipe quickly");
            enc.value_u64(i);
        });
    }
    drop(guard);
    let mut child = Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(["cat", path_arg(&path)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

// A symbolic link; on Windows making one takes a privilege.
#[cfg(unix)]
#[test]
fn a_file_named_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "app.lbf");
    let link = dir.path().join("current.lbf");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    for command in ["cat", "stats"] {
        let r = run(&[command, path_arg(&path), path_arg(&link), path_arg(&path)]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        if command == "cat" {
            assert_eq!(r.stdout.lines().count(), 6);
        } else {
            assert!(r.stdout.contains("events:       6 ("), "{}", r.stdout);
        }
    }
}

#[test]
fn follow_starts_again_when_the_file_is_truncated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.lbf");
    let (journal, guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    let s = sites(&journal);
    let log = |message: &str| {
        journal.write(128, |enc, at| {
            enc.event(s.info, at.time, at.thread, None, 2);
            enc.value_str(message);
            enc.value_u64(1);
        });
    };
    // Enough before the truncation that the new file stays shorter than what was read.
    for _ in 0..200 {
        log("old");
    }
    log("old-last");
    assert!(journal.flush());
    let mut child = Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(["follow", path_arg(&path), "-n", "1", "--poll-ms", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::new(&mut child);
    let child = Killed(child);
    // Once the backlog is out, the follower has reached the end of the file.
    assert!(lines.next().contains("old-last"));
    log("before");
    assert!(journal.flush());
    assert!(lines.next().contains("before"));
    // Reopening without moving the file truncates it and starts it again at the same inode.
    assert!(journal.reopen(Duration::from_secs(10)));
    log("after");
    assert!(journal.flush());
    let line = lines.next();
    assert!(line.contains("after"), "{line}");
    drop(child);
    drop(guard);
}

/// A writer the test can read back after the journal is done with it.
#[derive(Clone, Default)]
struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Nanoseconds a clock record read on a loaded machine may be off.
const SLACK: i128 = 50_000_000;

/// Splits a text line into its timestamp (as nanoseconds) and the rest.
fn stamp_and_rest(line: &str) -> (i128, &str) {
    let (stamp, rest) = line.split_once(' ').unwrap();
    let nanos = chrono::DateTime::parse_from_rfc3339(stamp)
        .unwrap_or_else(|e| panic!("{e}: {stamp}"))
        .timestamp_nanos_opt()
        .unwrap();
    (i128::from(nanos), rest)
}

#[test]
fn cat_prints_what_the_text_and_json_sinks_print() {
    use logbuf_journal::sink::json::JsonSink;
    use logbuf_journal::sink::text::TextSink;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.lbf");
    let (text, json) = (Shared::default(), Shared::default());
    let (journal, guard) = Journal::builder()
        .file(&path)
        .unwrap()
        .sink(TextSink::new(text.clone()))
        .sink(JsonSink::new(json.clone()))
        .build()
        .unwrap();
    let s = sites(&journal);
    let before = i128::from(logbuf_cli::time::now_nanos());
    // `path` recorded after `status`: the text sink writes fields in the order recorded.
    journal.write(128, |enc, at| {
        enc.span_new(5, None, s.request, at.time, at.thread, 2);
        enc.value_empty();
        enc.value_u64(200);
    });
    journal.write(128, |enc, _| {
        enc.span_record(5, 2);
        enc.value_str("/a \"b\"");
        enc.value_empty();
    });
    for i in 0..50u64 {
        journal.write(128, |enc, at| {
            enc.event(s.warn, at.time, at.thread, Some(5), 3);
            enc.value_debug(format_args!("row {i}\tdone"));
            enc.value_u64(i);
            enc.value_bool(i % 3 == 0);
        });
    }
    journal.write(64, |enc, at| enc.span_close(5, at.time));
    let after = i128::from(logbuf_cli::time::now_nanos());
    drop(guard);

    let sink_text = String::from_utf8(text.0.lock().unwrap().clone()).unwrap();
    let r = run(&["cat", path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (ours, theirs): (Vec<&str>, Vec<&str>) =
        (r.stdout.lines().collect(), sink_text.lines().collect());
    assert_eq!(ours.len(), 50);
    assert!(
        ours[0].contains("request{status=200 path=\"/a \\\"b\\\"\"}:"),
        "{}",
        ours[0]
    );
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        // The same renderer, so the same text after the time. The time is the file's clock
        // records' reading of the tick counter (the sink reads it from the pairs it saw, which
        // may be fewer), and it lies between the clock readings around the writes, give or
        // take what a thread preempted between reading the tick counter and the wall clock
        // for a clock record could add on a loaded machine.
        let ((ta, ra), (_, rb)) = (stamp_and_rest(a), stamp_and_rest(b));
        assert_eq!(ra, rb);
        assert!(
            before - SLACK <= ta && ta <= after + SLACK,
            "{before} {ta} {after}"
        );
    }

    let sink_json = String::from_utf8(json.0.lock().unwrap().clone()).unwrap();
    let r = run(&["cat", "--json", path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (a, b) in r.stdout.lines().zip(sink_json.lines()) {
        let (mut a, mut b): (Json, Json) = (
            serde_json::from_str(a).unwrap(),
            serde_json::from_str(b).unwrap(),
        );
        let ta = a["timestamp"].take();
        b["timestamp"].take();
        assert_eq!(a, b);
        let (ta, _) = stamp_and_rest(&format!("{} x", ta.as_str().unwrap()));
        assert!(
            before - SLACK <= ta && ta <= after + SLACK,
            "{before} {ta} {after}"
        );
    }
    assert_eq!(r.stdout.lines().count(), sink_json.lines().count());
}

#[test]
fn follow_moves_on_to_the_next_file_of_a_stamped_series() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("app.2026-11-29T06.lbf");
    let second = dir.path().join("app.2026-11-29T07.lbf");
    let log = |journal: &Journal, s: &Sites, message: &str| {
        journal.write(128, |enc, at| {
            enc.event(s.info, at.time, at.thread, None, 1);
            enc.value_str(message);
        });
    };
    let (journal, guard) = Journal::builder().file(&first).unwrap().build().unwrap();
    let s = sites(&journal);
    log(&journal, &s, "hour-six");
    assert!(journal.flush());
    let mut child = Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(["follow", path_arg(&first), "--poll-ms", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::new(&mut child);
    let child = Killed(child);
    assert!(lines.next().contains("hour-six"));
    log(&journal, &s, "hour-six-late");
    drop(guard);
    // The next file of the series appears; the old one gets nothing more.
    let (journal, guard) = Journal::builder().file(&second).unwrap().build().unwrap();
    let s = sites(&journal);
    log(&journal, &s, "hour-seven");
    assert!(journal.flush());
    assert!(lines.next().contains("hour-six-late"));
    let line = lines.next();
    assert!(line.contains("hour-seven"), "{line}");
    drop(child);
    drop(guard);
}

#[test]
fn cat_and_stats_read_a_rotated_series_as_one_log() {
    use logbuf_journal::rotate::{Current, Rotation};

    let dir = tempfile::tempdir().unwrap();
    let (journal, guard) = Journal::builder()
        .rotating_file(
            dir.path().join("app.lbf"),
            Rotation::size(4096).current(Current::None),
        )
        .unwrap()
        .build()
        .unwrap();
    let s = sites(&journal);
    journal.write(128, |enc, at| {
        enc.span_new(1, None, s.request, at.time, at.thread, 2);
        enc.value_str("/long");
        enc.value_empty();
    });
    const N: u64 = 600;
    for i in 0..N {
        journal.write(128, |enc, at| {
            enc.event(s.info, at.time, at.thread, Some(1), 2);
            enc.value_debug(format_args!("n{i:04}"));
            enc.value_u64(i);
        });
        if i % 50 == 0 {
            // Let the worker write (and rotate) as it goes rather than all at the end.
            assert!(journal.flush());
        }
    }
    drop(guard);
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_owned())
        .filter(|p| p.ends_with(".lbf"))
        .collect();
    assert!(files.len() >= 5, "rotated into several files: {files:?}");
    // Listed newest first: the output is still in time order.
    files.sort();
    files.reverse();
    let mut args = vec!["cat"];
    args.extend(files.iter().map(String::as_str));
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let expected: Vec<String> = (0..N).map(|i| format!("n{i:04}")).collect();
    assert_eq!(messages(&r.stdout), expected);
    let stamps: Vec<i128> = r.stdout.lines().map(|l| stamp_and_rest(l).0).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "times never go back"
    );
    assert!(
        r.stdout
            .lines()
            .all(|l| l.contains("request{path=\"/long\"}: app::http: n")),
        "every file carries the open span"
    );
    args[0] = "stats";
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("events:       {N} (")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("files:        {} (", files.len())),
        "{}",
        r.stdout
    );
}

#[test]
fn follow_the_rotating_sinks_current_link() {
    follow_rotating(logbuf_journal::rotate::Current::Link);
}

#[test]
fn follow_the_rotating_sinks_fixed_current_name() {
    follow_rotating(logbuf_journal::rotate::Current::Fixed);
}

#[test]
fn follow_a_rotating_series_with_no_current_name() {
    follow_rotating(logbuf_journal::rotate::Current::None);
}

/// Follows a journal rotating by size every few dozen events, by its base path (or, with no
/// current name, by the first file's name), and checks that every event comes out once, in
/// order.
fn follow_rotating(current: logbuf_journal::rotate::Current) {
    use logbuf_journal::rotate::{Current, Rotation};

    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.lbf");
    let (journal, guard) = Journal::builder()
        .rotating_file(&base, Rotation::size(2048).current(current))
        .unwrap()
        .build()
        .unwrap();
    let s = sites(&journal);
    let log = |i: u64| {
        journal.write(128, |enc, at| {
            enc.event(s.info, at.time, at.thread, None, 2);
            enc.value_debug(format_args!("n{i:04}"));
            enc.value_u64(i);
        });
    };
    log(0);
    assert!(journal.flush());
    let followed = match current {
        Current::None => std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
        _ => base.clone(),
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(["follow", path_arg(&followed), "--poll-ms", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::new(&mut child);
    let child = Killed(child);
    assert!(lines.next().contains("n0000"));
    // Several rotations, each file written and flushed in steps.
    for i in 1..200 {
        log(i);
        if i % 20 == 0 {
            assert!(journal.flush());
        }
    }
    assert!(journal.flush());
    let stamped = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .contains(".20")
        })
        .count();
    assert!(stamped >= 3, "rotated: {stamped} stamped files");
    for i in 1..200 {
        let line = lines.next();
        assert!(line.contains(&format!("n{i:04}")), "{i}: {line}");
    }
    // Nothing twice: the next line is the next event.
    log(999);
    assert!(journal.flush());
    let line = lines.next();
    assert!(line.contains("n0999"), "{line}");
    drop(child);
    drop(guard);
}

#[test]
fn standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "app.lbf");
    let piped = |args: &[&str], input: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_logbuf"))
            .args(args)
            .stdin(File::open(input).unwrap())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, stdout, stderr) = piped(&["cat", "--json", "-"], &path);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, run(&["cat", "--json", path_arg(&path)]).stdout);
    let (code, stdout, _) = piped(&["stats", "-"], &path);
    assert_eq!(code, 0);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        stdout.contains(&format!("files:        1 ({size} bytes)")),
        "{stdout}"
    );
    let (code, stdout, _) = piped(&["export", "--chrome", "-"], &path);
    assert_eq!(code, 0);
    serde_json::from_str::<Json>(&stdout).unwrap();
    // Not a journal on standard input: the usual line, naming it.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "plain text\n").unwrap();
    let (code, _, stderr) = piped(&["cat", "-"], &text);
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim_end(),
        "logbuf: -: not a logbuf journal (it does not start with the journal's magic bytes)"
    );
    let (code, _, stderr) = piped(&["follow", "-"], &text);
    assert_eq!(code, 1);
    assert!(stderr.contains("not standard input"), "{stderr}");
}

// === dropped records ===

/// The counts of the drop reports among text lines (`… WARN logbuf: 1,234 records dropped …`).
fn drop_counts(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.split_once(" WARN logbuf: "))
        .map(|(_, rest)| {
            let (count, what) = rest.split_once(' ').unwrap();
            assert!(what.starts_with("record"), "{rest}");
            count.replace(',', "").parse().unwrap()
        })
        .collect()
}

#[test]
fn cat_and_stats_report_dropped_records() {
    use logbuf_journal::FullPolicy;
    use logbuf_journal::sink::text::TextSink;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("burst.lbf");
    let text = Shared::default();
    let (journal, guard) = Journal::builder()
        .ring_capacity(4096)
        .policy(FullPolicy::Drop)
        .idle_park_interval(Duration::from_secs(1))
        .file(&path)
        .unwrap()
        .sink(TextSink::new(text.clone()))
        .build()
        .unwrap();
    let s = sites(&journal);
    std::thread::Builder::new()
        .name("burst".into())
        .spawn({
            let journal = journal.clone();
            move || {
                for i in 0..20_000u64 {
                    // Every fourth record a span record: drops of both kinds.
                    if i % 4 == 3 {
                        journal.write_span(24, |enc, at| enc.span_close(i, at.time));
                        continue;
                    }
                    journal.write(128, |enc, at| {
                        enc.event(s.warn, at.time, at.thread, None, 3);
                        enc.value_debug(format_args!("row {i}"));
                        enc.value_u64(i);
                        enc.value_bool(true);
                    });
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
    journal.flush();
    drop(guard);
    let (dropped, dropped_spans) = (journal.stats().dropped, journal.stats().dropped_spans);
    assert!(
        dropped_spans > 0 && dropped > dropped_spans,
        "the burst overflowed the ring with both kinds: {dropped} {dropped_spans}"
    );

    let r = run(&["cat", path_arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let counts = drop_counts(&r.stdout);
    assert!(!counts.is_empty(), "no drop report");
    assert_eq!(counts.iter().sum::<u64>(), dropped);
    // Events shown and events dropped make the 15 000 events logged.
    assert_eq!(
        r.stdout.lines().count() as u64 - counts.len() as u64 + dropped - dropped_spans,
        15_000
    );
    // The line the text sink wrote, but for the time (read through other clock pairs).
    let sink_text = String::from_utf8(text.0.lock().unwrap().clone()).unwrap();
    let reports = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains(" WARN logbuf: "))
            .map(|l| stamp_and_rest(l).1.to_owned())
            .collect()
    };
    assert_eq!(reports(&r.stdout), reports(&sink_text));
    assert!(
        reports(&r.stdout)[0].ends_with(" dropped on thread burst (ring full or record too large)"),
        "{}",
        r.stdout
    );

    // Filters that the dropped records could have passed keep the reports; another thread or
    // a time window without them leaves them out.
    let errors = run(&[
        "cat",
        "--level",
        "error",
        "--target",
        "nothing",
        path_arg(&path),
    ]);
    assert_eq!(drop_counts(&errors.stdout).iter().sum::<u64>(), dropped);
    let threads = run(&["cat", "--thread", "burst", path_arg(&path)]);
    assert_eq!(drop_counts(&threads.stdout).iter().sum::<u64>(), dropped);
    let other = run(&["cat", "--thread", "other", path_arg(&path)]);
    assert_eq!(other.stdout, "");
    let future = run(&["cat", "--since", "2999-01-01T00:00:00Z", path_arg(&path)]);
    assert_eq!(future.stdout, "");

    let json = run(&["cat", "--json", path_arg(&path)]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let reported: u64 = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .filter(|o| o["target"] == "logbuf")
        .map(|o| {
            assert_eq!(o["level"], "WARN");
            assert_eq!(o["fields"]["message"], "records dropped");
            assert_eq!(o["fields"]["thread"], "burst");
            o["fields"]["dropped"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(reported, dropped);

    let stats = run(&["stats", path_arg(&path)]);
    assert!(
        stats.stdout.contains(&format!(
            "dropped:      {} events and {} span records reported dropped by the journal\n",
            with_separators(dropped - dropped_spans),
            with_separators(dropped_spans)
        )),
        "{}",
        stats.stdout
    );
}

/// `1234567` as `1,234,567`.
fn with_separators(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[test]
fn stats_tells_dropped_events_from_span_records_from_format_2_2_on() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../logbuf-journal/tests/golden");
    // 2.2: three records dropped, one of them a span record.
    let r = run(&["stats", path_arg(&golden.join("v2.2.lbf"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("dropped:      2 events and 1 span record reported dropped by the journal\n"),
        "{}",
        r.stdout
    );
    // 2.1 does not say which: the count is not passed off as events.
    let r = run(&["stats", path_arg(&golden.join("v2.1.lbf"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "dropped:      0 events and 0 span records reported dropped by the journal, \
             and 3 records in files older than format 2.2, which do not say which\n"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn compressed_journals_read_as_the_plain_ones() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let plain = sample(dir.path(), "app.lbf");
    let gz = dir.path().join("app.lbf.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::default());
    encoder.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    encoder.finish().unwrap();

    for format in [&["cat"][..], &["cat", "--json"][..]] {
        let a = run(&[format, &[path_arg(&plain)]].concat());
        let b = run(&[format, &[path_arg(&gz)]].concat());
        assert_eq!(a.code, 0, "{}", a.stderr);
        assert!(!a.stdout.is_empty());
        assert_eq!(
            (b.code, &b.stdout, &b.stderr),
            (a.code, &a.stdout, &a.stderr)
        );
    }
    // `stats` counts the same events (its byte count is the file's, compressed).
    let events = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("events:"))
            .map(str::to_owned)
    };
    let a = run(&["stats", path_arg(&plain)]);
    let b = run(&["stats", path_arg(&gz)]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    assert_eq!(
        events(&a.stdout).unwrap().split(" (").next(),
        events(&b.stdout).unwrap().split(" (").next()
    );
    // A series of a compressed file and a plain one merges as two plain ones would.
    let other = sample(dir.path(), "other.lbf");
    let mixed = run(&["cat", path_arg(&gz), path_arg(&other)]);
    let both = run(&["cat", path_arg(&plain), path_arg(&other)]);
    assert_eq!(mixed.code, 0, "{}", mixed.stderr);
    assert_eq!(mixed.stdout, both.stdout);
}
