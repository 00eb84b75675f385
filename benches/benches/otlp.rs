//! Logs sent to an OpenTelemetry collector: what the logging thread pays per `tracing` event
//! with logbuf's `LogbufLayer` and `logbuf-otlp`'s `OtlpSink`, beside
//! `opentelemetry-appender-tracing` with the OpenTelemetry SDK's batch log processor and
//! `opentelemetry-otlp`'s HTTP exporter, with 1 and 2 logging threads, in one run; and how many
//! events each delivers per second to the same local receiver, and loses.
//!
//! ```text
//! chrt -f 10 cargo bench -p logbuf-benches --bench otlp
//! # knobs: --events N (100000 per thread, timed one by one, then as many in batches),
//! #        --rounds N (5), --warm-up N (500000 per thread)
//! #        env LOGBUF_BENCH_EVENTS, LOGBUF_BENCH_ROUNDS, LOGBUF_BENCH_WARM_UP
//! #        --defaults 1 (env LOGBUF_BENCH_DEFAULTS=1)  both sides with their default queues
//! #        --only 1|2 (env LOGBUF_BENCH_ONLY)  logbuf's case only, or OpenTelemetry's (to profile one)
//! #        --threads 1|2 (env LOGBUF_BENCH_THREADS)  one of the thread counts only
//! #        --scoped 1 (env LOGBUF_BENCH_SCOPED=1)  every run in this process, scoped dispatch
//! ```
//!
//! The event is `info!(user_id = 42u64, latency_us = 17.5, path = "/api/v1/orders",
//! "request done")`, as in the `tracing_layer` bench. Each run (a case at a thread count, in a
//! round) is a child process of the bench, in which the case's subscriber is the global
//! default, as a service's `init()` makes it; the rounds interleave the cases. With
//! `--scoped 1`, every run is in the bench's own process instead, each case's `Dispatch` set as
//! the default on each logging thread with `tracing::dispatcher::with_default` (a thread-local
//! lookup per event on both sides). The cases:
//!
//! - `logbuf + OtlpSink`: `LogbufLayer` with `OtlpSink` as its only sink. The logging thread
//!   encodes the event into its ring; the journal's worker converts it to an OTLP `LogRecord`;
//!   the sink's exporter thread posts the batches (ureq).
//! - `opentelemetry-appender-tracing`: `OpenTelemetryTracingBridge` on an `SdkLoggerProvider`
//!   with a `BatchLogProcessor`, whose thread posts the batches with `opentelemetry-otlp`'s
//!   HTTP/protobuf exporter (reqwest's blocking client). The logging thread builds the
//!   `SdkLogRecord` and queues it.
//!
//! Both post to the same receiver: a small HTTP/1.1 server in the run's process, on another
//! thread, on a loopback port, that decodes every body with prost as a partial view of an
//! `ExportLogsServiceRequest` (the records' bodies; other fields skipped) and counts the log
//! records whose body is the event's message. With the global
//! default, the OpenTelemetry SDK's own `tracing` events (its exporter's debug events) reach
//! its bridge too, as in a service without a filter for them: the receiver counts them as
//! "other records".
//!
//! By default each side gets queues with room for a run's events, so that the timed figures are
//! the logging thread's own cost, as in `tracing_layer`'s `logbuf, block` case: logbuf 32 MiB
//! rings with `FullPolicy::Block` and an `OtlpSink` queue of as many batches as a run makes;
//! the batch log processor a queue (`max_queue_size`) of as many records as a run logs. With
//! `--defaults 1`, both keep their defaults (logbuf: 1 MiB rings, `FullPolicy::Drop`, 64
//! batches; OpenTelemetry: 2048 records): lossy when the logging threads outrun the exporters.
//!
//! Each thread first logs `--warm-up` events untimed (callsite caches, thread-locals, and a lap
//! of the logbuf ring so its pages are mapped); then the warm-up is delivered (the journal
//! flushed, the provider force-flushed, and the receiver waited for) so that each timed part
//! starts with empty queues. Then each thread times each call with the cycle counter, then logs
//! as many events again in batches of 1000 timed together (the mean without timer cost).
//! Figures are medians over rounds; ratios are medians of per-round ratios. The timed region's
//! own cost (two counter reads, measured at the start) is in every event timed one by one, on
//! both sides; the ratios show the p50s as measured and less that cost.
//!
//! Delivered per second: the events of the timed part that reached the receiver, divided by the
//! time from its start to the end of the shutdown (guard dropped, provider shut down), which
//! delivers what was queued. Process CPU per event: the CPU time of every thread of the process
//! (logging threads, worker or batch thread, exporter, HTTP client, receiver) over the same
//! span, per event of the timed part delivered. Lost: events logged minus events received, and each side's own
//! counters where it has them (logbuf: the journal's `dropped` and the sink's `lost`; the
//! batch log processor does not expose its drop count).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod event;

