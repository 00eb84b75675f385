//! The `logbuf` command's machinery, as a library: decoding journal files and rendering them
//! ([`cat`], with the journal's own text and JSON renderers, [`render`]; one big file on
//! several threads, [`parallel`]), filters ([`filter`]), following a growing, rotating file
//! ([`follow`]), a summary ([`stats`]), Chrome trace-event export ([`export`]), and opening
//! files with one-line errors and the command's exit codes ([`input`], [`Exit`]).
//!
//! The `logbuf` binary is a thin layer of argument parsing over these modules; they write to
//! any [`std::io::Write`], so they can be driven from tests and benchmarks without a process.
//!
//! ```
//! # use logbuf_journal::Journal;
//! # use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
//! use logbuf_cli::cat::{self, Options};
//! use logbuf_cli::render::Format;
//! use logbuf_cli::Exit;
//!
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("app.lbf");
//! # let (journal, guard) = Journal::builder().file(&path)?.build()?;
//! # let cs = journal.register_callsite(&Callsite { id: 0, kind: CallsiteKind::Event,
//! #     level: Level::Info, target: "app", name: "event", module_path: None, file: None,
//! #     line: None, fields: vec!["message"] });
//! # journal.write(64, |enc, at| { enc.event(cs, at.time, at.thread, None, 1); enc.value_str("hello"); });
//! # drop(guard);
//! let mut out = Vec::new();
//! let mut diagnostics = Vec::new();
//! let options = Options { format: Format::Json, ..Options::default() };
//! let summary = cat::run_paths(&[path], &options, &mut out, &mut diagnostics)?;
//! assert_eq!(summary.exit, Exit::Ok);
//! assert_eq!(summary.events_written, 1);
//! assert!(String::from_utf8(out)?.contains(r#""message":"hello""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cat;
pub mod export;
pub mod filter;
pub mod follow;
pub mod html;
pub mod input;
pub mod otlp;
pub mod parallel;
pub mod query;
pub mod render;
pub mod stats;
pub mod time;

pub use input::Exit;
