//! Cross-thread SPSC throughput: one producer thread, one consumer thread, a 2 MiB ring.
//!
//! Cases:
//! - **random**: payload lengths drawn from `8..=1024` by a fixed-seed xorshift;
//! - **fixed64**: every payload 64 bytes.
//!
//! Contenders, all moving the same records:
//! - `logbuf batch`: `logbuf::queue::spsc`, producer `try_claim` + copy + `commit`, consumer
//!   reads through `Consumer::batch` (one release per batch);
//! - `logbuf try_claim`: the same ring, consumer reads one `ReadClaim` at a time;
//! - `nexus-logbuf`: `nexus_logbuf::queue::spsc` with its claim/commit API and per-record
//!   `ReadClaim`;
//! - `rtrb`: `rtrb::RingBuffer<u8>` with a little-endian `u32` length prefix, written with one
//!   `write_chunk_uninit` per record and read back in whole `read_chunk`s;
//! - `crossbeam`: a bounded `crossbeam_channel` of `Vec<u8>` (one allocation per record, as
//!   `tracing-appender` does), with about as many slots as the 2 MiB ring holds records.
//!
//! The consumer checksums every byte it receives (a wrapping sum of 8-byte words,
//! [`word_sum`]); record count, byte count and checksum are checked against the producer's
//! after every run. Trials are interleaved (every contender once per
//! trial, the starting contender rotating), and the report gives each contender's median and
//! the median of the per-trial ratios.
//!
//! Settings (command line after `--`, or environment):
//! - `--trials N` / `LOGBUF_BENCH_TRIALS` (default 21);
//! - `--msgs-random N` / `LOGBUF_BENCH_MSGS_RANDOM` (records per run, default 400000);
//! - `--msgs-fixed N` / `LOGBUF_BENCH_MSGS_FIXED` (records per run, default 5000000);
//! - `--retries N` / `LOGBUF_BENCH_RETRIES` (default 5): a run during which the producer or the
//!   consumer spent more than 1% of the time waiting for a CPU (read from
//!   `/proc/thread-self/schedstat`), or during which the hypervisor stole time from the
//!   machine (`/proc/stat`), was disturbed by something outside the benchmark; it is
//!   re-done up to this many times, and the report counts the re-runs;
//! - `--max-wait-s N` / `LOGBUF_BENCH_MAX_WAIT_S` (default 90): before each run the harness
//!   waits until the machine is at least 90% idle (from `/proc/stat`), spending at most this
//!   many seconds waiting over the whole harness.

use std::hint::spin_loop;
use std::mem::MaybeUninit;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use logbuf_benches::harness::{Retries, copy_commit, stolen_since, waited_since};
use logbuf_benches::workload::{SEED, Tally, Workload};
use logbuf_benches::{
    Isolated, Quiet, Table, XorShift64, fmt, fmt_ratio, isolate, machine, median,
    run_queue_wait_ns, setting, steal_secs,
};

/// Ring size for every contender, in bytes.
const RING: usize = 2 << 20;
/// The longest payload of any case.
const MAX_LEN: usize = 1024;

/// One timed run.
#[derive(Clone, Copy)]
struct Run {
    /// Seconds from the start until the consumer had everything.
    secs: f64,
    /// Seconds the more-delayed of the two threads spent waiting for a CPU during the run,
    /// plus any time the hypervisor took from the machine meanwhile.
    waited: f64,
}

impl Run {
    /// Whether a thread waited for a CPU long enough to matter: something else on the machine
    /// took its core.
    fn disturbed(&self) -> bool {
        self.waited > DISTURBED * self.secs
    }
}

/// A run is "disturbed" when a thread spent more than this fraction of it waiting for a CPU.
const DISTURBED: f64 = 0.01;

