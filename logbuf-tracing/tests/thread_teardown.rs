//! Events logged while a thread is torn down (from the destructor of a thread-local) are
//! recorded in the spans the thread is still in, not in a span it has left: the layer's stack
//! of entered spans may already be gone then, and the span an event is recorded in must not
//! be read from what was left of it.

use std::cell::RefCell;

use logbuf_journal::read::Reader;
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::layer::SubscriberExt;

/// Held by a thread-local: leaves its span, then logs, when the thread ends. The span stays
/// open (`_open` is dropped after the event), so a reader would show the event in it if the
/// event named it as its parent.
struct Late {
    entered: Option<tracing::span::EnteredSpan>,
    _open: tracing::Span,
}

impl Drop for Late {
    fn drop(&mut self) {
        drop(self.entered.take());
        tracing::info!("after the span was left");
    }
}

thread_local! {
    static LATE: RefCell<Option<Late>> = const { RefCell::new(None) };
}

#[test]
fn an_event_logged_during_thread_teardown_is_not_put_in_a_span_already_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teardown.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    std::thread::spawn(|| {
        // The thread's ring and caches first, then the thread-local that logs at the end,
        // then the entered-span stack: destroyed in the reverse order, the stack goes before
        // `Late` runs, and the ring after it.
        tracing::info!("before");
        LATE.with(|_| {});
        let span = tracing::info_span!("request");
        let open = span.clone();
        let entered = span.entered();
        tracing::info!("inside");
        LATE.with(|late| {
            *late.borrow_mut() = Some(Late {
                entered: Some(entered),
                _open: open,
            });
        });
    })
    .join()
    .unwrap();
    drop(guard);

    let mut reader = Reader::open(&path).unwrap();
    let mut events = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let message = format!("{:?}", event.event.values[0]);
        let spans: Vec<String> = event
            .spans
            .iter()
            .map(|s| s.callsite.name.clone())
            .collect();
        events.push((message, spans));
    }
    let spans_of = |text: &str| {
        events
            .iter()
            .find(|(m, _)| m.contains(text))
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("no event {text:?} in {events:?}"))
    };
    assert_eq!(spans_of("before"), Vec::<String>::new());
    assert_eq!(spans_of("inside"), ["request"]);
    assert_eq!(
        spans_of("after the span was left"),
        Vec::<String>::new(),
        "{events:?}"
    );
}