use event::{ThreadRun, histogram, log, timed};
use logbuf_benches::{Table, cycles, fmt, fmt_ratio, machine, median, setting};
use logbuf_journal::FullPolicy;
use logbuf_otlp::opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use logbuf_otlp::opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use logbuf_otlp::{OtlpSink, OtlpStats};
use logbuf_tracing::LogbufLayer;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
use prost::Message;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// The event's message: the body of the records the receiver counts.
const MESSAGE: &str = "request done";

// === the receiver ===

/// What the receiver has decoded so far.
#[derive(Default)]
struct Counts {
    /// Log records whose body is [`MESSAGE`].
    events: AtomicU64,
    /// Other log records (logbuf-otlp's reports of its losses, for example).
    other: AtomicU64,
    /// Requests answered.
    requests: AtomicU64,
}

/// An OTLP/HTTP receiver on a loopback port: HTTP/1.1 with keep-alive, one thread per
/// connection, every body decoded as an `ExportLogsServiceRequest` and answered 200.
struct Receiver {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback port");
        let addr = listener.local_addr().expect("address");
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (counts, stop) = (counts.clone(), stop.clone());
            thread::Builder::new()
                .name("receiver".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let counts = counts.clone();
                        thread::Builder::new()
                            .name("receiver-conn".into())
                            .spawn(move || serve(stream, &counts))
                            .expect("thread");
                    }
                })
                .expect("thread")
        };
        Receiver {
            addr,
            counts,
            stop,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/v1/logs", self.addr)
    }

    fn events(&self) -> u64 {
        self.counts.events.load(Ordering::SeqCst)
    }

    /// Waits until `n` events have arrived, or none for `stall`.
    fn wait_for(&self, n: u64, stall: Duration) {
        let mut last = self.events();
        let mut since = Instant::now();
        while last < n && since.elapsed() < stall {
            thread::sleep(Duration::from_millis(2));
            let now = self.events();
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// What the receiver reads of an `ExportLogsServiceRequest`: each log record's body, by the
/// field numbers of the OTLP `.proto` files (`resource_logs` 1, `scope_logs` 2, `log_records`
/// 2, `body` 5). prost skips every other field (resource, scopes, attributes, times) without
/// building it, as a collector does with what it does not read; decoding the whole message
/// would cost this process more per logbuf record than per OpenTelemetry record (logbuf's
/// carry more attributes), CPU time taken from the logging threads on a small machine. Each
/// connection's first request is also decoded whole and the counts compared.
#[derive(Clone, PartialEq, prost::Message)]
struct Bodies {
    #[prost(message, repeated, tag = "1")]
    resource_logs: Vec<ResourceBodies>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResourceBodies {
    #[prost(message, repeated, tag = "2")]
    scope_logs: Vec<ScopeBodies>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ScopeBodies {
    #[prost(message, repeated, tag = "2")]
    log_records: Vec<RecordBody>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RecordBody {
    #[prost(message, optional, tag = "5")]
    body: Option<AnyValue>,
}

/// Whether a record's body is the event's message.
fn is_event(body: Option<&AnyValue>) -> bool {
    matches!(
        body.and_then(|b| b.value.as_ref()),
        Some(any_value::Value::StringValue(s)) if s == MESSAGE
    )
}

impl Bodies {
    /// Records whose body is the event's message, and the others.
    fn count(&self) -> (u64, u64) {
        let mut n = (0, 0);
        for record in self
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
        {
            if is_event(record.body.as_ref()) {
                n.0 += 1;
            } else {
                n.1 += 1;
            }
        }
        n
    }
}

/// [`Bodies::count`] from the whole message.
fn count_full(request: &ExportLogsServiceRequest) -> (u64, u64) {
    let mut n = (0, 0);
    for record in request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
    {
        if is_event(record.body.as_ref()) {
            n.0 += 1;
        } else {
            n.1 += 1;
        }
    }
    n
}

/// Serves one connection until the client closes it.
fn serve(stream: TcpStream, counts: &Counts) {
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut body = Vec::new();
    let answer = ExportLogsServiceResponse::default().encode_to_vec();
    let mut checked = false;
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        answer.len()
    );
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line.trim_end().is_empty() {
            // Stray blank line between requests.
            continue;
        }
        let mut len = None;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                len = value.trim().parse::<usize>().ok();
            }
        }
        // Both clients send a length with their bodies; anything else is not served.
        let Some(len) = len else { return };
        body.resize(len, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Bodies::decode(body.as_slice()).expect("an OTLP request");
        let (events, other) = request.count();
        if !checked {
            // The connection's first request, decoded whole as well: the partial view counts
            // what the full message holds.
            checked = true;
            let full = ExportLogsServiceRequest::decode(body.as_slice()).expect("an OTLP request");
            assert_eq!(
                count_full(&full),
                (events, other),
                "the partial view miscounts"
            );
        }
        counts.events.fetch_add(events, Ordering::SeqCst);
        counts.other.fetch_add(other, Ordering::SeqCst);
        counts.requests.fetch_add(1, Ordering::SeqCst);
        if out.write_all(head.as_bytes()).is_err() || out.write_all(&answer).is_err() {
            return;
        }
    }
}

/// CPU time the whole process has used (every thread: logging, worker, exporter, receiver),
/// in nanoseconds.
fn process_cpu_ns() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is valid for writes of a `rusage`, and getrusage fills it on success.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0;
    if !ok {
        return 0;
    }
    // SAFETY: zeroed is a valid `rusage` (plain integers), and getrusage succeeded.
    let usage = unsafe { usage.assume_init() };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

// === the cases ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Logbuf,
    Otel,
}

const CASES: [Case; 2] = [Case::Logbuf, Case::Otel];

impl Case {
    fn label(self) -> &'static str {
        match self {
            Case::Logbuf => "logbuf + OtlpSink",
            Case::Otel => "opentelemetry-appender-tracing",
        }
    }
}

