//! The JSON sink beside `tracing-subscriber`'s JSON output: the same program logged through both
//! gives the same objects (every key and value but the timestamp), for each option.

mod burst;
mod scenario;

use logbuf_journal::Sink;
use logbuf_journal::sink::json::{JsonFormat, JsonSink};
use logbuf_journal::sink::text::Timestamps;
use logbuf_journal::wire::{Callsite, CallsiteKind, Clock, Event, Level, Record, Value};
use scenario::{Buf, now_nanos, through_fmt};
use serde_json::Value as Json;
use tracing_subscriber::fmt;

fn through_sink(lines: &scenario::Lines, options: impl FnOnce(JsonFormat) -> JsonFormat) -> String {
    let out = Buf::default();
    let mut sink = JsonSink::new(out.clone()).with_format(options);
    let thread = std::thread::current();
    let records = scenario::records(lines, scenario::thread_number(), thread.name(), now_nanos());
    for record in records {
        sink.write_record(record).unwrap();
    }
    sink.flush().unwrap();
    out.text()
}

/// Parses every line of both outputs; compares them without their timestamps (which must be
/// on both or neither), as parsed values and as text.
fn assert_same_objects(ours: &str, theirs: &str) -> Vec<Json> {
    let parse = |text: &str| -> Vec<(Json, String)> {
        text.lines()
            .map(|line| {
                let mut json: Json = serde_json::from_str(line).unwrap();
                let time = json.as_object_mut().unwrap().remove("timestamp");
                let mut rest = line.to_owned();
                if let Some(Json::String(time)) = time {
                    chrono::DateTime::parse_from_rfc3339(&time).unwrap();
                    rest = line.replacen(&format!("\"timestamp\":\"{time}\","), "", 1);
                }
                (json, rest)
            })
            .collect()
    };
    let (ours, theirs) = (parse(ours), parse(theirs));
    assert_eq!(ours.len(), 8);
    for ((ours_json, ours_text), (theirs_json, theirs_text)) in ours.iter().zip(&theirs) {
        assert_eq!(ours_json, theirs_json);
        assert_eq!(ours_text, theirs_text);
    }
    assert_eq!(ours.len(), theirs.len());
    ours.into_iter().map(|(json, _)| json).collect()
}

#[test]
fn default_keys_match_fmt_json() {
    let (theirs, lines) = through_fmt(|w| fmt::layer().json().with_writer(w));
    let ours = through_sink(&lines, |f| f);
    assert!(ours.lines().all(|l| l.starts_with("{\"timestamp\":\"")));
    let objects = assert_same_objects(&ours, &theirs);
    let first = &objects[0];
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["fields"]["message"], "request done");
    assert_eq!(first["fields"]["user_id"], 42);
    assert_eq!(first["fields"]["latency_us"], 17.5);
    assert_eq!(first["span"]["name"], "nofields");
    assert_eq!(first["spans"][0]["e"], 5);
    assert_eq!(objects[1]["fields"]["big"], u128::MAX.to_string());
    assert_eq!(objects[2]["fields"]["type"], "t");
    assert_eq!(objects[3]["fields"]["error"], "outer err");
    assert_eq!(objects[4]["fields"]["g"], Json::Null);
    assert!(objects[4].get("span").is_none() && objects[4].get("spans").is_none());
}

#[test]
fn flattened_without_current_span_matches_fmt_json() {
    let (theirs, lines) = through_fmt(|w| {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_writer(w)
    });
    let ours = through_sink(&lines, |f| f.flatten_event(true).with_current_span(false));
    let objects = assert_same_objects(&ours, &theirs);
    assert_eq!(objects[0]["message"], "request done");
    assert!(objects[0].get("span").is_none());
}

#[test]
fn threads_file_and_line_without_span_list_match_fmt_json() {
    let (theirs, lines) = through_fmt(|w| {
        fmt::layer()
            .json()
            .with_span_list(false)
            .with_thread_names(true)
            .with_thread_ids(true)
            .with_file(true)
            .with_line_number(true)
            .with_writer(w)
    });
    let ours = through_sink(&lines, |f| {
        f.with_span_list(false)
            .with_thread_names(true)
            .with_thread_ids(true)
            .with_file(true)
            .with_line_number(true)
    });
    let objects = assert_same_objects(&ours, &theirs);
    assert_eq!(
        objects[0]["threadName"],
        "threads_file_and_line_without_span_list_match_fmt_json"
    );
    assert!(
        objects[0]["threadId"]
            .as_str()
            .unwrap()
            .starts_with("ThreadId(")
    );
    assert!(
        objects[0]["filename"]
            .as_str()
            .unwrap()
            .ends_with("scenario/mod.rs")
    );
    assert!(objects[0].get("spans").is_none());
}

#[test]
fn no_target_level_or_time_matches_fmt_json() {
    let (theirs, lines) = through_fmt(|w| {
        fmt::layer()
            .json()
            .with_target(false)
            .with_level(false)
            .without_time()
            .with_writer(w)
    });
    let ours = through_sink(&lines, |f| {
        f.with_target(false)
            .with_level(false)
            .with_timestamps(Timestamps::None)
    });
    assert!(ours.lines().all(|l| l.starts_with("{\"fields\":{")));
    assert_same_objects(&ours, &theirs);
}

