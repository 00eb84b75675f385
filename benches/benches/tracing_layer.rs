//! What the logging thread pays per `tracing` event: logbuf's layer beside tracing's own floors
//! and the usual fmt set-ups, with 1 and 2 logging threads, in one run.
//!
//! ```text
//! chrt -f 10 cargo bench -p logbuf-benches --bench tracing_layer
//! # knobs: --events N (100000 per thread, timed one by one, then as many in batches),
//! #        --rounds N (5)          env LOGBUF_BENCH_EVENTS, LOGBUF_BENCH_ROUNDS
//! #        env LOGBUF_BENCH_CASES=logbuf,visit   only the cases whose label contains one of these
//! #          (or is named by one: empty, visit, visit-tsc, logbuf-block, logbuf-drop,
//! #          fmt-lossy, fmt-not-lossy, fmt-file)
//! #        --in-span 1 (env LOGBUF_BENCH_IN_SPAN=1)  log inside an entered span
//! ```
//!
//! The event is `info!(user_id = 42u64, latency_us = 17.5, path = "/api/v1/orders",
//! "request done")`. Each case gets its own `Dispatch`, set as the default on each logging
//! thread with `tracing::dispatcher::with_default`, so every case pays the same scoped lookup:
//!
//! - `empty layer`: a `Layer` with no methods on `Registry` (what tracing itself costs);
//! - `visit fields`: a `Layer` whose `on_event` only visits the fields (what every layer pays);
//! - `visit fields + TSC`: the same, and a read of the tick counter logbuf stamps records with
//!   (quanta's `Clock::raw`): the floor of any layer that timestamps its events;
//! - `logbuf, block`: `LogbufLayer` writing a binary file (32 MiB rings, room for a run's timed
//!   events, so the figures are the logging thread's cost and not the worker's speed;
//!   `FullPolicy::Block`, so nothing is lost);
//! - `logbuf, drop`: the same with the defaults (1 MiB rings, `FullPolicy::Drop`): lossy when
//!   the logging threads outrun the worker;
//! - `fmt + non_blocking`: tracing-subscriber's `fmt` layer into tracing-appender's
//!   `non_blocking` writer to a file, lossy (the default) and not;
//! - `fmt, file`: the `fmt` layer writing to the file synchronously (a `write` per event).
//!
//! With `--in-span 1`, each thread logs its events inside an entered span,
//! `info_span!("request", id = 7u64)`: the span context every layer then looks up (and fmt
//! formats into each line).
//!
//! Every case counts its losses: the events each run logged (warm-up included), those that
//! reached the output (read back from logbuf's file, lines of fmt's file) and those dropped
//! (logbuf's `Journal::stats().dropped`, tracing-appender's `ErrorCounter`). For logbuf,
//! written + dropped = logged, or the difference is printed as unaccounted.
//!
//! Each thread first logs `--warm-up` events (500000) untimed, which also laps the logbuf
//! ring so that its pages are mapped (a fresh ring's first lap pays a page fault every 4 KiB,
//! which a long-running process does not). Then each thread times the call with the cycle counter (percentiles include the timed
//! region's own cost, printed), then logs as many events again in batches of 1000 timed
//! together (the mean without timer cost). Figures are medians over rounds; ratios are medians
//! of per-round ratios.

use std::fs::File;
use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;

mod event;

use event::{ThreadRun, histogram, log, timed};
use hdrhistogram::Histogram;
use logbuf_benches::{Table, cycles, fmt, fmt_ratio, machine, median, setting};
use logbuf_journal::file::FileReader;
use logbuf_journal::wire::Record;
use logbuf_journal::{FullPolicy, Journal};
use logbuf_tracing::LogbufLayer;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// A layer that does nothing: the floor of tracing's dispatch on `Registry`.
struct EmptyLayer;

impl<S: Subscriber> Layer<S> for EmptyLayer {}

/// A layer whose `on_event` visits the fields and nothing else.
struct VisitLayer;

