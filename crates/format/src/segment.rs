//! Segments: immutable, self-describing files of fixed-size records.
//!
//! ```text
//! offset 0    header, 64 bytes (little-endian)
//!               0  magic "FLSHSEG1"        8  major u16, minor u16   12 kind u32
//!              16  count u64 (records)     24 width u64 (elements per record)
//!              32  element bytes u32       36 reserved (0) u32
//!              40  body length u64         48 reserved (0) u64
//!              56  xxh3 of bytes 0..56
//! offset 64   body: count x width x element-bytes bytes, zero-padded to a multiple of 64
//! then        footer, 64 bytes: xxh3 of the body u64, body length u64, 40 zero bytes,
//!             magic "FLSHEND1"
//! ```
//!
//! Opening checks the magic, version, header checksum, kind and that every size adds up to
//! the file's length, in that order, before any byte of the body is looked at; the body's
//! checksum is only computed by [`Segment::verify`]. A [`SegmentWriter`] creates its file
//! with `create_new`, writes the header last and syncs in [`SegmentWriter::finish`].

use crate::error::{Error, ErrorKind, Result};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

#[cfg(target_endian = "big")]
compile_error!(
    "fast_lsh_ann index files are little-endian and read by casting; big-endian targets are not supported"
);

const MAGIC: &[u8; 8] = b"FLSHSEG1";
const FOOTER_MAGIC: &[u8; 8] = b"FLSHEND1";
/// Major version written; readers refuse other majors.
pub const MAJOR: u16 = 1;
/// Minor version written; readers accept any minor of their major.
pub const MINOR: u16 = 0;
/// Size of the header and of the footer.
pub const FRAME: usize = 64;

/// What a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// The index manifest (UTF-8 text).
    Manifest = 1,
    /// Vectors: `f32` rows of `dim` values.
    Vectors = 2,
    /// One hash table's rows: `u32` row numbers grouped by bucket (buckets in the order of
    /// the table's [`Directory`](Kind::Directory)), ascending within a bucket.
    Table = 3,
    /// Signatures: per row, its `u64` bucket key in every table.
    Signatures = 4,
    /// External ids: one `i64` per row.
    Ids = 5,
    /// The projection matrix: `f64` unit vectors.
    Projections = 6,
    /// One hash table's bucket directory: `(bucket_key u64, start u64)` per non-empty
    /// bucket, keys strictly ascending; the bucket's rows are `table[start..next start]`.
    Directory = 7,
    /// Sign sketches: per row, `width` `u64` words of bits (see the core crate's `sketch`).
    Sketches = 8,
    /// The sketch planes: `f32` rows of `dim` values, the centre first, then one row per bit.
    SketchPlanes = 9,
}

impl Kind {
    fn from_u32(v: u32) -> Option<Kind> {
        Some(match v {
            1 => Kind::Manifest,
            2 => Kind::Vectors,
            3 => Kind::Table,
            4 => Kind::Signatures,
            5 => Kind::Ids,
            6 => Kind::Projections,
            7 => Kind::Directory,
            8 => Kind::Sketches,
            9 => Kind::SketchPlanes,
            _ => return None,
        })
    }
}

