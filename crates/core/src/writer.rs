//! Building an index directory: vectors are appended chunk by chunk, every table's
//! `(bucket_key, row)` pairs go through an external sort bounded by a memory budget, and
//! the directory appears at its final path only when it is complete.
//!
//! Crash safety: everything is written into a staging directory beside the target
//! (`.<name>.building-<pid>-<n>`), segments are synced, the MANIFEST is written last and
//! atomically, and the staging directory is renamed onto the target. A crash at any moment
//! leaves either no index, or the previous one, at the target; leftover staging directories
//! are removed by the next build at that path.

use crate::error::{Error, ErrorKind, Result};
use crate::hash::{Arithmetic, BrpHasher};
use crate::params::BrpParams;
use crate::rows::{Element, Rows};
use crate::sketch::Sketcher;
use crate::sort::RunSorter;
use crate::table::TableWriter;
use fast_lsh_ann_format::{Kind, MANIFEST, Manifest, Plain, SegmentInfo, SegmentWriter, bytes_of};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Rows hashed at a time within a chunk: their bucket keys (`rows x L` of them) are the
/// only per-row buffer a build holds besides the sorters.
const HASH_ROWS: usize = 1 << 16;

/// Bytes of vectors written between two starts of writeback.
const WRITE_PIECE: usize = 32 << 20;

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

    /// Bucket key of table `t` from a row's `L x k` hash values: the hash value itself
    /// when `k = 1`, else the xxh3 of the `k` values (little-endian bytes).
    pub fn bucket_key(&self, hashes: &[i64], t: usize) -> u64 {
        let k = self.projections_per_table;
        let values = &hashes[t * k..(t + 1) * k];
        if k == 1 {
            return values[0] as u64;
        }
        xxhash_rust::xxh3::xxh3_64(bytes_of(values))
    }

    /// Every row's bucket key in each table into `keys` (row-major `rows x L`), hashed with
    /// `hasher` (this index's) block by block: the rows' `L x k` hash values exist for
    /// only one block per thread at a time.
    pub fn signatures_into<T: Element>(
        &self,
        hasher: &BrpHasher,
        rows: Rows<'_, T>,
        keys: &mut [u64],
    ) -> Result<()> {
        hasher.hash_map_into(rows, keys, self.num_hash_tables, "vectors", |h, keys| {
            for (t, key) in keys.iter_mut().enumerate() {
                *key = self.bucket_key(h, t);
            }
        })
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
                .ok_or_else(|| corrupt_err(path, format!("no {key} in the manifest")))
        };
        let num = |key: &str| -> Result<usize> {
            field(key)?
                .parse()
                .map_err(|_| corrupt_err(path, format!("bad {key} in the manifest")))
        };
        if field("kind")? != "fast_lsh_ann index" {
            return Err(corrupt_err(
                path,
                "not a fast_lsh_ann index manifest".into(),
            ));
        }
        let bits = u64::from_str_radix(field("bucket_length_bits")?, 16)
            .map_err(|_| corrupt_err(path, "bad bucket_length".into()))?;
        let seed = field("seed")?
            .parse()
            .map_err(|_| corrupt_err(path, "bad seed".into()))?;
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
                    return Err(corrupt_err(
                        path,
                        format!("unknown arithmetic {other:?} (written by a newer version?)"),
                    ));
                }
            },
        };
        p.hasher_params()
            .map_err(|e| corrupt_err(path, format!("bad parameters: {e}")))?;
        Ok(p)
    }
}

/// The error of a writing thread that panicked (a bug): reported, not propagated as a
/// panic.
fn thread_panicked(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::other("the thread writing this file panicked"),
    )
}

/// Write segment `name` in `dir` in one go: records of `width` values of `T`.
fn whole_segment<T: Plain>(
    dir: &Path,
    name: &str,
    kind: Kind,
    width: usize,
    values: &[T],
) -> Result<SegmentInfo> {
    let elem_bytes = std::mem::size_of::<T>() as u32;
    let mut w = SegmentWriter::create(&dir.join(name), kind, width as u64, elem_bytes)?;
    w.write_values(values)?;
    Ok(w.finish()?)
}

/// A `Corrupt` error for `path`.
pub(crate) fn corrupt_err(path: &Path, detail: String) -> Error {
    fast_lsh_ann_format::Error::from(fast_lsh_ann_format::ErrorKind::Corrupt {
        path: path.to_owned(),
        detail,
    })
    .into()
}

/// Segment file names.
pub(crate) mod names {
    pub const VECTORS: &str = "vectors.seg";
    pub const SIGNATURES: &str = "signatures.seg";
    pub const PROJECTIONS: &str = "projections.seg";
    pub const IDS: &str = "ids.seg";
    pub const SKETCHES: &str = "sketches.seg";
    pub const SKETCH_PLANES: &str = "sketch-planes.seg";
}

