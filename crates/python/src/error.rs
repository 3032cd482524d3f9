//! The one place engine errors (and panics) become Python exceptions.
//!
//! [`EngineError`] wraps the engine's error so that it can convert into `PyErr` (neither type
//! is this crate's, so the conversion needs a local newtype, as polars' `PyPolarsErr`); a
//! binding writes `.map_err(EngineError::from)?`, or runs its work through [`guard`], which
//! also turns a panic into `LshError`.

use fast_lsh_ann_core::{Error, ErrorKind};
use fast_lsh_ann_format::ErrorKind as FormatKind;
use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileExistsError, PyFileNotFoundError, PyOSError, PyValueError,
};
use pyo3::{PyErr, PyResult};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

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

/// An engine error on its way to Python.
pub struct EngineError(pub Error);

impl From<Error> for EngineError {
    fn from(err: Error) -> Self {
        EngineError(err)
    }
}

/// The Python exception for every kind of engine error. Each kind that exists is listed: a
/// user's mistake is a built-in exception (`ValueError`, `FileExistsError`,
/// `FileNotFoundError`, `OSError`), damage or an incompatible version an `LshError`
/// subclass, a bug of ours the `LshError` base.
impl From<EngineError> for PyErr {
    fn from(EngineError(err): EngineError) -> PyErr {
        let msg = err.to_string();
        match err.kind() {
            ErrorKind::InvalidParameter { .. }
            | ErrorKind::DimensionMismatch { .. }
            | ErrorKind::NonFinite { .. } => PyValueError::new_err(msg),
            ErrorKind::AlreadyExists { .. } => PyFileExistsError::new_err(msg),
            ErrorKind::NotFound { .. } => PyFileNotFoundError::new_err(msg),
            // Keys pushed out of order are a bug in the engine, not a bad input (ValueError
            // would tell the user to change theirs) nor damaged data (CorruptIndexError would
            // tell them to rebuild). It is the base LshError, which `except fla.LshError`
            // catches with every other failure of the package (a RuntimeError would escape
            // it), and whose message says it is a bug to report.
            ErrorKind::OutOfOrder { .. } => LshError::new_err(msg),
            ErrorKind::Format(f) => match f.kind() {
                FormatKind::Corrupt { .. } | FormatKind::ChecksumMismatch { .. } => {
                    CorruptIndexError::new_err(msg)
                }
                FormatKind::IncompatibleVersion { .. } => IncompatibleIndexError::new_err(msg),
                FormatKind::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    PyFileNotFoundError::new_err(format!("{msg}: {source}"))
                }
                FormatKind::Io { source, .. } => PyOSError::new_err(format!("{msg}: {source}")),
                // Last line of defence, as below.
                _ => LshError::new_err(msg),
            },
            // Last line of defence only: both `ErrorKind`s are `#[non_exhaustive]` (in other
            // crates), so the compiler requires this arm even though every kind that exists
            // is listed above. A kind added later lands here as the base LshError, with its
            // message, until it is given its own line.
            _ => LshError::new_err(msg),
        }
    }
}

/// Run the engine's work `f` (called with the GIL released): its error becomes the
/// exception `From<EngineError>` picks, and a panic (a bug) becomes `LshError` with the
/// panic's message, instead of reaching Python as pyo3's `PanicException`, a
/// `BaseException` that `except Exception` does not catch.
///
/// `AssertUnwindSafe`: what the engine's work mutates is its own output, dropped with the
/// panic, or an `IndexWriter`, which a failed `append` discards (see `IndexWriter::append`).
pub fn guard<T>(f: impl FnOnce() -> fast_lsh_ann_core::Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|e| EngineError(e).into()),
        Err(payload) => Err(panicked(payload)),
    }
}

fn panicked(payload: Box<dyn Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    LshError::new_err(format!(
        "internal error (a bug in fast_lsh_ann: please report it): {what}"
    ))
}
