//! How journal records become OTLP log records (the table is in the [crate docs](crate)).
//!
//! These functions are what [`OtlpSink`](crate::OtlpSink) uses on the worker thread; they are
//! public so that records read back from a file ([`logbuf_journal::read`]) can be exported with
//! the same mapping.

use std::collections::HashMap;

use logbuf_journal::read::{EventInContext, OwnedValue, Span, UNKNOWN_STRING};
use logbuf_journal::sink::text::DropReport;
use logbuf_journal::wire::{Level, Value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::protobuf;
pub use crate::protobuf::encode_log_record;

/// The instrumentation scope of the records logbuf writes itself: reports of dropped and lost
/// records.
pub const LOGBUF_SCOPE: &str = "logbuf";

/// The OTLP severity number and text of a level: `TRACE` → 1, `DEBUG` → 5, `INFO` → 9,
/// `WARN` → 13, `ERROR` → 17 (the first number of each of OTLP's ranges).
pub fn severity(level: Level) -> (SeverityNumber, &'static str) {
    match level {
        Level::Trace => (SeverityNumber::Trace, "TRACE"),
        Level::Debug => (SeverityNumber::Debug, "DEBUG"),
        Level::Info => (SeverityNumber::Info, "INFO"),
        Level::Warn => (SeverityNumber::Warn, "WARN"),
        Level::Error => (SeverityNumber::Error, "ERROR"),
    }
}

/// A string attribute value.
pub fn string_value(text: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(text.into())),
    }
}

fn int_value(v: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(v)),
    }
}

/// `key` = `value`.
pub fn key_value(key: impl Into<String>, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..KeyValue::default()
    }
}

/// A field's name as the attribute key: a raw identifier's `r#` taken off.
pub(crate) fn field_key(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// Integers that fit an `i64` as OTLP integers, others as strings of their decimal digits.
fn integer(v: impl TryInto<i64> + ToString + Copy) -> AnyValue {
    match v.try_into() {
        Ok(i) => int_value(i),
        Err(_) => string_value(v.to_string()),
    }
}

/// An error's value: its message; its sources go in an attribute of their own.
fn error_sources(key: &str, sources: &[impl AsRef<str>], attributes: &mut Vec<KeyValue>) {
    if sources.is_empty() {
        return;
    }
    let values = sources.iter().map(|s| string_value(s.as_ref())).collect();
    attributes.push(key_value(
        format!("{key}.sources"),
        AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
        },
    ));
}

/// A value from an event record; `None` for a field that was not recorded.
pub fn wire_value(value: &Value<'_>) -> Option<AnyValue> {
    Some(match value {
        Value::Empty => return None,
        Value::U64(v) => integer(*v),
        Value::I64(v) => int_value(*v),
        Value::U128(v) => integer(*v),
        Value::I128(v) => integer(*v),
        Value::F64(v) => AnyValue {
            value: Some(any_value::Value::DoubleValue(*v)),
        },
        Value::Bool(v) => AnyValue {
            value: Some(any_value::Value::BoolValue(*v)),
        },
        Value::Str(v) | Value::Debug(v) => string_value(*v),
        Value::Bytes(v) => AnyValue {
            value: Some(any_value::Value::BytesValue(v.to_vec())),
        },
        Value::Error { message, .. } => string_value(*message),
        // Resolved by the context before mapping: only a missing definition is left.
        Value::Interned(_) => string_value(UNKNOWN_STRING),
    })
}

/// A span's value; `None` for a field that was not recorded.
pub fn owned_value(value: &OwnedValue) -> Option<AnyValue> {
    Some(match value {
        OwnedValue::Empty => return None,
        OwnedValue::U64(v) => integer(*v),
        OwnedValue::I64(v) => int_value(*v),
        OwnedValue::U128(v) => integer(*v),
        OwnedValue::I128(v) => integer(*v),
        OwnedValue::F64(v) => AnyValue {
            value: Some(any_value::Value::DoubleValue(*v)),
        },
        OwnedValue::Bool(v) => AnyValue {
            value: Some(any_value::Value::BoolValue(*v)),
        },
        OwnedValue::Str(v) | OwnedValue::Debug(v) => string_value(v.as_str()),
        OwnedValue::Bytes(v) => AnyValue {
            value: Some(any_value::Value::BytesValue(v.clone())),
        },
        OwnedValue::Error { message, .. } => string_value(message.as_str()),
    })
}

