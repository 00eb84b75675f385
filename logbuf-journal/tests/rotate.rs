//! Rotating files: by size and by time with an injected clock (UTC and a DST zone), retention,
//! compression, the current name, reopen, errors, and binary files that decode on their own.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::America::New_York;
use logbuf_journal::Journal;
use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::rotate::{Current, ManualClock, RotatingFile, Rotation};
use logbuf_journal::sink::BinaryFileSink;
use logbuf_journal::sink::text::TextSink;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// File names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let set: BTreeSet<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    set.into_iter().collect()
}

fn text(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

/// A file with a manual clock, no link, no background work.
fn plain(dir: &Path, rotation: Rotation, clock: &ManualClock) -> RotatingFile {
    RotatingFile::new(
        dir.join("app.log"),
        rotation.clock(clock.clone()).current(Current::None),
    )
    .unwrap()
}

// === size ===

#[test]
fn size_rotation_fills_each_file_up_to_the_limit_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut file = plain(dir.path(), Rotation::size(100), &clock);
    for i in 0..25 {
        writeln!(file, "line {i:03}").unwrap(); // 9 bytes
    }
    // 100 / 9: eleven lines (99 bytes) fit, the twelfth would make 108.
    file.flush().unwrap();
    let files = names(dir.path());
    assert_eq!(
        files,
        [
            "app.2026-01-01T00-00-00.1.log",
            "app.2026-01-01T00-00-00.2.log",
            "app.2026-01-01T00-00-00.log"
        ]
    );
    let lines = |name: &str| text(dir.path(), name).lines().count();
    assert_eq!(lines("app.2026-01-01T00-00-00.log"), 11);
    assert_eq!(lines("app.2026-01-01T00-00-00.1.log"), 11);
    assert_eq!(lines("app.2026-01-01T00-00-00.2.log"), 3);
    assert_eq!(
        text(dir.path(), "app.2026-01-01T00-00-00.1.log")
            .lines()
            .next(),
        Some("line 011")
    );
}

#[test]
fn a_file_holds_exactly_the_limit_and_a_long_line_gets_a_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut file = plain(dir.path(), Rotation::size(20), &clock);
    file.write_all(b"123456789\n").unwrap();
    file.write_all(b"abcdefghi\n").unwrap(); // exactly 20: stays
    file.write_all(b"x\n").unwrap(); // 22: new file
    file.write_all(&[b'L'; 49]).unwrap(); // 2 + 49 > 20: new file
    file.write_all(b"\n").unwrap(); // the rest of the line: never split from it
    file.write_all(b"y\n").unwrap();
    file.flush().unwrap();
    let stem = "app.2026-01-01T00-00-00";
    assert_eq!(
        text(dir.path(), &format!("{stem}.log")),
        "123456789\nabcdefghi\n"
    );
    assert_eq!(text(dir.path(), &format!("{stem}.1.log")), "x\n");
    assert_eq!(
        text(dir.path(), &format!("{stem}.2.log")),
        format!("{}\n", "L".repeat(49))
    );
    assert_eq!(text(dir.path(), &format!("{stem}.3.log")), "y\n");
    assert_eq!(names(dir.path()).len(), 4);
}

// === time ===

/// Writes a line holding the time at each time of `times`.
fn write_at(file: &mut RotatingFile, clock: &ManualClock, times: &[&str]) {
    for t in times {
        clock.set(at(t));
        writeln!(file, "{t}").unwrap();
    }
    file.flush().unwrap();
}

fn contents(dir: &Path) -> Vec<(String, Vec<String>)> {
    names(dir)
        .into_iter()
        .map(|n| {
            let lines = text(dir, &n).lines().map(str::to_owned).collect();
            (n, lines)
        })
        .collect()
}

fn expect(dir: &Path, expected: &[(&str, &[&str])]) {
    let expected: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(n, lines)| (n.to_string(), lines.iter().map(|l| l.to_string()).collect()))
        .collect();
    assert_eq!(contents(dir), expected);
}

#[test]
fn minutely_rotation_in_utc() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-11-29T06:33:59Z"));
    let mut file = plain(dir.path(), Rotation::minutely(), &clock);
    write_at(
        &mut file,
        &clock,
        &[
            "2026-11-29T06:33:59.999999999Z",
            "2026-11-29T06:34:00Z",
            "2026-11-29T06:34:59Z",
            "2026-11-29T06:36:01Z",
        ],
    );
    expect(
        dir.path(),
        &[
            (
                "app.2026-11-29T06-33.log",
                &["2026-11-29T06:33:59.999999999Z"],
            ),
            (
                "app.2026-11-29T06-34.log",
                &["2026-11-29T06:34:00Z", "2026-11-29T06:34:59Z"],
            ),
            ("app.2026-11-29T06-36.log", &["2026-11-29T06:36:01Z"]),
        ],
    );
}

#[test]
fn hourly_rotation_in_utc() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-11-29T06:10:00Z"));
    let mut file = plain(dir.path(), Rotation::hourly(), &clock);
    write_at(
        &mut file,
        &clock,
        &[
            "2026-11-29T06:10:00Z",
            "2026-11-29T06:59:59Z",
            "2026-11-29T07:00:00Z",
            "2026-11-29T23:30:00Z",
            "2026-11-30T00:00:00Z",
        ],
    );
    expect(
        dir.path(),
        &[
            (
                "app.2026-11-29T06.log",
                &["2026-11-29T06:10:00Z", "2026-11-29T06:59:59Z"],
            ),
            ("app.2026-11-29T07.log", &["2026-11-29T07:00:00Z"]),
            ("app.2026-11-29T23.log", &["2026-11-29T23:30:00Z"]),
            ("app.2026-11-30T00.log", &["2026-11-30T00:00:00Z"]),
        ],
    );
}

