//! Shared helpers for the benches and latency harnesses: a seeded PRNG, a cycle counter, the
//! median, trial-count settings and a markdown table printer; in [`harness`] the pieces of a
//! timed run the harnesses share, in [`workload`] the records the throughput harnesses move.
//!
//! Nothing here is measured; the harnesses under `benches/` use it to keep their own code
//! about the rings they compare.

use std::fmt::Write as _;
use std::time::Instant;

pub mod harness;
pub mod hostile;
pub mod workload;

/// A 64-bit xorshift generator (Marsaglia's 13/7/17 triple): fast, seedable, and good enough
/// to pick payload lengths. Not for anything that needs real randomness.
///
/// ```
/// let mut a = logbuf_benches::XorShift64::new(7);
/// let mut b = logbuf_benches::XorShift64::new(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.range_inclusive(8, 1024);
/// assert!((8..=1024).contains(&x));
/// ```
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator started from `seed`. A zero seed (which xorshift never leaves) is replaced
    /// by a fixed non-zero constant.
    pub fn new(seed: u64) -> Self {
        Self {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// The next 64 pseudo-random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// A value in `lo..=hi`. Uses a multiply-shift reduction, so the bias is at most
    /// `(hi - lo + 1) / 2^64`: irrelevant here.
    ///
    /// # Panics
    ///
    /// If `lo > hi`.
    #[inline]
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        let span = hi - lo + 1;
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }

    /// Fills `buf` with pseudo-random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// A cheap checksum of `bytes`: the wrapping sum of its little-endian 8-byte words, the last
/// partial word zero-padded. The consumers in the harnesses fold every byte they receive
/// through this, so the reads cannot be optimised away and the totals can be checked against
/// the producer's.
///
/// Word-wise on purpose: a plain byte sum widened to `u64` does not vectorise on baseline
/// x86-64 and costs about a cycle a byte, which would make the checksum, not the ring, the
/// consumer's bottleneck. The sum depends on where the slice starts, so a record that arrives
/// in two pieces must be joined before it is summed.
///
/// ```
/// use logbuf_benches::word_sum;
/// assert_eq!(word_sum(&[1, 0, 0, 0, 0, 0, 0, 0, 2]), 3);
/// assert_eq!(word_sum(&[]), 0);
/// ```
#[inline]
pub fn word_sum(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut sum = words
        .by_ref()
        .map(|w| u64::from_le_bytes(w.try_into().expect("chunks of 8")))
        .fold(0u64, u64::wrapping_add);
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        sum = sum.wrapping_add(u64::from_le_bytes(last));
    }
    sum
}

/// Waits for the rest of the machine to go quiet before a timed run, within a budget.
///
/// On a small shared machine a compiler or test run in another process takes a core from one
/// of the two benchmark threads, and spinning threads then measure the scheduler. Before each
/// run the harnesses sample `/proc/stat` over a short window (their own threads are idle then)
/// and wait while more than a tenth of the CPU time went to something else, until the total
/// wait allowed runs out. Where `/proc/stat` is missing it never waits.
#[derive(Debug)]
pub struct Quiet {
    budget: std::time::Duration,
    waited: std::time::Duration,
    realtime: bool,
}

impl Quiet {
    /// Allows `budget` of waiting in all.
    ///
    /// Under a real-time scheduling policy (`chrt -f`) other processes cannot take the
    /// benchmark's cores, so [`Quiet::wait`] does not look at them; it only pauses briefly, which
    /// keeps the runs clear of the kernel's real-time throttling (by default real-time threads
    /// get 95% of each second) and lets the other processes make some progress.
    pub fn new(budget: std::time::Duration) -> Self {
        Self {
            budget,
            waited: std::time::Duration::ZERO,
            realtime: !matches!(scheduling_policy(), "SCHED_OTHER" | "unknown"),
        }
    }

    /// Returns once a 100 ms window saw the machine at least 90% idle, or the budget is spent.
    /// `true` if the machine was quiet (always, under a real-time policy, after a 50 ms pause).
    pub fn wait(&mut self) -> bool {
        if self.realtime {
            std::thread::sleep(std::time::Duration::from_millis(50));
            return true;
        }
        let window = std::time::Duration::from_millis(100);
        loop {
            let Some(busy) = busy_fraction(window) else {
                return true;
            };
            if busy < 0.1 {
                return true;
            }
            if self.waited >= self.budget {
                return false;
            }
            self.waited += window;
        }
    }

    /// Time spent waiting so far.
    pub fn waited(&self) -> std::time::Duration {
        self.waited
    }
}

