//! The OTLP sink's promises of delivery and loss not held elsewhere, each against a scripted
//! OTLP/HTTP receiver on a loopback port: which answers are retried and which are final,
//! `Retry-After`, the retry bound, partial successes, the loss report sent to the collector,
//! a shutdown that delivers what is queued, and a request that times out.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{FullPolicy, Journal, Written};
use logbuf_otlp::opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use logbuf_otlp::opentelemetry_proto::tonic::common::v1::any_value;
use logbuf_otlp::opentelemetry_proto::tonic::logs::v1::LogRecord;
use logbuf_otlp::{OtlpSink, OtlpSinkBuilder, OtlpStats};
use prost::Message;

/// How long to wait for anything: generous, for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// How the receiver answers one request.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    retry_after: Option<&'static str>,
    /// Records the answer says were rejected (a partial success), for a 200.
    rejected: i64,
    /// How long the receiver waits before answering.
    delay: Duration,
}

impl Answer {
    fn status(status: u16) -> Self {
        Answer {
            status,
            retry_after: None,
            rejected: 0,
            delay: Duration::ZERO,
        }
    }
    fn ok() -> Self {
        Self::status(200)
    }
}

/// One request as the receiver decoded it, with when it came and how it was answered.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    records: Vec<(String, LogRecord)>,
    answer: Answer,
}

impl Received {
    fn seqs(&self) -> Vec<u64> {
        self.records.iter().filter_map(|(_, r)| seq(r)).collect()
    }
}

type Script = Box<dyn FnMut(usize) -> Answer + Send>;

struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start(script: impl FnMut(usize) -> Answer + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Box::new(script)));
        let accept = {
            let (received, stop) = (received.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (received, script) = (received.clone(), script.clone());
                            thread::spawn(move || serve(stream, &received, &script));
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
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/v1/logs", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            accept.join().unwrap();
        }
    }
}

