//! Turning an event in context into a line: the journal's own text and JSON renderers
//! ([`TextFormat`], [`JsonFormat`], the ones the text and JSON sinks use), so `logbuf cat`
//! prints what those sinks would have written.

use logbuf_journal::read::EventInContext;
use logbuf_journal::sink::json::JsonFormat;
use logbuf_journal::sink::text::{DropReport, SpanFields, TextFormat};

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
    #[inline]
    pub fn render(&self, event: &EventInContext<'_>, out: &mut Vec<u8>) {
        match self {
            Renderer::Text(format) => format.render(event, out),
            Renderer::Json(format) => format.render(event, out),
        }
    }

    /// [`Renderer::render`], with text spans' fields as `spans` kept them: in the order they
    /// were recorded, as the text sink (and `fmt`) writes them, and formatted once per span
    /// rather than once per event. A source keeps `spans` ([`crate::cat::Source::visit`]).
    #[inline]
    pub fn render_with(&self, event: &EventInContext<'_>, spans: &SpanFields, out: &mut Vec<u8>) {
        match self {
            Renderer::Text(format) => format.render_with(event, spans, out),
            Renderer::Json(format) => format.render(event, out),
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
