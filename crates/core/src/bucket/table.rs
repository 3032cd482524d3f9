//! One hash table as it is stored (on disk, or in memory in the same layout): a bucket directory (`(key, start)` per non-empty bucket, keys
//! ascending) and the rows of every bucket, contiguous, as `u32`s.
//!
//! Looking a key up is a binary search of the directory, `O(log B)` over the `B` buckets,
//! then one contiguous slice of rows. Walking the directory in order gives the buckets in
//! key order, which is what a merge-join of two tables needs.

use crate::error::{Error, Result};
use crate::kernels::prefetch::InOrder;
use std::path::Path;

/// A table opened for reading over any bytes (an mmap, in an index). The segments' frames
/// were validated by the caller; ranges are checked here, on every access.
#[derive(Debug, Clone, Copy)]
pub struct TableView<'a> {
    /// Flattened `(key, start)` pairs.
    directory: &'a [u64],
    rows: &'a [u32],
    /// The rows segment's path, for errors.
    path: &'a Path,
}

impl<'a> TableView<'a> {
    /// A view of a directory (flattened `(key, start)` pairs) and its rows.
    pub fn new(directory: &'a [u64], rows: &'a [u32], path: &'a Path) -> Self {
        TableView {
            directory,
            rows,
            path,
        }
    }

    /// Number of non-empty buckets.
    pub fn buckets(&self) -> usize {
        self.directory.len() / 2
    }

    /// The key of bucket `i` (in key order).
    pub fn key(&self, i: usize) -> u64 {
        self.directory[2 * i]
    }

    /// The rows of bucket `i` (in key order); `Corrupt` if the directory's range is out of
    /// order or out of bounds, or a row number is not a row (a table holds each of its
    /// index's rows once, so every row number is below the table's length). The check
    /// costs a pass over the bucket, far less than anything done with its rows, and keeps
    /// a damaged table from indexing vectors out of bounds.
    pub fn members(&self, i: usize) -> Result<&'a [u32]> {
        let members = self.span(i)?;
        let n = self.rows.len();
        if members
            .iter()
            .fold(false, |bad, &r| bad | (r as usize >= n))
        {
            return Err(Error::corrupt(
                self.path,
                format!("bucket {i} lists a row number of {n} rows or more"),
            ));
        }
        Ok(members)
    }

    /// The rows of bucket `i`, with the directory's range checked but not the row numbers.
    fn span(&self, i: usize) -> Result<&'a [u32]> {
        let start = self.directory[2 * i + 1];
        let end = match self.directory.get(2 * i + 3) {
            Some(&next) => next,
            None => self.rows.len() as u64,
        };
        if start > end || end > self.rows.len() as u64 {
            return Err(Error::corrupt(
                self.path,
                format!(
                    "bucket {i} spans rows {start}..{end} of {}",
                    self.rows.len()
                ),
            ));
        }
        Ok(&self.rows[start as usize..end as usize])
    }

    /// The position of the first bucket whose key is `>= key` (binary search).
    pub fn lower_bound(&self, key: u64) -> usize {
        let (mut lo, mut hi) = (0, self.buckets());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.key(mid) < key {
                lo = mid + 1
            } else {
                hi = mid
            }
        }
        lo
    }

    /// The rows in bucket `key` (empty if there is none), checked as
    /// [`members`](Self::members) checks them.
    pub fn lookup(&self, key: u64) -> Result<&'a [u32]> {
        match self.find(key) {
            Some(i) => self.members(i),
            None => Ok(&[]),
        }
    }

    /// [`lookup`](Self::lookup) with the bucket's range checked but not its row numbers:
    /// the caller must check each row number before it uses it (k-NN checks the rows it
    /// marks, and reads none when a table's buckets hold every row).
    pub fn lookup_unchecked_rows(&self, key: u64) -> Result<&'a [u32]> {
        match self.find(key) {
            Some(i) => self.span(i),
            None => Ok(&[]),
        }
    }

    /// Read this table's directory and rows ahead while the returned guards live: for a
    /// walk over its buckets in key order (see `kernels::prefetch::InOrder`).
    pub(crate) fn in_order(&self) -> (InOrder<'a, u64>, InOrder<'a, u32>) {
        (InOrder::new(self.directory), InOrder::new(self.rows))
    }

    /// The position of bucket `key`, if the table has it.
    fn find(&self, key: u64) -> Option<usize> {
        let at = self.lower_bound(key);
        (at < self.buckets() && self.key(at) == key).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_each_bucket_and_nothing_else() {
        let directory = [3u64, 0, 7, 2, 9, 3];
        let rows = [4u32, 5, 0, 1, 2, 3];
        let path = Path::new("t");
        let t = TableView::new(&directory, &rows, path);
        assert_eq!(t.lookup(3).unwrap(), &[4, 5]);
        assert_eq!(t.lookup(7).unwrap(), &[0]);
        assert_eq!(t.lookup(9).unwrap(), &[1, 2, 3]);
        for absent in [0, 4, 8, 10, u64::MAX] {
            assert!(t.lookup(absent).unwrap().is_empty());
        }
    }

    #[test]
    fn out_of_bounds_ranges_are_corrupt_not_panics() {
        let rows = [1u32, 2];
        let path = Path::new("t");
        for directory in [[3u64, 0, 7, 5], [3u64, 2, 7, 1]] {
            let t = TableView::new(&directory, &rows, path);
            assert!(t.lookup(3).is_err());
        }
        // A row number past the table's rows (row 2 of 2).
        let rows = [0u32, 2];
        let t = TableView::new(&[3u64, 0, 7, 1], &rows, path);
        assert_eq!(t.lookup(3).unwrap(), &[0]);
        let e = t.lookup(7).unwrap_err();
        assert!(e.to_string().contains("row number"), "{e}");
    }
}
