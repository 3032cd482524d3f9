//! The `f32` projection kernel of [`crate::hash::Arithmetic::F32`]: dot products of rows
//! with an index's `L x k` unit vectors, and their scaled floors (the hash values).
//!
//! Each dot product is one chain of fused multiply-adds in dimension order, starting from
//! zero, whatever the CPU: that order *defines* `F32` hash values, which indexes store, so
//! changing it changes those indexes' keys. Only the register blocking is free.
//!
//! Layout: the unit vectors are packed in panels of 24, 16 or 8 columns (three, two or one
//! AVX2 register), dimension-major (`panel[k * width + j]`), zero-padded. Rows go two at a
//! time: 24 columns x 2 rows is six accumulators and one broadcast per row per dimension,
//! which on the machines measured ran ~20% faster per hash than the join's 16 x 4 tile
//! (whose second panel would be half padding for the common `L x k = 24`).

use crate::kernels::cpu::multiversion;

/// Unit vectors rounded to `f32`, packed for the kernel.
#[derive(Debug, Clone)]
pub(crate) struct Projections {
    data: Vec<f32>,
    /// Per panel: first column, width (24, 16 or 8) and offset into `data`.
    panels: Vec<(usize, usize, usize)>,
    dim: usize,
    cols: usize,
}

/// Rows projected together.
const ROWS: usize = 2;

impl Projections {
    /// Pack `unit` (row-major, `cols x dim`, already rounded to `f32`).
    pub(crate) fn new(unit: &[f32], dim: usize) -> Self {
        assert!(
            dim > 0 && unit.len().is_multiple_of(dim),
            "whole unit vectors"
        );
        let cols = unit.len() / dim;
        let (mut data, mut panels) = (Vec::new(), Vec::new());
        let mut first = 0;
        while first < cols {
            let width = match cols - first {
                17.. => 24,
                9..=16 => 16,
                _ => 8,
            };
            let offset = data.len();
            data.resize(offset + width * dim, 0.0);
            for c in first..(first + width).min(cols) {
                for (k, &v) in unit[c * dim..(c + 1) * dim].iter().enumerate() {
                    data[offset + k * width + (c - first)] = v;
                }
            }
            panels.push((first, width, offset));
            first += width;
        }
        Projections {
            data,
            panels,
            dim,
            cols,
        }
    }

    /// `out[r * cols + c] = <row r, unit c>` for `rows` (row-major, whole rows).
    pub(crate) fn dots(&self, rows: &[f32], out: &mut [f32]) {
        dots_f32(self, rows, out)
    }

    /// `out[r * cols + c] = floor(alpha * <row r, unit c>)` in `f32`, saturated to `i64` as
    /// `as` does; false if any scaled value is not finite.
    pub(crate) fn floors(&self, rows: &[f32], alpha: f32, out: &mut [i64]) -> bool {
        floors_f32(self, rows, alpha, out)
    }

    /// Call `emit(row, first_col, dots)` for every row and panel; `dots` holds the panel's
    /// real columns.
    #[inline(always)]
    fn each(&self, rows: &[f32], mut emit: impl FnMut(usize, usize, &[f32])) {
        let (dim, n) = (self.dim, rows.len() / self.dim);
        for g in (0..n).step_by(ROWS) {
            let r0 = &rows[g * dim..(g + 1) * dim];
            // An odd last row goes with itself; the copy's dots are dropped.
            let pair = g + 1 < n;
            let r1 = if pair {
                &rows[(g + 1) * dim..(g + 2) * dim]
            } else {
                r0
            };
            for &(first, width, offset) in &self.panels {
                let real = width.min(self.cols - first);
                let panel = &self.data[offset..offset + width * dim];
                let rows = (g, pair);
                match width {
                    24 => emit_pair(rows, first, real, &two_rows::<24>(r0, r1, panel), &mut emit),
                    16 => emit_pair(rows, first, real, &two_rows::<16>(r0, r1, panel), &mut emit),
                    _ => emit_pair(rows, first, real, &two_rows::<8>(r0, r1, panel), &mut emit),
                }
            }
        }
    }
}

