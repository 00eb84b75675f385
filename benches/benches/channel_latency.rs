//! Channels: one-way latency by ping-pong, the sender's cost over the raw queue, `notify` alone,
//! and the CPU an idle (parked) receiver uses.
//!
//! 1. **Ping-pong.** Thread A sends a record over channel 1; thread B receives it, reads every
//!    byte (a word sum) and sends a copy back over channel 2; A times from before its send until
//!    it holds the echo and has read every byte of it, and half of that round trip is the
//!    one-way latency. Records of 8, 64, 256 and 1024 bytes, the first 8 bytes a sequence
//!    number; A checks length, sequence number and word sum of every echo. Every hop is the
//!    same work for every contender: the sender writes the record's bytes into the channel,
//!    the receiver reads all of them. Contenders:
//!    - `logbuf`: `logbuf::channel::spsc`; send is `try_send` + copy + `commit` + `notify`,
//!      receive is `recv()` (spin, yield, then park until notified);
//!    - `nexus-logbuf`: `nexus_logbuf::channel::spsc`, the same calls (`recv(None)`);
//!    - `crossbeam`: a bounded `crossbeam_channel` of `Vec<u8>`; each send allocates a `Vec`
//!      (`to_vec`), and each receiver frees the one it got (B frees A's allocations and vice
//!      versa, as a logging thread would).
//!
//!    Rounds alternate the contenders (rotating start); the tables give medians over rounds of
//!    each percentile and the median of the per-round ratios. "sleeps/RTT" counts how often
//!    the two threads went to sleep and were woken, per round trip (from the scheduler's
//!    per-thread count of times put on a CPU): near 0 means both ends caught every record
//!    while spinning.
//! 2. **Sender cost over the raw queue.** Cycles of `try_send(64)` + copy + `commit` +
//!    `notify` on a channel against `try_claim(64)` + copy + `commit` on the bare SPSC queue,
//!    for logbuf and for nexus-logbuf, while another thread drains (with `try_recv` /
//!    `try_claim`, so it never parks and `notify` always takes its no-one-to-wake path).
//!    Back-to-back and paced, as in `spsc_latency`.
//! 3. **`notify` alone**, receiver not parked, one thread: per call (quantised by the TSC step)
//!    and per call averaged over batches of 1000; with references: an empty region, a bare
//!    `fence(SeqCst)` (on x86-64 LLVM emits `lock or` to the stack for it), and a 64-byte copy
//!    plus a `Release` store (a commit) with and without each `notify` after it, since a full
//!    fence waits for the stores before it to drain.
//! 4. **Idle receiver CPU.** A receiver thread calls `recv_timeout(2 s)` (nexus-logbuf:
//!    `recv(Some(2 s))`) on an empty channel whose sender is alive; its on-CPU time and wake-ups
//!    are read from `/proc/thread-self/schedstat` before and after. logbuf with its default
//!    park interval and with a 100 ms one, nexus-logbuf, and crossbeam-channel.
//!
//! Settings (command line after `--`, or environment):
//! - `--rounds N` / `LOGBUF_BENCH_ROUNDS` (default 7);
//! - `--pings N` / `LOGBUF_BENCH_PINGS` (round trips per run, default 20000);
//! - `--samples N` / `LOGBUF_BENCH_SAMPLES` (records per sender-cost run, default 300000);
//! - `--pace N` / `LOGBUF_BENCH_PACE` (TSC cycles between records when paced, default 1500);
//! - `--idle-ms N` / `LOGBUF_BENCH_IDLE_MS` (length of each idle wait, default 2000);
//! - `--idle-reps N` / `LOGBUF_BENCH_IDLE_REPS` (default 3);
//! - `--only N` / `LOGBUF_BENCH_ONLY` (default 0: every section; 1..=4: that section only);
//! - `--retries N` / `LOGBUF_BENCH_RETRIES` (default 5): a run in which the hypervisor stole
//!   more than 1% of the time, or (sender cost) a thread waited for a CPU for more than 1% of
//!   it, is re-done up to this many times;
//! - `--max-wait-s N` / `LOGBUF_BENCH_MAX_WAIT_S` (default 60).

use std::hint::{black_box, spin_loop};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use logbuf_benches::harness::{
    copy_commit, spin_for, stolen_since, sum_record, time_until_ok, waited_since,
};
use logbuf_benches::{
    Isolated, Quiet, Table, XorShift64, cycles, fmt_ratio, machine, median, run_queue_wait_ns,
    setting, steal_secs, thread_schedstat, word_sum,
};