/// Overwriting replaces an index or an empty directory, never a file or other data.
fn refuse_non_index(path: &Path) -> Result<()> {
    let replaceable = !path.exists()
        || path.join(MANIFEST).exists()
        || std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
    if replaceable {
        return Ok(());
    }
    Err(Error::invalid(
        "path",
        format!(
            "{} exists and is not an index; refusing to replace it",
            path.display()
        ),
    ))
}

/// Builds one index directory; call [`finish`](Self::finish) to publish it. Dropping an
/// unfinished writer removes its staging directory.
pub struct IndexWriter {
    target: PathBuf,
    staging: PathBuf,
    params: IndexParams,
    hasher: BrpHasher,
    /// `Some` until `finish` takes them.
    vectors: Option<SegmentWriter>,
    signatures: Option<SegmentWriter>,
    ids: Option<SegmentWriter>,
    /// With `sketch_bits > 0`: the sketches' writer, and the sketcher once the first chunk
    /// has given its centre.
    sketches: Option<SegmentWriter>,
    sketcher: Option<Sketcher>,
    with_ids: Option<bool>,
    sorters: Vec<RunSorter>,
    /// A block's bucket keys, kept from one append to the next: fresh pages cost a fault
    /// and a zeroing apiece.
    keys: Vec<u64>,
    rows: u64,
    /// Set when an append failed after writing part of its chunk: the index under
    /// construction is then inconsistent, and only dropping the writer is left.
    broken: bool,
    finished: bool,
}

fn staging_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.building-")
}

impl IndexWriter {
    /// Start building an index at `path`. Refuses an existing path unless `overwrite`.
    /// `memory_budget` bounds the bytes of buffered `(key, row)` pairs over all tables.
    pub fn create(
        path: &Path,
        params: IndexParams,
        memory_budget: usize,
        overwrite: bool,
    ) -> Result<Self> {
        let hasher = params.hasher()?;
        if path.exists() && !overwrite {
            return Err(ErrorKind::AlreadyExists {
                path: path.to_owned(),
            }
            .into());
        }
        refuse_non_index(path)?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let prefix = staging_prefix(path);
        // Leftovers of builds that crashed: never published, safe to delete.
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let staging = parent.join(format!("{prefix}{}-{nanos}", std::process::id()));
        std::fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        let spill = staging.join("spill");
        std::fs::create_dir(&spill).map_err(|e| Error::io(&spill, e))?;
        let tables = params.num_hash_tables;
        let per_table = memory_budget / tables.max(1);
        let vectors = SegmentWriter::create(
            &staging.join(names::VECTORS),
            Kind::Vectors,
            params.dim as u64,
            4,
        )?;
        let signatures = SegmentWriter::create(
            &staging.join(names::SIGNATURES),
            Kind::Signatures,
            tables as u64,
            8,
        )?;
        let sketches = match params.sketch_bits {
            0 => None,
            bits => Some(SegmentWriter::create(
                &staging.join(names::SKETCHES),
                Kind::Sketches,
                (bits / 64) as u64,
                8,
            )?),
        };
        Ok(IndexWriter {
            target: path.to_owned(),
            sorters: (0..tables)
                .map(|t| RunSorter::new(&spill, &format!("table-{t:03}"), per_table))
                .collect(),
            staging,
            params,
            hasher,
            vectors: Some(vectors),
            signatures: Some(signatures),
            ids: None,
            sketches,
            sketcher: None,
            with_ids: None,
            keys: Vec::new(),
            rows: 0,
            broken: false,
            finished: false,
        })
    }

    /// Rows appended so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Append a chunk of rows (and their external ids, if the index has ids: either every
    /// chunk gives ids or none does). Wrong ids and a wrong dimension are refused before
    /// anything is written; a NaN or infinite value is found while the chunk is written,
    /// and then (as after any failed write) the writer is broken: it refuses further
    /// appends and `finish`, and dropping it removes the staging directory.
    pub fn append<T: Element>(&mut self, rows: Rows<'_, T>, ids: Option<&[i64]>) -> Result<()> {
        self.check_open()?;
        if rows.dim() != self.params.dim {
            return Err(ErrorKind::DimensionMismatch {
                expected: self.params.dim,
                got: rows.dim(),
            }
            .into());
        }
        if let Some(ids) = ids
            && ids.len() != rows.len()
        {
            return Err(Error::invalid(
                "ids",
                format!("{} ids for {} rows", ids.len(), rows.len()),
            ));
        }
        match (self.with_ids, ids.is_some()) {
            (Some(had), has) if had != has => {
                return Err(Error::invalid(
                    "ids",
                    "give ids with every chunk or with none",
                ));
            }
            (None, true) => {
                self.ids = Some(SegmentWriter::create(
                    &self.staging.join(names::IDS),
                    Kind::Ids,
                    1,
                    8,
                )?);
            }
            _ => {}
        }
        self.with_ids = Some(ids.is_some());
        if u32::try_from(self.rows + rows.len() as u64).is_err() {
            return Err(Error::invalid(
                "vectors",
                "an index holds at most 2^32 - 1 rows",
            ));
        }
        self.broken = true;
        self.write_chunk(rows, ids)?;
        self.broken = false;
        self.rows += rows.len() as u64;
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.broken {
            return Err(Error::invalid(
                "append",
                "an earlier append failed part-way; this build is abandoned",
            ));
        }
        Ok(())
    }

