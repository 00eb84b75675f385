//! `tracing_subscriber::reload` with the layer: a filter in front of it (a global one, and a
//! per-layer one) changed at run time, and the layer itself swapped for another, each checked
//! by what reaches the journal. Each phase logs from the same call sites, so that an interest
//! cached under the old filter would show.

use std::path::Path;

use logbuf_journal::read::Reader;
use logbuf_tracing::LogbufLayer;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer as _, reload};

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

/// The same call sites in every phase; the phase is in the message.
fn program(phase: &str) {
    tracing::debug!(target: "app", "{phase}: app debug");
    tracing::info!(target: "app", "{phase}: app info");
    tracing::info!(target: "other", "{phase}: other info");
    tracing::warn!(target: "other", "{phase}: other warn");
    let span = tracing::info_span!(target: "app", "work");
    let _entered = span.enter();
    tracing::error!(target: "app", "{phase}: app error in span");
}

fn row(level: &str, target: &str, message: &str) -> (String, String, String) {
    (level.into(), target.into(), message.into())
}

#[test]
fn an_env_filter_in_front_of_the_layer_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let (filter, handle) = reload::Layer::new(EnvFilter::new("warn"));
    let subscriber = tracing_subscriber::registry().with(filter).with(layer);
    tracing::subscriber::with_default(subscriber, || {
        program("warn");
        handle.reload(EnvFilter::new("warn,app=debug")).unwrap();
        program("app=debug");
        handle.reload(EnvFilter::new("error")).unwrap();
        program("error");
    });
    drop(guard);
    assert_eq!(
        read(&path),
        [
            row("Warn", "other", "warn: other warn"),
            row("Error", "app", "warn: app error in span"),
            row("Debug", "app", "app=debug: app debug"),
            row("Info", "app", "app=debug: app info"),
            row("Warn", "other", "app=debug: other warn"),
            row("Error", "app", "app=debug: app error in span"),
            row("Error", "app", "error: app error in span"),
        ]
    );
}

#[test]
fn a_per_layer_filter_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("targets.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let (filter, handle) = reload::Layer::new(Targets::new().with_target("other", Level::INFO));
    let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter));
    tracing::subscriber::with_default(subscriber, || {
        program("other");
        handle
            .reload(Targets::new().with_target("app", Level::DEBUG))
            .unwrap();
        program("app");
        handle
            .modify(|targets| *targets = targets.clone().with_target("other", Level::WARN))
            .unwrap();
        program("both");
    });
    drop(guard);
    assert_eq!(
        read(&path),
        [
            row("Info", "other", "other: other info"),
            row("Warn", "other", "other: other warn"),
            row("Debug", "app", "app: app debug"),
            row("Info", "app", "app: app info"),
            row("Error", "app", "app: app error in span"),
            row("Debug", "app", "both: app debug"),
            row("Info", "app", "both: app info"),
            row("Warn", "other", "both: other warn"),
            row("Error", "app", "both: app error in span"),
        ]
    );
}

#[test]
fn the_layer_itself_reloaded_into_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first.lbf"), dir.path().join("second.lbf"));
    let (layer, first_guard) = LogbufLayer::builder().file(&first).build().unwrap();
    let (next, second_guard) = LogbufLayer::builder().file(&second).build().unwrap();
    let (layer, handle) = reload::Layer::new(layer);
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(EnvFilter::new("info"));
    tracing::subscriber::with_default(subscriber, || {
        program("first");
        handle.reload(next).unwrap();
        program("second");
    });
    drop((first_guard, second_guard));
    let phase = |path, name: &str| {
        vec![
            row("Info", "app", &format!("{name}: app info")),
            row("Info", "other", &format!("{name}: other info")),
            row("Warn", "other", &format!("{name}: other warn")),
            row("Error", "app", &format!("{name}: app error in span")),
        ]
        .into_iter()
        .eq(read(path))
    };
    assert!(phase(&first, "first"), "{:?}", read(&first));
    assert!(phase(&second, "second"), "{:?}", read(&second));
}

/// The one test of this file with a global subscriber, where tracing caches each call site's
/// interest for good: the reload must have it computed again.
#[test]
fn a_global_filter_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("global.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let (filter, handle) = reload::Layer::new(EnvFilter::new("global=warn"));
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(filter).with(layer),
    )
    .unwrap();
    let log = |phase: &str| {
        for _ in 0..2 {
            tracing::debug!(target: "global", "{phase}: debug");
            tracing::warn!(target: "global", "{phase}: warn");
        }
    };
    log("warn");
    handle.reload(EnvFilter::new("global=debug")).unwrap();
    log("debug");
    handle.reload(EnvFilter::new("global=error")).unwrap();
    log("error");
    drop(guard);
    let mut expected = vec![row("Warn", "global", "warn: warn"); 2];
    expected.extend([
        row("Debug", "global", "debug: debug"),
        row("Warn", "global", "debug: warn"),
        row("Debug", "global", "debug: debug"),
        row("Warn", "global", "debug: warn"),
    ]);
    assert_eq!(read(&path), expected);
}
