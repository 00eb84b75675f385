//! What a `log` call costs the logging thread, for logbuf-log and its peers, each writing to a
//! file: env_logger, ftlog, fast_log, spdlog-rs (asynchronous pool sink) and a plain
//! `Mutex<BufWriter<File>>` logger. Two more rows for reference: logbuf-log with the default
//! 1 MiB ring, and the same two records written with `Journal::write` directly, without the
//! `log` façade (the journal's share of logbuf-log's cost).
//!
//! ```text
//! chrt -f 10 cargo bench -p logbuf-benches --bench log_backends
//! # knobs: --calls N (100000 timed calls per message and round), --rounds N (5),
//! #        --warmup N (300000 calls per message first)
//! #        env LOGBUF_BENCH_CALLS, LOGBUF_BENCH_ROUNDS, LOGBUF_BENCH_WARMUP
//! ```
//!
//! `log` allows one logger per process, so the bench runs itself again once per back end and
//! round (`log_backends --case NAME`), in rotating order. Each child installs its back end,
//! warms it up, then times `info!("request done user_id={} latency_us={}", 42, 17.5)` and the
//! static `info!("request done")` on the logging thread, alternating in chunks of 1000 calls:
//! each call on its own with the cycle counter (percentiles, the timer's own median cost
//! subtracted) and chunks of calls as a whole (the mean of a chunk, no timer cost; the median
//! over chunks, so that a chunk in which the thread was preempted does not count). The parent
//! prints the medians over rounds, and for every back end the calls made and the records that
//! reached its file (logbuf's events read back, the peers' lines), so a back end that drops
//! records shows it.

use std::fmt::Write as _;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use logbuf_benches::{Table, cycles, fmt, machine, median, setting};
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{FullPolicy, Journal};

/// The back ends, as the `--case` names the children take.
const CASES: &[&str] = &[
    "logbuf-log",
    "logbuf-log-1MiB",
    "env_logger",
    "ftlog",
    "fast_log",
    "spdlog-rs",
    "bufwriter",
    "journal-write",
];

const MESSAGES: [&str; 2] = ["formatted", "static"];

/// Calls per chunk: the two messages alternate chunk by chunk.
const CHUNK: usize = 1_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--case") {
        Some(i) => {
            let case = args.get(i + 1).expect("--case wants a name");
            let dir = args
                .iter()
                .position(|a| a == "--dir")
                .and_then(|i| args.get(i + 1))
                .expect("--dir wants a folder");
            child(case, Path::new(dir));
        }
        None => parent(),
    }
}

// === the parent: run every case in every round, print medians ===

/// One child's figures for one message, in ns.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    mean: f64,
    p50: f64,
    p99: f64,
    p999: f64,
}

