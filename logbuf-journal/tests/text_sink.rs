//! The text sink beside `tracing-subscriber`'s `fmt` output: the same program logged through
//! both gives the same lines, for each option; escaping; failing writers.

mod burst;
mod scenario;

use std::io;

use logbuf_journal::sink::text::{TextFormat, TextSink, Timestamps};
use logbuf_journal::wire::{Callsite, CallsiteKind, Clock, Event, Level, Record, Value};
use logbuf_journal::{FullPolicy, Journal, Sink};
use scenario::{Buf, now_nanos, through_fmt};
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// Runs the program's records through a text sink made by `sink`.
fn through_sink(lines: &scenario::Lines, sink: impl FnOnce(Buf) -> TextSink) -> String {
    let out = Buf::default();
    let mut sink = sink(out.clone());
    let thread = std::thread::current();
    let records = scenario::records(lines, scenario::thread_number(), thread.name(), now_nanos());
    for record in records {
        sink.write_record(record).unwrap();
    }
    sink.flush().unwrap();
    out.text()
}

/// Compares line by line, so a failure shows the line that differs.
fn assert_same_lines(ours: &str, theirs: &str) {
    let ours: Vec<&str> = ours.lines().collect();
    let theirs: Vec<&str> = theirs.lines().collect();
    compare(&ours, &theirs);
}

/// Compares lines with runs of spaces made one: thread names are padded to the longest seen
/// so far, which for `fmt` counts every test running in the process at the same time.
fn assert_same_lines_but_padding(ours: &str, theirs: &str) {
    let squeeze = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                l.split(' ')
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    compare(&squeeze(ours), &squeeze(theirs));
}

