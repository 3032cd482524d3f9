//! Hashing throughput: Spark-exact BRP hashes of 128-d float32 rows, 5 tables.
//! Reported as rows/s and bytes/s of input (memory bandwidth is the limit to compare with).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fast_lsh_ann_benches::uniform_rows;
use fast_lsh_ann_core::{BrpHasher, BrpParams, Rows};

fn hash(c: &mut Criterion) {
    let (n, dim, tables) = (200_000, 128, 5);
    let data = uniform_rows(n, dim);
    let rows = Rows::new(&data, dim).unwrap();
    let hasher = BrpHasher::new(BrpParams::new(dim, 2.0, tables, 42).unwrap());
    let mut out = vec![0i64; n * tables];
    let mut group = c.benchmark_group("hash");
    group.throughput(Throughput::Bytes((n * dim * 4) as u64));
    group.bench_function("brp_128d_5tables_200k_rows", |b| {
        b.iter(|| {
            hasher.hash_into(rows, &mut out, "rows").unwrap();
            assert!(out.iter().any(|&h| h != 0));
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = hash
}
criterion_main!(benches);
