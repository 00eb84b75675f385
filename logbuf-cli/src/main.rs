//! The `logbuf` command: read, follow, filter, summarise and export logbuf binary logs.
//!
//! Exit codes: 0 every file read whole; 1 bad arguments, a file that cannot be read, or output
//! that failed; 2 a file that is not a logbuf journal; 3 a journal with damage (what could be
//! decoded was written, what was skipped is on stderr).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use logbuf_cli::cat::{self, Options};
use logbuf_cli::filter::{Filter, parse_field, parse_level};
use logbuf_cli::follow::{self, FollowOptions};
use logbuf_cli::query::{self, GroupBy, Query};
use logbuf_cli::render::{Details, Format};
use logbuf_cli::time::{now_nanos, parse_time};
use logbuf_cli::{Exit, export, stats};
use logbuf_journal::wire::Level;

const AFTER_HELP: &str = "\
Examples:
  logbuf cat app.lbf                          every event, as text
  logbuf cat app.*.lbf app.lbf --level warn   a rotated series, merged in time order, warnings and errors
  logbuf cat app.lbf --json | jq .fields      JSON lines
  ssh host cat app.lbf | logbuf cat -         standard input
  logbuf cat app.lbf --since 10m --target app::db --field user_id=42
  logbuf follow app.lbf                       like tail -f, across rotation
  logbuf stats app.lbf --top 20               counts per level, callsite and thread; damage
  logbuf export --chrome app.lbf -o trace.json   open in https://ui.perfetto.dev

Exit codes:
  0  every file was read whole
  1  bad arguments, a file that cannot be read (missing, a directory), or failed output
  2  a file is not a logbuf journal (text, random bytes, empty) or of an unknown format version
  3  damage: what could be decoded was written; what was skipped is reported on stderr";

/// Read, follow, filter, summarise and export logbuf binary logs.
#[derive(Debug, Parser)]
#[command(name = "logbuf", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode journal files to text (or JSON lines), several files merged in time order.
    #[command(after_help = "\
Examples:
  logbuf cat app.lbf
  logbuf cat app.2026-11-28.lbf app.lbf           merged by wall-clock time
  logbuf cat app.lbf --level warn --since 2026-11-29T08:00:00Z --until 30m
  logbuf cat app.lbf --thread worker-1 --span request --field status=500
  logbuf cat app.lbf --json --color never > app.jsonl")]
    Cat {
        /// Journal files (a rotated series is merged in time order); `-` reads standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Threads to render one big file with (default: the CPUs, at most 4).
        #[arg(short = 'j', long, value_name = "N")]
        jobs: Option<usize>,
        #[command(flatten)]
        show: Show,
    },
    /// Print events as they are written, like `tail -f`, following rotation (Unix only).
    #[command(after_help = "\
Examples:
  logbuf follow app.lbf
  logbuf follow app.lbf -n 0 --level error       only new errors

Rotation: when the file has no more bytes, the path is looked up again; if it names another
file (renamed away and recreated, or a moved symlink) or the file was truncated, the old file
is read to its end and the new one from its start. Stop with Ctrl-C.")]
    Follow {
        /// The journal file (its path, which rotation may point at a new file).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Events already in the file to print first.
        #[arg(short = 'n', long = "lines", default_value_t = 10, value_name = "N")]
        lines: usize,
        /// Milliseconds between looks for new bytes.
        #[arg(long, default_value_t = 100, value_name = "MS")]
        poll_ms: u64,
        #[command(flatten)]
        show: Show,
    },
    /// Summarise journal files: events per level, callsite, thread; time span; drops; damage.
    /// With --spans, span timings; with --field NAME, statistics of a field.
    #[command(after_help = "\
Examples:
  logbuf stats app.lbf
  logbuf stats app.*.lbf --top 5
  logbuf stats app.lbf --spans                       per span name: count, duration, busy, idle
  logbuf stats app.lbf --spans --html report.html    the same with a histogram per span name
  logbuf stats app.lbf --field latency_us --by callsite --since 1h
  logbuf stats app.lbf --field path --span request --json