fn compare<T: AsRef<str> + std::fmt::Debug>(ours: &[T], theirs: &[T]) {
    assert_eq!(ours.len(), 8, "{ours:#?}");
    for (a, b) in ours.iter().zip(theirs) {
        assert_eq!(a.as_ref(), b.as_ref());
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn default_layout_matches_fmt() {
    let (theirs, lines) =
        through_fmt(|w| fmt::layer().with_writer(w).with_ansi(false).without_time());
    let ours = through_sink(&lines, |w| TextSink::new(w).without_time());
    assert!(ours.starts_with(
        " INFO outer{a=1 s=\"x y\" e=5}:inner{b=2}:nofields: text_sink::scenario: request done \
         user_id=42 latency_us=17.5 path=\"/api/v1/orders\"\n"
    ));
    assert_same_lines(&ours, &theirs);
}

#[test]
fn every_option_on_matches_fmt() {
    let (theirs, lines) = through_fmt(|w| {
        fmt::layer()
            .with_writer(w)
            .with_ansi(false)
            .without_time()
            .with_thread_names(true)
            .with_thread_ids(true)
            .with_file(true)
            .with_line_number(true)
    });
    let ours = through_sink(&lines, |w| {
        TextSink::new(w)
            .without_time()
            .with_thread_names(true)
            .with_thread_ids(true)
            .with_file(true)
            .with_line_number(true)
    });
    assert!(ours.contains(" every_option_on_matches_fmt ThreadId("));
    assert!(ours.contains("scenario/mod.rs:"));
    assert_same_lines_but_padding(&ours, &theirs);
}

#[test]
fn target_and_level_off_line_on_matches_fmt() {
    let (theirs, lines) = through_fmt(|w| {
        fmt::layer()
            .with_writer(w)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_line_number(true)
    });
    let ours = through_sink(&lines, |w| {
        TextSink::new(w)
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_line_number(true)
    });
    assert_same_lines(&ours, &theirs);
}

#[test]
fn file_without_line_and_thread_ids_match_fmt() {
    let (theirs, lines) = through_fmt(|w| {
        fmt::layer()
            .with_writer(w)
            .with_ansi(false)
            .without_time()
            .with_file(true)
            .with_thread_ids(true)
    });
    let ours = through_sink(&lines, |w| {
        TextSink::new(w)
            .without_time()
            .with_file(true)
            .with_thread_ids(true)
    });
    assert_same_lines(&ours, &theirs);
}

#[test]
fn unnamed_thread_shows_its_id_when_names_are_asked_for() {
    std::thread::spawn(|| {
        assert_eq!(std::thread::current().name(), None);
        let (theirs, lines) = through_fmt(|w| {
            fmt::layer()
                .with_writer(w)
                .with_ansi(false)
                .without_time()
                .with_thread_names(true)
        });
        let ours = through_sink(&lines, |w| {
            TextSink::new(w).without_time().with_thread_names(true)
        });
        assert!(ours.starts_with(" INFO ThreadId("));
        assert_same_lines(&ours, &theirs);
    })
    .join()
    .unwrap();
}

#[test]
fn ansi_colours_match_fmt() {
    let (theirs, lines) = through_fmt(|w| {
        fmt::layer()
            .with_writer(w)
            .with_ansi(true)
            .without_time()
            .with_thread_names(true)
            .with_file(true)
            .with_line_number(true)
    });
    let ours = through_sink(&lines, |w| {
        TextSink::new(w)
            .with_ansi(true)
            .without_time()
            .with_thread_names(true)
            .with_file(true)
            .with_line_number(true)
    });
    let first = ours.lines().next().unwrap();
    // Green level, bold span names and braces, dimmed colons and target, italic field names.
    assert!(first.starts_with("\x1b[32m INFO\x1b[0m ansi_colours_match_fmt \x1b[1mouter\x1b[0m\x1b[1m{\x1b[0m\x1b[3ma\x1b[0m\x1b[2m=\x1b[0m1 "), "{first:?}");
    assert!(first.contains("\x1b[2mtext_sink::scenario\x1b[0m\x1b[2m:\x1b[0m "));
    assert!(ours.contains("\x1b[31mERROR\x1b[0m"));
    assert!(ours.contains("\x1b[35mTRACE\x1b[0m"));
    assert_same_lines_but_padding(&ours, &theirs);
}

#[test]
fn utc_timestamps_match_fmt_s_form() {
    let (theirs, lines) = through_fmt(|w| fmt::layer().with_writer(w).with_ansi(false));
    let ours = through_sink(&lines, |w| {
        TextSink::new(w).with_timestamps(Timestamps::Rfc3339Utc)
    });
    let split = |line: &str| {
        let (time, rest) = line.split_at(27);
        let parsed = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
        (parsed.timestamp(), rest.to_owned())
    };
    for (a, b) in ours.lines().zip(theirs.lines()) {
        let (ours_secs, ours_rest) = split(a);
        let (theirs_secs, theirs_rest) = split(b);
        assert_eq!(ours_rest, theirs_rest);
        assert!(ours_secs.abs_diff(theirs_secs) < 60);
    }
    assert_eq!(ours.lines().count(), theirs.lines().count());
}

/// A sink fed records by hand: a clock pair, one event callsite.
fn sink_with_event(sink: &mut TextSink, fields: Vec<&str>, values: Vec<Value<'_>>) {
    let records = [
        Record::Clock(Clock {
            ticks: 0,
            unix_nanos: 1_795_934_400_000_000_000,
        }),
        Record::Callsite(Callsite {
            id: 1,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "t",
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields,
        }),
        Record::Event(Event {
            callsite: 1,
            time: 1_234_567_000,
            thread: 1,
            parent: None,
            values,
        }),
    ];
    for record in records {
        sink.write_record(record).unwrap();
    }
}

#[test]
fn thread_names_are_aligned_to_the_longest_so_far() {
    let out = Buf::default();
    let mut sink = TextSink::new(out.clone())
        .without_time()
        .with_thread_names(true);
    let event = |thread| Event {
        callsite: 1,
        time: 0,
        thread,
        parent: None,
        values: vec![],
    };
    sink_with_event(&mut sink, vec![], vec![]);
    for record in [
        Record::ThreadName(logbuf_journal::wire::ThreadName {
            thread: 2,
            name: "a-long-name",
        }),
        Record::ThreadName(logbuf_journal::wire::ThreadName {
            thread: 3,
            name: "short",
        }),
        Record::Event(event(3)),
        Record::Event(event(2)),
        Record::Event(event(3)),
    ] {
        sink.write_record(record).unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(
        out.text(),
        " INFO ThreadId(01) t: \n INFO short t: \n INFO a-long-name t: \n INFO       short t: \n"
    );
}

#[test]
fn local_timestamps_carry_the_offset() {
    let out = Buf::default();
    let mut sink = TextSink::new(out.clone()).with_timestamps(Timestamps::Local);
    sink_with_event(&mut sink, vec!["message"], vec![Value::Debug("m")]);
    sink.flush().unwrap();
    let expected = chrono::DateTime::from_timestamp_nanos(1_795_934_401_234_567_000)
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%dT%H:%M:%S%.6f%:z  INFO t: m\n")
        .to_string();
    assert_eq!(out.text(), expected);
}

#[test]
fn values_cannot_break_the_line_or_drive_the_terminal() {
    let out = Buf::default();
    let mut sink = TextSink::new(out.clone()).without_time();
    let nasty = "a\nb\rc\x1b[2Jd\x07e\u{9b}f\x7fg\th";
    sink_with_event(
        &mut sink,
        vec!["message", "s", "d", "e"],
        vec![
            Value::Debug(nasty),
            Value::Str(nasty),
            Value::Debug(nasty),
            Value::Error {
                message: nasty,
                sources: vec![nasty],
            },
        ],
    );
    sink.flush().unwrap();
    let text = out.text();
    let escaped = "a\\nb\\rc\\x1b[2Jd\\x07e\\u{9b}f\\x7fg\th";
    assert_eq!(
        text,
        format!(
            " INFO t: {escaped} s=\"a\\nb\\rc\\u{{1b}}[2Jd\\u{{7}}e\\u{{9b}}f\\u{{7f}}g\\th\" d={escaped} \
             e={escaped} e.sources=[{escaped}]\n"
        )
    );
    assert_eq!(text.lines().count(), 1);
    assert!(
        !text
            .trim_end_matches('\n')
            .chars()
            .any(|c| c.is_control() && c != '\t')
    );
}

#[test]
fn bytes_and_big_integers() {
    let out = Buf::default();
    let mut sink = TextSink::new(out.clone()).without_time().with_target(false);
    sink_with_event(
        &mut sink,
        vec!["b", "e", "u", "i"],
        vec![
            Value::Bytes(b"\x1b\n\xff"),
            Value::Bytes(b""),
            Value::U128(u128::MAX),
            Value::I128(-1),
        ],
    );
    sink.flush().unwrap();
    assert_eq!(
        out.text(),
        " INFO b=[1b 0a ff] e=[] u=340282366920938463463374607431768211455 i=-1\n"
    );
}

/// A writer that fails every call.
struct Failing;

impl io::Write for Failing {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("disk on fire"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::other("disk on fire"))
    }
}

#[test]
fn a_failing_writer_gives_errors_not_panics() {
    let mut sink = TextSink::new(Failing).without_time();
    let long = "x".repeat(1000);
    sink_with_event(
        &mut sink,
        vec!["message"],
        vec![Value::Str("fits the buffer")],
    );
    let mut failures = 0;
    for _ in 0..200 {
        let record = Record::Event(Event {
            callsite: 1,
            time: 1,
            thread: 1,
            parent: None,
            values: vec![Value::Str(&long)],
        });
        failures += usize::from(sink.write_record(record).is_err());
    }
    // 200 KB through a 64 KiB buffer: the writes that overflow it fail, and so does flush.
    assert!(failures > 0);
    assert!(sink.flush().is_err());
    assert!(Sink::sync(&mut sink).is_err());
}

#[test]
fn a_failing_sink_does_not_stop_the_others() {
    let out = Buf::default();
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .sink(TextSink::new(Failing))
        .sink(TextSink::new(out.clone()).without_time())
        .build()
        .unwrap();
    let callsite = journal.register_callsite(&Callsite {
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
    for n in 0..100u64 {
        journal.write(64, |enc, at| {
            enc.event(callsite, at.time, at.thread, None, 2);
            enc.value_debug(format_args!("tick"));
            enc.value_u64(n);
        });
    }
    journal.flush();
    assert!(journal.stats().sink_errors > 0);
    drop(guard);
    let text = out.text();
    let expected: String = (0..100)
        .map(|n| format!(" WARN app: tick n={n}\n"))
        .collect();
    assert_eq!(text, expected);
}

#[test]
fn a_rotating_file_behind_the_sink_is_reopened_with_the_journal() {
    use logbuf_journal::rotate::{Current, RotatingFile, Rotation};

    let dir = tempfile::tempdir().unwrap();
    let file = RotatingFile::new(
        dir.path().join("app.log"),
        Rotation::never().current(Current::None),
    )
    .unwrap();
    let (journal, guard) = Journal::builder()
        .sink(TextSink::new(file).without_time())
        .build()
        .unwrap();
    let callsite = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "app",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["message"],
    });
    let log = |text: &str| {
        journal.write(64, |enc, at| {
            enc.event(callsite, at.time, at.thread, None, 1);
            enc.value_str(text);
        });
    };
    log("before");
    assert!(journal.reopen(std::time::Duration::from_secs(60)));
    log("after");
    drop(guard);
    let mut contents: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    contents.sort();
    assert_eq!(contents, [" INFO app: after\n", " INFO app: before\n"]);
}

#[test]
fn span_fields_recorded_later_come_last_as_in_fmt() {
    use logbuf_journal::wire::{SpanClose, SpanNew, SpanRecord};

    let theirs = Buf::default();
    let writer = theirs.clone();
    let subscriber = tracing_subscriber::registry().with(
        fmt::layer()
            .with_writer(writer)
            .with_ansi(false)
            .without_time(),
    );
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(
            "req",
            a = 1,
            b = tracing::field::Empty,
            c = 3,
            d = tracing::field::Empty
        );
        let _entered = span.enter();
        tracing::info!("created");
        span.record("b", 2);
        tracing::info!("b recorded");
        span.record("a", 5);
        tracing::info!("a recorded again");
        let empty = tracing::info_span!("later", x = tracing::field::Empty);
        let _inner = empty.enter();
        tracing::info!("nothing yet");
        empty.record("x", "now");
        tracing::info!("x recorded");
    });

    let ours = Buf::default();
    let mut sink = TextSink::new(ours.clone()).without_time();
    let callsite = |id, kind, name, fields| {
        Record::Callsite(Callsite {
            id,
            kind,
            level: Level::Info,
            target: module_path!(),
            name,
            module_path: None,
            file: None,
            line: None,
            fields,
        })
    };
    let event = |message, parent| {
        Record::Event(Event {
            callsite: 3,
            time: 0,
            thread: 1,
            parent: Some(parent),
            values: vec![Value::Debug(message)],
        })
    };
    let records = vec![
        callsite(1, CallsiteKind::Span, "req", vec!["a", "b", "c", "d"]),
        callsite(2, CallsiteKind::Span, "later", vec!["x"]),
        callsite(3, CallsiteKind::Event, "event", vec!["message"]),
        Record::SpanNew(SpanNew {
            id: 1,
            parent: None,
            callsite: 1,
            time: 0,
            thread: 1,
            values: vec![Value::I64(1), Value::Empty, Value::I64(3), Value::Empty],
        }),
        event("created", 1),
        Record::SpanRecord(SpanRecord {
            id: 1,
            values: vec![Value::Empty, Value::I64(2), Value::Empty, Value::Empty],
        }),
        event("b recorded", 1),
        Record::SpanRecord(SpanRecord {
            id: 1,
            values: vec![Value::I64(5), Value::Empty, Value::Empty, Value::Empty],
        }),
        event("a recorded again", 1),
        Record::SpanNew(SpanNew {
            id: 2,
            parent: Some(1),
            callsite: 2,
            time: 0,
            thread: 1,
            values: vec![Value::Empty],
        }),
        event("nothing yet", 2),
        Record::SpanRecord(SpanRecord {
            id: 2,
            values: vec![Value::Str("now")],
        }),
        event("x recorded", 2),
        Record::SpanClose(SpanClose { id: 2, time: 0 }),
        Record::SpanClose(SpanClose { id: 1, time: 0 }),
    ];
    for record in records {
        sink.write_record(record).unwrap();
    }
    sink.flush().unwrap();
    let ours = ours.text();
    assert!(ours.contains(" INFO req{a=1 c=3 b=2 a=5}:later{x=\"now\"}: text_sink: x recorded\n"));
    assert_eq!(ours, theirs.text());
}

