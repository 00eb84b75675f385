//! The flight recorder's settings keep their promises: `trigger_at` moves the trigger,
//! `hold_below(Trace)` holds nothing, the byte bound lets the oldest events go and keeps the
//! newest, and `after(ZERO)` holds again at once after a trigger.

use std::io;
use std::sync::{Arc, Mutex};

use logbuf_journal::recorder::{FlightRecorder, MARKER_CALLSITE};
use logbuf_journal::sink::Entry;
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Marker { held: u64, discarded: u64 },
    Event(Level, u64),
}

struct Program {
    sink: Memory,
    journal: Journal,
    guard: Option<logbuf_journal::Guard>,
    /// Callsite ids by level: trace, debug, info, warn, error.
    ids: Vec<(u64, Level)>,
}

impl Program {
    fn new(recorder: FlightRecorder) -> Self {
        let sink = Memory::default();
        let (journal, guard) = Journal::builder()
            .policy(FullPolicy::Block)
            .sink(sink.clone())
            .flight_recorder(recorder.dump_on_panic(false))
            .build()
            .unwrap();
        let ids = [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
        ]
        .into_iter()
        .map(|level| {
            let id = journal.register_callsite(&Callsite {
                id: 0,
                kind: CallsiteKind::Event,
                level,
                target: "test",
                name: "event",
                module_path: None,
                file: None,
                line: None,
                fields: vec!["n"],
            });
            (id, level)
        })
        .collect();
        Program {
            sink,
            journal,
            guard: Some(guard),
            ids,
        }
    }

    fn log(&self, level: Level, n: u64) {
        let id = self.ids.iter().find(|(_, l)| *l == level).unwrap().0;
        self.journal.write(32, |enc, at| {
            enc.event(id, at.time, at.thread, None, 1);
            enc.value_u64(n);
        });
    }

    /// The events written so far, and the sum of the `Discarded` records.
    fn seen(&self) -> (Vec<Seen>, u64) {
        let mut seen = Vec::new();
        let mut discarded = 0;
        for bytes in self.sink.0.lock().unwrap().iter() {
            match postcard::from_bytes::<Record<'_>>(bytes).unwrap() {
                Record::Event(e) if e.callsite == MARKER_CALLSITE => {
                    let [_, Value::U64(held), Value::U64(discarded)] = e.values[..] else {
                        panic!("marker values {:?}", e.values);
                    };
                    seen.push(Seen::Marker { held, discarded });
                }
                Record::Event(e) => {
                    let level = self.ids.iter().find(|(id, _)| *id == e.callsite).unwrap().1;
                    let Some(Value::U64(n)) = e.values.first() else {
                        panic!("values {:?}", e.values);
                    };
                    seen.push(Seen::Event(level, *n));
                }
                Record::Discarded(d) => discarded += d.count,
                _ => {}
            }
        }
        (seen, discarded)
    }

    fn finish(&mut self) {
        self.guard.take();
    }
}

fn events(level: Level, range: std::ops::Range<u64>) -> impl Iterator<Item = Seen> {
    range.map(move |n| Seen::Event(level, n))
}

#[test]
fn trigger_at_warn_dumps_the_window_on_a_warning() {
    let mut program = Program::new(FlightRecorder::new().trigger_at(Level::Warn));
    for n in 0..20 {
        program.log(Level::Debug, n);
    }
    program.log(Level::Info, 0);
    program.log(Level::Warn, 0);
    assert!(program.journal.flush());
    let mut want = vec![
        Seen::Event(Level::Info, 0),
        Seen::Marker {
            held: 20,
            discarded: 0,
        },
    ];
    want.extend(events(Level::Debug, 0..20));
    want.push(Seen::Event(Level::Warn, 0));
    assert_eq!(program.seen().0, want);
    program.finish();
    assert_eq!(program.journal.stats().discarded, 0);
}

#[test]
fn hold_below_trace_holds_nothing() {
    let mut program = Program::new(FlightRecorder::new().hold_below(Level::Trace));
    for n in 0..20 {
        program.log(Level::Trace, n);
        program.log(Level::Debug, n);
    }
    assert!(program.journal.flush());
    program.finish();
    let mut want = Vec::new();
    for n in 0..20 {
        want.push(Seen::Event(Level::Trace, n));
        want.push(Seen::Event(Level::Debug, n));
    }
    assert_eq!(program.seen(), (want, 0));
    assert_eq!(program.journal.stats().discarded, 0);
}

#[test]
fn past_the_byte_bound_the_oldest_go_and_the_newest_are_written() {
    let mut program = Program::new(FlightRecorder::new().bytes(512));
    let n = 200;
    for i in 0..n {
        program.log(Level::Debug, i);
    }
    program.log(Level::Error, 0);
    assert!(program.journal.flush());
    let (seen, _) = program.seen();
    let Some(&Seen::Marker { held, discarded }) = seen.first() else {
        panic!("no marker first: {seen:?}");
    };
    assert!(held >= 1 && held < n, "{held} held");
    assert_eq!(held + discarded, n);
    let mut want = vec![Seen::Marker { held, discarded }];
    want.extend(events(Level::Debug, n - held..n));
    want.push(Seen::Event(Level::Error, 0));
    assert_eq!(seen, want);
    program.finish();
    assert_eq!(program.seen().1, discarded);
    assert_eq!(program.journal.stats().discarded, discarded);
    assert_eq!(program.journal.stats().dropped, 0);
}

#[test]
fn after_zero_holds_again_at_once() {
    let mut program = Program::new(FlightRecorder::new().after(std::time::Duration::ZERO));
    program.log(Level::Error, 0);
    for n in 0..10 {
        program.log(Level::Debug, n);
    }
    assert!(program.journal.flush());
    assert_eq!(program.seen().0, [Seen::Event(Level::Error, 0)]);
    program.finish();
    assert_eq!(program.seen(), (vec![Seen::Event(Level::Error, 0)], 10));
    assert_eq!(program.journal.stats().discarded, 10);
}
