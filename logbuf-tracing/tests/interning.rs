//! Messages without arguments are stored once, as interned strings, and events refer to them by
//! id; every other message is stored as it was formatted, and the reader gives all of them back
//! as the text they were.

use std::collections::HashMap;
use std::path::Path;

use logbuf_journal::file::FileReader;
use logbuf_journal::read::Reader;
use logbuf_journal::wire::{Record, Value};
use logbuf_tracing::LogbufLayer;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// The interned strings of the file, and each event's message value as written.
fn raw(path: &Path) -> (HashMap<u64, String>, Vec<String>) {
    let mut reader = FileReader::open(path).unwrap();
    let (mut interned, mut messages) = (HashMap::new(), Vec::new());
    while let Some(record) = reader.next_record() {
        match record.unwrap() {
            Record::Interned(i) => {
                assert!(interned.insert(i.id, i.text.to_owned()).is_none());
            }
            Record::Event(e) => messages.push(format!("{:?}", e.values[0])),
            _ => {}
        }
    }
    (interned, messages)
}

/// Each event's message as the reader gives it.
fn read(path: &Path) -> Vec<Value<'static>> {
    let mut reader = Reader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        out.push(match &event.event.values[0] {
            Value::Str(s) => Value::Str(String::leak((*s).to_owned())),
            Value::Debug(s) => Value::Debug(String::leak((*s).to_owned())),
            other => panic!("message {other:?}"),
        });
    }
    assert!(reader.stats().is_clean());
    out
}

#[test]
fn literal_messages_are_interned_once_and_read_back_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interned.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let names = ["ada", "grace", "ada"];
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..3u64 {
            tracing::info!(n = i, "request done");
        }
        for name in names {
            // One piece each time, but not the same text: the first is interned; once one
            // differs, the thread stores this callsite's messages as text.
            tracing::info!("{}", name);
        }
        for i in 0..2u64 {
            tracing::warn!("retry {i} of 2");
        }
    });
    drop(guard);

    let (interned, messages) = raw(&path);
    let mut texts: Vec<&str> = interned.values().map(String::as_str).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["ada", "request done"]);
    let id = |text: &str| interned.iter().find(|(_, t)| *t == text).unwrap().0;
    let (done, ada) = (id("request done"), id("ada"));
    assert_eq!(
        messages,
        [
            format!("Interned({done})"),
            format!("Interned({done})"),
            format!("Interned({done})"),
            format!("Interned({ada})"),
            r#"Str("grace")"#.to_owned(),
            r#"Str("ada")"#.to_owned(),
            r#"Debug("retry 0 of 2")"#.to_owned(),
            r#"Debug("retry 1 of 2")"#.to_owned(),
        ]
    );
    assert_eq!(
        read(&path),
        [
            Value::Str("request done"),
            Value::Str("request done"),
            Value::Str("request done"),
            Value::Str("ada"),
            Value::Str("grace"),
            Value::Str("ada"),
            Value::Debug("retry 0 of 2"),
            Value::Debug("retry 1 of 2"),
        ]
    );
}

#[test]
fn a_callsite_first_seen_on_another_thread_is_interned_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let log = || {
        for _ in 0..100 {
            tracing::info!("tick");
        }
    };
    std::thread::scope(|s| {
        for _ in 0..4 {
            let dispatch = dispatch.clone();
            s.spawn(move || tracing::dispatcher::with_default(&dispatch, log));
        }
    });
    drop(guard);
    let (interned, messages) = raw(&path);
    assert_eq!(interned.len(), 1, "{interned:?}");
    assert_eq!(messages.len(), 400);
    assert!(
        messages.iter().all(|m| m.starts_with("Interned(")),
        "{messages:?}"
    );
    assert!(read(&path).iter().all(|m| *m == Value::Str("tick")));
}