/// Serves one connection: one request, one answer, then closes.
fn serve(stream: TcpStream, received: &Mutex<Vec<Received>>, script: &Mutex<Script>) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut len = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        if name.eq_ignore_ascii_case("content-length") {
            len = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    let request = ExportLogsServiceRequest::decode(body.as_slice()).expect("an OTLP request");
    let records = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| {
            let scope = s.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            s.log_records
                .iter()
                .map(move |r| (scope.clone(), r.clone()))
        })
        .collect();
    let answer = {
        let mut received = received.lock().unwrap();
        let answer = (script.lock().unwrap())(received.len());
        received.push(Received {
            at: Instant::now(),
            records,
            answer: answer.clone(),
        });
        answer
    };
    thread::sleep(answer.delay);
    let body = if answer.status == 200 {
        ExportLogsServiceResponse {
            partial_success: (answer.rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: answer.rejected,
                error_message: "bad record".into(),
            }),
        }
        .encode_to_vec()
    } else {
        b"no".to_vec()
    };
    let extra = answer
        .retry_after
        .map(|v| format!("Retry-After: {v}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/x-protobuf\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        answer.status,
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

fn int(value: Option<&any_value::Value>) -> Option<i64> {
    match value {
        Some(any_value::Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

fn attr(record: &LogRecord, key: &str) -> Option<i64> {
    int(record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref()))
}

/// The `seq` attribute of an event (the sink's own reports have none).
fn seq(record: &LogRecord) -> Option<u64> {
    attr(record, "seq").map(|s| u64::try_from(s).unwrap())
}

/// How many times each seq was posted.
fn counts(received: &[Received]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for s in received.iter().flat_map(Received::seqs) {
        *counts.entry(s).or_insert(0) += 1;
    }
    counts
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A journal whose only sink is the OTLP sink, with one event callsite of one field, `seq`.
struct Program {
    journal: Journal,
    guard: Option<logbuf_journal::Guard>,
    event: u64,
    stats: OtlpStats,
}

impl Program {
    fn new(sink: OtlpSink) -> Self {
        let stats = sink.stats();
        let (journal, guard) = Journal::builder()
            .policy(FullPolicy::Block)
            .sink(sink)
            .build()
            .unwrap();
        let event = journal.register_callsite(&Callsite {
            id: 0,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "app",
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["seq"],
        });
        Program {
            journal,
            guard: Some(guard),
            event,
            stats,
        }
    }

    fn log(&self, seqs: std::ops::Range<u64>) {
        for seq in seqs {
            let written = self.journal.write(32, |enc, at| {
                enc.event(self.event, at.time, at.thread, None, 1);
                enc.value_u64(seq);
            });
            assert_eq!(written, Written::Committed);
        }
    }

    /// Drops the guard: the worker writes everything and the sink drains.
    fn finish(&mut self) {
        self.guard.take();
    }
}

fn sink(url: &str) -> OtlpSinkBuilder {
    OtlpSink::builder()
        .endpoint(url)
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
        .shutdown_timeout(Duration::from_secs(30))
}

#[test]
fn answers_other_than_429_502_503_504_are_final_and_those_are_retried() {
    for status in [401, 403, 404, 413, 500, 501] {
        let receiver = Receiver::start(move |_| Answer::status(status));
        let mut program = Program::new(sink(&receiver.url()).build().unwrap());
        let n = 40;
        program.log(0..n);
        program.finish();
        let stats = &program.stats;
        let posted = counts(&receiver.received());
        assert_eq!(posted.len() as u64, n, "{status}");
        assert!(posted.values().all(|c| *c == 1), "{status} retried");
        assert_eq!((stats.exported(), stats.lost()), (0, n), "{status}");
        assert_eq!(stats.retries(), 0, "{status}");
        assert!(program.journal.stats().sink_errors >= 1, "{status}");
    }
    for status in [429, 502, 503, 504] {
        let receiver = Receiver::start(move |i| {
            if i == 0 {
                Answer::status(status)
            } else {
                Answer::ok()
            }
        });
        let mut program = Program::new(sink(&receiver.url()).build().unwrap());
        let n = 40;
        program.log(0..n);
        program.finish();
        let stats = &program.stats;
        assert_eq!((stats.exported(), stats.lost()), (n, 0), "{status}");
        assert_eq!(stats.retries(), 1, "{status}");
        let received = receiver.received();
        // The refused batch is the one posted again.
        assert_eq!(received[0].seqs(), received[1].seqs(), "{status}");
        let delivered: Vec<u64> = received
            .iter()
            .filter(|r| r.answer.status == 200)
            .flat_map(Received::seqs)
            .collect();
        assert_eq!(delivered.len() as u64, n, "{status}");
    }
}

#[test]
fn retry_after_is_waited_for_rather_than_the_backoff() {
    let receiver = Receiver::start(|i| {
        if i == 0 {
            Answer {
                retry_after: Some("2"),
                ..Answer::status(503)
            }
        } else {
            Answer::ok()
        }
    });
    let sink = sink(&receiver.url())
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .build()
        .unwrap();
    let mut program = Program::new(sink);
    program.log(0..10);
    program.finish();
    assert_eq!((program.stats.exported(), program.stats.lost()), (10, 0));
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let waited = received[1].at - received[0].at;
    // The answer said 2 s; the backoff would have been 1 ms.
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
}

#[test]
fn a_batch_is_retried_for_at_most_retry_for_then_counted_lost() {
    let receiver = Receiver::start(|_| Answer::status(503));
    let sink = sink(&receiver.url())
        .backoff(Duration::from_millis(20), Duration::from_millis(20))
        .retry_for(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut program = Program::new(sink);
    let n = 30;
    program.log(0..n);
    program.finish();
    let stats = &program.stats;
    assert_eq!((stats.exported(), stats.lost()), (0, n), "{stats:?}");
    assert!(stats.retries() >= 1, "{stats:?}");
    let posted = counts(&receiver.received());
    assert_eq!(posted.len() as u64, n);
    // Each retry waits 20 ms and none starts past 300 ms: at most 15 retries of a batch.
    assert!(posted.values().all(|c| (2..=16).contains(c)), "{posted:?}");
    assert!(program.journal.stats().sink_errors >= 1);
}

#[test]
fn records_a_partial_success_rejects_are_counted_lost() {
    let receiver = Receiver::start(|_| Answer {
        rejected: 3,
        ..Answer::ok()
    });
    let sink = sink(&receiver.url()).max_batch_records(10).build().unwrap();
    let mut program = Program::new(sink);
    let n = 100;
    program.log(0..n);
    program.finish();
    let stats = &program.stats;
    let received = receiver.received();
    let want_lost: u64 = received.iter().map(|r| r.seqs().len().min(3) as u64).sum();
    assert!(want_lost >= 3);
    assert_eq!(stats.lost(), want_lost, "{stats:?}");
    assert_eq!(stats.exported() + stats.lost(), n, "{stats:?}");
    assert!(program.journal.stats().sink_errors >= 1);
}

#[test]
fn a_loss_is_reported_to_the_collector_once_records_go_through() {
    let receiver = Receiver::start(|i| {
        if i == 0 {
            Answer::status(400)
        } else {
            Answer::ok()
        }
    });
    let mut program = Program::new(sink(&receiver.url()).build().unwrap());
    program.log(0..10);
    assert!(program.journal.flush_timeout(DEADLINE));
    let stats = program.stats.clone();
    wait_for("the refusal", || stats.lost() == 10);
    program.log(10..20);
    program.finish();
    assert_eq!((stats.exported(), stats.lost()), (10, 10));
    let reports: Vec<(String, LogRecord)> = receiver
        .received()
        .into_iter()
        .filter(|r| r.answer.status == 200)
        .flat_map(|r| r.records)
        .filter(|(_, r)| attr(r, "logbuf.otlp.lost").is_some())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (scope, report) = &reports[0];
    assert_eq!(scope, "logbuf");
    assert_eq!(report.severity_text, "WARN");
    assert_eq!(attr(report, "logbuf.otlp.lost"), Some(10));
    assert!(program.journal.stats().sink_errors >= 1);
}

#[test]
fn shutdown_delivers_what_is_queued_within_the_timeout() {
    // A slow collector: every answer takes 100 ms, so batches wait in the queue.
    let receiver = Receiver::start(|_| Answer {
        delay: Duration::from_millis(100),
        ..Answer::ok()
    });
    let sink = sink(&receiver.url()).max_batch_records(10).build().unwrap();
    let mut program = Program::new(sink);
    let n = 100;
    program.log(0..n);
    assert!(program.journal.flush_timeout(DEADLINE));
    program.finish();
    let stats = &program.stats;
    assert_eq!((stats.exported(), stats.lost()), (n, 0), "{stats:?}");
    let posted = counts(&receiver.received());
    assert_eq!(posted.len() as u64, n);
    assert!(posted.values().all(|c| *c == 1));
    assert_eq!(program.journal.stats().sink_errors, 0);
}

#[test]
fn a_request_that_times_out_is_retried() {
    let receiver = Receiver::start(|i| {
        if i == 0 {
            Answer {
                delay: Duration::from_secs(3),
                ..Answer::ok()
            }
        } else {
            Answer::ok()
        }
    });
    let sink = sink(&receiver.url())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut program = Program::new(sink);
    let n = 20;
    program.log(0..n);
    program.finish();
    let stats = &program.stats;
    assert_eq!((stats.exported(), stats.lost()), (n, 0), "{stats:?}");
    assert!(stats.retries() >= 1, "{stats:?}");
    let received = receiver.received();
    assert!(received.len() >= 2);
    assert_eq!(received[0].seqs(), received[1].seqs());
}
