//! The flight recorder end to end: the window before a trigger is written in order before it
//! and nothing older, memory stays within the byte bound under a flood, a panic dumps the
//! window, triggers close together write each event once, per-sink recorders, span context.

use std::io;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logbuf_journal::read::Reader;
use logbuf_journal::recorder::{FlightRecorder, MARKER_CALLSITE};
use logbuf_journal::sink::{BinaryFileSink, Entry};
use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, Value};
use logbuf_journal::{FullPolicy, Journal, Sink};

/// Keeps every record's bytes.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<Vec<u8>>>>);

impl Sink for Memory {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        self.0.lock().unwrap().push(entry.bytes().to_vec());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An event as the tests see it: its callsite's name and its `u64` values.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// The marker a dump starts with: events held, discarded since the previous dump.
    Marker { held: u64, discarded: u64 },
    /// An event of the test's callsites: its name and number.
    Event(&'static str, u64),
}

impl Memory {
    /// The events written so far, and the sum of `Discarded` records.
    fn seen(&self, names: &[(u64, &'static str)]) -> (Vec<Seen>, u64) {
        let mut seen = Vec::new();
        let mut discarded = 0;
        for bytes in self.0.lock().unwrap().iter() {
            match postcard::from_bytes::<Record<'_>>(bytes).unwrap() {
                Record::Event(e) if e.callsite == MARKER_CALLSITE => {
                    let [_, Value::U64(held), Value::U64(discarded)] = e.values[..] else {
                        panic!("marker values {:?}", e.values);
                    };
                    seen.push(Seen::Marker { held, discarded });
                }
                Record::Event(e) => {
                    let name = names.iter().find(|(id, _)| *id == e.callsite).unwrap().1;
                    let Some(Value::U64(n)) = e.values.first() else {
                        panic!("values {:?}", e.values);
                    };
                    seen.push(Seen::Event(name, *n));
                }
                Record::Discarded(d) => discarded += d.count,
                _ => {}
            }
        }
        (seen, discarded)
    }
}

/// Registers an event callsite at `level` with one `u64` field.
fn callsite(journal: &Journal, level: Level, name: &'static str) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level,
        target: "test",
        name,
        module_path: None,
        file: None,
        line: None,
        fields: vec!["n"],
    })
}

fn log(journal: &Journal, callsite: u64, n: u64) {
    journal.write(32, |enc, at| {
        enc.event(callsite, at.time, at.thread, None, 1);
        enc.value_u64(n);
    });
}

fn ev(name: &'static str, range: std::ops::Range<u64>) -> impl Iterator<Item = Seen> {
    range.map(move |n| Seen::Event(name, n))
}

/// A journal into `sink` with the recorder `recorder` and the callsites debug, info, error.
fn journal_with(
    recorder: FlightRecorder,
    sink: Memory,
) -> (Journal, logbuf_journal::Guard, [u64; 3]) {
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .sink(sink)
        .flight_recorder(recorder.dump_on_panic(false))
        .build()
        .unwrap();
    let ids = [
        callsite(&journal, Level::Debug, "debug"),
        callsite(&journal, Level::Info, "info"),
        callsite(&journal, Level::Error, "error"),
    ];
    (journal, guard, ids)
}

