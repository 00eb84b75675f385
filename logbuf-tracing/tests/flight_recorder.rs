//! The flight recorder behind the tracing layer: debug events are held and written, in their
//! spans, only before an error; the one-line setup lets `debug` through its filter.

use std::process::Command;

use logbuf_journal::read::Reader;
use logbuf_tracing::{FlightRecorder, LogbufLayer};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn debug_events_are_written_in_their_spans_only_before_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.lbf");
    let (layer, guard) = LogbufLayer::builder()
        .file(&path)
        .flight_recorder(FlightRecorder::new().dump_on_panic(false))
        .build()
        .unwrap();
    let journal = layer.journal().clone();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("debug"))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!("before the request, discarded at the end");
        journal.flush();
        {
            let span = tracing::info_span!("request", id = 7u64);
            let _entered = span.enter();
            tracing::debug!(rows = 3u64, "query sent");
        }
        // The span has closed: its debug event still shows it when written.
        tracing::info!("between");
        tracing::error!("request failed");
    });
    drop(guard);
    let mut reader = Reader::open(&path).unwrap();
    let mut seen = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let spans: Vec<&str> = event
            .spans
            .iter()
            .map(|s| s.callsite.name.as_str())
            .collect();
        seen.push(format!(
            "{:?} {:?} {spans:?}",
            event.callsite.level, event.event.values[0]
        ));
    }
    assert_eq!(
        seen,
        [
            r#"Info Str("between") []"#,
            r#"Info Str("flight recorder: the events held before this trigger start here") []"#,
            r#"Debug Str("before the request, discarded at the end") []"#,
            r#"Debug Str("query sent") ["request"]"#,
            r#"Error Str("request failed") []"#,
        ]
    );
}

#[test]
fn init_flight_recorder_writes_the_debug_lines_before_an_error() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "one_line_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LOGBUF_FLIGHT_CHILD", "1")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("DEBUG") || l.contains("INFO") || l.contains("ERROR"))
        .collect();
    assert_eq!(lines.len(), 5, "{stderr}");
    assert!(
        lines[0].contains("INFO") && lines[0].contains("started"),
        "{stderr}"
    );
    assert!(lines[1].contains("flight recorder"), "{stderr}");
    assert!(
        lines[2].contains("DEBUG") && lines[2].contains("connecting"),
        "{stderr}"
    );
    assert!(
        lines[3].contains("DEBUG") && lines[3].contains("retrying"),
        "{stderr}"
    );
    assert!(
        lines[4].contains("ERROR") && lines[4].contains("gave up"),
        "{stderr}"
    );
    assert!(!stderr.contains("TRACE"), "{stderr}");
}

#[test]
fn one_line_child() {
    if std::env::var_os("LOGBUF_FLIGHT_CHILD").is_none() {
        return;
    }
    let guard = logbuf_tracing::init_flight_recorder().unwrap();
    tracing::trace!("below the default filter");
    tracing::debug!(host = "db-1", "connecting");
    tracing::info!("started");
    tracing::debug!(attempt = 2u64, "retrying");
    tracing::error!("gave up");
    drop(guard);
}
