//! The in-memory side of a join with an index: rows that are not in an index (an array,
//! a chunk of a file) hashed with the index's projections into the same tables an index
//! holds, built by the same [`MemoryTable`] grouping, so the merge join sees one kind of
//! side.

use super::merge::JoinSide;
use crate::bucket::MemoryTable;
use crate::error::Result;
use crate::hash::BrpHasher;
use crate::hash::key::bucket_keys_into;
use crate::index::IndexParams;
use crate::kernels::{Element, Rows};
use crate::sketch::Sketcher;

/// A side built in memory from rows that are not in an index (hashed with the index's
/// projections, each table sorted in memory).
#[derive(Debug, Clone)]
pub struct MemoryTables {
    vectors: Vec<f32>,
    dim: usize,
    signatures: Vec<u64>,
    tables: Vec<MemoryTable>,
    sketches: Option<Vec<u64>>,
}

impl MemoryTables {
    /// Bucket `rows` under `params`, hashed with `hasher` (the index's), and sketch them
    /// with `sketcher` (the index's, so that sketches compare) if given.
    pub fn new<T: Element>(
        params: &IndexParams,
        hasher: &BrpHasher,
        rows: Rows<'_, T>,
        sketcher: Option<&Sketcher>,
    ) -> Result<Self> {
        let mut signatures = vec![0u64; rows.len() * params.num_hash_tables];
        bucket_keys_into(hasher, params.projections_per_table, rows, &mut signatures)?;
        let vectors = T::as_f32(rows.as_slice()).into_owned();
        let l = params.num_hash_tables;
        let n = signatures.len() / l.max(1);
        let tables = (0..l)
            .map(|t| MemoryTable::build(n, |r| signatures[r * l + t]))
            .collect();
        let sketches = match sketcher {
            Some(s) => Some(s.sketch(Rows::new(&vectors, params.dim)?)),
            None => None,
        };
        Ok(MemoryTables {
            vectors,
            dim: params.dim,
            signatures,
            tables,
            sketches,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.vectors.len() / self.dim
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// This side, for [`join`](super::merge::join).
    pub fn side(&self) -> Result<JoinSide<'_>> {
        let path = std::path::Path::new("<memory>");
        Ok(JoinSide {
            vectors: Rows::new(&self.vectors, self.dim)?,
            signatures: &self.signatures,
            tables: self.tables.iter().map(|t| t.view(path)).collect(),
            sketches: self.sketches.as_deref(),
            path: None,
        })
    }
}
