//! The layer and its builder.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use logbuf_journal::recorder::FlightRecorder;
use logbuf_journal::{FullPolicy, Guard, Journal, Sink, Written};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::Error;
use crate::callsites::Callsites;
use crate::entered;
use crate::timing;
use crate::values::{FIRST_CLAIM, MessageOnly, Mode, write_values};

// === impl LogbufLayer ===

/// A [`Layer`] that encodes events and span transitions into the logbuf journal. See the
/// [crate docs](crate).
pub struct LogbufLayer {
    journal: Journal,
    callsites: Callsites,
    enter_exit: bool,
    span_times: bool,
    /// Some span's creation record was dropped (its ring was full): from then on, a span is
    /// looked up before an event or a child refers to it (see [`LogbufLayer::recorded`]).
    unrecorded_spans: AtomicBool,
    /// This layer's number in the threads' stacks of entered spans.
    id: u64,
}

impl fmt::Debug for LogbufLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogbufLayer")
            .field("journal", &self.journal)
            .field("record_enter_exit", &self.enter_exit)
            .field("span_times", &self.span_times)
            .finish_non_exhaustive()
    }
}

impl LogbufLayer {
    /// Settings with their defaults: no sink yet, 1 MiB rings, [`FullPolicy::Drop`], span
    /// enter and exit not recorded, spans' busy and idle time not kept.
    pub fn builder() -> Builder {
        Builder {
            journal: Journal::builder(),
            enter_exit: false,
            span_times: false,
            error: None,
        }
    }

    /// A layer writing into a journal built elsewhere, for instance one the `log` back end
    /// writes into as well. Enter and exit are not recorded and spans' busy and idle time are
    /// not kept; see [`LogbufLayer::record_enter_exit`] and [`LogbufLayer::span_times`].
    pub fn from_journal(journal: Journal) -> Self {
        Self {
            journal,
            callsites: Callsites::new(),
            enter_exit: false,
            span_times: false,
            unrecorded_spans: AtomicBool::new(false),
            id: entered::next_layer(),
        }
    }

    /// Whether every span enter and exit is recorded, with its time and thread: for a
    /// timeline of each poll (`logbuf export --chrome` shows each enter-exit as a slice).
    /// Default `false`.
    ///
    /// Spans are created, recorded, closed and give events their context either way. Enter
    /// and exit records are most of a traced async service's records: tokio enters and exits
    /// a task's span on every poll, about 22 enter and exit records for a request that logs
    /// 4 events, which makes the file larger than `fmt`'s text of the same events.
    #[must_use]
    pub fn record_enter_exit(mut self, on: bool) -> Self {
        self.enter_exit = on;
        self
    }

    /// Whether each span's close record carries its busy time (entered on some thread) and
    /// idle time (the rest of its life), as `fmt` prints them with `FmtSpan::CLOSE`.
    /// Default `false`: the close record carries the close's time, so a span's duration
    /// (creation to close) is known either way.
    ///
    /// The times follow a span across threads, so they are kept with the span's data in the
    /// registry: every enter and exit then looks the span up and takes its lock, about 250
    /// instructions each. tokio enters and exits a task's span on every poll, 22 times for
    /// the `request_cost` bench's request, which made the times a fifth of the layer's cost
    /// per request (BENCHMARKS.md); `fmt` does not keep them by default either.
    #[must_use]
    pub fn span_times(mut self, on: bool) -> Self {
        self.span_times = on;
        self
    }

    /// The journal this layer writes into: for [`Journal::flush`], [`Journal::stats`], or to
    /// hand to another front end.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    #[inline]
    fn callsite(&self, meta: &'static Metadata<'static>) -> u64 {
        self.callsites.site(&self.journal, meta, None).id
    }

    /// The span `id`'s id, to refer to it by; `None` if its creation record was dropped. A
    /// reader could otherwise take the id for another span, one that had it before: the
    /// registry gives a closed span's id to a new one. Until some span's creation record is
    /// dropped (its ring full), this looks nothing up.
    fn recorded<S>(&self, id: u64, ctx: &Context<'_, S>) -> Option<u64>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if !self.unrecorded_spans.load(Ordering::Relaxed) {
            return Some(id);
        }
        let span = ctx.span(&Id::from_u64(id))?;
        let unrecorded = span
            .extensions()
            .get::<Unrecorded>()
            .is_some_and(|u| u.0.contains(&self.id));
        (!unrecorded).then_some(id)
    }

    /// Marks `span` as one whose creation record was dropped.
    #[cold]
    fn unrecorded<S>(&self, span: Option<SpanRef<'_, S>>)
    where
        S: for<'a> LookupSpan<'a>,
    {
        self.unrecorded_spans.store(true, Ordering::Relaxed);
        if let Some(span) = span {
            let mut extensions = span.extensions_mut();
            match extensions.get_mut::<Unrecorded>() {
                Some(layers) => layers.0.push(self.id),
                None => extensions.insert(Unrecorded(vec![self.id])),
            }
        }
    }
}

