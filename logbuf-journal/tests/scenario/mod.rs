//! One program written twice: as `tracing` calls, and as the journal records a tracing front end
//! makes of them. The sink tests run the first through `tracing-subscriber`'s formatters and the
//! second through the journal's sinks, and compare the output.

#![allow(dead_code, unreachable_pub)] // Each test file uses part of it.

use std::error::Error;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Event, Level, Record, SpanClose, SpanNew, SpanRecord,
    ThreadName, Value,
};
use tracing_subscriber::fmt::MakeWriter;

/// A writer into shared memory, for both sides.
#[derive(Clone, Default)]
pub struct Buf(Arc<Mutex<Vec<u8>>>);

impl Buf {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

/// The number in the calling thread's `std::thread::ThreadId`, which the records use as their
/// thread id so that both sides print the same one.
pub fn thread_number() -> u64 {
    let id = format!("{:?}", std::thread::current().id());
    id.trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .unwrap()
}

/// An error with a chain of sources.
#[derive(Debug)]
pub struct Failure(pub &'static str, pub Option<Box<Failure>>);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.1.as_deref().map(|e| e as _)
    }
}

/// Source lines of the program's events, in order.
pub type Lines = [u32; 8];

/// The program, through `tracing`. Returns the line of each event.
#[rustfmt::skip] // `line!()` must stay on the line of its event.
pub fn traced() -> Lines {
    let mut l = [0; 8];
    let outer = tracing::info_span!("outer", a = 1, s = "x y", e = tracing::field::Empty);
    let o = outer.enter();
    outer.record("e", 5);
    let inner = tracing::debug_span!("inner", b = 2u128);
    let i = inner.enter();
    let nofields = tracing::info_span!("nofields");
    let n = nofields.enter();
    l[0] = line!(); tracing::info!(user_id = 42u64, latency_us = 17.5, path = "/api/v1/orders", "request done");
    drop(n);
    drop(nofields);
    l[1] = line!(); tracing::warn!(neg = -3i64, big = u128::MAX, ib = i128::MIN, flag = true, dbg = ?vec![1, 2], disp = %"shown", "a \"quoted\" \x1b[31m word");
    drop(i);
    l[2] = line!(); tracing::error!(bytes = &b"ab\x00\xff"[..], r#type = "t", "x");
    let err = Failure("outer err", Some(Box::new(Failure("inner err", Some(Box::new(Failure("root", None)))))));
    l[3] = line!(); tracing::error!(error = &err as &(dyn Error + 'static), "failed");
    drop(o);
    l[4] = line!(); tracing::trace!(f = 1.0f64, g = f64::NAN, h = 1e300, "formatted {}", 5);
    l[5] = line!(); tracing::info!(only = 1);
    l[6] = line!(); tracing::info!(message = "explicit", other = "v\tw");
    l[7] = line!(); tracing::info!(target: "custom::t", "custom target");
    drop(inner);
    drop(outer);
    l
}

/// Tick time of the program's first record; its clock pair maps it to `unix_nanos`.
pub const T0: u64 = 1_000_000;

/// The same program as journal records, logged by thread `thread` named `name`, with a clock
/// pair mapping tick `T0` to `unix_nanos` (one tick per nanosecond).
pub fn records<'a>(
    lines: &Lines,
    thread: u64,
    name: Option<&'a str>,
    unix_nanos: u64,
) -> Vec<Record<'a>> {
    let target = module_path!();
    let cs = |id, kind, level, target, fields: Vec<&'a str>, line| {
        Record::Callsite(Callsite {
            id,
            kind,
            level,
            target,
            name: if kind == CallsiteKind::Span {
                ["", "outer", "inner", "nofields"][id as usize]
            } else {
                "event"
            },
            module_path: Some(module_path!()),
            file: Some(file!()),
            line: Some(line),
            fields,
        })
    };
    let mut time = T0;
    let mut event = |callsite, parent, values| {
        time += 1_000;
        Record::Event(Event {
            callsite,
            time,
            thread,
            parent,
            values,
        })
    };
    let mut out = vec![Record::Clock(Clock {
        ticks: T0,
        unix_nanos,
    })];
    if let Some(name) = name {
        out.push(Record::ThreadName(ThreadName { thread, name }));
    }
    out.extend([
        cs(
            1,
            CallsiteKind::Span,
            Level::Info,
            target,
            vec!["a", "s", "e"],
            1,
        ),
        cs(2, CallsiteKind::Span, Level::Debug, target, vec!["b"], 2),
        cs(3, CallsiteKind::Span, Level::Info, target, vec![], 3),
        cs(
            10,
            CallsiteKind::Event,
            Level::Info,
            target,
            vec!["message", "user_id", "latency_us", "path"],
            lines[0],
        ),
        cs(
            11,
            CallsiteKind::Event,
            Level::Warn,
            target,
            vec!["message", "neg", "big", "ib", "flag", "dbg", "disp"],
            lines[1],
        ),
        cs(
            12,
            CallsiteKind::Event,
            Level::Error,
            target,
            vec!["message", "bytes", "r#type"],
            lines[2],
        ),
        cs(
            13,
            CallsiteKind::Event,
            Level::Error,
            target,
            vec!["message", "error"],
            lines[3],
        ),
        cs(
            14,
            CallsiteKind::Event,
            Level::Trace,
            target,
            vec!["message", "f", "g", "h"],
            lines[4],
        ),
        cs(
            15,
            CallsiteKind::Event,
            Level::Info,
            target,
            vec!["only"],
            lines[5],
        ),
        cs(
            16,
            CallsiteKind::Event,
            Level::Info,
            target,
            vec!["message", "other"],
            lines[6],
        ),
        cs(
            17,
            CallsiteKind::Event,
            Level::Info,
            "custom::t",
            vec!["message"],
            lines[7],
        ),
        Record::SpanNew(SpanNew {
            id: 100,
            parent: None,
            callsite: 1,
            time: T0,
            thread,
            values: vec![Value::I64(1), Value::Str("x y"), Value::Empty],
        }),
        Record::SpanRecord(SpanRecord {
            id: 100,
            values: vec![Value::Empty, Value::Empty, Value::I64(5)],
        }),
        Record::SpanNew(SpanNew {
            id: 101,
            parent: Some(100),
            callsite: 2,
            time: T0,
            thread,
            values: vec![Value::U128(2)],
        }),
        Record::SpanNew(SpanNew {
            id: 102,
            parent: Some(101),
            callsite: 3,
            time: T0,
            thread,
            values: vec![],
        }),
    ]);
    out.push(event(
        10,
        Some(102),
        vec![
            Value::Debug("request done"),
            Value::U64(42),
            Value::F64(17.5),
            Value::Str("/api/v1/orders"),
        ],
    ));
    out.push(Record::SpanClose(SpanClose { id: 102, time: T0 }));
    out.push(event(
        11,
        Some(101),
        vec![
            Value::Debug("a \"quoted\" \x1b[31m word"),
            Value::I64(-3),
            Value::U128(u128::MAX),
            Value::I128(i128::MIN),
            Value::Bool(true),
            Value::Debug("[1, 2]"),
            Value::Debug("shown"),
        ],
    ));
    out.push(event(
        12,
        Some(100),
        vec![
            Value::Debug("x"),
            Value::Bytes(b"ab\x00\xff"),
            Value::Str("t"),
        ],
    ));
    out.push(event(
        13,
        Some(100),
        vec![
            Value::Debug("failed"),
            Value::Error {
                message: "outer err",
                sources: vec!["inner err", "root"],
            },
        ],
    ));
    out.push(event(
        14,
        None,
        vec![
            Value::Debug("formatted 5"),
            Value::F64(1.0),
            Value::F64(f64::NAN),
            Value::F64(1e300),
        ],
    ));
    out.push(event(15, None, vec![Value::I64(1)]));
    out.push(event(
        16,
        None,
        vec![Value::Str("explicit"), Value::Str("v\tw")],
    ));
    out.push(event(17, None, vec![Value::Debug("custom target")]));
    out.push(Record::SpanClose(SpanClose { id: 101, time: T0 }));
    out.push(Record::SpanClose(SpanClose { id: 100, time: T0 }));
    out
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Runs the program through `tracing` with `layer`, returning its output and event lines.
pub fn through_fmt<L>(layer: impl FnOnce(Buf) -> L) -> (String, Lines)
where
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    let out = Buf::default();
    let subscriber = tracing_subscriber::registry().with(layer(out.clone()));
    let lines = tracing::subscriber::with_default(subscriber, traced);
    (out.text(), lines)
}
