//! Batch approximate k-nearest-neighbour search with Spark's single-probe semantics.
//!
//! A row is a candidate for a query when it shares the query's bucket in at least one
//! table; the answer is the `k` candidates nearest by Spark's exact distance, nearest first
//! (ties by smaller row). Two plans give that same answer:
//!
//! - **gather**, when the query's buckets are small: collect the candidate rows from the
//!   buckets, measure each exactly, keep the best `k`;
//! - **tile**, when they hold a large share of all rows (coarse buckets, as Spark's usual
//!   parameters give): screen every row with the block kernel ([`crate::kernels::tile`]) against a
//!   block of queries, keep a bounded heap of the best screened candidates per query, then
//!   re-measure those exactly. A certificate (the k-th exact distance lies below every
//!   unkept row's lower bound) proves the result; a query that fails it is redone by gather.

use crate::bucket::collide_within;
use crate::error::{Error, Result};
use crate::hash::BrpHasher;
use crate::kernels::distance::spark_sqdist;
use crate::kernels::tile::{PackedCols, PackedRows, Tile, sqnorm};
use crate::kernels::topk::{Candidate, best_k};
use crate::kernels::{Element, Rows};
use crate::model::buckets::Buckets;
use rayon::prelude::*;
use std::collections::BinaryHeap;

/// Queries packed together for the tile plan.
const QUERY_BLOCK: usize = 64;
/// Column panels screened per kernel call.
const PANELS_PER_TILE: usize = 32;
/// Gather when a query's candidates (counted with repeats across tables) are fewer than
/// `rows / GATHER_RATIO`: an exact sequential distance costs about this many screened ones.
const GATHER_RATIO: usize = 16;
/// Extra screened candidates kept per query so the certificate rarely fails.
const SLACK: usize = 16;

/// Answers of a batch query, row-major `queries x k`. Slots past `counts[q]` hold row -1
/// and distance `+inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnResult {
    /// Neighbours per query (the `k` asked for).
    pub k: usize,
    /// Row numbers into the searched rows.
    pub rows: Vec<i64>,
    /// Spark's exact Euclidean distances.
    pub distances: Vec<f64>,
    /// How many neighbours each query found (at most `k`).
    pub counts: Vec<usize>,
}

/// Find, for every query, its `k` nearest candidates among `base` (see the module docs).
pub fn batch_knn<T: Element>(
    hasher: &BrpHasher,
    base: Rows<'_, T>,
    queries: Rows<'_, T>,
    k: usize,
) -> Result<KnnResult> {
    if k == 0 {
        return Err(Error::invalid(
            "k",
            "the number of nearest neighbours cannot be less than 1",
        ));
    }
    let tables = hasher.params().num_hash_tables;
    let buckets = Buckets::build(hasher.hash(base, "vectors")?, tables);
    let query_hashes = hasher.hash(queries, "queries")?;
    let signature = |q: usize| &query_hashes[q * tables..(q + 1) * tables];

    let candidate_bound = |q: usize| -> usize {
        buckets
            .per_table
            .iter()
            .zip(signature(q))
            .map(|(tb, &key)| tb.get(key as u64).len())
            .sum()
    };
    let (gather, tile): (Vec<usize>, Vec<usize>) = (0..queries.len())
        .partition(|&q| candidate_bound(q) * GATHER_RATIO < base.len().max(GATHER_RATIO * 64));

    let mut answers: Vec<Vec<Candidate>> = vec![Vec::new(); queries.len()];
    let gathered: Vec<(usize, Vec<Candidate>)> = gather
        .par_iter()
        .map(|&q| {
            (
                q,
                gather_one(&buckets, base, queries.row(q), signature(q), k),
            )
        })
        .collect();
    for (q, best) in gathered {
        answers[q] = best;
    }
    if !tile.is_empty() {
        let mut packed = PackedCols::default();
        packed.fill(base, 0..base.len(), base.dim());
        let max_col_norm = packed.max_sqnorm();
        let tiled: Vec<(usize, Vec<Candidate>)> = tile
            .par_chunks(QUERY_BLOCK)
            .flat_map_iter(|block| {
                let screened =
                    screen_block(&packed, &buckets, queries, block, &query_hashes, k + SLACK);
                block.iter().zip(screened).map(|(&q, kept)| {
                    let best = certified(base, queries.row(q), kept, k + SLACK, k, max_col_norm)
                        .unwrap_or_else(|| {
                            gather_one(&buckets, base, queries.row(q), signature(q), k)
                        });
                    (q, best)
                })
            })
            .collect();
        for (q, best) in tiled {
            answers[q] = best;
        }
    }

    let mut result = KnnResult {
        k,
        rows: vec![-1; queries.len() * k],
        distances: vec![f64::INFINITY; queries.len() * k],
        counts: Vec::with_capacity(queries.len()),
    };
    for (q, best) in answers.into_iter().enumerate() {
        result.counts.push(best.len());
        for (slot, c) in best.into_iter().enumerate() {
            result.rows[q * k + slot] = c.row as i64;
            result.distances[q * k + slot] = c.key;
        }
    }
    Ok(result)
}

