//! `SemanticCache`'s keyword arguments as one typed value, checked when it is built. Its
//! defaults are the engine's; the Python signatures read them from `CacheOptions()`, so each is
//! defined once, in Rust.

use crate::callbacks;
use crate::errors::IntoPy;
use mneme::{
    CacheBuilder, IndexBackend, IndexOptionValue, IndexOptions, MultiProcessMode, VectorDtype,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt};
use std::sync::Arc;
use std::time::Duration;

/// The options of one cache, typed.
#[pyclass(module = "mneme._native", frozen)]
pub struct CacheOptions {
    similarity_threshold: f64,
    default_ttl: Option<i64>,
    max_entries: Option<u64>,
    namespace_quotas: Vec<(String, u64)>,
    confidence_fn: Option<Py<PyAny>>,
    validator: Option<Py<PyAny>>,
    metrics_hook: Option<Py<PyAny>>,
    normalize: bool,
    index_backend: IndexBackend,
    index_options: IndexOptions,
    /// `None` when the caller gave none: `loads` then keeps the archive's dtype.
    vector_dtype: Option<VectorDtype>,
    multi_process_mode: MultiProcessMode,
    stale_check_interval: Duration,
    max_query_bytes: usize,
    max_response_bytes: usize,
    max_metadata_bytes: usize,
    verifier: Option<Verifier>,
}

/// The verifier stage (beyond 1.0; off by default): a built-in one or a Python callable.
enum Verifier {
    Builtin(Arc<dyn mneme::verify::Verifier>),
    Python(Py<PyAny>),
}

impl Verifier {
    /// `"guard"`, `"learned"`, `"recommended"`, or a callable
    /// `(query, cached_query, similarity) -> bool`.
    fn from_py(v: &Bound<'_, PyAny>) -> PyResult<Self> {
        use mneme::verify::{ConsistencyGuard, LearnedVerifier, Recommended};
        if let Ok(name) = v.extract::<&str>() {
            let builtin: Arc<dyn mneme::verify::Verifier> = match name {
                "guard" => Arc::new(ConsistencyGuard::default()),
                "learned" => Arc::new(LearnedVerifier::default()),
                "recommended" => Arc::new(Recommended::default()),
                other => {
                    return Err(PyValueError::new_err(format!(
                        "unknown verifier {other:?}. Remediation: use \"recommended\", \"guard\", \"learned\" or a callable (query, cached_query, similarity) -> bool"
                    )))
                }
            };
            return Ok(Verifier::Builtin(builtin));
        }
        if v.is_callable() {
            return Ok(Verifier::Python(v.clone().unbind()));
        }
        Err(PyTypeError::new_err(
            "verifier must be a name (\"recommended\", \"guard\", \"learned\") or a callable (query, cached_query, similarity) -> bool",
        ))
    }
}

fn non_negative(what: &str, v: i64) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| PyValueError::new_err(format!("{what} must be >= 0, got {v}")))
}

/// A duration given in seconds from Python, refused with the option's name if it is negative,
/// NaN or infinite.
pub fn seconds(what: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be a finite number of seconds >= 0, got {s}"
        ))
    })
}

fn byte_limit(what: &str, v: i64) -> PyResult<usize> {
    usize::try_from(non_negative(what, v)?)
        .map_err(|_| PyValueError::new_err(format!("{what} is larger than this platform allows")))
}

/// 1.0's `index_options` dict as engine options: integers stay integers (a bool is not one),
/// anything else is read as text (a path); the engine checks each key and value.
fn index_options(options: Option<&Bound<'_, PyAny>>) -> PyResult<IndexOptions> {
    let mut o = IndexOptions::default();
    let Some(options) = options else { return Ok(o) };
    for (k, v) in options.cast::<PyDict>()?.iter() {
        let key: String = k.extract()?;
        let text;
        let value = if v.is_instance_of::<PyBool>() {
            IndexOptionValue::Bool(v.extract()?)
        } else if v.is_instance_of::<PyInt>() {
            // Beyond i64 is "not a positive integer we can use", as is 0.
            IndexOptionValue::Integer(v.extract().unwrap_or(-1))
        } else {
            text = match v.cast::<pyo3::types::PyString>() {
                Ok(s) => s.to_string(),
                Err(_) => v
                    .py()
                    .import("os")?
                    .call_method1("fspath", (&v,))
                    .and_then(|p| p.extract())
                    .unwrap_or_else(|_| v.to_string()),
            };
            IndexOptionValue::Text(&text)
        };
        if let Err(e) = o.set(&key, value) {
            if !IndexOptions::KEYS.contains(&key.as_str()) {
                return Err(PyTypeError::new_err(e.to_string()));
            }
            return Err(e).py();
        }
    }
    Ok(o)
}

