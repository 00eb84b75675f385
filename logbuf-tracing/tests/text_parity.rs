//! One program logged through `tracing-subscriber`'s `fmt` layer and through `LogbufLayer` with
//! the journal's text and JSON sinks: the lines must be the same. The program also logs through
//! `log`, bridged by tracing-log's `LogTracer`: those lines show the record's own target, file
//! and line, as `fmt` shows them.

use std::error::Error;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use logbuf_journal::sink::json::{JsonFormat, JsonSink};
use logbuf_journal::sink::text::{TextFormat, TextSink, Timestamps};
use logbuf_tracing::{FullPolicy, LogbufLayer};
use serde_json::Value as Json;
use tracing::Dispatch;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

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

impl<'a> MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

#[derive(Debug)]
struct Failure(&'static str, Option<Box<Failure>>);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.1.as_deref().map(|e| e as _)
    }
}

const EVENTS: usize = 13;

/// The program: nested spans with typed fields, a field recorded after creation, events of
/// every level and value kind, an event on a second thread inside a span from the first, and
/// `log` records.
fn program() {
    bridge_log();
    let outer = tracing::info_span!(
        "request",
        method = "GET",
        user = tracing::field::Empty,
        id = 7u64,
        status = tracing::field::Empty
    );
    let entered = outer.enter();
    tracing::info!(
        user_id = 42u64,
        latency_us = 17.5,
        path = "/api/v1/orders",
        "request done"
    );
    // Recorded later, out of field order: `fmt` shows them last, in the order recorded.
    outer.record("status", 200);
    outer.record("user", "ada");
    {
        let db = tracing::debug_span!("db", table = "orders", big = u128::MAX);
        let _db = db.enter();
        tracing::debug!(rows = 3i64, cached = false, "query");
        let err = Failure("timeout", Some(Box::new(Failure("connection reset", None))));
        tracing::error!(error = &err as &(dyn Error + 'static), retry = ?Some(2), "db failed");
        let empty = tracing::trace_span!("empty");
        let _e = empty.enter();
        tracing::trace!(bytes = &b"\x00\x1b\xff"[..], "deep {}", 1 + 1);
        log::info!(target: "my_crate::db", "connected to pg in {} ms", 5);
    }
    let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
    let parent = outer.clone();
    std::thread::Builder::new()
        .name("helper".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                parent.in_scope(|| tracing::warn!(who = %"helper", "from another thread"));
                let own = tracing::info_span!("job", n = 1);
                own.in_scope(|| tracing::info!(r#type = "x", "in the helper's span"));
                tracing::info!("outside any span");
            })
        })
        .unwrap()
        .join()
        .unwrap();
    drop(entered);
    tracing::warn!(target: "custom::target", neg = -5i64, i = i128::MIN, "a \"quoted\" \x1b[31m word");
    log::warn!("a log record under the module's target");
    tracing::info!(only = 1);
    tracing::info!(message = "explicit", tab = "a\tb");
    tracing::error!(f = f64::NAN, g = 1e300, h = 0.1, "floats");
}

/// `log` records into `tracing`, as `tracing_subscriber::fmt::init` has them.
fn bridge_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| tracing_log::LogTracer::init().unwrap());
}

/// The program through `fmt`.
fn through_fmt<L>(layer: impl FnOnce(Buf) -> L) -> String
where
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    let out = Buf::default();
    let subscriber = tracing_subscriber::registry().with(layer(out.clone()));
    tracing::subscriber::with_default(subscriber, program);
    out.text()
}

/// The program through `LogbufLayer` and the sink `sink` makes.
fn through_logbuf<K: logbuf_journal::Sink + 'static>(sink: impl FnOnce(Buf) -> K) -> String {
    through_logbuf_with(false, sink)
}

/// [`through_logbuf`], with the spans' busy and idle times measured when `span_times`.
fn through_logbuf_with<K: logbuf_journal::Sink + 'static>(
    span_times: bool,
    sink: impl FnOnce(Buf) -> K,
) -> String {
    let out = Buf::default();
    let (layer, guard) = LogbufLayer::builder()
        .sink(sink(out.clone()))
        .policy(FullPolicy::Block)
        .span_times(span_times)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, program);
    drop(guard);
    out.text()
}

