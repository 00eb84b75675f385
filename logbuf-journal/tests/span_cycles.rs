//! Span parents that form a cycle (a damaged or crafted file) cost a reader no more than the
//! longest chain of parents it has seen: an event's span list is bounded by that, not by the
//! number of spans open.

use logbuf_journal::read::Context;
use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, SpanNew};

fn span(id: u64, parent: Option<u64>) -> Record<'static> {
    Record::SpanNew(SpanNew {
        id,
        parent,
        callsite: 1,
        time: id,
        thread: 1,
        values: vec![],
    })
}

fn callsite(id: u64, kind: CallsiteKind) -> Record<'static> {
    Record::Callsite(Callsite {
        id,
        kind,
        level: Level::Info,
        target: "cycles",
        name: "site",
        module_path: None,
        file: None,
        line: None,
        fields: vec![],
    })
}

#[test]
fn a_cycle_of_parents_is_cut_at_the_deepest_chain_seen() {
    let mut context = Context::new();
    context.apply(&callsite(1, CallsiteKind::Span));
    context.apply(&callsite(2, CallsiteKind::Event));
    // Two spans that name each other as parent, and many others open beside them.
    context.apply(&span(1, Some(2)));
    context.apply(&span(2, Some(1)));
    for id in 10..10_010 {
        context.apply(&span(id, None));
    }
    // A true chain three deep.
    context.apply(&span(20_000, None));
    context.apply(&span(20_001, Some(20_000)));
    context.apply(&span(20_002, Some(20_001)));
    let event = |parent| Event {
        callsite: 2,
        time: 30_000,
        thread: 1,
        parent: Some(parent),
        values: vec![],
    };
    let ids = |parent| -> Vec<u64> {
        context
            .event(event(parent))
            .unwrap()
            .spans
            .iter()
            .map(|s| s.id)
            .collect()
    };
    // The cycle is walked no further than the deepest true chain (3): 10 006 spans before.
    assert!(ids(1).len() <= 3, "{:?}", ids(1).len());
    // True chains are whole.
    assert_eq!(ids(20_002), [20_000, 20_001, 20_002]);
    assert_eq!(ids(10), [10]);
}