#[test]
fn daily_rotation_in_utc() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-12-31T12:00:00Z"));
    let mut file = plain(dir.path(), Rotation::daily(), &clock);
    write_at(
        &mut file,
        &clock,
        &[
            "2026-12-31T12:00:00Z",
            "2026-12-31T23:59:59Z",
            "2027-01-01T00:00:00Z",
            "2027-01-03T08:00:00Z",
        ],
    );
    expect(
        dir.path(),
        &[
            (
                "app.2026-12-31.log",
                &["2026-12-31T12:00:00Z", "2026-12-31T23:59:59Z"],
            ),
            ("app.2027-01-01.log", &["2027-01-01T00:00:00Z"]),
            ("app.2027-01-03.log", &["2027-01-03T08:00:00Z"]),
        ],
    );
}

#[test]
fn hourly_rotation_across_spring_forward_in_new_york() {
    // 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT; there is no 02 hour.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-03-08T05:30:00Z"));
    let mut file = plain(dir.path(), Rotation::hourly().time_zone(New_York), &clock);
    write_at(
        &mut file,
        &clock,
        &[
            "2026-03-08T05:30:00Z", // 00:30 EST
            "2026-03-08T06:00:00Z", // 01:00 EST
            "2026-03-08T06:59:59Z", // 01:59:59 EST
            "2026-03-08T07:00:00Z", // 03:00 EDT
            "2026-03-08T08:00:00Z", // 04:00 EDT
        ],
    );
    expect(
        dir.path(),
        &[
            ("app.2026-03-08T00.log", &["2026-03-08T05:30:00Z"]),
            (
                "app.2026-03-08T01.log",
                &["2026-03-08T06:00:00Z", "2026-03-08T06:59:59Z"],
            ),
            ("app.2026-03-08T03.log", &["2026-03-08T07:00:00Z"]),
            ("app.2026-03-08T04.log", &["2026-03-08T08:00:00Z"]),
        ],
    );
}

#[test]
fn hourly_rotation_across_fall_back_in_new_york_never_collides() {
    // 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST; the 01 hour happens twice.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-11-01T04:30:00Z"));
    let mut file = plain(dir.path(), Rotation::hourly().time_zone(New_York), &clock);
    write_at(
        &mut file,
        &clock,
        &[
            "2026-11-01T04:30:00Z", // 00:30 EDT
            "2026-11-01T05:00:00Z", // 01:00 EDT
            "2026-11-01T05:59:59Z", // 01:59:59 EDT
            "2026-11-01T06:00:00Z", // 01:00 EST
            "2026-11-01T06:30:00Z", // 01:30 EST
            "2026-11-01T07:00:00Z", // 02:00 EST
        ],
    );
    expect(
        dir.path(),
        &[
            ("app.2026-11-01T00.log", &["2026-11-01T04:30:00Z"]),
            (
                "app.2026-11-01T01.1.log",
                &["2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z"],
            ),
            (
                "app.2026-11-01T01.log",
                &["2026-11-01T05:00:00Z", "2026-11-01T05:59:59Z"],
            ),
            ("app.2026-11-01T02.log", &["2026-11-01T07:00:00Z"]),
        ],
    );
}

#[test]
fn minutely_rotation_across_fall_back_in_new_york_never_collides() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-11-01T05:00:10Z"));
    let mut file = plain(dir.path(), Rotation::minutely().time_zone(New_York), &clock);
    write_at(
        &mut file,
        &clock,
        &[
            "2026-11-01T05:00:10Z", // 01:00 EDT
            "2026-11-01T05:59:30Z", // 01:59 EDT
            "2026-11-01T06:00:00Z", // 01:00 EST
            "2026-11-01T06:59:00Z", // 01:59 EST
        ],
    );
    expect(
        dir.path(),
        &[
            ("app.2026-11-01T01-00.1.log", &["2026-11-01T06:00:00Z"]),
            ("app.2026-11-01T01-00.log", &["2026-11-01T05:00:10Z"]),
            ("app.2026-11-01T01-59.1.log", &["2026-11-01T06:59:00Z"]),
            ("app.2026-11-01T01-59.log", &["2026-11-01T05:59:30Z"]),
        ],
    );
}

#[test]
fn daily_rotation_follows_local_midnight_across_both_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-03-08T04:59:59Z"));
    let mut file = plain(dir.path(), Rotation::daily().time_zone(New_York), &clock);
    write_at(
        &mut file,
        &clock,
        &[
            "2026-03-08T04:59:59Z", // 03-07 23:59:59 EST
            "2026-03-08T05:00:00Z", // 03-08 00:00 EST
            "2026-03-08T07:00:00Z", // 03-08 03:00 EDT: same day
            "2026-03-09T03:59:59Z", // 03-08 23:59:59 EDT
            "2026-03-09T04:00:00Z", // 03-09 00:00 EDT
            "2026-11-01T03:59:59Z", // 10-31 23:59:59 EDT
            "2026-11-01T04:00:00Z", // 11-01 00:00 EDT
            "2026-11-02T04:59:59Z", // 11-01 23:59:59 EST (a 25-hour day)
            "2026-11-02T05:00:00Z", // 11-02 00:00 EST
        ],
    );
    expect(
        dir.path(),
        &[
            ("app.2026-03-07.log", &["2026-03-08T04:59:59Z"]),
            (
                "app.2026-03-08.log",
                &[
                    "2026-03-08T05:00:00Z",
                    "2026-03-08T07:00:00Z",
                    "2026-03-09T03:59:59Z",
                ],
            ),
            ("app.2026-03-09.log", &["2026-03-09T04:00:00Z"]),
            ("app.2026-10-31.log", &["2026-11-01T03:59:59Z"]),
            (
                "app.2026-11-01.log",
                &["2026-11-01T04:00:00Z", "2026-11-02T04:59:59Z"],
            ),
            ("app.2026-11-02.log", &["2026-11-02T05:00:00Z"]),
        ],
    );
}

