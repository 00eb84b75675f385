//! One program logged through env_logger and through logbuf-log with the text sink's
//! env_logger layout: the lines must be the same, but for the time, whose shape must be.

use std::io;
use std::sync::{Arc, Mutex};

use log::{LevelFilter, Log};
use logbuf_journal::sink::text::{Layout, TextFormat, TextSink, Timestamps};
use logbuf_log::FullPolicy;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const LINES: usize = 10;

/// Every level, targets of every kind (the module's, a custom one, an empty one), key-values
/// of every kind, formatted messages.
fn program(l: &dyn Log) {
    // `log`'s macros check the global level first, even with a logger of their own.
    log::set_max_level(LevelFilter::Trace);
    log::error!(logger: l, "failed: {}", "disk full");
    log::warn!(logger: l, retries = 3; "slow");
    log::info!(logger: l, target: "my_crate::db", user = "ada", ok = true; "connected to pg in {} ms", 5);
    log::debug!(logger: l, ratio = 0.25, big = 1e300, neg = -7; "values");
    log::trace!(logger: l, "trace");
    log::info!(logger: l, target: "", "no target");
    log::info!(logger: l, who:% = "display", dbg:? = Some("x"); "captured");
    log::info!(logger: l, "a \"quoted\" word, a tab\tand unicode ✓");
    log::warn!(logger: l, target: "custom", "custom target");
    log::error!(logger: l, "");
}

fn through_env_logger(options: impl FnOnce(&mut env_logger::Builder)) -> String {
    let out = Buf::default();
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(LevelFilter::Trace)
        .write_style(env_logger::WriteStyle::Never)
        .target(env_logger::Target::Pipe(Box::new(out.clone())));
    options(&mut builder);
    let logger = builder.build();
    program(&logger);
    logger.flush();
    out.text()
}

fn through_logbuf(format: impl FnOnce(TextFormat) -> TextFormat) -> String {
    let out = Buf::default();
    let (logger, guard) = logbuf_log::Builder::new()
        .filter_level(LevelFilter::Trace)
        .policy(FullPolicy::Block)
        .sink(TextSink::new(out.clone()).with_format(format))
        .build()
        .unwrap();
    program(&logger);
    drop(guard);
    out.text()
}

/// `[2026-12-04T19:46:07Z` with its digits as `0`.
fn time_shape(time: &str) -> String {
    time.chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect()
}

/// Compares line by line: the time (the first word, when `time` is its shape) by shape, the
/// rest exactly.
fn assert_same_lines(ours: &str, theirs: &str, time: Option<&str>) {
    let split = |line: &str| -> (String, String) {
        match time {
            Some(_) => {
                let (time, rest) = line.split_once(' ').unwrap();
                (time_shape(time), rest.to_owned())
            }
            None => (String::new(), line.to_owned()),
        }
    };
    let ours: Vec<_> = ours.lines().map(split).collect();
    let theirs: Vec<_> = theirs.lines().map(split).collect();
    assert_eq!(ours.len(), LINES, "{ours:#?}");
    for (a, b) in ours.iter().zip(&theirs) {
        if let Some(time) = time {
            assert_eq!(a.0, time);
        }
        assert_eq!(a, b);
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn default_layout_is_env_logger_s() {
    let theirs = through_env_logger(|_| {});
    let ours = through_logbuf(|_| TextFormat::env_logger());
    assert_same_lines(&ours, &theirs, Some("[0000-00-00T00:00:00Z"));
    let lines: Vec<&str> = ours.lines().collect();
    assert!(lines[0].ends_with(" ERROR env_logger_parity] failed: disk full"));
    assert!(lines[1].ends_with(" WARN  env_logger_parity] slow retries=3"));
    assert!(lines[2].ends_with(" INFO  my_crate::db] connected to pg in 5 ms user=ada ok=true"));
    assert!(lines[5].ends_with(" INFO ] no target"), "{}", lines[5]);
}

#[test]
fn env_logger_s_options_are_the_layout_s() {
    let theirs = through_env_logger(|b| {
        b.format_timestamp_millis()
            .format_file(true)
            .format_line_number(true);
    });
    let ours = through_logbuf(|_| {
        TextFormat::env_logger()
            .with_timestamps(Timestamps::Custom("%Y-%m-%dT%H:%M:%S%.3fZ"))
            .with_file(true)
            .with_line_number(true)
    });
    assert_same_lines(&ours, &theirs, Some("[0000-00-00T00:00:00.000Z"));
    assert!(ours.contains(" logbuf-log/tests/env_logger_parity.rs:"));

    let theirs = through_env_logger(|b| {
        b.format_timestamp(None).format_target(false);
    });
    let ours = through_logbuf(|_| TextFormat::env_logger().without_time().with_target(false));
    assert_same_lines(&ours, &theirs, None);
    assert!(ours.starts_with("[ERROR] failed: disk full\n"));

    // No header at all: no brackets.
    let theirs = through_env_logger(|b| {
        b.format_timestamp(None)
            .format_target(false)
            .format_level(false);
    });
    let ours = through_logbuf(|_| {
        TextFormat::env_logger()
            .without_time()
            .with_target(false)
            .with_level(false)
    });
    assert_same_lines(&ours, &theirs, None);
    assert!(ours.starts_with("failed: disk full\n"));
}

#[test]
fn coloured_layout_is_env_logger_s() {
    let theirs = through_env_logger(|b| {
        b.write_style(env_logger::WriteStyle::Always)
            .format_timestamp(None);
    });
    let ours = through_logbuf(|_| TextFormat::env_logger().without_time().with_ansi(true));
    assert_same_lines(&ours, &theirs, None);
    assert!(ours.contains("\x1b[33mWARN \x1b[0m"), "{ours}");
}

/// Unlike env_logger, which goes on to lines indented by four spaces, a line feed in a
/// message is escaped: one record, one line.
#[test]
fn a_line_feed_stays_on_the_line() {
    let out = Buf::default();
    let (logger, guard) = logbuf_log::Builder::new()
        .filter_level(LevelFilter::Info)
        .sink(TextSink::new(out.clone()).with_format(|_| TextFormat::env_logger().without_time()))
        .build()
        .unwrap();
    log::set_max_level(LevelFilter::Trace);
    log::info!(logger: &logger, target: "app", "two\nlines\x1b[31m");
    drop(guard);
    assert_eq!(out.text(), "[INFO  app] two\\nlines\\x1b[31m\n");
}

/// The builder's switch sets the layout of the default sink on standard error (seen from a
/// child process, this test run again); it cannot be combined with a journal given to the
/// builder.
#[test]
fn the_builder_switch() {
    const CHILD: &str = "LOGBUF_LOG_LAYOUT_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let (logger, guard) = logbuf_log::Builder::new()
            .filter_level(LevelFilter::Info)
            .layout(Layout::EnvLogger)
            .build()
            .unwrap();
        log::set_max_level(LevelFilter::Trace);
        log::warn!(logger: &logger, target: "app", "from the child");
        drop(guard);
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_builder_switch",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("RUST_LOG_STYLE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let line = stderr
        .lines()
        .find(|l| l.contains("from the child"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let (time, rest) = line.split_once(' ').unwrap();
    assert_eq!(time_shape(time), "[0000-00-00T00:00:00Z");
    assert_eq!(rest, "WARN  app] from the child");

    let (journal, _guard) = logbuf_journal::Journal::builder().build().unwrap();
    let err = logbuf_log::Builder::new()
        .journal(journal)
        .layout(Layout::EnvLogger)
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, logbuf_log::Error::JournalSettings), "{err}");
}
