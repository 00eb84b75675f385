//! A burst that overflows a small ring, for the tests of how each output reports drops.

use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{FullPolicy, Journal, Sink};

/// Logs a burst of 20 000 events from a thread named `burst` into a 4 KiB ring whose worker
/// naps for a second between drains, so most of them are dropped; returns the journal's count
/// of drops once everything is written.
pub(crate) fn burst_with_drops(sink: impl Sink + 'static) -> u64 {
    let (journal, guard) = Journal::builder()
        .ring_capacity(4096)
        .policy(FullPolicy::Drop)
        .idle_park_interval(std::time::Duration::from_secs(1))
        .sink(sink)
        .build()
        .unwrap();
    let callsite = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "app",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["message", "n"],
    });
    std::thread::Builder::new()
        .name("burst".into())
        .spawn({
            let journal = journal.clone();
            move || {
                for n in 0..20_000u64 {
                    journal.write(64, |enc, at| {
                        enc.event(callsite, at.time, at.thread, None, 2);
                        enc.value_debug(format_args!("tick"));
                        enc.value_u64(n);
                    });
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
    journal.flush();
    drop(guard);
    let dropped = journal.stats().dropped;
    assert!(dropped > 0, "the burst overflowed the ring");
    dropped
}
