//! Hashing throughput: Spark-exact BRP hashes of 128-d float32 rows, 5 tables.
//! Reported as rows/s and bytes/s of input (memory bandwidth is the limit to compare with).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fast_lsh_ann_core::{BrpHasher, BrpParams, Rows};

fn gaussian_rows(n: usize, dim: usize) -> Vec<f32> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..n * dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

fn hash(c: &mut Criterion) {
    let (n, dim, tables) = (200_000, 128, 5);
    let data = gaussian_rows(n, dim);
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