/// Seconds of CPU time the hypervisor has taken from this virtual machine since boot (the
/// `steal` column of `/proc/stat`, all CPUs together), at the kernel's 10 ms tick resolution;
/// `None` where that file is missing. Steal during a run means a virtual CPU was not running
/// at all for a while, which no run-queue statistic inside the guest shows.
pub fn steal_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: u64 = line.split_whitespace().nth(7)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture that matters here.
    Some(ticks as f64 / 100.0)
}

/// The calling thread's scheduling policy, from `/proc/thread-self/stat`: `"SCHED_OTHER"`
/// normally, `"SCHED_FIFO"` or `"SCHED_RR"` under `chrt`, `"unknown"` where the file is
/// missing.
pub fn scheduling_policy() -> &'static str {
    let policy = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses and may hold spaces;
            // `policy` is field 41 of the file, the 39th after the name.
            let rest = stat.rsplit_once(')')?.1;
            rest.split_whitespace().nth(38)?.parse::<u32>().ok()
        });
    match policy {
        Some(0) => "SCHED_OTHER",
        Some(1) => "SCHED_FIFO",
        Some(2) => "SCHED_RR",
        Some(3) => "SCHED_BATCH",
        Some(5) => "SCHED_IDLE",
        Some(_) => "other",
        None => "unknown",
    }
}

/// The share of all CPUs' time that was busy during `window`, from `/proc/stat`.
fn busy_fraction(window: std::time::Duration) -> Option<f64> {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal ...; guest time is already in user.
        let total: u64 = fields.iter().take(8).sum();
        let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
        Some((total, idle))
    }
    let (t0, i0) = sample()?;
    std::thread::sleep(window);
    let (t1, i1) = sample()?;
    let total = t1.checked_sub(t0)?;
    if total == 0 {
        return Some(0.0);
    }
    Some(1.0 - i1.saturating_sub(i0) as f64 / total as f64)
}

/// A value on cache lines of its own: 128-byte aligned and padded to a multiple of 128 bytes
/// (two 64-byte lines, since adjacent-line prefetchers pull lines in pairs).
///
/// The harnesses keep each producer and consumer handle in one of these. A ring's two handles
/// returned as a tuple sit next to each other in memory, and the cached positions each end
/// writes on every record would share a cache line with the other end's: false sharing that
/// the benchmark would add and no real program (which moves each handle to its own thread)
/// has.
///
/// ```
/// let (a, b) = logbuf_benches::isolate((1u8, 2u8));
/// assert_eq!((*a, *b), (1, 2));
/// assert_eq!(std::mem::align_of_val(&a), 128);
/// ```
#[repr(align(128))]
#[derive(Debug, Default, Clone, Copy)]
pub struct Isolated<T>(pub T);

/// Isolates both halves of a pair, such as the `(producer, consumer)` a ring returns.
pub fn isolate<A, B>((a, b): (A, B)) -> (Isolated<A>, Isolated<B>) {
    (Isolated(a), Isolated(b))
}

impl<T> std::ops::Deref for Isolated<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Isolated<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Reads of a cycle counter: the time-stamp counter on x86-64, nanoseconds from [`Instant`]
/// elsewhere. [`cycles::UNIT`] names which.
pub mod cycles {
    /// What one tick of [`start`] and [`stop`] is.
    #[cfg(target_arch = "x86_64")]
    pub const UNIT: &str = "TSC cycles";
    /// What one tick of [`start`] and [`stop`] is.
    #[cfg(not(target_arch = "x86_64"))]
    pub const UNIT: &str = "ns";

