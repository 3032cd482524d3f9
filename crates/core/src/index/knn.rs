//! k-NN queries on an opened index: hash the query, visit its buckets (and, with
//! multi-probe, their neighbours), drop repeats, rank by sign sketch when the index has
//! them, and measure the survivors exactly.

use super::reader::Index;
use crate::error::{Error, ErrorKind, Result};
use crate::hash::key::bucket_key;
use crate::hash::probe::perturbations;
use crate::kernels::distance::quick_sqdist_f32;
use crate::kernels::prefetch::prefetching;
use crate::kernels::topk::Candidate;
use crate::kernels::{Element, Rows};
use crate::sketch;
use rayon::prelude::*;
use std::collections::BinaryHeap;

/// Answers of [`Index::knn`], row-major `queries x k`; missing slots hold id -1 and
/// distance `+inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexKnn {
    /// External ids (row numbers when the index has none).
    pub ids: Vec<i64>,
    /// Euclidean distances (computed in `f64`, rounded to `f32`).
    pub distances: Vec<f32>,
}

/// Candidates measured exactly per neighbour asked for, when an index has sketches and
/// the caller does not say ([`Index::knn`]'s `rerank`).
pub const DEFAULT_RERANK_PER_K: usize = 20;
impl Index {
    /// Answers in [`IndexKnn`]'s shape from each query's best candidates (rows of this
    /// index, nearest first, at most `k`): external ids, padded with -1 and `+inf`.
    pub(crate) fn answers(&self, best: &[Vec<Candidate>], k: usize) -> IndexKnn {
        let mut out = IndexKnn {
            ids: vec![-1; best.len() * k],
            distances: vec![f32::INFINITY; best.len() * k],
        };
        for (q, found) in best.iter().enumerate() {
            for (slot, c) in found.iter().enumerate() {
                out.ids[q * k + slot] = self.external_id(c.row as usize);
                out.distances[q * k + slot] = c.key as f32;
            }
        }
        out
    }

    /// The `k` nearest rows to each query among those sharing a bucket with it in some
    /// table, visiting `probes` extra buckets per table (multi-probe); nearest first, ties
    /// by smaller row. Parallel over queries.
    ///
    /// On an index with sketches, only the `rerank` candidates nearest in Hamming distance
    /// are measured exactly (at least `k`; `None`: [`DEFAULT_RERANK_PER_K`] `x k`); without sketches every
    /// candidate is, and `rerank` must be `None`.
    pub fn knn<T: Element>(
        &self,
        queries: Rows<'_, T>,
        k: usize,
        probes: usize,
        rerank: Option<usize>,
    ) -> Result<IndexKnn> {
        if queries.dim() != self.params.dim {
            return Err(ErrorKind::DimensionMismatch {
                expected: self.params.dim,
                got: queries.dim(),
            }
            .into());
        }
        queries.check_finite("queries")?;
        let sketches = self.sketcher().map(|s| s.sketch(queries));
        self.knn_many(queries, k, probes, rerank, sketches.as_deref(), None)
    }

    /// For rows `rows` of this index, their `k` nearest rows in `other` (in this index
    /// itself, the row excluded, when `None`) among those sharing a bucket with them, as
    /// [`knn`](Self::knn) answers (ids are `other`'s). Call it range by range to stream
    /// the answers of all rows.
    pub fn knn_join(
        &self,
        other: Option<&Index>,
        rows: std::ops::Range<usize>,
        k: usize,
        probes: usize,
        rerank: Option<usize>,
    ) -> Result<IndexKnn> {
        if rows.start > rows.end || rows.end > self.rows {
            return Err(Error::invalid(
                "rows",
                format!("{rows:?} is not within the index's {} rows", self.rows),
            ));
        }
        let dim = self.params.dim;
        let queries = Rows::new(&self.vectors()[rows.start * dim..rows.end * dim], dim)?;
        match other {
            Some(o) => {
                self.check_compatible(o)?;
                let sketches = o.sketcher().map(|s| s.sketch(queries));
                o.knn_many(queries, k, probes, rerank, sketches.as_deref(), None)
            }
            None => {
                // A row's own sketch is already stored.
                let words = self.params.sketch_bits / 64;
                let own = self
                    .stored_sketches()
                    .map(|s| &s[rows.start * words..rows.end * words]);
                self.knn_many(queries, k, probes, rerank, own, Some(rows.start))
            }
        }
    }