    /// Write a checked chunk: two sides of one `rayon::join`, so that the pool's threads
    /// share all the work. One side copies the bytes into the vectors segment (checksummed
    /// by a task beside the copy, writeback started every [`WRITE_PIECE`] bytes); the other
    /// hashes the rows into bucket keys, fills the sorters and sketches, [`HASH_ROWS`] rows
    /// at a time. (A thread of its own for the copy, as before, made three busy threads on
    /// two cores: builds of 1M x 128 took ~12% longer.)
    fn write_chunk<T: Element>(&mut self, rows: Rows<'_, T>, ids: Option<&[i64]>) -> Result<()> {
        let narrow = T::as_f32(rows.as_slice());
        let narrow = &narrow[..];
        let (Some(vectors), Some(signatures)) = (&mut self.vectors, &mut self.signatures) else {
            unreachable!("writers are open until finish, which consumes self");
        };
        let (params, hasher) = (&self.params, &self.hasher);
        let (sorters, ids_writer, keys) = (&mut self.sorters, &mut self.ids, &mut self.keys);
        let (sketches, sketcher) = (&mut self.sketches, &mut self.sketcher);
        let (first, dim) = (self.rows, params.dim);
        let (written, rest) = rayon::join(
            move || -> Result<()> {
                for piece in narrow.chunks((WRITE_PIECE / 4).div_ceil(dim) * dim) {
                    vectors.write_values_beside(piece)?;
                    vectors.start_sync()?;
                }
                Ok(())
            },
            || -> Result<()> {
                let tables = params.num_hash_tables;
                for (b, block) in rows.as_slice().chunks(HASH_ROWS * dim).enumerate() {
                    let block = Rows::new(block, dim)?;
                    let first = first + (b * HASH_ROWS) as u64;
                    keys.resize(block.len() * tables, 0u64);
                    params.signatures_into(hasher, block, keys)?;
                    sorters
                        .par_iter_mut()
                        .enumerate()
                        .try_for_each(|(t, sorter)| {
                            sorter.extend(
                                (0..block.len()).map(|r| (keys[r * tables + t], first + r as u64)),
                            )
                        })?;
                    signatures.write_values(keys)?;
                    if let Some(w) = sketches.as_mut() {
                        let narrow =
                            Rows::new(&narrow[b * HASH_ROWS * dim..][..block.len() * dim], dim)?;
                        // Fitted to the build's first block of rows.
                        if sketcher.is_none() {
                            *sketcher =
                                Some(Sketcher::fit(narrow, params.sketch_bits, params.seed)?);
                        }
                        if let Some(s) = sketcher.as_ref() {
                            w.write_values(&s.sketch(narrow))?;
                        }
                    }
                }
                if let (Some(w), Some(ids)) = (ids_writer, ids) {
                    w.write_values(ids)?;
                }
                Ok(())
            },
        );
        // The rows' error (a NaN, say) says more than a write's that follows from it.
        rest.and(written)
    }

