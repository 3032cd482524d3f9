//! An index directory opened for queries: every segment is mmap'd and its frame checked,
//! so opening costs the same whatever the index's size; [`Index::verify`] reads every byte.

use super::params::{IndexParams, names};
use crate::bucket::TableView;
use crate::error::{Error, ErrorKind, Result};
use crate::hash::{Arithmetic, BrpHasher};
use crate::kernels::prefetch::InOrder;
use crate::sketch::Sketcher;
use fast_lsh_ann_format::{Kind, MANIFEST, Manifest, Segment};
use memmap2::Mmap;
use rayon::prelude::*;
use std::fs::File;
use std::path::{Path, PathBuf};

/// An opened index.
pub struct Index {
    pub(super) path: PathBuf,
    pub(super) params: IndexParams,
    pub(super) rows: usize,
    pub(super) hasher: BrpHasher,
    pub(super) vectors: Segment<Mmap>,
    pub(super) signatures: Segment<Mmap>,
    /// The unit vectors, kept mapped so that `verify` reads them.
    pub(super) projections: Segment<Mmap>,
    /// Per table: its rows and its bucket directory.
    pub(super) tables: Vec<(Segment<Mmap>, Segment<Mmap>)>,
    pub(super) ids: Option<Segment<Mmap>>,
    pub(super) sketches: Option<Sketches>,
}

/// An index's sketches (when built with `sketch_bits > 0`).
pub(super) struct Sketches {
    /// Every row's sketch.
    pub(super) rows: Segment<Mmap>,
    /// The planes and centre, kept mapped so that `verify` reads them.
    pub(super) planes: Segment<Mmap>,
    /// The planes ready to sketch queries.
    pub(super) sketcher: Sketcher,
}

fn map_segment(dir: &Path, manifest: &Manifest, name: &str, kind: Kind) -> Result<Segment<Mmap>> {
    let info = manifest
        .segments
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::corrupt(&dir.join(MANIFEST), format!("lists no segment {name}")))?;
    let path = dir.join(name);
    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
    let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
    if len != info.len {
        return Err(Error::corrupt(
            &path,
            format!("is {len} bytes, the manifest says {}", info.len),
        ));
    }
    // SAFETY: the segment files of a published index are immutable: writers create new
    // files and never modify published ones, and the index API never writes to them. A
    // process that truncates or rewrites them behind our back violates that contract (as
    // with any mmap-based store); every access below is bounds-checked against the length
    // validated at open.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(&path, e))?;
    // Read-around off where queries and joins touch scattered pages (rows, bucket
    // lookups, signatures, ids); passes that read those in order say so themselves
    // (`kernels::prefetch::InOrder`). Sketches (ranked whole, or a few bytes per candidate)
    // and the small segments read at open keep the system's read-ahead. A refused hint
    // changes nothing.
    if matches!(
        kind,
        Kind::Vectors | Kind::Signatures | Kind::Table | Kind::Directory | Kind::Ids
    ) {
        let _ = map.advise(memmap2::Advice::Random);
    }
    let seg = Segment::open(&path, map, kind)?;
    if seg.checksum() != info.checksum {
        return Err(Error::corrupt(
            &path,
            "checksum in the footer differs from the manifest's".into(),
        ));
    }
    Ok(seg)
}

