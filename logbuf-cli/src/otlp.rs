//! `logbuf export --otlp URL`: ships journal files to an OpenTelemetry collector afterwards,
//! with `logbuf-otlp`'s mapping and delivery (batches, retries, counted losses).
//!
//! Files are read in the order of their start time (a rotated series one after the other);
//! progress goes to the diagnostics every few seconds, and a summary at the end. The exit
//! status is an error when records were lost or a file could not be read.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use logbuf_journal::wire::Record;
use logbuf_otlp::OtlpSink;

use crate::input::{Exit, damage_report};

/// Exports the events of `paths` to the OTLP/HTTP endpoint `url`, as `service` (default: the
/// program named in the first file's header).
///
/// # Errors
///
/// The sink could not be built (the URL is not an `http://` URL).
pub fn otlp(
    paths: &[PathBuf],
    url: &str,
    service: Option<&str>,
    diagnostics: &mut dyn Write,
) -> io::Result<Exit> {
    let (mut files, mut exit) = crate::input::open_all(paths, diagnostics);
    files.sort_by_key(|(_, f)| f.header().clock.unix_nanos);
    let service = service
        .map(str::to_owned)
        .or_else(|| files.first().map(|(_, f)| f.header().program.clone()))
        .unwrap_or_else(|| "logbuf".to_owned());
    let mut sink = OtlpSink::builder()
        .endpoint(url)
        .service_name(service)
        .shutdown_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let stats = sink.stats();
    let mut given = 0u64;
    let mut progress = Instant::now();
    for (path, mut file) in files {
        // Spans and callsites are per file: each file of a series defines its own.
        let _ = sink.write_record(Record::Clock(file.header().clock));
        while let Some(record) = crate::input::next_record(&mut file, &path, diagnostics, &mut exit)
        {
            given += u64::from(matches!(record, Record::Event(_) | Record::Dropped(_)));
            // Losses are counted in the stats and summed up at the end.
            let _ = sink.write_record(record);
            if progress.elapsed() >= Duration::from_secs(2) {
                progress = Instant::now();
                let _ = writeln!(
                    diagnostics,
                    "logbuf: {given} records read, {} exported, {} lost",
                    stats.exported(),
                    stats.lost()
                );
            }
        }
        if let Some((line, damage)) = damage_report(&path, file.stats(), 0) {
            let _ = writeln!(diagnostics, "logbuf: {line}");
            exit = exit.worst(damage);
        }
    }
    let _ = logbuf_journal::sink::Sink::sync(&mut sink);
    drop(sink);
    let _ = writeln!(
        diagnostics,
        "logbuf: {} of {given} records exported to {url} in {} request(s), {} retried, {} lost",
        stats.exported(),
        stats.requests(),
        stats.retries(),
        stats.lost(),
    );
    if stats.lost() > 0 {
        exit = exit.worst(Exit::Error);
    }
    Ok(exit)
}