    /// How many candidates per query get an exact distance: all (`None`) without sketches.
    fn rerank_count(&self, k: usize, rerank: Option<usize>) -> Result<Option<usize>> {
        match (&self.sketches, rerank) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(Error::invalid(
                "rerank",
                "needs an index built with sketches (sketch_bits > 0)",
            )),
            (Some(_), Some(0)) => Err(Error::invalid("rerank", "must be at least 1, got 0")),
            (Some(_), r) => Ok(Some(
                r.unwrap_or(DEFAULT_RERANK_PER_K.saturating_mul(k)).max(k),
            )),
        }
    }

    /// k-NN of every query; `sketches` are the queries' sketches (on an index with
    /// sketches); with `first_row`, query `q` is row `first_row + q` of this index and
    /// does not count as its own neighbour.
    fn knn_many<T: Element>(
        &self,
        queries: Rows<'_, T>,
        k: usize,
        probes: usize,
        rerank: Option<usize>,
        sketches: Option<&[u64]>,
        first_row: Option<usize>,
    ) -> Result<IndexKnn> {
        if k == 0 {
            return Err(Error::invalid(
                "k",
                "the number of nearest neighbours cannot be less than 1",
            ));
        }
        let rerank = self.rerank_count(k, rerank)?;
        let words = self.params.sketch_bits / 64;
        let per_query: Vec<Vec<Candidate>> = (0..queries.len())
            .into_par_iter()
            .map(|q| {
                let exclude = first_row.map(|f| (f + q) as u32);
                let screen = match (rerank, sketches) {
                    (Some(keep), Some(s)) => Some((&s[q * words..(q + 1) * words], keep)),
                    _ => None,
                };
                self.knn_one(queries.row(q), k, probes, screen, exclude)
            })
            .collect::<Result<_>>()?;
        Ok(self.answers(&per_query, k))
    }

    /// k-NN of one query; `screen` is its sketch and how many candidates to keep.
    fn knn_one<T: Element>(
        &self,
        query: &[T],
        k: usize,
        probes: usize,
        screen: Option<(&[u64], usize)>,
        exclude: Option<u32>,
    ) -> Result<Vec<Candidate>> {
        let per_table = self.params.projections_per_table;
        let scaled = self.hasher.scaled_projections(query);
        let home: Vec<i64> = scaled.iter().map(|x| x.floor() as i64).collect();
        let mut buckets: Vec<(usize, &[u32])> = Vec::new();
        for t in 0..self.params.num_hash_tables {
            let mine = &home[t * per_table..(t + 1) * per_table];
            let table = self.table(t);
            let mut visit = |values: &[i64]| -> Result<()> {
                let key = bucket_key(values, per_table, 0);
                buckets.push((t, table.lookup_unchecked_rows(key)?));
                Ok(())
            };
            visit(mine)?;
            for moves in perturbations(&scaled[t * per_table..(t + 1) * per_table], probes) {
                let mut moved = mine.to_vec();
                for (j, delta) in moves {
                    moved[j] += delta;
                }
                visit(&moved)?;
            }
        }
        let screen = match (screen, self.stored_sketches()) {
            (Some((query, keep)), Some(all)) => Some((all, query, keep)),
            _ => None,
        };
        let mut rows = Vec::new();
        self.candidates(&buckets, exclude, screen, &mut rows)?;
        let vectors = self.vectors();
        let dim = self.params.dim;
        let query32: Vec<f32> = query.iter().map(|v| v.to_f64() as f32).collect();
        // The best k so far in a max-heap: most candidates are measured and dropped.
        let mut best: BinaryHeap<Candidate> = BinaryHeap::with_capacity(k + 1);
        // Candidates are scattered over the vectors: fetch a few rows ahead.
        let row_values = |r: u32| &vectors[r as usize * dim..(r as usize + 1) * dim];
        for row in prefetching(&rows, row_values) {
            let r = row as usize;
            let c = Candidate {
                key: quick_sqdist_f32(&query32, &vectors[r * dim..(r + 1) * dim]).sqrt(),
                row,
            };
            if best.len() < k {
                best.push(c);
            } else if best.peek().is_some_and(|worst| c < *worst) {
                best.pop();
                best.push(c);
            }
        }
        Ok(best.into_sorted_vec())
    }

    /// The rows to measure exactly for one query, in `rows`: the distinct rows of
    /// `buckets` other than `exclude`, and with `screen` (every row's sketch, the query's,
    /// how many to keep) only those nearest in Hamming distance ([`sketch::screen`]).
    ///
    /// Repeats are dropped with a thread-local bitmap of the index's rows (sorting the
    /// candidates instead cost a third of a query's time). When the candidates are many
    /// against the bitmap's size, the rows are marked and read back from the map, which
    /// also sorts them, so sketches and vectors are then read in order; otherwise repeats
    /// are dropped in place, first occurrences kept. When one table's buckets hold every
    /// row (coarse buckets on a small index), no row is marked: the candidates are all rows
    /// ([`sketch::screen_all`]). A row number past the index's end is a corrupt table,
    /// caught here before it indexes anything (the buckets come from
    /// [`TableView::lookup_unchecked_rows`]; checking while marking, rather than in a pass
    /// of its own, also spares the bitmap's bounds checks).
    fn candidates(
        &self,
        buckets: &[(usize, &[u32])],
        exclude: Option<u32>,
        screen: Option<(&[u64], &[u64], usize)>,
        rows: &mut Vec<u32>,
    ) -> Result<()> {
        let total = self.rows;
        let corrupt = |t: usize, r: u32| {
            Error::corrupt(
                self.tables[t].0.path(),
                format!("lists row {r} of an index of {total} rows"),
            )
        };
        if covers_all(buckets, total) {
            match screen {
                Some((all, query, keep)) => sketch::screen_all(all, query, keep, exclude, rows),
                None => {
                    rows.clear();
                    rows.extend((0..total as u32).filter(|&r| Some(r) != exclude));
                }
            }
            return Ok(());
        }
        let entries: usize = buckets.iter().map(|(_, b)| b.len()).sum();
        SEEN.with_borrow_mut(|seen| {
            let words = total.div_ceil(64);
            if seen.len() < words {
                seen.resize(words, 0);
            }
            let seen = &mut seen[..words];
            rows.clear();
            if entries * 4 >= words {
                for &(t, bucket) in buckets {
                    for &r in bucket {
                        if r as usize >= total {
                            seen.fill(0);
                            return Err(corrupt(t, r));
                        }
                        seen[r as usize / 64] |= 1u64 << (r % 64);
                    }
                }
                if let Some(e) = exclude {
                    seen[e as usize / 64] &= !(1u64 << (e % 64));
                }
                match screen {
                    Some((all, query, keep)) => sketch::screen_marked(seen, all, query, keep, rows),
                    None => {
                        for (w, word) in seen.iter_mut().enumerate() {
                            let mut bits = std::mem::take(word);
                            while bits != 0 {
                                rows.push((w * 64) as u32 + bits.trailing_zeros());
                                bits &= bits - 1;
                            }
                        }
                    }
                }
                return Ok(());
            }
            // The excluded row counts as seen already, so it is dropped like a repeat.
            if let Some(e) = exclude {
                seen[e as usize / 64] |= 1u64 << (e % 64);
            }
            let mut bad = None;
            'gather: for &(t, bucket) in buckets {
                for &r in bucket {
                    let (word, bit) = (r as usize / 64, 1u64 << (r % 64));
                    if r as usize >= total {
                        bad = Some((t, r));
                        break 'gather;
                    }
                    if seen[word] & bit == 0 {
                        seen[word] |= bit;
                        rows.push(r);
                    }
                }
            }
            // Every set bit belongs to a kept row or the excluded one, so zeroing their
            // words clears the map.
            for &r in rows.iter().chain(exclude.iter()) {
                seen[r as usize / 64] = 0;
            }
            if let Some((t, r)) = bad {
                return Err(corrupt(t, r));
            }
            if let Some((all, query, keep)) = screen {
                sketch::screen(rows, all, query, keep);
            }
            Ok(())
        })
    }
}

/// Whether the buckets of some table hold all `total` rows between them: a table's
/// buckets are disjoint, so then every row is a candidate. (Buckets visited twice count once.)
fn covers_all(buckets: &[(usize, &[u32])], total: usize) -> bool {
    buckets.chunk_by(|a, b| a.0 == b.0).any(|table| {
        let mut held = 0;
        for (i, (_, bucket)) in table.iter().enumerate() {
            if !table[..i]
                .iter()
                .any(|(_, seen)| std::ptr::eq(*seen, *bucket))
            {
                held += bucket.len();
            }
        }
        held == total
    })
}

std::thread_local! {
    /// One bit per row of the largest index this thread has searched (all zero between
    /// uses).
    static SEEN: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}
