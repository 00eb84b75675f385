//! Cross-thread MPSC throughput: 1, 2 and 4 producer threads, one consumer thread, a 2 MiB
//! ring, payload lengths drawn from `8..=1024` by a fixed-seed xorshift; and, with 1 producer
//! only, fixed 64-byte payloads (where the per-record claim cost weighs most).
//!
//! Contenders, all moving the same records:
//! - `logbuf mpsc (batch read)`: `logbuf::queue::mpsc`, every producer thread a clone of the
//!   producer doing `try_claim` + copy + `commit`; the consumer reads through
//!   `Consumer::batch`;
//! - `logbuf mpsc (try_claim read)`: the same ring, one `ReadClaim` per record (the read
//!   pattern nexus-logbuf offers);
//! - `logbuf spsc (batch read)` and `logbuf spsc (try_claim read)`: `logbuf::queue::spsc`, one
//!   producer only: the reference the 1-producer MPSC case is held to;
//! - `nexus-logbuf mpsc`: `nexus_logbuf::queue::mpsc`, claim/commit per record, per-record
//!   `ReadClaim` (it has no batch read);
//! - `crossbeam`: a bounded `crossbeam_channel` of `Vec<u8>` (one allocation per record), with
//!   about as many slots as the 2 MiB ring holds records.
//!
//! Producer `p` of `n` writes records `p, p + n, p + 2n, ...` of one fixed sequence, so every
//! run moves the same records whatever `n` is. The consumer checksums every byte it receives
//! (a wrapping sum of 8-byte words, order-independent); record count, byte count and checksum
//! are checked against the sequence's after every run.
//!
//! **Oversubscription.** `n` producers and one consumer are `n + 1` spinning threads. On a
//! machine with fewer CPUs than that (2 producers on 2 vCPUs already is) the threads take
//! turns: there every waiting loop, for every ring alike, spins [`Backoff::SPINS`] times and
//! then yields (under `chrt -f` threads are never time-sliced, so without the yield a producer
//! spinning on "full" would keep the consumer off the CPU for good). Those rows measure how
//! well each ring copes with time-sharing, not parallel scaling, and the report marks them.
//! With no more threads than CPUs (1 producer on 2 CPUs) waiting loops only spin, as in
//! `spsc_throughput`.
//!
//! Trials are interleaved (every contender once per trial, the starting contender rotating);
//! the report gives each contender's median and the median of the per-trial ratios.
//!
//! Settings (command line after `--`, or environment):
//! - `--trials N` / `LOGBUF_BENCH_TRIALS` (default 21);
//! - `--msgs N` / `LOGBUF_BENCH_MSGS` (records per run, default 400000);
//! - `--msgs-fixed N` / `LOGBUF_BENCH_MSGS_FIXED` (records per run of the extra fixed-64-byte
//!   case, 1 producer only; default 2000000, 0 skips it);
//! - `--max-producers N` / `LOGBUF_BENCH_MAX_PRODUCERS` (default 4: runs 1, 2 and 4);
//! - `--retries N` / `LOGBUF_BENCH_RETRIES` (default 5): a run in which a thread waited for a
//!   CPU for more than 1% of the time (only where threads <= CPUs, since otherwise waiting is
//!   the point), or in which the hypervisor stole time, is re-done up to this many times;
//! - `--max-wait-s N` / `LOGBUF_BENCH_MAX_WAIT_S` (default 60): without a real-time policy the
//!   harness waits before each run until the machine is at least 90% idle, at most this long
//!   in all.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use logbuf_benches::harness::{Retries, copy_commit, stolen_since, waited_since};
use logbuf_benches::workload::{SEED, Tally, Workload};
use logbuf_benches::{
    Backoff, Isolated, Quiet, Table, XorShift64, fmt, fmt_ratio, machine, median, min_max,
    oversubscribed, run_queue_wait_ns, setting, steal_secs,
};

/// Ring size for every contender, in bytes.
const RING: usize = 2 << 20;
/// The longest payload.
const MAX_LEN: usize = 1024;
/// A run is "disturbed" when a thread spent more than this fraction of it waiting for a CPU.
const DISTURBED: f64 = 0.01;