fn parent() {
    let calls = setting("calls", "LOGBUF_BENCH_CALLS", 100_000);
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 5);
    let warmup = setting("warmup", "LOGBUF_BENCH_WARMUP", 300_000);
    let exe = std::env::current_exe().expect("the bench's own path");
    let dir = tempfile::tempdir().expect("a temporary folder");
    println!("log back ends: ns per call on the logging thread");
    println!("machine: {}", machine());
    println!("{calls} timed calls per message, {rounds} rounds, one process per case and round\n");

    // results[case][message] = per-round figures
    let mut results: Vec<[Vec<Figures>; 2]> = vec![Default::default(); CASES.len()];
    let mut notes: Vec<String> = Vec::new();
    // counts[case] = (logged, written), summed over rounds
    let mut counts: Vec<(u64, u64)> = vec![(0, 0); CASES.len()];
    for round in 0..rounds {
        for k in 0..CASES.len() {
            let c = (k + round) % CASES.len();
            let case = CASES[c];
            let case_dir = dir.path().join(format!("{case}-{round}"));
            std::fs::create_dir_all(&case_dir).expect("a case folder");
            let out = Command::new(&exe)
                .args(["--case", case, "--dir"])
                .arg(&case_dir)
                .args(["--calls", &calls.to_string()])
                .args(["--warmup", &warmup.to_string()])
                .output()
                .expect("the bench can run itself");
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                panic!("case {case} failed: {}\n{stdout}\n{stderr}", out.status);
            }
            for line in stdout.lines() {
                if let Some(rest) = line.strip_prefix("COUNT ") {
                    let field = |name: &str| -> u64 {
                        rest.split(' ')
                            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                            .and_then(|v| v.parse().ok())
                            .expect("COUNT logged=N written=N")
                    };
                    counts[c].0 += field("logged");
                    counts[c].1 += field("written");
                } else if let Some(rest) = line.strip_prefix("RESULT ") {
                    let (m, figures) = parse_result(rest);
                    results[c][m].push(figures);
                } else if let Some(note) = line.strip_prefix("NOTE ")
                    && round == 0
                {
                    notes.push(format!("{case}: {note}"));
                }
            }
            let _ = std::fs::remove_dir_all(&case_dir);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }

    let mut table = Table::new([
        "back end",
        "message",
        "mean ns (median chunk)",
        "p50 ns",
        "p99 ns",
        "p99.9 ns",
    ]);
    let mut medians = vec![[Figures::default(); 2]; CASES.len()];
    for (c, case) in CASES.iter().enumerate() {
        for m in 0..2 {
            let runs = &results[c][m];
            let med = |f: fn(&Figures) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
            medians[c][m] = Figures {
                mean: med(|f| f.mean),
                p50: med(|f| f.p50),
                p99: med(|f| f.p99),
                p999: med(|f| f.p999),
            };
            let f = medians[c][m];
            table.row([
                (*case).to_owned(),
                MESSAGES[m].to_owned(),
                fmt(f.mean, 1),
                fmt(f.p50, 1),
                fmt(f.p99, 1),
                fmt(f.p999, 1),
            ]);
        }
    }
    println!("{}", table.render());

    let mut ratios = Table::new([
        "back end",
        "message",
        "best peer (mean)",
        "/ best peer, mean",
        "/ best peer, p50",
        "/ best peer, p99",
    ]);
    let ours: Vec<usize> = (0..CASES.len())
        .filter(|&c| CASES[c].starts_with("logbuf-log"))
        .collect();
    for &o in &ours {
        for m in 0..2 {
            let us = medians[o][m];
            let best = |f: fn(&Figures) -> f64| {
                (0..CASES.len())
                    .filter(|c| !ours.contains(c) && CASES[*c] != "journal-write")
                    .map(|c| (f(&medians[c][m]), CASES[c]))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .expect("peers")
            };
            let (mean, name) = best(|f| f.mean);
            ratios.row([
                CASES[o].to_owned(),
                MESSAGES[m].to_owned(),
                name.to_owned(),
                fmt(us.mean / mean, 3),
                fmt(us.p50 / best(|f| f.p50).0, 3),
                fmt(us.p99 / best(|f| f.p99).0, 3),
            ]);
        }
    }
    println!("{}", ratios.render());
    let mut losses = Table::new(["back end", "calls (all rounds)", "records written", "lost"]);
    for (c, case) in CASES.iter().enumerate() {
        let (logged, written) = counts[c];
        losses.row([
            (*case).to_owned(),
            logged.to_string(),
            written.to_string(),
            logged.saturating_sub(written).to_string(),
        ]);
    }
    println!("{}", losses.render());
    for note in notes {
        println!("- {note}");
    }
}

fn parse_result(line: &str) -> (usize, Figures) {
    let mut message = None;
    let mut f = Figures::default();
    for pair in line.split_whitespace() {
        let (k, v) = pair.split_once('=').expect("key=value");
        match k {
            "message" => message = MESSAGES.iter().position(|m| *m == v),
            "mean" => f.mean = v.parse().expect("a number"),
            "p50" => f.p50 = v.parse().expect("a number"),
            "p99" => f.p99 = v.parse().expect("a number"),
            "p999" => f.p999 = v.parse().expect("a number"),
            _ => {}
        }
    }
    (message.expect("a message name"), f)
}

// === a child: one back end ===

/// What stops a back end at the end of a child and tells how it did.
type Finish = Box<dyn FnOnce() -> String>;

