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

// Tables of buckets: one builder for every pipeline, the reader, the first-collision rule.
pub mod bucket;
// The crate's one error type.
pub mod error;
// The hash family: Java's generator, parameters, the hasher, bucket keys, multi-probe.
pub mod hash;
// The on-disk index: parameters and MANIFEST, sort, build, atomic publish, open, k-NN.
pub mod index;
// Joins of both pipelines: the group kernel, the merge of tables, out of core, streaming.
pub mod join;
// The leaves: element types, row matrices, CPU dispatch, distances, tiles, prefetch, top-k.
pub mod kernels;
// The Spark-like model in memory: buckets, k-NN, similarity joins.
pub mod model;
// Sign sketches: planes, the sketcher, Hamming screens.
pub mod sketch;

pub use error::{Error, ErrorKind, Result};
pub use hash::{Arithmetic, BrpHasher, BrpParams, SPARK_DEFAULT_SEED};
pub use kernels::{Element, Rows};
