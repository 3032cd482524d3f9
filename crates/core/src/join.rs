//! Similarity joins: every pair that shares a bucket in at least one table and lies closer
//! than a threshold (strictly, as Spark and FAISS compare), each pair once.
//!
//! A pair may collide in several tables; it is evaluated only in the first table where it
//! collides (the rows' signatures tell), so there is no global de-duplication state. Two
//! plans give the same pairs, and the planner picks the cheaper one:
//!
//! - **buckets**: per table, the buckets both sides share; a pair of small buckets is
//!   measured pair by pair, a big one in tiles with the block kernel ([`crate::tile`]);
//! - **all pairs**, when the buckets hold so many rows that bucket pairs would cost more
//!   than a plain scan (Spark's usual parameters on N(0,1) data: ~95% of all pairs
//!   collide): every pair is screened in tiles and only those within the threshold are
//!   checked for a collision. That is brute force at block-kernel speed instead of brute
//!   force in disguise.
//!
//! Every reported distance is Spark's exact one ([`crate::distance::spark_sqdist`]).

use crate::bucket::{Buckets, collide_within};
use crate::distance::{prefetching, quick_rel_error, spark_sqdist, spark_sqdist4};
use crate::error::{Error, Result};
use crate::hash::BrpHasher;
use crate::rows::{Element, Rows};
use crate::sketch;
use crate::tile::{PackedCols, PackedRows, Tile};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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

/// The pairs found, sorted by `(a, b)`: row numbers into each side and Spark's exact
/// distances. In a self-join `a < b`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinPairs {
    /// Rows of the left side.
    pub a: Vec<u32>,
    /// Rows of the right side.
    pub b: Vec<u32>,
    /// Euclidean distances, each `< threshold`.
    pub distances: Vec<f64>,
}

/// Which plan the planner chose.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Plan {
    /// Bucket pairs, table by table.
    #[default]
    Buckets,
    /// Screen all pairs, then check collisions.
    AllPairs,
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
        }
    }
}

/// A shared bucket of one table: (table, left rows, right rows).
type Group<'g> = (usize, &'g [u32], &'g [u32]);

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

/// The two sides of a join, hashed and grouped.
struct Sides<'a, T> {
    pairing: Pairing<'a, T>,
    a_buckets: Buckets,
    b_buckets: Option<Buckets>,
    tables: usize,
}

impl<'a, T: Element> Sides<'a, T> {
    fn new(hasher: &BrpHasher, a: Rows<'a, T>, b: Option<Rows<'a, T>>) -> Result<Self> {
        let tables = hasher.params().num_hash_tables;
        let a_buckets = Buckets::build(hasher.hash(a, "vectors_a")?, tables);
        let b_buckets = match b {
            Some(b) => Some(Buckets::build(hasher.hash(b, "vectors_b")?, tables)),
            None => None,
        };
        Ok(Sides {
            pairing: Pairing {
                a,
                b: b.unwrap_or(a),
                symmetric: b.is_none(),
                screen: None,
            },
            a_buckets,
            b_buckets,
            tables,
        })
    }

    fn b_buckets(&self) -> &Buckets {
        self.b_buckets.as_ref().unwrap_or(&self.a_buckets)
    }

    /// Shared buckets of table `t`, as (left rows, right rows); in a self-join both are
    /// the same bucket.
    fn shared(&self, t: usize) -> Vec<(&[u32], &[u32])> {
        match &self.b_buckets {
            None => self.a_buckets.per_table[t]
                .iter()
                .filter(|(_, r)| r.len() > 1)
                .map(|(_, r)| (r, r))
                .collect(),
            Some(b) => self.a_buckets.per_table[t].shared(&b.per_table[t]),
        }
    }

