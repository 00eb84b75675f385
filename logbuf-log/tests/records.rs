//! What one record becomes in the journal, through the `Log` impl called directly.

use std::path::Path;

use log::kv::{self, Key, Value};
use log::{Level, Log, Record};
use logbuf_journal::Journal;
use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::wire::{self, CallsiteKind};

/// Every event of the file: (target, fields, values).
fn read_all(path: &Path) -> Vec<(String, Vec<String>, Vec<OwnedValue>)> {
    let mut reader = Reader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        out.push((
            event.callsite.target.clone(),
            event.callsite.fields.clone(),
            event.event.values.iter().map(OwnedValue::from).collect(),
        ));
    }
    assert!(reader.stats().is_clean());
    out
}

/// Callsite definitions in the file.
fn callsites(path: &Path) -> usize {
    let mut reader = logbuf_journal::file::FileReader::open(path).unwrap();
    let mut n = 0;
    while let Some(record) = reader.next_record() {
        n += usize::from(matches!(record.unwrap(), wire::Record::Callsite(_)));
    }
    n
}

fn logger(path: &Path, spec: &str) -> (logbuf_log::Logger, logbuf_log::Guard) {
    logbuf_log::Builder::new()
        .parse_filters(spec)
        .file(path)
        .build()
        .unwrap()
}

/// One call site (same file, line, target) logging records with different key sets.
fn log_at_one_site(
    logger: &logbuf_log::Logger,
    kvs: &dyn kv::Source,
    args: std::fmt::Arguments<'_>,
) {
    logger.log(
        &Record::builder()
            .level(Level::Info)
            .target("app")
            .args(args)
            .module_path_static(Some("app"))
            .file_static(Some("app.rs"))
            .line(Some(7))
            .key_values(kvs)
            .build(),
    );
}

#[test]
fn records_of_one_site_with_different_keys_decode_with_their_own_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.lbf");
    let (logger, guard) = logger(&path, "info");
    let a: &[(&str, u64)] = &[("a", 1), ("b", 2)];
    let b: &[(&str, u64)] = &[("b", 3)];
    let c: &[(&str, &str)] = &[("c", "three"), ("a", "one")];
    for _ in 0..3 {
        log_at_one_site(&logger, &a, format_args!("first"));
        log_at_one_site(&logger, &b, format_args!("second"));
        let none: &[(&str, u64)] = &[];
        log_at_one_site(&logger, &none, format_args!("third"));
        log_at_one_site(&logger, &c, format_args!("fourth"));
    }
    drop(guard);
    let events = read_all(&path);
    assert_eq!(events.len(), 12);
    for (i, (target, fields, values)) in events.iter().enumerate() {
        assert_eq!(target, "app");
        let (want_fields, want_values): (&[&str], Vec<OwnedValue>) = match i % 4 {
            0 => (
                &["message", "a", "b"],
                vec![
                    OwnedValue::Str("first".into()),
                    OwnedValue::U64(1),
                    OwnedValue::U64(2),
                ],
            ),
            1 => (
                &["message", "b"],
                vec![OwnedValue::Str("second".into()), OwnedValue::U64(3)],
            ),
            2 => (&["message"], vec![OwnedValue::Str("third".into())]),
            _ => (
                &["message", "c", "a"],
                vec![
                    OwnedValue::Str("fourth".into()),
                    OwnedValue::Str("three".into()),
                    OwnedValue::Str("one".into()),
                ],
            ),
        };
        assert_eq!(fields, want_fields, "record {i}");
        assert_eq!(*values, want_values, "record {i}");
    }
    // One definition per key set, however often each was used.
    assert_eq!(callsites(&path), 4);
}

