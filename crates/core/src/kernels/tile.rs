//! Block distance kernel: squared distances between a block of rows and a block of
//! columns, through dot products (`|a|² + |b|² - 2 a·b`) computed like a small GEMM.
//!
//! This kernel only *screens*: its results carry rounding error, bounded by [`Tile::margin`].
//! Every pair it lets through is re-measured with Spark's exact sequential distance
//! ([`crate::kernels::distance::spark_sqdist`]) before anything is reported, so answers do not depend
//! on how this kernel rounds.
//!
//! Layout: rows are packed row-major in groups of [`ROW_GROUP`]; columns are packed in
//! panels of `T::PANEL` columns, dimension-major (`panel[k * PANEL + j]`), zero-padded, so
//! the inner loop is `PANEL`-wide FMAs against one broadcast row value.
//!
//! Each dot product is one chain of fused multiply-adds in dimension order, whatever the
//! CPU. Sketch bits (signs of such dots) are stored by indexes, so that order stays fixed.

use crate::kernels::cpu::multiversion;
use crate::kernels::{Element, Rows};
use std::ops::Range;

/// Rows per register block of the kernel.
pub const ROW_GROUP: usize = 4;

/// Rows packed for the kernel (row-major, padded with zero rows to a multiple of [`ROW_GROUP`]).
#[derive(Debug, Clone, Default)]
pub struct PackedRows<T> {
    data: Vec<T>,
    sqnorm: Vec<f64>,
    dim: usize,
}

/// Columns packed in panels for the kernel (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct PackedCols<T> {
    data: Vec<T>,
    sqnorm: Vec<f64>,
    dim: usize,
}

/// `|x|²`, summed in `f64`.
pub(crate) fn sqnorm<T: Element>(x: &[T]) -> f64 {
    x.iter().map(|v| v.to_f64() * v.to_f64()).sum()
}

impl<T: Element> PackedRows<T> {
    /// Pack the first `dims` values of `src` rows `ids` (reusing this buffer's allocation).
    /// Distances over a prefix of the dimensions are lower bounds of the full ones, so a
    /// join can screen on a prefix.
    pub fn fill(
        &mut self,
        src: Rows<'_, T>,
        ids: impl ExactSizeIterator<Item = usize>,
        dims: usize,
    ) {
        let dim = dims.min(src.dim());
        let n = ids.len();
        let padded = n.div_ceil(ROW_GROUP) * ROW_GROUP;
        self.dim = dim;
        self.data.clear();
        self.sqnorm.clear();
        for i in ids {
            let row = &src.row(i)[..dim];
            self.data.extend_from_slice(row);
            self.sqnorm.push(sqnorm(row));
        }
        self.data.resize(padded * dim, T::default());
    }

    /// Number of real (unpadded) rows.
    pub fn len(&self) -> usize {
        self.sqnorm.len()
    }

    /// True when no rows are packed.
    pub fn is_empty(&self) -> bool {
        self.sqnorm.is_empty()
    }
}

impl<T: Element> PackedCols<T> {
    /// Pack the first `dims` values of `src` rows `ids` as columns (reusing this buffer's
    /// allocation).
    pub fn fill(
        &mut self,
        src: Rows<'_, T>,
        ids: impl ExactSizeIterator<Item = usize>,
        dims: usize,
    ) {
        let dim = dims.min(src.dim());
        let n = ids.len();
        let panels = n.div_ceil(T::PANEL);
        self.dim = dim;
        self.sqnorm.clear();
        self.data.clear();
        self.data.resize(panels * T::PANEL * dim, T::default());
        for (c, i) in ids.enumerate() {
            let row = &src.row(i)[..dim];
            let (panel, j) = (c / T::PANEL, c % T::PANEL);
            let base = panel * T::PANEL * dim + j;
            for (k, v) in row.iter().enumerate() {
                self.data[base + k * T::PANEL] = *v;
            }
            self.sqnorm.push(sqnorm(row));
        }
    }

    /// Number of real (unpadded) columns.
    pub fn len(&self) -> usize {
        self.sqnorm.len()
    }

    /// True when no columns are packed.
    pub fn is_empty(&self) -> bool {
        self.sqnorm.is_empty()
    }

    /// The largest squared norm among the packed columns (0 when empty).
    pub fn max_sqnorm(&self) -> f64 {
        self.sqnorm.iter().copied().fold(0.0, f64::max)
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.data.len() / (T::PANEL * self.dim.max(1))
    }
}

