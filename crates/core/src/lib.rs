//! The engine of `fast_lsh_ann`: Bucketed Random Projection LSH that reproduces Spark
//! MLlib's `BucketedRandomProjectionLSH` bit for bit, with k-NN search and similarity joins
//! that run at block-kernel speed on one machine.
//!
//! ```
//! use fast_lsh_ann_core::{BrpHasher, BrpParams, Rows, model::knn::batch_knn};
//! let data = [0.0f32, 0.0, 1.0, 1.0, 5.0, 5.0];
//! let rows = Rows::new(&data, 2).unwrap();
//! let hasher = BrpHasher::new(BrpParams::new(2, 4.0, 2, 42).unwrap());
//! let hashes = hasher.hash(rows, "data").unwrap(); // 3 rows x 2 tables, Spark's values
//! assert_eq!(hashes.len(), 6);
//! let found = batch_knn(&hasher, rows, Rows::new(&[0.1f32, 0.1], 2).unwrap(), 1).unwrap();
//! assert_eq!(found.rows[0], 0);
//! ```
//!
//! The data flow reads from the folders. [`kernels`] are the leaves; [`hash`] and
//! [`sketch`] sit on them; [`bucket`] builds and reads tables of buckets; the in-memory
//! Spark-like [`model`] and the on-disk [`index`] are the two clients; [`join`] serves
//! both. No module imports in a circle, and the index reader never imports its writer.
#![deny(missing_docs)]

pub mod bucket;
pub mod error;
pub mod hash;
pub mod index;
pub mod join;
pub mod kernels;
pub mod model;
pub mod sketch;

pub use error::{Error, ErrorKind, Result};
pub use hash::{Arithmetic, BrpHasher, BrpParams, SPARK_DEFAULT_SEED};
pub use kernels::{Element, Rows};
