//! The join for vectors larger than memory: two phases whose reads are sequential.
//!
//! Measured first (issue 18): the merge over the tables is sequential, but each candidate
//! pair's two vectors lie anywhere in the vectors segment. A 4M x 128 self-join (2.6 GB
//! index) capped at 1 GB of memory had read 478 GB, 184 times the index, after 9.5 minutes:
//! a page was evicted before its next use. So the vectors are never read per pair:
//!
//! 1. **Candidates.** The same merge over the tables ([`super::merge`]) lists each
//!    candidate pair once (the first-table rule and `min_collisions` read only the
//!    signatures). A pair whose distance over the first few dimensions — a copy of which
//!    is read once, sequentially, and held in memory — already reaches the threshold is
//!    dropped: a lower bound, so nothing is lost (on N(0, 1) data, 7 dimensions let 0.8%
//!    of random pairs through at threshold 1.5, and 15 dimensions about none). Survivors go to an external sort
//!    ([`RunSorter`], spilled as zstd runs into a temporary directory) keyed by their
//!    *block pair*: the rows are cut into blocks that fit the memory budget two at a
//!    time, and a pair `(i, j)` belongs to `(block(i), block(j))`.
//! 2. **Blocks.** The sorted pairs arrive block pair after block pair, left block major.
//!    The left block is read once (sequentially, into memory) for all its block pairs, the
//!    right block once per block pair, and each pair's exact distance is computed from the
//!    two blocks in memory.
//!
//! With `B` blocks per side the vectors are read at most `B + B²/2` block-times in a
//! self-join — in practice far less, since planted and real near-duplicates cluster in
//! few block pairs — each read sequential, plus the candidate runs written and read once.
//! Of the designs in the project notes, this one needs no change to the index format and
//! bounds the reads whatever the data; carrying sketches in the runs would shrink phase 1's
//! output further and is left for when candidates, not vectors, dominate the bytes.

use super::kernel::Found;
use super::merge::JoinSide;
use crate::error::{Error, Result};
use crate::index::sort::RunSorter;
use crate::kernels::distance::{quick_sqdist_f32, spark_sqdist};
use crate::kernels::prefetch::{InOrder, will_need};
use crate::kernels::topk::{Candidate, best_k};
use rayon::prelude::*;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Pairs a worker gathers before it hands them to the sorter.
const HAND_OFF: usize = 1 << 15;

/// Pairs evaluated per parallel task in phase 2.
const EVAL_CHUNK: usize = 4096;

/// What reading one row in place costs, in bytes: about a page (read-around is off).
const ROW_IN_PLACE: usize = 4096;

/// Pairs of one block pair held at most before they are evaluated (the blocks stay).
const PENDING: usize = 1 << 20;

/// Rows per piece of the prefix pass (read ahead one piece at a time).
const PREFIX_PIECE: usize = 1 << 16;

/// Most leading dimensions kept for the prefix screen (more drop few more pairs).
const MAX_PREFIX: usize = 16;

/// How the rows of both sides are cut into blocks that fit the memory budget.
#[derive(Debug, Clone, Copy)]
struct Blocks {
    /// Rows per block.
    rows: usize,
}

impl Blocks {
    fn of(&self, row: u32) -> u64 {
        row as u64 / self.rows as u64
    }
}

/// The first `dims` values of every row of both sides, and the squared distance over them
/// that already rules a pair out.
struct Prefixes {
    a: Vec<f32>,
    /// `None` in a self-join.
    b: Option<Vec<f32>>,
    dims: usize,
    limit: f64,
}

