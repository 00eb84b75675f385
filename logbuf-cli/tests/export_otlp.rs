//! `logbuf export --otlp`: a journal file shipped to an OTLP/HTTP receiver in the test, which
//! decodes each body with `opentelemetry-proto`'s `ExportLogsServiceRequest`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use logbuf_cli::input::Exit;
use logbuf_journal::Journal;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_otlp::opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use logbuf_otlp::opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;

/// Starts a receiver answering 200 to everything; returns its URL and what it decoded.
fn receiver() -> (String, Arc<Mutex<Vec<ExportLogsServiceRequest>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/logs", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut line, mut len) = (String::new(), 0);
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let Some((name, value)) = line.trim_end().split_once(':') else {
                    break;
                };
                if name.eq_ignore_ascii_case("content-length") {
                    len = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let request = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
            sink.lock().unwrap().push(request);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

#[test]
fn export_otlp_ships_every_event_of_a_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.lbf");
    let (journal, guard) = Journal::builder().file(&path).unwrap().build().unwrap();
    let event = journal.register_callsite(&Callsite {
        id: 0,
        kind: CallsiteKind::Event,
        level: Level::Error,
        target: "app",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["message", "seq"],
    });
    let n = 700u64;
    for seq in 0..n {
        journal.write(128, |enc, at| {
            enc.event(event, at.time, at.thread, None, 2);
            enc.value_str("shipped");
            enc.value_u64(seq);
        });
    }
    drop(guard);

    let (url, got) = receiver();
    let mut diagnostics = Vec::new();
    let exit = logbuf_cli::otlp::otlp(&[path], &url, Some("shop"), &mut diagnostics).unwrap();
    let diagnostics = String::from_utf8(diagnostics).unwrap();
    assert_eq!(exit, Exit::Ok, "{diagnostics}");
    assert!(
        diagnostics.contains(&format!("{n} of {n} records exported to {url}")),
        "{diagnostics}"
    );
    let mut seqs = Vec::new();
    for request in got.lock().unwrap().iter() {
        for resource in &request.resource_logs {
            let service = &resource.resource.as_ref().unwrap().attributes[0];
            assert_eq!(service.key, "service.name");
            for record in resource.scope_logs.iter().flat_map(|s| &s.log_records) {
                assert_eq!(record.severity_text, "ERROR");
                assert!(record.time_unix_nano > 1_600_000_000_000_000_000);
                let seq = record.attributes.iter().find(|kv| kv.key == "seq").unwrap();
                match seq.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::IntValue(i)) => seqs.push(*i as u64),
                    other => panic!("seq: {other:?}"),
                }
            }
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..n).collect::<Vec<_>>());
}
