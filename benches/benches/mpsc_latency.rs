//! Producer cost of the MPSC rings, in TSC cycles, with 1 and 2 producer threads while a
//! consumer thread drains: `logbuf::queue::mpsc` against `nexus_logbuf::queue::mpsc`.
//!
//! Every producer thread (a clone of the ring's producer) times `try_claim(64)` + copy of 64
//! bytes + `commit` into an HDR histogram; the per-thread histograms of a run are merged. The
//! consumer reads one `ReadClaim` at a time (the pattern both rings offer) and checksums every
//! byte; the total is checked after every run.
//!
//! - A claim that fails with "full" is not recorded: the producer backs off (spins; with more
//!   threads than CPUs, yields after a while) and retries, and only the successful attempt is timed. Failures are counted.
//! - The timed region is `lfence; rdtsc` .. `lfence; rdtsc; lfence`; its cost with nothing in
//!   it is printed and included in every figure (not subtracted).
//! - With 2 producers there are 3 spinning threads. On a 2-CPU machine that is more than the
//!   CPUs: at any moment at most two of the three run, and they take turns when one yields
//!   (under `chrt -f` threads are never time-sliced). The two producers still contend for the
//!   shared tail whenever both are on a CPU, which is what the 2-producer rows show; the
//!   report marks them.
//!
//! Two scenarios: **back-to-back** (producers write as fast as they can: the ring is often full
//! and the tail line is contended) and **paced** (each producer spins a fixed number of TSC
//! cycles between records, like threads that do other work between log lines).
//!
//! Runs alternate A B A B (logbuf, nexus-logbuf, ...), one run of each per round; the report
//! gives the median over rounds of each percentile and the median of the per-round ratios
//! logbuf / nexus-logbuf (below 1 means logbuf is cheaper).
//!
//! Settings (command line after `--`, or environment):
//! - `--rounds N` / `LOGBUF_BENCH_ROUNDS` (default 7);
//! - `--samples N` / `LOGBUF_BENCH_SAMPLES` (records per producer thread per run, default
//!   500000);
//! - `--pace N` / `LOGBUF_BENCH_PACE` (TSC cycles between records when paced, default 1500);
//! - `--retries N` / `LOGBUF_BENCH_RETRIES` (default 5): a run in which the hypervisor stole
//!   time, or (where threads <= CPUs) a thread waited for a CPU, for more than 1% of it is
//!   re-done up to this many times;
//! - `--max-wait-s N` / `LOGBUF_BENCH_MAX_WAIT_S` (default 60).

use std::sync::Barrier;
use std::time::Instant;

use hdrhistogram::Histogram;
use logbuf_benches::harness::{
    QUANTILES, Retries, copy_commit, latency_rows, latency_table, spin_for, stolen_since,
    sum_record, time_until_ok, waited_since,
};
use logbuf_benches::{
    Backoff, Isolated, Quiet, cycles, machine, oversubscribed, run_queue_wait_ns, setting,
    steal_secs, word_sum,
};

/// Ring size for both contenders, in bytes.
const RING: usize = 1 << 20;
/// Payload of every record, in bytes.
const PAYLOAD: usize = 64;
/// A run is "disturbed" when it lost more than this fraction of its time.
const DISTURBED: f64 = 0.01;

/// The operations timed, for one MPSC ring implementation.
trait Ring {
    type Producer: Send + Clone;
    type Consumer: Send;
    const NAME: &'static str;

    fn new(capacity: usize) -> (Self::Producer, Self::Consumer);
    /// Claims, copies `payload` in and commits; `false` if the ring was full.
    fn try_write(p: &mut Self::Producer, payload: &[u8]) -> bool;
    /// Claims the next record, adds its bytes to `sum` and releases it; `false` if there was
    /// none.
    fn try_read(c: &mut Self::Consumer, sum: &mut u64) -> bool;
}

/// `logbuf::queue::mpsc`.
struct Logbuf;

impl Ring for Logbuf {
    type Producer = logbuf::queue::mpsc::Producer;
    type Consumer = logbuf::queue::mpsc::Consumer;
    const NAME: &'static str = "logbuf";

    fn new(capacity: usize) -> (Self::Producer, Self::Consumer) {
        logbuf::queue::mpsc::new(capacity)
    }

    #[inline(always)]
    fn try_write(p: &mut Self::Producer, payload: &[u8]) -> bool {
        copy_commit(p.try_claim(payload.len()), payload, |c| c.commit())
    }

    #[inline(always)]
    fn try_read(c: &mut Self::Consumer, sum: &mut u64) -> bool {
        sum_record(c.try_claim(), sum)
    }
}

/// `nexus_logbuf::queue::mpsc`.
struct Nexus;

impl Ring for Nexus {
    type Producer = nexus_logbuf::queue::mpsc::Producer;
    type Consumer = nexus_logbuf::queue::mpsc::Consumer;
    const NAME: &'static str = "nexus-logbuf";

    fn new(capacity: usize) -> (Self::Producer, Self::Consumer) {
        nexus_logbuf::queue::mpsc::new(capacity)
    }

