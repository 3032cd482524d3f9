//! The one place engine errors become Python exceptions.

use fast_lsh_ann_core::{Error, ErrorKind};
use fast_lsh_ann_format::ErrorKind as FormatKind;
use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileExistsError, PyFileNotFoundError, PyOSError, PyValueError,
};

create_exception!(
    _native,
    LshError,
    PyException,
    "Base class of fast_lsh_ann's own errors."
);
create_exception!(
    _native,
    CorruptIndexError,
    LshError,
    "An index file is damaged or truncated: rebuild the index."
);
create_exception!(
    _native,
    IncompatibleIndexError,
    LshError,
    "An index written by an incompatible version of fast_lsh_ann."
);

/// Map an engine error to the Python exception API.md promises for it.
pub fn to_py(err: Error) -> PyErr {
    let msg = err.to_string();
    match err.kind() {
        ErrorKind::InvalidParameter { .. }
        | ErrorKind::DimensionMismatch { .. }
        | ErrorKind::NonFinite { .. } => PyValueError::new_err(msg),
        ErrorKind::AlreadyExists { .. } => PyFileExistsError::new_err(msg),
        ErrorKind::NotFound { .. } => PyFileNotFoundError::new_err(msg),
        ErrorKind::Format(f) => match f.kind() {
            FormatKind::Corrupt { .. } | FormatKind::ChecksumMismatch { .. } => {
                CorruptIndexError::new_err(msg)
            }
            FormatKind::IncompatibleVersion { .. } => IncompatibleIndexError::new_err(msg),
            FormatKind::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                PyFileNotFoundError::new_err(format!("{msg}: {source}"))
            }
            FormatKind::Io { source, .. } => PyOSError::new_err(format!("{msg}: {source}")),
            _ => LshError::new_err(msg),
        },
        _ => LshError::new_err(msg),
    }
}
