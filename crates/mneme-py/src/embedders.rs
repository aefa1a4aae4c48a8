//! The built-in embedders for Python: `mneme.embedders.LocalEmbedder` and `RemoteEmbedder`.
//! Each embeds with the GIL released; given to a cache, the engine calls it directly, never
//! through Python.

use crate::options::seconds;
use mneme::Embedder;
use mneme_embed::{LocalEmbedder, LocalOptions, RemoteEmbedder, RemoteOptions};
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

/// Embeds with the GIL released; maps the embedder's errors to Python's.
fn embed_all(
    py: Python<'_>,
    e: &(dyn Embedder + 'static),
    texts: &[&str],
) -> PyResult<Vec<Vec<f32>>> {
    py.detach(|| e.embed_batch(texts))
        .map_err(|err| crate::errors::boxed_to_py(&*err))
}

fn matrix<'py>(
    py: Python<'py>,
    rows: Vec<Vec<f32>>,
    dim: usize,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    if rows.is_empty() {
        return Ok(PyArray2::zeros(py, [0, dim], false));
    }
    PyArray2::from_vec2(py, &rows).map_err(|e| PyValueError::new_err(e.to_string()))
}

macro_rules! embedder_methods {
    ($ty:ty) => {
        #[pymethods]
        impl $ty {
            /// The vector length.
            #[getter]
            fn dim(&self) -> usize {
                self.inner.dim()
            }

            /// The model's identity, stamped into every cache it fills.
            #[getter]
            fn fingerprint(&self) -> &str {
                self.inner.fingerprint()
            }

            /// One text as a float32 vector of `dim` (L2-normalised for the local model).
            fn embed<'py>(
                &self,
                py: Python<'py>,
                text: &str,
            ) -> PyResult<Bound<'py, PyArray1<f32>>> {
                let mut v = embed_all(py, self.inner.as_ref(), &[text])?;
                Ok(PyArray1::from_vec(py, v.swap_remove(0)))
            }

            /// Several texts as a float32 matrix of shape `(len(texts), dim)`, in order.
            fn embed_batch<'py>(
                &self,
                py: Python<'py>,
                texts: Vec<String>,
            ) -> PyResult<Bound<'py, PyArray2<f32>>> {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let rows = embed_all(py, self.inner.as_ref(), &refs)?;
                matrix(py, rows, self.inner.dim())
            }

            fn __repr__(&self) -> String {
                format!(
                    "<mneme.embedders.{} {} dim={}>",
                    stringify!($ty).trim_start_matches("Py"),
                    self.inner.fingerprint(),
                    self.inner.dim()
                )
            }
        }

        impl $ty {
            /// The engine-side embedder, for a cache to call without Python.
            pub fn shared(&self) -> Arc<dyn Embedder> {
                self.inner.clone()
            }
        }
    };
}

/// A sentence-transformers model from a local folder, run in Rust (no torch).
#[pyclass(module = "mneme._native", name = "LocalEmbedder", frozen)]
pub struct PyLocalEmbedder {
    inner: Arc<LocalEmbedder>,
}

#[pymethods]
impl PyLocalEmbedder {
    /// Loads the model in `model_dir` (default: `$MNEME_MODEL_DIR`, else the user cache's
    /// `mneme/models/all-MiniLM-L6-v2`, filled by `scripts/fetch-model.sh`).
    #[new]
    #[pyo3(signature = (model_dir=None, *, threads=None, max_length=None, name=None, prefix=None, batch_size=None))]
    fn new(
        py: Python<'_>,
        model_dir: Option<PathBuf>,
        threads: Option<usize>,
        max_length: Option<usize>,
        name: Option<String>,
        prefix: Option<String>,
        batch_size: Option<usize>,
    ) -> PyResult<Self> {
        let dir = model_dir.unwrap_or_else(mneme_embed::default_model_dir);
        let options = LocalOptions {
            threads,
            max_length,
            name,
            prefix,
            batch_size,
        };
        let inner = py
            .detach(|| LocalEmbedder::open_with(dir, options))
            .map_err(|e| crate::errors::embed_error_to_py(&e))?;
        Ok(PyLocalEmbedder {
            inner: Arc::new(inner),
        })
    }

    /// The sha256 of the model's weights.
    #[getter]
    fn weights_sha256(&self) -> &str {
        self.inner.weights_sha256()
    }

    /// The longest input in tokens; longer texts are truncated.
    #[getter]
    fn max_length(&self) -> usize {
        self.inner.max_length()
    }
}

embedder_methods!(PyLocalEmbedder);

/// Any OpenAI-compatible `/v1/embeddings` endpoint.
#[pyclass(module = "mneme._native", name = "RemoteEmbedder", frozen)]
pub struct PyRemoteEmbedder {
    inner: Arc<RemoteEmbedder>,
}

#[pymethods]
impl PyRemoteEmbedder {
    /// Connects (and, without `dimensions`, asks the endpoint once for the vector length).
    #[new]
    #[pyo3(signature = (
        model,
        base_url = "https://api.openai.com/v1",
        *,
        api_key = None,
        api_key_env = "OPENAI_API_KEY",
        api_key_header = "Authorization",
        dimensions = None,
        batch_size = 64,
        timeout = 30.0,
        connect_timeout = 5.0,
        max_retries = 3,
        initial_backoff = 0.5,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: String,
        base_url: &str,
        api_key: Option<String>,
        api_key_env: &str,
        api_key_header: &str,
        dimensions: Option<usize>,
        batch_size: usize,
        timeout: f64,
        connect_timeout: f64,
        max_retries: u32,
        initial_backoff: f64,
    ) -> PyResult<Self> {
        let options = RemoteOptions {
            api_key,
            api_key_env: api_key_env.to_owned(),
            api_key_header: api_key_header.to_owned(),
            dimensions,
            batch_size,
            request_timeout: seconds("timeout", timeout)?,
            connect_timeout: seconds("connect_timeout", connect_timeout)?,
            max_retries,
            initial_backoff: seconds("initial_backoff", initial_backoff)?,
            ..RemoteOptions::new(base_url, model)
        };
        let inner = py
            .detach(|| RemoteEmbedder::connect(options))
            .map_err(|e| crate::errors::embed_error_to_py(&e))?;
        Ok(PyRemoteEmbedder {
            inner: Arc::new(inner),
        })
    }

    /// The endpoint's full URL.
    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }
}

embedder_methods!(PyRemoteEmbedder);

/// The engine-side embedder behind a Python object, if it is one of ours.
pub fn native_embedder(obj: &Bound<'_, PyAny>) -> Option<Arc<dyn Embedder>> {
    if let Ok(e) = obj.cast::<PyLocalEmbedder>() {
        return Some(e.get().shared());
    }
    if let Ok(e) = obj.cast::<PyRemoteEmbedder>() {
        return Some(e.get().shared());
    }
    None
}

/// `mneme.embedders.default_model_dir()`.
#[pyfunction]
pub fn default_model_dir() -> PathBuf {
    mneme_embed::default_model_dir()
}