#[inline(always)]
fn dots_body<T: Element, const NR: usize>(
    rows: &[T],
    dim: usize,
    packed: &[T],
    panels: Range<usize>,
    out: &mut [T],
) {
    let width = panels.len() * NR;
    for (p_out, p) in panels.enumerate() {
        let panel = &packed[p * NR * dim..(p + 1) * NR * dim];
        for (g, rows) in rows.chunks_exact(ROW_GROUP * dim).enumerate() {
            let (r0, rest) = rows.split_at(dim);
            let (r1, rest) = rest.split_at(dim);
            let (r2, r3) = rest.split_at(dim);
            let mut acc = [[T::default(); NR]; ROW_GROUP];
            for ((((bk, &x0), &x1), &x2), &x3) in
                panel.chunks_exact(NR).zip(r0).zip(r1).zip(r2).zip(r3)
            {
                for j in 0..NR {
                    acc[0][j] = x0.mul_add(bk[j], acc[0][j]);
                    acc[1][j] = x1.mul_add(bk[j], acc[1][j]);
                    acc[2][j] = x2.mul_add(bk[j], acc[2][j]);
                    acc[3][j] = x3.mul_add(bk[j], acc[3][j]);
                }
            }
            for (r, lane) in acc.iter().enumerate() {
                let at = (g * ROW_GROUP + r) * width + p_out * NR;
                out[at..at + NR].copy_from_slice(lane);
            }
        }
    }
}

multiversion! {
    /// [`dots_body`] for `f32` (16-column panels).
    pub(crate) fn dots_f32(rows: &[f32], dim: usize, packed: &[f32], panels: Range<usize>, out: &mut [f32]) {
        dots_body::<f32, { <f32 as Element>::PANEL }>(rows, dim, packed, panels, out)
    }
}

multiversion! {
    /// [`dots_body`] for `f64` (8-column panels).
    pub(crate) fn dots_f64(rows: &[f64], dim: usize, packed: &[f64], panels: Range<usize>, out: &mut [f64]) {
        dots_body::<f64, { <f64 as Element>::PANEL }>(rows, dim, packed, panels, out)
    }
}

/// Dot products of `rows` (row-major, `dim` values each, a multiple of [`ROW_GROUP`]
/// rows) with the columns in `panels`: `out[r * width + c]`, `width = panels.len() *
/// T::PANEL` (returned). Each is `sum_k a[r][k] * b[k][c]` as one FMA chain in dimension
/// order (see the module docs).
fn dots_raw<T: Element>(
    rows: &[T],
    dim: usize,
    b: &PackedCols<T>,
    panels: Range<usize>,
    out: &mut Vec<T>,
) -> usize {
    let width = panels.len() * T::PANEL;
    out.clear();
    out.resize(rows.len() / dim * width, T::default());
    T::tile_dots(rows, dim, &b.data, panels, out);
    width
}

/// [`dots_raw`] of consecutive rows that need no norms (sketching) against every
/// panel: in place when their count is a multiple of [`ROW_GROUP`], else copied into `pad`
/// with zero rows after them.
pub(crate) fn dots_of_rows<T: Element>(
    rows: Rows<'_, T>,
    b: &PackedCols<T>,
    pad: &mut Vec<T>,
    out: &mut Vec<T>,
) -> usize {
    let (values, dim) = (rows.as_slice(), rows.dim());
    if rows.len().is_multiple_of(ROW_GROUP) {
        return dots_raw(values, dim, b, 0..b.panels(), out);
    }
    pad.clear();
    pad.extend_from_slice(values);
    pad.resize(
        rows.len().div_ceil(ROW_GROUP) * ROW_GROUP * dim,
        T::default(),
    );
    dots_raw(pad, dim, b, 0..b.panels(), out)
}

/// Scratch for evaluating row blocks against column panels; one per worker thread.
#[derive(Debug, Default)]
pub struct Tile<T> {
    dots: Vec<T>,
    loose_norms: Vec<T>,
}

/// Columns tested together by the coarse (vectorisable) pass of [`Tile::for_each_within`].
const COARSE: usize = 16;

impl<T: Element> Tile<T> {
    /// A bound on the kernel's error for one pair:
    /// `|approx - exact| <= margin(dim) * (|a|² + |b|²) + underflow(dim)`.
    /// Each dot product of `dim` terms is off by at most `dim` units in the last place of
    /// `|a||b| <= (|a|² + |b|²) / 2` (Higham, Accuracy and Stability, 3.1), each norm
    /// likewise; doubled for safety.
    pub fn margin(dim: usize) -> f64 {
        4.0 * (dim as f64 + 4.0) * T::EPSILON
    }

    /// The absolute part of the error bound: products below `T`'s normal range lose their
    /// relative precision (each by at most the smallest normal number).
    pub fn underflow(dim: usize) -> f64 {
        4.0 * (dim as f64 + 4.0) * T::MIN_NORMAL
    }

