//! The flight recorder: the program logs `debug` all the time, but the lines reach standard
//! error only around an error. `logbuf_tracing::init_flight_recorder()` keeps `debug` and
//! `trace` events in memory (the last 10 s, at most 8 MiB) and writes them, in order and in
//! their spans, right before an `ERROR` event, after a line that says where the window
//! starts. Without an error they are never written: requests 1, 2 and 4 succeed, and only
//! their `INFO` lines show until request 3 fails; its error brings the debug lines of the
//! last 10 s (requests 1 to 3) with it. Request 4's debug lines are held, and discarded at the
//! end.
//!
//! ```text
//! cargo run -p logbuf-examples --example flight_recorder
//! RUST_LOG=info,flight_recorder=trace cargo run -p logbuf-examples --example flight_recorder
//! ```
//!
//! With plain `logbuf_tracing::init()` and `RUST_LOG` unset, only the `INFO` and `ERROR` lines
//! would be written: the debug lines that explain the error would be gone.

use std::time::Duration;

fn handle(request: u64, fail: bool) {
    let span = tracing::info_span!("request", id = request);
    let _entered = span.enter();
    tracing::debug!(pool_size = 8u64, "taking a database connection");
    tracing::debug!(table = "orders", rows = 120u64, "query sent");
    if fail {
        tracing::debug!(attempt = 2u64, "query timed out, retrying");
        tracing::error!(request, "request failed: the database did not answer");
    } else {
        tracing::info!(request, "request done");
    }
}

fn main() -> Result<(), logbuf_tracing::Error> {
    // Keep the guard until the end of `main`: dropping it writes out what is still queued.
    let _guard = logbuf_tracing::init_flight_recorder()?;
    handle(1, false);
    handle(2, false);
    // What comes in the 2 s after an error is written as it comes; wait them out, so the
    // third request's debug lines are held again.
    handle(3, true);
    std::thread::sleep(Duration::from_millis(2100));
    handle(4, false);
    Ok(())
}