/// `ThreadId(NN)` differs (std's numbering against the journal's); the rest must not.
/// Thread names are padded to the longest seen so far, which for `fmt` counts every test
/// running in the process at the same time: runs of spaces are made one.
fn mask_thread_ids(text: &str) -> String {
    let text = text
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let text = text.as_str();
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("ThreadId(") {
        out.push_str(&rest[..at]);
        out.push_str("ThreadId(_)");
        let after = &rest[at + "ThreadId(".len()..];
        rest = &after[after.find(')').unwrap() + 1..];
    }
    out.push_str(rest);
    out
}

fn assert_same_lines(ours: &str, theirs: &str) {
    let ours: Vec<String> = ours.lines().map(mask_thread_ids).collect();
    let theirs: Vec<String> = theirs.lines().map(mask_thread_ids).collect();
    assert_eq!(ours.len(), EVENTS, "{ours:#?}");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
    assert_eq!(ours.len(), theirs.len());
}

/// `fmt`'s text layer without timestamps.
type TextLayer = tracing_subscriber::fmt::Layer<
    tracing_subscriber::Registry,
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Full, ()>,
>;

/// `fmt`'s JSON layer.
type JsonLayer = tracing_subscriber::fmt::Layer<
    tracing_subscriber::Registry,
    tracing_subscriber::fmt::format::JsonFields,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json>,
>;

fn text_parity(
    fmt_options: impl FnOnce(TextLayer) -> TextLayer,
    ours: impl FnOnce(TextFormat) -> TextFormat,
) -> String {
    let theirs = through_fmt(|w| {
        fmt_options(
            tracing_subscriber::fmt::layer()
                .without_time()
                .with_ansi(false),
        )
        .with_writer(w)
    });
    let ours = through_logbuf(|w| TextSink::new(w).with_format(|f| ours(f.without_time())));
    assert_same_lines(&ours, &theirs);
    ours
}

#[test]
fn default_text_is_fmt_s() {
    let ours = text_parity(|l| l, |f| f);
    assert_eq!(
        ours.lines().next().unwrap(),
        " INFO request{method=\"GET\" id=7}: text_parity: request done user_id=42 \
         latency_us=17.5 path=\"/api/v1/orders\""
    );
    assert!(
        ours.contains("request{method=\"GET\" id=7 status=200 user=\"ada\"}:db{table=\"orders\"")
    );
}

#[test]
fn every_option_on_is_fmt_s() {
    let ours = text_parity(
        |l| {
            l.with_thread_names(true)
                .with_thread_ids(true)
                .with_file(true)
                .with_line_number(true)
        },
        |f| {
            f.with_thread_names(true)
                .with_thread_ids(true)
                .with_file(true)
                .with_line_number(true)
        },
    );
    assert!(ours.contains(" helper ThreadId("));
    assert!(ours.contains("logbuf-tracing/tests/text_parity.rs:"));
}

#[test]
fn without_target_and_level_is_fmt_s() {
    text_parity(
        |l| {
            l.with_target(false)
                .with_level(false)
                .with_line_number(true)
        },
        |f| {
            f.with_target(false)
                .with_level(false)
                .with_line_number(true)
        },
    );
}

#[test]
fn ansi_text_is_fmt_s() {
    let ours = text_parity(
        |l| l.with_ansi(true).with_thread_names(true).with_file(true),
        |f| f.with_ansi(true).with_thread_names(true).with_file(true),
    );
    assert!(ours.contains("\x1b[32m INFO\x1b[0m"));
    assert!(ours.contains("\x1b[1mrequest\x1b[0m\x1b[1m{\x1b[0m\x1b[3mmethod\x1b[0m"));
}