/// One timed run.
#[derive(Clone, Copy)]
struct Run {
    /// Seconds from the start until the consumer had everything.
    secs: f64,
    /// The longest any thread waited for a CPU during the run, in seconds.
    waited: f64,
    /// Seconds the hypervisor took from the machine meanwhile.
    stolen: f64,
    /// Whether there were more threads than CPUs (waiting for a CPU is then expected).
    oversubscribed: bool,
    /// `sched_yield` calls made by all threads of the run.
    yields: u64,
}

impl Run {
    /// Whether something outside the benchmark took time from it.
    fn disturbed(&self) -> bool {
        let waited = if self.oversubscribed {
            0.0
        } else {
            self.waited
        };
        waited + self.stolen > DISTURBED * self.secs
    }
}

/// Runs `produce` on one thread per producer handle and `consume` on one more, all starting
/// together; returns the seconds from the start until the consumer is done, after checking its
/// tally against `w`.
fn timed<P, C>(
    w: &Workload,
    who: &str,
    producers: &mut [Isolated<P>],
    produce: impl Fn(&mut P, usize, usize, &mut Backoff) + Sync,
    consumer: &mut C,
    consume: impl FnOnce(&mut C, &mut Backoff) -> Tally + Send,
) -> Run
where
    P: Send,
    C: Send,
{
    let n = producers.len();
    let steal_before = steal_secs();
    let barrier = Barrier::new(n + 1);
    let (secs, tally, waits, yields) = std::thread::scope(|s| {
        let handles: Vec<_> = producers
            .iter_mut()
            .enumerate()
            .map(|(p, tx)| {
                let (barrier, produce) = (&barrier, &produce);
                s.spawn(move || {
                    let mut backoff = Backoff::for_threads(n + 1);
                    barrier.wait();
                    let before = run_queue_wait_ns();
                    produce(&mut tx.0, p, n, &mut backoff);
                    (waited_since(before), backoff.yielded())
                })
            })
            .collect();
        let consumer = s.spawn(|| {
            let mut backoff = Backoff::for_threads(n + 1);
            barrier.wait();
            let before = run_queue_wait_ns();
            let t0 = Instant::now();
            let tally = consume(consumer, &mut backoff);
            (
                t0.elapsed().as_secs_f64(),
                tally,
                waited_since(before),
                backoff.yielded(),
            )
        });
        let (secs, tally, mut waits, mut yields) = consumer.join().expect("consumer panicked");
        for h in handles {
            let (w, y) = h.join().expect("producer panicked");
            waits = waits.max(w);
            yields += y;
        }
        (secs, tally, waits, yields)
    });
    assert_eq!(
        (tally.msgs, tally.bytes, tally.sum),
        (w.msgs, w.bytes, w.sum),
        "{who} with {n} producers: consumer tally (records, bytes, byte sum) differs from the \
         producers'"
    );
    let stolen = stolen_since(steal_before);
    Run {
        secs,
        waited: waits,
        stolen,
        oversubscribed: oversubscribed(n + 1),
        yields,
    }
}

/// Producer `p` of `n`: writes records `p, p + n, ...` with `write`, which returns `false`
/// when the ring is full (the attempt is then retried after a backoff).
#[inline(always)]
fn produce_with(
    w: &Workload,
    p: usize,
    n: usize,
    backoff: &mut Backoff,
    mut write: impl FnMut(&[u8]) -> bool,
) {
    let mut i = p;
    while i < w.msgs as usize {
        let payload = w.payload(i);
        while !write(payload) {
            backoff.snooze();
        }
        backoff.reset();
        i += n;
    }
}

// === contenders ===

type LogbufMpsc = (
    Vec<Isolated<logbuf::queue::mpsc::Producer>>,
    Isolated<logbuf::queue::mpsc::Consumer>,
);
type LogbufSpsc = (
    Vec<Isolated<logbuf::queue::spsc::Producer>>,
    Isolated<logbuf::queue::spsc::Consumer>,
);
type NexusMpsc = (
    Vec<Isolated<nexus_logbuf::queue::mpsc::Producer>>,
    Isolated<nexus_logbuf::queue::mpsc::Consumer>,
);
type Crossbeam = (
    Vec<Isolated<crossbeam_channel::Sender<Vec<u8>>>>,
    Isolated<crossbeam_channel::Receiver<Vec<u8>>>,
);

