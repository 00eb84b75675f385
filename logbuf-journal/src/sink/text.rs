//! Human-readable text, laid out like `tracing-subscriber`'s `fmt` output.
