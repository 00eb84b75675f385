//! A logger's filter changed while it runs, through its `ReloadHandle`: records appear and
//! disappear with the filter (callsites decided under the old one decide again), `log`'s
//! maximum level follows, and a reload while threads log loses nothing the filters let through.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};
use logbuf_journal::FullPolicy;
use logbuf_journal::read::{OwnedValue, Reader};

/// Every event of the file: (level, target, message, values after the message).
fn read_all(path: &Path) -> Vec<(Level, String, String, Vec<OwnedValue>)> {
    let mut reader = Reader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        let level = match event.callsite.level {
            logbuf_journal::wire::Level::Error => Level::Error,
            logbuf_journal::wire::Level::Warn => Level::Warn,
            logbuf_journal::wire::Level::Info => Level::Info,
            logbuf_journal::wire::Level::Debug => Level::Debug,
            logbuf_journal::wire::Level::Trace => Level::Trace,
        };
        let mut values: Vec<OwnedValue> = event.event.values.iter().map(OwnedValue::from).collect();
        let message = match values.remove(0) {
            OwnedValue::Str(s) | OwnedValue::Debug(s) => s,
            other => panic!("message {other:?}"),
        };
        out.push((level, event.callsite.target.clone(), message, values));
    }
    assert!(reader.stats().is_clean(), "{:?}", reader.stats());
    out
}

fn messages(path: &Path) -> Vec<String> {
    read_all(path).into_iter().map(|e| e.2).collect()
}

/// The strings of one call site, `'static` as `log`'s macros make them (the logger's fastest
/// cache keys on their addresses).
static MODULE: &str = "app::db";
static QUIET: &str = "app::quiet";
static FILE: &str = "src/db.rs";

/// A record as `log::log!` at one call site makes it: target = module path, static strings.
fn log_at(logger: &dyn Log, target: &'static str, level: Level, message: &'static str) {
    logger.log(
        &Record::builder()
            .level(level)
            .target(target)
            .args(format_args!("{message}"))
            .module_path_static(Some(target))
            .file_static(Some(FILE))
            .line(Some(10 + level as u32))
            .build(),
    );
}

/// The same with a key-value (the logger's other cache).
fn log_kv_at(logger: &dyn Log, level: Level, message: &'static str) {
    let kvs: &[(&str, u64)] = &[("n", 7)];
    logger.log(
        &Record::builder()
            .level(level)
            .target(MODULE)
            .args(format_args!("{message}"))
            .module_path_static(Some(MODULE))
            .file_static(Some(FILE))
            .line(Some(20 + level as u32))
            .key_values(&kvs)
            .build(),
    );
}

#[test]
fn records_below_the_old_filter_appear_after_loosening_and_go_after_tightening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reload.lbf");
    let (logger, guard) = logbuf_log::Builder::new()
        .parse_filters("warn")
        .file(&path)
        .build()
        .unwrap();
    let handle = logger.reload_handle();
    let debug = |logger: &logbuf_log::Logger, tag| {
        log_at(logger, MODULE, Level::Debug, tag);
        log_kv_at(logger, Level::Debug, tag);
    };

    // Each call site logs once under each filter: its cached decision must not outlive it.
    debug(&logger, "under warn");
    log_at(&logger, MODULE, Level::Warn, "warn under warn");
    assert!(!logger.enabled(&meta(Level::Debug, MODULE)));

    handle.set_filters("warn,app::db=debug").unwrap();
    assert_eq!(logger.max_level(), LevelFilter::Debug);
    assert!(logger.enabled(&meta(Level::Debug, MODULE)));
    assert!(!logger.enabled(&meta(Level::Debug, QUIET)));
    debug(&logger, "under app::db=debug");
    log_at(&logger, QUIET, Level::Debug, "quiet under app::db=debug");
    log_at(
        &logger,
        QUIET,
        Level::Warn,
        "quiet warn under app::db=debug",
    );

    handle.set_filters("error,app::quiet=debug").unwrap();
    assert_eq!(handle.max_level(), LevelFilter::Debug);
    debug(&logger, "under error");
    log_at(&logger, MODULE, Level::Warn, "warn under error");
    log_at(&logger, QUIET, Level::Debug, "quiet under app::quiet=debug");

    handle.set_level(LevelFilter::Trace);
    assert_eq!(logger.max_level(), LevelFilter::Trace);
    debug(&logger, "under trace");

    // An invalid spec changes nothing.
    assert!(matches!(
        handle.set_filters("app=loud"),
        Err(logbuf_log::Error::Filter(_))
    ));
    assert_eq!(logger.max_level(), LevelFilter::Trace);
    handle.set_level(LevelFilter::Off);
    assert_eq!(logger.max_level(), LevelFilter::Off);
    debug(&logger, "under off");
    log_at(&logger, MODULE, Level::Error, "error under off");
    drop(guard);

    assert_eq!(
        messages(&path),
        [
            "warn under warn",
            "under app::db=debug",
            "under app::db=debug",
            "quiet warn under app::db=debug",
            "quiet under app::quiet=debug",
            "under trace",
            "under trace",
        ]
    );
}

#[test]
fn a_message_pattern_can_be_added_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pattern.lbf");
    let (logger, guard) = logbuf_log::Builder::new()
        .parse_filters("info")
        .file(&path)
        .build()
        .unwrap();
    let handle = logger.reload_handle();
    log_at(&logger, MODULE, Level::Info, "keep 1");
    log_at(&logger, MODULE, Level::Warn, "drop 1");
    handle.set_filters("info/keep").unwrap();
    log_at(&logger, MODULE, Level::Info, "keep 2");
    log_at(&logger, MODULE, Level::Warn, "drop 2");
    handle.set_filters("info").unwrap();
    log_at(&logger, MODULE, Level::Warn, "drop 3");
    drop(guard);
    assert_eq!(messages(&path), ["keep 1", "drop 1", "keep 2", "drop 3"]);
}

