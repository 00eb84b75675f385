//! Several threads log through the installed logger with key-values; the file decodes to
//! every record, each with its thread, its fields and its typed values.

use std::collections::HashMap;
use std::fmt;

use logbuf_journal::FullPolicy;
use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::wire::Level;

const THREADS: u64 = 4;
const PER_THREAD: u64 = if cfg!(miri) { 50 } else { 3_000 };

#[derive(Debug)]
#[allow(dead_code)] // Read through Debug.
struct Point {
    x: i32,
    y: i32,
}

struct Shown(u64);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shown-{}", self.0)
    }
}

#[test]
fn threads_with_key_values_decode_record_by_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.lbf");
    let guard = logbuf_log::Builder::new()
        .parse_filters("info,threads::quiet=warn")
        .file(&path)
        .policy(FullPolicy::Block)
        .ring_capacity(64 * 1024)
        .init()
        .unwrap();
    assert_eq!(log::max_level(), log::LevelFilter::Info);

    std::thread::scope(|s| {
        for t in 0..THREADS {
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn_scoped(s, move || {
                    for seq in 0..PER_THREAD {
                        let name = format!("name-{t}-{seq}");
                        match seq % 3 {
                            0 => log::info!(
                                seq = seq, delta = -(seq as i64), ratio = seq as f64 / 2.0,
                                even = seq.is_multiple_of(2), name = name.as_str();
                                "request {seq} done by {t}"
                            ),
                            1 => log::warn!(
                                seq = seq, point:? = Point { x: t as i32, y: -1 },
                                shown:% = Shown(seq);
                                "static warning"
                            ),
                            _ => log::error!(seq = seq; "failed {}", name),
                        }
                        // Filtered out: below the default level, or below the target's.
                        log::debug!(seq = seq; "never written");
                        log::info!(target: "threads::quiet", seq = seq; "never written");
                    }
                })
                .unwrap();
        }
    });
    log::logger().flush();
    drop(guard);

    let mut reader = Reader::open(&path).unwrap();
    let mut next_seq: HashMap<String, u64> = HashMap::new();
    let mut count = 0;
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let thread = event.thread_name.unwrap().to_owned();
        let t: u64 = thread.strip_prefix("worker-").unwrap().parse().unwrap();
        let seq = next_seq.entry(thread.clone()).or_insert(0);
        let values: Vec<OwnedValue> = event.event.values.iter().map(OwnedValue::from).collect();
        let fields: Vec<&str> = event.callsite.fields.iter().map(String::as_str).collect();
        assert_eq!(event.callsite.target, "threads");
        assert_eq!(event.callsite.module_path.as_deref(), Some("threads"));
        assert!(
            event
                .callsite
                .file
                .as_deref()
                .unwrap()
                .ends_with("threads.rs")
        );
        let s = *seq;
        match s % 3 {
            0 => {
                assert_eq!(event.callsite.level, Level::Info);
                assert_eq!(fields, ["message", "seq", "delta", "ratio", "even", "name"]);
                assert_eq!(
                    values,
                    [
                        OwnedValue::Debug(format!("request {s} done by {t}")),
                        OwnedValue::U64(s),
                        OwnedValue::I64(-(s as i64)),
                        OwnedValue::F64(s as f64 / 2.0),
                        OwnedValue::Bool(s.is_multiple_of(2)),
                        OwnedValue::Str(format!("name-{t}-{s}")),
                    ]
                );
            }
            1 => {
                assert_eq!(event.callsite.level, Level::Warn);
                assert_eq!(fields, ["message", "seq", "point", "shown"]);
                assert_eq!(
                    values,
                    [
                        OwnedValue::Str("static warning".into()),
                        OwnedValue::U64(s),
                        OwnedValue::Debug(format!("Point {{ x: {t}, y: -1 }}")),
                        OwnedValue::Debug(format!("shown-{s}")),
                    ]
                );
            }
            _ => {
                assert_eq!(event.callsite.level, Level::Error);
                assert_eq!(fields, ["message", "seq"]);
                assert_eq!(
                    values,
                    [
                        OwnedValue::Debug(format!("failed name-{t}-{s}")),
                        OwnedValue::U64(s),
                    ]
                );
            }
        }
        *seq += 1;
        count += 1;
    }
    assert_eq!(count, THREADS * PER_THREAD);
    assert_eq!(next_seq.len(), THREADS as usize);
    assert!(next_seq.values().all(|&n| n == PER_THREAD));
    assert!(reader.stats().is_clean());
    assert_eq!(reader.dropped(), 0);
}