fn json_parity(
    fmt_options: impl FnOnce(JsonLayer) -> JsonLayer,
    ours: impl FnOnce(JsonFormat) -> JsonFormat,
) -> Vec<Json> {
    let theirs =
        through_fmt(|w| fmt_options(tracing_subscriber::fmt::layer().json()).with_writer(w));
    let theirs = without_log_fields(&theirs);
    let ours = through_logbuf(|w| JsonSink::new(w).with_format(ours));
    let parse = |text: &str| -> Vec<(Json, String)> {
        text.lines()
            .map(|line| {
                let line = mask_thread_ids(line);
                let mut json: Json = serde_json::from_str(&line).unwrap();
                let Some(Json::String(time)) = json.as_object_mut().unwrap().remove("timestamp")
                else {
                    panic!("no timestamp in {line}");
                };
                let rest = line.replacen(&format!("\"timestamp\":\"{time}\","), "", 1);
                (json, rest)
            })
            .collect()
    };
    let (ours, theirs) = (parse(&ours), parse(&theirs));
    assert_eq!(ours.len(), EVENTS);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
    }
    assert_eq!(ours.len(), theirs.len());
    ours.into_iter().map(|(json, _)| json).collect()
}

/// `fmt::json` shows a bridged `log` record under its own target, file and line, as logbuf
/// does, and also repeats them as fields (`log.target`, `log.module_path`, `log.file`,
/// `log.line`: its JSON visitor skips them only when they are recorded as `Debug`, and
/// tracing-log records them as strings and a number; its text layout skips them). logbuf
/// records them once, as the callsite: they are taken out of `fmt`'s lines here, and nothing
/// else.
fn without_log_fields(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_owned();
        for key in ["log.target", "log.module_path", "log.file", "log.line"] {
            let pattern = format!(",\"{key}\":");
            let Some(at) = line.find(&pattern) else {
                continue;
            };
            let value = &line[at + pattern.len()..];
            let len = if let Some(string) = value.strip_prefix('"') {
                string.find('"').unwrap() + 2
            } else {
                value.find([',', '}']).unwrap()
            };
            line.replace_range(at..at + pattern.len() + len, "");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn default_json_is_fmt_s() {
    let objects = json_parity(|l| l, |f| f);
    assert_eq!(objects[0]["fields"]["user_id"], 42);
    assert_eq!(objects[0]["span"]["name"], "request");
    assert_eq!(objects[1]["spans"][0]["status"], 200);
}

#[test]
fn json_with_every_option_is_fmt_s() {
    let objects = json_parity(
        |l| {
            l.flatten_event(true)
                .with_current_span(false)
                .with_thread_names(true)
                .with_thread_ids(true)
                .with_file(true)
                .with_line_number(true)
        },
        |f| {
            f.flatten_event(true)
                .with_current_span(false)
                .with_thread_names(true)
                .with_thread_ids(true)
                .with_file(true)
                .with_line_number(true)
        },
    );
    assert_eq!(objects[0]["message"], "request done");
    assert!(objects.iter().any(|o| o["threadName"] == "helper"));
}

#[test]
fn compact_text_is_fmt_s() {
    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .compact()
            .without_time()
            .with_ansi(false)
            .with_writer(w)
    });
    let ours = through_logbuf(|w| TextSink::new(w).with_format(|f| f.compact().without_time()));
    assert_same_lines(&ours, &theirs);
    assert_eq!(
        ours.lines().next().unwrap(),
        " INFO request: text_parity: request done user_id=42 latency_us=17.5 \
         path=\"/api/v1/orders\" method=\"GET\" id=7"
    );
}

#[test]
fn compact_text_with_every_option_and_colours_is_fmt_s() {
    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .compact()
            .without_time()
            .with_ansi(true)
            .with_thread_names(true)
            .with_thread_ids(true)
            .with_file(true)
            .with_line_number(true)
            .with_writer(w)
    });
    let ours = through_logbuf(|w| {
        TextSink::new(w).with_format(|f| {
            f.compact()
                .without_time()
                .with_ansi(true)
                .with_thread_names(true)
                .with_thread_ids(true)
                .with_file(true)
                .with_line_number(true)
        })
    });
    assert_same_lines(&ours, &theirs);
    assert!(ours.contains("\x1b[1mrequest\x1b[0m:\x1b[1mdb\x1b[0m:"));
    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .compact()
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .with_file(true)
            .with_writer(w)
    });
    let ours = through_logbuf(|w| {
        TextSink::new(w).with_format(|f| {
            f.compact()
                .without_time()
                .with_target(false)
                .with_file(true)
        })
    });
    assert_same_lines(&ours, &theirs);
}

