//! A service sending its logs to an OpenTelemetry collector: `tracing` events in spans go
//! through the journal to `logbuf-otlp`'s sink, which turns them into OTLP log records on the
//! worker side and posts them (OTLP/HTTP, protobuf) from a thread of its own.
//!
//! ```text
//! cargo run -p logbuf-examples --example otlp                                  # a receiver of its own
//! cargo run -p logbuf-examples --example otlp -- http://localhost:4318/v1/logs # or a running collector
//! ```
//!
//! Without a URL it starts a small OTLP/HTTP receiver on a loopback port that decodes each
//! request with `opentelemetry-proto`'s types and prints the records it got.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use logbuf_otlp::OtlpSink;
use logbuf_otlp::opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use tracing_subscriber::layer::SubscriberExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => receiver()?,
    };
    let sink = OtlpSink::builder()
        .endpoint(url)
        .service_name("checkout")
        .resource_attribute("deployment.environment.name", "example")
        .gzip(true)
        .build()?;
    let stats = sink.stats();
    let (layer, guard) = logbuf_tracing::LogbufLayer::builder().sink(sink).build()?;
    let subscriber = tracing_subscriber::registry().with(layer);

    tracing::subscriber::with_default(subscriber, || {
        for order in 0..3u64 {
            let span = tracing::info_span!("order", id = order, path = "/api/orders");
            let _entered = span.enter();
            tracing::info!(
                items = order + 1,
                total = 9.5 * order as f64,
                "order placed"
            );
        }
        tracing::warn!(provider = "acme", latency_ms = 812u64, "payment slow");
    });
    drop(guard); // delivers what is queued (waiting at most the sink's shutdown timeout, 5 s)
    println!(
        "exported {} log records in {} request(s), lost {}",
        stats.exported(),
        stats.requests(),
        stats.lost()
    );
    Ok(())
}

/// Starts a receiver on a loopback port; returns its URL.
fn receiver() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1/logs", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Err(e) = serve(stream) {
                eprintln!("receiver: {e}");
            }
        }
    });
    Ok(url)
}

/// One request: headers, body (gunzipped), decoded and printed; answered 200.
fn serve(mut stream: std::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let (mut line, mut len, mut gzip) = (String::new(), 0, false);
    reader.read_line(&mut line)?;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        match name.to_ascii_lowercase().as_str() {
            "content-length" => len = value.trim().parse()?,
            "content-encoding" => gzip = value.trim() == "gzip",
            _ => {}
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    if gzip {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(body.as_slice()).read_to_end(&mut plain)?;
        body = plain;
    }
    let request = ExportLogsServiceRequest::decode(body.as_slice())?;
    for resource in &request.resource_logs {
        for scope in &resource.scope_logs {
            for record in &scope.log_records {
                println!(
                    "receiver: [{}] {} {:?}\n    attributes: {:?}",
                    scope.scope.as_ref().map_or("", |s| s.name.as_str()),
                    record.severity_text,
                    record.body.as_ref().and_then(|b| b.value.as_ref()),
                    record
                        .attributes
                        .iter()
                        .map(|kv| &kv.key)
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    Ok(())
}
