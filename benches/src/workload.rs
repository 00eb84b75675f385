//! The records the throughput harnesses move, and the consumer's tally of them.

use crate::{XorShift64, word_sum};

/// Payload lengths cycle through a table this long (a power of two).
pub const LEN_TABLE: usize = 1 << 16;
/// Seed of the payload-length generator.
pub const SEED: u64 = 0x5EED_1234_ABCD_0001;

/// The records one run moves, and what the consumer must end up with.
#[derive(Debug)]
pub struct Workload {
    /// What the workload is, for the report.
    pub name: &'static str,
    lens: Vec<u32>,
    src: Vec<u8>,
    /// Records per run.
    pub msgs: u64,
    /// Payload bytes per run.
    pub bytes: u64,
    /// The [`word_sum`] of every payload of a run, added up.
    pub sum: u64,
    /// The mean payload length, in bytes.
    pub mean_len: f64,
}

impl Workload {
    /// `msgs` records a run, the payload lengths drawn from `len` into a table of
    /// [`LEN_TABLE`] that the records cycle through.
    pub fn new(name: &'static str, msgs: u64, mut len: impl FnMut() -> u32) -> Self {
        let lens: Vec<u32> = (0..LEN_TABLE).map(|_| len()).collect();
        let mut src = vec![0u8; 2048];
        XorShift64::new(SEED ^ 0xFF).fill(&mut src);
        let mut w = Self {
            name,
            lens,
            src,
            msgs,
            bytes: 0,
            sum: 0,
            mean_len: 0.0,
        };
        let (bytes, sum) = (0..msgs as usize).fold((0, 0), |(bytes, sum), i| {
            let p = w.payload(i);
            (bytes + p.len() as u64, word_sum(p).wrapping_add(sum))
        });
        (w.bytes, w.sum) = (bytes, sum);
        w.mean_len = w.bytes as f64 / msgs as f64;
        w
    }

    /// Record `i`: its length from the table, its bytes from a varying offset of `src`.
    #[inline(always)]
    pub fn payload(&self, i: usize) -> &[u8] {
        let len = self.lens[i & (LEN_TABLE - 1)] as usize;
        &self.src[(i * 24) & 1023..][..len]
    }
}

/// What the consumer saw in one run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Records received.
    pub msgs: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// The [`word_sum`]s of the records, added up.
    pub sum: u64,
}

impl Tally {
    /// Counts one received record.
    #[inline(always)]
    pub fn add(&mut self, record: &[u8]) {
        self.msgs += 1;
        self.bytes += record.len() as u64;
        self.sum = self.sum.wrapping_add(word_sum(record));
    }
}