/// Runs `produce` and `consume` on two threads that start together; returns the seconds from
/// the start until the consumer is done, after checking its tally against `w`.
fn timed<P, C>(w: &Workload, who: &str, produce: P, consume: C) -> Run
where
    P: FnOnce() + Send,
    C: FnOnce() -> Tally + Send,
{
    let steal_before = steal_secs();
    let barrier = Barrier::new(2);
    let (secs, tally, waits) = std::thread::scope(|s| {
        let producer = s.spawn(|| {
            barrier.wait();
            let before = run_queue_wait_ns();
            produce();
            waited_since(before)
        });
        let consumer = s.spawn(|| {
            barrier.wait();
            let before = run_queue_wait_ns();
            let t0 = Instant::now();
            let tally = consume();
            (t0.elapsed().as_secs_f64(), tally, waited_since(before))
        });
        let (secs, tally, consumer_wait) = consumer.join().expect("consumer panicked");
        let producer_wait = producer.join().expect("producer panicked");
        (secs, tally, producer_wait.max(consumer_wait))
    });
    assert_eq!(
        (tally.msgs, tally.bytes, tally.sum),
        (w.msgs, w.bytes, w.sum),
        "{who} on {}: consumer tally (records, bytes, byte sum) differs from the producer's",
        w.name
    );
    let stolen = stolen_since(steal_before);
    Run {
        secs,
        waited: waits + stolen,
    }
}

// === contenders ===

/// The rings and channels of one case, reused by every trial of that case.
///
/// Every handle sits on cache lines of its own ([`Isolated`]), as it would on its own thread.
struct Rings {
    logbuf: Pair<logbuf::queue::spsc::Producer, logbuf::queue::spsc::Consumer>,
    nexus: Pair<nexus_logbuf::queue::spsc::Producer, nexus_logbuf::queue::spsc::Consumer>,
    rtrb: Pair<rtrb::Producer<u8>, rtrb::Consumer<u8>>,
    crossbeam: Pair<crossbeam_channel::Sender<Vec<u8>>, crossbeam_channel::Receiver<Vec<u8>>>,
}

/// A producer and a consumer, each on cache lines of its own.
type Pair<P, C> = (Isolated<P>, Isolated<C>);

impl Rings {
    fn new(w: &Workload) -> Self {
        let slots = crossbeam_slots(w);
        Self {
            logbuf: isolate(logbuf::queue::spsc::new(RING)),
            nexus: isolate(nexus_logbuf::queue::spsc::new(RING)),
            rtrb: isolate(rtrb::RingBuffer::new(RING)),
            crossbeam: isolate(crossbeam_channel::bounded(slots)),
        }
    }
}

/// As many channel slots as the rings hold records of the workload's mean length (with an
/// 8-byte header).
fn crossbeam_slots(w: &Workload) -> usize {
    (RING as f64 / (w.mean_len + 8.0)) as usize
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Contender {
    LogbufBatch,
    LogbufClaim,
    Nexus,
    Rtrb,
    Crossbeam,
}

impl Contender {
    const ALL: [Contender; 5] = [
        Contender::LogbufBatch,
        Contender::LogbufClaim,
        Contender::Nexus,
        Contender::Rtrb,
        Contender::Crossbeam,
    ];

    fn label(self) -> &'static str {
        match self {
            Contender::LogbufBatch => "logbuf (batch read)",
            Contender::LogbufClaim => "logbuf (try_claim read)",
            Contender::Nexus => "nexus-logbuf",
            Contender::Rtrb => "rtrb (u32 length prefix)",
            Contender::Crossbeam => "crossbeam-channel Vec<u8>",
        }
    }

    fn run(self, rings: &mut Rings, w: &Workload) -> Run {
        match self {
            Contender::LogbufBatch => logbuf_run(&mut rings.logbuf, w, true),
            Contender::LogbufClaim => logbuf_run(&mut rings.logbuf, w, false),
            Contender::Nexus => nexus_run(&mut rings.nexus, w),
            Contender::Rtrb => rtrb_run(&mut rings.rtrb, w),
            Contender::Crossbeam => crossbeam_run(&rings.crossbeam, w),
        }
    }
}

