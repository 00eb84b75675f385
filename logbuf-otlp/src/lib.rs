//! Logs leave the machine: [`OtlpSink`], a [`Sink`] of logbuf's journal that exports events
//! as OpenTelemetry log records over OTLP/HTTP with protobuf bodies, to an OpenTelemetry
//! Collector or any service that takes OTLP (Grafana Loki, Elasticsearch, Datadog,
//! Honeycomb, ...).
//!
//! The logging thread does what it always does (it encodes the event into its ring, some tens
//! of nanoseconds); the journal's worker writes the record as an OTLP `LogRecord` in protobuf
//! into a batch; a thread of the sink's own posts the batches. No OpenTelemetry SDK runs on any
//! thread. The messages are those of the `opentelemetry-proto` crate's generated types: events
//! are written straight into the batch's bytes ([`mapping::encode_log_record`], with no
//! allocation per event), byte for byte what `prost` writes for the `LogRecord` that
//! [`mapping::log_record`] builds (a property test holds the two together); the sink's own
//! records are built as `LogRecord`s and encoded with `prost`.
//!
//! ```no_run
//! use logbuf_journal::Journal;
//! use logbuf_otlp::OtlpSink;
//!
//! let sink = OtlpSink::builder()
//!     .endpoint("http://collector:4318/v1/logs")
//!     .service_name("checkout")
//!     .resource_attribute("deployment.environment.name", "production")
//!     .header("authorization", "Bearer secret")
//!     .gzip(true)
//!     .build()?;
//! let stats = sink.stats();
//! let (journal, guard) = Journal::builder().sink(sink).build()?;
//! // ... log through logbuf-tracing or logbuf-log ...
//! drop(guard); // delivers what is queued, within the sink's shutdown timeout
//! eprintln!("{} exported, {} lost", stats.exported(), stats.lost());
//! # drop(journal);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Mapping
//!
//! Each event becomes one `LogRecord`; the records of a batch are grouped by the events'
//! targets, each target an instrumentation scope.
//!
//! | journal | OTLP |
//! |:--|:--|
//! | level | `severity_number` `TRACE` 1, `DEBUG` 5, `INFO` 9, `WARN` 13, `ERROR` 17; `severity_text` `"TRACE"` … `"ERROR"` |
//! | the `message` field | `body`, a string (typed as recorded, if it is not text) |
//! | other fields, by name (`r#` taken off) | `attributes`, typed: `u64`, `i64` and 128-bit integers that fit an `i64` → `int`, larger ones → `string` of their digits; `f64` → `double`; `bool` → `bool`; strings and `Debug`/`Display` text → `string`; bytes → `bytes`; an error → `string` (its message), its sources → `NAME.sources`, an array of strings. Fields not recorded are left out |
//! | target | the instrumentation scope's `name` |
//! | file, line, module path | `code.file.path`, `code.line.number`, `code.namespace` |
//! | thread | `thread.id` (the journal's thread id), `thread.name` (if the thread has one) |
//! | the spans the event is in | `spans`: an array, outermost first, of key-value lists `{name, id, target, fields: {…}}`, the span's fields typed as above with their latest values |
//! | time | `time_unix_nano`, from the journal's clock (the logging thread's tick count, put on the wall clock by the journal's clock records); `observed_time_unix_nano` is when the worker converted it |
//! | [`service_name`](OtlpSinkBuilder::service_name), [`resource_attribute`](OtlpSinkBuilder::resource_attribute) | the resource's `service.name` and attributes (string values), and `telemetry.sdk.name` `logbuf-otlp`, `telemetry.sdk.language` `rust`, `telemetry.sdk.version` |
//! | records the journal dropped (`Record::Dropped`) | a record of their own in scope `logbuf`: `WARN`, body `1,234 records dropped on thread worker-3 (ring full or record too large)`, attributes `logbuf.dropped.count`, `thread.id`, `thread.name`, and `logbuf.dropped.callsites` (`{target, name, code.file.path, code.line.number, count}` of the callsites that lost the most, as the journal names them) |
//! | records this sink lost | once records go out again, a record in scope `logbuf`: `WARN`, body `12 log records lost before reaching the collector (…)`, attribute `logbuf.otlp.lost` |
//!
//! `trace_id` and `span_id` are left empty: journal span ids are not OpenTelemetry trace
//! context. The [`mapping`] module has the functions, for exporting records read back from a
//! file.
//!
//! # Delivery and losses
//!
//! The sink never makes the worker wait on the network (RELIABILITY.md, "OTLP"):
//!
//! - A batch closes when it holds [`max_batch_records`](OtlpSinkBuilder::max_batch_records)
//!   (default 512) records or about [`max_batch_bytes`](OtlpSinkBuilder::max_batch_bytes)
//!   (default 1 MiB) encoded, when its first record is
//!   [`max_batch_age`](OtlpSinkBuilder::max_batch_age) old (default 1 s), and at each flush of
//!   the journal (the worker flushes every 100 ms while records arrive). Closed batches wait for
//!   the exporter thread in a queue of at most [`queue_batches`](OtlpSinkBuilder::queue_batches)
//!   (default 64).
//! - The exporter posts each batch (`content-type: application/x-protobuf`, gzip if asked).
//!   Connection errors, timeouts ([`timeout`](OtlpSinkBuilder::timeout), default 10 s) and the
//!   answers the OTLP specification calls retryable (429, 502, 503, 504) are tried again after
//!   a backoff doubling from 100 ms to 5 s ([`backoff`](OtlpSinkBuilder::backoff)), or after
//!   the answer's `Retry-After` (seconds or an HTTP date), for at most
//!   [`retry_for`](OtlpSinkBuilder::retry_for) (default 30 s) per batch. Any other answer
//!   (400, 401, 413, 500, ...) is final: the batch is dropped without a retry. Records a 2xx
//!   answer's `partial_success` says were rejected are lost too.
//! - Every lost record is counted ([`OtlpStats::lost`]): a batch that finds the queue full, a
//!   batch refused or past its retry time, records rejected, and what is still queued when the
//!   journal shuts down and [`shutdown_timeout`](OtlpSinkBuilder::shutdown_timeout) (default
//!   5 s) has passed. Each loss is also returned as an error from the sink's next call, which
//!   the journal counts in `Stats::sink_errors` and reports on stderr, and is reported to the
//!   collector by a log record of its own in the next batch (which arrives once records go
//!   through again, or is lost with that batch).
//!
//! Plain `http://` is built in; `https://` needs the `rustls` feature (ureq with rustls and
//! the webpki root certificates). Proxies are taken from the environment (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), as ureq does. gRPC is not offered.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use logbuf_journal::read::Context;
use logbuf_journal::sink::text::DropReport;
use logbuf_journal::sink::{Entry, Sink};
use logbuf_journal::wire::Record;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message as _;

