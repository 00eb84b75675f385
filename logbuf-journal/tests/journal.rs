//! The journal end to end: exact accounting under both full-ring policies, flush, failing
//! sinks, re-entrant writes, and records from many threads arriving complete and in order.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use logbuf_journal::file::FileReader;
use logbuf_journal::sink::Entry;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, Value};
use logbuf_journal::{FullPolicy, Journal, Rings, Sink, Written};

/// Keeps every record's bytes.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<Vec<u8>>>>);

impl Sink for Memory {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        self.0.lock().unwrap().push(entry.bytes().to_vec());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Memory {
    fn records(&self) -> Vec<Vec<u8>> {
        self.0.lock().unwrap().clone()
    }
}

fn callsite(journal: &Journal) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "test",
        name: "event",
        module_path: None,
        file: Some(file!()),
        line: Some(line!()),
        fields: vec!["thread", "seq", "pad"],
    })
}

/// Logs `per_thread` events from each of `threads` threads; returns what `write` said.
fn log_from_threads(journal: &Journal, threads: u64, per_thread: u64, pad: usize) -> (u64, u64) {
    let cs = callsite(journal);
    let pad = "p".repeat(pad);
    let results: Vec<(u64, u64)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let journal = journal.clone();
                let pad = &pad;
                s.spawn(move || {
                    let (mut ok, mut dropped) = (0, 0);
                    for seq in 0..per_thread {
                        match journal.write(64 + pad.len(), |enc, at| {
                            enc.event(cs, at.time, at.thread, None, 3);
                            enc.value_u64(t);
                            enc.value_u64(seq);
                            enc.value_str(pad);
                        }) {
                            Written::Committed => ok += 1,
                            Written::Dropped => dropped += 1,
                        }
                    }
                    (ok, dropped)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    results.iter().fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

/// Events per (thread value, seq) and the sum of dropped counts, from decoded records.
fn tally(records: &[Vec<u8>]) -> (Vec<(u64, u64)>, u64) {
    let mut events = Vec::new();
    let mut dropped = 0;
    for bytes in records {
        match postcard::from_bytes::<Record<'_>>(bytes).unwrap() {
            Record::Event(e) => match e.values[..] {
                [Value::U64(t), Value::U64(seq), _] => events.push((t, seq)),
                ref other => panic!("unexpected values {other:?}"),
            },
            Record::Dropped(d) => dropped += d.count,
            _ => {}
        }
    }
    (events, dropped)
}

#[test]
fn drop_policy_accounts_for_every_event_exactly() {
    drop_policy_accounts_exactly(Rings::PerThread);
}

#[test]
fn drop_policy_accounts_for_every_event_exactly_with_a_shared_ring() {
    drop_policy_accounts_exactly(Rings::Shared);
}

fn drop_policy_accounts_exactly(rings: Rings) {
    let memory = Memory::default();
    let (journal, guard) = Journal::builder()
        .rings(rings)
        .ring_capacity(4096)
        .idle_park_interval(Duration::from_millis(20))
        .sink(memory.clone())
        .build()
        .unwrap();
    let (threads, per_thread) = (4, 5_000);
    let (ok, dropped) = log_from_threads(&journal, threads, per_thread, 100);
    drop(guard);
    assert_eq!(ok + dropped, threads * per_thread);
    // 2 MB through a 4 KiB ring and a worker that naps: the full path is taken.
    assert!(dropped > 0);
    let (events, reported) = tally(&memory.records());
    assert_eq!(events.len() as u64, ok, "every committed event is written");
    assert_eq!(
        reported, dropped,
        "every dropped event is reported in the log"
    );
    assert_eq!(journal.stats().dropped, dropped);
    // Each thread's events arrive in the order it wrote them.
    for t in 0..threads {
        let seqs: Vec<u64> = events.iter().filter(|e| e.0 == t).map(|e| e.1).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "thread {t} out of order"
        );
    }
}

#[test]
fn block_policy_loses_nothing() {
    block_policy_loses_nothing_with(Rings::PerThread);
}

#[test]
fn block_policy_loses_nothing_with_a_shared_ring() {
    block_policy_loses_nothing_with(Rings::Shared);
}

fn block_policy_loses_nothing_with(rings: Rings) {
    let memory = Memory::default();
    let (journal, guard) = Journal::builder()
        .rings(rings)
        .ring_capacity(4096)
        .policy(FullPolicy::Block)
        .sink(memory.clone())
        .build()
        .unwrap();
    let (threads, per_thread) = (3, 5_000);
    let (ok, dropped) = log_from_threads(&journal, threads, per_thread, 100);
    drop(guard);
    assert_eq!((ok, dropped), (threads * per_thread, 0));
    let (mut events, reported) = tally(&memory.records());
    assert_eq!(reported, 0);
    events.sort_unstable();
    let want: Vec<(u64, u64)> = (0..threads)
        .flat_map(|t| (0..per_thread).map(move |s| (t, s)))
        .collect();
    assert_eq!(events, want);
}

#[test]
fn flush_writes_everything_committed_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/app.lbf");
    let (journal, _guard) = Journal::builder()
        .file(&path)
        .unwrap()
        .idle_park_interval(Duration::from_secs(5))
        .order_window(Duration::from_secs(5))
        .flush_interval(Duration::from_secs(60))
        .build()
        .unwrap();
    let (ok, _) = log_from_threads(&journal, 2, 1_000, 8);
    assert!(
        journal.flush_timeout(Duration::from_secs(30)),
        "flush completes"
    );
    // The file holds every event now, while the journal is still running.
    let mut reader = FileReader::open(&path).unwrap();
    let mut events = 0;
    while let Some(r) = reader.next_record() {
        if let Record::Event(_) = r.unwrap() {
            events += 1;
        }
    }
    assert_eq!(events, ok);
    assert!(reader.stats().is_clean());
}

