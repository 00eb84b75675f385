//! `logbuf stats --spans`, `--field` and `--html` end to end, on files written record by record
//! with known times and values: every percentile is checked against the inputs sorted here.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use logbuf_journal::file::{FileHeader, FileWriter};
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Event, Level, Record, SpanClose, SpanCloseTimes, SpanNew,
    SpanTransition, ThreadName, Value,
};
use serde_json::Value as Json;

const BASE: u64 = 1_764_000_000_000_000_000; // 2025-11-24T16:00:00Z

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(args)
        .output()
        .expect("run logbuf");
    let run = Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).expect("utf-8"),
        stderr: String::from_utf8(out.stderr).expect("utf-8"),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn json(args: &[&str]) -> Json {
    let r = run(args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A file written record by record; tick `t` is `BASE + t` nanoseconds.
struct Crafted(FileWriter<File>);

impl Crafted {
    fn new(path: &Path) -> Self {
        let header = FileHeader {
            pid: 7,
            program: "crafted".into(),
            clock: Clock {
                ticks: 0,
                unix_nanos: BASE,
            },
        };
        let mut c = Crafted(FileWriter::new(File::create(path).unwrap(), &header).unwrap());
        c.record(&Record::Clock(Clock {
            ticks: 1_000_000_000_000,
            unix_nanos: BASE + 1_000_000_000_000,
        }));
        c
    }

    fn record(&mut self, record: &Record<'_>) {
        self.0
            .write_record(&postcard::to_allocvec(record).unwrap())
            .unwrap();
    }

    fn callsite(
        &mut self,
        id: u64,
        kind: CallsiteKind,
        level: Level,
        target: &str,
        name: &str,
        fields: Vec<&str>,
    ) {
        self.record(&Record::Callsite(Callsite {
            id,
            kind,
            level,
            target,
            name,
            module_path: None,
            file: Some("src/app.rs"),
            line: Some(id as u32),
            fields,
        }));
    }
}

/// A small deterministic generator (xorshift), so inputs are varied but fixed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The nearest-rank percentile of `values`, computed here from its definition: the smallest
/// value such that at least `p` percent of the values are at or below it.
fn percentile<T: Copy + PartialOrd>(values: &[T], p: usize) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = sorted.len();
    for (i, v) in sorted.iter().enumerate() {
        if (i + 1) * 100 >= p * n {
            return *v;
        }
    }
    sorted[n - 1]
}

fn expect_durations(got: &Json, values: &[u64], what: &str) {
    let want = serde_json::json!({
        "count": values.len(),
        "min_ns": values.iter().min().unwrap(),
        "p50_ns": percentile(values, 50),
        "p90_ns": percentile(values, 90),
        "p99_ns": percentile(values, 99),
        "max_ns": values.iter().max().unwrap(),
        "total_ns": values.iter().sum::<u64>(),
    });
    assert_eq!(got, &want, "{what}");
}

/// What a span file holds, to check against.
struct SpanTruth {
    /// `request` spans (closed with times): duration, busy, idle.
    request: Vec<(u64, u64, u64)>,
    /// `query` spans (enter/exit records, plain close): duration, busy (the union of the
    /// threads' entered intervals).
    query: Vec<(u64, u64)>,
}

/// Ticks covered by the union of `intervals`.
fn union_len(intervals: &[(u64, u64)]) -> u64 {
    let mut sorted = intervals.to_vec();
    sorted.sort_unstable();
    let mut total = 0;
    let mut end = 0;
    for (a, b) in sorted {
        let a = a.max(end);
        if b > a {
            total += b - a;
            end = b;
        }
    }
    total
}

/// 300 `request` spans closed with busy/idle times, 120 `query` spans whose busy time must be
/// worked out from enter and exit records on two threads, and 5 `idle` spans closed without
/// either.
fn span_file(path: &Path) -> SpanTruth {
    let mut c = Crafted::new(path);
    c.callsite(
        1,
        CallsiteKind::Span,
        Level::Info,
        "app::http",
        "request",
        vec![],
    );
    c.callsite(
        2,
        CallsiteKind::Span,
        Level::Debug,
        "app::db",
        "query",
        vec![],
    );
    c.callsite(3, CallsiteKind::Span, Level::Info, "app", "idle", vec![]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut truth = SpanTruth {
        request: Vec::new(),
        query: Vec::new(),
    };
    let mut t = 1_000;
    for id in 1..=300u64 {
        // Durations over four orders of magnitude, as latencies are.
        let duration = 1_000 + rng.next() % 10u64.pow(1 + (id % 4) as u32 + 3);
        let busy = rng.next() % (duration + 1);
        c.record(&Record::SpanNew(SpanNew {
            id,
            parent: None,
            callsite: 1,
            time: t,
            thread: 1,
            values: vec![],
        }));
        c.record(&Record::SpanCloseTimes(SpanCloseTimes {
            id,
            time: t + duration,
            busy,
            idle: duration - busy,
        }));
        truth.request.push((duration, busy, duration - busy));
        t += 10;
    }
    for id in 1_000..1_120u64 {
        let duration = 10_000 + rng.next() % 90_000;
        c.record(&Record::SpanNew(SpanNew {
            id,
            parent: None,
            callsite: 2,
            time: t,
            thread: 1,
            values: vec![],
        }));
        // Thread 1 and thread 2 each enter it once; their intervals may overlap.
        let mut intervals = Vec::new();
        let mut records = Vec::new();
        for thread in [1u64, 2] {
            let a = rng.next() % duration;
            let b = a + rng.next() % (duration - a + 1);
            intervals.push((a, b));
            records.push((a, true, thread));
            records.push((b, false, thread));
        }
        records.sort_by_key(|&(at, enter, _)| (at, !enter));
        for (at, enter, thread) in records {
            let transition = SpanTransition {
                id,
                time: t + at,
                thread,
            };
            c.record(&if enter {
                Record::SpanEnter(transition)
            } else {
                Record::SpanExit(transition)
            });
        }
        c.record(&Record::SpanClose(SpanClose {
            id,
            time: t + duration,
        }));
        truth.query.push((duration, union_len(&intervals)));
        t += 10;
    }
    for id in 2_000..2_005u64 {
        c.record(&Record::SpanNew(SpanNew {
            id,
            parent: None,
            callsite: 3,
            time: t,
            thread: 1,
            values: vec![],
        }));
        c.record(&Record::SpanClose(SpanClose {
            id,
            time: t + 50 * (id - 1_999),
        }));
    }
    truth
}

fn group<'a>(report: &'a Json, name: &str) -> &'a Json {
    report["spans"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no group {name}: {report}"))
}

#[test]
fn span_percentiles_are_the_inputs_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.lbf");
    let truth = span_file(&path);
    let report = json(&["stats", "--spans", "--json", arg(&path)]);

    let request = group(&report, "request");
    assert_eq!(request["target"], "app::http");
    let col = |i: usize| -> Vec<u64> { truth.request.iter().map(|r| [r.0, r.1, r.2][i]).collect() };
    expect_durations(&request["duration"], &col(0), "request duration");
    expect_durations(&request["busy"], &col(1), "request busy");
    expect_durations(&request["idle"], &col(2), "request idle");

    let query = group(&report, "query");
    let durations: Vec<u64> = truth.query.iter().map(|q| q.0).collect();
    let busy: Vec<u64> = truth.query.iter().map(|q| q.1).collect();
    let idle: Vec<u64> = truth.query.iter().map(|q| q.0 - q.1).collect();
    expect_durations(&query["duration"], &durations, "query duration");
    expect_durations(&query["busy"], &busy, "query busy from enter/exit");
    expect_durations(&query["idle"], &idle, "query idle from enter/exit");

    let idle_spans = group(&report, "idle");
    expect_durations(
        &idle_spans["duration"],
        &[50, 100, 150, 200, 250],
        "idle duration",
    );
    assert_eq!(idle_spans["busy"], Json::Null, "no busy time recorded");

    assert_eq!(report["spans"]["closed"], 425);
    assert_eq!(report["spans"]["times_from_close_records"], 300);
    assert_eq!(report["spans"]["times_from_enter_exit"], 120);
    // By total time, greatest first.
    let totals: Vec<u64> = report["spans"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["duration"]["total_ns"].as_u64().unwrap())
        .collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
    assert_eq!(totals.len(), 3);

    // The text table says the same.
    let r = run(&["stats", "--spans", arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("query (app::db): 120 spans"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    let busy_line: Vec<&str> = lines[at + 3].split_whitespace().collect();
    let micros = |ns: u64| format!("{}.{:03}µs", ns / 1_000, ns % 1_000);
    assert_eq!(
        busy_line,
        [
            "busy".to_owned(),
            "120".to_owned(),
            micros(percentile(&busy, 50)),
            micros(percentile(&busy, 90)),
            micros(percentile(&busy, 99)),
            micros(*busy.iter().max().unwrap()),
            logbuf_cli::time::format_duration(busy.iter().sum()),
        ],
        "{}",
        r.stdout
    );
}

/// One event of the field file, as the test knows it.
#[derive(Debug, Clone)]
struct Ev {
    callsite: u64,
    thread: u64,
    time: u64,
    span: Option<u64>,
    latency: Option<f64>,
    path: &'static str,
}

const PATHS: [&str; 4] = ["/users", "/orders", "/users", "/health"];

/// Events of two callsites (`app::http` info, `app::db` warn), some inside `request` spans
/// (ids 1..=4, `path` field), with a `latency` field of several number kinds, left out now
/// and then, and a text `path` field.
fn field_events() -> Vec<Ev> {
    let mut rng = Rng(12345);
    (0..1_000u64)
        .map(|i| {
            let callsite = if i % 3 == 0 { 11 } else { 10 };
            let latency = match i % 10 {
                9 => None,
                _ => Some((rng.next() % 100_000) as f64 / 4.0 - 100.0),
            };
            Ev {
                callsite,
                thread: 1 + i % 2,
                time: 1_000_000 + i * 1_000_000,
                span: (i % 5 != 0).then_some(1 + i % 4),
                latency,
                path: PATHS[(i % 7 % 4) as usize],
            }
        })
        .collect()
}

fn write_field_file(path: &Path, events: &[Ev]) {
    let mut c = Crafted::new(path);
    c.callsite(
        1,
        CallsiteKind::Span,
        Level::Info,
        "app::http",
        "request",
        vec!["route"],
    );
    c.callsite(
        10,
        CallsiteKind::Event,
        Level::Info,
        "app::http",
        "event src/app.rs:10",
        vec!["message", "latency", "path"],
    );
    c.callsite(
        11,
        CallsiteKind::Event,
        Level::Warn,
        "app::db",
        "event src/app.rs:11",
        vec!["message", "path", "latency"],
    );
    for thread in [1u64, 2] {
        let name = format!("worker-{thread}");
        c.record(&Record::ThreadName(ThreadName {
            thread,
            name: &name,
        }));
    }
    for span in 1..=4u64 {
        c.record(&Record::SpanNew(SpanNew {
            id: span,
            parent: None,
            callsite: 1,
            time: 0,
            thread: 1,
            values: vec![Value::Str(["/a", "/b", "/c", "/d"][span as usize - 1])],
        }));
    }
    for e in events {
        // Number kinds vary: whole numbers as integers, the rest as floats.
        let latency = match e.latency {
            None => Value::Empty,
            Some(v) if v.fract() == 0.0 && v >= 0.0 => Value::U64(v as u64),
            Some(v) if v.fract() == 0.0 => Value::I64(v as i64),
            Some(v) => Value::F64(v),
        };
        let values = if e.callsite == 10 {
            vec![Value::Str("done"), latency, Value::Str(e.path)]
        } else {
            vec![Value::Str("slow"), Value::Str(e.path), latency]
        };
        c.record(&Record::Event(Event {
            callsite: e.callsite,
            time: e.time,
            thread: e.thread,
            parent: e.span,
            values,
        }));
    }
}

fn expect_numbers(got: &Json, values: &[f64], what: &str) {
    assert!(!values.is_empty(), "{what}: no values");
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(got["count"], n, "{what}: {got}");
    for (key, want) in [
        ("min", min),
        ("p50", percentile(values, 50)),
        ("p90", percentile(values, 90)),
        ("p99", percentile(values, 99)),
        ("max", max),
    ] {
        assert_eq!(got[key].as_f64(), Some(want), "{what} {key}: {got}");
    }
    let got_mean = got["mean"].as_f64().unwrap();
    assert!(
        (got_mean - mean).abs() <= 1e-9 * mean.abs().max(1.0),
        "{what} mean {got_mean} vs {mean}"
    );
}

fn field_group<'a>(report: &'a Json, name: &str) -> &'a Json {
    report["field"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name}: {report}"))
}

fn latencies<'a>(events: impl IntoIterator<Item = &'a Ev>) -> Vec<f64> {
    events.into_iter().filter_map(|e| e.latency).collect()
}

