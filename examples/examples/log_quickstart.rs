//! The `log` back end in one line: `logbuf_log::init()` reads `RUST_LOG` (env_logger's syntax)
//! and writes text lines to stderr from a worker thread.
//!
//! ```text
//! RUST_LOG=info cargo run --release -p logbuf-examples --example log_quickstart
//! RUST_LOG=warn,log_quickstart::db=trace cargo run --release -p logbuf-examples --example log_quickstart
//! ```

mod db {
    pub(crate) fn query(table: &str) -> usize {
        log::trace!(table; "query started");
        let rows = table.len();
        log::debug!(table, rows; "query done");
        rows
    }
}

fn main() -> Result<(), logbuf_log::Error> {
    // Keep the guard alive: dropping it writes what is left and stops the worker.
    let _guard = logbuf_log::init()?;

    log::info!("starting up");
    for table in ["users", "orders"] {
        let rows = db::query(table);
        log::info!(rows; "loaded {table}");
    }
    log::warn!(retries = 3; "cache is cold");
    log::error!("this line shows even without RUST_LOG");
    Ok(())
}
