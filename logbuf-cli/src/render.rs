//! Turning an event in context into a line: the journal's own text and JSON renderers
//! ([`TextFormat`], [`JsonFormat`], the ones the text and JSON sinks use), so `logbuf cat`
//! prints what those sinks would have written.

use std::sync::Arc;

use logbuf_journal::read::{Callsite, EventInContext, Span};
use logbuf_journal::sink::json::JsonFormat;
use logbuf_journal::sink::text::{DropReport, SpanFields, TextFormat};
use logbuf_journal::wire::CallsiteKind;

use crate::cat::Item;

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Lines laid out like the text sink's (and tracing-subscriber's `fmt`).
    Text {
        /// Whether to colour levels and dim context with ANSI escapes.
        color: bool,
    },
    /// One JSON object per line, with the JSON sink's keys (tracing-subscriber's `json`).
    Json,
}

impl Default for Format {
    fn default() -> Self {
        Format::Text { color: false }
    }
}

/// What each line shows beyond the sinks' defaults (time, level, spans, target, fields).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Details {
    /// The thread's name and the journal's id for it.
    pub threads: bool,
    /// The callsite's source file and line.
    pub source: bool,
}

/// Renders events in a [`Format`].
///
/// ```
/// use logbuf_cli::render::{Details, Format, Renderer};
/// use logbuf_journal::read::Context;
/// use logbuf_journal::wire::{Callsite, CallsiteKind, Event, Level, Record, Value};
///
/// let mut context = Context::new();
/// context.apply(&Record::Callsite(Callsite { id: 1, kind: CallsiteKind::Event,
///     level: Level::Warn, target: "app", name: "event", module_path: None,
///     file: None, line: None, fields: vec!["message", "retries"] }));
/// let event = Event { callsite: 1, time: 0, thread: 1, parent: None,
///     values: vec![Value::Debug("slow"), Value::U64(3)] };
///
/// let renderer = Renderer::new(Format::Text { color: false }, Details::default());
/// let mut line = Vec::new();
/// renderer.render(&context.event(event).unwrap(), &mut line);
/// assert_eq!(line, b" WARN app: slow retries=3\n"); // no clock record: no timestamp
/// ```
#[derive(Debug, Clone)]
pub enum Renderer {
    /// The text sink's renderer.
    Text(TextFormat),
    /// The JSON sink's renderer.
    Json(JsonFormat),
}

impl Renderer {
    /// A renderer for `format`, showing `details`.
    pub fn new(format: Format, details: Details) -> Self {
        match format {
            Format::Text { color } => Renderer::Text(
                TextFormat::new()
                    .with_ansi(color)
                    .with_thread_names(details.threads)
                    .with_thread_ids(details.threads)
                    .with_file(details.source)
                    .with_line_number(details.source),
            ),
            Format::Json => Renderer::Json(
                JsonFormat::new()
                    .with_thread_names(details.threads)
                    .with_thread_ids(details.threads)
                    .with_file(details.source)
                    .with_line_number(details.source),
            ),
        }
    }

    /// Appends `event`, as one line ending in `\n`, to `out`. Span fields are written from
    /// the values the context holds.
    ///
    /// An event whose outer spans were left out
    /// ([`EventInContext::spans_elided`], see [`Context::bounded_event`]) says how many: text
    /// writes `…N spans…:` in their place, JSON adds the key `"spans_elided": N`.
    ///
    /// [`Context::bounded_event`]: logbuf_journal::read::Context::bounded_event
    #[inline]
    pub fn render(&self, event: &EventInContext<'_>, out: &mut Vec<u8>) {
        self.render_with(event, &SpanFields::default(), out);
    }

    /// [`Renderer::render`], with text spans' fields as `spans` kept them: in the order they
    /// were recorded, as the text sink (and `fmt`) writes them, and formatted once per span
    /// rather than once per event. A source keeps `spans` ([`crate::cat::Source::visit`]).
    /// Spans left out are marked as [`Renderer::render`] says.
    #[inline]
    pub fn render_with(&self, event: &EventInContext<'_>, spans: &SpanFields, out: &mut Vec<u8>) {
        if event.spans_elided > 0 {
            return self.render_elided(event, spans, out);
        }
        match self {
            Renderer::Text(format) => format.render_with(event, spans, out),
            Renderer::Json(format) => format.render(event, out),
        }
    }

    /// [`Renderer::render_with`] for an event with outer spans left out: text gets a span
    /// named `…N spans…`, with no fields, in their place; JSON a key `spans_elided`.
    #[cold]
    fn render_elided(&self, event: &EventInContext<'_>, spans: &SpanFields, out: &mut Vec<u8>) {
        match self {
            Renderer::Text(format) => {
                // An id `spans` keeps no fields for, so the marker is written with none.
                let mut id = u64::MAX;
                while spans.get(id).is_some() {
                    id -= 1;
                }
                let marker = Span {
                    id,
                    parent: None,
                    callsite: Arc::new(Callsite {
                        id: 0,
                        kind: CallsiteKind::Span,
                        level: event.callsite.level,
                        target: String::new(),
                        name: elided_marker(event.spans_elided),
                        module_path: None,
                        file: None,
                        line: None,
                        fields: Vec::new(),
                    }),
                    values: Vec::new(),
                    time: 0,
                    thread: event.event.thread,
                };
                let shown: Vec<&Span> = std::iter::once(&marker)
                    .chain(event.spans.iter().copied())
                    .collect();
                let marked = EventInContext {
                    event: event.event.clone(),
                    callsite: event.callsite,
                    thread_name: event.thread_name,
                    spans: shown,
                    unix_nanos: event.unix_nanos,
                    spans_elided: 0,
                };
                format.render_with(&marked, spans, out);
            }
            Renderer::Json(format) => {
                format.render(event, out);
                // The object ends the line: reopen it for one more key.
                if out.ends_with(b"}\n") {
                    out.truncate(out.len() - 2);
                    out.extend_from_slice(b",\"spans_elided\":");
                    out.extend_from_slice(event.spans_elided.to_string().as_bytes());
                    out.extend_from_slice(b"}\n");
                }
            }
        }
    }

    /// Appends the report of dropped records `report` as the text and JSON sinks write it.
    pub fn render_dropped(&self, report: &DropReport<'_>, out: &mut Vec<u8>) {
        match self {
            Renderer::Text(format) => format.render_dropped(report, out),
            Renderer::Json(format) => format.render_dropped(report, out),
        }
    }

    /// [`Renderer::render_with`] for an event, [`Renderer::render_dropped`] for a report.
    #[inline]
    pub fn render_item(&self, item: Item<'_>, spans: &SpanFields, out: &mut Vec<u8>) {
        match item {
            Item::Event(event) => self.render_with(event, spans, out),
            Item::Dropped(report) => self.render_dropped(report, out),
        }
    }

    /// The text format, for keeping [`SpanFields`] in its style.
    pub fn text_format(&self) -> Option<&TextFormat> {
        match self {
            Renderer::Text(format) => Some(format),
            Renderer::Json(_) => None,
        }
    }
}

/// The name of the span that stands in a text line for `n` outer spans left out.
fn elided_marker(n: u64) -> String {
    match n {
        1 => "…1 span…".to_owned(),
        n => format!("…{n} spans…"),
    }
}
