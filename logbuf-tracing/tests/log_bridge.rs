//! `init_file` bridges `log` records, as `tracing_subscriber::fmt::init` does, and records them
//! under their own callsite: target, module, file and line, with the message as their only
//! field. One test: it installs the global default.

use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::wire::Level;
use logbuf_tracing::Error;

#[test]
fn log_records_are_bridged_under_their_own_callsite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.lbf");
    let guard = logbuf_tracing::init_file(&path).unwrap();
    for ms in [5, 6] {
        log::info!(target: "my_crate::db", "connected to pg in {ms} ms");
    }
    let line = line!() - 2;
    log::warn!("under the module's target");
    log::debug!("below the default level");
    tracing::info!("from tracing");
    // A second global subscriber is refused, and so is a second `log` logger.
    assert!(matches!(logbuf_tracing::init(), Err(Error::Init(_))));
    assert!(log::set_boxed_logger(Box::new(NoLogger)).is_err());
    drop(guard);

    let mut reader = Reader::open(&path).unwrap();
    let mut events = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let values: Vec<OwnedValue> = event.event.values.iter().map(OwnedValue::from).collect();
        events.push((event.callsite.clone(), values));
    }
    if std::env::var_os("RUST_LOG").is_some() {
        return;
    }
    let messages: Vec<&OwnedValue> = events.iter().map(|(_, v)| &v[0]).collect();
    assert_eq!(
        messages,
        [
            &OwnedValue::Debug("connected to pg in 5 ms".into()),
            &OwnedValue::Debug("connected to pg in 6 ms".into()),
            &OwnedValue::Str("under the module's target".into()),
            &OwnedValue::Str("from tracing".into()),
        ]
    );
    let (db, values) = &events[0];
    assert_eq!(db.target, "my_crate::db");
    assert_eq!(db.level, Level::Info);
    assert_eq!(db.module_path.as_deref(), Some("log_bridge"));
    assert!(
        db.file.as_deref().unwrap().ends_with("log_bridge.rs"),
        "{db:?}"
    );
    assert_eq!(db.line, Some(line));
    assert_eq!(db.fields, ["message"]);
    assert_eq!(values.len(), 1);
    let (module, _) = &events[2];
    assert_eq!(module.target, "log_bridge");
    assert_eq!(module.level, Level::Warn);
    assert_eq!(module.line, Some(line + 3));
    // One callsite for the records of one call site.
    assert_eq!(events[1].0.id, db.id);
    assert_ne!(module.id, db.id);
}

struct NoLogger;

impl log::Log for NoLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        false
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}