/// The gather plan for one query: exact distances to every row sharing a bucket with it.
fn gather_one<T: Element>(
    buckets: &Buckets,
    base: Rows<'_, T>,
    query: &[T],
    signature: &[i64],
    k: usize,
) -> Vec<Candidate> {
    let mut rows: Vec<u32> = buckets
        .per_table
        .iter()
        .zip(signature)
        .flat_map(|(tb, &key)| tb.get(key as u64).iter().copied())
        .collect();
    rows.sort_unstable();
    rows.dedup();
    let measured = rows
        .into_iter()
        .map(|row| Candidate {
            key: spark_sqdist(query, base.row(row as usize)).sqrt(),
            row,
        })
        .collect();
    best_k(measured, k)
}

/// Screen every base row against a block of queries; per query, the `cap` colliding rows
/// with the smallest screened distance (unordered).
fn screen_block<T: Element>(
    packed: &PackedCols<T>,
    buckets: &Buckets,
    queries: Rows<'_, T>,
    block: &[usize],
    query_hashes: &[i64],
    cap: usize,
) -> Vec<BinaryHeap<Candidate>> {
    let tables = buckets.tables;
    let mut rows = PackedRows::default();
    rows.fill(queries, block.iter().copied(), queries.dim());
    let mut heaps: Vec<BinaryHeap<Candidate>> = (0..block.len())
        .map(|_| BinaryHeap::with_capacity(cap + 1))
        .collect();
    let mut tile = Tile::default();
    let panels = packed.panels();
    for start in (0..panels).step_by(PANELS_PER_TILE) {
        let range = start..(start + PANELS_PER_TILE).min(panels);
        tile.for_each_within(&rows, packed, range, f64::INFINITY, |i, col, approx| {
            let heap = &mut heaps[i];
            let bound = |heap: &BinaryHeap<Candidate>| {
                if heap.len() >= cap {
                    heap.peek().map_or(f64::INFINITY, |worst| worst.key)
                } else {
                    f64::INFINITY
                }
            };
            if approx >= bound(heap) {
                return bound(heap);
            }
            let q = block[i];
            if collide_within(
                &query_hashes[q * tables..(q + 1) * tables],
                buckets.signature(col),
                tables,
            ) {
                heap.push(Candidate {
                    key: approx,
                    row: col as u32,
                });
                if heap.len() > cap {
                    heap.pop();
                }
            }
            bound(heap)
        });
    }
    heaps
}

