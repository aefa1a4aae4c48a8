//! Mapping engine errors to the Python exception classes of mneme-cache 1.0, in one place.

use mneme::Error;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

/// A Python exception raised inside a Python callback (embedder, store), carried through the
/// engine so the binding can re-raise the original object.
#[derive(Debug)]
pub struct PyCallbackError(pub PyErr);

impl std::fmt::Display for PyCallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for PyCallbackError {}

/// The original Python exception behind an engine error, if there is one.
fn original(e: &Error) -> Option<PyErr> {
    let cb = e.cause::<PyCallbackError>()?;
    Some(Python::attach(|py| cb.0.clone_ref(py)))
}

/// Converts an engine error to the Python exception a mneme-cache 1.0 user expects, with the
/// error's [`mneme::Details`] as attributes (`expected_dim`, `actual_dim`, `path`, `namespace`)
/// where the engine knows them.
pub fn to_py(e: Error) -> PyErr {
    if let Some(err) = original(&e) {
        return err;
    }
    let message = e.to_string();
    let err = match &e {
        Error::InvalidArgument(_) => PyValueError::new_err(message),
        Error::InvalidMetadata(_) => PyTypeError::new_err(message),
        Error::Reentrant(_) => PyRuntimeError::new_err(message),
        Error::OutOfMemory(_) => PyMemoryError::new_err(message),
        _ => Python::attach(|py| {
            let class = py
                .import("mneme._exceptions")
                .and_then(|m| m.getattr(e.python_class()));
            match class {
                Ok(class) => PyErr::from_value(class.call1((message.clone(),)).unwrap_or(class)),
                Err(import_error) => import_error,
            }
        }),
    };
    if let Some(details) = e.details() {
        Python::attach(|py| attach_details(py, &err, details));
    }
    err
}

fn attach_details(py: Python<'_>, err: &PyErr, d: &mneme::Details) {
    let value = err.value(py);
    // Setting an attribute on an exception instance cannot fail for our classes and the
    // built-ins; if a subclass forbade it, the message still carries the same facts.
    let _ = value.setattr("expected_dim", d.expected_dim);
    let _ = value.setattr("actual_dim", d.actual_dim);
    let _ = value.setattr(
        "path",
        d.path.as_ref().map(|p| p.to_string_lossy().into_owned()),
    );
    let _ = value.setattr("namespace", d.namespace.as_deref());
}

/// `Result<T, mneme::Error>` → `PyResult<T>`.
pub trait IntoPy<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for mneme::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
