//! Events and nested spans from several threads into a binary file, read back with the
//! journal's reader: every event's level, target, typed fields, span context and thread.

use std::collections::HashMap;
use std::fmt;
use std::thread;

use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::wire::{CallsiteKind, Level, Value};
use logbuf_tracing::LogbufLayer;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

const THREADS: u64 = 3;
const REQUESTS: u64 = 20;

#[derive(Debug)]
struct Outer(Inner);

#[derive(Debug)]
struct Inner;

impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset")
    }
}

impl std::error::Error for Inner {}

fn work(t: u64) {
    let conn = tracing::info_span!(target: "app::conn", "connection", peer = t, user = tracing::field::Empty);
    let _conn = conn.enter();
    conn.record("user", "alice");
    for i in 0..REQUESTS {
        let request = tracing::debug_span!(target: "app::req", "request", n = i);
        let _request = request.enter();
        tracing::info!(
            target: "app::req",
            count = i,
            delta = -(i as i64),
            big = u128::MAX - u128::from(i),
            small = i128::MIN + i128::from(i),
            ratio = i as f64 / 2.0,
            ok = i.is_multiple_of(2),
            path = "/api/v1/orders",
            raw = &b"\x00\xff"[..],
            list = ?[i, t],
            "handled {i} on {t}"
        );
        if i.is_multiple_of(5) {
            let err = Outer(Inner);
            tracing::warn!(target: "app::req", error = &err as &(dyn std::error::Error + 'static), "slow");
        }
    }
    drop(_conn);
    tracing::error!(target: "app::top", thread = t, "outside any span");
    tracing::info!(target: "app::top", parent: &conn, "explicit parent");
}

fn text(v: &OwnedValue) -> &str {
    match v {
        OwnedValue::Str(s) | OwnedValue::Debug(s) => s,
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn events_and_spans_from_threads_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    thread::scope(|s| {
        for t in 0..THREADS {
            let dispatch = dispatch.clone();
            thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn_scoped(s, move || {
                    tracing::dispatcher::with_default(&dispatch, || work(t));
                })
                .unwrap();
        }
    });
    drop(dispatch);
    drop(guard);

    let mut reader = Reader::open(&path).unwrap();
    // Per thread: requests seen, slow warnings seen, tops seen.
    let mut seen: HashMap<String, (u64, u64, u64)> = HashMap::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let cs = event.callsite;
        assert_eq!(cs.kind, CallsiteKind::Event);
        let thread = event.thread_name.expect("thread name").to_owned();
        let t: u64 = thread
            .strip_prefix("worker-")
            .expect("worker thread")
            .parse()
            .unwrap();
        let entry = seen.entry(thread.clone()).or_default();
        let fields: Vec<&str> = cs.fields.iter().map(String::as_str).collect();
        let spans: Vec<(&str, &str)> = event
            .spans
            .iter()
            .map(|s| (s.callsite.name.as_str(), s.callsite.target.as_str()))
            .collect();
        let v = &event.event.values;
        match (cs.level, cs.target.as_str()) {
            (Level::Info, "app::req") => {
                let i = entry.0;
                entry.0 += 1;
                assert_eq!(
                    fields,
                    [
                        "message", "count", "delta", "big", "small", "ratio", "ok", "path", "raw",
                        "list"
                    ]
                );
                assert_eq!(
                    spans,
                    [("connection", "app::conn"), ("request", "app::req")]
                );
                let msg = format!("handled {i} on {t}");
                assert_eq!(v[0], Value::Debug(&msg));
                assert_eq!(v[1], Value::U64(i));
                assert_eq!(v[2], Value::I64(-(i as i64)));
                assert_eq!(v[3], Value::U128(u128::MAX - u128::from(i)));
                assert_eq!(v[4], Value::I128(i128::MIN + i128::from(i)));
                assert_eq!(v[5], Value::F64(i as f64 / 2.0));
                assert_eq!(v[6], Value::Bool(i.is_multiple_of(2)));
                assert_eq!(v[7], Value::Str("/api/v1/orders"));
                assert_eq!(v[8], Value::Bytes(b"\x00\xff"));
                assert_eq!(v[9], Value::Debug(&format!("{:?}", [i, t])));
                assert_eq!(v.len(), 10);
                let conn = event.spans[0];
                assert_eq!(
                    conn.values,
                    [OwnedValue::U64(t), OwnedValue::Str("alice".into())]
                );
                assert_eq!(event.spans[1].values, [OwnedValue::U64(i)]);
                assert_eq!(event.spans[1].parent, Some(conn.id));
                assert_eq!(event.event.parent, Some(event.spans[1].id));
            }
            (Level::Warn, "app::req") => {
                assert_eq!(
                    entry.1 * 5,
                    entry.0 - 1,
                    "a warning follows every fifth request"
                );
                entry.1 += 1;
                assert_eq!(fields, ["message", "error"]);
                assert_eq!(v[0], Value::Str("slow"));
                assert_eq!(
                    v[1],
                    Value::Error {
                        message: "request failed",
                        sources: vec!["connection reset"]
                    }
                );
                assert_eq!(
                    spans,
                    [("connection", "app::conn"), ("request", "app::req")]
                );
            }
            (Level::Error, "app::top") => {
                assert_eq!(entry.2, 0);
                entry.2 += 1;
                assert_eq!(fields, ["message", "thread"]);
                assert_eq!(v[0], Value::Str("outside any span"));
                assert_eq!(v[1], Value::U64(t));
                assert!(spans.is_empty(), "{spans:?}");
                assert_eq!(event.event.parent, None);
            }
            (Level::Info, "app::top") => {
                assert_eq!(entry.2, 1);
                entry.2 += 1;
                assert_eq!(fields, ["message"]);
                assert_eq!(v[..], [Value::Str("explicit parent")]);
                assert_eq!(spans, [("connection", "app::conn")]);
                assert_eq!(text(&event.spans[0].values[1]), "alice");
            }
            other => panic!("unexpected event {other:?}"),
        }
        assert!(
            cs.file
                .as_deref()
                .is_some_and(|f| f.ends_with("integration.rs"))
        );
        assert!(cs.line.is_some());
        assert_eq!(cs.module_path.as_deref(), Some("integration"));
        assert!(event.unix_nanos.is_some());
    }
    assert!(reader.stats().is_clean());
    assert_eq!(reader.orphans(), 0);
    assert_eq!(reader.dropped(), 0);
    assert_eq!(seen.len(), THREADS as usize);
    for (thread, counts) in seen {
        assert_eq!(counts, (REQUESTS, REQUESTS / 5, 2), "{thread}");
    }
}
