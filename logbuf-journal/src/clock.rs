//! The tick counter records are stamped with: a calibrated TSC read (through quanta) on the
//! logging thread, turned into wall-clock time later from [`Clock`](crate::wire::Clock) records.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::wire;

/// The process-wide clock.
pub(crate) struct Ticks {
    clock: quanta::Clock,
}

impl Ticks {
    /// The tick counter now.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw()
    }

    /// Nanoseconds between two tick readings.
    pub(crate) fn nanos_between(&self, start: u64, end: u64) -> u64 {
        self.clock.delta_as_nanos(start, end)
    }

    /// A pair on the line `from` lies on, about half a second of ticks later, by this
    /// process's calibration of the counter (quanta's): written right after a pair that was
    /// read, it gives readers the counter's rate from the start instead of a second later.
    pub(crate) fn pair_ahead(&self, from: wire::Clock) -> wire::Clock {
        const AHEAD: u64 = 1 << 30;
        let ticks = from.ticks.saturating_add(AHEAD);
        wire::Clock {
            ticks,
            unix_nanos: from
                .unix_nanos
                .saturating_add(self.nanos_between(from.ticks, ticks)),
        }
    }

    /// The tick counter paired with the wall clock, read back to back.
    pub(crate) fn pair(&self) -> wire::Clock {
        let ticks = self.now();
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        wire::Clock { ticks, unix_nanos }
    }
}

/// The clock, calibrated on first use.
pub(crate) fn global() -> &'static Ticks {
    static CLOCK: OnceLock<Ticks> = OnceLock::new();
    CLOCK.get_or_init(|| Ticks {
        clock: quanta::Clock::new(),
    })
}
