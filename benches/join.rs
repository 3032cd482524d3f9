//! Similarity-join and k-NN throughput on planted near-duplicates with Spark's benchmark
//! parameters (bucket_length 2, 5 tables: nearly every pair collides, so this measures the
//! block distance kernel), as candidate pairs screened per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fast_lsh_ann_core::join::similarity_join;
use fast_lsh_ann_core::knn::batch_knn;
use fast_lsh_ann_core::{BrpHasher, BrpParams, Rows};

/// n/2 base rows plus a slightly perturbed copy of each (row i and i + n/2 are a pair).
fn planted(n: usize, dim: usize) -> Vec<f32> {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    // Sum of 4 uniforms, rescaled: close enough to N(0, 1) for a benchmark.
    let mut normal = move || ((0..4).map(|_| uniform()).sum::<f64>() - 2.0) * 3f64.sqrt();
    let half: Vec<f32> = (0..n / 2 * dim).map(|_| normal() as f32).collect();
    let copies: Vec<f32> = half.iter().map(|&v| v + 0.05 * normal() as f32).collect();
    [half, copies].concat()
}

fn join(c: &mut Criterion) {
    let (n, dim) = (20_000, 128);
    let data = planted(n, dim);
    let rows = Rows::new(&data, dim).unwrap();
    let hasher = BrpHasher::new(BrpParams::new(dim, 2.0, 5, 42).unwrap());
    let mut group = c.benchmark_group("join");
    group.throughput(Throughput::Elements((n * (n - 1) / 2) as u64));
    group.bench_function("self_join_20k_128d_spark_params", |b| {
        b.iter(|| {
            let (pairs, _) = similarity_join(&hasher, rows, None, 1.5).unwrap();
            assert_eq!(pairs.a.len(), n / 2);
        })
    });
    let queries = Rows::new(&data[n / 2 * dim..(n / 2 + 1000) * dim], dim).unwrap();
    group.throughput(Throughput::Elements((1000 * n) as u64));
    group.bench_function("knn_1000_queries_20k_rows", |b| {
        b.iter(|| {
            let found = batch_knn(&hasher, rows, queries, 10).unwrap();
            assert!((0..1000).all(|q| found.rows[q * 10 + 1] == q as i64));
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = join
}
criterion_main!(benches);
