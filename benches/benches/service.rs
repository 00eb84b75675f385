//! What a real HTTP service sees: requests per second, latency and CPU per request of an axum
//! server with tower-http's `TraceLayer` and an instrumented handler, under each logging
//! back end, loaded over loopback.
//!
//! ```text
//! cargo bench -p logbuf-benches --bench service
//! # env LOGBUF_SERVICE_SECS=5        seconds of measured load per run (after 1 s of warm-up)
//! #     LOGBUF_SERVICE_ROUNDS=3      rounds; each round runs every back end once, in turn
//! #     LOGBUF_SERVICE_CONNS=32      keep-alive connections of the load generator
//! #     LOGBUF_SERVICE_WARMUP_MS=1000
//! #     LOGBUF_SERVICE_BACKENDS=none,logbuf-bin   only these back ends
//! ```
//!
//! Each run is a fresh server process: this binary runs itself again with
//! `LOGBUF_SERVICE_SERVER=<back end>`. The server sets up the back end's subscriber, serves
//! `GET /orders/{id}` with axum on a tokio runtime of 2 worker threads (named `app-worker`) on
//! 127.0.0.1, and per request logs 4 events at INFO in 3 spans:
//!
//! - `TraceLayer` (span `request` at INFO; request and response events at INFO);
//! - the `#[instrument]`ed handler (span `order`): one event, then an `async` block in span
//!   `db_query` that yields to the runtime (so the span is entered and exited across an
//!   `.await`, and may resume on the other worker) and logs the second.
//!
//! The parent is the load generator: a single-threaded tokio runtime keeping
//! `LOGBUF_SERVICE_CONNS` keep-alive connections busy with a minimal HTTP/1.1 client, one
//! request in flight per connection; latency is timed per request into an HDR histogram.
//! Parent and server speak over the server's standard input and output: `start` and `stop`
//! bound the measured window (the server reads its threads' CPU times from
//! `/proc/self/task/*/stat` and its request count at each); closing stdin makes it shut down,
//! drop the logging guards (everything logged is then on disk), count the events in the
//! output file and report.
//!
//! Figures per request are over the measured window. CPU is grouped by thread: `app` (the
//! tokio workers, which log), `writer` (logbuf's `logbuf-journal` worker or
//! tracing-appender's worker; its figure includes the backlog written after `stop`, taken
//! from the process's total CPU time over the shutdown), and `total` (every thread of the
//! server, the same backlog included). The load generator runs on the same 2 cores, as wrk
//! would. Back ends:
//!
//! - `none`: no subscriber; `registry`: `Registry` and `EnvFilter` only (the floor of any
//!   subscriber);
//! - `fmt-lossy` / `fmt-block`: tracing-subscriber's `fmt` layer into tracing-appender's
//!   `non_blocking` writer to a file, lossy (its default) or not;
//! - `logbuf-bin`: `LogbufLayer` writing a binary file, default settings;
//!   `logbuf-bin-block`: the same with `FullPolicy::Block`; `logbuf-bin-enter-exit`: the same
//!   with `record_enter_exit(true)` set explicitly; `logbuf-text`: `LogbufLayer` with a
//!   `TextSink` writing text lines to a file;
//! - `fmt-json-lossy`: `fmt` with its JSON format into `non_blocking` (lossy);
//!   `logbuf-json`: `LogbufLayer` with a `JsonSink` writing JSON lines to a file.
//!
//! Every subscriber filters with `EnvFilter::new("info")`. Figures are medians over rounds;
//! ratios to `none` are medians of each round's ratio; event counts are sums over the rounds.
//! Events expected = requests served × 4; written = events read back from the file (binary:
//! events read by `logbuf_journal::read::Reader`; text: lines); dropped = the back end's own
//! count (`Journal::stats().dropped`, which counts every record dropped, span records too;
//! tracing-appender's `ErrorCounter`, lines); lost = expected - written. A run is flagged
//! when the events do not add up: fmt's written + dropped must equal expected; logbuf's
//! written must equal expected when nothing was dropped, and written + dropped must reach it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread;
use std::time::{Duration, Instant};

mod app;

use hdrhistogram::Histogram;
use logbuf_benches::{Table, fmt, fmt_ratio, median, setting};

