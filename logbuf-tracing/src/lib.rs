//! A `tracing_subscriber::Layer` on the logbuf journal.
