//! Joins of on-disk indexes against brute force: every colliding pair within the threshold
//! exactly once, nothing beyond it, exact distances; through the streaming channel too.

use crate::util::uniform_rows;
use fast_lsh_ann_core::index::{Index, IndexKnn};
use fast_lsh_ann_core::index::{IndexParams, IndexWriter};
use fast_lsh_ann_core::join::Plan;
use fast_lsh_ann_core::join::stream::{Next, Other, PairStream};
use fast_lsh_ann_core::join::{JoinOptions, JoinSide, JoinSummary, MemoryTables, join};
use fast_lsh_ann_core::{Arithmetic, Rows};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DIM: usize = 6;

fn rows(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    uniform_rows(n, DIM, seed, scale)
}

fn params(k: usize) -> IndexParams {
    IndexParams {
        dim: DIM,
        bucket_length: 1.0,
        num_hash_tables: 3,
        projections_per_table: k,
        seed: 11,
        sketch_bits: 0,
        arithmetic: Arithmetic::for_projections(k),
    }
}

fn build(path: &Path, data: &[f32], k: usize) -> Index {
    build_with(path, data, params(k))
}

fn build_with(path: &Path, data: &[f32], params: IndexParams) -> Index {
    let mut w = IndexWriter::create(path, params, 16 * 1024, false).unwrap();
    for chunk in data.chunks(DIM * 500) {
        w.append(Rows::new(chunk, DIM).unwrap(), None).unwrap();
    }
    w.finish().unwrap();
    Index::open(path).unwrap()
}

type Pairs = BTreeMap<(u32, u32), f64>;

/// Every pair colliding in >= `min` tables and closer than `t`, by brute force.
fn brute(
    a: &Index,
    b: &Index,
    va: &[f32],
    vb: &[f32],
    symmetric: bool,
    t: f64,
    min: usize,
) -> Pairs {
    let mut out = Pairs::new();
    for i in 0..a.len() {
        for j in if symmetric { i + 1 } else { 0 }..b.len() {
            let hits = a
                .signature(i)
                .iter()
                .zip(b.signature(j))
                .filter(|(x, y)| x == y)
                .count();
            let d = (0..DIM)
                .map(|c| (va[i * DIM + c] as f64 - vb[j * DIM + c] as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            if hits >= min && d < t {
                out.insert((i as u32, j as u32), d);
            }
        }
    }
    out
}

fn collect(a: &Index, b: Option<&Index>, options: JoinOptions) -> Pairs {
    let bside = b.map(Index::side);
    collect_sides(a, bside.as_ref(), options).0
}

/// The pairs a join of `a` with `b` reports (each once, checked), and its summary.
fn collect_sides(
    a: &Index,
    b: Option<&JoinSide<'_>>,
    options: JoinOptions,
) -> (Pairs, JoinSummary) {
    let found = Mutex::new(Vec::new());
    let summary = join(
        a.params(),
        &a.side(),
        b,
        options,
        &|f| {
            found.lock().unwrap().extend(f.drain(..));
            true
        },
        &AtomicBool::new(false),
    )
    .unwrap();
    let found = found.into_inner().unwrap();
    assert_eq!(summary.pairs as usize, found.len());
    let mut out = Pairs::new();
    for (i, j, d) in found {
        assert!(
            out.insert((i, j), d).is_none(),
            "pair ({i}, {j}) reported twice"
        );
    }
    (out, summary)
}

fn assert_same(got: &Pairs, want: &Pairs) {
    assert_eq!(got.len(), want.len());
    for ((key, d), (wkey, wd)) in got.iter().zip(want) {
        assert_eq!(key, wkey);
        assert!(
            (d - wd).abs() <= 1e-12 * wd.max(1.0),
            "{key:?}: {d} vs {wd}"
        );
    }
}

#[test]
fn self_and_cross_joins_match_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let (va, vb) = (rows(1500, 1, 3.0), rows(1200, 2, 3.0));
    for k in [1, 2] {
        let a = build(&dir.path().join(format!("a{k}")), &va, k);
        let b = build(&dir.path().join(format!("b{k}")), &vb, k);
        for (threshold, min) in [(0.8, 1), (1.5, 1), (1.5, 2), (f64::INFINITY, 1)] {
            let options = JoinOptions {
                min_collisions: min,
                ..JoinOptions::new(threshold)
            };
            let want = brute(&a, &a, &va, &va, true, threshold, min);
            assert!(!want.is_empty());
            assert_same(&collect(&a, None, options), &want);
            let want = brute(&a, &b, &va, &vb, false, threshold, min);
            assert_same(&collect(&a, Some(&b), options), &want);
        }
    }
}

#[test]
fn a_memory_side_joins_like_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let (va, vb) = (rows(800, 3, 3.0), rows(700, 4, 3.0));
    let a = build(&dir.path().join("a"), &va, 2);
    let b = build(&dir.path().join("b"), &vb, 2);
    let memory =
        MemoryTables::new(a.params(), a.hasher(), Rows::new(&vb, DIM).unwrap(), None).unwrap();
    let options = JoinOptions::new(1.2);
    let found = Mutex::new(Pairs::new());
    join(
        a.params(),
        &a.side(),
        Some(&memory.side().unwrap()),
        options,
        &|f| {
            found
                .lock()
                .unwrap()
                .extend(f.drain(..).map(|(i, j, d)| ((i, j), d)));
            true
        },
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_same(
        &found.into_inner().unwrap(),
        &collect(&a, Some(&b), options),
    );
}

#[test]
fn skewed_buckets_are_exact_and_capping_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = rows(3000, 5, 40.0);
    for r in 0..1500 {
        data[r * DIM..(r + 1) * DIM].copy_from_slice(&[0.25; DIM]); // one giant bucket
    }
    let a = build(&dir.path().join("skew"), &data, 1);
    let options = JoinOptions::new(0.5);
    let got = collect(&a, None, options);
    assert_same(&got, &brute(&a, &a, &data, &data, true, 0.5, 1));
    assert!(got.len() >= 1500 * 1499 / 2);
    let mut summary = None;
    let capped = JoinOptions {
        max_bucket_rows: Some(100),
        ..options
    };
    join(
        a.params(),
        &a.side(),
        None,
        capped,
        &|_| true,
        &AtomicBool::new(false),
    )
    .map(|s| summary = Some(s))
    .unwrap();
    let summary = summary.unwrap();
    assert!(summary.capped_buckets >= 1);
    assert!(summary.max_bucket_rows >= 1500);
    assert!(summary.pairs < got.len() as u64);
    assert!(
        summary
            .bucket_rows_percentiles
            .windows(2)
            .all(|w| w[0] <= w[1])
    );
}

