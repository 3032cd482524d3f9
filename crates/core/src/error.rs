//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from the engine. Cheap to move (one pointer); match on [`Error::kind`].
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

/// What went wrong, with the numbers a user needs to fix it.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A parameter is out of its domain (`bucket_length <= 0`, `k < 1`, a NaN threshold, ...).
    InvalidParameter {
        /// The parameter's name as the user spells it.
        name: &'static str,
        /// What was wrong and what is accepted.
        detail: String,
    },
    /// Rows of the wrong length for this model.
    DimensionMismatch {
        /// The model's dimension.
        expected: usize,
        /// The input's dimension.
        got: usize,
    },
    /// A NaN or infinite value in an input.
    NonFinite {
        /// Which input (`"vectors"`, `"queries"`, ...).
        input: &'static str,
        /// Row of the first bad value.
        row: usize,
        /// Column of the first bad value.
        col: usize,
    },
    /// Reading or writing index files failed: corrupt, incompatible, or an I/O error.
    Format(fast_lsh_ann_format::Error),
    /// An index already exists where a build was asked to write one.
    AlreadyExists {
        /// The index directory.
        path: PathBuf,
    },
    /// No index at this path.
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// A builder was given keys out of order (a bug in the caller, not damaged data).
    OutOfOrder {
        /// The file being written.
        path: PathBuf,
        /// The last key accepted.
        previous: u64,
        /// The key that came after it.
        got: u64,
    },
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ErrorKind::Format(fast_lsh_ann_format::Error::io(path, source)).into()
    }

    /// A damaged index file: a format `Corrupt` error for `path`.
    pub fn corrupt(path: &std::path::Path, detail: String) -> Self {
        fast_lsh_ann_format::Error::from(fast_lsh_ann_format::ErrorKind::Corrupt {
            path: path.to_owned(),
            detail,
        })
        .into()
    }

    /// Shorthand for [`ErrorKind::InvalidParameter`].
    pub fn invalid(name: &'static str, detail: impl Into<String>) -> Self {
        ErrorKind::InvalidParameter {
            name,
            detail: detail.into(),
        }
        .into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl From<fast_lsh_ann_format::Error> for Error {
    fn from(e: fast_lsh_ann_format::Error) -> Self {
        ErrorKind::Format(e).into()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            ErrorKind::InvalidParameter { name, detail } => write!(f, "invalid {name}: {detail}"),
            ErrorKind::DimensionMismatch { expected, got } => write!(
                f,
                "dim mismatch: the model was built for {expected}-dimensional vectors but the input has {got} columns"
            ),
            ErrorKind::NonFinite { input, row, col } => write!(
                f,
                "{input} contains NaN or inf at row {row}, column {col}; LSH needs finite values (drop or impute them first)"
            ),
            ErrorKind::Format(e) => e.fmt(f),
            ErrorKind::AlreadyExists { path } => {
                write!(
                    f,
                    "an index already exists at {}; pass overwrite=True to replace it",
                    path.display()
                )
            }
            ErrorKind::NotFound { path } => {
                write!(f, "no index at {} (no MANIFEST there)", path.display())
            }
            ErrorKind::OutOfOrder {
                path,
                previous,
                got,
            } => write!(
                f,
                "{}: key {got:#x} arrived after {previous:#x}; keys must be pushed in ascending order (a bug in fast_lsh_ann: please report it)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            ErrorKind::Format(e) => e.source(),
            _ => None,
        }
    }
}