#[test]
fn time_and_size_together() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-11-29T06:00:00Z"));
    let mut file = plain(dir.path(), Rotation::hourly().max_size(30), &clock);
    for minute in 0..5 {
        clock.set(at(&format!("2026-11-29T06:{minute:02}:00Z")));
        file.write_all(format!("06:{minute:02} ...\n").as_bytes())
            .unwrap(); // 10 bytes
    }
    clock.set(at("2026-11-29T07:00:00Z"));
    file.write_all(b"07:00 ...\n").unwrap();
    file.flush().unwrap();
    expect(
        dir.path(),
        &[
            ("app.2026-11-29T06.1.log", &["06:03 ...", "06:04 ..."]),
            (
                "app.2026-11-29T06.log",
                &["06:00 ...", "06:01 ...", "06:02 ..."],
            ),
            ("app.2026-11-29T07.log", &["07:00 ..."]),
        ],
    );
}

#[test]
fn a_clock_set_back_never_reuses_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-11-29T07:10:00Z"));
    let mut file = plain(dir.path(), Rotation::hourly(), &clock);
    write_at(
        &mut file,
        &clock,
        &[
            "2026-11-29T07:10:00Z",
            "2026-11-29T08:10:00Z",
            "2026-11-29T07:50:00Z",
        ],
    );
    expect(
        dir.path(),
        &[
            ("app.2026-11-29T07.1.log", &["2026-11-29T07:50:00Z"]),
            ("app.2026-11-29T07.log", &["2026-11-29T07:10:00Z"]),
            ("app.2026-11-29T08.log", &["2026-11-29T08:10:00Z"]),
        ],
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// Random walks across the autumn transitions of zones with whole-hour, half-hour and no
    /// shifts: every line is in the file of its local period, and the files read in name order
    /// (stamp, then counter) give the lines in the order they were written (for minutely
    /// files, whose repeated hour interleaves by name, the same lines in some order).
    #[test]
    fn every_line_lands_in_the_file_of_its_local_period(
        zone in 0usize..5,
        period in 0usize..3,
        start in 0.0f64..1.0,
        steps in proptest::collection::vec(0.0f64..1.0, 1..40),
    ) {
        // Each zone with the instant its clocks go back (Kolkata has none).
        let zones = [
            (chrono_tz::America::New_York, "2026-11-01T06:00:00Z"),
            (chrono_tz::Europe::London, "2026-10-25T01:00:00Z"),
            (chrono_tz::Australia::Lord_Howe, "2026-04-04T15:00:00Z"),
            (chrono_tz::America::St_Johns, "2026-11-01T04:30:00Z"),
            (chrono_tz::Asia::Kolkata, "2026-11-01T00:00:00Z"),
        ];
        let (tz, transition) = zones[zone];
        // The longest step: walks of up to 40 steps that often cross the transition.
        let (rotation, format, max_step) = match period {
            0 => (Rotation::minutely(), "%Y-%m-%dT%H-%M", 600.0),
            1 => (Rotation::hourly(), "%Y-%m-%dT%H", 3.0 * 3600.0),
            _ => (Rotation::daily(), "%Y-%m-%d", 12.0 * 3600.0),
        };
        let seconds = |f: f64| TimeDelta::seconds((f * max_step) as i64 + 1);
        let mut now = at(transition) - seconds(start * 20.0);
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(now);
        let mut file = plain(dir.path(), rotation.time_zone(tz), &clock);
        let mut written = Vec::new();
        for step in steps {
            now += seconds(step);
            clock.set(now);
            let line = now.to_rfc3339();
            writeln!(file, "{line}").unwrap();
            written.push(line);
        }
        file.flush().unwrap();
        let mut files: Vec<(String, u64, String)> = names(dir.path())
            .into_iter()
            .map(|name| {
                let mid = name.strip_prefix("app.").unwrap().strip_suffix(".log").unwrap();
                let (stamp, counter) = match mid.rsplit_once('.') {
                    Some((stamp, c)) => (stamp.to_owned(), c.parse().unwrap()),
                    None => (mid.to_owned(), 0),
                };
                (stamp, counter, name)
            })
            .collect();
        files.sort();
        let mut read = Vec::new();
        for (stamp, _, name) in &files {
            for line in text(dir.path(), name).lines() {
                let t: DateTime<Utc> = line.parse().unwrap();
                let local = t.with_timezone(&tz).format(format).to_string();
                proptest::prop_assert_eq!(&local, stamp, "{} in {}", line, name);
                read.push(line.to_owned());
            }
        }
        if period == 0 {
            read.sort();
            written.sort();
        }
        proptest::prop_assert_eq!(read, written);
    }
}

// === retention ===

/// Files that look like the series but are not of it.
const UNRELATED: &[&str] = &[
    "app.log.bak",
    "app.notes.log",
    "other.2026-01-01T00.log",
    "app.2026-01-01T00.log.txt",
    "app.2026-13-01T00.log",
    "app.2026-01-01.log",
    "app.2026-01-01T00.01.log",
    "app.2026-01-01T00-00.log",
    // Not ASCII where a stamp has digits.
    "app.2026-01-01T0\u{e9}00.log",
    "app.2026-01-01T0\u{e9}.log",
];

#[test]
fn retention_by_count_deletes_exactly_the_oldest_files_of_the_series() {
    let dir = tempfile::tempdir().unwrap();
    for name in UNRELATED {
        fs::write(dir.path().join(name), "keep me").unwrap();
    }
    // Left by an earlier run: part of the series, the oldest.
    fs::write(dir.path().join("app.2025-12-31T23.log"), "old").unwrap();
    fs::write(dir.path().join("app.2025-12-31T22.log.gz"), "old").unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut file = plain(dir.path(), Rotation::hourly().keep_files(2), &clock);
    for hour in 0..6 {
        clock.set(at(&format!("2026-01-01T{hour:02}:30:00Z")));
        writeln!(file, "hour {hour}").unwrap();
    }
    file.wait_idle().unwrap();
    let mut expected: Vec<String> = UNRELATED.iter().map(|s| s.to_string()).collect();
    expected.extend(
        [
            "app.2026-01-01T03.log",
            "app.2026-01-01T04.log",
            "app.2026-01-01T05.log",
        ]
        .map(String::from),
    );
    expected.sort();
    assert_eq!(names(dir.path()), expected);
    for name in UNRELATED {
        assert_eq!(text(dir.path(), name), "keep me");
    }
    file.flush().unwrap();
    assert_eq!(text(dir.path(), "app.2026-01-01T05.log"), "hour 5\n");
}