/// The rings of one producer count, reused by every trial. Every handle sits on cache lines
/// of its own ([`Isolated`]), as it would on its own thread.
struct Rings {
    logbuf: LogbufMpsc,
    spsc: Option<LogbufSpsc>,
    nexus: NexusMpsc,
    crossbeam: Crossbeam,
}

impl Rings {
    fn new(w: &Workload, n: usize) -> Self {
        fn clones<P: Clone>(p: P, n: usize) -> Vec<Isolated<P>> {
            let mut v: Vec<Isolated<P>> = (1..n).map(|_| Isolated(p.clone())).collect();
            v.push(Isolated(p));
            v
        }
        let (tx, rx) = logbuf::queue::mpsc::new(RING);
        let logbuf = (clones(tx, n), Isolated(rx));
        let spsc = (n == 1).then(|| {
            let (tx, rx) = logbuf::queue::spsc::new(RING);
            (vec![Isolated(tx)], Isolated(rx))
        });
        let (tx, rx) = nexus_logbuf::queue::mpsc::new(RING);
        let nexus = (clones(tx, n), Isolated(rx));
        let (tx, rx) = crossbeam_channel::bounded(crossbeam_slots(w));
        let crossbeam = (clones(tx, n), Isolated(rx));
        Self {
            logbuf,
            spsc,
            nexus,
            crossbeam,
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
    MpscBatch,
    MpscClaim,
    SpscBatch,
    SpscClaim,
    Nexus,
    Crossbeam,
}

impl Contender {
    const ALL: [Contender; 6] = [
        Contender::MpscBatch,
        Contender::MpscClaim,
        Contender::SpscBatch,
        Contender::SpscClaim,
        Contender::Nexus,
        Contender::Crossbeam,
    ];

    /// The contenders that run with `n` producers (the SPSC ring only with one).
    fn for_producers(n: usize) -> Vec<Contender> {
        Self::ALL
            .into_iter()
            .filter(|c| n == 1 || !matches!(c, Contender::SpscBatch | Contender::SpscClaim))
            .collect()
    }

    fn label(self) -> &'static str {
        match self {
            Contender::MpscBatch => "logbuf mpsc (batch read)",
            Contender::MpscClaim => "logbuf mpsc (try_claim read)",
            Contender::SpscBatch => "logbuf spsc (batch read)",
            Contender::SpscClaim => "logbuf spsc (try_claim read)",
            Contender::Nexus => "nexus-logbuf mpsc",
            Contender::Crossbeam => "crossbeam-channel Vec<u8>",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Contender::MpscBatch => "mpsc-batch",
            Contender::MpscClaim => "mpsc-claim",
            Contender::SpscBatch => "spsc-batch",
            Contender::SpscClaim => "spsc-claim",
            Contender::Nexus => "nexus-mpsc",
            Contender::Crossbeam => "crossbeam",
        }
    }

    fn run(self, rings: &mut Rings, w: &Workload) -> Run {
        match self {
            Contender::MpscBatch => logbuf_mpsc_run(&mut rings.logbuf, w, true),
            Contender::MpscClaim => logbuf_mpsc_run(&mut rings.logbuf, w, false),
            Contender::SpscBatch => {
                logbuf_spsc_run(rings.spsc.as_mut().expect("one producer"), w, true)
            }
            Contender::SpscClaim => {
                logbuf_spsc_run(rings.spsc.as_mut().expect("one producer"), w, false)
            }
            Contender::Nexus => nexus_run(&mut rings.nexus, w),
            Contender::Crossbeam => crossbeam_run(&mut rings.crossbeam, w),
        }
    }
}

/// The consumer loop shared by both logbuf rings (they have one `Consumer` type).
#[inline(always)]
fn logbuf_consume(
    rx: &mut logbuf::queue::Consumer,
    w: &Workload,
    batch: bool,
    backoff: &mut Backoff,
) -> Tally {
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
                backoff.snooze();
            } else {
                backoff.reset();
            }
        }
    } else {
        while tally.msgs < w.msgs {
            match rx.try_claim() {
                Some(record) => {
                    tally.add(&record);
                    backoff.reset();
                }
                None => backoff.snooze(),
            }
        }
    }
    tally
}

