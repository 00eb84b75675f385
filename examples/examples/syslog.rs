//! logbuf feeding rsyslog: `tracing` events in spans go through the journal to a syslog daemon
//! as RFC 5424 messages over TCP, their fields and spans as structured data.
//!
//! ```text
//! cargo run -p logbuf-examples --example syslog                   # starts an rsyslogd of its own
//! cargo run -p logbuf-examples --example syslog -- 127.0.0.1:514  # or sends to a running daemon
//! ```
//!
//! Without an address it starts `rsyslogd` (Debian's `rsyslog` package) on a loopback port
//! with a configuration of its own in a temporary directory, and prints what the daemon wrote:
//! each message as received, then its structured data as rsyslog's `mmpstrucdata` parsed it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use logbuf_journal::sink::syslog::{Facility, SyslogSink};
use tracing_subscriber::layer::SubscriberExt;

/// The rsyslog configuration: TCP on a port it picks (written to `tcp.port`), every message
/// to `messages.log` as received and with its structured data parsed.
const CONFIG: &str = r#"
global(workDirectory="DIR")
module(load="imtcp")
module(load="mmpstrucdata")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="DIR/tcp.port" ruleset="app")
template(name="parsed" type="string" string="%rawmsg%\n    -> %$!rfc5424-sd%\n")
ruleset(name="app") {
  action(type="mmpstrucdata")
  action(type="omfile" file="DIR/messages.log" template="parsed")
}
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let own = match std::env::args().nth(1) {
        Some(addr) => Own::None(addr),
        None => Own::start()?,
    };
    let sink = SyslogSink::tcp(own.addr())?
        .with_format(|f| f.with_app_name("shop").with_facility(Facility::Local0));
    let stats = sink.stats();
    let (layer, guard) = logbuf_tracing::LogbufLayer::builder().sink(sink).build()?;
    let subscriber = tracing_subscriber::registry().with(layer);

    tracing::subscriber::with_default(subscriber, || {
        for order in 0..3u64 {
            let span = tracing::info_span!("order", id = order, path = "/api/orders");
            let _entered = span.enter();
            tracing::info!(
                items = order + 1,
                total = 9.5 * order as f64,
                "order placed"
            );
        }
        tracing::warn!(
            provider = "acme \"pay\"",
            latency_ms = 812u64,
            "payment slow"
        );
    });
    drop(guard); // sends everything (waiting at most a second for the daemon)
    println!(
        "sent {} messages, lost {}, over {} connection(s)",
        stats.sent(),
        stats.lost(),
        stats.connections()
    );

    if let Own::Rsyslog { dir, .. } = &own {
        let log = dir.join("messages.log");
        let text = wait_for(|| {
            let text = std::fs::read_to_string(&log).ok()?;
            (text.matches("\n    -> ").count() >= 4).then_some(text)
        })
        .ok_or("rsyslog wrote nothing in 30 s")?;
        println!("rsyslog wrote ({}):\n{text}", log.display());
    }
    Ok(())
}

/// The daemon to send to: one of the example's own, or the address given.
enum Own {
    None(String),
    Rsyslog {
        child: Child,
        dir: PathBuf,
        port: u16,
    },
}

impl Own {
    fn start() -> Result<Own, Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("logbuf-syslog-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("rsyslog.conf");
        std::fs::write(&config, CONFIG.replace("DIR", &dir.display().to_string()))?;
        let child = Command::new(rsyslogd())
            .args(["-n", "-f"])
            .arg(&config)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start rsyslogd ({e}): install Debian's `rsyslog` package, or give \
                     the address of a running daemon"
                )
            })?;
        let port_file = dir.join("tcp.port");
        let port = wait_for(|| {
            std::fs::read_to_string(&port_file)
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .ok_or("rsyslogd did not open its TCP port in 30 s")?;
        Ok(Own::Rsyslog { child, dir, port })
    }

    fn addr(&self) -> String {
        match self {
            Own::None(addr) => addr.clone(),
            Own::Rsyslog { port, .. } => format!("127.0.0.1:{port}"),
        }
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        if let Own::Rsyslog { child, dir, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn rsyslogd() -> PathBuf {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map_or_else(|| PathBuf::from("rsyslogd"), Path::to_path_buf)
}

fn wait_for<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(found) = check() {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}
