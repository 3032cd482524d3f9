//! An index's parameters, how they are written into its MANIFEST and read back, and the
//! names of its segment files: what the writer and the reader agree on.

use crate::error::{Error, Result};
use crate::hash::{Arithmetic, BrpHasher, BrpParams};
use fast_lsh_ann_format::Manifest;
use std::path::Path;

/// The parameters of an index: a BRP model plus AND-amplification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexParams {
    /// Vector dimension.
    pub dim: usize,
    /// Bucket width along each projection.
    pub bucket_length: f64,
    /// Number of hash tables `L` (a pair is a candidate if it shares a bucket in any).
    pub num_hash_tables: usize,
    /// Projections per table `k` (a bucket is the tuple of `k` hash values; `k = 1` is
    /// Spark's scheme and keys are Spark's hash values).
    pub projections_per_table: usize,
    /// Seed of Spark's generator for the projections.
    pub seed: i64,
    /// Bits of each row's sign sketch ([`crate::sketch`]), a multiple of 64; 0 stores none.
    /// With sketches, k-NN ranks candidates by Hamming distance and measures only the
    /// nearest few exactly.
    pub sketch_bits: usize,
    /// How projections are computed; a new index takes
    /// [`Arithmetic::for_projections`]`(projections_per_table)`.
    pub arithmetic: Arithmetic,
}

impl IndexParams {
    /// The hasher of all `L x k` projections (Spark's draws, in Spark's order), once every
    /// parameter has been checked.
    pub fn hasher_params(&self) -> Result<BrpParams> {
        if self.sketch_bits != 0 {
            crate::sketch::check_bits(self.sketch_bits)?;
        }
        if self.projections_per_table == 0 {
            return Err(Error::invalid(
                "projections_per_table",
                "must be at least 1, got 0",
            ));
        }
        let total = self
            .num_hash_tables
            .saturating_mul(self.projections_per_table);
        BrpParams::new(self.dim, self.bucket_length, total, self.seed)
    }

    /// The hasher of these parameters: Spark's draws, computing in their arithmetic.
    pub fn hasher(&self) -> Result<BrpHasher> {
        Ok(BrpHasher::new(self.hasher_params()?).with_arithmetic(self.arithmetic))
    }

    /// Write these parameters into a manifest.
    pub(crate) fn to_manifest(self, m: &mut Manifest) {
        m.set("kind", "fast_lsh_ann index");
        m.set("dim", self.dim);
        m.set("bucket_length", self.bucket_length);
        m.set(
            "bucket_length_bits",
            format!("{:016x}", self.bucket_length.to_bits()),
        );
        m.set("num_hash_tables", self.num_hash_tables);
        m.set("projections_per_table", self.projections_per_table);
        m.set("seed", self.seed);
        m.set("rng", "spark-java-random");
        // Only when there are sketches: an index without them is byte for byte what
        // earlier versions wrote.
        if self.sketch_bits != 0 {
            m.set("sketch_bits", self.sketch_bits);
        }
        // Likewise only when not Spark's. Such an index also stores its projections as
        // `f32`, which a reader that predates F32 refuses instead of hashing in `f64`.
        if self.arithmetic == Arithmetic::F32 {
            m.set("arithmetic", "f32");
        }
    }

    /// Read parameters back from a manifest.
    pub(crate) fn from_manifest(m: &Manifest, path: &Path) -> Result<Self> {
        let field = |key: &str| -> Result<&str> {
            m.get(key)
                .ok_or_else(|| Error::corrupt(path, format!("no {key} in the manifest")))
        };
        let num = |key: &str| -> Result<usize> {
            field(key)?
                .parse()
                .map_err(|_| Error::corrupt(path, format!("bad {key} in the manifest")))
        };
        if field("kind")? != "fast_lsh_ann index" {
            return Err(Error::corrupt(
                path,
                "not a fast_lsh_ann index manifest".into(),
            ));
        }
        let bits = u64::from_str_radix(field("bucket_length_bits")?, 16)
            .map_err(|_| Error::corrupt(path, "bad bucket_length".into()))?;
        let seed = field("seed")?
            .parse()
            .map_err(|_| Error::corrupt(path, "bad seed".into()))?;
        let p = IndexParams {
            dim: num("dim")?,
            bucket_length: f64::from_bits(bits),
            num_hash_tables: num("num_hash_tables")?,
            projections_per_table: num("projections_per_table")?,
            seed,
            sketch_bits: if m.get("sketch_bits").is_some() {
                num("sketch_bits")?
            } else {
                0
            },
            arithmetic: match m.get("arithmetic") {
                None => Arithmetic::Spark,
                Some("f32") => Arithmetic::F32,
                Some(other) => {
                    return Err(Error::corrupt(
                        path,
                        format!("unknown arithmetic {other:?} (written by a newer version?)"),
                    ));
                }
            },
        };
        p.hasher_params()
            .map_err(|e| Error::corrupt(path, format!("bad parameters: {e}")))?;
        Ok(p)
    }
}

/// Segment file names.
pub(crate) mod names {
    pub const VECTORS: &str = "vectors.seg";
    pub const SIGNATURES: &str = "signatures.seg";
    pub const PROJECTIONS: &str = "projections.seg";
    pub const IDS: &str = "ids.seg";
    pub const SKETCHES: &str = "sketches.seg";
    pub const SKETCH_PLANES: &str = "sketch-planes.seg";

    /// Segment file names of table `t`: its rows and its bucket directory.
    pub fn table(t: usize) -> (String, String) {
        (format!("table-{t:03}.seg"), format!("buckets-{t:03}.seg"))
    }
}