#[test]
fn the_stream_delivers_every_pair_in_bounded_batches_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let va = rows(2000, 6, 2.0);
    let a = Arc::new(build(&dir.path().join("a"), &va, 1));
    let options = JoinOptions::new(1.0);
    let want = collect(&a, None, options);
    assert!(want.len() > 1000);
    let stream = PairStream::start(Arc::clone(&a), Other::Itself, options, 100, false).unwrap();
    let mut got = Pairs::new();
    loop {
        match stream.next_batch(Duration::from_millis(100)) {
            Next::Batch(b) => {
                assert!(b.a.len() <= 100, "batches stay bounded");
                for x in 0..b.a.len() {
                    got.insert((b.a[x] as u32, b.b[x] as u32), b.distances[x] as f64);
                }
            }
            Next::Pending => {}
            Next::Done => break,
        }
    }
    let summary = stream.finish().unwrap();
    assert!(!summary.stopped);
    assert_eq!(summary.pairs as usize, want.len());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );

    let stream = PairStream::start(Arc::clone(&a), Other::Itself, options, 10, false).unwrap();
    while !matches!(
        stream.next_batch(Duration::from_millis(100)),
        Next::Batch(_)
    ) {}
    stream.stop();
    assert!(stream.finish().unwrap().stopped);

    let count = PairStream::start(a, Other::Itself, options, 10, true).unwrap();

    while !matches!(count.next_batch(Duration::from_millis(100)), Next::Done) {}
    assert_eq!(count.finish().unwrap().pairs as usize, want.len());
}

