//! Row-major matrices of `f32` or `f64` vectors, borrowed from any byte owner.
//!
//! The engine never copies the caller's vectors to work on them: a [`Rows`] is a
//! `&[T]` plus a dimension, whether the slice comes from a numpy array, a `Vec` or an mmap.

use crate::error::{Error, ErrorKind, Result};
use std::borrow::Cow;

/// The `NonFinite` error for the value at row-major position `at` of `input`.
pub(crate) fn non_finite(input: &'static str, at: usize, dim: usize) -> Error {
    ErrorKind::NonFinite {
        input,
        row: at / dim,
        col: at % dim,
    }
    .into()
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type the engine computes in: `f32` or `f64`.
///
/// Hashing and reported distances are always evaluated in `f64` (Spark's arithmetic);
/// the block kernels that only *screen* candidates run in `T` itself.
pub trait Element:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + PartialOrd
    + Default
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + 'static
{
    /// Machine epsilon of `T`, as `f64`, for error bounds of the screening kernels.
    const EPSILON: f64;
    /// Smallest positive normal value of `T`, as `f64` (below it precision is absolute).
    const MIN_NORMAL: f64;
    /// Widen to `f64` (exact for both types).
    fn to_f64(self) -> f64;
    /// Round an `f64` to `T`.
    fn from_f64(x: f64) -> Self;
    /// `self * a + b` with one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// Dot products of a block of rows (row-major, a multiple of `tile::ROW_GROUP` rows)
    /// against a packed block of columns; see [`crate::tile`]. Each type picks its own
    /// register blocking.
    fn tile_dots(
        rows: &[Self],
        dim: usize,
        b: &crate::tile::PackedCols<Self>,
        panels: std::ops::Range<usize>,
        out: &mut [Self],
    );
    /// Columns per packed panel for this type (one 2x256-bit register row).
    const PANEL: usize;
    /// The values as `f32` (what an index stores): borrowed when they already are.
    fn as_f32(values: &[Self]) -> Cow<'_, [f32]>;
    /// `distance::quick_sqdist`, with this type's fastest kernel.
    fn quick_sqdist(a: &[Self], b: &[Self]) -> f64;
}

/// Both impls differ only in the type, its panel width and its kernel build.
macro_rules! impl_element {
    ($t:ident, $panel:expr, $dots:path, $as_f32:expr, $quick:path) => {
        impl Element for $t {
            const EPSILON: f64 = $t::EPSILON as f64;
            const MIN_NORMAL: f64 = $t::MIN_POSITIVE as f64;
            const PANEL: usize = $panel;
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                $t::mul_add(self, a, b)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            fn tile_dots(
                rows: &[Self],
                dim: usize,
                b: &crate::tile::PackedCols<Self>,
                panels: std::ops::Range<usize>,
                out: &mut [Self],
            ) {
                $dots(rows, dim, b, panels, out)
            }
            fn as_f32(values: &[Self]) -> Cow<'_, [f32]> {
                $as_f32(values)
            }
            #[inline(always)]
            fn quick_sqdist(a: &[Self], b: &[Self]) -> f64 {
                $quick(a, b)
            }
        }
    };
}

impl_element!(
    f32,
    16,
    crate::tile::dots_f32,
    Cow::Borrowed,
    crate::distance::quick_sqdist_f32
);
impl_element!(
    f64,
    8,
    crate::tile::dots_f64,
    |v: &[f64]| Cow::Owned(v.iter().map(|&x| x as f32).collect()),
    crate::distance::quick_sqdist
);

/// A borrowed row-major matrix: `len() * dim()` elements, row `i` at `data[i*dim..(i+1)*dim]`.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a, T> {
    data: &'a [T],
    dim: usize,
}

impl<'a, T: Element> Rows<'a, T> {
    /// View `data` as rows of `dim` elements. Fails when `dim == 0` or the length is not a
    /// multiple of `dim`.
    pub fn new(data: &'a [T], dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid("dim", "vectors need at least one dimension"));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::invalid(
                "vectors",
                format!("{} values do not split into rows of {dim}", data.len()),
            ));
        }
        Ok(Rows { data, dim })
    }

    /// Number of rows.
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// True when there are no rows.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Length of each row.
    #[inline]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// All values, row-major.
    #[inline]
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }

    /// `NonFinite` naming `input` and its first NaN or infinite value, if it has one.
    pub fn check_finite(&self, input: &'static str) -> Result<()> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(at) => Err(non_finite(input, at, self.dim)),
        }
    }
}

/// Deterministic test rows: `n x dim` values uniform in `[-span/2, span/2)`.
#[cfg(test)]
pub(crate) fn uniform_rows(n: usize, dim: usize, seed: u64, span: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n * dim)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * span
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_validation() {
        let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let rows = Rows::new(&data, 3).unwrap();
        assert_eq!((rows.len(), rows.dim()), (2, 3));
        assert_eq!(rows.row(1), &[4.0, 5.0, 6.0]);
        assert!(Rows::new(&data, 4).is_err());
        assert!(Rows::new(&data, 0).is_err());
    }

    #[test]
    fn check_finite_names_the_first_bad_value() {
        let mut data = vec![0.5f32; 3 * 50_000];
        assert!(Rows::new(&data, 3).unwrap().check_finite("x").is_ok());
        data[3 * 40_000 + 1] = f32::NEG_INFINITY; // a later bad value
        data[3 * 30_000 + 2] = f32::NAN;
        let err = Rows::new(&data, 3).unwrap().check_finite("x").unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::NonFinite {
                    input: "x",
                    row: 30_000,
                    col: 2
                }
            ),
            "{err}"
        );
    }
}
