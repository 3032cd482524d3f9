//! Where a new index is written, and how it takes the place of the old one.
//!
//! A build writes into a staging directory beside the target
//! (`.<name>.building-<pid>-<nanos>`); the segments are synced and the MANIFEST is written
//! last and atomically. Publishing then puts the staging directory at the target:
//!
//! - no index at the target yet: one `rename(2)`, atomic;
//! - replacing an index, on Linux: one `renameat2(2)` with `RENAME_EXCHANGE` swaps the two
//!   directories atomically, and the old index (now under the staging name) is deleted. A
//!   crash at any moment leaves the old index or the new one, complete, at the target; at
//!   worst the old one also lingers under the staging name until the next build at that
//!   path removes it;
//! - where the exchange is not available (another OS, or a file system that refuses it:
//!   `EINVAL`), the old index is first renamed aside to `.<name>.building-old-<pid>-<nanos>`,
//!   then the new one renamed into place. A crash between the two renames leaves no index
//!   at the target, but the old one is complete under its aside name, and the next build
//!   at that path (or [`recover`]) puts it back before doing anything else. This is weaker:
//!   a reader that opens the path in that window finds nothing.
//!
//! A staging directory is removed when its writer is dropped unfinished. Leftovers of
//! builds that crashed are removed by the next build at that path, but only when the
//! process that made them is gone (a concurrent build at the same path is not disturbed).

use crate::error::{Error, ErrorKind, Result};
use fast_lsh_ann_format::MANIFEST;
use std::path::{Path, PathBuf};

/// A staging directory for an index that will replace whatever is at `target`.
#[derive(Debug)]
pub(crate) struct Staging {
    target: PathBuf,
    dir: PathBuf,
    published: bool,
}

/// The directory holding `target` (`.` for a bare name).
fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Prefix of every staging or aside directory of `target`.
fn prefix_of(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.building-")
}

/// A name that no other build at this path uses: the process id and the clock.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

/// Overwriting replaces an index or an empty directory, never a file or other data.
pub(crate) fn refuse_non_index(path: &Path) -> Result<()> {
    let replaceable = !path.exists()
        || path.join(MANIFEST).exists()
        || std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none());
    if replaceable {
        return Ok(());
    }
    Err(Error::invalid(
        "path",
        format!(
            "{} exists and is not an index; refusing to replace it",
            path.display()
        ),
    ))
}

/// Whether process `pid` (from a leftover's name) may still be running. Only Linux can
/// tell (`/proc`); elsewhere every leftover counts as dead, as before.
fn alive(pid: &str) -> bool {
    pid != std::process::id().to_string()
        && cfg!(target_os = "linux")
        && Path::new("/proc").join(pid).exists()
}

