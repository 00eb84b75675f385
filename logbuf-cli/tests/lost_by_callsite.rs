//! `logbuf stats` and `logbuf cat` say which callsites lost records, from the journal's
//! `DroppedCallsites` records (format 2.3), and what files older than that do not say.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use logbuf_journal::file::{FileHeader, FileWriter};
use logbuf_journal::wire::{
    Callsite, CallsiteKind, Clock, Dropped, DroppedCallsite, DroppedCallsites, Level, Record,
};
use serde_json::Value as Json;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_logbuf"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run logbuf");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../logbuf-journal/tests/golden")
        .join(name)
}

/// Three reports: thread 1 lost 140 records, 100 of `app::db` and 30 of `app::http` named;
/// thread 2 lost 25, 20 of `app::cache` and 5 of `app::db`; 2 were lost outside any thread's
/// ring, naming none.
fn crafted(path: &Path) {
    let header = FileHeader {
        pid: 7,
        program: "crafted".into(),
        clock: Clock {
            ticks: 0,
            unix_nanos: 1_764_000_000_000_000_000,
        },
    };
    let mut writer = FileWriter::new(File::create(path).unwrap(), &header).unwrap();
    let mut put = |r: Record<'_>| {
        writer
            .write_record(&postcard::to_allocvec(&r).unwrap())
            .unwrap();
    };
    let site = |id, level, target, name, file, line| {
        Record::Callsite(Callsite {
            id,
            kind: CallsiteKind::Event,
            level,
            target,
            name,
            module_path: None,
            file,
            line,
            fields: vec!["message"],
        })
    };
    put(site(
        1,
        Level::Warn,
        "app::db",
        "event src/db.rs:42",
        Some("src/db.rs"),
        Some(42),
    ));
    put(site(
        2,
        Level::Info,
        "app::http",
        "event src/http.rs:7",
        Some("src/http.rs"),
        Some(7),
    ));
    put(site(
        3,
        Level::Debug,
        "app::cache",
        "cache miss",
        None,
        None,
    ));
    let mut report = |thread: u64, named: &[(u64, u64)], count: u64, time: u64| {
        put(Record::DroppedCallsites(DroppedCallsites {
            thread,
            callsites: named
                .iter()
                .map(|&(callsite, count)| DroppedCallsite { callsite, count })
                .collect(),
        }));
        put(Record::Dropped(Dropped {
            thread,
            count,
            first_time: time,
            last_time: time,
        }));
    };
    report(1, &[(1, 100), (2, 30)], 140, 10);
    report(2, &[(3, 20), (1, 5)], 25, 20);
    report(0, &[], 2, 30);
    writer.finish().unwrap();
}

#[test]
fn stats_lists_lost_events_by_callsite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lost.lbf");
    crafted(&path);
    let r = run(&["stats", "--top", "2", path.to_str().unwrap()]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let expected = "\nlost events by callsite (top 2 of 3 the journal's drop reports name):\n\
        \x20          105  WARN  app::db event src/db.rs:42 (src/db.rs:42)\n\
        \x20           30  INFO  app::http event src/http.rs:7 (src/http.rs:7)\n\
        \x20           20  of the other 1 callsite named\n\
        \x20           12  not named: of callsites past those a report names, span records after \
        a span's creation, writes outside a thread's ring\n\n";
    assert!(r.stdout.contains(expected), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("dropped:      167 events and 0 span records")
    );
}

#[test]
fn stats_json_lists_lost_events_by_callsite_and_what_older_files_do_not_say() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lost.lbf");
    crafted(&path);
    // The 2.2 golden file: 3 records dropped, callsites not named.
    let old = golden("v2.2.lbf");
    let r = run(&[
        "stats",
        "--json",
        "--top",
        "2",
        path.to_str().unwrap(),
        old.to_str().unwrap(),
    ]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let json: Json = serde_json::from_str(&r.stdout).unwrap();
    let dropped = &json["dropped"];
    let named: Vec<(String, Option<String>, u64)> = dropped["by_callsite"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["target"].as_str().unwrap().to_owned(),
                c["location"].as_str().map(str::to_owned),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("app::db".to_owned(), Some("src/db.rs:42".to_owned()), 105),
            ("app::http".to_owned(), Some("src/http.rs:7".to_owned()), 30),
        ]
    );
    assert_eq!(dropped["callsites_named"], 3);
    assert_eq!(dropped["by_other_callsites"], 20);
    assert_eq!(dropped["not_named"], 12);
    assert_eq!(dropped["before_format_2_3"], 3);
    assert_eq!(dropped["total"], 170);
    assert_eq!(105 + 30 + 20 + 12 + 3, 170);

    // The text says the same of the old file.
    let r = run(&["stats", old.to_str().unwrap()]);
    assert!(
        r.stdout.contains(
            "\nlost events by callsite:\n\
             \x20            3  in files older than format 2.3, which do not name callsites\n"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn cat_names_the_callsites_in_the_drop_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lost.lbf");
    crafted(&path);
    let r = run(&["cat", path.to_str().unwrap()]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(
        lines[0].ends_with(
            "140 records dropped on thread ThreadId(01) (ring full or record too large); \
             most from app::db src/db.rs:42 (100), app::http src/http.rs:7 (30), 10 more"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(
            "(ring full or record too large); most from app::cache cache miss (20), \
             app::db src/db.rs:42 (5)"
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(
            "2 records dropped outside any thread's ring (re-entrant writes or thread teardown)"
        ),
        "{}",
        lines[2]
    );

    let r = run(&["cat", "--json", path.to_str().unwrap()]);
    let first: Json = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        first["fields"]["callsites"],
        serde_json::json!([
            {"target": "app::db", "name": "event src/db.rs:42", "file": "src/db.rs", "line": 42, "count": 100},
            {"target": "app::http", "name": "event src/http.rs:7", "file": "src/http.rs", "line": 7, "count": 30},
        ])
    );

    // A file of format 2.2 names none: the line is as it was.
    let r = run(&["cat", golden("v2.2.lbf").to_str().unwrap()]);
    assert!(
        r.stdout
            .contains("3 records dropped on thread main (ring full or record too large)\n"),
        "{}",
        r.stdout
    );
}
