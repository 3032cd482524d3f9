//! `fast_lsh_ann._native`: PyO3 glue over `fast-lsh-ann-core`, nothing else.
//!
//! Arguments are extracted under the GIL; the work runs with the GIL released
//! (`Python::detach`, through `error::guard`: engine errors and panics become Python
//! exceptions in `error.rs`); results go back as numpy arrays without copying. The Python
//! package (`python/fast_lsh_ann`) checks shapes and converts dtypes before calling in here,
//! so this module receives C-contiguous `float32` or `float64` matrices only.

mod error;

use error::{EngineError, guard};
use fast_lsh_ann_core::index::{Index as CoreIndex, IndexKnn};
use fast_lsh_ann_core::index::{IndexParams, IndexWriter as CoreWriter};
use fast_lsh_ann_core::join::stream::{Next, Other, PairStream};
use fast_lsh_ann_core::join::{JoinOptions, JoinSummary, MemoryTables, Plan, knn_join_blocked};
use fast_lsh_ann_core::model::join::{JoinPairs, similarity_join, similarity_join_cms};
use fast_lsh_ann_core::model::knn::batch_knn;
use fast_lsh_ann_core::{Arithmetic, BrpHasher, BrpParams, Element, Rows};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A C-contiguous float32 or float64 matrix borrowed from numpy.
#[derive(FromPyObject)]
enum Matrix<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

impl<'py> Matrix<'py> {
    /// A copy in a new numpy array that no Python code holds, so none can write to it while
    /// the GIL is released (see `with_rows!`). For small inputs: query batches.
    fn private_copy(&self, py: Python<'py>) -> Matrix<'py> {
        match self {
            Matrix::F32(a) => Matrix::F32(a.as_array().to_owned().into_pyarray(py).readonly()),
            Matrix::F64(a) => Matrix::F64(a.as_array().to_owned().into_pyarray(py).readonly()),
        }
    }
}

/// Matrices borrowed as (values, dimension).
type Borrowed<'a, T> = Vec<(&'a [T], usize)>;

/// Both sides of a call, borrowed as slices of one element type.
enum Slices<'a> {
    F32(Borrowed<'a, f32>),
    F64(Borrowed<'a, f64>),
}

/// Borrow every matrix as a slice; they must share one dtype and be C-contiguous.
fn slices<'a, 'py: 'a>(matrices: &'a [&'a Matrix<'py>]) -> PyResult<Slices<'a>> {
    fn one<'a, T: numpy::Element>(m: &'a PyReadonlyArray2<'_, T>) -> PyResult<(&'a [T], usize)> {
        let dim = m.shape()[1];
        let data = m
            .as_slice()
            .map_err(|_| PyValueError::new_err("internal: matrix is not C-contiguous"))?;
        Ok((data, dim))
    }
    /// Every matrix as a `T` slice, or `None` if one of them has another dtype.
    fn all<'a, 'py: 'a, T: numpy::Element>(
        matrices: &'a [&'a Matrix<'py>],
        pick: impl Fn(&'a Matrix<'py>) -> Option<&'a PyReadonlyArray2<'py, T>>,
    ) -> Option<PyResult<Borrowed<'a, T>>> {
        let arrays: Option<Vec<_>> = matrices.iter().map(|m| pick(m)).collect();
        arrays.map(|a| a.into_iter().map(one).collect())
    }
    if let Some(v) = all(matrices, |m| match m {
        Matrix::F32(a) => Some(a),
        Matrix::F64(_) => None,
    }) {
        return Ok(Slices::F32(v?));
    }
    if let Some(v) = all(matrices, |m| match m {
        Matrix::F64(a) => Some(a),
        Matrix::F32(_) => None,
    }) {
        return Ok(Slices::F64(v?));
    }
    Err(PyTypeError::new_err(
        "internal: matrices of one call must share a dtype",
    ))
}

