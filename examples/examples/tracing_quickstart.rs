//! The one-line setup: `logbuf_tracing::init()` installs a subscriber that reads `RUST_LOG`
//! (default `info`) and writes lines laid out like `tracing-subscriber`'s `fmt` to standard
//! error. The logging thread only encodes each event into its ring; the journal's worker
//! thread formats the text.
//!
//! ```text
//! cargo run --release -p logbuf-examples --example tracing_quickstart
//! RUST_LOG=debug cargo run --release -p logbuf-examples --example tracing_quickstart
//! ```

fn main() -> Result<(), logbuf_tracing::Error> {
    // Keep the guard until the end of `main`: dropping it writes out what is still queued.
    let _guard = logbuf_tracing::init()?;

    tracing::info!(user_id = 42u64, "signed in");
    let span = tracing::info_span!("checkout", cart_items = 3u64);
    let _entered = span.enter();
    tracing::debug!(step = "pricing", "only shown with RUST_LOG=debug");
    tracing::warn!(
        latency_ms = 250.5,
        provider = "acme",
        "payment provider slow"
    );
    let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 5 s");
    tracing::error!(
        error = &err as &(dyn std::error::Error + 'static),
        "payment failed"
    );
    Ok(())
}
