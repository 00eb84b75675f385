//! `logbuf follow` on a live file whose last frame has a damaged length: the frames written
//! after it are printed as they come, not after 16 MiB more.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logbuf_cli::follow::{self, FollowOptions};
use logbuf_journal::file::{FileHeader, FileWriter};
use logbuf_journal::wire::{Callsite, CallsiteKind, Clock, Event, Level, Record, Value};

fn header() -> FileHeader {
    FileHeader {
        pid: 7,
        program: "live".into(),
        clock: Clock {
            ticks: 1_000,
            unix_nanos: 1_764_000_000_000_000_000,
        },
    }
}

fn encode(record: &Record<'_>) -> Vec<u8> {
    postcard::to_allocvec(record).unwrap()
}

fn event(message: &str) -> Vec<u8> {
    encode(&Record::Event(Event {
        callsite: 1,
        time: 2_000,
        thread: 1,
        parent: None,
        values: vec![Value::Str(message)],
    }))
}

/// Frames holding `records`, one block each, as a writer appends them (no preamble).
fn frames(records: &[Vec<u8>]) -> Vec<u8> {
    let mut w = FileWriter::new(Vec::new(), &header()).unwrap();
    let skip = w.bytes_written() as usize;
    for record in records {
        w.write_record(record).unwrap();
        w.end_block().unwrap();
    }
    w.finish().unwrap()[skip..].to_vec()
}

/// Output the test can look at while `follow` writes it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Waits up to `limit` for the output to contain `what`.
    fn wait_for(&self, what: &str, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.text().contains(what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

#[test]
fn a_damaged_length_at_the_live_tail_does_not_hold_up_later_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.lbf");
    let mut w = FileWriter::new(std::fs::File::create(&path).unwrap(), &header()).unwrap();
    w.write_record(&encode(&Record::Callsite(Callsite {
        id: 1,
        kind: CallsiteKind::Event,
        level: Level::Info,
        target: "app",
        name: "event",
        module_path: None,
        file: None,
        line: None,
        fields: vec!["message"],
    })))
    .unwrap();
    w.write_record(&event("before-damage")).unwrap();
    w.flush().unwrap();
    // A frame header whose length was damaged to just under 16 MiB, and a little of its
    // payload: the last bytes of the file when `follow` starts.
    let damaged_len: u32 = (16 << 20) - 16;
    let file = w.get_mut();
    file.write_all(&damaged_len.to_le_bytes()).unwrap();
    file.write_all(&[0x5a; 4]).unwrap();
    file.write_all(&[0x01, 0x02, 0x03]).unwrap();
    file.flush().unwrap();
    drop(w);

    let out = Shared::default();
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (out, stop, path) = (out.clone(), stop.clone(), path.clone());
        std::thread::spawn(move || {
            let options = FollowOptions {
                poll: Duration::from_millis(10),
                ..FollowOptions::default()
            };
            let mut out = out;
            let mut diagnostics = Vec::new();
            let exit = follow::run(&path, &options, &mut out, &mut diagnostics, &|| {
                stop.load(Ordering::Relaxed)
            });
            (exit.unwrap(), String::from_utf8(diagnostics).unwrap())
        })
    };
    assert!(
        out.wait_for("before-damage", Duration::from_secs(20)),
        "backlog not printed: {:?}",
        out.text()
    );

    // The writer goes on: whole frames after the damaged one.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(&frames(&[event("after-1"), event("after-2")]))
        .unwrap();
    file.flush().unwrap();
    let printed = out.wait_for("after-2", Duration::from_secs(20));
    // And again, once the damage is behind.
    file.write_all(&frames(&[event("after-3")])).unwrap();
    file.flush().unwrap();
    let printed_later = printed && out.wait_for("after-3", Duration::from_secs(20));
    stop.store(true, Ordering::Relaxed);
    let (_, diagnostics) = follower.join().unwrap();
    assert!(
        printed,
        "frames after the damage not printed: {:?}",
        out.text()
    );
    assert!(printed_later, "{:?}", out.text());
    let text = out.text();
    let order: Vec<usize> = ["before-damage", "after-1", "after-2", "after-3"]
        .iter()
        .map(|m| text.find(m).unwrap())
        .collect();
    assert!(order.is_sorted(), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
    // Stopped while following: what was unread is not reported as damage.
    assert!(!diagnostics.contains("panicked"), "{diagnostics}");
}
