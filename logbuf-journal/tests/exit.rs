//! [`flush_at_exit`]: a journal whose guard is never dropped still gets everything logged
//! before `std::process::exit` written, by the exiting thread waiting on the worker, which is
//! still running; the wait is bounded; journals whose worker stopped cost nothing; a
//! registration racing with the exit does not hang it. Each case runs in a child process:
//! this test binary started again with `LOGBUF_EXIT_CHILD` naming what the child does.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use logbuf_journal::exit::{DEFAULT_SHUTDOWN_TIMEOUT, flush_at_exit};
use logbuf_journal::file::FileReader;
use logbuf_journal::sink::Entry;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Record, Value};
use logbuf_journal::{FullPolicy, Journal, Sink};

/// Events each of the child's threads logs before the exit.
const EVENTS: u64 = 20_000;
/// Threads logging in the child, besides the one that exits.
const THREADS: u64 = 3;
/// The exit handler's bound in the slow-sink child.
const SLOW_BOUND: Duration = Duration::from_millis(500);
/// How long the slow sink takes to write one entry: far longer than any bound.
const SLOW_WRITE: Duration = Duration::from_secs(600);
/// A bound the children never get near unless the handler waits on a stopped worker or a
/// slow sink for the whole timeout it was given.
const LOOSE: Duration = Duration::from_secs(60);

fn callsite(journal: &Journal) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Error,
        target: "exit",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["thread", "seq"],
    })
}

fn log(journal: &Journal, cs: u64, thread: u64, seq: u64) {
    journal.write(24, |enc, at| {
        enc.event(cs, at.time, at.thread, None, 2);
        enc.value_u64(thread);
        enc.value_u64(seq);
    });
}

/// (thread, seq) of every event in the file; fails on damage.
fn decode(path: &Path) -> Vec<(u64, u64)> {
    let mut reader = FileReader::open(path).unwrap();
    let mut events = Vec::new();
    while let Some(record) = reader.next_record() {
        if let Record::Event(e) = record.unwrap() {
            match e.values[..] {
                [Value::U64(t), Value::U64(s)] => events.push((t, s)),
                ref other => panic!("unexpected values {other:?}"),
            }
        }
    }
    assert!(reader.stats().is_clean(), "{:?}", reader.stats());
    events
}

/// A sink that takes [`SLOW_WRITE`] to write anything: a worker stuck on a slow disk.
struct Slow;

