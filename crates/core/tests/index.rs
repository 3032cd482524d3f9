//! The on-disk index end to end: build from chunks through spilled runs, reopen, query
//! against brute force, and refuse damaged files.

use crate::util::uniform_rows;
use fast_lsh_ann_core::index::{Index, IndexKnn};
use fast_lsh_ann_core::index::{IndexParams, IndexWriter};
use fast_lsh_ann_core::{Arithmetic, ErrorKind, Rows};
use std::path::Path;

fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    uniform_rows(n, dim, seed, 2.0)
}

fn params(k: usize) -> IndexParams {
    IndexParams {
        dim: 8,
        bucket_length: 0.5,
        num_hash_tables: 4,
        projections_per_table: k,
        seed: 42,
        sketch_bits: 0,
        arithmetic: Arithmetic::for_projections(k),
    }
}

fn build(path: &Path, data: &[f32], k: usize, ids: bool) -> fast_lsh_ann_core::Result<()> {
    let mut w = IndexWriter::create(path, params(k), 32 * 1024, false)?; // tiny budget: many spilled runs
    for (c, chunk) in data.chunks(8 * 700).enumerate() {
        let ids_chunk: Vec<i64> = (0..chunk.len() / 8)
            .map(|i| 1000 + (c * 700 + i) as i64 * 3)
            .collect();
        w.append(Rows::new(chunk, 8).unwrap(), ids.then_some(&ids_chunk[..]))?;
    }
    w.finish()
}

/// Brute force: rows sharing a bucket key with the query in some table, nearest first.
fn brute(index: &Index, data: &[f32], query_row: usize, k: usize) -> Vec<(usize, f32)> {
    let sig_q = index.signature(query_row).to_vec();
    let q = &data[query_row * 8..query_row * 8 + 8];
    let mut all: Vec<(f64, usize)> = (0..index.len())
        .filter(|&r| index.signature(r).iter().zip(&sig_q).any(|(a, b)| a == b))
        .map(|r| {
            let d: f64 = data[r * 8..r * 8 + 8]
                .iter()
                .zip(q)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum();
            (d.sqrt(), r)
        })
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter()
        .take(k)
        .map(|(d, r)| (r, d as f32))
        .collect()
}

#[test]
fn build_reopen_and_query() {
    let dir = tempfile::tempdir().unwrap();
    let data = rows(5000, 8, 1);
    for k in [1, 3] {
        let path = dir.path().join(format!("idx-k{k}"));
        build(&path, &data, k, false).unwrap();
        let index = Index::open(&path).unwrap();
        assert_eq!(index.len(), 5000);
        index.verify().unwrap();
        let queries = Rows::new(&data[..8 * 50], 8).unwrap();
        let got = index.knn(queries, 5, 0, None).unwrap();
        for q in 0..50 {
            let want = brute(&index, &data, q, 5);
            let ids: Vec<i64> = got.ids[q * 5..q * 5 + want.len()].to_vec();
            assert_eq!(
                ids,
                want.iter().map(|w| w.0 as i64).collect::<Vec<_>>(),
                "k={k} query {q}"
            );
            assert_eq!(got.distances[q * 5], 0.0, "a row finds itself");
        }
        // More probes never lose a neighbour and never make a result worse.
        let probed = index.knn(queries, 5, 4, None).unwrap();
        for q in 0..50 {
            assert!(probed.distances[q * 5 + 4] <= got.distances[q * 5 + 4]);
        }
    }
    // With k = 1, the table keys are Spark's hash values.
    let index = Index::open(&dir.path().join("idx-k1")).unwrap();
    let hasher = fast_lsh_ann_core::BrpHasher::new(
        fast_lsh_ann_core::BrpParams::new(8, 0.5, 4, 42).unwrap(),
    );
    let spark = hasher
        .hash(Rows::new(&data[..80], 8).unwrap(), "x")
        .unwrap();
    for r in 0..10 {
        let keys: Vec<i64> = index.signature(r).iter().map(|&k| k as i64).collect();
        assert_eq!(keys, spark[r * 4..r * 4 + 4]);
    }
}

#[test]
fn external_ids_and_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let data = rows(1500, 8, 2);
    build(&path, &data, 1, true).unwrap();
    let index = Index::open(&path).unwrap();
    let got = index
        .knn(Rows::new(&data[8 * 701..8 * 702], 8).unwrap(), 1, 0, None)
        .unwrap();
    assert_eq!(got.ids[0], 1000 + 701 * 3);
    let again = build(&path, &data, 1, true).unwrap_err();
    assert!(matches!(again.kind(), ErrorKind::AlreadyExists { .. }));
    let mut w = IndexWriter::create(&path, params(1), 1 << 20, true).unwrap();
    w.append(Rows::new(&data[..80], 8).unwrap(), None).unwrap();
    w.finish().unwrap();
    assert_eq!(Index::open(&path).unwrap().len(), 10);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("idx")],
        "no staging or old directories left"
    );
}

