//! Decoding the records a line sink sees most (events and span creations) without serde, into
//! a value vector the sink hands back after each record, so that decoding them allocates
//! nothing.
//!
//! Only the plain forms are decoded here: kinds and value kinds in one byte, values other than
//! 128-bit integers and errors. Anything else (another record kind, a rare value, a kind
//! written longer than it needs, damage) gives `None`, and the caller decodes the record with postcard, which
//! decides what it is. What this gives is what postcard gives for the same bytes.

use crate::wire::{Event, Record, SpanClose, SpanCloseTimes, SpanNew, SpanTransition, Value};

/// The bytes being read.
struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    /// A `u64` varint as postcard reads it: at most ten bytes, the tenth at most 1.
    #[inline]
    fn u64(&mut self) -> Option<u64> {
        let (&first, rest) = self.bytes.split_first()?;
        if first & 0x80 == 0 {
            self.bytes = rest;
            return Some(u64::from(first));
        }
        // Up to eight bytes at once: where the first byte without its continuation bit is
        // among the next eight, their 7-bit groups are gathered with masks and shifts.
        // A ninth and tenth byte, for the largest values (span ids), are read after them.
        let Some(word) = self.bytes.first_chunk::<8>() else {
            return self.u64_bytewise();
        };
        let word = u64::from_le_bytes(*word);
        let ends = !word & 0x8080_8080_8080_8080;
        // Bytes of the varint in the word: 2 to 8 (the first has its continuation bit).
        let len = if ends == 0 {
            8
        } else {
            ends.trailing_zeros() as usize / 8 + 1
        };
        let mut x = (word & (u64::MAX >> (64 - 8 * len))) & 0x7f7f_7f7f_7f7f_7f7f;
        x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
        x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
        x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
        let rest = &self.bytes[len..];
        if ends != 0 {
            self.bytes = rest;
            return Some(x);
        }
        let (&ninth, rest) = rest.split_first()?;
        x |= u64::from(ninth & 0x7f) << 56;
        if ninth & 0x80 == 0 {
            self.bytes = rest;
            return Some(x);
        }
        // The tenth holds the top bit only.
        let (&tenth, rest) = rest.split_first()?;
        if tenth > 1 {
            return None;
        }
        self.bytes = rest;
        Some(x | u64::from(tenth) << 63)
    }

    /// [`Input::u64`] a byte at a time.
    fn u64_bytewise(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << (i * 7);
            if byte & 0x80 == 0 {
                return (i < 9 || byte <= 1).then_some(value);
            }
        }
        None
    }

    fn option_u64(&mut self) -> Option<Option<u64>> {
        match self.byte()? {
            0 => Some(None),
            1 => self.u64().map(Some),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.u64()?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    /// A vector of values, appended to `values` (empty).
    fn values(&mut self, values: &mut Vec<Value<'a>>) -> Option<()> {
        let count = self.u64()?;
        // Each value takes at least one byte: a count beyond the bytes left is damage.
        if count > self.bytes.len() as u64 {
            return None;
        }
        values.reserve(count as usize);
        for _ in 0..count {
            let value = match self.byte()? {
                0 => Value::Empty,
                1 => Value::U64(self.u64()?),
                2 => {
                    let v = self.u64()?;
                    // Zig-zag.
                    Value::I64(((v >> 1) as i64) ^ -((v & 1) as i64))
                }
                5 => Value::F64(f64::from_le_bytes(self.take(8)?.try_into().ok()?)),
                6 => match self.byte()? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    _ => return None,
                },
                7 => Value::Str(self.str()?),
                8 => {
                    let len = usize::try_from(self.u64()?).ok()?;
                    Value::Bytes(self.take(len)?)
                }
                9 => Value::Debug(self.str()?),
                11 => Value::Interned(self.u64()?),
                _ => return None,
            };
            values.push(value);
        }
        Some(())
    }
}