/// Channel capacity for every contender, in bytes (crossbeam: slots, see below).
const RING: usize = 1 << 20;
/// Record sizes of the ping-pong.
const SIZES: [usize; 4] = [8, 64, 256, 1024];
/// Payload of the sender-cost runs.
const PAYLOAD: usize = 64;
/// A run is "disturbed" when it lost more than this fraction of its time.
const DISTURBED: f64 = 0.01;
/// Round trips before the timed ones in every ping-pong run.
const WARM: usize = 1000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds")
}

// === 1. ping-pong ===

/// A channel as the ping-pong uses it.
trait PingPong {
    type Tx: Send;
    type Rx: Send;
    const NAME: &'static str;

    fn new() -> (Self::Tx, Self::Rx);
    /// Sends `payload` (waiting for room if need be) and wakes the receiver.
    fn send(tx: &mut Self::Tx, payload: &[u8]);
    /// Waits for the next record and hands it to `f`.
    fn recv_with<R>(rx: &mut Self::Rx, f: impl FnOnce(&[u8]) -> R) -> R;
    /// Waits for the next record on `rx`, reads it and sends a copy back on `tx`; returns its
    /// word sum.
    fn echo(rx: &mut Self::Rx, tx: &mut Self::Tx) -> u64;
}

struct LogbufCh;

impl PingPong for LogbufCh {
    type Tx = logbuf::channel::spsc::Sender;
    type Rx = logbuf::channel::spsc::Receiver;
    const NAME: &'static str = "logbuf channel::spsc";

    fn new() -> (Self::Tx, Self::Rx) {
        logbuf::channel::spsc::channel(RING)
    }

    #[inline(always)]
    fn send(tx: &mut Self::Tx, payload: &[u8]) {
        loop {
            match tx.try_send(payload.len()) {
                Ok(mut claim) => {
                    claim.copy_from_slice(payload);
                    claim.commit();
                    break;
                }
                Err(logbuf::channel::TrySendError::Full) => spin_loop(),
                Err(e) => panic!("logbuf send: {e}"),
            }
        }
        tx.notify();
    }

    #[inline(always)]
    fn recv_with<R>(rx: &mut Self::Rx, f: impl FnOnce(&[u8]) -> R) -> R {
        let record = rx.recv().expect("sender alive");
        f(&record)
    }

    #[inline(always)]
    fn echo(rx: &mut Self::Rx, tx: &mut Self::Tx) -> u64 {
        let record = rx.recv().expect("sender alive");
        let sum = word_sum(&record);
        Self::send(tx, &record);
        sum
    }
}

struct NexusCh;

impl PingPong for NexusCh {
    type Tx = nexus_logbuf::channel::spsc::Sender;
    type Rx = nexus_logbuf::channel::spsc::Receiver;
    const NAME: &'static str = "nexus-logbuf channel::spsc";

    fn new() -> (Self::Tx, Self::Rx) {
        nexus_logbuf::channel::spsc::channel(RING)
    }

    #[inline(always)]
    fn send(tx: &mut Self::Tx, payload: &[u8]) {
        loop {
            match tx.try_send(payload.len()) {
                Ok(mut claim) => {
                    claim.copy_from_slice(payload);
                    claim.commit();
                    break;
                }
                Err(nexus_logbuf::channel::spsc::TrySendError::Full) => spin_loop(),
                Err(e) => panic!("nexus-logbuf send: {e}"),
            }
        }
        tx.notify();
    }

    #[inline(always)]
    fn recv_with<R>(rx: &mut Self::Rx, f: impl FnOnce(&[u8]) -> R) -> R {
        let record = rx.recv(None).expect("sender alive");
        f(&record)
    }

    #[inline(always)]
    fn echo(rx: &mut Self::Rx, tx: &mut Self::Tx) -> u64 {
        let record = rx.recv(None).expect("sender alive");
        let sum = word_sum(&record);
        Self::send(tx, &record);
        sum
    }
}

struct CrossbeamCh;

impl PingPong for CrossbeamCh {
    type Tx = crossbeam_channel::Sender<Vec<u8>>;
    type Rx = crossbeam_channel::Receiver<Vec<u8>>;
    const NAME: &'static str = "crossbeam-channel Vec<u8>";

    fn new() -> (Self::Tx, Self::Rx) {
        // About as many slots as the ring holds 64-byte records; a ping-pong uses one.
        crossbeam_channel::bounded(RING / 72)
    }

    #[inline(always)]
    fn send(tx: &mut Self::Tx, payload: &[u8]) {
        tx.send(payload.to_vec()).expect("receiver alive");
    }

    #[inline(always)]
    fn recv_with<R>(rx: &mut Self::Rx, f: impl FnOnce(&[u8]) -> R) -> R {
        let record = rx.recv().expect("sender alive");
        f(&record)
    }

    #[inline(always)]
    fn echo(rx: &mut Self::Rx, tx: &mut Self::Tx) -> u64 {
        let record = rx.recv().expect("sender alive");
        let sum = word_sum(&record);
        Self::send(tx, &record);
        sum
    }
}