fn names(ids: [u64; 3]) -> [(u64, &'static str); 3] {
    [(ids[0], "debug"), (ids[1], "info"), (ids[2], "error")]
}

#[test]
fn the_window_before_an_error_is_written_in_order_before_it_and_nothing_older() {
    let sink = Memory::default();
    let recorder = FlightRecorder::new()
        .window(Duration::from_secs(1))
        .after(Duration::ZERO);
    let (journal, guard, ids @ [debug, info, error]) = journal_with(recorder, sink.clone());
    for n in 0..100 {
        log(&journal, debug, n);
    }
    log(&journal, info, 0);
    // Older than the window when the error comes.
    std::thread::sleep(Duration::from_millis(1500));
    for n in 100..200 {
        log(&journal, debug, n);
        if n % 50 == 0 {
            log(&journal, info, n);
        }
    }
    log(&journal, error, 0);
    assert!(journal.flush());
    let stats = journal.stats();
    let (seen, discarded) = sink.seen(&names(ids));
    let mut want = vec![
        Seen::Event("info", 0),
        Seen::Event("info", 100),
        Seen::Event("info", 150),
    ];
    want.push(Seen::Marker {
        held: 100,
        discarded: 100,
    });
    want.extend(ev("debug", 100..200));
    want.push(Seen::Event("error", 0));
    assert_eq!(seen, want);
    assert_eq!(stats.discarded, 100);
    assert_eq!(stats.dropped, 0);
    drop(guard);
    let (_, discarded_after) = sink.seen(&names(ids));
    assert_eq!((discarded, discarded_after), (100, 100));
}

#[test]
fn without_a_trigger_nothing_held_is_written_and_everything_is_counted() {
    let sink = Memory::default();
    let (journal, guard, ids @ [debug, info, _]) =
        journal_with(FlightRecorder::new(), sink.clone());
    for n in 0..500 {
        log(&journal, debug, n);
    }
    log(&journal, info, 1);
    assert!(journal.flush());
    drop(guard);
    let (seen, discarded) = sink.seen(&names(ids));
    assert_eq!(seen, [Seen::Event("info", 1)]);
    assert_eq!(discarded, 500);
    assert_eq!(journal.stats().discarded, 500);
}

#[test]
fn two_triggers_close_together_write_each_event_once() {
    let sink = Memory::default();
    let recorder = FlightRecorder::new().after(Duration::ZERO);
    let (journal, guard, ids @ [debug, _, error]) = journal_with(recorder, sink.clone());
    for n in 0..50 {
        log(&journal, debug, n);
    }
    log(&journal, error, 1);
    log(&journal, error, 2);
    journal.dump();
    journal.dump();
    for n in 50..60 {
        log(&journal, debug, n);
    }
    journal.dump();
    log(&journal, error, 3);
    assert!(journal.flush());
    drop(guard);
    let (seen, discarded) = sink.seen(&names(ids));
    let mut want = vec![Seen::Marker {
        held: 50,
        discarded: 0,
    }];
    want.extend(ev("debug", 0..50));
    want.extend([Seen::Event("error", 1), Seen::Event("error", 2)]);
    want.push(Seen::Marker {
        held: 10,
        discarded: 0,
    });
    want.extend(ev("debug", 50..60));
    want.push(Seen::Event("error", 3));
    assert_eq!(seen, want);
    assert_eq!(discarded, 0);
}

#[test]
fn what_comes_after_a_trigger_is_written_for_the_after_period() {
    let sink = Memory::default();
    let recorder = FlightRecorder::new().after(Duration::from_secs(3600));
    let (journal, guard, ids @ [debug, _, error]) = journal_with(recorder, sink.clone());
    log(&journal, debug, 0);
    log(&journal, error, 0);
    for n in 1..20 {
        log(&journal, debug, n);
    }
    assert!(journal.flush());
    drop(guard);
    let (seen, _) = sink.seen(&names(ids));
    let mut want = vec![Seen::Marker {
        held: 1,
        discarded: 0,
    }];
    want.push(Seen::Event("debug", 0));
    want.push(Seen::Event("error", 0));
    want.extend(ev("debug", 1..20));
    assert_eq!(seen, want);
}

#[test]
fn a_dump_goes_where_it_was_asked_for() {
    let sink = Memory::default();
    let recorder = FlightRecorder::new()
        .no_level_trigger()
        .after(Duration::ZERO);
    let (journal, guard, ids @ [debug, info, error]) = journal_with(recorder, sink.clone());
    for n in 0..10 {
        log(&journal, debug, n);
    }
    log(&journal, info, 0);
    // No level trigger: the error is written as it comes, the debug events stay held.
    log(&journal, error, 0);
    journal.dump();
    log(&journal, info, 1);
    assert!(journal.flush());
    drop(guard);
    let (seen, _) = sink.seen(&names(ids));
    let mut want = vec![Seen::Event("info", 0), Seen::Event("error", 0)];
    want.push(Seen::Marker {
        held: 10,
        discarded: 0,
    });
    want.extend(ev("debug", 0..10));
    want.push(Seen::Event("info", 1));
    assert_eq!(seen, want);
}

#[test]
fn a_panic_dumps_the_window() {
    let sink = Memory::default();
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .sink(sink.clone())
        // The default: a panic dumps the window. No level trigger, so the panic event is not
        // what writes it.
        .flight_recorder(FlightRecorder::new().no_level_trigger())
        .build()
        .unwrap();
    let debug = callsite(&journal, Level::Debug, "debug");
    for n in 0..30 {
        log(&journal, debug, n);
    }
    let panicked = std::thread::spawn(|| panic!("flight recorder test panic")).join();
    assert!(panicked.is_err());
    // The hook flushed before the panic went on: no flush here.
    let records = sink.0.lock().unwrap().clone();
    let mut seen = Vec::new();
    for bytes in &records {
        if let Record::Event(e) = postcard::from_bytes::<Record<'_>>(bytes).unwrap() {
            seen.push(match e.callsite {
                MARKER_CALLSITE => "marker".to_string(),
                id if id == debug => format!("debug {:?}", e.values[0]),
                _ => format!("{:?}", e.values[0]),
            });
        }
    }
    let mut want = vec!["marker".to_string()];
    want.extend((0..30).map(|n| format!("debug U64({n})")));
    want.push(r#"Str("flight recorder test panic")"#.to_string());
    assert_eq!(seen, want);
    drop(guard);
}

#[test]
fn a_sink_with_a_recorder_of_its_own_gets_debug_only_around_errors() {
    let (all, recorded) = (Memory::default(), Memory::default());
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .sink(all.clone())
        .sink(
            recorded
                .clone()
                .recorded(FlightRecorder::new().bytes(64 * 40).after(Duration::ZERO)),
        )
        .build()
        .unwrap();
    let ids @ [debug, _, error] = [
        callsite(&journal, Level::Debug, "debug"),
        callsite(&journal, Level::Info, "info"),
        callsite(&journal, Level::Error, "error"),
    ];
    for n in 0..1000 {
        log(&journal, debug, n);
    }
    log(&journal, error, 0);
    assert!(journal.flush());
    let stats = journal.stats();
    drop(guard);
    let (seen_all, _) = all.seen(&names(ids));
    let mut want = ev("debug", 0..1000).collect::<Vec<_>>();
    want.push(Seen::Event("error", 0));
    assert_eq!(seen_all, want);
    // 64 × 40 bytes hold the last 64 or so events (a header of 13 bytes and about 14 of
    // record each): the byte bound decides what is left.
    let (seen, discarded) = recorded.seen(&names(ids));
    let Some(Seen::Marker { held, discarded: d }) = seen.first().cloned() else {
        panic!("no marker first: {seen:?}");
    };
    assert!((64..=2 * 64).contains(&held), "{held}");
    assert_eq!(held + d, 1000);
    assert_eq!(discarded, d);
    assert_eq!(stats.discarded, d);
    let mut want = vec![Seen::Marker { held, discarded: d }];
    want.extend(ev("debug", 1000 - held..1000));
    want.push(Seen::Event("error", 0));
    assert_eq!(seen, want);
}

#[test]
fn held_events_keep_their_span_when_it_closed_before_the_dump() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.lbf");
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .sink(BinaryFileSink::create(&path).unwrap())
        .flight_recorder(FlightRecorder::new().dump_on_panic(false))
        .build()
        .unwrap();
    let span = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "test",
        name: "request",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["id"],
    });
    let debug = callsite(&journal, Level::Debug, "debug");
    let error = callsite(&journal, Level::Error, "error");
    journal.write_span(32, |enc, at| {
        enc.span_new(7, None, span, at.time, at.thread, 1);
        enc.value_u64(42);
    });
    for n in 0..5 {
        journal.write(32, |enc, at| {
            enc.event(debug, at.time, at.thread, Some(7), 1);
            enc.value_u64(n);
        });
    }
    journal.write_span(32, |enc, at| enc.span_close(7, at.time));
    log(&journal, error, 0);
    drop(guard);
    let mut reader = Reader::open(&path).unwrap();
    let mut seen = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let spans: Vec<String> = event
            .spans
            .iter()
            .map(|s| s.callsite.name.clone())
            .collect();
        seen.push((event.callsite.name.clone(), spans));
    }
    let mut want = vec![("flight recorder window".to_string(), vec![])];
    want.extend((0..5).map(|_| ("debug".to_string(), vec!["request".to_string()])));
    want.push(("error".to_string(), vec![]));
    assert_eq!(seen, want);
}