#[test]
fn retention_by_age_deletes_files_whose_records_are_all_older() {
    let dir = tempfile::tempdir().unwrap();
    for name in UNRELATED {
        fs::write(dir.path().join(name), "keep me").unwrap();
    }
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly().max_age(Duration::from_secs(3 * 3600));
    let mut file = plain(dir.path(), rotation, &clock);
    for hour in 0..7 {
        clock.set(at(&format!("2026-01-01T{hour:02}:10:00Z")));
        writeln!(file, "hour {hour}").unwrap();
    }
    file.wait_idle().unwrap();
    // At 06:10, the records of T02 end at 03:00, more than three hours ago; T03's end at
    // 04:00, less.
    let mut expected: Vec<String> = UNRELATED.iter().map(|s| s.to_string()).collect();
    expected.extend((3..7).map(|h| format!("app.2026-01-01T{h:02}.log")));
    expected.sort();
    assert_eq!(names(dir.path()), expected);
}

#[test]
fn retention_with_minute_stamps_leaves_unrelated_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    // With minute stamps, `app.2026-01-01T00-00.log` is of the series.
    let unrelated: Vec<&str> = UNRELATED
        .iter()
        .copied()
        .filter(|n| *n != "app.2026-01-01T00-00.log")
        .collect();
    for name in &unrelated {
        fs::write(dir.path().join(name), "keep me").unwrap();
    }
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut file = plain(dir.path(), Rotation::minutely().keep_files(1), &clock);
    for minute in 0..4 {
        clock.set(at(&format!("2026-01-01T00:{minute:02}:00Z")));
        writeln!(file, "minute {minute}").unwrap();
    }
    file.wait_idle().unwrap();
    let mut expected: Vec<String> = unrelated.iter().map(|s| s.to_string()).collect();
    expected.extend(["app.2026-01-01T00-02.log", "app.2026-01-01T00-03.log"].map(String::from));
    expected.sort();
    assert_eq!(names(dir.path()), expected);
}

#[test]
fn keeping_no_rotated_file_still_keeps_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly()
        .keep_files(0)
        .max_age(Duration::ZERO)
        .compress(true);
    let mut file = plain(dir.path(), rotation, &clock);
    for hour in 0..3 {
        clock.set(at(&format!("2026-01-01T{hour:02}:30:00Z")));
        writeln!(file, "hour {hour}").unwrap();
        file.wait_idle().unwrap();
    }
    file.flush().unwrap();
    expect(dir.path(), &[("app.2026-01-01T02.log", &["hour 2"])]);
}

#[test]
fn fixed_name_with_compression_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.log");
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly()
        .clock(clock.clone())
        .current(Current::Fixed)
        .compress(true)
        .keep_files(2);
    let mut file = RotatingFile::new(&base, rotation).unwrap();
    for hour in 0..5 {
        clock.set(at(&format!("2026-01-01T{hour:02}:00:00Z")));
        writeln!(file, "hour {hour}").unwrap();
    }
    file.wait_idle().unwrap();
    file.flush().unwrap();
    assert_eq!(
        names(dir.path()),
        [
            "app.2026-01-01T02.log.gz",
            "app.2026-01-01T03.log.gz",
            "app.log"
        ]
    );
    assert_eq!(
        gunzip(&dir.path().join("app.2026-01-01T03.log.gz")),
        b"hour 3\n"
    );
    assert_eq!(text(dir.path(), "app.log"), "hour 4\n");
}

#[test]
fn local_time_names_follow_the_system_zone() {
    let dir = tempfile::tempdir().unwrap();
    let now = at("2026-07-01T12:34:56Z");
    let clock = ManualClock::new(now);
    let file = plain(dir.path(), Rotation::hourly().local(), &clock);
    let local = now.with_timezone(&chrono::Local).format("%Y-%m-%dT%H");
    assert_eq!(file.path(), dir.path().join(format!("app.{local}.log")));
}

// === compression ===

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn compressed_files_decompress_to_exactly_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut file = plain(dir.path(), Rotation::hourly().compress(true), &clock);
    let mut written: Vec<Vec<u8>> = vec![Vec::new(); 3];
    for (hour, bytes) in written.iter_mut().enumerate() {
        clock.set(at(&format!("2026-01-01T{hour:02}:00:00Z")));
        for i in 0..2000u32 {
            let line = format!("hour {hour} line {i} {}\n", i.wrapping_mul(2_654_435_761));
            file.write_all(line.as_bytes()).unwrap();
            bytes.extend_from_slice(line.as_bytes());
        }
    }
    drop(file); // finishes the compression of the rotated files
    assert_eq!(
        names(dir.path()),
        [
            "app.2026-01-01T00.log.gz",
            "app.2026-01-01T01.log.gz",
            "app.2026-01-01T02.log"
        ]
    );
    assert_eq!(
        gunzip(&dir.path().join("app.2026-01-01T00.log.gz")),
        written[0]
    );
    assert_eq!(
        gunzip(&dir.path().join("app.2026-01-01T01.log.gz")),
        written[1]
    );
    assert_eq!(
        fs::read(dir.path().join("app.2026-01-01T02.log")).unwrap(),
        written[2]
    );
}

#[test]
fn retention_counts_a_compressed_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly().compress(true).keep_files(1);
    let mut file = plain(dir.path(), rotation, &clock);
    for hour in 0..4 {
        clock.set(at(&format!("2026-01-01T{hour:02}:00:00Z")));
        writeln!(file, "hour {hour}").unwrap();
    }
    file.wait_idle().unwrap();
    assert_eq!(
        names(dir.path()),
        ["app.2026-01-01T02.log.gz", "app.2026-01-01T03.log"]
    );
    assert_eq!(
        gunzip(&dir.path().join("app.2026-01-01T02.log.gz")),
        b"hour 2\n"
    );
}

