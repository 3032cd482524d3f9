//! Spark's Bucketed Random Projection hash family, bit for bit.
//!
//! Spark 4.3 draws `L x dim` Gaussians from `java.util.Random(seed)` (table `t` owns draws
//! `t*dim .. (t+1)*dim`), normalises each row by multiplying with `1 / norm`, and hashes
//! `h_t(x) = floor((1 / bucket_length) * <u_t, x>)`. Both the norm and the dot product run
//! through netlib's `VectorBLAS`, which sums with 8 lane accumulators (FMA), reduces the
//! lanes left to right, then adds the tail one product at a time. [`spark_dot`] is that
//! order, so unit vectors and hashes equal Spark's (see `shared/SPARK.md`).

use crate::cpu::multiversion;
use crate::params::BrpParams;
use crate::rng::JavaRandom;
use crate::rows::{Element, Rows};
use rayon::prelude::*;

/// Number of lane accumulators of Spark's `VectorBLAS` on a 512-bit machine (where the
/// fixtures were made). It fixes the summation order, not our own vector width.
const LANES: usize = 8;

/// Rows hashed per parallel task (each task widens them to `f64` once).
const BLOCK_ROWS: usize = 64;

/// `<a, b>` summed in `VectorBLAS`'s order: lane FMAs over the first `len/8*8` elements,
/// lanes reduced left to right, then a separately rounded tail.
#[inline(always)]
pub fn spark_dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let main = a.len() / LANES * LANES;
    let mut acc = [0.0f64; LANES];
    for (ca, cb) in a[..main].chunks_exact(LANES).zip(b[..main].chunks_exact(LANES)) {
        for j in 0..LANES {
            acc[j] = ca[j].mul_add(cb[j], acc[j]);
        }
    }
    let mut s = acc[0];
    for lane in &acc[1..] {
        s += *lane;
    }
    for (x, y) in a[main..].iter().zip(&b[main..]) {
        s += *x * *y;
    }
    s
}

multiversion! {
    /// `out[r*L + t] = floor(alpha * spark_dot(u_t, row_r))` for a block of `f64` rows.
    fn project_block(unit: &[f64], rows: &[f64], dim: usize, alpha: f64, out: &mut [i64]) {
        let tables = unit.len() / dim;
        for (x, hashes) in rows.chunks_exact(dim).zip(out.chunks_exact_mut(tables)) {
            for (u, h) in unit.chunks_exact(dim).zip(hashes.iter_mut()) {
                *h = (alpha * spark_dot(u, x)).floor() as i64;
            }
        }
    }
}

/// The `L` hash functions of one BRP model.
#[derive(Debug, Clone)]
pub struct BrpHasher {
    params: BrpParams,
    unit: Vec<f64>,
    alpha: f64,
}

impl BrpHasher {
    /// Draw the model's unit vectors exactly as Spark's `createRawLSHModel` does.
    pub fn new(params: BrpParams) -> Self {
        let (dim, tables) = (params.dim, params.num_hash_tables);
        let mut rng = JavaRandom::new(params.seed);
        let mut unit: Vec<f64> = (0..dim * tables).map(|_| rng.next_gaussian()).collect();
        for row in unit.chunks_exact_mut(dim) {
            let norm = spark_dot(row, row).sqrt();
            if norm != 0.0 {
                let scale = 1.0 / norm;
                row.iter_mut().for_each(|v| *v *= scale);
            }
        }
        // Spark computes the scale first, then multiplies: not `dot / bucket_length`.
        let alpha = 1.0 / params.bucket_length;
        BrpHasher { params, unit, alpha }
    }

    /// The parameters this hasher was built from.
    pub fn params(&self) -> &BrpParams {
        &self.params
    }

    /// The unit vectors, row-major `num_hash_tables x dim` (Spark's `randMatrix`).
    pub fn unit_vectors(&self) -> &[f64] {
        &self.unit
    }

    /// Hash every row: `out[r * L + t]` is table `t`'s bucket of row `r`. Parallel over
    /// rows; the result does not depend on the thread count. The caller has validated the
    /// rows' dimension (`Rows::validate`); `out.len()` must be `rows.len() * L`.
    pub fn hash_into<T: Element>(&self, rows: Rows<'_, T>, out: &mut [i64]) {
        let (dim, tables) = (self.params.dim, self.params.num_hash_tables);
        assert_eq!(rows.dim(), dim, "rows validated against the model");
        assert_eq!(out.len(), rows.len() * tables, "output sized n x L");
        rows.as_slice()
            .par_chunks(dim * BLOCK_ROWS)
            .zip(out.par_chunks_mut(tables * BLOCK_ROWS))
            .for_each_init(
                || vec![0.0f64; dim * BLOCK_ROWS],
                |wide, (block, hashes)| {
                    let wide = &mut wide[..block.len()];
                    wide.iter_mut().zip(block).for_each(|(w, v)| *w = v.to_f64());
                    project_block(&self.unit, wide, dim, self.alpha, hashes);
                },
            );
    }

    /// [`hash_into`](Self::hash_into) into a new `n x L` vector.
    pub fn hash<T: Element>(&self, rows: Rows<'_, T>) -> Vec<i64> {
        let mut out = vec![0i64; rows.len() * self.params.num_hash_tables];
        self.hash_into(rows, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(dim: usize, bl: f64, tables: usize, seed: i64) -> BrpHasher {
        BrpHasher::new(BrpParams::new(dim, bl, tables, seed).unwrap())
    }

    #[test]
    fn unit_vectors_have_unit_norm() {
        let h = hasher(100, 1.0, 20, 12345);
        for u in h.unit_vectors().chunks_exact(100) {
            let n: f64 = u.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((n - 1.0).abs() < 1e-14, "norm {n}");
        }
    }

    #[test]
    fn hash_is_floor_of_scaled_projection() {
        let h = hasher(3, 0.5, 4, 42);
        let x = [0.3f64, -1.7, 2.25, 1.0, 1.0, 1.0];
        let got = h.hash(Rows::new(&x, 3).unwrap());
        for (r, row) in x.chunks(3).enumerate() {
            for (t, u) in h.unit_vectors().chunks(3).enumerate() {
                let dot: f64 = u.iter().zip(row).map(|(a, b)| a * b).sum();
                assert_eq!(got[r * 4 + t], (dot * 2.0).floor() as i64);
            }
        }
    }

    #[test]
    fn f32_and_f64_rows_hash_alike() {
        let h = hasher(37, 0.7, 5, -5);
        let x32: Vec<f32> = (0..37 * 200).map(|i| ((i * 7919) % 1000) as f32 / 97.0 - 5.0).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        assert_eq!(h.hash(Rows::new(&x32, 37).unwrap()), h.hash(Rows::new(&x64, 37).unwrap()));
    }

    #[test]
    fn spark_dot_order_is_lanes_then_tail() {
        // 9 elements: 8 in lanes, 1 in the tail; values chosen so order matters.
        let a = [1e16, 1.0, -1e16, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let b = [1.0; 9];
        // lanes: [1e16, 1, -1e16, 1, 1, 1, 1, 1] reduced left to right = (1e16 + 1) - 1e16 + 5 = 5
        // ((1e16 + 1) rounds to 1e16), then + 1 from the tail.
        assert_eq!(spark_dot(&a, &b), 6.0);
    }
}
