//! Field values into the encoder, as typed values in the order of the callsite's fields.
//!
//! A record announces how many values follow and gives them in field order, with an empty
//! value for each field that was not recorded. tracing visits values in the order its macros
//! put them, which is field order, so one visit writes them straight into the claim, filling
//! gaps as it goes. A value set built by hand may come out of order (or name a field twice);
//! the visitor notices, spoils the attempt by overflowing the claim on purpose, and
//! [`Journal::write`](logbuf_journal::Journal::write), which calls the encoding again with
//! room for what the attempt needed, gets one field at a time on its second call.

use std::error::Error;
use std::fmt;

use logbuf_journal::encode::Encoder;
use tracing_core::field::{Field, Visit};

use crate::callsites::Message;

/// Zeros written to make an attempt overflow; longer than any first claim ([`FIRST_CLAIM`]).
static SPOILER: [u8; 2 * FIRST_CLAIM] = [0; 2 * FIRST_CLAIM];

/// Bytes the first claim for a record asks for; a longer record is written again with room
/// for all of it.
pub(crate) const FIRST_CLAIM: usize = 256;

/// How the values of one record are written; kept across the journal's calls of the encoding.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Mode {
    /// The values came out of field order: write them one field at a time.
    by_field: bool,
    /// The message was not the callsite's interned text.
    pub(crate) message_differs: bool,
}

/// Writes `len` values, in field order, from what `record` visits; a `message` that is the
/// callsite's interned one as a reference to it. Sets `mode.message_differs` when the message
/// was not the interned text.
#[inline]
pub(crate) fn write_values(
    enc: &mut Encoder<'_>,
    len: usize,
    mode: &mut Mode,
    message: Message,
    record: impl Fn(&mut dyn Visit),
) {
    if mode.by_field {
        for index in 0..len {
            let mut one = OneField {
                enc: &mut *enc,
                index,
                done: false,
                message,
                message_differs: false,
            };
            record(&mut one);
            mode.message_differs |= one.message_differs;
            if !one.done {
                enc.value_empty();
            }
        }
        return;
    }
    let mut visitor = InOrder {
        enc: &mut *enc,
        next: 0,
        len,
        message,
        message_differs: false,
    };
    record(&mut visitor);
    mode.message_differs |= visitor.message_differs;
    if visitor.next == DISORDERED {
        mode.by_field = true;
        enc.value_bytes(&SPOILER);
        return;
    }
    for _ in visitor.next..len {
        enc.value_empty();
    }
}

/// [`InOrder::next`] once a value came out of field order: no field index reaches it, so
/// every later value is out of order too.
const DISORDERED: usize = usize::MAX;

/// Writes each value as it is visited, empty values for the fields skipped before it.
struct InOrder<'e, 'b> {
    enc: &'e mut Encoder<'b>,
    /// The index of the next field to write, or [`DISORDERED`].
    next: usize,
    len: usize,
    message: Message,
    message_differs: bool,
}

impl InOrder<'_, '_> {
    /// Whether `field` is the next to write; writes the empty values before it.
    #[inline(always)]
    fn take(&mut self, field: &Field) -> bool {
        let index = field.index();
        if index < self.next || index >= self.len {
            self.next = DISORDERED;
            return false;
        }
        while self.next < index {
            self.enc.value_empty();
            self.next += 1;
        }
        self.next = index + 1;
        true
    }
}

/// Writes the value of one field, the first time it is visited.
struct OneField<'e, 'b> {
    enc: &'e mut Encoder<'b>,
    index: usize,
    done: bool,
    message: Message,
    message_differs: bool,
}

impl OneField<'_, '_> {
    #[inline(always)]
    fn take(&mut self, field: &Field) -> bool {
        if self.done || field.index() != self.index {
            return false;
        }
        self.done = true;
        true
    }
}

macro_rules! visit_impl {
    ($t:ident) => {
        impl Visit for $t<'_, '_> {
            #[inline]
            fn record_u64(&mut self, field: &Field, value: u64) {
                if self.take(field) {
                    self.enc.value_u64(value);
                }
            }

            #[inline]
            fn record_i64(&mut self, field: &Field, value: i64) {
                if self.take(field) {
                    self.enc.value_i64(value);
                }
            }

            #[inline]
            fn record_u128(&mut self, field: &Field, value: u128) {
                if self.take(field) {
                    self.enc.value_u128(value);
                }
            }

            #[inline]
            fn record_i128(&mut self, field: &Field, value: i128) {
                if self.take(field) {
                    self.enc.value_i128(value);
                }
            }

            #[inline]
            fn record_f64(&mut self, field: &Field, value: f64) {
                if self.take(field) {
                    self.enc.value_f64(value);
                }
            }

            #[inline]
            fn record_bool(&mut self, field: &Field, value: bool) {
                if self.take(field) {
                    self.enc.value_bool(value);
                }
            }

            #[inline]
            fn record_str(&mut self, field: &Field, value: &str) {
                if self.take(field) {
                    self.enc.value_str(value);
                }
            }

            #[inline]
            fn record_bytes(&mut self, field: &Field, value: &[u8]) {
                if self.take(field) {
                    self.enc.value_bytes(value);
                }
            }

            fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
                if self.take(field) {
                    self.enc.value_error(value);
                }
            }

            #[inline]
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                if self.take(field) {
                    if field.name() == "message" {
                        self.message_differs |= !message(self.enc, value, self.message);
                    } else {
                        self.enc.value_debug(format_args!("{value:?}"));
                    }
                }
            }
        }
    };
}

visit_impl!(InOrder);
visit_impl!(OneField);

/// The `message` field. tracing hands it over as `&dyn Debug` (a `fmt::Arguments`), so the
/// literal of `info!("done")` cannot be told from formatted text without formatting it: one
/// pass, straight into the claim. A callsite whose literal was interned gets the reference to
/// it when the message comes out as one piece with the literal's text (at the literal's
/// address, or at another copy's), which is not copied; anything else is the text: a
/// string when it came out in one piece (a literal, or a lone string argument), formatted
/// text when assembled from several. Returns `false` when there was an interned message and
/// this was not it.
#[inline(always)]
fn message(enc: &mut Encoder<'_>, value: &dyn fmt::Debug, interned: Message) -> bool {
    match interned {
        Some(literal) => enc.value_message_or_interned(
            format_args!("{value:?}"),
            move |s| literal.is(s),
            literal.id,
        ),
        None => {
            enc.value_message(format_args!("{value:?}"));
            true
        }
    }
}

/// Passes only the `message` on to the visitor it wraps: the values of a `log` record bridged
/// by tracing-log, whose other fields (`log.target`, `log.module_path`, `log.file`,
/// `log.line`) are its callsite's, recorded with the callsite instead.
pub(crate) struct MessageOnly<'v>(pub(crate) &'v mut dyn Visit);

impl Visit for MessageOnly<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.record_str(field, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0.record_debug(field, value);
        }
    }
}
