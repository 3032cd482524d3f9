//! External sort of `(key, row)` pairs within a memory budget: pairs are buffered, and a
//! full buffer is sorted and spilled as a zstd-compressed run to a temporary directory;
//! [`RunSorter::merge`] k-way merges the runs (and what is still buffered) into one
//! sorted stream. Memory is the buffer plus one small read buffer per run.
//!
//! Each batch of pairs added is split at once into `PARTS` (256) partitions by the key's top
//! bits, while it is in cache: a radix sort's first pass, done as a build hashes. When the
//! budget has room for a second copy, [`RunSorter::sort`] then only gathers each partition
//! from the batches and sorts it on its own, cache-sized and in parallel; otherwise (and
//! for keys that crowd into a few partitions, such as Spark's small hash values, which
//! sort as well either way) it sorts the buffer in place.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A `(bucket_key, row)` pair; sorting orders by key, then row.
pub type Pair = (u64, u64);

/// Partitions of a batch, by the key's top `log2(PARTS)` bits.
const PARTS: usize = 256;
/// Batches of fewer pairs are not partitioned (the bookkeeping would outweigh them), and
/// the buffer is then sorted in place.
const MIN_BATCH: usize = 4096;

/// Sorts pairs that may not fit in memory.
#[derive(Debug)]
pub struct RunSorter {
    buffer: Vec<Pair>,
    /// For each batch in `buffer`, in order, where each of its partitions ends; `None` once
    /// a batch was too small to partition.
    batches: Option<Vec<[usize; PARTS]>>,
    /// Where a batch is copied to be partitioned back into `buffer`.
    scratch: Vec<Pair>,
    /// Whether the buffer is sorted (nothing added since [`sort`](Self::sort)).
    sorted: bool,
    capacity: usize,
    spill_dir: PathBuf,
    name: String,
    runs: Vec<PathBuf>,
}

impl RunSorter {
    /// A sorter that holds at most `budget_bytes` of pairs in memory before spilling runs
    /// named `<name>-<n>.run` into `spill_dir`.
    pub fn new(spill_dir: &Path, name: &str, budget_bytes: usize) -> Self {
        let capacity = (budget_bytes / std::mem::size_of::<Pair>()).max(1024);
        // On Linux, the whole budget at once where the system grants it: address space
        // only, whose pages are backed as pairs are written. Grown by doubling instead, the
        // buffer is copied each time, and the copies' fresh pages were most of a build's
        // page faults. (Elsewhere a large allocation may be charged in full at once.)
        let mut buffer = Vec::new();
        if cfg!(target_os = "linux") && buffer.try_reserve_exact(capacity).is_ok() {
            huge_pages(&mut buffer);
        }
        RunSorter {
            buffer,
            batches: Some(Vec::new()),
            scratch: Vec::new(),
            sorted: true,
            capacity,
            spill_dir: spill_dir.to_owned(),
            name: name.to_owned(),
            runs: Vec::new(),
        }
    }

    /// Add pairs, spilling a run whenever the buffer is full.
    pub fn extend(&mut self, pairs: impl ExactSizeIterator<Item = Pair>) -> Result<()> {
        let mut pairs = pairs.peekable();
        while pairs.len() > 0 {
            if self.buffer.len() == self.capacity {
                self.spill()?;
            }
            let room = (self.capacity - self.buffer.len()).min(pairs.len());
            // Grow by doubling, but never past the budget's capacity (only where the whole
            // budget could not be reserved at once).
            let need = self.buffer.len() + room;
            if need > self.buffer.capacity() {
                let grown = need.max(2 * self.buffer.capacity()).min(self.capacity);
                self.buffer.reserve_exact(grown - self.buffer.len());
                huge_pages(&mut self.buffer);
            }
            self.buffer.extend(pairs.by_ref().take(room));
            self.sorted = false;
            self.partition_batch(self.buffer.len() - room);
        }
        Ok(())
    }

