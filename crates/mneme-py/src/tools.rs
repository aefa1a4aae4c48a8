//! `mneme.tools.calibrate` on the engine's calibration (the Python module adds only the CLI).

use crate::callbacks::{take_parked, PyEmbedder};
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
    let r = py.detach(|| {
        calibrate::find_threshold(&pairs(&paraphrases), &pairs(&distractors), &embedder, &o)
    });
    if let Some(e) = take_parked() {
        return Err(e);
    }
    let r = r.py()?;
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
    let scored = py.detach(|| -> mneme::Result<_> {
        let pos = calibrate::score_pairs(&pairs(&paraphrases), &embedder, o.vector_dtype)?;
        let neg = calibrate::score_pairs(&pairs(&distractors), &embedder, o.vector_dtype)?;
        Ok(calibrate::curve_from_scores(
            &pos,
            &neg,
            &o.grid.clone().unwrap_or_else(calibrate::default_grid),
        ))
    });
    Ok(scored
        .py()?
        .iter()
        .map(|p| (p.threshold, p.precision, p.recall))
        .collect())
}
