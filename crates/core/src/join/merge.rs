//! Similarity joins of bucket tables by merge, for indexes on disk: per hash table, walk
//! both sides' bucket directories in key order; every key both hold is a group of candidate
//! pairs, measured with the join's block kernel ([`crate::join`]).
//!
//! A pair is reported only in the first table where it collides (both rows' signatures
//! tell), so there is no global de-duplication state and memory does not grow with the
//! output: found pairs leave block by block through a callback. Work is split into key
//! ranges of the left directory, run in parallel.
//!
//! When the shared buckets would hold most of all pairs (coarse buckets, or data whose
//! pairs are all about equally far apart), walking them costs more than a plain scan; the
//! planner then scans every pair once in tiles instead, and keeps those that collide in some
//! table (the signatures tell): the same pairs, found faster ([`Plan`]). With sign sketches on
//! both sides, `max_hamming` drops candidate pairs whose sketches differ in too many bits
//! before they are measured, in either plan.

use super::blocked::{self, Candidates, Goal};
use crate::bucket::TableView;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::index::IndexParams;
use crate::join::kernel::{Found, Pairing, Plan, Screen, join_group};
use crate::kernels::Rows;
use crate::kernels::prefetch::InOrder;
use crate::sketch::Sketches;
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// One side of a join: its vectors, every row's bucket keys and its tables.
#[derive(Debug, Clone)]
pub struct JoinSide<'a> {
    /// The vectors (`f32`, as an index stores them).
    pub vectors: Rows<'a, f32>,
    /// Row-major `rows x L` bucket keys.
    pub signatures: &'a [u64],
    /// The `L` tables.
    pub tables: Vec<TableView<'a>>,
    /// Row-major sign sketches, when the side has them.
    pub sketches: Option<&'a [u64]>,
    /// The index directory the side was opened from (`None` in memory): the blocked plan
    /// spills its candidate pairs beside it.
    pub path: Option<&'a Path>,
}

impl JoinSide<'_> {
    fn signature(&self, row: u32) -> &[u64] {
        let l = self.tables.len();
        &self.signatures[row as usize * l..(row as usize + 1) * l]
    }
}

impl Index {
    /// This index as a side of a [`join`] (defined here, beside the join, so that the
    /// index does not depend on its clients).
    pub fn side(&self) -> JoinSide<'_> {
        JoinSide {
            vectors: Rows::new(self.vectors(), self.params().dim).expect("checked at open"),
            signatures: self.signatures(),
            tables: (0..self.params().num_hash_tables)
                .map(|t| self.table(t))
                .collect(),
            sketches: self.stored_sketches(),
            path: Some(self.path()),
        }
    }
}

/// Does pair (`i` of `a`, `j` of `b`) count when measured in table `t`? It must collide in
/// at least `min_collisions` tables and, with `t < L` (a bucket of table `t` holds both),
/// in no earlier table: a pair is counted in the first table where it collides. `t == L`
/// stands for "any table" (the all-pairs plan).
fn counts_in(
    a: &JoinSide<'_>,
    b: &JoinSide<'_>,
    i: u32,
    j: u32,
    t: usize,
    min_collisions: usize,
) -> bool {
    let (si, sj) = (a.signature(i), b.signature(j));
    let collisions = || si.iter().zip(sj).filter(|(x, y)| x == y).count();
    if t < si.len() {
        !si[..t].iter().zip(&sj[..t]).any(|(x, y)| x == y)
            && (min_collisions == 1 || collisions() >= min_collisions)
    } else {
        collisions() >= min_collisions
    }
}

/// What a join does besides the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JoinOptions {
    /// Report pairs closer than this (strictly).
    pub threshold: f64,
    /// Report a pair only when it collides in at least this many tables (counted exactly
    /// from the signatures; 1 reports every colliding pair).
    pub min_collisions: usize,
    /// Sample buckets holding more rows than this on a side down to this many rows (evenly
    /// spaced, so the sample is deterministic); `None` measures every bucket whole. Capping
    /// acts on buckets, so it also keeps the join on the bucket plan.
    pub max_bucket_rows: Option<usize>,
    /// With sketches on both sides: skip candidate pairs whose sketches differ in more than
    /// this many bits (faster, at some loss of recall); `None` measures every candidate.
    pub max_hamming: Option<usize>,
    /// Bytes of memory the join may use for vectors and candidate pairs. When the vectors
    /// of both sides exceed it, the join takes the blocked plan (`join::blocked`), whose
    /// reads stay sequential; `None` (or a budget they fit) walks buckets in place.
    pub memory_budget: Option<usize>,
}

