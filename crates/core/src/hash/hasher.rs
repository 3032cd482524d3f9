//! Spark's Bucketed Random Projection hash family, bit for bit.
//!
//! Spark 4.3 draws `L x dim` Gaussians from `java.util.Random(seed)` (table `t` owns draws
//! `t*dim .. (t+1)*dim`), normalises each row by multiplying with `1 / norm`, and hashes
//! `h_t(x) = floor((1 / bucket_length) * <u_t, x>)`. Both the norm and the dot product run
//! through netlib's `VectorBLAS`, which sums with 8 lane accumulators (FMA), reduces the
//! lanes left to right, then adds the tail one product at a time. [`spark_dot`] is that
//! order, so unit vectors and hashes equal Spark's (see `shared/SPARK.md`).
//!
//! Indexes with AND-amplification (`k > 1` projections per table) have no Spark
//! counterpart, and hash in [`Arithmetic::F32`] instead: the same unit vectors rounded to
//! `f32`, dot products on the register-blocked kernel of `project`. That is about
//! a third of the time (half the bytes, no widening, eight lanes per instruction): 24
//! projections of 1M x 128 rows take 446 ms in `f64` and 144 ms in `f32` on one core.

use crate::error::{Error, ErrorKind, Result};
use crate::hash::params::BrpParams;
use crate::hash::project::Projections;
use crate::hash::rng::JavaRandom;
use crate::kernels::{Element, Rows};
use rayon::prelude::*;

/// Number of lane accumulators of Spark's `VectorBLAS` on a 512-bit machine (where the
/// fixtures were made). It fixes the summation order, not our own vector width.
const LANES: usize = 8;

/// Rows hashed per parallel task (each task widens them to `f64`, or narrows them to
/// `f32`, once).
const BLOCK_ROWS: usize = 64;

/// `<a, b>` summed in `VectorBLAS`'s order: lane FMAs over the first `len/8*8` elements,
/// lanes reduced left to right, then a separately rounded tail.
#[inline(always)]
pub fn spark_dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let main = a.len() / LANES * LANES;
    let mut acc = [0.0f64; LANES];
    for (ca, cb) in a[..main]
        .chunks_exact(LANES)
        .zip(b[..main].chunks_exact(LANES))
    {
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

/// `out[r*L + t] = floor(alpha * spark_dot(u_t, row_r))` for a block of `f64` rows.
#[inline(always)]
fn project_portable(unit: &[f64], rows: &[f64], dim: usize, alpha: f64, out: &mut [i64]) {
    let tables = unit.len() / dim;
    for (x, hashes) in rows.chunks_exact(dim).zip(out.chunks_exact_mut(tables)) {
        for (u, h) in unit.chunks_exact(dim).zip(hashes.iter_mut()) {
            *h = (alpha * spark_dot(u, x)).floor() as i64;
        }
    }
}

/// [`spark_dot`] of `G` unit vectors against one row, with each table's 8 lanes held in two
/// 256-bit registers: per table the same FMAs on the same lanes, the same reduction and
/// tail, so the same bits. `G` tables at once hide the FMA latency (a single dot is one
/// dependent chain) and load each row value once for `G` FMAs, as VectorBLAS's `dgemvT`
/// blocks tables by 4.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn spark_dots_avx2<const G: usize>(units: [&[f64]; G], x: &[f64]) -> [f64; G] {
    use std::arch::x86_64::{
        __m256d, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_setzero_pd, _mm256_storeu_pd,
    };
    let main = x.len() / LANES * LANES;
    for u in &units {
        assert_eq!(u.len(), x.len());
    }
    let mut lo: [__m256d; G] = [_mm256_setzero_pd(); G];
    let mut hi: [__m256d; G] = [_mm256_setzero_pd(); G];
    for i in (0..main).step_by(LANES) {
        // SAFETY: `i + 8 <= main <= x.len()`, and every unit vector has `x.len()` values
        // (asserted above), so each 4-value load at `i` and `i + 4` is in bounds; `loadu`
        // needs no alignment.
        unsafe {
            let px = x.as_ptr().add(i);
            let (x_lo, x_hi) = (_mm256_loadu_pd(px), _mm256_loadu_pd(px.add(4)));
            for g in 0..G {
                let pu = units[g].as_ptr().add(i);
                lo[g] = _mm256_fmadd_pd(_mm256_loadu_pd(pu), x_lo, lo[g]);
                hi[g] = _mm256_fmadd_pd(_mm256_loadu_pd(pu.add(4)), x_hi, hi[g]);
            }
        }
    }
    std::array::from_fn(|g| {
        let mut acc = [0.0f64; LANES];
        // SAFETY: `acc` holds 8 f64; the two stores write 4 each at offsets 0 and 4.
        unsafe {
            _mm256_storeu_pd(acc.as_mut_ptr(), lo[g]);
            _mm256_storeu_pd(acc.as_mut_ptr().add(4), hi[g]);
        }
        let mut s = acc[0];
        for lane in &acc[1..] {
            s += *lane;
        }
        for (u, v) in units[g][main..].iter().zip(&x[main..]) {
            s += *u * *v;
        }
        s
    })
}

