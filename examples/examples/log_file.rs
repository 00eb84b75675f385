//! The `log` back end writing a binary journal file from several threads, with key-values,
//! then reading the file back: each record with its callsite, thread, time and typed values.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example log_file
//! ```

use log::LevelFilter;
use logbuf_journal::read::{OwnedValue, Reader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("logbuf-log-example-{}", std::process::id()));
    let path = dir.join("app.lbf");

    let guard = logbuf_log::Builder::new()
        .filter_level(LevelFilter::Info)
        .filter_module("log_file::noisy", LevelFilter::Warn)
        .file(&path)
        .init()?;

    std::thread::scope(|s| {
        for worker in 0..3u64 {
            std::thread::Builder::new()
                .name(format!("worker-{worker}"))
                .spawn_scoped(s, move || {
                    for request in 0..2u64 {
                        let latency_us = 10.0 + (worker * 10 + request) as f64 / 4.0;
                        log::info!(
                            worker, request, latency_us, cached = request.is_multiple_of(2),
                            route = "/users";
                            "request {request} done"
                        );
                    }
                    log::info!(target: "log_file::noisy", "filtered out: below warn for this target");
                })
                .expect("spawn a worker");
        }
    });
    log::warn!(reason = "example"; "shutting down");
    drop(guard); // writes everything and syncs the file

    println!(
        "{} bytes in {}",
        std::fs::metadata(&path)?.len(),
        path.display()
    );
    let mut reader = Reader::open(&path)?;
    while let Some(event) = reader.next_event() {
        let event = event?;
        let time = event
            .unix_nanos
            .map(|n| format!("{}.{:06}", n / 1_000_000_000, n % 1_000_000_000 / 1_000))
            .unwrap_or_default();
        let mut line = format!(
            "{time} {:?} [{}] {}:",
            event.callsite.level,
            event.thread_name.unwrap_or("?"),
            event.callsite.target,
        );
        for (name, value) in event.callsite.fields.iter().zip(&event.event.values) {
            // Typed as they were logged: numbers and booleans stayed numbers and booleans.
            let value = match OwnedValue::from(value) {
                OwnedValue::Str(s) => format!("{s:?}"),
                OwnedValue::Debug(s) => s,
                OwnedValue::U64(n) => format!("{n}u64"),
                OwnedValue::I64(n) => format!("{n}i64"),
                OwnedValue::F64(x) => format!("{x}f64"),
                OwnedValue::Bool(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            line.push_str(&format!(" {name}={value}"));
        }
        println!("{line}");
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
