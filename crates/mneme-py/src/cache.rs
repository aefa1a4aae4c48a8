//! The cache binding: converts arguments, releases the GIL around every engine call, maps
//! errors. Behaviour lives in the engine; `mneme/_cache.py` adds only the Python surface.

use crate::callbacks::{self, run, PyEmbedder};
use crate::errors::IntoPy;
use crate::metadata::metadata_json_from_py;
use crate::options::CacheOptions;
use crate::stores::{store_from_py, PySqliteStore};
use mneme::checkpoint::LoadLimits;
use mneme::{CacheBuilder, Get, Hit, Put, SemanticCache, VectorDtype};
use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::path::PathBuf;
use std::sync::Arc;

/// An open engine cache.
#[pyclass(module = "mneme._native", frozen)]
pub struct NativeCache {
    inner: Arc<SemanticCache>,
    /// The store object: the one passed, or a `SQLiteStore` on the path (1.0's `cache._store`).
    store: Py<PyAny>,
}

/// The engine builder for `SemanticCache(...)`: the embedder, then the options, then the store.
fn builder(
    py: Python<'_>,
    path: Option<PathBuf>,
    store: Option<&Bound<'_, PyAny>>,
    adapter: Py<PyAny>,
    dim: usize,
    fingerprint: String,
    options: &CacheOptions,
) -> PyResult<CacheBuilder> {
    // One of our embedders is called directly, without the GIL; any other through Python.
    let native = adapter
        .bind(py)
        .getattr("embedder")
        .ok()
        .and_then(|e| crate::embedders::native_embedder(&e));
    let b = match native {
        Some(e) => SemanticCache::builder_shared(e),
        None => SemanticCache::builder(PyEmbedder::new(adapter, dim, fingerprint)),
    };
    let b = options.apply(py, b);
    Ok(match (path, store) {
        (Some(p), None) => b.path(p),
        (None, Some(s)) => b.shared_store(store_from_py(s)?),
        // Neither or both: the engine's "exactly one" error.
        (Some(p), Some(s)) => b.path(p).shared_store(store_from_py(s)?),
        (None, None) => b,
    })
}

/// One `put_many` item from Python: `(query, response, metadata, embedding)`.
type PutManyItem<'py> = (
    String,
    String,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
);

/// `mneme._types.Hit` and its field names (interned), looked up once.
static HIT_CLASS: pyo3::sync::PyOnceLock<(Py<PyAny>, [Py<PyString>; 7])> =
    pyo3::sync::PyOnceLock::new();

/// Builds a `Hit` without running its dataclass `__init__`, whose seven Python-level
/// `object.__setattr__` calls were most of the binding's cost on an exact hit: the instance is
/// allocated with `object.__new__` and each slot set by the C-level generic setter, the way
/// `copy` and `pickle` rebuild instances. The class stays frozen for its users.
fn hit_to_py<'py>(py: Python<'py>, hit: Hit) -> PyResult<Bound<'py, PyAny>> {
    let (class, names) = HIT_CLASS.get_or_try_init(py, || -> PyResult<_> {
        let class = py.import("mneme._types")?.getattr("Hit")?.unbind();
        let names = [
            "response",
            "similarity",
            "confidence",
            "age_seconds",
            "layer",
            "namespace",
            "metadata",
        ]
        .map(|n| PyString::intern(py, n).unbind());
        Ok((class, names))
    })?;
    let class = class.bind(py);
    let obj = class.call_method1(pyo3::intern!(py, "__new__"), (class,))?;
    let values = [
        hit.response.into_pyobject(py)?.into_any(),
        hit.similarity.into_pyobject(py)?.into_any(),
        hit.confidence.into_pyobject(py)?.into_any(),
        hit.age_seconds.into_pyobject(py)?.into_any(),
        hit.layer.as_str().into_pyobject(py)?.into_any(),
        hit.namespace.into_pyobject(py)?.into_any(),
        crate::metadata::metadata_to_py(py, &hit.metadata)?,
    ];
    for (name, value) in names.iter().zip(&values) {
        // SAFETY: three valid object pointers, borrowed for the call; the GIL is held.
        let rc = unsafe {
            pyo3::ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr())
        };
        if rc != 0 {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(obj)
}