#[test]
fn targets_made_at_run_time_share_one_callsite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.lbf");
    let (logger, guard) = logger(&path, "info");
    for i in 0..100 {
        // A fresh string each time: the same content at (usually) another address.
        let target = format!("dyn::{}", i % 2);
        logger.log(
            &Record::builder()
                .level(Level::Warn)
                .target(&target)
                .args(format_args!("n={i}"))
                .build(),
        );
    }
    drop(guard);
    let events = read_all(&path);
    assert_eq!(events.len(), 100);
    for (i, (target, fields, values)) in events.iter().enumerate() {
        assert_eq!(*target, format!("dyn::{}", i % 2));
        assert_eq!(fields, &["message"]);
        assert_eq!(values, &[OwnedValue::Debug(format!("n={i}"))]);
    }
    assert_eq!(callsites(&path), 2);
}

#[test]
fn long_messages_are_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.lbf");
    let (logger, guard) = logger(&path, "trace");
    let lengths = [10, 200, 5_000, 100, 60_000, 3, 100_000];
    for len in lengths {
        let text = "y".repeat(len);
        logger.log(
            &Record::builder()
                .level(Level::Trace)
                .target("long")
                .args(format_args!("{text}|"))
                .file_static(Some("long.rs"))
                .line(Some(1))
                .build(),
        );
    }
    drop(guard);
    let events = read_all(&path);
    let got: Vec<usize> = events
        .iter()
        .map(|(_, _, values)| match &values[0] {
            OwnedValue::Debug(s) => {
                assert!(
                    s.ends_with('|') && s.bytes().filter(|&b| b == b'y').count() == s.len() - 1
                );
                s.len() - 1
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, lengths);
}

#[derive(Debug)]
#[allow(dead_code)] // Read through Debug.
struct Custom {
    id: u8,
}

#[test]
fn key_values_keep_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.lbf");
    let (logger, guard) = logger(&path, "info");
    let custom = Custom { id: 9 };
    let kvs: &[(&str, Value<'_>)] = &[
        ("u", Value::from(7u64)),
        ("i", Value::from(-7i64)),
        ("small", Value::from(3u8)),
        ("big", Value::from(u128::MAX)),
        ("neg_big", Value::from(i128::MIN)),
        ("f", Value::from(0.25f64)),
        ("b", Value::from(false)),
        ("s", Value::from("text")),
        ("ch", Value::from('é')),
        ("debug", Value::from_debug(&custom)),
        ("display", Value::from_display(&42u32)),
        ("none", Value::null()),
    ];
    logger.log(
        &Record::builder()
            .level(Level::Error)
            .target("types")
            .args(format_args!("typed"))
            .key_values(&kvs)
            .build(),
    );
    drop(guard);
    let events = read_all(&path);
    assert_eq!(events.len(), 1);
    let (_, fields, values) = &events[0];
    let want_fields: Vec<String> = std::iter::once("message")
        .chain(kvs.iter().map(|(k, _)| *k))
        .map(str::to_owned)
        .collect();
    assert_eq!(*fields, want_fields);
    assert_eq!(
        *values,
        [
            OwnedValue::Str("typed".into()),
            OwnedValue::U64(7),
            OwnedValue::I64(-7),
            OwnedValue::U64(3),
            OwnedValue::U128(u128::MAX),
            OwnedValue::I128(i128::MIN),
            OwnedValue::F64(0.25),
            OwnedValue::Bool(false),
            OwnedValue::Str("text".into()),
            OwnedValue::Str("é".into()),
            OwnedValue::Debug("Custom { id: 9 }".into()),
            OwnedValue::Debug("42".into()),
            OwnedValue::Empty,
        ]
    );
}

#[test]
fn message_patterns_filter_on_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pattern.lbf");
    let (logger, guard) = logger(&path, "info/^req.*done$");
    for text in ["request done", "request failed", "req done", "done"] {
        logger.log(
            &Record::builder()
                .level(Level::Info)
                .target("p")
                .args(format_args!("{text}"))
                .build(),
        );
    }
    drop(guard);
    let texts: Vec<OwnedValue> = read_all(&path)
        .into_iter()
        .map(|e| e.2[0].clone())
        .collect();
    assert_eq!(
        texts,
        [
            OwnedValue::Debug("request done".into()),
            OwnedValue::Debug("req done".into())
        ]
    );
}

