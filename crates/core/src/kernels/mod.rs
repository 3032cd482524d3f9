//! The leaves every pipeline stands on: the element types, borrowed row matrices, CPU
//! feature dispatch, exact and screening distances, the block (tile) kernel, prefetch
//! hints and the top-k order. Nothing here knows of hashing, buckets or indexes.

pub(crate) mod cpu;
pub mod distance;
pub mod element;
pub(crate) mod prefetch;
pub mod rows;
pub mod tile;
pub(crate) mod topk;

pub use element::Element;
pub use rows::Rows;

use std::borrow::Cow;

/// Each element type wired to its build of the kernels (here, so that the kernels can be
/// generic over [`Element`] without a cycle). Both impls differ only in the type, its panel width and its kernel build.
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
                packed: &[Self],
                panels: std::ops::Range<usize>,
                out: &mut [Self],
            ) {
                $dots(rows, dim, packed, panels, out)
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
    tile::dots_f32,
    Cow::Borrowed,
    distance::quick_sqdist_f32
);
impl_element!(
    f64,
    8,
    tile::dots_f64,
    |v: &[f64]| Cow::Owned(v.iter().map(|&x| x as f32).collect()),
    distance::quick_sqdist
);