/// Bytes of each thread's ring in the logbuf case when queues are sized for a run (as in the
/// `tracing_layer` bench): room for a run's timed events without the worker.
const RING: usize = 32 << 20;

/// Records per OTLP batch, both sides' default.
const BATCH: usize = 512;

/// How long shutdown may take to deliver what is queued: long, so that nothing is lost to it.
const SHUTDOWN: Duration = Duration::from_secs(120);

/// What a case leaves running until the end of the run.
enum Keep {
    Logbuf(logbuf_journal::Journal, logbuf_journal::Guard, OtlpStats),
    Otel(SdkLoggerProvider),
}

impl Keep {
    /// Delivers what the logging threads have logged so far.
    fn flush(&self) {
        match self {
            Keep::Logbuf(journal, _, _) => {
                journal.flush();
            }
            Keep::Otel(provider) => {
                let _ = provider.force_flush();
            }
        }
    }
}

fn subscriber(case: Case, url: &str, sized: bool, per_run: usize) -> (Dispatch, Keep) {
    let registry = tracing_subscriber::registry();
    match case {
        Case::Logbuf => {
            let sink = OtlpSink::builder()
                .endpoint(url)
                .service_name("bench")
                .shutdown_timeout(SHUTDOWN);
            let sink = if sized {
                sink.queue_batches(per_run / BATCH + 64)
            } else {
                sink
            };
            let sink = sink.build().expect("sink");
            let stats = sink.stats();
            let builder = LogbufLayer::builder().sink(sink).shutdown_timeout(SHUTDOWN);
            let builder = if sized {
                builder.ring_capacity(RING).policy(FullPolicy::Block)
            } else {
                builder
            };
            let (layer, guard) = builder.build().expect("layer");
            let journal = layer.journal().clone();
            (
                Dispatch::new(registry.with(layer)),
                Keep::Logbuf(journal, guard, stats),
            )
        }
        Case::Otel => {
            let exporter = opentelemetry_otlp::LogExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(url)
                .build()
                .expect("exporter");
            let config = if sized {
                BatchConfigBuilder::default().with_max_queue_size(per_run + BATCH)
            } else {
                BatchConfigBuilder::default()
            };
            let processor = BatchLogProcessor::builder(exporter)
                .with_batch_config(config.build())
                .build();
            let provider = SdkLoggerProvider::builder()
                .with_resource(Resource::builder().with_service_name("bench").build())
                .with_log_processor(processor)
                .build();
            let layer = OpenTelemetryTracingBridge::new(&provider);
            (Dispatch::new(registry.with(layer)), Keep::Otel(provider))
        }
    }
}