fn child(case: &str, dir: &Path) {
    let calls = setting("calls", "LOGBUF_BENCH_CALLS", 100_000);
    let warmup = setting("warmup", "LOGBUF_BENCH_WARMUP", 300_000);
    let path = dir.join("bench.log");
    let finish = install(case, &path);
    let call: fn(usize) = if case == "journal-write" {
        journal_call
    } else {
        log_call
    };
    log::set_max_level(log::LevelFilter::Info);

    let (overhead, _) = cycles::overhead(10_000);
    let ticks_per_ns = cycles::ticks_per_ns(50);
    // Warm up: callsite caches, channels, buffers, and every page of the rings (a process that
    // has logged for a while has them all mapped; a first lap would time page faults).
    for _ in 0..warmup.div_ceil(CHUNK) {
        run_batch(call, 0);
        run_batch(call, 1);
    }
    // Start the timed calls with the queues drained, as after a quiet moment.
    log::logger().flush();
    std::thread::sleep(std::time::Duration::from_millis(200));

    let mut samples = [
        Vec::with_capacity(calls + CHUNK),
        Vec::with_capacity(calls + CHUNK),
    ];
    let mut batch_means: [Vec<f64>; 2] = Default::default();
    let chunks = calls.div_ceil(CHUNK);
    for _ in 0..chunks {
        for m in 0..2 {
            run_chunk(call, m, &mut samples[m]);
            let t0 = Instant::now();
            run_batch(call, m);
            batch_means[m].push(t0.elapsed().as_nanos() as f64 / CHUNK as f64);
        }
    }
    log::logger().flush();
    let note = finish();
    // Every call, warm-up included: chunks of both messages, each chunk timed call by call
    // and then as a whole.
    let logged = (warmup.div_ceil(CHUNK) * 2 * CHUNK + chunks * 2 * 2 * CHUNK) as u64;
    let written = if case.starts_with("logbuf-log") || case == "journal-write" {
        events_in_journal(&path)
    } else {
        lines_under(dir)
    };
    println!("COUNT logged={logged} written={written}");
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    if bytes == 0 {
        let mut found = 0;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                found += e.metadata().map_or(0, |m| m.len());
            }
        }
        assert!(found > 0, "{case} wrote nothing under {}", dir.display());
    }
    for m in 0..2 {
        let s = &mut samples[m];
        s.sort_unstable();
        let at = |q: f64| {
            let i = ((s.len() as f64 * q) as usize).min(s.len() - 1);
            s[i].saturating_sub(overhead) as f64 / ticks_per_ns
        };
        println!(
            "RESULT message={} mean={:.2} p50={:.2} p99={:.2} p999={:.2}",
            MESSAGES[m],
            median(&mut batch_means[m]),
            at(0.5),
            at(0.99),
            at(0.999),
        );
    }
    let mut line = String::new();
    let _ = write!(line, "NOTE {note}");
    println!("{line}");
}

/// Events in a logbuf journal file.
fn events_in_journal(path: &Path) -> u64 {
    let mut reader = logbuf_journal::read::Reader::open(path).expect("open the journal");
    let mut events = 0;
    while let Some(event) = reader.next_event() {
        event.expect("read the journal");
        events += 1;
    }
    events
}

