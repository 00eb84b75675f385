//! `logbuf stats --spans --html FILE`: span timings as one self-contained HTML page.
//!
//! The page holds, per span name (busiest first), the table `logbuf stats --spans` prints and
//! an inline SVG histogram of the spans' durations, with markers at p50 and p99. It loads
//! nothing: no scripts, no style sheets, fonts or images from elsewhere; the styles are inline.
//! It is also well-formed XML (XHTML syntax), so XML tools read it as well as browsers.
//!
//! The histogram has [`BINS`] bins, spaced evenly on a logarithmic scale from the shortest
//! duration to the longest (latencies spread over orders of magnitude); each bar's height is
//! its count over the fullest bin's (at least a pixel for a bin that is not empty). Each bar carries its bin's bounds and count in
//! `data-from-ns`, `data-to-ns` and `data-count` attributes and in a tooltip.

use std::io::{self, Write};

use crate::query::{Durations, SpanGroup, SpanReport};
use crate::time::format_duration;

/// Histogram bins per span name.
pub const BINS: usize = 40;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 30.0;

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, for element text and attribute values.
///
/// ```
/// assert_eq!(logbuf_cli::html::escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; a span name should not hold any.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The bins of a histogram of `sorted` (ascending, not empty): `(from, to, count)` in
/// nanoseconds, [`BINS`] of them spaced evenly on a log scale from the least value to the
/// greatest (one bin when all are equal). Bin `i` holds the values `v` with
/// `from <= v < to`, the last one also `v == to`.
pub fn bins(sorted: &[u64]) -> Vec<(u64, u64, u64)> {
    let (Some(&lo), Some(&hi)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    if lo == hi {
        return vec![(lo, hi, sorted.len() as u64)];
    }
    // ln(0) is not finite: a zero duration counts from 1 ns on the scale.
    let (l, h) = ((lo.max(1) as f64).ln(), (hi as f64).ln());
    let edge = |i: usize| -> u64 {
        if i == 0 {
            lo
        } else if i == BINS {
            hi
        } else {
            (l + (h - l) * i as f64 / BINS as f64).exp().round() as u64
        }
    };
    let mut out: Vec<(u64, u64, u64)> = (0..BINS).map(|i| (edge(i), edge(i + 1), 0)).collect();
    let mut bin = 0;
    for &v in sorted {
        while bin + 1 < BINS && v >= out[bin].1 {
            bin += 1;
        }
        out[bin].2 += 1;
    }
    out
}

/// The x position of `v` on the log axis from `lo` to `hi`.
fn x_of(v: u64, lo: u64, hi: u64) -> f64 {
    if hi <= lo {
        return LEFT + (WIDTH - LEFT) / 2.0;
    }
    let (l, h) = ((lo.max(1) as f64).ln(), (hi as f64).ln());
    let f = (((v.max(1) as f64).ln() - l) / (h - l)).clamp(0.0, 1.0);
    LEFT + f * (WIDTH - LEFT)
}

fn histogram(d: &Durations, out: &mut dyn Write) -> io::Result<()> {
    let bins = bins(&d.sorted);
    let fullest = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1);
    let (lo, hi) = (d.summary.min, d.summary.max);
    let plot = HEIGHT - BOTTOM - TOP;
    writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>durations, log scale, {} to {}</title>"#,
        escape(&format_duration(lo)),
        escape(&format_duration(hi)),
    )?;
    let step = (WIDTH - LEFT) / bins.len() as f64;
    for (i, &(from, to, count)) in bins.iter().enumerate() {
        // A bin with anything in it shows, however few against the fullest.
        let h = if count == 0 {
            0.0
        } else {
            (plot * count as f64 / fullest as f64).max(1.0)
        };
        writeln!(
            out,
            r##"<rect class="bar" fill="#4477aa" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" data-from-ns="{from}" data-to-ns="{to}" data-count="{count}"><title>{} .. {}: {count}</title></rect>"##,
            LEFT + i as f64 * step,
            TOP + plot - h,
            (step - 1.0).max(1.0),
            h,
            escape(&format_duration(from)),
            escape(&format_duration(to)),
        )?;
    }
    let base = TOP + plot;
    writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#555"/>"##
    )?;
    // Each marker's label on a line of its own, so close percentiles do not overlap; it
    // reads from the marker towards the middle, so it is not cut at either edge.
    for (row, (label, v)) in [("p50", d.summary.p50), ("p99", d.summary.p99)]
        .into_iter()
        .enumerate()
    {
        let x = x_of(v, lo, hi);
        let (anchor, text_x) = if x > WIDTH / 2.0 {
            ("end", x - 3.0)
        } else {
            ("start", x + 3.0)
        };
        writeln!(
            out,
            r##"<line class="marker" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{base}" stroke="#c03" stroke-dasharray="3,2"/><text x="{text_x:.1}" y="{:.1}" font-size="10" text-anchor="{anchor}" fill="#c03">{label} {}</text>"##,
            4.0 + 12.0 * row as f64,
            12.0 + 12.0 * row as f64,
            escape(&format_duration(v)),
        )?;
    }
    writeln!(
        out,
        r#"<text x="{LEFT}" y="{:.1}" font-size="10">{}</text><text x="{WIDTH}" y="{:.1}" font-size="10" text-anchor="end">{}</text><text x="4" y="{:.1}" font-size="10">{fullest}</text>"#,
        HEIGHT - 6.0,
        escape(&format_duration(lo)),
        HEIGHT - 6.0,
        escape(&format_duration(hi)),
        TOP + 8.0,
    )?;
    writeln!(out, "</svg>")
}

fn table(g: &SpanGroup, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<table><tr><th></th><th>count</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>total</th></tr>"
    )?;
    for (label, d) in [
        ("duration", Some(&g.duration)),
        ("busy", g.busy.as_ref()),
        ("idle", g.idle.as_ref()),
    ] {
        let Some(d) = d else {
            continue;
        };
        let s = &d.summary;
        write!(out, "<tr><th>{label}</th><td>{}</td>", s.count)?;
        for v in [s.min, s.p50, s.p90, s.p99, s.max, d.total] {
            write!(out, "<td>{}</td>", escape(&format_duration(v)))?;
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</table>")
}

/// Writes `spans` as a self-contained HTML page titled `title` (the files read, say).
///
/// # Errors
///
/// Writing failed.
pub fn write(spans: &SpanReport, title: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(
        out,
        r#"<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/><title>span timings: {}</title>"#,
        escape(title)
    )?;
    writeln!(
        out,
        "<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:.5em 0}}td,th{{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}}.bar{{fill:#4477aa}}h2 small{{color:#777;font-weight:normal}}</style></head><body>"
    )?;
    writeln!(out, "<h1>span timings: {}</h1>", escape(title))?;
    writeln!(
        out,
        "<p>{} spans closed ({} with busy/idle time from close records, {} from enter/exit records). Durations from creation to close; percentiles are exact (nearest rank). Histograms: durations on a log scale.</p>",
        spans.closed, spans.from_close_times, spans.from_transitions
    )?;
    for g in &spans.groups {
        writeln!(
            out,
            r#"<section class="span" data-name="{}" data-target="{}" data-count="{}"><h2>{} <small>{}</small></h2>"#,
            escape(&g.name),
            escape(&g.target),
            g.duration.summary.count,
            escape(&g.name),
            escape(&g.target),
        )?;
        table(g, out)?;
        histogram(&g.duration, out)?;
        writeln!(out, "</section>")?;
    }
    writeln!(out, "</body></html>")
}