#[test]
fn bad_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let mut data = rows(100, 8, 3);
    data[8 * 50 + 3] = f32::NAN;
    let err = build(&path, &data, 1, false).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::NonFinite {
            row: 50,
            col: 3,
            ..
        }
    ));
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the unfinished build was removed"
    );
    assert!(matches!(
        Index::open(&path).err().unwrap().kind(),
        ErrorKind::NotFound { .. }
    ));
}

#[test]
fn damage_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let data = rows(2000, 8, 4);
    let fresh = |name: &str| {
        let p = dir.path().join(name);
        build(&p, &data, 1, false).unwrap();
        p
    };
    let is_corrupt = |e: fast_lsh_ann_core::Error| match e.kind() {
        ErrorKind::Format(f) => matches!(
            f.kind(),
            fast_lsh_ann_format::ErrorKind::Corrupt { .. }
                | fast_lsh_ann_format::ErrorKind::ChecksumMismatch { .. }
        ),
        _ => false,
    };
    // A flipped payload byte: opens (header checks only), verify() names it.
    let p = fresh("flip");
    let file = p.join("vectors.seg");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[64 + 1234] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let index = Index::open(&p).unwrap();
    let err = index.verify().unwrap_err();
    assert!(err.to_string().contains("vectors.seg"), "{err}");
    assert!(is_corrupt(err));
    // A truncated segment: open fails.
    let p = fresh("trunc");
    let file = p.join("table-002.seg");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 100]).unwrap();
    let err = Index::open(&p).err().unwrap();
    assert!(err.to_string().contains("table-002.seg"), "{err}");
    assert!(is_corrupt(err));
    // A flipped header byte: open fails.
    let p = fresh("header");
    let file = p.join("signatures.seg");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    assert!(is_corrupt(Index::open(&p).err().unwrap()));
    // A table that lists a row past the end (its payload damaged, so open does not see
    // it): a query that meets it gets a `Corrupt` error naming the table, not a panic.
    // Eight projections per table and no probes: a few candidates, the list path; one
    // projection and eight probes: many, the bitmap path.
    let fresh_k = |name: &str, k: usize| {
        let p = dir.path().join(name);
        build(&p, &data, k, false).unwrap();
        p
    };
    for (name, k, probes) in [("row-few", 8, 0), ("row-many", 1, 8)] {
        let p = fresh_k(name, k);
        let file = p.join("table-001.seg");
        let mut bytes = std::fs::read(&file).unwrap();
        for row in bytes[64..64 + 2000 * 4].chunks_exact_mut(4) {
            row.copy_from_slice(&u32::MAX.to_le_bytes());
        }
        std::fs::write(&file, &bytes).unwrap();
        let index = Index::open(&p).unwrap();
        let q = Rows::new(&data[..8], 8).unwrap();
        let err = index.knn(q, 3, probes, None).unwrap_err();
        assert!(err.to_string().contains("table-001.seg"), "{err}");
        assert!(is_corrupt(err));
        // The thread's bitmap is clean again: the next index answers right.
        let good = Index::open(&fresh_k(&format!("{name}-good"), k)).unwrap();
        let found = good.knn(q, 3, probes, None).unwrap();
        assert_eq!(found.ids[0], 0);
    }
}

fn build_sketched(path: &Path, data: &[f32], sketch_bits: usize, bucket_length: f64) -> Index {
    let params = IndexParams {
        sketch_bits,
        bucket_length,
        ..params(2)
    };
    let mut w = IndexWriter::create(path, params, 1 << 20, false).unwrap();
    for chunk in data.chunks(8 * 900) {
        w.append(Rows::new(chunk, 8).unwrap(), None).unwrap();
    }
    w.finish().unwrap();
    Index::open(path).unwrap()
}

/// Queries for [`check_screen`]: rows `rows` of the data, asked by `knn`, or by `knn_join`
/// (each row excluded from its own answers) when `join`.
struct Ask {
    rows: std::ops::Range<usize>,
    join: bool,
    k: usize,
    probes: usize,
}

impl Ask {
    fn run(&self, index: &Index, data: &[f32], k: usize, rerank: Option<usize>) -> IndexKnn {
        if self.join {
            index.knn_join(None, self.rows.clone(), k, self.probes, rerank)
        } else {
            let queries = Rows::new(&data[8 * self.rows.start..8 * self.rows.end], 8).unwrap();
            index.knn(queries, k, self.probes, rerank)
        }
        .unwrap()
    }
}

