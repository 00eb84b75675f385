//! The syslog sink against a real rsyslog: an `rsyslogd` of the test's own, listening on
//! loopback ports and Unix sockets in a temporary directory, writes every message it gets as a
//! JSON line (its own parse of the header, `MSG` and, through `mmpstrucdata`, the structured
//! data). These tests need Debian's `rsyslog` package; `.ci/run` installs it.

#![cfg(unix)]

use std::fs;
use std::io::Write as _;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use logbuf_journal::Journal;
use logbuf_journal::sink::syslog::{Facility, SyslogSink};
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use serde_json::Value as Json;

const APP: &str = "logbuf-test";
const PEN: &str = "32473";
/// How long to wait for rsyslog: generous, for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(90);

// === the daemon ===

fn rsyslogd() -> PathBuf {
    if let Some(path) = std::env::var_os("RSYSLOGD") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in dirs {
        let candidate = dir.join("rsyslogd");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "rsyslogd is not installed: the syslog sink is tested against a real rsyslog. Install \
         Debian's `rsyslog` package (`apt-get install -y rsyslog`; .ci/run does), or set \
         RSYSLOGD to the daemon's path."
    );
}

/// An rsyslogd of the test's own.
struct Rsyslog {
    dir: tempfile::TempDir,
    child: Option<Child>,
    udp: u16,
    tcp: u16,
}

impl Rsyslog {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut daemon = Rsyslog {
            dir,
            child: None,
            udp,
            tcp: 0,
        };
        daemon.launch();
        daemon
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn unix_5424(&self) -> PathBuf {
        self.path("log5424.sock")
    }

    fn unix_3164(&self) -> PathBuf {
        self.path("log3164.sock")
    }