#[test]
fn knn_join_matches_knn_of_the_rows_without_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let va = rows(1000, 7, 3.0);
    let a = build(&dir.path().join("a"), &va, 1);
    let k = 4;
    let all = a.knn_join(None, 0..1000, k, 0, None).unwrap();
    let part = a.knn_join(None, 300..450, k, 0, None).unwrap();
    assert_eq!(&all.ids[300 * k..450 * k], &part.ids[..]);
    let plain = a.knn(Rows::new(&va, DIM).unwrap(), k + 1, 0, None).unwrap();
    for r in 0..1000 {
        let without: Vec<i64> = plain.ids[r * (k + 1)..(r + 1) * (k + 1)]
            .iter()
            .copied()
            .filter(|&id| id != r as i64)
            .take(k)
            .collect();
        let n = without.iter().filter(|&&id| id >= 0).count();
        assert_eq!(&all.ids[r * k..r * k + n], &without[..n], "row {r}");
    }
    assert!(a.knn_join(None, 10..2000, k, 0, None).is_err());
}

/// Bits in which two sketches differ.
fn hamming(x: &[u64], y: &[u64]) -> usize {
    x.iter()
        .zip(y)
        .map(|(a, b)| (a ^ b).count_ones() as usize)
        .sum()
}

#[test]
fn both_plans_and_the_sketch_screen_match_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let (va, vb) = (rows(1400, 8, 3.0), rows(900, 9, 3.0));
    let mut plans = Vec::new();
    // Narrow buckets are walked; buckets wider than the data hold every pair, so all pairs
    // are scanned.
    for bucket_length in [0.4, 50.0] {
        let p = IndexParams {
            bucket_length,
            projections_per_table: 1,
            sketch_bits: 128,
            ..params(1)
        };
        let a = build_with(&dir.path().join(format!("a{bucket_length}")), &va, p);
        let b = build_with(&dir.path().join(format!("b{bucket_length}")), &vb, p);
        // The other side in memory, sketched with this index's planes.
        let memory = MemoryTables::new(
            a.params(),
            a.hasher(),
            Rows::new(&vb, DIM).unwrap(),
            a.sketcher(),
        )
        .unwrap();
        let bside = memory.side().unwrap();
        let b_sketch = |j: usize| &bside.sketches.unwrap()[j * 2..(j + 1) * 2];
        for max_hamming in [None, Some(0), Some(40), Some(128)] {
            let options = JoinOptions {
                max_hamming,
                ..JoinOptions::new(1.5)
            };
            let within = |x: &[u64], y: &[u64]| max_hamming.is_none_or(|m| hamming(x, y) <= m);
            let mut want = brute(&a, &a, &va, &va, true, 1.5, 1);
            want.retain(|&(i, j), _| {
                within(a.sketch(i as usize).unwrap(), a.sketch(j as usize).unwrap())
            });
            // The blocked plan (vectors over a 16 KB budget) screens by sketch alike.
            let blocked = JoinOptions {
                memory_budget: Some(16 * 1024),
                ..options
            };
            let (got, summary) = collect_sides(&a, None, options);
            assert_same(&got, &want);
            plans.push(summary.plan);
            if summary.plan == Plan::Buckets {
                let (got, summary) = collect_sides(&a, None, blocked);
                assert_eq!(summary.plan, Plan::Blocked);
                assert_same(&got, &want);
            }

            let mut want = brute(&a, &b, &va, &vb, false, 1.5, 1);
            want.retain(|&(i, j), _| within(a.sketch(i as usize).unwrap(), b_sketch(j as usize)));
            let (got, summary) = collect_sides(&a, Some(&bside), options);
            assert_same(&got, &want);
            plans.push(summary.plan);
            if summary.plan == Plan::Buckets {
                let (got, summary) = collect_sides(&a, Some(&bside), blocked);
                assert_eq!(summary.plan, Plan::Blocked);
                assert_same(&got, &want);
            }
            if max_hamming == Some(40) {
                assert!(
                    !want.is_empty() && want.len() < brute(&a, &b, &va, &vb, false, 1.5, 1).len(),
                    "the screen must drop some pairs and keep some"
                );
            }
        }
        // Another index's planes were fitted to other rows: its sketches do not compare.
        let (a, b) = (Arc::new(a), Arc::new(b));
        let screened = JoinOptions {
            max_hamming: Some(40),
            ..JoinOptions::new(1.5)
        };
        assert!(PairStream::start(Arc::clone(&a), Other::Index(b), screened, 100, true).is_err());
        assert!(
            join(
                a.params(),
                &a.side(),
                None,
                JoinOptions {
                    max_hamming: Some(129),
                    ..screened
                },
                &|_| true,
                &AtomicBool::new(false)
            )
            .is_err(),
            "more bits than the sketch has"
        );
    }
    assert!(
        plans.contains(&Plan::Buckets) && plans.contains(&Plan::AllPairs),
        "{plans:?}"
    );
    // Without sketches the screen is refused.
    let plain = build(&dir.path().join("plain"), &va, 1);
    let screened = JoinOptions {
        max_hamming: Some(10),
        ..JoinOptions::new(1.5)
    };
    assert!(
        join(
            plain.params(),
            &plain.side(),
            None,
            screened,
            &|_| true,
            &AtomicBool::new(false)
        )
        .is_err()
    );
}