    /// Reads the counter at the start of a timed region: `lfence; rdtsc`, so instructions
    /// before it have completed before the counter is read.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub fn start() -> u64 {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: `lfence` (SSE2, part of the x86-64 baseline) and `rdtsc` (present on every
        // x86-64 CPU) touch no memory and have no preconditions; they are `unsafe` only because
        // they are raw intrinsics.
        unsafe {
            _mm_lfence();
            _rdtsc()
        }
    }

    /// Reads the counter at the end of a timed region: `lfence; rdtsc; lfence`, so the timed
    /// instructions have completed before the read and later ones do not start before it.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub fn stop() -> u64 {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: as in `start`: no memory access, no preconditions.
        unsafe {
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        }
    }

    /// Reads the counter with no fence: the tightest loop, to see how it advances.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn raw() -> u64 {
        // SAFETY: as in `start`: no memory access, no preconditions.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn raw() -> u64 {
        nanos()
    }

    /// Reads the counter at the start of a timed region (nanoseconds since first use).
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    pub fn start() -> u64 {
        nanos()
    }

    /// Reads the counter at the end of a timed region (nanoseconds since first use).
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    pub fn stop() -> u64 {
        nanos()
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn nanos() -> u64 {
        use std::sync::OnceLock;
        use std::time::Instant;
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    /// The cost of an empty timed region, `stop() - start()` with nothing between: the
    /// median and the minimum over `samples` tries.
    pub fn overhead(samples: usize) -> (u64, u64) {
        let mut v: Vec<u64> = (0..samples.max(1))
            .map(|_| {
                let t0 = start();
                let t1 = stop();
                t1.wrapping_sub(t0)
            })
            .collect();
        v.sort_unstable();
        (v[v.len() / 2], v[0])
    }

    /// How the counter advances: the most common differences between two successive reads
    /// that differ, with their shares, most common first (at most `top`). On bare metal the
    /// TSC moves by a handful of ticks between back-to-back reads; virtual machines often
    /// advance it in coarser steps (for example 26 ticks, 10 ns at 2.6 GHz), which quantises
    /// every single-operation figure to that step.
    pub fn steps(samples: usize, top: usize) -> Vec<(u64, f64)> {
        // Read in a tight loop first, and count afterwards, so the counting does not widen the
        // gaps between reads.
        let reads: Vec<u64> = (0..samples.max(2)).map(|_| raw()).collect();
        let mut counts = std::collections::HashMap::<u64, usize>::new();
        let mut seen = 0usize;
        for pair in reads.windows(2) {
            if pair[1] != pair[0] {
                *counts.entry(pair[1].wrapping_sub(pair[0])).or_default() += 1;
                seen += 1;
            }
        }
        let samples = seen.max(1);
        let mut steps: Vec<(u64, usize)> = counts.into_iter().collect();
        steps.sort_unstable_by_key(|&(step, count)| (std::cmp::Reverse(count), step));
        steps
            .into_iter()
            .take(top)
            .map(|(step, count)| (step, count as f64 / samples as f64))
            .collect()
    }

    /// Counter ticks per nanosecond, measured against the wall clock over `ms` milliseconds.
    pub fn ticks_per_ns(ms: u64) -> f64 {
        let w0 = super::Instant::now();
        let c0 = start();
        while w0.elapsed().as_millis() < u128::from(ms) {
            std::hint::spin_loop();
        }
        let c1 = stop();
        let ns = w0.elapsed().as_nanos() as f64;
        c1.wrapping_sub(c0) as f64 / ns
    }
}

/// Nanoseconds the calling thread has spent runnable but waiting for a CPU, from
/// `/proc/thread-self/schedstat`; `None` where that file is missing (not Linux, or a kernel
/// without scheduler statistics).
///
/// The harnesses read it at the start and end of a run: a thread that waited while a
/// timed run was in progress was preempted by something else on the machine, and the run
/// measured the scheduler rather than the ring.
pub fn run_queue_wait_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().nth(1)?.parse().ok()
}

/// The median of `values` (the mean of the middle two for an even count). Sorts in place.
/// NaN-free input is assumed; `NaN`s sort last.
///
/// ```
/// assert_eq!(logbuf_benches::median(&mut [3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(logbuf_benches::median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
///
/// # Panics
///
/// If `values` is empty.
pub fn median(values: &mut [f64]) -> f64 {
    assert!(!values.is_empty(), "median of nothing");
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The smallest and largest of `values`, or `(NaN, NaN)` for none.
pub fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::NAN, f64::NAN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// A `usize` setting, from the command line as `--name=N` or `--name N`, else from the
/// environment variable `env`, else `default`. Arguments cargo adds (`--bench`) are ignored.
///
/// # Panics
///
/// If the value given is not a number.
pub fn setting(name: &str, env: &str, default: usize) -> usize {
    let flag = format!("--{name}");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = if arg == flag {
            args.next()
        } else {
            arg.strip_prefix(&flag)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_owned)
        };
        if let Some(v) = value {
            return v
                .parse()
                .unwrap_or_else(|_| panic!("{flag} wants a number, got {v:?}"));
        }
    }
    match std::env::var(env) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{env} wants a number, got {v:?}")),
        Err(_) => default,
    }
}

/// A markdown table, built a row at a time and printed with aligned columns.
///
/// ```
/// let mut t = logbuf_benches::Table::new(["ring", "GB/s"]);
/// t.row(["logbuf", "9.1"]);
/// assert_eq!(t.render(), "| ring   | GB/s |\n|:-------|-----:|\n| logbuf |  9.1 |\n");
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles. The first column is left-aligned, the rest right.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row. Missing cells print empty; extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    /// The table as markdown, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.header[c].chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            out.push('|');
            for (c, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if c == 0 {
                    let _ = write!(out, " {cell:<w$} |");
                } else {
                    let _ = write!(out, " {cell:>w$} |");
                }
            }
            out.push('\n');
        };
        line(&mut out, &self.header);
        out.push('|');
        for (c, w) in widths.iter().enumerate() {
            if c == 0 {
                let _ = write!(out, ":{}|", "-".repeat(w + 1));
            } else {
                let _ = write!(out, "{}:|", "-".repeat(w + 1));
            }
        }
        out.push('\n');
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }
}

