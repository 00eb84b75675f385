//! Decode rate of each file of the hostile corpus (`src/hostile.rs`: damage, a torn tail, junk
//! made to read as frames, span parents in a cycle, a huge callsite table, a deep span chain)
//! beside a clean file of the same size, in MB/s of file: a quadratic path in the reader
//! shows as a rate far below the clean file's.
//!
//! Each file is decoded as `logbuf cat` decodes it (`cat::Source` over the file on disk,
//! without rendering), from the page cache.
//!
//! ```text
//! cargo bench -p logbuf-benches --bench hostile_decode
//! # env LOGBUF_BENCH_HOSTILE_MB: size of each file in MiB (24: past the 16 MiB frame limit)
//! ```

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logbuf_benches::hostile::{self, HostileFile};
use logbuf_cli::cat;

/// Decodes the journal at `path` as `logbuf cat` does; returns the events seen.
fn decode(path: &Path) -> u64 {
    let file = logbuf_cli::input::open_journal(path).expect("open");
    let mut source = cat::Source::new(path.to_path_buf(), file);
    let mut n = 0u64;
    source
        .visit(|item, _| {
            if let cat::Item::Event(event) = item {
                n = n.wrapping_add(1 + event.spans.len() as u64);
            }
            false
        })
        .expect("read");
    n
}

fn hostile_decode(c: &mut Criterion) {
    let mib: usize = std::env::var("LOGBUF_BENCH_HOSTILE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let size = mib << 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("hostile_decode");
    group.sample_size(10);
    let files: Vec<HostileFile> = std::iter::once(hostile::clean(size))
        .chain(hostile::corpus(size))
        .collect();
    for (i, file) in files.iter().enumerate() {
        let path = dir.path().join(format!("{i}.lbf"));
        std::fs::write(&path, &file.bytes).expect("write");
        group.throughput(Throughput::Bytes(file.bytes.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(file.name), &path, |b, path| {
            b.iter(|| decode(path));
        });
    }
    group.finish();
}

criterion_group!(benches, hostile_decode);
criterion_main!(benches);
