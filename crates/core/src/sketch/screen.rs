//! Screening by sign sketch: Hamming distances from a query's sketch to candidates' (k-NN
//! keeps the nearest few, [`screen`], [`screen_all`]), and between the rows of two join
//! sides ([`Sketches::within`]), so that only survivors get an exact distance.

use crate::kernels::cpu::multiversion;

/// The Hamming distance between two `words`-word sketches. Inlined into the
/// multiversioned loops below with `words` a constant for the common sizes, so it unrolls
/// into a few POPCNT instructions.
// A plain loop, not an iterator adapter: adapters are separate generic functions that
// would be compiled without the POPCNT instruction the callers are built for.
#[inline(always)]
fn hamming(query: &[u64], sketch: &[u64], words: usize) -> u16 {
    let (query, sketch) = (&query[..words], &sketch[..words]);
    let mut d = 0u32;
    for w in 0..words {
        d += (query[w] ^ sketch[w]).count_ones();
    }
    d as u16
}

/// Calls `$body` with `$words` bound to the sketch size as a constant for 2, 4 and 8 words
/// (128, 256 and 512 bits), so that [`hamming`] unrolls, and as a variable otherwise.
macro_rules! with_words {
    ($len:expr, |$words:ident| $body:expr) => {
        match $len {
            2 => {
                let $words = 2;
                $body
            }
            4 => {
                let $words = 4;
                $body
            }
            8 => {
                let $words = 8;
                $body
            }
            $words => $body,
        }
    };
}

multiversion! {
    /// Hamming distance from `query` to the sketch of each row in `rows` (`sketches` holds
    /// `query.len()` words per row), appended to `out`.
    fn hamming_listed(query: &[u64], sketches: &[u64], rows: &[u32], out: &mut Vec<u16>) {
        out.reserve(rows.len());
        with_words!(query.len(), |words| {
            for &r in rows {
                out.push(hamming(query, &sketches[r as usize * words..], words));
            }
        })
    }
}

multiversion! {
    /// For each row marked in `marked` (bit `r % 64` of word `r / 64`), in row order: the
    /// row written to `rows` and its Hamming distance from `query` to `dist` (both as long
    /// as the marked rows, which must be no more than they are long). Clears `marked`.
    fn hamming_marked(
        query: &[u64],
        sketches: &[u64],
        marked: &mut [u64],
        rows: &mut [u32],
        dist: &mut [u16],
    ) {
        with_words!(query.len(), |words| {
            let mut n = 0;
            for (w, word) in marked.iter_mut().enumerate() {
                let mut bits = std::mem::take(word);
                while bits != 0 {
                    let r = (w * 64) as u32 + bits.trailing_zeros();
                    bits &= bits - 1;
                    let d = hamming(query, &sketches[r as usize * words..], words);
                    rows[n] = r;
                    dist[n] = d;
                    n += 1;
                }
            }
        })
    }
}

/// Rows' sketches as a join's screen reads them ([`Sketches::within`]): row-major, and,
/// when the join will scan runs of consecutive rows, also interleaved four rows at a time
/// (word 0 of four rows, then word 1, ...), so that one pass of vector instructions gives a
/// query's distances to four rows (a third faster than row by row).
#[derive(Debug, Clone)]
pub struct Sketches<'a> {
    rows: &'a [u64],
    words: usize,
    blocks: Option<Vec<u64>>,
}

/// Rows per interleaved block.
const BLOCK: usize = 4;

impl<'a> Sketches<'a> {
    /// The row-major sketches `rows`, `words` words per row.
    pub fn new(rows: &'a [u64], words: usize) -> Self {
        Sketches {
            rows,
            words,
            blocks: None,
        }
    }

    /// Also keep the full blocks of four rows interleaved (a copy of the sketches).
    pub fn interleaved(mut self) -> Self {
        let w = self.words;
        let blocks = self
            .rows
            .chunks_exact(BLOCK * w)
            .flat_map(|block| {
                (0..w).flat_map(move |word| (0..BLOCK).map(move |c| block[c * w + word]))
            })
            .collect();
        self.blocks = Some(blocks);
        self
    }

