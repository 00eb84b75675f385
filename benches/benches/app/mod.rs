//! The service the `service` and `request_cost` benches measure: an axum router with
//! tower-http's `TraceLayer` and an instrumented handler, and the logging back ends it runs
//! under.

// Each bench that includes this module uses a part of it.
#![allow(dead_code)]

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use logbuf_journal::sink::json::JsonSink;
use logbuf_journal::sink::text::TextSink;
use logbuf_journal::{FullPolicy, Guard, Journal};
use logbuf_tracing::LogbufLayer;
use tracing::{Instrument, Level, info, info_span, instrument};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

/// Events each request logs: TraceLayer's request and response events, the handler's two.
pub(crate) const EVENTS_PER_REQUEST: u64 = 4;

/// Every back end, in the order a round runs them.
pub(crate) const BACKENDS: [&str; 10] = [
    "none",
    "registry",
    "fmt-lossy",
    "fmt-block",
    "logbuf-bin",
    "logbuf-bin-block",
    "logbuf-text",
    "logbuf-bin-enter-exit",
    "fmt-json-lossy",
    "logbuf-json",
];

/// Requests the handler has served, since the start.
pub(crate) static SERVED: AtomicU64 = AtomicU64::new(0);

#[instrument(skip_all, fields(order_id = id))]
async fn order(axum::extract::Path(id): axum::extract::Path<u64>) -> String {
    info!(order_id = id, "loading order");
    let rows = async {
        tokio::task::yield_now().await;
        let rows = 3u64;
        info!(rows, "query done");
        rows
    }
    .instrument(info_span!("db_query", table = "orders"))
    .await;
    SERVED.fetch_add(1, Ordering::Relaxed);
    format!("{{\"id\":{id},\"rows\":{rows}}}")
}

/// What the server keeps of its back end until shutdown.
pub(crate) enum Output {
    /// Nothing written.
    Nothing,
    /// tracing-appender: the guard and the lost-lines counter; text lines at `path`.
    Appender {
        guard: Option<WorkerGuard>,
        errors: ErrorCounter,
        path: PathBuf,
    },
    /// logbuf: the guard, the journal for its stats, and the file, binary or text.
    Logbuf {
        guard: Option<Guard>,
        journal: Journal,
        path: PathBuf,
        binary: bool,
    },
}

pub(crate) fn install(backend: &str, dir: &Path) -> Output {
    let filter = || EnvFilter::new("info");
    let set = |d: tracing::Dispatch| tracing::dispatcher::set_global_default(d).expect("first");
    match backend {
        "none" => Output::Nothing,
        "registry" => {
            set(tracing_subscriber::registry().with(filter()).into());
            Output::Nothing
        }
        "fmt-lossy" | "fmt-block" | "fmt-json-lossy" => {
            let path = dir.join("app.log");
            let file = File::create(&path).expect("create the log file");
            let (writer, guard) = NonBlockingBuilder::default()
                .lossy(backend != "fmt-block")
                .finish(file);
            let errors = writer.error_counter();
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            if backend == "fmt-json-lossy" {
                set(tracing_subscriber::registry()
                    .with(filter())
                    .with(layer.json())
                    .into());
            } else {
                set(tracing_subscriber::registry()
                    .with(filter())
                    .with(layer)
                    .into());
            }
            Output::Appender {
                guard: Some(guard),
                errors,
                path,
            }
        }
        "logbuf-bin"
        | "logbuf-bin-block"
        | "logbuf-bin-enter-exit"
        | "logbuf-text"
        | "logbuf-json" => {
            let binary = backend.starts_with("logbuf-bin");
            let path = dir.join(if binary { "app.lbf" } else { "app.log" });
            let mut builder = LogbufLayer::builder();
            builder = if binary {
                builder.file(&path)
            } else {
                let file = File::create(&path).expect("create the log file");
                if backend == "logbuf-json" {
                    builder.sink(JsonSink::new(file))
                } else {
                    builder.sink(TextSink::new(file))
                }
            };
            match backend {
                "logbuf-bin-block" => builder = builder.policy(FullPolicy::Block),
                "logbuf-bin-enter-exit" => builder = builder.record_enter_exit(true),
                _ => {}
            }
            let (layer, guard) = builder.build().expect("start the journal");
            let journal = layer.journal().clone();
            set(tracing_subscriber::registry()
                .with(filter())
                .with(layer)
                .into());
            Output::Logbuf {
                guard: Some(guard),
                journal,
                path,
                binary,
            }
        }
        other => panic!("unknown back end {other:?}; known: {}", BACKENDS.join(", ")),
    }
}

/// The router: `GET /orders/{id}` behind `TraceLayer`, request and response events at INFO.
pub(crate) fn router() -> axum::Router {
    let trace = tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(tower_http::trace::DefaultMakeSpan::new().level(Level::INFO))
        .on_request(tower_http::trace::DefaultOnRequest::new().level(Level::INFO))
        .on_response(tower_http::trace::DefaultOnResponse::new().level(Level::INFO));
    axum::Router::new()
        .route("/orders/{id}", axum::routing::get(order))
        .layer(trace)
}

/// Lines (newlines) and bytes of a text file.
pub(crate) fn count_lines(path: &Path) -> (u64, u64) {
    let mut file = File::open(path).expect("open the log file");
    let mut buf = vec![0u8; 1 << 16];
    let (mut lines, mut bytes) = (0u64, 0u64);
    loop {
        let n = file.read(&mut buf).expect("read the log file");
        if n == 0 {
            return (lines, bytes);
        }
        bytes += n as u64;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Events in a logbuf journal file, and events and spans whose callsite was missing.
pub(crate) fn count_events(path: &Path) -> (u64, u64) {
    let mut reader = logbuf_journal::read::Reader::open(path).expect("open the journal");
    let mut events = 0u64;
    while let Some(event) = reader.next_event() {
        event.expect("read the journal");
        events += 1;
    }
    (events, reader.orphans())
}