impl Prefixes {
    /// Copy the first `dims` values of each row of `side` (one sequential pass, each piece
    /// asked for before the one before it is copied).
    fn of(side: &JoinSide<'_>, dims: usize) -> Vec<f32> {
        let dim = side.vectors.dim();
        let mut out = Vec::with_capacity(side.vectors.len() * dims);
        let pieces: Vec<&[f32]> = side.vectors.as_slice().chunks(dim * PREFIX_PIECE).collect();
        for (p, piece) in pieces.iter().enumerate() {
            let _in_order = InOrder::new(piece);
            if let Some(next) = pieces.get(p + 1) {
                will_need(next);
            }
            out.par_extend(piece.par_chunks(dim * 4096).flat_map_iter(|rows| {
                rows.chunks_exact(dim)
                    .flat_map(|r| r[..dims].iter().copied())
            }));
        }
        out
    }

    /// Whether pair `(i, j)` may still be closer than the threshold.
    #[inline]
    fn may_pass(&self, i: u32, j: u32) -> bool {
        let d = self.dims;
        let x = &self.a[i as usize * d..(i as usize + 1) * d];
        let b = self.b.as_deref().unwrap_or(&self.a);
        let y = &b[j as usize * d..(j as usize + 1) * d];
        spark_sqdist(x, y) < self.limit
    }
}

/// What phase 2 computes from the candidate pairs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Goal {
    /// Pairs closer than this threshold (a similarity join).
    Within(f64),
    /// Each left row's `k` nearest right rows (a k-NN join); in a self-join both rows of a
    /// pair are left rows, so pairs are listed in both directions.
    Nearest(usize),
}

/// Phase 1's sink: candidate pairs, keyed by block pair, into an external sort.
pub(crate) struct Candidates {
    sorter: Mutex<RunSorter>,
    blocks: Blocks,
    prefixes: Option<Prefixes>,
    symmetric: bool,
    budget: usize,
    /// List each pair of a self-join both ways (a k-NN join).
    directed: bool,
    /// The first error of a spill, reported when the walk ends.
    failed: Mutex<Option<Error>>,
}

impl Candidates {
    /// A sink for a join of `a` with `b` (the same side when `symmetric`) spilling into
    /// `spill_dir`, planned for `budget` bytes: up to half for the prefix copies (the screen
    /// that keeps random candidates from spreading over every block pair, so it is worth
    /// more than bigger blocks), an eighth for the sorter's buffer, the rest for the two
    /// blocks phase 2 holds.
    pub(crate) fn new(
        spill_dir: &Path,
        budget: usize,
        a: &JoinSide<'_>,
        b: &JoinSide<'_>,
        symmetric: bool,
        goal: Goal,
    ) -> Self {
        let dim = a.vectors.dim();
        let rows = a.vectors.len() + if symmetric { 0 } else { b.vectors.len() };
        let dims = (budget / 2 / (rows.max(1) * 4)).min(MAX_PREFIX).min(dim);
        // Fewer than two dimensions rarely rule a pair out; the whole vector is no prefix.
        // A k-NN join has no threshold to screen against.
        let (threshold, k) = match goal {
            Goal::Within(t) => (Some(t), 0),
            Goal::Nearest(k) => (None, k),
        };
        let prefixes = threshold
            .filter(|_| dims >= 2 && dims < dim)
            .map(|threshold| Prefixes {
                a: Prefixes::of(a, dims),
                b: (!symmetric).then(|| Prefixes::of(b, dims)),
                dims,
                // The kernel's slack: a prefix sum in f64 of f32 differences is within a few
                // ulps of a lower bound of the full sum.
                limit: threshold * threshold * (1.0 + 8.0 * f64::EPSILON),
            });
        let prefix_bytes = Self::bytes_of(&prefixes);
        let for_blocks = budget.saturating_sub(prefix_bytes + budget / 8);
        // Per row of a block: its vector on each side, and (k-NN) its k best so far.
        let per_row = 2 * dim * 4 + k * std::mem::size_of::<Candidate>();
        Candidates {
            sorter: Mutex::new(RunSorter::new(spill_dir, "candidates", budget / 8)),
            blocks: Blocks {
                rows: (for_blocks / per_row.max(1)).max(1024),
            },
            prefixes,
            symmetric,
            budget,
            directed: symmetric && matches!(goal, Goal::Nearest(_)),
            failed: Mutex::new(None),
        }
    }

