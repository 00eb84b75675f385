//! A user's crate, built and run with cargo (the crate in `tests/fixtures/capture`, its
//! `Cargo.toml` written here with paths to this workspace's crates):
//!
//! - its program, which depends only on `logbuf-tracing`, `tracing` and `log`, sees a
//!   dependency's `log` records, laid out as `fmt` lays them out;
//! - `cargo test` captures what each test logs after `logbuf_tracing::init_test()` or
//!   `logbuf_log::init_test()`: a failing test's lines are shown with its failure, a passing
//!   test's lines nowhere.
//!
//! One test: it builds the crate (in a target directory of its own under cargo's
//! `CARGO_TARGET_TMPDIR`, kept between runs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The fixture crate in a temporary directory, with its manifest and the workspace's lock
/// file (the same versions of everything).
fn fixture() -> tempfile::TempDir {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = here.parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&here.join("tests/fixtures/capture"), dir.path());
    let path = |name: &str| workspace.join(name).display().to_string();
    let manifest = format!(
        r#"[package]
name = "capture"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
logbuf-tracing = {{ path = {tracing:?} }}
tracing = "0.1"
log = "0.4"

[dev-dependencies]
logbuf-log = {{ path = {log:?} }}

[workspace]
"#,
        tracing = path("logbuf-tracing"),
        log = path("logbuf-log"),
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    dir
}

fn cargo(dir: &Path, args: &[&str], rust_log: Option<&str>) -> Output {
    let target: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("drop_in-target");
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    match rust_log {
        Some(spec) => command.env("RUST_LOG", spec),
        None => command.env_remove("RUST_LOG"),
    };
    command.output().unwrap()
}

/// The output libtest shows for the failing test `name`.
fn section<'a>(stdout: &'a str, name: &str) -> &'a str {
    let header = format!("---- {name} stdout ----\n");
    let start = stdout
        .find(&header)
        .unwrap_or_else(|| panic!("no output for {name}:\n{stdout}"))
        + header.len();
    let rest = &stdout[start..];
    let end = [rest.find("\n---- "), rest.find("\nfailures:\n")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn a_users_crate_sees_log_records_and_cargo_test_captures_its_tests() {
    let dir = fixture();

    // The program: `log` records of a dependency, under their own target.
    let run = cargo(dir.path(), &["run", "--quiet"], None);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].ends_with(" INFO capture: from tracing answer=42"),
        "{stderr}"
    );
    assert!(
        lines[1].ends_with(" INFO my_dep::db: connected to pg"),
        "{stderr}"
    );

    // The tests: two of them fail on purpose.
    let test = cargo(
        dir.path(),
        &[
            "test",
            "--quiet",
            "--no-fail-fast",
            "--tests",
            "--",
            "--test-threads=4",
        ],
        Some("info"),
    );
    let stdout = String::from_utf8_lossy(&test.stdout);
    let stderr = String::from_utf8_lossy(&test.stderr);
    let all = format!("{stdout}\n{stderr}");
    assert!(!test.status.success(), "{all}");
    assert!(
        stdout.contains("test result: FAILED. 2 passed; 1 failed"),
        "{all}"
    );

    let tracing_fails = section(&stdout, "tracing_fails");
    for line in [
        " INFO with_tracing: FAILING-TRACING-LINE answer=42",
        " INFO my_dep::db: FAILING-BRIDGED-LINE",
        " WARN with_tracing: FAILING-THREAD-LINE",
    ] {
        assert!(tracing_fails.contains(line), "{line:?} in {tracing_fails}");
    }
    let log_fails = section(&stdout, "log_fails");
    assert!(
        log_fails.contains(" INFO with_log: FAILING-LOG-LINE user=\"ada\" n=3\n"),
        "{log_fails}"
    );
    // Each failing test shows its own lines only, and a passing test's lines show nowhere.
    assert!(!tracing_fails.contains("LOG-LINE"), "{tracing_fails}");
    assert!(!log_fails.contains("TRACING"), "{log_fails}");
    assert!(!all.contains("PASSING"), "{all}");
}
