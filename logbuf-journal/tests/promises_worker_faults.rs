//! RELIABILITY.md's promises about faults in the worker that `faults.rs` does not reach: a sink
//! that panics in `flush`, `reopen` or `sync` (not only `write`) is disabled and counted while
//! the other sinks go on; a sink that blocks delays the guard at most the shutdown timeout,
//! even with a thread that never stops logging; sink errors reach stderr at most once every
//! 10 s; and `std::process::exit` through `flush_at_exit` keeps what was logged when a sink
//! panics on the way. The stderr and exit cases run in a child process: this test binary
//! started again with `LOGBUF_PROMISES_CHILD` naming what the child does.

use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use logbuf_journal::exit::flush_at_exit;
use logbuf_journal::file::FileReader;
use logbuf_journal::sink::Entry;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, Value};
use logbuf_journal::{FullPolicy, Journal, Sink, Written};

/// Keeps the `seq` of every event it gets.
#[derive(Clone, Default)]
struct Seqs(Arc<Mutex<Vec<u64>>>);

impl Seqs {
    fn get(&self) -> Vec<u64> {
        self.0.lock().unwrap().clone()
    }
}

impl Sink for Seqs {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        if let Ok(Record::Event(e)) = entry.record()
            && let Some(Value::U64(seq)) = e.values.first()
        {
            self.0.lock().unwrap().push(*seq);
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a [`PanicsIn`] sink panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Flush,
    Reopen,
    Sync,
}

/// Counts its writes and panics the first time `method` is called.
struct PanicsIn {
    method: Method,
    writes: Arc<AtomicU64>,
}

impl PanicsIn {
    fn maybe_panic(&self, method: Method) {
        if self.method == method {
            panic!("a bug in a user's sink's {method:?} (test)");
        }
    }
}

impl Sink for PanicsIn {
    fn write(&mut self, _entry: Entry<'_>) -> io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.maybe_panic(Method::Flush);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.maybe_panic(Method::Sync);
        Ok(())
    }
    fn reopen(&mut self) -> io::Result<()> {
        self.maybe_panic(Method::Reopen);
        Ok(())
    }
}

fn callsite(journal: &Journal) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Error,
        target: "promises",
        name: "event",
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

/// A sink panicking in `method` (listed before a healthy one, so a panic that escaped would
/// keep the healthy one from being called) is disabled at once, counted, and the healthy sink
/// gets every event; flushes, reopens and the shutdown stay quick.
fn a_sink_panicking_in(method: Method) {
    let healthy = Seqs::default();
    let writes = Arc::new(AtomicU64::new(0));
    let (journal, guard) = Journal::builder()
        .sink(PanicsIn {
            method,
            writes: writes.clone(),
        })
        .sink(healthy.clone())
        .shutdown_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let cs = callsite(&journal);
    for seq in 0..100 {
        assert_eq!(log(&journal, cs, seq), Written::Committed);
    }
    let start = Instant::now();
    assert!(journal.flush_timeout(Duration::from_secs(10)), "{method:?}");
    if method == Method::Reopen {
        assert!(journal.reopen(Duration::from_secs(10)), "{method:?}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{method:?}: {:?}",
        start.elapsed()
    );
    let panics_before_shutdown = journal.stats().sink_panics;
    let writes_then = writes.load(Ordering::SeqCst);
    for seq in 100..200 {
        assert_eq!(log(&journal, cs, seq), Written::Committed);
    }
    assert!(journal.flush_timeout(Duration::from_secs(10)), "{method:?}");
    let start = Instant::now();
    drop(guard);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{method:?}: shutdown took {:?}",
        start.elapsed()
    );
    assert_eq!(healthy.get(), (0..200).collect::<Vec<_>>(), "{method:?}");
    assert_eq!(journal.stats().sink_panics, 1, "{method:?}");
    if method == Method::Sync {
        // `sync` is called at the shutdown: the sink wrote everything before it.
        assert_eq!(panics_before_shutdown, 0);
        assert!(writes.load(Ordering::SeqCst) >= 200);
    } else {
        // Disabled at its panic: no record written after it reached the sink.
        assert_eq!(panics_before_shutdown, 1, "{method:?}");
        assert_eq!(writes.load(Ordering::SeqCst), writes_then, "{method:?}");
    }
}

#[test]
fn a_sink_that_panics_in_flush_is_disabled_and_the_other_sinks_go_on() {
    a_sink_panicking_in(Method::Flush);
}

#[test]
fn a_sink_that_panics_in_reopen_is_disabled_and_the_other_sinks_go_on() {
    a_sink_panicking_in(Method::Reopen);
}

#[test]
fn a_sink_that_panics_in_sync_does_not_stop_the_shutdown_or_the_other_sinks() {
    a_sink_panicking_in(Method::Sync);
}

/// Blocks in `write` until released.
struct Stuck(Arc<AtomicBool>);

impl Sink for Stuck {
    fn write(&mut self, _entry: Entry<'_>) -> io::Result<()> {
        while !self.0.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stuck_sink_delays_the_guard_at_most_the_shutdown_timeout_while_a_thread_logs_on() {
    let release = Arc::new(AtomicBool::new(false));
    let (journal, guard) = Journal::builder()
        .sink(Stuck(release.clone()))
        .ring_capacity(64 * 1024)
        .policy(FullPolicy::Drop)
        .shutdown_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let cs = callsite(&journal);
    let stop = Arc::new(AtomicBool::new(false));
    let logged = Arc::new(AtomicU64::new(0));
    let logger = {
        let (journal, stop, logged) = (journal.clone(), stop.clone(), logged.clone());
        thread::spawn(move || {
            let mut seq = 0;
            while !stop.load(Ordering::SeqCst) {
                log(&journal, cs, seq);
                seq += 1;
                logged.store(seq, Ordering::SeqCst);
            }
        })
    };
    while logged.load(Ordering::SeqCst) < 10_000 {
        thread::yield_now();
    }
    // The worker is stuck in its first write; a flush gives up at its own timeout.
    assert!(!journal.flush_timeout(Duration::from_millis(200)));
    let start = Instant::now();
    drop(guard);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(10),
        "the guard took {took:?} with a 500 ms shutdown timeout"
    );
    // The logging thread was never held up: it is still logging after the guard gave up.
    let at_drop = logged.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while logged.load(Ordering::SeqCst) < at_drop + 1_000 {
        assert!(Instant::now() < deadline, "the logging thread stopped");
        thread::yield_now();
    }
    // And its writes are dropped now, counted, not left in rings nobody reads.
    assert_eq!(log(&journal, cs, u64::MAX), Written::Dropped);
    stop.store(true, Ordering::SeqCst);
    logger.join().unwrap();
    release.store(true, Ordering::SeqCst);
}

/// Fails every write.
struct Failing;

impl Sink for Failing {
    fn write(&mut self, _entry: Entry<'_>) -> io::Result<()> {
        Err(io::Error::other("the disk is gone (test)"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Panics in `flush`.
struct PanicsInFlush;

impl Sink for PanicsInFlush {
    fn write(&mut self, _entry: Entry<'_>) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        panic!("a bug in a user's sink's flush at exit (test)");
    }
}

fn child(role: &str, path: &Path) {
    match role {
        "errors" => {
            let (journal, guard) = Journal::builder().sink(Failing).build().unwrap();
            let cs = callsite(&journal);
            // 20 rounds over about 2 s: far more errors than lines allowed.
            for round in 0..20 {
                for seq in 0..50 {
                    log(&journal, cs, round * 50 + seq);
                }
                assert!(journal.flush());
                thread::sleep(Duration::from_millis(100));
            }
            let errors = journal.stats().sink_errors;
            drop(guard);
            println!("sink_errors {errors}");
        }
        "exit" => {
            let (journal, guard) = Journal::builder()
                .sink(PanicsInFlush)
                .file(path)
                .unwrap()
                .build()
                .unwrap();
            flush_at_exit(&journal, Duration::from_secs(30));
            std::mem::forget(guard);
            let cs = callsite(&journal);
            for seq in 0..1_000 {
                assert_eq!(log(&journal, cs, seq), Written::Committed);
            }
            std::process::exit(7);
        }
        _ => unreachable!("{role}"),
    }
}

#[test]
fn child_entry() {
    if let (Some(role), Some(path)) = (
        std::env::var_os("LOGBUF_PROMISES_CHILD"),
        std::env::var_os("LOGBUF_PROMISES_PATH"),
    ) {
        child(role.to_str().unwrap(), Path::new(&path));
    }
}

fn run_child(role: &str, path: &Path) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("LOGBUF_PROMISES_CHILD", role)
        .env("LOGBUF_PROMISES_PATH", path)
        .output()
        .unwrap()
}

#[test]
fn sink_errors_reach_stderr_at_most_once_every_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_child("errors", &dir.path().join("unused"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let errors: u64 = stdout
        .lines()
        .find_map(|l| l.split_once("sink_errors "))
        .and_then(|(_, n)| n.trim().parse().ok())
        .expect("the child's count");
    assert!(errors >= 1_000, "{errors} errors counted");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("sink error"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("the disk is gone (test)"), "{stderr}");
}

#[test]
fn exit_keeps_what_was_logged_when_a_sink_panics_in_its_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exit.lbf");
    let out = run_child("exit", &path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    let mut reader = FileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut seqs = Vec::new();
    while let Some(record) = reader.next_record() {
        if let Record::Event(e) = record.unwrap()
            && let Some(Value::U64(seq)) = e.values.first()
        {
            seqs.push(*seq);
        }
    }
    assert_eq!(seqs, (0..1_000).collect::<Vec<_>>(), "{stderr}");
    assert!(stderr.contains("panicked in `flush`"), "{stderr}");
}
