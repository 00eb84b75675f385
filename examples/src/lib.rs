//! Runnable examples for the logbuf workspace: see `examples/README.md` for the index, and run
//! one with `cargo run --release -p logbuf-examples --example <name>`.
//!
//! The library itself holds nothing but the workspace README's snippets, compiled and run as
//! doc tests so that they keep working.

/// The workspace README's examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
