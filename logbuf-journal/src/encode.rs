//! The hot-path encoder: writes records in the [wire format](crate::wire) straight into a byte
//! slice (a ring claim), with no allocation and no intermediate values.
//!
//! It emits exactly the bytes postcard emits for the [`wire`](crate::wire) types; the tests in
//! `tests/encoder.rs` check that for random records of every kind and value.
//!
//! The slice is an upper bound claimed in advance. Writing past its end is not an error at the
//! point it happens: the encoder stops writing, remembers, and [`Encoder::finish`] reports
//! [`Overflow`], so the caller can fall back to a larger claim.
//!
//! ```
//! use logbuf_journal::encode::Encoder;
//! use logbuf_journal::wire::{Record, Value};
//!
//! let mut buf = [0u8; 64];
//! let mut enc = Encoder::new(&mut buf);
//! enc.event(7, 1_000, 1, Some(2), 2);
//! enc.value_str("hello");
//! enc.value_u64(42);
//! let len = enc.finish().unwrap();
//!
//! let Record::Event(event) = postcard::from_bytes(&buf[..len]).unwrap() else { panic!() };
//! assert_eq!((event.callsite, event.parent), (7, Some(2)));
//! assert_eq!(event.values, [Value::Str("hello"), Value::U64(42)]);
//! ```

use std::fmt;

/// The slice given to an [`Encoder`] was too small for what was written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    /// Bytes the record needed, where known: formatted text is not measured past the end.
    pub needed: usize,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record needs at least {} bytes", self.needed)
    }
}

impl std::error::Error for Overflow {}

/// Record kinds, as [`Record`](crate::wire::Record)'s variant indices.
mod kind {
    pub(super) const EVENT: u8 = 1;
    pub(super) const SPAN_NEW: u8 = 2;
    pub(super) const SPAN_RECORD: u8 = 3;
    pub(super) const SPAN_ENTER: u8 = 4;
    pub(super) const SPAN_EXIT: u8 = 5;
    pub(super) const SPAN_CLOSE: u8 = 6;
    pub(super) const FOLLOWS_FROM: u8 = 7;
    pub(super) const SPAN_CLOSE_TIMES: u8 = 12;
}

/// Value kinds, as [`Value`](crate::wire::Value)'s variant indices.
mod value {
    pub(super) const EMPTY: u8 = 0;
    pub(super) const U64: u8 = 1;
    pub(super) const I64: u8 = 2;
    pub(super) const U128: u8 = 3;
    pub(super) const I128: u8 = 4;
    pub(super) const F64: u8 = 5;
    pub(super) const BOOL: u8 = 6;
    pub(super) const STR: u8 = 7;
    pub(super) const BYTES: u8 = 8;
    pub(super) const DEBUG: u8 = 9;
    pub(super) const ERROR: u8 = 10;
    pub(super) const INTERNED: u8 = 11;
}

/// Bytes reserved for the length of text formatted in place: up to 2^21 - 1 bytes of text.
const FORMATTED_LEN_BYTES: usize = 3;

/// Writes one record into a byte slice. See the [module docs](self).
///
/// The caller writes a record header ([`Encoder::event`], [`Encoder::span_new`],
/// [`Encoder::span_record`]) with the number of values, then exactly that many values.
#[derive(Debug)]
pub struct Encoder<'b> {
    buf: &'b mut [u8],
    /// Bytes of the record so far: past the end of `buf` once something did not fit, then
    /// what the record needed (writes stop at the first that does not fit, and count on).
    /// Checking for room is then one comparison, which also fails after an overflow.
    len: usize,
}

impl<'b> Encoder<'b> {
    /// An encoder writing from the start of `buf`.
    #[inline]
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Bytes written so far, or [`Overflow`] if the slice was too small.
    #[inline]
    pub fn finish(self) -> Result<usize, Overflow> {
        if self.len <= self.buf.len() {
            Ok(self.len)
        } else {
            Err(Overflow { needed: self.len })
        }
    }

