//! The filter decides exactly as env_logger does, for a table of `RUST_LOG` strings: the same
//! `enabled` answer for every level and target, the same maximum level, and the same records
//! written (message patterns included).

use log::{Level, LevelFilter, Log, Metadata, Record};
use logbuf_journal::read::{OwnedValue, Reader};

const SPECS: &[&str] = &[
    "",
    "info",
    "warn",
    "trace",
    "debug",
    "error",
    "off",
    "INFO",
    "Debug,my_app=ERROR",
    "my_app",
    "my_app=debug",
    "my_app::db=trace,warn",
    "info,my_app=off",
    "my_app=warn,my_app::db=debug",
    "my_app=debug,my_app::db=off",
    "off,my_app=info",
    "hyper=error,my_app=trace",
    "crate_a,crate_b=warn",
    "my_app=info,my_app=warn",
    "warn,my=trace",
    "my_app::",
    "my_app::db",
    "x=info,y=debug,z=trace",
    " my_app = debug , warn ",
    "info,,warn",
    "=info",
    "my_app=bogus",
    "my_app=debug=info",
    "3",
    "info/foo",
    "debug/^req",
    "my_app=trace/done$",
    "warn,my_app::db=trace/f.o",
    "/foo",
    "trace/",
];

const TARGETS: &[&str] = &[
    "my_app",
    "my_app::db",
    "my_app::db::pool",
    "my_appx",
    "my",
    "hyper",
    "hyper::client",
    "crate_a",
    "crate_b::x",
    "x",
    "y",
    "z",
    "other",
    "",
];

const MESSAGES: &[&str] = &["foo bar", "request done", "nothing"];

const LEVELS: [Level; 5] = [
    Level::Error,
    Level::Warn,
    Level::Info,
    Level::Debug,
    Level::Trace,
];

fn record<'a>(level: Level, target: &'a str, args: std::fmt::Arguments<'a>) -> Record<'a> {
    Record::builder()
        .level(level)
        .target(target)
        .args(args)
        .module_path_static(Some(module_path!()))
        .file_static(Some(file!()))
        .line(Some(1))
        .build()
}

#[test]
fn enabled_and_max_level_match_env_logger() {
    let mut compared = 0;
    for spec in SPECS {
        let theirs = env_logger::Builder::new().parse_filters(spec).build();
        let (ours, _guard) = logbuf_log::Builder::new()
            .parse_filters(spec)
            .build()
            .unwrap();
        assert_eq!(ours.max_level(), theirs.filter(), "max level for {spec:?}");
        for target in TARGETS {
            for level in LEVELS {
                let metadata = Metadata::builder().level(level).target(target).build();
                assert_eq!(
                    ours.enabled(&metadata),
                    theirs.enabled(&metadata),
                    "spec {spec:?}, target {target:?}, level {level}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, SPECS.len() * TARGETS.len() * LEVELS.len());
}

#[test]
fn records_written_match_env_logger() {
    let dir = tempfile::tempdir().unwrap();
    for (n, spec) in SPECS.iter().enumerate() {
        let theirs = env_logger::Builder::new().parse_filters(spec).build();
        let path = dir.path().join(format!("{n}.lbf"));
        let (ours, guard) = logbuf_log::Builder::new()
            .parse_filters(spec)
            .file(&path)
            .build()
            .unwrap();
        let mut expected = Vec::new();
        for target in TARGETS {
            for level in LEVELS {
                for (m, message) in MESSAGES.iter().enumerate() {
                    let mut check = |rec: &Record<'_>, text: String| {
                        if theirs.matches(rec) {
                            expected.push((level, (*target).to_owned(), text));
                        }
                        ours.log(rec);
                    };
                    // A literal and a formatted message through the same callsite.
                    let literal = match m {
                        0 => format_args!("foo bar"),
                        1 => format_args!("request done"),
                        _ => format_args!("nothing"),
                    };
                    assert_eq!(literal.as_str(), Some(*message));
                    check(&record(level, target, literal), (*message).to_owned());
                    check(
                        &record(level, target, format_args!("{message} #{m}")),
                        format!("{message} #{m}"),
                    );
                }
            }
        }
        drop(guard);
        let mut reader = Reader::open(&path).unwrap();
        let mut got = Vec::new();
        while let Some(event) = reader.next_event() {
            let event = event.unwrap();
            let text = match OwnedValue::from(&event.event.values[0]) {
                OwnedValue::Str(s) | OwnedValue::Debug(s) => s,
                other => panic!("message {other:?}"),
            };
            let level = match event.callsite.level {
                logbuf_journal::wire::Level::Error => Level::Error,
                logbuf_journal::wire::Level::Warn => Level::Warn,
                logbuf_journal::wire::Level::Info => Level::Info,
                logbuf_journal::wire::Level::Debug => Level::Debug,
                logbuf_journal::wire::Level::Trace => Level::Trace,
            };
            got.push((level, event.callsite.target.clone(), text));
        }
        assert_eq!(got, expected, "records for spec {spec:?}");
        assert!(reader.stats().is_clean(), "spec {spec:?}");
    }
}

#[test]
fn try_parse_filters_rejects_what_parse_filters_skips() {
    assert!(matches!(
        logbuf_log::Builder::new().try_parse_filters("my_app=bogus"),
        Err(logbuf_log::Error::Filter(_))
    ));
    let (logger, _guard) = logbuf_log::Builder::new()
        .try_parse_filters("warn,my_app=trace")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(logger.max_level(), LevelFilter::Trace);
}

#[test]
fn programmatic_filters_match_env_logger() {
    let theirs = env_logger::Builder::new()
        .filter_level(LevelFilter::Warn)
        .filter_module("my_app", LevelFilter::Debug)
        .filter(Some("my_app::db"), LevelFilter::Off)
        .parse_filters("hyper=trace")
        .build();
    let (ours, _guard) = logbuf_log::Builder::new()
        .filter_level(LevelFilter::Warn)
        .filter_module("my_app", LevelFilter::Debug)
        .filter(Some("my_app::db"), LevelFilter::Off)
        .parse_filters("hyper=trace")
        .build()
        .unwrap();
    assert_eq!(ours.max_level(), theirs.filter());
    for target in TARGETS {
        for level in LEVELS {
            let metadata = Metadata::builder().level(level).target(target).build();
            assert_eq!(
                ours.enabled(&metadata),
                theirs.enabled(&metadata),
                "target {target:?}, level {level}"
            );
        }
    }
}