/// Check that `sketched`'s answers with `rerank` are the exact top k of the `rerank`
/// candidates nearest in Hamming distance (ties by smaller row), the query's sketch
/// computed from the stored planes and the candidates being what `plain` measures; return
/// how many queries the screen answered differently from measuring every candidate.
fn check_screen(sketched: &Index, plain: &Index, data: &[f32], ask: &Ask, rerank: usize) -> usize {
    let (n, k) = (data.len() / 8, ask.k);
    let screened = ask.run(sketched, data, k, Some(rerank));
    let everything = ask.run(plain, data, k, None);
    let candidates = ask.run(plain, data, n, None);
    let queries = Rows::new(&data[8 * ask.rows.start..8 * ask.rows.end], 8).unwrap();
    let query_sketches = sketched.sketcher().unwrap().sketch(queries);
    let mut differs = 0;
    for q in 0..queries.len() {
        let qs = &query_sketches[q * 2..q * 2 + 2];
        let hamming = |r: usize| -> u32 {
            let s = sketched.sketch(r).unwrap();
            qs.iter().zip(s).map(|(a, b)| (a ^ b).count_ones()).sum()
        };
        let mut cands: Vec<usize> = candidates.ids[q * n..(q + 1) * n]
            .iter()
            .filter(|&&id| id >= 0)
            .map(|&id| id as usize)
            .collect();
        assert!(cands.len() > rerank, "query {q}: the screen has work to do");
        cands.sort_by_key(|&r| (hamming(r), r));
        cands.truncate(rerank);
        let q_vec = queries.row(q);
        let mut exact: Vec<(f64, usize)> = cands
            .iter()
            .map(|&r| {
                let d: f64 = data[r * 8..r * 8 + 8]
                    .iter()
                    .zip(q_vec)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum();
                (d, r)
            })
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let want: Vec<i64> = exact.iter().take(k).map(|&(_, r)| r as i64).collect();
        assert_eq!(screened.ids[q * k..(q + 1) * k], want, "query {q}");
        differs +=
            usize::from(screened.ids[q * k..(q + 1) * k] != everything.ids[q * k..(q + 1) * k]);
    }
    differs
}

#[test]
fn sketches_rank_candidates_before_exact_distances() {
    let dir = tempfile::tempdir().unwrap();
    let data = rows(4000, 8, 5);
    let plain = build_sketched(&dir.path().join("plain"), &data, 0, 0.5);
    let sketched = build_sketched(&dir.path().join("sketched"), &data, 128, 0.5);
    sketched.verify().unwrap();
    let queries = Rows::new(&data[8 * 100..8 * 160], 8).unwrap();
    let (k, probes) = (5, 2);
    assert!(
        plain.knn(queries, k, probes, Some(10)).is_err(),
        "rerank needs sketches"
    );
    assert!(sketched.knn(queries, k, probes, Some(0)).is_err());
    let bad = IndexParams {
        sketch_bits: 100,
        ..params(2)
    };
    assert!(IndexWriter::create(&dir.path().join("bad"), bad, 1 << 20, false).is_err());

    // Told to measure every candidate, the sketched index answers as the plain one.
    let everything = sketched.knn(queries, k, probes, Some(4000)).unwrap();
    assert_eq!(everything, plain.knn(queries, k, probes, None).unwrap());

    // With a smaller rerank, the screen decides. A small one ranks many candidates per
    // kept one, which takes a sample's cut first.
    let ask = Ask {
        rows: 100..160,
        join: false,
        k,
        probes,
    };
    for rerank in [40, 8] {
        let differs = check_screen(&sketched, &plain, &data, &ask, rerank);
        assert!(
            differs > 0,
            "a screen of {rerank} should change some answers"
        );
    }

    // knn_join screens with the rows' stored sketches, never counting a row as its own
    // neighbour.
    let joined = sketched
        .knn_join(None, 0..300, k, probes, Some(4000))
        .unwrap();
    assert_eq!(
        joined,
        plain.knn_join(None, 0..300, k, probes, None).unwrap()
    );
    let joined = sketched.knn_join(None, 0..300, k, probes, Some(8)).unwrap();
    for r in 0..300 {
        assert!(!joined.ids[r * k..(r + 1) * k].contains(&(r as i64)));
        assert!(joined.ids[r * k] >= 0);
    }
}

