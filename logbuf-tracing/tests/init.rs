//! The one-line setup and the builder's errors. One test: it installs the global default.

use logbuf_journal::read::Reader;
use logbuf_journal::wire::{Level, Value};
use logbuf_tracing::{Error, LogbufLayer};

#[test]
fn init_file_and_errors() {
    // A file that cannot be created (its directory is a file) is reported by `build`.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain-file"), b"").unwrap();
    let missing = dir.path().join("plain-file/app.lbf");
    match LogbufLayer::builder().file(&missing).build() {
        Err(Error::File { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected a file error, got {other:?}"),
    }
    // A ring capacity out of range is the journal's error.
    assert!(matches!(
        LogbufLayer::builder().ring_capacity(usize::MAX).build(),
        Err(Error::Journal(_))
    ));

    // Without `RUST_LOG` the level is INFO.
    let path = dir.path().join("app.lbf");
    let guard = logbuf_tracing::init_file(&path).unwrap();
    tracing::debug!("not written");
    tracing::info!(answer = 42u64, "written");
    // A second global subscriber is refused.
    assert!(matches!(logbuf_tracing::init(), Err(Error::Init(_))));
    drop(guard);

    let mut reader = Reader::open(&path).unwrap();
    let mut events = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        events.push((event.callsite.level, format!("{:?}", event.event.values)));
    }
    let written = (
        Level::Info,
        format!("{:?}", [Value::Str("written"), Value::U64(42)]),
    );
    if std::env::var_os("RUST_LOG").is_none() {
        assert_eq!(events, [written]);
    } else {
        assert!(events.contains(&written), "{events:?}");
    }
}