fn rows<'a, T: Element>(s: &[(&'a [T], usize)], i: usize) -> PyResult<Rows<'a, T>> {
    let (data, dim) = s[i];
    // A (0, d) array may report d = 0; its rows are then empty whatever the dimension.
    Ok(Rows::new(data, dim.max(1)).map_err(EngineError::from)?)
}

/// Run `f` on the borrowed rows of `matrices`, whatever their dtype, with the GIL released
/// (through `guard`: the result is a `PyResult`).
///
/// The rows are borrowed from numpy while other Python threads may run. rust-numpy's
/// `PyReadonlyArray` keeps other Rust code from writing to them, not Python code (its known
/// limitation, rust-numpy issue 497). Query batches are small, and copied first
/// (`Matrix::private_copy`). The arrays borrowed in place are the large ones (vectors to
/// hash, join or append to an index, and their ids), where a copy would double the peak
/// memory. If Python code writes to such an array from another thread during the call, that
/// is a data race with our reads: undefined behaviour in Rust's model, so we document what
/// it can do rather than rule it out. Pointer and length were taken under the GIL and the
/// buffer stays alive, because we hold a reference to the array (only
/// `ndarray.resize(refcheck=False)`, which numpy documents as unsafe, could move it). The
/// engine reads the data only as f32/f64 (and i64 id) values: no length, offset or index
/// comes from them, every sort uses `total_cmp`, and hashes are saturating float-to-int
/// casts. So a changed value changes answers (a hash, a distance, or a NaN distance if it
/// turns non-finite after the check), never memory safety; anything that did panic would
/// reach Python as `LshError` through `guard`.
macro_rules! with_rows {
    ($py:expr, $matrices:expr, |$r:ident| $body:expr) => {{
        match slices($matrices)? {
            Slices::F32(s) => {
                let $r = (0..s.len())
                    .map(|i| rows(&s, i))
                    .collect::<PyResult<Vec<Rows<'_, f32>>>>()?;
                $py.detach(|| guard(|| $body))
            }
            Slices::F64(s) => {
                let $r = (0..s.len())
                    .map(|i| rows(&s, i))
                    .collect::<PyResult<Vec<Rows<'_, f64>>>>()?;
                $py.detach(|| guard(|| $body))
            }
        }
    }};
}

/// The hash functions of one Spark BRP model (Spark's unit vectors for the seed).
#[pyclass(module = "fast_lsh_ann._native", frozen)]
struct Hasher {
    inner: BrpHasher,
}

type JoinArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    &'static str,
);

