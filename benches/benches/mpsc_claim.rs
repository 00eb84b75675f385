//! The MPSC claim step alone, in a self-contained model: a compare-exchange loop with a cached
//! head (what `logbuf::queue::mpsc` does) against a fetch-add claim (Aeron's term appender),
//! with 1 and 2 producer threads.
//!
//! # The model
//!
//! Shared state: `tail` and `head` (`AtomicUsize`, each on cache lines of its own), a
//! capacity, and one "committed bytes" counter per producer (on lines of their own). There is
//! no buffer: only positions move.
//!
//! - **CAS** (the crate's protocol): load `tail`; check `tail + span - cached_head <= capacity`
//!   against a per-producer cached head, reloading `head` (`Acquire`) only when the cache says
//!   full; then `compare_exchange_weak(tail, tail + span)`, retrying with the value it got back.
//!   A failed room check is "full": the producer backs off and tries again (the crate returns
//!   `Full` to the caller there, who decides).
//! - **fetch-add**: `tail.fetch_add(span)` claims at once; if the claimed range ends beyond
//!   `cached_head + capacity`, reload `head`, and if it still does, the producer owns a range
//!   that still holds unread records and must **wait** for the consumer (counted as a claim
//!   that waited for room; the waiting steps are counted too). It cannot report `Full`: that is the
//!   semantic difference the crate's docs give for not using it.
//! - **plain store** (reference, 1 producer only): the same room check, then `tail.store` with
//!   no read-modify-write: what the claim would cost without a locked instruction, i.e. the
//!   claim step of an SPSC ring that keeps its tail in a shared atomic.
//!
//! After a claim the producer does its "work" (nothing, or a copy of the record's payload into
//! a private buffer) and "commits" by storing its running total of claimed bytes (`Release`)
//! in its counter. The consumer thread loops: it sums the counters (`Acquire`) and publishes
//! `head = sum` (`Release`) when that moved, backing off when it did not. That sum
//! never exceeds `tail`, and every claim ahead of a waiting fetch-add producer is eventually
//! counted, so the model cannot deadlock.
//!
//! # What the model leaves out
//!
//! - No record bytes in a shared ring: no zeroing by the consumer, no length-word commit, no
//!   padding at the wrap, no skip records (a fetch-add ring would also have to write skips over
//!   overshoot ranges it gives up, which is where its real complexity is). The copy "work"
//!   goes to a private, L1-resident buffer, so a locked instruction's wait for earlier stores
//!   is cheaper here than in the real ring, whose stores go to lines the consumer just zeroed.
//! - The consumer releases the sum of all committed claims, even past a claim that is still
//!   in progress; a real consumer stops at the first uncommitted record. That makes the model's
//!   consumer a little more generous than the real one.
//! - On a 2-CPU machine, 2 producers + the consumer are 3 threads: in the "tight" scenario the
//!   consumer runs only when a producer backs off to `sched_yield` (spin, then yield, the same
//!   for both protocols; with no more threads than CPUs every wait only spins). In the "roomy" scenarios the ring never fills within a run, so they
//!   run no consumer thread at all and 2 producers really do run side by side (the
//!   `concurrency` column, the producers' summed run time over the run's span, shows it).
//!
//! Spans are the `8..=1024`-byte payloads of `mpsc_throughput` plus the 8-byte header,
//! rounded up to 8. Trials are interleaved (every protocol once per trial, rotating start);
//! the report gives medians of ns per claim (per producer thread: its run time over its
//! claims) and of claims/s (all producers' claims over the span from the first start to the
//! last end), and the median of the per-trial ratios.
//!
//! Settings (command line after `--`, or environment):
//! - `--trials N` / `LOGBUF_BENCH_TRIALS` (default 21);
//! - `--claims N` / `LOGBUF_BENCH_CLAIMS` (claims per producer thread per run, default 2000000);
//! - `--tight-capacity N` / `LOGBUF_BENCH_TIGHT_CAPACITY` (bytes, default 16384);
//! - `--max-wait-s N` / `LOGBUF_BENCH_MAX_WAIT_S` (default 60).

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use logbuf_benches::{
    Backoff, Isolated, Quiet, Table, XorShift64, fmt, fmt_ratio, machine, median, min_max,
    oversubscribed, setting,
};