fn padded(len: u64) -> u64 {
    len.div_ceil(FRAME as u64) * FRAME as u64
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// A plain value type a segment body can be viewed as.
///
/// # Safety
/// Implementors must be valid for every bit pattern, have no padding, and have the size
/// and alignment of a primitive number.
pub unsafe trait Plain: Copy + 'static {}
// SAFETY: primitive numbers: every bit pattern is a value, no padding.
unsafe impl Plain for f32 {}
// SAFETY: as above.
unsafe impl Plain for f64 {}
// SAFETY: as above.
unsafe impl Plain for u32 {}
// SAFETY: as above.
unsafe impl Plain for u64 {}
// SAFETY: as above.
unsafe impl Plain for i64 {}

/// The bytes of `values` as a segment stores them (little-endian: the only byte order this
/// crate builds for).
pub fn bytes_of<T: Plain>(values: &[T]) -> &[u8] {
    // SAFETY: `T: Plain` has no padding, so its bytes are all initialised; the byte slice
    // covers exactly `values` and borrows it.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

/// A segment read from any bytes: a `Vec<u8>`, an mmap, ... Opening validated the frame.
#[derive(Debug)]
pub struct Segment<D> {
    data: D,
    path: PathBuf,
    kind: Kind,
    count: u64,
    width: u64,
    elem_bytes: u32,
    body_len: usize,
}

impl<D: AsRef<[u8]>> Segment<D> {
    /// Validate `data` as a segment of `kind` (`path` names it in errors).
    pub fn open(path: impl Into<PathBuf>, data: D, kind: Kind) -> Result<Self> {
        let path = path.into();
        let bytes = data.as_ref();
        let bad = |detail: String| Err(Error::corrupt(&path, detail));
        if bytes.len() < 2 * FRAME {
            return bad(format!(
                "{} bytes is shorter than a segment's header and footer",
                bytes.len()
            ));
        }
        if &bytes[0..8] != MAGIC {
            return bad("not a fast_lsh_ann segment (bad magic)".into());
        }
        let major = u16::from_le_bytes([bytes[8], bytes[9]]);
        if major != MAJOR {
            return Err(ErrorKind::IncompatibleVersion { path, major }.into());
        }
        if xxh3_64(&bytes[0..56]) != u64_at(bytes, 56) {
            return bad("header checksum mismatch".into());
        }
        let found = u32_at(bytes, 12);
        match Kind::from_u32(found) {
            Some(k) if k == kind => {}
            _ => return bad(format!("holds segment kind {found}, expected {kind:?}")),
        }
        let (count, width, elem_bytes) = (u64_at(bytes, 16), u64_at(bytes, 24), u32_at(bytes, 32));
        let body_len = u64_at(bytes, 40);
        let expected_body = count
            .checked_mul(width)
            .and_then(|v| v.checked_mul(elem_bytes as u64));
        if expected_body != Some(body_len) {
            return bad(format!(
                "body length {body_len} != {count} records x {width} x {elem_bytes} bytes"
            ));
        }
        let total = padded(body_len).checked_add(2 * FRAME as u64);
        if total != Some(bytes.len() as u64) {
            return bad(format!(
                "file is {} bytes, the header says {}",
                bytes.len(),
                total.unwrap_or(u64::MAX)
            ));
        }
        let footer = &bytes[bytes.len() - FRAME..];
        if &footer[56..64] != FOOTER_MAGIC || u64_at(footer, 8) != body_len {
            return bad("footer does not match the header (truncated or overwritten)".into());
        }
        Ok(Segment {
            data,
            path,
            kind,
            count,
            width,
            elem_bytes,
            body_len: body_len as usize,
        })
    }

    /// Number of records.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Elements per record.
    pub fn width(&self) -> u64 {
        self.width
    }

    /// The path that names this segment in errors.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// What this segment holds.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The body's bytes.
    pub fn body(&self) -> &[u8] {
        &self.data.as_ref()[FRAME..FRAME + self.body_len]
    }

    /// The body as a slice of `T`; fails if the element size is not `T`'s or the bytes are
    /// not aligned for `T` (an mmap always is: the body starts 64 bytes into the file).
    pub fn values<T: Plain>(&self) -> Result<&[T]> {
        let body = self.body();
        let size = std::mem::size_of::<T>();
        if self.elem_bytes as usize != size {
            return Err(Error::corrupt(
                &self.path,
                format!("elements are {} bytes, expected {size}", self.elem_bytes),
            ));
        }
        if !(body.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(Error::corrupt(&self.path, "body is not aligned in memory"));
        }
        // SAFETY: `body` is `body_len` initialised bytes, a multiple of `size` (checked at open:
        // body_len = count * width * elem_bytes and elem_bytes == size), aligned for `T`
        // (checked above), and `T: Plain` accepts any bit pattern. The slice borrows `self`.
        Ok(unsafe { std::slice::from_raw_parts(body.as_ptr().cast::<T>(), body.len() / size) })
    }

    /// Check the body against the footer's checksum (reads every byte).
    pub fn verify(&self) -> Result<()> {
        let bytes = self.data.as_ref();
        let expected = u64_at(&bytes[bytes.len() - FRAME..], 0);
        let got = xxh3_64(self.body());
        if got != expected {
            return Err(ErrorKind::ChecksumMismatch {
                path: self.path.clone(),
                expected,
                got,
            }
            .into());
        }
        Ok(())
    }

    /// The footer's checksum of the body (what a manifest records).
    pub fn checksum(&self) -> u64 {
        let bytes = self.data.as_ref();
        u64_at(&bytes[bytes.len() - FRAME..], 0)
    }
}

/// What a finished segment is: enough for a manifest to name and check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// File name inside the index directory.
    pub name: String,
    /// File length in bytes.
    pub len: u64,
    /// xxh3 of the body.
    pub checksum: u64,
}

/// Writes a segment; only [`finish`](Self::finish) makes it complete (until then the header
/// is zeros, which no reader accepts).
pub struct SegmentWriter {
    out: BufWriter<File>,
    path: PathBuf,
    kind: Kind,
    width: u64,
    elem_bytes: u32,
    body_len: u64,
    hash: Xxh3,
}

impl SegmentWriter {
    /// Create `path` (which must not exist) for records of `width` elements of `elem_bytes`.
    pub fn create(path: &Path, kind: Kind, width: u64, elem_bytes: u32) -> Result<Self> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&[0u8; FRAME])
            .map_err(|e| Error::io(path, e))?;
        Ok(SegmentWriter {
            out,
            path: path.to_owned(),
            kind,
            width,
            elem_bytes,
            body_len: 0,
            hash: Xxh3::new(),
        })
    }

    /// Append body bytes (whole records; checked at `finish`).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.append(bytes, false)
    }

    /// [`write_values`](Self::write_values), but the checksum is computed by a rayon task
    /// beside the copy into the file rather than before it: for large writes made from a
    /// rayon pool that has other work, so that the pool shares the two.
    pub fn write_values_beside<T: Plain>(&mut self, values: &[T]) -> Result<()> {
        self.append(bytes_of(values), true)
    }

    fn append(&mut self, bytes: &[u8], beside: bool) -> Result<()> {
        if bytes.len() >= self.out.capacity() {
            self.reserve(bytes.len() as u64);
        }
        self.body_len += bytes.len() as u64;
        let (hash, out) = (&mut self.hash, &mut self.out);
        let written = if beside {
            rayon::join(|| hash.update(bytes), || out.write_all(bytes)).1
        } else {
            hash.update(bytes);
            out.write_all(bytes)
        };
        written.map_err(|e| Error::io(&self.path, e))
    }

    /// Append values (little-endian, as in memory).
    pub fn write_values<T: Plain>(&mut self, values: &[T]) -> Result<()> {
        self.write(bytes_of(values))
    }

    /// Allocate the disk blocks of the next `len` bytes before a large write (Linux
    /// `fallocate`, keeping the file's size): ext4 then does not reserve and map them page
    /// by page during the copy, which made writing 512 MB take ~120 ms instead of ~85.
    /// Only a hint: where it fails (or elsewhere than Linux) the write allocates as usual.
    fn reserve(&mut self, len: u64) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let at = FRAME as u64 + self.body_len;
            let (Ok(at), Ok(len)) = (libc::off_t::try_from(at), libc::off_t::try_from(len)) else {
                return;
            };
            let fd = self.out.get_ref().as_raw_fd();
            // SAFETY: `fd` belongs to the file `self.out` owns, open for the whole call; the
            // call touches no memory of ours, and with `FALLOC_FL_KEEP_SIZE` it changes
            // neither the file's length nor any byte a reader can see.
            let _ = unsafe { libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, at, len) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = len;
    }

    /// Ask the OS to start writing what has been appended so far to the disk, without
    /// waiting for it, so that the sync in [`finish`](Self::finish) waits only for the last
    /// part of a large segment. On Linux this is `sync_file_range(SYNC_FILE_RANGE_WRITE)`
    /// (std has no call that starts writeback without waiting); elsewhere it only flushes.
    /// A failure here is left to `finish`'s sync to report.
    pub fn start_sync(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self.out.get_ref().as_raw_fd();
            // SAFETY: `fd` belongs to the file `self.out` owns, open for the whole call;
            // the call reads and writes no memory of ours (offset 0, length 0: the whole
            // file), and its flag only starts writeback of dirty pages.
            let _ = unsafe { libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        }
        Ok(())
    }

    /// Pad, write the footer and the header, and sync the file to disk.
    pub fn finish(mut self) -> Result<SegmentInfo> {
        let record = self.width * self.elem_bytes as u64;
        if record == 0 || !self.body_len.is_multiple_of(record) {
            return Err(Error::corrupt(
                &self.path,
                format!(
                    "{} body bytes are not whole records of {record}",
                    self.body_len
                ),
            ));
        }
        let io = |e| Error::io(&self.path, e);
        let checksum = self.hash.digest();
        let pad = (padded(self.body_len) - self.body_len) as usize;
        self.out.write_all(&vec![0u8; pad]).map_err(io)?;
        let mut footer = [0u8; FRAME];
        footer[0..8].copy_from_slice(&checksum.to_le_bytes());
        footer[8..16].copy_from_slice(&self.body_len.to_le_bytes());
        footer[56..64].copy_from_slice(FOOTER_MAGIC);
        self.out.write_all(&footer).map_err(io)?;
        let mut header = [0u8; FRAME];
        header[0..8].copy_from_slice(MAGIC);
        header[8..10].copy_from_slice(&MAJOR.to_le_bytes());
        header[10..12].copy_from_slice(&MINOR.to_le_bytes());
        header[12..16].copy_from_slice(&(self.kind as u32).to_le_bytes());
        header[16..24].copy_from_slice(&(self.body_len / record).to_le_bytes());
        header[24..32].copy_from_slice(&self.width.to_le_bytes());
        header[32..36].copy_from_slice(&self.elem_bytes.to_le_bytes());
        header[40..48].copy_from_slice(&self.body_len.to_le_bytes());
        let header_hash = xxh3_64(&header[0..56]);
        header[56..64].copy_from_slice(&header_hash.to_le_bytes());
        self.out.seek(SeekFrom::Start(0)).map_err(io)?;
        self.out.write_all(&header).map_err(io)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(SegmentInfo {
            name,
            len: padded(self.body_len) + 2 * FRAME as u64,
            checksum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_vectors(dir: &Path, values: &[f32], dim: u64) -> (PathBuf, SegmentInfo) {
        let path = dir.join("vectors.seg");
        let mut w = SegmentWriter::create(&path, Kind::Vectors, dim, 4).unwrap();
        w.write_values(values).unwrap();
        (path.clone(), w.finish().unwrap())
    }

    fn corrupt_kind(e: Error) -> &'static str {
        match e.kind() {
            ErrorKind::Corrupt { .. } => "corrupt",
            ErrorKind::ChecksumMismatch { .. } => "checksum",
            ErrorKind::IncompatibleVersion { .. } => "version",
            ErrorKind::Io { .. } => "io",
        }
    }

    #[test]
    fn round_trip_over_vec_and_mmap() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f32> = (0..30).map(|i| i as f32 * 0.5).collect();
        let (path, info) = write_vectors(dir.path(), &values, 3);
        assert_eq!(info.len, std::fs::metadata(&path).unwrap().len());
        assert_eq!(info.len % 64, 0);
        let bytes = std::fs::read(&path).unwrap();
        let seg = Segment::open(&path, bytes, Kind::Vectors).unwrap();
        assert_eq!((seg.count(), seg.width()), (10, 3));
        assert_eq!(seg.values::<f32>().unwrap(), &values[..]);
        seg.verify().unwrap();
        assert_eq!(seg.checksum(), info.checksum);
        let file = File::open(&path).unwrap();
        // SAFETY: the test owns the file and does not modify it while mapped.
        let map = unsafe { memmap2::Mmap::map(&file).unwrap() };
        let seg = Segment::open(&path, map, Kind::Vectors).unwrap();
        assert_eq!(seg.values::<f32>().unwrap(), &values[..]);
        assert!(
            seg.values::<f64>().is_err(),
            "wrong element type is refused"
        );
    }

    #[test]
    fn starting_the_sync_midway_changes_no_byte() {
        // Flushed and handed to writeback between two writes: the same file as written in
        // one go, with the same checksum.
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f32> = (0..3000).map(|i| i as f32 * 0.25).collect();
        let (whole, info) = write_vectors(dir.path(), &values, 3);
        let path = dir.path().join("split.seg");
        let mut w = SegmentWriter::create(&path, Kind::Vectors, 3, 4).unwrap();
        w.write_values(&values[..1500]).unwrap();
        w.start_sync().unwrap();
        w.write_values(&values[1500..]).unwrap();
        w.start_sync().unwrap();
        assert_eq!(w.finish().unwrap().checksum, info.checksum);
        assert_same_bytes(&path, &whole);
    }

    #[test]
    fn large_writes_reserving_their_blocks_change_no_byte() {
        // Writes of at least the buffer's size reserve their blocks first, after buffered
        // bytes and between small writes, one of them checksummed beside its copy: the
        // file and checksum are the ones small writes make.
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f32> = (0..(3 << 18) + 3).map(|i| i as f32 * 0.125).collect();
        let small = dir.path().join("small.seg");
        let mut w = SegmentWriter::create(&small, Kind::Vectors, 1, 4).unwrap();
        for piece in values.chunks(1000) {
            w.write_values(piece).unwrap();
        }
        let info = w.finish().unwrap();
        let large = dir.path().join("large.seg");
        let mut w = SegmentWriter::create(&large, Kind::Vectors, 1, 4).unwrap();
        w.write_values(&values[..3]).unwrap();
        w.write_values_beside(&values[3..(1 << 18) + 3]).unwrap();
        w.write_values(&values[(1 << 18) + 3..]).unwrap();
        let got = w.finish().unwrap();
        assert_eq!((got.len, got.checksum), (info.len, info.checksum));
        assert_eq!(std::fs::metadata(&large).unwrap().len(), info.len);
        assert_same_bytes(&large, &small);
    }

    fn assert_same_bytes(a: &Path, b: &Path) {
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    }

    #[test]
    fn writer_refuses_existing_files_and_partial_records() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_vectors(dir.path(), &[1.0, 2.0], 2);
        let refused = SegmentWriter::create(&path, Kind::Vectors, 2, 4)
            .err()
            .expect("existing file refused");
        assert_eq!(corrupt_kind(refused), "io");
        let mut w = SegmentWriter::create(&dir.path().join("x.seg"), Kind::Vectors, 2, 4).unwrap();
        w.write_values(&[1.0f32]).unwrap();
        assert!(w.finish().is_err());
    }

    #[test]
    fn every_kind_of_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f32> = (0..300).map(|i| i as f32).collect();
        let (path, _) = write_vectors(dir.path(), &values, 4);
        let good = std::fs::read(&path).unwrap();
        let open = |b: Vec<u8>| Segment::open(&path, b, Kind::Vectors).and_then(|s| s.verify());
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x10;
            b
        };
        assert_eq!(
            corrupt_kind(open(flip(0)).unwrap_err()),
            "corrupt",
            "bad magic"
        );
        assert_eq!(
            corrupt_kind(open(flip(20)).unwrap_err()),
            "corrupt",
            "header byte"
        );
        assert_eq!(
            corrupt_kind(open(flip(64 + 17)).unwrap_err()),
            "checksum",
            "body byte"
        );
        assert_eq!(
            corrupt_kind(open(flip(good.len() - 1)).unwrap_err()),
            "corrupt",
            "footer magic"
        );
        assert_eq!(
            corrupt_kind(open(good[..good.len() - 64].to_vec()).unwrap_err()),
            "corrupt",
            "truncated"
        );
        assert_eq!(
            corrupt_kind(open(good[..100].to_vec()).unwrap_err()),
            "corrupt",
            "truncated hard"
        );
        assert_eq!(
            corrupt_kind(open(Vec::new()).unwrap_err()),
            "corrupt",
            "empty"
        );
        let mut future = good.clone();
        future[8] = 2;
        assert_eq!(corrupt_kind(open(future).unwrap_err()), "version");
        let wrong_kind = Segment::open(&path, good.clone(), Kind::Ids).unwrap_err();
        assert_eq!(corrupt_kind(wrong_kind), "corrupt");
        assert!(open(good).is_ok());
    }
}
