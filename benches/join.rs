//! Similarity-join and k-NN throughput on planted near-duplicates with Spark's benchmark
//! parameters (bucket_length 2, 5 tables: nearly every pair collides, so this measures the
//! block distance kernel), as candidate pairs screened per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fast_lsh_ann_benches::planted;
use fast_lsh_ann_core::model::join::similarity_join;
use fast_lsh_ann_core::model::knn::batch_knn;
use fast_lsh_ann_core::{BrpHasher, BrpParams, Rows};

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
