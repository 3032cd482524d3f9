//! The element types the engine computes in (`f32`, `f64`) and the kernels each picks.
//!
//! A leaf: the trait names the kernels; `kernels/mod.rs` wires each type to its build of
//! them, so the kernels may be generic over [`Element`] without importing one another.

use std::borrow::Cow;

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
    /// against the panels of packed columns (`PackedCols`' values); see
    /// [`crate::kernels::tile`]. Each type picks its own register blocking.
    fn tile_dots(
        rows: &[Self],
        dim: usize,
        packed: &[Self],
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