impl Sink for Slow {
    fn write(&mut self, _entry: Entry<'_>) -> io::Result<()> {
        std::thread::sleep(SLOW_WRITE);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Says on stdout that the child is about to exit, for the parent to time the exit from.
/// Says when the child calls `exit` (on the system clock, which the parent reads too: the
/// parent may read the line late, on a busy machine), then calls it.
fn exiting(code: i32) -> ! {
    println!("exiting at {}", unix_nanos());
    std::process::exit(code);
}

fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// What the child does, chosen by the parent.
fn child(role: &str, path: &Path) {
    match role {
        "busy" => {
            // Several threads log; the last events come from the thread that exits at once
            // after writing them, while the worker still has most of the work to do.
            let (journal, guard) = Journal::builder()
                .policy(FullPolicy::Block)
                .ring_capacity(64 << 10)
                .file(path)
                .unwrap()
                .build()
                .unwrap();
            std::mem::forget(guard);
            assert!(flush_at_exit(&journal, DEFAULT_SHUTDOWN_TIMEOUT));
            let cs = callsite(&journal);
            let threads: Vec<_> = (1..=THREADS)
                .map(|t| {
                    let journal = journal.clone();
                    std::thread::spawn(move || {
                        for seq in 0..EVENTS {
                            log(&journal, cs, t, seq);
                        }
                    })
                })
                .collect();
            for seq in 0..EVENTS {
                log(&journal, cs, 0, seq);
            }
            for thread in threads {
                thread.join().unwrap();
            }
            exiting(7);
        }
        "two-journals" => {
            let mut journals = Vec::new();
            for (t, file) in ["a.lbf", "b.lbf"].into_iter().enumerate() {
                let (journal, guard) = Journal::builder()
                    .file(path.join(file))
                    .unwrap()
                    .build()
                    .unwrap();
                std::mem::forget(guard);
                flush_at_exit(&journal, DEFAULT_SHUTDOWN_TIMEOUT);
                journals.push((t as u64, journal));
            }
            for (t, journal) in &journals {
                log(journal, callsite(journal), *t, 0);
            }
            exiting(7);
        }
        "slow" => {
            let (journal, guard) = Journal::builder()
                .sink(Slow)
                .shutdown_timeout(SLOW_BOUND)
                .build()
                .unwrap();
            std::mem::forget(guard);
            flush_at_exit(&journal, SLOW_BOUND);
            log(&journal, callsite(&journal), 0, 0);
            exiting(5);
        }
        "stopped" => {
            // The guard is dropped before the exit: the worker has stopped, and the handler
            // must not wait the (long) timeout for it.
            let (journal, guard) = Journal::builder().file(path).unwrap().build().unwrap();
            flush_at_exit(&journal, 2 * LOOSE);
            log(&journal, callsite(&journal), 0, 0);
            drop(guard);
            exiting(4);
        }
        "racing" => {
            let (journal, guard) = Journal::builder().file(path).unwrap().build().unwrap();
            std::mem::forget(guard);
            flush_at_exit(&journal, DEFAULT_SHUTDOWN_TIMEOUT);
            // Another thread registers journals (stopped ones: flushing them costs nothing)
            // as fast as it can while this one exits.
            let (stopped, stopped_guard) = Journal::builder().build().unwrap();
            drop(stopped_guard);
            let (started, running) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for n in 0..1_000_000u32 {
                    flush_at_exit(&stopped, 2 * LOOSE);
                    if n == 1000 {
                        started.send(()).unwrap();
                    }
                }
            });
            running.recv().unwrap();
            log(&journal, callsite(&journal), 0, 0);
            exiting(3);
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn child_entry() {
    if let (Some(role), Some(path)) = (
        std::env::var_os("LOGBUF_EXIT_CHILD"),
        std::env::var_os("LOGBUF_EXIT_PATH"),
    ) {
        child(role.to_str().unwrap(), Path::new(&path));
    }
}

/// What became of a child: its exit code, its stderr, and how long it took from saying it
/// was exiting to being gone.
struct Ended {
    code: Option<i32>,
    stderr: String,
    exit_took: Duration,
}

fn run_child(role: &str, path: &Path) -> Ended {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("LOGBUF_EXIT_CHILD", role)
        .env("LOGBUF_EXIT_PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "no `exiting` line");
        if line.contains("exiting") {
            break;
        }
    }
    let exit_at: u128 = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|t| t.parse().ok())
        .expect("`exiting at NANOS`");
    let out = child.wait_with_output().unwrap();
    let exit_took = Duration::from_nanos(unix_nanos().saturating_sub(exit_at) as u64);
    Ended {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit_took,
    }
}

fn temp_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exit.lbf");
    (dir, path)
}

#[test]
fn exit_writes_everything_logged_while_the_worker_still_runs() {
    let (_dir, path) = temp_file();
    let ended = run_child("busy", &path);
    assert_eq!(ended.code, Some(7), "{}", ended.stderr);
    let mut events = decode(&path);
    events.sort_unstable();
    let expected: Vec<(u64, u64)> = (0..=THREADS)
        .flat_map(|t| (0..EVENTS).map(move |seq| (t, seq)))
        .collect();
    assert_eq!(events.len(), expected.len());
    assert!(events == expected, "events lost or repeated");
}

#[test]
fn exit_flushes_every_registered_journal() {
    let dir = tempfile::tempdir().unwrap();
    let ended = run_child("two-journals", dir.path());
    assert_eq!(ended.code, Some(7), "{}", ended.stderr);
    assert_eq!(decode(&dir.path().join("a.lbf")), [(0, 0)]);
    assert_eq!(decode(&dir.path().join("b.lbf")), [(1, 0)]);
}

#[test]
fn exit_waits_for_a_stuck_worker_at_most_the_timeout() {
    let (_dir, path) = temp_file();
    let ended = run_child("slow", &path);
    assert_eq!(ended.code, Some(5), "{}", ended.stderr);
    // The handler waited for the flush (it cannot complete: the sink takes ten minutes)...
    assert!(ended.exit_took >= SLOW_BOUND, "{:?}", ended.exit_took);
    // ... and gave up after the bound, far from the sink's ten minutes.
    assert!(ended.exit_took < LOOSE, "{:?}", ended.exit_took);
}

#[test]
fn exit_after_the_guard_was_dropped_does_not_wait() {
    let (_dir, path) = temp_file();
    let ended = run_child("stopped", &path);
    assert_eq!(ended.code, Some(4), "{}", ended.stderr);
    assert!(!ended.stderr.contains("panicked"), "{}", ended.stderr);
    // The handler's timeout is twice `LOOSE`: it returned at once.
    assert!(ended.exit_took < LOOSE, "{:?}", ended.exit_took);
    assert_eq!(decode(&path), [(0, 0)]);
}

#[test]
fn exit_while_another_thread_registers_does_not_hang() {
    let (_dir, path) = temp_file();
    let ended = run_child("racing", &path);
    assert_eq!(ended.code, Some(3), "{}", ended.stderr);
    assert!(ended.exit_took < LOOSE, "{:?}", ended.exit_took);
    assert_eq!(decode(&path), [(0, 0)]);
}

#[test]
fn the_default_bound_is_the_builders_default_shutdown_timeout() {
    let (_journal, guard) = Journal::builder().build().unwrap();
    let shown = format!("{guard:?}");
    assert!(
        shown.contains(&format!("timeout: {DEFAULT_SHUTDOWN_TIMEOUT:?}")),
        "{shown}"
    );
}
