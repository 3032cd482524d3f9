//! Similarity joins: every pair that shares a bucket in at least one table and lies closer
//! than a threshold (strictly, as Spark and FAISS compare), each pair once.
//!
//! A pair may collide in several tables; it is evaluated only in the first table where it
//! collides (the rows' signatures tell), so there is no global de-duplication state. Two
//! plans give the same pairs, and the planner picks the cheaper one:
//!
//! - **buckets**: per table, the buckets both sides share; a pair of small buckets is
//!   measured pair by pair, a big one in tiles with the block kernel ([`crate::kernels::tile`]);
//! - **all pairs**, when the buckets hold so many rows that bucket pairs would cost more
//!   than a plain scan (Spark's usual parameters on N(0,1) data: ~95% of all pairs
//!   collide): every pair is screened in tiles and only those within the threshold are
//!   checked for a collision. That is brute force at block-kernel speed instead of brute
//!   force in disguise.
//!
//! Every reported distance is Spark's exact one ([`crate::kernels::distance::spark_sqdist`]).

use crate::bucket::collide_within;
use crate::error::{Error, Result};
use crate::hash::BrpHasher;
use crate::join::kernel::{Found, Pairing, Plan, join_group};
use crate::kernels::{Element, Rows};
use crate::model::buckets::Buckets;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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

/// A shared bucket of one table: (table, left rows, right rows).
type Group<'g> = (usize, &'g [u32], &'g [u32]);

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
        Plan::Buckets | Plan::Blocked => groups,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::params::BrpParams;
    use crate::kernels::distance::spark_sqdist;
    use crate::kernels::rows::uniform_rows;

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