// === the current name ===

#[cfg(unix)]
#[test]
fn the_link_follows_the_active_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.log");
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly()
        .clock(clock.clone())
        .current(Current::Link);
    let mut file = RotatingFile::new(&base, rotation).unwrap();
    assert_eq!(
        fs::read_link(&base).unwrap(),
        Path::new("app.2026-01-01T00.log")
    );
    file.write_all(b"zero\n").unwrap();
    clock.set(at("2026-01-01T01:00:00Z"));
    file.write_all(b"one\n").unwrap();
    file.flush().unwrap();
    assert_eq!(
        fs::read_link(&base).unwrap(),
        Path::new("app.2026-01-01T01.log")
    );
    assert_eq!(fs::read_to_string(&base).unwrap(), "one\n");
    assert_eq!(file.path(), dir.path().join("app.2026-01-01T01.log"));
    assert_eq!(
        names(dir.path()),
        ["app.2026-01-01T00.log", "app.2026-01-01T01.log", "app.log"]
    );
}

#[cfg(unix)]
#[test]
fn a_regular_file_at_the_link_name_is_moved_aside_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.log");
    fs::write(&base, "from before\n").unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly().clock(clock).current(Current::Link);
    let file = RotatingFile::new(&base, rotation).unwrap();
    let files = names(dir.path());
    assert_eq!(files.len(), 3, "{files:?}");
    let moved: Vec<&String> = files
        .iter()
        .filter(|n| n.as_str() != "app.log" && dir.path().join(n) != file.path())
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(text(dir.path(), moved[0]), "from before\n");
    assert!(
        fs::symlink_metadata(&base)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn fixed_name_writes_the_base_path_and_renames_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.log");
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly()
        .clock(clock.clone())
        .current(Current::Fixed);
    let mut file = RotatingFile::new(&base, rotation).unwrap();
    assert_eq!(file.path(), base);
    file.write_all(b"zero\n").unwrap();
    clock.set(at("2026-01-01T01:00:00Z"));
    file.write_all(b"one\n").unwrap();
    clock.set(at("2026-01-01T02:00:00Z"));
    file.write_all(b"two\n").unwrap();
    file.flush().unwrap();
    expect(
        dir.path(),
        &[
            ("app.2026-01-01T00.log", &["zero"]),
            ("app.2026-01-01T01.log", &["one"]),
            ("app.log", &["two"]),
        ],
    );
}

// === reopen ===

#[test]
fn reopen_after_an_external_tool_moved_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.log");
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::never()
        .clock(clock.clone())
        .current(Current::Fixed);
    let mut file = RotatingFile::new(&base, rotation).unwrap();
    file.write_all(b"before\n").unwrap();
    fs::rename(&base, dir.path().join("app.log.1")).unwrap(); // what logrotate does
    file.write_all(b"still old\n").unwrap();
    file.reopen().unwrap();
    file.write_all(b"after\n").unwrap();
    // Reopened again without the file being moved: it is rotated, not truncated.
    file.reopen().unwrap();
    file.write_all(b"last\n").unwrap();
    file.flush().unwrap();
    expect(
        dir.path(),
        &[
            ("app.2026-01-01T00-00-00.log", &["after"]),
            ("app.log", &["last"]),
            ("app.log.1", &["before", "still old"]),
        ],
    );
}

#[test]
fn reopen_with_stamped_names_starts_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut file = plain(dir.path(), Rotation::daily(), &clock);
    file.write_all(b"a\n").unwrap();
    file.reopen().unwrap();
    file.write_all(b"b\n").unwrap();
    file.flush().unwrap();
    expect(
        dir.path(),
        &[
            ("app.2026-01-01.1.log", &["b"]),
            ("app.2026-01-01.log", &["a"]),
        ],
    );
}

// === errors ===

#[test]
fn a_rotation_into_a_removed_directory_makes_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut file = plain(&logs, Rotation::hourly(), &clock);
    file.write_all(b"zero\n").unwrap();
    file.flush().unwrap();
    let zero = fs::read(logs.join("app.2026-01-01T00.log")).unwrap();
    // The background thread's first look at the directory is done.
    file.wait_idle().unwrap();
    fs::remove_dir_all(&logs).unwrap();
    clock.set(at("2026-01-01T01:00:00Z"));
    file.write_all(b"kept\n").unwrap();
    file.write_all(b"kept too\n").unwrap();
    file.flush().unwrap();
    assert_eq!(zero, b"zero\n");
    expect(&logs, &[("app.2026-01-01T01.log", &["kept", "kept too"])]);
}

#[test]
fn a_rotation_that_fails_keeps_writing_the_current_file_and_tries_again_later() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let mut file = plain(&logs, Rotation::hourly(), &clock);
    file.write_all(b"zero\n").unwrap();
    file.flush().unwrap();
    // The background thread's first look at the directory is done.
    file.wait_idle().unwrap();
    // A file where the directory was: the directory cannot be made again.
    let moved = dir.path().join("old-logs");
    fs::rename(&logs, &moved).unwrap();
    fs::write(&logs, b"in the way").unwrap();
    clock.set(at("2026-01-01T01:00:00Z"));
    file.write_all(b"kept\n").unwrap();
    file.write_all(b"kept too\n").unwrap();
    // The failure is reported by the flush, once.
    assert!(file.flush().is_err());
    file.flush().unwrap();
    // The lines are in the file still open, under its new name.
    expect(
        &moved,
        &[("app.2026-01-01T00.log", &["zero", "kept", "kept too"])],
    );
    fs::remove_file(&logs).unwrap();
    // Not tried again at once: the current file still takes the lines.
    file.write_all(b"soon\n").unwrap();
    file.flush().unwrap();
    assert!(!logs.exists());
    std::thread::sleep(logbuf_journal::rotate::ROTATE_RETRY + Duration::from_millis(100));
    file.write_all(b"later\n").unwrap();
    file.flush().unwrap();
    expect(
        &moved,
        &[(
            "app.2026-01-01T00.log",
            &["zero", "kept", "kept too", "soon"],
        )],
    );
    expect(&logs, &[("app.2026-01-01T01.log", &["later"])]);
}