impl JoinOptions {
    /// Every colliding pair closer than `threshold`: no minimum of collisions, no cap, no
    /// sketch screen.
    pub fn new(threshold: f64) -> Self {
        JoinOptions {
            threshold,
            min_collisions: 1,
            max_bucket_rows: None,
            max_hamming: None,
            memory_budget: None,
        }
    }
}

/// What a join did: for the log, and to see skew.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinSummary {
    /// Buckets both sides hold (summed over tables; in a self-join, buckets of 2+ rows).
    pub shared_buckets: u64,
    /// Rows per shared bucket (both sides together) at the 50th, 90th, 99th and 99.9th
    /// percentile; exact up to 4,096 rows, the upper power of two above.
    pub bucket_rows_percentiles: [u64; 4],
    /// The largest shared bucket's rows.
    pub max_bucket_rows: u64,
    /// Candidate pairs in the shared buckets (before the first-collision rule).
    pub candidate_pairs: u64,
    /// Buckets sampled down by `max_bucket_rows`.
    pub capped_buckets: u64,
    /// Pairs reported.
    pub pairs: u64,
    /// Wall time of the join.
    pub seconds: f64,
    /// True when the consumer stopped the join early.
    pub stopped: bool,
    /// How the pairs were found: walking the shared buckets, or scanning all pairs and
    /// keeping those that share a bucket (the fields above describe the buckets either way).
    pub plan: Plan,
    /// With the blocked plan: how many times a block of rows was read into memory, per
    /// side (the left side's blocks, the right side's); zeros otherwise.
    pub block_reads: [u64; 2],
}

/// Sizes exact below this; power-of-two bins above.
const EXACT_SIZES: usize = 4096;
/// Left-directory buckets per unit of parallel work.
const UNIT_BUCKETS: usize = 4096;

#[derive(Debug, Clone)]
pub(super) struct Stats {
    sizes: Vec<u64>, // EXACT_SIZES exact bins, then 64 log bins
    max: u64,
    groups: u64,
    candidates: u64,
    capped: u64,
}

impl Stats {
    fn new() -> Self {
        Stats {
            sizes: vec![0; EXACT_SIZES + 64],
            max: 0,
            groups: 0,
            candidates: 0,
            capped: 0,
        }
    }

    fn add(&mut self, rows: u64, candidates: f64, capped: bool) {
        let bin = if rows < EXACT_SIZES as u64 {
            rows as usize
        } else {
            EXACT_SIZES + (64 - rows.leading_zeros() as usize)
        };
        self.sizes[bin] += 1;
        self.max = self.max.max(rows);
        self.groups += 1;
        self.candidates += candidates as u64;
        self.capped += u64::from(capped);
    }

    fn merge(mut self, other: Stats) -> Stats {
        for (a, b) in self.sizes.iter_mut().zip(other.sizes) {
            *a += b;
        }
        self.max = self.max.max(other.max);
        self.groups += other.groups;
        self.candidates += other.candidates;
        self.capped += other.capped;
        self
    }

    fn percentile(&self, p: f64) -> u64 {
        let want = (p * self.groups as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bin, &count) in self.sizes.iter().enumerate() {
            seen += count;
            if seen >= want {
                return if bin < EXACT_SIZES {
                    bin as u64
                } else {
                    (1u64 << (bin - EXACT_SIZES))
                        .saturating_sub(1)
                        .min(self.max)
                };
            }
        }
        self.max
    }
}

/// `cap` rows of `rows`, evenly spaced (deterministic).
fn sample(rows: &[u32], cap: usize) -> Vec<u32> {
    (0..cap).map(|i| rows[i * rows.len() / cap]).collect()
}