#[test]
fn buckets_holding_every_row_screen_all_rows() {
    // Buckets far wider than the data: each table has the four buckets of two projections'
    // signs, and three probes visit them all, so every row is a candidate and the screen
    // ranks all sketches without marking rows.
    let dir = tempfile::tempdir().unwrap();
    let data = rows(4000, 8, 6);
    let plain = build_sketched(&dir.path().join("plain"), &data, 0, 1e6);
    let sketched = build_sketched(&dir.path().join("sketched"), &data, 128, 1e6);
    let (k, probes) = (5, 3);
    let queries = Rows::new(&data[8 * 500..8 * 560], 8).unwrap();
    let all = plain.knn(queries, 4000, probes, None).unwrap();
    assert!(
        all.ids.iter().all(|&id| id >= 0),
        "every row is a candidate"
    );
    let fewer = plain.knn(queries, 4000, 1, None).unwrap();
    assert!(fewer.ids.contains(&-1), "one probe misses some rows");
    let knn = Ask {
        rows: 500..560,
        join: false,
        k,
        probes,
    };
    // A self-join excludes each row, also when every row is a candidate.
    let join = Ask {
        rows: 0..200,
        join: true,
        k,
        probes,
    };
    for rerank in [40, 8, 1000] {
        let differs = check_screen(&sketched, &plain, &data, &knn, rerank);
        assert!(
            differs > 0 || rerank == 1000,
            "a screen of {rerank} should change some answers"
        );
        check_screen(&sketched, &plain, &data, &join, rerank);
    }
}

#[test]
fn a_failed_append_abandons_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    let good = rows(300, 8, 4);
    let mut bad = rows(300, 8, 5);
    bad[8 * 120 + 6] = f32::INFINITY;
    let mut w = IndexWriter::create(&path, params(3), 1 << 20, false).unwrap();
    w.append(Rows::new(&good, 8).unwrap(), None).unwrap();
    let err = w.append(Rows::new(&bad, 8).unwrap(), None).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::NonFinite {
            row: 120,
            col: 6,
            ..
        }
    ));
    // Part of the bad chunk may be written: nothing more is accepted.
    assert!(w.append(Rows::new(&good, 8).unwrap(), None).is_err());
    assert!(w.finish().is_err());
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the abandoned build was removed"
    );
    // A chunk of the wrong dimension is refused before anything is written: the writer
    // goes on.
    let mut w = IndexWriter::create(&path, params(3), 1 << 20, false).unwrap();
    let err = w.append(Rows::new(&good, 4).unwrap(), None).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::DimensionMismatch { .. }));
    w.append(Rows::new(&good, 8).unwrap(), None).unwrap();
    w.finish().unwrap();
    assert_eq!(Index::open(&path).unwrap().len(), 300);
}

#[test]
fn the_manifest_records_the_arithmetic() {
    use fast_lsh_ann_format::{Kind, MANIFEST, Manifest, Segment};
    let dir = tempfile::tempdir().unwrap();
    let data = rows(500, 8, 6);
    for (k, arithmetic, elem_bytes) in [(1, Arithmetic::Spark, 8), (3, Arithmetic::F32, 4)] {
        let path = dir.path().join(format!("k{k}"));
        build(&path, &data, k, false).unwrap();
        let index = Index::open(&path).unwrap();
        assert_eq!(index.params().arithmetic, arithmetic);
        assert_eq!(index.hasher().arithmetic(), arithmetic);
        let bytes = std::fs::read(path.join("projections.seg")).unwrap();
        let projections =
            Segment::open(path.join("projections.seg"), bytes, Kind::Projections).unwrap();
        let values = projections.count() * projections.width();
        assert_eq!(
            projections.body().len() as u64,
            values * elem_bytes,
            "k {k}"
        );
        let manifest = Manifest::read(&path).unwrap();
        assert_eq!(manifest.get("arithmetic").is_some(), k > 1);
        // Every row finds itself: queries hash as the build did.
        let found = index.knn(Rows::new(&data, 8).unwrap(), 1, 0, None).unwrap();
        assert!((0..500).all(|r| found.ids[r] == r as i64), "k {k}");
    }
    // A value this version does not know is refused, and so is a manifest that says f32
    // over f64 projections.
    for (value, from) in [("f16", "k3"), ("f32", "k1")] {
        let path = dir.path().join(from);
        let mut manifest = Manifest::read(&path).unwrap();
        manifest.entries.retain(|(key, _)| key != "arithmetic");
        manifest.set("arithmetic", value);
        std::fs::remove_file(path.join(MANIFEST)).unwrap();
        manifest.write(&path).unwrap();
        let err = Index::open(&path).err().unwrap();
        let corrupt = match err.kind() {
            ErrorKind::Format(f) => {
                matches!(f.kind(), fast_lsh_ann_format::ErrorKind::Corrupt { .. })
            }
            _ => false,
        };
        assert!(corrupt, "{value} in {from}: {err}");
    }
}
