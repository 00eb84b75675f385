//! Literal messages are stored once, as interned strings, and events refer to them by
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
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..3u64 {
            tracing::info!(n = i, "request done");
        }
        for i in 0..2u64 {
            tracing::warn!("retry {i} of 2");
        }
    });
    drop(guard);

    let (interned, messages) = raw(&path);
    let texts: Vec<&str> = interned.values().map(String::as_str).collect();
    assert_eq!(texts, ["request done"]);
    let done = interned.keys().next().unwrap();
    assert_eq!(
        messages,
        [
            format!("Interned({done})"),
            format!("Interned({done})"),
            format!("Interned({done})"),
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
            Value::Debug("retry 0 of 2"),
            Value::Debug("retry 1 of 2"),
        ]
    );
}

/// A message that formats in one piece at run time (`info!("{}", email)`, a number, a string
/// built on the stack) is not a literal: it is never interned (an interned string is kept for
/// the life of the process and written into every rotated file), and every event carries its
/// own text, on every thread, the first event included.
#[test]
fn run_time_text_is_never_interned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run_time.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let emails = ["ada@example.com", "grace@example.com", "ada@example.com"];
    let log = |emails: &[&str]| {
        for email in emails {
            // A fresh heap string each time.
            let email = email.to_string();
            tracing::info!("{}", email);
        }
        for n in [7u64, 7, 8] {
            tracing::info!("{}", n);
        }
        for word in ["same", "same"] {
            // Text assembled in the same stack buffer each time.
            let mut buf = [0u8; 16];
            buf[..word.len()].copy_from_slice(word.as_bytes());
            let text = std::str::from_utf8(&buf[..word.len()]).unwrap();
            tracing::info!("{}", text);
        }
        tracing::info!("a literal");
    };
    tracing::dispatcher::with_default(&dispatch, || log(&emails));
    std::thread::scope(|s| {
        let dispatch = dispatch.clone();
        s.spawn(move || tracing::dispatcher::with_default(&dispatch, || log(&emails[1..])));
    });
    drop(guard);

    let (interned, _) = raw(&path);
    let texts: Vec<&str> = interned.values().map(String::as_str).collect();
    assert_eq!(texts, ["a literal"], "only the literal is interned");
    let expect = |emails: &[&'static str]| {
        let mut v: Vec<Value<'static>> = emails.iter().map(|e| Value::Str(e)).collect();
        v.extend(["7", "7", "8", "same", "same", "a literal"].map(Value::Str));
        v
    };
    let mut all = expect(&emails);
    all.extend(expect(&emails[1..]));
    assert_eq!(read(&path), all);
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

/// Text that counts how often it was formatted.
struct Counted<'a>(&'a str, &'a std::sync::atomic::AtomicUsize);

impl std::fmt::Display for Counted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f.write_str(self.0)
    }
}

#[test]
fn a_message_is_formatted_once_per_event_whether_it_is_the_literal_or_not() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static FIRST: &str = "from static data";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("once.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let formatted = AtomicUsize::new(0);
    let run_time = String::from("made at run time");
    let mut after_first = Vec::new();
    tracing::dispatcher::with_default(&dispatch, || {
        // The callsite's first message is one piece in read-only static data: interned, and
        // compared by address from then on; the later ones differ.
        for text in [FIRST, FIRST, run_time.as_str(), FIRST] {
            let before = formatted.load(Ordering::Relaxed);
            tracing::info!("{}", Counted(text, &formatted));
            after_first.push(formatted.load(Ordering::Relaxed) - before);
        }
    });
    drop(guard);
    // The first event is also formatted to find its literal; every later one once.
    assert_eq!(after_first[1..], [1, 1, 1], "{after_first:?}");
    let (interned, messages) = raw(&path);
    assert_eq!(interned.values().collect::<Vec<_>>(), [FIRST]);
    assert_eq!(messages[2], r#"Str("made at run time")"#);
    assert_eq!(
        read(&path),
        [FIRST, FIRST, "made at run time", FIRST].map(Value::Str)
    );
}

/// The same literal may lie at more than one address: the compiler can give each copy of an
/// inlined function its own copy of the text. A callsite whose message comes out as the
/// literal's text from another address is still the literal: its events keep referring to the
/// interned string (the first event does not make the callsite stop interning), while a
/// message of the same length and other text is written as its own.
#[test]
fn the_literal_from_another_address_is_still_the_literal() {
    static FIRST: &str = "request done";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copies.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    // The same text at another address, and other text of the same length.
    let copy = String::from(FIRST);
    let other = String::from("request DONE");
    assert_ne!(copy.as_ptr(), FIRST.as_ptr());
    tracing::dispatcher::with_default(&dispatch, || {
        for text in [FIRST, copy.as_str(), FIRST, copy.as_str(), other.as_str()] {
            tracing::info!("{}", text);
        }
    });
    drop(guard);
    let (interned, messages) = raw(&path);
    assert_eq!(interned.values().collect::<Vec<_>>(), [FIRST]);
    let done = interned.keys().next().unwrap();
    let reference = format!("Interned({done})");
    assert_eq!(
        messages,
        [
            reference.clone(),
            reference.clone(),
            reference.clone(),
            reference,
            r#"Str("request DONE")"#.to_owned(),
        ]
    );
    assert_eq!(
        read(&path),
        [FIRST, FIRST, FIRST, FIRST, "request DONE"].map(Value::Str)
    );
}
