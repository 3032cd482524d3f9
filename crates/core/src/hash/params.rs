//! The parameters of a Bucketed Random Projection model, validated once.

use crate::error::{Error, Result};

/// Spark's default seed for `BucketedRandomProjectionLSH` in Scala:
/// `"org.apache.spark.ml.feature.BucketedRandomProjectionLSH".hashCode`.
/// (PySpark instead seeds from Python's per-process string hash, which is not reproducible.)
pub const SPARK_DEFAULT_SEED: i64 = 772_209_414;

/// Everything that determines a BRP model's hash functions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrpParams {
    /// Vector dimension.
    pub dim: usize,
    /// Width `w` of a bucket along each projection; `h(x) = floor(<u, x> / w)`.
    pub bucket_length: f64,
    /// Number of hash tables `L` (OR-amplification: a pair is a candidate if it shares a
    /// bucket in any table).
    pub num_hash_tables: usize,
    /// Seed of the `java.util.Random` that draws the projections.
    pub seed: i64,
}

impl BrpParams {
    /// Validate and build. `bucket_length` must be finite and > 0; `dim` and
    /// `num_hash_tables` at least 1.
    pub fn new(dim: usize, bucket_length: f64, num_hash_tables: usize, seed: i64) -> Result<Self> {
        if !(bucket_length.is_finite() && bucket_length > 0.0) {
            return Err(Error::invalid(
                "bucket_length",
                format!("must be a finite number > 0, got {bucket_length}"),
            ));
        }
        if num_hash_tables == 0 {
            return Err(Error::invalid(
                "num_hash_tables",
                "must be at least 1, got 0",
            ));
        }
        if dim == 0 {
            return Err(Error::invalid("dim", "must be at least 1, got 0"));
        }
        if dim
            .checked_mul(num_hash_tables)
            .is_none_or(|n| n > (1 << 32))
        {
            return Err(Error::invalid(
                "num_hash_tables",
                format!(
                    "dim x num_hash_tables = {dim} x {num_hash_tables} projection values is too many"
                ),
            ));
        }
        Ok(BrpParams {
            dim,
            bucket_length,
            num_hash_tables,
            seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_values() {
        assert!(BrpParams::new(3, 1.0, 1, 0).is_ok());
        for bl in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(BrpParams::new(3, bl, 1, 0).is_err(), "bucket_length {bl}");
        }
        assert!(BrpParams::new(3, 1.0, 0, 0).is_err());
        assert!(BrpParams::new(0, 1.0, 1, 0).is_err());
    }
}
