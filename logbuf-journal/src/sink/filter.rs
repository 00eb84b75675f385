//! A sink that only takes events at or above a level, for fan-out with different thresholds.

use crate::IdMap;
use std::io;

use super::{Entry, Sink};
use crate::wire::{Level, Record};

/// Passes events at `min` or above to the sink inside; made by [`Sink::min_level`].
///
/// Only events are filtered. Definitions, spans, thread names, clock and dropped-event records
/// always pass, so span context and wall-clock time stay complete for the events that do.
///
/// ```
/// use logbuf_journal::{Journal, Sink};
/// use logbuf_journal::sink::BinaryFileSink;
/// use logbuf_journal::wire::Level;
///
/// # let dir = tempfile::tempdir()?;
/// // Everything into one file, warnings and errors also into another.
/// let (journal, _guard) = Journal::builder()
///     .file(dir.path().join("all.lbf"))?
///     .sink(BinaryFileSink::create(dir.path().join("warn.lbf"))?.min_level(Level::Warn))
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MinLevel<S> {
    inner: S,
    min: Level,
    /// Level of every callsite defined so far.
    levels: IdMap<Level>,
}

impl<S: Sink> MinLevel<S> {
    /// Passes events at `min` or above to `inner`.
    pub fn new(min: Level, inner: S) -> Self {
        Self {
            inner,
            min,
            levels: IdMap::default(),
        }
    }

    /// The sink inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The sink inside, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    fn passes(&mut self, entry: &Entry<'_>) -> bool {
        match entry.bytes().first() {
            // Kind 0: a callsite definition; remember its level.
            Some(0) => {
                if let Ok(Record::Callsite(c)) = entry.record() {
                    self.levels.insert(c.id, c.level);
                }
                true
            }
            // Kind 1: an event; its callsite id is the varint right after the kind.
            Some(1) => match leading_varint(&entry.bytes()[1..]) {
                // An event of an unknown callsite cannot be rendered anyway; let the sink
                // count it as it would without the filter.
                Some(callsite) => self.levels.get(&callsite).is_none_or(|l| *l >= self.min),
                None => true,
            },
            _ => true,
        }
    }
}

impl<S: Sink> Sink for MinLevel<S> {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        if self.passes(&entry) {
            self.inner.write(entry)
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.inner.reopen()
    }

    fn dump(&mut self) -> io::Result<()> {
        self.inner.dump()
    }

    fn discarded(&self) -> u64 {
        self.inner.discarded()
    }
}

/// The LEB128 varint at the start of `bytes`, if it is complete and fits in a `u64`.
fn leading_varint(bytes: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        let bits = u64::from(b & 0x7f);
        value |= bits.checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Callsite, CallsiteKind, Event, Value};

    #[derive(Default)]
    struct Keep(Vec<Vec<u8>>);

    impl Sink for Keep {
        fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
            self.0.push(entry.bytes().to_vec());
            Ok(())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn bytes(record: &Record<'_>) -> Vec<u8> {
        postcard::to_allocvec(record).unwrap()
    }

    #[test]
    fn events_below_the_level_are_left_out_and_everything_else_passes() {
        let mut sink = Keep::default().min_level(Level::Warn);
        let mut records = Vec::new();
        for (id, level) in [(1u64, Level::Info), (300, Level::Warn), (7, Level::Error)] {
            records.push(bytes(&Record::Callsite(Callsite {
                id,
                kind: CallsiteKind::Event,
                level,
                target: "t",
                name: "n",
                module_path: None,
                file: None,
                line: None,
                fields: vec!["message"],
            })));
        }
        let event = |callsite| {
            bytes(&Record::Event(Event {
                callsite,
                time: 5,
                thread: 1,
                parent: None,
                values: vec![Value::Str("x")],
            }))
        };
        // Unknown callsite 9 passes; info (1) does not.
        let events = [event(1), event(300), event(7), event(9), event(1)];
        records.extend(events.iter().cloned());
        for r in &records {
            sink.write(Entry::new(r)).unwrap();
        }
        let kept = &sink.get_ref().0;
        assert_eq!(kept[..3], records[..3]);
        assert_eq!(kept[3..], [event(300), event(7), event(9)]);
    }

    #[test]
    fn leading_varints_decode_and_bad_ones_are_none() {
        assert_eq!(leading_varint(&[0]), Some(0));
        assert_eq!(leading_varint(&[0xac, 0x02, 9]), Some(300));
        assert_eq!(leading_varint(&[0x80]), None);
        assert_eq!(leading_varint(&[]), None);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(leading_varint(&max), Some(u64::MAX));
        assert_eq!(leading_varint(&[0xff; 11]), None);
    }
}