/// Formats a figure with `digits` decimals.
pub fn fmt(value: f64, digits: usize) -> String {
    format!("{value:.digits$}")
}

/// Formats a ratio as `1.23x`.
pub fn fmt_ratio(value: f64) -> String {
    format!("{value:.2}x")
}

/// The CPU model from `/proc/cpuinfo`, or `"unknown"`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A short description of the machine: CPU model, logical CPU count and this process's
/// scheduling policy.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{} ({} logical CPUs); scheduling policy {}",
        cpu_model(),
        cpus,
        scheduling_policy()
    )
}

/// Waiting for the multi-threaded harnesses: plain spinning while there are no more spinning
/// threads than CPUs, spin-then-yield when there are.
///
/// Under `chrt -f` (SCHED_FIFO) threads of equal priority are never time-sliced: a runnable
/// thread waits until the one on its CPU blocks or yields. With more threads than CPUs, a
/// producer that spins on "full" while the consumer waits for its CPU would wait forever, so
/// every waiting loop of those runs spins [`Backoff::SPINS`] times and then calls
/// `sched_yield` on each further attempt, for every ring alike. With no more threads than CPUs
/// it only spins, as the SPSC harnesses do.
///
/// ```
/// let mut b = logbuf_benches::Backoff::yielding();
/// for _ in 0..200 {
///     b.snooze();
/// }
/// assert!(b.yielded() > 0);
/// b.reset();
/// let mut s = logbuf_benches::Backoff::spinning();
/// for _ in 0..200 {
///     s.snooze();
/// }
/// assert_eq!(s.yielded(), 0);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    step: u32,
    yields: u64,
    spin_only: bool,
}

impl Backoff {
    /// Spins before the first yield.
    pub const SPINS: u32 = 128;

    /// A backoff for a run of `threads` spinning threads: [`Backoff::yielding`] if they are
    /// more than the CPUs, [`Backoff::spinning`] otherwise.
    pub fn for_threads(threads: usize) -> Self {
        if oversubscribed(threads) {
            Self::yielding()
        } else {
            Self::spinning()
        }
    }

    /// A backoff that spins [`Backoff::SPINS`] times, then yields.
    pub fn yielding() -> Self {
        Self::default()
    }

    /// A backoff that never yields.
    pub fn spinning() -> Self {
        Self {
            spin_only: true,
            ..Self::default()
        }
    }

    /// One wait: a spin hint for the first [`Backoff::SPINS`] calls since the last reset (or
    /// always, for [`Backoff::spinning`]), a `sched_yield` after that.
    #[inline]
    pub fn snooze(&mut self) {
        if self.spin_only || self.step < Self::SPINS {
            self.step += 1;
            std::hint::spin_loop();
        } else {
            self.yields += 1;
            std::thread::yield_now();
        }
    }

    /// Starts spinning again (call after progress).
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }

    /// `sched_yield` calls made so far.
    pub fn yielded(&self) -> u64 {
        self.yields
    }
}

/// The calling thread's scheduler statistics from `/proc/thread-self/schedstat`: nanoseconds
/// on a CPU, nanoseconds runnable but waiting for one, and the number of times it was put on a
/// CPU; `None` where the file is missing.
///
/// ```
/// if let Some(s) = logbuf_benches::thread_schedstat() {
///     // Running, the thread has been put on a CPU (its CPU time may still read 0 this early).
///     assert!(s.timeslices > 0);
/// }
/// ```
pub fn thread_schedstat() -> Option<SchedStat> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = stat.split_whitespace().map(str::parse::<u64>);
    Some(SchedStat {
        on_cpu_ns: fields.next()?.ok()?,
        waiting_ns: fields.next()?.ok()?,
        timeslices: fields.next()?.ok()?,
    })
}

/// One reading of [`thread_schedstat`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedStat {
    /// Nanoseconds spent on a CPU.
    pub on_cpu_ns: u64,
    /// Nanoseconds spent runnable, waiting for a CPU.
    pub waiting_ns: u64,
    /// Times the thread was put on a CPU (each wake-up from a sleep is one).
    pub timeslices: u64,
}

/// Whether `threads` spinning threads are more than the machine's logical CPUs.
pub fn oversubscribed(threads: usize) -> bool {
    threads > std::thread::available_parallelism().map_or(1, |n| n.get())
}
