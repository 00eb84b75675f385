//! The global setups (`Builder::init`, `init`) get a record logged just before the process
//! ends to its sink, though the guard is never dropped: `log::error!(...)` then
//! `std::process::exit(1)`, or `main` returning with the guard leaked, as env_logger does.
//!
//! This test has no harness (`harness = false`): its `main` is a program's `main`. Each case
//! runs this binary again with `LOGBUF_EXIT_CHILD` naming what the child's `main` does, and
//! checks what the child left behind.

use std::path::Path;
use std::process::{Command, Output};

use log::LevelFilter;
use logbuf_journal::Journal;
use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::wire::Level;

/// The message the child logs last.
const LAST_WORDS: &str = "cannot open the configuration, giving up";

/// A logger writing the file at `path`, installed globally.
fn init_file(path: &Path) -> logbuf_log::Guard {
    logbuf_log::Builder::new()
        .filter_level(LevelFilter::Info)
        .file(path)
        .init()
        .unwrap()
}

/// What the child's `main` does, chosen by the parent.
fn child(role: &str, path: &Path) {
    match role {
        "file-exit" => {
            std::mem::forget(init_file(path));
            log::error!(code = 1; "{LAST_WORDS}");
            std::process::exit(1);
        }
        "file-exit-guard-held" => {
            // The guard is alive on this stack when the process exits: exit runs no
            // destructor.
            let _guard = init_file(path);
            log::error!(code = 1; "{LAST_WORDS}");
            std::process::exit(1);
        }
        "file-return" => {
            // The guard kept in a static (here: leaked), and `main` returns.
            let _: &'static mut logbuf_log::Guard = Box::leak(Box::new(init_file(path)));
            log::error!(code = 1; "{LAST_WORDS}");
        }
        "shared-journal-exit" => {
            // A journal started elsewhere and given to the builder: `init` has it flushed
            // at exit too.
            let (journal, guard) = Journal::builder().file(path).unwrap().build().unwrap();
            std::mem::forget(guard);
            let guard = logbuf_log::Builder::new()
                .filter_level(LevelFilter::Info)
                .journal(journal)
                .init()
                .unwrap();
            std::mem::forget(guard);
            log::error!(code = 1; "{LAST_WORDS}");
            std::process::exit(1);
        }
        "init-exit" => {
            // `RUST_LOG` is unset: errors only, as text on standard error.
            std::mem::forget(logbuf_log::init().unwrap());
            log::error!(code = 1; "{LAST_WORDS}");
            std::process::exit(1);
        }
        other => panic!("unknown child role {other}"),
    }
}

fn run_child(role: &str, path: &Path) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .env("LOGBUF_EXIT_CHILD", role)
        .env("LOGBUF_EXIT_PATH", path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The (level, message, code) of every event in the file.
fn events(path: &Path) -> Vec<(Level, OwnedValue, OwnedValue)> {
    let mut reader = Reader::open(path).unwrap();
    let mut events = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let values: Vec<OwnedValue> = event.event.values.iter().map(OwnedValue::from).collect();
        assert_eq!(event.callsite.fields, ["message", "code"], "{values:?}");
        events.push((event.callsite.level, values[0].clone(), values[1].clone()));
    }
    assert!(reader.stats().is_clean(), "{:?}", reader.stats());
    events
}

/// Runs the child `role` writing a file, checks its exit code and that the file holds the
/// error it logged last.
fn file_case(role: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exit.lbf");
    let out = run_child(role, &path);
    assert_eq!(out.status.code(), Some(code), "{role}: {out:?}");
    let last = (
        Level::Error,
        OwnedValue::Debug(LAST_WORDS.into()),
        OwnedValue::I64(1),
    );
    assert_eq!(events(&path), [last], "{role}: {out:?}");
}

fn builder_init_error_then_exit_keeps_the_error() {
    file_case("file-exit", 1);
}

fn builder_init_error_then_exit_with_the_guard_on_the_stack_keeps_the_error() {
    file_case("file-exit-guard-held", 1);
}

fn builder_init_error_then_main_returns_with_the_guard_leaked_keeps_the_error() {
    file_case("file-return", 0);
}

fn builder_init_on_a_given_journal_error_then_exit_keeps_the_error() {
    file_case("shared-journal-exit", 1);
}

fn init_error_then_exit_prints_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_child("init-exit", &dir.path().join("unused"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|line| line.contains(LAST_WORDS))
        .unwrap_or_else(|| panic!("no line with the error in {stderr:?}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("code=1"), "{line}");
}

fn main() {
    if let (Some(role), Some(path)) = (
        std::env::var_os("LOGBUF_EXIT_CHILD"),
        std::env::var_os("LOGBUF_EXIT_PATH"),
    ) {
        child(role.to_str().unwrap(), Path::new(&path));
        return;
    }
    let cases: [(&str, fn()); 5] = [
        (
            "builder_init_error_then_exit_keeps_the_error",
            builder_init_error_then_exit_keeps_the_error,
        ),
        (
            "builder_init_error_then_exit_with_the_guard_on_the_stack_keeps_the_error",
            builder_init_error_then_exit_with_the_guard_on_the_stack_keeps_the_error,
        ),
        (
            "builder_init_error_then_main_returns_with_the_guard_leaked_keeps_the_error",
            builder_init_error_then_main_returns_with_the_guard_leaked_keeps_the_error,
        ),
        (
            "builder_init_on_a_given_journal_error_then_exit_keeps_the_error",
            builder_init_on_a_given_journal_error_then_exit_keeps_the_error,
        ),
        (
            "init_error_then_exit_prints_the_error",
            init_error_then_exit_prints_the_error,
        ),
    ];
    // Every case runs, and the failures are listed at the end, as the harness would.
    let mut failed = Vec::new();
    for (name, case) in cases {
        match std::panic::catch_unwind(case) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(name);
            }
        }
    }
    assert!(failed.is_empty(), "failed: {failed:?}");
}