fn logbuf_run(
    (tx, rx): &mut Pair<logbuf::queue::spsc::Producer, logbuf::queue::spsc::Consumer>,
    w: &Workload,
    batch: bool,
) -> Run {
    let who = if batch {
        "logbuf batch"
    } else {
        "logbuf try_claim"
    };
    timed(
        w,
        who,
        || {
            for i in 0..w.msgs as usize {
                let payload = w.payload(i);
                while !copy_commit(tx.try_claim(payload.len()), payload, |c| c.commit()) {
                    spin_loop();
                }
            }
        },
        || {
            let mut tally = Tally::default();
            if batch {
                while tally.msgs < w.msgs {
                    let mut records = rx.batch();
                    while let Some(record) = records.next() {
                        tally.add(record);
                    }
                    let idle = records.count() == 0;
                    drop(records);
                    if idle {
                        spin_loop();
                    }
                }
            } else {
                while tally.msgs < w.msgs {
                    match rx.try_claim() {
                        Some(record) => tally.add(&record),
                        None => spin_loop(),
                    }
                }
            }
            tally
        },
    )
}

fn nexus_run(
    (tx, rx): &mut Pair<nexus_logbuf::queue::spsc::Producer, nexus_logbuf::queue::spsc::Consumer>,
    w: &Workload,
) -> Run {
    timed(
        w,
        "nexus-logbuf",
        || {
            for i in 0..w.msgs as usize {
                let payload = w.payload(i);
                while !copy_commit(tx.try_claim(payload.len()), payload, |c| c.commit()) {
                    spin_loop();
                }
            }
        },
        || {
            let mut tally = Tally::default();
            while tally.msgs < w.msgs {
                match rx.try_claim() {
                    Some(record) => tally.add(&record),
                    None => spin_loop(),
                }
            }
            tally
        },
    )
}

/// The part of the two-slice region `(a, b)` that spans `len` bytes from `at`, as a pair of
/// slices: the second is non-empty only when the span wraps from `a` into `b`.
#[inline(always)]
fn span2<'a>(a: &'a [u8], b: &'a [u8], at: usize, len: usize) -> (&'a [u8], &'a [u8]) {
    if at >= a.len() {
        (&b[at - a.len()..][..len], &[])
    } else if at + len <= a.len() {
        (&a[at..at + len], &[])
    } else {
        (&a[at..], &b[..at + len - a.len()])
    }
}

/// Copies `data` into the two-slice region `(a, b)` starting at `at`.
#[inline(always)]
fn put2(a: &mut [MaybeUninit<u8>], b: &mut [MaybeUninit<u8>], at: usize, data: &[u8]) {
    let (first, second) = if at >= a.len() {
        (&mut b[at - a.len()..][..data.len()], &mut [][..])
    } else if at + data.len() <= a.len() {
        (&mut a[at..at + data.len()], &mut [][..])
    } else {
        let in_a = a.len() - at;
        (&mut a[at..], &mut b[..data.len() - in_a])
    };
    let (d1, d2) = data.split_at(first.len());
    for (dst, src) in first.iter_mut().zip(d1) {
        dst.write(*src);
    }
    for (dst, src) in second.iter_mut().zip(d2) {
        dst.write(*src);
    }
}

