//! The OTLP sink against a real OTLP/HTTP receiver inside the test: a small HTTP/1.1 server on
//! a loopback port that decodes each body as `opentelemetry-proto`'s
//! `ExportLogsServiceRequest` with prost, and answers as each test scripts it.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{Journal, Written};
use logbuf_otlp::opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use logbuf_otlp::opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use logbuf_otlp::opentelemetry_proto::tonic::logs::v1::LogRecord;
use logbuf_otlp::{OtlpSink, OtlpStats};
use prost::Message;

/// How long to wait for anything: generous, for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

// === the receiver ===

/// How the receiver answers a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reply {
    /// 200 with an empty `ExportLogsServiceResponse`.
    Ok,
    /// This status, with `Retry-After: 0` for 429 and 503.
    Status(u16),
    /// Nothing until the receiver is released.
    Hang,
}

/// One request as the receiver decoded it.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    request: ExportLogsServiceRequest,
    reply: Reply,
}

type Script = Box<dyn FnMut(usize) -> Reply + Send>;

struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    /// Set to let hanging requests go (they are then answered 200).
    release: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start(script: impl FnMut(usize) -> Reply + Send + 'static) -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), script)
    }

    fn on(listener: TcpListener, script: impl FnMut(usize) -> Reply + Send + 'static) -> Self {
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Box::new(script)));
        let accept = {
            let (received, stop, release) = (received.clone(), stop.clone(), release.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (received, script, release) =
                                (received.clone(), script.clone(), release.clone());
                            thread::spawn(move || serve(stream, &received, &script, &release));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Receiver {
            addr,
            received,
            stop,
            release,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/v1/logs", self.addr)
    }

    /// Closes the port: connections are refused from now on.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            accept.join().unwrap();
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The records of the requests answered 200.
    fn delivered(&self) -> Vec<LogRecord> {
        self.received()
            .into_iter()
            .filter(|r| r.reply == Reply::Ok)
            .flat_map(|r| records(&r.request))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.release.store(true, Ordering::SeqCst);
        self.stop();
    }
}

/// Serves one connection: one request, one answer, then closes.
fn serve(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    script: &Mutex<Script>,
    release: &AtomicBool,
) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    assert!(line.starts_with("POST /v1/logs HTTP/1.1"), "{line:?}");
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers["content-length"].parse().unwrap();
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    assert_eq!(headers["content-type"], "application/x-protobuf");
    if headers.get("content-encoding").map(String::as_str) == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        body = plain;
    }
    let request = ExportLogsServiceRequest::decode(body.as_slice()).expect("an OTLP request");
    let reply = {
        let mut received = received.lock().unwrap();
        let n = received.len();
        let reply = (script.lock().unwrap())(n);
        received.push(Received {
            headers,
            request,
            reply,
        });
        reply
    };
    let mut stream = stream;
    let (status, extra) = match reply {
        Reply::Ok => (200, ""),
        Reply::Status(s @ (429 | 503)) => (s, "Retry-After: 0\r\n"),
        Reply::Status(s) => (s, ""),
        Reply::Hang => {
            while !release.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(5));
            }
            (200, "")
        }
    };
    let answer = if status == 200 {
        ExportLogsServiceResponse::default().encode_to_vec()
    } else {
        b"no".to_vec()
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/x-protobuf\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&answer);
}

fn records(request: &ExportLogsServiceRequest) -> Vec<LogRecord> {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| s.log_records.iter().cloned())
        .collect()
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string(value: Option<&any_value::Value>) -> &str {
    match value {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("not a string: {other:?}"),
    }
}

