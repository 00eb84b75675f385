//! Each span's busy and idle time, in its close record when asked for: entered and exited
//! several times, on two threads at once, entered again while entered, exited on another
//! thread, closed by the exit that ends it; and the records a span's life takes by default.
//!
//! Bounds are loose (the sleeps are lower bounds), for correctness, not speed.

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use logbuf_journal::file::FileReader;
use logbuf_journal::read::Context;
use logbuf_journal::wire::Record;
use logbuf_tracing::LogbufLayer;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

const MS: u64 = 1_000_000;

fn sleep_ms(ms: u64) {
    thread::sleep(Duration::from_millis(ms));
}

/// Busy and idle nanoseconds of the span named `name`, from its close record.
#[derive(Debug, Clone, Copy)]
struct Times {
    busy: u64,
    idle: u64,
    /// Creation to close, from the span's creation and close records.
    life: u64,
}

/// Every span's times, by name, and the kinds of span records in the file.
fn times(path: &Path) -> (Vec<(String, Times)>, Vec<&'static str>) {
    let mut file = FileReader::open(path).unwrap();
    let mut context = Context::new();
    context.add_clock(file.header().clock);
    let mut created = std::collections::HashMap::new();
    let (mut out, mut kinds) = (Vec::new(), Vec::new());
    while let Some(record) = file.next_record() {
        let record = record.unwrap();
        if let Record::SpanCloseTimes(c) = &record {
            let span = context.span(c.id).expect("closed span is open");
            let start = context.unix_nanos(span.time).unwrap();
            let end = context.unix_nanos(c.time).unwrap();
            out.push((
                span.callsite.name.clone(),
                Times {
                    busy: context.duration_nanos(c.busy),
                    idle: context.duration_nanos(c.idle),
                    life: end - start,
                },
            ));
        }
        match &record {
            Record::SpanNew(s) => {
                created.insert(s.id, s.time);
                kinds.push("new");
            }
            Record::SpanEnter(_) => kinds.push("enter"),
            Record::SpanExit(_) => kinds.push("exit"),
            Record::SpanClose(_) => kinds.push("close"),
            Record::SpanCloseTimes(_) => kinds.push("close with times"),
            _ => {}
        }
        context.apply(&record);
    }
    assert!(file.stats().is_clean(), "{:?}", file.stats());
    (out, kinds)
}

fn dispatch(path: &Path) -> (Dispatch, logbuf_tracing::Guard) {
    let (layer, guard) = LogbufLayer::builder()
        .file(path)
        .span_times(true)
        .build()
        .unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

/// The file holds one span, busy at least `busy` and idle at least `idle` nanoseconds, the two
/// adding up to its life.
fn assert_one_span(path: &Path, busy: u64, idle: u64) {
    let (times, _) = times(path);
    let [(_, t)] = &times[..] else {
        panic!("{times:?}")
    };
    assert!(t.busy >= busy, "{t:?}");
    assert!(t.idle >= idle, "{t:?}");
    assert!((t.busy + t.idle).abs_diff(t.life) < 5 * MS, "{t:?}");
}

#[test]
fn entered_several_times_busy_and_idle_cover_the_sleeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("times.lbf");
    let (dispatch, guard) = dispatch(&path);
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("request");
        sleep_ms(20); // idle
        for _ in 0..3 {
            span.in_scope(|| sleep_ms(15)); // busy
            sleep_ms(10); // idle
        }
    });
    drop(dispatch);
    drop(guard);
    let (times, kinds) = times(&path);
    let [(name, t)] = &times[..] else {
        panic!("{times:?}")
    };
    assert_eq!(name, "request");
    assert!(t.busy >= 45 * MS, "{t:?}");
    assert!(t.idle >= 50 * MS, "{t:?}");
    // The two add up to the span's life, within the time between reading the clock for the
    // span and stamping its records (well under the sleeps).
    assert!((t.busy + t.idle).abs_diff(t.life) < 5 * MS, "{t:?}");
    // Without enter and exit records, a span's life is two records.
    assert_eq!(kinds, ["new", "close with times"]);
}

#[test]
fn by_default_a_span_is_two_records_and_its_close_carries_no_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("polled");
        for _ in 0..3 {
            span.in_scope(|| tracing::info!("inside"));
        }
    });
    drop(guard);
    let (times, kinds) = times(&path);
    assert_eq!(kinds, ["new", "close"]);
    assert!(times.is_empty(), "{times:?}");
    // The events are in the span all the same.
    let mut reader = logbuf_journal::read::Reader::open(&path).unwrap();
    let mut events = 0;
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        assert_eq!(event.spans.len(), 1);
        assert_eq!(event.spans[0].callsite.name, "polled");
        events += 1;
    }
    assert_eq!(events, 3);
}