struct Touch(u64);

impl Visit for Touch {
    fn record_u64(&mut self, _: &Field, value: u64) {
        self.0 ^= black_box(value);
    }
    fn record_f64(&mut self, _: &Field, value: f64) {
        self.0 ^= black_box(value).to_bits();
    }
    fn record_str(&mut self, _: &Field, value: &str) {
        self.0 ^= black_box(value).len() as u64;
    }
    fn record_debug(&mut self, _: &Field, value: &dyn std::fmt::Debug) {
        black_box(value);
        self.0 ^= 1;
    }
}

impl<S: Subscriber> Layer<S> for VisitLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut touch = Touch(0);
        event.record(&mut touch);
        black_box(touch.0);
    }
}

/// A layer whose `on_event` visits the fields and reads the tick counter logbuf's journal
/// stamps records with (quanta's raw counter, the TSC on x86-64): the floor of a layer that
/// timestamps its events.
struct VisitTscLayer(quanta::Clock);

impl<S: Subscriber> Layer<S> for VisitTscLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut touch = Touch(self.0.raw());
        event.record(&mut touch);
        black_box(touch.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Empty,
    Visit,
    VisitTsc,
    Logbuf,
    LogbufDrop,
    FmtNonBlockingLossy,
    FmtNonBlocking,
    FmtFile,
}

const CASES: [Case; 8] = [
    Case::Empty,
    Case::Visit,
    Case::VisitTsc,
    Case::Logbuf,
    Case::LogbufDrop,
    Case::FmtNonBlockingLossy,
    Case::FmtNonBlocking,
    Case::FmtFile,
];

impl Case {
    /// A short name for `LOGBUF_BENCH_CASES`.
    fn name(self) -> &'static str {
        match self {
            Case::Empty => "empty",
            Case::Visit => "visit",
            Case::VisitTsc => "visit-tsc",
            Case::Logbuf => "logbuf-block",
            Case::LogbufDrop => "logbuf-drop",
            Case::FmtNonBlockingLossy => "fmt-lossy",
            Case::FmtNonBlocking => "fmt-not-lossy",
            Case::FmtFile => "fmt-file",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Case::Empty => "empty layer (floor)",
            Case::Visit => "visit fields (floor)",
            Case::VisitTsc => "visit fields + TSC (floor)",
            Case::Logbuf => "logbuf, binary file, block",
            Case::LogbufDrop => "logbuf, binary file, drop, 1 MiB",
            Case::FmtNonBlockingLossy => "fmt + non_blocking, lossy",
            Case::FmtNonBlocking => "fmt + non_blocking, not lossy",
            Case::FmtFile => "fmt, file, synchronous",
        }
    }
}

/// Bytes of each thread's ring in the logbuf case: room for a run's timed events (72 bytes
/// each) without the worker, so that the figures are the logging thread's own cost; the
/// worker's throughput is the `journal` bench's business. The default warm-up laps it once.
const RING: usize = 32 << 20;

/// What a case leaves running: dropped after the timed run, which writes everything out.
enum Keep {
    Nothing,
    Logbuf(Journal, logbuf_journal::Guard),
    Appender(WorkerGuard, ErrorCounter),
}

