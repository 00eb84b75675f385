//! The rotating binary sink when its file refuses writes: what the file did not take is kept
//! and written once it takes writes again, and what cannot be kept is counted.
//!
//! The refusal is real: a file-size limit (`RLIMIT_FSIZE`) set below the file's size makes
//! every write to it fail with `EFBIG` until the limit is raised again. The limit holds for the
//! whole process, so each case runs in a child process of its own. Unix only (`setrlimit`).
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

use logbuf_journal::file::FileReader;
use logbuf_journal::rotate::{Current, Rotation};
use logbuf_journal::sink::{BinaryFileSink, Entry, Sink};
use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, Value};

/// Runs `case` in a child process; returns the numbers it printed after `RESULT`.
fn in_child(case: &str, dir: &Path) -> Vec<u64> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("LOGBUF_FAULT_CHILD", case)
        .env("LOGBUF_FAULT_DIR", dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{case}: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split("RESULT ").nth(1))
        .unwrap_or_else(|| panic!("{case}: no result in {stdout}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn child_entry() {
    let (Some(case), Some(dir)) = (
        std::env::var_os("LOGBUF_FAULT_CHILD"),
        std::env::var_os("LOGBUF_FAULT_DIR"),
    ) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let result = match case.to_str() {
        Some("recovers") => refuse_then_recover(&dir, 20_000),
        Some("overflows") => refuse_then_recover(&dir, 100_000),
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

/// Sets the soft limit on the size of files this process writes.
fn limit_file_size(bytes: Option<u64>) {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `setrlimit` reads the struct it is given; `signal` with `SIG_IGN` installs no
    // handler code. Past the limit, writes then fail with `EFBIG` instead of raising `SIGXFSZ`.
    let rc = unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        libc::setrlimit(libc::RLIMIT_FSIZE, &limit)
    };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

fn event(i: u64) -> Vec<u8> {
    postcard::to_allocvec(&Record::Event(Event {
        callsite: 1,
        time: 1_000 + i,
        thread: 1,
        parent: None,
        values: vec![Value::U64(i), Value::Str("a few bytes of text")],
    }))
    .unwrap()
}

/// 1 000 events written, then `refused` more while the file takes nothing, then 1 000 after the
/// file takes writes again. Returns: events logged, events read back, whether they were read
/// back exactly once each and in order, errors while refused, records the sink counted as
/// lost, and damaged bytes plus torn tail bytes the reader met.
fn refuse_then_recover(dir: &Path, refused: u64) -> Vec<u64> {
    let rotation = Rotation::never().current(Current::None);
    let mut sink = BinaryFileSink::rotating(dir.join("app.lbf"), rotation).unwrap();
    let callsite = postcard::to_allocvec(&Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "faults",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["i", "text"],
    }))
    .unwrap();
    sink.write(Entry::new(&callsite)).unwrap();
    let total = 2_000 + refused;
    for i in 0..1_000 {
        sink.write(Entry::new(&event(i))).unwrap();
    }
    sink.flush().unwrap();
    let path = sink.path().to_path_buf();
    limit_file_size(Some(std::fs::metadata(&path).unwrap().len()));
    let mut errors = 0;
    for i in 1_000..1_000 + refused {
        errors += u64::from(sink.write(Entry::new(&event(i))).is_err());
    }
    errors += u64::from(sink.flush().is_err());
    limit_file_size(None);
    for i in 1_000 + refused..total {
        sink.write(Entry::new(&event(i))).unwrap();
    }
    // The first flush after the file recovered may still report the records lost meanwhile.
    let _ = sink.flush();
    sink.flush().unwrap();
    let lost = sink.lost_records();
    drop(sink);

    let mut reader = FileReader::open(&path).unwrap();
    let mut seen = Vec::new();
    while let Some(record) = reader.next_record() {
        if let Record::Event(e) = record.unwrap()
            && let Some(Value::U64(i)) = e.values.first()
        {
            seen.push(*i);
        }
    }
    let in_order = seen.windows(2).all(|w| w[0] < w[1]);
    let stats = reader.stats();
    vec![
        total,
        seen.len() as u64,
        u64::from(in_order),
        errors,
        lost,
        stats.damaged_bytes + stats.torn_tail_bytes,
    ]
}

#[test]
fn records_a_file_refused_are_written_once_it_takes_writes_again() {
    let dir = tempfile::tempdir().unwrap();
    let r = in_child("recovers", dir.path());
    let [total, seen, in_order, errors, lost, damaged] = r[..] else {
        panic!("{r:?}")
    };
    // 20 000 events of about 30 bytes: far more than the file's own buffer, within what the
    // sink keeps.
    assert!(errors > 0, "the file never refused a write: {r:?}");
    assert_eq!(lost, 0, "{r:?}");
    assert_eq!(seen, total, "every event once: {r:?}");
    assert_eq!(in_order, 1, "in order: {r:?}");
    assert_eq!(damaged, 0, "a clean file: {r:?}");
}

#[test]
fn records_a_file_refused_past_the_bound_are_counted_as_lost() {
    let dir = tempfile::tempdir().unwrap();
    let r = in_child("overflows", dir.path());
    let [total, seen, in_order, errors, lost, _] = r[..] else {
        panic!("{r:?}")
    };
    // 100 000 events, about 3 MiB: more than the sink keeps.
    assert!(errors > 0, "{r:?}");
    assert!(
        lost > 0,
        "past the bound, records are dropped and counted: {r:?}"
    );
    assert_eq!(seen + lost, total, "written + lost == logged: {r:?}");
    assert_eq!(in_order, 1, "{r:?}");
}
