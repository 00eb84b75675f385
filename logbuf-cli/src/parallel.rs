//! `logbuf cat` of one big file on several threads.
//!
//! Rendering text costs more than decoding, and decoding a record needs the context of every
//! record before it (callsites, open spans, the clock), so the file cannot simply be cut in
//! pieces. Instead each of `n` workers reads the whole file and keeps the whole context, but
//! renders only its share: the events are numbered in file order and split into chunks of
//! [`CHUNK`] consecutive events, and worker `k` renders chunks `k`, `k + n`, `k + 2n`, ...
//! The calling thread writes the chunks out in order, taking chunk `c` from worker `c % n`,
//! so the output is exactly what one thread would write.
//!
//! Every worker reads the same bytes: the file's length is taken once, before the workers
//! start, and each reads that much. A file that grows meanwhile (a live journal) is read up to
//! where it ended then; each worker reading to its own end of file would leave holes where one
//! stopped inside its chunk and another went on.
//!
//! With `n` workers each event costs one decode on every worker and one rendering on one of
//! them: for text, which costs about twice the decode, two workers go about 1.5 times as fast
//! as one, given two free cores.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::mpsc;

use crate::cat::{Options, Source, Summary};
use crate::input::{Exit, READ_BUFFER, damage_report, describe_io, journal_from, open_plain};
use crate::render::Renderer;

/// Events (and reports of dropped records) per chunk.
pub const CHUNK: u64 = 4096;

/// Chunks a worker may have rendered ahead of the writer.
const AHEAD: usize = 2;

/// A rendered chunk: its lines and how many events they are.
struct Chunk {
    lines: Vec<u8>,
    events: u64,
}

/// What a worker says when it is done.
struct Done {
    events_read: u64,
    exit: Exit,
    report: Vec<String>,
}

fn worker(
    path: &Path,
    len: u64,
    k: u64,
    n: u64,
    options: &Options,
    renderer: Renderer,
    chunks: mpsc::SyncSender<Chunk>,
) -> Done {
    let mut done = Done {
        events_read: 0,
        exit: Exit::Ok,
        report: Vec::new(),
    };
    let file = match open_plain(path).and_then(|file| {
        let prefix = BufReader::with_capacity(READ_BUFFER, file.take(len));
        journal_from(path, Box::new(prefix) as Box<dyn Read + Send>)
    }) {
        Ok(file) => file,
        Err(failure) => {
            // The file was opened once before the workers started; it went away since.
            done.report.push(failure.to_string());
            done.exit = failure.exit;
            return done;
        }
    };
    let mut source = Source::new(path.to_path_buf(), file);
    if let Some(format) = renderer.text_format() {
        source.keep_span_text(format);
    }
    let mut pending: Option<(u64, Chunk)> = None;
    let mut index = 0u64;
    let mut gone = false;
    let read = source.visit(|item, spans| {
        let chunk = index / CHUNK;
        index += 1;
        if chunk % n != k {
            // Hand over the chunk just finished as soon as it is whole.
            if let Some((_, whole)) = pending.take()
                && chunks.send(whole).is_err()
            {
                gone = true;
                return true;
            }
            return false;
        }
        let current = match &mut pending {
            Some((c, current)) if *c == chunk => current,
            _ => {
                if let Some((_, whole)) = pending.take()
                    && chunks.send(whole).is_err()
                {
                    gone = true;
                    return true;
                }
                &mut pending
                    .insert((
                        chunk,
                        Chunk {
                            lines: Vec::with_capacity(1 << 19),
                            events: 0,
                        },
                    ))
                    .1
            }
        };
        if options.filter.matches_item(item) {
            renderer.render_item(item, spans, &mut current.lines);
            current.events += 1;
        }
        false
    });
    if let Some((_, last)) = pending.take()
        && !gone
    {
        let _ = chunks.send(last);
    }
    done.events_read = index;
    if let Err(e) = read {
        done.report.push(format!(
            "{}: read failed: {}",
            path.display(),
            describe_io(&e)
        ));
        done.exit = Exit::Error;
    }
    if let Some((line, exit)) = damage_report(path, source.stats(), source.orphans()) {
        done.report.push(line);
        done.exit = done.exit.worst(exit);
    }
    done
}

/// Writes the events of the journal at `path` that pass the filter to `out`, rendered by
/// `threads` workers (at least two); the output is the same as one thread's.
///
/// # Errors
///
/// The file's length could not be read, or writing to `out` failed.
pub fn run_file(
    path: &Path,
    options: &Options,
    threads: usize,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> io::Result<Summary> {
    let n = threads.max(2) as u64;
    let renderer = Renderer::new(options.format, options.details);
    let len = std::fs::metadata(path)?.len();
    std::thread::scope(|scope| {
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        for k in 0..n {
            let (tx, rx) = mpsc::sync_channel(AHEAD);
            receivers.push(rx);
            let renderer = renderer.clone();
            handles.push(scope.spawn(move || worker(path, len, k, n, options, renderer, tx)));
        }
        let mut written = 0;
        let mut write_error = None;
        let mut c = 0usize;
        while let Ok(chunk) = receivers[c % n as usize].recv() {
            written += chunk.events;
            if let Err(e) = out.write_all(&chunk.lines) {
                write_error = Some(e);
                break;
            }
            c += 1;
        }
        // Workers blocked on a full channel see it closed and stop.
        drop(receivers);
        let mut summary = Summary {
            events_read: 0,
            events_written: written,
            exit: Exit::Ok,
        };
        for (k, handle) in handles.into_iter().enumerate() {
            let done = handle.join().unwrap_or_else(|_| Done {
                events_read: 0,
                exit: Exit::Error,
                report: vec![format!("{}: a reading thread failed", path.display())],
            });
            // Every worker read the same bytes; the first one speaks for all.
            if k == 0 {
                summary.events_read = done.events_read;
                for line in &done.report {
                    let _ = writeln!(diagnostics, "logbuf: {line}");
                }
                summary.exit = done.exit;
            }
        }
        if let Some(e) = write_error {
            return Err(e);
        }
        out.flush()?;
        Ok(summary)
    })
}
