//! Sustained load, each case in a child process of its own so its memory can be measured:
//! producers far faster than the sink (memory stays bounded, accounting stays exact), and a
//! soak of mixed events, spans, flushes and reopens (no growth in memory, nothing lost).
//!
//! The soak runs 15 s by default; `LOGBUF_SOAK_SECS=600 cargo test -p logbuf-journal --release
//! --test soak soak -- --nocapture` runs it for ten minutes.

use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use logbuf_journal::file::FileReader;
use logbuf_journal::sink::Entry;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, Value};
use logbuf_journal::{FullPolicy, Journal, Sink, Written};

/// Peak and current resident memory of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Runs `case` in a child process and returns the numbers it printed on its last line.
fn in_child(case: &str, dir: &Path) -> Vec<u64> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("LOGBUF_SOAK_CHILD", case)
        .env("LOGBUF_SOAK_DIR", dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{case}: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split("RESULT ").nth(1))
        .unwrap_or_else(|| panic!("{case}: no result in {stdout}"));
    line.split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn child_entry() {
    let (Some(case), Some(dir)) = (
        std::env::var_os("LOGBUF_SOAK_CHILD"),
        std::env::var_os("LOGBUF_SOAK_DIR"),
    ) else {
        return;
    };
    let dir = Path::new(&dir);
    let result = match case.to_str() {
        Some("overload-drop") => overload(FullPolicy::Drop),
        Some("overload-block") => overload(FullPolicy::Block),
        Some("soak") => soak(dir),
        other => panic!("unknown case {other:?}"),
    };
    println!(
        "RESULT {}",
        result
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

// === overload ===

/// A sink slower than any producer: about 2 µs a record.
#[derive(Clone, Default)]
struct Slow {
    events: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

impl Sink for Slow {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        match entry.record() {
            Ok(Record::Event(_)) => {
                self.events.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Record::Dropped(d)) => {
                self.dropped.fetch_add(d.count, Ordering::Relaxed);
            }
            _ => {}
        }
        let until = Instant::now() + Duration::from_micros(2);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const OVERLOAD_THREADS: u64 = 2;
const OVERLOAD_RING: usize = 256 << 10;

/// Returns: peak memory growth (KiB), committed, dropped (as `write` said), events the sink got,
/// drops the sink was told of.
fn overload(policy: FullPolicy) -> Vec<u64> {
    let sink = Slow::default();
    let (journal, guard) = Journal::builder()
        .ring_capacity(OVERLOAD_RING)
        .policy(policy)
        .sink(sink.clone())
        .build()
        .unwrap();
    let cs = event_callsite(&journal);
    let (base, _) = memory_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..OVERLOAD_THREADS)
        .map(|t| {
            let (journal, stop) = (journal.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut ok, mut dropped) = (0u64, 0u64);
                let pad = "x".repeat(40);
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    match log(&journal, cs, t, seq, &pad) {
                        Written::Committed => ok += 1,
                        Written::Dropped => dropped += 1,
                    }
                    seq += 1;
                }
                (ok, dropped)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let (ok, dropped) = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    drop(guard);
    let (peak, _) = memory_kib();
    vec![
        peak.saturating_sub(base),
        ok,
        dropped,
        sink.events.load(Ordering::Relaxed),
        sink.dropped.load(Ordering::Relaxed),
    ]
}

#[test]
fn overload_keeps_memory_bounded_and_counts_every_drop() {
    let dir = tempfile::tempdir().unwrap();
    let r = in_child("overload-drop", dir.path());
    let (growth, ok, dropped, written, reported) = (r[0], r[1], r[2], r[3], r[4]);
    println!("drop policy: {ok} written, {dropped} dropped, peak memory +{growth} KiB");
    assert!(dropped > 0, "the sink kept up; no overload");
    assert_eq!(written, ok);
    assert_eq!(reported, dropped);
    // Two rings, the worker's staging of at most what they held, thread stacks: well under
    // 16 MiB whatever the rate.
    assert!(growth < 16 << 10, "peak memory grew by {growth} KiB");
}

#[test]
fn overload_with_the_blocking_policy_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = in_child("overload-block", dir.path());
    let (growth, ok, dropped, written, reported) = (r[0], r[1], r[2], r[3], r[4]);
    println!("block policy: {ok} written, peak memory +{growth} KiB");
    assert_eq!((dropped, reported), (0, 0));
    assert_eq!(written, ok);
    assert!(growth < 16 << 10, "peak memory grew by {growth} KiB");
}

// === soak ===

fn event_callsite(journal: &Journal) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "soak",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["thread", "seq", "pad"],
    })
}

