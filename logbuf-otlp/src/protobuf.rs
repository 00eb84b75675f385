//! The protobuf wire format of OTLP log records, written straight from journal records.
//!
//! [`mapping::log_record`](crate::mapping::log_record) builds `opentelemetry-proto`'s
//! `LogRecord` (a tree of `String`s, `Vec`s and boxed values, about twenty allocations for a
//! typical event) that prost then walks twice, to size it and to encode it, before the tree is
//! freed. [`encode_log_record`] writes the bytes prost would write for that `LogRecord` in one
//! pass into a buffer the batch reuses, with nothing allocated. The two are kept identical by a
//! test that compares their bytes for events of every value type, span chains and errors.
//!
//! Fields are written in ascending field number, as prost writes them; scalar fields at their
//! default (zero, empty) are left out, as proto3 leaves them out, and `oneof` members and
//! present messages are always written.

use logbuf_journal::read::{Callsite, EventInContext, OwnedValue, Span, UNKNOWN_STRING};
use logbuf_journal::wire::Value;

use crate::mapping::{field_key, severity};

/// Wire type of varint fields.
const VARINT: u32 = 0;
/// Wire type of 64-bit fixed fields.
const FIXED64: u32 = 1;
/// Wire type of length-delimited fields: strings, bytes, messages.
const LEN: u32 = 2;

/// `LogRecord`'s fields.
mod log_record {
    pub(super) const TIME_UNIX_NANO: u32 = 1;
    pub(super) const SEVERITY_NUMBER: u32 = 2;
    pub(super) const SEVERITY_TEXT: u32 = 3;
    pub(super) const BODY: u32 = 5;
    pub(super) const ATTRIBUTES: u32 = 6;
    pub(super) const OBSERVED_TIME_UNIX_NANO: u32 = 11;
}

/// `AnyValue`'s `value` members.
mod any_value {
    pub(super) const STRING: u32 = 1;
    pub(super) const BOOL: u32 = 2;
    pub(super) const INT: u32 = 3;
    pub(super) const DOUBLE: u32 = 4;
    pub(super) const ARRAY: u32 = 5;
    pub(super) const KVLIST: u32 = 6;
    pub(super) const BYTES: u32 = 7;
}

/// `KeyValue`'s fields.
const KEY: u32 = 1;
const VALUE: u32 = 2;
/// `ArrayValue.values` and `KeyValueList.values`.
const VALUES: u32 = 1;

/// Appends `v` as a base-128 varint.
pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// How many bytes `v` takes as a varint.
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes a length-delimited field of `len` bytes takes, with its one-byte key (fields 1-15).
pub(crate) fn delimited_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A field's key: its number and wire type.
pub(crate) fn key(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    varint(out, u64::from(field << 3 | wire_type));
}

/// A length-delimited field holding `bytes` (a string, bytes, or an encoded message).
pub(crate) fn bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A message field: its key, its length, then what `body` writes. The length is written
/// after the body, in the byte left for it; a body of 128 bytes or more is moved up to make
/// room for a longer length.
pub(crate) fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    message_in(out, field, 1, body);
}

/// [`message`] with `room` bytes left for the length (1 or 2): a body expected to take 128
/// bytes or more (a whole log record) then moves only when its length takes another width.
pub(crate) fn message_in(
    out: &mut Vec<u8>,
    field: u32,
    room: usize,
    body: impl FnOnce(&mut Vec<u8>),
) {
    key(out, field, LEN);
    let at = out.len();
    out.resize(at + room, 0);
    body(out);
    let len = out.len() - at - room;
    let width = varint_len(len as u64);
    if width != room {
        let start = at + room;
        if width > room {
            out.resize(out.len() + width - room, 0);
        }
        out.copy_within(start..start + len, at + width);
        out.truncate(at + width + len);
    }
    let mut v = len as u64;
    for byte in &mut out[at..at + width] {
        *byte = v as u8 | 0x80;
        v >>= 7;
    }
    out[at + width - 1] &= 0x7f;
}

