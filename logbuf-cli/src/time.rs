//! Points in time on the command line (`--since`, `--until`) and in reports.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Parses a point in time: an RFC 3339 date and time (`2026-11-29T08:00:00Z`,
/// `2026-11-29 09:00:00+01:00`), or a time before `now` (nanoseconds since the Unix epoch)
/// written as a number and a unit: `500ms`, `30s`, `10m`, `2h`, `1d`, `1w`, optionally with
/// ` ago`. Returns nanoseconds since the Unix epoch.
///
/// ```
/// use logbuf_cli::time::parse_time;
///
/// let now = 1_000_000_000_000;
/// assert_eq!(parse_time("10m", now), Ok(now - 600_000_000_000));
/// assert_eq!(parse_time("1.5s ago", now), Ok(now - 1_500_000_000));
/// assert_eq!(parse_time("1970-01-01T00:00:01Z", now), Ok(1_000_000_000));
/// assert!(parse_time("yesterday", now).is_err());
/// ```
///
/// # Errors
///
/// A message saying what is accepted.
pub fn parse_time(text: &str, now: u64) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return at
            .timestamp_nanos_opt()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("{text:?} is outside the range of journal timestamps"));
    }
    let relative = text.strip_suffix("ago").map_or(text, str::trim_end);
    match parse_duration(relative) {
        Some(nanos) => Ok(now.saturating_sub(nanos)),
        None => Err(format!(
            "{text:?} is not a time: use RFC 3339 (2026-11-29T08:00:00Z) or a time ago such as 30s, 10m, 2h, 1d"
        )),
    }
}

/// A duration like `10m` in nanoseconds.
fn parse_duration(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit_nanos: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" | "sec" | "secs" => 1e9,
        "m" | "min" | "mins" => 60e9,
        "h" | "hour" | "hours" => 3600e9,
        "d" | "day" | "days" => 86_400e9,
        "w" | "week" | "weeks" => 604_800e9,
        _ => return None,
    };
    let nanos = number * unit_nanos;
    (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64).then_some(nanos as u64)
}

/// Formats nanoseconds since the Unix epoch as RFC 3339 in UTC with microseconds.
///
/// ```
/// assert_eq!(logbuf_cli::time::format_nanos(1_500_000_000), "1970-01-01T00:00:01.500000Z");
/// ```
pub fn format_nanos(nanos: u64) -> String {
    let at: DateTime<Utc> =
        DateTime::from_timestamp_nanos(i64::try_from(nanos).unwrap_or(i64::MAX));
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Formats a duration in nanoseconds for people: `1h 2m 3.000s`, `12.5ms`.
///
/// ```
/// use logbuf_cli::time::format_duration;
/// assert_eq!(format_duration(3_723_000_000_000), "1h 2m 3.000s");
/// assert_eq!(format_duration(12_500_000), "12.500ms");
/// ```
pub fn format_duration(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    if secs == 0 {
        return if nanos >= 1_000_000 {
            format!("{}.{:03}ms", nanos / 1_000_000, nanos / 1_000 % 1_000)
        } else {
            format!("{}.{:03}µs", nanos / 1_000, nanos % 1_000)
        };
    }
    let millis = nanos / 1_000_000 % 1_000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}.{millis:03}s"),
        (0, 0, _) => format!("{m}m {s}.{millis:03}s"),
        (0, _, _) => format!("{h}h {m}m {s}.{millis:03}s"),
        _ => format!("{d}d {h}h {m}m {s}.{millis:03}s"),
    }
}
