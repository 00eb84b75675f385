//! The syslog sink's promises under faults, against daemons played by the test itself (no
//! rsyslogd needed): a TCP daemon that stops reading never makes the worker wait and every
//! message it does not get is counted and reported to it; a full Unix datagram socket pushes
//! back without losing anything; a datagram the socket refuses as too large is lost, counted,
//! and the messages after it still go.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use logbuf_journal::sink::syslog::SyslogSink;
use logbuf_journal::wire::{Callsite, CallsiteKind, Level};
use logbuf_journal::{FullPolicy, Journal, Written};

/// How long to wait for anything: generous, for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

struct Program {
    journal: Journal,
    guard: Option<logbuf_journal::Guard>,
    event: u64,
}

impl Program {
    fn new(sink: SyslogSink) -> Self {
        let sink = sink.with_format(|f| f.rfc5424().with_app_name("shop"));
        let (journal, guard) = Journal::builder()
            .policy(FullPolicy::Block)
            .ring_capacity(1 << 20)
            .sink(sink)
            .build()
            .unwrap();
        let event = journal.register_callsite(&Callsite {
            id: 0,
            kind: CallsiteKind::Event,
            level: Level::Info,
            target: "app",
            name: "event",
            module_path: None,
            file: None,
            line: None,
            fields: vec!["seq", "pad"],
        });
        Program {
            journal,
            guard: Some(guard),
            event,
        }
    }

    fn log(&self, seq: u64, pad: usize) {
        let text = "x".repeat(pad);
        let written = self.journal.write(64 + pad, |enc, at| {
            enc.event(self.event, at.time, at.thread, None, 2);
            enc.value_u64(seq);
            enc.value_str(&text);
        });
        assert_eq!(written, Written::Committed);
    }

    fn finish(&mut self) {
        self.guard.take();
    }
}

/// The number after `key="` in `message`.
fn number(message: &str, key: &str) -> Option<u64> {
    let at = message.find(&format!(" {key}=\""))? + key.len() + 3;
    let digits: String = message[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Splits an octet-counted stream (RFC 6587) into its messages.
fn frames(mut bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let space = bytes.iter().position(|b| *b == b' ').expect("a length");
        let len: usize = std::str::from_utf8(&bytes[..space])
            .unwrap()
            .parse()
            .unwrap();
        let message = &bytes[space + 1..space + 1 + len];
        out.push(String::from_utf8(message.to_vec()).unwrap());
        bytes = &bytes[space + 1 + len..];
    }
    out
}

#[test]
fn a_tcp_daemon_that_stops_reading_never_blocks_the_worker_and_every_loss_is_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sink = SyslogSink::tcp(addr)
        .unwrap()
        .with_buffer_limit(64 * 1024)
        .with_drain_timeout(DEADLINE);
    let stats = sink.stats();
    let mut program = Program::new(sink);
    // The daemon takes the connection and reads nothing.
    let (stream, _) = listener.accept().unwrap();
    let n = 40_000;
    for seq in 0..n {
        program.log(seq, 1000);
    }
    // The worker got through every record though the daemon reads nothing: 40 MB do not fit
    // in the sockets' buffers and the sink's 64 KiB.
    assert!(program.journal.flush_timeout(DEADLINE));
    assert!(stats.lost() > 0, "{stats:?}");
    assert!(program.journal.stats().sink_errors >= 1);
    // The daemon reads again.
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let bytes = bytes.clone();
        thread::spawn(move || {
            let mut stream = stream;
            let mut chunk = vec![0; 1 << 16];
            loop {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => bytes.lock().unwrap().extend_from_slice(&chunk[..k]),
                }
            }
        })
    };
    for seq in n..n + 10 {
        program.log(seq, 10);
    }
    program.finish();
    reader.join().unwrap();
    let messages = frames(&bytes.lock().unwrap());
    let mut seen = vec![0u32; (n + 10) as usize];
    let mut reported = 0;
    for m in &messages {
        assert!(m.len() <= 8192, "longer than the limit: {}", m.len());
        if let Some(count) = number(m, "count").filter(|_| m.contains("[lost@")) {
            reported += count;
        } else {
            let seq = number(m, "seq").unwrap_or_else(|| panic!("no seq: {m}"));
            seen[seq as usize] += 1;
        }
    }
    assert!(seen.iter().all(|c| *c <= 1), "a message arrived twice");
    let arrived = seen.iter().filter(|c| **c == 1).count() as u64;
    // Every message arrived or is counted lost, and the daemon was told of every loss.
    assert_eq!(arrived + stats.lost(), n + 10, "{stats:?}");
    assert_eq!(reported, stats.lost(), "{stats:?}");
}

#[cfg(unix)]
#[test]
fn a_full_unix_datagram_socket_pushes_back_and_loses_nothing() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let daemon = UnixDatagram::bind(&path).unwrap();
    let sink = SyslogSink::unix(&path)
        .with_buffer_limit(8 << 20)
        .with_drain_timeout(DEADLINE);
    let stats = sink.stats();
    let mut program = Program::new(sink);
    let n = 5_000;
    for seq in 0..n {
        program.log(seq, 300);
    }
    assert!(program.journal.flush_timeout(DEADLINE));
    // Far more than a datagram socket queues: the rest waits in the sink.
    let start = Instant::now();
    while stats.buffered() == 0 {
        assert!(start.elapsed() < DEADLINE, "nothing waits: {stats:?}");
        assert!(program.journal.flush_timeout(DEADLINE));
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(stats.lost(), 0);
    let reader = thread::spawn(move || {
        let mut seen = vec![0u32; n as usize];
        let mut buf = vec![0; 1 << 16];
        daemon.set_read_timeout(Some(DEADLINE)).unwrap();
        for _ in 0..n {
            let k = daemon.recv(&mut buf).expect("a message");
            let m = String::from_utf8_lossy(&buf[..k]).into_owned();
            seen[number(&m, "seq").unwrap() as usize] += 1;
        }
        seen
    });
    program.finish();
    let seen = reader.join().unwrap();
    assert!(seen.iter().all(|c| *c == 1));
    assert_eq!(stats.lost(), 0);
    assert_eq!(program.journal.stats().sink_errors, 0);
}

#[test]
fn a_datagram_too_large_for_udp_is_lost_counted_and_the_rest_go() {
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    daemon.set_read_timeout(Some(DEADLINE)).unwrap();
    let sink = SyslogSink::udp(daemon.local_addr().unwrap())
        .unwrap()
        .with_format(|f| f.with_max_len(200_000))
        .with_drain_timeout(DEADLINE);
    let stats = sink.stats();
    let mut program = Program::new(sink);
    program.log(0, 10);
    // Over the 65 507 bytes a UDP datagram can carry.
    program.log(1, 70_000);
    program.log(2, 10);
    program.finish();
    assert_eq!(stats.lost(), 1, "{stats:?}");
    assert!(program.journal.stats().sink_errors >= 1);
    let mut seqs = Vec::new();
    let mut reported = 0;
    let mut buf = vec![0; 1 << 17];
    while seqs.len() < 2 || reported == 0 {
        let k = daemon.recv(&mut buf).expect("a datagram");
        let m = String::from_utf8_lossy(&buf[..k]).into_owned();
        if m.contains("[lost@") {
            reported += number(&m, "count").unwrap();
        } else if let Some(seq) = number(&m, "seq") {
            seqs.push(seq);
        }
    }
    assert_eq!(seqs, [0, 2]);
    assert_eq!(reported, 1);
}