Percentiles are exact (nearest rank over every value). Filters (--level, --target, --thread,
--since, --until, --span, --where) apply to --spans and --field.")]
    Stats {
        /// Journal files; `-` reads standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// How many of the busiest callsites (with --spans: span names; with --field: text
        /// values per group) to list.
        #[arg(long, default_value_t = 10, value_name = "N")]
        top: usize,
        /// Span timings per span name: count, duration, busy and idle time (p50, p90, p99,
        /// max, total), by total time.
        #[arg(long)]
        spans: bool,
        /// Statistics of this field of the events: count, min, p50, p90, p99, max, mean of
        /// numbers; counts of distinct values of text.
        #[arg(long, value_name = "NAME")]
        field: Option<String>,
        /// Group --field by callsite, target or innermost span.
        #[arg(long, value_enum, requires = "field", value_name = "GROUP")]
        by: Option<By>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also write the span timings, with a histogram per span name, as a self-contained
        /// HTML page.
        #[arg(long, requires = "spans", value_name = "OUT")]
        html: Option<PathBuf>,
        #[command(flatten)]
        filters: Filters,
    },
    /// Export spans and events for a trace viewer.
    #[command(after_help = "\
Examples:
  logbuf export --chrome app.lbf -o trace.json    then open it in https://ui.perfetto.dev
  logbuf export --chrome app.*.lbf > trace.json   or in chrome://tracing
  logbuf export --otlp http://localhost:4318/v1/logs app.*.lbf")]
    Export {
        /// Chrome trace-event JSON (Perfetto, chrome://tracing).
        #[arg(long, required_unless_present = "otlp", conflicts_with = "otlp")]
        chrome: bool,
        /// Send the events to an OpenTelemetry collector (OTLP/HTTP, protobuf), with progress
        /// and a summary on stderr.
        #[arg(long, value_name = "URL")]
        otlp: Option<String>,
        /// The `service.name` for --otlp (default: the program in the first file's header).
        #[arg(long, requires = "otlp", value_name = "NAME")]
        service_name: Option<String>,
        /// Journal files; `-` reads standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write to this file instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "OUT")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum By {
    Callsite,
    Target,
    Span,
}

/// The filters of `stats --spans` and `stats --field`.
#[derive(Debug, Args)]
struct Filters {
    /// The least severe level counted: trace, debug, info, warn, error.
    #[arg(long, value_parser = parse_level, value_name = "LEVEL")]
    level: Option<Level>,
    /// Only targets starting with this prefix.
    #[arg(long, value_name = "PREFIX")]
    target: Option<String>,
    /// Only this thread (for spans: the one that created them), by name or journal id.
    #[arg(long, value_name = "NAME|ID")]
    thread: Option<String>,
    /// Events (spans: created) at or after this time: RFC 3339, or a time ago like 10m.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Events (spans: created) before this time: RFC 3339, or a time ago like 10m.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events inside a span of this name (spans: of this name or inside one).
    #[arg(long, value_name = "NAME")]
    span: Option<String>,
    /// Only events (spans) whose field, or one of their spans', equals the value; repeat for
    /// several.
    #[arg(long = "where", value_parser = parse_field, value_name = "KEY=VALUE")]
    fields: Vec<(String, String)>,
}

impl Filters {
    fn filter(self) -> Result<Filter, String> {
        let now = now_nanos();
        Ok(Filter {
            level: self.level,
            target: self.target,
            thread: self.thread,
            since: self.since.map(|t| parse_time(&t, now)).transpose()?,
            until: self.until.map(|t| parse_time(&t, now)).transpose()?,
            span: self.span,
            fields: self.fields,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

/// What to show and how: shared by `cat` and `follow`.
#[derive(Debug, Args)]
struct Show {
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Show each event's thread (name and journal id).
    #[arg(long)]
    threads: bool,
    /// Show each event's source file and line.
    #[arg(long)]
    source: bool,
    /// Colours in text output.
    #[arg(long, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    color: Color,
    /// The least severe level to show: trace, debug, info, warn, error.
    #[arg(long, value_parser = parse_level, value_name = "LEVEL")]
    level: Option<Level>,
    /// Only targets starting with this prefix.
    #[arg(long, value_name = "PREFIX")]
    target: Option<String>,
    /// Only this thread, by name or journal thread id.
    #[arg(long, value_name = "NAME|ID")]
    thread: Option<String>,
    /// Events at or after this time: RFC 3339, or a time ago like 30s, 10m, 2h, 1d.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Events before this time: RFC 3339, or a time ago like 30s, 10m, 2h, 1d.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events inside a span of this name.
    #[arg(long, value_name = "NAME")]
    span: Option<String>,
    /// Only events whose field (or a span's) equals the value; repeat for several.
    #[arg(long = "field", value_parser = parse_field, value_name = "KEY=VALUE")]
    fields: Vec<(String, String)>,
}

impl Show {
    fn options(self) -> Result<Options, String> {
        let now = now_nanos();
        let since = self.since.map(|t| parse_time(&t, now)).transpose()?;
        let until = self.until.map(|t| parse_time(&t, now)).transpose()?;
        let color = match self.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Ok(Options {
            format: if self.json {
                Format::Json
            } else {
                Format::Text { color }
            },
            filter: Filter {
                level: self.level,
                target: self.target,
                thread: self.thread,
                since,
                until,
                span: self.span,
                fields: self.fields,
            },
            details: Details {
                threads: self.threads,
                source: self.source,
            },
            jobs: 1,
        })
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Error.code()
            } else {
                0
            });
        }
    };
    let stderr = io::stderr();
    let mut diagnostics = stderr.lock();
    let exit = match run(cli, &mut diagnostics) {
        Ok(exit) => exit,
        // The reader of our output went away (`logbuf cat ... | head`): not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => {
            let _ = writeln!(diagnostics, "logbuf: {e}");
            Exit::Error
        }
    };
    ExitCode::from(exit.code())
}