/// Hand a row pair's dots to `emit` (the second row's only if it is a real row).
#[inline(always)]
fn emit_pair<const W: usize>(
    (g, pair): (usize, bool),
    first: usize,
    real: usize,
    acc: &[[f32; W]; ROWS],
    emit: &mut impl FnMut(usize, usize, &[f32]),
) {
    emit(g, first, &acc[0][..real]);
    if pair {
        emit(g + 1, first, &acc[1][..real]);
    }
}

/// Dot products of two rows with one panel of `W` columns: one FMA chain per pair.
#[inline(always)]
fn two_rows<const W: usize>(r0: &[f32], r1: &[f32], panel: &[f32]) -> [[f32; W]; ROWS] {
    let mut acc = [[0.0f32; W]; ROWS];
    for ((bk, &x0), &x1) in panel.chunks_exact(W).zip(r0).zip(r1) {
        for j in 0..W {
            acc[0][j] = x0.mul_add(bk[j], acc[0][j]);
            acc[1][j] = x1.mul_add(bk[j], acc[1][j]);
        }
    }
    acc
}

multiversion! {
    /// [`Projections::dots`] on the fastest build this CPU runs.
    fn dots_f32(p: &Projections, rows: &[f32], out: &mut [f32]) {
        let cols = p.cols;
        p.each(rows, |r, first, dots| {
            out[r * cols + first..][..dots.len()].copy_from_slice(dots);
        })
    }
}

multiversion! {
    /// [`Projections::floors`] on the fastest build this CPU runs.
    fn floors_f32(p: &Projections, rows: &[f32], alpha: f32, out: &mut [i64]) -> bool {
        let cols = p.cols;
        let mut finite = true;
        p.each(rows, |r, first, dots| {
            for (h, &d) in out[r * cols + first..][..dots.len()].iter_mut().zip(dots) {
                let s = alpha * d;
                finite &= s.abs() < f32::INFINITY;
                *h = s.floor() as i64;
            }
        });
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: one FMA chain per dot product, in dimension order, from zero.
    fn scalar_dot(x: &[f32], u: &[f32]) -> f32 {
        x.iter()
            .zip(u)
            .fold(0.0f32, |acc, (&a, &b)| a.mul_add(b, acc))
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_panel_shape_and_odd_row_counts_give_the_scalar_chain() {
        // Column counts that make panels of 24, 16 and 8, with and without padding; odd
        // and even row counts.
        let dim = 37;
        for cols in [1, 8, 9, 16, 17, 24, 25, 32, 40, 48, 50] {
            let unit = values(cols * dim, cols as u64);
            let p = Projections::new(&unit, dim);
            for n in [1, 2, 5, 6] {
                let rows = values(n * dim, 100 + n as u64);
                let mut dots = vec![f32::NAN; n * cols];
                p.dots(&rows, &mut dots);
                let mut floors = vec![i64::MIN; n * cols];
                assert!(p.floors(&rows, 2.5, &mut floors));
                for r in 0..n {
                    for c in 0..cols {
                        let want = scalar_dot(&rows[r * dim..][..dim], &unit[c * dim..][..dim]);
                        let at = r * cols + c;
                        assert_eq!(dots[at].to_bits(), want.to_bits(), "cols {cols} n {n}");
                        assert_eq!(floors[at], (2.5f32 * want).floor() as i64);
                    }
                }
            }
        }
    }

    #[test]
    fn floors_report_values_that_are_not_finite() {
        let dim = 4;
        let p = Projections::new(&values(3 * dim, 1), dim);
        let mut rows = values(3 * dim, 2);
        let mut out = vec![0i64; 3 * 3];
        assert!(p.floors(&rows, 1.0, &mut out));
        rows[2 * dim + 1] = f32::NAN;
        assert!(!p.floors(&rows, 1.0, &mut out));
        rows[2 * dim + 1] = 0.5;
        assert!(p.floors(&rows, 1.0, &mut out));
        let big: Vec<f32> = rows.iter().map(|v| v * 1e30).collect();
        assert!(!p.floors(&big, 1e30, &mut out), "an overflow to infinity");
    }
}