/// A histogram of counter ticks up to about 4 s at 2.5 GHz (longer ones are counted as that).
/// Logs the warm-up, waits at `settled` for it to be delivered, then the timed events.
/// With `dispatch`, the thread logs through it as its scoped default; without, through the
/// global default.
fn log_thread(
    dispatch: Option<&Dispatch>,
    warm_up: u64,
    events: u64,
    settled: &Barrier,
    start: &Barrier,
) -> ThreadRun {
    let work = || {
        for _ in 0..warm_up {
            log();
        }
        settled.wait();
        start.wait();
        timed(events)
    };
    match dispatch {
        Some(dispatch) => tracing::dispatcher::with_default(dispatch, work),
        None => work(),
    }
}

/// Events of one run, and the delivery rate of its timed part.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Count {
    logged: u64,
    received: u64,
    /// Records the receiver got that are not the event (logbuf-otlp's loss reports).
    other: u64,
    requests: u64,
    /// logbuf: records the journal dropped (ring full).
    dropped: Option<u64>,
    /// logbuf: records the sink lost (queue full, refused, shutdown).
    lost: Option<u64>,
}

impl Count {
    fn add(&mut self, o: Count) {
        self.logged += o.logged;
        self.received += o.received;
        self.other += o.other;
        self.requests += o.requests;
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(a + b),
        };
        self.dropped = sum(self.dropped, o.dropped);
        self.lost = sum(self.lost, o.lost);
    }
}

/// What one run measured; quantiles and means in counter ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    p50: f64,
    p99: f64,
    p999: f64,
    /// Mean of the events timed one by one.
    mean: f64,
    batch_mean: f64,
    /// Events of the timed part delivered per second, up to the end of the shutdown.
    per_sec: f64,
    /// CPU time of the whole process from the timed part's start to the end of the shutdown,
    /// per event of the timed part delivered (ns).
    cpu_per_event: f64,
    count: Count,
}

