//! The one place engine errors become Python exceptions.

use fast_lsh_ann_core::{Error, ErrorKind};
use pyo3::PyErr;
use pyo3::exceptions::PyValueError;

/// Map an engine error to the Python exception API.md promises for it.
pub fn to_py(err: Error) -> PyErr {
    match err.kind() {
        ErrorKind::InvalidParameter { .. } | ErrorKind::DimensionMismatch { .. } | ErrorKind::NonFinite { .. } => {
            PyValueError::new_err(err.to_string())
        }
        // `ErrorKind` is non-exhaustive: a kind added later is still reported, as a ValueError.
        _ => PyValueError::new_err(err.to_string()),
    }
}
