//! The engine of `fast_lsh_ann`: Bucketed Random Projection LSH that reproduces Spark
//! MLlib's `BucketedRandomProjectionLSH` bit for bit, with k-NN search and similarity joins
//! that run at block-kernel speed on one machine.
//!
//! ```
//! use fast_lsh_ann_core::{BrpHasher, BrpParams, Rows, knn::batch_knn};
//! let data = [0.0f32, 0.0, 1.0, 1.0, 5.0, 5.0];
//! let rows = Rows::new(&data, 2).unwrap();
//! let hasher = BrpHasher::new(BrpParams::new(2, 4.0, 2, 42).unwrap());
//! let hashes = hasher.hash(rows, "data").unwrap(); // 3 rows x 2 tables, Spark's values
//! assert_eq!(hashes.len(), 6);
//! let found = batch_knn(&hasher, rows, Rows::new(&[0.1f32, 0.1], 2).unwrap(), 1).unwrap();
//! assert_eq!(found.rows[0], 0);
//! ```
//!
//! Modules, one concept each: [`rng`] (Java's generator), [`hash`] (the hash family),
//! `project` (its `f32` kernel), [`rows`] (borrowed matrices), [`distance`] (Spark's exact
//! distance), [`tile`] (the block distance kernel), [`bucket`] (rows grouped by bucket),
//! [`knn`], [`join`], [`error`]; the on-disk index: [`sort`] (external sort), [`table`] (a
//! hash table's bucket directory and rows), [`writer`] (building), [`index`] (opened for
//! queries), [`probe`] (multi-probe), [`sketch`] (sign sketches that rank candidates),
//! [`planes`] (the directions their bits test), [`merge`] (joins of indexes by merging
//! their tables).
#![deny(missing_docs)]

pub mod bucket;
mod cpu;
pub mod distance;
pub mod error;
pub mod hash;
pub mod index;
pub mod join;
pub mod knn;
pub mod merge;
pub mod params;
pub mod planes;
pub mod probe;
mod project;
pub mod rng;
pub mod rows;
pub mod sketch;
pub mod sort;
pub mod stream;
pub mod table;
pub mod tile;
pub mod writer;

pub use error::{Error, ErrorKind, Result};
pub use hash::{Arithmetic, BrpHasher};
pub use params::{BrpParams, SPARK_DEFAULT_SEED};
pub use rows::{Element, Rows};