/// Spans cycle through a table this long (a power of two).
const SPAN_TABLE: usize = 1 << 16;
/// Header bytes added to each payload.
const HEADER: usize = 8;
/// The "roomy" capacity: positions only, so it can be far larger than any run claims.
const ROOMY: usize = 1 << 44;

/// The claim protocols compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Protocol {
    Cas,
    FetchAdd,
    Plain,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Cas => "CAS loop + cached head",
            Protocol::FetchAdd => "fetch-add (wait on overshoot)",
            Protocol::Plain => "plain store (1 producer only; reference)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Protocol::Cas => "cas",
            Protocol::FetchAdd => "fetch-add",
            Protocol::Plain => "plain",
        }
    }
}

/// The shared state of one model ring.
struct Shared {
    tail: Isolated<AtomicUsize>,
    head: Isolated<AtomicUsize>,
    committed: Vec<Isolated<AtomicUsize>>,
    capacity: usize,
    done: Isolated<AtomicBool>,
}

impl Shared {
    fn new(producers: usize, capacity: usize) -> Self {
        Self {
            tail: Isolated(AtomicUsize::new(0)),
            head: Isolated(AtomicUsize::new(0)),
            committed: (0..producers)
                .map(|_| Isolated(AtomicUsize::new(0)))
                .collect(),
            capacity,
            done: Isolated(AtomicBool::new(false)),
        }
    }
}

/// Per-producer counters of one run.
#[derive(Default, Clone, Copy)]
struct Counts {
    /// CAS attempts that lost to another producer.
    cas_failures: u64,
    /// Claims that had to wait for the consumer: for CAS and plain, claims whose room check
    /// found the ring full at least once (the crate would return `Full` there); for fetch-add,
    /// claims that overshot the free room and had to wait in place.
    no_room: u64,
    /// Backoff steps spent waiting for room, all protocols.
    wait_steps: u64,
    /// `sched_yield` calls.
    yields: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.cas_failures += o.cas_failures;
        self.no_room += o.no_room;
        self.wait_steps += o.wait_steps;
        self.yields += o.yields;
    }
}

/// A small share with enough digits to see it.
fn share(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v < 0.01 {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
    }
}

