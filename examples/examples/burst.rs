//! A burst larger than the ring: the journal drops what does not fit, counts it against the
//! callsite that lost it, and says so in the file. `logbuf stats` then lists the lost events
//! by callsite, and `logbuf cat` names the top ones in each drop line.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example burst [FILE]
//! logbuf stats /tmp/logbuf-burst.lbf
//! ```
//!
//! Without `FILE`, the journal goes to `logbuf-burst.lbf` in the system's temporary directory.

use std::path::PathBuf;
use std::thread;

use logbuf_tracing::LogbufLayer;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

fn burst(worker: u64) {
    for id in 0..20_000u64 {
        let request = tracing::info_span!("request", id, worker);
        let _entered = request.enter();
        tracing::debug!(id, "cache lookup");
        if id % 4 == 0 {
            tracing::info!(id, rows = id % 97, "query done");
        }
        if id % 50 == 0 {
            tracing::warn!(id, "slow upstream");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os().nth(1).map_or_else(
        || std::env::temp_dir().join("logbuf-burst.lbf"),
        PathBuf::from,
    );
    // A 16 KiB ring per thread: a few hundred records, far fewer than the burst.
    let (layer, guard) = LogbufLayer::builder()
        .file(&path)
        .ring_capacity(16 * 1024)
        .build()?;
    let journal = layer.journal().clone();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    thread::scope(|s| {
        for w in 0..2 {
            let dispatch = &dispatch;
            thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn_scoped(s, move || {
                    tracing::dispatcher::with_default(dispatch, || burst(w))
                })
                .expect("worker thread");
        }
    });
    drop(dispatch);
    drop(guard); // writes everything out, drop reports included, and syncs the file
    let stats = journal.stats();
    println!(
        "{} records written, {} dropped ({} of them span records) into {}",
        stats.records_written,
        stats.dropped,
        stats.dropped_spans,
        path.display()
    );
    println!(
        "logbuf stats {}   # lost events by callsite",
        path.display()
    );
    Ok(())
}
