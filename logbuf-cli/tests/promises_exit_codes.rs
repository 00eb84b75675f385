//! The exit codes logbuf-cli/README.md promises, for every reading subcommand and option set
//! (`cli.rs` checks `cat`, `stats` and `export --chrome`): foreign input exits 2, a file that
//! cannot be read 1, a damaged header 3, a journal of a newer major format 2, each with one
//! stderr line naming the file and no panic; with several bad files the most severe wins
//! (1, then 2, then 3) whatever their order, and the good files beside them are still read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../logbuf-journal/tests/golden/v2.3.lbf")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run logbuf");
    if let Some(bytes) = stdin {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(bytes);
    }
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{args:?}: panic: {}",
        run.stderr
    );
    run
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// The bad inputs: (file, exit code, words of the message).
fn bad_inputs(dir: &Path) -> Vec<(PathBuf, i32, &'static str)> {
    let good = std::fs::read(golden()).unwrap();
    let text = dir.join("app.log");
    std::fs::write(&text, "2026-11-29T08:00:00Z INFO app: hello\n".repeat(20)).unwrap();
    let noise = dir.join("noise.lbf");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&noise, bytes).unwrap();
    let newer = dir.join("newer.lbf");
    let mut bytes = good.clone();
    bytes[8] = 9; // the header's major version
    std::fs::write(&newer, bytes).unwrap();
    let cut = dir.join("cut.lbf");
    std::fs::write(&cut, &good[..14]).unwrap();
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).unwrap();
    vec![
        (text, 2, "not a logbuf journal"),
        (noise, 2, "not a logbuf journal"),
        (newer, 2, "format 9.3 is not supported"),
        (cut, 3, "header is damaged or cut short"),
        (sub, 1, "is a directory"),
        (dir.join("missing.lbf"), 1, "no such file"),
    ]
}

#[test]
fn every_reading_subcommand_says_what_is_wrong_with_a_bad_file_and_exits_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    for (path, code, message) in bad_inputs(dir.path()) {
        let p = arg(&path);
        let mut commands = vec![
            vec!["cat", "--json", p],
            vec!["cat", "--level", "warn", "--threads", "--source", p],
            vec!["stats", "--json", p],
            vec!["stats", "--spans", p],
            vec!["stats", "--field", "latency", "--by", "span", p],
            vec!["stats", "--spans", "--html", arg(&html), p],
            vec!["export", "--chrome", p, "-o", arg(&html)],
        ];
        if code != 3 {
            // `follow` waits for a header still being written.
            commands.push(vec!["follow", p]);
        }
        for args in commands {
            let r = run(&args, None);
            assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
            assert!(
                r.stderr.contains(p),
                "{args:?} names the file: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn bad_bytes_on_standard_input_exit_as_a_bad_file_does() {
    let dir = tempfile::tempdir().unwrap();
    for (path, code, message) in bad_inputs(dir.path()) {
        let Ok(bytes) = std::fs::read(&path) else {
            continue; // the directory and the missing file have no bytes
        };
        for args in [
            vec!["cat", "-"],
            vec!["stats", "-"],
            vec!["export", "--chrome", "-"],
        ] {
            let r = run(&args, Some(&bytes));
            assert_eq!(r.code, code, "{args:?} < {path:?}: {}", r.stderr);
            assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        }
    }
    let r = run(&["cat", "-"], Some(b""));
    assert_eq!(r.code, 2, "empty standard input: {}", r.stderr);
}

#[test]
fn the_most_severe_problem_sets_the_exit_code_whatever_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let good = golden();
    let bad = bad_inputs(dir.path());
    let find = |code: i32| bad.iter().find(|(_, c, _)| *c == code).unwrap().0.clone();
    let (error, foreign, damaged) = (find(1), find(2), find(3));
    let whole = run(&["cat", arg(&good)], None);
    assert_eq!(whole.code, 0);
    for (files, code) in [
        (vec![&damaged, &foreign], 2),
        (vec![&foreign, &damaged], 2),
        (vec![&damaged, &error], 1),
        (vec![&error, &foreign, &damaged], 1),
        (vec![&damaged, &foreign, &error], 1),
        (vec![&damaged], 3),
    ] {
        let mut names: Vec<&str> = files.iter().map(|p| arg(p)).collect();
        names.push(arg(&good));
        for command in [vec!["cat"], vec!["stats"], vec!["stats", "--spans"]] {
            let mut args = command.clone();
            args.extend(&names);
            let r = run(&args, None);
            assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), files.len(), "{}", r.stderr);
            if command == ["cat"] {
                // The good file is still printed whole.
                assert_eq!(r.stdout, whole.stdout, "{args:?}");
            }
        }
    }
}
