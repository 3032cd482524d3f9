//! Any bytes given to the segment and manifest readers give a value or an error, never a
//! panic, an out-of-bounds read or a misaligned cast. Each input is read twice: as it is,
//! and with its header and body checksums repaired, so mutations reach the checks behind
//! them (the fuzzer cannot forge an xxh3). Run from `crates/format`, seeded with the
//! golden index's files:
//!
//! ```text
//! mkdir -p fuzz/corpus/readers && cp ../../tests/data/golden-k1/* fuzz/corpus/readers/
//! cargo +nightly fuzz run readers -- -max_total_time=600
//! ```
#![no_main]

use fast_lsh_ann_format::{Kind, Manifest, Segment};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

const KINDS: [Kind; 9] = [
    Kind::Manifest,
    Kind::Vectors,
    Kind::Table,
    Kind::Signatures,
    Kind::Ids,
    Kind::Projections,
    Kind::Directory,
    Kind::Sketches,
    Kind::SketchPlanes,
];

/// `data` with a valid header checksum and, if its header's body length fits, a valid
/// footer checksum.
fn repaired(data: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = data.to_vec();
    if bytes.len() < 128 {
        return None;
    }
    let sum = xxh3_64(&bytes[..56]);
    bytes[56..64].copy_from_slice(&sum.to_le_bytes());
    let body_len = u64::from_le_bytes(bytes[40..48].try_into().ok()?) as usize;
    if body_len <= bytes.len() - 128 {
        let footer = bytes.len() - 64;
        let body = xxh3_64(&bytes[64..64 + body_len]);
        bytes[footer..footer + 8].copy_from_slice(&body.to_le_bytes());
    }
    Some(bytes)
}

fn read_all(data: &[u8]) {
    let path = Path::new("fuzz.seg");
    for kind in KINDS {
        if let Ok(seg) = Segment::open(path, data.to_vec(), kind) {
            let _ = seg.verify();
            let _ = seg.values::<u32>().map(|v| v.len());
            let _ = seg.values::<f32>().map(|v| v.iter().sum::<f32>());
            let _ = seg.values::<u64>().map(|v| v.iter().fold(0u64, |a, b| a ^ b));
            let _ = seg.values::<f64>().map(|v| v.len());
            let _ = (seg.count(), seg.width(), seg.checksum(), seg.body().len());
        }
    }
    if let Ok(m) = Manifest::from_bytes(path, data.to_vec()) {
        let _ = (m.get("rows"), m.segments.len());
    }
}

fuzz_target!(|data: &[u8]| {
    read_all(data);
    if let Some(fixed) = repaired(data) {
        read_all(&fixed);
    }
});