fn int(value: Option<&any_value::Value>) -> i64 {
    match value {
        Some(any_value::Value::IntValue(i)) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

/// The `seq` attribute of each event record (the sink's own reports have none).
fn seqs(records: &[LogRecord]) -> Vec<u64> {
    records
        .iter()
        .filter_map(|r| attr(&r.attributes, "seq"))
        .map(|v| u64::try_from(int(Some(v))).unwrap())
        .collect()
}

/// No seq twice.
fn distinct(seqs: &[u64]) {
    let mut counts = BTreeMap::new();
    for s in seqs {
        *counts.entry(*s).or_insert(0) += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

// === the program that logs ===

/// A journal whose only sink is the OTLP sink, with an event callsite of typed fields inside a
/// span.
struct Program {
    journal: Journal,
    guard: Option<logbuf_journal::Guard>,
    event: u64,
    span: u64,
    stats: OtlpStats,
}

#[derive(Debug)]
struct Failure(&'static str, Option<std::io::Error>);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.as_ref().map(|e| e as _)
    }
}

impl Program {
    fn new(sink: OtlpSink) -> Self {
        let stats = sink.stats();
        let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
        let event = journal.register_callsite(&Callsite {
            id: 0,
            kind: CallsiteKind::Event,
            level: Level::Warn,
            target: "app::orders",
            name: "event src/orders.rs:7",
            module_path: Some("app::orders"),
            file: Some("src/orders.rs"),
            line: Some(7),
            fields: vec![
                "message", "seq", "text", "delta", "ratio", "ok", "blob", "big", "r#type", "err",
                "unset",
            ],
        });
        let span = journal.register_callsite(&Callsite {
            id: 0,
            kind: CallsiteKind::Span,
            level: Level::Info,
            target: "app",
            name: "request",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["path", "n"],
        });
        journal.write_span(256, |enc, at| {
            enc.span_new(1, None, span, at.time, at.thread, 2);
            enc.value_str("/orders");
            enc.value_u64(7);
        });
        journal.write_span(256, |enc, at| {
            enc.span_new(2, Some(1), span, at.time, at.thread, 2);
            enc.value_str("/orders/7");
            enc.value_empty();
        });
        Program {
            journal,
            guard: Some(guard),
            event,
            span: 2,
            stats,
        }
    }

    fn log(&self, seq: u64) {
        let error = Failure(
            "payment failed",
            Some(std::io::Error::other("card declined")),
        );
        let written = self.journal.write(512, |enc, at| {
            enc.event(self.event, at.time, at.thread, Some(self.span), 11);
            enc.value_debug(format_args!("order {seq} placed"));
            enc.value_u64(seq);
            enc.value_str("é\n\"x\"");
            enc.value_i64(-(seq as i64));
            enc.value_f64(seq as f64 + 0.25);
            enc.value_bool(seq.is_multiple_of(2));
            enc.value_bytes(&[0, 1, 255]);
            enc.value_u128(u128::from(u64::MAX) + u128::from(seq));
            enc.value_str("order");
            enc.value_error(&error);
            enc.value_empty();
        });
        assert_eq!(written, Written::Committed);
    }

    /// Drops the guard: the worker writes everything and the sink drains.
    fn finish(&mut self) {
        self.guard.take();
    }
}

fn sink(url: &str) -> logbuf_otlp::OtlpSinkBuilder {
    OtlpSink::builder()
        .endpoint(url)
        .service_name("checkout")
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
}

/// Every field of event `seq`'s record, typed.
fn check_event(record: &LogRecord, seq: u64, thread_name: &str) {
    assert_eq!(record.severity_number, 13);
    assert_eq!(record.severity_text, "WARN");
    assert_eq!(
        record.body.as_ref().and_then(|b| b.value.as_ref()),
        Some(&any_value::Value::StringValue(format!(
            "order {seq} placed"
        )))
    );
    assert!(record.time_unix_nano > 1_600_000_000_000_000_000);
    assert!(record.observed_time_unix_nano >= record.time_unix_nano - 1_000_000_000);
    let a = &record.attributes;
    assert_eq!(int(attr(a, "seq")), seq as i64);
    assert_eq!(string(attr(a, "text")), "é\n\"x\"");
    assert_eq!(int(attr(a, "delta")), -(seq as i64));
    assert_eq!(
        attr(a, "ratio"),
        Some(&any_value::Value::DoubleValue(seq as f64 + 0.25))
    );
    assert_eq!(
        attr(a, "ok"),
        Some(&any_value::Value::BoolValue(seq.is_multiple_of(2)))
    );
    assert_eq!(
        attr(a, "blob"),
        Some(&any_value::Value::BytesValue(vec![0, 1, 255]))
    );
    assert_eq!(
        string(attr(a, "big")),
        (u128::from(u64::MAX) + u128::from(seq)).to_string()
    );
    assert_eq!(string(attr(a, "type")), "order");
    assert_eq!(string(attr(a, "err")), "payment failed");
    match attr(a, "err.sources") {
        Some(any_value::Value::ArrayValue(array)) => assert_eq!(
            array.values,
            vec![AnyValue {
                value: Some(any_value::Value::StringValue("card declined".into()))
            }]
        ),
        other => panic!("err.sources: {other:?}"),
    }
    assert!(attr(a, "unset").is_none());
    assert!(attr(a, "message").is_none());
    assert_eq!(string(attr(a, "code.file.path")), "src/orders.rs");
    assert_eq!(int(attr(a, "code.line.number")), 7);
    assert_eq!(string(attr(a, "code.namespace")), "app::orders");
    assert_eq!(string(attr(a, "thread.name")), thread_name);
    assert!(int(attr(a, "thread.id")) > 0);
    let Some(any_value::Value::ArrayValue(spans)) = attr(a, "spans") else {
        panic!("no span chain: {a:?}");
    };
    let spans: Vec<&[KeyValue]> = spans
        .values
        .iter()
        .map(|v| match &v.value {
            Some(any_value::Value::KvlistValue(list)) => list.values.as_slice(),
            other => panic!("a span is not a key-value list: {other:?}"),
        })
        .collect();
    assert_eq!(spans.len(), 2);
    for (span, (id, path)) in spans.iter().zip([(1, "/orders"), (2, "/orders/7")]) {
        assert_eq!(string(attr(span, "name")), "request");
        assert_eq!(int(attr(span, "id")), id);
        assert_eq!(string(attr(span, "target")), "app");
        let Some(any_value::Value::KvlistValue(fields)) = attr(span, "fields") else {
            panic!("span without fields: {span:?}");
        };
        assert_eq!(string(attr(&fields.values, "path")), path);
        match id {
            1 => assert_eq!(int(attr(&fields.values, "n")), 7),
            _ => assert!(attr(&fields.values, "n").is_none()),
        }
    }
}

// === the tests ===

#[test]
fn every_event_arrives_once_with_every_field_typed() {
    let receiver = Receiver::start(|_| Reply::Ok);
    let sink = sink(&receiver.url())
        .header("x-api-key", "k1")
        .resource_attribute("deployment.environment.name", "test")
        .gzip(true)
        .max_batch_records(100)
        .build()
        .unwrap();
    let mut program = Program::new(sink);
    let n = 1000;
    for seq in 0..n {
        program.log(seq);
    }
    let stats = program.stats.clone();
    program.finish();
    assert_eq!((stats.exported(), stats.lost()), (n, 0));
    let received = receiver.received();
    assert!(received.len() >= 10, "{} requests", received.len());
    for r in &received {
        assert_eq!(r.headers["x-api-key"], "k1");
        assert_eq!(r.headers["content-encoding"], "gzip");
        let [resource_logs] = r.request.resource_logs.as_slice() else {
            panic!("one resource per request");
        };
        let resource = &resource_logs.resource.as_ref().unwrap().attributes;
        assert_eq!(string(attr(resource, "service.name")), "checkout");
        assert_eq!(
            string(attr(resource, "deployment.environment.name")),
            "test"
        );
        assert_eq!(string(attr(resource, "telemetry.sdk.name")), "logbuf-otlp");
        for scope in &resource_logs.scope_logs {
            assert_eq!(scope.scope.as_ref().unwrap().name, "app::orders");
        }
    }
    let delivered = receiver.delivered();
    let seqs = seqs(&delivered);
    distinct(&seqs);
    assert_eq!(seqs.len() as u64, n);
    let thread_name = thread::current().name().unwrap().to_owned();
    for (record, seq) in delivered.iter().zip(&seqs) {
        check_event(record, *seq, &thread_name);
    }
    assert_eq!(program.journal.stats().sink_errors, 0);
}

#[test]
fn receiver_down_at_start_gets_everything_once_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sink = sink(&format!("http://{addr}/v1/logs")).build().unwrap();
    let mut program = Program::new(sink);
    let n = 300;
    for seq in 0..n {
        program.log(seq);
    }
    assert!(program.journal.flush_timeout(DEADLINE));
    let stats = program.stats.clone();
    wait_for("failed attempts", || stats.failures() >= 2);
    assert_eq!(stats.exported(), 0);
    let receiver = Receiver::on(TcpListener::bind(addr).unwrap(), |_| Reply::Ok);
    wait_for("delivery", || stats.exported() == n);
    program.finish();
    assert_eq!((stats.exported(), stats.lost()), (n, 0));
    assert!(stats.retries() >= 2);
    let seqs = seqs(&receiver.delivered());
    distinct(&seqs);
    assert_eq!(seqs.len() as u64, n);
}

#[test]
fn answers_503_and_429_are_retried() {
    let receiver = Receiver::start(|i| match i {
        0 | 1 => Reply::Status(503),
        2 => Reply::Status(429),
        _ => Reply::Ok,
    });
    let sink = sink(&receiver.url()).build().unwrap();
    let mut program = Program::new(sink);
    let n = 50;
    for seq in 0..n {
        program.log(seq);
    }
    let stats = program.stats.clone();
    program.finish();
    assert_eq!((stats.exported(), stats.lost()), (n, 0));
    assert_eq!(stats.retries(), 3);
    let received = receiver.received();
    // The same batch posted again after each refusal.
    assert_eq!(
        seqs(&records(&received[0].request)),
        seqs(&records(&received[3].request))
    );
    let seqs = seqs(&receiver.delivered());
    distinct(&seqs);
    assert_eq!(seqs.len() as u64, n);
}

#[test]
fn answer_400_drops_the_batch_counts_it_and_does_not_retry() {
    let receiver = Receiver::start(|_| Reply::Status(400));
    let sink = sink(&receiver.url()).max_batch_records(10).build().unwrap();
    let mut program = Program::new(sink);
    let n = 100;
    for seq in 0..n {
        program.log(seq);
    }
    let stats = program.stats.clone();
    program.finish();
    let received = receiver.received();
    let posted = seqs(
        &received
            .iter()
            .flat_map(|r| records(&r.request))
            .collect::<Vec<_>>(),
    );
    // Each event posted once: no retry.
    distinct(&posted);
    assert_eq!(posted.len() as u64, n);
    assert_eq!(stats.retries(), 0);
    assert_eq!(stats.exported(), 0);
    assert_eq!(stats.lost(), n);
    assert_eq!(stats.refused_batches(), received.len() as u64);
    assert!(program.journal.stats().sink_errors >= 1);
}

#[test]
fn receiver_gone_mid_run_loses_only_what_is_counted() {
    let mut receiver = Receiver::start(|_| Reply::Ok);
    let sink = sink(&receiver.url())
        .retry_for(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_millis(500))
        .max_batch_records(20)
        .build()
        .unwrap();
    let mut program = Program::new(sink);
    let stats = program.stats.clone();
    let n = 400;
    for seq in 0..n / 2 {
        program.log(seq);
    }
    assert!(program.journal.flush_timeout(DEADLINE));
    wait_for("the first half", || stats.exported() == n / 2);
    receiver.stop();
    for seq in n / 2..n {
        program.log(seq);
    }
    program.finish();
    let delivered = seqs(&receiver.delivered());
    distinct(&delivered);
    assert_eq!(delivered.len() as u64, stats.exported());
    assert_eq!(stats.exported() + stats.lost(), n);
    assert!(stats.lost() >= 1);
    assert!(program.journal.stats().sink_errors >= 1);
}

#[test]
fn a_hung_collector_never_blocks_the_logging_thread_or_the_worker() {
    let receiver = Receiver::start(|_| Reply::Hang);
    let sink = sink(&receiver.url())
        .max_batch_records(10)
        .queue_batches(4)
        .timeout(Duration::from_secs(600))
        .shutdown_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut program = Program::new(sink);
    let stats = program.stats.clone();
    let n = 1000;
    for seq in 0..n {
        program.log(seq);
    }
    // The worker got through every record while the collector holds the first request.
    assert!(program.journal.flush_timeout(DEADLINE));
    wait_for("the first request", || receiver.received().len() == 1);
    assert_eq!(receiver.received().len(), 1);
    assert!(stats.queued_batches() <= 4);
    assert_eq!(stats.exported(), 0);
    // The batch in flight, the 4 queued and the batches that found the queue full.
    assert!(stats.lost() >= n - 50, "{stats:?}");
    program.finish();
    assert_eq!(stats.exported() + stats.lost(), n, "{stats:?}");
    assert!(program.journal.stats().sink_errors >= 1);
}
