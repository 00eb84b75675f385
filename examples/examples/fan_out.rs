//! One journal, several sinks with their own levels: every event into a binary file for the
//! archive, warnings and errors also as text on stderr (coloured on a terminal), and the same
//! warnings as JSON lines into a second file for a log pipeline. The `tracing` layer feeds it;
//! each sink formats on the worker thread.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example fan_out
//! ```

use logbuf_journal::Sink;
use logbuf_journal::read::Reader;
use logbuf_journal::sink::json::JsonSink;
use logbuf_journal::sink::text::TextSink;
use logbuf_journal::wire::Level;
use tracing_subscriber::layer::SubscriberExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("logbuf-fan-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let archive = dir.join("app.lbf");
    let alerts = dir.join("alerts.jsonl");

    let (layer, guard) = logbuf_tracing::LogbufLayer::builder()
        .file(&archive)
        .sink(TextSink::stderr().min_level(Level::Warn))
        .sink(JsonSink::new(std::fs::File::create(&alerts)?).min_level(Level::Warn))
        .build()?;
    let subscriber = tracing_subscriber::registry().with(layer);

    tracing::subscriber::with_default(subscriber, || {
        for order in 0..1_000u64 {
            let span = tracing::info_span!("order", id = order);
            let _entered = span.enter();
            tracing::info!(items = order % 7, "order placed");
            if order % 250 == 249 {
                tracing::warn!(queue = order / 10, "payment provider slow");
            }
        }
        tracing::error!(code = 503u16, "payment provider down");
    });
    drop(guard); // writes everything and syncs the files

    let mut reader = Reader::open(&archive)?;
    let mut events = 0;
    while let Some(event) = reader.next_event() {
        event?;
        events += 1;
    }
    let json_lines = std::fs::read_to_string(&alerts)?.lines().count();
    println!("{} holds all {events} events", archive.display());
    println!(
        "{} holds the {json_lines} warnings and errors",
        alerts.display()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