    /// Every table's shared buckets, as (table, left rows, right rows).
    fn groups(&self) -> Vec<Group<'_>> {
        (0..self.tables)
            .flat_map(|t| self.shared(t).into_iter().map(move |(ra, rb)| (t, ra, rb)))
            .collect()
    }

    fn plan(&self, groups: &[Group<'_>]) -> Plan {
        let bucket_pairs: f64 = groups
            .iter()
            .map(|(_, ra, rb)| self.pairing.pair_count(ra.len(), rb.len()))
            .sum();
        let all = self
            .pairing
            .pair_count(self.pairing.a.len(), self.pairing.b.len());
        Plan::choose(bucket_pairs, all)
    }

    /// Does pair (i, j) count in table `t`? In table `t < L` it must not have collided in
    /// an earlier table; `t == L` stands for "any table" (the all-pairs plan).
    fn counts_in(&self, i: u32, j: u32, t: usize) -> bool {
        let (si, sj) = (
            self.a_buckets.signature(i as usize),
            self.b_buckets().signature(j as usize),
        );
        if t == self.tables {
            collide_within(si, sj, t)
        } else {
            !collide_within(si, sj, t)
        }
    }
}

/// Validate the threshold: a number `>= 0`; `+inf` keeps every colliding pair.
fn check_threshold(threshold: f64) -> Result<()> {
    if threshold.is_nan() || threshold < 0.0 {
        return Err(Error::invalid(
            "threshold",
            format!("must be a number >= 0, got {threshold}"),
        ));
    }
    Ok(())
}

/// All pairs of rows of `a` (and `b`, or `a` itself when `None`) that share a bucket in some
/// table and are closer than `threshold`. A self-join reports each unordered pair
/// `{i, j}`, `i != j`, once, as `i < j`.
pub fn similarity_join<T: Element>(
    hasher: &BrpHasher,
    a: Rows<'_, T>,
    b: Option<Rows<'_, T>>,
    threshold: f64,
) -> Result<(JoinPairs, Plan)> {
    check_threshold(threshold)?;
    let sides = Sides::new(hasher, a, b)?;
    let groups = sides.groups();
    let plan = sides.plan(&groups);
    Ok((run(&sides, &groups, plan, threshold, &|_, _| true), plan))
}

/// Like [`similarity_join`], but a pair is kept only when a Count-Min Sketch of per-pair
/// collision counts (`depth` rows of `width` counters: fixed memory, whatever the data)
/// estimates that it collides in at least `min_collisions` tables. The estimate never
/// undercounts, so every pair that truly collides that often is kept; with
/// `min_collisions == 1` the result is exactly [`similarity_join`]'s.
pub fn similarity_join_cms<T: Element>(
    hasher: &BrpHasher,
    a: Rows<'_, T>,
    b: Option<Rows<'_, T>>,
    threshold: f64,
    min_collisions: usize,
    width: usize,
    depth: usize,
) -> Result<(JoinPairs, Plan)> {
    check_threshold(threshold)?;
    if min_collisions == 0 {
        return Err(Error::invalid(
            "min_collisions",
            "must be at least 1, got 0",
        ));
    }
    if width == 0 || depth == 0 {
        return Err(Error::invalid(
            "sketch",
            format!("width and depth must be >= 1, got {width} x {depth}"),
        ));
    }
    let sides = Sides::new(hasher, a, b)?;
    if min_collisions > sides.tables {
        return Ok((JoinPairs::default(), Plan::Buckets));
    }
    let sketch = CountMinSketch::new(width, depth);
    let groups = sides.groups();
    groups.par_iter().for_each(|&(_, ra, rb)| {
        for (x, &i) in ra.iter().enumerate() {
            let start = if sides.pairing.symmetric { x + 1 } else { 0 };
            for &j in &rb[start..] {
                sketch.add(i, j);
            }
        }
    });
    let plan = sides.plan(&groups);
    let keep = |i: u32, j: u32| sketch.estimate(i, j) >= min_collisions as u32;
    Ok((run(&sides, &groups, plan, threshold, &keep), plan))
}

/// Count-Min Sketch over pairs of rows: `depth` hashed rows of `width` counters.
struct CountMinSketch {
    counters: Vec<AtomicU32>,
    width: usize,
    depth: usize,
}