/// Lines of every file under `dir` (a peer may name or split its file its own way).
fn lines_under(dir: &Path) -> u64 {
    let mut lines = 0;
    for entry in std::fs::read_dir(dir).expect("the case folder").flatten() {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            lines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    lines
}

/// One chunk of calls, each timed on its own.
#[inline(never)]
fn run_chunk(call: fn(usize), message: usize, samples: &mut Vec<u64>) {
    for _ in 0..CHUNK {
        let t0 = cycles::start();
        call(message);
        let t1 = cycles::stop();
        samples.push(t1.wrapping_sub(t0));
    }
}

/// One chunk of calls, timed as a whole by the caller.
#[inline(never)]
fn run_batch(call: fn(usize), message: usize) {
    for _ in 0..CHUNK {
        call(message);
    }
}

/// The call every `log` back end is timed on.
fn log_call(message: usize) {
    if message == 0 {
        log::info!(
            "request done user_id={} latency_us={}",
            black_box(42),
            black_box(17.5)
        );
    } else {
        log::info!("request done");
    }
}

/// The journal and callsites of the `journal-write` case.
static DIRECT: OnceLock<(Journal, u64, u64)> = OnceLock::new();

/// The same two records written with `Journal::write` and the encoder, without `log`: the
/// journal's share of logbuf-log's cost.
fn journal_call(message: usize) {
    let Some((journal, formatted, fixed)) = DIRECT.get() else {
        return;
    };
    if message == 0 {
        journal.write(96, |enc, at| {
            enc.event(*formatted, at.time, at.thread, None, 1);
            enc.value_debug(format_args!(
                "request done user_id={} latency_us={}",
                black_box(42),
                black_box(17.5)
            ));
        });
    } else {
        journal.write(64, |enc, at| {
            enc.event(*fixed, at.time, at.thread, None, 1);
            enc.value_str("request done");
        });
    }
}

/// Installs `case` as the process's logger, writing to `path`.
fn install(case: &str, path: &Path) -> Finish {
    match case {
        "logbuf-log" => logbuf_log_case(path, 32 << 20),
        "logbuf-log-1MiB" => logbuf_log_case(path, 1 << 20),
        "journal-write" => {
            let (journal, guard) = Journal::builder()
                .file(path)
                .expect("a file")
                .ring_capacity(32 << 20)
                .policy(FullPolicy::Block)
                .build()
                .expect("a journal");
            let callsite = |name: &'static str| {
                journal.register_callsite(&Callsite {
                    id: 0,
                    kind: CallsiteKind::Event,
                    level: Level::Info,
                    target: "log_backends",
                    name,
                    module_path: Some("log_backends"),
                    file: Some(file!()),
                    line: Some(line!()),
                    fields: vec!["message"],
                })
            };
            let ids = (callsite("formatted"), callsite("static"));
            let _ = DIRECT.set((journal, ids.0, ids.1));
            // `log` stays without a logger; the flush after the warm-up goes to the journal.
            log::set_boxed_logger(Box::new(FlushJournal)).expect("installs");
            Box::new(move || {
                drop(guard);
                "Journal::write + Encoder, 32 MiB ring, no log façade (reference)".into()
            })
        }
        "env_logger" => {
            let file = File::create(path).expect("a file");
            env_logger::Builder::new()
                .filter_level(log::LevelFilter::Info)
                .target(env_logger::Target::Pipe(Box::new(file)))
                .write_style(env_logger::WriteStyle::Never)
                .init();
            Box::new(|| {
                "Target::Pipe(File), default format; it flushes the pipe on every record".into()
            })
        }
        "ftlog" => {
            let guard = ftlog::builder()
                .max_log_level(log::LevelFilter::Info)
                .unbounded()
                .root(ftlog::appender::FileAppender::new(path))
                .try_init()
                .expect("ftlog installs");
            Box::new(move || {
                drop(guard);
                "FileAppender, unbounded channel, default format".into()
            })
        }
        "fast_log" => {
            fast_log::init(
                fast_log::Config::new()
                    .file(path.to_str().expect("a UTF-8 path"))
                    .level(log::LevelFilter::Info)
                    .chan_len(Some(1_000_000)),
            )
            .expect("fast_log installs");
            Box::new(|| {
                if let Ok(wait) = fast_log::flush() {
                    wait.wait();
                }
                "file appender, channel of 1 000 000".into()
            })
        }
        "spdlog-rs" => {
            use spdlog::sink::{AsyncPoolSink, FileSink};
            let file = FileSink::builder()
                .path(path)
                .truncate(true)
                .build_arc()
                .expect("spdlog file sink");
            let pool = spdlog::ThreadPool::builder()
                .capacity(std::num::NonZeroUsize::new(1 << 20).expect("non-zero"))
                .build_arc()
                .expect("spdlog thread pool");
            let sink = AsyncPoolSink::builder()
                .sink(file)
                .thread_pool(pool)
                .build_arc()
                .expect("spdlog async sink");
            let logger = spdlog::Logger::builder()
                .sink(sink)
                .build_arc()
                .expect("spdlog logger");
            spdlog::log_crate_proxy().set_logger(Some(logger));
            spdlog::init_log_crate_proxy().expect("spdlog proxy installs");
            Box::new(|| {
                spdlog::default_logger().flush();
                "AsyncPoolSink over FileSink, queue of 2^20, through the log crate proxy".into()
            })
        }
        "bufwriter" => {
            let file = File::create(path).expect("a file");
            log::set_boxed_logger(Box::new(BufWriterLogger(Mutex::new(
                BufWriter::with_capacity(1 << 16, file),
            ))))
            .expect("installs");
            Box::new(|| "Mutex<BufWriter<File>> (64 KiB), unix time, level, target, message".into())
        }
        other => panic!("unknown case {other:?}; cases: {CASES:?}"),
    }
}

/// logbuf-log writing a binary file, with rings of `ring` bytes, waiting when a ring is full.
fn logbuf_log_case(path: &Path, ring: usize) -> Finish {
    let guard = logbuf_log::Builder::new()
        .parse_filters("info")
        .file(path)
        .ring_capacity(ring)
        .policy(FullPolicy::Block)
        .init()
        .expect("logbuf-log installs");
    Box::new(move || {
        let stats = guard.journal().stats();
        drop(guard);
        format!(
            "binary file, {} MiB ring, FullPolicy::Block (waits when full); dropped {}",
            ring >> 20,
            stats.dropped
        )
    })
}

/// Logs nothing; its `flush` flushes the `journal-write` case's journal.
struct FlushJournal;

impl log::Log for FlushJournal {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        false
    }

    fn log(&self, _: &log::Record<'_>) {}

    fn flush(&self) {
        if let Some((journal, _, _)) = DIRECT.get() {
            journal.flush();
        }
    }
}

/// The plainest logger that writes a file: format the line under a lock into a buffer.
struct BufWriterLogger(Mutex<BufWriter<File>>);

impl log::Log for BufWriterLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut w = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = writeln!(
            w,
            "{}.{:09} {} {}: {}",
            now.as_secs(),
            now.subsec_nanos(),
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {
        let _ = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .flush();
    }
}