#[test]
fn field_percentiles_are_the_inputs_sorted_whole_and_grouped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fields.lbf");
    let events = field_events();
    write_field_file(&path, &events);

    let report = json(&["stats", "--field", "latency", "--json", arg(&path)]);
    assert_eq!(report["field"]["events"], 1_000);
    assert_eq!(report["field"]["with_field"], 900);
    expect_numbers(
        &field_group(&report, "all")["numeric"],
        &latencies(&events),
        "all",
    );

    let by_target = json(&[
        "stats",
        "--field",
        "latency",
        "--by",
        "target",
        "--json",
        arg(&path),
    ]);
    for (target, callsite) in [("app::http", 10), ("app::db", 11)] {
        expect_numbers(
            &field_group(&by_target, target)["numeric"],
            &latencies(events.iter().filter(|e| e.callsite == callsite)),
            target,
        );
    }
    let by_callsite = json(&[
        "stats",
        "--field",
        "latency",
        "--by",
        "callsite",
        "--json",
        arg(&path),
    ]);
    expect_numbers(
        &field_group(&by_callsite, "app::db event src/app.rs:11")["numeric"],
        &latencies(events.iter().filter(|e| e.callsite == 11)),
        "callsite 11",
    );
    let by_span = json(&[
        "stats",
        "--field",
        "latency",
        "--by",
        "span",
        "--json",
        arg(&path),
    ]);
    expect_numbers(
        &field_group(&by_span, "request")["numeric"],
        &latencies(events.iter().filter(|e| e.span.is_some())),
        "in request",
    );
    expect_numbers(
        &field_group(&by_span, "(no span)")["numeric"],
        &latencies(events.iter().filter(|e| e.span.is_none())),
        "no span",
    );

    // A text field: counts of distinct values, most frequent first.
    let paths = json(&[
        "stats",
        "--field",
        "path",
        "--json",
        "--top",
        "2",
        arg(&path),
    ]);
    let all = field_group(&paths, "all");
    assert_eq!(all["numeric"], Json::Null);
    let count = |p: &str| events.iter().filter(|e| e.path == p).count();
    assert_eq!(all["text"]["count"], 1_000);
    assert_eq!(all["text"]["distinct"], 3);
    let mut want: Vec<(&str, usize)> = ["/users", "/orders", "/health"]
        .iter()
        .map(|p| (*p, count(p)))
        .collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top: Vec<(String, u64)> = all["text"]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["value"].as_str().unwrap().to_owned(),
                t["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        want[..2]
            .iter()
            .map(|(p, n)| ((*p).to_owned(), *n as u64))
            .collect::<Vec<_>>()
    );

    // The text table's numbers are the JSON's.
    let r = run(&["stats", "--field", "latency", arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all = latencies(&events);
    let row = r
        .stdout
        .lines()
        .find(|l| l.ends_with("  all"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[0], "900");
    assert_eq!(
        cells[2].parse::<f64>().unwrap(),
        percentile(&all, 50),
        "{row}"
    );
    assert_eq!(
        cells[4].parse::<f64>().unwrap(),
        percentile(&all, 99),
        "{row}"
    );
}

#[test]
fn filters_compose_with_field_and_span_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fields.lbf");
    let events = field_events();
    write_field_file(&path, &events);
    let p = arg(&path);
    let numeric = |args: &[&str]| -> Json {
        let mut all = vec!["stats", "--field", "latency", "--json", p];
        all.extend_from_slice(args);
        let report = json(&all);
        field_group(&report, "all")["numeric"].clone()
    };

    let at = |millis: u64| {
        chrono::DateTime::from_timestamp_nanos((BASE + millis * 1_000_000) as i64)
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    };
    let (since, until) = (at(200), at(700));
    type Keep = Box<dyn Fn(&Ev) -> bool>;
    let cases: Vec<(Vec<&str>, Keep)> = vec![
        (vec!["--level", "warn"], Box::new(|e| e.callsite == 11)),
        (vec!["--target", "app::h"], Box::new(|e| e.callsite == 10)),
        (vec!["--thread", "worker-2"], Box::new(|e| e.thread == 2)),
        (vec!["--thread", "1"], Box::new(|e| e.thread == 1)),
        (vec!["--span", "request"], Box::new(|e| e.span.is_some())),
        (
            vec!["--since", &since, "--until", &until],
            Box::new(|e| (200_000_000..700_000_000).contains(&e.time)),
        ),
        (
            vec!["--where", "path=/users"],
            Box::new(|e| e.path == "/users"),
        ),
        // A span's field.
        (vec!["--where", "route=/b"], Box::new(|e| e.span == Some(2))),
        (
            vec![
                "--level", "warn", "--span", "request", "--thread", "worker-1",
            ],
            Box::new(|e| e.callsite == 11 && e.span.is_some() && e.thread == 1),
        ),
    ];
    for (args, keep) in &cases {
        let kept: Vec<Ev> = events.iter().filter(|e| keep(e)).cloned().collect();
        expect_numbers(&numeric(args), &latencies(&kept), &format!("{args:?}"));
    }

    // Spans: the filters pick spans by their own callsite, thread, creation time, name and
    // ancestors.
    let spans = dir.path().join("spans.lbf");
    let truth = span_file(&spans);
    let only = json(&[
        "stats",
        "--spans",
        "--json",
        "--level",
        "info",
        "--target",
        "app::http",
        arg(&spans),
    ]);
    assert_eq!(only["spans"]["groups"].as_array().unwrap().len(), 1);
    let durations: Vec<u64> = truth.request.iter().map(|r| r.0).collect();
    expect_durations(
        &group(&only, "request")["duration"],
        &durations,
        "request only",
    );
    let named = json(&["stats", "--spans", "--json", "--span", "idle", arg(&spans)]);
    assert_eq!(named["spans"]["closed"], 5);
    let none = json(&["stats", "--spans", "--json", "--thread", "2", arg(&spans)]);
    assert_eq!(none["spans"]["closed"], 0);
}

#[test]
fn a_series_and_compressed_files_give_the_statistics_of_the_whole() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let events = field_events();
    let whole = dir.path().join("whole.lbf");
    write_field_file(&whole, &events);
    let first = dir.path().join("app.1.lbf");
    let second = dir.path().join("app.2.lbf");
    write_field_file(&first, &events[..400]);
    write_field_file(&second, &events[400..]);
    let gz = dir.path().join("app.2.lbf.gz");
    let mut encoder =
        flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::default());
    encoder.write_all(&std::fs::read(&second).unwrap()).unwrap();
    encoder.finish().unwrap();

    for by in ["target", "span"] {
        let args = |files: &[&PathBuf]| -> Json {
            let mut all = vec!["stats", "--field", "latency", "--by", by, "--json"];
            all.extend(files.iter().map(|f| arg(f)));
            json(&all)
        };
        let want = args(&[&whole]);
        assert_eq!(args(&[&first, &second]), want, "series, by {by}");
        assert_eq!(
            args(&[&gz, &first]),
            want,
            "compressed in a series, by {by}"
        );
    }
    let filtered = |files: &[&PathBuf]| -> Json {
        let mut all = vec!["stats", "--field", "path", "--json", "--level", "warn"];
        all.extend(files.iter().map(|f| arg(f)));
        json(&all)
    };
    assert_eq!(filtered(&[&first, &gz]), filtered(&[&whole]));
}