/// `1,234` read back.
fn without_separators(count: &str) -> u64 {
    count.replace(',', "").parse().unwrap()
}

#[test]
fn dropped_records_are_reported_as_warnings() {
    let out = Buf::default();
    let dropped = burst::burst_with_drops(TextSink::new(out.clone()));
    let text = out.text();
    let reports: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN logbuf: "))
        .collect();
    assert!(
        !reports.is_empty(),
        "no drop report in {} lines",
        text.lines().count()
    );
    let mut reported = 0;
    for line in &reports {
        // `2026-12-04T10:00:00.123456Z  WARN logbuf: 1,234 records dropped on thread burst (ring full or record too large)`
        let (time, rest) = line.split_once("  WARN logbuf: ").unwrap();
        assert_eq!(time.len(), 27, "{line}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
        let (count, rest) = rest.split_once(' ').unwrap();
        assert!(
            count.len() <= 3 || count.as_bytes()[count.len() - 4] == b',',
            "thousands separated: {line}"
        );
        // A report of one drop (the first drop wakes the worker, which may report it alone)
        // says so in the singular.
        let count = without_separators(count);
        let noun = if count == 1 { "record" } else { "records" };
        assert_eq!(
            rest,
            format!("{noun} dropped on thread burst (ring full or record too large)")
        );
        reported += count;
    }
    assert_eq!(reported, dropped);
    let events = text
        .lines()
        .filter(|l| l.contains(" INFO app: tick"))
        .count() as u64;
    assert_eq!(events + dropped, 20_000);
}

#[test]
fn drop_reports_pass_every_level_threshold() {
    // The records dropped may have been errors: even an errors-only sink shows the report.
    let out = Buf::default();
    let dropped = burst::burst_with_drops(TextSink::new(out.clone()).min_level(Level::Error));
    let text = out.text();
    assert!(!text.contains(" INFO app: tick"));
    let reported: u64 = text
        .lines()
        .map(|l| {
            let rest = l.split_once("  WARN logbuf: ").unwrap().1;
            without_separators(rest.split_once(' ').unwrap().0)
        })
        .sum();
    assert_eq!(reported, dropped);
}

#[test]
fn drop_reports_name_the_thread_and_handle_unknown_times() {
    use logbuf_journal::wire::{Dropped, ThreadName};

    let out = Buf::default();
    let mut sink = TextSink::new(out.clone()).with_thread_names(true);
    let records = [
        Record::Clock(Clock {
            ticks: 1_000,
            unix_nanos: 1_795_934_400_000_000_000,
        }),
        Record::ThreadName(ThreadName {
            thread: 3,
            name: "worker-3",
        }),
        Record::Dropped(Dropped {
            thread: 3,
            count: 1_234_567,
            first_time: 1_000,
            last_time: 123_456_000,
        }),
        // Times unknown: the first time stands in for the last, then no timestamp at all.
        Record::Dropped(Dropped {
            thread: 7,
            count: 1,
            first_time: 2_000,
            last_time: 0,
        }),
        Record::Dropped(Dropped {
            thread: 0,
            count: 999,
            first_time: 0,
            last_time: 0,
        }),
    ];
    for record in records {
        sink.write_record(record).unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(
        out.text(),
        "2026-11-29T06:40:00.123455Z  WARN worker-3 logbuf: 1,234,567 records dropped on thread \
         worker-3 (ring full or record too large)\n\
         2026-11-29T06:40:00.000001Z  WARN ThreadId(07) logbuf: 1 record dropped on thread \
         ThreadId(07) (ring full or record too large)\n \
         WARN ThreadId(00) logbuf: 999 records dropped outside any thread's ring (re-entrant \
         writes or thread teardown)\n"
    );
}

/// Past the most spans a context keeps open, the sink forgets the oldest; each span it still
/// has keeps its fields, the span opened as the sink drops the entries of forgotten ones
/// among them (its fields are kept as text only: the sink's context keeps no span values).
#[test]
fn spans_keep_their_fields_while_forgotten_ones_are_dropped() {
    let out = Buf::default();
    let mut sink = TextSink::new(out.clone()).without_time();
    let write = |sink: &mut TextSink, record: Record<'_>| {
        let bytes = postcard::to_allocvec(&record).unwrap();
        sink.write(logbuf_journal::sink::Entry::new(&bytes))
            .unwrap();
    };
    for (id, kind, fields) in [
        (1, CallsiteKind::Span, vec!["n"]),
        (2, CallsiteKind::Event, vec!["message"]),
    ] {
        let callsite = Callsite {
            id,
            kind,
            level: Level::Info,
            target: "t",
            name: "s",
            module_path: None,
            file: None,
            line: None,
            fields,
        };
        write(&mut sink, Record::Callsite(callsite));
    }
    let spans = logbuf_journal::sink::MAX_OPEN_SPANS as u64 + 2_000;
    for id in 1..=spans {
        let span = logbuf_journal::wire::SpanNew {
            id,
            parent: None,
            callsite: 1,
            time: id,
            thread: 1,
            values: vec![Value::U64(id)],
        };
        write(&mut sink, Record::SpanNew(span));
    }
    let kept = spans - logbuf_journal::sink::MAX_OPEN_SPANS as u64 + 1..=spans;
    for id in kept.clone() {
        let event = Event {
            callsite: 2,
            time: spans + 1,
            thread: 1,
            parent: Some(id),
            values: vec![Value::Debug("in")],
        };
        write(&mut sink, Record::Event(event));
    }
    sink.flush().unwrap();
    let text = out.text();
    let mut lines = text.lines();
    for id in kept {
        assert_eq!(
            lines.next(),
            Some(format!(" INFO s{{n={id}}}: t: in").as_str())
        );
    }
    assert_eq!(lines.next(), None);
}

/// Callsites whose target, name and field names need escaping (and a raw identifier and a
/// message among the fields), a span callsite redefined under its id while a span of its
/// first definition is open, and an event callsite redefined with other fields.
fn redefined_callsites() -> Vec<Record<'static>> {
    use logbuf_journal::wire::{SpanNew, SpanRecord};
    let callsite = |id, kind, target, name, fields| {
        Record::Callsite(Callsite {
            id,
            kind,
            level: Level::Warn,
            target,
            name,
            module_path: None,
            file: Some("src/\u{9b}lib.rs"),
            line: Some(12),
            fields,
        })
    };
    let span = |id, parent, callsite, values| {
        Record::SpanNew(SpanNew {
            id,
            parent,
            callsite,
            time: 0,
            thread: 1,
            values,
        })
    };
    let event = |parent, values| {
        Record::Event(Event {
            callsite: 2,
            time: 0,
            thread: 1,
            parent,
            values,
        })
    };
    vec![
        callsite(
            1,
            CallsiteKind::Span,
            "app\n::db",
            "re\rq",
            vec!["r#type", "p\x1bth"],
        ),
        callsite(
            2,
            CallsiteKind::Event,
            "app\x07",
            "event",
            vec!["message", "r#fn", "n\tb"],
        ),
        Record::Interned(logbuf_journal::wire::Interned {
            id: 5,
            text: "interned",
        }),
        span(10, None, 1, vec![Value::Interned(5), Value::U64(1)]),
        Record::SpanRecord(SpanRecord {
            id: 10,
            values: vec![Value::Empty, Value::U64(2)],
        }),
        event(
            Some(10),
            vec![Value::Debug("hi\n"), Value::U64(3), Value::Str("x")],
        ),
        callsite(1, CallsiteKind::Span, "other", "job", vec!["id"]),
        span(11, Some(10), 1, vec![Value::U64(7)]),
        event(
            Some(11),
            vec![Value::Debug("in both"), Value::Empty, Value::Bool(true)],
        ),
        callsite(
            2,
            CallsiteKind::Event,
            "moved",
            "event",
            vec!["count", "message"],
        ),
        event(Some(11), vec![Value::U64(4), Value::Debug("redefined")]),
        event(None, vec![Value::Empty, Value::Debug("no spans")]),
    ]
}

