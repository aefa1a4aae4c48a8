//! Mapping engine errors to the Python exception classes of mneme-cache 1.0, in one place.

use mneme::Error;
use mneme_embed::EmbedError;
use pyo3::exceptions::{
    PyConnectionError, PyFileNotFoundError, PyMemoryError, PyPermissionError, PyRuntimeError,
    PyTypeError, PyValueError,
};
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
    if let Some(embed) = e.cause::<EmbedError>() {
        return embed_error_to_py(embed);
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
    set_facts(
        py,
        err,
        d.expected_dim,
        d.actual_dim,
        d.path.as_deref(),
        d.namespace.as_deref(),
    );
}

/// The facts a caller acts on, as attributes of the exception. Setting an attribute on an
/// exception instance cannot fail for our classes and the built-ins; if a subclass forbade it,
/// the message still carries the same facts.
fn set_facts(
    py: Python<'_>,
    err: &PyErr,
    expected_dim: Option<usize>,
    actual_dim: Option<usize>,
    path: Option<&std::path::Path>,
    namespace: Option<&str>,
) {
    let value = err.value(py);
    let _ = value.setattr("expected_dim", expected_dim);
    let _ = value.setattr("actual_dim", actual_dim);
    let _ = value.setattr("path", path.map(|p| p.to_string_lossy().into_owned()));
    let _ = value.setattr("namespace", namespace);
}

/// A built-in embedder's error as the Python built-in exception it means, with the file or the
/// dimensions as attributes where it has them.
pub fn embed_error_to_py(e: &EmbedError) -> PyErr {
    let message = e.to_string();
    let err = match e {
        EmbedError::MissingFile { .. } => PyFileNotFoundError::new_err(message),
        EmbedError::Inference(_) => PyRuntimeError::new_err(message),
        EmbedError::Unauthorized(_) => PyPermissionError::new_err(message),
        EmbedError::Unavailable(_) => PyConnectionError::new_err(message),
        _ => PyValueError::new_err(message),
    };
    Python::attach(|py| match e {
        EmbedError::MissingFile { path, .. } | EmbedError::InvalidModel { path, .. } => {
            set_facts(py, &err, None, None, Some(path), None);
        }
        EmbedError::BadResponse {
            dimensions: Some((expected, actual)),
            ..
        } => set_facts(py, &err, Some(*expected), Some(*actual), None, None),
        _ => {}
    });
    err
}

/// An embedder's boxed error: ours mapped by [`embed_error_to_py`], any other a `RuntimeError`.
pub fn boxed_to_py(e: &(dyn std::error::Error + Send + Sync + 'static)) -> PyErr {
    match e.downcast_ref::<EmbedError>() {
        Some(embed) => embed_error_to_py(embed),
        None => PyRuntimeError::new_err(e.to_string()),
    }
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