/// Re-measure the screened candidates exactly; `None` when the screen cannot prove that
/// the best `k` of them are the best `k` of all candidates.
fn certified<T: Element>(
    base: Rows<'_, T>,
    query: &[T],
    kept: BinaryHeap<Candidate>,
    cap: usize,
    k: usize,
    max_col_norm: f64,
) -> Option<Vec<Candidate>> {
    let complete = kept.len() < cap;
    let worst_screened = kept.peek().map_or(f64::INFINITY, |c| c.key);
    let measured: Vec<Candidate> = kept
        .into_iter()
        .map(|c| Candidate {
            key: spark_sqdist(query, base.row(c.row as usize)).sqrt(),
            row: c.row,
        })
        .collect();
    let best = best_k(measured, k);
    if complete {
        return Some(best);
    }
    let dim = query.len();
    let margin =
        Tile::<T>::margin(dim) * (sqnorm(query) + max_col_norm) + Tile::<T>::underflow(dim);
    let kth = best.last().map_or(f64::INFINITY, |c| c.key);
    // Every unkept candidate is at least sqrt(worst_screened - margin) away.
    (kth < (worst_screened - margin).max(0.0).sqrt()).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::params::BrpParams;
    use crate::kernels::rows::uniform_rows;

    /// Brute force over all rows with the collision rule and exact distances.
    fn reference(h: &BrpHasher, base: Rows<'_, f32>, q: &[f32], k: usize) -> Vec<(i64, f64)> {
        let tables = h.params().num_hash_tables;
        let bh = h.hash(base, "base").unwrap();
        let qh = h.hash(Rows::new(q, base.dim()).unwrap(), "query").unwrap();
        let mut all: Vec<(f64, usize)> = (0..base.len())
            .filter(|&r| collide_within(&bh[r * tables..(r + 1) * tables], &qh, tables))
            .map(|r| (spark_sqdist(q, base.row(r)).sqrt(), r))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.into_iter()
            .take(k)
            .map(|(d, r)| (r as i64, d))
            .collect()
    }

    #[test]
    fn both_plans_agree_with_brute_force() {
        let dim = 24;
        let base = uniform_rows(3000, dim, 7, 4.0);
        let queries = uniform_rows(40, dim, 8, 4.0);
        // Coarse buckets force the tile plan, fine ones the gather plan.
        for bl in [50.0, 0.5] {
            let h = BrpHasher::new(BrpParams::new(dim, bl, 3, 42).unwrap());
            let (b, q) = (
                Rows::new(&base, dim).unwrap(),
                Rows::new(&queries, dim).unwrap(),
            );
            let got = batch_knn(&h, b, q, 7).unwrap();
            for qi in 0..40 {
                let want = reference(&h, b, q.row(qi), 7);
                assert_eq!(got.counts[qi], want.len());
                for (slot, (row, d)) in want.iter().enumerate() {
                    assert_eq!(
                        got.rows[qi * 7 + slot],
                        *row,
                        "bl {bl} query {qi} slot {slot}"
                    );
                    assert_eq!(got.distances[qi * 7 + slot], *d);
                }
            }
        }
    }

    #[test]
    fn duplicates_and_k_larger_than_candidates() {
        let dim = 4;
        let mut base = vec![1.0f32; dim * 300]; // 300 identical rows: ties everywhere
        base.extend(uniform_rows(10, dim, 3, 4.0));
        let h = BrpHasher::new(BrpParams::new(dim, 1e6, 2, 1).unwrap());
        let b = Rows::new(&base, dim).unwrap();
        let got = batch_knn(&h, b, Rows::new(&[1.0f32; 4], dim).unwrap(), 5).unwrap();
        assert_eq!(
            &got.rows[..5],
            &[0, 1, 2, 3, 4],
            "ties broken by smaller row"
        );
        assert!(got.distances[..5].iter().all(|&d| d == 0.0));
        let got = batch_knn(&h, b, Rows::new(&[1.0f32; 4], dim).unwrap(), 400).unwrap();
        let colliding = reference(&h, b, &[1.0f32; 4], 400).len();
        assert!((300..400).contains(&colliding));
        assert_eq!(got.counts[0], colliding);
        assert_eq!(got.rows[colliding], -1);
        assert_eq!(got.distances[colliding], f64::INFINITY);
        assert!(batch_knn(&h, b, Rows::new(&[1.0f32; 4], dim).unwrap(), 0).is_err());
    }
}