    /// Merge the tables, write every segment and the manifest, and move the finished
    /// directory to the target path (replacing an old index there, if overwriting).
    pub fn finish(mut self) -> Result<()> {
        self.check_open()?;
        // The segments written row by row only need their frames and a sync (mostly waiting
        // for the disk): a thread does that while the pool sorts, merges and writes the
        // tables, which are independent of each other.
        let streamed: Vec<SegmentWriter> = [
            self.vectors.take(),
            self.signatures.take(),
            self.ids.take(),
            self.sketches.take(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut sorters = std::mem::take(&mut self.sorters);
        let staging = &self.staging;
        let (tables, streamed) = std::thread::scope(|scope| {
            let synced = scope.spawn(|| {
                streamed
                    .into_iter()
                    .map(|w| w.finish().map_err(Error::from))
                    .collect::<Result<Vec<SegmentInfo>>>()
            });
            // Every table sorted first, then all written in parallel: a sort in each table's
            // task left the last table sorting alone while a core waited.
            RunSorter::sort_all(&mut sorters);
            let tables = sorters
                .into_par_iter()
                .enumerate()
                .map(|(t, sorter)| {
                    let mut w = TableWriter::create(staging, t)?;
                    sorter.merge(|batch| w.push(batch))?;
                    w.start_sync()?;
                    Ok(w)
                })
                .collect::<Result<Vec<TableWriter>>>();
            // Synced here, not in the pool: a worker waiting for the disk would hold up
            // the tables still sorting.
            let tables = tables.and_then(|tables| {
                tables
                    .into_iter()
                    .map(TableWriter::finish)
                    .collect::<Result<Vec<[SegmentInfo; 2]>>>()
            });
            let synced = synced
                .join()
                .unwrap_or_else(|_| Err(thread_panicked(staging)));
            (tables, synced)
        });
        let mut segments: Vec<SegmentInfo> = tables?.into_iter().flatten().collect();
        let streamed = streamed?;
        let (dir, dim) = (&self.staging, self.params.dim);
        let unit = self.hasher.unit_vectors();
        segments.push(match self.params.arithmetic {
            Arithmetic::Spark => {
                whole_segment(dir, names::PROJECTIONS, Kind::Projections, dim, unit)?
            }
            Arithmetic::F32 => {
                let narrow: Vec<f32> = unit.iter().map(|&v| v as f32).collect();
                whole_segment(dir, names::PROJECTIONS, Kind::Projections, dim, &narrow)?
            }
        });
        if self.params.sketch_bits != 0 {
            let bits = self.params.sketch_bits;
            let sketcher = match self.sketcher.take() {
                Some(s) => s,
                None => Sketcher::fit(Rows::new(&[], dim)?, bits, self.params.seed)?,
            };
            let stored = sketcher.stored();
            segments.push(whole_segment(
                dir,
                names::SKETCH_PLANES,
                Kind::SketchPlanes,
                dim,
                stored,
            )?);
        }
        segments.extend(streamed);
        let spill = self.staging.join("spill");
        std::fs::remove_dir_all(&spill).map_err(|e| Error::io(&spill, e))?;
        let mut manifest = Manifest::default();
        self.params.to_manifest(&mut manifest);
        manifest.set("rows", self.rows);
        manifest.set("ids", self.with_ids.unwrap_or(false));
        manifest.segments = segments;
        manifest.write(&self.staging)?;
        self.publish()?;
        self.finished = true;
        Ok(())
    }

    fn publish(&self) -> Result<()> {
        let parent = self
            .staging
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let old = parent.join(format!("{}old", staging_prefix(&self.target)));
        if self.target.exists() {
            refuse_non_index(&self.target)?;
            std::fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, e))?;
        }
        std::fs::rename(&self.staging, &self.target).map_err(|e| Error::io(&self.target, e))?;
        std::fs::File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(&parent, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_keys_are_the_xxh3_of_the_values_bytes() {
        // k = 1: the value; k > 1: xxh3_64 of the k values' little-endian bytes.
        for k in [1usize, 3, 16, 20] {
            let params = IndexParams {
                dim: 4,
                bucket_length: 1.0,
                num_hash_tables: 2,
                projections_per_table: k,
                seed: 1,
                sketch_bits: 0,
                arithmetic: Arithmetic::for_projections(k),
            };
            let hashes: Vec<i64> = (0..2 * k as i64).map(|v| v * 7919 - 40_000).collect();
            for t in 0..2 {
                let values = &hashes[t * k..(t + 1) * k];
                let want = if k == 1 {
                    values[0] as u64
                } else {
                    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    xxhash_rust::xxh3::xxh3_64(&bytes)
                };
                assert_eq!(params.bucket_key(&hashes, t), want, "k {k}, table {t}");
            }
            // Rows' keys: each table's key of the row's hash values.
            let hasher = params.hasher().unwrap();
            let x: Vec<f32> = (0..3 * 4).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            let rows = Rows::new(&x, 4).unwrap();
            let hashes = hasher.hash(rows, "x").unwrap();
            let mut keys = vec![0u64; 3 * 2];
            params.signatures_into(&hasher, rows, &mut keys).unwrap();
            for r in 0..3 {
                for t in 0..2 {
                    let want = params.bucket_key(&hashes[r * 2 * k..(r + 1) * 2 * k], t);
                    assert_eq!(keys[r * 2 + t], want, "k {k}, row {r}, table {t}");
                }
            }
        }
    }
}