/// An `AnyValue`'s string member.
fn any_string(out: &mut Vec<u8>, text: &str) {
    bytes(out, any_value::STRING, text.as_bytes());
}

fn any_int(out: &mut Vec<u8>, v: i64) {
    key(out, any_value::INT, VARINT);
    // int64 is the two's complement, as a 64-bit varint.
    varint(out, v as u64);
}

/// Integers that fit an `i64` as integers, others as strings of their decimal digits (as
/// [`mapping`](crate::mapping) maps them).
fn any_integer(out: &mut Vec<u8>, v: impl TryInto<i64> + ToString + Copy) {
    match v.try_into() {
        Ok(i) => any_int(out, i),
        Err(_) => any_string(out, &v.to_string()),
    }
}

fn any_double(out: &mut Vec<u8>, v: f64) {
    fixed64(out, any_value::DOUBLE, v.to_bits());
}

fn any_bool(out: &mut Vec<u8>, v: bool) {
    key(out, any_value::BOOL, VARINT);
    out.push(u8::from(v));
}

/// A `KeyValue` message as field `field`: `key` and the `AnyValue` that `value` writes.
fn key_value(out: &mut Vec<u8>, field: u32, key: &[&str], value: impl FnOnce(&mut Vec<u8>)) {
    message(out, field, |kv| {
        let len: usize = key.iter().map(|part| part.len()).sum();
        if len > 0 {
            self::key(kv, KEY, LEN);
            varint(kv, len as u64);
            for part in key {
                kv.extend_from_slice(part.as_bytes());
            }
        }
        message(kv, VALUE, value);
    });
}

/// An error's sources as the attribute `{key}.sources`, an array of strings; nothing when it
/// has none.
fn error_sources<S: AsRef<str>>(out: &mut Vec<u8>, field: u32, key: &str, sources: &[S]) {
    if sources.is_empty() {
        return;
    }
    key_value(out, field, &[key, ".sources"], |any| {
        message(any, any_value::ARRAY, |array| {
            for source in sources {
                message(array, VALUES, |v| any_string(v, source.as_ref()));
            }
        });
    });
}

/// The `AnyValue` members of an event's value; `Value::Empty` is never given.
fn wire_value(out: &mut Vec<u8>, value: &Value<'_>) {
    match value {
        Value::Empty => {}
        Value::U64(v) => any_integer(out, *v),
        Value::I64(v) => any_int(out, *v),
        Value::U128(v) => any_integer(out, *v),
        Value::I128(v) => any_integer(out, *v),
        Value::F64(v) => any_double(out, *v),
        Value::Bool(v) => any_bool(out, *v),
        Value::Str(v) | Value::Debug(v) => any_string(out, v),
        Value::Bytes(v) => bytes(out, any_value::BYTES, v),
        Value::Error { message, .. } => any_string(out, message),
        // Resolved by the context before mapping: only a missing definition is left.
        Value::Interned(_) => any_string(out, UNKNOWN_STRING),
    }
}

/// The `AnyValue` members of a span's value; `OwnedValue::Empty` is never given.
fn owned_value(out: &mut Vec<u8>, value: &OwnedValue) {
    match value {
        OwnedValue::Empty => {}
        OwnedValue::U64(v) => any_integer(out, *v),
        OwnedValue::I64(v) => any_int(out, *v),
        OwnedValue::U128(v) => any_integer(out, *v),
        OwnedValue::I128(v) => any_integer(out, *v),
        OwnedValue::F64(v) => any_double(out, *v),
        OwnedValue::Bool(v) => any_bool(out, *v),
        OwnedValue::Str(v) | OwnedValue::Debug(v) => any_string(out, v),
        OwnedValue::Bytes(v) => bytes(out, any_value::BYTES, v),
        OwnedValue::Error { message, .. } => any_string(out, message),
    }
}