    /// Row `r`'s sketch.
    pub fn row(&self, r: u32) -> &[u64] {
        &self.rows[r as usize * self.words..][..self.words]
    }

    /// Whether row `r`'s sketch is within `max` bits of `other`'s row `s`: the join screen's
    /// test for one pair, as [`within`](Self::within) applies it to a list.
    pub fn close(&self, r: u32, other: &Sketches<'_>, s: u32, max: u16) -> bool {
        hamming(self.row(r), other.row(s), self.words) <= max
    }

    /// The rows of `rows` whose sketches are within `max` bits of `query`, appended to
    /// `out` in order: a join's screen, which keeps a pair by its own distance instead of
    /// ranking a query's candidates. `rows` must be ascending (as bucket members and row
    /// ranges are); a run of consecutive rows is read straight through.
    pub fn within(&self, query: &[u64], rows: &[u32], max: u16, out: &mut Vec<u32>) {
        let w = self.words;
        let (first, last) = match (rows.first(), rows.last()) {
            (Some(&first), Some(&last)) if (last - first) as usize == rows.len() - 1 => {
                (first as usize, last as usize + 1)
            }
            _ => return within_listed(query, self.rows, rows, max, out),
        };
        let run = |from: usize, to: usize, out: &mut Vec<u32>| {
            within_run(query, &self.rows[from * w..to * w], from as u32, max, out)
        };
        let Some(blocks) = &self.blocks else {
            return run(first, last, out);
        };
        // Rows before the first whole block and after the last go row by row.
        let (start, end) = (first.div_ceil(BLOCK) * BLOCK, last / BLOCK * BLOCK);
        if start >= end {
            return run(first, last, out);
        }
        run(first, start, out);
        within_blocks(query, &blocks[start * w..end * w], start as u32, max, out);
        run(end, last, out);
    }
}

multiversion! {
    /// [`Sketches::within`] for rows given one by one.
    fn within_listed(query: &[u64], sketches: &[u64], rows: &[u32], max: u16, out: &mut Vec<u32>) {
        with_words!(query.len(), |words| {
            for &r in rows {
                if hamming(query, &sketches[r as usize * words..], words) <= max {
                    out.push(r);
                }
            }
        })
    }
}

multiversion! {
    /// [`Sketches::within`] for the consecutive rows whose sketches are `run`, the first
    /// being `first`.
    fn within_run(query: &[u64], run: &[u64], first: u32, max: u16, out: &mut Vec<u32>) {
        with_words!(query.len(), |words| {
            for (r, sketch) in (first..).zip(run.chunks_exact(words)) {
                if hamming(query, sketch, words) <= max {
                    out.push(r);
                }
            }
        })
    }
}

multiversion! {
    /// [`Sketches::within`] for interleaved blocks of four rows, the first being `first`.
    /// Written so that the AVX2 build computes the four distances in one vector register.
    fn within_blocks(query: &[u64], blocks: &[u64], first: u32, max: u16, out: &mut Vec<u32>) {
        let max = u64::from(max);
        with_words!(query.len(), |words| {
            for (b, block) in (first..).step_by(BLOCK).zip(blocks.chunks_exact(BLOCK * words)) {
                let mut d = [0u64; BLOCK];
                for w in 0..words {
                    for c in 0..BLOCK {
                        d[c] += u64::from((query[w] ^ block[w * BLOCK + c]).count_ones());
                    }
                }
                if d.iter().any(|&d| d <= max) {
                    for (r, &d) in (b..).zip(&d) {
                        if d <= max {
                            out.push(r);
                        }
                    }
                }
            }
        })
    }
}