mod export;
pub mod mapping;
mod protobuf;

pub use opentelemetry_proto;

use export::{Job, Settings, Shared};
use mapping::{LOGBUF_SCOPE, LogBatch};

/// Why an [`OtlpSink`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// [`OtlpSinkBuilder::endpoint`] was not given.
    #[error("no endpoint: give one, as `http://collector:4318/v1/logs`")]
    NoEndpoint,
    /// The endpoint is not an `http://` URL (or `https://`, with the `rustls` feature).
    #[error("invalid endpoint {url:?}: {why}")]
    Endpoint {
        /// The endpoint given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A header's name or value cannot be sent.
    #[error("invalid header {name:?}: {why}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// The exporter thread could not be started.
    #[error("cannot start the exporter thread: {0}")]
    Thread(#[from] io::Error),
}

/// Settings of an [`OtlpSink`]; from [`OtlpSink::builder`].
#[derive(Debug, Clone)]
pub struct OtlpSinkBuilder {
    endpoint: Option<String>,
    service_name: Option<String>,
    headers: Vec<(String, String)>,
    resource: Vec<KeyValue>,
    gzip: bool,
    max_batch_records: usize,
    max_batch_bytes: usize,
    max_batch_age: Duration,
    queue_batches: usize,
    timeout: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    retry_for: Duration,
    shutdown_timeout: Duration,
}

impl OtlpSinkBuilder {
    /// The URL to post to, with the signal's path: `http://collector:4318/v1/logs`. A URL
    /// without a path (`http://collector:4318`) gets `/v1/logs`.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The resource's `service.name`. Default `unknown_service:` and the executable's name,
    /// as the OpenTelemetry specification says.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// A header sent with every request (`authorization`, `x-api-key`, ...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A string attribute of the resource (`deployment.environment.name`, `host.name`, ...).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource
            .push(mapping::key_value(key, mapping::string_value(value)));
        self
    }

    /// Whether request bodies are gzipped (`content-encoding: gzip`). Default off.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// The most records in one request (at least 1). Default 512.
    pub fn max_batch_records(mut self, records: usize) -> Self {
        self.max_batch_records = records.max(1);
        self
    }

    /// A batch closes once its records take about this many bytes encoded. Default 1 MiB.
    pub fn max_batch_bytes(mut self, bytes: usize) -> Self {
        self.max_batch_bytes = bytes.max(1);
        self
    }

    /// A batch closes at the first record written once its first record is this old (and at
    /// each flush of the journal, whatever its age). Default 1 s.
    pub fn max_batch_age(mut self, age: Duration) -> Self {
        self.max_batch_age = age;
        self
    }

    /// The most closed batches waiting for the exporter thread (at least 1); a batch that
    /// finds the queue full is lost and counted. Default 64.
    pub fn queue_batches(mut self, batches: usize) -> Self {
        self.queue_batches = batches.max(1);
        self
    }

    /// How long one request may take, connecting included. Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The wait before the first retry of a batch, doubling with each retry up to `max`.
    /// Default 100 ms to 5 s.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// How long a batch is retried, from its first attempt; a retry that would start later
    /// is not made and the batch is lost and counted. Default 30 s.
    pub fn retry_for(mut self, time: Duration) -> Self {
        self.retry_for = time;
        self
    }

    /// How long the journal's shutdown (dropping its guard) waits for the queued batches to
    /// be delivered; what is left then is counted as lost. Keep it below the journal's own
    /// shutdown timeout (default 30 s). Default 5 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The sink, with its exporter thread started.
    ///
    /// # Errors
    ///
    /// See [`Error`].
    pub fn build(self) -> Result<OtlpSink, Error> {
        let url = self.endpoint.ok_or(Error::NoEndpoint)?;
        let endpoint = check_endpoint(&url)?;
        for (name, value) in &self.headers {
            let bad = |why: String| Error::Header {
                name: name.clone(),
                why,
            };
            ureq::http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            ureq::http::HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
        }
        let service = self.service_name.unwrap_or_else(default_service_name);
        let settings = Settings {
            endpoint: endpoint.clone(),
            headers: self.headers,
            gzip: self.gzip,
            timeout: self.timeout,
            min_backoff: self.min_backoff,
            max_backoff: self.max_backoff,
            retry_for: self.retry_for,
            resource: mapping::resource(&service, &self.resource).encode_to_vec(),
        };
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("logbuf-otlp".into())
            .spawn(move || export::run(thread_shared, settings))?;
        Ok(OtlpSink {
            context: Context::new(),
            batch: LogBatch::new(),
            code: protobuf::CachedAttributes::default(),
            counted: 0,
            opened: None,
            endpoint,
            max_batch_records: self.max_batch_records,
            max_batch_bytes: self.max_batch_bytes,
            max_batch_age: self.max_batch_age,
            queue_batches: self.queue_batches,
            shutdown_timeout: self.shutdown_timeout,
            shared,
            reported: 0,
        })
    }
}

