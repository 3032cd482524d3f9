//! The bytes of a `fast_lsh_ann` index directory, and nothing of LSH.
//!
//! - [`segment`]: immutable, self-describing, checksummed files of fixed-size records,
//!   readable from any `AsRef<[u8]>` (a `Vec<u8>`, an mmap) and validated before any cast;
//! - [`manifest`]: the `MANIFEST` that names an index's segments, written last and
//!   atomically (temp file, fsync, rename, fsync the directory).
//!
//! The layout is drawn in `FORMAT.md`.
#![deny(missing_docs)]

pub mod error;
pub mod manifest;
pub mod segment;

pub use error::{Error, ErrorKind, Result};
pub use manifest::{MANIFEST, Manifest};
pub use segment::{Kind, Plain, Segment, SegmentInfo, SegmentWriter, bytes_of};