impl LogbufLayer {
    /// The recorded span an event is in. The usual case, an event in the span its thread
    /// entered last while no span's creation record was ever dropped, reads the top of the
    /// thread's stack and nothing else.
    #[inline(always)]
    fn event_parent<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> Option<u64>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if event.is_contextual() && !self.unrecorded_spans.load(Ordering::Relaxed) {
            return entered::current(self.id);
        }
        self.event_parent_looked_up(event, ctx)
    }

    /// [`LogbufLayer::event_parent`] for an event with an explicit parent, or once some
    /// span's creation record was dropped.
    #[inline(never)]
    fn event_parent_looked_up<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> Option<u64>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let parent = if event.is_contextual() {
            entered::current(self.id)
        } else {
            ctx.event_span(event).map(|span| span.id().into_u64())
        };
        parent.and_then(|p| self.recorded(p, ctx))
    }

    /// A `log` record bridged by tracing-log: recorded under its own target, module, file
    /// and line, with its message as the only value, as `fmt` shows it.
    #[cold]
    #[inline(never)]
    fn on_log_record<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(meta) = event.normalized_metadata() else {
            return;
        };
        let id = self.callsites.bridged(&self.journal, &meta);
        let parent = self.event_parent(event, ctx);
        let mut mode = Mode::default();
        self.journal.write_event(id, FIRST_CLAIM, |enc, at| {
            enc.event(id, at.time, at.thread, parent, 1);
            write_values(enc, 1, &mut mode, None, |v| {
                event.record(&mut MessageOnly(v));
            });
        });
    }
}

/// The span extension that marks a span whose creation record these layers (by their
/// numbers) could not write: events in it and its children are written without a parent.
struct Unrecorded(Vec<u64>);

impl<S> Layer<S> for LogbufLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.callsites.register(&self.journal, meta);
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let callsite = self.callsite(meta);
        if self.span_times
            && let Some(span) = ctx.span(id)
        {
            timing::start(&mut span.extensions_mut(), self.id, self.journal.now());
        }
        // The parent as the registry has it: explicit, or the innermost span this layer saw
        // the thread enter (under a per-layer filter, the nearest one it records).
        let parent = if attrs.is_contextual() {
            entered::current(self.id)
        } else {
            let span = ctx.span(id);
            let parent = span.as_ref().and_then(|span| span.parent());
            parent.map(|p| p.id().into_u64())
        };
        let parent = parent.and_then(|p| self.recorded(p, &ctx));
        let len = meta.fields().len();
        let raw = id.into_u64();
        let mut mode = Mode::default();
        let written = self
            .journal
            .write_span_new(callsite, FIRST_CLAIM, |enc, at| {
                enc.span_new(raw, parent, callsite, at.time, at.thread, len);
                write_values(enc, len, &mut mode, None, |v| attrs.record(v));
            });
        if written == Written::Dropped {
            self.unrecorded(ctx.span(id));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(meta) = ctx.metadata(id) else {
            return;
        };
        let len = meta.fields().len();
        let id = id.into_u64();
        let mut mode = Mode::default();
        self.journal.write_span(FIRST_CLAIM, |enc, _| {
            enc.span_record(id, len);
            write_values(enc, len, &mut mode, None, |v| values.record(v));
        });
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, _ctx: Context<'_, S>) {
        let (span, follows) = (span.into_u64(), follows.into_u64());
        self.journal
            .write_span(24, |enc, _| enc.follows_from(span, follows));
    }

    #[inline]
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() == "log" && event.is_log() {
            return self.on_log_record(event, &ctx);
        }
        let site = self.callsites.site(&self.journal, meta, Some(event));
        let parent = self.event_parent(event, &ctx);
        let len = meta.fields().len();
        let mut mode = Mode::default();
        self.journal.write_event(site.id, FIRST_CLAIM, |enc, at| {
            enc.event(site.id, at.time, at.thread, parent, len);
            write_values(enc, len, &mut mode, site.message, |v| event.record(v));
        });
        if mode.message_differs {
            // A message made at run time, which the first event happened to fix: compare no
            // more on this thread.
            self.callsites.forget_message(meta);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if self.span_times
            && let Some(span) = ctx.span(id)
            && let Some(timing) = timing::of(&mut span.extensions_mut(), self.id)
        {
            // Read under the span's lock, so that the threads' readings come in order.
            timing.enter(self.journal.now());
        }
        let id = id.into_u64();
        entered::enter(self.id, id);
        if self.enter_exit {
            self.journal
                .write_span(32, |enc, at| enc.span_enter(id, at.time, at.thread));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if self.span_times
            && let Some(span) = ctx.span(id)
            && let Some(timing) = timing::of(&mut span.extensions_mut(), self.id)
        {
            timing.exit(self.journal.now());
        }
        let id = id.into_u64();
        entered::exit(self.id, id);
        if self.enter_exit {
            self.journal
                .write_span(32, |enc, at| enc.span_exit(id, at.time, at.thread));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let times = if self.span_times {
            ctx.span(&id).and_then(|span| {
                let mut extensions = span.extensions_mut();
                let timing = timing::of(&mut extensions, self.id)?;
                let now = self.journal.now();
                let (busy, idle) = timing.close(now);
                Some((now, busy, idle))
            })
        } else {
            None
        };
        let id = id.into_u64();
        match times {
            Some((now, busy, idle)) => self
                .journal
                .write_span(48, |enc, _| enc.span_close_times(id, now, busy, idle)),
            // Times not kept, or a span this layer saw no creation of (added to a running
            // subscriber).
            None => self
                .journal
                .write_span(24, |enc, at| enc.span_close(id, at.time)),
        };
    }
}

// === impl Builder ===

/// Settings for a [`LogbufLayer`] and the journal under it; [`LogbufLayer::builder`] makes
/// one, [`Builder::build`] starts the journal's worker thread.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    journal: logbuf_journal::Builder,
    enter_exit: bool,
    span_times: bool,
    /// The first sink that could not be made, reported by `build`.
    error: Option<Error>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("journal", &self.journal)
            .field("record_enter_exit", &self.enter_exit)
            .field("span_times", &self.span_times)
            .field("error", &self.error)
            .finish()
    }
}

