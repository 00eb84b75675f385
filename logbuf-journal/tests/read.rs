//! Reading events in context: callsites, thread names, span chains, recorded span values,
//! wall-clock times, and what happens to events whose definitions are missing.

use std::time::{SystemTime, UNIX_EPOCH};

use logbuf_journal::file::{FileHeader, FileReader, FileWriter};
use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::wire::{Callsite, CallsiteKind, Clock, Event, Level, Record, SpanClose, Value};
use logbuf_journal::{FullPolicy, Journal};

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn callsite(journal: &Journal, kind: CallsiteKind, name: &str, fields: Vec<&str>) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind,
        level: Level::Info,
        target: "read_test",
        name,
        module_path: None,
        file: None,
        line: None,
        fields,
    })
}

#[test]
fn events_come_with_their_spans_threads_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctx.lbf");
    let before = unix_nanos();
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .file(&path)
        .unwrap()
        .build()
        .unwrap();
    let outer = callsite(
        &journal,
        CallsiteKind::Span,
        "request",
        vec!["path", "status"],
    );
    let inner = callsite(&journal, CallsiteKind::Span, "db", vec!["table"]);
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message", "n"]);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let journal = journal.clone();
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn_scoped(s, move || {
                    let (a, b) = (10 + t * 2, 11 + t * 2);
                    journal.write(64, |e, at| {
                        e.span_new(a, None, outer, at.time, at.thread, 2);
                        e.value_str("/users");
                        e.value_empty();
                    });
                    journal.write(64, |e, at| {
                        e.span_new(b, Some(a), inner, at.time, at.thread, 1);
                        e.value_str("users");
                    });
                    journal.write(64, |e, _at| {
                        e.span_record(a, 2);
                        e.value_empty();
                        e.value_u64(200);
                    });
                    for n in 0..3 {
                        journal.write(64, |e, at| {
                            e.event(event, at.time, at.thread, Some(b), 2);
                            e.value_str("query");
                            e.value_u64(n);
                        });
                    }
                    journal.write(16, |e, at| e.event(event, at.time, at.thread, None, 0));
                })
                .unwrap();
        }
    });
    drop(guard);
    let after = unix_nanos();

    let mut reader = Reader::open(&path).unwrap();
    let mut seen = 0;
    while let Some(item) = reader.next_event() {
        let item = item.unwrap();
        seen += 1;
        assert_eq!(item.callsite.name, "event");
        assert!(
            item.thread_name.is_some_and(|n| n.starts_with("worker-")),
            "{:?}",
            item.thread_name
        );
        let t = item.unix_nanos.expect("wall-clock time");
        assert!(
            t + 1_000_000_000 >= before && t <= after + 1_000_000_000,
            "{before} <= {t} <= {after}"
        );
        if item.event.parent.is_none() {
            assert!(item.spans.is_empty());
            continue;
        }
        let names: Vec<&str> = item
            .spans
            .iter()
            .map(|s| s.callsite.name.as_str())
            .collect();
        assert_eq!(names, ["request", "db"]);
        assert_eq!(
            item.spans[0].values,
            [OwnedValue::Str("/users".into()), OwnedValue::U64(200)],
            "span values with the later record applied"
        );
    }
    assert_eq!(seen, 8);
    assert!(reader.stats().is_clean());
    assert_eq!((reader.orphans(), reader.dropped()), (0, 0));
}

#[test]
fn events_without_definitions_are_skipped_and_counted() {
    let header = FileHeader {
        pid: 1,
        program: "t".into(),
        clock: Clock {
            ticks: 1_000,
            unix_nanos: 5_000,
        },
    };
    let mut w = FileWriter::new(Vec::new(), &header).unwrap();
    let mut put = |r: Record<'_>| w.write_record(&postcard::to_allocvec(&r).unwrap()).unwrap();
    let event = |callsite, time| {
        Record::Event(Event {
            callsite,
            time,
            thread: 1,
            parent: Some(99),
            values: vec![Value::U64(1)],
        })
    };
    put(event(7, 1_000)); // callsite 7 is never defined
    put(Record::Callsite(Callsite {
        id: 3,
        kind: CallsiteKind::Event,
        level: Level::Error,
        target: "t",
        name: "e",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["n"],
    }));
    put(Record::Clock(Clock {
        ticks: 3_000,
        unix_nanos: 6_000,
    }));
    put(event(3, 2_000)); // parent span 99 is not open: no spans
    put(Record::SpanClose(SpanClose { id: 99, time: 5 }));
    let bytes = w.finish().unwrap();
    let mut reader = Reader::new(FileReader::new(&bytes[..]).unwrap());
    let item = reader.next_event().unwrap().unwrap();
    assert_eq!((item.event.callsite, item.spans.len()), (3, 0));
    // Two clock pairs: 2000 ticks over 1000 ns; tick 2000 is 500 ns before the latest pair.
    assert_eq!(item.unix_nanos, Some(5_500));
    assert!(reader.next_event().is_none());
    assert_eq!(reader.orphans(), 1);
}