/// A span as a key-value list: `name`, `id`, `target`, `fields`.
fn span_value(out: &mut Vec<u8>, span: &Span) {
    message(out, any_value::KVLIST, |list| {
        key_value(list, VALUES, &["name"], |v| {
            any_string(v, &span.callsite.name);
        });
        key_value(list, VALUES, &["id"], |v| any_integer(v, span.id));
        key_value(list, VALUES, &["target"], |v| {
            any_string(v, &span.callsite.target);
        });
        key_value(list, VALUES, &["fields"], |v| {
            message(v, any_value::KVLIST, |fields| {
                for (name, value) in span.callsite.fields.iter().zip(&span.values) {
                    let key = field_key(name);
                    if !matches!(value, OwnedValue::Empty) {
                        key_value(fields, VALUES, &[key], |v| owned_value(v, value));
                    }
                    if let OwnedValue::Error { sources, .. } = value {
                        error_sources(fields, VALUES, key, sources);
                    }
                }
            });
        });
    });
}

/// Appends the `LogRecord` message of an event (its fields, not a key or length before
/// them): the bytes prost writes for [`mapping::log_record`](crate::mapping::log_record)`(event,
/// observed)`, without building it.
pub fn encode_log_record(event: &EventInContext<'_>, observed: u64, out: &mut Vec<u8>) {
    encode(event, observed, None, out);
}

/// Slots of a [`CachedAttributes`].
const CODE_SLOTS: usize = 256;

/// The `code.*` attributes of recent callsites, encoded, in slots by callsite id, and the
/// `thread.*` attributes of recent threads: they depend on the callsite or the thread alone,
/// so an event of a callsite or thread seen before copies them instead of encoding them again. A slot is used only while the event's callsite has the id, file, line
/// and module the slot's bytes were made from (a file of a rotated series, or a journal read
/// after another, defines its own callsites under the same ids).
#[derive(Debug, Default)]
pub(crate) struct CachedAttributes {
    slots: Vec<Option<CodeSlot>>,
    /// The `thread.*` attributes of recent threads, by thread number, the same way: used only
    /// while the thread has the number and name they were made from.
    threads: Vec<Option<ThreadSlot>>,
}

