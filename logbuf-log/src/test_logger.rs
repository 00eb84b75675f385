//! A logger for tests, whose lines the test harness captures.

use std::fmt::Write as _;
use std::sync::Once;

use log::kv::{self, VisitSource};
use log::{Log, Metadata, Record};

use crate::DEFAULT_FILTER_ENV;

/// Sets up logging for tests, like env_logger's `is_test(true)`: what a test logs is captured
/// by the test harness with that test's output, shown when it fails and hidden when it passes.
/// Call it at the start of every test that logs; it may be called any number of times, from
/// any thread (only the first call installs anything).
///
/// Records are filtered by `RUST_LOG` as with [`init`](crate::init) (errors only when it is
/// unset, as with env_logger) and laid out as the text sink lays them out, without the time
/// (`" INFO my_app::db: connected user=\"ada\""`), but formatted on the thread that logs and
/// printed with `print!`, which is what the harness captures (for the test's thread and the
/// threads it spawns): no journal, no worker thread. For tests only; programs use
/// [`init`](crate::init).
///
/// Does nothing when a `log` logger is set already.
///
/// ```
/// logbuf_log::init_test();
/// log::error!("shown only if this test fails");
/// logbuf_log::init_test(); // again: nothing happens
/// ```
pub fn init_test() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut filter = env_filter::Builder::new();
        if let Ok(spec) = std::env::var(DEFAULT_FILTER_ENV) {
            filter.parse(&spec);
        }
        let filter = filter.build();
        let max = filter.filter();
        if log::set_boxed_logger(Box::new(TestLogger { filter })).is_ok() {
            log::set_max_level(max);
        }
    });
}

/// Formats each record on the thread that logs it and prints it with `print!`.
struct TestLogger {
    filter: env_filter::Filter,
}

impl Log for TestLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.filter.matches(record) {
            return;
        }
        let mut line = String::new();
        let _ = write!(
            line,
            "{:>5} {}: {}",
            record.level(),
            record.target(),
            record.args()
        );
        let _ = record.key_values().visit(&mut Fields(&mut line));
        line.push('\n');
        // `print!` rather than a write to standard output: the harness captures only this.
        print!("{line}");
    }

    fn flush(&self) {}
}

/// Appends ` key=value` for each key-value, strings quoted as the text sink quotes them.
struct Fields<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let _ = match value.to_borrowed_str() {
            Some(text) => write!(self.0, " {key}={text:?}"),
            None => write!(self.0, " {key}={value}"),
        };
        Ok(())
    }
}
