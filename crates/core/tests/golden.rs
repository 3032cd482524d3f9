//! The golden indexes committed under `tests/data/` (written by `tools/make_golden.py` with
//! format 1.0) must open and answer with this build: their bucket keys must equal keys
//! recomputed from the vectors with a fresh hasher, and k-NN must equal brute force over
//! the rows that collide. A format or key change that breaks old indexes fails here.

use fast_lsh_ann_core::hash::key::bucket_key;
use fast_lsh_ann_core::index::Index;
use fast_lsh_ann_core::{Arithmetic, Rows};
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// The float32 matrix of a version-1.0 `.npy` file (little-endian, C order).
fn read_npy_f32(path: &std::path::Path) -> (Vec<f32>, usize) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"));
    let shape = header.split("'shape': (").nth(1).unwrap();
    let dim: usize = shape
        .split(&[',', ')'][..])
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let values = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (values, dim)
}

// `t` indexes both the tables and every row's keys.
#[allow(clippy::needless_range_loop)]
fn check(name: &str, arithmetic: Arithmetic, want_ids: impl Fn(usize) -> i64) {
    let (data, dim) = read_npy_f32(&data_dir().join("golden-vectors.npy"));
    let index = Index::open(&data_dir().join(name)).unwrap();
    index.verify().unwrap();
    let n = data.len() / dim;
    assert_eq!(index.len(), n);
    let params = *index.params();
    assert_eq!(params.dim, dim);
    assert_eq!(params.arithmetic, arithmetic);

    // Keys recomputed from the vectors with a fresh hasher equal the stored signatures.
    let hasher = params.hasher().unwrap();
    let hashes = hasher
        .hash(Rows::new(&data, dim).unwrap(), "golden")
        .unwrap();
    let per_row = params.num_hash_tables * params.projections_per_table;
    let keys: Vec<Vec<u64>> = hashes
        .chunks_exact(per_row)
        .map(|h| {
            (0..params.num_hash_tables)
                .map(|t| bucket_key(h, params.projections_per_table, t))
                .collect()
        })
        .collect();
    for (row, want) in keys.iter().enumerate() {
        assert_eq!(index.signature(row), &want[..], "row {row}");
    }
    // Every bucket of every table holds exactly the rows with that key.
    for t in 0..params.num_hash_tables {
        let table = index.table(t);
        let mut seen = 0;
        for b in 0..table.buckets() {
            let members = table.members(b).unwrap();
            assert!(members.windows(2).all(|w| w[0] < w[1]));
            assert!(members.iter().all(|&r| keys[r as usize][t] == table.key(b)));
            seen += members.len();
        }
        assert_eq!(seen, n);
    }

    // k-NN of every row equals brute force over the rows colliding with it.
    let k = 5;
    let got = index
        .knn(Rows::new(&data, dim).unwrap(), k, 0, None)
        .unwrap();
    for q in 0..n {
        let mut want: Vec<(f64, usize)> = (0..n)
            .filter(|&r| (0..params.num_hash_tables).any(|t| keys[r][t] == keys[q][t]))
            .map(|r| {
                let d: f64 = (0..dim)
                    .map(|c| (data[r * dim + c] as f64 - data[q * dim + c] as f64).powi(2))
                    .sum();
                (d.sqrt(), r)
            })
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        want.truncate(k);
        for (slot, &(d, r)) in want.iter().enumerate() {
            assert_eq!(got.ids[q * k + slot], want_ids(r), "query {q} slot {slot}");
            assert!((got.distances[q * k + slot] as f64 - d).abs() <= 1e-5 * (1.0 + d));
        }
        for slot in want.len()..k {
            assert_eq!(got.ids[q * k + slot], -1);
        }
    }
}

#[test]
fn golden_spark_scheme_with_ids() {
    check("golden-k1", Arithmetic::Spark, |row| 1000 + 7 * row as i64);
}

/// Written before `k > 1` indexes hashed in `f32`: it keeps hashing in `f64`.
#[test]
fn golden_and_amplified_without_ids() {
    check("golden-k3", Arithmetic::Spark, |row| row as i64);
}

#[test]
fn golden_and_amplified_in_f32() {
    check("golden-k3-f32", Arithmetic::F32, |row| row as i64);
}
