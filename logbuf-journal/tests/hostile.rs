//! Hostile input, fuzzed briefly on every test run (the cargo-fuzz target in `fuzz/` runs the
//! same paths for as long as one likes): journals whose names and values carry control
//! characters, terminal escapes, invalid UTF-8 and huge strings, then random damage, read back
//! and rendered as text and JSON. Nothing panics; a text line holds no control character but
//! tabs and its final newline, so neither a terminal nor a line-based pipeline can be fooled;
//! every JSON line parses.

use logbuf_journal::file::{FileHeader, FileReader, FileWriter};
use logbuf_journal::read::Reader;
use logbuf_journal::sink::json::JsonFormat;
use logbuf_journal::sink::text::TextFormat;
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Event, Interned, Level, Record, SpanNew, SpanRecord, ThreadName,
    Value,
};
use proptest::prelude::*;

/// Text made to hurt: escapes, controls, line breaks, bidi overrides, C1 controls, DEL.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\u{1b}[31mred\u{1b}[0m".to_string()),
        Just("\u{1b}]0;title\u{7}".to_string()),
        Just("line\nbreak\r\n".to_string()),
        Just("\u{0}\u{8}\u{7f}\u{85}\u{9b}".to_string()),
        Just("\u{202e}reversed".to_string()),
        Just("\t\u{b}\u{c}".to_string()),
        Just("\"quoted\" \\back\\".to_string()),
        "[a-z ]{0,12}",
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}

#[derive(Debug, Clone)]
enum V {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
    Debug(String),
    Error(String, Vec<String>),
    Empty,
    /// An interned string: ids 1 and 2 are defined, others are not.
    Interned(u64),
}

impl V {
    fn value(&self) -> Value<'_> {
        match self {
            V::U64(v) => Value::U64(*v),
            V::I64(v) => Value::I64(*v),
            V::F64(v) => Value::F64(*v),
            V::Bool(v) => Value::Bool(*v),
            V::Str(v) => Value::Str(v),
            V::Bytes(v) => Value::Bytes(v),
            V::Debug(v) => Value::Debug(v),
            V::Error(m, s) => Value::Error {
                message: m,
                sources: s.iter().map(String::as_str).collect(),
            },
            V::Empty => Value::Empty,
            V::Interned(id) => Value::Interned(*id),
        }
    }
}

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<u64>().prop_map(V::U64),
        any::<i64>().prop_map(V::I64),
        any::<f64>().prop_map(V::F64),
        any::<bool>().prop_map(V::Bool),
        nasty().prop_map(V::Str),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(V::Bytes),
        nasty().prop_map(V::Debug),
        (nasty(), proptest::collection::vec(nasty(), 0..3)).prop_map(|(m, s)| V::Error(m, s)),
        Just(V::Empty),
        (0..4u64).prop_map(V::Interned),
        // Huge.
        (1_000..20_000usize).prop_map(|n| V::Str("\u{1b}x".repeat(n / 2))),
    ]
}

#[derive(Debug, Clone)]
struct Journal {
    names: Vec<String>,
    values: Vec<Vec<V>>,
    damage: Vec<(proptest::sample::Index, u8)>,
}

fn journal() -> impl Strategy<Value = Journal> {
    (
        proptest::collection::vec(nasty(), 4),
        proptest::collection::vec(proptest::collection::vec(value(), 0..4), 1..8),
        proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
    )
        .prop_map(|(names, values, damage)| Journal {
            names,
            values,
            damage,
        })
}

fn bytes(j: &Journal) -> Vec<u8> {
    let header = FileHeader {
        pid: 1,
        program: j.names[0].clone(),
        clock: Clock {
            ticks: 1_000,
            unix_nanos: 1_764_000_000_000_000_000,
        },
    };
    let mut w = FileWriter::new(Vec::new(), &header).unwrap();
    // Blocks of one to three records, so damage costs a few records, not all of them.
    let mut n = 0;
    let mut put = |r: &Record<'_>| {
        w.write_record(&postcard::to_allocvec(r).unwrap()).unwrap();
        n += 1;
        if n % 3 != 1 {
            w.end_block().unwrap();
        }
    };
    let fields: Vec<&str> = j.names.iter().map(String::as_str).collect();
    for (id, text) in [(1, &j.names[2]), (2, &j.names[3])] {
        put(&Record::Interned(Interned { id, text }));
    }
    put(&Record::ThreadName(ThreadName {
        thread: 1,
        name: &j.names[1],
    }));
    for (id, kind) in [(1, CallsiteKind::Span), (2, CallsiteKind::Event)] {
        put(&Record::Callsite(Callsite {
            id,
            kind,
            level: Level::Warn,
            target: &j.names[2],
            name: &j.names[3],
            module_path: Some(&j.names[0]),
            file: Some(&j.names[1]),
            line: Some(7),
            fields: fields.clone(),
        }));
    }
    put(&Record::SpanNew(SpanNew {
        id: 9,
        parent: None,
        callsite: 1,
        time: 1_000,
        thread: 1,
        values: j.values[0].iter().map(V::value).collect(),
    }));
    put(&Record::SpanRecord(SpanRecord {
        id: 9,
        values: j.values[j.values.len() - 1].iter().map(V::value).collect(),
    }));
    for (i, values) in j.values.iter().enumerate() {
        put(&Record::Event(Event {
            callsite: 2,
            time: 1_000 + i as u64,
            thread: 1,
            parent: Some(9),
            values: values.iter().map(V::value).collect(),
        }));
    }
    let mut bytes = w.finish().unwrap();
    for (at, mask) in &j.damage {
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
    }
    bytes
}

/// Whether `line` (one rendered text event) holds a control character other than a tab or its
/// final newline: C0, DEL, or C1.
fn has_control(line: &str) -> bool {
    let body = line.strip_suffix('\n').unwrap_or(line);
    body.chars().any(|c| c.is_control() && c != '\t')
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 300 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn hostile_journals_render_safely(j in journal()) {
        let bytes = bytes(&j);
        let Ok(file) = FileReader::new(&bytes[..]) else {
            // Damage in the preamble or header: refused with an error, which is all we ask.
            return Ok(());
        };
        let mut reader = Reader::new(file);
        let text = TextFormat::new().with_ansi(false).with_thread_names(true).with_file(true);
        let json = JsonFormat::new();
        let mut events = 0;
        while let Some(event) = reader.next_event() {
            let Ok(event) = event else { break };
            events += 1;
            let mut out = Vec::new();
            text.render(&event, &mut out);
            let line = String::from_utf8(out).expect("text output is UTF-8");
            prop_assert!(line.ends_with('\n'));
            prop_assert!(!has_control(&line), "control character in {line:?}");
            let mut out = Vec::new();
            json.render(&event, &mut out);
            let line = String::from_utf8(out).expect("JSON output is UTF-8");
            prop_assert_eq!(line.matches('\n').count(), 1);
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&line);
            prop_assert!(parsed.is_ok(), "not JSON: {line:?}");
        }
        if j.damage.is_empty() {
            prop_assert_eq!(events, j.values.len());
        }
    }
}
