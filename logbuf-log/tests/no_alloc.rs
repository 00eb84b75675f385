//! After a callsite's first records on a thread, logging allocates nothing: static messages,
//! formatted messages within the claim, typed key-values. Allocations are counted per thread
//! by a global allocator, so the journal's worker does not count.

mod common;

use common::allocations;

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

/// Allocations made by `records` calls of `log_one` after `warm_up` calls.
fn allocations_per_run(warm_up: u64, records: u64, mut log_one: impl FnMut(u64)) -> u64 {
    for i in 0..warm_up {
        log_one(i);
    }
    let before = allocations();
    for i in warm_up..warm_up + records {
        log_one(i);
    }
    allocations() - before
}

#[test]
fn records_allocate_nothing_after_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alloc.lbf");
    let guard = logbuf_log::Builder::new()
        .parse_filters("info")
        .file(&path)
        .policy(logbuf_journal::FullPolicy::Block)
        .init()
        .unwrap();

    // The counter sees this thread's allocations.
    let control = allocations_per_run(0, 10, |i| {
        std::hint::black_box(Box::new(i));
    });
    assert_eq!(control, 10);

    let static_message = allocations_per_run(10, 5_000, |_| log::info!("static message"));
    assert_eq!(static_message, 0, "static message");

    let formatted = allocations_per_run(10, 5_000, |i| {
        log::info!("request done user_id={} latency_us={}", i, i as f64 / 4.0);
    });
    assert_eq!(formatted, 0, "formatted message");

    let key_values = allocations_per_run(10, 5_000, |i| {
        log::warn!(user_id = i, latency = i as f64 * 0.5, ok = i.is_multiple_of(2), route = "/users"; "served");
    });
    assert_eq!(key_values, 0, "typed key-values");

    // A message longer than the first guess: the claim grows, still without allocating.
    let long = "x".repeat(1_000);
    let long_message = allocations_per_run(10, 2_000, |i| log::info!("{long} {i}"));
    assert_eq!(long_message, 0, "long formatted message");

    // Filtered out: no allocation either.
    let filtered = allocations_per_run(10, 5_000, |i| log::debug!("never {i}"));
    assert_eq!(filtered, 0, "filtered record");

    log::logger().flush();
    drop(guard);

    let mut reader = logbuf_journal::read::Reader::open(&path).unwrap();
    let mut count = 0;
    while let Some(event) = reader.next_event() {
        event.unwrap();
        count += 1;
    }
    assert_eq!(count, 3 * 5_010 + 2_010);
    assert_eq!(reader.dropped(), 0);
}
