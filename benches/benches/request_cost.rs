//! Instructions per request of the `service` bench's request, replayed in one process without
//! sockets under each logging back end and counted by callgrind: a figure that does not depend
//! on what else the machine is doing, unlike the `service` bench's requests per second.
//!
//! ```text
//! cargo bench -p logbuf-benches --bench request_cost
//! # env LOGBUF_COST_REQUESTS=2000   requests measured per back end
//! #     LOGBUF_COST_BACKENDS=none,logbuf-bin   only these back ends
//! ```
//!
//! Each request is `GET /orders/{id}` sent to the `service` bench's router (`TraceLayer`, the
//! `#[instrument]`ed handler with its span entered across an `.await`, 4 events at INFO) with
//! `tower::ServiceExt::oneshot` on a single-threaded tokio runtime: the tracing calls of a
//! request as the service makes them, without HTTP parsing or a network.
//!
//! For each back end this binary runs itself twice under `valgrind --tool=callgrind
//! --separate-threads=yes`, serving `WARM_UP` and then `WARM_UP + requests` requests; the
//! difference of the two counts over `requests` is the cost of one request, start-up and
//! shutdown cancelled out. `serve` is the thread that serves the requests (it logs); `writer`
//! the threads the back end started (logbuf's worker, tracing-appender's writer), which write what was logged
//! (each child drops its guard before exiting, so everything logged is written and counted).
//! Each run must lose nothing: the child checks that its back end dropped nothing, and the
//! parent that every event is in the output file.
//!
//! valgrind serialises threads, so the writer's passes are longer and fewer than in a real
//! service; its figure is its cost per request when it keeps up, which is the cost that
//! matters on a machine whose cores are busy.

mod app;

use std::path::{Path, PathBuf};
use std::process::Command;

use logbuf_benches::{Table, fmt, fmt_ratio, setting};
use tower::ServiceExt;

use app::{BACKENDS, EVENTS_PER_REQUEST, Output, count_events, count_lines, install};

/// The environment variable that makes this binary serve `LOGBUF_COST_SERVE` requests under
/// the back end it names.
const CHILD_ENV: &str = "LOGBUF_COST_CHILD";
const SERVE_ENV: &str = "LOGBUF_COST_SERVE";
/// The folder the child writes its log file into.
const DIR_ENV: &str = "LOGBUF_COST_DIR";
/// Requests served between pauses that let the writer thread run.
const PAUSE_EVERY: u64 = 50;
/// Requests served before the measured ones, in both runs.
const WARM_UP: usize = 200;

fn main() {
    if let Ok(backend) = std::env::var(CHILD_ENV) {
        let n: u64 = std::env::var(SERVE_ENV)
            .expect("LOGBUF_COST_SERVE is set")
            .parse()
            .expect("a number of requests");
        let dir = PathBuf::from(std::env::var(DIR_ENV).expect("LOGBUF_COST_DIR is set"));
        child(&backend, n, &dir);
    } else {
        parent();
    }
}

