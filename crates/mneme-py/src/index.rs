//! `mneme._index.NumpyIndex`: the engine's flat index for direct use, with 1.0's API (raw dot
//! products, no normalisation; shapes are checked).

use crate::errors::IntoPy;
use mneme::index::{FlatIndex, VectorIndex};
use mneme::VectorDtype;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The flat index behind `mneme._index.NumpyIndex`.
#[pyclass(module = "mneme._native")]
pub struct NativeFlatIndex {
    inner: FlatIndex,
}

fn vector(
    index: &FlatIndex,
    what: &str,
    array: &PyReadonlyArrayDyn<'_, f32>,
) -> PyResult<Vec<f32>> {
    let shape = array.shape();
    if shape != [index.dim()] {
        return Err(PyValueError::new_err(format!(
            "NumpyIndex: {what} shape {shape:?} does not match dim={}. Remediation: pass a 1-D array of length {}.",
            index.dim(),
            index.dim()
        )));
    }
    Ok(array.as_array().iter().copied().collect())
}

#[pymethods]
impl NativeFlatIndex {
    #[new]
    #[pyo3(signature = (dim, dtype, initial_capacity))]
    fn new(dim: i64, dtype: String, initial_capacity: i64) -> PyResult<Self> {
        if dim <= 0 {
            return Err(PyValueError::new_err(format!(
                "NumpyIndex: dim must be positive (got {dim}). Remediation: pass the embedder's output dimension."
            )));
        }
        if initial_capacity <= 0 {
            return Err(PyValueError::new_err(format!(
                "NumpyIndex: initial_capacity must be positive (got {initial_capacity}). Remediation: omit it for 256."
            )));
        }
        let dtype: VectorDtype = dtype.parse().py()?;
        let inner =
            FlatIndex::with_capacity(dim as usize, dtype, initial_capacity as usize).py()?;
        Ok(NativeFlatIndex { inner })
    }

    fn append(
        &mut self,
        row_id: i64,
        vec: PyReadonlyArrayDyn<'_, f32>,
        namespace: &str,
    ) -> PyResult<()> {
        let v = vector(&self.inner, "vector", &vec)?;
        self.inner.append(row_id, &v, namespace).py()
    }

    fn remove(&mut self, row_id: i64) {
        self.inner.remove(row_id);
    }

    fn search(
        &self,
        py: Python<'_>,
        query: PyReadonlyArrayDyn<'_, f32>,
        namespace: &str,
        k: i64,
    ) -> PyResult<Vec<(i64, f64)>> {
        let q = vector(&self.inner, "query", &query)?;
        let k = usize::try_from(k).unwrap_or(0);
        let inner = &self.inner;
        let found = py.detach(|| inner.search(&q, namespace, k));
        Ok(found.into_iter().map(|c| (c.id, c.score as f64)).collect())
    }

    fn rebuild_from(
        &mut self,
        rows: Vec<(i64, PyReadonlyArrayDyn<'_, f32>, String)>,
    ) -> PyResult<()> {
        let owned = rows
            .iter()
            .map(|(id, v, ns)| Ok((*id, vector(&self.inner, "vector", v)?, ns.clone())))
            .collect::<PyResult<Vec<_>>>()?;
        self.inner.rebuild_from(
            owned
                .iter()
                .map(|(id, v, ns)| (*id, v.as_slice(), ns.as_str())),
        );
        Ok(())
    }

    fn compact(&mut self) {
        self.inner.compact();
    }

    fn requantize(&mut self, dtype: String) -> PyResult<()> {
        let d: VectorDtype = dtype.parse().py()?;
        self.inner.requantize(d);
        Ok(())
    }

    #[getter]
    fn size(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype().as_str()
    }

    #[getter]
    fn memory_bytes(&self) -> u64 {
        self.inner.memory_bytes()
    }

    #[getter]
    fn tombstone_count(&self) -> usize {
        self.inner.tombstone_count()
    }
}
