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

/// A Python dict as JSON object text (`json.dumps`; a value it cannot encode is a TypeError),
/// for [`mneme::Put::metadata_json`], which checks its size before parsing it.
pub fn metadata_json_from_py(
    py: Python<'_>,
    obj: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<String>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    py.import("json")?
        .call_method1("dumps", (obj,))?
        .extract()
        .map(Some)
}

/// Engine metadata from a Python dict (`json.dumps`; a value it cannot encode is a TypeError).
pub fn metadata_from_py(py: Python<'_>, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Metadata> {
    match metadata_json_from_py(py, obj)? {
        Some(text) => Metadata::from_json(&text).map_err(crate::errors::to_py),
        None => Ok(Metadata::new()),
    }
}