fn log(journal: &Journal, cs: u64, thread: u64, seq: u64, pad: &str) -> Written {
    journal.write(32 + pad.len(), |enc, at| {
        enc.event(cs, at.time, at.thread, None, 3);
        enc.value_u64(thread);
        enc.value_u64(seq);
        enc.value_str(pad);
    })
}

/// Returns: seconds run, the most resident memory (KiB) in the first half, resident memory at
/// the end, committed events, events found in the files, memory samples taken.
fn soak(dir: &Path) -> Vec<u64> {
    let secs: u64 = std::env::var("LOGBUF_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let path = dir.join("soak.lbf");
    let (journal, guard) = Journal::builder()
        .ring_capacity(256 << 10)
        .policy(FullPolicy::Block)
        .file(&path)
        .unwrap()
        .build()
        .unwrap();
    let cs = event_callsite(&journal);
    let span_cs = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Span,
        level: Level::Info,
        target: "soak",
        name: "request",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["n"],
    });
    let stop = Arc::new(AtomicBool::new(false));
    let next_span = Arc::new(AtomicU64::new(1));
    let workers: Vec<_> = (0..3u64)
        .map(|t| {
            let (journal, stop, next_span) = (journal.clone(), stop.clone(), next_span.clone());
            std::thread::spawn(move || {
                let mut committed = 0u64;
                let mut seq = 0u64;
                let mut rng = t + 1;
                while !stop.load(Ordering::Relaxed) {
                    let span = next_span.fetch_add(1, Ordering::Relaxed);
                    journal.write(32, |enc, at| {
                        enc.span_new(span, None, span_cs, at.time, at.thread, 1);
                        enc.value_u64(span);
                    });
                    journal.write(32, |enc, at| enc.span_enter(span, at.time, at.thread));
                    for _ in 0..8 {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        let pad = "p".repeat((rng % 300) as usize);
                        if log(&journal, cs, t, seq, &pad) == Written::Committed {
                            committed += 1;
                        }
                        seq += 1;
                    }
                    journal.write(32, |enc, at| enc.span_exit(span, at.time, at.thread));
                    journal.write(32, |enc, at| enc.span_close(span, at.time));
                    // Short-lived threads now and then.
                    if seq.is_multiple_of(4_000) {
                        let journal = journal.clone();
                        std::thread::spawn(move || log(&journal, cs, 100 + t, 0, ""))
                            .join()
                            .unwrap();
                    }
                }
                committed
            })
        })
        .collect();
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut files = vec![path.clone()];
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(250));
        samples.push(memory_kib().1);
        // An external rotation every 5 s: move the file, reopen.
        if samples.len().is_multiple_of(20) {
            let moved = dir.join(format!("soak.{}.lbf", files.len()));
            std::fs::rename(&path, &moved).unwrap();
            files.insert(files.len() - 1, moved);
            assert!(journal.reopen(Duration::from_secs(30)));
        } else {
            assert!(journal.flush());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let committed: u64 = workers.into_iter().map(|h| h.join().unwrap()).sum();
    drop(guard);
    let mut found = 0u64;
    for file in &files {
        let mut reader = FileReader::open(file).unwrap();
        while let Some(record) = reader.next_record() {
            if let Record::Event(e) = record.unwrap()
                && matches!(e.values[0], Value::U64(t) if t < 100)
            {
                found += 1;
            }
        }
        assert!(reader.stats().is_clean(), "{file:?}: {:?}", reader.stats());
    }
    // The most memory held in the first half, and at the end.
    let third = samples[..samples.len() / 2]
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    let end = *samples.last().unwrap();
    vec![secs, third, end, committed, found, samples.len() as u64]
}

#[test]
fn soak_loses_nothing_and_does_not_grow() {
    let dir = tempfile::tempdir().unwrap();
    let r = in_child("soak", dir.path());
    let (secs, third, end, committed, found) = (r[0], r[1], r[2], r[3], r[4]);
    println!(
        "soak {secs} s: {committed} events, resident memory at most {third} KiB in the first half, {end} KiB at the end"
    );
    assert_eq!(found, committed);
    assert!(committed > 0);
    // Rings and buffers are bounded (rings by their capacity, the worker's staging by 4 MiB)
    // and reach their size early; the allocator may still move a little.
    assert!(
        end <= third + (8 << 10),
        "resident memory grew from {third} to {end} KiB"
    );
}