#[test]
fn unnamed_threads_are_named_by_their_id() {
    std::thread::spawn(|| {
        let (theirs, lines) =
            through_fmt(|w| fmt::layer().json().with_thread_names(true).with_writer(w));
        let ours = through_sink(&lines, |f| f.with_thread_names(true));
        let objects = assert_same_objects(&ours, &theirs);
        assert!(
            objects[0]["threadName"]
                .as_str()
                .unwrap()
                .starts_with("ThreadId(")
        );
    })
    .join()
    .unwrap();
}

#[test]
fn local_timestamps_and_awkward_values() {
    let out = Buf::default();
    let mut sink = JsonSink::new(out.clone()).with_format(|f| f.with_timestamps(Timestamps::Local));
    let nasty = "a\nb\"c\\d\x1b[2Je\u{9b}f";
    let records = [
        Record::Clock(Clock {
            ticks: 0,
            unix_nanos: 1_795_934_400_000_000_000,
        }),
        Record::Callsite(Callsite {
            id: 1,
            kind: CallsiteKind::Event,
            level: Level::Debug,
            target: "t",
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["message", "s", "b", "i", "f", "e", "skipped"],
        }),
        Record::Event(Event {
            callsite: 1,
            time: 1_234_567_000,
            thread: 1,
            parent: None,
            values: vec![
                Value::Debug(nasty),
                Value::Str(nasty),
                Value::Bytes(b"\x00\xff"),
                Value::I128(i128::MIN),
                Value::F64(f64::INFINITY),
                Value::Error {
                    message: nasty,
                    sources: vec!["cause"],
                },
                Value::Empty,
            ],
        }),
    ];
    for record in records {
        sink.write_record(record).unwrap();
    }
    sink.flush().unwrap();
    let text = out.text();
    assert_eq!(text.lines().count(), 1);
    assert!(!text.trim_end().chars().any(char::is_control));
    let json: Json = serde_json::from_str(&text).unwrap();
    let expected_time = chrono::DateTime::from_timestamp_nanos(1_795_934_401_234_567_000)
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%dT%H:%M:%S%.6f%:z")
        .to_string();
    assert_eq!(
        json,
        serde_json::json!({
            "timestamp": expected_time,
            "level": "DEBUG",
            "fields": {
                "message": nasty,
                "s": nasty,
                "b": "[00 ff]",
                "i": i128::MIN.to_string(),
                "f": null,
                "e": nasty,
            },
            "target": "t",
        })
    );
}

/// A writer that fails every call.
struct Failing;

impl std::io::Write for Failing {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk on fire"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("disk on fire"))
    }
}

#[test]
fn through_a_journal_beside_a_failing_sink() {
    use logbuf_journal::{FullPolicy, Journal};

    let out = Buf::default();
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .sink(JsonSink::new(Failing))
        .sink(JsonSink::new(out.clone()).with_format(|f| f.with_thread_names(true)))
        .build()
        .unwrap();
    let span = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "app",
        name: "job",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["id"],
    });
    let event = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Warn,
        target: "app",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["message", "n"],
    });
    journal.write(64, |enc, at| {
        enc.span_new(9, None, span, at.time, at.thread, 1);
        enc.value_u64(7);
    });
    for n in 0..1000u64 {
        journal.write(64, |enc, at| {
            enc.event(event, at.time, at.thread, Some(9), 2);
            enc.value_debug(format_args!("tick"));
            enc.value_u64(n);
        });
    }
    journal.flush();
    assert!(journal.stats().sink_errors > 0);
    drop(guard);
    let text = out.text();
    let objects: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 1000);
    let thread = std::thread::current();
    for (n, object) in objects.iter().enumerate() {
        assert!(object["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(object["level"], "WARN");
        assert_eq!(
            object["fields"],
            serde_json::json!({ "message": "tick", "n": n })
        );
        assert_eq!(
            object["span"],
            serde_json::json!({ "id": 7, "name": "job" })
        );
        assert_eq!(
            object["spans"],
            serde_json::json!([{ "id": 7, "name": "job" }])
        );
        assert_eq!(object["threadName"], thread.name().unwrap());
    }
}

#[test]
fn dropped_records_are_reported_as_warning_objects() {
    let out = Buf::default();
    let dropped = burst::burst_with_drops(JsonSink::new(out.clone()));
    let objects: Vec<Json> = out
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let reports: Vec<&Json> = objects.iter().filter(|o| o["target"] == "logbuf").collect();
    assert!(
        !reports.is_empty(),
        "no drop report in {} objects",
        objects.len()
    );
    let mut reported = 0;
    for report in &reports {
        assert_eq!(report["level"], "WARN");
        assert!(report["timestamp"].as_str().unwrap().ends_with('Z'));
        let fields = &report["fields"];
        assert_eq!(fields["message"], "records dropped");
        assert_eq!(fields["thread"], "burst");
        assert_eq!(fields["reason"], "ring full or record too large");
        reported += fields["dropped"].as_u64().unwrap();
    }
    assert_eq!(reported, dropped);
    assert_eq!(objects.len() - reports.len() + dropped as usize, 20_000);
}