/// Put back an old index that a fallback publish moved aside and a crash left there,
/// when nothing took its place at `target`. Returns whether one was restored.
pub(crate) fn recover(target: &Path) -> Result<bool> {
    if target.exists() {
        return Ok(false);
    }
    let aside = format!("{}old-", prefix_of(target));
    let Ok(entries) = std::fs::read_dir(parent_of(target)) else {
        return Ok(false);
    };
    let mut candidates: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&aside))
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST).is_file())
        .collect();
    // The newest aside copy is the index that was last at the target.
    candidates.sort();
    match candidates.pop() {
        Some(old) => {
            std::fs::rename(&old, target).map_err(|e| Error::io(target, e))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

impl Staging {
    /// Check that a build may write `target` and create its staging directory. Refuses an
    /// existing path unless `overwrite`, and anything but an index or an empty directory
    /// even then.
    pub(crate) fn create(target: &Path, overwrite: bool) -> Result<Self> {
        recover(target)?;
        if target.exists() && !overwrite {
            return Err(ErrorKind::AlreadyExists {
                path: target.to_owned(),
            }
            .into());
        }
        refuse_non_index(target)?;
        let parent = parent_of(target);
        let prefix = prefix_of(target);
        // Leftovers of builds that crashed: never published (or an old index already
        // replaced), safe to delete once their process is gone.
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix(&prefix) else {
                    continue;
                };
                let pid = rest
                    .trim_start_matches("old-")
                    .split('-')
                    .next()
                    .unwrap_or("");
                if !alive(pid) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = parent.join(format!("{prefix}{}", unique_suffix()));
        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging {
            target: target.to_owned(),
            dir,
            published: false,
        })
    }

    /// The staging directory, where every file of the new index is written.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Put the finished staging directory (its MANIFEST written) at the target, replacing
    /// the index there, if any, atomically where the system allows (see the module docs).
    pub(crate) fn publish(mut self) -> Result<()> {
        let parent = parent_of(&self.target);
        if self.target.exists() {
            refuse_non_index(&self.target)?;
            if exchange(&self.dir, &self.target)? {
                // The old index now lives under the staging name.
                self.published = true;
                sync_dir(&parent)?;
                std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
                return Ok(());
            }
            let aside = parent.join(format!(
                "{}old-{}",
                prefix_of(&self.target),
                unique_suffix()
            ));
            std::fs::rename(&self.target, &aside).map_err(|e| Error::io(&self.target, e))?;
            std::fs::rename(&self.dir, &self.target).map_err(|e| Error::io(&self.target, e))?;
            self.published = true;
            sync_dir(&parent)?;
            std::fs::remove_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
            return Ok(());
        }
        std::fs::rename(&self.dir, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.published = true;
        sync_dir(&parent)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Swap directories `a` and `b` atomically (`renameat2` with `RENAME_EXCHANGE`). `false`
/// when the system or the file system cannot (the caller falls back).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| Error::invalid("path", format!("{} contains a NUL byte", p.display())))
    };
    let (ca, cb) = (c(a)?, c(b)?);
    // SAFETY: both pointers are NUL-terminated C strings that outlive the call;
    // `AT_FDCWD` makes relative paths relative to the working directory, as `rename` does.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP) => Ok(false),
        _ => Err(Error::io(b, err)),
    }
}

/// No atomic exchange here: the caller falls back to two renames.
#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_at(dir: &Path, tag: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(MANIFEST), tag).unwrap();
    }

    #[test]
    fn publish_replaces_an_index_and_leaves_no_staging() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("idx");
        index_at(&target, "old");
        let s = Staging::create(&target, true).unwrap();
        index_at(s.dir(), "new");
        s.publish().unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join(MANIFEST)).unwrap(),
            "new"
        );
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "only the index is left: {names:?}");
    }

    #[test]
    fn an_old_index_left_aside_by_a_crash_is_restored() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("idx");
        // What a crash between the fallback's two renames leaves: no index at the
        // target, the old one aside (by a process that is gone: pid 0 never is ours).
        index_at(&tmp.path().join(".idx.building-old-0-1"), "old");
        assert!(recover(&target).unwrap());
        assert_eq!(
            std::fs::read_to_string(target.join(MANIFEST)).unwrap(),
            "old"
        );
        // And a build that finds it there refuses to overwrite it unless asked.
        index_at(&tmp.path().join(".idx.building-old-0-2"), "older");
        assert!(!recover(&target).unwrap(), "the target holds an index");
        let err = Staging::create(&target, false).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::AlreadyExists { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_live_builds_staging_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("idx");
        // pid 1 is alive on Linux; a dead pid's leftover is removed.
        let live = tmp.path().join(".idx.building-1-5");
        let dead = tmp.path().join(format!(".idx.building-{}-5", u32::MAX));
        std::fs::create_dir(&live).unwrap();
        std::fs::create_dir(&dead).unwrap();
        let s = Staging::create(&target, false).unwrap();
        assert_eq!(live.exists(), cfg!(target_os = "linux"));
        assert!(!dead.exists());
        drop(s);
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(
            !left.iter().any(|p| p != &live),
            "a dropped staging is removed: {left:?}"
        );
    }
}