fn child(backend: &str, requests: u64, dir: &Path) {
    // The tick counter's calibration (quanta's, once a process) loops until the counter
    // looks steady, a number of instructions that differs from run to run: made here on a
    // thread of its own (the second), it stays out of both the serving thread's count and
    // the writer's.
    // The thread stays (blocked) until the child ends, so that no later thread reuses its
    // number.
    let (calibrated, wait) = std::sync::mpsc::channel::<()>();
    let (done, end) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = quanta::Clock::new();
        let _ = calibrated.send(());
        let _ = end.recv();
    });
    wait.recv().expect("calibrate the tick counter");
    let mut output = install(backend, dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("the runtime");
    let router = app::router();
    runtime.block_on(async {
        for id in 0..requests {
            let request = axum::http::Request::get(format!("/orders/{id}"))
                .body(axum::body::Body::empty())
                .expect("a request");
            let response = router.clone().oneshot(request).await.expect("a response");
            assert!(response.status().is_success());
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .expect("the body");
            assert!(!body.is_empty());
            if id % PAUSE_EVERY == PAUSE_EVERY - 1 {
                // Under valgrind only one thread runs at a time: let the writer catch up, as
                // a real service's idle moments do (sleeping costs no instructions).
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    });
    drop(runtime);
    // Everything logged is written once the guard is dropped; the parent reads the file.
    match &mut output {
        Output::Nothing => {}
        Output::Appender { guard, errors, .. } => {
            drop(guard.take());
            assert_eq!(errors.dropped_lines(), 0, "{backend}: lines dropped");
        }
        Output::Logbuf { guard, journal, .. } => {
            drop(guard.take());
            assert_eq!(journal.stats().dropped, 0, "{backend}: records dropped");
        }
    }
    drop(done);
}

/// Checks that every event the child served reached its output file.
fn check_written(backend: &str, requests: usize, dir: &Path) {
    let written = match backend {
        "none" | "registry" => return,
        b if b.starts_with("logbuf-bin") => count_events(&dir.join("app.lbf")).0,
        _ => count_lines(&dir.join("app.log")).0,
    };
    assert_eq!(
        written,
        requests as u64 * EVENTS_PER_REQUEST,
        "{backend}: events lost"
    );
}

/// Instructions of the thread that served, and of the others, from callgrind's files.
fn run_under_callgrind(backend: &str, requests: usize, dir: &Path) -> (u64, u64) {
    let out = dir.join(format!("{backend}-{requests}"));
    let logs = tempfile::tempdir().expect("a temporary folder");
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "--separate-threads=yes", "-q"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().expect("this binary"))
        .env(CHILD_ENV, backend)
        .env(SERVE_ENV, requests.to_string())
        .env(DIR_ENV, logs.path())
        .status()
        .expect("run valgrind");
    assert!(status.success(), "{backend}: the child failed");
    check_written(backend, requests, logs.path());
    // One file per thread: `<out>-01` is the main thread, which serves; `<out>-02` the
    // calibration's.
    let (mut serve, mut writer) = (0, 0);
    for thread in 1.. {
        let path = PathBuf::from(format!("{}-{thread:02}", out.display()));
        let Ok(text) = std::fs::read_to_string(&path) else {
            if thread > 64 {
                break;
            }
            continue;
        };
        let total = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary: ")
                    .or_else(|| l.strip_prefix("totals: "))
            })
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        match thread {
            1 => serve = total,
            2 => {}
            _ => writer += total,
        }
    }
    (serve, writer)
}

fn parent() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!(
            "request_cost: valgrind is not installed (apt-get install valgrind); nothing measured"
        );
        return;
    }
    let requests = setting("requests", "LOGBUF_COST_REQUESTS", 2000);
    let backends: Vec<&str> = match std::env::var("LOGBUF_COST_BACKENDS") {
        Ok(list) => BACKENDS
            .iter()
            .copied()
            .filter(|b| list.split(',').any(|c| c.trim() == *b))
            .collect(),
        Err(_) => BACKENDS.to_vec(),
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    println!(
        "request_cost: instructions per request (callgrind), {requests} requests after {WARM_UP}, \
         served on one thread"
    );
    let mut table = Table::new([
        "back end",
        "serve",
        "serve - none",
        "writer",
        "total - none",
        "vs fmt-lossy (JSON rows: fmt-json-lossy)",
    ]);
    let mut rows = Vec::new();
    for backend in &backends {
        let (s0, w0) = run_under_callgrind(backend, WARM_UP, dir.path());
        let (s1, w1) = run_under_callgrind(backend, WARM_UP + requests, dir.path());
        let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / requests as f64;
        rows.push((*backend, per(s1, s0), per(w1, w0)));
    }
    let none = rows
        .iter()
        .find(|r| r.0 == "none")
        .map_or(0.0, |r| r.1 + r.2);
    let cost_of = |name: &str| rows.iter().find(|r| r.0 == name).map(|r| r.1 + r.2 - none);
    let (fmt_text, fmt_json) = (cost_of("fmt-lossy"), cost_of("fmt-json-lossy"));
    for &(backend, serve, writer) in &rows {
        let cost = serve + writer - none;
        // Each back end beside fmt writing the same format.
        let fmt_cost = if backend.contains("json") {
            fmt_json
        } else {
            fmt_text
        };
        table.row(vec![
            backend.to_owned(),
            fmt(serve, 0),
            fmt(serve - none, 0),
            fmt(writer, 0),
            fmt(cost, 0),
            fmt_cost.map_or("-".to_owned(), |f| fmt_ratio(cost / f)),
        ]);
    }
    print!("{}", table.render());
}