/// Both channels of a ping-pong: A holds (tx1, rx2), B holds (rx1, tx2), each pair on cache
/// lines of its own.
struct Ends<C: PingPong> {
    a: Isolated<(C::Tx, C::Rx)>,
    b: Isolated<(C::Rx, C::Tx)>,
}

impl<C: PingPong> Ends<C> {
    fn new() -> Self {
        let (tx1, rx1) = C::new();
        let (tx2, rx2) = C::new();
        Self {
            a: Isolated((tx1, rx2)),
            b: Isolated((rx1, tx2)),
        }
    }
}

/// One ping-pong run.
struct Pong {
    /// Round trips, in TSC cycles.
    rtt: Histogram<u64>,
    /// Times either thread was put back on a CPU, per round trip.
    sleeps_per_rtt: f64,
    secs: f64,
    stolen: f64,
}

fn pingpong<C: PingPong>(ends: &mut Ends<C>, len: usize, pings: usize) -> Pong {
    let barrier = Barrier::new(2);
    let steal_before = steal_secs();
    let total = WARM + pings;
    let Ends { a, b } = ends;
    let (rtt, slices, secs) = std::thread::scope(|s| {
        let echo = s.spawn(|| {
            barrier.wait();
            let s0 = thread_schedstat();
            let mut sums = 0u64;
            for _ in 0..total {
                sums = sums.wrapping_add(C::echo(&mut b.0.0, &mut b.0.1));
            }
            black_box(sums);
            let s1 = thread_schedstat();
            match (s0, s1) {
                (Some(x), Some(y)) => y.timeslices - x.timeslices,
                _ => 0,
            }
        });
        let mut hist = histogram();
        let mut payload = vec![0u8; len];
        XorShift64::new(len as u64).fill(&mut payload);
        barrier.wait();
        let s0 = thread_schedstat();
        let t0 = Instant::now();
        for i in 0..total {
            payload[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let sum = word_sum(&payload);
            let c0 = cycles::start();
            C::send(&mut a.0.0, &payload);
            let ok = C::recv_with(&mut a.0.1, |r| {
                r.len() == len && r[..8] == (i as u64).to_le_bytes() && word_sum(r) == sum
            });
            let c1 = cycles::stop();
            assert!(ok, "{}: echo {i} of {len} B came back wrong", C::NAME);
            if i >= WARM {
                hist.saturating_record(c1.wrapping_sub(c0));
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let s1 = thread_schedstat();
        let mine = match (s0, s1) {
            (Some(x), Some(y)) => y.timeslices - x.timeslices,
            _ => 0,
        };
        let theirs = echo.join().expect("echo thread panicked");
        (hist, mine + theirs, secs)
    });
    Pong {
        rtt,
        sleeps_per_rtt: slices as f64 / total as f64,
        secs,
        stolen: stolen_since(steal_before),
    }
}

fn pingpong_clean<C: PingPong>(
    ends: &mut Ends<C>,
    len: usize,
    pings: usize,
    retries: usize,
    reruns: &mut usize,
    quiet: &mut Quiet,
) -> Pong {
    quiet.wait();
    let mut p = pingpong(ends, len, pings);
    for _ in 0..retries {
        if p.stolen <= DISTURBED * p.secs {
            break;
        }
        *reruns += 1;
        quiet.wait();
        p = pingpong(ends, len, pings);
    }
    p
}

const PQ: [(&str, f64); 3] = [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)];

/// Per contender: [quantile] -> per-round one-way cycles, plus sleeps/RTT per round.
#[derive(Default, Clone)]
struct PongStats {
    q: [Vec<f64>; 3],
    max: Vec<f64>,
    sleeps: Vec<f64>,
}

impl PongStats {
    fn push(&mut self, p: &Pong) {
        for (j, &(_, quantile)) in PQ.iter().enumerate() {
            self.q[j].push(p.rtt.value_at_quantile(quantile) as f64 / 2.0);
        }
        self.max.push(p.rtt.max() as f64 / 2.0);
        self.sleeps.push(p.sleeps_per_rtt);
    }
}

fn pingpong_section(rounds: usize, pings: usize, retries: usize, per_ns: f64, quiet: &mut Quiet) {
    let names = ["logbuf", "nexus-logbuf", "crossbeam"];
    let mut table = Table::new([
        "size",
        "channel",
        "p50 cyc",
        "p99 cyc",
        "p999 cyc",
        "p50 ns",
        "p99 ns",
        "p999 ns",
        "max ns (median)",
        "sleeps/RTT",
        "p50 logbuf/this",
        "p99 logbuf/this",
    ]);
    let mut reruns = 0;
    for len in SIZES {
        let mut ours = Ends::<LogbufCh>::new();
        let mut nexus = Ends::<NexusCh>::new();
        let mut cb = Ends::<CrossbeamCh>::new();
        pingpong(&mut ours, len, pings / 4);
        pingpong(&mut nexus, len, pings / 4);
        pingpong(&mut cb, len, pings / 4);
        let mut stats = vec![PongStats::default(); 3];
        for round in 0..rounds {
            for k in 0..3 {
                let idx = (k + round) % 3;
                let p = match idx {
                    0 => pingpong_clean(&mut ours, len, pings, retries, &mut reruns, quiet),
                    1 => pingpong_clean(&mut nexus, len, pings, retries, &mut reruns, quiet),
                    _ => pingpong_clean(&mut cb, len, pings, retries, &mut reruns, quiet),
                };
                stats[idx].push(&p);
            }
            let mut line = format!("  ping-pong {len:>4} B round {round}:");
            for (idx, st) in stats.iter().enumerate() {
                line.push_str(&format!(
                    " {} p50={:.0} p99={:.0} sleeps/RTT={:.2};",
                    names[idx], st.q[0][round], st.q[1][round], st.sleeps[round]
                ));
            }
            eprintln!("{line}");
        }
        for (idx, st) in stats.iter().enumerate() {
            let med: Vec<f64> = st.q.iter().map(|v| median(&mut v.clone())).collect();
            let ratio = |j: usize| {
                if idx == 0 {
                    String::new()
                } else {
                    let mut r: Vec<f64> = stats[0].q[j]
                        .iter()
                        .zip(&st.q[j])
                        .map(|(a, b)| a / b)
                        .collect();
                    fmt_ratio(median(&mut r))
                }
            };
            table.row([
                format!("{len} B"),
                names[idx].to_owned(),
                format!("{:.0}", med[0]),
                format!("{:.0}", med[1]),
                format!("{:.0}", med[2]),
                format!("{:.0}", med[0] / per_ns),
                format!("{:.0}", med[1] / per_ns),
                format!("{:.0}", med[2] / per_ns),
                format!("{:.0}", median(&mut st.max.clone()) / per_ns),
                format!("{:.2}", median(&mut st.sleeps.clone())),
                ratio(0),
                ratio(1),
            ]);
        }
    }
    println!(
        "\n### 1. One-way latency by ping-pong (RTT/2), {pings} round trips per run, {rounds} \
         rounds\n"
    );
    print!("{}", table.render());
    println!(
        "\nratio columns: median over rounds of (logbuf / that channel), below 1.00x is better \
         for logbuf; runs re-done because the hypervisor stole time: {reruns}"
    );
}

// === 2. sender cost ===

/// A sending path timed against the raw queue.
trait Writer {
    type Tx: Send;
    type Rx: Send;
    const NAME: &'static str;

    fn new() -> (Self::Tx, Self::Rx);
    /// Claims, copies `payload` in, commits (and notifies, for a channel); `false` if full.
    fn try_write(tx: &mut Self::Tx, payload: &[u8]) -> bool;
    /// Reads the next record without ever sleeping; `false` if there is none.
    fn try_read(rx: &mut Self::Rx, sum: &mut u64) -> bool;
}

struct LogbufChannelW;

impl Writer for LogbufChannelW {
    type Tx = logbuf::channel::spsc::Sender;
    type Rx = logbuf::channel::spsc::Receiver;
    const NAME: &'static str = "logbuf channel: try_send+copy+commit+notify";

    fn new() -> (Self::Tx, Self::Rx) {
        logbuf::channel::spsc::channel(RING)
    }

    #[inline(always)]
    fn try_write(tx: &mut Self::Tx, payload: &[u8]) -> bool {
        let ok = copy_commit(tx.try_send(payload.len()), payload, |c| c.commit());
        if ok {
            tx.notify();
        }
        ok
    }

    #[inline(always)]
    fn try_read(rx: &mut Self::Rx, sum: &mut u64) -> bool {
        sum_record(rx.try_recv().ok(), sum)
    }
}

struct LogbufQueueW;

impl Writer for LogbufQueueW {
    type Tx = logbuf::queue::spsc::Producer;
    type Rx = logbuf::queue::spsc::Consumer;
    const NAME: &'static str = "logbuf queue: try_claim+copy+commit";

    fn new() -> (Self::Tx, Self::Rx) {
        logbuf::queue::spsc::new(RING)
    }

    #[inline(always)]
    fn try_write(tx: &mut Self::Tx, payload: &[u8]) -> bool {
        copy_commit(tx.try_claim(payload.len()), payload, |c| c.commit())
    }

    #[inline(always)]
    fn try_read(rx: &mut Self::Rx, sum: &mut u64) -> bool {
        sum_record(rx.try_claim(), sum)
    }
}

struct NexusChannelW;

impl Writer for NexusChannelW {
    type Tx = nexus_logbuf::channel::spsc::Sender;
    type Rx = nexus_logbuf::channel::spsc::Receiver;
    const NAME: &'static str = "nexus-logbuf channel: try_send+copy+commit+notify";

    fn new() -> (Self::Tx, Self::Rx) {
        nexus_logbuf::channel::spsc::channel(RING)
    }

    #[inline(always)]
    fn try_write(tx: &mut Self::Tx, payload: &[u8]) -> bool {
        let ok = copy_commit(tx.try_send(payload.len()), payload, |c| c.commit());
        if ok {
            tx.notify();
        }
        ok
    }

    #[inline(always)]
    fn try_read(rx: &mut Self::Rx, sum: &mut u64) -> bool {
        match rx.try_recv() {
            Some(record) => {
                *sum = sum.wrapping_add(word_sum(&record));
                true
            }
            None => false,
        }
    }
}

struct NexusQueueW;

impl Writer for NexusQueueW {
    type Tx = nexus_logbuf::queue::spsc::Producer;
    type Rx = nexus_logbuf::queue::spsc::Consumer;
    const NAME: &'static str = "nexus-logbuf queue: try_claim+copy+commit";

    fn new() -> (Self::Tx, Self::Rx) {
        nexus_logbuf::queue::spsc::new(RING)
    }

    #[inline(always)]
    fn try_write(tx: &mut Self::Tx, payload: &[u8]) -> bool {
        copy_commit(tx.try_claim(payload.len()), payload, |c| c.commit())
    }

    #[inline(always)]
    fn try_read(rx: &mut Self::Rx, sum: &mut u64) -> bool {
        sum_record(rx.try_claim(), sum)
    }
}

/// One sender-cost run.
struct Cost {
    hist: Histogram<u64>,
    secs: f64,
    lost: f64,
}

#[inline(always)]
fn cost_payload(src: &[u8], i: usize) -> &[u8] {
    &src[(i * 24) & 255..][..PAYLOAD]
}

fn cost_run<W: Writer>(
    h: &mut (Isolated<W::Tx>, Isolated<W::Rx>),
    src: &[u8],
    samples: usize,
    pace: u64,
) -> Cost {
    let expected = (0..samples).fold(0u64, |a, i| a.wrapping_add(word_sum(cost_payload(src, i))));
    let steal_before = steal_secs();
    let barrier = Barrier::new(2);
    let (tx, rx) = h;
    let (hist, p_wait, (sum, c_wait, secs)) = std::thread::scope(|s| {
        let producer = s.spawn(|| {
            let mut hist = histogram();
            barrier.wait();
            let before = run_queue_wait_ns();
            for i in 0..samples {
                let bytes = cost_payload(src, i);
                hist.saturating_record(time_until_ok(|| W::try_write(&mut tx.0, bytes), spin_loop));
                spin_for(pace);
            }
            (hist, waited_since(before))
        });
        let consumer = s.spawn(|| {
            let (mut got, mut sum) = (0usize, 0u64);
            barrier.wait();
            let before = run_queue_wait_ns();
            let t0 = Instant::now();
            while got < samples {
                if W::try_read(&mut rx.0, &mut sum) {
                    got += 1;
                } else {
                    spin_loop();
                }
            }
            (sum, waited_since(before), t0.elapsed().as_secs_f64())
        });
        let c = consumer.join().expect("consumer panicked");
        let (hist, pw) = producer.join().expect("producer panicked");
        (hist, pw, c)
    });
    assert_eq!(sum, expected, "{}: consumer's byte sum is off", W::NAME);
    Cost {
        hist,
        secs,
        lost: p_wait.max(c_wait) + stolen_since(steal_before),
    }
}

fn cost_clean<W: Writer>(
    h: &mut (Isolated<W::Tx>, Isolated<W::Rx>),
    src: &[u8],
    samples: usize,
    pace: u64,
    retries: usize,
    reruns: &mut usize,
    quiet: &mut Quiet,
) -> Cost {
    quiet.wait();
    let mut c = cost_run::<W>(h, src, samples, pace);
    for _ in 0..retries {
        if c.lost <= DISTURBED * c.secs {
            break;
        }
        *reruns += 1;
        quiet.wait();
        c = cost_run::<W>(h, src, samples, pace);
    }
    c
}

fn writer<W: Writer>() -> (Isolated<W::Tx>, Isolated<W::Rx>) {
    let (tx, rx) = W::new();
    (Isolated(tx), Isolated(rx))
}

#[allow(clippy::too_many_arguments)]
fn cost_section(
    name: &str,
    pace: u64,
    rounds: usize,
    samples: usize,
    retries: usize,
    per_ns: f64,
    quiet: &mut Quiet,
) {
    let mut src = vec![0u8; 512];
    XorShift64::new(42).fill(&mut src);
    let mut lc = writer::<LogbufChannelW>();
    let mut lq = writer::<LogbufQueueW>();
    let mut nc = writer::<NexusChannelW>();
    let mut nq = writer::<NexusQueueW>();
    let run = |k: usize,
               lc: &mut (Isolated<_>, Isolated<_>),
               lq: &mut (Isolated<_>, Isolated<_>),
               nc: &mut (Isolated<_>, Isolated<_>),
               nq: &mut (Isolated<_>, Isolated<_>),
               n: usize,
               reruns: &mut usize,
               quiet: &mut Quiet| match k {
        0 => cost_clean::<LogbufChannelW>(lc, &src, n, pace, retries, reruns, quiet),
        1 => cost_clean::<LogbufQueueW>(lq, &src, n, pace, retries, reruns, quiet),
        2 => cost_clean::<NexusChannelW>(nc, &src, n, pace, retries, reruns, quiet),
        _ => cost_clean::<NexusQueueW>(nq, &src, n, pace, retries, reruns, quiet),
    };
    let mut reruns = 0;
    for k in 0..4 {
        run(
            k,
            &mut lc,
            &mut lq,
            &mut nc,
            &mut nq,
            samples / 4,
            &mut reruns,
            quiet,
        );
    }
    reruns = 0;
    // [contender][p50, p99, mean] -> per round
    let mut v = vec![[Vec::new(), Vec::new(), Vec::new()]; 4];
    for round in 0..rounds {
        for j in 0..4 {
            let k = (j + round) % 4;
            let c = run(
                k,
                &mut lc,
                &mut lq,
                &mut nc,
                &mut nq,
                samples,
                &mut reruns,
                quiet,
            );
            v[k][0].push(c.hist.value_at_quantile(0.5) as f64);
            v[k][1].push(c.hist.value_at_quantile(0.99) as f64);
            v[k][2].push(c.hist.mean());
        }
        eprintln!(
            "  sender cost {name} round {round}: means lch={:.1} lq={:.1} nch={:.1} nq={:.1}",
            v[0][2][round], v[1][2][round], v[2][2][round], v[3][2][round]
        );
    }
    let names = [
        LogbufChannelW::NAME,
        LogbufQueueW::NAME,
        NexusChannelW::NAME,
        NexusQueueW::NAME,
    ];
    let mut table = Table::new([
        "sender path",
        "p50 cyc",
        "p99 cyc",
        "mean cyc",
        "mean ns",
        "channel/queue p50",
        "channel/queue p99",
        "channel/queue mean",
        "channel - queue mean (cyc)",
    ]);
    for k in 0..4 {
        let med = |j: usize| median(&mut v[k][j].clone());
        let (ratio, diff) = if k % 2 == 0 {
            let r = |j: usize| {
                let mut x: Vec<f64> = v[k][j]
                    .iter()
                    .zip(&v[k + 1][j])
                    .map(|(a, b)| a / b)
                    .collect();
                fmt_ratio(median(&mut x))
            };
            let mut d: Vec<f64> = v[k][2]
                .iter()
                .zip(&v[k + 1][2])
                .map(|(a, b)| a - b)
                .collect();
            ([r(0), r(1), r(2)], format!("{:+.1}", median(&mut d)))
        } else {
            ([String::new(), String::new(), String::new()], String::new())
        };
        let [r0, r1, r2] = ratio;
        table.row([
            names[k].to_owned(),
            format!("{:.0}", med(0)),
            format!("{:.0}", med(1)),
            format!("{:.1}", med(2)),
            format!("{:.1}", med(2) / per_ns),
            r0,
            r1,
            r2,
            diff,
        ]);
    }
    println!(
        "\n### 2. Sender cost over the raw queue, {name} — {samples} records of {PAYLOAD} B per \
         run, {rounds} rounds\n"
    );
    print!("{}", table.render());
    println!(
        "\nthe receiving thread drains with try_recv / try_claim and never parks; ratio and \
         difference columns: median over rounds of (channel vs the same crate's queue); runs \
         re-done: {reruns}"
    );
}

// === 3. notify alone ===

/// Stand-in for a commit: a 64-byte copy into a 4 KiB buffer (which stays in L1) and a
/// `Release` store of a length word.
struct FakeCommit {
    ring: Vec<u8>,
    words: Vec<AtomicU64>,
    src: [u8; 64],
    at: usize,
}

impl FakeCommit {
    fn new() -> Self {
        Self {
            ring: vec![0u8; 4096],
            words: (0..512).map(|_| AtomicU64::new(0)).collect(),
            src: [0x5A; 64],
            at: 0,
        }
    }

    #[inline(always)]
    fn commit(&mut self) {
        let off = self.at & (4096 - 128);
        self.ring[off..off + 64].copy_from_slice(black_box(&self.src));
        self.words[(off / 8) & 511].store(64, Ordering::Release);
        self.at = self.at.wrapping_add(72);
    }
}

const NOTIFY_BATCH: usize = 1000;
const NOTIFY_CALLS: usize = 1_000_000;

/// Times `op` per call and in batches; appends a row to `table`.
fn measure_op(table: &mut Table, per_ns: f64, label: &str, mut op: impl FnMut()) {
    let mut hist = histogram();
    for _ in 0..NOTIFY_CALLS / 10 {
        op();
    }
    for _ in 0..NOTIFY_CALLS {
        let t0 = cycles::start();
        op();
        let t1 = cycles::stop();
        hist.saturating_record(t1.wrapping_sub(t0));
    }
    let mut per: Vec<f64> = (0..NOTIFY_CALLS / NOTIFY_BATCH)
        .map(|_| {
            let t0 = cycles::start();
            for _ in 0..NOTIFY_BATCH {
                op();
            }
            let t1 = cycles::stop();
            t1.wrapping_sub(t0) as f64 / NOTIFY_BATCH as f64
        })
        .collect();
    let m = median(&mut per);
    table.row([
        label.to_owned(),
        hist.value_at_quantile(0.5).to_string(),
        hist.value_at_quantile(0.99).to_string(),
        format!("{m:.1}"),
        format!("{:.1}", m / per_ns),
    ]);
}

fn notify_section(per_ns: f64) {
    // Receivers alive (not parked, not dropped) for the whole section.
    let (ltx, _lrx) = logbuf::channel::spsc::channel(4096);
    let (ntx, _nrx) = nexus_logbuf::channel::spsc::channel(4096);
    let ltx = Isolated(ltx);
    let ntx = Isolated(ntx);
    let mut fc = FakeCommit::new();
    let mut table = Table::new([
        "operation (one thread, receiver not parked)",
        "per call p50 cyc",
        "per call p99 cyc",
        "batch mean cyc/call",
        "batch mean ns/call",
    ]);
    let t = &mut table;
    measure_op(t, per_ns, "empty region", || {});
    measure_op(t, per_ns, "logbuf Sender::notify", || ltx.notify());
    measure_op(t, per_ns, "nexus-logbuf Sender::notify", || ntx.notify());
    // `black_box` keeps the compiler from merging the fences of successive calls into one.
    measure_op(t, per_ns, "fence(SeqCst) alone", || {
        fence(Ordering::SeqCst);
        black_box(());
    });
    measure_op(t, per_ns, "64 B copy + Release store (a commit)", || {
        fc.commit()
    });
    measure_op(
        t,
        per_ns,
        "64 B copy + Release store + logbuf notify",
        || {
            fc.commit();
            ltx.notify();
        },
    );
    measure_op(
        t,
        per_ns,
        "64 B copy + Release store + nexus-logbuf notify",
        || {
            fc.commit();
            ntx.notify();
        },
    );
    measure_op(
        t,
        per_ns,
        "64 B copy + Release store + fence(SeqCst)",
        || {
            fc.commit();
            fence(Ordering::SeqCst);
        },
    );
    println!(
        "\n### 3. notify() alone, receiver alive and not parked ({NOTIFY_CALLS} calls each)\n"
    );
    print!("{}", table.render());
    println!(
        "\nper-call figures include the timed region's own cost and come in steps of the TSC \
         quantum; the batch column times {NOTIFY_BATCH} calls at once and divides (no region \
         cost, not quantised); the copy rows write into a 4 KiB buffer that stays in L1"
    );
}

// === 4. idle receiver CPU ===

/// Runs `wait` on a fresh thread and returns (share of one core it used, wake-ups, seconds).
fn idle_cpu(wait: impl FnOnce() + Send) -> (f64, u64, f64) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let s0 = thread_schedstat();
            let t0 = Instant::now();
            wait();
            let secs = t0.elapsed().as_secs_f64();
            let s1 = thread_schedstat();
            match (s0, s1) {
                (Some(a), Some(b)) => (
                    (b.on_cpu_ns - a.on_cpu_ns) as f64 / 1e9 / secs,
                    b.timeslices - a.timeslices,
                    secs,
                ),
                _ => (f64::NAN, 0, secs),
            }
        })
        .join()
        .expect("idle receiver panicked")
    })
}

