//! The hot-path encoder emits exactly the bytes postcard emits for the serde types, for random
//! records of every kind the encoder writes and every value kind, and reports overflow (never
//! panics) when the slice is too small.

use std::fmt;

use logbuf_journal::encode::{Encoder, Overflow, varint_len};
use logbuf_journal::wire::{
    Event, FollowsFrom, Record, SpanClose, SpanCloseTimes, SpanNew, SpanRecord, SpanTransition,
    Value,
};
use proptest::prelude::*;

/// A value with owned storage, so strategies can make them.
#[derive(Debug, Clone)]
enum Owned {
    Empty,
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    F64(f64),
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
    Debug(String),
    Error(String, Vec<String>),
    Interned(u64),
}

impl Owned {
    fn as_value(&self) -> Value<'_> {
        match self {
            Owned::Empty => Value::Empty,
            Owned::U64(v) => Value::U64(*v),
            Owned::I64(v) => Value::I64(*v),
            Owned::U128(v) => Value::U128(*v),
            Owned::I128(v) => Value::I128(*v),
            Owned::F64(v) => Value::F64(*v),
            Owned::Bool(v) => Value::Bool(*v),
            Owned::Str(v) => Value::Str(v),
            Owned::Bytes(v) => Value::Bytes(v),
            Owned::Debug(v) => Value::Debug(v),
            Owned::Error(m, s) => Value::Error {
                message: m,
                sources: s.iter().map(|s| &s[..]).collect(),
            },
            Owned::Interned(id) => Value::Interned(*id),
        }
    }

    fn encode(&self, enc: &mut Encoder<'_>) {
        match self {
            Owned::Empty => enc.value_empty(),
            Owned::U64(v) => enc.value_u64(*v),
            Owned::I64(v) => enc.value_i64(*v),
            Owned::U128(v) => enc.value_u128(*v),
            Owned::I128(v) => enc.value_i128(*v),
            Owned::F64(v) => enc.value_f64(*v),
            Owned::Bool(v) => enc.value_bool(*v),
            Owned::Str(v) => enc.value_str(v),
            Owned::Bytes(v) => enc.value_bytes(v),
            // Through the formatting machinery, as a `Debug` value would go.
            Owned::Debug(v) => enc.value_debug(format_args!("{}", Shown(v))),
            Owned::Error(m, s) => enc.value_error(&Chain::new(m, s)),
            Owned::Interned(id) => enc.value_interned(*id),
        }
    }
}

/// Displays a string in several pieces, as real formatting does.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mid = (0..=self.0.len() / 2)
            .rev()
            .find(|&i| self.0.is_char_boundary(i))
            .unwrap_or(0);
        f.write_str(&self.0[..mid])?;
        f.write_str(&self.0[mid..])
    }
}

/// An error with a chain of sources.
#[derive(Debug)]
struct Chain {
    message: String,
    source: Option<Box<Chain>>,
}

impl Chain {
    fn new(message: &str, sources: &[String]) -> Self {
        let source = sources
            .split_first()
            .map(|(first, rest)| Box::new(Chain::new(first, rest)));
        Chain {
            message: message.to_owned(),
            source,
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Shown(&self.message))
    }
}

impl std::error::Error for Chain {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}

fn owned() -> impl Strategy<Value = Owned> {
    let text = ".{0,40}";
    prop_oneof![
        Just(Owned::Empty),
        any::<u64>().prop_map(Owned::U64),
        any::<i64>().prop_map(Owned::I64),
        any::<u128>().prop_map(Owned::U128),
        any::<i128>().prop_map(Owned::I128),
        any::<f64>()
            .prop_filter("NaN != NaN", |v| !v.is_nan())
            .prop_map(Owned::F64),
        any::<bool>().prop_map(Owned::Bool),
        text.prop_map(Owned::Str),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Owned::Bytes),
        ".{0,300}".prop_map(Owned::Debug),
        (text, proptest::collection::vec(text, 0..4)).prop_map(|(m, s)| Owned::Error(m, s)),
        prop_oneof![0..300u64, any::<u64>()].prop_map(Owned::Interned),
    ]
}

#[derive(Debug, Clone)]
enum Header {
    Event {
        callsite: u64,
        time: u64,
        thread: u64,
        parent: Option<u64>,
    },
    SpanNew {
        id: u64,
        parent: Option<u64>,
        callsite: u64,
        time: u64,
        thread: u64,
    },
    SpanRecord {
        id: u64,
    },
}