/// Fails a number of writes, then works.
struct Flaky {
    failures_left: usize,
    inner: Memory,
}

impl Sink for Flaky {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        if self.failures_left > 0 {
            self.failures_left -= 1;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "disk full (test)",
            ));
        }
        self.inner.write(entry)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_sink_does_not_stop_the_worker() {
    let memory = Memory::default();
    let (journal, guard) = Journal::builder()
        .policy(FullPolicy::Block)
        .sink(Flaky {
            failures_left: 10,
            inner: memory.clone(),
        })
        .build()
        .unwrap();
    let (ok, _) = log_from_threads(&journal, 1, 100, 0);
    drop(guard);
    assert_eq!(journal.stats().sink_errors, 10);
    let (events, _) = tally(&memory.records());
    // The failed writes took the first records (definitions and early events); the rest got
    // through.
    assert!(
        events.len() as u64 >= ok - 10 && !events.is_empty(),
        "{} of {ok}",
        events.len()
    );
}

#[test]
fn a_write_inside_a_write_is_dropped_and_reported() {
    let memory = Memory::default();
    let (journal, guard) = Journal::builder().sink(memory.clone()).build().unwrap();
    let cs = callsite(&journal);
    let inner = journal.clone();
    let outer = journal.write(64, |enc, at| {
        // A `Debug` impl that logs, say.
        assert_eq!(
            inner.write(16, |e, at| e.event(cs, at.time, at.thread, None, 0)),
            Written::Dropped
        );
        enc.event(cs, at.time, at.thread, None, 3);
        enc.value_u64(9);
        enc.value_u64(9);
        enc.value_str("");
    });
    assert_eq!(outer, Written::Committed);
    drop(guard);
    let (events, reported) = tally(&memory.records());
    assert_eq!((events, reported), (vec![(9, 9)], 1));
}

#[test]
fn records_longer_than_the_first_guess_are_written_whole() {
    let memory = Memory::default();
    let (journal, guard) = Journal::builder().sink(memory.clone()).build().unwrap();
    let cs = callsite(&journal);
    let long = "x".repeat(5_000);
    // A guess of 16 bytes: the journal retries with room for the whole record.
    assert_eq!(
        journal.write(16, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 3);
            enc.value_u64(1);
            enc.value_u64(2);
            enc.value_debug(format_args!("{long}"));
        }),
        Written::Committed
    );
    // Larger than the ring can ever hold: dropped and counted, never a panic.
    let huge = "y".repeat(1 << 20);
    assert_eq!(
        journal.write(16, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 1);
            enc.value_str(&huge);
        }),
        Written::Dropped
    );
    drop(guard);
    let records = memory.records();
    let (events, reported) = tally(&records);
    assert_eq!((events, reported), (vec![(1, 2)], 1));
    let long_event =
        records
            .iter()
            .find_map(|b| match postcard::from_bytes::<Record<'_>>(b).unwrap() {
                Record::Event(e) => Some(e.values[2].clone().eq(&Value::Debug(&long))),
                _ => None,
            });
    assert_eq!(long_event, Some(true));
}

#[test]
fn definitions_come_before_the_records_that_use_them() {
    let memory = Memory::default();
    let (journal, guard) = Journal::builder().sink(memory.clone()).build().unwrap();
    log_from_threads(&journal, 3, 200, 0);
    drop(guard);
    let mut callsites = std::collections::HashSet::new();
    let mut threads = std::collections::HashSet::new();
    for bytes in memory.records() {
        match postcard::from_bytes::<Record<'_>>(&bytes).unwrap() {
            Record::Callsite(c) => {
                callsites.insert(c.id);
            }
            Record::ThreadName(t) => {
                threads.insert(t.thread);
            }
            Record::Event(e) => {
                assert!(callsites.contains(&e.callsite), "event before its callsite");
            }
            _ => {}
        }
    }
    assert_eq!(threads.len(), 3);
    // The threads are gone and their rings and counters freed.
    assert_eq!(journal.stats().rings.len(), 0);
}

#[test]
fn reopen_starts_a_new_file_that_decodes_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.lbf");
    let moved = dir.path().join("app.lbf.1");
    let (journal, guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    let cs = callsite(&journal);
    let log = |seq: u64| {
        journal.write(32, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 3);
            enc.value_u64(0);
            enc.value_u64(seq);
            enc.value_str("");
        })
    };
    for seq in 0..10 {
        assert_eq!(log(seq), Written::Committed);
    }
    assert!(journal.flush());
    std::fs::rename(&path, &moved).unwrap();
    // Until the reopen, records still go to the moved file.
    assert_eq!(log(10), Written::Committed);
    assert!(journal.reopen(Duration::from_secs(60)));
    for seq in 11..20 {
        assert_eq!(log(seq), Written::Committed);
    }
    drop(guard);

    let seqs = |p: &std::path::Path| {
        let mut reader = FileReader::open(p).unwrap();
        let (mut seqs, mut callsites) = (Vec::new(), 0);
        while let Some(record) = reader.next_record() {
            match record.unwrap() {
                Record::Callsite(_) => callsites += 1,
                Record::Event(e) => {
                    let Value::U64(seq) = e.values[1] else {
                        panic!("{e:?}")
                    };
                    seqs.push(seq);
                }
                _ => {}
            }
        }
        assert!(reader.stats().is_clean());
        (seqs, callsites)
    };
    assert_eq!(seqs(&moved), ((0..11).collect::<Vec<_>>(), 1));
    assert_eq!(seqs(&path), ((11..20).collect::<Vec<_>>(), 1));
}