    /// Split the batch `buffer[start..]` into its partitions (a stable counting sort by
    /// the key's top bits, through `scratch`) and record where they end.
    fn partition_batch(&mut self, start: usize) {
        if self.buffer.len() - start < MIN_BATCH || !self.room_to_gather() {
            self.batches = None;
        }
        let Some(batches) = &mut self.batches else {
            return;
        };
        let batch = &mut self.buffer[start..];
        let part = |k: u64| (k >> (64 - PARTS.trailing_zeros())) as usize;
        let mut next = [0usize; PARTS];
        for &(k, _) in batch.iter() {
            next[part(k)] += 1;
        }
        let mut total = start;
        for n in next.iter_mut() {
            (*n, total) = (total, total + *n);
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(batch);
        for &pair in &self.scratch {
            let p = part(pair.0);
            self.buffer[next[p]] = pair;
            next[p] += 1;
        }
        // `next[p]` is now where partition `p` ends.
        batches.push(next);
    }

    /// Number of runs spilled so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Sort the buffered pairs ([`merge`](Self::merge) does, if it was not done;
    /// [`sort_all`](Self::sort_all) sorts several).
    pub fn sort(&mut self) {
        self.sort_with(&mut Vec::new());
    }

    /// Sort several sorters: those that can gather a sorted copy one after another (each
    /// is parallel inside), passing one spare buffer along, so that one copy is allocated
    /// rather than one each (fresh pages cost a fault and a zeroing apiece); the others in
    /// place, side by side.
    pub fn sort_all(sorters: &mut [RunSorter]) {
        let mut spare = Vec::new();
        for sorter in sorters.iter_mut() {
            if sorter.batches.is_some() && sorter.room_to_gather() {
                sorter.sort_with(&mut spare);
            }
        }
        drop(spare);
        sorters.par_iter_mut().for_each(RunSorter::sort);
    }

    /// [`sort`](Self::sort), gathering into `spare` when it can; the old buffer is left in
    /// `spare` for the next sorter.
    fn sort_with(&mut self, spare: &mut Vec<Pair>) {
        if self.sorted {
            return;
        }
        match self.batches.take() {
            Some(batches) if self.room_to_gather() => {
                self.gather_sorted(&batches, spare);
                std::mem::swap(&mut self.buffer, spare);
            }
            _ => sort_pairs(&mut self.buffer),
        }
        self.batches = Some(Vec::new());
        self.sorted = true;
    }

    /// Whether the budget holds the buffer's pairs twice (they and a sorted copy).
    fn room_to_gather(&self) -> bool {
        2 * self.buffer.len() <= self.capacity
    }

    /// Fill `out` with the buffer's pairs sorted, the buffer's `batches` being partitioned:
    /// each partition's pieces gathered from every batch into its place, then sorted, in
    /// parallel.
    fn gather_sorted(&self, batches: &[[usize; PARTS]], out: &mut Vec<Pair>) {
        // Where partition `p` starts in batch `b`: where `p - 1` ends, or the batch starts.
        let start = |b: usize, p: usize| match (b, p) {
            (0, 0) => 0,
            (b, 0) => batches[b - 1][PARTS - 1],
            (b, p) => batches[b][p - 1],
        };
        let mut ends = [0usize; PARTS];
        let mut total = 0;
        for (p, end) in ends.iter_mut().enumerate() {
            total += (0..batches.len())
                .map(|b| batches[b][p] - start(b, p))
                .sum::<usize>();
            *end = total;
        }
        out.clear();
        out.reserve(self.buffer.len());
        huge_pages(out);
        out.resize(self.buffer.len(), (0, 0));
        split_at_ends(out, &ends)
            .into_par_iter()
            .enumerate()
            .for_each(|(p, part)| {
                let mut at = 0;
                for (b, batch) in batches.iter().enumerate() {
                    let piece = &self.buffer[start(b, p)..batch[p]];
                    part[at..at + piece.len()].copy_from_slice(piece);
                    at += piece.len();
                }
                sort_pairs(part);
            });
    }

    fn spill(&mut self) -> Result<()> {
        self.sort();
        let path = self
            .spill_dir
            .join(format!("{}-{}.run", self.name, self.runs.len()));
        let io = |e| Error::io(&path, e);
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        let mut enc = zstd::Encoder::new(BufWriter::new(file), 1).map_err(io)?;
        let mut block = Vec::with_capacity(16 * 4096);
        for chunk in self.buffer.chunks(4096) {
            block.clear();
            for (k, r) in chunk {
                block.extend_from_slice(&k.to_le_bytes());
                block.extend_from_slice(&r.to_le_bytes());
            }
            enc.write_all(&block).map_err(io)?;
        }
        enc.finish().and_then(|mut w| w.flush()).map_err(io)?;
        self.buffer.clear();
        self.batches = Some(Vec::new());
        self.runs.push(path);
        Ok(())
    }

    /// Stream every pair pushed, in sorted order, to `sink` (in batches), then delete the runs.
    pub fn merge(mut self, mut sink: impl FnMut(&[Pair]) -> Result<()>) -> Result<()> {
        self.sort();
        if self.runs.is_empty() {
            for chunk in self.buffer.chunks(1 << 16) {
                sink(chunk)?;
            }
            return Ok(());
        }
        let mut readers = Vec::with_capacity(self.runs.len());
        for path in &self.runs {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            readers.push(RunReader {
                path: path.clone(),
                inner: zstd::Decoder::new(file).map_err(|e| Error::io(path, e))?,
            });
        }
        let mut memory = self.buffer.iter().copied();
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(p) = r.next()? {
                heap.push(Reverse((p, i)));
            }
        }
        let memory_source = readers.len();
        if let Some(p) = memory.next() {
            heap.push(Reverse((p, memory_source)));
        }
        let mut batch = Vec::with_capacity(1 << 16);
        while let Some(Reverse((pair, source))) = heap.pop() {
            batch.push(pair);
            if batch.len() == batch.capacity() {
                sink(&batch)?;
                batch.clear();
            }
            let next = if source == memory_source {
                memory.next()
            } else {
                readers[source].next()?
            };
            if let Some(p) = next {
                heap.push(Reverse((p, source)));
            }
        }
        sink(&batch)?;
        for path in &self.runs {
            std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    }
}

/// Ask Linux to back the not yet touched part of `buffer`'s allocation with 2 MB pages
/// (`madvise(MADV_HUGEPAGE)`; most systems leave that to the program). A sort buffer is
/// written once, front to back, and with 4 KB pages every 4 KB costs a fault: 16k faults
/// for the three tables of 1M rows, ~60 ms of CPU of a ~450 ms build. Only a hint: where
/// it is refused, or elsewhere than Linux, nothing changes.
fn huge_pages(buffer: &mut Vec<Pair>) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let spare = buffer.spare_capacity_mut();
        let start = spare.as_mut_ptr() as usize;
        let (lo, hi) = (
            start.next_multiple_of(PAGE),
            (start + size_of_val(spare)) / PAGE * PAGE,
        );
        if hi > lo {
            // SAFETY: `[lo, hi)` lies inside the vector's allocation, past its initialised
            // pairs; the advice changes how the kernel backs those pages, never their
            // contents or whether they may be accessed.
            let _ = unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

/// Bits of the key per in-place radix pass of [`sort_pairs`].
const RADIX_BITS: u32 = 8;
/// Below this many pairs, [`sort_pairs`] leaves a slice to a comparison sort.
const SMALL: usize = 64;
/// Up to this many pairs (1 MB, cache-sized), [`sort_pairs`] sorts out of place, through a
/// copy, by [`SCATTER_BITS`] bits at once: no chains of swaps, and buckets of a pair or two.
const SCATTER_MAX: usize = 1 << 16;
/// Bits of the key per out-of-place pass.
const SCATTER_BITS: u32 = 12;

/// Sort pairs by key, then row: a most-significant-digit radix sort. Large slices are
/// permuted in place (American flag sort), so no second buffer beyond the memory budget;
/// cache-sized ones through a copy (`scatter_sort`). Each pass splits by the key bits
/// just below the prefix that all their keys share (uniform `xxh3` keys and small Spark
/// hash values alike split evenly), then sorts every bucket the same way, in parallel;
/// small buckets go to `sort_unstable`. On a million uniform pairs: 21 ms on one thread and
/// 16 ms on two, against `sort_unstable`'s 35 ms.
pub fn sort_pairs(pairs: &mut [Pair]) {
    if pairs.len() < SMALL {
        pairs.sort_unstable();
        return;
    }
    let (lo, hi) = pairs
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &(k, _)| (lo.min(k), hi.max(k)));
    if lo == hi {
        pairs.sort_unstable_by_key(|&(_, row)| row);
        return;
    }
    if pairs.len() <= SCATTER_MAX {
        return scatter_sort(pairs, lo ^ hi);
    }
    // The bits below the shared prefix, the highest RADIX_BITS of them: a digit that
    // orders like the key.
    let shift = (64 - (lo ^ hi).leading_zeros()).saturating_sub(RADIX_BITS);
    let digit = |k: u64| ((k >> shift) & ((1 << RADIX_BITS) - 1)) as usize;
    let mut ends = [0usize; 1 << RADIX_BITS];
    for &(k, _) in pairs.iter() {
        ends[digit(k)] += 1;
    }
    let mut total = 0;
    for e in ends.iter_mut() {
        total += *e;
        *e = total;
    }
    let mut next = [0usize; 1 << RADIX_BITS];
    next[1..].copy_from_slice(&ends[..ends.len() - 1]);
    // Put the pair at the bucket's next free place where it belongs, taking the pair
    // found there, until the one taken belongs to this place.
    for b in 0..1 << RADIX_BITS {
        while next[b] < ends[b] {
            let mut pair = pairs[next[b]];
            loop {
                let d = digit(pair.0);
                if d == b {
                    break;
                }
                std::mem::swap(&mut pair, &mut pairs[next[d]]);
                next[d] += 1;
            }
            pairs[next[b]] = pair;
            next[b] += 1;
        }
    }
    split_at_ends(pairs, &ends)
        .into_par_iter()
        .for_each(sort_pairs);
}

/// `pairs` cut into consecutive slices that end where `ends` say.
fn split_at_ends<'p>(pairs: &'p mut [Pair], ends: &[usize]) -> Vec<&'p mut [Pair]> {
    let mut slices = Vec::with_capacity(ends.len());
    let (mut rest, mut start) = (pairs, 0);
    for &end in ends {
        let (slice, tail) = rest.split_at_mut(end - start);
        slices.push(slice);
        (rest, start) = (tail, end);
    }
    slices
}

