//! What sinks and readers keep is bounded by what is live: spans whose close never came are
//! capped in a binary file's preamble, in readers and in the text sink's span fields, and names
//! of threads that ended are forgotten.

use logbuf_journal::file::FileReader;
use logbuf_journal::read::Context;
use logbuf_journal::sink::{BinaryFileSink, Entry, MAX_OPEN_SPANS, Sink};
use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, SpanNew, ThreadEnd, ThreadName};

#[test]
fn spans_that_never_close_are_capped_in_the_preamble() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = BinaryFileSink::create(dir.path().join("spans.lbf")).unwrap();
    let callsite = postcard::to_allocvec(&Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "churn",
        name: "request",
        module_path: None,
        file: None,
        line: None,
        fields: vec![],
    }))
    .unwrap();
    sink.write(Entry::new(&callsite)).unwrap();
    let spans = 4 * MAX_OPEN_SPANS as u64;
    for id in 1..=spans {
        let new = postcard::to_allocvec(&Record::SpanNew(SpanNew {
            id,
            parent: None,
            callsite: 1,
            time: id,
            thread: 1,
            values: vec![],
        }))
        .unwrap();
        sink.write(Entry::new(&new)).unwrap();
    }
    sink.reopen().unwrap();
    sink.flush().unwrap();
    let mut reader = FileReader::open(sink.path()).unwrap();
    let mut kept = Vec::new();
    while let Some(record) = reader.next_record() {
        if let Record::SpanNew(s) = record.unwrap() {
            kept.push(s.id);
        }
    }
    // The most recent ones, oldest first.
    let want: Vec<u64> = (spans - MAX_OPEN_SPANS as u64 + 1..=spans).collect();
    assert_eq!(kept.len(), MAX_OPEN_SPANS);
    assert_eq!(kept, want);
}

#[test]
fn a_reader_forgets_the_names_of_threads_that_ended() {
    let mut context = Context::new();
    for thread in 1..=100_000 {
        let name = format!("worker-{thread}");
        context.apply(&Record::ThreadName(ThreadName {
            thread,
            name: &name,
        }));
        if thread > 1 {
            context.apply(&Record::ThreadEnd(ThreadEnd {
                thread: thread - 1,
                time: thread,
            }));
        }
    }
    assert_eq!(context.thread_count(), 1);
    assert_eq!(context.thread_name(100_000), Some("worker-100000"));
    assert_eq!(context.thread_name(99_999), None);
}

#[test]
fn readers_and_text_sinks_cap_spans_that_never_close() {
    use logbuf_journal::sink::text::{SpanFields, TextFormat};
    use logbuf_journal::wire::SpanClose;

    let (mut context, mut fields, format) = (Context::new(), SpanFields::new(), TextFormat::new());
    let callsite = Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "churn",
        name: "request",
        module_path: None,
        file: None,
        line: None,
        fields: vec![],
    });
    context.apply(&callsite);
    let spans = 4 * MAX_OPEN_SPANS as u64;
    for id in 1..=spans {
        let new = Record::SpanNew(SpanNew {
            id,
            parent: None,
            callsite: 1,
            time: id,
            thread: 1,
            values: vec![],
        });
        context.apply(&new);
        fields.apply(&format, &context, &new);
        // Every other span closes; the rest lost their close.
        if id % 2 == 0 {
            let close = Record::SpanClose(SpanClose { id, time: id });
            context.apply(&close);
            fields.apply(&format, &context, &close);
        }
    }
    // The last span opened made the count MAX_OPEN_SPANS again, then closed.
    assert_eq!(context.open_spans(), MAX_OPEN_SPANS - 1);
    // The most recent of those never closed are kept, the oldest forgotten, in both.
    assert!(context.span(spans - 1).is_some() && fields.get(spans - 1).is_some());
    assert!(context.span(1).is_none() && fields.get(1).is_none());
    let oldest_kept = spans - 1 - 2 * (MAX_OPEN_SPANS as u64 - 2);
    assert!(context.span(oldest_kept).is_some() && fields.get(oldest_kept).is_some());
    assert!(context.span(oldest_kept - 2).is_none());
    // A span opened again after it was forgotten is there.
    context.apply(&Record::SpanNew(SpanNew {
        id: 1,
        parent: None,
        callsite: 1,
        time: spans + 1,
        thread: 1,
        values: vec![],
    }));
    assert!(context.span(1).is_some());
}