fn header() -> impl Strategy<Value = Header> {
    let id = prop_oneof![0..300u64, any::<u64>()];
    prop_oneof![
        (
            id.clone(),
            any::<u64>(),
            id.clone(),
            proptest::option::of(id.clone())
        )
            .prop_map(|(callsite, time, thread, parent)| Header::Event {
                callsite,
                time,
                thread,
                parent
            }),
        (
            id.clone(),
            proptest::option::of(id.clone()),
            id.clone(),
            any::<u64>(),
            id.clone()
        )
            .prop_map(|(id, parent, callsite, time, thread)| Header::SpanNew {
                id,
                parent,
                callsite,
                time,
                thread
            }),
        id.prop_map(|id| Header::SpanRecord { id }),
    ]
}

fn record<'a>(header: &Header, values: &'a [Owned]) -> Record<'a> {
    let values = values.iter().map(Owned::as_value).collect();
    match *header {
        Header::Event {
            callsite,
            time,
            thread,
            parent,
        } => Record::Event(Event {
            callsite,
            time,
            thread,
            parent,
            values,
        }),
        Header::SpanNew {
            id,
            parent,
            callsite,
            time,
            thread,
        } => Record::SpanNew(SpanNew {
            id,
            parent,
            callsite,
            time,
            thread,
            values,
        }),
        Header::SpanRecord { id } => Record::SpanRecord(SpanRecord { id, values }),
    }
}

fn encode(buf: &mut [u8], header: &Header, values: &[Owned]) -> Result<usize, Overflow> {
    let mut enc = Encoder::new(buf);
    match *header {
        Header::Event {
            callsite,
            time,
            thread,
            parent,
        } => enc.event(callsite, time, thread, parent, values.len()),
        Header::SpanNew {
            id,
            parent,
            callsite,
            time,
            thread,
        } => enc.span_new(id, parent, callsite, time, thread, values.len()),
        Header::SpanRecord { id } => enc.span_record(id, values.len()),
    }
    for v in values {
        v.encode(&mut enc);
    }
    enc.finish()
}

/// Writes a whole record from three numbers (id, time, thread), as the span methods take.
type WholeRecord = fn(&mut Encoder<'_>, u64, u64, u64);

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 16 } else { 2_000 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn encoder_bytes_are_postcard_bytes(
        header in header(),
        values in proptest::collection::vec(owned(), 0..8),
        // Room past the record: the encoder writes fields with fewer checks when the longest
        // encoding of a field fits, and must give the same bytes either way.
        spare in 0..64usize,
    ) {
        let want = postcard::to_allocvec(&record(&header, &values)).unwrap();
        let mut buf = vec![0u8; want.len() + spare];
        let len = encode(&mut buf, &header, &values).unwrap();
        prop_assert_eq!(&buf[..len], &want[..]);
        let decoded: Record<'_> = postcard::from_bytes(&buf[..len]).unwrap();
        prop_assert_eq!(decoded, record(&header, &values));
    }

    #[test]
    fn too_small_a_slice_is_overflow_with_the_size_needed(
        header in header(),
        values in proptest::collection::vec(owned(), 0..6),
        cut in any::<proptest::sample::Index>(),
    ) {
        let want = postcard::to_allocvec(&record(&header, &values)).unwrap();
        let short = cut.index(want.len());
        let mut buf = vec![0u8; short];
        prop_assert_eq!(encode(&mut buf, &header, &values), Err(Overflow { needed: want.len() }));
        // An exact fit is enough.
        let mut buf = vec![0u8; want.len()];
        prop_assert_eq!(encode(&mut buf, &header, &values), Ok(want.len()));
    }

    #[test]
    fn whole_record_methods_are_postcard_bytes(
        kind in 0..4u8,
        id in any::<u64>(),
        time in any::<u64>(),
        thread in 0..1_000u64,
    ) {
        let transition = SpanTransition { id, time, thread };
        let (record, write): (Record<'_>, WholeRecord) = match kind {
            0 => (Record::SpanEnter(transition), |e, id, t, th| e.span_enter(id, t, th)),
            1 => (Record::SpanExit(transition), |e, id, t, th| e.span_exit(id, t, th)),
            2 => (Record::SpanClose(SpanClose { id, time }), |e, id, t, _| e.span_close(id, t)),
            _ => (
                Record::FollowsFrom(FollowsFrom { span: id, follows: time }),
                |e, id, t, _| e.follows_from(id, t),
            ),
        };
        let want = postcard::to_allocvec(&record).unwrap();
        let mut buf = vec![0u8; want.len()];
        let mut enc = Encoder::new(&mut buf);
        write(&mut enc, id, time, thread);
        prop_assert_eq!(enc.finish(), Ok(want.len()));
        prop_assert_eq!(&buf[..], &want[..]);
        let mut short = vec![0u8; want.len() - 1];
        let mut enc = Encoder::new(&mut short);
        write(&mut enc, id, time, thread);
        prop_assert_eq!(enc.finish(), Err(Overflow { needed: want.len() }));
    }

    #[test]
    fn close_with_times_is_postcard_bytes(
        id in prop_oneof![0..300u64, any::<u64>()],
        time in any::<u64>(),
        busy in prop_oneof![0..1_000u64, any::<u64>()],
        idle in prop_oneof![0..1_000u64, any::<u64>()],
        spare in 0..16usize,
    ) {
        let record = Record::SpanCloseTimes(SpanCloseTimes { id, time, busy, idle });
        let want = postcard::to_allocvec(&record).unwrap();
        prop_assert_eq!(want[0], 12, "kind 12, after the kinds of format 2.0");
        let mut buf = vec![0u8; want.len() + spare];
        let mut enc = Encoder::new(&mut buf);
        enc.span_close_times(id, time, busy, idle);
        prop_assert_eq!(enc.finish(), Ok(want.len()));
        prop_assert_eq!(&buf[..want.len()], &want[..]);
        prop_assert_eq!(postcard::from_bytes::<Record<'_>>(&want).unwrap(), record);
        let mut short = vec![0u8; want.len() - 1];
        let mut enc = Encoder::new(&mut short);
        enc.span_close_times(id, time, busy, idle);
        prop_assert_eq!(enc.finish(), Err(Overflow { needed: want.len() }));
    }
}

#[test]
fn varint_len_matches_the_encoding() {
    for v in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::from(u32::MAX),
        u64::MAX,
    ] {
        assert_eq!(
            varint_len(v),
            postcard::to_allocvec(&v).unwrap().len(),
            "{v}"
        );
    }
}