#[test]
fn a_base_without_a_file_name_is_an_error() {
    assert!(RotatingFile::new("/", Rotation::hourly()).is_err());
}

// === a text sink ===

#[test]
fn a_text_sink_writes_whole_lines_into_the_file_of_their_hour() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T06:00:00Z"));
    let rotation = Rotation::hourly()
        .max_size(200)
        .clock(clock.clone())
        .current(Current::None);
    let file = RotatingFile::new(dir.path().join("app.log"), rotation).unwrap();
    let sink = TextSink::new(file).without_time();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message", "n"]);
    let mut n = 0u64;
    for hour in [6, 7] {
        for minute in 0..12 {
            clock.set(at(&format!("2026-01-01T{hour:02}:{minute:02}:00Z")));
            journal.write(64, |enc, stamp| {
                enc.event(event, stamp.time, stamp.thread, None, 2);
                enc.value_str("line");
                enc.value_u64(n);
            });
            n += 1;
            // The sink hands its buffer to the file at each flush: one line here.
            assert!(journal.flush());
        }
    }
    drop(guard);
    let mut files = names(dir.path());
    // Twelve lines an hour do not fit 200 bytes: at least two files an hour.
    assert!(files.len() >= 4, "{files:?}");
    files.sort_by_key(|name| {
        let mid = name.trim_end_matches(".log");
        let counter = mid
            .rsplit_once('.')
            .and_then(|(_, c)| c.parse::<u64>().ok())
            .unwrap_or(0);
        (mid[..17].to_owned(), counter)
    });
    let mut seen = 0u64;
    for name in &files {
        let body = text(dir.path(), name);
        assert!(body.len() <= 200, "{name}: {} bytes", body.len());
        assert!(body.ends_with('\n'), "{name}");
        for line in body.lines() {
            assert!(
                line.ends_with(&format!("line n={seen}")),
                "{name}: {line:?}"
            );
            let hour = if seen < 12 { "T06" } else { "T07" };
            assert!(name.contains(hour), "{name}: {line:?}");
            seen += 1;
        }
    }
    assert_eq!(seen, n);
}

// === binary files ===

fn callsite(journal: &Journal, kind: CallsiteKind, name: &str, fields: Vec<&str>) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind,
        level: Level::Info,
        target: "rotate_test",
        name,
        module_path: None,
        file: None,
        line: None,
        fields,
    })
}

/// Every event of a file decoded alone: (message, thread name, span names with their values).
type Decoded = Vec<(String, Option<String>, Vec<(String, Vec<OwnedValue>)>)>;

fn decode(path: &Path) -> Decoded {
    let mut reader = Reader::open(path).unwrap();
    let mut events = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let message = format!("{:?}", event.event.values[0]);
        let spans = event
            .spans
            .iter()
            .map(|s| (s.callsite.name.clone(), s.values.clone()))
            .collect();
        events.push((message, event.thread_name.map(str::to_owned), spans));
    }
    assert!(reader.stats().is_clean(), "{path:?}: {:?}", reader.stats());
    assert_eq!(reader.orphans(), 0, "{path:?}");
    events
}

#[test]
fn every_rotated_binary_file_decodes_on_its_own_with_its_spans() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:10:00Z"));
    let rotation = Rotation::hourly()
        .clock(clock.clone())
        .current(Current::None);
    let sink = BinaryFileSink::rotating(dir.path().join("app.lbf"), rotation).unwrap();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let request = callsite(
        &journal,
        CallsiteKind::Span,
        "request",
        vec!["path", "status"],
    );
    let db = callsite(&journal, CallsiteKind::Span, "db", vec!["table"]);
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message"]);
    let log = |parent: Option<u64>, message: &str| {
        journal.write(64, |enc, stamp| {
            enc.event(event, stamp.time, stamp.thread, parent, 1);
            enc.value_str(message);
        });
    };
    // Hour 0: open `request` (status recorded later) and `db` inside it.
    journal.write(64, |enc, stamp| {
        enc.span_new(7, None, request, stamp.time, stamp.thread, 2);
        enc.value_str("/users");
        enc.value_empty();
    });
    journal.write(64, |enc, stamp| {
        enc.span_new(8, Some(7), db, stamp.time, stamp.thread, 1);
        enc.value_str("users");
    });
    log(Some(8), "query");
    journal.write(64, |enc, _| {
        enc.span_record(7, 2);
        enc.value_empty();
        enc.value_u64(200);
    });
    assert!(journal.flush());
    // Hour 1: both spans still open; `db` closes.
    clock.set(at("2026-01-01T01:10:00Z"));
    log(Some(8), "rows");
    journal.write(16, |enc, stamp| enc.span_close(8, stamp.time));
    log(Some(7), "respond");
    assert!(journal.flush());
    // Hour 2: only `request` is open.
    clock.set(at("2026-01-01T02:10:00Z"));
    log(Some(7), "done");
    journal.write(16, |enc, stamp| enc.span_close(7, stamp.time));
    log(None, "idle");
    drop(guard);

    let thread = std::thread::current().name().map(str::to_owned);
    assert!(thread.is_some());
    let request_values = vec![OwnedValue::Str("/users".into()), OwnedValue::U64(200)];
    let request_span = ("request".to_owned(), request_values);
    let db_span = ("db".to_owned(), vec![OwnedValue::Str("users".into())]);
    let msg = |m: &str| format!("{:?}", logbuf_journal::wire::Value::Str(m));
    assert_eq!(
        names(dir.path()),
        [
            "app.2026-01-01T00.lbf",
            "app.2026-01-01T01.lbf",
            "app.2026-01-01T02.lbf"
        ]
    );
    let hour0 = decode(&dir.path().join("app.2026-01-01T00.lbf"));
    let hour1 = decode(&dir.path().join("app.2026-01-01T01.lbf"));
    let hour2 = decode(&dir.path().join("app.2026-01-01T02.lbf"));
    // In hour 0 the query came before `status` was recorded.
    let request_before = (
        "request".to_owned(),
        vec![OwnedValue::Str("/users".into()), OwnedValue::Empty],
    );
    assert_eq!(
        hour0,
        [(
            msg("query"),
            thread.clone(),
            vec![request_before, db_span.clone()]
        )]
    );
    assert_eq!(
        hour1,
        [
            (
                msg("rows"),
                thread.clone(),
                vec![request_span.clone(), db_span]
            ),
            (msg("respond"), thread.clone(), vec![request_span.clone()]),
        ]
    );
    assert_eq!(
        hour2,
        [
            (msg("done"), thread.clone(), vec![request_span]),
            (msg("idle"), thread, vec![]),
        ]
    );
}

