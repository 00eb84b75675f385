//! Records the ring had no room for are reported against their `log` callsites (target,
//! file and line), and losing them allocates nothing on the logging thread, even with more
//! callsites losing records than the journal's table holds.

use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logbuf_journal::read::Context;
use logbuf_journal::sink::Entry;
use logbuf_journal::wire::Record;
use logbuf_journal::{FullPolicy, Sink};

mod common;

use common::allocations;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

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

/// A record of target `app::site` at `line` of this file.
fn log_at(line: u32) {
    log::logger().log(
        &log::Record::builder()
            .level(log::Level::Warn)
            .target("app::site")
            .module_path_static(Some(module_path!()))
            .file_static(Some(file!()))
            .line(Some(line))
            .args(format_args!("lost at line {line}"))
            .build(),
    );
}

#[test]
fn lost_records_are_counted_per_callsite_without_allocating() {
    let records = Arc::new(Mutex::new(Vec::new()));
    let release = Arc::new(Mutex::new(()));
    let held = release.lock().unwrap();
    let (entered, worker_held) = mpsc::channel();
    let guard = logbuf_log::Builder::new()
        .parse_filters("info")
        .ring_capacity(4096)
        .policy(FullPolicy::Drop)
        .sink(Gate {
            records: records.clone(),
            entered: Some(entered),
            release: release.clone(),
        })
        .init()
        .unwrap();
    log::info!("first");
    worker_held
        .recv_timeout(Duration::from_secs(30))
        .expect("the worker writes");
    // Far more than 4 KiB of records smaller than those below: the ring is full for those,
    // and stays so while the worker is held.
    for _ in 0..1_000 {
        log::info!("fill");
    }
    // Lines 1 to 20: each callsite's first record registers it (and allocates).
    for line in 1..=20 {
        log_at(line);
    }
    let before = allocations();
    for round in 0..100 {
        for line in 1..=20 {
            // Line n loses n more records in the first n rounds.
            if round < line {
                log_at(line);
            }
        }
    }
    assert_eq!(
        allocations() - before,
        0,
        "losing records allocates nothing"
    );
    drop(held);
    drop(guard);

    let records = records.lock().unwrap();
    let mut context = Context::new();
    let mut named = Vec::new();
    let mut count = 0;
    for bytes in records.iter() {
        let record = Entry::new(bytes).record().unwrap();
        context.apply(&record);
        if let Record::Dropped(d) = record {
            count += d.count;
            for lost in context.drop_callsites(d.thread).unwrap() {
                if lost.callsite.target == "app::site" {
                    named.push((lost.callsite.line.unwrap(), lost.count));
                }
            }
        }
    }
    // One report, after the worker was let go: the table's 16 entries went to the filler and
    // lines 1 to 15 (the first to lose records); of those, the report names the 8 that lost
    // the most, lines 15 down to 8 (line n lost n + 1), and the filler's, which lost most.
    let expected: Vec<(u32, u64)> = (8..=15).rev().map(|n| (n, u64::from(n) + 1)).collect();
    assert_eq!(named, expected[..7], "{named:?}");
    assert!(count > 20 + (1..=20).sum::<u64>());
}