    /// Compute approximate squared distances of every packed row against the columns in
    /// `panels` and call `visit(row, col, approx_sqdist)` for each real pair whose lower
    /// bound (`approx` less the error bound) is at most the row's limit. Each row starts at
    /// `limit` (`f64::INFINITY` visits all); `visit` returns the row's limit from then on,
    /// so a k-NN heap can tighten it as it fills. `row` indexes the packed rows, `col` the
    /// packed columns.
    // `!(x > limit)` rather than `x <= limit`: a NaN (overflowed dot product) must pass.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub fn for_each_within(
        &mut self,
        a: &PackedRows<T>,
        b: &PackedCols<T>,
        panels: Range<usize>,
        limit: f64,
        mut visit: impl FnMut(usize, usize, f64) -> f64,
    ) {
        let first_col = panels.start * T::PANEL;
        let width = dots_raw(&a.data, a.dim, b, panels, &mut self.dots);
        let cols = b.len().saturating_sub(first_col).min(width);
        let (margin, underflow) = (Self::margin(a.dim), Self::underflow(a.dim));
        let col_norms = &b.sqnorm[first_col..first_col + cols];
        // Coarse pass in `T`, over COARSE columns at a time: `(|a|² + |b|²)(1 - margin/2) -
        // 2 a·b <= limit` is looser than the exact test below by `margin/2 * (|a|² + |b|²)`,
        // far more than its own rounding, so it never rejects a pair the exact test keeps.
        // NaN (an overflowed dot product) counts as a hit.
        let loose = 1.0 - margin / 2.0;
        self.loose_norms.clear();
        self.loose_norms
            .extend(col_norms.iter().map(|&nb| T::from_f64(nb * loose)));
        for (i, &na) in a.sqnorm.iter().enumerate() {
            let dots = &self.dots[i * width..i * width + cols];
            let mut row_limit = limit + underflow;
            for (c, (loose_nb, chunk)) in self
                .loose_norms
                .chunks(COARSE)
                .zip(dots.chunks(COARSE))
                .enumerate()
            {
                let bound = T::from_f64(row_limit - na * loose);
                let hit = loose_nb
                    .iter()
                    .zip(chunk)
                    .fold(false, |hit, (&nb, &dot)| hit | !(nb - (dot + dot) > bound));
                if !hit {
                    continue;
                }
                for (j, &dot) in (c * COARSE..).zip(chunk) {
                    let sum = na + col_norms[j];
                    let approx = sum - 2.0 * dot.to_f64();
                    if !(approx - margin * sum > row_limit) {
                        row_limit = visit(i, first_col + j, approx) + underflow;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::rows::uniform_rows;

    #[test]
    fn screened_distances_bound_the_exact_ones() {
        let dim = 37;
        let (a, b) = (uniform_rows(11, dim, 1, 2.0), uniform_rows(45, dim, 2, 2.0));
        let (ra, rb) = (Rows::new(&a, dim).unwrap(), Rows::new(&b, dim).unwrap());
        let (mut pa, mut pb) = (PackedRows::default(), PackedCols::default());
        pa.fill(ra, [3usize, 0, 10, 7, 1].into_iter(), dim);
        pb.fill(rb, 0..45, dim);
        let mut tile = Tile::default();
        let mut seen = 0;
        tile.for_each_within(&pa, &pb, 0..pb.panels(), f64::INFINITY, |i, j, approx| {
            let row = [3usize, 0, 10, 7, 1][i];
            let exact: f64 = ra
                .row(row)
                .iter()
                .zip(rb.row(j))
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum();
            let bound = Tile::<f32>::margin(dim) * (pa.sqnorm[i] + pb.sqnorm[j])
                + Tile::<f32>::underflow(dim);
            assert!(
                (approx - exact).abs() <= bound,
                "pair ({row},{j}): {approx} vs {exact}"
            );
            seen += 1;
            f64::INFINITY
        });
        assert_eq!(
            seen,
            5 * 45,
            "infinite limit visits every real pair, no padding"
        );
        // A finite limit keeps every pair whose exact distance is within it.
        let limit = 20.0;
        let mut kept = 0;
        tile.for_each_within(&pa, &pb, 0..pb.panels(), limit, |_, _, _| {
            kept += 1;
            limit
        });
        let truly_within = [3usize, 0, 10, 7, 1]
            .iter()
            .flat_map(|&r| (0..45).map(move |j| (r, j)))
            .filter(|&(r, j)| {
                ra.row(r)
                    .iter()
                    .zip(rb.row(j))
                    .map(|(x, y)| ((x - y) as f64).powi(2))
                    .sum::<f64>()
                    <= limit
            })
            .count();
        assert!(kept >= truly_within && truly_within > 0);
    }
}
