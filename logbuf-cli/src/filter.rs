//! Which events `logbuf cat` and `logbuf follow` show.

use logbuf_journal::read::{EventInContext, OwnedValue, Span};
use logbuf_journal::sink::text::DropReport;

use crate::cat::Item;
use logbuf_journal::wire::{Level, Value};

/// A conjunction of conditions on an event; an empty filter lets everything through.
///
/// ```
/// use logbuf_cli::filter::{Filter, parse_field, parse_level};
///
/// let filter = Filter {
///     level: Some(parse_level("warn")?),
///     target: Some("app::db".into()),
///     fields: vec![parse_field("user_id=42")?],
///     ..Filter::default()
/// };
/// assert!(!filter.is_empty());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The least severe level shown (`warn` shows warnings and errors).
    pub level: Option<Level>,
    /// Targets that start with this.
    pub target: Option<String>,
    /// A thread, by name, or by the journal's thread id when it is a number.
    pub thread: Option<String>,
    /// Events at or after this time (nanoseconds since the Unix epoch).
    pub since: Option<u64>,
    /// Events before this time (nanoseconds since the Unix epoch).
    pub until: Option<u64>,
    /// Events inside a span of this name (at any depth).
    pub span: Option<String>,
    /// Events with every one of these fields (the event's own, or one of its spans') equal to
    /// the value, compared as text.
    pub fields: Vec<(String, String)>,
}

impl Filter {
    /// Whether no condition is set.
    pub fn is_empty(&self) -> bool {
        self.level.is_none()
            && self.target.is_none()
            && self.thread.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.span.is_none()
            && self.fields.is_empty()
    }