/// Peak and current resident memory of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

const FLOOD_BOUND: usize = 8 << 20;
const FLOOD_EVENTS: u64 = 1_500_000;

#[test]
#[cfg(target_os = "linux")]
fn memory_stays_within_the_byte_bound_under_a_flood() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "flood_child", "--nocapture", "--test-threads=1"])
        .env("LOGBUF_RECORDER_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let numbers: Vec<u64> = stdout
        .lines()
        .find_map(|l| l.split("RESULT ").nth(1))
        .unwrap_or_else(|| panic!("no result in {stdout}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let [growth_kib, held, discarded, logged_bytes] = numbers[..] else {
        panic!("{numbers:?}");
    };
    println!(
        "flood: {} MiB of debug records, peak resident memory +{} KiB, {held} held at the dump, \
         {discarded} discarded",
        logged_bytes >> 20,
        growth_kib
    );
    // Every event is held at the dump or counted as discarded.
    assert_eq!(held + discarded, FLOOD_EVENTS);
    assert!(held > 0 && discarded > 0);
    // The flood is many times the bound; memory grew by the bound and the worker's own
    // buffers (its 4 MiB ordering stage, grown by doubling), not by the flood.
    assert!(logged_bytes > 10 * FLOOD_BOUND as u64);
    assert!(
        growth_kib < (FLOOD_BOUND as u64 + (12 << 20)) >> 10,
        "resident memory grew by {growth_kib} KiB"
    );
}

#[test]
fn flood_child() {
    if std::env::var_os("LOGBUF_RECORDER_CHILD").is_none() {
        return;
    }
    let sink = Memory::default();
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .ring_capacity(256 << 10)
        .sink(sink.clone())
        .flight_recorder(
            FlightRecorder::new()
                .bytes(FLOOD_BOUND)
                .window(Duration::from_secs(3600))
                .no_level_trigger()
                .dump_on_panic(false),
        )
        .build()
        .unwrap();
    let debug = callsite(&journal, Level::Debug, "debug");
    let pad = "x".repeat(100);
    // The ring and the thread's state exist before the baseline.
    journal.write(32, |enc, at| {
        enc.event(debug, at.time, at.thread, None, 0);
    });
    assert!(journal.flush());
    let (_, base) = memory_kib();
    let mut logged_bytes = 0u64;
    for n in 0..FLOOD_EVENTS - 1 {
        journal.write(160, |enc, at| {
            enc.event(debug, at.time, at.thread, None, 2);
            enc.value_u64(n);
            enc.value_str(&pad);
        });
        logged_bytes += 120;
    }
    assert!(journal.flush());
    let (peak, _) = memory_kib();
    let discarded = journal.stats().discarded;
    // Nothing was written yet: the sink holds only definitions and clocks.
    let before = sink.0.lock().unwrap().len();
    journal.dump();
    assert!(journal.flush());
    let held = sink.0.lock().unwrap()[before..]
        .iter()
        .filter(|b| {
            matches!(postcard::from_bytes::<Record<'_>>(b), Ok(Record::Event(e)) if e.callsite == debug)
        })
        .count() as u64;
    drop(guard);
    println!(
        "RESULT {} {held} {discarded} {logged_bytes}",
        peak.saturating_sub(base)
    );
}

#[test]
#[cfg(unix)]
fn sigusr1_dumps_the_window_when_switched_on() {
    let sink = Memory::default();
    let recorder = FlightRecorder::new()
        .no_level_trigger()
        .after(Duration::ZERO)
        .dump_on_sigusr1(true);
    let (journal, guard, ids @ [debug, ..]) = journal_with(recorder, sink.clone());
    for n in 0..5 {
        log(&journal, debug, n);
    }
    assert!(journal.flush());
    assert_eq!(sink.seen(&names(ids)).0, []);
    // SAFETY: raising a signal this process has a handler for (installed by the journal's
    // builder); the handler only adds to an atomic.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
    // The worker answers at its next pass; wait for it, boundedly.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sink.seen(&names(ids)).0.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(guard);
    let mut want = vec![Seen::Marker {
        held: 5,
        discarded: 0,
    }];
    want.extend(ev("debug", 0..5));
    assert_eq!(sink.seen(&names(ids)).0, want);
}