/// An error of ours, already worded for the user.
fn usage(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn run(cli: Cli, diagnostics: &mut dyn Write) -> io::Result<Exit> {
    let stdout = io::stdout();
    match cli.command {
        Command::Cat { files, jobs, show } => {
            let mut options = show.options().map_err(usage)?;
            options.jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
            });
            let mut out = stdout.lock();
            Ok(cat::run_paths(&files, &options, &mut out, diagnostics)?.exit)
        }
        Command::Follow {
            file,
            lines,
            poll_ms,
            show,
        } => {
            if file.as_os_str() == logbuf_cli::input::STDIN {
                return Err(usage(
                    "follow reads a file it can look at again, not standard input".to_owned(),
                ));
            }
            let options = FollowOptions {
                cat: show.options().map_err(usage)?,
                backlog: lines,
                poll: Duration::from_millis(poll_ms.max(1)),
            };
            let mut out = stdout.lock();
            follow::run(&file, &options, &mut out, diagnostics, &|| false)
        }
        Command::Stats {
            files,
            top,
            spans,
            field,
            by,
            json,
            html,
            filters,
        } => {
            let filter = filters.filter().map_err(usage)?;
            let mut out = BufWriter::new(stdout.lock());
            if !spans && field.is_none() {
                if !filter.is_empty() {
                    return Err(usage("the filters apply to --spans and --field".to_owned()));
                }
                return stats::run_as(&files, top, json, &mut out, diagnostics);
            }
            let query = Query {
                spans,
                field,
                by: match by {
                    None => GroupBy::All,
                    Some(By::Callsite) => GroupBy::Callsite,
                    Some(By::Target) => GroupBy::Target,
                    Some(By::Span) => GroupBy::Span,
                },
                filter,
                top,
            };
            let (report, exit) = query::collect(&files, &query, diagnostics);
            if let (Some(path), Some(spans)) = (&html, &report.spans) {
                let fail = |e: io::Error| {
                    usage(format!(
                        "{}: {}",
                        path.display(),
                        logbuf_cli::input::describe_io(&e)
                    ))
                };
                let mut page = BufWriter::new(File::create(path).map_err(fail)?);
                let title: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                logbuf_cli::html::write(spans, &title.join(" "), &mut page).map_err(fail)?;
                page.flush().map_err(fail)?;
            }
            if json {
                serde_json::to_writer_pretty(&mut out, &report.json(top))?;
                writeln!(out)?;
            } else {
                report.write_text(&mut out, top)?;
            }
            out.flush()?;
            Ok(exit)
        }
        Command::Export {
            chrome,
            otlp: Some(url),
            service_name,
            files,
            ..
        } => {
            debug_assert!(!chrome);
            logbuf_cli::otlp::otlp(&files, &url, service_name.as_deref(), diagnostics)
        }
        Command::Export {
            chrome,
            otlp: None,
            files,
            output,
            ..
        } => {
            debug_assert!(chrome);
            match output {
                Some(path) => {
                    let file = File::create(&path).map_err(|e| {
                        usage(format!(
                            "{}: {}",
                            path.display(),
                            logbuf_cli::input::describe_io(&e)
                        ))
                    })?;
                    let mut out = BufWriter::new(file);
                    export::chrome(&files, &mut out, diagnostics)
                }
                None => export::chrome(&files, &mut stdout.lock(), diagnostics),
            }
        }
    }
}