    // === primitives ===

    /// Whether everything so far fitted.
    #[inline(always)]
    fn fits(&self) -> bool {
        self.len <= self.buf.len()
    }

    /// Counts `n` bytes that did not fit: the length goes past the end of the slice.
    #[cold]
    fn overflow(&mut self, n: usize) {
        self.len = self.len.saturating_add(n).max(self.buf.len() + 1);
    }

    #[inline(always)]
    fn raw(&mut self, bytes: &[u8]) {
        // Past the end after an overflow: `get_mut` fails, and the length stays past it.
        if let Some(dst) = self.buf.get_mut(self.len..)
            && put(dst, bytes)
        {
            self.len += bytes.len();
            return;
        }
        self.overflow(bytes.len());
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(dst) => {
                *dst = b;
                self.len += 1;
            }
            None => self.overflow(1),
        }
    }

    /// The next `N` bytes, if everything so far fitted and they are all there.
    #[inline(always)]
    fn room<const N: usize>(&mut self) -> Option<&mut [u8; N]> {
        // One addition and one comparison: the range's start is known not past its end.
        let end = self.len.checked_add(N)?;
        self.buf.get_mut(self.len..end)?.first_chunk_mut::<N>()
    }

    /// A varint: 7 bits a byte, least significant first, high bit set on all but the last.
    #[inline(always)]
    fn varint(&mut self, v: u64) {
        // With room for the longest varint, write the bytes in place: no staging copy (which
        // compiles to a `memcpy` call for its variable length).
        if let Some(dst) = self.room::<10>() {
            self.len += varint_at(dst, 0, v);
            return;
        }
        self.varint_near_end(v);
    }

    /// [`Encoder::varint`] within 10 bytes of the end of the slice.
    #[inline(never)]
    fn varint_near_end(&mut self, v: u64) {
        let mut tmp = [0u8; 10];
        let n = varint_at(&mut tmp, 0, v);
        self.raw(&tmp[..n]);
    }

    #[inline]
    fn varint128(&mut self, mut v: u128) {
        let mut tmp = [0u8; 19];
        let mut n = 0;
        while v >= 0x80 {
            tmp[n] = v as u8 | 0x80;
            v >>= 7;
            n += 1;
        }
        tmp[n] = v as u8;
        self.raw(&tmp[..=n]);
    }

    #[inline(always)]
    fn option(&mut self, v: Option<u64>) {
        match v {
            None => self.byte(0),
            Some(v) => {
                self.byte(1);
                self.varint(v);
            }
        }
    }

    /// A tag byte and a varint, with one check and one update of the length when there is
    /// room for the longest.
    #[inline(always)]
    fn tagged_varint(&mut self, tag: u8, v: u64) {
        if let Some(dst) = self.room::<11>() {
            dst[0] = tag;
            self.len += varint_at(dst, 1, v);
            return;
        }
        self.tagged_varint_near_end(tag, v);
    }

    #[inline(never)]
    fn tagged_varint_near_end(&mut self, tag: u8, v: u64) {
        self.byte(tag);
        self.varint(v);
    }

    /// A tag byte and length-prefixed bytes; up to 16 bytes are written with one check and
    /// one update of the length.
    #[inline(always)]
    fn tagged_bytes(&mut self, tag: u8, bytes: &[u8]) {
        let n = bytes.len();
        if n <= 16
            && let Some(dst) = self.room::<18>()
        {
            dst[0] = tag;
            dst[1] = n as u8;
            put(&mut dst[2..], bytes);
            self.len += 2 + n;
            return;
        }
        self.tagged_bytes_long(tag, bytes);
    }

    #[inline(never)]
    fn tagged_bytes_long(&mut self, tag: u8, bytes: &[u8]) {
        self.byte(tag);
        self.len_prefixed(bytes);
    }

    #[inline]
    fn len_prefixed(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        self.raw(bytes);
    }

    /// Formats `args` in place behind a length prefix of [`FORMATTED_LEN_BYTES`], then closes
    /// the gap if the length needs fewer. Near the end of the slice (or for text too long for
    /// the reserved prefix) it measures the text first and formats it again.
    ///
    /// Returns the number of non-empty pieces the text was written in.
    fn formatted(&mut self, args: fmt::Arguments<'_>) -> usize {
        // A literal with no arguments needs no formatting machinery.
        if let Some(s) = args.as_str() {
            self.len_prefixed(s.as_bytes());
            return 1;
        }
        let start = self.len;
        let text_at = start + FORMATTED_LEN_BYTES;
        if text_at <= self.buf.len() {
            let mut w = SliceWriter {
                buf: &mut self.buf[text_at..],
                len: 0,
                overflow: 0,
                pieces: 0,
            };
            let _ = fmt::write(&mut w, args);
            let (text, pieces) = (w.len, w.pieces);
            if w.overflow == 0 && text < 1 << (7 * FORMATTED_LEN_BYTES) {
                self.close_gap(text_at, text);
                return pieces;
            }
        }
        self.formatted_slow(args)
    }

    #[cold]
    fn formatted_slow(&mut self, args: fmt::Arguments<'_>) -> usize {
        let mut counter = Counter(0, 0);
        let _ = fmt::write(&mut counter, args);
        let (text, pieces) = (counter.0, counter.1);
        let prefix = varint_len(text as u64);
        if !self.fits() || self.len + prefix + text > self.buf.len() {
            self.overflow(prefix + text);
            return pieces;
        }
        self.varint(text as u64);
        let mut w = SliceWriter {
            buf: &mut self.buf[self.len..],
            len: 0,
            overflow: 0,
            pieces: 0,
        };
        let _ = fmt::write(&mut w, args);
        // The same arguments format to the same text; guard against a `Display` that does not.
        if w.len != text || w.overflow != 0 {
            let over = w.overflow.max(1);
            self.overflow(over);
            return pieces;
        }
        self.len += text;
        pieces
    }

    // === record headers ===

    /// Starts an event record with `values` values to follow.
    #[inline]
    pub fn event(
        &mut self,
        callsite: u64,
        time: u64,
        thread: u64,
        parent: Option<u64>,
        values: usize,
    ) {
        // With room for the longest header, write it with one check and one update of the
        // length: the fields' positions are computed in registers, not through `self.len`.
        const MAX: usize = 1 + 10 + 10 + 10 + 11 + 10;
        if let Some(dst) = self.room::<MAX>() {
            dst[0] = kind::EVENT;
            let mut n = varint_at(dst, 1, callsite);
            n = varint_at(dst, n, time);
            n = varint_at(dst, n, thread);
            n = match parent {
                None => {
                    dst[n] = 0;
                    n + 1
                }
                Some(parent) => {
                    dst[n] = 1;
                    varint_at(dst, n + 1, parent)
                }
            };
            n = varint_at(dst, n, values as u64);
            self.len += n;
            return;
        }
        self.event_near_end(callsite, time, thread, parent, values);
    }

    /// [`Encoder::event`] with less room left than the longest header.
    #[inline(never)]
    fn event_near_end(
        &mut self,
        callsite: u64,
        time: u64,
        thread: u64,
        parent: Option<u64>,
        values: usize,
    ) {
        self.byte(kind::EVENT);
        self.varint(callsite);
        self.varint(time);
        self.varint(thread);
        self.option(parent);
        self.varint(values as u64);
    }

    /// Starts a span-creation record with `values` values to follow.
    #[inline]
    #[allow(clippy::too_many_arguments)] // One per field of the record, in wire order.
    pub fn span_new(
        &mut self,
        id: u64,
        parent: Option<u64>,
        callsite: u64,
        time: u64,
        thread: u64,
        values: usize,
    ) {
        self.byte(kind::SPAN_NEW);
        self.varint(id);
        self.option(parent);
        self.varint(callsite);
        self.varint(time);
        self.varint(thread);
        self.varint(values as u64);
    }

    /// Starts a span-record record with `values` values to follow.
    #[inline]
    pub fn span_record(&mut self, id: u64, values: usize) {
        self.byte(kind::SPAN_RECORD);
        self.varint(id);
        self.varint(values as u64);
    }

    /// A whole span-enter record: thread `thread` entered span `id` at `time`.
    #[inline]
    pub fn span_enter(&mut self, id: u64, time: u64, thread: u64) {
        self.byte(kind::SPAN_ENTER);
        self.transition(id, time, thread);
    }

    /// A whole span-exit record: thread `thread` left span `id` at `time`.
    #[inline]
    pub fn span_exit(&mut self, id: u64, time: u64, thread: u64) {
        self.byte(kind::SPAN_EXIT);
        self.transition(id, time, thread);
    }

    #[inline(always)]
    fn transition(&mut self, id: u64, time: u64, thread: u64) {
        self.varint(id);
        self.varint(time);
        self.varint(thread);
    }

    /// A whole span-close record: span `id` closed at `time`.
    #[inline]
    pub fn span_close(&mut self, id: u64, time: u64) {
        self.byte(kind::SPAN_CLOSE);
        self.varint(id);
        self.varint(time);
    }

    /// A whole span-close record with the span's times (format 2.1): span `id` closed at
    /// `time`, after `busy` ticks entered and `idle` ticks not.
    #[inline]
    pub fn span_close_times(&mut self, id: u64, time: u64, busy: u64, idle: u64) {
        self.byte(kind::SPAN_CLOSE_TIMES);
        self.varint(id);
        self.varint(time);
        self.varint(busy);
        self.varint(idle);
    }

    /// A whole follows-from record: span `span` follows from span `follows`.
    #[inline]
    pub fn follows_from(&mut self, span: u64, follows: u64) {
        self.byte(kind::FOLLOWS_FROM);
        self.varint(span);
        self.varint(follows);
    }

    // === values ===

    /// A field that was not recorded.
    #[inline]
    pub fn value_empty(&mut self) {
        self.byte(value::EMPTY);
    }

    /// A `u64` value.
    #[inline]
    pub fn value_u64(&mut self, v: u64) {
        self.tagged_varint(value::U64, v);
    }

    /// An `i64` value.
    #[inline]
    pub fn value_i64(&mut self, v: i64) {
        self.tagged_varint(value::I64, ((v << 1) ^ (v >> 63)) as u64);
    }

    /// A `u128` value.
    #[inline]
    pub fn value_u128(&mut self, v: u128) {
        self.byte(value::U128);
        self.varint128(v);
    }

    /// An `i128` value.
    #[inline]
    pub fn value_i128(&mut self, v: i128) {
        self.byte(value::I128);
        self.varint128(((v << 1) ^ (v >> 127)) as u128);
    }

    /// An `f64` value.
    #[inline]
    pub fn value_f64(&mut self, v: f64) {
        if let Some(dst) = self.room::<9>() {
            dst[0] = value::F64;
            dst[1..].copy_from_slice(&v.to_le_bytes());
            self.len += 9;
            return;
        }
        self.byte(value::F64);
        self.raw(&v.to_le_bytes());
    }

    /// A `bool` value.
    #[inline]
    pub fn value_bool(&mut self, v: bool) {
        self.byte(value::BOOL);
        self.byte(u8::from(v));
    }

    /// A string value.
    #[inline]
    pub fn value_str(&mut self, v: &str) {
        self.tagged_bytes(value::STR, v.as_bytes());
    }

    /// A byte-string value.
    #[inline]
    pub fn value_bytes(&mut self, v: &[u8]) {
        self.tagged_bytes(value::BYTES, v);
    }

    /// Text formatted now, in place (`Debug` values, formatted messages).
    #[inline]
    pub fn value_debug(&mut self, args: fmt::Arguments<'_>) {
        self.byte(value::DEBUG);
        self.formatted(args);
    }

    /// A message formatted now, in place: a string value when the text came out in one piece
    /// (a literal, or a lone string argument), formatted text otherwise. For front ends that
    /// receive messages as `Debug` values (tracing) and want literals kept as strings.
    #[inline]
    pub fn value_message(&mut self, args: fmt::Arguments<'_>) {
        let kind_at = self.len;
        self.byte(value::STR);
        if self.formatted(args) > 1
            && self.fits()
            && let Some(kind) = self.buf.get_mut(kind_at)
        {
            *kind = value::DEBUG;
        }
    }

    /// A message like [`Encoder::value_message`], stored as a reference to the interned string
    /// `id` when the text came out in one piece equal to `text` (the string the front end
    /// interned for this callsite with [`Journal::intern`](crate::Journal::intern)). Returns
    /// whether it did.
    ///
    /// The text is compared as it is formatted; when it differs, it is formatted a second
    /// time, into the record. A front end that sees a callsite's messages differ (a message
    /// made of an argument) should stop calling this for it.
    ///
    /// ```
    /// use logbuf_journal::encode::Encoder;
    /// use logbuf_journal::wire::{Record, Value};
    ///
    /// let mut buf = [0u8; 64];
    /// let mut enc = Encoder::new(&mut buf);
    /// enc.event(7, 1_000, 1, None, 2);
    /// enc.value_message_interned(format_args!("{:?}", format_args!("done")), "done", 3);
    /// enc.value_message_interned(format_args!("{:?}", format_args!("other")), "done", 3);
    /// let len = enc.finish().unwrap();
    /// let Record::Event(event) = postcard::from_bytes(&buf[..len]).unwrap() else { panic!() };
    /// assert_eq!(event.values, [Value::Interned(3), Value::Str("other")]);
    /// ```
    #[inline]
    pub fn value_message_interned(
        &mut self,
        args: fmt::Arguments<'_>,
        text: &str,
        id: u64,
    ) -> bool {
        // Compared as it is formatted, not written: a match (the usual case, a literal)
        // writes two or three bytes; anything else is formatted again, into the record.
        let mut matcher = Matcher {
            rest: text.as_bytes(),
            pieces: 0,
            same: true,
        };
        let _ = fmt::write(&mut matcher, args);
        if matcher.same && matcher.rest.is_empty() && matcher.pieces <= 1 {
            self.value_interned(id);
            true
        } else {
            self.value_message(args);
            false
        }
    }

    /// A message like [`Encoder::value_message`], stored as a reference to the interned string
    /// `id` when the text comes out in one piece that `is_literal` accepts (a front end that
    /// interned a callsite's literal recognises it, for instance, by its address). Returns
    /// whether it did.
    ///
    /// One formatting pass whichever way it goes: a piece `is_literal` accepts is not copied,
    /// anything else is formatted straight into the record. Only text that starts with the
    /// literal and goes on is formatted a second time.
    ///
    /// ```
    /// use logbuf_journal::encode::Encoder;
    /// use logbuf_journal::wire::{Record, Value};
    ///
    /// let mut buf = [0u8; 64];
    /// let mut enc = Encoder::new(&mut buf);
    /// enc.event(7, 1_000, 1, None, 2);
    /// let literal = |s: &str| s == "done";
    /// let name = "other";
    /// assert!(enc.value_message_or_interned(format_args!("done"), literal, 3));
    /// assert!(!enc.value_message_or_interned(format_args!("{name}"), literal, 3));
    /// let len = enc.finish().unwrap();
    /// let Record::Event(event) = postcard::from_bytes(&buf[..len]).unwrap() else { panic!() };
    /// assert_eq!(event.values, [Value::Interned(3), Value::Str("other")]);
    /// ```
    #[inline(always)]
    pub fn value_message_or_interned(
        &mut self,
        args: fmt::Arguments<'_>,
        is_literal: impl Fn(&str) -> bool,
        id: u64,
    ) -> bool {
        let start = self.len;
        // The kind byte, then the text behind a reserved length prefix; without room for
        // them, the literal is still recognised and the text measured.
        let text_at = start + 1 + FORMATTED_LEN_BYTES;
        let in_place = text_at <= self.buf.len();
        let room: &mut [u8] = if in_place {
            &mut self.buf[text_at..]
        } else {
            &mut []
        };
        let mut w = LiteralWriter {
            out: SliceWriter {
                buf: room,
                len: 0,
                overflow: 0,
                pieces: 0,
            },
            literal: false,
            is_literal,
        };
        let done = fmt::write(&mut w, args).is_ok();
        if w.literal {
            if done && w.out.pieces == 0 {
                self.value_interned(id);
                return true;
            }
        } else if in_place && w.out.overflow == 0 {
            let (text, pieces) = (w.out.len, w.out.pieces);
            if text < 1 << (7 * FORMATTED_LEN_BYTES) {
                self.buf[start] = if pieces > 1 { value::DEBUG } else { value::STR };
                self.len = start + 1;
                self.close_gap(text_at, text);
                return false;
            }
        }
        self.value_message(args);
        false
    }

    /// Writes the length of the `text` bytes formatted at `text_at` (past the current length)
    /// and moves them back to just after it: the length in exactly its own bytes (a varint
    /// written in place may store past its end).
    #[inline]
    fn close_gap(&mut self, text_at: usize, text: usize) {
        let start = self.len;
        let mut len = [0u8; 10];
        let prefix = varint_bytewise(&mut len, 0, text as u64);
        self.buf
            .copy_within(text_at..text_at + text, start + prefix);
        self.buf[start..start + prefix].copy_from_slice(&len[..prefix]);
        self.len = start + prefix + text;
    }

    /// A reference to the string `id`, interned with [`Journal::intern`](crate::Journal::intern):
    /// for a message that is the same literal every time.
    #[inline]
    pub fn value_interned(&mut self, id: u64) {
        self.tagged_varint(value::INTERNED, id);
    }

    /// An error: its `Display`, then the `Display` of each source, outermost first.
    pub fn value_error(&mut self, err: &(dyn std::error::Error + 'static)) {
        self.byte(value::ERROR);
        self.formatted(format_args!("{err}"));
        let sources = std::iter::successors(err.source(), |e| e.source());
        self.varint(sources.clone().count() as u64);
        for source in sources {
            self.formatted(format_args!("{source}"));
        }
    }
}

