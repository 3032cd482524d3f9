//! The k-NN join of an index whose vectors exceed memory: every row's `k` nearest rows
//! among those sharing a bucket with it, as [`Index::knn_join`] answers with `probes` 0 and
//! no sketches, but with reads that stay sequential. The candidate pairs of the merge over
//! the tables are listed in both directions, sorted by block pair, and measured block by
//! block (`join::blocked`); each left block's answers leave as soon as it is done.

use super::blocked::{Candidates, Goal};
use super::kernel::Pairing;
use super::merge::{JoinOptions, Walk, spill_dir, walk_buckets};
use crate::error::{Error, Result};
use crate::index::{Index, IndexKnn};
use std::sync::atomic::AtomicBool;

/// For every row of `index`, its `k` nearest rows in `other` (in `index` itself, the row
/// excluded, when `None`) among those sharing a bucket with it, within `budget` bytes of
/// memory. `emit(first, answers)` receives the rows in order, a block of rows at a time
/// (`answers` row-major, `k` per row, padded with id -1 and distance `+inf`); it returns
/// `false` to stop, as `stop` does. Returns the block reads per side.
pub fn knn_join_blocked(
    index: &Index,
    other: Option<&Index>,
    k: usize,
    budget: usize,
    emit: &mut dyn FnMut(usize, IndexKnn) -> Result<bool>,
    stop: &AtomicBool,
) -> Result<[u64; 2]> {
    if k == 0 {
        return Err(Error::invalid(
            "k",
            "the number of nearest neighbours cannot be less than 1",
        ));
    }
    if let Some(o) = other {
        index.check_compatible(o)?;
    }
    let a = index.side();
    let other_side = other.map(Index::side);
    let b = other_side.as_ref().unwrap_or(&a);
    let symmetric = other.is_none();
    let pairing = Pairing {
        a: a.vectors,
        b: b.vectors,
        symmetric,
        screen: None,
    };
    let spill = spill_dir(a.path)?;
    let candidates = Candidates::new(spill.path(), budget, &a, b, symmetric, Goal::Nearest(k));
    let options = JoinOptions::new(f64::INFINITY);
    walk_buckets(
        &a,
        b,
        pairing,
        options,
        Walk::Collect(&candidates),
        &|_| {},
        stop,
    )?;
    let target = other.unwrap_or(index);
    candidates.nearest(
        &a,
        b,
        k,
        &mut |first, best| emit(first, target.answers(&best, k)),
        stop,
    )
}
