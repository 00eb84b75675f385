//! The worker under faults: a sink that panics, a thread that never stops logging while the
//! guard is dropped, a sink that logs into its own journal, and writes after the worker is gone.
//! Each of these once broke a promise of RELIABILITY.md.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use logbuf_journal::sink::Entry;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, Value};
use logbuf_journal::{FullPolicy, Journal, Sink, Written};

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
    /// The `seq` values of the events of callsite `cs`, in the order the sink got them.
    fn seqs(&self, cs: u64) -> Vec<u64> {
        let records = self.0.lock().unwrap();
        records
            .iter()
            .filter_map(|bytes| match postcard::from_bytes::<Record<'_>>(bytes) {
                Ok(Record::Event(e)) if e.callsite == cs => match e.values.first() {
                    Some(Value::U64(seq)) => Some(*seq),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// The sum of the counts of `Dropped` records.
    fn reported_drops(&self) -> u64 {
        let records = self.0.lock().unwrap();
        records
            .iter()
            .filter_map(|bytes| match postcard::from_bytes::<Record<'_>>(bytes) {
                Ok(Record::Dropped(d)) => Some(d.count),
                _ => None,
            })
            .sum()
    }
}

fn callsite(journal: &Journal, name: &'static str) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "faults",
        name,
        module_path: None,
        file: Some(file!()),
        line: Some(line!()),
        fields: vec!["seq"],
    })
}

fn log(journal: &Journal, cs: u64, seq: u64) -> Written {
    journal.write(32, |enc, at| {
        enc.event(cs, at.time, at.thread, None, 1);
        enc.value_u64(seq);
    })
}

/// Panics on its `panic_at`-th record, then works (if it is ever called again).
struct Panicky {
    seen: u64,
    panic_at: u64,
    inner: Memory,
}

