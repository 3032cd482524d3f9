//! The hash family, on the kernels: Java's generator for Spark's projections, the
//! parameters, the hasher (Spark's `f64` arithmetic or a faster `f32` one), bucket keys of
//! `k` hash values, and the multi-probe perturbations.

pub mod hasher;
pub mod key;
pub mod params;
pub mod probe;
pub(crate) mod project;
pub mod rng;

pub use hasher::{Arithmetic, BrpHasher};
pub use params::{BrpParams, SPARK_DEFAULT_SEED};
