//! `mneme._index.NumpyIndex` and `mneme._index_hnsw.HnswIndex`: the engine's indexes for direct
//! use, with 1.0's API (raw dot products, no normalisation; shapes are checked).

use crate::errors::IntoPy;
use mneme::index::{FlatIndex, HnswIndex, HnswParams, VectorIndex};
use mneme::VectorDtype;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

// One per Python object: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Flat(FlatIndex),
    Hnsw(HnswIndex),
}

/// The index behind `NumpyIndex` (flat) and `HnswIndex`.
#[pyclass(module = "mneme._native")]
pub struct NativeIndex {
    inner: Backend,
}

impl NativeIndex {
    fn index(&self) -> &dyn VectorIndex {
        match &self.inner {
            Backend::Flat(i) => i,
            Backend::Hnsw(i) => i,
        }
    }

    fn index_mut(&mut self) -> &mut dyn VectorIndex {
        match &mut self.inner {
            Backend::Flat(i) => i,
            Backend::Hnsw(i) => i,
        }
    }

    fn class_name(&self) -> &'static str {
        match self.inner {
            Backend::Flat(_) => "NumpyIndex",
            Backend::Hnsw(_) => "HnswIndex",
        }
    }

    fn vector(&self, what: &str, array: &PyReadonlyArrayDyn<'_, f32>) -> PyResult<Vec<f32>> {
        let shape = array.shape();
        let dim = self.index().dim();
        if shape != [dim] {
            return Err(PyValueError::new_err(format!(
                "{}: {what} shape {shape:?} does not match dim={dim}. Remediation: pass a 1-D array of length {dim}.",
                self.class_name()
            )));
        }
        Ok(array.as_array().iter().copied().collect())
    }
}

/// Refuses a non-positive `value` of `class`'s option `name`.
fn positive(class: &str, name: &str, value: i64, fix: &str) -> PyResult<usize> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{class}: {name} must be positive (got {value}). Remediation: {fix}."
            ))
        })
}

#[pymethods]
impl NativeIndex {
    /// A flat (exact) index.
    #[staticmethod]
    fn flat(dim: i64, dtype: String, initial_capacity: i64) -> PyResult<Self> {
        let class = "NumpyIndex";
        let dim = positive(class, "dim", dim, "pass the embedder's output dimension")?;
        let cap = positive(
            class,
            "initial_capacity",
            initial_capacity,
            "omit it for 256",
        )?;
        let dtype: VectorDtype = dtype.parse().py()?;
        Ok(NativeIndex {
            inner: Backend::Flat(FlatIndex::with_capacity(dim, dtype, cap).py()?),
        })
    }

    /// An HNSW (approximate) index.
    #[staticmethod]
    #[pyo3(signature = (dim, dtype, m, ef_construction, ef, initial_max_elements))]
    fn hnsw(
        dim: i64,
        dtype: String,
        m: i64,
        ef_construction: i64,
        ef: i64,
        initial_max_elements: i64,
    ) -> PyResult<Self> {
        let class = "HnswIndex";
        let fix = "pass a positive integer or omit the option for its default";
        let params = HnswParams {
            m: positive(class, "M", m, fix)?,
            ef_construction: positive(class, "ef_construction", ef_construction, fix)?,
            ef: positive(class, "ef", ef, fix)?,
            initial_max_elements: positive(
                class,
                "initial_max_elements",
                initial_max_elements,
                fix,
            )?,
            ..HnswParams::default()
        };
        let dim = positive(class, "dim", dim, "pass the embedder's output dimension")?;
        let dtype: VectorDtype = dtype.parse().py()?;
        Ok(NativeIndex {
            inner: Backend::Hnsw(HnswIndex::new(dim, dtype, params).py()?),
        })
    }

    fn append(
        &mut self,
        row_id: i64,
        vec: PyReadonlyArrayDyn<'_, f32>,
        namespace: &str,
    ) -> PyResult<()> {
        let v = self.vector("vector", &vec)?;
        self.index_mut().append(row_id, &v, namespace).py()
    }

    fn remove(&mut self, row_id: i64) {
        self.index_mut().remove(row_id);
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
        let inner = self.index();
        let found = py.detach(|| inner.search(&q, namespace, k));
        Ok(found.into_iter().map(|c| (c.id, c.score as f64)).collect())
    }

    fn rebuild_from(
        &mut self,
        rows: Vec<(i64, PyReadonlyArrayDyn<'_, f32>, String)>,
    ) -> PyResult<()> {
        let owned = rows
            .iter()
            .map(|(id, v, ns)| Ok((*id, self.vector("vector", v)?, ns.clone())))
            .collect::<PyResult<Vec<_>>>()?;
        match &mut self.inner {
            Backend::Flat(i) => i.rebuild_from(
                owned
                    .iter()
                    .map(|(id, v, ns)| (*id, v.as_slice(), ns.as_str())),
            ),
            Backend::Hnsw(i) => i.rebuild_from(&owned),
        }
        .py()
    }

    fn compact(&mut self) {
        self.index_mut().compact();
    }

    fn requantize(&mut self, dtype: String) -> PyResult<()> {
        let d: VectorDtype = dtype.parse().py()?;
        match &mut self.inner {
            Backend::Flat(i) => i.requantize(d),
            Backend::Hnsw(i) => i.requantize(d),
        }
        .py()
    }

    #[getter]
    fn size(&self) -> usize {
        self.index().len()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.index().dim()
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.index().dtype().as_str()
    }

    #[getter]
    fn memory_bytes(&self) -> u64 {
        self.index().memory_bytes()
    }

    #[getter]
    fn tombstone_count(&self) -> usize {
        self.index().tombstone_count()
    }
}
