//! Events the ring had no room for are reported against their `tracing` callsites: the drop
//! report names each macro call by its file and line, with how many of its events were lost.

use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logbuf_journal::read::Context;
use logbuf_journal::sink::Entry;
use logbuf_journal::wire::Record;
use logbuf_journal::{FullPolicy, Sink};
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::layer::SubscriberExt;

/// Keeps every record; holds the worker in its first write until the test lets it go.
struct Gate {
    records: Arc<Mutex<Vec<Vec<u8>>>>,
    entered: Option<mpsc::Sender<()>>,
    release: Arc<Mutex<()>>,
}

impl Sink for Gate {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        if let Some(entered) = self.entered.take() {
            entered.send(()).unwrap();
            drop(self.release.lock().unwrap());
        }
        self.records.lock().unwrap().push(entry.bytes().to_vec());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn lost_events_are_reported_against_their_callsites() {
    let records = Arc::new(Mutex::new(Vec::new()));
    let release = Arc::new(Mutex::new(()));
    let held = release.lock().unwrap();
    let (entered, worker_held) = mpsc::channel();
    let (layer, guard) = LogbufLayer::builder()
        .ring_capacity(4096)
        .policy(FullPolicy::Drop)
        .sink(Gate {
            records: records.clone(),
            entered: Some(entered),
            release: release.clone(),
        })
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let (line_a, line_b) = tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "app::fill", n = 0, "first");
        worker_held
            .recv_timeout(Duration::from_secs(30))
            .expect("the worker writes");
        // Far more than 4 KiB: the ring is full, and stays so while the worker is held.
        for n in 0..1_000u64 {
            tracing::info!(target: "app::fill", n, "filling the ring to the brim");
        }
        let line_a = line!() + 2;
        for n in 0..50u64 {
            tracing::warn!(target: "app::a", n, "lost from a");
        }
        let line_b = line!() + 2;
        for n in 0..20u64 {
            tracing::error!(target: "app::b", n, "lost from b");
        }
        (line_a, line_b)
    });
    drop(held);
    drop(guard);

    let records = records.lock().unwrap();
    let mut context = Context::new();
    let mut reports = Vec::new();
    for bytes in records.iter() {
        let record = Entry::new(bytes).record().unwrap();
        context.apply(&record);
        if let Record::Dropped(d) = record {
            let named: Vec<(String, u32, u64)> = context
                .drop_callsites(d.thread)
                .expect("a breakdown before the report")
                .iter()
                .map(|l| (l.callsite.target.clone(), l.callsite.line.unwrap(), l.count))
                .collect();
            reports.push((d.count, named));
        }
    }
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (count, named) = &reports[0];
    assert_eq!(named.len(), 3, "{named:?}");
    let fill = count - 70;
    assert!(fill > 0, "{named:?}");
    let mut expected = vec![
        ("app::a".to_owned(), line_a, 50),
        ("app::b".to_owned(), line_b, 20),
    ];
    let fill_at = expected.iter().position(|e| e.2 < fill).unwrap_or(2);
    let fill_line = named.iter().find(|n| n.0 == "app::fill").unwrap().1;
    expected.insert(fill_at, ("app::fill".to_owned(), fill_line, fill));
    assert_eq!(
        *named, expected,
        "every lost event counted against its callsite"
    );
}