    fn bytes_of(prefixes: &Option<Prefixes>) -> usize {
        prefixes
            .as_ref()
            .map_or(0, |p| 4 * (p.a.len() + p.b.as_ref().map_or(0, Vec::len)))
    }

    /// Whether `bytes` more fit the budget beside the prefix copies.
    pub(crate) fn fits(&self, bytes: usize) -> bool {
        bytes + Self::bytes_of(&self.prefixes) <= self.budget
    }

    /// Add the pairs of one group that `accept` admits (in a self-join, `ra == rb` and only
    /// positions `x < y` count); `stop` ends the walk early, on an error or when asked.
    pub(crate) fn add_group(
        &self,
        ra: &[u32],
        rb: &[u32],
        accept: &(dyn Fn(u32, u32) -> bool + Sync),
        stop: &AtomicBool,
    ) {
        let symmetric = self.symmetric;
        let mut gathered: Vec<(u64, u64)> = Vec::new();
        for (x, &i) in ra.iter().enumerate() {
            let from = if symmetric { x + 1 } else { 0 };
            for &j in &rb[from..] {
                // In a self-join a pair is kept as (smaller, larger) row.
                let (i, j) = if symmetric && j < i { (j, i) } else { (i, j) };
                if accept(i, j) && self.prefixes.as_ref().is_none_or(|p| p.may_pass(i, j)) {
                    let key = self.blocks.of(i) << 32 | self.blocks.of(j);
                    gathered.push((key, (i as u64) << 32 | j as u64));
                    if self.directed {
                        let key = self.blocks.of(j) << 32 | self.blocks.of(i);
                        gathered.push((key, (j as u64) << 32 | i as u64));
                    }
                }
            }
            if gathered.len() >= HAND_OFF {
                self.hand_off(&mut gathered, stop);
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
        }
        self.hand_off(&mut gathered, stop);
    }

    fn hand_off(&self, gathered: &mut Vec<(u64, u64)>, stop: &AtomicBool) {
        if gathered.is_empty() {
            return;
        }
        let mut sorter = self.sorter.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = sorter.extend(gathered.drain(..)) {
            self.failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e);
            stop.store(true, Ordering::Relaxed);
        }
        gathered.clear();
    }

    /// Phase 2: every candidate pair's exact distance, block pair after block pair; pairs
    /// closer than `threshold` go to `send`. Returns the number of block reads per side.
    pub(crate) fn evaluate(
        self,
        a: &JoinSide<'_>,
        b: &JoinSide<'_>,
        threshold: f64,
        send: &(dyn Fn(&mut Found) + Sync),
        stop: &AtomicBool,
    ) -> Result<[u64; 2]> {
        self.in_block_pairs(a, b, stop, |_, pending, la, lb| {
            pending.par_chunks(EVAL_CHUNK).for_each(|chunk| {
                let mut found: Found = chunk
                    .iter()
                    .filter_map(|&(i, j)| {
                        let d = spark_sqdist(la.row(i), lb.row(j)).sqrt();
                        (d < threshold).then_some((i, j, d))
                    })
                    .collect();
                if !found.is_empty() {
                    send(&mut found);
                }
            });
            Ok(())
        })
    }

