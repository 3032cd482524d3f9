//! Row-major matrices of `f32` or `f64` vectors, borrowed from any byte owner.
//!
//! The engine never copies the caller's vectors to work on them: a [`Rows`] is a
//! `&[T]` plus a dimension, whether the slice comes from a numpy array, a `Vec` or an mmap.

use super::element::Element;
use crate::error::{Error, ErrorKind, Result};

/// The `NonFinite` error for the value at row-major position `at` of `input`.
pub(crate) fn non_finite(input: &'static str, at: usize, dim: usize) -> Error {
    ErrorKind::NonFinite {
        input,
        row: at / dim,
        col: at % dim,
    }
    .into()
}

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