/// `out[t] = spark_dot(u_t, x)` for every unit vector `u_t` in `unit`, four at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dots_avx2(unit: &[f64], x: &[f64], out: &mut [f64]) {
    let dim = x.len();
    let u = |t: usize| &unit[t * dim..(t + 1) * dim];
    let mut t = 0;
    while t + 4 <= out.len() {
        out[t..t + 4].copy_from_slice(&spark_dots_avx2([u(t), u(t + 1), u(t + 2), u(t + 3)], x));
        t += 4;
    }
    while t < out.len() {
        out[t] = spark_dots_avx2([u(t)], x)[0];
        t += 1;
    }
}

/// [`project_portable`] on AVX2+FMA, four tables at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn project_block_avx2(unit: &[f64], rows: &[f64], dim: usize, alpha: f64, out: &mut [i64]) {
    let tables = unit.len() / dim;
    let mut dots = vec![0.0f64; tables];
    for (x, hashes) in rows.chunks_exact(dim).zip(out.chunks_exact_mut(tables)) {
        dots_avx2(unit, x, &mut dots);
        for (h, d) in hashes.iter_mut().zip(&dots) {
            *h = (alpha * d).floor() as i64;
        }
    }
}

/// `out[t] = spark_dot(u_t, x)` for every unit vector, on the fastest kernel this CPU runs
/// (the same bits either way).
fn dots_row(unit: &[f64], x: &[f64], out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::cpu::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { dots_avx2(unit, x, out) };
    }
    for (u, o) in unit.chunks_exact(x.len()).zip(out.iter_mut()) {
        *o = spark_dot(u, x);
    }
}

/// Hash a block of `f64` rows (see [`project_with`]) on the fastest kernel this CPU runs.
fn project_block(unit: &[f64], rows: &[f64], dim: usize, alpha: f64, out: &mut [i64]) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::cpu::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { project_block_avx2(unit, rows, dim, alpha, out) };
    }
    project_portable(unit, rows, dim, alpha, out)
}

/// How a hasher computes `(1 / bucket_length) * <u_t, x>`, whose floor is the hash value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    /// `f64` in `VectorBLAS`'s order: Spark's hash values, bit for bit. The in-memory
    /// model, `k = 1` indexes, and `k > 1` indexes written before F32 existed use it.
    Spark,
    /// `f32`: unit vectors rounded to `f32`, each dot product one FMA chain in dimension
    /// order (the `project` kernel), `floor((alpha as f32) * dot)`. About 3x faster.
    F32,
}

impl Arithmetic {
    /// What a new index with `k` projections per table uses: Spark's for `k = 1`, whose
    /// keys are Spark's hash values, and `F32` for `k > 1`, whose keys (hashes of `k`
    /// values) Spark has no counterpart of.
    pub fn for_projections(k: usize) -> Self {
        if k == 1 {
            Arithmetic::Spark
        } else {
            Arithmetic::F32
        }
    }
}

