//! Shared helpers for the benches and latency harnesses.