impl CountMinSketch {
    fn new(width: usize, depth: usize) -> Self {
        CountMinSketch {
            counters: (0..width * depth).map(|_| AtomicU32::new(0)).collect(),
            width,
            depth,
        }
    }

    fn slot(&self, i: u32, j: u32, level: usize) -> usize {
        let key = ((i as u64) << 32 | j as u64).to_le_bytes();
        level * self.width
            + (xxhash_rust::xxh3::xxh3_64_with_seed(&key, level as u64) % self.width as u64)
                as usize
    }

    fn add(&self, i: u32, j: u32) {
        for level in 0..self.depth {
            self.counters[self.slot(i, j, level)].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn estimate(&self, i: u32, j: u32) -> u32 {
        (0..self.depth)
            .map(|level| self.counters[self.slot(i, j, level)].load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }
}

/// Run `plan` over the shared bucket `groups` (or, for all pairs, one group of every row
/// with table `L` meaning "any table"); `keep` is an extra filter on candidate pairs (the
/// sketch), applied before the exact distance.
fn run<T: Element>(
    sides: &Sides<'_, T>,
    groups: &[Group<'_>],
    plan: Plan,
    threshold: f64,
    keep: &(dyn Fn(u32, u32) -> bool + Sync),
) -> JoinPairs {
    let all_a: Vec<u32>;
    let all_b: Vec<u32>;
    let all_pairs: [Group<'_>; 1];
    let groups = match plan {
        Plan::Buckets => groups,
        Plan::AllPairs => {
            all_a = (0..sides.pairing.a.len() as u32).collect();
            all_b = (0..sides.pairing.b.len() as u32).collect();
            all_pairs = [(sides.tables, &all_a, &all_b)];
            &all_pairs[..]
        }
    };
    let found = std::sync::Mutex::new(Found::new());
    let emit = |block: &mut Found| {
        found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(block)
    };
    let never = AtomicBool::new(false);
    groups.par_iter().for_each(|(t, ra, rb)| {
        let accept = |i: u32, j: u32| sides.counts_in(i, j, *t) && keep(i, j);
        join_group(sides.pairing, ra, rb, threshold, &accept, &emit, &never)
    });
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.par_sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    let mut out = JoinPairs::default();
    for (i, j, d) in found {
        out.a.push(i);
        out.b.push(j);
        out.distances.push(d);
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::BrpParams;
    use crate::rows::uniform_rows;

    fn brute(
        h: &BrpHasher,
        a: Rows<'_, f32>,
        b: Rows<'_, f32>,
        symmetric: bool,
        t: f64,
    ) -> Vec<(u32, u32, f64)> {
        let tables = h.params().num_hash_tables;
        let (ha, hb) = (h.hash(a, "a").unwrap(), h.hash(b, "b").unwrap());
        let mut out = Vec::new();
        for i in 0..a.len() {
            for j in if symmetric { i + 1 } else { 0 }..b.len() {
                if collide_within(
                    &ha[i * tables..(i + 1) * tables],
                    &hb[j * tables..(j + 1) * tables],
                    tables,
                ) {
                    let d = spark_sqdist(a.row(i), b.row(j)).sqrt();
                    if d < t {
                        out.push((i as u32, j as u32, d));
                    }
                }
            }
        }
        out
    }

    fn triples(p: &JoinPairs) -> Vec<(u32, u32, f64)> {
        (0..p.a.len())
            .map(|x| (p.a[x], p.b[x], p.distances[x]))
            .collect()
    }

    #[test]
    fn both_plans_equal_brute_force() {
        let dim = 10;
        let a = uniform_rows(1500, dim, 1, 2.0);
        let b = uniform_rows(700, dim, 2, 2.0);
        let (ra, rb) = (Rows::new(&a, dim).unwrap(), Rows::new(&b, dim).unwrap());
        let mut plans = Vec::new();
        for bl in [0.05, 0.3, 40.0] {
            let h = BrpHasher::new(BrpParams::new(dim, bl, 3, 9).unwrap());
            for t in [0.5, 0.9] {
                let (got, plan) = similarity_join(&h, ra, Some(rb), t).unwrap();
                assert_eq!(
                    triples(&got),
                    brute(&h, ra, rb, false, t),
                    "A x B, bl {bl}, t {t}"
                );
                let (got, plan_self) = similarity_join(&h, ra, None, t).unwrap();
                assert_eq!(
                    triples(&got),
                    brute(&h, ra, ra, true, t),
                    "self, bl {bl}, t {t}"
                );
                plans.extend([plan, plan_self]);
            }
        }
        assert!(
            plans.contains(&Plan::AllPairs) && plans.contains(&Plan::Buckets),
            "{plans:?}"
        );
    }

    #[test]
    fn prefix_screening_keeps_every_pair() {
        // 70-d rows with near copies: screening runs on a 16..64-dim prefix, then in full.
        let dim = 70;
        let a = uniform_rows(900, dim, 11, 2.0);
        let noise = uniform_rows(900, dim, 12, 0.3);
        let b: Vec<f32> = a.iter().zip(&noise).map(|(x, e)| x + e).collect();
        let (ra, rb) = (Rows::new(&a, dim).unwrap(), Rows::new(&b, dim).unwrap());
        let both: Vec<f32> = [a.clone(), b.clone()].concat();
        let rboth = Rows::new(&both, dim).unwrap();
        let h = BrpHasher::new(BrpParams::new(dim, 8.0, 2, 5).unwrap());
        for t in [0.8, 1.0, 1.2] {
            let (got, plan) = similarity_join(&h, ra, Some(rb), t).unwrap();
            let want = brute(&h, ra, rb, false, t);
            assert!(
                want.len() > 100,
                "t {t}: the test needs close pairs, has {}",
                want.len()
            );
            assert_eq!(plan, Plan::AllPairs);
            assert_eq!(triples(&got), want, "A x B, t {t}");
            let (got, _) = similarity_join(&h, rboth, None, t).unwrap();
            assert_eq!(
                triples(&got),
                brute(&h, rboth, rboth, true, t),
                "self, t {t}"
            );
        }
    }

    #[test]
    fn cms_with_one_collision_is_the_plain_join() {
        let dim = 6;
        let a = uniform_rows(800, dim, 5, 2.0);
        let ra = Rows::new(&a, dim).unwrap();
        let h = BrpHasher::new(BrpParams::new(dim, 0.8, 4, 3).unwrap());
        let (plain, _) = similarity_join(&h, ra, None, 0.6).unwrap();
        let (cms, _) = similarity_join_cms(&h, ra, None, 0.6, 1, 1 << 16, 4).unwrap();
        assert_eq!(plain, cms);
        let (none, _) = similarity_join_cms(&h, ra, None, 0.6, 5, 1 << 16, 4).unwrap();
        assert!(none.a.is_empty());
        // A tiny sketch overcounts but never drops a pair that truly collides often enough.
        let hashes = h.hash(ra, "a").unwrap();
        let (three, _) = similarity_join_cms(&h, ra, None, 0.6, 3, 64, 2).unwrap();
        let got: std::collections::HashSet<(u32, u32)> = three
            .a
            .iter()
            .copied()
            .zip(three.b.iter().copied())
            .collect();
        for x in 0..plain.a.len() {
            let (i, j) = (plain.a[x] as usize, plain.b[x] as usize);
            let count = (0..4)
                .filter(|&t| hashes[i * 4 + t] == hashes[j * 4 + t])
                .count();
            if count >= 3 {
                assert!(got.contains(&(i as u32, j as u32)));
            }
        }
    }

    #[test]
    fn bad_threshold_is_rejected() {
        let h = BrpHasher::new(BrpParams::new(2, 1.0, 1, 0).unwrap());
        let a = [0.0f32, 0.0];
        let ra = Rows::new(&a, 2).unwrap();
        assert!(similarity_join(&h, ra, None, -1.0).is_err());
        assert!(similarity_join(&h, ra, None, f64::NAN).is_err());
        assert!(similarity_join(&h, ra, None, f64::INFINITY).is_ok());
    }
}
