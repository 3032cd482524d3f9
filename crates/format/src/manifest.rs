//! The MANIFEST: the one file that says what an index is. Written last and atomically, so
//! an index directory either has a complete manifest naming complete segments, or none.
//!
//! The manifest is itself a [`Kind::Manifest`] segment (magic, version, checksums) whose
//! body is UTF-8 text, one `key = value` per line; segments are listed as
//! `segment = <file name> <length> <xxh3 hex>`. The keys are the caller's: this crate knows
//! nothing of LSH.

use crate::error::{Error, Result};
use crate::segment::{Kind, Segment, SegmentInfo, SegmentWriter};
use std::fs::File;
use std::path::Path;

/// File name of the manifest inside an index directory.
pub const MANIFEST: &str = "MANIFEST";
const TEMP_PREFIX: &str = "MANIFEST.tmp-";

/// Ordered `key = value` entries plus the list of segments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Entries in the order written.
    pub entries: Vec<(String, String)>,
    /// Segments of the index.
    pub segments: Vec<SegmentInfo>,
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

impl Manifest {
    /// Add an entry (keys and values are single-line; `key` has no ` = `).
    pub fn set(&mut self, key: &str, value: impl ToString) {
        self.entries.push((key.to_owned(), value.to_string()));
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn encode(&self) -> String {
        let mut text = String::new();
        for (k, v) in &self.entries {
            assert!(
                !k.contains(['\n', '=']) && !v.contains('\n') && k != "segment",
                "manifest entry {k:?}"
            );
            text.push_str(&format!("{k} = {v}\n"));
        }
        for s in &self.segments {
            text.push_str(&format!(
                "segment = {} {} {:016x}\n",
                s.name, s.len, s.checksum
            ));
        }
        text
    }

    fn decode(path: &Path, text: &str) -> Result<Self> {
        let mut m = Manifest::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once(" = ") else {
                return Err(Error::corrupt(path, format!("bad line {line:?}")));
            };
            if k == "segment" {
                let parts: Vec<&str> = v.split(' ').collect();
                let parsed = match parts.as_slice() {
                    [name, len, sum] => {
                        len.parse().ok().zip(u64::from_str_radix(sum, 16).ok()).map(
                            |(len, checksum)| SegmentInfo {
                                name: name.to_string(),
                                len,
                                checksum,
                            },
                        )
                    }
                    _ => None,
                };
                match parsed {
                    Some(s) if !s.name.contains(['/', '\\']) && s.name != ".." => {
                        m.segments.push(s)
                    }
                    _ => return Err(Error::corrupt(path, format!("bad segment line {line:?}"))),
                }
            } else {
                m.entries.push((k.to_owned(), v.to_owned()));
            }
        }
        Ok(m)
    }

    /// Publish this manifest in `dir`: write a temporary file, sync it, rename it over
    /// `MANIFEST`, sync the directory. The segments it names must be finished (synced)
    /// already; readers see either the old manifest or this one, never a mix.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let temp = dir.join(format!("{TEMP_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_file(&temp); // a leftover of a crashed writer with our pid
        let mut w = SegmentWriter::create(&temp, Kind::Manifest, 1, 1)?;
        w.write(self.encode().as_bytes())?;
        w.finish()?;
        sync_dir(dir)?;
        let target = dir.join(MANIFEST);
        std::fs::rename(&temp, &target).map_err(|e| Error::io(&target, e))?;
        sync_dir(dir)
    }

    /// Read and check `dir/MANIFEST` (its frame and its checksum).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        Self::from_bytes(&path, bytes)
    }

    /// Parse and check the bytes of a MANIFEST file (`path` names it in errors). Any bytes
    /// give a manifest or an error, never a panic (the fuzz target checks this).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let seg = Segment::open(path, bytes, Kind::Manifest)?;
        seg.verify()?;
        let text =
            std::str::from_utf8(seg.body()).map_err(|_| Error::corrupt(path, "not UTF-8"))?;
        Self::decode(path, text)
    }

    /// Is `name` a temporary file a crashed manifest write may have left?
    pub fn is_temporary(name: &str) -> bool {
        name.starts_with(TEMP_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn written_atomically_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Manifest::read(dir.path()).unwrap_err().kind(),
            ErrorKind::Io { .. }
        ));
        let mut m = Manifest::default();
        m.set("dim", 128);
        m.set("bucket_length", "2.5");
        m.segments.push(SegmentInfo {
            name: "vectors.seg".into(),
            len: 4096,
            checksum: 0xdead_beef,
        });
        m.write(dir.path()).unwrap();
        let back = Manifest::read(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.get("dim"), Some("128"));
        // Rewriting replaces it whole; no temporary file stays behind.
        m.set("rows", 7);
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap().get("rows"), Some("7"));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![MANIFEST.to_string()]);
    }

    #[test]
    fn damaged_manifest_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::default();
        m.set("dim", 3);
        m.write(dir.path()).unwrap();
        let path = dir.path().join(MANIFEST);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[66] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Manifest::read(dir.path()).unwrap_err().kind(),
            ErrorKind::ChecksumMismatch { .. }
        ));
    }
}
