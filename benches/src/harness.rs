//! Pieces of the timed runs that every harness repeats: writing and reading one record through
//! a claim, timing one operation, pacing, the disturbance bookkeeping of a run, re-doing
//! disturbed runs, and the per-round latency table with its ratio columns.

use std::ops::{Deref, DerefMut};

use crate::{Quiet, Table, cycles, fmt_ratio, median, run_queue_wait_ns, steal_secs, word_sum};

/// Copies `payload` into a write claim and commits it: `claim` is the result of a
/// `try_claim(payload.len())` (or `try_send`), `commit` the claim's own commit. `false` if the
/// claim failed (the ring was full).
///
/// ```
/// let ok = logbuf_benches::harness::copy_commit(Ok::<_, ()>(vec![0u8; 2]), &[1, 2], drop);
/// assert!(ok);
/// ```
#[inline(always)]
pub fn copy_commit<C, E>(claim: Result<C, E>, payload: &[u8], commit: impl FnOnce(C)) -> bool
where
    C: DerefMut<Target = [u8]>,
{
    match claim {
        Ok(mut claim) => {
            claim.copy_from_slice(payload);
            commit(claim);
            true
        }
        Err(_) => false,
    }
}

/// Adds the bytes of a read record (from `try_claim`, or `try_recv().ok()`) to `sum` with
/// [`word_sum`] and releases it; `false` if there was none.
///
/// ```
/// let mut sum = 0;
/// assert!(logbuf_benches::harness::sum_record(Some(vec![3u8]), &mut sum));
/// assert_eq!(sum, 3);
/// assert!(!logbuf_benches::harness::sum_record(None::<Vec<u8>>, &mut sum));
/// ```
#[inline(always)]
pub fn sum_record<R: Deref<Target = [u8]>>(record: Option<R>, sum: &mut u64) -> bool {
    match record {
        Some(record) => {
            *sum = sum.wrapping_add(word_sum(&record));
            true
        }
        None => false,
    }
}

/// Retries `op` until it succeeds, timing each attempt with [`cycles::start`] ..
/// [`cycles::stop`], and returns the ticks of the successful attempt; `on_fail` runs after
/// each failed one (count it, back off).
#[inline(always)]
pub fn time_until_ok(mut op: impl FnMut() -> bool, mut on_fail: impl FnMut()) -> u64 {
    loop {
        let t0 = cycles::start();
        let ok = op();
        let t1 = cycles::stop();
        if ok {
            return t1.wrapping_sub(t0);
        }
        on_fail();
    }
}

/// Spins for `ticks` counter ticks (nothing for 0): the pause of a paced producer.
#[inline(always)]
pub fn spin_for(ticks: u64) {
    if ticks > 0 {
        let until = cycles::start() + ticks;
        while cycles::start() < until {
            std::hint::spin_loop();
        }
    }
}

/// Seconds the calling thread has waited for a CPU since `before`, a reading of
/// [`run_queue_wait_ns`] taken on the same thread; 0 where either reading is missing.
pub fn waited_since(before: Option<u64>) -> f64 {
    match (before, run_queue_wait_ns()) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e9,
        _ => 0.0,
    }
}

/// Seconds the hypervisor has stolen since `before`, a reading of [`steal_secs`]; 0 where
/// either reading is missing.
pub fn stolen_since(before: Option<f64>) -> f64 {
    match (before, steal_secs()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    }
}

/// Re-doing of disturbed runs: each run waits for the machine to go quiet first, and a run
/// that was disturbed is re-done up to `max` times. Counts the re-runs, and the runs started
/// while the machine was still busy (the [`Quiet`] budget spent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Retries {
    /// Re-runs allowed per run.
    pub max: usize,
    /// Runs re-done so far.
    pub reruns: usize,
    /// Runs started although the machine was not quiet.
    pub busy_starts: usize,
}

impl Retries {
    /// Allows `max` re-runs per run; nothing counted yet.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// Runs `run` after [`Quiet::wait`], and again (waiting each time) while `disturbed` says
    /// its result was disturbed, at most [`Retries::max`] more times; returns the last result.
    pub fn run<T>(
        &mut self,
        quiet: &mut Quiet,
        disturbed: impl Fn(&T) -> bool,
        mut run: impl FnMut() -> T,
    ) -> T {
        self.busy_starts += usize::from(!quiet.wait());
        let mut r = run();
        for _ in 0..self.max {
            if !disturbed(&r) {
                break;
            }
            self.reruns += 1;
            self.busy_starts += usize::from(!quiet.wait());
            r = run();
        }
        r
    }
}

/// The percentiles the latency tables report, with their column labels.
pub const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)];

/// A latency table comparing two contenders: the `first` column, then the median over rounds
/// of each of [`QUANTILES`] and of the mean, then the median per-round ratio
/// `ours / theirs` of each.
pub fn latency_table(first: &str, ours: &str, theirs: &str) -> Table {
    let mut header = vec![first.to_owned()];
    for (label, _) in QUANTILES {
        header.push(format!("{label} (median)"));
    }
    header.push("mean (median)".to_owned());
    for (label, _) in QUANTILES {
        header.push(format!("{label} {ours}/{theirs}"));
    }
    header.push(format!("mean {ours}/{theirs}"));
    Table::new(header)
}

/// Appends the two rows of one operation to a [`latency_table`]: `labels[k]` and the medians of
/// `per_round[k]` (one list of per-round values per quantile of [`QUANTILES`], then one of the
/// means) for each contender, the ratio columns filled on the first row only.
pub fn latency_rows(table: &mut Table, labels: [String; 2], per_round: [&[Vec<f64>]; 2]) {
    for (k, label) in labels.into_iter().enumerate() {
        let mut row = vec![label];
        for (j, values) in per_round[k].iter().enumerate() {
            let digits = if j == QUANTILES.len() { 1 } else { 0 };
            row.push(format!("{:.digits$}", median(&mut values.clone())));
        }
        for (ours, theirs) in per_round[0].iter().zip(per_round[1]) {
            if k == 0 {
                let mut ratios: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a / b).collect();
                row.push(fmt_ratio(median(&mut ratios)));
            } else {
                row.push(String::new());
            }
        }
        table.row(row);
    }
}