#[test]
fn binary_size_rotation_keeps_files_under_the_limit_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let limit = 4096;
    let rotation = Rotation::size(limit).clock(clock).current(Current::None);
    let sink = BinaryFileSink::rotating(dir.path().join("app.lbf"), rotation).unwrap();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let outer = callsite(&journal, CallsiteKind::Span, "outer", vec!["n"]);
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message"]);
    journal.write(64, |enc, stamp| {
        enc.span_new(1, None, outer, stamp.time, stamp.thread, 1);
        enc.value_u64(1);
    });
    let count = 2000;
    for i in 0..count {
        journal.write(64, |enc, stamp| {
            enc.event(event, stamp.time, stamp.thread, Some(1), 1);
            enc.value_str(&format!("event {i:05}"));
        });
    }
    drop(guard);
    let mut files = names(dir.path());
    assert!(files.len() > 5, "{files:?}");
    // Oldest first: the stamped name, then the counters in order.
    files.sort_by_key(|n| {
        let mid = n.trim_end_matches(".lbf");
        mid.rsplit_once('.')
            .and_then(|(_, c)| c.parse::<u64>().ok())
            .unwrap_or(0)
    });
    let mut seen = Vec::new();
    for name in &files {
        let path = dir.path().join(name);
        assert!(fs::metadata(&path).unwrap().len() <= limit, "{name}");
        for (message, thread, spans) in decode(&path) {
            assert!(thread.is_some());
            assert_eq!(spans, [("outer".to_owned(), vec![OwnedValue::U64(1)])]);
            seen.push(message);
        }
    }
    let expected: Vec<String> = (0..count)
        .map(|i| {
            format!(
                "{:?}",
                logbuf_journal::wire::Value::Str(&format!("event {i:05}"))
            )
        })
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn journal_reopen_starts_a_new_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::daily().clock(clock).current(Current::None);
    let sink = BinaryFileSink::rotating(dir.path().join("app.lbf"), rotation).unwrap();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message"]);
    let log = |message: &str| {
        journal.write(64, |enc, stamp| {
            enc.event(event, stamp.time, stamp.thread, None, 1);
            enc.value_str(message);
        });
    };
    log("before");
    assert!(journal.reopen(Duration::from_secs(60)));
    log("after");
    drop(guard);
    assert_eq!(
        names(dir.path()),
        ["app.2026-01-01.1.lbf", "app.2026-01-01.lbf"]
    );
    let messages = |name: &str| -> Vec<String> {
        decode(&dir.path().join(name))
            .into_iter()
            .map(|e| e.0)
            .collect()
    };
    let msg = |m: &str| format!("{:?}", logbuf_journal::wire::Value::Str(m));
    assert_eq!(messages("app.2026-01-01.lbf"), [msg("before")]);
    assert_eq!(messages("app.2026-01-01.1.lbf"), [msg("after")]);
}

#[test]
fn binary_files_with_a_fixed_name_survive_an_external_move_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("app.lbf");
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::daily().clock(clock).current(Current::Fixed);
    let sink = BinaryFileSink::rotating(&base, rotation).unwrap();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let span = callsite(&journal, CallsiteKind::Span, "job", vec!["id"]);
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message"]);
    let log = |message: &str| {
        journal.write(64, |enc, stamp| {
            enc.event(event, stamp.time, stamp.thread, Some(3), 1);
            enc.value_str(message);
        });
    };
    journal.write(64, |enc, stamp| {
        enc.span_new(3, None, span, stamp.time, stamp.thread, 1);
        enc.value_u64(42);
    });
    log("before");
    assert!(journal.flush());
    fs::rename(&base, dir.path().join("app.lbf.1")).unwrap(); // what logrotate does
    assert!(journal.reopen(Duration::from_secs(60)));
    log("after");
    drop(guard);
    assert_eq!(names(dir.path()), ["app.lbf", "app.lbf.1"]);
    let job = vec![("job".to_owned(), vec![OwnedValue::U64(42)])];
    let msg = |m: &str| format!("{:?}", logbuf_journal::wire::Value::Str(m));
    let thread = std::thread::current().name().map(str::to_owned);
    assert_eq!(
        decode(&dir.path().join("app.lbf.1")),
        [(msg("before"), thread.clone(), job.clone())]
    );
    assert_eq!(decode(&base), [(msg("after"), thread, job)]);
}

#[test]
fn a_binary_sink_whose_directory_was_removed_makes_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly()
        .clock(clock.clone())
        .current(Current::None);
    let sink = BinaryFileSink::rotating(logs.join("app.lbf"), rotation).unwrap();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message"]);
    let log = |message: &str| {
        journal.write(64, |enc, stamp| {
            enc.event(event, stamp.time, stamp.thread, None, 1);
            enc.value_str(message);
        });
        assert!(journal.flush());
    };
    log("zero");
    assert_eq!(journal.stats().sink_errors, 0);
    fs::remove_dir_all(&logs).unwrap();
    clock.set(at("2026-01-01T01:00:00Z"));
    log("kept");
    log("one");
    drop(guard);
    assert_eq!(journal.stats().sink_errors, 0);
    assert_eq!(names(&logs), ["app.2026-01-01T01.lbf"]);
    let messages: Vec<String> = decode(&logs.join("app.2026-01-01T01.lbf"))
        .into_iter()
        .map(|e| e.0)
        .collect();
    let str = |m: &str| format!("{:?}", logbuf_journal::wire::Value::Str(m));
    assert_eq!(messages, [str("kept"), str("one")]);
}

