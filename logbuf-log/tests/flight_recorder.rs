//! The flight recorder behind the `log` backend: `debug!` records are held and written only
//! before an error, and the filters let `debug` through only when the recorder is on.

use log::{LevelFilter, Log, Record as LogRecord};
use logbuf_journal::read::Reader;
use logbuf_log::{Builder, FlightRecorder};

fn log(logger: &dyn Log, level: log::Level, message: &str) {
    logger.log(
        &LogRecord::builder()
            .level(level)
            .target("app")
            .args(format_args!("{message}"))
            .build(),
    );
}

#[test]
fn debug_records_are_written_only_before_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.lbf");
    let (logger, guard) = Builder::new()
        .file(&path)
        .flight_recorder(FlightRecorder::new().dump_on_panic(false))
        .build()
        .unwrap();
    // No directive: the recorder lets debug through the filter.
    assert_eq!(logger.max_level(), LevelFilter::Debug);
    log(&logger, log::Level::Debug, "opening the connection");
    log(&logger, log::Level::Info, "serving");
    log(&logger, log::Level::Debug, "query sent");
    log(&logger, log::Level::Error, "query failed");
    drop(guard);
    let mut reader = Reader::open(&path).unwrap();
    let mut seen = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        seen.push(format!(
            "{:?} {} {:?}",
            event.callsite.level, event.callsite.target, event.event.values[0]
        ));
    }
    assert_eq!(
        seen,
        [
            r#"Info app Debug("serving")"#,
            r#"Info logbuf::recorder Str("flight recorder: the events held before this trigger start here")"#,
            r#"Debug app Debug("opening the connection")"#,
            r#"Debug app Debug("query sent")"#,
            r#"Error app Debug("query failed")"#,
        ]
    );
}

#[test]
fn directives_given_are_kept_with_a_recorder_and_debug_is_not_let_through_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, _g1) = Builder::new()
        .file(dir.path().join("a.lbf"))
        .build()
        .unwrap();
    assert_eq!(plain.max_level(), LevelFilter::Error);
    let (given, _g2) = Builder::new()
        .parse_filters("info,app=trace")
        .file(dir.path().join("b.lbf"))
        .flight_recorder(FlightRecorder::new().dump_on_panic(false))
        .build()
        .unwrap();
    assert_eq!(given.max_level(), LevelFilter::Trace);
    let (info, _g3) = Builder::new()
        .filter_level(LevelFilter::Info)
        .file(dir.path().join("c.lbf"))
        .flight_recorder(FlightRecorder::new().dump_on_panic(false))
        .build()
        .unwrap();
    assert_eq!(info.max_level(), LevelFilter::Info);
}