/// The endpoint to post to: checked, with `/v1/logs` added to a URL without a path.
fn check_endpoint(url: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Endpoint {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e: ureq::http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") if cfg!(feature = "rustls") => {}
        Some("https") => {
            return Err(bad(
                "https needs logbuf-otlp's `rustls` feature (or a collector on plain http)",
            ));
        }
        _ => return Err(bad("not an http:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if uri.path().is_empty() || uri.path() == "/" && !url.ends_with('/') {
        return Ok(format!("{}/v1/logs", url.trim_end_matches('/')));
    }
    if uri.path() == "/" {
        return Ok(format!("{url}v1/logs"));
    }
    Ok(url.to_owned())
}

/// `unknown_service:` and the executable's name.
fn default_service_name() -> String {
    let exe = std::env::current_exe().ok();
    let name = exe
        .as_deref()
        .and_then(std::path::Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("unknown_service:{name}")
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .unwrap_or(0)
}

/// What an [`OtlpSink`] has done, readable from any thread while the journal runs and after
/// ([`OtlpSink::stats`]). Counts are of log records (events and the journal's reports of
/// dropped records; the sink's own reports of losses are not counted) unless they say
/// otherwise.
#[derive(Clone)]
pub struct OtlpStats(Arc<Shared>);

impl fmt::Debug for OtlpStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpStats")
            .field("exported", &self.exported())
            .field("lost", &self.lost())
            .field("queued_batches", &self.queued_batches())
            .field("requests", &self.requests())
            .field("retries", &self.retries())
            .field("failures", &self.failures())
            .finish()
    }
}

impl OtlpStats {
    /// Records the collector accepted (a 2xx answer, less what it said it rejected).
    pub fn exported(&self) -> u64 {
        self.0.counters.exported.load(Ordering::Relaxed)
    }

    /// Records lost: in a batch that found the queue full, that the collector refused
    /// (an answer not retried), whose retries ran out, that the collector rejected in a
    /// partial success, or still queued when the shutdown timeout passed. Each loss was
    /// also an error returned to the worker.
    pub fn lost(&self) -> u64 {
        self.0.counters.lost.load(Ordering::Relaxed)
    }

    /// Batches waiting for the exporter thread now (not counting the one being posted).
    pub fn queued_batches(&self) -> u64 {
        self.0.counters.queued.load(Ordering::Relaxed)
    }

    /// HTTP requests made, retries among them.
    pub fn requests(&self) -> u64 {
        self.0.counters.requests.load(Ordering::Relaxed)
    }

    /// Requests made again after a failure.
    pub fn retries(&self) -> u64 {
        self.0.counters.retries.load(Ordering::Relaxed)
    }

    /// Requests that failed: no connection, a timeout, or an answer other than 2xx.
    pub fn failures(&self) -> u64 {
        self.0.counters.failures.load(Ordering::Relaxed)
    }

    /// Batches dropped at once because the collector's answer was final (a 4xx other than
    /// 429, a 5xx other than 502, 503, 504).
    pub fn refused_batches(&self) -> u64 {
        self.0.counters.rejected_batches.load(Ordering::Relaxed)
    }
}

/// A [`Sink`] exporting the journal's events to an OTLP/HTTP collector; see the
/// [crate docs](crate).
///
/// Spans, callsites and thread names are tracked from the records the sink is given, so a
/// sink must see every record from the start of the journal.
pub struct OtlpSink {
    context: Context,
    batch: LogBatch,
    /// The `code.*` and `thread.*` attributes of recent callsites and threads, encoded.
    code: protobuf::CachedAttributes,
    /// Records in `batch` that the stats count (all but the sink's own loss reports).
    counted: u64,
    /// When the batch's first record came.
    opened: Option<Instant>,
    endpoint: String,
    max_batch_records: usize,
    max_batch_bytes: usize,
    max_batch_age: Duration,
    queue_batches: usize,
    shutdown_timeout: Duration,
    shared: Arc<Shared>,
    /// Losses already returned as errors and reported in a record.
    reported: u64,
}

impl fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSink")
            .field("endpoint", &self.endpoint)
            .field("batched", &self.batch.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl OtlpSink {
    /// Settings with their defaults; [`OtlpSinkBuilder::endpoint`] must be given.
    pub fn builder() -> OtlpSinkBuilder {
        OtlpSinkBuilder {
            endpoint: None,
            service_name: None,
            headers: Vec::new(),
            resource: Vec::new(),
            gzip: false,
            max_batch_records: 512,
            max_batch_bytes: 1 << 20,
            max_batch_age: Duration::from_secs(1),
            queue_batches: 64,
            timeout: Duration::from_secs(10),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            retry_for: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// A handle on the sink's counters, to read while the journal owns the sink.
    pub fn stats(&self) -> OtlpStats {
        OtlpStats(Arc::clone(&self.shared))
    }

    /// The URL the sink posts to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Takes one record, as the worker hands it over: definitions and span records update the
    /// sink's context, events and reports of dropped records become log records. For records
    /// that do not come from a journal's worker (a file read back, a test).
    ///
    /// # Errors
    ///
    /// Records were lost since the last call (see [`OtlpStats::lost`]); the sink can be called
    /// again.
    pub fn write_record(&mut self, record: Record<'_>) -> io::Result<()> {
        match record {
            Record::Dropped(dropped) => {
                self.context.apply(&record);
                let report = DropReport::new(&self.context, dropped);
                let log = mapping::dropped_record(&report, now_nanos());
                self.batch.push(LOGBUF_SCOPE, log);
            }
            Record::Event(_) => {
                if !self.context.apply(&record) {
                    return self.report();
                }
                let Record::Event(event) = record else {
                    return self.report();
                };
                let Some(event) = self.context.event(event) else {
                    return self.report();
                };
                self.batch
                    .push_event_cached(&event, now_nanos(), &mut self.code);
            }
            other => {
                self.context.apply(&other);
                return self.report();
            }
        }
        self.counted += 1;
        let opened = *self.opened.get_or_insert_with(Instant::now);
        if self.batch.len() >= self.max_batch_records
            || self.batch.encoded_len() >= self.max_batch_bytes
            || opened.elapsed() >= self.max_batch_age
        {
            self.close_batch();
        }
        self.report()
    }

    /// Hands the open batch to the exporter thread, or counts it lost if the queue is full.
    fn close_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let records = std::mem::take(&mut self.counted);
        self.opened = None;
        let mut state = self.shared.lock();
        if state.queue.len() >= self.queue_batches {
            let waiting = state.queue.len();
            self.shared.lose(
                &mut state,
                records,
                format!(
                    "the exporter's queue was full ({waiting} batches wait: the collector is \
                     slow or unreachable)"
                ),
            );
            return;
        }
        state.queue.push_back(Job { batch, records });
        self.shared
            .counters
            .queued
            .store(state.queue.len() as u64, Ordering::Relaxed);
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Returns the losses since the last call as an error, and puts a record reporting them
    /// in the open batch.
    fn report(&mut self) -> io::Result<()> {
        let lost = self.shared.counters.lost.load(Ordering::Relaxed);
        if lost <= self.reported {
            return Ok(());
        }
        let new = lost - self.reported;
        self.reported = lost;
        let why = self.shared.lock().last_loss.clone().unwrap_or_default();
        self.batch
            .push(LOGBUF_SCOPE, mapping::lost_record(new, now_nanos()));
        self.opened.get_or_insert_with(Instant::now);
        Err(io::Error::other(format!(
            "otlp {}: {new} log record(s) lost: {why}",
            self.endpoint
        )))
    }

    /// Waits until the queue is empty and nothing is in flight, at most `timeout`; returns
    /// whether it is.
    fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.queue.is_empty() && state.in_flight.is_none() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        // Give up on what is left: counted lost here, not counted by the exporter.
        let queued: u64 = state.queue.iter().map(|j| j.records).sum();
        let left = queued + state.in_flight.unwrap_or(0);
        state.queue.clear();
        state.in_flight = None;
        state.abandoned += 1;
        self.shared.counters.queued.store(0, Ordering::Relaxed);
        let timeout = self.shutdown_timeout;
        self.shared.lose(
            &mut state,
            left,
            format!("not delivered within the shutdown timeout ({timeout:?})"),
        );
        drop(state);
        self.shared.changed.notify_all();
        false
    }
}

impl Sink for OtlpSink {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        let record = entry
            .record()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.write_record(record)
    }

    /// Hands the open batch to the exporter thread, without waiting.
    fn flush(&mut self) -> io::Result<()> {
        self.close_batch();
        self.report()
    }

    /// Hands the open batch over and waits, at most the shutdown timeout, for every queued
    /// batch to be delivered (or dropped); what is left then is lost and counted.
    fn sync(&mut self) -> io::Result<()> {
        self.close_batch();
        self.drain(self.shutdown_timeout);
        self.report()
    }
}

impl Drop for OtlpSink {
    /// Tells the exporter thread to stop once the queue is empty; does not wait for it.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}