impl Run {
    /// The run as one line of text, for a child process to hand its run to the parent.
    fn line(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
        let c = &self.count;
        format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {}",
            self.p50,
            self.p99,
            self.p999,
            self.mean,
            self.batch_mean,
            self.per_sec,
            self.cpu_per_event,
            c.logged,
            c.received,
            c.other,
            c.requests,
            opt(c.dropped),
            opt(c.lost),
        )
    }

    fn from_line(line: &str) -> Option<Run> {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 13 {
            return None;
        }
        let f = |i: usize| w[i].parse::<f64>().ok();
        let n = |i: usize| w[i].parse::<u64>().ok();
        let opt = |i: usize| match w[i] {
            "-" => Some(None),
            v => v.parse::<u64>().ok().map(Some),
        };
        Some(Run {
            p50: f(0)?,
            p99: f(1)?,
            p999: f(2)?,
            mean: f(3)?,
            batch_mean: f(4)?,
            per_sec: f(5)?,
            cpu_per_event: f(6)?,
            count: Count {
                logged: n(7)?,
                received: n(8)?,
                other: n(9)?,
                requests: n(10)?,
                dropped: opt(11)?,
                lost: opt(12)?,
            },
        })
    }
}

/// One run of `case`. With `global`, the case's subscriber becomes the process's global default
/// (once per process: the run is a child process of its own).
fn run(case: Case, threads: usize, warm_up: u64, events: u64, sized: bool, global: bool) -> Run {
    let receiver = Receiver::start();
    let per_thread = warm_up + 2 * events;
    let per_run = (threads as u64 * per_thread) as usize;
    let (dispatch, keep) = subscriber(case, &receiver.url(), sized, per_run);
    if global {
        tracing::dispatcher::set_global_default(dispatch.clone()).expect("a first global default");
    }
    let scoped = (!global).then_some(&dispatch);
    let settled = Barrier::new(threads + 1);
    let start = Barrier::new(threads + 1);
    let (runs, timed_from, cpu_from, before): (Vec<ThreadRun>, Instant, u64, u64) =
        thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (settled, start) = (&settled, &start);
                    thread::Builder::new()
                        .name(format!("log-{t}"))
                        .spawn_scoped(s, move || {
                            log_thread(scoped, warm_up, events, settled, start)
                        })
                        .expect("thread")
                })
                .collect();
            // Every thread's warm-up logged: deliver it, so the timed part starts with empty queues.
            settled.wait();
            keep.flush();
            receiver.wait_for(threads as u64 * warm_up, Duration::from_secs(2));
            let before = receiver.events();
            let cpu_from = process_cpu_ns();
            let timed_from = Instant::now();
            start.wait();
            let runs = handles
                .into_iter()
                .map(|h| h.join().expect("logging thread"))
                .collect();
            (runs, timed_from, cpu_from, before)
        });
    drop(dispatch);
    let (dropped, lost) = match keep {
        Keep::Logbuf(journal, guard, stats) => {
            drop(guard);
            (Some(journal.stats().dropped), Some(stats.lost()))
        }
        Keep::Otel(provider) => {
            let _ = provider.shutdown_with_timeout(SHUTDOWN);
            (None, None)
        }
    };
    let elapsed = timed_from.elapsed().as_secs_f64();
    let cpu = process_cpu_ns().saturating_sub(cpu_from);
    let received = receiver.events();
    let timed_received = received.saturating_sub(before).max(1);
    let per_sec = timed_received as f64 / elapsed;
    let cpu_per_event = cpu as f64 / timed_received as f64;
    let count = Count {
        logged: threads as u64 * per_thread,
        received,
        other: receiver.counts.other.load(Ordering::SeqCst),
        requests: receiver.counts.requests.load(Ordering::SeqCst),
        dropped,
        lost,
    };
    drop(receiver);
    let mut hist = histogram();
    for r in &runs {
        hist.add(&r.hist).expect("histogram");
    }
    let batch_mean = runs.iter().map(|r| r.batch_mean).sum::<f64>() / runs.len() as f64;
    Run {
        p50: hist.value_at_quantile(0.5) as f64,
        p99: hist.value_at_quantile(0.99) as f64,
        p999: hist.value_at_quantile(0.999) as f64,
        mean: hist.mean(),
        batch_mean,
        per_sec,
        cpu_per_event,
        count,
    }
}