/// One producer thread's loop.
#[inline(never)]
fn producer(
    proto: Protocol,
    shared: &Shared,
    me: usize,
    spans: &[u32],
    claims: usize,
    copy: bool,
    threads: usize,
) -> Counts {
    let cap = shared.capacity;
    let tail_a = &shared.tail.0;
    let head_a = &shared.head.0;
    let mine = &shared.committed[me].0;
    let mut committed = mine.load(Ordering::Relaxed);
    let mut cached_head = head_a.load(Ordering::Acquire);
    let mut counts = Counts::default();
    let mut backoff = Backoff::for_threads(threads);
    let mut scratch = [0u8; 1024];
    let src = [0x5Au8; 1024];
    // Signed: the model's consumer may release past a claim that is still in progress (see
    // the docs), so `head` can be ahead of an older claim's end; that claim then fits.
    let fits = |tail: usize, span: usize, head: usize| {
        tail.wrapping_add(span).wrapping_sub(head) as isize <= cap as isize
    };
    for i in 0..claims {
        let span = spans[(i + me * 7919) & (SPAN_TABLE - 1)] as usize;
        match proto {
            Protocol::Cas => {
                let mut tail = tail_a.load(Ordering::Relaxed);
                let mut waited = false;
                loop {
                    if !fits(tail, span, cached_head) {
                        cached_head = head_a.load(Ordering::Acquire);
                        if !fits(tail, span, cached_head) {
                            counts.no_room += u64::from(!waited);
                            waited = true;
                            counts.wait_steps += 1;
                            backoff.snooze();
                            tail = tail_a.load(Ordering::Relaxed);
                            continue;
                        }
                    }
                    match tail_a.compare_exchange_weak(
                        tail,
                        tail.wrapping_add(span),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(now) => {
                            counts.cas_failures += 1;
                            tail = now;
                        }
                    }
                }
            }
            Protocol::FetchAdd => {
                let tail = tail_a.fetch_add(span, Ordering::Relaxed);
                if !fits(tail, span, cached_head) {
                    cached_head = head_a.load(Ordering::Acquire);
                    if !fits(tail, span, cached_head) {
                        counts.no_room += 1;
                        loop {
                            backoff.snooze();
                            counts.wait_steps += 1;
                            cached_head = head_a.load(Ordering::Acquire);
                            if fits(tail, span, cached_head) {
                                break;
                            }
                        }
                    }
                }
            }
            Protocol::Plain => {
                let tail = tail_a.load(Ordering::Relaxed);
                let mut waited = false;
                while !fits(tail, span, cached_head) {
                    cached_head = head_a.load(Ordering::Acquire);
                    if !fits(tail, span, cached_head) {
                        counts.no_room += u64::from(!waited);
                        waited = true;
                        counts.wait_steps += 1;
                        backoff.snooze();
                    }
                }
                tail_a.store(tail.wrapping_add(span), Ordering::Relaxed);
            }
        }
        backoff.reset();
        if copy {
            let len = span - HEADER;
            scratch[..len].copy_from_slice(&src[..len]);
            black_box(&mut scratch);
        }
        committed = committed.wrapping_add(span);
        mine.store(committed, Ordering::Release);
    }
    counts.yields = backoff.yielded();
    counts
}

/// The consumer: publishes `head = sum of committed` whenever that moves, until the producers
/// are done. (`tail`, `head` and the counters all start at 0 and only grow, so the sum of the
/// counters is a position no later than `tail`.)
#[inline(never)]
fn consumer(shared: &Shared, threads: usize) -> u64 {
    let mut last = shared.head.load(Ordering::Relaxed);
    let mut backoff = Backoff::for_threads(threads);
    loop {
        let done = shared.done.load(Ordering::Acquire);
        let sum = shared
            .committed
            .iter()
            .fold(0usize, |acc, c| acc.wrapping_add(c.load(Ordering::Acquire)));
        if sum != last {
            shared.head.store(sum, Ordering::Release);
            last = sum;
            backoff.reset();
        } else if done {
            break;
        } else {
            backoff.snooze();
        }
    }
    backoff.yielded()
}

/// One timed run.
#[derive(Clone, Copy)]
struct Run {
    /// Mean over producer threads of (thread's run time / its claims), ns.
    ns_per_claim: f64,
    /// All claims over the time from the first producer's start to the last one's end, per
    /// second.
    claims_per_s: f64,
    /// Sum of the producers' run times over that span: about the producer count when they ran
    /// side by side, about 1 when they took turns.
    concurrency: f64,
    counts: Counts,
}

