//! JSON lines with the keys of `tracing-subscriber`'s JSON format.