/// Copies `src` to the start of `dst`; `false` (copying nothing) if it does not fit. Short
/// strings (names, paths, ids) go without a `memcpy` call: two overlapping 8-byte or 4-byte
/// copies, or a byte loop.
#[inline(always)]
fn put(dst: &mut [u8], src: &[u8]) -> bool {
    let n = src.len();
    if n <= 16
        && let Some(room) = dst.first_chunk_mut::<16>()
    {
        if let (Some(head), Some(tail)) = (src.first_chunk::<8>(), src.last_chunk::<8>()) {
            room[..8].copy_from_slice(head);
            room[n - 8..n].copy_from_slice(tail);
        } else if let (Some(head), Some(tail)) = (src.first_chunk::<4>(), src.last_chunk::<4>()) {
            room[..4].copy_from_slice(head);
            room[n - 4..n].copy_from_slice(tail);
        } else {
            for (d, s) in room.iter_mut().zip(src) {
                *d = *s;
            }
        }
        return true;
    }
    match dst.get_mut(..n) {
        Some(dst) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
}

/// Bytes of the varint encoding of `v`.
#[inline]
pub fn varint_len(v: u64) -> usize {
    significant_bits(v).div_ceil(7)
}

/// Bits of `v` up to its highest set bit; 1 for 0 (which takes a byte too).
#[inline(always)]
fn significant_bits(v: u64) -> usize {
    64 - (v | 1).leading_zeros() as usize
}

/// Varint bytes by [`significant_bits`].
const VARINT_LEN: [u8; 65] = {
    let mut t = [0u8; 65];
    let mut bits = 0;
    while bits <= 64 {
        t[bits] = bits.div_ceil(7) as u8;
        bits += 1;
    }
    t
};

/// For a varint of 2 to 8 bytes made by [`spread7`], by its length: the high bit on every
/// byte but the last.
const MORE: [u64; 9] = {
    let mut t = [0u64; 9];
    let mut len = 2;
    while len <= 8 {
        t[len] = 0x8080_8080_8080_8080u64 & ((1u64 << (8 * (len - 1))) - 1);
        len += 1;
    }
    t
};

/// Writes `v` as a varint at `dst[n..]` and returns the position after it.
///
/// Timestamps and span ids take 6 to 8 bytes: below 2^56 (8 bytes) the bytes are made in a
/// register and stored at once, without a branch per byte. The zero bytes stored past the
/// varint (up to 8 in all) lie in room the caller has for the longest varint, and later
/// fields overwrite them.
#[inline(always)]
fn varint_at<const N: usize>(dst: &mut [u8; N], n: usize, v: u64) -> usize {
    if v < 0x80 {
        if let Some(b) = dst.get_mut(n) {
            *b = v as u8;
            return n + 1;
        }
    } else if v < 1 << 56
        && let Some(out) = dst.get_mut(n..).and_then(|d| d.first_chunk_mut::<8>())
    {
        // Two table lookups rather than a division by 7 and a shift by the length.
        let len = usize::from(VARINT_LEN[significant_bits(v)]);
        *out = (spread7(v) | MORE[len]).to_le_bytes();
        return n + len;
    }
    varint_bytewise(dst, n, v)
}

/// [`varint_at`] a byte at a time, for any value.
#[inline(never)]
fn varint_bytewise<const N: usize>(dst: &mut [u8; N], mut n: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        dst[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    dst[n] = v as u8;
    n + 1
}

/// The low 56 bits of `v` in 7-bit groups, one group in the low bits of each byte (least
/// significant group in the lowest byte): halves of 28 bits into 32-bit lanes, then of 14
/// into 16, then of 7 into 8.
#[inline(always)]
fn spread7(v: u64) -> u64 {
    let x = (v & 0x0FFF_FFFF) | ((v & 0x00FF_FFFF_F000_0000) << 4);
    let x = (x & 0x0000_3FFF_0000_3FFF) | ((x & 0x0FFF_C000_0FFF_C000) << 2);
    (x & 0x007F_007F_007F_007F) | ((x & 0x3F80_3F80_3F80_3F80) << 1)
}

/// Formats into a slice; counts what did not fit.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: usize,
    /// Non-empty pieces written.
    pieces: usize,
}

impl fmt::Write for SliceWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.pieces += usize::from(!s.is_empty());
        if self.overflow == 0
            && let Some(dst) = self.buf.get_mut(self.len..)
            && put(dst, s.as_bytes())
        {
            self.len += s.len();
        } else {
            self.overflow += s.len();
        }
        Ok(())
    }
}

