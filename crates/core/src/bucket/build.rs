//! The one way a table's buckets are built: `(key, row)` pairs sorted by key, then row,
//! become a bucket directory (`(key, start)` per non-empty bucket) and the rows, bucket
//! after bucket. The index writer feeds it from its external sort and writes both to
//! segments ([`crate::index`]); in memory, [`MemoryTable`] sorts and keeps them.

use super::table::TableView;
use rayon::prelude::*;
use std::path::Path;

/// Turns sorted pairs into directory entries, batch after batch.
#[derive(Debug, Clone, Default)]
pub struct BucketBuilder {
    last_key: Option<u64>,
    written: u64,
}

impl BucketBuilder {
    /// Append `pairs` (sorted, continuing the previous batches' order): each row to
    /// `rows`, and `(key, start)` to `directory` for each bucket that starts here. A key
    /// below the previous one is refused as `Err((previous, got))`, nothing appended after it.
    pub fn push(
        &mut self,
        pairs: impl IntoIterator<Item = (u64, u32)>,
        directory: &mut Vec<u64>,
        rows: &mut Vec<u32>,
    ) -> Result<(), (u64, u64)> {
        for (key, row) in pairs {
            if self.last_key != Some(key) {
                if let Some(previous) = self.last_key.filter(|&last| last > key) {
                    return Err((previous, key));
                }
                directory.extend([key, self.written]);
                self.last_key = Some(key);
            }
            rows.push(row);
            self.written += 1;
        }
        Ok(())
    }
}

/// One table's buckets held in memory, in the layout of a table on disk.
#[derive(Debug, Clone, Default)]
pub struct MemoryTable {
    directory: Vec<u64>,
    rows: Vec<u32>,
}

impl MemoryTable {
    /// Group rows `0..n` by `key(row)`.
    pub fn build(n: usize, key: impl Fn(usize) -> u64 + Sync) -> Self {
        let mut pairs: Vec<(u64, u32)> =
            (0..n).into_par_iter().map(|r| (key(r), r as u32)).collect();
        pairs.par_sort_unstable();
        let mut table = MemoryTable {
            directory: Vec::new(),
            rows: Vec::with_capacity(n),
        };
        BucketBuilder::default()
            .push(pairs, &mut table.directory, &mut table.rows)
            .expect("pairs were just sorted");
        table
    }

    /// Number of non-empty buckets.
    pub fn buckets(&self) -> usize {
        self.directory.len() / 2
    }

    /// The key of bucket `i`.
    fn key(&self, i: usize) -> u64 {
        self.directory[2 * i]
    }

    /// The rows of bucket `i`, ascending.
    fn bucket(&self, i: usize) -> &[u32] {
        let start = self.directory[2 * i + 1] as usize;
        let end = self
            .directory
            .get(2 * i + 3)
            .map_or(self.rows.len(), |&e| e as usize);
        &self.rows[start..end]
    }

    /// Rows in bucket `key` (empty when no row hashed there), ascending.
    pub fn get(&self, key: u64) -> &[u32] {
        let at = self.view(Path::new("<memory>")).lower_bound(key);
        if at < self.buckets() && self.key(at) == key {
            self.bucket(at)
        } else {
            &[]
        }
    }

    /// Every non-empty bucket, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u32])> + '_ {
        (0..self.buckets()).map(|b| (self.key(b), self.bucket(b)))
    }

    /// Pairs of buckets with equal keys in `self` and `other` (a merge of the two key runs).
    pub fn shared<'a>(&'a self, other: &'a MemoryTable) -> Vec<(&'a [u32], &'a [u32])> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.buckets() && j < other.buckets() {
            match self.key(i).cmp(&other.key(j)) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    out.push((self.bucket(i), other.bucket(j)));
                    i += 1;
                    j += 1;
                }
            }
        }
        out
    }

    /// This table as a [`TableView`], as a table read from disk is seen (`path` names it
    /// in errors).
    pub fn view<'a>(&'a self, path: &'a Path) -> TableView<'a> {
        TableView::new(&self.directory, &self.rows, path)
    }
}

/// The first-collision rule both joins and k-NN apply: true when the two signatures (a
/// row's bucket key in each table) agree in at least one of their first `tables` entries —
/// the pair collided in an earlier table (or, with all tables, in any).
#[inline]
pub fn collide_within<K: PartialEq>(a: &[K], b: &[K], tables: usize) -> bool {
    a[..tables].iter().zip(&b[..tables]).any(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_groups_sorted_pairs_and_refuses_disorder() {
        let (mut dir, mut rows) = (Vec::new(), Vec::new());
        let mut b = BucketBuilder::default();
        b.push([(3, 4), (3, 5)], &mut dir, &mut rows).unwrap();
        b.push([(7, 0), (9, 1)], &mut dir, &mut rows).unwrap();
        assert_eq!(dir, [3, 0, 7, 2, 9, 3]);
        assert_eq!(rows, [4, 5, 0, 1]);
        assert_eq!(b.push([(8, 2)], &mut dir, &mut rows), Err((9, 8)));
    }

    #[test]
    fn memory_table_matches_its_view_and_merges() {
        let keys = [5u64, 1, 5, 9, 1, 1];
        let t = MemoryTable::build(keys.len(), |r| keys[r]);
        assert_eq!(t.get(1), &[1, 4, 5]);
        assert_eq!(t.get(5), &[0, 2]);
        assert!(t.get(2).is_empty());
        let path = Path::new("mem");
        for (key, rows) in t.iter() {
            assert_eq!(t.view(path).lookup(key).unwrap(), rows);
        }
        let other = MemoryTable::build(3, |r| [9u64, 2, 5][r]);
        assert_eq!(
            t.shared(&other),
            vec![(&[0u32, 2][..], &[2u32][..]), (&[3][..], &[0][..])]
        );
    }
}