fn join_arrays(py: Python<'_>, (pairs, plan): (JoinPairs, Plan)) -> JoinArrays<'_> {
    let widen = |v: Vec<u32>| v.into_iter().map(i64::from).collect::<Vec<i64>>();
    let plan = plan.name();
    (
        widen(pairs.a).into_pyarray(py),
        widen(pairs.b).into_pyarray(py),
        pairs.distances.into_pyarray(py),
        plan,
    )
}

#[pymethods]
impl Hasher {
    /// Draw the model's unit vectors as Spark does for these parameters.
    #[new]
    fn new(dim: usize, bucket_length: f64, num_hash_tables: usize, seed: i64) -> PyResult<Self> {
        let params =
            BrpParams::new(dim, bucket_length, num_hash_tables, seed).map_err(EngineError::from)?;
        Ok(Hasher {
            inner: BrpHasher::new(params),
        })
    }

    /// Spark's `randMatrix`: float64 (num_hash_tables, dim).
    fn unit_vectors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let p = self.inner.params();
        self.inner
            .unit_vectors()
            .to_vec()
            .into_pyarray(py)
            .reshape([p.num_hash_tables, p.dim])
    }

    /// Bucket ids: int64 (n, num_hash_tables).
    fn transform<'py>(
        &self,
        py: Python<'py>,
        x: Matrix<'py>,
    ) -> PyResult<Bound<'py, PyArray2<i64>>> {
        let tables = self.inner.params().num_hash_tables;
        let hashes = with_rows!(py, &[&x], |r| self.inner.hash(r[0], "vectors"))?;
        let n = hashes.len() / tables;
        hashes.into_pyarray(py).reshape([n, tables])
    }

    /// Single-probe k-NN of every query: (rows int64 (q, k), distances float64 (q, k),
    /// counts int64 (q,)); unused slots hold -1 / inf.
    #[allow(clippy::type_complexity)]
    fn knn<'py>(
        &self,
        py: Python<'py>,
        base: Matrix<'py>,
        queries: Matrix<'py>,
        k: usize,
    ) -> PyResult<(
        Bound<'py, PyArray2<i64>>,
        Bound<'py, PyArray2<f64>>,
        Bound<'py, PyArray1<i64>>,
    )> {
        let queries = queries.private_copy(py);
        let found = with_rows!(py, &[&base, &queries], |r| batch_knn(
            &self.inner,
            r[0],
            r[1],
            k
        ))?;
        let q = found.counts.len();
        let counts: Vec<i64> = found.counts.iter().map(|&c| c as i64).collect();
        Ok((
            found.rows.into_pyarray(py).reshape([q, k])?,
            found.distances.into_pyarray(py).reshape([q, k])?,
            counts.into_pyarray(py),
        ))
    }

    /// Threshold join: (rows_a, rows_b, distances, plan). `b=None` is a self-join
    /// reporting each unordered pair once (a < b).
    #[pyo3(signature = (a, b, threshold))]
    fn join<'py>(
        &self,
        py: Python<'py>,
        a: Matrix<'py>,
        b: Option<Matrix<'py>>,
        threshold: f64,
    ) -> PyResult<JoinArrays<'py>> {
        let found = match &b {
            None => with_rows!(py, &[&a], |r| similarity_join(
                &self.inner,
                r[0],
                None,
                threshold
            )),
            Some(b) => with_rows!(py, &[&a, b], |r| similarity_join(
                &self.inner,
                r[0],
                Some(r[1]),
                threshold
            )),
        };
        Ok(join_arrays(py, found?))
    }

    /// Threshold join keeping pairs a Count-Min Sketch counts in >= min_collisions tables.
    #[pyo3(signature = (a, b, threshold, min_collisions, width, depth))]
    #[allow(clippy::too_many_arguments)]
    fn join_cms<'py>(
        &self,
        py: Python<'py>,
        a: Matrix<'py>,
        b: Option<Matrix<'py>>,
        threshold: f64,
        min_collisions: usize,
        width: usize,
        depth: usize,
    ) -> PyResult<JoinArrays<'py>> {
        let h = &self.inner;
        let found = match &b {
            None => with_rows!(py, &[&a], |r| similarity_join_cms(
                h,
                r[0],
                None,
                threshold,
                min_collisions,
                width,
                depth
            )),
            Some(b) => {
                with_rows!(py, &[&a, b], |r| similarity_join_cms(
                    h,
                    r[0],
                    Some(r[1]),
                    threshold,
                    min_collisions,
                    width,
                    depth
                ))
            }
        };
        Ok(join_arrays(py, found?))
    }
}

/// Builds an index directory chunk by chunk (see `fast_lsh_ann.Index.build`).
#[pyclass(module = "fast_lsh_ann._native")]
struct IndexWriter {
    inner: Option<CoreWriter>,
}