/// Keeps every record's bytes, as a sink sees them.
#[derive(Clone, Default)]
struct Keep(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl logbuf_journal::Sink for Keep {
    fn write(&mut self, entry: logbuf_journal::sink::Entry<'_>) -> std::io::Result<()> {
        self.0.lock().unwrap().push(entry.bytes().to_vec());
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Wall-clock time is right from the start, not only once the journal's second read clock
/// pair (a second in) gives the counter's rate: in a file, and in what a sink sees (no file
/// header): both start with a pair derived from the counter's calibration.
#[test]
fn wall_clock_time_is_right_within_the_first_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clock.lbf");
    let sink = Keep::default();
    let (journal, guard) = Journal::builder()
        .file(&path)
        .unwrap()
        .sink(sink.clone())
        .build()
        .unwrap();
    let cs = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "t",
        name: "e",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["n"],
    });
    let mut windows = Vec::new();
    for n in 0..3u64 {
        let before = unix_nanos();
        journal.write(16, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 1);
            enc.value_u64(n);
        });
        windows.push((before, unix_nanos()));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(guard);
    // Within 1 ms of when it was logged (counter and wall clock disagree by far less).
    let check = |t: u64, (before, after): (u64, u64)| {
        assert!(
            t + 1_000_000 >= before && t <= after + 1_000_000,
            "{before} <= {t} <= {after}: off by {} us",
            (i128::from(t) - i128::from(before)) / 1_000
        );
    };
    let mut reader = Reader::open(&path).unwrap();
    for &window in &windows {
        check(
            reader.next_event().unwrap().unwrap().unix_nanos.unwrap(),
            window,
        );
    }
    let mut context = logbuf_journal::read::Context::new();
    let mut windows = windows.into_iter();
    for bytes in sink.0.lock().unwrap().iter() {
        let record: Record<'_> = postcard::from_bytes(bytes).unwrap();
        if context.apply(&record)
            && let Record::Event(e) = record
        {
            let t = context.event(e).unwrap().unix_nanos.unwrap();
            check(t, windows.next().unwrap());
        }
    }
    assert!(windows.next().is_none());
}

#[test]
fn a_close_with_times_closes_the_span_and_its_ticks_become_nanoseconds() {
    use logbuf_journal::read::Context;
    use logbuf_journal::wire::{SpanCloseTimes, SpanNew};

    let mut context = Context::new();
    // Two pairs 1,000,000 ticks apart over 2 ms: 2 ns a tick.
    context.apply(&Record::Clock(Clock {
        ticks: 1_000_000,
        unix_nanos: 1_000_000_000,
    }));
    context.apply(&Record::Clock(Clock {
        ticks: 2_000_000,
        unix_nanos: 1_002_000_000,
    }));
    context.apply(&Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "t",
        name: "s",
        module_path: None,
        file: None,
        line: None,
        fields: vec![],
    }));
    context.apply(&Record::SpanNew(SpanNew {
        id: 5,
        parent: None,
        callsite: 1,
        time: 1_500_000,
        thread: 3,
        values: vec![],
    }));
    let span = context.span(5).unwrap();
    assert_eq!((span.time, span.thread), (1_500_000, 3));
    assert_eq!(context.duration_nanos(1_000), 2_000);
    context.apply(&Record::SpanCloseTimes(SpanCloseTimes {
        id: 5,
        time: 1_600_000,
        busy: 40_000,
        idle: 60_000,
    }));
    assert_eq!(context.open_spans(), 0);
}