#[derive(Debug)]
struct ThreadSlot {
    thread: u64,
    name: Option<Box<str>>,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct CodeSlot {
    id: u64,
    file: Option<Box<str>>,
    line: Option<u32>,
    module: Option<Box<str>>,
    bytes: Vec<u8>,
}

impl CachedAttributes {
    /// Appends `callsite`'s `code.*` attributes.
    fn write(&mut self, callsite: &Callsite, out: &mut Vec<u8>) {
        if self.slots.is_empty() {
            self.slots.resize_with(CODE_SLOTS, || None);
        }
        let slot = &mut self.slots[(callsite.id % CODE_SLOTS as u64) as usize];
        match slot {
            Some(s)
                if s.id == callsite.id
                    && s.line == callsite.line
                    && s.file.as_deref() == callsite.file.as_deref()
                    && s.module.as_deref() == callsite.module_path.as_deref() =>
            {
                out.extend_from_slice(&s.bytes);
            }
            _ => {
                let mut bytes = Vec::new();
                code_attributes(callsite, &mut bytes);
                out.extend_from_slice(&bytes);
                *slot = Some(CodeSlot {
                    id: callsite.id,
                    file: callsite.file.as_deref().map(Box::from),
                    line: callsite.line,
                    module: callsite.module_path.as_deref().map(Box::from),
                    bytes,
                });
            }
        }
    }
}

impl CachedAttributes {
    /// Appends the `thread.id` and `thread.name` attributes of `thread`, named `name`.
    fn write_thread(&mut self, thread: u64, name: Option<&str>, out: &mut Vec<u8>) {
        if self.threads.is_empty() {
            self.threads.resize_with(CODE_SLOTS, || None);
        }
        let slot = &mut self.threads[(thread % CODE_SLOTS as u64) as usize];
        match slot {
            Some(s) if s.thread == thread && s.name.as_deref() == name => {
                out.extend_from_slice(&s.bytes);
            }
            _ => {
                let mut bytes = Vec::new();
                thread_attributes(thread, name, &mut bytes);
                out.extend_from_slice(&bytes);
                *slot = Some(ThreadSlot {
                    thread,
                    name: name.map(Box::from),
                    bytes,
                });
            }
        }
    }
}

/// The attributes `thread.id` and, when it has a name, `thread.name` of `thread`.
fn thread_attributes(thread: u64, name: Option<&str>, out: &mut Vec<u8>) {
    const ATTRIBUTES: u32 = log_record::ATTRIBUTES;
    key_value(out, ATTRIBUTES, &["thread.id"], |v| any_integer(v, thread));
    if let Some(name) = name {
        key_value(out, ATTRIBUTES, &["thread.name"], |v| any_string(v, name));
    }
}

/// The attributes `code.file.path`, `code.line.number` and `code.namespace` of those
/// `callsite` has.
fn code_attributes(callsite: &Callsite, out: &mut Vec<u8>) {
    const ATTRIBUTES: u32 = log_record::ATTRIBUTES;
    if let Some(file) = &callsite.file {
        key_value(out, ATTRIBUTES, &["code.file.path"], |v| {
            any_string(v, file)
        });
    }
    if let Some(line) = callsite.line {
        key_value(out, ATTRIBUTES, &["code.line.number"], |v| {
            any_int(v, i64::from(line));
        });
    }
    if let Some(module) = &callsite.module_path {
        key_value(out, ATTRIBUTES, &["code.namespace"], |v| {
            any_string(v, module);
        });
    }
}

/// [`encode_log_record`], with the `code.*` and `thread.*` attributes from `code` when given.
pub(crate) fn encode(
    event: &EventInContext<'_>,
    observed: u64,
    code: Option<&mut CachedAttributes>,
    out: &mut Vec<u8>,
) {
    let callsite = event.callsite;
    let values = &event.event.values;
    let (number, text) = severity(callsite.level);
    let time = event.unix_nanos.unwrap_or(0);
    if time != 0 {
        fixed64(out, log_record::TIME_UNIX_NANO, time);
    }
    key(out, log_record::SEVERITY_NUMBER, VARINT);
    varint(out, number as i32 as u64);
    bytes(out, log_record::SEVERITY_TEXT, text.as_bytes());
    // The body is the first `message` field that holds a value.
    let body = callsite
        .fields
        .iter()
        .zip(values)
        .position(|(name, value)| name == "message" && !matches!(value, Value::Empty));
    if let Some(at) = body {
        message(out, log_record::BODY, |v| wire_value(v, &values[at]));
    }
    const ATTRIBUTES: u32 = log_record::ATTRIBUTES;
    for (i, (name, value)) in callsite.fields.iter().zip(values).enumerate() {
        if Some(i) == body {
            continue;
        }
        let key = field_key(name);
        if !matches!(value, Value::Empty) {
            key_value(out, ATTRIBUTES, &[key], |v| wire_value(v, value));
        }
        if let Value::Error { sources, .. } = value {
            error_sources(out, ATTRIBUTES, key, sources);
        }
    }
    match code {
        Some(code) => {
            code.write(callsite, out);
            code.write_thread(event.event.thread, event.thread_name, out);
        }
        None => {
            code_attributes(callsite, out);
            thread_attributes(event.event.thread, event.thread_name, out);
        }
    }
    if !event.spans.is_empty() {
        key_value(out, ATTRIBUTES, &["spans"], |v| {
            message(v, any_value::ARRAY, |array| {
                for span in &event.spans {
                    message(array, VALUES, |v| span_value(v, span));
                }
            });
        });
    }
    if observed != 0 {
        fixed64(out, log_record::OBSERVED_TIME_UNIX_NANO, observed);
    }
}

#[cfg(test)]
mod tests {
    use logbuf_journal::read::Context;
    use logbuf_journal::wire::{
        self, CallsiteKind, Clock, Event, Level, Record, SpanNew, SpanRecord, ThreadName,
    };
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use proptest::prelude::*;
    use prost::Message;

    use super::*;
    use crate::mapping::{LogBatch, log_record, resource};