/// Rows of the left side sampled to estimate the bucket plan's candidate pairs.
const PLAN_SAMPLE: usize = 1024;

/// Join `a` with `b` (or with itself when `None`): every pair sharing a bucket in some table
/// and closer than `options.threshold`, each once (a self-join reports `{i, j}`, `i < j`,
/// once). Found pairs (row numbers into each side, Spark's exact distance over the stored
/// `f32` values) go to `emit` block by block. The join stops early when `emit` returns
/// `false` or when `stop` is set (by the caller, e.g. on Ctrl-C: every worker looks at it
/// between rows, so a join that finds nothing stops as promptly as one that does).
pub fn join(
    params: &IndexParams,
    a: &JoinSide<'_>,
    b: Option<&JoinSide<'_>>,
    options: JoinOptions,
    emit: &(dyn Fn(&mut Found) -> bool + Sync),
    stop: &AtomicBool,
) -> Result<JoinSummary> {
    let started = Instant::now();
    let tables = params.num_hash_tables;
    if options.threshold.is_nan() || options.threshold < 0.0 {
        return Err(Error::invalid(
            "threshold",
            format!("must be a number >= 0, got {}", options.threshold),
        ));
    }
    if !(1..=tables).contains(&options.min_collisions) {
        return Err(Error::invalid(
            "min_collisions",
            format!(
                "must be between 1 and {tables}, got {}",
                options.min_collisions
            ),
        ));
    }
    if options.max_bucket_rows.is_some_and(|m| m < 2) {
        return Err(Error::invalid("max_bucket_rows", "must be at least 2"));
    }
    let symmetric = b.is_none();
    let b = b.unwrap_or(a);
    let mut pairing = Pairing {
        a: a.vectors,
        b: b.vectors,
        symmetric,
        screen: None,
    };
    let all_pairs = pairing.pair_count(a.vectors.len(), b.vectors.len());
    let plan = match options.max_bucket_rows {
        Some(_) => Plan::Buckets,
        None => Plan::choose(bucket_pairs(a, b, symmetric)?, all_pairs),
    };
    let vector_bytes = 4
        * (a.vectors.as_slice().len()
            + if symmetric {
                0
            } else {
                b.vectors.as_slice().len()
            });
    let plan = if plan == Plan::Buckets && blocked::needed(vector_bytes, options.memory_budget) {
        Plan::Blocked
    } else {
        plan
    };
    let sketches = sketches(params, a, b, options.max_hamming, plan)?;
    pairing.screen = sketches.as_ref().map(|(sa, sb, max)| Screen {
        a: sa,
        b: sb,
        max: *max,
    });
    let pairs = std::sync::atomic::AtomicU64::new(0);
    let send = |found: &mut Found| {
        pairs.fetch_add(found.len() as u64, Ordering::Relaxed);
        if !stop.load(Ordering::Relaxed) && !emit(found) {
            stop.store(true, Ordering::Relaxed);
        }
        found.clear();
    };
    // Everything fits the budget on the in-place plans: read it in large requests rather
    // than fault by fault (the index's mappings have read-around off).
    let _in_order: Vec<(InOrder<'_, f32>, InOrder<'_, u64>)> = match plan {
        Plan::Blocked => Vec::new(),
        _ => distinct(a, b, symmetric)
            .map(|s| {
                (
                    InOrder::new(s.vectors.as_slice()),
                    InOrder::new(s.signatures),
                )
            })
            .collect(),
    };
    // The bucket statistics are the same whichever plan measures the pairs.
    let mut reads = [0u64; 2];
    let stats = match plan {
        Plan::Blocked => {
            let budget = options.memory_budget.unwrap_or(usize::MAX);
            let spill = spill_dir(a.path.or(b.path))?;
            let candidates = Candidates::new(
                spill.path(),
                budget,
                a,
                b,
                symmetric,
                Goal::Within(options.threshold),
            );
            let stats = walk_buckets(
                a,
                b,
                pairing,
                options,
                Walk::Collect(&candidates),
                &send,
                stop,
            )?;
            reads = candidates.evaluate(a, b, options.threshold, &send, stop)?;
            stats
        }
        Plan::Buckets => walk_buckets(a, b, pairing, options, Walk::Measure, &send, stop)?,
        Plan::AllPairs => walk_buckets(a, b, pairing, options, Walk::Count, &send, stop)?,
    };
    if plan == Plan::AllPairs {
        let all_a: Vec<u32> = (0..a.vectors.len() as u32).collect();
        let all_b: Vec<u32> = (0..b.vectors.len() as u32).collect();
        let accept = |i: u32, j: u32| counts_in(a, b, i, j, tables, options.min_collisions);
        let rows_b = if symmetric { &all_a } else { &all_b };
        join_group(
            pairing,
            &all_a,
            rows_b,
            options.threshold,
            &accept,
            &send,
            stop,
        );
    }
    Ok(JoinSummary {
        shared_buckets: stats.groups,
        bucket_rows_percentiles: [0.5, 0.9, 0.99, 0.999].map(|p| stats.percentile(p)),
        max_bucket_rows: stats.max,
        candidate_pairs: stats.candidates,
        capped_buckets: stats.capped,
        pairs: pairs.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        stopped: stop.load(Ordering::Relaxed),
        plan,
        block_reads: reads,
    })
}