/// A span as a key-value list: `name`, `id`, `target` and `fields` (its recorded fields,
/// typed, each with its latest value).
pub fn span_value(span: &Span) -> AnyValue {
    let mut fields = Vec::with_capacity(span.values.len());
    for (name, value) in span.callsite.fields.iter().zip(&span.values) {
        let key = field_key(name);
        if let Some(v) = owned_value(value) {
            fields.push(key_value(key, v));
        }
        if let OwnedValue::Error { sources, .. } = value {
            error_sources(key, sources, &mut fields);
        }
    }
    let members = vec![
        key_value("name", string_value(span.callsite.name.as_str())),
        key_value("id", integer(span.id)),
        key_value("target", string_value(span.callsite.target.as_str())),
        key_value(
            "fields",
            AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: fields,
                })),
            },
        ),
    ];
    AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: members,
        })),
    }
}

/// The log record of an event; `observed` is when it was converted, in nanoseconds since the
/// Unix epoch. Its instrumentation scope is the event's target
/// (`event.callsite.target`), which [`LogBatch::push`] takes separately.
pub fn log_record(event: &EventInContext<'_>, observed: u64) -> LogRecord {
    let callsite = event.callsite;
    let (number, text) = severity(callsite.level);
    let mut attributes = Vec::with_capacity(callsite.fields.len() + 6);
    let mut body = None;
    for (name, value) in callsite.fields.iter().zip(&event.event.values) {
        if name == "message" && body.is_none() {
            body = wire_value(value);
            if body.is_some() {
                continue;
            }
        }
        let key = field_key(name);
        if let Some(v) = wire_value(value) {
            attributes.push(key_value(key, v));
        }
        if let Value::Error { sources, .. } = value {
            error_sources(key, sources, &mut attributes);
        }
    }
    if let Some(file) = &callsite.file {
        attributes.push(key_value("code.file.path", string_value(file.as_str())));
    }
    if let Some(line) = callsite.line {
        attributes.push(key_value("code.line.number", int_value(i64::from(line))));
    }
    if let Some(module) = &callsite.module_path {
        attributes.push(key_value("code.namespace", string_value(module.as_str())));
    }
    attributes.push(key_value("thread.id", integer(event.event.thread)));
    if let Some(name) = event.thread_name {
        attributes.push(key_value("thread.name", string_value(name)));
    }
    if !event.spans.is_empty() {
        let values = event.spans.iter().map(|s| span_value(s)).collect();
        attributes.push(key_value(
            "spans",
            AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
            },
        ));
    }
    LogRecord {
        time_unix_nano: event.unix_nanos.unwrap_or(0),
        observed_time_unix_nano: observed,
        severity_number: number as i32,
        severity_text: text.to_owned(),
        body,
        attributes,
        ..LogRecord::default()
    }
}

/// The log record reporting records the journal dropped (scope [`LOGBUF_SCOPE`]): severity
/// `WARN`, the text sink's message as its body (`1,234 records dropped on thread worker-3
/// (ring full or record too large)`), attributes `logbuf.dropped.count`, `thread.id`,
/// `thread.name`, and `logbuf.dropped.callsites` when the journal named the callsites that lost
/// the most (format 2.3): an array of key-value lists `{target, name, code.file.path,
/// code.line.number, count}`, the most first.
pub fn dropped_record(report: &DropReport<'_>, observed: u64) -> LogRecord {
    let (number, text) = severity(Level::Warn);
    let mut message = Vec::with_capacity(96);
    report.message(&mut message);
    let mut attributes = vec![key_value(
        "logbuf.dropped.count",
        integer(report.dropped.count),
    )];
    if report.dropped.thread != 0 {
        attributes.push(key_value("thread.id", integer(report.dropped.thread)));
    }
    if let Some(name) = report.thread_name {
        attributes.push(key_value("thread.name", string_value(name)));
    }
    if let Some(callsites) = report.callsites.filter(|c| !c.is_empty()) {
        let values = callsites
            .iter()
            .map(|lost| {
                let callsite = &lost.callsite;
                let mut members = vec![
                    key_value("target", string_value(callsite.target.as_str())),
                    key_value("name", string_value(callsite.name.as_str())),
                ];
                if let Some(file) = &callsite.file {
                    members.push(key_value("code.file.path", string_value(file.as_str())));
                }
                if let Some(line) = callsite.line {
                    members.push(key_value("code.line.number", int_value(i64::from(line))));
                }
                members.push(key_value("count", integer(lost.count)));
                AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: members,
                    })),
                }
            })
            .collect();
        attributes.push(key_value(
            "logbuf.dropped.callsites",
            AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
            },
        ));
    }
    LogRecord {
        time_unix_nano: report.unix_nanos.unwrap_or(0),
        observed_time_unix_nano: observed,
        severity_number: number as i32,
        severity_text: text.to_owned(),
        body: Some(string_value(String::from_utf8_lossy(&message).into_owned())),
        attributes,
        ..LogRecord::default()
    }
}

