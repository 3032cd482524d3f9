//! Rows grouped by bucket, per hash table: the in-memory form of a table's sorted run of
//! `(bucket_key, row)` pairs.

use rayon::prelude::*;

/// One table's buckets: rows sorted by (key, row), with the distinct keys and where each
/// key's rows start.
#[derive(Debug, Clone, Default)]
pub struct TableBuckets {
    rows: Vec<u32>,
    keys: Vec<i64>,
    starts: Vec<u32>,
}

impl TableBuckets {
    /// Group rows `0..n` by `hashes[row * tables + table]`.
    pub fn build(hashes: &[i64], tables: usize, table: usize) -> Self {
        let n = hashes.len() / tables;
        let mut pairs: Vec<(i64, u32)> = (0..n)
            .map(|r| (hashes[r * tables + table], r as u32))
            .collect();
        pairs.sort_unstable();
        let mut keys = Vec::new();
        let mut starts = Vec::new();
        for (i, (key, _)) in pairs.iter().enumerate() {
            if keys.last() != Some(key) {
                keys.push(*key);
                starts.push(i as u32);
            }
        }
        starts.push(n as u32);
        TableBuckets {
            rows: pairs.into_iter().map(|(_, r)| r).collect(),
            keys,
            starts,
        }
    }

    /// Rows in bucket `key` (empty when no row hashed there), ascending.
    pub fn get(&self, key: i64) -> &[u32] {
        match self.keys.binary_search(&key) {
            Ok(b) => self.bucket(b),
            Err(_) => &[],
        }
    }

    fn bucket(&self, b: usize) -> &[u32] {
        &self.rows[self.starts[b] as usize..self.starts[b + 1] as usize]
    }

    /// Every non-empty bucket, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &[u32])> + '_ {
        self.keys
            .iter()
            .enumerate()
            .map(|(b, &k)| (k, self.bucket(b)))
    }

    /// Pairs of buckets with equal keys in `self` and `other` (a merge of the two key runs).
    pub fn shared<'a>(&'a self, other: &'a TableBuckets) -> Vec<(&'a [u32], &'a [u32])> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.keys.len() && j < other.keys.len() {
            match self.keys[i].cmp(&other.keys[j]) {
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
}

/// Every table's buckets for one set of rows, plus the rows' hashes (their signatures).
#[derive(Debug, Clone)]
pub struct Buckets {
    /// `hashes[row * tables + t]`.
    pub hashes: Vec<i64>,
    /// Number of tables.
    pub tables: usize,
    /// Per table.
    pub per_table: Vec<TableBuckets>,
}

impl Buckets {
    /// Group by bucket in every table (tables in parallel).
    pub fn build(hashes: Vec<i64>, tables: usize) -> Self {
        let per_table = (0..tables)
            .into_par_iter()
            .map(|t| TableBuckets::build(&hashes, tables, t))
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

/// True when the two signatures agree in at least one of their first `tables` entries:
/// the pair collided in an earlier table (or, with all tables, in any).
#[inline]
pub fn collide_within(a: &[i64], b: &[i64], tables: usize) -> bool {
    a[..tables].iter().zip(&b[..tables]).any(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

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