    /// Whether `event` passes every condition.
    pub fn matches(&self, event: &EventInContext<'_>) -> bool {
        let callsite = event.callsite;
        if self.level.is_some_and(|min| callsite.level < min) {
            return false;
        }
        if let Some(prefix) = &self.target
            && !callsite.target.starts_with(prefix.as_str())
        {
            return false;
        }
        if let Some(thread) = &self.thread {
            let by_name = event.thread_name == Some(thread.as_str());
            let by_id = thread.parse::<u64>().ok() == Some(event.event.thread);
            if !(by_name || by_id) {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(at) = event.unix_nanos else {
                return false;
            };
            if self.since.is_some_and(|since| at < since) || self.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        if let Some(name) = &self.span
            && !event.spans.iter().any(|s| s.callsite.name == *name)
        {
            return false;
        }
        self.fields
            .iter()
            .all(|(key, want)| has_field(event, key, want))
    }
}

impl Filter {
    /// Whether a span passes every condition, as `logbuf stats --spans` applies them: level
    /// and target are the span callsite's, the thread is the one that created it (`thread_name`
    /// its name, if known), the time window holds its creation (`unix_nanos`), `--span NAME`
    /// matches the span itself or one of its ancestors (`scope`, outermost first, without the
    /// span), and a field is looked up in the span's own values, then its ancestors'.
    pub fn matches_span(
        &self,
        span: &Span,
        scope: &[&Span],
        thread_name: Option<&str>,
        unix_nanos: Option<u64>,
    ) -> bool {
        let callsite = &span.callsite;
        if self.level.is_some_and(|min| callsite.level < min) {
            return false;
        }
        if let Some(prefix) = &self.target
            && !callsite.target.starts_with(prefix.as_str())
        {
            return false;
        }
        if let Some(thread) = &self.thread {
            let by_name = thread_name == Some(thread.as_str());
            let by_id = thread.parse::<u64>().ok() == Some(span.thread);
            if !(by_name || by_id) {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(at) = unix_nanos else {
                return false;
            };
            if self.since.is_some_and(|since| at < since) || self.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        if let Some(name) = &self.span
            && callsite.name != *name
            && !scope.iter().any(|s| s.callsite.name == *name)
        {
            return false;
        }
        self.fields.iter().all(|(key, want)| {
            std::iter::once(span)
                .chain(scope.iter().rev().copied())
                .find_map(|s| span_field_is(s, key, want))
                .unwrap_or(false)
        })
    }

    /// Whether an event passes every condition ([`Filter::matches`]), or whether a report of
    /// dropped records does ([`Filter::matches_dropped`]).
    pub fn matches_item(&self, item: Item<'_>) -> bool {
        match item {
            Item::Event(event) => self.matches(event),
            Item::Dropped(report) => self.matches_dropped(report),
        }
    }

    /// Whether a report of dropped records is shown: unless the conditions rule out every
    /// record it counts. The records' levels, targets, spans and fields are unknown (they may
    /// have been errors of the target asked for), so those conditions keep the report; the
    /// thread and the time window are known, so those conditions apply as to an event.
    pub fn matches_dropped(&self, report: &DropReport<'_>) -> bool {
        if let Some(thread) = &self.thread {
            let by_name = report.thread_name == Some(thread.as_str());
            let by_id = thread.parse::<u64>().ok() == Some(report.dropped.thread);
            if !(by_name || by_id) {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(at) = report.unix_nanos else {
                return false;
            };
            if self.since.is_some_and(|since| at < since) || self.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        true
    }
}

/// Whether the event, or one of its spans (innermost first), has field `key` equal to `want`.
fn has_field(event: &EventInContext<'_>, key: &str, want: &str) -> bool {
    let own = event
        .callsite
        .fields
        .iter()
        .zip(&event.event.values)
        .find(|(name, value)| *name == key && !matches!(value, Value::Empty));
    if let Some((_, value)) = own {
        return value_is(value, want);
    }
    event
        .spans
        .iter()
        .rev()
        .find_map(|span| span_field_is(span, key, want))
        .unwrap_or(false)
}

/// Whether `span`'s own field `key` equals `want`; `None` if the span has no such field
/// recorded.
fn span_field_is(span: &Span, key: &str, want: &str) -> Option<bool> {
    span.callsite
        .fields
        .iter()
        .zip(&span.values)
        .find(|(name, value)| *name == key && !matches!(value, OwnedValue::Empty))
        .map(|(_, value)| owned_value_is(value, want))
}

/// Text formatted on the logging thread: equal as is, or once its quotes are taken off
/// (a `Debug` string).
fn text_is(text: &str, want: &str) -> bool {
    text == want
        || text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .is_some_and(|t| t == want)
}

fn value_is(value: &Value<'_>, want: &str) -> bool {
    match value {
        Value::Empty => false,
        Value::U64(v) => want.parse() == Ok(*v),
        Value::I64(v) => want.parse() == Ok(*v),
        Value::U128(v) => want.parse() == Ok(*v),
        Value::I128(v) => want.parse() == Ok(*v),
        Value::F64(v) => want.parse() == Ok(*v),
        Value::Bool(v) => want.parse() == Ok(*v),
        Value::Str(v) => *v == want,
        Value::Bytes(v) => *v == want.as_bytes(),
        Value::Debug(v) => text_is(v, want),
        Value::Error { message, .. } => *message == want,
        // The reader's context resolves interned strings; one left had no definition.
        Value::Interned(_) => false,
    }
}

fn owned_value_is(value: &OwnedValue, want: &str) -> bool {
    match value {
        OwnedValue::Empty => false,
        OwnedValue::U64(v) => want.parse() == Ok(*v),
        OwnedValue::I64(v) => want.parse() == Ok(*v),
        OwnedValue::U128(v) => want.parse() == Ok(*v),
        OwnedValue::I128(v) => want.parse() == Ok(*v),
        OwnedValue::F64(v) => want.parse() == Ok(*v),
        OwnedValue::Bool(v) => want.parse() == Ok(*v),
        OwnedValue::Str(v) => v == want,
        OwnedValue::Bytes(v) => v == want.as_bytes(),
        OwnedValue::Debug(v) => text_is(v, want),
        OwnedValue::Error { message, .. } => message == want,
    }
}

/// Parses a level name: `trace`, `debug`, `info`, `warn` (or `warning`), `error`, in any case.
///
/// ```
/// use logbuf_journal::wire::Level;
/// assert_eq!(logbuf_cli::filter::parse_level("WARN"), Ok(Level::Warn));
/// assert!(logbuf_cli::filter::parse_level("loud").is_err());
/// ```
///
/// # Errors
///
/// A message listing the levels.
pub fn parse_level(text: &str) -> Result<Level, String> {
    match text.to_ascii_lowercase().as_str() {
        "trace" => Ok(Level::Trace),
        "debug" => Ok(Level::Debug),
        "info" => Ok(Level::Info),
        "warn" | "warning" => Ok(Level::Warn),
        "error" => Ok(Level::Error),
        _ => Err(format!(
            "{text:?} is not a level: use trace, debug, info, warn or error"
        )),
    }
}

/// Parses `key=value`.
///
/// ```
/// assert_eq!(logbuf_cli::filter::parse_field("user=ann=1"), Ok(("user".into(), "ann=1".into())));
/// assert!(logbuf_cli::filter::parse_field("user").is_err());
/// ```
///
/// # Errors
///
/// A message when there is no `=` or no key.
pub fn parse_field(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not a field filter: use key=value")),
    }
}

/// The name of a level as the text format writes it.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    }
}
