//! Reads a journal file written through `LogbufLayer` and summarises it: events per level and
//! per thread from the reader, and how long each kind of span was busy and idle, from the
//! spans' close records (which carry both, in ticks of the journal's counter) and the file's
//! clock records.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example tracing_service     # writes the file
//! cargo run --release -p logbuf-examples --example tracing_read_back [-- FILE]
//! ```
//!
//! Without `FILE` it reads `logbuf-service.lbf` in the system's temporary directory, writing
//! a small one first if there is none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use logbuf_journal::file::FileReader;
use logbuf_journal::read::{Context, Reader};
use logbuf_journal::wire::Record;
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::layer::SubscriberExt;

/// Writes a few spans and events, for when there is no file to read.
fn write_sample(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // Busy and idle time in each span's close record.
    let (layer, _guard) = LogbufLayer::builder().file(path).span_times(true).build()?;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for id in 0..100u64 {
            let span = tracing::info_span!("request", id);
            let _entered = span.enter();
            let query = tracing::debug_span!("query", table = "orders");
            query.in_scope(|| std::thread::sleep(std::time::Duration::from_micros(50)));
            tracing::info!(rows = id % 7, "request done");
        }
    });
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join("logbuf-service.lbf"),
        PathBuf::from,
    );
    if !path.exists() {
        println!("no {}; writing a sample first", path.display());
        write_sample(&path)?;
    }

    // Events in context.
    let mut reader = Reader::open(&path)?;
    let mut levels: BTreeMap<String, u64> = BTreeMap::new();
    let mut threads: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(event) = reader.next_event() {
        let event = event?;
        *levels
            .entry(format!("{:?}", event.callsite.level))
            .or_default() += 1;
        *threads
            .entry(event.thread_name.unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    println!("{}: events per level {levels:?}", path.display());
    println!("events per thread {threads:?}");
    println!("dropped while logging: {}", reader.dropped());

    // Records as they are: span busy and idle time from the close records, in ticks; the
    // reader's context turns ticks into nanoseconds from the clock records.
    let mut file = FileReader::open(&path)?;
    let mut context = Context::new();
    context.add_clock(file.header().clock);
    // name -> (spans, busy ns, idle ns)
    let mut times: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    while let Some(record) = file.next_record() {
        let record = record?;
        if let Record::SpanCloseTimes(close) = &record
            && let Some(span) = context.span(close.id)
        {
            let entry = times.entry(span.callsite.name.clone()).or_default();
            entry.0 += 1;
            entry.1 += context.duration_nanos(close.busy);
            entry.2 += context.duration_nanos(close.idle);
        }
        context.apply(&record);
    }
    println!("span time (busy: entered on some thread; idle: the rest of its life):");
    for (name, (count, busy, idle)) in times {
        println!(
            "  {name:<12} {count:>7} spans, busy {:>8.2} µs each, idle {:>8.2} µs each",
            busy as f64 / 1e3 / count as f64,
            idle as f64 / 1e3 / count as f64
        );
    }
    Ok(())
}