/// The exporter's own report of `count` log records it lost (scope [`LOGBUF_SCOPE`]):
/// severity `WARN`, attribute `logbuf.otlp.lost`.
pub fn lost_record(count: u64, now: u64) -> LogRecord {
    let (number, text) = severity(Level::Warn);
    let plural = if count == 1 { "" } else { "s" };
    LogRecord {
        time_unix_nano: now,
        observed_time_unix_nano: now,
        severity_number: number as i32,
        severity_text: text.to_owned(),
        body: Some(string_value(format!(
            "{count} log record{plural} lost before reaching the collector (it was \
             unreachable, refused them, or the exporter's queue was full)"
        ))),
        attributes: vec![key_value("logbuf.otlp.lost", integer(count))],
        ..LogRecord::default()
    }
}

/// The resource: `service.name`, the attributes given, and `telemetry.sdk.*` naming this
/// crate.
pub fn resource(service_name: &str, attributes: &[KeyValue]) -> Resource {
    let mut all = vec![key_value("service.name", string_value(service_name))];
    all.extend(
        attributes
            .iter()
            .filter(|kv| kv.key != "service.name")
            .cloned(),
    );
    all.push(key_value("telemetry.sdk.name", string_value("logbuf-otlp")));
    all.push(key_value("telemetry.sdk.language", string_value("rust")));
    all.push(key_value(
        "telemetry.sdk.version",
        string_value(env!("CARGO_PKG_VERSION")),
    ));
    Resource {
        attributes: all,
        ..Resource::default()
    }
}

/// Log records grouped by instrumentation scope, as one export request carries them, kept
/// encoded: each record is written in protobuf as it is added, and [`LogBatch::encode`] only
/// frames them.
#[derive(Debug, Default)]
pub struct LogBatch {
    scopes: Vec<ScopeRecords>,
    index: HashMap<String, usize>,
    /// The scope the last record went to: the next one is most often of the same target, and
    /// comparing its name is cheaper than hashing it.
    last: usize,
    records: usize,
    bytes: usize,
}

/// One scope's records: the `log_records` fields of its `ScopeLogs`, encoded.
#[derive(Debug)]
struct ScopeRecords {
    name: String,
    records: Vec<u8>,
}

/// `ScopeLogs.log_records`.
const LOG_RECORDS: u32 = 2;

impl LogBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoded records of the scope named `scope` (an event's target).
    fn scope(&mut self, scope: &str) -> &mut Vec<u8> {
        let at = if self.scopes.get(self.last).is_some_and(|s| s.name == scope) {
            self.last
        } else if let Some(&at) = self.index.get(scope) {
            at
        } else {
            self.scopes.push(ScopeRecords {
                name: scope.to_owned(),
                records: Vec::new(),
            });
            self.index.insert(scope.to_owned(), self.scopes.len() - 1);
            self.scopes.len() - 1
        };
        self.last = at;
        &mut self.scopes[at].records
    }

    /// Adds `record` under the scope named `scope` (an event's target).
    pub fn push(&mut self, scope: &str, record: LogRecord) {
        let out = self.scope(scope);
        let before = out.len();
        protobuf::key(out, LOG_RECORDS, 2);
        // Writing into a vector cannot run out of room.
        let _ = record.encode_length_delimited(out);
        self.bytes += out.len() - before;
        self.records += 1;
    }

    /// Adds the log record of `event` ([`log_record`]`(event, observed)`) under its target's
    /// scope, encoded straight from the event.
    pub fn push_event(&mut self, event: &EventInContext<'_>, observed: u64) {
        self.push_encoded(event, observed, None);
    }

    /// [`LogBatch::push_event`], with the `code.*` and `thread.*` attributes from `code`.
    pub(crate) fn push_event_cached(
        &mut self,
        event: &EventInContext<'_>,
        observed: u64,
        code: &mut protobuf::CachedAttributes,
    ) {
        self.push_encoded(event, observed, Some(code));
    }

    fn push_encoded(
        &mut self,
        event: &EventInContext<'_>,
        observed: u64,
        code: Option<&mut protobuf::CachedAttributes>,
    ) {
        let out = self.scope(&event.callsite.target);
        let before = out.len();
        // A record takes 128 bytes or more (its attributes): two bytes for its length.
        protobuf::message_in(out, LOG_RECORDS, 2, |out| {
            protobuf::encode(event, observed, code, out);
        });
        self.bytes += out.len() - before;
        self.records += 1;
    }

    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// How many bytes the records take encoded (without the resource and the scopes).
    pub fn encoded_len(&self) -> usize {
        self.bytes
    }

    /// The protobuf body of the export request (`ExportLogsServiceRequest`) carrying the batch
    /// under a resource; `resource` is the `Resource` message encoded
    /// (`resource.encode_to_vec()`).
    pub fn encode(&self, resource: &[u8]) -> Vec<u8> {
        use protobuf::{bytes, delimited_len, key, varint};
        // `InstrumentationScope { name }`: the name is left out when empty.
        let scope_len = |name: &str| {
            if name.is_empty() {
                0
            } else {
                delimited_len(name.len())
            }
        };
        // `ScopeLogs { scope, log_records }`.
        let scope_logs_len = |s: &ScopeRecords| delimited_len(scope_len(&s.name)) + s.records.len();
        // `ResourceLogs { resource, scope_logs }`.
        let resource_logs_len = delimited_len(resource.len())
            + self
                .scopes
                .iter()
                .map(|s| delimited_len(scope_logs_len(s)))
                .sum::<usize>();
        let mut out = Vec::with_capacity(delimited_len(resource_logs_len));
        // `ExportLogsServiceRequest.resource_logs`.
        key(&mut out, 1, 2);
        varint(&mut out, resource_logs_len as u64);
        bytes(&mut out, 1, resource);
        for s in &self.scopes {
            key(&mut out, 2, 2);
            varint(&mut out, scope_logs_len(s) as u64);
            key(&mut out, 1, 2);
            varint(&mut out, scope_len(&s.name) as u64);
            if !s.name.is_empty() {
                bytes(&mut out, 1, s.name.as_bytes());
            }
            out.extend_from_slice(&s.records);
        }
        out
    }

    /// The export request carrying the batch under `resource`, decoded: what
    /// [`LogBatch::encode`] sends, as `opentelemetry-proto`'s types.
    ///
    /// # Errors
    ///
    /// None in practice: the batch's bytes are always a valid request.
    pub fn to_request(
        &self,
        resource: &Resource,
    ) -> Result<ExportLogsServiceRequest, prost::DecodeError> {
        ExportLogsServiceRequest::decode(self.encode(&resource.encode_to_vec()).as_slice())
    }
}