#[test]
fn formatted_text_longer_than_the_reserved_prefix_is_exact() {
    // 200 bytes of text need a 2-byte length; the encoder reserves 3 and closes the gap.
    let text = "x".repeat(200);
    let mut buf = [0u8; 512];
    let mut enc = Encoder::new(&mut buf);
    enc.event(1, 2, 3, None, 1);
    enc.value_debug(format_args!("{}", Shown(&text)));
    let len = enc.finish().unwrap();
    let want = postcard::to_allocvec(&Record::Event(Event {
        callsite: 1,
        time: 2,
        thread: 3,
        parent: None,
        values: vec![Value::Debug(&text)],
    }))
    .unwrap();
    assert_eq!(&buf[..len], &want[..]);
}

/// Encodes one message value into `room` bytes and checks what comes out.
fn check_message(room: usize, text: &str, is_str: bool, write: impl Fn(&mut Encoder<'_>)) {
    let mut buf = vec![0u8; room];
    let mut enc = Encoder::new(&mut buf);
    write(&mut enc);
    match enc.finish() {
        Ok(len) => {
            let want = if is_str {
                Value::Str(text)
            } else {
                Value::Debug(text)
            };
            let got: Value<'_> = postcard::from_bytes(&buf[..len]).unwrap();
            assert_eq!(got, want, "{text} in {room}");
        }
        Err(Overflow { needed }) => {
            assert!(room < needed, "{text} in {room}");
            assert_eq!(needed, 2 + text.len());
        }
    }
}

#[test]
fn messages_in_one_piece_are_strings_and_others_formatted_text() {
    let name = "world";
    let (one, two) = (std::hint::black_box(1), std::hint::black_box(2));
    // Room to format in place, and too little (the measuring path, then overflow).
    for room in [64, 8] {
        check_message(room, "request done", true, |e| {
            e.value_message(format_args!("request done"))
        });
        check_message(room, "world", true, |e| {
            e.value_message(format_args!("{name}"))
        });
        check_message(room, "hello world", false, |e| {
            e.value_message(format_args!("hello {name}"))
        });
        check_message(room, "1 + 2 = 3", false, |e| {
            e.value_message(format_args!("{one} + {two} = {}", one + two))
        });
    }
}

/// Encodes one message against the interned text `interned` (id 9) and checks what comes out.
fn check_interned(room: usize, interned: &str, want: Value<'_>, args: fmt::Arguments<'_>) {
    let mut buf = vec![0u8; room];
    let mut enc = Encoder::new(&mut buf);
    let matched = enc.value_message_interned(args, interned, 9);
    assert_eq!(matched, want == Value::Interned(9), "{args}");
    match enc.finish() {
        Ok(len) => {
            let got: Value<'_> = postcard::from_bytes(&buf[..len]).unwrap();
            assert_eq!(got, want, "{args} in {room}");
        }
        Err(Overflow { needed }) => assert!(room < needed, "{args} in {room}"),
    }
}

#[test]
fn messages_equal_to_the_interned_text_refer_to_it() {
    let name = "world";
    for room in [64, 16, 3] {
        // The literal itself, and the same text from an argument: both one piece.
        check_interned(
            room,
            "request done",
            Value::Interned(9),
            format_args!("request done"),
        );
        check_interned(room, "world", Value::Interned(9), format_args!("{name}"));
        // Other text in one piece stays a string; a prefix or extension of the text too.
        check_interned(
            room,
            "request done",
            Value::Str("request"),
            format_args!("request"),
        );
        check_interned(
            room,
            "request",
            Value::Str("request done"),
            format_args!("request done"),
        );
        // Text from several pieces is formatted text, even when it spells the interned text.
        check_interned(
            room,
            "hello world",
            Value::Debug("hello world"),
            format_args!("hello {name}"),
        );
        check_interned(room, "", Value::Interned(9), format_args!(""));
    }
}

/// The literal a front end interned, recognised by its address as tracing's layer does.
static LITERAL: &str = "request done";

fn is_literal(s: &str) -> bool {
    s.as_ptr() == LITERAL.as_ptr() && s.len() == LITERAL.len()
}

/// Encodes one message with [`Encoder::value_message_or_interned`] into `room` bytes behind
/// `at` bytes of other values: the literal (id 9) as a reference to it, anything else exactly
/// as [`Encoder::value_message`] writes it, overflow included.
fn check_literal(room: usize, at: usize, literal: bool, args: fmt::Arguments<'_>) {
    let mut buf = vec![0u8; room];
    let mut enc = Encoder::new(&mut buf);
    for _ in 0..at {
        enc.value_empty();
    }
    let matched = enc.value_message_or_interned(args, is_literal, 9);
    assert_eq!(matched, literal, "{args} in {room}");
    let got = enc.finish();
    let mut expected = vec![0u8; room];
    let mut enc = Encoder::new(&mut expected);
    for _ in 0..at {
        enc.value_empty();
    }
    if literal {
        enc.value_interned(9);
    } else {
        enc.value_message(args);
    }
    let want = enc.finish();
    assert_eq!(got, want, "{args} in {room}");
    if let Ok(len) = got {
        assert_eq!(buf[..len], expected[..len], "{args} in {room}");
    }
}

#[test]
fn a_message_is_its_literal_by_address_and_otherwise_its_text() {
    let name = "world";
    let copy = String::from(LITERAL);
    let long = "x".repeat(300);
    // Room to format in place, room for the literal's reference only, and too little; at
    // the start and behind other values.
    for room in [400, 64, 16, 8, 3, 1] {
        for at in [0, 2] {
            // The literal itself: a reference, whichever way it reaches the formatter.
            check_literal(room, at, true, format_args!("{LITERAL}"));
            check_literal(
                room,
                at,
                true,
                format_args!("{:?}", format_args!("{LITERAL}")),
            );
            // The same text elsewhere is a string.
            check_literal(room, at, false, format_args!("{copy}"));
            // Other text in one piece is a string, in several formatted text: after the
            // literal, before it, without it.
            check_literal(room, at, false, format_args!("{name}"));
            check_literal(room, at, false, format_args!("{LITERAL}{name}"));
            check_literal(room, at, false, format_args!("{LITERAL} {name}"));
            check_literal(room, at, false, format_args!("{name}{LITERAL}"));
            check_literal(room, at, false, format_args!("hello {name}"));
            check_literal(room, at, false, format_args!("{long}"));
            check_literal(room, at, false, format_args!("{long}{name}"));
            // Empty pieces around the literal change nothing.
            check_literal(room, at, true, format_args!("{}{LITERAL}{}", "", ""));
            check_literal(room, at, false, format_args!(""));
        }
    }
}
