//! External sort of `(key, row)` pairs within a memory budget: pairs are buffered, and a
//! full buffer is sorted and spilled as a zstd-compressed run to a temporary directory;
//! [`RunSorter::merge`] k-way merges the runs (and what is still buffered) into one
//! sorted stream. Memory is the buffer plus one small read buffer per run.

use crate::error::{Error, Result};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A `(bucket_key, row)` pair; sorting orders by key, then row.
pub type Pair = (u64, u64);

/// Sorts pairs that may not fit in memory.
#[derive(Debug)]
pub struct RunSorter {
    buffer: Vec<Pair>,
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
        RunSorter {
            buffer: Vec::new(),
            capacity,
            spill_dir: spill_dir.to_owned(),
            name: name.to_owned(),
            runs: Vec::new(),
        }
    }

    /// Add a pair.
    pub fn push(&mut self, pair: Pair) -> Result<()> {
        if self.buffer.len() == self.capacity {
            self.spill()?;
        }
        self.buffer.push(pair);
        Ok(())
    }

    /// Number of runs spilled so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> Result<()> {
        self.buffer.sort_unstable();
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
        self.runs.push(path);
        Ok(())
    }

    /// Stream every pair pushed, in sorted order, to `sink` (in batches), then delete the runs.
    pub fn merge(mut self, mut sink: impl FnMut(&[Pair]) -> Result<()>) -> Result<()> {
        self.buffer.sort_unstable();
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
            let pair = (s >> 58, row); // many equal keys: order by row within a key
            want.push(pair);
            sorter.push(pair).unwrap();
        }
        assert!(sorter.runs() >= 9);
        want.sort_unstable();
        let mut got = Vec::new();
        sorter
            .merge(|b| {
                got.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "runs deleted"
        );
    }
}