/// The `L` hash functions of one BRP model.
#[derive(Debug, Clone)]
pub struct BrpHasher {
    params: BrpParams,
    unit: Vec<f64>,
    alpha: f64,
    /// With [`Arithmetic::F32`]: the unit vectors rounded to `f32`, packed for the
    /// projection kernel, and `alpha` rounded to `f32`.
    f32_units: Option<(Projections, f32)>,
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
        BrpHasher {
            params,
            unit,
            alpha,
            f32_units: None,
        }
    }

    /// This hasher computing in `arithmetic` (a new hasher is [`Arithmetic::Spark`]).
    pub fn with_arithmetic(mut self, arithmetic: Arithmetic) -> Self {
        self.f32_units = match arithmetic {
            Arithmetic::Spark => None,
            Arithmetic::F32 => {
                let dim = self.params.dim;
                let narrow: Vec<f32> = self.unit.iter().map(|&v| v as f32).collect();
                Some((Projections::new(&narrow, dim), self.alpha as f32))
            }
        };
        self
    }

    /// How this hasher computes.
    pub fn arithmetic(&self) -> Arithmetic {
        match self.f32_units {
            None => Arithmetic::Spark,
            Some(_) => Arithmetic::F32,
        }
    }

    /// A hasher over given unit vectors (`num_hash_tables x dim`, as stored in an index),
    /// instead of drawing them from the seed.
    pub fn with_unit_vectors(params: BrpParams, unit: Vec<f64>) -> Result<Self> {
        if unit.len() != params.dim * params.num_hash_tables || unit.iter().any(|v| !v.is_finite())
        {
            return Err(Error::invalid(
                "unit vectors",
                format!("need {} finite values", params.dim * params.num_hash_tables),
            ));
        }
        Ok(BrpHasher {
            params,
            unit,
            alpha: 1.0 / params.bucket_length,
            f32_units: None,
        })
    }

    /// `(1 / bucket_length) * <u_t, x>` for every table: the values whose floors are the
    /// hashes (same arithmetic), and whose fractions tell multi-probe how close `x` lies to
    /// its buckets' boundaries.
    pub fn scaled_projections<T: Element>(&self, x: &[T]) -> Vec<f64> {
        let tables = self.params.num_hash_tables;
        if let Some((units, alpha)) = &self.f32_units {
            let mut dots = vec![0.0f32; tables];
            units.dots(&T::as_f32(x), &mut dots);
            return dots.iter().map(|&d| (alpha * d) as f64).collect();
        }
        let wide: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        let mut dots = vec![0.0f64; tables];
        dots_row(&self.unit, &wide, &mut dots);
        dots.iter_mut().for_each(|d| *d *= self.alpha);
        dots
    }

    /// Hash one block of rows into `hashes` (rows x L); false if a scaled projection is
    /// not finite (a NaN or infinite value in the rows, or an `f32` overflow). `wide` is the
    /// thread's buffer for rows widened to `f64`.
    fn hash_block<T: Element>(&self, block: &[T], hashes: &mut [i64], wide: &mut Vec<f64>) -> bool {
        let dim = self.params.dim;
        let Some((units, alpha)) = &self.f32_units else {
            wide.clear();
            let mut finite = true;
            for v in block {
                let w = v.to_f64();
                finite &= w.abs() < f64::INFINITY;
                wide.push(w);
            }
            if finite {
                project_block(&self.unit, wide, dim, self.alpha, hashes);
            }
            return finite;
        };
        units.floors(&T::as_f32(block), *alpha, hashes)
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
    /// rows; the result does not depend on the thread count. Checks on the way (while each
    /// block is in cache, so no extra pass over memory) that the rows have the model's
    /// dimension and only finite values; `input` names them in the error. `out.len()` must
    /// be `rows.len() * L`.
    pub fn hash_into<T: Element>(
        &self,
        rows: Rows<'_, T>,
        out: &mut [i64],
        input: &'static str,
    ) -> Result<()> {
        let tables = self.params.num_hash_tables;
        self.hash_map_into(rows, out, tables, input, |h, o| o.copy_from_slice(h))
    }

    /// [`hash_into`](Self::hash_into), but each row's `L` hash values go through `f` to
    /// the row's `width` values of `out` (`out.len()` must be `rows.len() * width`). The
    /// hash values of only one block of rows per thread exist at a time.
    pub fn hash_map_into<T: Element, U: Send>(
        &self,
        rows: Rows<'_, T>,
        out: &mut [U],
        width: usize,
        input: &'static str,
        f: impl Fn(&[i64], &mut [U]) + Sync,
    ) -> Result<()> {
        let (dim, tables) = (self.params.dim, self.params.num_hash_tables);
        if rows.dim() != dim {
            return Err(ErrorKind::DimensionMismatch {
                expected: dim,
                got: rows.dim(),
            }
            .into());
        }
        assert!(
            width > 0 && out.len() == rows.len() * width,
            "output sized n x width"
        );
        let first_bad = rows
            .as_slice()
            .par_chunks(dim * BLOCK_ROWS)
            .zip(out.par_chunks_mut(width * BLOCK_ROWS))
            .enumerate()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(wide, hashes), (b, (block, outs))| {
                    hashes.resize(block.len() / dim * tables, 0);
                    // A projection that is not finite without a value that is not: an `f32`
                    // overflow, whose saturated hash values are as good as any.
                    let bad = match self.hash_block(block, hashes, wide) {
                        true => None,
                        false => block.iter().position(|v| !v.is_finite()),
                    };
                    if bad.is_none() {
                        for (h, o) in hashes
                            .chunks_exact(tables)
                            .zip(outs.chunks_exact_mut(width))
                        {
                            f(h, o);
                        }
                    }
                    bad.map(|at| b * dim * BLOCK_ROWS + at)
                },
            )
            .flatten()
            .min();
        match first_bad {
            None => Ok(()),
            Some(at) => Err(crate::kernels::rows::non_finite(input, at, dim)),
        }
    }

    /// [`hash_into`](Self::hash_into) into a new `n x L` vector.
    pub fn hash<T: Element>(&self, rows: Rows<'_, T>, input: &'static str) -> Result<Vec<i64>> {
        let mut out = vec![0i64; rows.len() * self.params.num_hash_tables];
        self.hash_into(rows, &mut out, input)?;
        Ok(out)
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
        let got = h.hash(Rows::new(&x, 3).unwrap(), "x").unwrap();
        for (r, row) in x.chunks(3).enumerate() {
            for (t, u) in h.unit_vectors().chunks(3).enumerate() {
                let dot: f64 = u.iter().zip(row).map(|(a, b)| a * b).sum();
                assert_eq!(got[r * 4 + t], (dot * 2.0).floor() as i64);
            }
        }
    }

    /// Rows of `f32` values in about [-5, 5], not a multiple of the block or row group.
    fn sample_rows(n: usize, dim: usize) -> Vec<f32> {
        (0..n * dim)
            .map(|i| ((i * 7919) % 1000) as f32 / 97.0 - 5.0)
            .collect()
    }

    #[test]
    fn f32_arithmetic_is_one_fma_chain_per_projection() {
        // 21 projections (not a multiple of the kernel's panel), 37 dims, 130 rows (not a
        // multiple of the block or of the row group).
        let (dim, n, tables) = (37, 130, 21);
        let h = hasher(dim, 0.7, tables, -5).with_arithmetic(Arithmetic::F32);
        assert_eq!(h.arithmetic(), Arithmetic::F32);
        let x = sample_rows(n, dim);
        let got = h.hash(Rows::new(&x, dim).unwrap(), "x").unwrap();
        let alpha = (1.0 / 0.7f64) as f32;
        let mut differs_from_spark = 0;
        let spark = hasher(dim, 0.7, tables, -5)
            .hash(Rows::new(&x, dim).unwrap(), "x")
            .unwrap();
        for (r, row) in x.chunks(dim).enumerate() {
            for (t, u) in h.unit_vectors().chunks(dim).enumerate() {
                let mut dot = 0.0f32;
                for (a, b) in row.iter().zip(u) {
                    dot = a.mul_add(*b as f32, dot);
                }
                let want = (alpha * dot).floor() as i64;
                assert_eq!(got[r * tables + t], want, "row {r}, projection {t}");
                differs_from_spark += usize::from(want != spark[r * tables + t]);
            }
        }
        // Both are floors of nearly the same value: they may differ only at a boundary.
        assert!(differs_from_spark <= 2, "{differs_from_spark} differ");
    }

    #[test]
    fn scaled_projections_floor_to_the_hashes() {
        let (dim, n, tables) = (37, 40, 9);
        let x = sample_rows(n, dim);
        for arithmetic in [Arithmetic::Spark, Arithmetic::F32] {
            let h = hasher(dim, 0.3, tables, 3).with_arithmetic(arithmetic);
            let hashes = h.hash(Rows::new(&x, dim).unwrap(), "x").unwrap();
            for (r, row) in x.chunks(dim).enumerate() {
                let floors: Vec<i64> = h
                    .scaled_projections(row)
                    .iter()
                    .map(|s| s.floor() as i64)
                    .collect();
                assert_eq!(
                    floors,
                    hashes[r * tables..(r + 1) * tables],
                    "{arithmetic:?}"
                );
            }
        }
    }

    #[test]
    fn hash_map_into_maps_each_rows_hashes() {
        let (dim, n, tables) = (5, 150, 3);
        let x = sample_rows(n, dim);
        let h = hasher(dim, 0.5, tables, 1);
        let rows = Rows::new(&x, dim).unwrap();
        let hashes = h.hash(rows, "x").unwrap();
        let mut sums = vec![0i64; n];
        h.hash_map_into(rows, &mut sums, 1, "x", |hs, out| out[0] = hs.iter().sum())
            .unwrap();
        for r in 0..n {
            assert_eq!(
                sums[r],
                hashes[r * tables..(r + 1) * tables].iter().sum::<i64>()
            );
        }
    }

    #[test]
    fn f32_and_f64_rows_hash_alike() {
        let x32 = sample_rows(200, 37);
        let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        for arithmetic in [Arithmetic::Spark, Arithmetic::F32] {
            let h = hasher(37, 0.7, 5, -5).with_arithmetic(arithmetic);
            assert_eq!(
                h.hash(Rows::new(&x32, 37).unwrap(), "x").unwrap(),
                h.hash(Rows::new(&x64, 37).unwrap(), "x").unwrap(),
                "{arithmetic:?}"
            );
        }
    }

    #[test]
    fn rejects_wrong_dim_and_non_finite_values() {
        for arithmetic in [Arithmetic::Spark, Arithmetic::F32] {
            rejects_in(hasher(3, 1.0, 2, 0).with_arithmetic(arithmetic));
        }
    }

    fn rejects_in(h: BrpHasher) {
        let mut x = vec![0.5f32; 3 * 500];
        assert!(h.hash(Rows::new(&x, 3).unwrap(), "x").is_ok());
        x[3 * 321 + 2] = f32::NAN;
        x[3 * 400] = f32::INFINITY;
        let err = h.hash(Rows::new(&x, 3).unwrap(), "vectors").unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::NonFinite {
                input: "vectors",
                row: 321,
                col: 2
            }
        ));
        let err = h
            .hash(Rows::new(&x[..6], 2).unwrap(), "vectors")
            .unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::DimensionMismatch {
                expected: 3,
                got: 2
            }
        ));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_dot_is_bit_identical() {
        if !crate::kernels::cpu::has_avx2_fma() {
            return;
        }
        for len in [1, 7, 8, 9, 16, 100, 128, 131] {
            let a: Vec<f64> = (0..len)
                .map(|i| ((i * 7919) % 1013) as f64 / 77.0 - 6.0)
                .collect();
            let b: Vec<f64> = (0..len)
                .map(|i| ((i * 104729) % 997) as f64 / 31.0 - 15.0)
                .collect();
            // SAFETY: AVX2 and FMA are present (checked above).
            let fast = unsafe { spark_dots_avx2([&a, &b, &a, &b], &b) };
            let want = [
                spark_dot(&a, &b),
                spark_dot(&b, &b),
                spark_dot(&a, &b),
                spark_dot(&b, &b),
            ];
            assert_eq!(fast.map(f64::to_bits), want.map(f64::to_bits), "len {len}");
        }
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