impl Index {
    /// Open the index at `path`: read and check the manifest, map and check every segment.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join(MANIFEST).exists() {
            return Err(ErrorKind::NotFound {
                path: path.to_owned(),
            }
            .into());
        }
        let manifest = Manifest::read(path)?;
        let params = IndexParams::from_manifest(&manifest, &path.join(MANIFEST))?;
        let rows: usize = manifest
            .get("rows")
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| Error::corrupt(&path.join(MANIFEST), "bad rows".into()))?;
        let (dim, tables) = (params.dim, params.num_hash_tables);
        let expect = |seg: &Segment<Mmap>, name: &str, count: usize, width: usize| -> Result<()> {
            if seg.count() != count as u64 || seg.width() != width as u64 {
                return Err(Error::corrupt(
                    &path.join(name),
                    format!(
                        "holds {} x {}, expected {count} x {width}",
                        seg.count(),
                        seg.width()
                    ),
                ));
            }
            Ok(())
        };
        let vectors = map_segment(path, &manifest, names::VECTORS, Kind::Vectors)?;
        expect(&vectors, names::VECTORS, rows, dim)?;
        vectors.values::<f32>()?;
        let signatures = map_segment(path, &manifest, names::SIGNATURES, Kind::Signatures)?;
        expect(&signatures, names::SIGNATURES, rows, tables)?;
        signatures.values::<u64>()?;
        // The small segments that steer every query are checksummed at open: a flipped bit
        // in a unit vector would silently hash queries elsewhere.
        let projections = map_segment(path, &manifest, names::PROJECTIONS, Kind::Projections)?;
        projections.verify()?;
        let hasher_params = params.hasher_params()?;
        expect(
            &projections,
            names::PROJECTIONS,
            hasher_params.num_hash_tables,
            dim,
        )?;
        let unit = match params.arithmetic {
            Arithmetic::Spark => projections.values::<f64>()?.to_vec(),
            Arithmetic::F32 => projections
                .values::<f32>()?
                .iter()
                .map(|&v| v as f64)
                .collect(),
        };
        let hasher = BrpHasher::with_unit_vectors(hasher_params, unit)
            .map_err(|e| Error::corrupt(&path.join(names::PROJECTIONS), e.to_string()))?
            .with_arithmetic(params.arithmetic);
        let mut table_segments = Vec::with_capacity(tables);
        for t in 0..tables {
            let (rows_name, dir_name) = names::table(t);
            let members = map_segment(path, &manifest, &rows_name, Kind::Table)?;
            expect(&members, &rows_name, rows, 1)?;
            members.values::<u32>()?;
            let directory = map_segment(path, &manifest, &dir_name, Kind::Directory)?;
            if directory.width() != 2 || directory.count() > rows as u64 {
                return Err(Error::corrupt(
                    &path.join(&dir_name),
                    format!(
                        "holds {} x {} records",
                        directory.count(),
                        directory.width()
                    ),
                ));
            }
            directory.values::<u64>()?;
            table_segments.push((members, directory));
        }
        let ids = if manifest.get("ids") == Some("true") {
            let seg = map_segment(path, &manifest, names::IDS, Kind::Ids)?;
            expect(&seg, names::IDS, rows, 1)?;
            seg.values::<i64>()?;
            Some(seg)
        } else {
            None
        };
        let sketches = match params.sketch_bits {
            0 => None,
            bits => {
                let seg = map_segment(path, &manifest, names::SKETCHES, Kind::Sketches)?;
                expect(&seg, names::SKETCHES, rows, bits / 64)?;
                seg.values::<u64>()?;
                let planes =
                    map_segment(path, &manifest, names::SKETCH_PLANES, Kind::SketchPlanes)?;
                planes.verify()?;
                expect(&planes, names::SKETCH_PLANES, bits + 1, dim)?;
                let sketcher = Sketcher::from_stored(dim, bits, planes.values::<f32>()?.to_vec())
                    .map_err(|e| {
                    Error::corrupt(&path.join(names::SKETCH_PLANES), e.to_string())
                })?;
                Some(Sketches {
                    rows: seg,
                    planes,
                    sketcher,
                })
            }
        };
        Ok(Index {
            path: path.to_owned(),
            params,
            rows,
            hasher,
            vectors,
            signatures,
            projections,
            tables: table_segments,
            ids,
            sketches,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when the index has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The build parameters.
    pub fn params(&self) -> &IndexParams {
        &self.params
    }

    /// Where the index lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read every segment the manifest lists and check its checksum.
    pub fn verify(&self) -> Result<()> {
        let mut all: Vec<&Segment<Mmap>> = vec![&self.vectors, &self.signatures, &self.projections];
        all.extend(self.tables.iter().flat_map(|(rows, dir)| [rows, dir]));
        all.extend(self.ids.iter());
        all.extend(self.sketches.iter().flat_map(|s| [&s.rows, &s.planes]));
        all.par_iter().try_for_each(|s| {
            let _in_order = InOrder::new(s.body());
            s.verify().map_err(Error::from)
        })
    }

    /// Every row's vector, row-major.
    pub fn vectors(&self) -> &[f32] {
        self.vectors.values::<f32>().expect("checked at open")
    }

    /// Table `t`: its bucket directory and rows.
    pub fn table(&self, t: usize) -> TableView<'_> {
        let (rows, directory) = &self.tables[t];
        TableView::new(
            directory.values::<u64>().expect("checked at open"),
            rows.values::<u32>().expect("checked at open"),
            rows.path(),
        )
    }

    /// The external id of `row` (its row number when the index has no ids).
    pub fn external_id(&self, row: usize) -> i64 {
        match &self.ids {
            Some(ids) => ids.values::<i64>().expect("checked at open")[row],
            None => row as i64,
        }
    }

    /// Check that `other` can be joined with this index: same parameters and projections.
    pub(crate) fn check_compatible(&self, other: &Index) -> Result<()> {
        if self.params != other.params || self.hasher.unit_vectors() != other.hasher.unit_vectors()
        {
            return Err(Error::invalid(
                "other",
                format!(
                    "was built with other parameters or projections ({:?}, this index {:?}); \
                     joins need both built alike",
                    other.params, self.params
                ),
            ));
        }
        Ok(())
    }

    /// Check that `other`'s sketches compare with this index's (the same centre and planes,
    /// as a join's `max_hamming` screen needs). Each index fits its planes to its own first
    /// rows, so two indexes built from different data do not pass.
    pub(crate) fn check_sketches(&self, other: &Index) -> Result<()> {
        if self.sketcher().map(Sketcher::stored) != other.sketcher().map(Sketcher::stored) {
            return Err(Error::invalid(
                "max_hamming",
                "the other index's sketch planes differ from this index's (each index fits \
                 them to its first rows); join its vectors as an array instead, or omit \
                 max_hamming",
            ));
        }
        Ok(())
    }

    /// Every row's sketch (`sketch_bits / 64` words per row), if the index has sketches.
    pub fn stored_sketches(&self) -> Option<&[u64]> {
        self.sketches
            .as_ref()
            .map(|s| s.rows.values::<u64>().expect("checked at open"))
    }

    /// The hasher of the index's stored projections.
    pub fn hasher(&self) -> &BrpHasher {
        &self.hasher
    }

    /// Row `row`'s sign sketch, if the index has sketches.
    pub fn sketch(&self, row: usize) -> Option<&[u64]> {
        let words = self.params.sketch_bits / 64;
        self.stored_sketches()
            .map(|s| &s[row * words..(row + 1) * words])
    }

    /// The sketcher of the index's stored planes (which computes a query's sketch), if the
    /// index has sketches.
    pub fn sketcher(&self) -> Option<&Sketcher> {
        self.sketches.as_ref().map(|s| &s.sketcher)
    }

    /// Every row's bucket key in each table, row-major `rows x L` (the signatures segment).
    pub fn signatures(&self) -> &[u64] {
        self.signatures.values::<u64>().expect("checked at open")
    }

    /// Each row's bucket key in every table (the signatures segment).
    pub fn signature(&self, row: usize) -> &[u64] {
        let l = self.params.num_hash_tables;
        &self.signatures.values::<u64>().expect("checked at open")[row * l..(row + 1) * l]
    }
}
