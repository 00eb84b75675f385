//! The panic hook gets everything logged before a panic to disk, with the panic itself, whether
//! the process then aborts or unwinds and exits without dropping the guard. Each case runs in a
//! child process: this test binary started again with `LOGBUF_PANIC_CHILD` set.

use std::path::Path;
use std::process::Command;

use logbuf_journal::Journal;
use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::wire::{Callsite, CallsiteKind, Level, Value};

const EVENTS: u64 = 500;
/// The signal `abort` raises on Linux.
#[cfg(unix)]
const SIGABRT: i32 = 6;

/// What the child does, chosen by the parent.
fn child(path: &Path, abort: bool) {
    let (journal, guard) = Journal::builder().file(path).unwrap().build().unwrap();
    // Nothing below drops the guard: only the hook can get the records out.
    std::mem::forget(guard);
    journal.install_panic_hook();
    if abort {
        // What `panic = "abort"` does: run the hook, then abort.
        let hooks = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            hooks(info);
            std::process::abort();
        }));
    }
    let cs = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "child",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["seq"],
    });
    let worker = std::thread::spawn(move || {
        for seq in 0..EVENTS {
            journal.write(16, |enc, at| {
                enc.event(cs, at.time, at.thread, None, 1);
                enc.value_u64(seq);
            });
        }
        panic!("boom after {EVENTS}");
    });
    let _ = worker.join();
    // Unwound: leave without running destructors.
    std::process::exit(3);
}

#[test]
fn child_entry() {
    if let Some(path) = std::env::var_os("LOGBUF_PANIC_CHILD") {
        child(
            Path::new(&path),
            std::env::var_os("LOGBUF_PANIC_ABORT").is_some(),
        );
    }
}

fn run_child(abort: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panic.lbf");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("LOGBUF_PANIC_CHILD", &path);
    if abort {
        cmd.env("LOGBUF_PANIC_ABORT", "1");
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The previous hook (the default one) still printed the panic.
    assert!(stderr.contains("boom after 500"), "{stderr}");
    if abort {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(SIGABRT), "{:?}", out.status);
        }
        #[cfg(not(unix))]
        assert!(!out.status.success(), "{:?}", out.status);
    } else {
        assert_eq!(out.status.code(), Some(3), "{:?}", out.status);
    }

    let mut reader = Reader::open(&path).unwrap();
    let (mut seqs, mut panics) = (Vec::new(), Vec::new());
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        match event.callsite.target.as_str() {
            "child" => {
                let Value::U64(seq) = event.event.values[0] else {
                    panic!("{event:?}")
                };
                seqs.push(seq);
            }
            "panic" => {
                assert_eq!(event.callsite.level, Level::Error);
                let values: Vec<OwnedValue> = event.event.values.iter().map(Into::into).collect();
                panics.push(values);
            }
            other => panic!("unexpected target {other}"),
        }
    }
    assert!(reader.stats().is_clean(), "{:?}", reader.stats());
    assert_eq!(seqs, (0..EVENTS).collect::<Vec<_>>());
    assert_eq!(panics.len(), 1);
    assert_eq!(
        panics[0][0],
        OwnedValue::Str(format!("boom after {EVENTS}"))
    );
    let OwnedValue::Debug(location) = &panics[0][1] else {
        panic!("{:?}", panics[0])
    };
    assert!(
        location.starts_with("logbuf-journal/tests/panic.rs:"),
        "{location}"
    );
}

#[test]
fn hook_writes_before_an_abort() {
    run_child(true);
}

#[test]
fn hook_writes_before_an_unwound_exit() {
    run_child(false);
}