/// The lines [`TextFormat::render_with`] writes for `records`, from a context and span texts
/// fed the same records.
fn rendered_fresh(format: &TextFormat, records: &[Record<'_>]) -> String {
    use logbuf_journal::read::Context;
    use logbuf_journal::sink::text::SpanFields;
    let (mut context, mut spans, mut out) = (Context::new(), SpanFields::new(), Vec::new());
    for record in records {
        spans.apply(format, &context, record);
        if context.apply(record)
            && let Record::Event(event) = record
        {
            let event = context.event(event.clone()).unwrap();
            format.render_with(&event, &spans, &mut out);
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn lines_are_the_same_as_rendered_fresh_whatever_the_callsites_and_options() {
    let records = redefined_callsites();
    let formats: [fn(TextFormat) -> TextFormat; 5] = [
        |f| f,
        |f| f.with_ansi(true),
        |f| f.with_file(true).with_line_number(true).with_ansi(true),
        |f| f.with_target(false).with_file(true),
        |f| f.compact().with_ansi(true),
    ];
    for options in formats {
        let format = options(TextFormat::new().without_time());
        let out = Buf::default();
        let mut sink = TextSink::new(out.clone()).with_format(|_| format.clone());
        for record in records.clone() {
            sink.write_record(record).unwrap();
        }
        sink.flush().unwrap();
        let want = rendered_fresh(&format, &records);
        assert_eq!(want.lines().count(), 4);
        assert!(want.contains("\\n"), "{want}");
        assert!(want.contains("\"interned\""), "{want}");
        assert_eq!(out.text(), want, "{format:?}");
    }
}

#[test]
fn options_changed_after_the_definitions_apply_to_the_lines_after() {
    let records = redefined_callsites();
    // The last event is in no span (the fields of spans are kept as they were written).
    let (before, after) = records.split_at(records.len() - 1);
    let out = Buf::default();
    let mut sink = TextSink::new(out.clone()).without_time();
    for record in before.iter().cloned() {
        sink.write_record(record).unwrap();
    }
    let mut sink = sink.with_ansi(true).with_file(true).with_line_number(true);
    for record in after.iter().cloned() {
        sink.write_record(record).unwrap();
    }
    sink.flush().unwrap();
    let plain = rendered_fresh(&TextFormat::new().without_time(), &records);
    let coloured = TextFormat::new()
        .without_time()
        .with_ansi(true)
        .with_file(true)
        .with_line_number(true);
    let coloured = rendered_fresh(&coloured, &records);
    let want: Vec<&str> = plain
        .lines()
        .take(3)
        .chain(coloured.lines().skip(3))
        .collect();
    assert_eq!(out.text().lines().collect::<Vec<_>>(), want);
    assert!(want[3].contains("\x1b["));
}