#[test]
fn html_report_is_well_formed_self_contained_and_counts_every_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.lbf");
    let truth = span_file(&path);
    let page = dir.path().join("report.html");
    let r = run(&["stats", "--spans", "--html", arg(&page), arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("request (app::http): 300 spans"));
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.starts_with("<!DOCTYPE html>"));
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&text, options)
        .unwrap_or_else(|e| panic!("not well-formed: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "html");

    // Nothing is loaded from elsewhere.
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object", "embed"].contains(&tag),
            "<{tag}> in the page"
        );
        for a in node.attributes() {
            assert!(
                !["src", "href"].contains(&a.name()) && !a.value().contains("url("),
                "<{tag} {}={:?}> refers elsewhere",
                a.name(),
                a.value()
            );
        }
    }

    // One section per span name, busiest first, each with a histogram whose bars add up to
    // the spans and hold the durations in their bounds.
    let sections: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("section"))
        .collect();
    let names: Vec<&str> = sections
        .iter()
        .map(|s| s.attribute("data-name").unwrap())
        .collect();
    let cli = json(&["stats", "--spans", "--json", arg(&path)]);
    let cli_names: Vec<&str> = cli["spans"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, cli_names);
    for section in &sections {
        let name = section.attribute("data-name").unwrap();
        let durations: Vec<u64> = match name {
            "request" => truth.request.iter().map(|r| r.0).collect(),
            "query" => truth.query.iter().map(|q| q.0).collect(),
            _ => vec![50, 100, 150, 200, 250],
        };
        let svg = section
            .descendants()
            .find(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "svg")))
            .unwrap_or_else(|| panic!("no svg for {name}"));
        let bars: Vec<(u64, u64, u64)> = svg
            .descendants()
            .filter(|n| n.attribute("class") == Some("bar"))
            .map(|n| {
                let num = |a: &str| n.attribute(a).unwrap().parse::<u64>().unwrap();
                (num("data-from-ns"), num("data-to-ns"), num("data-count"))
            })
            .collect();
        assert_eq!(bars.len(), logbuf_cli::html::BINS, "{name}");
        assert_eq!(
            bars.iter().map(|b| b.2).sum::<u64>(),
            durations.len() as u64,
            "{name}"
        );
        let last = bars.len() - 1;
        for (i, &(from, to, count)) in bars.iter().enumerate() {
            let inside = durations
                .iter()
                .filter(|&&d| d >= from && (d < to || (i == last && d == to)))
                .count() as u64;
            assert_eq!(count, inside, "{name} bin {i} [{from}, {to})");
        }
        assert_eq!(bars[0].0, *durations.iter().min().unwrap());
        assert_eq!(bars[last].1, *durations.iter().max().unwrap());
    }
}

#[test]
fn filters_need_spans_or_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.lbf");
    span_file(&path);
    // The summary comes as JSON too (its lost events by callsite: `lost_by_callsite.rs`).
    let r = run(&["stats", "--json", arg(&path)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Json = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["files"], 1);
    for args in [
        &["stats", "--level", "warn"][..],
        &["stats", "--by", "target"][..],
        &["stats", "--html", "x.html"][..],
    ] {
        let mut all = args.to_vec();
        all.push(arg(&path));
        let r = run(&all);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stdout);
        assert!(!r.stderr.is_empty());
    }
}