    #[inline(always)]
    fn try_write(p: &mut Self::Producer, payload: &[u8]) -> bool {
        copy_commit(p.try_claim(payload.len()), payload, |c| c.commit())
    }

    #[inline(always)]
    fn try_read(c: &mut Self::Consumer, sum: &mut u64) -> bool {
        sum_record(c.try_claim(), sum)
    }
}

/// What one run measured.
struct Run {
    /// All producer threads' timings, merged.
    producer: Histogram<u64>,
    /// Producer claims that failed because the ring was full (retried, not recorded).
    full: u64,
    /// `sched_yield` calls of all threads.
    yields: u64,
    secs: f64,
    waited: f64,
    stolen: f64,
    oversubscribed: bool,
}

impl Run {
    fn disturbed(&self) -> bool {
        let waited = if self.oversubscribed {
            0.0
        } else {
            self.waited
        };
        waited + self.stolen > DISTURBED * self.secs
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds")
}

/// Record `i`'s bytes: `PAYLOAD` bytes from a varying offset of `src`.
#[inline(always)]
fn payload(src: &[u8], i: usize) -> &[u8] {
    &src[(i * 24) & 255..][..PAYLOAD]
}

/// One run: every producer thread writes `samples` records, pausing `pace` TSC cycles between
/// them; the consumer reads all of them.
fn run<R: Ring>(
    producers: &mut [Isolated<R::Producer>],
    rx: &mut R::Consumer,
    src: &[u8],
    samples: usize,
    pace: u64,
) -> Run {
    let n = producers.len();
    let total = samples * n;
    let expected = (0..total).fold(0u64, |acc, i| acc.wrapping_add(word_sum(payload(src, i))));
    let steal_before = steal_secs();
    let barrier = Barrier::new(n + 1);
    let (producer, full, yields, waits, secs, sum) = std::thread::scope(|s| {
        let handles: Vec<_> = producers
            .iter_mut()
            .enumerate()
            .map(|(p, tx)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut hist = histogram();
                    let mut full = 0u64;
                    let mut backoff = Backoff::for_threads(n + 1);
                    barrier.wait();
                    let before = run_queue_wait_ns();
                    let mut i = p;
                    while i < total {
                        let bytes = payload(src, i);
                        let ticks = time_until_ok(
                            || R::try_write(&mut tx.0, bytes),
                            || {
                                full += 1;
                                backoff.snooze();
                            },
                        );
                        hist.saturating_record(ticks);
                        backoff.reset();
                        spin_for(pace);
                        i += n;
                    }
                    (hist, full, backoff.yielded(), waited_since(before))
                })
            })
            .collect();
        let consumer = s.spawn(|| {
            let (mut got, mut sum) = (0usize, 0u64);
            let mut backoff = Backoff::for_threads(n + 1);
            barrier.wait();
            let before = run_queue_wait_ns();
            let t0 = Instant::now();
            while got < total {
                if R::try_read(rx, &mut sum) {
                    got += 1;
                    backoff.reset();
                } else {
                    backoff.snooze();
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            (sum, secs, backoff.yielded(), waited_since(before))
        });
        let (sum, secs, mut yields, mut waits) = consumer.join().expect("consumer panicked");
        let mut merged = histogram();
        let mut full = 0;
        for h in handles {
            let (hist, f, y, w) = h.join().expect("producer panicked");
            merged.add(&hist).expect("same bounds");
            full += f;
            yields += y;
            waits = waits.max(w);
        }
        (merged, full, yields, waits, secs, sum)
    });
    let stolen = stolen_since(steal_before);
    assert_eq!(sum, expected, "{}: consumer's byte sum is off", R::NAME);
    assert_eq!(producer.len(), total as u64);
    Run {
        producer,
        full,
        yields,
        secs,
        waited: waits,
        stolen,
        oversubscribed: oversubscribed(n + 1),
    }
}

/// A ring's producer clones and consumer, each on cache lines of its own.
type Handles<R> = (
    Vec<Isolated<<R as Ring>::Producer>>,
    Isolated<<R as Ring>::Consumer>,
);

fn handles<R: Ring>(n: usize) -> Handles<R> {
    let (tx, rx) = R::new(RING);
    let mut v: Vec<Isolated<R::Producer>> = (1..n).map(|_| Isolated(tx.clone())).collect();
    v.push(Isolated(tx));
    (v, Isolated(rx))
}