fn run(
    proto: Protocol,
    shared: &Shared,
    producers: usize,
    spans: &[u32],
    claims: usize,
    sc: &Scenario,
) -> Run {
    shared.done.store(false, Ordering::Relaxed);
    // The roomy ring never fills within a run, so it needs no consumer, and leaving it out keeps
    // 2 producers on 2 CPUs side by side.
    let with_consumer = sc.capacity != ROOMY;
    let threads = producers + usize::from(with_consumer);
    let barrier = Barrier::new(threads);
    let (spans_t, counts) = std::thread::scope(|s| {
        let cons = with_consumer.then(|| {
            s.spawn(|| {
                barrier.wait();
                consumer(shared, threads)
            })
        });
        let handles: Vec<_> = (0..producers)
            .map(|me| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let t0 = Instant::now();
                    let c = producer(proto, shared, me, spans, claims, sc.copy, threads);
                    (t0, Instant::now(), c)
                })
            })
            .collect();
        let mut spans_t = Vec::new();
        let mut counts = Counts::default();
        for h in handles {
            let (t0, t1, c) = h.join().expect("producer panicked");
            spans_t.push((t0, t1));
            counts.add(&c);
        }
        shared.done.store(true, Ordering::Release);
        if let Some(cons) = cons {
            counts.yields += cons.join().expect("consumer panicked");
        }
        (spans_t, counts)
    });
    let first = spans_t.iter().map(|t| t.0).min().expect("a producer");
    let last = spans_t.iter().map(|t| t.1).max().expect("a producer");
    let whole = (last - first).as_secs_f64();
    let busy: f64 = spans_t.iter().map(|t| (t.1 - t.0).as_secs_f64()).sum();
    Run {
        ns_per_claim: busy / producers as f64 / claims as f64 * 1e9,
        claims_per_s: (claims * producers) as f64 / whole,
        concurrency: busy / whole,
        counts,
    }
}

struct Scenario {
    name: &'static str,
    capacity: usize,
    copy: bool,
}

fn scenario(
    sc: &Scenario,
    producers: usize,
    spans: &[u32],
    trials: usize,
    claims: usize,
    quiet: &mut Quiet,
) {
    let protos: Vec<Protocol> = if producers == 1 {
        vec![Protocol::Cas, Protocol::FetchAdd, Protocol::Plain]
    } else {
        vec![Protocol::Cas, Protocol::FetchAdd]
    };
    let shareds: Vec<Shared> = protos
        .iter()
        .map(|_| Shared::new(producers, sc.capacity))
        .collect();
    // Untimed warm-up.
    for (p, sh) in protos.iter().zip(&shareds) {
        run(*p, sh, producers, spans, claims / 4, sc);
    }
    let k = protos.len();
    let mut runs: Vec<Vec<Run>> = vec![Vec::with_capacity(trials); k];
    for t in 0..trials {
        let mut line = format!("  {} {producers}P trial {t:>2}:", sc.name);
        for j in 0..k {
            let idx = (j + t) % k;
            quiet.wait();
            let r = run(protos[idx], &shareds[idx], producers, spans, claims, sc);
            runs[idx].push(r);
        }
        for (idx, r) in runs.iter().enumerate() {
            line.push_str(&format!(
                " {}={:.1}ns",
                protos[idx].short(),
                r[t].ns_per_claim
            ));
        }
        eprintln!("{line}");
    }
    // Sanity: every protocol moved its tail by exactly the spans it claimed.
    for (idx, sh) in shareds.iter().enumerate() {
        let claimed: usize = sh.committed.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        assert_eq!(
            sh.tail.load(Ordering::Relaxed),
            claimed,
            "{}: tail and committed bytes disagree",
            protos[idx].short()
        );
    }

    let threads = producers + usize::from(sc.capacity != ROOMY);
    println!(
        "\n### {}, {producers} producer{} ({threads} thread{}{}) — {claims} claims per producer \
         per run, {trials} trials\n",
        sc.name,
        if producers == 1 { "" } else { "s" },
        if threads == 1 { "" } else { "s" },
        if sc.capacity == ROOMY {
            ", no consumer: the ring never fills within a run"
        } else if oversubscribed(threads) {
            ", OVERSUBSCRIBED: the consumer runs only when a producer yields"
        } else {
            ""
        }
    );
    let per_claim = |v: u64| v as f64 / (claims * producers * trials) as f64;
    let mut table = Table::new([
        "protocol",
        "ns/claim (median)",
        "ns/claim (min..max)",
        "Mclaims/s (median)",
        "concurrency",
        "CAS failures/claim",
        "claims that waited for room",
        "wait steps/claim",
        "yields/run",
    ]);
    for (idx, p) in protos.iter().enumerate() {
        let mut ns: Vec<f64> = runs[idx].iter().map(|r| r.ns_per_claim).collect();
        let (lo, hi) = min_max(&ns);
        let mut rate: Vec<f64> = runs[idx].iter().map(|r| r.claims_per_s / 1e6).collect();
        let mut conc: Vec<f64> = runs[idx].iter().map(|r| r.concurrency).collect();
        let mut c = Counts::default();
        for r in &runs[idx] {
            c.add(&r.counts);
        }
        table.row([
            p.label().to_owned(),
            fmt(median(&mut ns), 2),
            format!("{lo:.2}..{hi:.2}"),
            fmt(median(&mut rate), 1),
            fmt(median(&mut conc), 2),
            share(per_claim(c.cas_failures)),
            share(per_claim(c.no_room)),
            share(per_claim(c.wait_steps)),
            format!("{:.0}", c.yields as f64 / trials as f64),
        ]);
    }
    print!("{}", table.render());
    let mut ratios = Table::new([
        "claims/s ratio",
        "median of per-trial ratios",
        "min..max",
        "trials won",
    ]);
    let mut pairs = vec![(0, 1)];
    if producers == 1 {
        pairs.push((0, 2));
    }
    for (a, b) in pairs {
        let mut r: Vec<f64> = (0..trials)
            .map(|t| runs[a][t].claims_per_s / runs[b][t].claims_per_s)
            .collect();
        let won = r.iter().filter(|&&x| x > 1.0).count();
        let (lo, hi) = min_max(&r);
        ratios.row([
            format!("{} / {}", protos[a].short(), protos[b].short()),
            fmt_ratio(median(&mut r)),
            format!("{lo:.2}..{hi:.2}"),
            format!("{won}/{trials}"),
        ]);
    }
    println!();
    print!("{}", ratios.render());
}

