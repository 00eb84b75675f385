//! Each span's busy and idle time, kept in the registry's extensions of the span, so that the
//! close record carries them and enter and exit need no record of their own.
//!
//! tokio enters and exits a task's span on every poll, on whichever worker thread polls it:
//! the times must follow the span, not a thread, so they live with the span's data in the
//! registry (`ctx.span(id).extensions_mut()`), behind the span's own lock. Times are readings
//! of the journal's tick counter ([`Journal::now`](logbuf_journal::Journal::now)), turned into
//! nanoseconds by readers like every other time.
//!
//! A span is busy while at least one thread has it entered: entering it again while it is
//! entered (on the same thread or another) adds nothing, as in tracing-subscriber's `fmt`
//! close timings. Idle is the rest of its life, from creation to close.

use tracing_subscriber::registry::ExtensionsMut;

/// One layer's times for a span, in ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// When the span was created.
    created: u64,
    /// Ticks it was entered, up to `since` when it is entered now.
    busy: u64,
    /// When it was last entered from not being entered; meaningful while `entered > 0`.
    since: u64,
    /// Enters not yet matched by an exit, over every thread.
    entered: u64,
}

impl Timing {
    /// A span created at `now`.
    pub(crate) fn new(now: u64) -> Self {
        Self {
            created: now,
            busy: 0,
            since: now,
            entered: 0,
        }
    }

    /// Some thread entered the span at `now`.
    pub(crate) fn enter(&mut self, now: u64) {
        if self.entered == 0 {
            self.since = now;
        }
        self.entered += 1;
    }

    /// Some thread exited the span at `now`. An exit without an enter changes nothing.
    pub(crate) fn exit(&mut self, now: u64) {
        match self.entered {
            0 => {}
            1 => {
                self.entered = 0;
                self.busy += now.saturating_sub(self.since);
            }
            _ => self.entered -= 1,
        }
    }

    /// Busy and idle ticks of a span closing at `now` (a span closed while some thread has it
    /// entered is busy up to the close).
    pub(crate) fn close(&self, now: u64) -> (u64, u64) {
        let busy = if self.entered > 0 {
            self.busy + now.saturating_sub(self.since)
        } else {
            self.busy
        };
        let life = now.saturating_sub(self.created);
        (busy, life.saturating_sub(busy))
    }
}

/// The times of every logbuf layer that records a span (usually one), as a span extension.
#[derive(Debug)]
struct Timings {
    /// The first layer's: `(layer, times)`.
    first: (u64, Timing),
    /// Any other layer's.
    rest: Vec<(u64, Timing)>,
}

/// Starts `layer`'s times for a new span.
pub(crate) fn start(extensions: &mut ExtensionsMut<'_>, layer: u64, now: u64) {
    let timing = Timing::new(now);
    if let Some(timings) = extensions.get_mut::<Timings>() {
        match timings.entry(layer) {
            Some(t) => *t = timing,
            None => timings.rest.push((layer, timing)),
        }
    } else {
        extensions.insert(Timings {
            first: (layer, timing),
            rest: Vec::new(),
        });
    }
}

/// `layer`'s times for the span, if it started them.
#[inline]
pub(crate) fn of<'e>(extensions: &'e mut ExtensionsMut<'_>, layer: u64) -> Option<&'e mut Timing> {
    extensions.get_mut::<Timings>()?.entry(layer)
}

impl Timings {
    #[inline]
    fn entry(&mut self, layer: u64) -> Option<&mut Timing> {
        if self.first.0 == layer {
            return Some(&mut self.first.1);
        }
        self.rest
            .iter_mut()
            .find(|(l, _)| *l == layer)
            .map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_the_union_of_the_entered_intervals() {
        let mut t = Timing::new(100);
        t.enter(110);
        t.enter(120); // entered again (another thread, or re-entry): counted once
        t.exit(130);
        t.exit(150);
        t.exit(155); // an exit too many changes nothing
        t.enter(200);
        t.exit(210);
        assert_eq!(t.close(300), (50, 150));
    }

    #[test]
    fn a_span_closed_while_entered_is_busy_up_to_the_close() {
        let mut t = Timing::new(0);
        t.enter(10);
        assert_eq!(t.close(40), (30, 10));
    }

    #[test]
    fn a_clock_read_behind_never_underflows() {
        let mut t = Timing::new(100);
        t.enter(90);
        t.exit(80);
        assert_eq!(t.close(50), (0, 0));
    }
}
