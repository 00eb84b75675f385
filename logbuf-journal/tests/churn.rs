//! What sinks keep stays bounded under thread churn: a rotated file's preamble carries only
//! the threads still running, whatever ran before, and memory stays flat.
//!
//! The only test of this file, as it measures the process's memory (Linux only: it reads
//! `/proc/self/statm`).
#![cfg(target_os = "linux")]

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use logbuf_journal::file::FileReader;
use logbuf_journal::rotate::Rotation;
use logbuf_journal::sink::BinaryFileSink;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{FullPolicy, Journal};

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let statm = fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: `sysconf` only reads a system setting.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page / 1024
}

/// Bytes of the file, and how many records of each kind (by kind number) it holds.
fn census(path: &Path) -> (u64, [u64; 16]) {
    let mut kinds = [0u64; 16];
    let mut reader = FileReader::open(path).unwrap();
    while let Some(record) = reader.next_record() {
        let bytes = postcard::to_allocvec(&record.unwrap()).unwrap();
        kinds[usize::from(bytes[0]).min(15)] += 1;
    }
    assert!(reader.stats().is_clean(), "{:?}", reader.stats());
    (fs::metadata(path).unwrap().len(), kinds)
}

#[test]
fn a_hundred_thousand_short_lived_threads_leave_a_bounded_preamble() {
    // One malloc arena: otherwise glibc makes more as threads contend, at moments that vary
    // from run to run, and resident memory says more about them than about what is kept.
    #[cfg(target_env = "gnu")]
    // SAFETY: `mallopt` only changes a setting of the allocator, before these threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("churn.lbf");
    let max_size = 64 << 10;
    let sink = BinaryFileSink::rotating(&base, Rotation::size(max_size)).unwrap();
    let (journal, guard) = Journal::builder()
        .ring_capacity(4 << 10)
        .policy(FullPolicy::Block)
        .sink(sink)
        .build()
        .unwrap();
    let cs = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "churn",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["n"],
    });
    let log = |n: u64| {
        journal.write(16, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 1);
            enc.value_u64(n);
        })
    };
    let churn = |from: u64, threads: u64| {
        for batch in (from..from + threads).step_by(16) {
            std::thread::scope(|s| {
                for n in batch..batch + 16 {
                    let log = &log;
                    s.spawn(move || log(n));
                }
            });
        }
    };
    // Warm up: the allocator, the worker's buffers and a few rotations.
    churn(0, 2_000);
    assert!(journal.flush());
    let rss_before = rss_kib();
    let threads = 100_000;
    churn(2_000, threads / 2);
    assert!(journal.flush());
    let rss_half = rss_kib();
    churn(2_000 + threads / 2, threads / 2);
    assert!(journal.flush());
    // The worker frees a gone thread's ring once it is empty, and says it ended a pass later.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !journal.stats().rings.is_empty() {
        assert!(Instant::now() < deadline, "rings still held");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(journal.flush());
    assert!(journal.flush());
    let rss_after = rss_kib();
    // A new file now: what it holds is the preamble (and perhaps a clock record).
    assert!(journal.reopen(Duration::from_secs(30)));
    assert!(journal.flush());
    let current = fs::canonicalize(&base).unwrap();
    let (bytes, kinds) = census(&current);
    let stats = journal.stats();
    drop(guard);
    // Every thread's end was written once, across the files.
    let mut ends = 0;
    for entry in fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "lbf") && !path.is_symlink() {
            ends += census(&path).1[13];
        }
    }
    println!(
        "churn: {threads} threads, preamble {bytes} bytes: {} thread names, {} callsites, \
         {} open spans; resident memory {rss_before} KiB before, {rss_half} KiB half way, {rss_after} KiB after; \
         {} records written, {} dropped",
        kinds[8], kinds[0], kinds[2], stats.records_written, stats.dropped
    );
    assert_eq!(kinds[1], 0, "no event in the new file");
    // The main thread is the only one still running that logged.
    assert!(kinds[8] <= 1, "thread names of gone threads: {}", kinds[8]);
    assert!(bytes < 1024, "preamble of {bytes} bytes");
    assert_eq!(ends, 2_000 + threads, "one ThreadEnd per thread");
    // Churn adds nothing that stays: a leak of 84 bytes per thread would show.
    assert!(
        rss_after < rss_half + (4 << 10),
        "resident memory grew from {rss_half} KiB to {rss_after} KiB over the second half"
    );
    assert!(
        rss_after < rss_before + (8 << 10),
        "resident memory grew from {rss_before} KiB to {rss_after} KiB"
    );
}
