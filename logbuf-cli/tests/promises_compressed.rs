//! A compressed journal (`.lbf.gz`) that is damaged or cut short is a damaged journal: `cat`,
//! `stats` and `export --chrome` print what the compressed stream held before the damage, say
//! on one stderr line that the compressed stream is damaged, and exit with 3, as for a plain
//! journal cut short. None of them panics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flate2::Compression;
use flate2::write::GzEncoder;
use logbuf_journal::Journal;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};

fn logbuf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run logbuf")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = logbuf(args);
    let run = Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "panic: {}",
        run.stderr
    );
    run
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// A journal of 2 000 events over many frames.
fn journal(dir: &Path) -> PathBuf {
    let path = dir.join("app.lbf");
    let (journal, guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    let event = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "app",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["message", "n"],
    });
    for i in 0..2_000u64 {
        journal.write(96, |enc, at| {
            enc.event(event, at.time, at.thread, None, 2);
            enc.value_debug(format_args!("event number {i}"));
            enc.value_u64(i);
        });
        if i % 500 == 0 {
            journal.flush();
        }
    }
    drop(guard);
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Runs `cat` on `path` and checks that it exits 3 with one stderr line about the compressed
/// stream, printing a prefix of `whole`'s lines; returns how many lines it printed.
fn damaged(path: &Path, whole: &[&str]) -> usize {
    let r = run(&["cat", arg(path)]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stderr.contains(arg(path)), "names the file: {}", r.stderr);
    assert!(
        r.stderr.contains("compressed"),
        "says it is the compression: {}",
        r.stderr
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines, whole[..lines.len()], "a prefix of the whole file");
    for args in [
        vec!["stats", arg(path)],
        vec!["export", "--chrome", arg(path)],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("compressed"), "{args:?}: {}", r.stderr);
    }
    lines.len()
}

#[test]
fn a_compressed_journal_without_its_trailer_prints_every_event_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let plain = journal(dir.path());
    let whole = run(&["cat", arg(&plain)]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let whole: Vec<&str> = whole.stdout.lines().collect();
    assert_eq!(whole.len(), 2_000);
    let gz = gzip(&std::fs::read(&plain).unwrap());

    // The deflate stream is whole; only the 8-byte trailer (CRC-32 and size) is missing.
    let path = dir.path().join("no-trailer.lbf.gz");
    std::fs::write(&path, &gz[..gz.len() - 8]).unwrap();
    assert_eq!(damaged(&path, &whole), 2_000);

    // The trailer's checksum does not match.
    let mut bad_crc = gz.clone();
    let at = bad_crc.len() - 6;
    bad_crc[at] ^= 0xff;
    let path = dir.path().join("bad-crc.lbf.gz");
    std::fs::write(&path, &bad_crc).unwrap();
    assert_eq!(damaged(&path, &whole), 2_000);
}

#[test]
fn a_compressed_journal_cut_short_prints_what_came_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let plain = journal(dir.path());
    let whole = run(&["cat", arg(&plain)]);
    let whole: Vec<&str> = whole.stdout.lines().collect();
    let gz = gzip(&std::fs::read(&plain).unwrap());
    let path = dir.path().join("cut.lbf.gz");
    std::fs::write(&path, &gz[..gz.len() * 3 / 4]).unwrap();
    let printed = damaged(&path, &whole);
    assert!(
        printed > 0 && printed < 2_000,
        "{printed} of 2 000 events printed"
    );
}

#[test]
fn a_compressed_journal_whose_deflate_data_is_garbage_is_damage_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.lbf.gz");
    // A gzip header, then bytes that are no deflate stream.
    let mut bytes = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    bytes.extend(std::iter::repeat_n(0xffu8, 64));
    std::fs::write(&path, &bytes).unwrap();
    for args in [
        vec!["cat", arg(&path)],
        vec!["stats", arg(&path)],
        vec!["export", "--chrome", arg(&path)],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout.lines().filter(|l| l.contains("app")).count(), 0);
        assert!(r.stderr.contains("compressed"), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(arg(&path)), "{args:?}: {}", r.stderr);
    }
}