/// [`sort_pairs`] of a cache-sized slice whose keys differ in the bits of `differ`: a stable
/// counting sort by the [`SCATTER_BITS`] highest of those bits, from a copy back into
/// `pairs`, then each bucket on its own.
fn scatter_sort(pairs: &mut [Pair], differ: u64) {
    let shift = (64 - differ.leading_zeros()).saturating_sub(SCATTER_BITS);
    let digit = |k: u64| ((k >> shift) & ((1 << SCATTER_BITS) - 1)) as usize;
    let mut next = vec![0usize; 1 << SCATTER_BITS];
    for &(k, _) in pairs.iter() {
        next[digit(k)] += 1;
    }
    let mut total = 0;
    for n in next.iter_mut() {
        (*n, total) = (total, total + *n);
    }
    let copy = pairs.to_vec();
    for pair in copy {
        let d = digit(pair.0);
        pairs[next[d]] = pair;
        next[d] += 1;
    }
    // `next[d]` is now the end of bucket `d`.
    let mut start = 0;
    for end in next {
        match end - start {
            0 | 1 => {}
            2 => {
                if pairs[start] > pairs[start + 1] {
                    pairs.swap(start, start + 1);
                }
            }
            _ => sort_pairs(&mut pairs[start..end]),
        }
        start = end;
    }
}

