//! What rotation costs the thread that writes: lines of text written into a plain buffered
//! file, into logbuf's `RotatingFile` (hourly, and by size with retention), and into
//! tracing-appender's hourly `RollingFileAppender`, in one run, rounds in rotating order.
//!
//! ```text
//! chrt -f 10 cargo bench -p logbuf-benches --bench rotation
//! # knobs: --lines N (300000), --rounds N (7)      env LOGBUF_BENCH_LINES, LOGBUF_BENCH_ROUNDS
//! ```
//!
//! Each round writes the lines into a fresh directory and stops the clock after the final
//! flush. Lines are about 100 bytes, like a `fmt` line with a few fields.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use logbuf_benches::{Table, median, setting};
use logbuf_journal::rotate::{Current, RotatingFile, Rotation};

/// The contenders: a name and a way to make a writer in a directory.
type Make = fn(&Path) -> Box<dyn Write>;

const CONTENDERS: &[(&str, Make)] = &[
    ("BufWriter<File>, no rotation", |dir| {
        Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(dir.join("app.log")).expect("create"),
        ))
    }),
    ("logbuf RotatingFile, hourly", |dir| {
        Box::new(
            RotatingFile::new(
                dir.join("app.log"),
                Rotation::hourly().current(Current::None),
            )
            .expect("rotating file"),
        )
    }),
    ("logbuf RotatingFile, hourly + link", |dir| {
        Box::new(RotatingFile::new(dir.join("app.log"), Rotation::hourly()).expect("rotating file"))
    }),
    ("logbuf RotatingFile, 4 MiB files, keep 2", |dir| {
        Box::new(
            RotatingFile::new(
                dir.join("app.log"),
                Rotation::hourly()
                    .max_size(4 << 20)
                    .keep_files(2)
                    .current(Current::None),
            )
            .expect("rotating file"),
        )
    }),
    ("tracing-appender rolling::hourly", |dir| {
        Box::new(tracing_appender::rolling::hourly(dir, "app.log"))
    }),
];

fn main() {
    let lines = setting("lines", "LOGBUF_BENCH_LINES", 300_000);
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 7);
    let text: Vec<String> = (0..1024)
        .map(|i| {
            format!(
                "2026-11-29T06:40:00.{i:06}Z  INFO app::http: request handled user_id={} latency_ms=0.25 ok=true\n",
                i * 7919
            )
        })
        .collect();
    let bytes: usize = (0..lines).map(|i| text[i % text.len()].len()).sum();
    let mut ns_per_line = vec![Vec::new(); CONTENDERS.len()];
    for round in 0..rounds {
        for k in 0..CONTENDERS.len() {
            let c = (round + k) % CONTENDERS.len();
            let dir = tempfile::tempdir().expect("tempdir");
            let mut w = (CONTENDERS[c].1)(dir.path());
            let start = Instant::now();
            for i in 0..lines {
                w.write_all(text[i % text.len()].as_bytes()).expect("write");
            }
            w.flush().expect("flush");
            let elapsed = start.elapsed();
            drop(w);
            ns_per_line[c].push(elapsed.as_nanos() as f64 / lines as f64);
        }
    }
    println!(
        "{lines} lines ({:.1} MB) per round, {rounds} rounds; medians\n",
        bytes as f64 / 1e6
    );
    let medians: Vec<f64> = ns_per_line.iter_mut().map(|v| median(v)).collect();
    let floor = medians[0];
    let appender = medians[CONTENDERS.len() - 1];
    let mut table = Table::new([
        "writer",
        "ns/line",
        "MB/s",
        "vs BufWriter<File>",
        "vs tracing-appender",
    ]);
    for ((name, _), m) in CONTENDERS.iter().zip(&medians) {
        table.row([
            name.to_string(),
            format!("{m:.1}"),
            format!("{:.0}", bytes as f64 / lines as f64 / m * 1e3),
            format!("{:.2}x", m / floor),
            format!("{:.2}x", m / appender),
        ]);
    }
    print!("{}", table.render());
}