fn main() {
    let trials = setting("trials", "LOGBUF_BENCH_TRIALS", 21).max(1);
    let claims = setting("claims", "LOGBUF_BENCH_CLAIMS", 2_000_000).max(1);
    let tight = setting("tight-capacity", "LOGBUF_BENCH_TIGHT_CAPACITY", 16 * 1024);
    let max_wait = setting("max-wait-s", "LOGBUF_BENCH_MAX_WAIT_S", 60);
    let mut quiet = Quiet::new(Duration::from_secs(max_wait as u64));
    assert!(
        tight >= 1040,
        "the tight capacity must hold the largest span (1032 bytes)"
    );

    let mut rng = XorShift64::new(0x5EED_1234_ABCD_0001);
    let spans: Vec<u32> = (0..SPAN_TABLE)
        .map(|_| {
            let len = rng.range_inclusive(8, 1024) as usize;
            ((len + HEADER + 7) & !7) as u32
        })
        .collect();
    let mean_span = spans.iter().map(|&s| s as f64).sum::<f64>() / SPAN_TABLE as f64;

    println!(
        "## mpsc_claim (model of the claim step; see the file's docs for what it leaves out)\n"
    );
    println!("machine: {}", machine());
    println!(
        "spans: payload 8..=1024 B + 8 B header, rounded to 8 (mean {mean_span:.1} B); waiting \
         loops spin, and where threads > CPUs yield after {} spins; ratios are claims/s of the first protocol over the \
         second's, per trial (above 1.00x: the first is faster)",
        Backoff::SPINS
    );
    let scenarios = [
        Scenario {
            name: "roomy ring, claim + commit only",
            capacity: ROOMY,
            copy: false,
        },
        Scenario {
            name: "roomy ring, claim + copy payload (private buffer) + commit",
            capacity: ROOMY,
            copy: true,
        },
        Scenario {
            name: "tight ring, claim + copy payload + commit",
            capacity: tight,
            copy: true,
        },
    ];
    let t0 = Instant::now();
    for sc in &scenarios {
        if sc.capacity != ROOMY {
            println!("\ntight capacity: {} bytes", sc.capacity);
        }
        for producers in [1, 2] {
            scenario(sc, producers, &spans, trials, claims, &mut quiet);
        }
    }
    println!("\nwall time {:.0} s", t0.elapsed().as_secs_f64());
}