/// The spans the program closes: `empty`, `db`, the helper's `job`, `request`.
const CLOSES: usize = 4;

/// Checks that `value` is a span time as `fmt` writes one (`1.25ms`, `35.4µs`, `120ns`,
/// `3.00s`: three significant digits, two decimals under 10, one under 100, none above).
fn assert_duration_shape(value: &str) {
    let at = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or_else(|| panic!("no unit in {value:?}"));
    let (number, unit) = value.split_at(at);
    assert!(["ns", "µs", "ms", "s"].contains(&unit), "{value:?}");
    let x: f64 = number.parse().unwrap();
    let decimals = number.split('.').nth(1).map_or(0, str::len);
    let want = if x < 10.0 {
        2
    } else if x < 100.0 {
        1
    } else {
        0
    };
    // A value just under 10 or 100 rounds up with the decimals of the smaller range.
    let rounded_up = (x == 10.0 && decimals == 2) || (x == 100.0 && decimals == 1);
    assert!(decimals == want || rounded_up, "{value:?}");
    if unit != "s" {
        assert!(x < 1000.0, "{value:?}");
    }
}

/// Replaces each span time after `key` (`time.busy=` in text, `"time.busy":"` in JSON) with
/// `<T>`, checking its shape first: the times differ from run to run, their form must not.
fn mask_durations(line: &str) -> String {
    let mut line = line.to_owned();
    for key in [
        "time.busy=",
        "time.idle=",
        "\"time.busy\":\"",
        "\"time.idle\":\"",
    ] {
        if let Some(at) = line.find(key) {
            let start = at + key.len();
            let len = line[start..].find([' ', '"']).unwrap_or(line.len() - start);
            assert_duration_shape(&line[start..start + len]);
            line.replace_range(start..start + len, "<T>");
        }
    }
    line
}

/// Replaces the uptime at the start of `line` (`   0.001234567s `) with `<uptime>`, checking
/// its shape first: seconds right-aligned to four places, a point, nine digits, `s`.
fn mask_uptime(line: &str) -> String {
    let time = line.trim_start();
    let pad = line.len() - time.len();
    let end = time.find(' ').unwrap();
    let (secs, nanos) = time[..end]
        .strip_suffix('s')
        .unwrap()
        .split_once('.')
        .unwrap();
    assert!(secs.bytes().all(|b| b.is_ascii_digit()), "{line:?}");
    assert_eq!(pad + secs.len(), 4, "{line:?}");
    assert!(
        nanos.len() == 9 && nanos.bytes().all(|b| b.is_ascii_digit()),
        "{line:?}"
    );
    format!("<uptime>{}", &time[end..])
}

fn assert_same_lines_with_closes(ours: &str, theirs: &str, mask: impl Fn(&str) -> String) {
    let ours: Vec<String> = ours.lines().map(|l| mask_thread_ids(&mask(l))).collect();
    let theirs: Vec<String> = theirs.lines().map(|l| mask_thread_ids(&mask(l))).collect();
    assert_eq!(ours.len(), EVENTS + CLOSES, "{ours:#?}");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn span_close_lines_with_times_are_fmt_s() {
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::fmt::time::Uptime;

    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .with_timer(Uptime::default())
            .with_ansi(false)
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(w)
    });
    let ours = through_logbuf_with(true, |w| {
        TextSink::new(w)
            .with_timestamps(Timestamps::Uptime)
            .with_span_close(true)
    });
    let mask = |line: &str| mask_durations(&mask_uptime(line));
    assert_same_lines_with_closes(&ours, &theirs, mask);
    let closes: Vec<String> = ours
        .lines()
        .filter(|l| l.contains(" close "))
        .map(mask)
        .collect();
    assert_eq!(
        closes[0],
        "<uptime> TRACE request{method=\"GET\" id=7 status=200 user=\"ada\"}:\
         db{table=\"orders\" big=340282366920938463463374607431768211455}:empty: text_parity: \
         close time.busy=<T> time.idle=<T>"
    );
    assert_eq!(closes.len(), CLOSES);

    // Compact, with colours, file and line.
    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .compact()
            .with_timer(Uptime::default())
            .with_ansi(false)
            .with_file(true)
            .with_line_number(true)
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(w)
    });
    let ours = through_logbuf_with(true, |w| {
        TextSink::new(w)
            .compact()
            .with_timestamps(Timestamps::Uptime)
            .with_file(true)
            .with_line_number(true)
            .with_span_close(true)
    });
    assert_same_lines_with_closes(&ours, &theirs, mask);
}