#[test]
fn compressed_binary_files_decode_after_decompression() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::hourly()
        .clock(clock.clone())
        .current(Current::None)
        .compress(true);
    let sink = BinaryFileSink::rotating(dir.path().join("app.lbf"), rotation).unwrap();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message"]);
    for hour in 0..2 {
        clock.set(at(&format!("2026-01-01T{hour:02}:00:00Z")));
        journal.write(64, |enc, stamp| {
            enc.event(event, stamp.time, stamp.thread, None, 1);
            enc.value_str("hello");
        });
        assert!(journal.flush());
    }
    drop(guard);
    assert_eq!(
        names(dir.path()),
        ["app.2026-01-01T00.lbf.gz", "app.2026-01-01T01.lbf"]
    );
    let plain = dir.path().join("unpacked.lbf");
    fs::write(&plain, gunzip(&dir.path().join("app.2026-01-01T00.lbf.gz"))).unwrap();
    assert_eq!(decode(&plain).len(), 1);
}

#[test]
fn interned_strings_are_repeated_in_every_rotated_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:00:00Z"));
    let rotation = Rotation::size(2048).clock(clock).current(Current::None);
    let sink = BinaryFileSink::rotating(dir.path().join("app.lbf"), rotation).unwrap();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let event = callsite(&journal, CallsiteKind::Event, "event", vec!["message"]);
    let done = journal.intern("request done");
    let count = 600;
    for i in 0..count {
        journal.write(64, |enc, stamp| {
            enc.event(event, stamp.time, stamp.thread, None, 1);
            if i % 2 == 0 {
                enc.value_interned(done);
            } else {
                enc.value_str(&format!("event {i:05}"));
            }
        });
    }
    drop(guard);
    let files = names(dir.path());
    assert!(files.len() > 3, "{files:?}");
    let mut seen = 0;
    for name in &files {
        let events = decode(&dir.path().join(name));
        // Each file resolves the interned message with its own copy of the definition.
        assert!(
            events
                .iter()
                .any(|(m, _, _)| *m == r#"Str("request done")"#),
            "{name}: {events:?}"
        );
        seen += events.len();
    }
    assert_eq!(seen, count);
}

#[test]
fn a_span_closed_with_its_times_is_not_reopened_in_the_next_file() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-01-01T00:10:00Z"));
    let rotation = Rotation::hourly()
        .clock(clock.clone())
        .current(Current::None);
    let sink = BinaryFileSink::rotating(dir.path().join("app.lbf"), rotation).unwrap();
    let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
    let span = callsite(&journal, CallsiteKind::Span, "request", vec![]);
    for id in [7, 8] {
        journal.write(64, |enc, stamp| {
            enc.span_new(id, None, span, stamp.time, stamp.thread, 0);
        });
    }
    journal.write(64, |enc, stamp| enc.span_close_times(7, stamp.time, 5, 9));
    assert!(journal.flush());
    // The next hour's file starts with the spans still open: 8, not 7; then 9 opens.
    clock.set(at("2026-01-01T01:10:00Z"));
    journal.write(64, |enc, stamp| {
        enc.span_new(9, None, span, stamp.time, stamp.thread, 0);
    });
    journal.write(64, |enc, stamp| enc.span_close_times(8, stamp.time, 1, 2));
    drop(guard);

    let path = dir.path().join("app.2026-01-01T01.lbf");
    let mut file = logbuf_journal::file::FileReader::open(&path).unwrap();
    let mut opened = Vec::new();
    while let Some(record) = file.next_record() {
        if let logbuf_journal::wire::Record::SpanNew(new) = record.unwrap() {
            opened.push(new.id);
        }
    }
    assert_eq!(opened, [8, 9]);
}

/// The numbers of the events in every journal file under `dir`.
fn event_numbers_in(dir: &std::path::Path) -> std::collections::BTreeSet<u64> {
    let mut found = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let mut reader = logbuf_journal::file::FileReader::open(&path).unwrap();
        while let Some(record) = reader.next_record() {
            if let logbuf_journal::wire::Record::Event(e) = record.unwrap() {
                found.insert(e.time);
            }
        }
    }
    found
}

#[test]
fn a_rotation_after_the_directory_was_removed_recreates_it_and_loses_nothing_after() {
    use logbuf_journal::Sink;
    use logbuf_journal::sink::{BinaryFileSink, Entry};
    use logbuf_journal::wire::{Event, Record, Value};

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("logs");
    let rotation = Rotation::size(4096).current(Current::None);
    let mut sink = BinaryFileSink::rotating(dir.join("app.lbf"), rotation).unwrap();
    let write = |sink: &mut BinaryFileSink, n: u64| {
        let bytes = postcard::to_allocvec(&Record::Event(Event {
            callsite: 1,
            time: n,
            thread: 1,
            parent: None,
            values: vec![Value::Str("forty bytes of text, to fill the file up")],
        }))
        .unwrap();
        sink.write(Entry::new(&bytes))
    };
    for n in 0..500 {
        write(&mut sink, n).unwrap();
    }
    sink.flush().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    // Records go on to the file still open (removed with its directory) until the next
    // rotation, which makes the directory again; none is refused.
    for n in 500..1_500 {
        write(&mut sink, n).unwrap();
    }
    sink.flush().unwrap();
    let found = event_numbers_in(&dir);
    // Every record from the first one in the new directory on is there.
    let first = *found.first().expect("files in the recreated directory");
    assert!(
        (500..700).contains(&first),
        "rotated within a file's worth: {first}"
    );
    assert_eq!(found, (first..1_500).collect());
}