/// Per-round figures of one case at one thread count (ns, and events per second).
#[derive(Default)]
struct Figures {
    p50: Vec<f64>,
    p99: Vec<f64>,
    p999: Vec<f64>,
    mean: Vec<f64>,
    batch: Vec<f64>,
    per_sec: Vec<f64>,
    cpu: Vec<f64>,
    count: Count,
}

/// The environment variable that makes the bench a child running one case: the case's index,
/// the logging threads, warm-up and timed events per thread, and whether queues are sized for
/// the run (1) or the defaults (0), separated by spaces. The child prints its [`Run`] on a
/// line that starts with [`CHILD_RUN`].
const CHILD: &str = "LOGBUF_OTLP_CHILD";
const CHILD_RUN: &str = "run: ";

/// Runs one case in a child process of this bench, where the case's subscriber is the global
/// default, as a service's `init()` makes it.
fn run_in_child(case: usize, threads: usize, warm_up: u64, events: u64, sized: bool) -> Run {
    let exe = std::env::current_exe().expect("the bench's own path");
    let out = std::process::Command::new(exe)
        .env(
            CHILD,
            format!("{case} {threads} {warm_up} {events} {}", u8::from(sized)),
        )
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("a child run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(CHILD_RUN))
        .and_then(Run::from_line)
        .unwrap_or_else(|| panic!("child run failed ({}): {stdout}", out.status))
}

/// The child's side of [`run_in_child`].
fn child(spec: &str) {
    let w: Vec<u64> = spec
        .split_whitespace()
        .map(|v| v.parse().expect("a number"))
        .collect();
    let [case, threads, warm_up, events, sized] = w[..] else {
        panic!("{CHILD} wants five numbers, got {spec:?}");
    };
    let r = run(
        CASES[case as usize],
        threads as usize,
        warm_up,
        events,
        sized == 1,
        true,
    );
    println!("{CHILD_RUN}{}", r.line());
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec);
    }
    let events = setting("events", "LOGBUF_BENCH_EVENTS", 100_000) as u64;
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 5);
    let warm_up = setting("warm-up", "LOGBUF_BENCH_WARM_UP", 500_000) as u64;
    let sized = setting("defaults", "LOGBUF_BENCH_DEFAULTS", 0) == 0;
    let only = setting("only", "LOGBUF_BENCH_ONLY", 0);
    let only_threads = setting("threads", "LOGBUF_BENCH_THREADS", 0);
    let scoped = setting("scoped", "LOGBUF_BENCH_SCOPED", 0) == 1;
    let selected = |ci: usize, threads: usize| {
        (only == 0 || only == ci + 1) && (only_threads == 0 || only_threads == threads)
    };
    let per_ns = cycles::ticks_per_ns(200);
    let (overhead, _) = cycles::overhead(100_000);
    println!(
        "## otlp\n\nmachine: {}\nunit: {} ({per_ns:.3} per ns); timed region's own cost: {overhead} cyc ({} ns) median\nqueues: {}\n",
        machine(),
        cycles::UNIT,
        fmt(overhead as f64 / per_ns, 1),
        if sized {
            "sized for a run (logbuf 32 MiB rings, block; OtlpSink and batch processor queues hold a run)"
        } else {
            "defaults (logbuf 1 MiB rings, drop, 64 batches; batch processor 2048 records)"
        },
    );
    let thread_counts = [1usize, 2];
    let mut figures: Vec<Vec<Figures>> = thread_counts
        .iter()
        .map(|_| CASES.iter().map(|_| Figures::default()).collect())
        .collect();
    for _ in 0..rounds {
        for (ti, &threads) in thread_counts.iter().enumerate() {
            for (ci, &case) in CASES.iter().enumerate() {
                if !selected(ci, threads) {
                    continue;
                }
                let r = if scoped {
                    run(case, threads, warm_up, events, sized, false)
                } else {
                    run_in_child(ci, threads, warm_up, events, sized)
                };
                let f = &mut figures[ti][ci];
                f.p50.push(r.p50 / per_ns);
                f.p99.push(r.p99 / per_ns);
                f.p999.push(r.p999 / per_ns);
                f.mean.push(r.mean / per_ns);
                f.batch.push(r.batch_mean / per_ns);
                f.per_sec.push(r.per_sec);
                f.cpu.push(r.cpu_per_event);
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
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    for (ti, &threads) in thread_counts.iter().enumerate() {
        let mut t = Table::new([
            "case",
            "mean ns (batches)",
            "p50 ns",
            "p99 ns",
            "p999 ns",
            "mean ns (timed)",
            "delivered / s",
            "process CPU ns / event",
            "events logged",
            "received",
            "lost (logged - received)",
            "ring dropped",
            "exporter lost",
            "other records",
            "requests",
        ]);
        for (ci, &case) in CASES.iter().enumerate() {
            if !selected(ci, threads) {
                continue;
            }
            let f = &figures[ti][ci];
            t.row([
                case.label().to_owned(),
                fmt(median(&mut f.batch.clone()), 1),
                fmt(median(&mut f.p50.clone()), 0),
                fmt(median(&mut f.p99.clone()), 0),
                fmt(median(&mut f.p999.clone()), 0),
                fmt(median(&mut f.mean.clone()), 1),
                fmt(median(&mut f.per_sec.clone()), 0),
                fmt(median(&mut f.cpu.clone()), 0),
                f.count.logged.to_string(),
                f.count.received.to_string(),
                (i128::from(f.count.logged) - i128::from(f.count.received)).to_string(),
                opt(f.count.dropped),
                opt(f.count.lost),
                f.count.other.to_string(),
                f.count.requests.to_string(),
            ]);
        }
        println!(
            "### {threads} logging thread{}\n\n{}",
            if threads == 1 { "" } else { "s" },
            t.render()
        );
    }

    let (logbuf, otel) = (0, 1);
    let one = &figures[0];
    let two = &figures[1];
    let mut t = Table::new(["logbuf / opentelemetry", "1 thread", "2 threads", "goal"]);
    t.row([
        "batch mean".to_owned(),
        ratio(&one[logbuf].batch, &one[otel].batch),
        ratio(&two[logbuf].batch, &two[otel].batch),
        "<= 0.20".to_owned(),
    ]);
    t.row([
        "p50".to_owned(),
        ratio(&one[logbuf].p50, &one[otel].p50),
        ratio(&two[logbuf].p50, &two[otel].p50),
        String::new(),
    ]);
    // The timed region's own cost (the two counter reads) is in every timed event of both
    // sides; less it, the p50s compare what the logging thread itself pays.
    let timer_ns = overhead as f64 / per_ns;
    let net = |v: &[f64]| v.iter().map(|x| x - timer_ns).collect::<Vec<f64>>();
    t.row([
        "p50 less the timed region's own cost".to_owned(),
        ratio(&net(&one[logbuf].p50), &net(&one[otel].p50)),
        ratio(&net(&two[logbuf].p50), &net(&two[otel].p50)),
        "<= 0.20".to_owned(),
    ]);
    t.row([
        "p99".to_owned(),
        ratio(&one[logbuf].p99, &one[otel].p99),
        ratio(&two[logbuf].p99, &two[otel].p99),
        String::new(),
    ]);
    t.row([
        "delivered / s".to_owned(),
        ratio(&one[logbuf].per_sec, &one[otel].per_sec),
        ratio(&two[logbuf].per_sec, &two[otel].per_sec),
        String::new(),
    ]);
    t.row([
        "process CPU / event".to_owned(),
        ratio(&one[logbuf].cpu, &one[otel].cpu),
        ratio(&two[logbuf].cpu, &two[otel].cpu),
        String::new(),
    ]);
    println!(
        "### ratios (medians of per-round ratios)\n\n{warm_up} warm-up, {events} timed and {events} batched events per thread per run, {rounds} rounds\n\n{}",
        t.render()
    );
}