std::thread_local! {
    /// Per-thread scratch of the screens: distances, a histogram of them, rows at the cut.
    static SCRATCH: std::cell::RefCell<(Vec<u16>, Vec<u32>, Vec<u32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// Keep the `keep` rows of `rows` whose sketches are nearest to `query` in Hamming
/// distance (ties: the smaller rows); the survivors keep their order, except that those
/// at the largest kept distance come last. Linear: a histogram of the distances gives the
/// cut, no sort of the candidates.
pub fn screen(rows: &mut Vec<u32>, sketches: &[u64], query: &[u64], keep: usize) {
    if rows.len() <= keep {
        return;
    }
    SCRATCH.with_borrow_mut(|(dist, counts, at_cut)| {
        dist.clear();
        hamming_listed(query, sketches, rows, dist);
        keep_nearest(rows, dist, query.len() * 64, keep, counts, at_cut);
    });
}

/// [`screen`] for candidates given as a bitmap over the rows (bit `r % 64` of word
/// `r / 64`), which is faster when they are many: the survivors are written to `rows` in row
/// order (those at the largest kept distance last), and `marked` is all zero on return.
pub fn screen_marked(
    marked: &mut [u64],
    sketches: &[u64],
    query: &[u64],
    keep: usize,
    rows: &mut Vec<u32>,
) {
    let marked_rows: usize = marked.iter().map(|w| w.count_ones() as usize).sum();
    SCRATCH.with_borrow_mut(|(dist, counts, at_cut)| {
        rows.clear();
        rows.resize(marked_rows, 0);
        dist.clear();
        dist.resize(marked_rows, 0);
        hamming_marked(query, sketches, marked, rows, dist);
        if rows.len() > keep {
            keep_nearest(rows, dist, query.len() * 64, keep, counts, at_cut);
        }
    });
}

/// Candidates ranked by a sample first: the distances of every `SAMPLE_STRIDE`-th.
const SAMPLE_STRIDE: usize = 16;

/// A sample pays when there are at least this many candidates per row kept.
const SAMPLE_FROM: usize = 8;

/// A distance within which about twice `keep` rows are expected to lie, from `sample`, the
/// distances (each at most `bits`) of every [`SAMPLE_STRIDE`]-th row; `None` if even the
/// whole sample is not enough. `counts` is scratch.
///
/// Ranking many candidates exactly takes a histogram of all their distances, which costs
/// more than the distances. A cut from a sample first drops almost all of them in one cheap,
/// predictable pass; only the rows within it are ranked. The caller checks that at least
/// `keep` rows pass (they do unless the sample was unlucky) and ranks all of them if not.
fn sampled_cut(
    sample: impl Iterator<Item = u16>,
    bits: usize,
    keep: usize,
    counts: &mut Vec<u32>,
) -> Option<u16> {
    let wanted = (2 * keep).div_ceil(SAMPLE_STRIDE);
    counts.clear();
    counts.resize(bits + 1, 0);
    for d in sample {
        counts[d as usize] += 1;
    }
    let mut seen = 0;
    for (d, &c) in counts.iter().enumerate() {
        seen += c as usize;
        if seen >= wanted {
            return Some(d as u16);
        }
    }
    None
}

/// [`screen`] when every row but `exclude` is a candidate (`sketches` holds every row's),
/// written to `rows`: the same survivors as [`screen_marked`] with every row marked, in
/// row order, those at the largest kept distance last.
///
/// No distance is stored: the cut of a sample of rows is computed first, then one
/// pass over all sketches collects the rows within it, and only those are ranked.
pub fn screen_all(
    sketches: &[u64],
    query: &[u64],
    keep: usize,
    exclude: Option<u32>,
    rows: &mut Vec<u32>,
) {
    let bits = query.len() * 64;
    let n = sketches.len() / query.len();
    let cut = SCRATCH
        .with_borrow_mut(|(dist, counts, sample)| {
            if n < SAMPLE_FROM * keep {
                return None;
            }
            sample.clear();
            sample.extend((0..n as u32).step_by(SAMPLE_STRIDE));
            dist.clear();
            hamming_listed(query, sketches, sample, dist);
            sampled_cut(dist.iter().copied(), bits, keep, counts)
        })
        .unwrap_or(bits as u16);
    // The rows within `max` but `exclude` (every row at `bits`: no distance needed).
    let collect = |max: u16, rows: &mut Vec<u32>| {
        rows.clear();
        if usize::from(max) < bits {
            within_run(query, sketches, 0, max, rows);
        } else {
            rows.extend(0..n as u32);
        }
        if let Some(e) = exclude {
            rows.retain(|&r| r != e);
        }
    };
    collect(cut, rows);
    if rows.len() < keep && usize::from(cut) < bits {
        collect(bits as u16, rows);
    }
    screen(rows, sketches, query, keep);
}

/// The smallest distance `cut` at which `keep` of `dist` (each at most `bits`) are
/// reached, and how many lie below it; `counts` is scratch.
fn histogram_cut(dist: &[u16], bits: usize, keep: usize, counts: &mut Vec<u32>) -> (usize, u16) {
    // Four interleaved histograms, summed after: neighbouring rows often share a distance,
    // and one counter incremented again and again waits on its own previous store.
    const LANES: usize = 4;
    let stride = bits + 1;
    counts.clear();
    counts.resize(LANES * stride, 0);
    let lanes = dist.chunks_exact(LANES);
    for &d in lanes.remainder() {
        counts[d as usize] += 1;
    }
    for four in lanes {
        for (lane, &d) in four.iter().enumerate() {
            counts[lane * stride + d as usize] += 1;
        }
    }
    for lane in 1..LANES {
        for d in 0..stride {
            counts[d] += counts[lane * stride + d];
        }
    }
    // The cut: the smallest distance at which `keep` rows are reached.
    let (mut below, mut cut) = (0usize, 0u16);
    for (d, &c) in counts.iter().enumerate() {
        if below + c as usize >= keep {
            cut = d as u16;
            break;
        }
        below += c as usize;
    }
    (below, cut)
}

/// Keep the `keep < rows.len()` rows with the smallest `dist` (parallel to `rows`, each
/// at most `bits`), ties to the smaller rows. With many rows per kept one, a sample's cut
/// ([`sampled_cut`]) first drops those that cannot be kept.
fn keep_nearest(
    rows: &mut Vec<u32>,
    dist: &mut Vec<u16>,
    bits: usize,
    keep: usize,
    counts: &mut Vec<u32>,
    at_cut: &mut Vec<u32>,
) {
    if rows.len() >= SAMPLE_FROM * keep
        && let Some(cut) = sampled_cut(
            dist.iter().step_by(SAMPLE_STRIDE).copied(),
            bits,
            keep,
            counts,
        )
        && dist.iter().filter(|&&d| d <= cut).count() >= keep
    {
        let mut within = 0;
        for i in 0..rows.len() {
            if dist[i] <= cut {
                (rows[within], dist[within]) = (rows[i], dist[i]);
                within += 1;
            }
        }
        rows.truncate(within);
        dist.truncate(within);
    }
    let (below, cut) = histogram_cut(dist, bits, keep, counts);
    // Compact in place: the `below` rows under the cut move to the front.
    at_cut.clear();
    let mut kept = 0;
    for i in 0..rows.len() {
        let (r, d) = (rows[i], dist[i]);
        if d < cut {
            rows[kept] = r;
            kept += 1;
        } else if d == cut {
            at_cut.push(r);
        }
    }
    rows.truncate(kept);
    let room = keep - below;
    at_cut.select_nth_unstable(room - 1);
    rows.extend_from_slice(&at_cut[..room]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_keeps_the_nearest() {
        // One-word sketches whose distance to the zero query is the row's popcount.
        let sketches: Vec<u64> = vec![0b111, 0b1, 0, 0b11, 0b1, 0xFF];
        let mut rows: Vec<u32> = vec![5, 0, 1, 2, 3, 4];
        screen(&mut rows, &sketches, &[0], 3);
        // Distances: 5->8, 0->3, 1->1, 2->0, 3->2, 4->1; the three nearest are 2, 1, 4.
        rows.sort();
        assert_eq!(rows, vec![1, 2, 4]);
        // A tie at the cut keeps the smaller rows.
        let mut rows: Vec<u32> = vec![4, 3, 1, 2];
        screen(&mut rows, &sketches, &[0], 2);
        rows.sort();
        assert_eq!(rows, vec![1, 2]);
        let mut few: Vec<u32> = vec![5, 0];
        screen(&mut few, &sketches, &[0], 3);
        assert_eq!(few, vec![5, 0], "fewer rows than kept: untouched");
        // The same candidates as a bitmap: the same survivors in row order, those at the
        // cut (distance 1: rows 1 and 4) last; the map cleared.
        let mut marked = vec![0b111111u64];
        let mut rows = Vec::new();
        screen_marked(&mut marked, &sketches, &[0], 3, &mut rows);
        assert_eq!(rows, vec![2, 1, 4]);
        assert_eq!(marked, vec![0]);
        let mut marked = vec![0b11110u64];
        screen_marked(&mut marked, &sketches, &[0], 2, &mut rows);
        assert_eq!(rows, vec![2, 1], "ties at the cut: the smaller rows");
        let mut marked = vec![0b100001u64];
        screen_marked(&mut marked, &sketches, &[0], 3, &mut rows);
        assert_eq!(rows, vec![0, 5], "fewer rows than kept: all, in row order");
    }

    #[test]
    fn a_sampled_cut_never_changes_the_survivors() {
        // One-word sketches and the zero query: a row's distance is its popcount.
        let nearest = |sketches: &[u64], exclude: Option<u32>, keep: usize| {
            let mut all: Vec<u32> = (0..sketches.len() as u32)
                .filter(|&r| Some(r) != exclude)
                .collect();
            all.sort_by_key(|&r| (sketches[r as usize].count_ones(), r));
            all.truncate(keep);
            all.sort();
            all
        };
        let check = |sketches: &[u64], keep: usize, exclude: Option<u32>| {
            let want = nearest(sketches, exclude, keep);
            let mut got = Vec::new();
            screen_all(sketches, &[0], keep, exclude, &mut got);
            got.sort();
            assert_eq!(got, want, "all rows, keep {keep}, exclude {exclude:?}");
            let mut listed: Vec<u32> = (0..sketches.len() as u32)
                .filter(|&r| Some(r) != exclude)
                .collect();
            screen(&mut listed, sketches, &[0], keep);
            listed.sort();
            assert_eq!(listed, want, "listed rows, keep {keep}");
        };
        // Random sketches: a sample's cut passes about twice the kept rows.
        let mut s = 9u64;
        let random: Vec<u64> = (0..5000)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                s & (s >> 17) & (s >> 31)
            })
            .collect();
        for keep in [1, 20, 300, 700, 5000] {
            check(&random, keep, None);
            check(&random, keep, Some(12));
        }
        // An unlucky sample: the 7 rows it needs for 50 kept (rows 0, 16, .., 96) are the
        // only ones at distance 0, so its cut of 0 passes 7 rows, and all must be ranked.
        let unlucky: Vec<u64> = (0..1600u64)
            .map(|r| {
                if r % 16 == 0 && r < 112 {
                    0
                } else {
                    (1 << (3 + r % 5)) - 1
                }
            })
            .collect();
        check(&unlucky, 50, None);
        check(&unlucky, 50, Some(16));
    }

    #[test]
    fn within_keeps_rows_up_to_the_cut() {
        // Two- and four-word sketches (the unrolled paths) and one-word ones (the general
        // path), row by row and interleaved; 23 rows, so runs have blocks and ragged ends.
        // Row r's differing bits sit in word r % words, so every word is looked at.
        for words in [4usize, 2, 1] {
            let rows = 23u32;
            let dist = |r: u32| (r * 7 % 11) as usize; // row r's distance from the zero query
            let word = |r: u32| r as usize % words;
            let sketches: Vec<u64> = (0..rows)
                .flat_map(|r| {
                    (0..words).map(move |w| {
                        if w == word(r) {
                            (1u64 << dist(r)) - 1
                        } else {
                            0
                        }
                    })
                })
                .collect();
            let query = vec![0u64; words];
            for screen in [
                Sketches::new(&sketches, words),
                Sketches::new(&sketches, words).interleaved(),
            ] {
                assert_eq!(screen.row(3)[word(3)], (1 << dist(3)) - 1, "{words} words");
                for list in [
                    (0..rows).collect::<Vec<_>>(),
                    (3..22).collect(),
                    (5..7).collect(),
                    vec![1, 2, 4, 9, 22],
                ] {
                    for max in [0u16, 4, 10] {
                        let mut out = vec![99];
                        screen.within(&query, &list, max, &mut out);
                        let want: Vec<u32> = std::iter::once(99)
                            .chain(list.iter().copied().filter(|&r| dist(r) <= max as usize))
                            .collect();
                        assert_eq!(out, want, "{words} words, rows {list:?}, max {max}");
                    }
                }
            }
        }
    }
}