/// The sketches of both sides, for a join with `max_hamming`: both sides need them (of the
/// same planes, which [`crate::index::Index::check_sketches`] checks for two indexes). The
/// right side's are also interleaved when all pairs will be scanned.
fn sketches<'s>(
    params: &IndexParams,
    a: &JoinSide<'s>,
    b: &JoinSide<'s>,
    max_hamming: Option<usize>,
    plan: Plan,
) -> Result<Option<(Sketches<'s>, Sketches<'s>, u16)>> {
    let Some(max) = max_hamming else {
        return Ok(None);
    };
    let bits = params.sketch_bits;
    let (Some(sa), Some(sb)) = (a.sketches, b.sketches) else {
        return Err(Error::invalid(
            "max_hamming",
            "needs sign sketches: build the index with sketch_bits > 0",
        ));
    };
    if max > bits {
        return Err(Error::invalid(
            "max_hamming",
            format!("must be at most the sketch size, {bits} bits; got {max}"),
        ));
    }
    let words = bits / 64;
    let sb = Sketches::new(sb, words);
    let sb = if plan == Plan::AllPairs {
        sb.interleaved()
    } else {
        sb
    };
    Ok(Some((Sketches::new(sa, words), sb, max as u16)))
}

/// Estimated candidate pairs of the bucket plan, counted once per table as it measures
/// them: from the buckets of up to [`PLAN_SAMPLE`] evenly spaced rows of `a`.
fn bucket_pairs(a: &JoinSide<'_>, b: &JoinSide<'_>, symmetric: bool) -> Result<f64> {
    let n = a.vectors.len();
    let sample = n.min(PLAN_SAMPLE);
    let mut partners = 0usize;
    for s in 0..sample {
        let row = (s * n / sample) as u32;
        for (table, &key) in b.tables.iter().zip(a.signature(row)) {
            partners += table
                .lookup(key)?
                .len()
                .saturating_sub(usize::from(symmetric));
        }
    }
    let per_row = partners as f64 / sample.max(1) as f64;
    Ok(per_row * n as f64 / if symmetric { 2.0 } else { 1.0 })
}

/// The sides of a join, each once (a self-join has one).
fn distinct<'a, 's>(
    a: &'a JoinSide<'s>,
    b: &'a JoinSide<'s>,
    symmetric: bool,
) -> impl Iterator<Item = &'a JoinSide<'s>> {
    std::iter::once(a).chain((!symmetric).then_some(b))
}

/// What [`walk_buckets`] does with each shared bucket besides counting it.
pub(super) enum Walk<'c> {
    /// Measure its pairs (the bucket plan).
    Measure,
    /// Nothing more (the all-pairs plan measures later).
    Count,
    /// List its candidate pairs for the blocked plan.
    Collect(&'c Candidates),
}