fn rtrb_run((tx, rx): &mut Pair<rtrb::Producer<u8>, rtrb::Consumer<u8>>, w: &Workload) -> Run {
    timed(
        w,
        "rtrb",
        || {
            for i in 0..w.msgs as usize {
                let payload = w.payload(i);
                let header = (payload.len() as u32).to_le_bytes();
                let mut chunk = loop {
                    match tx.write_chunk_uninit(header.len() + payload.len()) {
                        Ok(chunk) => break chunk,
                        Err(_) => spin_loop(),
                    }
                };
                let (a, b) = chunk.as_mut_slices();
                put2(a, b, 0, &header);
                put2(a, b, header.len(), payload);
                // SAFETY: the chunk is exactly `header.len() + payload.len()` slots, and the two
                // `put2` calls above wrote every one of them.
                unsafe { chunk.commit_all() };
            }
        },
        || {
            let mut tally = Tally::default();
            let mut scratch = vec![0u8; MAX_LEN];
            while tally.msgs < w.msgs {
                let ready = rx.slots();
                if ready == 0 {
                    spin_loop();
                    continue;
                }
                let chunk = rx.read_chunk(ready).expect("slots() said they were there");
                let (a, b) = chunk.as_slices();
                // The producer commits whole frames, so `ready` bytes hold whole frames.
                let mut at = 0;
                while at < ready {
                    let (h1, h2) = span2(a, b, at, 4);
                    let mut header = [0u8; 4];
                    header[..h1.len()].copy_from_slice(h1);
                    header[h1.len()..].copy_from_slice(h2);
                    let len = u32::from_le_bytes(header) as usize;
                    at += 4;
                    let (p1, p2) = span2(a, b, at, len);
                    if p2.is_empty() {
                        tally.add(p1);
                    } else {
                        // A record that wraps: join the pieces, as the sum is word-wise.
                        let joined = &mut scratch[..len];
                        joined[..p1.len()].copy_from_slice(p1);
                        joined[p1.len()..].copy_from_slice(p2);
                        tally.add(joined);
                    }
                    at += len;
                }
                chunk.commit_all();
            }
            tally
        },
    )
}

fn crossbeam_run(
    (tx, rx): &Pair<crossbeam_channel::Sender<Vec<u8>>, crossbeam_channel::Receiver<Vec<u8>>>,
    w: &Workload,
) -> Run {
    timed(
        w,
        "crossbeam-channel",
        || {
            for i in 0..w.msgs as usize {
                tx.send(w.payload(i).to_vec()).expect("receiver alive");
            }
        },
        || {
            let mut tally = Tally::default();
            while tally.msgs < w.msgs {
                let record = rx.recv().expect("sender alive");
                tally.add(&record);
            }
            tally
        },
    )
}

// === report ===