use app::{BACKENDS, EVENTS_PER_REQUEST, Output, SERVED, count_events, count_lines, install};

/// The environment variable that makes this binary a server for one back end.
const SERVER_ENV: &str = "LOGBUF_SERVICE_SERVER";
/// The folder the server writes its log file into.
const DIR_ENV: &str = "LOGBUF_SERVICE_DIR";

fn main() {
    if let Ok(backend) = std::env::var(SERVER_ENV) {
        let dir = PathBuf::from(std::env::var(DIR_ENV).expect("LOGBUF_SERVICE_DIR is set"));
        server(&backend, &dir);
    } else {
        parent();
    }
}

// === the server ===

/// CPU time in clock ticks per thread group: app (tokio workers), writer, other.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    app: u64,
    writer: u64,
    other: u64,
}

impl Cpu {
    /// The threads of this process, now, from `/proc/self/task/*/stat`.
    fn sample() -> Self {
        let mut cpu = Cpu::default();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return cpu;
        };
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue; // the thread has exited
            };
            let Some((name, ticks)) = parse_stat(&stat) else {
                continue;
            };
            if name.starts_with("app-worker") {
                cpu.app += ticks;
            } else if name == "logbuf-journal" || name.starts_with("tracing-append") {
                cpu.writer += ticks;
            } else {
                cpu.other += ticks;
            }
        }
        cpu
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            app: self.app.saturating_sub(before.app),
            writer: self.writer.saturating_sub(before.writer),
            other: self.other.saturating_sub(before.other),
        }
    }
}

/// The name and utime + stime (clock ticks) of a `stat` file's contents.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = &stat[open + 1..close];
    // After the name: state is field 3, utime field 14, stime field 15.
    let mut fields = stat[close + 1..].split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((name, utime + stime))
}

/// utime + stime of the whole process, exited threads included.
fn process_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s).map(|(_, t)| t))
        .unwrap_or(0)
}

fn server(backend: &str, dir: &Path) {
    let mut output = install(backend, dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("app-worker")
        .enable_all()
        .build()
        .expect("the server runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();

    let app = app::router();
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = quit_rx.await;
            })
            .await
    });

    let mut out = std::io::stdout().lock();
    writeln!(out, "port {port}").expect("stdout");
    out.flush().expect("stdout");

    // Commands on stdin, one a line: `start` and `stop` bound the measured window; the end of
    // the input shuts the server down.
    let (mut cpu0, mut cpu1, mut served0, mut served1, mut ticks1) = Default::default();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "start" => {
                cpu0 = Cpu::sample();
                served0 = SERVED.load(Ordering::Relaxed);
            }
            "stop" => {
                cpu1 = Cpu::sample();
                served1 = SERVED.load(Ordering::Relaxed);
                ticks1 = process_ticks();
            }
            other => panic!("unknown command {other:?}"),
        }
        writeln!(out, "ok").expect("stdout");
        out.flush().expect("stdout");
    }
    let _ = quit_tx.send(());
    runtime
        .block_on(serving)
        .expect("the server task")
        .expect("serve");

    // Everything logged is written once the guard is dropped. The backlog written after
    // `stop` (and the shutdown) is read from the process's total, which keeps the time of
    // threads that have exited; the files are read back after that.
    match &mut output {
        Output::Nothing => {}
        Output::Appender { guard, .. } => drop(guard.take()),
        Output::Logbuf { guard, .. } => drop(guard.take()),
    }
    let drain = process_ticks().saturating_sub(ticks1);
    let served = SERVED.load(Ordering::Relaxed);
    let expected = if backend == "none" {
        0
    } else {
        served * EVENTS_PER_REQUEST
    };
    let (written, dropped, bytes, orphans) = match &output {
        Output::Nothing => (None, None, 0, 0),
        Output::Appender { errors, path, .. } => {
            let (lines, bytes) = count_lines(path);
            (Some(lines), Some(errors.dropped_lines() as u64), bytes, 0)
        }
        Output::Logbuf {
            journal,
            path,
            binary,
            ..
        } => {
            let dropped = journal.stats().dropped;
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let (written, orphans) = if *binary {
                count_events(path)
            } else {
                (count_lines(path).0, 0)
            };
            (Some(written), Some(dropped), bytes, orphans)
        }
    };
    drop(runtime);

    let window = cpu1.since(cpu0);
    let hz = clock_ticks_per_sec();
    let us = |ticks: u64| ticks as f64 * 1e6 / hz;
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    writeln!(
        out,
        "report window_requests={} served={served} app_us={} writer_us={} other_us={} \
         drain_us={} expected={expected} written={} dropped={} bytes={bytes} orphans={orphans}",
        served1 - served0,
        us(window.app),
        us(window.writer),
        us(window.other),
        us(drain),
        opt(written),
        opt(dropped),
    )
    .expect("stdout");
    out.flush().expect("stdout");
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

