//! The join kernel both joins run on: the pairs of one shared bucket (a *group*) measured
//! pair by pair when it is small, in tiles with the block kernel ([`crate::kernels::tile`])
//! when it is big, with an optional sketch screen; and the planner's choice between
//! walking buckets and scanning all pairs.
//!
//! Its clients are the in-memory Spark-like join ([`crate::model::join`]) and the merge
//! join of index tables ([`crate::join::merge`]). Every reported distance is Spark's exact
//! one ([`crate::kernels::distance::spark_sqdist`]).

use crate::kernels::distance::{quick_rel_error, spark_sqdist, spark_sqdist4};
use crate::kernels::prefetch::prefetching;
use crate::kernels::tile::{PackedCols, PackedRows, Tile};
use crate::kernels::{Element, Rows};
use crate::sketch;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// Rows packed together on the left of the block kernel.
const ROW_BLOCK: usize = 64;
/// Column panels screened per kernel call.
const PANELS_PER_TILE: usize = 32;
/// Bucket pairs with fewer candidate pairs than this are measured pair by pair.
const SMALL_GROUP: usize = 512;
/// A block hands its pairs on once it holds this many (a giant group's output is never
/// held whole).
const EMIT_PAIRS: usize = 1 << 16;
/// Scan all pairs once bucket pairs would cost more than this share of it.
const ALL_PAIRS_RATIO: f64 = 0.5;

/// Which plan the planner chose.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Plan {
    /// Bucket pairs, table by table.
    #[default]
    Buckets,
    /// Screen all pairs, then check collisions.
    AllPairs,
    /// Bucket pairs listed first, then measured block by block of rows: for vectors larger
    /// than the memory budget (`join::blocked`).
    Blocked,
}

impl Plan {
    /// The cheaper plan when the shared buckets hold `bucket_pairs` candidate pairs
    /// (counted once per table) out of `all_pairs`.
    pub(crate) fn choose(bucket_pairs: f64, all_pairs: f64) -> Plan {
        if bucket_pairs >= ALL_PAIRS_RATIO * all_pairs {
            Plan::AllPairs
        } else {
            Plan::Buckets
        }
    }

    /// The plan's name, as the join summaries report it.
    pub fn name(self) -> &'static str {
        match self {
            Plan::Buckets => "buckets",
            Plan::AllPairs => "all_pairs",
            Plan::Blocked => "blocked",
        }
    }
}

/// The vectors a join's pairs come from. In a self-join (`symmetric`) `a` and `b` are the
/// same rows, a group's two row lists are the same bucket, and only the pairs at positions
/// `x < y` of it count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pairing<'a, T> {
    pub(crate) a: Rows<'a, T>,
    pub(crate) b: Rows<'a, T>,
    pub(crate) symmetric: bool,
    /// With sketches on both sides: skip pairs whose sketches differ in too many bits.
    pub(crate) screen: Option<Screen<'a>>,
}

/// A join's sketch screen: a candidate pair whose sign sketches ([`crate::sketch`]) differ
/// in more than `max` bits is dropped before any distance is computed. Cheap (a few POPCNT
/// per pair instead of a dot product over every dimension) and approximate: a close pair
/// is dropped with a small probability that grows with its angle about the sketch centre.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Screen<'a> {
    /// The left rows' sketches.
    pub(crate) a: &'a sketch::Sketches<'a>,
    /// The right rows' sketches.
    pub(crate) b: &'a sketch::Sketches<'a>,
    pub(crate) max: u16,
}

impl<T> Pairing<'_, T> {
    /// Candidate pairs between `na` left and `nb` right rows (unordered pairs in a self-join).
    pub(crate) fn pair_count(&self, na: usize, nb: usize) -> f64 {
        let (na, nb) = (na as f64, nb as f64);
        if self.symmetric {
            na * (na - 1.0) / 2.0
        } else {
            na * nb
        }
    }
}

/// Pairs found in one block of a group: (left row, right row, Spark's distance).
pub(crate) type Found = Vec<(u32, u32, f64)>;