#[test]
fn a_stop_set_by_the_caller_ends_either_plan_before_any_work() {
    // The caller's flag, not only `emit`'s answer, stops the join: a join that would find
    // nothing (or counts only) must still end on Ctrl-C.
    let dir = tempfile::tempdir().unwrap();
    let va = rows(1500, 12, 3.0);
    for (bucket_length, want) in [(0.4, Plan::Buckets), (50.0, Plan::AllPairs)] {
        let p = IndexParams {
            bucket_length,
            ..params(1)
        };
        let a = build_with(&dir.path().join(format!("s{bucket_length}")), &va, p);
        let options = JoinOptions::new(2.0);
        let run = |stop: bool| {
            join(
                a.params(),
                &a.side(),
                None,
                options,
                &|_| true,
                &AtomicBool::new(stop),
            )
            .unwrap()
        };
        let full = run(false);
        assert_eq!(full.plan, want);
        assert!(!full.stopped && full.pairs > 100, "{full:?}");
        let stopped = run(true);
        assert!(stopped.stopped, "{stopped:?}");
        assert_eq!(stopped.pairs, 0, "no row is looked at once stopped");
    }
}

/// Files in `dir` whose name marks a join's spill directory.
fn spills(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("fast-lsh-join"))
        .collect()
}

#[test]
fn the_blocked_plan_finds_the_same_pairs_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 rows of 6 values: 72 KB of vectors. A budget of 16 KB makes blocks of the
    // minimum 1,024 rows: 3 blocks a side, and a sorter that spills (4 KB of pairs).
    let (va, vb) = (rows(3000, 5, 3.0), rows(2500, 6, 3.0));
    for k in [1, 2] {
        let a = build(&dir.path().join(format!("a{k}")), &va, k);
        let b = build(&dir.path().join(format!("b{k}")), &vb, k);
        for (other, vo, symmetric) in [(None, &va, true), (Some(&b), &vb, false)] {
            for min in [1, 2] {
                let mut options = JoinOptions::new(0.6);
                options.min_collisions = min;
                // A cap no bucket reaches keeps the planner on buckets (these coarse
                // buckets would otherwise be scanned as all pairs, in memory).
                options.max_bucket_rows = Some(1 << 20);
                let want = brute(&a, other.unwrap_or(&a), &va, vo, symmetric, 0.6, min);
                assert!(want.len() > 100, "a join worth testing: {}", want.len());
                let in_place = collect(&a, other, options);
                options.memory_budget = Some(16 * 1024);
                let bside = other.map(Index::side);
                let (blocked, summary) = collect_sides(&a, bside.as_ref(), options);
                assert_eq!(summary.plan, Plan::Blocked);
                assert!(summary.block_reads[0] >= 3, "{:?}", summary.block_reads);
                assert_same(&blocked, &want);
                assert_same(&in_place, &want);
                // A budget the vectors fit walks buckets in place.
                options.memory_budget = Some(1 << 30);
                assert_eq!(
                    collect_sides(&a, bside.as_ref(), options).1.plan,
                    Plan::Buckets
                );
                assert!(spills(dir.path()).is_empty(), "{:?}", spills(dir.path()));
            }
        }
    }
}

