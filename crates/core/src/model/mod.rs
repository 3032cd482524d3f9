//! The Spark-like model in memory: rows hashed and grouped by [`buckets`], then k-NN
//! ([`knn`]) and similarity joins ([`join`]) computed as Spark's `BucketedRandomProjectionLSH`
//! would, in `f32` or `f64`.

pub mod buckets;
pub mod join;
pub mod knn;