/// Without the layer's span times, a close line ends at `close`: what `fmt` writes with its
/// timing off (`without_time` turns off both its timestamps and its span times).
#[test]
fn span_close_lines_without_times_are_fmt_s_without_timing() {
    use tracing_subscriber::fmt::format::FmtSpan;

    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .without_time()
            .with_ansi(true)
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(w)
    });
    let ours = through_logbuf_with(false, |w| {
        TextSink::new(w)
            .without_time()
            .with_ansi(true)
            .with_span_close(true)
    });
    assert_same_lines_with_closes(&ours, &theirs, str::to_owned);
    assert!(ours.contains("\x1b[1mjob\x1b[0m\x1b[1m{\x1b[0m\x1b[3mn\x1b[0m\x1b[2m=\x1b[0m1\x1b[1m}\x1b[0m\x1b[2m:\x1b[0m \x1b[2mtext_parity\x1b[0m\x1b[2m:\x1b[0m close\n"));
    // Off by default.
    let ours = through_logbuf_with(true, |w| TextSink::new(w).without_time());
    assert_eq!(ours.lines().count(), EVENTS);
}

#[test]
fn json_span_close_objects_are_fmt_s() {
    use tracing_subscriber::fmt::format::FmtSpan;

    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(w)
    });
    let theirs = without_log_fields(&theirs);
    let ours = through_logbuf_with(true, |w| {
        JsonSink::new(w).with_format(|f| f.with_span_close(true))
    });
    let parse = |text: &str| -> Vec<(Json, String)> {
        text.lines()
            .map(|line| {
                let line = mask_durations(&mask_thread_ids(line));
                let mut json: Json = serde_json::from_str(&line).unwrap();
                let Some(Json::String(time)) = json.as_object_mut().unwrap().remove("timestamp")
                else {
                    panic!("no timestamp in {line}");
                };
                let rest = line.replacen(&format!("\"timestamp\":\"{time}\","), "", 1);
                (json, rest)
            })
            .collect()
    };
    let (ours, theirs) = (parse(&ours), parse(&theirs));
    assert_eq!(ours.len(), EVENTS + CLOSES);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
    }
    assert_eq!(ours.len(), theirs.len());
    let closes: Vec<&Json> = ours
        .iter()
        .map(|(json, _)| json)
        .filter(|j| j["fields"]["message"] == "close")
        .collect();
    assert_eq!(closes.len(), CLOSES);
    assert_eq!(closes[0]["span"]["name"], "empty");
    assert_eq!(closes[0]["spans"].as_array().unwrap().len(), 2);
    assert_eq!(closes[0]["fields"]["time.busy"], "<T>");
}

/// A timestamp's shape: every digit as `0`, and the digits of a fraction of a second, whose
/// number follows the value with chrono's `%.f`, as one `F`.
fn time_shape(time: &str) -> String {
    let mut shape = String::new();
    let mut fraction = false;
    for c in time.chars() {
        match c {
            '.' => {
                fraction = true;
                shape.push_str(".F");
            }
            c if c.is_ascii_digit() && fraction => {}
            c if c.is_ascii_digit() => shape.push('0'),
            c => {
                fraction = false;
                shape.push(c);
            }
        }
    }
    shape
}