#[cfg(test)]
mod tests {
    use logbuf_journal::read::Context;
    use logbuf_journal::wire::{
        self, CallsiteKind, Dropped, DroppedCallsite, DroppedCallsites, Record,
    };

    use super::*;

    fn member<'a>(list: &'a AnyValue, key: &str) -> Option<&'a any_value::Value> {
        let Some(any_value::Value::KvlistValue(list)) = &list.value else {
            panic!("a key-value list: {list:?}");
        };
        list.values
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn a_drop_report_names_the_callsites_the_journal_named() {
        let mut context = Context::new();
        for (id, line) in [(1, Some(10)), (2, None)] {
            context.apply(&Record::Callsite(wire::Callsite {
                id,
                kind: CallsiteKind::Event,
                level: Level::Info,
                target: "app::db",
                name: "query",
                module_path: None,
                file: line.map(|_| "src/db.rs"),
                line,
                fields: vec!["message"],
            }));
        }
        let dropped = Dropped {
            thread: 4,
            count: 12,
            first_time: 1,
            last_time: 2,
        };
        // Before format 2.3, or a report that names nothing: no attribute.
        let report = DropReport::new(&context, dropped);
        let record = dropped_record(&report, 7);
        assert!(
            !record
                .attributes
                .iter()
                .any(|kv| kv.key == "logbuf.dropped.callsites")
        );
        context.apply(&Record::DroppedCallsites(DroppedCallsites {
            thread: 4,
            callsites: vec![
                DroppedCallsite {
                    callsite: 1,
                    count: 9,
                },
                DroppedCallsite {
                    callsite: 2,
                    count: 2,
                },
            ],
        }));
        // As the sink takes them: the named callsites, then the report they belong to.
        context.apply(&Record::Dropped(dropped));
        let report = DropReport::new(&context, dropped);
        let record = dropped_record(&report, 7);
        let named = record
            .attributes
            .iter()
            .find(|kv| kv.key == "logbuf.dropped.callsites")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref());
        let Some(any_value::Value::ArrayValue(named)) = named else {
            panic!("an array of callsites: {:?}", record.attributes);
        };
        assert_eq!(named.values.len(), 2);
        let (first, second) = (&named.values[0], &named.values[1]);
        let string = |v: Option<&any_value::Value>| match v {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            other => panic!("a string: {other:?}"),
        };
        assert_eq!(string(member(first, "target")), "app::db");
        assert_eq!(string(member(first, "code.file.path")), "src/db.rs");
        assert_eq!(
            member(first, "code.line.number"),
            Some(&any_value::Value::IntValue(10))
        );
        assert_eq!(member(first, "count"), Some(&any_value::Value::IntValue(9)));
        assert_eq!(member(second, "code.file.path"), None);
        assert_eq!(
            member(second, "count"),
            Some(&any_value::Value::IntValue(2))
        );
    }
}
