//! Each thread's stack of the spans a layer saw it enter, for the span an event is recorded
//! in.
//!
//! tracing-subscriber's `Context::event_span` finds an event's span through the registry: its
//! own thread-local stack, then a lookup of the span's data that takes and drops a reference
//! (two atomic read-modify-writes on the span's slot), on every event. The layer needs only
//! the span's id, so it keeps its own stack, pushed and popped in `on_enter` and `on_exit`,
//! which the registry calls in the same order it pushes and pops its stack.
//!
//! Under a per-layer filter the layer sees only the spans the filter enables, so the top of
//! its stack is the innermost entered span that this layer records. (The registry's answer
//! can differ when the innermost entered span is filtered out and was made with an explicit
//! parent: it then gives that span's nearest recorded ancestor.)
//!
//! Every event asks for the top of the stack, so the top entry is also kept in a `Cell` of
//! its own (a thread-local without a destructor: no registration check, no borrow flag): an
//! event outside any span, or in a span its layer entered last, reads it and nothing else.
//!
//! While a thread is torn down the stack may be gone before code that still logs (the
//! destructor of another thread-local): a span entered then is the top until it is left, and
//! a span left then leaves no top, so that such events are put in no span rather than in one
//! they are not in.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// `(layer, span)` pairs, innermost last.
    static ENTERED: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
    /// The last entry of `ENTERED`; `(0, 0)` when it is empty (layers are numbered from 1).
    static TOP: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A number for a layer's entries in the thread-local stacks.
pub(crate) fn next_layer() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Notes that this thread entered `span`.
#[inline]
pub(crate) fn enter(layer: u64, span: u64) {
    let _ = ENTERED.try_with(|stack| {
        if let Ok(mut stack) = stack.try_borrow_mut() {
            stack.push((layer, span));
        }
    });
    // Without the stack (the thread's locals torn down), the top is still this span, for the
    // events logged in it.
    TOP.set((layer, span));
}

/// Notes that this thread left `span`: its innermost entry goes (a span entered twice stays
/// entered once). A span this thread did not enter (entered on another) changes nothing.
#[inline]
pub(crate) fn exit(layer: u64, span: u64) {
    let kept = ENTERED.try_with(|stack| {
        let Ok(mut stack) = stack.try_borrow_mut() else {
            return false;
        };
        if let Some(i) = stack.iter().rposition(|&e| e == (layer, span)) {
            stack.remove(i);
            TOP.set(stack.last().copied().unwrap_or((0, 0)));
        }
        true
    });
    if kept != Ok(true) {
        // The stack is gone (the thread's locals torn down) or busy: what was under this span
        // is unknown, and the span itself is left. Events from now on are in no span rather
        // than in one they are not in.
        TOP.set((0, 0));
    }
}

/// The innermost span this thread entered that `layer` saw.
#[inline]
pub(crate) fn current(layer: u64) -> Option<u64> {
    let (top, span) = TOP.get();
    if top == layer {
        return Some(span);
    }
    if top == 0 {
        return None;
    }
    current_below(layer)
}

/// [`current`] when the top entry is another layer's.
#[inline(never)]
fn current_below(layer: u64) -> Option<u64> {
    ENTERED
        .try_with(|stack| {
            let stack = stack.try_borrow().ok()?;
            stack
                .iter()
                .rev()
                .find(|&&(l, _)| l == layer)
                .map(|&(_, span)| span)
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_entry_of_the_layer_is_current() {
        let (a, b) = (next_layer(), next_layer());
        assert_eq!(current(a), None);
        enter(a, 1);
        enter(b, 2);
        enter(a, 3);
        assert_eq!(current(a), Some(3));
        assert_eq!(current(b), Some(2));
        // Entered twice, left once: still entered.
        enter(a, 1);
        exit(a, 1);
        assert_eq!(current(a), Some(3));
        exit(a, 3);
        assert_eq!(current(a), Some(1));
        // Not entered on this thread: nothing changes.
        exit(a, 9);
        exit(b, 1);
        assert_eq!(current(a), Some(1));
        exit(a, 1);
        exit(b, 2);
        assert_eq!((current(a), current(b)), (None, None));
    }

    #[test]
    fn leaving_a_span_below_the_top_keeps_the_top() {
        let (a, b) = (next_layer(), next_layer());
        enter(a, 1);
        enter(b, 2);
        enter(a, 3);
        // Left out of order (a span entered here, left on the way out of another's guard).
        exit(a, 1);
        assert_eq!((current(a), current(b)), (Some(3), Some(2)));
        exit(a, 3);
        assert_eq!((current(a), current(b)), (None, Some(2)));
        enter(a, 4);
        exit(b, 2);
        assert_eq!((current(a), current(b)), (Some(4), None));
        exit(a, 4);
        assert_eq!((current(a), current(b)), (None, None));
    }
}