/// A borrowed view of the caller's float32 array (the Python layer hands over a contiguous 1-D
/// float32 array, an empty one for a wrong shape). The engine reads it in place, GIL released.
fn embedding_view<'py>(
    embedding: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<PyReadonlyArray1<'py, f32>>> {
    embedding
        .filter(|e| !e.is_none())
        .map(|e| e.extract())
        .transpose()
}

fn as_slice<'a>(view: &'a Option<PyReadonlyArray1<'_, f32>>) -> PyResult<Option<&'a [f32]>> {
    view.as_ref()
        .map(|a| {
            a.as_slice()
                .map_err(|e| PyValueError::new_err(format!("embedding must be contiguous: {e}")))
        })
        .transpose()
}

#[pymethods]
impl NativeCache {
    /// Opens a cache with `SemanticCache(...)`'s keyword arguments as [`CacheOptions`].
    #[new]
    #[pyo3(signature = (path, store, adapter, dim, fingerprint, options))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        store: Option<&Bound<'_, PyAny>>,
        adapter: Py<PyAny>,
        dim: usize,
        fingerprint: String,
        options: PyRef<'_, CacheOptions>,
    ) -> PyResult<Self> {
        // A path becomes a store object here, so that `cache._store` is the store in use.
        let (path, store) = match (path, store) {
            (Some(p), None) => (None, Some(Bound::new(py, PySqliteStore::at(p))?.into_any())),
            (path, store) => (path, store.cloned()),
        };
        let b = builder(
            py,
            path,
            store.as_ref(),
            adapter,
            dim,
            fingerprint,
            &options,
        )?;
        let cache = run(py, move || b.open())?;
        Ok(NativeCache {
            inner: Arc::new(cache),
            store: store.map_or_else(|| py.None(), Bound::unbind),
        })
    }

    /// `SemanticCache.loads(source, path, embedder, **kwargs)`; `max_member_bytes` is consumed.
    #[staticmethod]
    #[pyo3(signature = (source, path, adapter, dim, fingerprint, options, max_member_bytes=None))]
    #[allow(clippy::too_many_arguments)]
    fn loads(
        py: Python<'_>,
        source: PathBuf,
        path: PathBuf,
        adapter: Py<PyAny>,
        dim: usize,
        fingerprint: String,
        options: PyRef<'_, CacheOptions>,
        max_member_bytes: Option<u64>,
    ) -> PyResult<Self> {
        let b = builder(
            py,
            Some(path.clone()),
            None,
            adapter,
            dim,
            fingerprint,
            &options,
        )?;
        let mut limits = LoadLimits::default();
        if let Some(m) = max_member_bytes {
            limits.max_member_bytes = m;
        }
        let cache = run(py, move || SemanticCache::loads_with(source, b, limits))?;
        let store = PySqliteStore::of(cache.store().clone(), path);
        Ok(NativeCache {
            inner: Arc::new(cache),
            store: Py::new(py, store)?.into_any(),
        })
    }

    /// The store this cache uses.
    #[getter]
    fn store(&self, py: Python<'_>) -> Py<PyAny> {
        self.store.clone_ref(py)
    }

    #[pyo3(signature = (query, embedding=None, namespace="default".to_owned(), bypass=false))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        query: String,
        embedding: Option<&Bound<'py, PyAny>>,
        namespace: String,
        bypass: bool,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let view = embedding_view(embedding)?;
        let v = as_slice(&view)?;
        let c = self.inner.clone();
        let hit = run(py, move || {
            let mut g = Get::default().namespace(&namespace).bypass(bypass);
            if let Some(v) = v {
                g = g.embedding(v);
            }
            c.get_with(&query, g)
        })?;
        hit.map(|h| hit_to_py(py, h)).transpose()
    }

    /// Layer 1 only (the async cache awaits its embedder between the two layers).
    #[pyo3(signature = (query, namespace="default".to_owned()))]
    fn get_exact<'py>(
        &self,
        py: Python<'py>,
        query: String,
        namespace: String,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let c = self.inner.clone();
        let hit = run(py, move || c.get_exact(&query, &namespace))?;
        hit.map(|h| hit_to_py(py, h)).transpose()
    }

    /// Layer 1 from memory only (see `SemanticCache::get_exact_in_memory`): the async cache
    /// answers repeated exact hits with it on the event loop, without a thread hop.
    fn get_exact_in_memory<'py>(
        &self,
        py: Python<'py>,
        query: &str,
        namespace: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let hit = callbacks::run_attached(|| self.inner.get_exact_in_memory(query, namespace))?;
        hit.map(|h| hit_to_py(py, h)).transpose()
    }

    #[pyo3(signature = (query, response, embedding=None, namespace="default".to_owned(), metadata=None, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        query: String,
        response: String,
        embedding: Option<&Bound<'_, PyAny>>,
        namespace: String,
        metadata: Option<&Bound<'_, PyAny>>,
        ttl: Option<i64>,
    ) -> PyResult<()> {
        let meta = metadata_json_from_py(py, metadata)?;
        let view = embedding_view(embedding)?;
        let v = as_slice(&view)?;
        let c = self.inner.clone();
        run(py, move || {
            let mut p = Put::default().namespace(&namespace);
            if let Some(meta) = &meta {
                p = p.metadata_json(meta);
            }
            if let Some(v) = v {
                p = p.embedding(v);
            }
            if let Some(t) = ttl {
                p = p.ttl(t);
            }
            c.put_with(&query, &response, p)
        })
    }

    /// `put_many(items, namespace, ttl)`: `items` are `(query, response, metadata, embedding)`
    /// tuples (metadata and embedding may be None). Returns how many were written.
    #[pyo3(signature = (items, namespace="default".to_owned(), ttl=None))]
    fn put_many(
        &self,
        py: Python<'_>,
        items: Vec<PutManyItem<'_>>,
        namespace: String,
        ttl: Option<i64>,
    ) -> PyResult<usize> {
        let mut rows = Vec::with_capacity(items.len());
        for (query, response, metadata, embedding) in &items {
            let meta = metadata_json_from_py(py, metadata.as_ref())?;
            let view = embedding_view(embedding.as_ref())?;
            let vector = as_slice(&view)?.map(<[f32]>::to_vec);
            rows.push((query.as_str(), response.as_str(), meta, vector));
        }
        let c = self.inner.clone();
        run(py, move || {
            c.put_many(rows.iter().map(|(q, r, meta, vector)| {
                let mut p = Put::default().namespace(&namespace);
                if let Some(meta) = meta {
                    p = p.metadata_json(meta);
                }
                if let Some(v) = vector {
                    p = p.embedding(v);
                }
                if let Some(t) = ttl {
                    p = p.ttl(t);
                }
                (*q, *r, p)
            }))
        })
    }

    #[pyo3(signature = (query, namespace="default".to_owned()))]
    fn delete(&self, py: Python<'_>, query: String, namespace: String) -> PyResult<bool> {
        let c = self.inner.clone();
        run(py, move || c.delete_in(&query, &namespace))
    }

    #[pyo3(signature = (namespace=None, compact=true))]
    fn vacuum(&self, py: Python<'_>, namespace: Option<String>, compact: bool) -> PyResult<u64> {
        let c = self.inner.clone();
        run(py, move || c.vacuum(namespace.as_deref(), compact))
    }

    fn compact(&self, py: Python<'_>) -> PyResult<u64> {
        let c = self.inner.clone();
        run(py, move || c.compact())
    }

    /// `(namespace, entries, hits_exact, hits_semantic, misses, evictions, expirations,
    /// fingerprint, dtype, memory estimate, index bytes, tombstones)`.
    #[pyo3(signature = (namespace=None))]
    #[allow(clippy::type_complexity)]
    fn stats(
        &self,
        py: Python<'_>,
        namespace: Option<String>,
    ) -> PyResult<(
        Option<String>,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        String,
        &'static str,
        u64,
        Option<u64>,
        Option<u64>,
    )> {
        let c = self.inner.clone();
        let s = run(py, move || c.stats(namespace.as_deref()))?;
        Ok((
            s.namespace,
            s.entries,
            s.hits_exact,
            s.hits_semantic,
            s.misses,
            s.evictions,
            s.expirations,
            s.embedder_fingerprint,
            s.vector_dtype.as_str(),
            s.memory_bytes_estimate,
            s.index_memory_bytes,
            s.index_tombstone_count,
        ))
    }

    #[allow(clippy::type_complexity)]
    fn health(
        &self,
        py: Python<'_>,
    ) -> PyResult<(
        bool,
        i64,
        bool,
        bool,
        u64,
        u64,
        Option<i64>,
        String,
        String,
        &'static str,
        &'static str,
    )> {
        let c = self.inner.clone();
        let h = run(py, move || c.health())?;
        Ok((
            h.healthy,
            h.schema_version,
            h.integrity_ok,
            h.embedder_fingerprint_match,
            h.entries,
            h.namespaces,
            h.oldest_entry_age_seconds,
            h.index_backend,
            h.store_backend,
            h.vector_dtype.as_str(),
            h.multi_process_mode.as_str(),
        ))
    }

    fn list_namespaces(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let c = self.inner.clone();
        run(py, move || c.list_namespaces())
    }

    fn clear_namespace(&self, py: Python<'_>, namespace: String) -> PyResult<u64> {
        let c = self.inner.clone();
        run(py, move || c.clear_namespace(&namespace))
    }

    fn clear(&self, py: Python<'_>) -> PyResult<u64> {
        let c = self.inner.clone();
        run(py, move || c.clear())
    }

    fn requantize(&self, py: Python<'_>, dtype: String) -> PyResult<()> {
        let d: VectorDtype = dtype.parse().py()?;
        let c = self.inner.clone();
        run(py, move || c.requantize(d))
    }

    fn set_similarity_threshold(&self, py: Python<'_>, value: f64) -> PyResult<()> {
        let c = self.inner.clone();
        run(py, move || c.set_similarity_threshold(value))
    }

    /// Sets (or, with `None`, removes) a namespace's own threshold, stored with the cache.
    #[pyo3(signature = (namespace, threshold=None))]
    fn set_namespace_threshold(
        &self,
        py: Python<'_>,
        namespace: String,
        threshold: Option<f64>,
    ) -> PyResult<()> {
        let c = self.inner.clone();
        run(py, move || c.set_namespace_threshold(&namespace, threshold))
    }

    fn namespace_thresholds(&self) -> std::collections::BTreeMap<String, f64> {
        self.inner.namespace_thresholds()
    }

    /// Sets (or, with `None`, removes) a namespace's own built-in verifier, stored with the
    /// cache.
    #[pyo3(signature = (namespace, verifier=None))]
    fn set_namespace_verifier(
        &self,
        py: Python<'_>,
        namespace: String,
        verifier: Option<String>,
    ) -> PyResult<()> {
        let setting = verifier
            .map(|name| mneme::verify::Builtin::from_name(&name))
            .transpose()
            .py()?;
        let c = self.inner.clone();
        run(py, move || c.set_namespace_verifier(&namespace, setting))
    }

    fn namespace_verifiers(&self) -> std::collections::BTreeMap<String, &'static str> {
        let settings = self.inner.namespace_verifiers();
        settings.into_iter().map(|(ns, b)| (ns, b.name())).collect()
    }

    #[getter]
    fn similarity_threshold(&self) -> f64 {
        self.inner.similarity_threshold()
    }

    fn dumps(&self, py: Python<'_>, dest: PathBuf) -> PyResult<()> {
        let c = self.inner.clone();
        run(py, move || c.dumps(&dest))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let c = self.inner.clone();
        run(py, move || c.close())
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Records a `miss` decided in Python (the async cache's embedder failed).
    fn record_miss(&self, py: Python<'_>, namespace: String, reason: String) -> PyResult<()> {
        let reason = match reason.as_str() {
            "embedder_failure" => mneme::MissReason::EmbedderFailure,
            "dim_mismatch" => mneme::MissReason::DimMismatch,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unsupported miss reason {other:?}"
                )))
            }
        };
        let c = self.inner.clone();
        run(py, move || c.record_miss(&namespace, reason))
    }
}
