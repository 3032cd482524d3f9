//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error reading or writing index files. Match on [`Error::kind`].
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

/// What went wrong, with the file and the numbers.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file is damaged or truncated (wrong magic, sizes that do not add up, ...).
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What did not check out.
        detail: String,
    },
    /// The payload's checksum does not match the one recorded in the footer.
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Checksum in the footer.
        expected: u64,
        /// Checksum of the bytes.
        got: u64,
    },
    /// Written by a newer, incompatible version of the format.
    IncompatibleVersion {
        /// The file.
        path: PathBuf,
        /// Major version found.
        major: u16,
    },
    /// An I/O error on a file.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        ErrorKind::Corrupt {
            path: path.into(),
            detail: detail.into(),
        }
        .into()
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ErrorKind::Io {
            path: path.into(),
            source,
        }
        .into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            ErrorKind::Corrupt { path, detail } => {
                write!(
                    f,
                    "{} is corrupt: {detail}; rebuild the index",
                    path.display()
                )
            }
            ErrorKind::ChecksumMismatch {
                path,
                expected,
                got,
            } => write!(
                f,
                "{} is corrupt: checksum {got:#018x} does not match the recorded {expected:#018x}; rebuild the index",
                path.display()
            ),
            ErrorKind::IncompatibleVersion { path, major } => write!(
                f,
                "{} uses format version {major}, which this version of fast_lsh_ann cannot read; upgrade fast_lsh_ann",
                path.display()
            ),
            ErrorKind::Io { path, .. } => write!(f, "I/O error on {}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
