//! Per-operation cost of the SPSC rings, in TSC cycles, while the other end runs concurrently.
//!
//! The producer thread times `try_claim(64)` + copy of 64 bytes + `commit`; the consumer
//! thread, draining at the same time, times `try_claim` + summing the 64 bytes + dropping the
//! claim (which zeroes and releases the record). Each side records into an HDR histogram.
//!
//! - A producer claim that fails with "full" is not recorded: the producer retries until it
//!   succeeds and only the successful attempt is timed. Failed attempts are counted.
//! - A consumer poll that finds nothing is not recorded either; those are counted too.
//! - The timed region is `lfence; rdtsc` .. `lfence; rdtsc; lfence`; its cost with nothing in
//!   it is measured and printed, and is included in every figure (not subtracted).
//!
//! Two scenarios: **back-to-back** (the producer writes as fast as it can, so the ring is often
//! full and the consumer is rarely idle) and **paced** (the producer spins a fixed number of
//! TSC cycles between records, like a thread that does other work between log lines, so the
//! ring stays nearly empty and every record crosses cores while it is hot).
//!
//! Runs alternate A B A B (logbuf, nexus-logbuf, logbuf, ...), one run of each per round;
//! the report gives the median over rounds of each percentile and the median of the
//! per-round ratios logbuf / nexus-logbuf (below 1 means logbuf is cheaper).
//!
//! Settings (command line after `--`, or environment):
//! - `--rounds N` / `LOGBUF_BENCH_ROUNDS` (default 7);
//! - `--samples N` / `LOGBUF_BENCH_SAMPLES` (records per run, default 1000000);
//! - `--pace N` / `LOGBUF_BENCH_PACE` (TSC cycles between records when paced, default 1500);
//! - `--retries N` / `LOGBUF_BENCH_RETRIES` (default 5): runs in which a thread spent more than
//!   1% of the time waiting for a CPU (or the hypervisor stole time) are re-done up to this
//!   many times;
//! - `--max-wait-s N` / `LOGBUF_BENCH_MAX_WAIT_S` (default 60): before each run the harness
//!   waits until the machine is at least 90% idle, at most this many seconds in all.

use std::hint::spin_loop;
use std::sync::Barrier;
use std::time::Instant;

use hdrhistogram::Histogram;
use logbuf_benches::harness::{
    QUANTILES, Retries, copy_commit, latency_rows, latency_table, spin_for, stolen_since,
    sum_record, time_until_ok, waited_since,
};
use logbuf_benches::{
    Quiet, cycles, isolate, machine, run_queue_wait_ns, setting, steal_secs, word_sum,
};

/// Ring size for both contenders, in bytes.
const RING: usize = 1 << 20;
/// Payload of every record, in bytes.
const PAYLOAD: usize = 64;
/// A run is "disturbed" when a thread spent more than this fraction of it waiting for a CPU.
const DISTURBED: f64 = 0.01;

/// The two operations timed, for one ring implementation.
trait Ring {
    type Producer: Send;
    type Consumer: Send;
    const NAME: &'static str;

    fn new(capacity: usize) -> (Self::Producer, Self::Consumer);
    /// Claims, copies `payload` in and commits; `false` if the ring was full.
    fn try_write(p: &mut Self::Producer, payload: &[u8]) -> bool;
    /// Claims the next record, adds its bytes to `sum` and releases it; `false` if there was
    /// none.
    fn try_read(c: &mut Self::Consumer, sum: &mut u64) -> bool;
}

/// `logbuf::queue::spsc`.
struct Logbuf;

impl Ring for Logbuf {
    type Producer = logbuf::queue::spsc::Producer;
    type Consumer = logbuf::queue::spsc::Consumer;
    const NAME: &'static str = "logbuf";

