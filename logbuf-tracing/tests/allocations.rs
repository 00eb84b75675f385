//! The hot path allocates nothing: after warm-up, events with primitive fields and a static
//! message (and a message formatted from arguments) make no heap allocation on the logging
//! thread, inside a span as well as outside.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use logbuf_tracing::LogbufLayer;
use tracing_subscriber::layer::SubscriberExt;

/// Counts the allocations made by each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator runs during thread teardown too.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed on to the system allocator unchanged; counting touches only a
// thread-local `Cell`, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: delegated to the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: delegated to the caller.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: delegated to the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: delegated to the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn events(from: u64, to: u64) {
    for i in from..to {
        tracing::info!(
            user_id = i,
            latency_us = 17.5,
            ok = true,
            delta = -3i64,
            path = "/api/v1/orders",
            "request done"
        );
        tracing::warn!(attempt = i, "retrying in {} ms", i % 100);
    }
}

#[test]
fn no_allocation_per_event() {
    const EVENTS: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alloc.lbf");
    let (layer, guard) = LogbufLayer::builder()
        .file(&path)
        .ring_capacity(8 << 20)
        .build()
        .unwrap();
    let journal = layer.journal().clone();
    // The counter sees this thread's allocations.
    let before = allocations();
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(allocations() - before, 1);
    let subscriber = tracing_subscriber::registry().with(layer);
    let (outside, inside) = tracing::subscriber::with_default(subscriber, || {
        // Warm-up: the thread's ring, the callsite ids, the registry's span stack.
        events(0, 100);
        let span = tracing::info_span!("request", id = 7u64);
        let entered = span.enter();
        events(0, 100);
        drop(entered);

        let before = allocations();
        events(0, EVENTS);
        let outside = allocations() - before;

        let entered = span.enter();
        let before = allocations();
        events(0, EVENTS);
        let inside = allocations() - before;
        drop(entered);
        (outside, inside)
    });
    assert!(journal.flush());
    let stats = journal.stats();
    drop(guard);
    assert_eq!(stats.dropped, 0);
    // The 2 x 2 x 100 warm-up events, the 2 x 2 x EVENTS measured ones, the span's records.
    assert!(
        stats.records_written >= 4 * EVENTS + 400,
        "{} records written",
        stats.records_written
    );
    assert_eq!(
        (outside, inside),
        (0, 0),
        "allocations per 2 x {EVENTS} events"
    );
}