struct RunReader {
    path: PathBuf,
    inner: zstd::Decoder<'static, BufReader<File>>,
}

impl RunReader {
    fn next(&mut self) -> Result<Option<Pair>> {
        let mut b = [0u8; 16];
        match self.inner.read_exact(&mut b) {
            Ok(()) => Ok(Some((
                u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_and_merges_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = RunSorter::new(dir.path(), "t0", 16 * 1024); // 1,024 pairs per run
        let mut want = Vec::new();
        let mut s = 7u64;
        for row in 0..10_000u64 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            want.push((s >> 58, row)); // many equal keys: order by row within a key
        }
        // In uneven pieces, so that some fill the buffer part-way.
        for piece in want.chunks(777) {
            sorter.extend(piece.iter().copied()).unwrap();
        }
        assert!(sorter.runs() >= 9);
        want.sort_unstable();
        assert_eq!(merged(sorter), want);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "runs deleted"
        );
    }

    /// Every pair `sorter` merges, in the order it gives them.
    fn merged(sorter: RunSorter) -> Vec<Pair> {
        let mut got = Vec::new();
        sorter
            .merge(|b| {
                got.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        got
    }

    /// A linear congruential generator of `u64`s.
    fn lcg(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s
        }
    }

    type KeyShape = (&'static str, fn(u64) -> u64);

    /// Keys made from random `u64`s: uniform ones (xxh3 bucket keys), small signed values
    /// as `u64` (Spark's hash values: negative ones sort after positive ones, and crowd into
    /// two partitions), a single key, two far-apart keys, keys differing only in their
    /// lowest bit.
    fn key_shapes() -> [KeyShape; 5] {
        [
            ("uniform", |r| r),
            ("small signed", |r| ((r >> 40) as i64 % 50 - 25) as u64),
            ("one key", |_| 42),
            ("two keys", |r| if r >> 63 == 0 { 3 } else { u64::MAX - 3 }),
            ("low bit", |r| 0xABCD_0000_0000_0000 | (r >> 63)),
        ]
    }

    #[test]
    fn partitioned_batches_merge_in_order() {
        // Batches large enough to partition (and, last, one too small), with budgets that
        // leave room to gather a sorted copy and that do not.
        let dir = tempfile::tempdir().unwrap();
        let mut next = lcg(5);
        for (name, key) in key_shapes() {
            for small_last in [false, true] {
                for budget_pairs in [1usize << 20, 30_000] {
                    let mut sorter = RunSorter::new(dir.path(), "p", budget_pairs * 16);
                    let mut want = Vec::new();
                    let mut sizes = vec![8192, 5000, 9000];
                    if small_last {
                        sizes.push(100);
                    }
                    for n in sizes {
                        let first = want.len() as u64;
                        let batch: Vec<Pair> =
                            (0..n as u64).map(|r| (key(next()), first + r)).collect();
                        sorter.extend(batch.iter().copied()).unwrap();
                        want.extend(batch);
                    }
                    assert_eq!(sorter.runs(), 0);
                    want.sort_unstable();
                    assert!(
                        merged(sorter) == want,
                        "{name}, small last {small_last}, budget {budget_pairs}"
                    );
                }
            }
        }
    }

    #[test]
    fn radix_sort_orders_like_a_comparison_sort() {
        // Every key shape, sizes around the thresholds.
        let mut next = lcg(11);
        for (name, key) in key_shapes() {
            for n in [0, 1, 63, 64, 5000, 65_536, 70_000] {
                let mut pairs: Vec<Pair> = (0..n as u64).map(|row| (key(next()), row)).collect();
                // Rows out of order too, so that ties on the key are ordered by row.
                for i in (1..pairs.len()).rev() {
                    let j = (next() % (i as u64 + 1)) as usize;
                    let (a, b) = (pairs[i].1, pairs[j].1);
                    pairs[i].1 = b;
                    pairs[j].1 = a;
                }
                let mut want = pairs.clone();
                want.sort_unstable();
                sort_pairs(&mut pairs);
                assert_eq!(pairs, want, "{name}, {n} pairs");
            }
        }
    }
}