    /// Starts the daemon on the ports chosen (TCP: one it picks, the first time) and waits
    /// until every input has passed a probe message through.
    fn launch(&mut self) {
        let dir = self.dir.path().display().to_string();
        fs::create_dir_all(self.path("work")).unwrap();
        let _ = fs::remove_file(self.path("tcp.port"));
        let tcp = if self.tcp == 0 {
            format!("port=\"0\" listenPortFileName=\"{dir}/tcp.port\"")
        } else {
            format!("port=\"{}\"", self.tcp)
        };
        let config = format!(
            r#"global(workDirectory="{dir}/work" maxMessageSize="64k"
       parser.escapeControlCharactersOnReceive="off")
# Stopped (SIGTERM), write out everything taken in: by default the main queue gives up after
# 1.5 s and discards the rest, a loss no sender can see, which a loaded machine reaches.
main_queue(queue.timeoutShutdown="120000" queue.timeoutActionCompletion="120000")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
module(load="mmpstrucdata")
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="r" rcvbufSize="4m")
input(type="imtcp" address="127.0.0.1" {tcp} ruleset="r")
input(type="imuxsock" Socket="{dir}/log5424.sock" useSpecialParser="off"
      useSysTimeStamp="off" ratelimit.interval="0" ruleset="r")
input(type="imuxsock" Socket="{dir}/log3164.sock" ratelimit.interval="0" ruleset="r")
template(name="json" type="list") {{
  constant(value="{{\"input\":\"") property(name="inputname" format="json")
  constant(value="\",\"pri\":\"") property(name="pri")
  constant(value="\",\"host\":\"") property(name="hostname" format="json")
  constant(value="\",\"app\":\"") property(name="app-name" format="json")
  constant(value="\",\"procid\":\"") property(name="procid" format="json")
  constant(value="\",\"msgid\":\"") property(name="msgid" format="json")
  constant(value="\",\"msg\":\"") property(name="msg" format="json")
  constant(value="\",\"raw\":\"") property(name="rawmsg" format="json")
  constant(value="\",\"sd\":") property(name="$!rfc5424-sd")
  constant(value="}}\n")
}}
ruleset(name="r") {{
  action(type="mmpstrucdata" sd_name.lowercase="off")
  action(type="omfile" file="{dir}/out.jsonl" template="json")
}}
"#,
            udp = self.udp,
        );
        fs::write(self.path("rsyslog.conf"), config).unwrap();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("rsyslogd.log"))
            .unwrap();
        let child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(self.path("rsyslog.conf"))
            .arg("-i")
            .arg(self.path("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", rsyslogd().display()));
        self.child = Some(child);
        if self.tcp == 0 {
            let file = self.path("tcp.port");
            self.poll("the TCP port file", || {
                fs::read_to_string(&file)
                    .ok()
                    .and_then(|t| t.trim().parse::<u16>().ok())
                    .filter(|p| *p != 0)
            });
            self.tcp = fs::read_to_string(&file).unwrap().trim().parse().unwrap();
        }
        self.probe();
    }

    /// Sends probes through every input until one of each is in the output.
    fn probe(&mut self) {
        // Unique per launch: the output file keeps the probes of the daemon that ran before.
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let id = format!("probe{n}");
        let message = format!("<14>1 - - probe - {id} - ready");
        let tcp = format!("{} {message}", message.len());
        let mut tcp_sent = false;
        let inputs = ["imudp", "imtcp", "imuxsock"];
        self.poll("rsyslog's inputs to take messages", || {
            let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
            let _ = udp.send_to(message.as_bytes(), ("127.0.0.1", self.udp));
            if !tcp_sent && let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.tcp)) {
                tcp_sent = stream.write_all(tcp.as_bytes()).is_ok();
            }
            let unix = UnixDatagram::unbound().ok()?;
            let _ = unix.send_to(message.as_bytes(), self.unix_5424());
            let _ = unix.send_to(message.as_bytes(), self.unix_3164());
            let seen = self.messages();
            let found = |input: &str| {
                seen.iter().any(|m| {
                    m["input"] == input && m["raw"].as_str().is_some_and(|r| r.contains(&id))
                })
            };
            inputs.iter().all(|i| found(i)).then_some(())
        });
    }

    /// Waits for `what`, panicking with the daemon's output at the deadline.
    fn poll<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(found) = check() {
                return found;
            }
            if Instant::now() > deadline {
                let log = fs::read_to_string(self.path("rsyslogd.log")).unwrap_or_default();
                let ours = self.messages().iter().filter(|m| m["app"] == APP).count();
                panic!(
                    "waited {DEADLINE:?} for {what}; rsyslog wrote {ours} messages of the test's; \
                     rsyslogd said:\n{log}"
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every message the daemon has written so far, parsed; the probes left out.
    fn messages(&self) -> Vec<Json> {
        let text = fs::read_to_string(self.path("out.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|l| l.ends_with('}'))
            .map(|line| {
                let line = line.replace("\"sd\":}", "\"sd\":null}");
                serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("rsyslog wrote a line that is not JSON ({e}): {line}")
                })
            })
            .collect()
    }

    /// The messages of the test's app from `input`, once `done` says they are all there.
    fn wait_for(&self, input: &str, done: impl Fn(&[Json]) -> bool) -> Vec<Json> {
        self.poll(&format!("the messages through {input}"), || {
            let ours: Vec<Json> = self
                .messages()
                .into_iter()
                .filter(|m| m["input"] == input && m["app"] == APP)
                .collect();
            done(&ours).then_some(ours)
        })
    }

    /// The messages of the test's app from `input` once `done` says they are all there, or once
    /// nothing new has come for 20 s (for a test whose program has sent everything).
    fn wait_settled(&self, input: &str, done: impl Fn(&[Json]) -> bool) -> Vec<Json> {
        let mut last = (0, Instant::now());
        self.poll(&format!("the messages through {input}"), || {
            let ours: Vec<Json> = self
                .messages()
                .into_iter()
                .filter(|m| m["input"] == input && m["app"] == APP)
                .collect();
            if ours.len() != last.0 {
                last = (ours.len(), Instant::now());
            }
            (done(&ours) || last.1.elapsed() > Duration::from_secs(20)).then_some(ours)
        })
    }

    /// SIGTERM, and waits for the daemon to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = libc::pid_t::try_from(child.id()).unwrap();
            // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's, not
            // yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            child.wait().unwrap();
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// === the program that logs ===

/// A journal whose only sink is the syslog sink, with an event callsite of typed fields inside
/// a span.
struct Program {
    journal: Journal,
    guard: Option<logbuf_journal::Guard>,
    event: u64,
    span: u64,
}

impl Program {
    fn new(sink: SyslogSink) -> Self {
        let sink = sink.with_format(|f| f.with_app_name(APP).with_facility(Facility::Local0));
        let (journal, guard) = Journal::builder().sink(sink).build().unwrap();
        let event = journal.register_callsite(&Callsite {
            id: 0,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "app::orders",
            name: "event src/orders.rs:7",
            module_path: Some("app::orders"),
            file: Some("src/orders.rs"),
            line: Some(7),
            fields: vec!["message", "seq", "text", "delta", "ratio", "ok"],
        });
        let span = journal.register_callsite(&Callsite {
            id: 0,
            kind: CallsiteKind::Span,
            level: Level::Info,
            target: "app",
            name: "request",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["path", "n"],
        });
        journal.write_span(256, |enc, at| {
            enc.span_new(1, None, span, at.time, at.thread, 2);
            enc.value_str("/orders/[7]");
            enc.value_u64(7);
        });
        Program {
            journal,
            guard: Some(guard),
            event,
            span: 1,
        }
    }

    fn log(&self, seq: u64, text: &str) {
        let written = self.journal.write(256 + text.len(), |enc, at| {
            enc.event(self.event, at.time, at.thread, Some(self.span), 6);
            enc.value_debug(format_args!("order {seq} placed"));
            enc.value_u64(seq);
            enc.value_str(text);
            enc.value_i64(-(seq as i64));
            enc.value_f64(seq as f64 + 0.25);
            enc.value_bool(seq.is_multiple_of(2));
        });
        assert_eq!(written, logbuf_journal::Written::Committed);
    }

    /// Drops the guard: the worker writes everything and the sink drains.
    fn finish(&mut self) {
        self.guard.take();
    }
}

/// The `seq` of each event message, from its structured data.
fn seqs(messages: &[Json]) -> Vec<u64> {
    messages
        .iter()
        .filter(|m| m["msgid"] == "app::orders")
        .map(|m| {
            m["sd"][format!("fields@{PEN}")]["seq"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no seq in {m}"))
        })
        .collect()
}

/// Asserts each of `0..n` is in `seqs` exactly once.
fn each_once(seqs: &[u64], n: u64) {
    let mut counts = vec![0u32; n as usize];
    for &s in seqs {
        counts[usize::try_from(s).unwrap()] += 1;
    }
    let wrong: Vec<(usize, u32)> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 1)
        .map(|(i, c)| (i, *c))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "seq and times seen, for those not seen once: {wrong:?}"
    );
}

/// Text with the characters RFC 5424 makes the structured data escape, non-ASCII text and
/// control characters.
fn hostile(seq: u64) -> String {
    format!("q\"b\\s]e[{seq}] é✓ 日本 tab\there nl\ncr\resc\x1b[31m del\x7f c1\u{9b} end")
}

/// Checks one event message as rsyslog parsed it.
fn check_event(m: &Json, seq: u64, text: &str) {
    let pid = std::process::id().to_string();
    assert_eq!(m["pri"], (16 * 8 + 6).to_string(), "{m}");
    assert_eq!(m["app"], APP);
    assert_eq!(m["procid"], pid);
    assert_eq!(m["msgid"], "app::orders");
    let sd = &m["sd"];
    let meta = &sd[format!("logbuf@{PEN}")];
    assert_eq!(meta["level"], "INFO");
    assert_eq!(meta["target"], "app::orders");
    assert_eq!(meta["file"], "src/orders.rs");
    assert_eq!(meta["line"], "7");
    let fields = &sd[format!("fields@{PEN}")];
    assert_eq!(fields["message"], format!("order {seq} placed"));
    assert_eq!(fields["seq"], seq.to_string());
    // Exactly the text logged: escapes undone, control characters and non-ASCII as they were.
    assert_eq!(fields["text"], text, "{m}");
    assert_eq!(fields["delta"], (-(seq as i64)).to_string());
    assert_eq!(
        fields["ratio"].as_str().unwrap().parse::<f64>().unwrap(),
        seq as f64 + 0.25
    );
    assert_eq!(fields["ok"], (seq.is_multiple_of(2)).to_string());
    let span = &sd[format!("span1@{PEN}")];
    assert_eq!(span["name"], "request");
    assert_eq!(span["path"], "/orders/[7]");
    assert_eq!(span["n"], "7");
    // The timestamp as sent: microseconds and an offset.
    let raw = m["raw"].as_str().unwrap();
    let stamp = raw.split(' ').nth(1).unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
    assert_eq!(
        stamp.len(),
        "2026-11-29T07:40:00.123456+01:00".len(),
        "{stamp}"
    );
    let age = chrono::Utc::now().signed_duration_since(parsed);
    assert!(
        age.num_seconds().abs() < 600,
        "{stamp} is not the time of logging"
    );
    // The text: the text sink's rendering, no control character, a BOM before non-ASCII.
    let msg = m["msg"].as_str().unwrap();
    assert!(!msg.chars().any(|c| c.is_control()), "{msg:?}");
    let body = if text.is_ascii() {
        msg
    } else {
        msg.strip_prefix('\u{feff}')
            .unwrap_or_else(|| panic!("no BOM: {msg:?}"))
    };
    assert!(
        body.starts_with(&format!(
            "request{{path=\"/orders/[7]\" n=7}}: app::orders: order {seq} placed seq={seq} text="
        )),
        "{body:?}"
    );
}

// === tests ===

#[test]
fn tcp_every_event_arrives_once_with_its_fields() {
    let daemon = Rsyslog::start();
    let sink = SyslogSink::tcp(("127.0.0.1", daemon.tcp)).unwrap();
    let stats = sink.stats();
    let mut program = Program::new(sink);
    let n = 1000;
    for seq in 0..n {
        program.log(seq, &hostile(seq));
    }
    program.finish();
    let messages = daemon.wait_for("imtcp", |m| m.len() as u64 >= n);
    each_once(&seqs(&messages), n);
    for m in &messages {
        let seq = seqs(std::slice::from_ref(m))[0];
        check_event(m, seq, &hostile(seq));
    }
    assert_eq!((stats.sent(), stats.lost(), stats.buffered()), (n, 0, 0));
    assert_eq!(program.journal.stats().sink_errors, 0);
}

#[test]
fn udp_every_event_arrives_once_with_its_fields() {
    let daemon = Rsyslog::start();
    let sink = SyslogSink::udp(("127.0.0.1", daemon.udp)).unwrap();
    let stats = sink.stats();
    let mut program = Program::new(sink);
    let n = 300;
    for seq in 0..n {
        program.log(seq, &hostile(seq));
    }
    program.finish();
    let messages = daemon.wait_for("imudp", |m| m.len() as u64 >= n);
    each_once(&seqs(&messages), n);
    for m in &messages {
        let seq = seqs(std::slice::from_ref(m))[0];
        check_event(m, seq, &hostile(seq));
    }
    assert_eq!((stats.sent(), stats.lost()), (n, 0));
}

#[test]
fn unix_socket_rfc5424_every_event_arrives_once_with_its_fields() {
    let daemon = Rsyslog::start();
    let sink = SyslogSink::unix(daemon.unix_5424()).with_format(|f| f.rfc5424());
    let stats = sink.stats();
    let mut program = Program::new(sink);
    let n = 300;
    for seq in 0..n {
        program.log(seq, &hostile(seq));
    }
    program.finish();
    let messages = daemon.wait_for("imuxsock", |m| m.len() as u64 >= n);
    each_once(&seqs(&messages), n);
    for m in &messages {
        let seq = seqs(std::slice::from_ref(m))[0];
        check_event(m, seq, &hostile(seq));
    }
    assert_eq!((stats.sent(), stats.lost()), (n, 0));
}

#[test]
fn unix_socket_rfc3164_is_parsed_by_the_default_local_parser() {
    let daemon = Rsyslog::start();
    // `unix` starts with RFC 3164 as syslog(3) writes it: what imuxsock parses by default.
    let sink = SyslogSink::unix(daemon.unix_3164());
    let stats = sink.stats();
    let mut program = Program::new(sink);
    let n = 100;
    for seq in 0..n {
        program.log(seq, "plain é");
    }
    program.finish();
    let messages = daemon.wait_for("imuxsock", |m| m.len() as u64 >= n);
    assert_eq!(messages.len() as u64, n);
    let pid = std::process::id().to_string();
    for (seq, m) in messages.iter().enumerate() {
        assert_eq!(m["pri"], (16 * 8 + 6).to_string());
        assert_eq!(m["procid"], pid);
        let msg = m["msg"].as_str().unwrap().trim_start();
        assert_eq!(
            msg,
            format!(
                "request{{path=\"/orders/[7]\" n=7}}: app::orders: order {seq} placed seq={seq} \
                 text=\"plain é\" delta={} ratio={}.25 ok={}",
                -(seq as i64),
                seq,
                seq.is_multiple_of(2)
            )
        );
    }
    assert_eq!((stats.sent(), stats.lost()), (n, 0));
}

/// rsyslog stopped and started again while the program logs: the sink notices the closed
/// connection before writing into it, buffers while the daemon is away, drops what does not
/// fit and counts it, reconnects, and tells the daemon how many messages it lost. Everything
/// logged arrives once or is counted lost.
#[test]
fn tcp_restart_loses_only_what_is_counted() {
    let mut daemon = Rsyslog::start();
    let sink = SyslogSink::tcp(("127.0.0.1", daemon.tcp))
        .unwrap()
        .with_buffer_limit(16 * 1024)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(200));
    let stats = sink.stats();
    let mut program = Program::new(sink);
    let per_phase = 300;
    // The connection is made at the worker's first flush; a burst before it is up would fill
    // the small buffer.
    daemon.poll("the first connection", || {
        (stats.connections() > 0).then_some(())
    });

    // While the daemon runs: all of it arrives.
    for seq in 0..per_phase {
        program.log(seq, "before");
    }
    assert!(program.journal.flush());
    daemon.wait_for("imtcp", |m| seqs(m).len() as u64 >= per_phase);
    daemon.stop();

    // While it is down: the buffer takes 16 KiB, the rest is lost and counted.
    for seq in per_phase..2 * per_phase {
        program.log(seq, "while down");
        if seq % 50 == 0 {
            assert!(program.journal.flush());
        }
    }
    assert!(program.journal.flush());
    assert!(stats.lost() > 0, "the buffer should have overflowed");
    assert!(stats.failures() > 0);

    daemon.launch();
    for seq in 2 * per_phase..3 * per_phase {
        program.log(seq, "after");
        if seq % 50 == 0 {
            assert!(program.journal.flush());
        }
    }
    program.finish();
    let total = 3 * per_phase;
    let lost = stats.lost();
    let messages = daemon.wait_settled("imtcp", |m| seqs(m).len() as u64 + lost >= total);
    let seen = seqs(&messages);
    let mut counts = vec![0u32; total as usize];
    for &s in &seen {
        counts[s as usize] += 1;
    }
    assert!(counts.iter().all(|&c| c <= 1), "a message arrived twice");
    assert!(
        counts[..per_phase as usize].iter().all(|&c| c == 1),
        "lost while the daemon ran"
    );
    assert_eq!(seen.len() as u64 + lost, total, "lost messages not counted");
    assert!(stats.connections() >= 2);
    // The daemon was told of every loss.
    let reported: u64 = messages
        .iter()
        .filter(|m| m["msgid"] == "logbuf")
        .map(|m| {
            m["sd"][format!("lost@{PEN}")]["count"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(reported, lost);
    // And the journal counted the losses as sink errors.
    assert!(program.journal.stats().sink_errors >= lost);
}

/// No daemon at all: the worker goes on (flushes complete), the buffer stays bounded, every
/// message is counted lost and the errors reach the journal's counters.
#[test]
fn no_daemon_keeps_the_buffer_bounded_and_counts_every_loss() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sink = SyslogSink::tcp(("127.0.0.1", port))
        .unwrap()
        .with_buffer_limit(8 * 1024)
        .with_drain_timeout(Duration::from_millis(100));
    let stats = sink.stats();
    let mut program = Program::new(sink);
    let n = 2000;
    for seq in 0..n {
        program.log(seq, "nobody listens");
    }
    assert!(program.journal.flush_timeout(Duration::from_secs(60)));
    assert!(stats.buffered() > 0 && stats.buffered() * 100 < 8 * 1024);
    assert_eq!(stats.lost() + stats.buffered(), n);
    assert!(program.journal.stats().sink_errors >= stats.lost());
    program.finish();
    assert_eq!((stats.sent(), stats.lost(), stats.buffered()), (0, n, 0));
}

/// rsyslog stopped and started five times while the program logs without pause: what it
/// had taken but not read when it stopped is sent again (it resets the connection), so every
/// event arrives, some twice, none more often than the sink says it sent again.
#[test]
fn tcp_restarts_under_load_lose_nothing_uncounted() {
    let mut daemon = Rsyslog::start();
    let sink = SyslogSink::tcp(("127.0.0.1", daemon.tcp))
        .unwrap()
        // More than the test sends in all (about 7 MB): a daemon starved of CPU on a loaded
        // machine stops with its socket buffer full, which may hold more than the default
        // window (Linux grows a loopback receive buffer up to `net.ipv4.tcp_rmem`'s largest,
        // 6 to 32 MiB); with a window that covers what it held, nothing is lost unseen.
        .with_resend_window(8 << 20)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(200));
    let stats = sink.stats();
    let mut program = Program::new(sink);
    daemon.poll("the first connection", || {
        (stats.connections() > 0).then_some(())
    });
    let mut seq = 0;
    let mut log_for = |program: &Program, time: Duration| {
        let until = Instant::now() + time;
        while Instant::now() < until {
            program.log(seq, "under load");
            seq += 1;
            thread::sleep(Duration::from_micros(20));
        }
    };
    for _ in 0..5 {
        log_for(&program, Duration::from_millis(300));
        daemon.stop();
        log_for(&program, Duration::from_millis(200));
        daemon.launch();
    }
    log_for(&program, Duration::from_millis(100));
    program.finish();
    let total = seq;
    let lost = stats.lost();
    let messages = daemon.wait_settled("imtcp", |m| {
        let mut seen: Vec<u64> = seqs(m);
        seen.sort_unstable();
        seen.dedup();
        seen.len() as u64 + lost >= total
    });
    let seen = seqs(&messages);
    let mut counts = vec![0u64; total as usize];
    for &s in &seen {
        counts[s as usize] += 1;
    }
    let distinct = counts.iter().filter(|&&c| c > 0).count() as u64;
    let twice: u64 = counts.iter().map(|&c| c.saturating_sub(1)).sum();
    eprintln!(
        "{total} logged, {distinct} arrived, {twice} twice, {lost} lost, {} sent again",
        stats.resent()
    );
    assert_eq!(
        distinct + lost,
        total,
        "messages lost without being counted"
    );
    assert!(twice <= stats.resent());
    assert!(stats.connections() >= 6);
}

/// rsyslog stopped and started again under UDP: while it is away the sink finds out with an
/// empty datagram, not with a message, so only the first message after the stop (the one whose
/// refusal tells the sink) can be lost unseen.
#[test]
fn udp_restart_loses_at_most_the_first_datagram_unseen() {
    let mut daemon = Rsyslog::start();
    let sink = SyslogSink::udp(("127.0.0.1", daemon.udp))
        .unwrap()
        .with_backoff(Duration::from_millis(10), Duration::from_millis(100));
    let stats = sink.stats();
    let mut program = Program::new(sink);
    let per_phase = 100;
    for seq in 0..per_phase {
        program.log(seq, "before");
    }
    assert!(program.journal.flush());
    daemon.wait_for("imudp", |m| seqs(m).len() as u64 >= per_phase);
    daemon.stop();
    // Over a second while it is down: many attempts to reach it.
    for seq in per_phase..2 * per_phase {
        program.log(seq, "while down");
        thread::sleep(Duration::from_millis(10));
    }
    assert!(program.journal.flush());
    assert!(stats.failures() > 3, "{stats:?}");
    daemon.launch();
    for seq in 2 * per_phase..3 * per_phase {
        program.log(seq, "after");
    }
    program.finish();
    let total = 3 * per_phase;
    let lost = stats.lost();
    let messages = daemon.wait_settled("imudp", |m| seqs(m).len() as u64 + lost + 1 >= total);
    let seen = seqs(&messages);
    let mut counts = vec![0u32; total as usize];
    for &s in &seen {
        counts[s as usize] += 1;
    }
    assert!(counts.iter().all(|&c| c <= 1), "a message arrived twice");
    let missing: Vec<usize> = (0..total as usize).filter(|&i| counts[i] == 0).collect();
    assert_eq!(lost, 0);
    assert!(missing.len() <= 1, "lost unseen: {missing:?} ({stats:?})");
}
