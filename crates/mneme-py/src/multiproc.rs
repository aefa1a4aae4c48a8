//! `mneme._multiproc.MmapSharedCoordinator`: the engine's shared matrix (the mmap-shared
//! primitive) with mneme-cache 1.0's API and file format.

use crate::errors::IntoPy;
use mneme::index::SharedMatrix;
use mneme::VectorDtype;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;

/// The native half of `MmapSharedCoordinator` (the Python class converts arrays).
#[pyclass(module = "mneme._native", frozen)]
pub struct NativeSharedMatrix {
    inner: SharedMatrix,
}

impl NativeSharedMatrix {
    fn vector(&self, what: &str, array: &PyReadonlyArrayDyn<'_, f32>) -> PyResult<Vec<f32>> {
        let dim = self.inner.dim();
        if array.shape() != [dim] {
            return Err(PyValueError::new_err(format!(
                "MmapSharedCoordinator: {what} shape {:?} does not match dim={dim}. Remediation: pass a 1-D array of length {dim}.",
                array.shape()
            )));
        }
        Ok(array.as_array().iter().copied().collect())
    }
}

#[pymethods]
impl NativeSharedMatrix {
    #[new]
    fn new(
        py: Python<'_>,
        base_path: PathBuf,
        dim: i64,
        dtype: String,
        embedder_fingerprint: String,
        initial_capacity: i64,
    ) -> PyResult<Self> {
        let dtype: VectorDtype = dtype.parse().py()?;
        let positive = |name: &str, v: i64| {
            usize::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "MmapSharedCoordinator: {name} must be positive (got {v}). Remediation: pass a positive integer."
                ))
            })
        };
        let (dim, cap) = (
            positive("dim", dim)?,
            positive("initial_capacity", initial_capacity)?,
        );
        let inner = py
            .detach(|| SharedMatrix::open(&base_path, dim, dtype, &embedder_fingerprint, cap))
            .py()?;
        Ok(NativeSharedMatrix { inner })
    }

    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype().as_str()
    }

    fn read_header<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(u32, u32, u32, &'static str, Bound<'py, PyBytes>)> {
        let h = self.inner.read_header().py()?;
        Ok((
            h.dim,
            h.count,
            h.capacity,
            h.dtype.as_str(),
            PyBytes::new(py, &h.fingerprint_sha256),
        ))
    }

    fn append(
        &self,
        py: Python<'_>,
        row_id: i64,
        vec: PyReadonlyArrayDyn<'_, f32>,
        namespace: &str,
    ) -> PyResult<()> {
        let v = self.vector("vector", &vec)?;
        py.detach(|| self.inner.append(row_id, &v, namespace)).py()
    }

    fn remove(&self, py: Python<'_>, row_id: i64) -> PyResult<bool> {
        py.detach(|| self.inner.remove(row_id)).py()
    }

    fn search(
        &self,
        py: Python<'_>,
        query: PyReadonlyArrayDyn<'_, f32>,
        namespace: &str,
        k: i64,
    ) -> PyResult<Vec<(i64, f64)>> {
        let q = self.vector("query", &query)?;
        let k = usize::try_from(k).unwrap_or(0);
        let found = py.detach(|| self.inner.search(&q, namespace, k)).py()?;
        Ok(found
            .into_iter()
            .map(|(id, s)| (id, f64::from(s)))
            .collect())
    }

    fn close(&self) {
        self.inner.close();
    }
}
