//! Rotating files: an hourly binary journal whose rotated files are compressed and each decode
//! on their own, beside a text log rotated by the hour and by size with only the newest files
//! kept. A manual clock walks through three hours in a moment.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example rotating_files
//! ```

use log::LevelFilter;
use logbuf_journal::read::Reader;
use logbuf_journal::rotate::{Current, ManualClock, RotatingFile, Rotation};
use logbuf_journal::sink::BinaryFileSink;
use logbuf_journal::sink::text::TextSink;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("logbuf-rotating-{}", std::process::id()));
    // Any `Fn() -> DateTime<Utc>` or the system clock (the default) would do; this one moves
    // only when told to.
    let clock = ManualClock::new("2026-11-29T06:00:00Z".parse()?);

    // Binary: a file an hour, the last 24 kept, rotated files gzipped on a background thread,
    // `app.lbf` a symbolic link to the file being written (on Unix).
    let binary = BinaryFileSink::rotating(
        dir.join("app.lbf"),
        Rotation::hourly()
            .keep_files(24)
            .compress(true)
            .clock(clock.clone()),
    )?;
    // Text: a file an hour or every 1500 bytes, the newest 4 rotated files kept, the active one
    // always at `app.log` (renamed when rotated).
    let text = RotatingFile::new(
        dir.join("app.log"),
        Rotation::hourly()
            .max_size(1500)
            .keep_files(4)
            .current(Current::Fixed)
            .clock(clock.clone()),
    )?;
    let guard = logbuf_log::Builder::new()
        .filter_level(LevelFilter::Info)
        .sink(binary)
        .sink(TextSink::new(text).without_time())
        .init()?;

    for hour in 6..9 {
        for minute in [0, 20, 40] {
            clock.set(format!("2026-11-29T{hour:02}:{minute:02}:00Z").parse()?);
            for request in 0..8u64 {
                log::info!(hour, minute, request, route = "/users"; "request done");
            }
            // The worker writes what was logged before the clock moves on.
            guard.flush();
        }
    }
    drop(guard); // writes everything, syncs, and finishes the compression

    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    println!("{}:", dir.display());
    for name in &names {
        let meta = std::fs::symlink_metadata(dir.join(name))?;
        let what = if meta.file_type().is_symlink() {
            format!("-> {}", std::fs::read_link(dir.join(name))?.display())
        } else {
            format!("{} bytes", meta.len())
        };
        println!("  {name:32} {what}");
    }

    // Every binary file decodes alone: it starts with the callsites and thread names.
    for name in names.iter().filter(|n| n.ends_with(".lbf")) {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path)?.file_type().is_symlink() {
            continue;
        }
        let mut reader = Reader::open(&path)?;
        let mut events = 0;
        let mut first = None;
        while let Some(event) = reader.next_event() {
            let event = event?;
            events += 1;
            first.get_or_insert_with(|| {
                format!(
                    "{} [{}] {:?}",
                    event.callsite.target,
                    event.thread_name.unwrap_or("?"),
                    event.event.values
                )
            });
        }
        println!(
            "{name}: {events} events, the first: {}",
            first.unwrap_or_default()
        );
    }
    let last_text = std::fs::read_to_string(dir.join("app.log"))?;
    println!(
        "app.log ends with: {}",
        last_text.lines().last().unwrap_or("")
    );

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
