//! The span an event is recorded in: the innermost span entered on the logging thread that
//! the layer records, or the event's explicit parent, or none for a root event; per layer,
//! when several layers (or per-layer filters) see different spans; none whose creation record
//! was dropped.

use std::path::Path;
use std::thread;

use logbuf_journal::file::FileReader;
use logbuf_journal::read::Reader;
use logbuf_journal::wire::{Record, Value};
use logbuf_tracing::LogbufLayer;
use tracing::Dispatch;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;

/// `(message, names of the event's spans, outermost first)` of every event in the file.
fn events(path: &Path) -> Vec<(String, Vec<String>)> {
    let mut reader = Reader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let Value::Str(message) = event.event.values[0] else {
            panic!("message {:?}", event.event.values[0]);
        };
        let spans = event
            .spans
            .iter()
            .map(|s| s.callsite.name.clone())
            .collect();
        out.push((message.to_owned(), spans));
    }
    assert!(reader.stats().is_clean());
    out
}

fn row(message: &str, spans: &[&str]) -> (String, Vec<String>) {
    (
        message.to_owned(),
        spans.iter().map(|&s| s.to_owned()).collect(),
    )
}

/// Logs from spans entered, left, hidden from the layer and named as explicit parents, and
/// from a thread that entered none.
fn program(dispatch: &Dispatch) {
    let outer = tracing::info_span!("outer");
    let entered = outer.enter();
    tracing::info!("in outer");
    {
        let hidden = tracing::info_span!("hidden");
        let _hidden = hidden.enter();
        tracing::info!("in hidden");
    }
    let explicit = tracing::info_span!(parent: None, "explicit");
    tracing::info!(parent: &explicit, "explicit parent");
    tracing::info!(parent: None, "root");
    {
        let inner = tracing::info_span!("inner");
        let _inner = inner.enter();
        tracing::info!("in inner");
        // Entered again inside itself, then left once: still entered.
        let again = inner.enter();
        drop(again);
        tracing::info!("in inner again");
    }
    tracing::info!("back in outer");
    let dispatch = dispatch.clone();
    thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("other thread");
        });
    })
    .join()
    .unwrap();
    drop(entered);
    tracing::info!("outside");
}

#[test]
fn events_are_in_the_innermost_entered_span_the_layer_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(layer.with_filter(filter_fn(|meta| meta.name() != "hidden"))),
    );
    tracing::dispatcher::with_default(&dispatch, || program(&dispatch));
    drop(guard);
    assert_eq!(
        events(&path),
        [
            row("in outer", &["outer"]),
            row("in hidden", &["outer"]),
            row("explicit parent", &["explicit"]),
            row("root", &[]),
            row("in inner", &["outer", "inner"]),
            row("in inner again", &["outer", "inner"]),
            row("back in outer", &["outer"]),
            row("other thread", &[]),
            row("outside", &[]),
        ]
    );
}

#[test]
fn spans_give_context_without_enter_and_exit_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quiet.lbf");
    let (layer, guard) = LogbufLayer::builder()
        .file(&path)
        .record_enter_exit(false)
        .build()
        .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || program(&dispatch));
    drop(guard);
    let got = events(&path);
    assert_eq!(got[1], row("in hidden", &["outer", "hidden"]));
    assert_eq!(got[4], row("in inner", &["outer", "inner"]));
    assert_eq!(got[8], row("outside", &[]));
    let mut reader = FileReader::open(&path).unwrap();
    while let Some(record) = reader.next_record() {
        let record = record.unwrap();
        assert!(
            !matches!(record, Record::SpanEnter(_) | Record::SpanExit(_)),
            "{record:?}"
        );
    }
}

#[test]
fn each_layer_has_its_own_context() {
    let dir = tempfile::tempdir().unwrap();
    let (no_inner, no_outer) = (dir.path().join("a.lbf"), dir.path().join("b.lbf"));
    let (a, guard_a) = LogbufLayer::builder().file(&no_inner).build().unwrap();
    let (b, guard_b) = LogbufLayer::builder().file(&no_outer).build().unwrap();
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(a.with_filter(filter_fn(|meta| meta.name() != "inner")))
            .with(b.with_filter(filter_fn(|meta| meta.name() != "outer"))),
    );
    tracing::dispatcher::with_default(&dispatch, || {
        let outer = tracing::info_span!("outer");
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner");
        let _inner = inner.enter();
        tracing::info!("in both");
    });
    drop((guard_a, guard_b));
    assert_eq!(events(&no_inner), [row("in both", &["outer"])]);
    assert_eq!(events(&no_outer), [row("in both", &["inner"])]);
}

/// Every span id and event parent id the file refers to, and the ids of the spans it defines.
fn references(path: &Path) -> (Vec<u64>, Vec<u64>) {
    let mut file = FileReader::open(path).unwrap();
    let (mut referred, mut defined) = (Vec::new(), Vec::new());
    while let Some(record) = file.next_record() {
        match record.unwrap() {
            Record::SpanNew(new) => {
                defined.push(new.id);
                referred.extend(new.parent);
            }
            Record::Event(e) => referred.extend(e.parent),
            _ => {}
        }
    }
    (referred, defined)
}

/// A span whose creation record was dropped (its ring was full, or the record larger than a
/// ring) is never referred to: events in it, events naming it as their parent, and its child
/// spans are written without it, so a reader shows them without a span instead of under
/// another span that had its id before.
#[test]
fn events_and_children_of_a_span_whose_creation_was_dropped_have_no_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.lbf");
    let (layer, guard) = LogbufLayer::builder()
        .file(&path)
        .ring_capacity(1024)
        .build()
        .unwrap();
    let journal = layer.journal().clone();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        {
            // A span that is recorded, and closed: the registry may give its id to the next.
            let before = tracing::info_span!("before");
            let _before = before.enter();
            tracing::info!("in before");
        }
        // Its creation record cannot fit a 1 KiB ring.
        let big = tracing::info_span!("big", blob = %"x".repeat(4096));
        let entered = big.enter();
        tracing::info!("in big");
        {
            let child = tracing::info_span!("child");
            let _child = child.enter();
            tracing::info!("in child of big");
        }
        drop(entered);
        tracing::info!(parent: &big, "big as explicit parent");
        let other = tracing::info_span!("other");
        let _other = other.enter();
        tracing::info!("in other");
    });
    drop(guard);
    assert_eq!(journal.stats().dropped, 1);
    assert_eq!(
        events(&path),
        [
            row("in before", &["before"]),
            row("in big", &[]),
            row("in child of big", &["child"]),
            row("big as explicit parent", &[]),
            row("in other", &["other"]),
        ]
    );
    // No record refers to a span the file does not define.
    let (referred, defined) = references(&path);
    assert!(
        referred.iter().all(|id| defined.contains(id)),
        "{referred:?} {defined:?}"
    );
}