/// A temporary directory for the blocked plan's candidate runs: beside the index (on the
/// disk that holds it, not in a `/tmp` that may be memory), else in the system's. Removed
/// when dropped, on success, error or interrupt alike.
pub(super) fn spill_dir(index: Option<&Path>) -> Result<tempfile::TempDir> {
    let beside = index
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(".fast-lsh-join-")
        .tempdir_in(beside)
        .or_else(|_| tempfile::Builder::new().prefix("fast-lsh-join-").tempdir())
        .map_err(|e| Error::io(beside, e))
}

/// The bucket plan: per table, the buckets both sides hold, in parallel over ranges of the
/// left directory, each handled as `walk` says.
pub(super) fn walk_buckets(
    a: &JoinSide<'_>,
    b: &JoinSide<'_>,
    pairing: Pairing<'_, f32>,
    options: JoinOptions,
    walk: Walk<'_>,
    send: &(dyn Fn(&mut Found) + Sync),
    stop: &AtomicBool,
) -> Result<Stats> {
    let symmetric = pairing.symmetric;
    // The walk reads every table in key order (the other side's too, by merging).
    let _in_order: Vec<_> = distinct(a, b, symmetric)
        .flat_map(|s| &s.tables)
        .map(TableView::in_order)
        .collect();
    // Listing candidates reads the signatures at random (the first-table rule): whole,
    // when they fit the budget beside the prefix copy.
    let _whole: Vec<InOrder<'_, u64>> = match walk {
        Walk::Collect(c) => {
            let bytes: usize = distinct(a, b, symmetric)
                .map(|s| 8 * s.signatures.len())
                .sum();
            if c.fits(bytes) {
                distinct(a, b, symmetric)
                    .map(|s| InOrder::new(s.signatures))
                    .collect()
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    };
    let units: Vec<(usize, usize, usize)> = (0..a.tables.len())
        .flat_map(|t| {
            let n = a.tables[t].buckets();
            (0..n)
                .step_by(UNIT_BUCKETS)
                .map(move |lo| (t, lo, (lo + UNIT_BUCKETS).min(n)))
        })
        .collect();
    units
        .par_iter()
        .map(|&(t, lo, hi)| -> Result<Stats> {
            let (ta, tb) = (&a.tables[t], &b.tables[t]);
            let mut stats = Stats::new();
            let accept = |i: u32, j: u32| counts_in(a, b, i, j, t, options.min_collisions);
            let mut j = 0;
            if !symmetric {
                let first = ta.key(lo);
                j = tb.lower_bound(first);
            }
            for i in lo..hi {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let ra = ta.members(i)?;
                let rb = if symmetric {
                    if ra.len() < 2 {
                        continue;
                    }
                    ra
                } else {
                    let key = ta.key(i);
                    while j < tb.buckets() && tb.key(j) < key {
                        j += 1;
                    }
                    if j == tb.buckets() {
                        break;
                    }
                    if tb.key(j) != key {
                        continue;
                    }
                    tb.members(j)?
                };
                let rows = (ra.len() + if symmetric { 0 } else { rb.len() }) as u64;
                let cap = |rows: &[u32]| match options.max_bucket_rows {
                    Some(m) if rows.len() > m => Some(sample(rows, m)),
                    _ => None,
                };
                let sampled_a = cap(ra);
                let sampled_b = if symmetric { None } else { cap(rb) };
                let capped = sampled_a.is_some() || sampled_b.is_some();
                let ga = sampled_a.as_deref().unwrap_or(ra);
                let gb = if symmetric {
                    ga
                } else {
                    sampled_b.as_deref().unwrap_or(rb)
                };
                stats.add(rows, pairing.pair_count(ra.len(), rb.len()), capped);
                match walk {
                    Walk::Measure => {
                        join_group(pairing, ga, gb, options.threshold, &accept, send, stop)
                    }
                    Walk::Count => {}
                    Walk::Collect(c) => match pairing.screen {
                        // The sketch screen, as the kernel applies it, before the pair is listed.
                        Some(sc) => {
                            let keep =
                                |i: u32, j: u32| sc.a.close(i, sc.b, j, sc.max) && accept(i, j);
                            c.add_group(ga, gb, &keep, stop)
                        }
                        None => c.add_group(ga, gb, &accept, stop),
                    },
                }
            }
            Ok(stats)
        })
        .try_reduce(Stats::new, |x, y| Ok(x.merge(y)))
}