fn idle_section(ms: u64, reps: usize) {
    let timeout = Duration::from_millis(ms);
    let labels = [
        "logbuf recv_timeout, default park interval (5 ms)",
        "logbuf recv_timeout, park interval 100 ms",
        "nexus-logbuf recv(Some(timeout)) (parks once)",
        "crossbeam-channel recv_timeout",
    ];
    let mut share = vec![Vec::new(); labels.len()];
    let mut wakes = vec![Vec::new(); labels.len()];
    let mut secs = vec![Vec::new(); labels.len()];
    for rep in 0..reps {
        for j in 0..labels.len() {
            let k = (j + rep) % labels.len();
            let (c, w, s) = match k {
                0 | 1 => {
                    let (_tx, mut rx) = logbuf::channel::spsc::channel(4096);
                    if k == 1 {
                        rx.set_park_interval(Duration::from_millis(100));
                    }
                    idle_cpu(move || {
                        assert!(rx.recv_timeout(timeout).is_err(), "nothing was sent");
                    })
                }
                2 => {
                    let (_tx, mut rx) = nexus_logbuf::channel::spsc::channel(4096);
                    idle_cpu(move || {
                        assert!(rx.recv(Some(timeout)).is_err(), "nothing was sent");
                    })
                }
                _ => {
                    let (_tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(64);
                    idle_cpu(move || {
                        assert!(rx.recv_timeout(timeout).is_err(), "nothing was sent");
                    })
                }
            };
            share[k].push(c * 100.0);
            wakes[k].push(w as f64);
            secs[k].push(s);
        }
        eprintln!(
            "  idle rep {rep}: {}",
            (0..labels.len())
                .map(|k| format!("{:.3}% ({} wake-ups)", share[k][rep], wakes[k][rep]))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut table = Table::new([
        "receiver waiting on an empty channel",
        "% of one core (median)",
        "wake-ups (median)",
        "waited s (median)",
    ]);
    for k in 0..labels.len() {
        table.row([
            labels[k].to_owned(),
            format!("{:.3}%", median(&mut share[k])),
            format!("{:.0}", median(&mut wakes[k])),
            format!("{:.3}", median(&mut secs[k])),
        ]);
    }
    println!(
        "\n### 4. Idle receiver CPU: one {:.1} s wait, {reps} repetitions (on-CPU time and \
         wake-ups from /proc/thread-self/schedstat)\n",
        ms as f64 / 1000.0
    );
    print!("{}", table.render());
}

fn main() {
    let rounds = setting("rounds", "LOGBUF_BENCH_ROUNDS", 7).max(1);
    let pings = setting("pings", "LOGBUF_BENCH_PINGS", 20_000).max(4);
    let samples = setting("samples", "LOGBUF_BENCH_SAMPLES", 300_000).max(4);
    let pace = setting("pace", "LOGBUF_BENCH_PACE", 1500) as u64;
    let idle_ms = setting("idle-ms", "LOGBUF_BENCH_IDLE_MS", 2000) as u64;
    let idle_reps = setting("idle-reps", "LOGBUF_BENCH_IDLE_REPS", 3).max(1);
    let retries = setting("retries", "LOGBUF_BENCH_RETRIES", 5);
    let max_wait = setting("max-wait-s", "LOGBUF_BENCH_MAX_WAIT_S", 60);
    let mut quiet = Quiet::new(Duration::from_secs(max_wait as u64));

    println!("## channel_latency\n");
    println!("machine: {}", machine());
    let (overhead, overhead_min) = cycles::overhead(1_000_000);
    let per_ns = cycles::ticks_per_ns(200);
    let steps: Vec<String> = cycles::steps(100_000, 3)
        .into_iter()
        .map(|(step, share)| format!("{step} ({:.0}%)", share * 100.0))
        .collect();
    println!(
        "unit: {} ({per_ns:.3} per ns, used for every ns figure); successive reads differ by \
         {}; an empty timed region costs {overhead} median, {overhead_min} min (included, not \
         subtracted)",
        cycles::UNIT,
        steps.join(", "),
    );
    println!(
        "channels: {RING} bytes (crossbeam: {} slots); logbuf park interval: {:?} (default)",
        RING / 72,
        logbuf::channel::DEFAULT_PARK_INTERVAL
    );
    let only = setting("only", "LOGBUF_BENCH_ONLY", 0);
    let t0 = Instant::now();
    if only == 0 || only == 1 {
        pingpong_section(rounds, pings, retries, per_ns, &mut quiet);
    }
    if only == 0 || only == 2 {
        cost_section(
            "back-to-back",
            0,
            rounds,
            samples,
            retries,
            per_ns,
            &mut quiet,
        );
        cost_section(
            &format!("paced ({pace} TSC cycles between records)"),
            pace,
            rounds,
            samples,
            retries,
            per_ns,
            &mut quiet,
        );
    }
    if only == 0 || only == 3 {
        notify_section(per_ns);
    }
    if only == 0 || only == 4 {
        idle_section(idle_ms, idle_reps);
    }
    println!(
        "\nwall time {:.0} s; time spent waiting for other processes to go quiet: {:.1} s",
        t0.elapsed().as_secs_f64(),
        quiet.waited().as_secs_f64()
    );
}