/// Close pairs between rows `ra` of the left side and `rb` of the right (in a self-join
/// `ra == rb` and only pairs at positions `x < y` count) that `accept` admits. Found pairs
/// go to `emit` block by block, so a giant group never holds its whole output; once `stop`
/// is set the group ends early.
pub(crate) fn join_group<T: Element>(
    pairing: Pairing<'_, T>,
    ra: &[u32],
    rb: &[u32],
    threshold: f64,
    accept: &(dyn Fn(u32, u32) -> bool + Sync),
    emit: &(dyn Fn(&mut Found) + Sync),
    stop: &AtomicBool,
) {
    let symmetric = pairing.symmetric;
    let limit = threshold * threshold * (1.0 + 8.0 * f64::EPSILON);
    let shrink = 1.0 - quick_rel_error(pairing.a.dim());
    // Can pair (i, j) be within the threshold? The collision rule, then a fast f64
    // distance within its error bound.
    let near = |i: u32, j: u32| {
        accept(i, j)
            && T::quick_sqdist(pairing.a.row(i as usize), pairing.b.row(j as usize)) * shrink
                <= limit
    };
    // The full check of one candidate, ending with Spark's exact distance.
    let check = |i: u32, j: u32| -> Option<(u32, u32, f64)> {
        if !near(i, j) {
            return None;
        }
        let d = spark_sqdist(pairing.a.row(i as usize), pairing.b.row(j as usize)).sqrt();
        (d < threshold).then_some((i, j, d))
    };
    let big = pairing.pair_count(ra.len(), rb.len()) >= SMALL_GROUP as f64;
    if let Some(screen) = pairing.screen {
        // Left rows `first..` of `ra`: each one's right rows within the screen's distance,
        // then the full check of those few.
        let scan = |first: usize, chunk: &[u32]| {
            let (mut close, mut kept, mut found) = (Vec::new(), Vec::new(), Found::new());
            for (x, &i) in chunk.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let from = if symmetric { first + x + 1 } else { 0 };
                close.clear();
                screen
                    .b
                    .within(screen.a.row(i), &rb[from..], screen.max, &mut close);
                kept.clear();
                let row_b = |j: u32| pairing.b.row(j as usize);
                kept.extend(prefetching(&close, row_b).filter(|&j| near(i, j)));
                // Spark's distances, four rows at a time (the last group padded).
                let row_i = pairing.a.row(i as usize);
                for four in kept.chunks(4) {
                    let js: [u32; 4] = std::array::from_fn(|l| four[l.min(four.len() - 1)]);
                    let rows = js.map(|j| pairing.b.row(j as usize));
                    let d = spark_sqdist4(row_i, rows);
                    for (l, &j) in four.iter().enumerate() {
                        let d = d[l].sqrt();
                        if d < threshold {
                            found.push((i, j, d));
                        }
                    }
                }
                if found.len() >= EMIT_PAIRS {
                    emit(&mut found);
                }
            }
            if !found.is_empty() {
                emit(&mut found);
            }
        };
        if big {
            ra.par_chunks(ROW_BLOCK)
                .enumerate()
                .for_each(|(block, chunk)| scan(block * ROW_BLOCK, chunk));
        } else {
            scan(0, ra);
        }
        return;
    }
    if !big {
        let mut found: Found = ra
            .iter()
            .enumerate()
            .flat_map(|(x, &i)| {
                rb[if symmetric { x + 1 } else { 0 }..]
                    .iter()
                    .filter_map(move |&j| check(i, j))
            })
            .collect();
        if !found.is_empty() {
            emit(&mut found);
        }
        return;
    }
    let dims = screen_dims(pairing, ra, rb, limit);
    let mut cols = PackedCols::default();
    cols.fill(pairing.b, rb.iter().map(|&r| r as usize), dims);
    let panels = cols.panels();
    ra.par_chunks(ROW_BLOCK)
        .enumerate()
        .for_each(|(block, chunk)| {
            let mut rows = PackedRows::default();
            rows.fill(pairing.a, chunk.iter().map(|&r| r as usize), dims);
            let first = block * ROW_BLOCK;
            // In a self-join, columns before this block's first row are other blocks' work.
            let first_panel = if symmetric { first / T::PANEL } else { 0 };
            let mut tile = Tile::default();
            let mut found = Found::new();
            for start in (first_panel..panels).step_by(PANELS_PER_TILE) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let range = start..(start + PANELS_PER_TILE).min(panels);
                tile.for_each_within(&rows, &cols, range, limit, |x, y, _| {
                    if !symmetric || y > first + x {
                        found.extend(check(chunk[x], rb[y]));
                    }
                    limit
                });
                if found.len() >= EMIT_PAIRS {
                    emit(&mut found);
                }
            }
            if !found.is_empty() {
                emit(&mut found);
            }
        });
}

/// Pairs sampled to choose the screening prefix.
const SCREEN_SAMPLE: usize = 256;

/// How many leading dimensions the block kernel should screen a group's pairs on.
///
/// The squared distance over a prefix of the dimensions is a lower bound of the full one,
/// so screening on a prefix never loses a pair; it only lets more through to the full
/// check. On a sample of the group's pairs this estimates, for prefixes of 16, 32, 64, ...
/// dimensions, the kernel's cost (one FMA per dimension, plus a fixed cost per pair) plus
/// the full check's cost for the share of pairs that pass, and picks the cheapest.
fn screen_dims<T: Element>(pairing: Pairing<'_, T>, ra: &[u32], rb: &[u32], limit: f64) -> usize {
    const PAIR_COST: f64 = 16.0;
    const FULL_CHECK_COST_PER_DIM: f64 = 8.0;
    let dim = pairing.a.dim();
    let mut prefixes: Vec<usize> = std::iter::successors(Some(16usize), |p| Some(p * 2))
        .take_while(|&p| p < dim)
        .collect();
    prefixes.push(dim);
    let mut passed = vec![0usize; prefixes.len()];
    for s in 0..SCREEN_SAMPLE {
        let (i, j) = (ra[s * 7919 % ra.len()], rb[(s * 104_729 + 13) % rb.len()]);
        let (x, y) = (pairing.a.row(i as usize), pairing.b.row(j as usize));
        let mut partial = 0.0f64;
        let mut from = 0;
        for (p, &to) in prefixes.iter().enumerate() {
            partial += T::quick_sqdist(&x[from..to], &y[from..to]);
            from = to;
            passed[p] += usize::from(partial <= limit);
        }
    }
    let cost = |p: usize| {
        let pass_rate = passed[p] as f64 / SCREEN_SAMPLE as f64;
        prefixes[p] as f64 + PAIR_COST + pass_rate * FULL_CHECK_COST_PER_DIM * dim as f64
    };
    let best = (0..prefixes.len())
        .min_by(|&p, &q| cost(p).total_cmp(&cost(q)))
        .unwrap_or(prefixes.len() - 1);
    prefixes[best]
}