    fn new(capacity: usize) -> (Self::Producer, Self::Consumer) {
        logbuf::queue::spsc::new(capacity)
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

/// `nexus_logbuf::queue::spsc`.
struct Nexus;

impl Ring for Nexus {
    type Producer = nexus_logbuf::queue::spsc::Producer;
    type Consumer = nexus_logbuf::queue::spsc::Consumer;
    const NAME: &'static str = "nexus-logbuf";

    fn new(capacity: usize) -> (Self::Producer, Self::Consumer) {
        nexus_logbuf::queue::spsc::new(capacity)
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
    producer: Histogram<u64>,
    consumer: Histogram<u64>,
    /// Producer claims that failed because the ring was full (retried, not recorded).
    full: u64,
    /// Consumer polls that found nothing (not recorded).
    empty: u64,
    /// Seconds the run took, and the longest either thread waited for a CPU meanwhile plus any
    /// time the hypervisor stole from the machine.
    secs: f64,
    waited: f64,
}

impl Run {
    fn disturbed(&self) -> bool {
        self.waited > DISTURBED * self.secs
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds")
}

/// One run: `samples` records of `PAYLOAD` bytes, the producer pausing `pace` TSC cycles
/// between records.
fn run<R: Ring>(
    tx: &mut R::Producer,
    rx: &mut R::Consumer,
    src: &[u8],
    samples: usize,
    pace: u64,
) -> Run {
    let expected = (0..samples).fold(0u64, |acc, i| acc.wrapping_add(word_sum(payload(src, i))));
    let steal_before = steal_secs();
    let barrier = Barrier::new(2);
    let ((producer, full, p_wait), (consumer, empty, c_wait, sum), secs) =
        std::thread::scope(|s| {
            let producer = s.spawn(|| {
                let mut hist = histogram();
                let mut full = 0u64;
                barrier.wait();
                let before = run_queue_wait_ns();
                for i in 0..samples {
                    let bytes = payload(src, i);
                    let ticks = time_until_ok(
                        || R::try_write(tx, bytes),
                        || {
                            full += 1;
                            spin_loop();
                        },
                    );
                    hist.saturating_record(ticks);
                    spin_for(pace);
                }
                (hist, full, waited_since(before))
            });
            let consumer = s.spawn(|| {
                let mut hist = histogram();
                let (mut empty, mut got, mut sum) = (0u64, 0usize, 0u64);
                barrier.wait();
                let before = run_queue_wait_ns();
                let t0 = Instant::now();
                while got < samples {
                    let c0 = cycles::start();
                    let ok = R::try_read(rx, &mut sum);
                    let c1 = cycles::stop();
                    if ok {
                        hist.saturating_record(c1.wrapping_sub(c0));
                        got += 1;
                    } else {
                        empty += 1;
                        spin_loop();
                    }
                }
                let secs = t0.elapsed().as_secs_f64();
                ((hist, empty, waited_since(before), sum), secs)
            });
            let (c, secs) = consumer.join().expect("consumer panicked");
            (producer.join().expect("producer panicked"), c, secs)
        });
    let stolen = stolen_since(steal_before);
    assert_eq!(sum, expected, "{}: consumer's byte sum is off", R::NAME);
    assert_eq!(producer.len(), samples as u64);
    assert_eq!(consumer.len(), samples as u64);
    Run {
        producer,
        consumer,
        full,
        empty,
        secs,
        waited: p_wait.max(c_wait) + stolen,
    }
}

/// Record `i`'s bytes: `PAYLOAD` bytes from a varying offset of `src`.
#[inline(always)]
fn payload(src: &[u8], i: usize) -> &[u8] {
    &src[(i * 24) & 255..][..PAYLOAD]
}

fn scenario(
    name: &str,
    pace: u64,
    rounds: usize,
    samples: usize,
    retries: usize,
    quiet: &mut Quiet,
) {
    let mut src = vec![0u8; 512];
    logbuf_benches::XorShift64::new(42).fill(&mut src);
    // Each handle on cache lines of its own, as it would be on its own thread.
    let mut ours = isolate(Logbuf::new(RING));
    let mut theirs = isolate(Nexus::new(RING));
    // Untimed warm-up of both rings.
    run::<Logbuf>(&mut ours.0, &mut ours.1, &src, samples, pace);
    run::<Nexus>(&mut theirs.0, &mut theirs.1, &src, samples, pace);

    let mut retries = Retries::new(retries);
    let mut disturbed = 0;
    // [contender][side][quantile] -> per-round values
    // The last slot of the innermost level holds the mean.
    let mut q = vec![vec![vec![Vec::with_capacity(rounds); QUANTILES.len() + 1]; 2]; 2];
    let mut full = [0u64; 2];
    let mut empty = [0u64; 2];
    for round in 0..rounds {
        let a = retries.run(quiet, Run::disturbed, || {
            run::<Logbuf>(&mut ours.0, &mut ours.1, &src, samples, pace)
        });
        let b = retries.run(quiet, Run::disturbed, || {
            run::<Nexus>(&mut theirs.0, &mut theirs.1, &src, samples, pace)
        });
        let mut line = format!("  round {round}:");
        for (k, r) in [a, b].iter().enumerate() {
            disturbed += usize::from(r.disturbed());
            full[k] += r.full;
            empty[k] += r.empty;
            for (side, h) in [&r.producer, &r.consumer].into_iter().enumerate() {
                for (j, &(_, quantile)) in QUANTILES.iter().enumerate() {
                    q[k][side][j].push(h.value_at_quantile(quantile) as f64);
                }
                q[k][side][QUANTILES.len()].push(h.mean());
            }
            line.push_str(&format!(
                " {} p50 prod={} cons={};",
                ["logbuf", "nexus"][k],
                r.producer.value_at_quantile(0.5),
                r.consumer.value_at_quantile(0.5)
            ));
        }
        eprintln!("{line}");
    }

    println!("\n### {name} — {samples} records of {PAYLOAD} B per run, {rounds} rounds\n");
    let mut table = latency_table("operation", "logbuf", "nexus");
    for (side, op) in [
        "producer: claim+copy+commit",
        "consumer: claim+read+release",
    ]
    .iter()
    .enumerate()
    {
        latency_rows(
            &mut table,
            ["logbuf", "nexus-logbuf"].map(|who| format!("{op}, {who}")),
            [&q[0][side], &q[1][side]],
        );
    }
    print!("{}", table.render());
    println!(
        "\nproducer claims that found the ring full (retried, not recorded): logbuf {}, \
         nexus-logbuf {}; consumer polls that found it empty (not recorded): logbuf {}, \
         nexus-logbuf {}",
        full[0], full[1], empty[0], empty[1]
    );
    println!(
        "runs re-done because a thread waited for a CPU: {}; kept although still \
         disturbed: {disturbed} of {}",
        retries.reruns,
        2 * rounds
    );
}

fn main() {
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 7).max(1);
    let samples = setting("samples", "LOGBUF_BENCH_SAMPLES", 1_000_000).max(1);
    let pace = setting("pace", "LOGBUF_BENCH_PACE", 1500) as u64;
    let retries = setting("retries", "LOGBUF_BENCH_RETRIES", 5);
    let max_wait = setting("max-wait-s", "LOGBUF_BENCH_MAX_WAIT_S", 60);
    let mut quiet = Quiet::new(std::time::Duration::from_secs(max_wait as u64));

    println!("## spsc_latency\n");
    println!("machine: {}", machine());
    let (overhead, overhead_min) = cycles::overhead(1_000_000);
    let per_ns = cycles::ticks_per_ns(200);
    let steps: Vec<String> = cycles::steps(100_000, 3)
        .into_iter()
        .map(|(step, share)| format!("{step} ({:.0}%)", share * 100.0))
        .collect();
    println!(
        "unit: {} ({:.3} per ns); successive reads of the counter differ by {} (a coarse \
         step quantises single-operation percentiles; the mean is not quantised); an empty \
         timed region costs {} median, {} min (included in every figure below, not \
         subtracted)",
        cycles::UNIT,
        per_ns,
        steps.join(", "),
        overhead,
        overhead_min
    );
    println!(
        "ring: {RING} bytes; producer-side \"full\" attempts are retried and not recorded; \
         consumer polls that find nothing are not recorded"
    );
    println!("ratio columns: median over rounds of (logbuf / nexus-logbuf); below 1.00x is better");

    scenario("back-to-back", 0, rounds, samples, retries, &mut quiet);
    scenario(
        &format!("paced ({pace} TSC cycles between records)"),
        pace,
        rounds,
        samples,
        retries,
        &mut quiet,
    );
    println!(
        "\ntime spent waiting for other processes to go quiet: {:.1} s",
        quiet.waited().as_secs_f64()
    );
}