fn meta(level: Level, target: &str) -> Metadata<'_> {
    Metadata::builder().level(level).target(target).build()
}

const THREADS: u64 = 4;
const RELOADS: u64 = 200;
/// The sequence numbers of the two rounds logged after the churn.
const ROUND_A: u64 = u64::MAX - 1;
const ROUND_B: u64 = u64::MAX;

/// One round of a thread: an info record without key-values (the logger's fastest cache), a
/// debug one and one of another target with key-values (its other cache), from the same three
/// call sites every time.
fn round(t: u64, seq: u64) {
    log::info!("info {t} {seq}");
    log::debug!(t = t, seq = seq; "debug {t} {seq}");
    log::info!(target: "reload::churn", t = t, seq = seq; "churn {t} {seq}");
}

/// The one test of this file that installs the logger: `log`'s macros and `log::max_level`.
#[test]
fn installed_logger_follows_reloads_made_while_threads_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("installed.lbf");
    let guard = logbuf_log::Builder::new()
        .parse_filters("info")
        .file(&path)
        .policy(FullPolicy::Block)
        .ring_capacity(64 * 1024)
        .init()
        .unwrap();
    let handle = guard.reload_handle();
    assert_eq!(log::max_level(), LevelFilter::Info);
    log::debug!("before any reload");

    // Threads log while the filter is switched among filters that all let the info records of
    // the `reload` target through; the debug and churn records come and go. Then, with the
    // threads still alive (their call sites cached under the churn's filters), two rounds
    // under two last filters that turn each of those decisions around.
    let done = AtomicBool::new(false);
    let barrier = Barrier::new(THREADS as usize + 1);
    let logged_info = std::thread::scope(|s| {
        let loggers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (done, barrier) = (&done, &barrier);
                s.spawn(move || {
                    let mut seq = 0u64;
                    // At least 1000 rounds, during the reloads, and not without end where the
                    // reloading thread is starved.
                    while (!done.load(Ordering::Relaxed) || seq < 1000) && seq < 100_000 {
                        round(t, seq);
                        seq += 1;
                    }
                    barrier.wait(); // the churn is over
                    for final_round in [ROUND_A, ROUND_B] {
                        barrier.wait(); // the filter is set
                        round(t, final_round);
                        barrier.wait(); // the round is logged
                    }
                    seq
                })
            })
            .collect();
        let specs = [
            "debug",
            "info",
            "info,reload::churn=error",
            "warn,reload=debug",
        ];
        for i in 0..RELOADS {
            handle.set_filters(specs[i as usize % specs.len()]).unwrap();
            std::thread::yield_now();
        }
        done.store(true, Ordering::Relaxed);
        barrier.wait();

        // Round A: only the churn records (info, under a debug level).
        handle.set_filters("error,reload::churn=debug").unwrap();
        assert_eq!(log::max_level(), LevelFilter::Debug);
        barrier.wait();
        barrier.wait();
        // Round B: info and debug of `reload`, and no churn.
        handle.set_filters("debug,reload::churn=off").unwrap();
        assert_eq!(log::max_level(), LevelFilter::Debug);
        barrier.wait();
        barrier.wait();
        loggers
            .into_iter()
            .map(|l| l.join().unwrap())
            .collect::<Vec<_>>()
    });

    handle.set_filters("warn").unwrap();
    assert_eq!(log::max_level(), LevelFilter::Warn);
    log::info!("after tightening");
    log::warn!("warn after tightening");
    log::logger().flush();
    drop(guard);

    let mut info_seen: Vec<HashSet<u64>> = vec![HashSet::new(); THREADS as usize];
    let mut others = HashSet::new();
    let mut finals = Vec::new();
    for (level, target, message, values) in read_all(&path) {
        let (kind, t, seq) = match message.split(' ').collect::<Vec<_>>()[..] {
            [kind, t, seq] if kind != "warn" => (
                kind.to_owned(),
                t.parse::<u64>().unwrap(),
                seq.parse::<u64>().unwrap(),
            ),
            _ => {
                finals.push((level, message));
                continue;
            }
        };
        if kind != "info" {
            // Values match the message: nothing torn.
            assert_eq!(values, [OwnedValue::U64(t), OwnedValue::U64(seq)]);
        }
        if seq >= ROUND_A {
            finals.push((level, format!("{kind} {t} {}", seq - ROUND_A)));
            continue;
        }
        match kind.as_str() {
            "info" => {
                assert_eq!((level, target.as_str()), (Level::Info, "reload"));
                // Each record once.
                assert!(info_seen[t as usize].insert(seq), "{message} twice");
            }
            "debug" | "churn" => assert!(others.insert(message.clone()), "{message} twice"),
            _ => panic!("{message}"),
        }
    }
    // Every filter of the churn lets the info records of `reload` through: none is lost.
    for t in 0..THREADS as usize {
        assert_eq!(info_seen[t].len() as u64, logged_info[t], "thread {t}");
    }
    let mut expected: Vec<(Level, String)> = Vec::new();
    for t in 0..THREADS {
        expected.push((Level::Info, format!("churn {t} 0")));
    }
    for t in 0..THREADS {
        expected.push((Level::Debug, format!("debug {t} 1")));
        expected.push((Level::Info, format!("info {t} 1")));
    }
    expected.push((Level::Warn, "warn after tightening".to_owned()));
    let order = |(_, m): &(Level, String)| (m.starts_with("warn"), m.ends_with(" 1"), m.clone());
    finals.sort_by_key(order);
    expected.sort_by_key(order);
    assert_eq!(finals, expected);
}
