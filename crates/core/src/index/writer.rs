//! Building an index directory: vectors are appended chunk by chunk, every table's
//! `(bucket_key, row)` pairs go through an external sort bounded by a memory budget, and
//! the directory appears at its final path only when it is complete.
//!
//! Crash safety: everything is written into a staging directory beside the target,
//! segments are synced, the MANIFEST is written last and atomically, and the staging
//! directory then takes the target's place (`index::publish`): a crash at any moment
//! leaves the previous index or the new one, complete, at the target.

use super::params::{IndexParams, names};
use super::publish::Staging;
use crate::error::{Error, ErrorKind, Result};
use crate::hash::key::bucket_keys_into;
use crate::hash::{Arithmetic, BrpHasher};
use crate::index::sort::RunSorter;
use crate::index::table::TableWriter;
use crate::kernels::{Element, Rows};
use crate::sketch::Sketcher;
use fast_lsh_ann_format::{Kind, Manifest, Plain, SegmentInfo, SegmentWriter};
use rayon::prelude::*;
use std::path::Path;

/// Rows hashed at a time within a chunk: their bucket keys (`rows x L` of them) are the
/// only per-row buffer a build holds besides the sorters.
const HASH_ROWS: usize = 1 << 16;

/// Bytes of vectors written between two starts of writeback.
const WRITE_PIECE: usize = 32 << 20;

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

/// Builds one index directory; call [`finish`](Self::finish) to publish it. Dropping an
/// unfinished writer removes its staging directory.
pub struct IndexWriter {
    staging: Staging,
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
        let staging = Staging::create(path, overwrite)?;
        let spill = staging.dir().join("spill");
        std::fs::create_dir(&spill).map_err(|e| Error::io(&spill, e))?;
        let tables = params.num_hash_tables;
        let per_table = memory_budget / tables.max(1);
        let vectors = SegmentWriter::create(
            &staging.dir().join(names::VECTORS),
            Kind::Vectors,
            params.dim as u64,
            4,
        )?;
        let signatures = SegmentWriter::create(
            &staging.dir().join(names::SIGNATURES),
            Kind::Signatures,
            tables as u64,
            8,
        )?;
        let sketches = match params.sketch_bits {
            0 => None,
            bits => Some(SegmentWriter::create(
                &staging.dir().join(names::SKETCHES),
                Kind::Sketches,
                (bits / 64) as u64,
                8,
            )?),
        };
        Ok(IndexWriter {
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
                    &self.staging.dir().join(names::IDS),
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
                    bucket_keys_into(hasher, params.projections_per_table, block, keys)?;
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
        let staging = self.staging.dir();
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
        let (dir, dim) = (self.staging.dir(), self.params.dim);
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
        let spill = self.staging.dir().join("spill");
        std::fs::remove_dir_all(&spill).map_err(|e| Error::io(&spill, e))?;
        let mut manifest = Manifest::default();
        self.params.to_manifest(&mut manifest);
        manifest.set("rows", self.rows);
        manifest.set("ids", self.with_ids.unwrap_or(false));
        manifest.segments = segments;
        manifest.write(self.staging.dir())?;
        self.staging.publish()
    }
}
