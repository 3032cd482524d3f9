//! Writing one table of an index: sorted `(key, row)` pairs from the external sort go
//! through the [`BucketBuilder`] into the table's two segments, its rows and its bucket
//! directory (read back by [`crate::bucket::TableView`]).

use super::params::names;
use crate::bucket::BucketBuilder;
use crate::error::{ErrorKind, Result};
use fast_lsh_ann_format::{Kind, SegmentInfo, SegmentWriter};
use std::path::{Path, PathBuf};

/// Writes one table from `(key, row)` pairs arriving sorted by key, then row.
pub(crate) struct TableWriter {
    rows: SegmentWriter,
    directory: SegmentWriter,
    builder: BucketBuilder,
    row_buf: Vec<u32>,
    dir_buf: Vec<u64>,
    path: PathBuf,
}

impl TableWriter {
    /// Create table `t`'s two segments in `dir`.
    pub(crate) fn create(dir: &Path, t: usize) -> Result<Self> {
        let (rows_name, dir_name) = names::table(t);
        Ok(TableWriter {
            rows: SegmentWriter::create(&dir.join(&rows_name), Kind::Table, 1, 4)?,
            directory: SegmentWriter::create(&dir.join(dir_name), Kind::Directory, 2, 8)?,
            builder: BucketBuilder::default(),
            row_buf: Vec::new(),
            dir_buf: Vec::new(),
            path: dir.join(rows_name),
        })
    }

    /// Append a sorted batch of pairs (continuing the previous batches' order).
    pub(crate) fn push(&mut self, batch: &[(u64, u64)]) -> Result<()> {
        self.row_buf.clear();
        self.dir_buf.clear();
        let pairs = batch.iter().map(|&(key, row)| (key, row as u32));
        if let Err((previous, got)) = self
            .builder
            .push(pairs, &mut self.dir_buf, &mut self.row_buf)
        {
            return Err(ErrorKind::OutOfOrder {
                path: self.path.clone(),
                previous,
                got,
            }
            .into());
        }
        self.rows.write_values(&self.row_buf)?;
        self.directory.write_values(&self.dir_buf)?;
        Ok(())
    }

    /// Start writing both segments back to disk (see [`SegmentWriter::start_sync`]).
    pub(crate) fn start_sync(&mut self) -> Result<()> {
        self.rows.start_sync()?;
        Ok(self.directory.start_sync()?)
    }

    /// Finish both segments.
    pub(crate) fn finish(self) -> Result<[SegmentInfo; 2]> {
        Ok([self.rows.finish()?, self.directory.finish()?])
    }
}
