//! The in-memory model's buckets: every table's buckets of one set of rows, with the rows'
//! Spark hash values (their signatures). Keys are the `i64` hash values seen as `u64`
//! (a bijection, so equal keys stay equal), grouped by [`MemoryTable`].

use crate::bucket::MemoryTable;
use rayon::prelude::*;

/// Every table's buckets for one set of rows, plus the rows' hashes (their signatures).
#[derive(Debug, Clone)]
pub struct Buckets {
    /// `hashes[row * tables + t]`.
    pub hashes: Vec<i64>,
    /// Number of tables.
    pub tables: usize,
    /// Per table.
    pub per_table: Vec<MemoryTable>,
}

impl Buckets {
    /// Group by bucket in every table (tables in parallel).
    pub fn build(hashes: Vec<i64>, tables: usize) -> Self {
        let per_table = (0..tables)
            .into_par_iter()
            .map(|t| MemoryTable::build(hashes.len() / tables, |r| hashes[r * tables + t] as u64))
            .collect();
        Buckets {
            hashes,
            tables,
            per_table,
        }
    }

    /// The row's bucket in each table.
    #[inline]
    pub fn signature(&self, row: usize) -> &[i64] {
        &self.hashes[row * self.tables..(row + 1) * self.tables]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::collide_within;

    #[test]
    fn groups_and_merges() {
        // 4 rows, 2 tables.
        let a = Buckets::build(vec![5, 1, 3, 1, 5, 2, 7, 1], 2);
        assert_eq!(a.per_table[0].get(5), &[0, 2]);
        assert_eq!(a.per_table[1].get(1), &[0, 1, 3]);
        assert!(a.per_table[0].get(4).is_empty());
        let b = Buckets::build(vec![7, 9, 5, 9], 2);
        let shared = a.per_table[0].shared(&b.per_table[0]);
        assert_eq!(
            shared,
            vec![(&[0u32, 2][..], &[1u32][..]), (&[3u32][..], &[0u32][..])]
        );
        assert!(collide_within(a.signature(0), a.signature(3), 2));
        assert!(!collide_within(a.signature(0), a.signature(3), 1));
    }
}