fn logbuf_mpsc_run((txs, rx): &mut LogbufMpsc, w: &Workload, batch: bool) -> Run {
    timed(
        w,
        if batch {
            "logbuf mpsc batch"
        } else {
            "logbuf mpsc try_claim"
        },
        txs,
        |tx, p, n, backoff| {
            produce_with(w, p, n, backoff, |payload| {
                copy_commit(tx.try_claim(payload.len()), payload, |c| c.commit())
            })
        },
        &mut rx.0,
        |rx, backoff| logbuf_consume(rx, w, batch, backoff),
    )
}

fn logbuf_spsc_run((txs, rx): &mut LogbufSpsc, w: &Workload, batch: bool) -> Run {
    timed(
        w,
        if batch {
            "logbuf spsc batch"
        } else {
            "logbuf spsc try_claim"
        },
        txs,
        |tx, p, n, backoff| {
            produce_with(w, p, n, backoff, |payload| {
                copy_commit(tx.try_claim(payload.len()), payload, |c| c.commit())
            })
        },
        &mut rx.0,
        |rx, backoff| logbuf_consume(rx, w, batch, backoff),
    )
}

fn nexus_run((txs, rx): &mut NexusMpsc, w: &Workload) -> Run {
    timed(
        w,
        "nexus-logbuf mpsc",
        txs,
        |tx, p, n, backoff| {
            produce_with(w, p, n, backoff, |payload| {
                copy_commit(tx.try_claim(payload.len()), payload, |c| c.commit())
            })
        },
        &mut rx.0,
        |rx, backoff| {
            let mut tally = Tally::default();
            while tally.msgs < w.msgs {
                match rx.try_claim() {
                    Some(record) => {
                        tally.add(&record);
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
            tally
        },
    )
}

fn crossbeam_run((txs, rx): &mut Crossbeam, w: &Workload) -> Run {
    timed(
        w,
        "crossbeam-channel",
        txs,
        |tx, p, n, _| {
            let mut i = p;
            while i < w.msgs as usize {
                tx.send(w.payload(i).to_vec()).expect("receiver alive");
                i += n;
            }
        },
        &mut rx.0,
        |rx, _| {
            let mut tally = Tally::default();
            while tally.msgs < w.msgs {
                let record = rx.recv().expect("senders alive");
                tally.add(&record);
            }
            tally
        },
    )
}

// === report ===

fn run_case(w: &Workload, n: usize, trials: usize, retries: usize, quiet: &mut Quiet) {
    let mut rings = Rings::new(w, n);
    let contenders = Contender::for_producers(n);
    // One untimed pass each: faults the buffers in and warms the caches and branch predictors.
    for c in &contenders {
        c.run(&mut rings, w);
    }
    let k = contenders.len();
    let mut secs: Vec<Vec<f64>> = vec![Vec::with_capacity(trials); k];
    let mut yields = vec![0u64; k];
    let mut waited = vec![0.0f64; k];
    let mut retry = Retries::new(retries);
    let mut kept_disturbed = 0;
    for t in 0..trials {
        let mut line = format!("  {n}P trial {t:>2}:");
        for j in 0..k {
            let idx = (j + t) % k;
            let run = retry.run(quiet, Run::disturbed, || contenders[idx].run(&mut rings, w));
            kept_disturbed += usize::from(run.disturbed());
            secs[idx].push(run.secs);
            yields[idx] += run.yields;
            waited[idx] += run.waited / run.secs;
        }
        for (idx, s) in secs.iter().enumerate() {
            let mmsgs = w.msgs as f64 / s[t] / 1e6;
            line.push_str(&format!(" {}={:.2}", contenders[idx].short(), mmsgs));
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
        "yields/run",
        "CPU wait (mean share)",
    ]);
    for (idx, c) in contenders.iter().enumerate() {
        let mut rates: Vec<f64> = secs[idx].iter().map(|&s| mmsgs(s)).collect();
        let (lo, hi) = min_max(&rates);
        let mut gb: Vec<f64> = secs[idx].iter().map(|&s| gbps(s)).collect();
        table.row([
            c.label().to_owned(),
            fmt(median(&mut gb), 2),
            fmt(median(&mut rates), 2),
            format!("{lo:.2}..{hi:.2}"),
            format!("{:.0}", yields[idx] as f64 / trials as f64),
            format!("{:.0}%", 100.0 * waited[idx] / trials as f64),
        ]);
    }

    // Per-trial throughput ratios: time of the other over time of ours.
    let mut pairs = vec![
        (Contender::MpscBatch, Contender::Nexus),
        (Contender::MpscClaim, Contender::Nexus),
    ];
    if n == 1 {
        pairs.push((Contender::MpscBatch, Contender::SpscBatch));
        pairs.push((Contender::MpscClaim, Contender::SpscClaim));
    }
    pairs.push((Contender::MpscBatch, Contender::Crossbeam));
    let mut ratios = Table::new([
        "throughput ratio",
        "median of per-trial ratios",
        "min..max",
        "trials won",
    ]);
    let pos = |c: Contender| contenders.iter().position(|&x| x == c).expect("present");
    for (ours, theirs) in pairs {
        let (o, p) = (pos(ours), pos(theirs));
        let mut r: Vec<f64> = (0..trials).map(|t| secs[p][t] / secs[o][t]).collect();
        let won = r.iter().filter(|&&x| x > 1.0).count();
        let (lo, hi) = min_max(&r);
        ratios.row([
            format!("{} / {}", ours.short(), theirs.short()),
            fmt_ratio(median(&mut r)),
            format!("{lo:.2}..{hi:.2}"),
            format!("{won}/{trials}"),
        ]);
    }

    let threads = n + 1;
    println!(
        "\n### {}, {n} producer{} + 1 consumer ({threads} threads{}) — {} records/run, {:.1} \
         MB/run, mean payload {:.1} B, {trials} trials (crossbeam: {} slots)\n",
        w.name,
        if n == 1 { "" } else { "s" },
        if oversubscribed(threads) {
            ", OVERSUBSCRIBED: more spinning threads than CPUs, so they take turns"
        } else {
            ""
        },
        w.msgs,
        w.bytes as f64 / 1e6,
        w.mean_len,
        crossbeam_slots(w),
    );
    print!("{}", table.render());
    println!();
    print!("{}", ratios.render());
    println!(
        "\nruns re-done because the hypervisor stole time{} for more than {:.0}% of the run: \
         {reruns}; kept although still disturbed after {retries} re-runs: {kept_disturbed} of \
         {}; runs started while other processes were busy: {busy_starts}",
        if oversubscribed(threads) {
            ""
        } else {
            " or a thread waited for a CPU"
        },
        DISTURBED * 100.0,
        trials * k
    );
}

fn main() {
    let trials = setting("trials", "LOGBUF_BENCH_TRIALS", 21).max(1);
    let msgs = setting("msgs", "LOGBUF_BENCH_MSGS", 400_000).max(1);
    let msgs_fixed = setting("msgs-fixed", "LOGBUF_BENCH_MSGS_FIXED", 2_000_000);
    let max_producers = setting("max-producers", "LOGBUF_BENCH_MAX_PRODUCERS", 4).max(1);
    let retries = setting("retries", "LOGBUF_BENCH_RETRIES", 5);
    let max_wait = setting("max-wait-s", "LOGBUF_BENCH_MAX_WAIT_S", 60);
    let mut quiet = Quiet::new(Duration::from_secs(max_wait as u64));

    println!("## mpsc_throughput\n");
    println!("machine: {}", machine());
    let mut rng = XorShift64::new(SEED);
    let w = Workload::new("random 8..=1024 B payloads", msgs as u64, || {
        rng.range_inclusive(8, MAX_LEN as u64) as u32
    });
    println!(
        "ring: {RING} bytes for every contender; crossbeam: bounded channel with about as many \
         slots as the ring holds records, one Vec<u8> per record; every waiting loop spins, and \
         where threads > CPUs yields after {} spins",
        Backoff::SPINS
    );
    println!(
        "trials interleaved (each contender once per trial, rotating start); ratios are the \
         first contender's throughput over the second's, per trial; \"CPU wait\" is the longest \
         any thread of a run waited for a CPU, as a share of the run"
    );
    let t0 = Instant::now();
    let mut n = 1;
    while n <= max_producers {
        run_case(&w, n, trials, retries, &mut quiet);
        n *= 2;
    }
    drop(w);
    if msgs_fixed > 0 {
        let w = Workload::new("fixed 64 B payloads", msgs_fixed as u64, || 64);
        run_case(&w, 1, trials, retries, &mut quiet);
    }
    println!(
        "\nwall time {:.0} s; time spent waiting for other processes to go quiet: {:.1} s",
        t0.elapsed().as_secs_f64(),
        quiet.waited().as_secs_f64()
    );
}
