//! The top-k kernel of both k-NN searches: candidates ordered by (distance key, row), so
//! ties go to the smaller row as Spark's sort does.

/// A candidate ordered by (key, row): the heap keeps the largest on top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) key: f64,
    pub(crate) row: u32,
}

impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key
            .total_cmp(&other.key)
            .then(self.row.cmp(&other.row))
    }
}

/// The `k` best of `candidates` by (key, row), ascending. Final answers are keyed by the
/// reported distance (not its square), so rows whose distances print equal come in row
/// order even when their squares differ in the last bit.
pub(crate) fn best_k(mut candidates: Vec<Candidate>, k: usize) -> Vec<Candidate> {
    if candidates.len() > k {
        candidates.select_nth_unstable(k - 1);
        candidates.truncate(k);
    }
    candidates.sort_unstable();
    candidates
}
