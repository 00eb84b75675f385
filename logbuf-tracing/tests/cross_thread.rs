//! Spans entered on one thread and exited on another, and the switch that leaves enter and
//! exit out of the journal.

use std::path::Path;
use std::sync::mpsc;
use std::thread;

use logbuf_journal::file::FileReader;
use logbuf_journal::read::Reader;
use logbuf_journal::wire::{Record, Value};
use logbuf_tracing::LogbufLayer;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

fn records(path: &Path) -> Vec<String> {
    let mut reader = FileReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(record) = reader.next_record() {
        out.push(format!("{:?}", record.unwrap()));
    }
    out
}

/// A span transition: `(kind, span, thread)`.
type Transition = (&'static str, u64, u64);

/// Thread ids with their names, and span transitions in file order.
fn transitions(path: &Path) -> (Vec<(u64, String)>, Vec<Transition>) {
    let mut reader = FileReader::open(path).unwrap();
    let (mut threads, mut moves) = (Vec::new(), Vec::new());
    while let Some(record) = reader.next_record() {
        match record.unwrap() {
            Record::ThreadName(t) => threads.push((t.thread, t.name.to_owned())),
            Record::SpanEnter(t) => moves.push(("enter", t.id, t.thread)),
            Record::SpanExit(t) => moves.push(("exit", t.id, t.thread)),
            Record::SpanClose(c) => moves.push(("close", c.id, 0)),
            Record::SpanCloseTimes(c) => moves.push(("close", c.id, 0)),
            _ => {}
        }
    }
    (threads, moves)
}

#[test]
fn entered_on_one_thread_exited_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cross.lbf");
    let (layer, guard) = LogbufLayer::builder()
        .file(&path)
        .record_enter_exit(true)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));

    let (tx, rx) = mpsc::channel::<tracing::Span>();
    let a = {
        let dispatch = dispatch.clone();
        thread::Builder::new()
            .name("enters".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let span = tracing::info_span!("job", n = 1u64);
                    span.with_subscriber(|(id, d)| d.enter(id));
                    tracing::info!("started");
                    tx.send(span).unwrap();
                });
            })
            .unwrap()
    };
    a.join().unwrap();
    let b = {
        let dispatch = dispatch.clone();
        thread::Builder::new()
            .name("exits".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let span = rx.recv().unwrap();
                    tracing::info!(parent: &span, "finishing");
                    span.with_subscriber(|(id, d)| d.exit(id));
                    tracing::info!("after");
                    drop(span);
                });
            })
            .unwrap()
    };
    b.join().unwrap();
    drop(dispatch);
    drop(guard);

    let (threads, moves) = transitions(&path);
    let id_of = |name: &str| threads.iter().find(|(_, n)| n == name).unwrap().0;
    let (enters, exits) = (id_of("enters"), id_of("exits"));
    assert_ne!(enters, exits);
    let span = moves[0].1;
    assert_eq!(
        moves,
        [
            ("enter", span, enters),
            ("exit", span, exits),
            ("close", span, 0)
        ]
    );

    let mut reader = Reader::open(&path).unwrap();
    let mut seen = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let spans: Vec<&str> = event
            .spans
            .iter()
            .map(|s| s.callsite.name.as_str())
            .collect();
        let Value::Str(message) = event.event.values[0] else {
            panic!()
        };
        seen.push((
            message.to_owned(),
            event.thread_name.unwrap().to_owned(),
            spans.join("/"),
        ));
    }
    let row = |m: &str, t: &str, s: &str| (m.to_owned(), t.to_owned(), s.to_owned());
    assert_eq!(
        seen,
        [
            row("started", "enters", "job"),
            row("finishing", "exits", "job"),
            row("after", "exits", "")
        ]
    );
}

#[test]
fn enter_and_exit_can_be_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let run = |path: &Path, on: bool| {
        let (layer, guard) = LogbufLayer::builder()
            .file(path)
            .record_enter_exit(on)
            .span_times(on)
            .build()
            .unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("outer");
            let _outer = outer.enter();
            let inner = tracing::info_span!("inner");
            inner.in_scope(|| tracing::info!("inside"));
            inner.follows_from(&outer);
        });
        drop(guard);
    };
    let (with, without) = (dir.path().join("with.lbf"), dir.path().join("without.lbf"));
    run(&with, true);
    run(&without, false);
    let kinds = |path: &Path| -> Vec<String> {
        records(path)
            .into_iter()
            .map(|r| r.split('(').next().unwrap().to_owned())
            .filter(|k| !matches!(k.as_str(), "Callsite" | "ThreadName" | "Clock" | "Interned"))
            .collect()
    };
    assert_eq!(
        kinds(&with),
        [
            "SpanNew",
            "SpanEnter",
            "SpanNew",
            "SpanEnter",
            "Event",
            "SpanExit",
            "FollowsFrom",
            "SpanCloseTimes",
            "SpanExit",
            "SpanCloseTimes"
        ]
    );
    assert_eq!(
        kinds(&without),
        [
            "SpanNew",
            "SpanNew",
            "Event",
            "FollowsFrom",
            "SpanClose",
            "SpanClose"
        ]
    );
    // Without enter/exit records the event still carries its span context.
    let mut reader = Reader::open(&without).unwrap();
    let event = reader.next_event().unwrap().unwrap();
    let spans: Vec<&str> = event
        .spans
        .iter()
        .map(|s| s.callsite.name.as_str())
        .collect();
    assert_eq!(spans, ["outer", "inner"]);
}