fn subscriber(case: Case, dir: &Path) -> (Dispatch, Keep) {
    let registry = tracing_subscriber::registry();
    let file = || File::create(dir.join("fmt.log")).expect("log file");
    match case {
        Case::Empty => (Dispatch::new(registry.with(EmptyLayer)), Keep::Nothing),
        Case::Visit => (Dispatch::new(registry.with(VisitLayer)), Keep::Nothing),
        Case::VisitTsc => (
            Dispatch::new(registry.with(VisitTscLayer(quanta::Clock::new()))),
            Keep::Nothing,
        ),
        Case::Logbuf | Case::LogbufDrop => {
            let builder = LogbufLayer::builder().file(dir.join("bench.lbf"));
            let builder = if case == Case::Logbuf {
                builder.ring_capacity(RING).policy(FullPolicy::Block)
            } else {
                // The defaults: 1 MiB rings, FullPolicy::Drop.
                builder
            };
            let (layer, guard) = builder.build().expect("layer");
            let journal = layer.journal().clone();
            (
                Dispatch::new(registry.with(layer)),
                Keep::Logbuf(journal, guard),
            )
        }
        Case::FmtNonBlockingLossy | Case::FmtNonBlocking => {
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(case == Case::FmtNonBlockingLossy)
                .finish(file());
            let errors = writer.error_counter();
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            (
                Dispatch::new(registry.with(layer)),
                Keep::Appender(guard, errors),
            )
        }
        Case::FmtFile => {
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Arc::new(file()));
            (Dispatch::new(registry.with(layer)), Keep::Nothing)
        }
    }
}

/// A histogram of counter ticks up to about 4 s at 2.5 GHz (longer ones are counted as that);
/// fixed bounds, because `saturating_record` does not grow an auto-resizing histogram.
fn log_thread(
    dispatch: &Dispatch,
    journal: Option<&Journal>,
    warm_up: u64,
    events: u64,
    in_span: bool,
    start: &Barrier,
) -> ThreadRun {
    tracing::dispatcher::with_default(dispatch, || {
        let span = if in_span {
            tracing::info_span!("request", id = 7u64)
        } else {
            tracing::Span::none()
        };
        let _entered = span.enter();
        // Warm-up: callsite caches, the registry's thread-locals, and the thread's ring, which
        // the warm-up laps at least once so that its pages are mapped, as in a process that
        // has been logging for a while.
        for _ in 0..warm_up {
            log();
        }
        if let Some(journal) = journal {
            // Start with an empty ring.
            journal.flush();
        }
        start.wait();
        timed(events)
    })
}

/// One run of a case: figures merged over the threads, and where its events went.
struct Run {
    hist: Histogram<u64>,
    batch_mean: f64,
    count: Count,
}

/// Events of one run: logged by the threads, found in the output, dropped by the back end.
/// `written` is `None` for the floors, which write nothing.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    logged: u64,
    written: Option<u64>,
    dropped: u64,
}

impl Count {
    fn add(&mut self, other: Count) {
        self.logged += other.logged;
        self.written = match (self.written, other.written) {
            (None, w) | (w, None) => w,
            (Some(a), Some(b)) => Some(a + b),
        };
        self.dropped += other.dropped;
    }
}

/// Event records in logbuf's file.
fn events_in_journal(path: &Path) -> u64 {
    let mut reader = FileReader::open(path).expect("journal file");
    let mut n = 0;
    while let Some(record) = reader.next_record() {
        n += u64::from(matches!(record.expect("read"), Record::Event(_)));
    }
    n
}

/// Lines in fmt's file.
fn lines_in(path: &Path) -> u64 {
    let bytes = std::fs::read(path).expect("fmt file");
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn run(case: Case, threads: usize, warm_up: u64, events: u64, in_span: bool) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (dispatch, keep) = subscriber(case, dir.path());
    let journal = match &keep {
        Keep::Logbuf(journal, _) => Some(journal),
        _ => None,
    };
    let start = Barrier::new(threads);
    let runs: Vec<ThreadRun> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (dispatch, start, journal) = (&dispatch, &start, journal);
                thread::Builder::new()
                    .name(format!("log-{t}"))
                    .spawn_scoped(s, move || {
                        log_thread(dispatch, journal, warm_up, events, in_span, start)
                    })
                    .expect("thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("logging thread"))
            .collect()
    });
    drop(dispatch);
    let logged = threads as u64 * (warm_up + 2 * events);
    let (written, dropped) = match keep {
        Keep::Nothing if case == Case::FmtFile => (Some(lines_in(&dir.path().join("fmt.log"))), 0),
        Keep::Nothing => (None, 0),
        Keep::Logbuf(journal, guard) => {
            drop(guard);
            let dropped = journal.stats().dropped;
            (
                Some(events_in_journal(&dir.path().join("bench.lbf"))),
                dropped,
            )
        }
        Keep::Appender(guard, errors) => {
            drop(guard);
            (
                Some(lines_in(&dir.path().join("fmt.log"))),
                errors.dropped_lines() as u64,
            )
        }
    };
    let mut hist = histogram();
    for r in &runs {
        hist.add(&r.hist).expect("histogram");
    }
    let batch_mean = runs.iter().map(|r| r.batch_mean).sum::<f64>() / runs.len() as f64;
    Run {
        hist,
        batch_mean,
        count: Count {
            logged,
            written,
            dropped,
        },
    }
}

