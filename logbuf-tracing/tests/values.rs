//! Values that take the encoder's slower paths: value sets out of field order (or naming a
//! field twice), and records longer than the first claim.

use logbuf_journal::read::{OwnedValue, Reader};
use logbuf_journal::wire::Value as WireValue;
use logbuf_tracing::LogbufLayer;
use tracing::field::{Empty, Value};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn out_of_order_and_long_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("values.lbf");
    let (layer, guard) = LogbufLayer::builder().file(&path).build().unwrap();
    let long = "x".repeat(5_000);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("s", a = Empty, b = Empty, c = Empty, d = 4u64);
        let fields = span.metadata().unwrap().fields();
        let (a, b, c) = (
            fields.field("a").unwrap(),
            fields.field("b").unwrap(),
            fields.field("c").unwrap(),
        );
        // c, then a, then c again: written in field order, the first c kept, b left empty.
        span.record_all(&fields.value_set(&[
            (&c, Some(&"third" as &dyn Value)),
            (&a, Some(&1u64 as &dyn Value)),
            (&c, Some(&"again" as &dyn Value)),
        ]));
        span.record_all(&fields.value_set(&[(&b, Some(&-2i64 as &dyn Value))]));
        span.in_scope(|| {
            tracing::info!(text = long.as_str(), n = 1u64, "long string");
            tracing::info!(dbg = ?long.len(), n = 2u64, "{}", long);
            tracing::info!(n = 3u64, "{long}");
        });
    });
    drop(guard);

    let mut reader = Reader::open(&path).unwrap();
    let mut n = 0;
    while let Some(event) = reader.next_event() {
        let event = event.unwrap();
        n += 1;
        assert_eq!(
            event.spans[0].values,
            [
                OwnedValue::U64(1),
                OwnedValue::I64(-2),
                OwnedValue::Str("third".into()),
                OwnedValue::U64(4)
            ]
        );
        let v = &event.event.values;
        match n {
            1 => assert_eq!(
                v[..],
                [
                    WireValue::Str("long string"),
                    WireValue::Str(&long),
                    WireValue::U64(1)
                ]
            ),
            // A lone string argument comes out in one piece: a string, however long.
            2 => assert_eq!(
                v[..],
                [
                    WireValue::Str(&long),
                    WireValue::Debug("5000"),
                    WireValue::U64(2)
                ]
            ),
            3 => assert_eq!(v[..], [WireValue::Str(&long), WireValue::U64(3)]),
            _ => panic!("one event too many"),
        }
    }
    assert_eq!(n, 3);
    assert_eq!(reader.dropped(), 0);
    assert!(reader.stats().is_clean());
}