#[pymethods]
impl IndexWriter {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        path: std::path::PathBuf,
        dim: usize,
        bucket_length: f64,
        num_hash_tables: usize,
        projections_per_table: usize,
        seed: i64,
        sketch_bits: usize,
        memory_budget: usize,
        overwrite: bool,
    ) -> PyResult<Self> {
        let params = IndexParams {
            dim,
            bucket_length,
            num_hash_tables,
            projections_per_table,
            seed,
            sketch_bits,
            arithmetic: Arithmetic::for_projections(projections_per_table),
        };
        Ok(IndexWriter {
            inner: Some(
                CoreWriter::create(&path, params, memory_budget, overwrite)
                    .map_err(EngineError::from)?,
            ),
        })
    }

    /// Append a chunk of rows (and their int64 ids, or None).
    #[pyo3(signature = (x, ids))]
    fn append<'py>(
        &mut self,
        py: Python<'py>,
        x: Matrix<'py>,
        ids: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<()> {
        let writer = self
            .inner
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("this writer is finished"))?;
        let ids = match &ids {
            Some(a) => Some(
                a.as_slice()
                    .map_err(|_| PyValueError::new_err("internal: ids not contiguous"))?,
            ),
            None => None,
        };
        let appended = with_rows!(py, &[&x], |r| writer.append(r[0], ids));
        if appended.is_err() {
            // A failed (or panicked) append may have kept part of the chunk: the build can
            // only be dropped now, which removes its staging directory.
            self.inner = None;
        }
        appended
    }

    /// Rows appended so far.
    fn rows(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.rows())
    }

    /// Merge, write and publish the index.
    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        let writer = self
            .inner
            .take()
            .ok_or_else(|| PyValueError::new_err("this writer is finished"))?;
        py.detach(|| guard(|| writer.finish()))
    }

    /// Drop the unfinished build (its staging directory is removed).
    fn abort(&mut self) {
        self.inner = None;
    }
}

type IndexKnnArrays<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<f32>>);

/// An opened index directory (see `fast_lsh_ann.Index`).
#[pyclass(module = "fast_lsh_ann._native", frozen)]
struct Index {
    inner: Arc<CoreIndex>,
}

#[pymethods]
impl Index {
    /// Open (mmap) the index at `path`.
    #[staticmethod]
    fn open(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        Ok(Index {
            inner: Arc::new(py.detach(|| guard(|| CoreIndex::open(&path)))?),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Build parameters: (dim, bucket_length, num_hash_tables, projections_per_table, seed,
    /// sketch_bits).
    fn params(&self) -> (usize, f64, usize, usize, i64, usize) {
        let p = self.inner.params();
        (
            p.dim,
            p.bucket_length,
            p.num_hash_tables,
            p.projections_per_table,
            p.seed,
            p.sketch_bits,
        )
    }

    /// k-NN of every query: (ids int64 (q, k), distances float32 (q, k)).
    #[pyo3(signature = (queries, k, probes, rerank))]
    fn knn<'py>(
        &self,
        py: Python<'py>,
        queries: Matrix<'py>,
        k: usize,
        probes: usize,
        rerank: Option<usize>,
    ) -> PyResult<IndexKnnArrays<'py>> {
        let queries = queries.private_copy(py);
        let found = with_rows!(py, &[&queries], |r| self.inner.knn(r[0], k, probes, rerank))?;
        knn_arrays(py, found, k)
    }

    /// Check every segment's checksum.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| guard(|| self.inner.verify()))
    }

    /// External ids of rows `start..end` (row numbers when the index has none).
    fn external_ids<'py>(
        &self,
        py: Python<'py>,
        start: usize,
        end: usize,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        if start > end || end > self.inner.len() {
            return Err(PyValueError::new_err(format!(
                "rows {start}..{end} are not within the index's {} rows",
                self.inner.len()
            )));
        }
        let ids: Vec<i64> = (start..end).map(|r| self.inner.external_id(r)).collect();
        Ok(ids.into_pyarray(py))
    }