/// The record `bytes` hold if it is an event, a span's creation, enter, exit or close in the
/// forms this module reads, an event's or span's values in `values` (emptied first); `None`
/// for anything else.
pub(crate) fn record<'a>(bytes: &'a [u8], mut values: Vec<Value<'a>>) -> Option<Record<'a>> {
    values.clear();
    let mut input = Input { bytes };
    match input.byte()? {
        1 => {
            let callsite = input.u64()?;
            let time = input.u64()?;
            let thread = input.u64()?;
            let parent = input.option_u64()?;
            input.values(&mut values)?;
            Some(Record::Event(Event {
                callsite,
                time,
                thread,
                parent,
                values,
            }))
        }
        2 => {
            let id = input.u64()?;
            let parent = input.option_u64()?;
            let callsite = input.u64()?;
            let time = input.u64()?;
            let thread = input.u64()?;
            input.values(&mut values)?;
            Some(Record::SpanNew(SpanNew {
                id,
                parent,
                callsite,
                time,
                thread,
                values,
            }))
        }
        4 | 5 => {
            let transition = SpanTransition {
                id: input.u64()?,
                time: input.u64()?,
                thread: input.u64()?,
            };
            Some(if bytes[0] == 4 {
                Record::SpanEnter(transition)
            } else {
                Record::SpanExit(transition)
            })
        }
        6 => Some(Record::SpanClose(SpanClose {
            id: input.u64()?,
            time: input.u64()?,
        })),
        12 => Some(Record::SpanCloseTimes(SpanCloseTimes {
            id: input.u64()?,
            time: input.u64()?,
            busy: input.u64()?,
            idle: input.u64()?,
        })),
        _ => None,
    }
}