#[test]
fn entered_on_two_threads_at_once_is_busy_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.lbf");
    let (dispatch, guard) = dispatch(&path);
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("shared"));
    sleep_ms(30); // idle
    let (a_entered, b_wait) = mpsc::channel();
    let (b_entered, a_wait) = mpsc::channel();
    let (d, sp) = (&dispatch, &span);
    thread::scope(|s| {
        s.spawn(move || {
            tracing::dispatcher::with_default(d, || {
                let _in = sp.enter();
                sleep_ms(20);
                a_entered.send(()).unwrap();
                a_wait.recv().unwrap();
                sleep_ms(20);
            });
        });
        s.spawn(move || {
            tracing::dispatcher::with_default(d, || {
                b_wait.recv().unwrap();
                let _in = sp.enter();
                b_entered.send(()).unwrap();
                sleep_ms(40);
            });
        });
    });
    // One thread had it entered from 0 to 40 ms, the other from 20 to 60 ms: busy 60 ms.
    // Counted twice (80 ms), busy would eat into the 30 + 30 ms the span spent outside both.
    sleep_ms(30); // idle
    drop(span);
    drop(dispatch);
    drop(guard);
    assert_one_span(&path, 60 * MS, 60 * MS);
}

#[test]
fn entered_again_while_entered_is_busy_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("again.lbf");
    let (dispatch, guard) = dispatch(&path);
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("again");
        {
            let _outer = span.enter();
            sleep_ms(20);
            {
                let _inner = span.enter();
                sleep_ms(20);
            }
            sleep_ms(20);
        }
        // Counted twice, the inner 20 ms would come out of this idle time.
        sleep_ms(40);
    });
    drop(dispatch);
    drop(guard);
    assert_one_span(&path, 60 * MS, 40 * MS);
}

#[test]
fn polled_on_one_thread_then_another_is_busy_on_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moved.lbf");
    let (dispatch, guard) = dispatch(&path);
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("task"));
    // As tokio polls a task on one worker thread, then on another, and drops it on a third.
    for _ in 0..2 {
        sleep_ms(15); // idle
        thread::scope(|s| {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || span.in_scope(|| sleep_ms(20)));
            });
        });
    }
    sleep_ms(15); // idle
    thread::scope(|s| {
        s.spawn(move || drop(span));
    });
    drop(dispatch);
    drop(guard);
    assert_one_span(&path, 40 * MS, 45 * MS);
}

#[test]
fn closed_while_entered_is_busy_up_to_the_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("closed.lbf");
    let (dispatch, guard) = dispatch(&path);
    let (tx, rx) = mpsc::channel::<tracing::Span>();
    let (dropped, wait) = mpsc::channel::<()>();
    let d = &dispatch;
    thread::scope(|s| {
        s.spawn(move || {
            tracing::dispatcher::with_default(d, || {
                let span = tracing::info_span!("closing");
                let id = span.id().unwrap();
                span.with_subscriber(|(id, d)| d.enter(id));
                tx.send(span).unwrap();
                wait.recv().unwrap();
                // The last handle went on the other thread while this one had the span
                // entered: the registry closes it at this exit, and tells layers of the close
                // before the exit.
                d.exit(&id);
            });
        });
        s.spawn(move || {
            let span = rx.recv().unwrap();
            sleep_ms(30);
            drop(span);
            dropped.send(()).unwrap();
        });
    });
    drop(dispatch);
    drop(guard);
    let (times, _) = times(&path);
    let [(_, t)] = &times[..] else {
        panic!("{times:?}")
    };
    assert!(t.busy >= 30 * MS, "{t:?}");
    assert!((t.busy + t.idle).abs_diff(t.life) < 5 * MS, "{t:?}");
}

#[test]
fn enter_and_exit_records_are_written_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("polls.lbf");
    let (layer, guard) = LogbufLayer::builder()
        .file(&path)
        .record_enter_exit(true)
        .span_times(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("polled");
        for _ in 0..3 {
            span.in_scope(|| sleep_ms(5));
        }
    });
    drop(guard);
    let (times, kinds) = times(&path);
    assert_eq!(
        kinds,
        [
            "new",
            "enter",
            "exit",
            "enter",
            "exit",
            "enter",
            "exit",
            "close with times"
        ]
    );
    assert!(times[0].1.busy >= 15 * MS, "{times:?}");
}