#[test]
fn filtered_records_define_no_callsite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("filtered.lbf");
    let (logger, guard) = logger(&path, "warn,loud=trace");
    for level in [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ] {
        for target in ["quiet", "loud"] {
            logger.log(
                &Record::builder()
                    .level(level)
                    .target(target)
                    .args(format_args!("x"))
                    .build(),
            );
        }
    }
    drop(guard);
    assert_eq!(read_all(&path).len(), 2 + 5);
    assert_eq!(callsites(&path), 2 + 5);
}

#[test]
fn an_existing_journal_is_shared_and_outlives_the_logger_guard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.lbf");
    let (journal, journal_guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    assert!(matches!(
        logbuf_log::Builder::new()
            .journal(journal.clone())
            .file(dir.path().join("other.lbf"))
            .build(),
        Err(logbuf_log::Error::JournalSettings)
    ));
    let (logger, guard) = logbuf_log::Builder::new()
        .parse_filters("info")
        .journal(journal.clone())
        .build()
        .unwrap();
    logger.log(
        &Record::builder()
            .level(Level::Info)
            .target("via_log")
            .args(format_args!("from log"))
            .build(),
    );
    drop(guard); // flushes; the journal keeps running
    let other = journal.register_callsite(&wire::Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: wire::Level::Info,
        target: "direct",
        name: "direct",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["message"],
    });
    assert_eq!(
        journal.write(32, |enc, at| {
            enc.event(other, at.time, at.thread, None, 1);
            enc.value_str("direct");
        }),
        logbuf_journal::Written::Committed
    );
    drop(journal_guard);
    let targets: Vec<String> = read_all(&path).into_iter().map(|e| e.0).collect();
    assert_eq!(targets, ["via_log", "direct"]);
}

#[test]
fn logger_flush_writes_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flush.lbf");
    let (logger, guard) = logger(&path, "info");
    logger.log(
        &Record::builder()
            .level(Level::Info)
            .target("f")
            .args(format_args!("before flush"))
            .build(),
    );
    logger.flush();
    // The file holds the record while the logger still runs.
    assert_eq!(read_all(&path).len(), 1);
    drop(guard);
}

#[test]
fn keys_are_compared_by_content() {
    // Keys with equal text at different addresses hit the same callsite.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key_content.lbf");
    let (logger, guard) = logger(&path, "info");
    for i in 0..10u64 {
        let key = String::from("k");
        let kvs: [(Key<'_>, Value<'_>); 1] = [(Key::from_str(&key), Value::from(i))];
        log_at_one_site(&logger, &kvs, format_args!("kv"));
    }
    drop(guard);
    assert_eq!(read_all(&path).len(), 10);
    assert_eq!(callsites(&path), 1);
}

/// Collects what a text sink writes.
#[derive(Clone, Default)]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn text_sink_lines_carry_message_and_key_values() {
    use logbuf_journal::sink::text::{TextSink, Timestamps};
    let out = Buffer::default();
    let (logger, guard) = logbuf_log::Builder::new()
        .parse_filters("info")
        .sink(TextSink::new(out.clone()).with_timestamps(Timestamps::None))
        .build()
        .unwrap();
    let kvs: &[(&str, Value<'_>)] = &[("user", Value::from(42u64)), ("who", Value::from("ada"))];
    logger.log(
        &Record::builder()
            .level(Level::Warn)
            .target("app::auth")
            .args(format_args!("signed in after {} tries", 3))
            .key_values(&kvs)
            .build(),
    );
    drop(guard);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text,
        " WARN app::auth: signed in after 3 tries user=42 who=\"ada\"\n"
    );
}