/// Splits `fields` fields off the start of each line (the timestamp: some formats have
/// spaces), checks that both sides' have the shape `want`, and compares the rest.
fn assert_same_lines_after_time(ours: &str, theirs: &str, fields: usize, want: &str) {
    let split = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .map(|line| {
                let mut parts = line.splitn(fields + 1, ' ');
                let time: Vec<&str> = parts.by_ref().take(fields).collect();
                (time.join(" "), parts.next().unwrap_or("").to_owned())
            })
            .collect()
    };
    let (ours, theirs) = (split(ours), split(theirs));
    assert_eq!(ours.len(), EVENTS);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(time_shape(&a.0), want, "{:?}", a.0);
        assert_eq!(time_shape(&b.0), want, "{:?}", b.0);
        assert_eq!(mask_thread_ids(&a.1), mask_thread_ids(&b.1));
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn custom_utc_and_local_timers_are_fmt_s() {
    use tracing_subscriber::fmt::time::{ChronoLocal, ChronoUtc};

    // fmt's `ChronoUtc::new(format)`.
    let format = "%H:%M:%S%.3f";
    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .with_timer(ChronoUtc::new(format.into()))
            .with_ansi(false)
            .with_writer(w)
    });
    let ours = through_logbuf(|w| TextSink::new(w).with_timestamps(Timestamps::Custom(format)));
    assert_same_lines_after_time(&ours, &theirs, 1, "00:00:00.F");

    // fmt's `ChronoLocal::new(format)`, with names, spaces and a literal `%`.
    let format = "%a %d %b %Y %T %%";
    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .with_timer(ChronoLocal::new(format.into()))
            .with_ansi(false)
            .with_writer(w)
    });
    let ours =
        through_logbuf(|w| TextSink::new(w).with_timestamps(Timestamps::CustomLocal(format)));
    let want = time_shape(&ours.splitn(7, ' ').take(6).collect::<Vec<_>>().join(" "));
    // `Fri 00 Dec 0000 00:00:00 %`, today's names.
    let names: Vec<&str> = want.split(' ').collect();
    assert!(
        names[0].len() == 3 && names[0].bytes().all(|b| b.is_ascii_alphabetic()),
        "{want}"
    );
    assert!(
        names[2].len() == 3 && names[2].bytes().all(|b| b.is_ascii_alphabetic()),
        "{want}"
    );
    assert_eq!(
        &want[3..],
        " 00 ".to_owned() + names[2] + " 0000 00:00:00 %"
    );
    assert_same_lines_after_time(&ours, &theirs, 6, &want);

    // fmt's `ChronoLocal::rfc_3339()`, as a custom local format.
    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .with_timer(ChronoLocal::rfc_3339())
            .with_ansi(false)
            .with_writer(w)
    });
    let ours = through_logbuf(|w| {
        TextSink::new(w).with_timestamps(Timestamps::CustomLocal("%Y-%m-%dT%H:%M:%S%.f%:z"))
    });
    let want = time_shape(ours.split(' ').next().unwrap());
    assert!(want.starts_with("0000-00-00T00:00:00.F"), "{want}");
    assert_same_lines_after_time(&ours, &theirs, 1, &want);
}

#[test]
fn json_timers_are_fmt_s() {
    use tracing_subscriber::fmt::time::{ChronoUtc, Uptime};

    let timestamps = |text: &str| -> Vec<String> {
        text.lines()
            .map(|line| {
                let json: Json = serde_json::from_str(line).unwrap();
                json["timestamp"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_timer(ChronoUtc::new("%s%.6f".into()))
            .with_writer(w)
    });
    let ours = through_logbuf(|w| {
        JsonSink::new(w).with_format(|f| f.with_timestamps(Timestamps::Custom("%s%.6f")))
    });
    let (ours, theirs) = (timestamps(&ours), timestamps(&theirs));
    assert_eq!(ours.len(), EVENTS);
    assert_eq!(theirs.len(), EVENTS);
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(time_shape(a), time_shape(b));
        // Seconds since the epoch, both from this run: a minute apart at most.
        let secs = |t: &str| t.split('.').next().unwrap().parse::<u64>().unwrap();
        assert!(secs(a).abs_diff(secs(b)) < 60, "{a} {b}");
    }

    let theirs = through_fmt(|w| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_timer(Uptime::default())
            .with_writer(w)
    });
    let ours =
        through_logbuf(|w| JsonSink::new(w).with_format(|f| f.with_timestamps(Timestamps::Uptime)));
    for time in timestamps(&ours).iter().chain(&timestamps(&theirs)) {
        mask_uptime(&format!("{time} x"));
    }
}
