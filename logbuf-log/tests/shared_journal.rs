//! One journal, two façades: records of the `log` back end and events of the `tracing` layer
//! land in one file, in the order they happened (each thread's, interleaved as they were made).

use logbuf_journal::Journal;
use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::layer::SubscriberExt;

const ROUNDS: u64 = 200;

#[test]
fn log_and_tracing_share_one_file_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.lbf");
    let (journal, journal_guard) = Journal::builder().file(&path).unwrap().build().unwrap();

    let log_guard = logbuf_log::Builder::new()
        .parse_filters("info")
        .journal(journal.clone())
        .init()
        .unwrap();
    let layer = LogbufLayer::from_journal(journal.clone());
    let subscriber = tracing_subscriber::registry().with(layer);

    tracing::subscriber::with_default(subscriber, || {
        for i in 0..ROUNDS {
            // A program's own `tracing` events and a dependency's `log` records, interleaved.
            if i % 3 == 0 {
                tracing::info!(seq = i, "from tracing");
            } else {
                log::info!(seq = i; "from log");
            }
        }
        // Then a second thread.
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("second".into())
                .spawn_scoped(s, || {
                    for i in ROUNDS..2 * ROUNDS {
                        log::warn!(seq = i; "from log");
                    }
                })
                .unwrap();
        });
    });
    drop(log_guard); // flushes; the journal keeps running until its own guard goes
    drop(journal_guard);

    let mut reader = Reader::open(&path).unwrap();
    // Per thread: the worker orders records of different threads only when they are further
    // apart than its order window.
    let mut last_time = std::collections::HashMap::new();
    let mut main_seq = Vec::new();
    let mut other_seq = Vec::new();
    let (mut from_log, mut from_tracing) = (0, 0);
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let last = last_time.entry(event.event.thread).or_insert(0);
        assert!(event.event.time >= *last, "written in time order");
        *last = event.event.time;
        let fields: Vec<&str> = event.callsite.fields.iter().map(String::as_str).collect();
        assert_eq!(fields, ["message", "seq"]);
        let message = match OwnedValue::from(&event.event.values[0]) {
            OwnedValue::Str(s) | OwnedValue::Debug(s) => s,
            other => panic!("message {other:?}"),
        };
        let OwnedValue::U64(seq) = OwnedValue::from(&event.event.values[1]) else {
            panic!("seq {:?}", event.event.values[1]);
        };
        if message == "from tracing" {
            from_tracing += 1;
            assert_eq!(seq % 3, 0);
        } else {
            assert_eq!(message, "from log");
            from_log += 1;
        }
        if event.thread_name == Some("second") {
            other_seq.push(seq);
        } else {
            main_seq.push(seq);
        }
    }
    assert_eq!(from_tracing, ROUNDS.div_ceil(3));
    assert_eq!(from_log, 2 * ROUNDS - ROUNDS.div_ceil(3));
    // Each thread's records in the order it made them, both façades interleaved.
    assert_eq!(main_seq, (0..ROUNDS).collect::<Vec<_>>());
    assert_eq!(other_seq, (ROUNDS..2 * ROUNDS).collect::<Vec<_>>());
    assert!(reader.stats().is_clean());
}