    /// Values of every kind the wire has, `Empty` included.
    fn value() -> impl Strategy<Value = Value<'static>> {
        let text = prop::sample::select(vec!["", "request done", "é ✓ \u{0}", "/api/v1/orders"]);
        prop_oneof![
            Just(Value::Empty),
            any::<u64>().prop_map(Value::U64),
            (0..u64::MAX / 2).prop_map(Value::U64),
            any::<i64>().prop_map(Value::I64),
            any::<u128>().prop_map(Value::U128),
            (-1000i128..1000).prop_map(Value::I128),
            any::<i128>().prop_map(Value::I128),
            any::<f64>().prop_map(Value::F64),
            any::<bool>().prop_map(Value::Bool),
            text.clone().prop_map(Value::Str),
            text.clone().prop_map(Value::Debug),
            prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| Value::Bytes(b.leak())),
            (text.clone(), prop::collection::vec(text, 0..3))
                .prop_map(|(message, sources)| Value::Error { message, sources }),
            // An interned string never defined: the mapping's placeholder.
            Just(Value::Interned(999)),
        ]
    }

    /// Field names: `message` more than once, raw identifiers, a long name.
    fn field_names() -> impl Strategy<Value = Vec<&'static str>> {
        let name = prop::sample::select(vec![
            "message",
            "user_id",
            "r#type",
            "a_rather_long_field_name_that_takes_more_than_a_few_bytes_of_the_record",
        ]);
        prop::collection::vec(name, 0..6)
    }

    #[derive(Debug)]
    struct Case {
        span_fields: Vec<&'static str>,
        span_values: Vec<Value<'static>>,
        /// How deep the event's span chain is (0: no span).
        depth: u64,
        event_fields: Vec<&'static str>,
        event_values: Vec<Value<'static>>,
        level: Level,
        located: bool,
        thread_named: bool,
        clock: bool,
        thread: u64,
        observed: u64,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            field_names(),
            field_names(),
            prop::collection::vec(value(), 6),
            prop::collection::vec(value(), 6),
            (0u64..4, any::<bool>(), any::<bool>(), any::<bool>()),
            (
                prop::sample::select(vec![
                    Level::Trace,
                    Level::Debug,
                    Level::Info,
                    Level::Warn,
                    Level::Error,
                ]),
                prop_oneof![Just(0u64), any::<u64>()],
                prop_oneof![Just(0u64), any::<u64>()],
            ),
        )
            .prop_map(
                |(
                    span_fields,
                    event_fields,
                    mut sv,
                    mut ev,
                    (depth, located, named, clock),
                    (level, thread, observed),
                )| {
                    sv.truncate(span_fields.len());
                    ev.truncate(event_fields.len());
                    Case {
                        span_fields,
                        span_values: sv,
                        depth,
                        event_fields,
                        event_values: ev,
                        level,
                        located,
                        thread_named: named,
                        clock,
                        thread,
                        observed,
                    }
                },
            )
    }

    /// A context holding the case's callsites, spans, thread name and clock.
    fn context(case: &Case) -> Context {
        let mut context = Context::new();
        let span = wire::Callsite {
            id: 1,
            kind: CallsiteKind::Span,
            level: Level::Info,
            target: "app::span",
            name: "request",
            module_path: None,
            file: None,
            line: None,
            fields: case.span_fields.clone(),
        };
        let event = wire::Callsite {
            id: 2,
            kind: CallsiteKind::Event,
            level: case.level,
            target: "app::db",
            name: "event app/src/db.rs:10",
            module_path: case.located.then_some("app::db"),
            file: case.located.then_some("app/src/db.rs"),
            line: case.located.then_some(10),
            fields: case.event_fields.clone(),
        };
        context.apply(&Record::Callsite(span));
        context.apply(&Record::Callsite(event));
        for id in 1..=case.depth {
            context.apply(&Record::SpanNew(SpanNew {
                id,
                parent: (id > 1).then(|| id - 1),
                callsite: 1,
                time: id,
                thread: case.thread,
                values: case.span_values.clone(),
            }));
        }
        if case.depth > 0 {
            // A later `record` of the first field.
            let mut values = vec![Value::Empty; case.span_values.len()];
            if let Some(first) = values.first_mut() {
                *first = Value::U64(7);
            }
            context.apply(&Record::SpanRecord(SpanRecord {
                id: case.depth,
                values,
            }));
        }
        if case.thread_named {
            context.apply(&Record::ThreadName(ThreadName {
                thread: case.thread,
                name: "worker-3",
            }));
        }
        if case.clock {
            context.apply(&Record::Clock(Clock {
                ticks: 0,
                unix_nanos: 1_764_000_000_000_000_000,
            }));
        }
        context
    }

    fn event(case: &Case) -> Event<'static> {
        Event {
            callsite: 2,
            time: 1_000,
            thread: case.thread,
            parent: (case.depth > 0).then_some(case.depth),
            values: case.event_values.clone(),
        }
    }

    /// The `code.*` attributes cache the property test keeps across its cases.
    static CODE: std::sync::Mutex<CachedAttributes> = std::sync::Mutex::new(CachedAttributes {
        slots: Vec::new(),
        threads: Vec::new(),
    });

    /// A cached callsite's attributes are used only for a callsite with the same id, file,
    /// line and module: one redefined under its id gets its own.
    #[test]
    fn cached_code_attributes_follow_a_callsite_redefined_under_its_id() {
        let mut code = CachedAttributes::default();
        let site = |id, file: Option<&str>, line, module: Option<&str>| Callsite {
            id,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "t".to_owned(),
            name: "n".to_owned(),
            module_path: module.map(str::to_owned),
            file: file.map(str::to_owned),
            line,
            fields: Vec::new(),
        };
        let sites = [
            site(7, Some("src/a.rs"), Some(1), Some("a")),
            site(7, Some("src/b.rs"), Some(1), Some("a")),
            site(7, Some("src/b.rs"), Some(2), Some("a")),
            site(7, Some("src/b.rs"), Some(2), Some("b")),
            site(7, None, None, None),
            // Another id in the same slot.
            site(7 + CODE_SLOTS as u64, Some("src/a.rs"), Some(1), Some("a")),
            site(7, Some("src/a.rs"), Some(1), Some("a")),
        ];
        for site in &sites {
            for _ in 0..2 {
                let (mut cached, mut direct) = (Vec::new(), Vec::new());
                code.write(site, &mut cached);
                code_attributes(site, &mut direct);
                assert_eq!(cached, direct, "{site:?}");
            }
        }
    }

    /// A cached thread's attributes are used only for the same thread number and name: a
    /// thread named later, renamed, or another in the same slot gets its own.
    #[test]
    fn cached_thread_attributes_follow_the_thread_and_its_name() {
        let mut code = CachedAttributes::default();
        let threads = [
            (3, None),
            (3, Some("worker-3")),
            (3, Some("renamed")),
            (3 + CODE_SLOTS as u64, Some("renamed")),
            (3, Some("renamed")),
            (u64::MAX, Some("é")),
        ];
        for (thread, name) in threads {
            for _ in 0..2 {
                let (mut cached, mut direct) = (Vec::new(), Vec::new());
                code.write_thread(thread, name, &mut cached);
                thread_attributes(thread, name, &mut direct);
                assert_eq!(cached, direct, "{thread} {name:?}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// The bytes written straight from the event are prost's bytes for the mapping's
        /// `LogRecord`.
        #[test]
        fn a_record_is_written_as_prost_writes_the_mapping(case in case()) {
            let context = context(&case);
            let event = context.event(event(&case)).expect("callsite defined");
            let mut direct = Vec::new();
            encode_log_record(&event, case.observed, &mut direct);
            let mapped = log_record(&event, case.observed);
            prop_assert_eq!(&direct, &mapped.encode_to_vec());
            // With the `code.*` attributes from a cache kept across cases (the same callsite
            // id, located or not from case to case), filled or used.
            for _ in 0..2 {
                let mut cached = Vec::new();
                encode(&event, case.observed, Some(&mut CODE.lock().unwrap()), &mut cached);
                prop_assert_eq!(&cached, &direct);
            }
            prop_assert_eq!(LogRecord::decode(direct.as_slice()).expect("decodes"), mapped);
        }
    }

    /// A batch's body decodes to the request the mapping describes: records grouped by
    /// target in order of first appearance, the resource in front, the journal's own
    /// records under their scope.
    #[test]
    fn a_batch_encodes_the_request_of_its_records() {
        let case = Case {
            span_fields: vec!["user_id"],
            span_values: vec![Value::U64(42)],
            depth: 2,
            event_fields: vec!["message", "latency_us"],
            event_values: vec![Value::Str("request done"), Value::F64(17.5)],
            level: Level::Info,
            located: true,
            thread_named: true,
            clock: true,
            thread: 3,
            observed: 99,
        };
        let mut context = context(&case);
        context.apply(&Record::Callsite(wire::Callsite {
            id: 3,
            kind: CallsiteKind::Event,
            level: Level::Warn,
            target: "",
            name: "untargeted",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["message"],
        }));
        let untargeted = Event {
            callsite: 3,
            time: 5,
            thread: 1,
            parent: None,
            values: vec![Value::Str("x".repeat(300).leak())],
        };
        let resource = resource("checkout", &[]);
        let mut batch = LogBatch::new();
        let mut scopes: Vec<(String, Vec<LogRecord>)> = Vec::new();
        let mut expect = |scope: &str, record: LogRecord| match scopes
            .iter_mut()
            .find(|(name, _)| name == scope)
        {
            Some((_, records)) => records.push(record),
            None => scopes.push((scope.to_owned(), vec![record])),
        };
        for i in 0..300u64 {
            let (scope, event) = if i % 3 == 2 {
                ("", context.event(untargeted.clone()).unwrap())
            } else {
                ("app::db", context.event(event(&case)).unwrap())
            };
            batch.push_event(&event, i);
            expect(scope, log_record(&event, i));
            if i % 100 == 0 {
                let own = crate::mapping::lost_record(i, i);
                batch.push(crate::mapping::LOGBUF_SCOPE, own.clone());
                expect(crate::mapping::LOGBUF_SCOPE, own);
            }
        }
        let expected = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource.clone()),
                scope_logs: scopes
                    .into_iter()
                    .map(|(name, log_records)| ScopeLogs {
                        scope: Some(InstrumentationScope {
                            name,
                            ..InstrumentationScope::default()
                        }),
                        log_records,
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            }],
        };
        assert_eq!(batch.len(), 303);
        let body = batch.encode(&resource.encode_to_vec());
        assert_eq!(body, expected.encode_to_vec());
        assert_eq!(batch.to_request(&resource).unwrap(), expected);
        assert!(batch.encoded_len() < body.len());
    }

    /// A message with room for a two-byte length, or one, is the same bytes whatever the
    /// body's length (below 128, up to 16 383, beyond).
    #[test]
    fn a_message_is_the_same_whatever_room_its_length_had() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut expect = vec![9u8];
            key(&mut expect, 2, LEN);
            varint(&mut expect, len as u64);
            expect.extend_from_slice(&body);
            for room in [1, 2] {
                let mut out = vec![9u8];
                message_in(&mut out, 2, room, |out| out.extend_from_slice(&body));
                assert_eq!(out, expect, "{len} bytes, room {room}");
            }
        }
    }

    #[test]
    fn varints_and_their_lengths() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut expected = Vec::new();
            prost::encoding::encode_varint(v, &mut expected);
            assert_eq!(out, expected, "{v}");
        }
    }

    #[test]
    fn a_long_message_gets_a_longer_length_in_front() {
        for len in [0usize, 1, 127, 128, 16_383, 16_384, 70_000] {
            let mut out = vec![0xaa];
            message(&mut out, 2, |body| body.resize(body.len() + len, 7));
            let mut expected = vec![0xaa, 2 << 3 | 2];
            prost::encoding::encode_varint(len as u64, &mut expected);
            expected.resize(expected.len() + len, 7);
            assert_eq!(out, expected, "{len}");
            assert_eq!(out.len() - 1, delimited_len(len));
        }
    }
}