#[pymethods]
impl CacheOptions {
    /// Every keyword of `SemanticCache(...)` but `store`; omitted ones take the engine's default.
    #[new]
    #[pyo3(signature = (
        *,
        similarity_threshold = mneme::DEFAULT_SIMILARITY_THRESHOLD,
        default_ttl = None,
        max_entries = None,
        namespace_quotas = None,
        confidence_fn = None,
        validator = None,
        metrics_hook = None,
        normalize = None,
        index_backend = None,
        index_options = None,
        vector_dtype = None,
        multi_process_mode = None,
        stale_check_interval = 0.0,
        max_query_bytes = mneme::DEFAULT_MAX_QUERY_BYTES as i64,
        max_response_bytes = mneme::DEFAULT_MAX_RESPONSE_BYTES as i64,
        max_metadata_bytes = mneme::DEFAULT_MAX_METADATA_BYTES as i64,
        verifier = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        similarity_threshold: f64,
        default_ttl: Option<i64>,
        max_entries: Option<i64>,
        namespace_quotas: Option<&Bound<'_, PyAny>>,
        confidence_fn: Option<Py<PyAny>>,
        validator: Option<Py<PyAny>>,
        metrics_hook: Option<Py<PyAny>>,
        normalize: Option<&Bound<'_, PyAny>>,
        index_backend: Option<&str>,
        index_options: Option<&Bound<'_, PyAny>>,
        vector_dtype: Option<&str>,
        multi_process_mode: Option<&str>,
        stale_check_interval: f64,
        max_query_bytes: i64,
        max_response_bytes: i64,
        max_metadata_bytes: i64,
        verifier: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let index_backend = match index_backend {
            Some(s) => s.parse().py()?,
            None => IndexBackend::default(),
        };
        let multi_process_mode = match multi_process_mode {
            Some(s) => s.parse().py()?,
            None => MultiProcessMode::default(),
        };
        let vector_dtype = vector_dtype.map(|s| s.parse().py()).transpose()?;
        let index_options = self::index_options(index_options)?;
        let stale_check_interval = seconds("stale_check_interval", stale_check_interval)?;
        let mut quotas = Vec::new();
        if let Some(q) = namespace_quotas {
            for (ns, cap) in q.cast::<PyDict>()?.iter() {
                quotas.push((
                    ns.extract::<String>()?,
                    non_negative("namespace quota", cap.extract()?)?,
                ));
            }
        }
        Ok(CacheOptions {
            similarity_threshold,
            default_ttl,
            max_entries: max_entries
                .map(|n| non_negative("max_entries", n))
                .transpose()?,
            namespace_quotas: quotas,
            confidence_fn,
            validator,
            metrics_hook,
            normalize: normalize
                .map(|v| v.is_truthy())
                .transpose()?
                .unwrap_or(true),
            index_backend,
            index_options,
            vector_dtype,
            multi_process_mode,
            stale_check_interval,
            max_query_bytes: byte_limit("max_query_bytes", max_query_bytes)?,
            max_response_bytes: byte_limit("max_response_bytes", max_response_bytes)?,
            max_metadata_bytes: byte_limit("max_metadata_bytes", max_metadata_bytes)?,
            verifier: verifier.map(Verifier::from_py).transpose()?,
        })
    }

    #[getter]
    fn similarity_threshold(&self) -> f64 {
        self.similarity_threshold
    }

    #[getter]
    fn normalize(&self) -> bool {
        self.normalize
    }

    #[getter]
    fn index_backend(&self) -> &'static str {
        self.index_backend.as_str()
    }

    #[getter]
    fn vector_dtype(&self) -> &'static str {
        self.vector_dtype.unwrap_or_default().as_str()
    }

    #[getter]
    fn multi_process_mode(&self) -> &'static str {
        self.multi_process_mode.as_str()
    }

    #[getter]
    fn stale_check_interval(&self) -> f64 {
        self.stale_check_interval.as_secs_f64()
    }

    #[getter]
    fn max_query_bytes(&self) -> usize {
        self.max_query_bytes
    }

    #[getter]
    fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    #[getter]
    fn max_metadata_bytes(&self) -> usize {
        self.max_metadata_bytes
    }
}

impl CacheOptions {
    /// Applies every option to an engine builder.
    pub fn apply(&self, py: Python<'_>, mut b: CacheBuilder) -> CacheBuilder {
        b = b
            .similarity_threshold(self.similarity_threshold)
            .index_backend(self.index_backend)
            .index_options(self.index_options.clone())
            .multi_process_mode(self.multi_process_mode)
            .stale_check_interval(self.stale_check_interval)
            .normalize(self.normalize)
            .max_query_bytes(self.max_query_bytes)
            .max_response_bytes(self.max_response_bytes)
            .max_metadata_bytes(self.max_metadata_bytes);
        if let Some(d) = self.vector_dtype {
            b = b.vector_dtype(d);
        }
        if let Some(ttl) = self.default_ttl {
            b = b.default_ttl(ttl);
        }
        if let Some(n) = self.max_entries {
            b = b.max_entries(n);
        }
        for (ns, cap) in &self.namespace_quotas {
            b = b.namespace_quota(ns.clone(), *cap);
        }
        if let Some(f) = &self.confidence_fn {
            b = b.confidence_fn(callbacks::confidence(f.clone_ref(py)));
        }
        if let Some(f) = &self.validator {
            b = b.validator(callbacks::validator(f.clone_ref(py)));
        }
        if let Some(f) = &self.metrics_hook {
            b = b.metrics_hook(callbacks::metrics_hook(f.clone_ref(py)));
        }
        match &self.verifier {
            Some(Verifier::Builtin(v)) => b = b.shared_verifier(v.clone()),
            Some(Verifier::Python(f)) => b = b.verifier(callbacks::verifier(f.clone_ref(py))),
            None => {}
        }
        b
    }
}
