//! Drop reports name the callsites whose records were lost (format 2.3): the counts each
//! report gives per callsite are the drops the writers saw, and the rest of the report's count
//! is what it does not name.

use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use logbuf_journal::sink::Entry;
use logbuf_journal::wire::{Callsite, CallsiteKind, DroppedCallsites, Level, Record};
use logbuf_journal::{Journal, Rings, Sink, Written};

/// Keeps every record's bytes.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<Vec<u8>>>>);

impl Sink for Memory {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        self.0.lock().unwrap().push(entry.bytes().to_vec());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn register(journal: &Journal, kind: CallsiteKind, n: usize) -> u64 {
    journal.register_callsite(&Callsite {
        id: 0,
        kind,
        level: Level::Info,
        target: "drops",
        name: "site",
        module_path: None,
        file: Some(file!()),
        line: Some(u32::try_from(n).unwrap()),
        fields: vec!["pad"],
    })
}

/// One drop report as the log has it: the callsites it names and its count, per thread.
#[derive(Debug)]
struct Report {
    thread: u64,
    count: u64,
    named: Vec<(u64, u64)>,
}

/// The drop reports in `records`, each with the `DroppedCallsites` record before it; panics
/// if a report comes without one, or one names more than the report counts.
fn reports(records: &[Vec<u8>]) -> Vec<Report> {
    let mut out = Vec::new();
    let mut named: Option<DroppedCallsites> = None;
    for bytes in records {
        match postcard::from_bytes::<Record<'_>>(bytes).unwrap() {
            Record::DroppedCallsites(d) => {
                assert!(named.is_none(), "two breakdowns in a row");
                named = Some(d);
            }
            Record::Dropped(d) => {
                let breakdown = named.take().expect("a breakdown before every drop report");
                assert_eq!(breakdown.thread, d.thread);
                let named: Vec<(u64, u64)> = breakdown
                    .callsites
                    .iter()
                    .map(|c| (c.callsite, c.count))
                    .collect();
                assert!(named.len() <= 8, "at most 8 callsites named: {named:?}");
                assert!(
                    named.windows(2).all(|w| w[0].1 >= w[1].1),
                    "the most first: {named:?}"
                );
                let sum: u64 = named.iter().map(|c| c.1).sum();
                assert!(sum <= d.count, "{named:?} name more than {}", d.count);
                out.push(Report {
                    thread: d.thread,
                    count: d.count,
                    named,
                });
            }
            _ => assert!(named.is_none(), "a breakdown not right before its report"),
        }
    }
    out
}

#[test]
fn drops_are_counted_per_callsite_exactly() {
    drops_per_callsite(Rings::PerThread);
}

#[test]
fn drops_are_counted_per_callsite_exactly_with_a_shared_ring() {
    drops_per_callsite(Rings::Shared);
}

