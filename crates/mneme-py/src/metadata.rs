//! Metadata crosses the boundary as JSON text written by Python's own `json` module: the exact
//! encoding 1.0 stores, with key order, big integers and NaN preserved.

use mneme::Metadata;
use pyo3::prelude::*;

/// A Python dict from engine metadata (`json.loads` of its Python-style text).
pub fn metadata_to_py<'py>(py: Python<'py>, m: &Metadata) -> PyResult<Bound<'py, PyAny>> {
    if m.is_empty() {
        return Ok(pyo3::types::PyDict::new(py).into_any());
    }
    let json = py.import("json")?;
    json.call_method1("loads", (m.to_json(),))
}

/// Engine metadata from a Python dict (`json.dumps`; a value it cannot encode is a TypeError).
pub fn metadata_from_py(py: Python<'_>, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Metadata> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Metadata::new());
    };
    let text: String = py
        .import("json")?
        .call_method1("dumps", (obj,))?
        .extract()?;
    Metadata::from_json(&text).map_err(crate::errors::to_py)
}