/// An empty vector of another lifetime with `values`'s allocation, for the next record.
#[allow(
    clippy::unnecessary_filter_map,
    reason = "`filter` cannot change the item type, which is the point"
)]
pub(crate) fn recycle<'b>(values: Vec<Value<'_>>) -> Vec<Value<'b>> {
    // Same size and alignment: the standard library collects this in place, keeping the
    // allocation (and were it not to, the result is still an empty vector).
    values.into_iter().filter_map(|_| None).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SpanRecord;

    fn postcard_record(bytes: &[u8]) -> Option<Record<'_>> {
        postcard::from_bytes(bytes).ok()
    }

    /// Whatever this module decodes, postcard decodes the same; and it decodes the plain
    /// forms itself.
    fn check(bytes: &[u8], expect_fast: bool) {
        let fast = record(bytes, Vec::new());
        if let Some(fast) = &fast {
            // Compared as `Debug` text: a NaN is not equal to itself.
            let slow = postcard_record(bytes);
            assert_eq!(
                format!("{fast:?}"),
                format!("{:?}", slow.unwrap()),
                "{bytes:?}"
            );
        }
        assert_eq!(fast.is_some(), expect_fast, "{bytes:?}");
    }

    fn values() -> Vec<Value<'static>> {
        vec![
            Value::Empty,
            Value::U64(0),
            Value::U64(u64::MAX),
            Value::I64(-1),
            Value::I64(i64::MIN),
            Value::I64(i64::MAX),
            Value::F64(-1.5),
            Value::Bool(true),
            Value::Bool(false),
            Value::Str("tab\tquote\"é"),
            Value::Str(""),
            Value::Bytes(&[0, 0xff]),
            Value::Debug("GET"),
            Value::Interned(300),
        ]
    }

    #[test]
    fn events_and_span_creations_decode_as_postcard_decodes_them() {
        let event = Record::Event(Event {
            callsite: 1 << 40,
            time: u64::MAX,
            thread: 3,
            parent: Some(9),
            values: values(),
        });
        let span = Record::SpanNew(SpanNew {
            id: 5,
            parent: None,
            callsite: 2,
            time: 77,
            thread: 1,
            values: values(),
        });
        let transition = SpanTransition {
            id: 1 << 50,
            time: 2,
            thread: 3,
        };
        let spans = [
            Record::SpanEnter(transition),
            Record::SpanExit(transition),
            Record::SpanClose(SpanClose { id: 9, time: 300 }),
            Record::SpanCloseTimes(SpanCloseTimes {
                id: 9,
                time: 300,
                busy: u64::MAX,
                idle: 0,
            }),
        ];
        for original in [event, span].into_iter().chain(spans) {
            let bytes = postcard::to_allocvec(&original).unwrap();
            check(&bytes, true);
            // Every prefix is damage: never decoded here, whatever postcard makes of it.
            for end in 0..bytes.len() {
                check(&bytes[..end], false);
            }
            // Every byte changed to a few values: decoded here only as postcard decodes it.
            for at in 0..bytes.len() {
                for b in [0u8, 1, 2, 0x7f, 0x80, 0xc3, 0xff] {
                    let mut changed = bytes.clone();
                    changed[at] = b;
                    if let Some(fast) = record(&changed, Vec::new()) {
                        let slow = postcard_record(&changed);
                        assert_eq!(
                            format!("{:?}", Some(fast)),
                            format!("{slow:?}"),
                            "{changed:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn an_entry_decodes_every_record_as_postcard_does() {
        let records = [
            Record::Event(Event {
                callsite: 1,
                time: 2,
                thread: 3,
                parent: Some(4),
                values: values(),
            }),
            Record::Event(Event {
                callsite: 1,
                time: 2,
                thread: 3,
                parent: None,
                values: vec![Value::U128(u128::MAX), Value::I128(-1)],
            }),
            Record::SpanRecord(SpanRecord {
                id: 1,
                values: vec![Value::U64(1)],
            }),
            Record::SpanClose(SpanClose { id: 9, time: 300 }),
        ];
        for original in records {
            let bytes = postcard::to_allocvec(&original).unwrap();
            let entry = crate::sink::Entry::new(&bytes);
            assert_eq!(entry.record().ok(), postcard_record(&bytes));
            assert_eq!(entry.record().unwrap(), original);
        }
        // Bytes that are no record: postcard's error.
        let entry = crate::sink::Entry::new(&[0xff, 0xff, 0xff]);
        assert!(entry.record().is_err());
    }

    #[test]
    fn other_forms_are_left_to_postcard() {
        let rare = [
            Value::U128(1),
            Value::I128(-1),
            Value::Error {
                message: "m",
                sources: vec!["s"],
            },
        ];
        for value in rare {
            let event = Record::Event(Event {
                callsite: 1,
                time: 2,
                thread: 3,
                parent: None,
                values: vec![value],
            });
            check(&postcard::to_allocvec(&event).unwrap(), false);
        }
        let others = [
            Record::SpanRecord(SpanRecord {
                id: 1,
                values: vec![Value::U64(1)],
            }),
            Record::FollowsFrom(crate::wire::FollowsFrom {
                span: 1,
                follows: 2,
            }),
        ];
        for other in others {
            check(&postcard::to_allocvec(&other).unwrap(), false);
        }
        // A kind written longer than it needs; a varint too (decoded here, as postcard does);
        // a tenth byte above 1.
        check(&[0x81, 0x00, 1, 2, 3, 0, 0], false);
        check(&[1, 0x81, 0x00, 2, 3, 0, 0], true);
        check(
            &[
                1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02, 2, 3, 0, 0,
            ],
            false,
        );
        // A string that is not UTF-8, an option tag and a bool that are neither 0 nor 1.
        check(&[1, 1, 2, 3, 0, 1, 7, 1, 0xff], false);
        check(&[1, 1, 2, 3, 2, 0], false);
        check(&[1, 1, 2, 3, 0, 1, 6, 2], false);
        // A count of values beyond the bytes.
        check(&[1, 1, 2, 3, 0, 0x80, 0x01, 0], false);
    }

    #[test]
    fn varints_read_in_words_are_those_read_a_byte_at_a_time() {
        // Every length from 1 to 10 bytes, groups of all ones, all zeros and patterns, with
        // the bytes that follow (none, or enough for a whole word), and every prefix of each.
        let groups = [0x00, 0x7f, 0x55, 0x2a, 0x01, 0x40, 0x02, 0x03];
        for len in 1..=10 {
            for &group in &groups {
                for &last in &groups {
                    for tail in [&[][..], &[0x80, 0xff, 0, 1, 2, 3, 4, 5, 6, 7][..]] {
                        let mut bytes: Vec<u8> = (1..len).map(|_| group | 0x80).collect();
                        bytes.push(last);
                        bytes.extend_from_slice(tail);
                        for end in 0..=bytes.len() {
                            let mut words = Input {
                                bytes: &bytes[..end],
                            };
                            let mut bytewise = Input {
                                bytes: &bytes[..end],
                            };
                            let value = words.u64();
                            assert_eq!(value, bytewise.u64_bytewise(), "{bytes:02x?}");
                            // What is left after damage does not matter: the record is not
                            // decoded here.
                            if value.is_some() {
                                assert_eq!(words.bytes, bytewise.bytes, "{bytes:02x?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_recycled_vector_keeps_its_allocation() {
        let text = String::from("x");
        let mut values = Vec::with_capacity(16);
        values.push(Value::Str(&text));
        let capacity = values.capacity();
        let values: Vec<Value<'static>> = recycle(values);
        assert!(values.is_empty());
        assert_eq!(values.capacity(), capacity);
    }
}