fn run_case(w: &Workload, trials: usize, retries: usize, quiet: &mut Quiet) {
    let mut rings = Rings::new(w);
    // One untimed pass each: faults the buffers in and warms the caches and branch predictors.
    for c in Contender::ALL {
        c.run(&mut rings, w);
    }
    let n = Contender::ALL.len();
    let mut secs: Vec<Vec<f64>> = vec![Vec::with_capacity(trials); n];
    let mut retry = Retries::new(retries);
    let mut kept_disturbed = 0;
    for t in 0..trials {
        let mut line = format!("  trial {t:>2}:");
        for k in 0..n {
            let idx = (k + t) % n;
            let run = retry.run(quiet, Run::disturbed, || {
                Contender::ALL[idx].run(&mut rings, w)
            });
            if run.disturbed() {
                kept_disturbed += 1;
            }
            secs[idx].push(run.secs);
        }
        for (idx, s) in secs.iter().enumerate() {
            let mmsgs = w.msgs as f64 / s[t] / 1e6;
            line.push_str(&format!(" {}={:.2}", short(Contender::ALL[idx]), mmsgs));
        }
        eprintln!("{line}  (Mmsg/s)");
    }

    let (reruns, busy_starts) = (retry.reruns, retry.busy_starts);
    let gbps = |s: f64| w.bytes as f64 / s / 1e9;
    let mmsgs = |s: f64| w.msgs as f64 / s / 1e6;
    let mut table = Table::new([
        "contender",
        "GB/s (median)",
        "Mmsg/s (median)",
        "Mmsg/s (min..max)",
    ]);
    for (idx, c) in Contender::ALL.iter().enumerate() {
        let mut rates: Vec<f64> = secs[idx].iter().map(|&s| mmsgs(s)).collect();
        let (lo, hi) = logbuf_benches::min_max(&rates);
        let mut gb: Vec<f64> = secs[idx].iter().map(|&s| gbps(s)).collect();
        table.row([
            c.label().to_owned(),
            fmt(median(&mut gb), 2),
            fmt(median(&mut rates), 2),
            format!("{lo:.2}..{hi:.2}"),
        ]);
    }

    // Per-trial throughput ratios: time of the peer over time of logbuf.
    let pairs = [
        (Contender::LogbufBatch, Contender::Nexus),
        (Contender::LogbufClaim, Contender::Nexus),
        (Contender::LogbufBatch, Contender::LogbufClaim),
        (Contender::LogbufBatch, Contender::Rtrb),
        (Contender::LogbufBatch, Contender::Crossbeam),
    ];
    let mut ratios = Table::new([
        "throughput ratio",
        "median of per-trial ratios",
        "min..max",
        "trials won",
    ]);
    for (ours, theirs) in pairs {
        let (o, p) = (ours as usize, theirs as usize);
        let mut r: Vec<f64> = (0..trials).map(|t| secs[p][t] / secs[o][t]).collect();
        let won = r.iter().filter(|&&x| x > 1.0).count();
        let (lo, hi) = logbuf_benches::min_max(&r);
        ratios.row([
            format!("{} / {}", short(ours), short(theirs)),
            fmt_ratio(median(&mut r)),
            format!("{lo:.2}..{hi:.2}"),
            format!("{won}/{trials}"),
        ]);
    }

    println!(
        "\n### {} — {} records/run, {:.1} MB/run, mean payload {:.1} B, {} trials \
         (crossbeam: {} slots)\n",
        w.name,
        w.msgs,
        w.bytes as f64 / 1e6,
        w.mean_len,
        trials,
        crossbeam_slots(w)
    );
    print!("{}", table.render());
    println!();
    print!("{}", ratios.render());
    println!(
        "\nruns re-done because a thread waited for a CPU (or the hypervisor stole time) for more \
         than {:.0}% of the run: {reruns}; \
         kept although still disturbed after {retries} re-runs: {kept_disturbed} of {}; runs \
         started while other processes were busy (quiet-wait budget spent): {busy_starts}",
        DISTURBED * 100.0,
        trials * n
    );
}

fn short(c: Contender) -> &'static str {
    match c {
        Contender::LogbufBatch => "logbuf-batch",
        Contender::LogbufClaim => "logbuf-claim",
        Contender::Nexus => "nexus",
        Contender::Rtrb => "rtrb",
        Contender::Crossbeam => "crossbeam",
    }
}

fn main() {
    let trials = setting("trials", "LOGBUF_BENCH_TRIALS", 21).max(1);
    let msgs_random = setting("msgs-random", "LOGBUF_BENCH_MSGS_RANDOM", 400_000).max(1);
    let msgs_fixed = setting("msgs-fixed", "LOGBUF_BENCH_MSGS_FIXED", 5_000_000).max(1);
    let retries = setting("retries", "LOGBUF_BENCH_RETRIES", 5);
    let max_wait = setting("max-wait-s", "LOGBUF_BENCH_MAX_WAIT_S", 90);
    let mut quiet = Quiet::new(Duration::from_secs(max_wait as u64));

    println!("## spsc_throughput\n");
    println!("machine: {}", machine());
    println!(
        "ring: {} bytes for every contender; crossbeam: bounded channel, one Vec<u8> per record",
        RING
    );
    println!(
        "trials interleaved (each contender once per trial, rotating start); ratios are \
         logbuf's throughput over the peer's, per trial"
    );

    let mut rng = XorShift64::new(SEED);
    let random = Workload::new("random 8..=1024 B payloads", msgs_random as u64, || {
        rng.range_inclusive(8, MAX_LEN as u64) as u32
    });
    run_case(&random, trials, retries, &mut quiet);
    drop(random);

    let fixed = Workload::new("fixed 64 B payloads", msgs_fixed as u64, || 64);
    run_case(&fixed, trials, retries, &mut quiet);
    println!(
        "\ntime spent waiting for other processes to go quiet: {:.1} s",
        quiet.waited().as_secs_f64()
    );
}