#[test]
fn long_key_values_are_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long_kv.lbf");
    let (logger, guard) = logger(&path, "info");
    let lengths = [10, 3_000, 40_000, 5, 3_000];
    for len in lengths {
        let text = "z".repeat(len);
        let kvs: &[(&str, &str)] = &[("body", &text)];
        log_at_one_site(&logger, &kvs, format_args!("static"));
    }
    drop(guard);
    let got: Vec<OwnedValue> = read_all(&path)
        .into_iter()
        .map(|e| e.2[1].clone())
        .collect();
    let want: Vec<OwnedValue> = lengths
        .iter()
        .map(|&len| OwnedValue::Str("z".repeat(len)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn messages_without_arguments_are_interned_and_read_back_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interned.lbf");
    let (logger, guard) = logger(&path, "info");
    let none: &[(&str, u64)] = &[];
    let n = std::hint::black_box(3);
    for _ in 0..3 {
        log_at_one_site(&logger, &none, format_args!("first"));
        // Another literal at the same site: stored as text, not under the first one's id.
        log_at_one_site(&logger, &none, format_args!("second"));
        log_at_one_site(&logger, &none, format_args!("{n} retries"));
    }
    drop(guard);
    let mut reader = logbuf_journal::file::FileReader::open(&path).unwrap();
    let (mut interned, mut raw) = (Vec::new(), Vec::new());
    while let Some(record) = reader.next_record() {
        match record.unwrap() {
            wire::Record::Interned(i) => interned.push((i.id, i.text.to_owned())),
            wire::Record::Event(e) => raw.push(format!("{:?}", e.values[0])),
            _ => {}
        }
    }
    let [(id, text)] = &interned[..] else {
        panic!("{interned:?}")
    };
    assert_eq!(text, "first");
    let round = [
        format!("Interned({id})"),
        r#"Str("second")"#.to_owned(),
        r#"Debug("3 retries")"#.to_owned(),
    ];
    assert_eq!(raw, [round.clone(), round.clone(), round].concat());
    let messages: Vec<OwnedValue> = read_all(&path)
        .into_iter()
        .map(|e| e.2[0].clone())
        .collect();
    let round = [
        OwnedValue::Str("first".into()),
        OwnedValue::Str("second".into()),
        OwnedValue::Debug("3 retries".into()),
    ];
    assert_eq!(messages, [round.clone(), round.clone(), round].concat());
}

/// A record as `log`'s macros make it: `'static` file and module path, the module path as
/// the target.
fn log_macro_like(logger: &logbuf_log::Logger, level: Level, line: u32, message: &'static str) {
    static MODULE: &str = "app::handlers";
    logger.log(
        &Record::builder()
            .level(level)
            .target(MODULE)
            .args(format_args!("{message}"))
            .module_path_static(Some(MODULE))
            .file_static(Some("src/handlers.rs"))
            .line(Some(line))
            .build(),
    );
}

#[test]
fn callsites_that_share_a_cache_slot_keep_their_own_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slots.lbf");
    let (logger, guard) = logger(&path, "debug");
    // Lines 64 apart share a slot of the thread's table; so do two levels on one line.
    let sites = [
        (Level::Info, 1, "one"),
        (Level::Info, 65, "sixty-five"),
        (Level::Warn, 65, "warn at sixty-five"),
        (Level::Debug, 129, "one hundred twenty-nine"),
    ];
    for _ in 0..5 {
        for (level, line, message) in sites {
            log_macro_like(&logger, level, line, message);
        }
    }
    drop(guard);
    let mut reader = Reader::open(&path).unwrap();
    let mut seen = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        seen.push((
            event.callsite.level,
            event.callsite.line,
            OwnedValue::from(&event.event.values[0]),
        ));
    }
    let want: Vec<_> = sites
        .iter()
        .map(|&(level, line, message)| {
            let level = match level {
                Level::Info => wire::Level::Info,
                Level::Warn => wire::Level::Warn,
                _ => wire::Level::Debug,
            };
            (level, Some(line), OwnedValue::Debug(message.into()))
        })
        .collect();
    assert_eq!(seen, [&want[..]; 5].concat());
    assert_eq!(callsites(&path), sites.len());
}