/// Formats into a slice, except a first piece that `is_literal` accepts: that one is only
/// noted (`literal`), and any piece after it fails the formatting.
struct LiteralWriter<'a, F> {
    /// Where the text goes; its `pieces` counts those after a literal as well.
    out: SliceWriter<'a>,
    literal: bool,
    is_literal: F,
}

impl<F: Fn(&str) -> bool> fmt::Write for LiteralWriter<'_, F> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.is_empty() {
            return Ok(());
        }
        if self.literal {
            // The literal, then more: the text is not the literal, and its first piece was
            // not copied.
            return Err(fmt::Error);
        }
        if self.out.pieces == 0 && (self.is_literal)(s) {
            self.literal = true;
            return Ok(());
        }
        self.out.write_str(s)
    }
}

/// Compares formatted text with an expected text, piece by piece, without storing it.
struct Matcher<'t> {
    /// What is still expected.
    rest: &'t [u8],
    /// Non-empty pieces seen.
    pieces: usize,
    /// Every piece so far was what was expected.
    same: bool,
}

impl fmt::Write for Matcher<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.pieces += usize::from(!s.is_empty());
        match self.rest.split_at_checked(s.len()) {
            Some((head, rest)) if self.same && same_bytes(head, s.as_bytes()) => self.rest = rest,
            _ => self.same = false,
        }
        Ok(())
    }
}