impl Sink for Panicky {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        self.seen += 1;
        if self.seen == self.panic_at {
            panic!("a bug in a user's sink (test)");
        }
        self.inner.write(entry)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_panicking_sink_is_disabled_and_the_other_sinks_go_on() {
    let (healthy, panicky) = (Memory::default(), Memory::default());
    let (journal, guard) = Journal::builder()
        .sink(Panicky {
            seen: 0,
            panic_at: 20,
            inner: panicky.clone(),
        })
        .sink(healthy.clone())
        .shutdown_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let cs = callsite(&journal, "event");
    for seq in 0..100 {
        assert_eq!(log(&journal, cs, seq), Written::Committed);
    }
    let start = Instant::now();
    assert!(
        journal.flush_timeout(Duration::from_secs(10)),
        "flush failed"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    for seq in 100..200 {
        assert_eq!(log(&journal, cs, seq), Written::Committed);
    }
    assert!(journal.flush_timeout(Duration::from_secs(10)));
    let stats = journal.stats();
    assert_eq!(stats.sink_panics, 1);
    // The sink that panicked was called no more; the other got every event.
    assert_eq!(healthy.seqs(cs), (0..200).collect::<Vec<_>>());
    let kept = panicky.seqs(cs);
    assert!(kept.len() < 20, "{}", kept.len());
    let start = Instant::now();
    drop(guard);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn once_the_worker_is_gone_writes_are_dropped_and_no_ring_is_made() {
    let memory = Memory::default();
    let (journal, guard) = Journal::builder().sink(memory.clone()).build().unwrap();
    let cs = callsite(&journal, "event");
    assert_eq!(log(&journal, cs, 0), Written::Committed);
    drop(guard);
    assert_eq!(memory.seqs(cs), vec![0]);

    let start = Instant::now();
    assert!(!journal.flush_timeout(Duration::from_secs(10)));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(log(&journal, cs, 1), Written::Dropped);
    let other = journal.clone();
    let written = thread::spawn(move || log(&other, cs, 2)).join().unwrap();
    assert_eq!(written, Written::Dropped);
    let stats = journal.stats();
    assert!(stats.rings.is_empty(), "{:?}", stats.rings);
    assert_eq!(stats.dropped, 2);
    assert_eq!(memory.reported_drops(), 0);
}

#[test]
fn shutdown_is_bounded_while_other_threads_log_flat_out() {
    const THREADS: usize = 4;
    let memory = Memory::default();
    let (journal, guard) = Journal::builder()
        .sink(memory.clone())
        .ring_capacity(1 << 20)
        .shutdown_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let loggers: Vec<_> = (0..THREADS)
        .map(|_| {
            let cs = callsite(&journal, "event");
            let committed = Arc::new(AtomicU64::new(0));
            let (journal, stop, counter) = (journal.clone(), stop.clone(), committed.clone());
            let handle = thread::spawn(move || {
                let (mut seq, mut dropped) = (0, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    match log(&journal, cs, seq) {
                        Written::Committed => {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        Written::Dropped => dropped += 1,
                    }
                    seq += 1;
                }
                (seq, dropped)
            });
            (cs, committed, handle)
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let before: Vec<u64> = loggers
        .iter()
        .map(|(_, c, _)| c.load(Ordering::Relaxed))
        .collect();
    let start = Instant::now();
    drop(guard);
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

    // Per thread: what was committed before the shutdown started is written, in order; what
    // was logged after it is dropped, and every drop is counted.
    let (mut dropped_total, mut logged_total, mut cs_all) = (0, 0, Vec::new());
    for ((cs, committed, handle), before) in loggers.into_iter().zip(before) {
        let (logged, dropped) = handle.join().unwrap();
        logged_total += logged;
        cs_all.push(cs);
        let written = memory.seqs(cs);
        assert!(
            written.windows(2).all(|w| w[0] < w[1]),
            "out of order or repeated"
        );
        let committed = committed.load(Ordering::Relaxed);
        assert!(
            written.len() as u64 >= before,
            "{} < {before}",
            written.len()
        );
        assert!(written.len() as u64 <= committed);
        assert_eq!(logged, committed + dropped);
        assert!(dropped > 0, "the thread logged on after the shutdown");
        dropped_total += dropped;
    }
    // Every event is written or counted, writes under way when the journal closed included.
    let written_total: u64 = cs_all.iter().map(|&cs| memory.seqs(cs).len() as u64).sum();
    assert_eq!(written_total + journal.stats().dropped, logged_total);
    // Drops while the worker ran are in the log too; those after it stopped only in the stats.
    assert!(memory.reported_drops() <= dropped_total);
}

/// For every event of callsite `trigger` it gets, logs `fan_out` events into its own journal,
/// as a sink that calls a library that logs would.
struct Chatty {
    journal: Arc<OnceLock<Journal>>,
    trigger: u64,
    chatter: u64,
    fan_out: u64,
    inner: Memory,
}

impl Sink for Chatty {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        if let Ok(Record::Event(e)) = entry.record()
            && e.callsite == self.trigger
            && let Some(journal) = self.journal.get()
        {
            for i in 0..self.fan_out {
                log(journal, self.chatter, i);
            }
        }
        self.inner.write(entry)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_sink_that_logs_never_makes_the_worker_wait_on_itself() {
    for policy in [FullPolicy::Block, FullPolicy::Drop] {
        let memory = Memory::default();
        let slot = Arc::new(OnceLock::new());
        let (journal, guard) = Journal::builder()
            .policy(policy)
            .ring_capacity(4096)
            .shutdown_timeout(Duration::from_secs(3))
            .sink(Chatty {
                journal: slot.clone(),
                trigger: 1,
                chatter: 2,
                fan_out: 4,
                inner: memory.clone(),
            })
            .build()
            .unwrap();
        let (trigger, chatter) = (callsite(&journal, "trigger"), callsite(&journal, "chatter"));
        assert_eq!((trigger, chatter), (1, 2));
        slot.set(journal.clone()).unwrap();
        let mut committed = 0;
        for seq in 0..2000 {
            if log(&journal, trigger, seq) == Written::Committed {
                committed += 1;
            }
        }
        assert!(
            journal.flush_timeout(Duration::from_secs(5)),
            "{policy:?}: the worker waits on itself"
        );
        let triggers = memory.seqs(trigger).len() as u64;
        assert_eq!(triggers, committed, "{policy:?}");
        if policy == FullPolicy::Block {
            assert_eq!(committed, 2000);
        }
        drop(guard);
        // The sink's own events were written where there was room, the rest counted.
        let chatter_written = memory.seqs(chatter).len() as u64;
        assert!(chatter_written > 0);
        let stats = journal.stats();
        assert_eq!(
            chatter_written + stats.dropped,
            4 * committed + (2000 - committed),
            "{policy:?}: {stats:?}"
        );
    }
}

#[test]
fn every_drop_report_follows_the_name_of_its_thread() {
    // A thread that registers and overflows its ring between two steps of one worker pass once
    // had its drops reported before its name was written.
    let mut reports = 0;
    for round in 0..200 {
        let memory = Memory::default();
        let (journal, guard) = Journal::builder()
            .sink(memory.clone())
            .ring_capacity(1024)
            .idle_park_interval(Duration::from_micros(10))
            .build()
            .unwrap();
        let cs = callsite(&journal, "burst");
        let bursts: Vec<_> = (0..4)
            .map(|t| {
                let burst = journal.clone();
                thread::Builder::new()
                    .name(format!("burst-{round}-{t}"))
                    .spawn(move || {
                        for seq in 0..200 {
                            log(&burst, cs, seq);
                        }
                    })
                    .unwrap()
            })
            .collect();
        for burst in bursts {
            burst.join().unwrap();
        }
        drop(guard);
        let mut named = std::collections::HashSet::new();
        for bytes in memory.0.lock().unwrap().iter() {
            match postcard::from_bytes::<Record<'_>>(bytes).unwrap() {
                Record::ThreadName(t) => {
                    named.insert(t.thread);
                }
                Record::Dropped(d) if d.thread != 0 => {
                    reports += 1;
                    assert!(
                        named.contains(&d.thread),
                        "round {round}: {d:?} before its name"
                    );
                }
                _ => {}
            }
        }
    }
    assert!(reports > 0, "no burst overflowed its ring");
}