    /// Phase 2 of a k-NN join: each left row's `k` nearest candidates, ranked as
    /// [`Index::knn`](crate::index::Index::knn) ranks them (by `quick_sqdist_f32`'s root,
    /// ties to the smaller row). `emit(first, best)` receives every left row in order, a
    /// block at a time (`best[r]` answers row `first + r`; rows without candidates get an
    /// empty list); it returns `false` to stop. Returns the block reads per side.
    pub(crate) fn nearest(
        self,
        a: &JoinSide<'_>,
        b: &JoinSide<'_>,
        k: usize,
        emit: &mut dyn FnMut(usize, Vec<Vec<Candidate>>) -> Result<bool>,
        stop: &AtomicBool,
    ) -> Result<[u64; 2]> {
        let (rows, n) = (self.blocks.rows, a.vectors.len());
        // The left block being answered and its rows' best so far; rows before `next` are out.
        let mut block: Option<(usize, Vec<Vec<Candidate>>)> = None;
        let mut next = 0usize;
        // Answer the rows before `upto`: blocks without candidates get empty lists, the
        // finished block `done` (which lies before `upto`) its best.
        let mut out = |upto: usize, done: Option<(usize, Vec<Vec<Candidate>>)>| -> Result<()> {
            let (at, best) = match done {
                Some((b, best)) => (b * rows, Some(best)),
                None => (upto, None),
            };
            // The empty blocks before `done`, `done`, and the empty blocks after it.
            let mut parts: Vec<(usize, Vec<Vec<Candidate>>)> = Vec::new();
            let gap = |from: usize, to: usize, parts: &mut Vec<_>| {
                for first in (from..to).step_by(rows) {
                    parts.push((first, vec![Vec::new(); (first + rows).min(to) - first]));
                }
            };
            gap(next, at, &mut parts);
            let mut after = at;
            if let Some(best) = best {
                after = at + best.len();
                parts.push((at, best));
            }
            gap(after, upto.max(after), &mut parts);
            next = upto.max(after);
            for (first, best) in parts {
                if !emit(first, best)? {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            Ok(())
        };
        let reads = self.in_block_pairs(a, b, stop, |ba, pending, la, lb| {
            if block.as_ref().is_none_or(|(b, _)| *b != ba) {
                out(ba * rows, block.take())?;
                let len = ((ba + 1) * rows).min(n) - ba * rows;
                block = Some((ba, vec![Vec::new(); len]));
            }
            let Some((_, best)) = block.as_mut() else {
                return Ok(());
            };
            // Pairs arrive sorted by left row: each row's pairs are one task.
            let found: Vec<(u32, Vec<Candidate>)> = pending
                .par_chunk_by(|x, y| x.0 == y.0)
                .map(|pairs| {
                    let i = pairs[0].0;
                    let measured = pairs
                        .iter()
                        .map(|&(_, j)| Candidate {
                            key: quick_sqdist_f32(la.row(i), lb.row(j)).sqrt(),
                            row: j,
                        })
                        .collect();
                    (i, best_k(measured, k))
                })
                .collect();
            for (i, mut new) in found {
                let slot = &mut best[i as usize - ba * rows];
                new.append(slot);
                *slot = best_k(new, k);
            }
            Ok(())
        })?;
        if !stop.load(Ordering::Relaxed) {
            out(n, block.take())?;
        }
        Ok(reads)
    }

    /// Drive phase 2: the sorted pairs, block pair after block pair (left block major), each
    /// group handed to `visit(left block, pairs, left rows, right rows)` with its blocks
    /// loaded, or read in place when the group is too small to pay for loading them.
    fn in_block_pairs(
        self,
        a: &JoinSide<'_>,
        b: &JoinSide<'_>,
        stop: &AtomicBool,
        mut visit: impl FnMut(usize, &[(u32, u32)], &Loaded<'_>, &Loaded<'_>) -> Result<()>,
    ) -> Result<[u64; 2]> {
        if let Some(e) = self.failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        let sorter = self.sorter.into_inner().unwrap_or_else(|e| e.into_inner());
        // In a self-join both sides are one: a block pair of one block reads it once.
        let symmetric = self.symmetric;
        let mut left = Loaded::new(a, self.blocks);
        let mut right = Loaded::new(b, self.blocks);
        // A block pair whose two rows per pair, each read in place, cost less than loading
        // a block reads them in place (stray random candidates spread over all block pairs).
        let block_bytes = self.blocks.rows * a.vectors.dim() * 4;
        let sparse_below = block_bytes / (2 * ROW_IN_PLACE);
        let mut current: Option<u64> = None;
        let mut pending: Vec<(u32, u32)> = Vec::new();
        let mut flush = |key: u64, pending: &mut Vec<(u32, u32)>| -> Result<()> {
            let (ba, bb) = ((key >> 32) as usize, (key & 0xFFFF_FFFF) as usize);
            if pending.len() >= sparse_below {
                left.load(ba);
                if !(symmetric && ba == bb) {
                    right.load(bb);
                }
            }
            let lb = if symmetric && left.holds(bb) {
                &left
            } else {
                &right
            };
            let result = visit(ba, pending, &left, lb);
            pending.clear();
            result
        };
        sorter
            .merge(|batch| {
                for &(key, pair) in batch {
                    if current != Some(key) {
                        if let Some(prev) = current {
                            flush(prev, &mut pending)?;
                        }
                        current = Some(key);
                    }
                    let (i, j) = ((pair >> 32) as u32, (pair & 0xFFFF_FFFF) as u32);
                    // A big group's pairs are evaluated in pieces (its blocks stay loaded),
                    // cut only between left rows (a k-NN row's candidates stay together).
                    if pending.len() >= PENDING && pending.last().is_some_and(|p| p.0 != i) {
                        flush(key, &mut pending)?;
                    }
                    pending.push((i, j));
                }
                if stop.load(Ordering::Relaxed) {
                    // Ends the merge; the caller reports the join as stopped.
                    return Err(Error::invalid("join", "stopped"));
                }
                Ok(())
            })
            .or_else(|e| {
                if stop.load(Ordering::Relaxed) {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        if let Some(prev) = current.filter(|_| !stop.load(Ordering::Relaxed)) {
            flush(prev, &mut pending)?;
        }
        Ok([left.reads, right.reads])
    }
}

/// One side's block held in memory, read sequentially from its vectors.
struct Loaded<'s> {
    side: &'s JoinSide<'s>,
    blocks: Blocks,
    block: Option<usize>,
    values: Vec<f32>,
    reads: u64,
}

impl<'s> Loaded<'s> {
    fn new(side: &'s JoinSide<'s>, blocks: Blocks) -> Self {
        Loaded {
            side,
            blocks,
            block: None,
            values: Vec::new(),
            reads: 0,
        }
    }

    /// Make block `b` the one held (a no-op when it already is).
    fn load(&mut self, b: usize) {
        if self.block == Some(b) {
            return;
        }
        let dim = self.side.vectors.dim();
        let all = self.side.vectors.as_slice();
        let lo = (b * self.blocks.rows * dim).min(all.len());
        let hi = ((b + 1) * self.blocks.rows * dim).min(all.len());
        let _in_order = InOrder::new(&all[lo..hi]);
        self.values.clear();
        self.values.extend_from_slice(&all[lo..hi]);
        self.block = Some(b);
        self.reads += 1;
    }

    /// Whether block `b` is the one held.
    fn holds(&self, b: usize) -> bool {
        self.block == Some(b)
    }

    /// Row `row`: from the held block when it lies there, else where it lies in the side.
    fn row(&self, row: u32) -> &[f32] {
        let b = row as usize / self.blocks.rows;
        if !self.holds(b) {
            return self.side.vectors.row(row as usize);
        }
        let dim = self.side.vectors.dim();
        let at = (row as usize - b * self.blocks.rows) * dim;
        &self.values[at..at + dim]
    }
}

/// Whether a join of vectors of `bytes` bytes should take the blocked plan under
/// `budget` (`None`: memory is not a concern).
pub(crate) fn needed(bytes: usize, budget: Option<usize>) -> bool {
    budget.is_some_and(|b| bytes > b)
}