#[test]
fn a_stopped_blocked_join_removes_its_spill() {
    let dir = tempfile::tempdir().unwrap();
    let va = rows(3000, 7, 3.0);
    let a = build(&dir.path().join("a"), &va, 1);
    let mut options = JoinOptions::new(0.6);
    options.memory_budget = Some(16 * 1024);
    options.max_bucket_rows = Some(1 << 20);
    let stop = AtomicBool::new(false);
    let summary = join(
        a.params(),
        &a.side(),
        None,
        options,
        &|_| false, // the consumer stops after the first batch
        &stop,
    )
    .unwrap();
    assert!(summary.stopped && summary.plan == Plan::Blocked);
    assert!(spills(dir.path()).is_empty(), "{:?}", spills(dir.path()));
}

#[test]
fn the_prefix_screen_of_the_blocked_plan_loses_no_pair() {
    // 32-d rows in which row i + 1500 is row i moved a little: planted pairs at every
    // distance up to the threshold and beyond, so the screen is tried near its edge.
    let (dim, n) = (32, 3000);
    let base = uniform_rows(n / 2, dim, 99, 4.0);
    let noise = uniform_rows(n / 2, dim, 100, 0.3);
    let moved: Vec<f32> = base.iter().zip(&noise).map(|(b, e)| b + e).collect();
    let data = [base, moved].concat();
    let dir = tempfile::tempdir().unwrap();
    let params = IndexParams {
        dim,
        bucket_length: 2.0,
        num_hash_tables: 4,
        ..params(2)
    };
    let mut w = IndexWriter::create(&dir.path().join("a"), params, 1 << 20, false).unwrap();
    w.append(Rows::new(&data, dim).unwrap(), None).unwrap();
    w.finish().unwrap();
    let a = Index::open(&dir.path().join("a")).unwrap();
    for threshold in [0.5, 0.8, 1.2] {
        let mut options = JoinOptions::new(threshold);
        options.max_bucket_rows = Some(1 << 20);
        let in_place = collect(&a, None, options);
        assert!(in_place.len() > 200, "{} pairs", in_place.len());
        // 384 KB of vectors, a 200 KB budget: a 4-dimension prefix copy and 3 blocks.
        options.memory_budget = Some(200 * 1024);
        let (blocked, summary) = collect_sides(&a, None, options);
        assert_eq!(summary.plan, Plan::Blocked);
        assert_same(&blocked, &in_place);
    }
}

#[test]
fn the_blocked_knn_join_answers_as_knn_join_does() {
    let dir = tempfile::tempdir().unwrap();
    // Sparse enough that with 2 projections per table some rows have fewer than k
    // candidates (their answers end in padding).
    let (va, vb) = (rows(3000, 21, 30.0), rows(2500, 22, 30.0));
    for kp in [1, 2] {
        let a = build(&dir.path().join(format!("a{kp}")), &va, kp);
        let b = build(&dir.path().join(format!("b{kp}")), &vb, kp);
        for (other, n_other) in [(None, 3000), (Some(&b), 2500)] {
            let k = 8;
            let want = a.knn_join(other, 0..3000, k, 0, None).unwrap();
            assert!(want.ids.iter().any(|&id| id >= 0));
            assert_eq!(want.ids.iter().any(|&id| id < 0), kp == 2);
            assert!(want.ids.iter().all(|&id| id < n_other as i64));
            let mut got = IndexKnn {
                ids: Vec::new(),
                distances: Vec::new(),
            };
            let mut next = 0;
            // A 16 KB budget: blocks of the minimum 1,024 rows, a sorter that spills.
            let reads = fast_lsh_ann_core::join::knn_join_blocked(
                &a,
                other,
                k,
                16 * 1024,
                &mut |first, part| {
                    assert_eq!(first, next, "rows arrive in order");
                    next += part.ids.len() / k;
                    got.ids.extend(part.ids);
                    got.distances.extend(part.distances);
                    Ok(true)
                },
                &AtomicBool::new(false),
            )
            .unwrap();
            assert_eq!(next, 3000);
            assert!(reads[0] >= 3, "{reads:?}");
            assert_eq!(got, want, "k {kp}, other {}", other.is_some());
            assert!(spills(dir.path()).is_empty());
        }
    }
}
