//! `mneme.tools.calibrate` on the engine's calibration (the Python module adds only the CLI).

use crate::callbacks::{run, PyEmbedder};
use crate::errors::IntoPy;
use mneme::tools::calibrate::{self, CalibrateOptions};
use mneme::VectorDtype;
use pyo3::prelude::*;

type Curve = Vec<(f64, f64, f64)>;

fn options(grid: Option<Vec<f64>>, vector_dtype: &str) -> PyResult<CalibrateOptions> {
    Ok(CalibrateOptions {
        grid,
        vector_dtype: vector_dtype.parse::<VectorDtype>().py()?,
        ..CalibrateOptions::default()
    })
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// `(threshold, precision, recall, f1, [(t, p, r), …])` for the pairs.
#[pyfunction]
#[pyo3(signature = (paraphrases, distractors, adapter, dim, fingerprint, target_metric, min_precision, min_recall, grid, vector_dtype))]
#[allow(clippy::too_many_arguments)]
pub fn find_threshold(
    py: Python<'_>,
    paraphrases: Vec<(String, String)>,
    distractors: Vec<(String, String)>,
    adapter: Py<PyAny>,
    dim: usize,
    fingerprint: String,
    target_metric: &str,
    min_precision: Option<f64>,
    min_recall: Option<f64>,
    grid: Option<Vec<f64>>,
    vector_dtype: &str,
) -> PyResult<(f64, f64, f64, f64, Curve)> {
    let mut o = options(grid, vector_dtype)?;
    o.target_metric = target_metric.parse().py()?;
    o.min_precision = min_precision;
    o.min_recall = min_recall;
    let embedder = PyEmbedder::new(adapter, dim, fingerprint);
    let r = run(py, || {
        calibrate::find_threshold(&pairs(&paraphrases), &pairs(&distractors), &embedder, &o)
    })?;
    let curve = r
        .pr_curve
        .iter()
        .map(|p| (p.threshold, p.precision, p.recall))
        .collect();
    Ok((r.threshold, r.precision, r.recall, r.f1, curve))
}

/// `[(t, p, r), …]` for the pairs (no emptiness check, as in 1.0).
#[pyfunction]
#[pyo3(signature = (paraphrases, distractors, adapter, dim, fingerprint, grid, vector_dtype))]
#[allow(clippy::too_many_arguments)]
pub fn precision_recall_curve(
    py: Python<'_>,
    paraphrases: Vec<(String, String)>,
    distractors: Vec<(String, String)>,
    adapter: Py<PyAny>,
    dim: usize,
    fingerprint: String,
    grid: Option<Vec<f64>>,
    vector_dtype: &str,
) -> PyResult<Curve> {
    let o = options(grid, vector_dtype)?;
    let embedder = PyEmbedder::new(adapter, dim, fingerprint);
    let scored = run(py, || -> mneme::Result<_> {
        let pos = calibrate::score_pairs(&pairs(&paraphrases), &embedder, o.vector_dtype)?;
        let neg = calibrate::score_pairs(&pairs(&distractors), &embedder, o.vector_dtype)?;
        Ok(calibrate::curve_from_scores(
            &pos,
            &neg,
            &o.grid.clone().unwrap_or_else(calibrate::default_grid),
        ))
    })?;
    Ok(scored
        .iter()
        .map(|p| (p.threshold, p.precision, p.recall))
        .collect())
}

/// `mneme.tools.migrate.reembed`: the engine's migration with a sync Python embedder.
#[pyfunction]
#[pyo3(signature = (source, dest, adapter, dim, fingerprint, batch_size, namespaces, progress))]
#[allow(clippy::too_many_arguments)]
pub fn reembed(
    py: Python<'_>,
    source: std::path::PathBuf,
    dest: std::path::PathBuf,
    adapter: Py<PyAny>,
    dim: usize,
    fingerprint: String,
    batch_size: usize,
    namespaces: Option<Vec<String>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<u64> {
    let embedder = PyEmbedder::new(adapter, dim, fingerprint);
    let mut report = |done: u64, total: u64| {
        if let Some(p) = &progress {
            // A failing progress callback must not abort the migration.
            let _ = Python::attach(|py| p.call1(py, (done, total)));
        }
    };
    let options = mneme::tools::migrate::MigrateOptions {
        batch_size,
        namespaces,
        progress: Some(&mut report),
    };
    py.detach(|| mneme::tools::migrate::reembed(&source, &dest, &embedder, options))
        .py()
}

/// A migration session for `areembed` (the async embedder is awaited in Python).
#[pyclass(module = "mneme._native")]
pub struct NativeMigration {
    inner: Option<mneme::tools::migrate::Migration>,
}

#[pymethods]
impl NativeMigration {
    #[new]
    #[pyo3(signature = (source, dest, fingerprint, dim, namespaces=None))]
    fn new(
        py: Python<'_>,
        source: std::path::PathBuf,
        dest: std::path::PathBuf,
        fingerprint: String,
        dim: usize,
        namespaces: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let m = py
            .detach(|| {
                mneme::tools::migrate::Migration::begin(
                    &source,
                    &dest,
                    &fingerprint,
                    dim,
                    namespaces.as_deref(),
                )
            })
            .py()?;
        Ok(NativeMigration { inner: Some(m) })
    }

    fn texts(&self) -> PyResult<Vec<String>> {
        Ok(self.session()?.texts().to_vec())
    }

    fn write_next(
        &mut self,
        py: Python<'_>,
        vectors: Vec<numpy::PyReadonlyArray1<'_, f32>>,
    ) -> PyResult<()> {
        let owned: Vec<Vec<f32>> = vectors.iter().map(|v| v.as_array().to_vec()).collect();
        let m = self.session_mut()?;
        py.detach(|| m.write_next(&owned)).py()
    }

    fn commit(&mut self, py: Python<'_>) -> PyResult<u64> {
        let m = self.inner.take().ok_or_else(finished)?;
        py.detach(|| m.commit()).py()
    }
}

fn finished() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("this migration was already committed")
}

impl NativeMigration {
    fn session(&self) -> PyResult<&mneme::tools::migrate::Migration> {
        self.inner.as_ref().ok_or_else(finished)
    }

    fn session_mut(&mut self) -> PyResult<&mut mneme::tools::migrate::Migration> {
        self.inner.as_mut().ok_or_else(finished)
    }
}
