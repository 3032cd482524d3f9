//! Sign sketches: a few hundred bits per row that rank k-NN candidates before any exact
//! distance is computed.
//!
//! Bit `j` of a row's sketch is the sign of `<x - c, p_j>` for a random direction `p_j`
//! ([`planes`]) and a centre `c` (Charikar's "SimHash", 2002). Two rows differ in a bit with probability
//! `angle(x - c, y - c) / pi`, so the Hamming distance between sketches ranks candidates
//! roughly as their angle about the centre does. Dong, Wang, Josephson, Charikar and Li
//! ("Modeling LSH for performance tuning", CIKM 2008) filter LSH candidates with such bit
//! sketches; we do the same: a query's candidates (the rows of its buckets) are ranked by
//! Hamming distance, and only the nearest few get an exact distance. That trades a little
//! recall for reading 64 bytes per candidate instead of a whole vector, which is what lets
//! coarse buckets (high recall, many candidates) answer quickly.
//!
//! The centre is the mean of the first rows the index was built from: embeddings of text
//! share a large common component, and without centring most bits would be the same for
//! every row. Answers never depend on it being the true mean: exact distances decide.

use super::planes;
use crate::error::{Error, Result};
use crate::hash::rng::JavaRandom;
use crate::kernels::tile::{PackedCols, dots_of_rows};
use crate::kernels::{Element, Rows};
use rayon::prelude::*;

/// Rows whose sketches are computed together (one kernel call).
const BLOCK_ROWS: usize = 64;

/// Largest sketch, in bits (a Hamming distance then fits a `u16`).
pub const MAX_BITS: usize = 4096;

/// Offset of the planes' generator seed from the index seed, so the planes are not the
/// bucket projections drawn again.
const SEED_SALT: i64 = 0x5EED_5EED;

/// Computes sketches of `bits` bits for rows of `dim` values.
#[derive(Debug, Clone)]
pub struct Sketcher {
    bits: usize,
    dim: usize,
    /// The centre, then the `bits` planes, row-major (what the index stores).
    stored: Vec<f32>,
    /// The planes packed for the block kernel.
    planes: PackedCols<f32>,
    /// `<c, p_j>` per plane: a row's bit is `<x, p_j> > offset[j]`.
    offsets: Vec<f32>,
}

/// Check a sketch size: a positive multiple of 64, at most [`MAX_BITS`].
pub fn check_bits(bits: usize) -> Result<()> {
    if bits == 0 || !bits.is_multiple_of(64) || bits > MAX_BITS {
        return Err(Error::invalid(
            "sketch_bits",
            format!("must be 0 (no sketches) or a multiple of 64 up to {MAX_BITS}, got {bits}"),
        ));
    }
    Ok(())
}

impl Sketcher {
    /// Fit a sketcher of `bits` bits to `sample` (the first rows an index is built from):
    /// its mean is the centre, and the planes ([`planes`]) are drawn from `seed`.
    pub fn fit(sample: Rows<'_, f32>, bits: usize, seed: i64) -> Result<Self> {
        check_bits(bits)?;
        let mut rng = JavaRandom::new(seed.wrapping_add(SEED_SALT));
        let (centre, planes) = planes::fit(sample, bits, &mut rng);
        let stored = centre.iter().chain(&planes).map(|&v| v as f32).collect();
        Self::from_stored(sample.dim(), bits, stored)
    }

    /// Rebuild a sketcher from what [`stored`](Self::stored) returned.
    pub fn from_stored(dim: usize, bits: usize, stored: Vec<f32>) -> Result<Self> {
        check_bits(bits)?;
        if dim == 0 || stored.len() != (bits + 1) * dim {
            return Err(Error::invalid(
                "sketch planes",
                format!(
                    "{} values for {bits} planes of dimension {dim} and a centre",
                    stored.len()
                ),
            ));
        }
        let (centre, planes) = stored.split_at(dim);
        let offsets = planes
            .chunks_exact(dim)
            .map(|p| {
                centre
                    .iter()
                    .zip(p)
                    .map(|(&c, &v)| f64::from(c) * f64::from(v))
                    .sum::<f64>() as f32
            })
            .collect();
        let mut packed = PackedCols::default();
        packed.fill(Rows::new(planes, dim)?, 0..bits, dim);
        Ok(Sketcher {
            bits,
            dim,
            planes: packed,
            offsets,
            stored,
        })
    }

    /// The centre, then the planes, row-major: `(bits + 1) x dim` values.
    pub fn stored(&self) -> &[f32] {
        &self.stored
    }

    /// `u64` words per sketch.
    pub fn words(&self) -> usize {
        self.bits / 64
    }

    /// The sketches of `rows`, `words()` words per row, in parallel over blocks of rows.
    pub fn sketch<T: Element>(&self, rows: Rows<'_, T>) -> Vec<u64> {
        debug_assert_eq!(rows.dim(), self.dim);
        let narrow = T::as_f32(rows.as_slice());
        let rows = Rows::new(&narrow, self.dim).expect("same shape as the input");
        let words = self.words();
        let mut out = vec![0u64; rows.len() * words];
        out.par_chunks_mut(BLOCK_ROWS * words)
            .enumerate()
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(pad, dots), (block, out)| {
                    let first = block * BLOCK_ROWS * self.dim;
                    let values = &rows.as_slice()[first..first + out.len() / words * self.dim];
                    let block = Rows::new(values, self.dim).expect("whole rows");
                    let width = dots_of_rows(block, &self.planes, pad, dots);
                    for (r, sketch) in out.chunks_exact_mut(words).enumerate() {
                        let row = &dots[r * width..r * width + self.bits];
                        for (w, word) in sketch.iter_mut().enumerate() {
                            *word = (0..64).fold(0u64, |acc, b| {
                                let j = w * 64 + b;
                                acc | (u64::from(row[j] > self.offsets[j]) << b)
                            });
                        }
                    }
                },
            );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::rows::uniform_rows;

    #[test]
    fn bits_are_signs_about_the_centre() {
        let dim = 19;
        let data = uniform_rows(70, dim, 3, 2.0);
        let s = Sketcher::fit(Rows::new(&data[..40 * dim], dim).unwrap(), 128, 7).unwrap();
        let centre = &s.stored()[..dim];
        let got = s.sketch(Rows::new(&data, dim).unwrap());
        assert_eq!(got.len(), 70 * 2);
        let planes = &s.stored()[dim..];
        for r in 0..70 {
            let x = &data[r * dim..(r + 1) * dim];
            for j in 0..128 {
                let p = &planes[j * dim..(j + 1) * dim];
                let v: f64 = (0..dim)
                    .map(|i| (f64::from(x[i]) - f64::from(centre[i])) * f64::from(p[i]))
                    .sum();
                let bit = got[r * 2 + j / 64] >> (j % 64) & 1 == 1;
                // Rounding may flip a bit only when the projection is nearly zero.
                assert!(bit == (v > 0.0) || v.abs() < 1e-4, "row {r} bit {j}: {v}");
            }
        }
        // Rebuilt from what an index stores, the sketches are the same.
        let again = Sketcher::from_stored(dim, 128, s.stored().to_vec()).unwrap();
        assert_eq!(again.sketch(Rows::new(&data, dim).unwrap()), got);
    }

    #[test]
    fn rejects_bad_sizes() {
        for bits in [0, 63, 100, MAX_BITS + 64] {
            assert!(check_bits(bits).is_err(), "{bits}");
        }
        assert!(Sketcher::from_stored(3, 64, vec![0.0; 10]).is_err());
    }
}
