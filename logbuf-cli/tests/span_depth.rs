//! Span contexts deeper than `logbuf cat` renders, and span parents that form a cycle: an
//! event in a chain of 4096 nested spans is written with the innermost
//! [`MAX_SCOPE`](logbuf_journal::read::MAX_SCOPE) spans and a marker that counts the ones
//! left out, in text and in JSON; spans that name each other as parent are written once each.

use std::path::{Path, PathBuf};

use logbuf_cli::cat::{self, Options};
use logbuf_cli::render::Format;
use logbuf_journal::file::{FileHeader, FileWriter};
use logbuf_journal::read::MAX_SCOPE;
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Event, Level, Record, SpanNew, ThreadName, Value,
};

const SPAN: u64 = 1;
const EVENT: u64 = 2;

/// A journal with a span callsite `request{depth}`, an event callsite, then `spans` (id and
/// parent, in order of creation) and one event `seq` in each span of `events`.
fn journal(dir: &Path, spans: &[(u64, Option<u64>)], events: &[u64]) -> PathBuf {
    let header = FileHeader {
        pid: 1,
        program: "depth".into(),
        clock: Clock {
            ticks: 1_000,
            unix_nanos: 1_764_000_000_000_000_000,
        },
    };
    let mut w = FileWriter::new(Vec::new(), &header).unwrap();
    let mut put = |record: &Record<'_>| {
        w.write_record(&postcard::to_allocvec(record).unwrap())
            .unwrap();
    };
    put(&Record::ThreadName(ThreadName {
        thread: 1,
        name: "main",
    }));
    for (id, kind, name, fields) in [
        (SPAN, CallsiteKind::Span, "request", vec!["depth"]),
        (EVENT, CallsiteKind::Event, "event", vec!["message", "seq"]),
    ] {
        put(&Record::Callsite(Callsite {
            id,
            kind,
            level: Level::Info,
            target: "app",
            name,
            module_path: None,
            file: None,
            line: None,
            fields,
        }));
    }
    for (depth, &(id, parent)) in spans.iter().enumerate() {
        put(&Record::SpanNew(SpanNew {
            id,
            parent,
            callsite: SPAN,
            time: 2_000 + depth as u64,
            thread: 1,
            values: vec![Value::U64(depth as u64 + 1)],
        }));
    }
    for (seq, &parent) in events.iter().enumerate() {
        put(&Record::Event(Event {
            callsite: EVENT,
            time: 10_000 + seq as u64,
            thread: 1,
            parent: Some(parent),
            values: vec![Value::Str("deep"), Value::U64(seq as u64)],
        }));
    }
    w.end_block().unwrap();
    let path = dir.join("depth.lbf");
    std::fs::write(&path, w.finish().unwrap()).unwrap();
    path
}

fn cat(path: &Path, format: Format) -> Vec<String> {
    let options = Options {
        format,
        ..Options::default()
    };
    let (mut out, mut diag) = (Vec::new(), Vec::new());
    cat::run_paths(&[path.to_path_buf()], &options, &mut out, &mut diag).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A chain of `depth` spans, ids 1 to `depth`, each the parent of the next.
fn chain(depth: u64) -> Vec<(u64, Option<u64>)> {
    (1..=depth)
        .map(|id| (id, (id > 1).then(|| id - 1)))
        .collect()
}

#[test]
fn an_event_in_a_chain_of_4096_spans_shows_the_innermost_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal(dir.path(), &chain(4096), &[4096, 4096]);
    let elided = 4096 - MAX_SCOPE;
    let first_shown = elided + 1;

    let text = cat(&path, Format::Text { color: false });
    assert_eq!(text.len(), 2);
    for line in &text {
        assert_eq!(line.matches("request{").count(), MAX_SCOPE, "{line:.200}");
        let marker = format!(" …{elided} spans…:request{{depth={first_shown}}}:");
        assert!(line.contains(&marker), "{line:.200}");
        assert!(
            line.ends_with(":request{depth=4096}: app: deep seq=0")
                || line.ends_with(":request{depth=4096}: app: deep seq=1"),
            "{line}"
        );
    }

    let json = cat(&path, Format::Json);
    assert_eq!(json.len(), 2);
    for line in &json {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let spans = v["spans"].as_array().expect("a span list");
        assert_eq!(spans.len(), MAX_SCOPE);
        assert_eq!(spans[0]["depth"], first_shown as u64);
        assert_eq!(spans[MAX_SCOPE - 1]["depth"], 4096);
        assert_eq!(v["span"]["depth"], 4096);
        assert_eq!(v["spans_elided"], elided as u64);
    }
}

#[test]
fn a_chain_as_deep_as_the_bound_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let depth = MAX_SCOPE as u64;
    let path = journal(dir.path(), &chain(depth), &[depth]);
    let text = cat(&path, Format::Text { color: false });
    assert_eq!(text[0].matches("request{").count(), MAX_SCOPE);
    assert!(!text[0].contains('…'), "{}", text[0]);
    let json = cat(&path, Format::Json);
    let v: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
    assert_eq!(v["spans"].as_array().unwrap().len(), MAX_SCOPE);
    assert!(v.get("spans_elided").is_none(), "{}", json[0]);
}

#[test]
fn spans_that_name_each_other_as_parent_are_written_once_each() {
    let dir = tempfile::tempdir().unwrap();
    // 1 and 2 name each other; 3 to 1002 hang off 2.
    let mut spans = vec![(1, Some(2)), (2, Some(1))];
    spans.extend((3..1003).map(|id| (id, Some(id - 1))));
    let path = journal(dir.path(), &spans, &[1, 2, 1002]);

    let text = cat(&path, Format::Text { color: false });
    assert_eq!(text.len(), 3);
    // In span 1: 2 is its parent, and 2's parent (1) is already in the chain.
    assert!(
        text[0].ends_with(" request{depth=2}:request{depth=1}: app: deep seq=0"),
        "{}",
        text[0]
    );
    assert!(
        text[1].ends_with(" request{depth=1}:request{depth=2}: app: deep seq=1"),
        "{}",
        text[1]
    );
    assert_eq!(text[2].matches("request{").count(), MAX_SCOPE);
    assert!(text[2].contains('…'), "{:.200}", text[2]);

    let json = cat(&path, Format::Json);
    for (line, want) in json.iter().zip([2, 2, MAX_SCOPE]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["spans"].as_array().unwrap().len(), want, "{line:.200}");
    }
}

#[test]
fn the_whole_scope_of_an_event_in_a_cycle_gives_each_span_once() {
    use logbuf_journal::read::Context;
    let mut context = Context::new();
    context.apply(&Record::Callsite(Callsite {
        id: SPAN,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "app",
        name: "request",
        module_path: None,
        file: None,
        line: None,
        fields: vec![],
    }));
    // 1 -> 2 -> 3 -> 1, with a tail 4 -> 5 -> ... -> 40 hanging off 3.
    let mut spans = vec![(1, Some(3)), (2, Some(1)), (3, Some(2))];
    spans.extend((4..=40).map(|id| (id, Some(id - 1))));
    for (id, parent) in spans {
        context.apply(&Record::SpanNew(SpanNew {
            id,
            parent,
            callsite: SPAN,
            time: id,
            thread: 1,
            values: vec![],
        }));
    }
    let ids =
        |parent: u64| -> Vec<u64> { context.scope(Some(parent)).iter().map(|s| s.id).collect() };
    assert_eq!(ids(1), [2, 3, 1]);
    assert_eq!(ids(3), [1, 2, 3]);
    assert_eq!(ids(40), (1..=40).collect::<Vec<_>>());
}
