//! Reads a journal file written through `LogbufLayer` and summarises it: events per level and
//! per thread from the reader, and how long each kind of span was busy, from the enter and
//! exit records (which carry the tick counter and the thread) and the file's clock records.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example tracing_service     # writes the file
//! cargo run --release -p logbuf-examples --example tracing_read_back [-- FILE]
//! ```
//!
//! Without `FILE` it reads `logbuf-service.lbf` in the system's temporary directory, writing
//! a small one first if there is none.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use logbuf_journal::file::FileReader;
use logbuf_journal::read::Reader;
use logbuf_journal::wire::Record;
use logbuf_tracing::LogbufLayer;
use tracing_subscriber::layer::SubscriberExt;

/// Writes a few spans and events, for when there is no file to read.
fn write_sample(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let (layer, _guard) = LogbufLayer::builder().file(path).build()?;
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

    // Records as they are: span busy time from enter/exit pairs.
    let mut file = FileReader::open(&path)?;
    let mut names: HashMap<u64, String> = HashMap::new(); // span callsite id -> name
    let mut span_callsite: HashMap<u64, u64> = HashMap::new(); // span id -> callsite id
    let mut entered: HashMap<(u64, u64), u64> = HashMap::new(); // (span, thread) -> ticks
    let mut busy: BTreeMap<String, (u64, u64)> = BTreeMap::new(); // name -> (count, ticks)
    let (mut first_clock, mut last_clock) = (None, None);
    while let Some(record) = file.next_record() {
        match record? {
            Record::Callsite(c) => {
                names.insert(c.id, c.name.to_owned());
            }
            Record::SpanNew(s) => {
                span_callsite.insert(s.id, s.callsite);
            }
            Record::SpanEnter(t) => {
                entered.insert((t.id, t.thread), t.time);
            }
            Record::SpanExit(t) => {
                if let Some(start) = entered.remove(&(t.id, t.thread)) {
                    let name = span_callsite
                        .get(&t.id)
                        .and_then(|c| names.get(c))
                        .cloned()
                        .unwrap_or_else(|| "?".into());
                    let entry = busy.entry(name).or_default();
                    entry.0 += 1;
                    entry.1 += t.time.saturating_sub(start);
                }
            }
            Record::Clock(c) => {
                first_clock.get_or_insert(c);
                last_clock = Some(c);
            }
            _ => {}
        }
    }
    // Nanoseconds per tick from the first and last clock records (one per ns if too close).
    let ns_per_tick = match (first_clock, last_clock) {
        (Some(a), Some(b)) if b.ticks > a.ticks + 1_000_000 => {
            (b.unix_nanos - a.unix_nanos) as f64 / (b.ticks - a.ticks) as f64
        }
        _ => 1.0,
    };
    println!("span busy time (enter to exit):");
    for (name, (count, ticks)) in busy {
        let total = ticks as f64 * ns_per_tick;
        println!(
            "  {name:<12} {count:>7} times, {:>10.1} µs in all, {:>8.2} µs each",
            total / 1e3,
            total / 1e3 / count as f64
        );
    }
    Ok(())
}
