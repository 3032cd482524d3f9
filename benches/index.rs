//! The on-disk index's hot paths on planted near-duplicates (200,000 x 64, 8 tables x 8
//! projections): the external sort and merge of one table's pairs, a build, k-NN queries,
//! and the self-join in place and blocked (a budget smaller than the vectors). Each timed
//! loop asserts its answer, so a broken path cannot look fast.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fast_lsh_ann_benches::planted;
use fast_lsh_ann_core::index::sort::RunSorter;
use fast_lsh_ann_core::index::{Index, IndexParams, IndexWriter};
use fast_lsh_ann_core::join::{JoinOptions, Plan, join};
use fast_lsh_ann_core::{Arithmetic, Rows};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const N: usize = 200_000;
const DIM: usize = 64;

fn params() -> IndexParams {
    IndexParams {
        dim: DIM,
        bucket_length: 1.0,
        num_hash_tables: 8,
        projections_per_table: 8,
        seed: 7,
        sketch_bits: 0,
        arithmetic: Arithmetic::for_projections(8),
    }
}

fn build(path: &Path, data: &[f32]) {
    let mut w = IndexWriter::create(path, params(), 64 << 20, true).unwrap();
    for chunk in data.chunks(DIM * 50_000) {
        w.append(Rows::new(chunk, DIM).unwrap(), None).unwrap();
    }
    w.finish().unwrap();
}

/// Self-join pairs found under `options`, checked to include every planted pair.
fn self_join(index: &Index, options: JoinOptions) -> (u64, Plan) {
    let found = AtomicU64::new(0);
    let summary = join(
        index.params(),
        &index.side(),
        None,
        options,
        &|f| {
            found.fetch_add(f.len() as u64, Ordering::Relaxed);
            true
        },
        &AtomicBool::new(false),
    )
    .unwrap();
    (found.into_inner(), summary.plan)
}

fn index(c: &mut Criterion) {
    let data = planted(N, DIM);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let mut group = c.benchmark_group("index");

    // One table's worth of (key, row) pairs through the external sort, spilling runs.
    let pairs: Vec<(u64, u64)> = (0..N as u64 * 8)
        .map(|r| (r.wrapping_mul(0x9E37_79B9_7F4A_7C15), r))
        .collect();
    group.throughput(Throughput::Bytes((pairs.len() * 16) as u64));
    group.bench_function("sort_merge_1.6M_pairs_4MB_budget", |b| {
        b.iter(|| {
            let mut sorter = RunSorter::new(dir.path(), "bench", 4 << 20);
            sorter.extend(pairs.iter().copied()).unwrap();
            let (mut last, mut seen) = (0u64, 0usize);
            sorter
                .merge(|batch| {
                    assert!(batch.first().is_none_or(|p| p.0 >= last));
                    last = batch.last().map_or(last, |p| p.0);
                    seen += batch.len();
                    Ok(())
                })
                .unwrap();
            assert_eq!(seen, pairs.len());
        })
    });

    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("build_200k_64d_8x8", |b| b.iter(|| build(&path, &data)));
    build(&path, &data);
    let index = Index::open(&path).unwrap();

    let queries = Rows::new(&data[N / 2 * DIM..(N / 2 + 1000) * DIM], DIM).unwrap();
    group.throughput(Throughput::Elements(1000));
    group.bench_function("knn_1000_queries_k10", |b| {
        b.iter(|| {
            let found = index.knn(queries, 10, 0, None).unwrap();
            // Each copy's nearest other row is its planted original.
            let hits = (0..1000)
                .filter(|&q| found.ids[q * 10 + 1] == q as i64)
                .count();
            assert!(hits > 950, "{hits}");
        })
    });

    group.throughput(Throughput::Elements(N as u64));
    for (name, budget, plan) in [
        ("self_join_in_place", None, Plan::Buckets),
        ("self_join_blocked_16MB", Some(16 << 20), Plan::Blocked),
    ] {
        let mut options = JoinOptions::new(1.0);
        options.memory_budget = budget;
        group.bench_function(name, |b| {
            b.iter(|| {
                let (pairs, used) = self_join(&index, options);
                assert_eq!(used, plan);
                assert!(pairs >= (N / 2) as u64 * 99 / 100, "{pairs}");
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = index
}
criterion_main!(benches);