#[allow(clippy::too_many_arguments)]
fn scenario(
    name: &str,
    n: usize,
    pace: u64,
    rounds: usize,
    samples: usize,
    retries: usize,
    quiet: &mut Quiet,
) {
    let mut src = vec![0u8; 512];
    logbuf_benches::XorShift64::new(42).fill(&mut src);
    let mut ours = handles::<Logbuf>(n);
    let mut theirs = handles::<Nexus>(n);
    // Untimed warm-up of both rings.
    run::<Logbuf>(&mut ours.0, &mut ours.1, &src, samples, pace);
    run::<Nexus>(&mut theirs.0, &mut theirs.1, &src, samples, pace);

    let mut retries = Retries::new(retries);
    let mut disturbed = 0;
    // [contender][quantile, then mean] -> per-round values
    let mut q = vec![vec![Vec::with_capacity(rounds); QUANTILES.len() + 1]; 2];
    let mut full = [0u64; 2];
    let mut yields = [0u64; 2];
    for round in 0..rounds {
        // Alternate which ring goes first, so neither always follows the other.
        let mut a = |retries: &mut Retries, quiet: &mut Quiet| {
            retries.run(quiet, Run::disturbed, || {
                run::<Logbuf>(&mut ours.0, &mut ours.1, &src, samples, pace)
            })
        };
        let mut b = |retries: &mut Retries, quiet: &mut Quiet| {
            retries.run(quiet, Run::disturbed, || {
                run::<Nexus>(&mut theirs.0, &mut theirs.1, &src, samples, pace)
            })
        };
        let (a, b) = if round % 2 == 0 {
            let a = a(&mut retries, quiet);
            (a, b(&mut retries, quiet))
        } else {
            let b = b(&mut retries, quiet);
            (a(&mut retries, quiet), b)
        };
        let mut line = format!("  {n}P round {round}:");
        for (k, r) in [a, b].iter().enumerate() {
            disturbed += usize::from(r.disturbed());
            full[k] += r.full;
            yields[k] += r.yields;
            for (j, &(_, quantile)) in QUANTILES.iter().enumerate() {
                q[k][j].push(r.producer.value_at_quantile(quantile) as f64);
            }
            q[k][QUANTILES.len()].push(r.producer.mean());
            line.push_str(&format!(
                " {} p50={} p99={} mean={:.1};",
                ["logbuf", "nexus"][k],
                r.producer.value_at_quantile(0.5),
                r.producer.value_at_quantile(0.99),
                r.producer.mean()
            ));
        }
        eprintln!("{line}");
    }

    let threads = n + 1;
    println!(
        "\n### {name}, {n} producer{} ({threads} threads{}) — {samples} records of {PAYLOAD} B \
         per producer per run, {rounds} rounds\n",
        if n == 1 { "" } else { "s" },
        if oversubscribed(threads) {
            ", OVERSUBSCRIBED: more spinning threads than CPUs"
        } else {
            ""
        }
    );
    let mut table = latency_table("producer: claim+copy 64 B+commit", "logbuf", "nexus");
    latency_rows(
        &mut table,
        ["logbuf mpsc", "nexus-logbuf mpsc"].map(str::to_owned),
        [&q[0], &q[1]],
    );
    print!("{}", table.render());
    let claims = (samples * n * rounds) as u64;
    println!(
        "\nclaims that found the ring full (retried, not recorded): logbuf {} ({:.3} per record), \
         nexus-logbuf {} ({:.3} per record); sched_yield calls per run: logbuf {:.0}, \
         nexus-logbuf {:.0}; runs re-done: {}; kept although still disturbed: {disturbed} \
         of {}",
        full[0],
        full[0] as f64 / claims as f64,
        full[1],
        full[1] as f64 / claims as f64,
        yields[0] as f64 / rounds as f64,
        yields[1] as f64 / rounds as f64,
        retries.reruns,
        2 * rounds
    );
}

fn main() {
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 7).max(1);
    let samples = setting("samples", "LOGBUF_BENCH_SAMPLES", 500_000).max(1);
    let pace = setting("pace", "LOGBUF_BENCH_PACE", 1500) as u64;
    let retries = setting("retries", "LOGBUF_BENCH_RETRIES", 5);
    let max_wait = setting("max-wait-s", "LOGBUF_BENCH_MAX_WAIT_S", 60);
    let mut quiet = Quiet::new(std::time::Duration::from_secs(max_wait as u64));

    println!("## mpsc_latency\n");
    println!("machine: {}", machine());
    let (overhead, overhead_min) = cycles::overhead(1_000_000);
    let per_ns = cycles::ticks_per_ns(200);
    let steps: Vec<String> = cycles::steps(100_000, 3)
        .into_iter()
        .map(|(step, share)| format!("{step} ({:.0}%)", share * 100.0))
        .collect();
    println!(
        "unit: {} ({:.3} per ns); successive reads of the counter differ by {}; an empty timed \
         region costs {} median, {} min (included in every figure below, not subtracted)",
        cycles::UNIT,
        per_ns,
        steps.join(", "),
        overhead,
        overhead_min
    );
    println!(
        "ring: {RING} bytes; consumer: one ReadClaim per record for both rings; \"full\" claims \
         are retried (spinning; where threads > CPUs, yielding after {} spins) and not recorded",
        Backoff::SPINS
    );
    println!("ratio columns: median over rounds of (logbuf / nexus-logbuf); below 1.00x is better");
    let t0 = Instant::now();
    for n in [1, 2] {
        scenario("back-to-back", n, 0, rounds, samples, retries, &mut quiet);
        scenario(
            &format!("paced ({pace} TSC cycles between records)"),
            n,
            pace,
            rounds,
            samples,
            retries,
            &mut quiet,
        );
    }
    println!(
        "\nwall time {:.0} s; time spent waiting for other processes to go quiet: {:.1} s",
        t0.elapsed().as_secs_f64(),
        quiet.waited().as_secs_f64()
    );
}
