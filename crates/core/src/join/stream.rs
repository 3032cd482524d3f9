//! A join of an index running on a background thread, its pairs handed to the consumer in
//! batches through a bounded channel: memory holds at most a few batches whatever the
//! output size, and a slow consumer slows the join down instead of filling memory.

use super::memory::MemoryTables;
use super::merge::{JoinOptions, JoinSummary, join};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::join::kernel::Found;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Batches waiting in the channel at most.
const CHANNEL_BATCHES: usize = 4;

/// What an index is joined with.
#[derive(Clone)]
pub enum Other {
    /// Itself: each unordered pair once.
    Itself,
    /// Another index built with the same parameters and projections.
    Index(Arc<Index>),
    /// Rows bucketed in memory; their ids are `first_id + row`.
    Memory(Arc<MemoryTables>, i64),
}

/// Pairs of external ids and their distances.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairBatch {
    /// Ids of the index's rows.
    pub a: Vec<i64>,
    /// Ids of the other side's rows.
    pub b: Vec<i64>,
    /// Euclidean distances.
    pub distances: Vec<f32>,
}

/// One step of [`PairStream::next_batch`].
#[derive(Debug)]
pub enum Next {
    /// A batch of pairs.
    Batch(PairBatch),
    /// Nothing yet: ask again (the consumer can check for interrupts meanwhile).
    Pending,
    /// The join has ended; [`PairStream::finish`] tells how.
    Done,
}

type Outcome = Arc<Mutex<Option<Result<JoinSummary>>>>;

/// A running join.
pub struct PairStream {
    rx: Receiver<PairBatch>,
    stop: Arc<AtomicBool>,
    outcome: Outcome,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl PairStream {
    /// Start joining `index` with `other` on a background thread. With `count_only` no
    /// pairs are sent; the summary counts them.
    pub fn start(
        index: Arc<Index>,
        other: Other,
        options: JoinOptions,
        batch_rows: usize,
        count_only: bool,
    ) -> Result<Self> {
        if let Other::Index(o) = &other {
            index.check_compatible(o)?;
            if options.max_hamming.is_some() {
                index.check_sketches(o)?;
            }
        }
        if let Other::Memory(m, _) = &other
            && m.dim() != index.params().dim
        {
            return Err(crate::error::ErrorKind::DimensionMismatch {
                expected: index.params().dim,
                got: m.dim(),
            }
            .into());
        }
        let (tx, rx) = bounded(CHANNEL_BATCHES);
        let stop = Arc::new(AtomicBool::new(false));
        let outcome: Outcome = Arc::new(Mutex::new(None));
        let (stop2, outcome2) = (Arc::clone(&stop), Arc::clone(&outcome));
        let handle = std::thread::Builder::new()
            .name("fast-lsh-join".into())
            .spawn(move || {
                let result = run(
                    &index,
                    &other,
                    options,
                    batch_rows.max(1),
                    count_only,
                    &tx,
                    &stop2,
                );
                *outcome2.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
                drop(tx); // the consumer sees the end only after the outcome is set
            })
            .map_err(|e| Error::io(std::path::Path::new("<thread>"), e))?;
        Ok(PairStream {
            rx,
            stop,
            outcome,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// The next batch, waiting at most `timeout`.
    pub fn next_batch(&self, timeout: Duration) -> Next {
        match self.rx.recv_timeout(timeout) {
            Ok(batch) => Next::Batch(batch),
            Err(RecvTimeoutError::Timeout) => Next::Pending,
            Err(RecvTimeoutError::Disconnected) => Next::Done,
        }
    }

    /// Ask the join to stop; it ends within one bucket group per worker.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Wait for the join's end and return its summary or error: once (later calls find
    /// no result). Call after [`Next::Done`], or after [`stop`](Self::stop).
    pub fn finish(&self) -> Result<JoinSummary> {
        self.join_thread();
        self.outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| {
                Err(Error::invalid(
                    "join",
                    "the join's result was taken already",
                ))
            })
    }

    fn join_thread(&self) {
        let handle = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            // A sender blocked on the full channel gives up within 50 ms of a stop; one
            // that is not stopped is unblocked by draining.
            while !handle.is_finished() {
                if let Err(RecvTimeoutError::Disconnected) =
                    self.rx.recv_timeout(Duration::from_millis(10))
                {
                    std::thread::yield_now();
                }
            }
            let _ = handle.join();
        }
    }
}

impl Drop for PairStream {
    fn drop(&mut self) {
        self.stop();
        self.join_thread();
    }
}

fn run(
    index: &Index,
    other: &Other,
    options: JoinOptions,
    batch_rows: usize,
    count_only: bool,
    tx: &Sender<PairBatch>,
    stop: &AtomicBool,
) -> Result<JoinSummary> {
    let a = index.side();
    let (b, b_id): (Option<_>, Box<dyn Fn(u32) -> i64 + Sync>) = match other {
        Other::Itself => (None, Box::new(|r| index.external_id(r as usize))),
        Other::Index(o) => (Some(o.side()), Box::new(|r| o.external_id(r as usize))),
        Other::Memory(m, first) => {
            let first = *first;
            (Some(m.side()?), Box::new(move |r| first + r as i64))
        }
    };
    let pending = Mutex::new(PairBatch::default());
    let send = |batch: PairBatch| -> bool {
        // A full channel blocks here; a stop request (or a consumer gone) ends the wait.
        let mut batch = batch;
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            match tx.send_timeout(batch, Duration::from_millis(50)) {
                Ok(()) => return true,
                Err(crossbeam_channel::SendTimeoutError::Timeout(b)) => batch = b,
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    };
    let emit = |found: &mut Found| -> bool {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        if count_only {
            return true;
        }
        // Batches hold at most `batch_rows` pairs; a full one is sent while the lock is
        // held, so workers wait on a slow consumer instead of piling up batches.
        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
        for &(i, j, d) in found.iter() {
            p.a.push(index.external_id(i as usize));
            p.b.push(b_id(j));
            p.distances.push(d as f32);
            if p.a.len() == batch_rows && !send(std::mem::take(&mut *p)) {
                return false;
            }
        }
        true
    };
    let mut summary = join(index.params(), &a, b.as_ref(), options, &emit, stop)?;
    let rest = std::mem::take(&mut *pending.lock().unwrap_or_else(|e| e.into_inner()));
    if !rest.a.is_empty() && !send(rest) {
        summary.stopped = true;
    }
    summary.stopped |= stop.load(Ordering::Relaxed);
    Ok(summary)
}
