//! Sign sketches: a few hundred bits per row that rank k-NN candidates before any exact
//! distance is computed.
//!
//! Bit `j` of a row's sketch is the sign of `<x - c, p_j>` for a Gaussian direction `p_j`
//! and a centre `c` (Charikar's "SimHash", 2002). Two rows differ in a bit with probability
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

use crate::cpu::multiversion;
use crate::error::{Error, Result};
use crate::rng::JavaRandom;
use crate::rows::{Element, Rows};
use crate::tile::{PackedCols, PackedRows, ROW_GROUP};
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
    /// Draw `bits` planes from `seed` and centre them on `centre` (`dim` values).
    pub fn draw(dim: usize, bits: usize, seed: i64, centre: &[f32]) -> Result<Self> {
        check_bits(bits)?;
        let mut rng = JavaRandom::new(seed.wrapping_add(SEED_SALT));
        let mut stored = centre.to_vec();
        stored.extend((0..bits * dim).map(|_| rng.next_gaussian() as f32));
        Self::from_stored(dim, bits, stored)
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
                || (PackedRows::default(), Vec::new()),
                |(packed, dots), (block, out)| {
                    let first = block * BLOCK_ROWS;
                    let n = out.len() / words;
                    packed.fill(rows, first..first + n, self.dim);
                    let padded = n.div_ceil(ROW_GROUP) * ROW_GROUP;
                    dots.clear();
                    dots.resize(padded * self.bits, 0.0f32);
                    f32::tile_dots(packed, &self.planes, 0..self.planes.panels(), dots);
                    for (r, sketch) in out.chunks_exact_mut(words).enumerate() {
                        let row = &dots[r * self.bits..(r + 1) * self.bits];
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

/// Hamming distances of `words`-word sketches, appended to `out`. Inlined into
/// [`hamming_into`] with `words` a constant for the common sizes, so the loop unrolls into a
/// few vector instructions per row.
// Plain loops, not iterator adapters: adapters are separate generic functions that would be
// compiled without the POPCNT instruction `hamming_into` is built for.
#[inline(always)]
fn hamming_rows(query: &[u64], sketches: &[u64], words: usize, rows: &[u32], out: &mut Vec<u16>) {
    let query = &query[..words];
    out.reserve(rows.len());
    for &r in rows {
        let s = &sketches[r as usize * words..][..words];
        let mut d = 0u32;
        for w in 0..words {
            d += (query[w] ^ s[w]).count_ones();
        }
        out.push(d as u16);
    }
}

multiversion! {
    /// Hamming distance from `query` to the sketch of each row in `rows` (`sketches` holds
    /// `query.len()` words per row), appended to `out`.
    fn hamming_into(query: &[u64], sketches: &[u64], rows: &[u32], out: &mut Vec<u16>) {
        match query.len() {
            4 => hamming_rows(query, sketches, 4, rows, out),
            8 => hamming_rows(query, sketches, 8, rows, out),
            words => hamming_rows(query, sketches, words, rows, out),
        }
    }
}

std::thread_local! {
    /// Per-thread scratch of [`screen`]: distances, a histogram of them, rows at the cut.
    static SCRATCH: std::cell::RefCell<(Vec<u16>, Vec<u32>, Vec<u32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// Keep the `keep` rows of `rows` whose sketches are nearest to `query` in Hamming
/// distance (ties: the smaller rows); the survivors keep their order, except that those
/// at the largest kept distance come last. Linear: a histogram of the distances gives the
/// cut, no sort of the candidates.
pub fn screen(rows: &mut Vec<u32>, sketches: &[u64], query: &[u64], keep: usize) {
    if rows.len() <= keep {
        return;
    }
    SCRATCH.with_borrow_mut(|(dist, counts, at_cut)| {
        dist.clear();
        hamming_into(query, sketches, rows, dist);
        counts.clear();
        counts.resize(query.len() * 64 + 1, 0);
        for &d in dist.iter() {
            counts[d as usize] += 1;
        }
        // The cut: the smallest distance at which `keep` rows are reached.
        let (mut below, mut cut) = (0usize, 0u16);
        for (d, &c) in counts.iter().enumerate() {
            if below + c as usize >= keep {
                cut = d as u16;
                break;
            }
            below += c as usize;
        }
        at_cut.clear();
        let mut i = 0;
        rows.retain(|&r| {
            let d = dist[i];
            i += 1;
            if d == cut {
                at_cut.push(r);
            }
            d < cut
        });
        let room = keep - below;
        at_cut.select_nth_unstable(room - 1);
        rows.extend_from_slice(&at_cut[..room]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::uniform_rows;

    #[test]
    fn bits_are_signs_about_the_centre() {
        let dim = 19;
        let data = uniform_rows(70, dim, 3, 2.0);
        let centre: Vec<f32> = (0..dim).map(|j| j as f32 * 0.01).collect();
        let s = Sketcher::draw(dim, 128, 7, &centre).unwrap();
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
    fn screen_keeps_the_nearest() {
        // One-word sketches whose distance to the zero query is the row's popcount.
        let sketches: Vec<u64> = vec![0b111, 0b1, 0, 0b11, 0b1, 0xFF];
        let mut rows: Vec<u32> = vec![5, 0, 1, 2, 3, 4];
        screen(&mut rows, &sketches, &[0], 3);
        // Distances: 5->8, 0->3, 1->1, 2->0, 3->2, 4->1; the three nearest are 2, 1, 4.
        rows.sort();
        assert_eq!(rows, vec![1, 2, 4]);
        // A tie at the cut keeps the smaller rows.
        let mut rows: Vec<u32> = vec![4, 3, 1, 2];
        screen(&mut rows, &sketches, &[0], 2);
        rows.sort();
        assert_eq!(rows, vec![1, 2]);
        let mut few: Vec<u32> = vec![5, 0];
        screen(&mut few, &sketches, &[0], 3);
        assert_eq!(few, vec![5, 0], "fewer rows than kept: untouched");
    }

    #[test]
    fn rejects_bad_sizes() {
        for bits in [0, 63, 100, MAX_BITS + 64] {
            assert!(check_bits(bits).is_err(), "{bits}");
        }
        assert!(Sketcher::from_stored(3, 64, vec![0.0; 10]).is_err());
    }
}
