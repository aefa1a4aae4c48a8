//! Python callables as the engine's embedder, confidence function, validator, verifier and
//! metrics hook.
//!
//! The engine runs with the GIL released; each callback re-attaches it for the call only. A
//! Python exception inside the confidence function or validator cannot travel through the
//! engine's `f64`/`bool` callbacks, so it is parked in a per-thread slot, the rest of the lookup
//! short-circuits (no deletion, no acceptance), and the binding re-raises it when the engine
//! returns.

use crate::errors::{IntoPy, PyCallbackError};
use crate::metadata::metadata_to_py;
use mneme::{BoxError, Embedder, Metadata, MetricEvent};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::cell::RefCell;

thread_local! {
    static PENDING: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

fn park(e: PyErr) {
    PENDING.with(|p| {
        p.borrow_mut().get_or_insert(e);
    });
}

fn parked() -> bool {
    PENDING.with(|p| p.borrow().is_some())
}

/// Takes the exception a callback raised during the last engine call on this thread.
fn take_parked() -> Option<PyErr> {
    PENDING.with(|p| p.borrow_mut().take())
}

/// Runs an engine call with the GIL released, then re-raises any exception a Python callback
/// parked during it.
pub fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> mneme::Result<T> + Send) -> PyResult<T> {
    let out = py.detach(f);
    if let Some(e) = take_parked() {
        return Err(e);
    }
    out.py()
}

/// Runs a short engine call that never blocks on I/O with the GIL held (releasing and
/// re-taking it would cost more than the call), then re-raises a parked callback exception.
pub fn run_attached<T>(f: impl FnOnce() -> mneme::Result<T>) -> PyResult<T> {
    let out = f();
    if let Some(e) = take_parked() {
        return Err(e);
    }
    out.py()
}

/// The Python embedder, through `mneme._embedding.EmbedderAdapter.embed_f32`, which returns a
/// contiguous 1-D float32 array, or `None` for a wrong shape.
pub struct PyEmbedder {
    adapter: Py<PyAny>,
    dim: usize,
    fingerprint: String,
}

impl PyEmbedder {
    pub fn new(adapter: Py<PyAny>, dim: usize, fingerprint: String) -> Self {
        PyEmbedder {
            adapter,
            dim,
            fingerprint,
        }
    }
}

impl Embedder for PyEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError> {
        Python::attach(|py| {
            let out = self
                .adapter
                .call_method1(py, "embed_f32", (text,))
                .map_err(|e| Box::new(PyCallbackError(e)) as BoxError)?;
            if out.is_none(py) {
                // A wrong shape: an empty vector makes `get` a dim_mismatch miss and `put` an
                // EmbedderDimensionError, as specified.
                return Ok(Vec::new());
            }
            let array: PyReadonlyArray1<f32> = out
                .extract(py)
                .map_err(|e: PyErr| Box::new(PyCallbackError(e)) as BoxError)?;
            match array.as_slice() {
                Ok(s) => Ok(s.to_vec()),
                Err(_) => Ok(array.as_array().to_vec()),
            }
        })
    }
}

/// `confidence_fn(similarity, age_seconds, metadata) -> float`.
pub fn confidence(f: Py<PyAny>) -> impl Fn(f64, i64, &Metadata) -> f64 + Send + Sync + 'static {
    move |similarity, age, metadata| {
        Python::attach(|py| {
            if parked() {
                return f64::NEG_INFINITY;
            }
            let result = metadata_to_py(py, metadata)
                .and_then(|m| f.call1(py, (similarity, age, m)))
                .and_then(|v| v.extract::<f64>(py));
            result.unwrap_or_else(|e| {
                park(e);
                f64::NEG_INFINITY
            })
        })
    }
}

/// `validator(response) -> bool`. After an exception it accepts (so nothing is deleted) while
/// the confidence check refuses, so the lookup ends without side effects.
pub fn validator(f: Py<PyAny>) -> impl Fn(&str) -> bool + Send + Sync + 'static {
    move |response| {
        Python::attach(|py| {
            if parked() {
                return true;
            }
            match f.call1(py, (response,)).and_then(|v| v.is_truthy(py)) {
                Ok(ok) => ok,
                Err(e) => {
                    park(e);
                    true
                }
            }
        })
    }
}

/// `verifier(query, cached_query, similarity) -> bool`. An exception refuses the candidate
/// (a miss is safer than a wrong answer) and is re-raised when the engine returns.
pub fn verifier(f: Py<PyAny>) -> impl Fn(&str, &str, f64) -> bool + Send + Sync + 'static {
    move |query, cached_query, similarity| {
        Python::attach(|py| {
            if parked() {
                return false;
            }
            match f
                .call1(py, (query, cached_query, similarity))
                .and_then(|v| v.is_truthy(py))
            {
                Ok(ok) => ok,
                Err(e) => {
                    park(e);
                    false
                }
            }
        })
    }
}

/// The event's attributes, in 1.0's key order.
pub fn event_to_py<'py>(py: Python<'py>, event: &MetricEvent) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("namespace", event.namespace())?;
    match event {
        MetricEvent::Hit {
            layer,
            similarity,
            confidence,
            age_seconds,
            ..
        } => {
            d.set_item("layer", layer.as_str())?;
            d.set_item("similarity", similarity)?;
            d.set_item("confidence", confidence)?;
            d.set_item("age_seconds", age_seconds)?;
        }
        MetricEvent::Miss { reason, .. } => d.set_item("reason", reason.as_str())?,
        MetricEvent::Eviction { count, .. } | MetricEvent::Expired { count, .. } => {
            d.set_item("count", count)?
        }
    }
    Ok(d)
}

/// `metrics_hook(event, attrs)`. A raising hook is logged on `mneme.metrics` and ignored.
pub fn metrics_hook(f: Py<PyAny>) -> impl Fn(&MetricEvent) + Send + Sync + 'static {
    move |event| {
        Python::attach(|py| {
            let called =
                event_to_py(py, event).and_then(|attrs| f.call1(py, (event.name(), attrs)));
            if let Err(e) = called {
                let logged = py.import("logging").and_then(|logging| {
                    let logger = logging.call_method1("getLogger", ("mneme.metrics",))?;
                    let kwargs = PyDict::new(py);
                    kwargs.set_item("exc_info", e.value(py))?;
                    logger.call_method(
                        "warning",
                        ("metrics hook raised on event %r", event.name()),
                        Some(&kwargs),
                    )
                });
                drop(logged);
            }
        })
    }
}
