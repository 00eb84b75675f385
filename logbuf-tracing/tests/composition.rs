//! The layer composes as tracing-subscriber layers do: under an `EnvFilter`, with a per-layer
//! filter, and beside an `fmt` layer.

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use logbuf_journal::read::Reader;
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// `(level, target, message)` of every event in the file.
fn read(path: &Path) -> Vec<(String, String, String)> {
    let mut reader = Reader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let message = match &event.event.values[0] {
            logbuf_journal::wire::Value::Str(s) | logbuf_journal::wire::Value::Debug(s) => {
                (*s).to_owned()
            }
            other => panic!("message {other:?}"),
        };
        out.push((
            format!("{:?}", event.callsite.level),
            event.callsite.target.clone(),
            message,
        ));
    }
    assert!(reader.stats().is_clean());
    out
}

fn program() {
    tracing::trace!(target: "app", "app trace");
    tracing::debug!(target: "app", "app debug");
    tracing::info!(target: "app", "app info");
    tracing::info!(target: "app::noisy", "noisy info");
    tracing::warn!(target: "app::noisy", "noisy warn");
    tracing::error!(target: "other", "other error");
    tracing::info!(target: "other", "other info");
    let span = tracing::info_span!(target: "app", "work");
    let _entered = span.enter();
    tracing::warn!(target: "app", "in span {}", 1);
}

fn row(level: &str, target: &str, message: &str) -> (String, String, String) {
    (level.into(), target.into(), message.into())
}

#[test]
fn under_an_env_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("error,app=debug,app::noisy=warn"))
        .with(layer);
    tracing::subscriber::with_default(subscriber, program);
    drop(guard);
    assert_eq!(
        read(&path),
        [
            row("Debug", "app", "app debug"),
            row("Info", "app", "app info"),
            row("Warn", "app::noisy", "noisy warn"),
            row("Error", "other", "other error"),
            row("Warn", "app", "in span 1"),
        ]
    );
}

/// A writer into a shared buffer, for the fmt layer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }
}

#[test]
fn with_a_per_layer_filter_beside_fmt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warn.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let text = Buffer::default();
    let writer = text.clone();
    let subscriber = tracing_subscriber::registry()
        .with(layer.with_filter(LevelFilter::WARN))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .without_time()
                .with_writer(move || writer.clone())
                .with_filter(LevelFilter::DEBUG),
        );
    tracing::subscriber::with_default(subscriber, program);
    drop(guard);
    assert_eq!(
        read(&path),
        [
            row("Warn", "app::noisy", "noisy warn"),
            row("Error", "other", "other error"),
            row("Warn", "app", "in span 1"),
        ]
    );
    let lines = text.lines();
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert_eq!(lines[0], "DEBUG app: app debug");
    assert_eq!(lines[6], " WARN work: app: in span 1");
}

#[test]
fn beside_fmt_unfiltered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let text = Buffer::default();
    let writer = text.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .without_time()
                .with_writer(move || writer.clone()),
        )
        .with(layer);
    tracing::subscriber::with_default(subscriber, program);
    drop(guard);
    let ours = read(&path);
    let theirs = text.lines();
    assert_eq!(ours.len(), 8);
    assert_eq!(theirs.len(), 8);
    for ((level, target, message), line) in ours.iter().zip(&theirs) {
        assert!(
            line.trim_start().starts_with(&level.to_uppercase())
                && line.contains(target.as_str())
                && line.ends_with(message.as_str()),
            "{line:?} vs {level} {target} {message}"
        );
    }
}
