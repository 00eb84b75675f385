//! A span whose creation record was dropped (its ring was full, or the record larger than a
//! ring) is never referred to: events in it, events naming it as their parent, and its child
//! spans are written without it, so a reader shows them without a span instead of under
//! another span that had its id before.

use std::path::Path;

use logbuf_journal::file::FileReader;
use logbuf_journal::read::Reader;
use logbuf_journal::wire::{Record, Value};
use logbuf_tracing::LogbufLayer;
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
    out
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

fn row(message: &str, spans: &[&str]) -> (String, Vec<String>) {
    (
        message.to_owned(),
        spans.iter().map(|&s| s.to_owned()).collect(),
    )
}

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