/// `a == b` for slices of the same length, without a `memcmp` call up to 16 bytes (a message
/// compared with its interned text is usually that short).
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(s: &[u8], last: bool) -> Option<&[u8; N]> {
        if last {
            s.last_chunk()
        } else {
            s.first_chunk()
        }
    }
    match a.len() {
        8..=16 => {
            word::<8>(a, false) == word::<8>(b, false) && word::<8>(a, true) == word::<8>(b, true)
        }
        4..=7 => {
            word::<4>(a, false) == word::<4>(b, false) && word::<4>(a, true) == word::<4>(b, true)
        }
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y) && a.len() == b.len(),
        _ => a == b,
    }
}

/// Counts formatted bytes and non-empty pieces.
struct Counter(usize, usize);

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        self.1 += usize::from(!s.is_empty());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The varint of `v`, a byte at a time, as FORMAT.md defines it.
    fn reference(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    /// Values on both sides of every length boundary, and a spread of others.
    fn samples() -> Vec<u64> {
        let mut values = vec![0, 1, u64::MAX, 0x0123_4567_89AB_CDEF, 0x00FF_00FF_00FF_00FF];
        for bits in 1..64 {
            let p = 1u64 << bits;
            values.extend([
                p - 1,
                p,
                p + 1,
                p | (p >> 1),
                p.wrapping_mul(0x9E37_79B9) | p,
            ]);
        }
        values
    }

    #[test]
    fn varints_are_the_bytes_of_the_format_at_every_length() {
        for v in samples() {
            let want = reference(v);
            assert_eq!(want.len(), varint_len(v), "{v:#x}");
            // At the start of room for the longest, and where fewer than 8 bytes remain
            // (the byte-at-a-time path).
            let mut dst = [0xAAu8; 20];
            let end = varint_at(&mut dst, 3, v);
            assert_eq!(&dst[3..end], &want[..], "{v:#x}");
            let mut tight = [0xAAu8; 10];
            let at = 10 - want.len();
            assert_eq!(varint_at(&mut tight, at, v), 10, "{v:#x}");
            assert_eq!(&tight[at..], &want[..], "{v:#x}");
            assert!(
                tight[..at].iter().all(|&b| b == 0xAA),
                "{v:#x}: wrote before"
            );
        }
    }

    #[test]
    fn an_event_header_reads_back_at_every_length() {
        for v in samples() {
            let mut buf = [0u8; 128];
            let mut enc = Encoder::new(&mut buf);
            enc.event(v, v, v, Some(v), 0);
            let len = enc.finish().unwrap();
            let mut want = vec![kind::EVENT];
            for part in [
                reference(v),
                reference(v),
                reference(v),
                vec![1],
                reference(v),
            ] {
                want.extend(part);
            }
            want.push(0);
            assert_eq!(&buf[..len], &want[..], "{v:#x}");
        }
    }
}