// === the load generator ===

/// Phases of a run, as the connections see them.
const WARM_UP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// What one run measured.
#[derive(Debug, Clone)]
struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    app: f64,
    writer: f64,
    drain: f64,
    total: f64,
    bytes_per_event: Option<f64>,
    expected: u64,
    written: Option<u64>,
    dropped: Option<u64>,
    orphans: u64,
}

impl Run {
    /// Events expected but not in the file.
    fn lost(&self) -> Option<u64> {
        self.written.map(|w| self.expected.saturating_sub(w))
    }

    /// Whether every event expected is either in the file or counted as dropped. logbuf's
    /// count is of records (span records too), so it may exceed the events lost; with none
    /// dropped, every event must be there.
    fn accounted(&self, backend: &str) -> bool {
        match (self.written, self.dropped) {
            (Some(w), Some(d)) if backend.starts_with("logbuf") => {
                w <= self.expected && w + d >= self.expected && self.orphans == 0
            }
            (Some(w), Some(d)) => w + d == self.expected,
            _ => backend != "none" || self.expected == 0,
        }
    }
}

fn parent() {
    let secs = setting("secs", "LOGBUF_SERVICE_SECS", 5);
    let rounds = setting("rounds", "LOGBUF_SERVICE_ROUNDS", 3);
    let conns = setting("conns", "LOGBUF_SERVICE_CONNS", 32);
    let warm_up_ms = setting("warmup-ms", "LOGBUF_SERVICE_WARMUP_MS", 1000);
    let backends: Vec<&str> = match std::env::var("LOGBUF_SERVICE_BACKENDS") {
        Ok(list) => {
            let chosen: Vec<&str> = BACKENDS
                .into_iter()
                .filter(|b| list.split(',').any(|x| x.trim() == *b))
                .collect();
            assert!(
                !chosen.is_empty(),
                "LOGBUF_SERVICE_BACKENDS={list:?} names none of {}",
                BACKENDS.join(", ")
            );
            chosen
        }
        Err(_) => BACKENDS.to_vec(),
    };
    println!(
        "service: axum + TraceLayer + #[instrument], 2 server workers, {conns} connections, \
         {warm_up_ms} ms warm-up + {secs} s per run, {rounds} round(s), {} CPUs, {}, \
         load average {}",
        thread::available_parallelism().map_or(0, |n| n.get()),
        logbuf_benches::cpu_model(),
        load_average(),
    );
    let mut runs: BTreeMap<&str, Vec<Run>> = BTreeMap::new();
    let mut unaccounted = Vec::new();
    for round in 1..=rounds {
        for &backend in &backends {
            let run = run_once(
                backend,
                conns,
                Duration::from_millis(warm_up_ms as u64),
                Duration::from_secs(secs as u64),
            );
            println!(
                "round {round} {backend:<22} {:>8.0} req/s  p50 {:>6.0} us  p99 {:>6.0} us  \
                 cpu/req app {:>5.1} writer {:>5.1} (after stop {:.1}) total {:>5.1} us  bytes/event {}  \
                 expected {} written {} dropped {} lost {}{}",
                run.rps,
                run.p50_us,
                run.p99_us,
                run.app,
                run.writer,
                run.drain,
                run.total,
                run.bytes_per_event.map_or("-".into(), |b| fmt(b, 1)),
                run.expected,
                run.written.map_or("-".into(), |v| v.to_string()),
                run.dropped.map_or("-".into(), |v| v.to_string()),
                run.lost().map_or("-".into(), |v| v.to_string()),
                if run.accounted(backend) {
                    String::new()
                } else {
                    unaccounted.push(format!("round {round} {backend}"));
                    format!("  UNACCOUNTED (orphans {})", run.orphans)
                },
            );
            runs.entry(backend).or_default().push(run);
        }
    }

    let med = |backend: &str, f: &dyn Fn(&Run) -> Option<f64>| -> Option<f64> {
        let mut v: Vec<f64> = runs.get(backend)?.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(&mut v))
    };
    // Each round's ratio to the same round's `none`: rounds run back to back, so a ratio
    // cancels what the machine did to both, which medians of each alone do not.
    let ratio_to_none = |backend: &str| -> Option<f64> {
        let none = runs.get("none")?;
        let mut v: Vec<f64> = runs
            .get(backend)?
            .iter()
            .zip(none)
            .map(|(r, n)| r.rps / n.rps)
            .collect();
        (!v.is_empty()).then(|| median(&mut v))
    };
    let fmt_cost = ratio_to_none("fmt-lossy").map(|r| 1.0 - r);
    // Sums over the rounds, not medians: one round that lost events shows.
    let sum = |backend: &str, f: &dyn Fn(&Run) -> Option<u64>| -> Option<u64> {
        let v: Vec<u64> = runs.get(backend)?.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    let mut table = Table::new([
        "backend",
        "req/s",
        "vs none",
        "cost",
        "cost vs fmt-lossy's",
        "p50 µs",
        "p99 µs",
        "app CPU µs/req",
        "writer CPU µs/req",
        "total CPU µs/req",
        "bytes/event",
        "events expected (all rounds)",
        "written",
        "dropped",
        "lost",
    ]);
    let cell = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| fmt(v, digits));
    for &backend in &backends {
        let rps = med(backend, &|r| Some(r.rps));
        let ratio = ratio_to_none(backend);
        let total = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        table.row([
            backend.to_owned(),
            cell(rps, 0),
            ratio.map_or("-".to_owned(), fmt_ratio),
            ratio.map_or("-".to_owned(), |r| format!("{:.1}%", (1.0 - r) * 100.0)),
            ratio
                .zip(fmt_cost)
                .map_or("-".to_owned(), |(r, f)| fmt_ratio((1.0 - r) / f)),
            cell(med(backend, &|r| Some(r.p50_us)), 0),
            cell(med(backend, &|r| Some(r.p99_us)), 0),
            cell(med(backend, &|r| Some(r.app)), 1),
            cell(med(backend, &|r| Some(r.writer)), 1),
            cell(med(backend, &|r| Some(r.total)), 1),
            cell(med(backend, &|r| r.bytes_per_event), 1),
            total(sum(backend, &|r| Some(r.expected))),
            total(sum(backend, &|r| r.written)),
            total(sum(backend, &|r| r.dropped)),
            total(sum(backend, &|r| r.lost())),
        ]);
    }
    println!("\nload average after: {}", load_average());
    println!(
        "\nmedians over {rounds} round(s); vs none: the median of each round's req/s ratio \
         to that round's none; cost = 1 - that; events: sums over the rounds; lost = expected \
         - written; logbuf's dropped counts records (span records too), fmt's lines\n"
    );
    print!("{}", table.render());
    if unaccounted.is_empty() {
        println!("\nevery run: every event expected was written or counted as dropped");
    } else {
        println!("\nNOT ACCOUNTED FOR: {}", unaccounted.join(", "));
    }
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`: other work on the machine
/// shows here.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Starts a server for `backend`, loads it, and collects its report.
fn run_once(backend: &str, conns: usize, warm_up: Duration, measure: Duration) -> Run {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env(SERVER_ENV, backend)
        .env(DIR_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server");
    let mut to_server = child.stdin.take().expect("piped stdin");
    let mut from_server = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    let mut read_line = |line: &mut String| {
        line.clear();
        from_server.read_line(line).expect("read the server");
        assert!(!line.is_empty(), "the server exited early");
    };
    read_line(&mut line);
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("expected `port N`, got {line:?}"));

    let phase = Arc::new(AtomicU8::new(WARM_UP));
    let load = {
        let phase = Arc::clone(&phase);
        thread::spawn(move || load(port, conns, &phase))
    };
    thread::sleep(warm_up);
    let mut command = |word: &str, line: &mut String| {
        writeln!(to_server, "{word}").expect("write the server");
        to_server.flush().expect("write the server");
        read_line(line);
    };
    command("start", &mut line);
    phase.store(MEASURE, Ordering::SeqCst);
    let t0 = Instant::now();
    thread::sleep(measure);
    phase.store(STOP, Ordering::SeqCst);
    let elapsed = t0.elapsed().as_secs_f64();
    command("stop", &mut line);
    let (hist, count) = load.join().expect("the load generator");
    drop(to_server); // the server shuts down and reports
    read_line(&mut line);
    let report = parse_report(&line);
    let status = child.wait().expect("wait for the server");
    assert!(status.success(), "the server failed: {status}");

    let get = |key: &str| -> Option<f64> { report.get(key).and_then(|v| v.parse().ok()) };
    let window = get("window_requests").unwrap_or(0.0).max(1.0);
    let (app, writer, other, drain) = (
        get("app_us").unwrap_or(0.0),
        get("writer_us").unwrap_or(0.0),
        get("other_us").unwrap_or(0.0),
        get("drain_us").unwrap_or(0.0),
    );
    let written = get("written").map(|v| v as u64);
    let bytes = get("bytes").unwrap_or(0.0);
    Run {
        rps: count as f64 / elapsed,
        p50_us: hist.value_at_quantile(0.5) as f64 / 1e3,
        p99_us: hist.value_at_quantile(0.99) as f64 / 1e3,
        app: app / window,
        // The backlog after `stop` is the writer's, when there is one.
        writer: if written.is_some() {
            (writer + drain) / window
        } else {
            writer / window
        },
        drain: drain / window,
        total: (app + writer + other + drain) / window,
        bytes_per_event: written.filter(|&w| w > 0).map(|w| bytes / w as f64),
        expected: get("expected").unwrap_or(0.0) as u64,
        written,
        dropped: get("dropped").map(|v| v as u64),
        orphans: get("orphans").unwrap_or(0.0) as u64,
    }
}

fn parse_report(line: &str) -> BTreeMap<String, String> {
    let body = line
        .trim()
        .strip_prefix("report ")
        .unwrap_or_else(|| panic!("expected the report, got {line:?}"));
    body.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Keeps `conns` connections busy until the phase is `STOP`; the latencies (ns) and count of
/// the requests both sent and answered while the phase was `MEASURE`.
fn load(port: u16, conns: usize, phase: &Arc<AtomicU8>) -> (Histogram<u64>, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the load runtime");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..conns)
            .map(|i| tokio::spawn(connection(port, i as u64, Arc::clone(phase))))
            .collect();
        let mut all = latency_histogram();
        let mut count = 0;
        for task in tasks {
            let (hist, n) = task.await.expect("a connection");
            all.add(&hist).expect("same bounds");
            count += n;
        }
        (all, count)
    })
}

async fn connection(port: u16, id: u64, phase: Arc<AtomicU8>) -> (Histogram<u64>, u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the server");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let request = format!("GET /orders/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut hist = latency_histogram();
    let mut count = 0;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let before = phase.load(Ordering::Relaxed);
        if before == STOP {
            return (hist, count);
        }
        let t0 = Instant::now();
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send a request");
        // Read one response: headers, then Content-Length bytes of body.
        let need = loop {
            if let Some(need) = response_len(&buf)
                && buf.len() >= need
            {
                break need;
            }
            let n = stream.read(&mut chunk).await.expect("read a response");
            assert!(n > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        };
        buf.drain(..need);
        let ns = t0.elapsed().as_nanos() as u64;
        if before == MEASURE && phase.load(Ordering::Relaxed) == MEASURE {
            hist.saturating_record(ns);
            count += 1;
        }
    }
}

/// The length of the response at the start of `buf`, head and body, once its head is all
/// there. Panics on anything but `200` with a `Content-Length`.
fn response_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).expect("an ASCII response head");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "unexpected response {status:?}"
    );
    let body = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .expect("a Content-Length");
    Some(head_end + body)
}

/// Latencies in nanoseconds, 1 ns to 100 s, 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid bounds")
}
