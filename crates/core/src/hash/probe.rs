//! Query-directed multi-probe (Lv et al., "Multi-Probe LSH", VLDB 2007): besides the
//! query's own bucket, visit the buckets next to it in the order in which the query is
//! most likely to have near neighbours there, without rebuilding the index.
//!
//! For each of a table's `k` projections, the query's scaled projection `x` lies at
//! distance `f = x - floor(x)` from its bucket's lower boundary and `1 - f` from the upper
//! one. A perturbation moves some projections one bucket down (-1) or up (+1); its score is
//! the sum of the squared distances to the boundaries it crosses. Perturbation sets are
//! generated in increasing score with a heap over sorted boundary distances (the paper's
//! shift/expand scheme), skipping sets that move one projection both ways.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One boundary a perturbation can cross: projection `j` moved by `delta`.
#[derive(Debug, Clone, Copy)]
struct Step {
    score: f64,
    j: usize,
    delta: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct Set {
    score: f64,
    members: Vec<usize>, // indices into the sorted steps, ascending
}

impl Eq for Set {}
impl PartialOrd for Set {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Set {
    // Min-heap on score (BinaryHeap is a max-heap), ties by members for determinism.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| other.members.cmp(&self.members))
    }
}

/// The `probes` best perturbations of a table's `k` hash values, best first: each is the
/// list of `(projection, delta)` moves to apply. `scaled` are the query's `k` scaled
/// projections (their floors are the hash values).
pub fn perturbations(scaled: &[f64], probes: usize) -> Vec<Vec<(usize, i64)>> {
    let mut steps: Vec<Step> = scaled
        .iter()
        .enumerate()
        .flat_map(|(j, &x)| {
            let f = x - x.floor();
            [
                Step {
                    score: f * f,
                    j,
                    delta: -1,
                },
                Step {
                    score: (1.0 - f) * (1.0 - f),
                    j,
                    delta: 1,
                },
            ]
        })
        .collect();
    steps.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.j.cmp(&b.j)));
    let mut out = Vec::with_capacity(probes);
    let mut heap = BinaryHeap::new();
    if let Some(first) = steps.first() {
        heap.push(Set {
            score: first.score,
            members: vec![0],
        });
    }
    while out.len() < probes {
        let Some(set) = heap.pop() else { break };
        let last = *set.members.last().expect("sets are non-empty");
        if last + 1 < steps.len() {
            // shift: replace the largest member by the next step
            let mut shifted = set.members.clone();
            *shifted.last_mut().expect("non-empty") = last + 1;
            heap.push(Set {
                score: set.score - steps[last].score + steps[last + 1].score,
                members: shifted,
            });
            // expand: add the next step
            let mut expanded = set.members.clone();
            expanded.push(last + 1);
            heap.push(Set {
                score: set.score + steps[last + 1].score,
                members: expanded,
            });
        }
        let mut seen = vec![false; scaled.len()];
        let valid = set
            .members
            .iter()
            .all(|&m| !std::mem::replace(&mut seen[steps[m].j], true));
        if valid {
            out.push(
                set.members
                    .iter()
                    .map(|&m| (steps[m].j, steps[m].delta))
                    .collect(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_boundaries_first_and_scores_increase() {
        // Projection 0 sits just above a boundary (f = 0.1), projection 1 mid-bucket.
        let p = perturbations(&[3.1, -0.5], 5);
        assert_eq!(p[0], vec![(0, -1)]);
        let score = |set: &Vec<(usize, i64)>| -> f64 {
            set.iter()
                .map(|&(j, d)| {
                    let x = [3.1f64, -0.5][j];
                    let f = x - x.floor();
                    if d < 0 { f * f } else { (1.0 - f) * (1.0 - f) }
                })
                .sum()
        };
        for w in p.windows(2) {
            assert!(score(&w[0]) <= score(&w[1]) + 1e-12);
        }
        for set in &p {
            let mut js: Vec<usize> = set.iter().map(|m| m.0).collect();
            js.dedup();
            assert_eq!(js.len(), set.len(), "no projection moved twice");
        }
        // With 2 projections there are 3 x 3 - 1 = 8 distinct perturbations in all.
        assert_eq!(perturbations(&[3.1, -0.5], 100).len(), 8);
    }
}