    /// k-NN of rows `start..end` of this index in `other` (itself, the row excluded, when
    /// None): (ids int64 (n, k), distances float32 (n, k)).
    #[pyo3(signature = (other, start, end, k, probes, rerank))]
    #[allow(clippy::too_many_arguments)] // the Python wrapper passes the options through
    fn knn_join<'py>(
        &self,
        py: Python<'py>,
        other: Option<PyRef<'py, Index>>,
        start: usize,
        end: usize,
        k: usize,
        probes: usize,
        rerank: Option<usize>,
    ) -> PyResult<IndexKnnArrays<'py>> {
        let other = other.map(|o| Arc::clone(&o.inner));
        let found = py.detach(|| {
            guard(|| {
                self.inner
                    .knn_join(other.as_deref(), start..end, k, probes, rerank)
            })
        })?;
        knn_arrays(py, found, k)
    }

    /// The k-NN join of every row for vectors beyond `memory_budget` (`probes` 0, no
    /// sketches): `sink(start, ids, dist)` receives the answers a block of rows at a time,
    /// in row order, while the join runs with the GIL released. A Python error in `sink`
    /// (Ctrl-C included) stops the join and is raised.
    #[pyo3(signature = (other, k, memory_budget, sink))]
    fn knn_join_blocked(
        &self,
        py: Python<'_>,
        other: Option<PyRef<'_, Index>>,
        k: usize,
        memory_budget: usize,
        sink: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let other = other.map(|o| Arc::clone(&o.inner));
        let sink = sink.unbind();
        let stop = AtomicBool::new(false);
        let mut failed: Option<PyErr> = None;
        let index = &self.inner;
        py.detach(|| {
            guard(|| {
                knn_join_blocked(
                    index,
                    other.as_deref(),
                    k,
                    memory_budget,
                    &mut |first, found| {
                        let delivered = Python::attach(|py| -> PyResult<()> {
                            let (ids, dist) = knn_arrays(py, found, k)?;
                            sink.call1(py, (first, ids, dist))?;
                            py.check_signals()
                        });
                        Ok(delivered.map_err(|e| failed = Some(e)).is_ok())
                    },
                    &stop,
                )
            })
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Start a join with `other` (an Index, or None for a self-join) on a background
    /// thread; pairs arrive from the returned stream.
    #[pyo3(signature = (other, threshold, min_collisions, max_bucket_rows, max_hamming, memory_budget, batch_rows, count_only))]
    #[allow(clippy::too_many_arguments)] // the Python wrapper passes the options through
    fn join(
        &self,
        py: Python<'_>,
        other: Option<PyRef<'_, Index>>,
        threshold: f64,
        min_collisions: usize,
        max_bucket_rows: Option<usize>,
        max_hamming: Option<usize>,
        memory_budget: Option<usize>,
        batch_rows: usize,
        count_only: bool,
    ) -> PyResult<JoinStream> {
        let other = match other {
            Some(o) => Other::Index(Arc::clone(&o.inner)),
            None => Other::Itself,
        };
        let options = JoinOptions {
            threshold,
            min_collisions,
            max_bucket_rows,
            max_hamming,
            memory_budget,
        };
        self.start(py, other, options, batch_rows, count_only)
    }

    /// Start a join with the rows of `vectors` (hashed and bucketed in memory, ids
    /// `first_id + row`), like `join`.
    #[pyo3(signature = (vectors, first_id, threshold, min_collisions, max_bucket_rows, max_hamming, memory_budget, batch_rows, count_only))]
    #[allow(clippy::too_many_arguments)] // the Python wrapper passes the options through
    fn join_rows(
        &self,
        py: Python<'_>,
        vectors: Matrix<'_>,
        first_id: i64,
        threshold: f64,
        min_collisions: usize,
        max_bucket_rows: Option<usize>,
        max_hamming: Option<usize>,
        memory_budget: Option<usize>,
        batch_rows: usize,
        count_only: bool,
    ) -> PyResult<JoinStream> {
        let index = &self.inner;
        let memory = with_rows!(py, &[&vectors], |r| {
            MemoryTables::new(
                index.params(),
                index.hasher(),
                r[0],
                // Sketching costs as much as hashing many tables: only for a screen.
                max_hamming.and(index.sketcher()),
            )
        })?;
        let options = JoinOptions {
            threshold,
            min_collisions,
            max_bucket_rows,
            max_hamming,
            memory_budget,
        };
        self.start(
            py,
            Other::Memory(Arc::new(memory), first_id),
            options,
            batch_rows,
            count_only,
        )
    }
}

impl Index {
    fn start(
        &self,
        py: Python<'_>,
        other: Other,
        options: JoinOptions,
        batch_rows: usize,
        count_only: bool,
    ) -> PyResult<JoinStream> {
        let index = Arc::clone(&self.inner);
        let stream = py.detach(|| {
            guard(|| PairStream::start(index, other, options, batch_rows, count_only))
        })?;
        Ok(JoinStream {
            stream,
            summary: Mutex::new(None),
            ended: AtomicBool::new(false),
        })
    }
}

fn knn_arrays(py: Python<'_>, found: IndexKnn, k: usize) -> PyResult<IndexKnnArrays<'_>> {
    let q = found.ids.len() / k;
    Ok((
        found.ids.into_pyarray(py).reshape([q, k])?,
        found.distances.into_pyarray(py).reshape([q, k])?,
    ))
}

/// A chunk of join output: (ids of the index's rows, ids of the other side's, distances).
type PairArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f32>>,
);

/// A join running in the background (see `fast_lsh_ann.Index.join`). Iterating yields
/// chunks of pairs; Ctrl-C stops the join and raises `KeyboardInterrupt` within ~0.1 s.
#[pyclass(module = "fast_lsh_ann._native", frozen)]
struct JoinStream {
    stream: PairStream,
    summary: Mutex<Option<JoinSummary>>,
    /// Set once the join's end was collected (its summary or its error).
    ended: AtomicBool,
}

#[pymethods]
impl JoinStream {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<PairArrays<'py>>> {
        loop {
            if self.ended.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let step = py.detach(|| self.stream.next_batch(Duration::from_millis(100)));
            match step {
                Next::Batch(b) => {
                    return Ok(Some((
                        b.a.into_pyarray(py),
                        b.b.into_pyarray(py),
                        b.distances.into_pyarray(py),
                    )));
                }
                Next::Pending => {
                    if let Err(interrupt) = py.check_signals() {
                        self.stop(py)?;
                        return Err(interrupt);
                    }
                }
                Next::Done => {
                    self.end(py)?;
                    return Ok(None);
                }
            }
        }
    }

    /// Stop the join and wait for its workers (pairs not yet taken are dropped).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        self.stream.stop();
        self.end(py)
    }

    /// What the join did, once it has ended: a dict (see `fast_lsh_ann.Index.join`).
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(s) = lock(&self.summary).clone() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("shared_buckets", s.shared_buckets)?;
        d.set_item(
            "bucket_rows_p50_p90_p99_p999",
            s.bucket_rows_percentiles.to_vec(),
        )?;
        d.set_item("max_bucket_rows", s.max_bucket_rows)?;
        d.set_item("candidate_pairs", s.candidate_pairs)?;
        d.set_item("capped_buckets", s.capped_buckets)?;
        d.set_item("pairs", s.pairs)?;
        d.set_item("seconds", s.seconds)?;
        d.set_item("stopped", s.stopped)?;
        d.set_item("plan", s.plan.name())?;
        d.set_item("block_reads", s.block_reads.to_vec())?;
        Ok(Some(d))
    }
}

impl JoinStream {
    /// Join the background thread and keep its summary (or raise its error).
    fn end(&self, py: Python<'_>) -> PyResult<()> {
        if self.ended.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let summary = py.detach(|| guard(|| self.stream.finish()))?;
        *lock(&self.summary) = Some(summary);
        Ok(())
    }
}

/// Lock a mutex, recovering it if a panic poisoned it (the data is a summary, never torn).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Hasher>()?;
    m.add_class::<IndexWriter>()?;
    m.add_class::<Index>()?;
    m.add_class::<JoinStream>()?;
    m.add("LshError", m.py().get_type::<error::LshError>())?;
    m.add(
        "CorruptIndexError",
        m.py().get_type::<error::CorruptIndexError>(),
    )?;
    m.add(
        "IncompatibleIndexError",
        m.py().get_type::<error::IncompatibleIndexError>(),
    )?;
    m.add("SPARK_DEFAULT_SEED", fast_lsh_ann_core::SPARK_DEFAULT_SEED)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