impl Builder {
    /// Adds a binary journal file at `path` (created, or truncated if it exists), read back
    /// with [`logbuf_journal::read::Reader`] or the `logbuf` command. A file that cannot be
    /// created is reported by [`Builder::build`].
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        if self.error.is_none() {
            let journal = std::mem::replace(&mut self.journal, Journal::builder());
            match journal.file(path) {
                Ok(journal) => self.journal = journal,
                Err(source) => {
                    self.error = Some(Error::File {
                        path: PathBuf::from(path),
                        source,
                    });
                }
            }
        }
        self
    }

    /// Adds a sink. Records go to every sink, in the order they were added.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.journal = self.journal.sink(sink);
        self
    }

    /// Bytes of each logging thread's ring. Default 1 MiB: size it for the largest burst one
    /// thread logs while the worker is asleep (a few milliseconds).
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.journal = self.journal.ring_capacity(bytes);
        self
    }

    /// What to do when a thread's ring is full. Default [`FullPolicy::Drop`]: the event is
    /// dropped and counted, and the log says how many were lost.
    pub fn policy(mut self, policy: FullPolicy) -> Self {
        self.journal = self.journal.policy(policy);
        self
    }

    /// How often the worker flushes the sinks while events arrive. Default 100 ms.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.journal = self.journal.flush_interval(interval);
        self
    }

    /// How long dropping the [`Guard`] waits for everything to be written. Default 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.journal = self.journal.shutdown_timeout(timeout);
        self
    }

    /// Puts a flight recorder in the journal (see [`logbuf_journal::recorder`]): events below
    /// its level (`INFO` by default: `debug!` and `trace!`) are held in memory and written
    /// only around an error, a panic or [`Journal::dump`].
    ///
    /// The layer takes whatever the subscriber's filter lets through: for the recorder to
    /// have `debug` events to hold, the filter must let them through (`EnvFilter::new("debug")`,
    /// or `RUST_LOG=info,my_app=trace` for one crate down to `trace`).
    /// [`init_flight_recorder`](crate::init_flight_recorder) does this for you.
    pub fn flight_recorder(mut self, recorder: FlightRecorder) -> Self {
        self.journal = self.journal.flight_recorder(recorder);
        self
    }

    /// Whether every span enter and exit is recorded; see [`LogbufLayer::record_enter_exit`].
    /// Default `false`.
    pub fn record_enter_exit(mut self, on: bool) -> Self {
        self.enter_exit = on;
        self
    }

    /// Whether each span's close record carries its busy and idle time; see
    /// [`LogbufLayer::span_times`]. Default `false`.
    ///
    /// With a text or JSON sink's close lines, this is `fmt`'s
    /// `with_span_events(FmtSpan::CLOSE)`: each span's close is a line ending in
    /// `close time.busy=1.25ms time.idle=35.4µs` (without the times when this is off).
    ///
    /// ```
    /// use logbuf_journal::sink::text::TextSink;
    ///
    /// let (layer, _guard) = logbuf_tracing::LogbufLayer::builder()
    ///     .sink(TextSink::stderr().with_span_close(true))
    ///     .span_times(true)
    ///     .build()?;
    /// # drop(layer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn span_times(mut self, on: bool) -> Self {
        self.span_times = on;
        self
    }

    /// Starts the journal's worker thread. Keep the [`Guard`] alive while logging: dropping it
    /// writes everything logged so far and stops the worker.
    ///
    /// # Errors
    ///
    /// A file sink could not be created, or the journal could not start
    /// ([`Error::File`], [`Error::Journal`]).
    pub fn build(self) -> Result<(LogbufLayer, Guard), Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let (journal, guard) = self.journal.build()?;
        let layer = LogbufLayer::from_journal(journal)
            .record_enter_exit(self.enter_exit)
            .span_times(self.span_times);
        Ok((layer, guard))
    }
}
