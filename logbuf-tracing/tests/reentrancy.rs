//! An event logged from inside the `Debug` formatting of another event's field (or of a span's
//! field) neither panics nor deadlocks: the journal drops the inner one and counts it.
//!
//! The subscriber is the global default: tracing itself discards events logged while a scoped
//! dispatcher is busy, so only the global default sends the inner event back into the layer.

use std::fmt;

use logbuf_journal::read::Reader;
use logbuf_journal::wire::Value;
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::layer::SubscriberExt;

/// Logs an event while being formatted.
struct Noisy(u64);

impl fmt::Debug for Noisy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::warn!(inner = self.0, "logged while formatting");
        write!(f, "Noisy({})", self.0)
    }
}

#[test]
fn event_inside_debug_formatting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reentrant.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let journal = layer.journal().clone();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();

    tracing::info!(value = ?Noisy(1), "outer event");
    let span = tracing::info_span!("outer span", value = ?Noisy(2));
    span.in_scope(|| tracing::info!("after"));
    assert!(journal.flush());
    assert_eq!(journal.stats().dropped, 2);
    drop(span);
    drop(guard);

    let mut reader = Reader::open(&path).unwrap();
    let mut events = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let spans: Vec<String> = event
            .spans
            .iter()
            .map(|s| format!("{}{:?}", s.callsite.name, s.values))
            .collect();
        events.push((format!("{:?}", event.event.values), spans));
    }
    assert_eq!(
        events,
        [
            (
                format!(
                    "{:?}",
                    [Value::Str("outer event"), Value::Debug("Noisy(1)")]
                ),
                vec![]
            ),
            (
                format!("{:?}", [Value::Str("after")]),
                vec![r#"outer span[Debug("Noisy(2)")]"#.to_owned()]
            ),
        ]
    );
    assert_eq!(reader.dropped(), 2);
}