/// Per-round figures of one case at one thread count, in ns: p50, p99, p999, timed mean,
/// batch mean.
#[derive(Default)]
struct Figures {
    p50: Vec<f64>,
    p99: Vec<f64>,
    p999: Vec<f64>,
    mean: Vec<f64>,
    batch: Vec<f64>,
    count: Count,
}

fn main() {
    let events = setting("events", "LOGBUF_BENCH_EVENTS", 100_000) as u64;
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 5);
    let warm_up = setting("warm-up", "LOGBUF_BENCH_WARM_UP", 500_000) as u64;
    let in_span = setting("in-span", "LOGBUF_BENCH_IN_SPAN", 0) != 0;
    let per_ns = cycles::ticks_per_ns(200);
    let (overhead, _) = cycles::overhead(100_000);
    println!(
        "## tracing_layer\n\nmachine: {}\nunit: {} ({per_ns:.3} per ns); timed region's own cost: {overhead} cyc ({} ns) median\nevents logged {}\n",
        machine(),
        cycles::UNIT,
        fmt(overhead as f64 / per_ns, 1),
        if in_span {
            "inside an entered span"
        } else {
            "outside any span"
        },
    );
    let thread_counts = [1usize, 2];
    // figures[threads index][case index]
    let mut figures: Vec<Vec<Figures>> = thread_counts
        .iter()
        .map(|_| CASES.iter().map(|_| Figures::default()).collect())
        .collect();
    let only = std::env::var("LOGBUF_BENCH_CASES").unwrap_or_default();
    // A part that is a case's short name picks that case alone; any other part, the cases
    // whose label contains it.
    let chosen = |case: Case| {
        only.is_empty()
            || only.split(',').map(str::trim).any(|part| {
                part == case.name()
                    || (!CASES.iter().any(|c| c.name() == part) && case.label().contains(part))
            })
    };
    for _ in 0..rounds {
        for (ti, &threads) in thread_counts.iter().enumerate() {
            for (ci, &case) in CASES.iter().enumerate() {
                if !chosen(case) {
                    continue;
                }
                let r = run(case, threads, warm_up, events, in_span);
                let f = &mut figures[ti][ci];
                f.p50.push(r.hist.value_at_quantile(0.5) as f64 / per_ns);
                f.p99.push(r.hist.value_at_quantile(0.99) as f64 / per_ns);
                f.p999.push(r.hist.value_at_quantile(0.999) as f64 / per_ns);
                f.mean.push(r.hist.mean() / per_ns);
                f.batch.push(r.batch_mean / per_ns);
                f.count.add(r.count);
            }
        }
    }

    let ratio = |a: &[f64], b: &[f64]| {
        let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        if r.is_empty() {
            "-".to_owned()
        } else {
            fmt_ratio(median(&mut r))
        }
    };
    let logbuf = CASES.iter().position(|&c| c == Case::Logbuf).unwrap_or(0);
    let visit = CASES.iter().position(|&c| c == Case::Visit).unwrap_or(0);
    let visit_tsc = CASES.iter().position(|&c| c == Case::VisitTsc).unwrap_or(0);
    let lossy = CASES
        .iter()
        .position(|&c| c == Case::FmtNonBlockingLossy)
        .unwrap_or(0);
    for (ti, &threads) in thread_counts.iter().enumerate() {
        let mut t = Table::new([
            "case",
            "mean ns (batches)",
            "p50 ns",
            "p99 ns",
            "p999 ns",
            "mean ns (timed)",
            "logbuf / case (batch mean)",
            "events logged",
            "written",
            "dropped",
            "unaccounted",
        ]);
        for (ci, &case) in CASES.iter().enumerate() {
            let f = &figures[ti][ci];
            if f.batch.is_empty() {
                continue;
            }
            let ours = &figures[ti][logbuf];
            t.row([
                case.label().to_owned(),
                fmt(median(&mut f.batch.clone()), 1),
                fmt(median(&mut f.p50.clone()), 0),
                fmt(median(&mut f.p99.clone()), 0),
                fmt(median(&mut f.p999.clone()), 0),
                fmt(median(&mut f.mean.clone()), 1),
                ratio(&ours.batch, &f.batch),
                f.count.logged.to_string(),
                f.count.written.map_or("-".to_owned(), |w| w.to_string()),
                f.count.dropped.to_string(),
                f.count.written.map_or("-".to_owned(), |w| {
                    (i128::from(f.count.logged) - i128::from(w) - i128::from(f.count.dropped))
                        .to_string()
                }),
            ]);
        }
        println!(
            "### {threads} logging thread{}\n\n{}",
            if threads == 1 { "" } else { "s" },
            t.render()
        );
    }

    let one = &figures[0];
    let two = &figures[1];
    let mut t = Table::new(["target", "1 thread", "2 threads", "goal"]);
    t.row([
        "logbuf / fmt + non_blocking lossy, batch mean".to_owned(),
        ratio(&one[logbuf].batch, &one[lossy].batch),
        ratio(&two[logbuf].batch, &two[lossy].batch),
        "<= 0.10".to_owned(),
    ]);
    t.row([
        "logbuf / fmt + non_blocking lossy, p50".to_owned(),
        ratio(&one[logbuf].p50, &one[lossy].p50),
        ratio(&two[logbuf].p50, &two[lossy].p50),
        String::new(),
    ]);
    t.row([
        "logbuf / visit fields, batch mean".to_owned(),
        ratio(&one[logbuf].batch, &one[visit].batch),
        ratio(&two[logbuf].batch, &two[visit].batch),
        String::new(),
    ]);
    t.row([
        "logbuf / visit fields + TSC, batch mean".to_owned(),
        ratio(&one[logbuf].batch, &one[visit_tsc].batch),
        ratio(&two[logbuf].batch, &two[visit_tsc].batch),
        "<= 1.5".to_owned(),
    ]);
    t.row([
        "logbuf / visit fields + TSC, p50".to_owned(),
        ratio(&one[logbuf].p50, &one[visit_tsc].p50),
        ratio(&two[logbuf].p50, &two[visit_tsc].p50),
        String::new(),
    ]);
    t.row([
        "logbuf / visit fields, p50".to_owned(),
        ratio(&one[logbuf].p50, &one[visit].p50),
        ratio(&two[logbuf].p50, &two[visit].p50),
        String::new(),
    ]);
    t.row([
        "logbuf, 2 threads / 1 thread, batch mean".to_owned(),
        String::new(),
        ratio(&two[logbuf].batch, &one[logbuf].batch),
        "<= 1.3".to_owned(),
    ]);
    t.row([
        "logbuf, 2 threads / 1 thread, p50".to_owned(),
        String::new(),
        ratio(&two[logbuf].p50, &one[logbuf].p50),
        String::new(),
    ]);
    println!(
        "### ratios\n\n{warm_up} warm-up, {events} timed and {events} batched events per thread per run, {rounds} rounds\n\n{}",
        t.render()
    );
}