/// Four threads log from five event callsites and one span callsite, with span enter records
/// between (which carry no callsite), through a small ring the worker drains slowly: every
/// callsite's drops, as `write` returned them, are the log's; the enter records' drops are
/// the rest.
fn drops_per_callsite(rings: Rings) {
    let memory = Memory::default();
    let (journal, guard) = Journal::builder()
        .rings(rings)
        .ring_capacity(4096)
        .idle_park_interval(Duration::from_millis(20))
        .sink(memory.clone())
        .build()
        .unwrap();
    let events: Vec<u64> = (0..5)
        .map(|n| register(&journal, CallsiteKind::Event, n))
        .collect();
    let span = register(&journal, CallsiteKind::Span, 99);
    let pad = "p".repeat(80);
    let seen: Vec<(BTreeMap<u64, u64>, u64, u64)> = thread::scope(|s| {
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let (journal, events, pad) = (journal.clone(), &events, &pad);
                s.spawn(move || {
                    let mut per_callsite = BTreeMap::new();
                    let (mut enters, mut total) = (0, 0);
                    for i in 0..6_000u64 {
                        // Callsites lose records in different numbers: 0 most, 4 least.
                        let k = usize::try_from((i * (t + 1)) % 15).unwrap();
                        let which = [0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4][k];
                        let (callsite, written) = match i % 7 {
                            0 => (
                                span,
                                journal.write_span_new(span, 96, |enc, at| {
                                    enc.span_new(i + 1, None, span, at.time, at.thread, 1);
                                    enc.value_str(pad);
                                }),
                            ),
                            1 => (
                                0,
                                journal.write_span(32, |enc, at| {
                                    enc.span_enter(i, at.time, at.thread);
                                }),
                            ),
                            _ => {
                                let cs = events[which];
                                (
                                    cs,
                                    journal.write_event(cs, 96, |enc, at| {
                                        enc.event(cs, at.time, at.thread, None, 1);
                                        enc.value_str(pad);
                                    }),
                                )
                            }
                        };
                        if written == Written::Dropped {
                            total += 1;
                            match callsite {
                                0 => enters += 1,
                                cs => *per_callsite.entry(cs).or_insert(0) += 1,
                            }
                        }
                    }
                    (per_callsite, enters, total)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    drop(guard);

    let mut expected = BTreeMap::new();
    let (mut enters, mut total) = (0, 0);
    for (per_callsite, e, t) in seen {
        for (cs, n) in per_callsite {
            *expected.entry(cs).or_insert(0) += n;
        }
        enters += e;
        total += t;
    }
    // 2 MB through 4 KiB rings and a worker that naps: records were lost, from every
    // callsite.
    assert!(total > 0);
    assert_eq!(expected.len(), 6, "{expected:?}");

    let mut named = BTreeMap::new();
    let (mut others, mut reported) = (0, 0);
    for report in reports(&memory.0.lock().unwrap()) {
        assert_ne!(report.thread, 0, "no drop went unattributed");
        let sum: u64 = report.named.iter().map(|c| c.1).sum();
        for (cs, n) in report.named {
            *named.entry(cs).or_insert(0) += n;
        }
        others += report.count - sum;
        reported += report.count;
    }
    assert_eq!(reported, total, "every drop reported");
    assert_eq!(
        named, expected,
        "the drops of each callsite, as the writers saw them"
    );
    assert_eq!(
        others, enters,
        "the rest: the enter records, of no callsite"
    );
    assert_eq!(journal.stats().dropped, total);
}

/// Holds the worker in its first write to the sinks until the test lets it go.
struct Gate {
    memory: Memory,
    entered: Option<mpsc::Sender<()>>,
    release: Arc<Mutex<()>>,
}

impl Sink for Gate {
    fn write(&mut self, entry: Entry<'_>) -> io::Result<()> {
        if let Some(entered) = self.entered.take() {
            entered.send(()).unwrap();
            drop(self.release.lock().unwrap());
        }
        self.memory.write(entry)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// With the worker held, one thread fills its ring, then loses records of 19 callsites: 16
/// fill the table (in the order of their first drop), with counts 3 to 18 in an order unlike
/// that, and 3 come after the table is full. The one report names the 8 callsites that lost
/// the most with their exact counts; the rest of its count is the other callsites' and the
/// filler's.
#[test]
fn a_report_names_the_eight_callsites_that_lost_the_most() {
    let memory = Memory::default();
    let release = Arc::new(Mutex::new(()));
    let held = release.lock().unwrap();
    let (entered, worker_held) = mpsc::channel();
    let (journal, guard) = Journal::builder()
        .ring_capacity(4096)
        .sink(Gate {
            memory: memory.clone(),
            entered: Some(entered),
            release: release.clone(),
        })
        .build()
        .unwrap();
    let sites: Vec<u64> = (0..19)
        .map(|n| register(&journal, CallsiteKind::Event, n))
        .collect();
    let write = |cs: u64| {
        journal.write_event(cs, 64, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 1);
            enc.value_str("a record of a fixed size, to fill the ring with");
        })
    };
    // The worker takes the new ring and writes the definitions: it is held there.
    assert_eq!(write(sites[0]), Written::Committed);
    worker_held
        .recv_timeout(Duration::from_secs(30))
        .expect("the worker writes");
    // Fill the ring with records of no callsite (`write`): the last one is dropped.
    let mut filler_dropped = 0;
    for _ in 0..10_000 {
        let written = journal.write(64, |enc, at| {
            enc.event(sites[0], at.time, at.thread, None, 1);
            enc.value_str("a record of a fixed size, to fill the ring with");
        });
        if written == Written::Dropped {
            filler_dropped += 1;
            break;
        }
    }
    assert_eq!(filler_dropped, 1, "the ring filled");

    // Table order: the first drop of each of the 19 callsites, in order.
    let counts: Vec<u64> = (0..16).map(|i| 3 + (i * 7) % 16).chain([1, 1, 1]).collect();
    for &cs in &sites {
        assert_eq!(write(cs), Written::Dropped);
    }
    for (i, &cs) in sites.iter().enumerate() {
        for _ in 1..counts[i] {
            assert_eq!(write(cs), Written::Dropped);
        }
    }
    drop(held);
    drop(guard);

    let reports = reports(&memory.0.lock().unwrap());
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    let total: u64 = counts.iter().sum::<u64>() + filler_dropped;
    assert_eq!(report.count, total);
    let mut ranked: Vec<(u64, u64)> = sites.iter().copied().zip(counts.iter().copied()).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(report.named, ranked[..8], "the top 8, exact");
    assert_eq!(
        report.named.iter().map(|c| c.1).collect::<Vec<_>>(),
        [18, 17, 16, 15, 14, 13, 12, 11]
    );
    let rest: u64 = ranked[8..].iter().map(|c| c.1).sum::<u64>() + filler_dropped;
    assert_eq!(
        report.count - report.named.iter().map(|c| c.1).sum::<u64>(),
        rest
    );
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The text and JSON sinks, fed by the worker, name the callsites in their drop lines.
#[test]
fn the_text_and_json_sinks_name_the_callsites_that_lost_the_most() {
    use logbuf_journal::sink::json::JsonSink;
    use logbuf_journal::sink::text::TextSink;

    let (text, json) = (Shared::default(), Shared::default());
    let release = Arc::new(Mutex::new(()));
    let held = release.lock().unwrap();
    let (entered, worker_held) = mpsc::channel();
    let (journal, guard) = Journal::builder()
        .ring_capacity(4096)
        .sink(Gate {
            memory: Memory::default(),
            entered: Some(entered),
            release: release.clone(),
        })
        .sink(TextSink::new(text.clone()))
        .sink(JsonSink::new(json.clone()))
        .build()
        .unwrap();
    let sites: Vec<u64> = (1..=4)
        .map(|n| register(&journal, CallsiteKind::Event, n))
        .collect();
    let write = |cs: u64| {
        journal.write_event(cs, 64, |enc, at| {
            enc.event(cs, at.time, at.thread, None, 1);
            enc.value_str("a record of a fixed size, to fill the ring with");
        })
    };
    assert_eq!(write(sites[0]), Written::Committed);
    worker_held
        .recv_timeout(Duration::from_secs(30))
        .expect("the worker writes");
    let mut committed = 1;
    while write(sites[0]) == Written::Committed {
        committed += 1;
    }
    // Site 1 lost 1 record so far; then 30 of site 2, 12 of site 3, 5 of site 4, 2 more of
    // site 1.
    for (site, n) in [(1, 30), (2, 12), (3, 5), (0, 2)] {
        for _ in 0..n {
            assert_eq!(write(sites[site]), Written::Dropped);
        }
    }
    drop(held);
    drop(guard);

    let text = String::from_utf8(text.0.lock().unwrap().clone()).unwrap();
    let drops: Vec<&str> = text.lines().filter(|l| l.contains("dropped")).collect();
    assert_eq!(drops.len(), 1, "{text}");
    let file = file!();
    assert!(
        drops[0].ends_with(&format!(
            "50 records dropped on thread the_text_and_json_sinks_name_the_callsites_that_lost_the_most \
             (ring full or record too large); most from \
             drops {file}:2 (30), drops {file}:3 (12), drops {file}:4 (5), 3 more"
        )),
        "{}",
        drops[0]
    );
    assert_eq!(text.lines().count(), committed + 1);

    let json = String::from_utf8(json.0.lock().unwrap().clone()).unwrap();
    let drop_line = json
        .lines()
        .find(|l| l.contains("records dropped"))
        .unwrap();
    let expected: String = [(2, 30), (3, 12), (4, 5), (1, 3)]
        .iter()
        .map(|(line, count)| {
            format!(
                r#"{{"target":"drops","name":"site","file":"{file}","line":{line},"count":{count}}}"#
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        drop_line.contains(&format!(r#","callsites":[{expected}]}}"#)),
        "{drop_line}"
    );
}
