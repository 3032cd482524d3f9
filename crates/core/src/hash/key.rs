//! Bucket keys: what a row's `k` hash values in one table become, so that a table is a
//! sorted run of `(u64 key, row)` pairs whatever `k` is.
//!
//! With `k = 1` (Spark's scheme) the key is the hash value itself; with AND-amplification
//! (`k > 1`, as lsh-rs has) it is the xxh3 of the `k` values' little-endian bytes: two rows
//! share a bucket when all `k` values agree (up to a 2^-64 chance of a false collision).

use super::hasher::BrpHasher;
use crate::error::Result;
use crate::kernels::{Element, Rows};
use fast_lsh_ann_format::bytes_of;

/// Bucket key of table `t` from a row's `L x k` hash values (table-major: table `t`'s
/// values at `t*k..(t+1)*k`).
pub fn bucket_key(hashes: &[i64], k: usize, t: usize) -> u64 {
    let values = &hashes[t * k..(t + 1) * k];
    if k == 1 {
        return values[0] as u64;
    }
    xxhash_rust::xxh3::xxh3_64(bytes_of(values))
}

/// Every row's bucket key in each table into `keys` (row-major `rows x L`), hashed with
/// `hasher` (`L x k` projections) block by block: the rows' `L x k` hash values exist for
/// only one block per thread at a time.
pub fn bucket_keys_into<T: Element>(
    hasher: &BrpHasher,
    k: usize,
    rows: Rows<'_, T>,
    keys: &mut [u64],
) -> Result<()> {
    let tables = hasher.params().num_hash_tables / k.max(1);
    hasher.hash_map_into(rows, keys, tables, "vectors", |h, keys| {
        for (t, key) in keys.iter_mut().enumerate() {
            *key = bucket_key(h, k, t);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Arithmetic;
    use crate::index::IndexParams;

    #[test]
    fn bucket_keys_are_the_xxh3_of_the_values_bytes() {
        // k = 1: the value; k > 1: xxh3_64 of the k values' little-endian bytes.
        for k in [1usize, 3, 16, 20] {
            let params = IndexParams {
                dim: 4,
                bucket_length: 1.0,
                num_hash_tables: 2,
                projections_per_table: k,
                seed: 1,
                sketch_bits: 0,
                arithmetic: Arithmetic::for_projections(k),
            };
            let hashes: Vec<i64> = (0..2 * k as i64).map(|v| v * 7919 - 40_000).collect();
            for t in 0..2 {
                let values = &hashes[t * k..(t + 1) * k];
                let want = if k == 1 {
                    values[0] as u64
                } else {
                    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    xxhash_rust::xxh3::xxh3_64(&bytes)
                };
                assert_eq!(bucket_key(&hashes, k, t), want, "k {k}, table {t}");
            }
            // Rows' keys: each table's key of the row's hash values.
            let hasher = params.hasher().unwrap();
            let x: Vec<f32> = (0..3 * 4).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            let rows = Rows::new(&x, 4).unwrap();
            let hashes = hasher.hash(rows, "x").unwrap();
            let mut keys = vec![0u64; 3 * 2];
            bucket_keys_into(&hasher, k, rows, &mut keys).unwrap();
            for r in 0..3 {
                for t in 0..2 {
                    let want = bucket_key(&hashes[r * 2 * k..(r + 1) * 2 * k], k, t);
                    assert_eq!(keys[r * 2 + t], want, "k {k}, row {r}, table {t}");
                }
            }
        }
    }
}
