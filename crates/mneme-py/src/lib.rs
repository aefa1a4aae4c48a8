//! `mneme._native`: the Rust engine for the Python package `mneme` (a drop-in replacement for
//! mneme-cache 1.0). It converts types, releases the GIL around engine work and maps errors;
//! behaviour lives in the `mneme` crate, once.

mod cache;

/// The operator's tool (`mneme` on the command line) inside the package: the console script
/// calls this with `sys.argv`; the GIL is released while the command runs.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    if argv
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_some_and(|c| c == "serve")
    {
        // The server logs as the Rust binary does, without taking the GIL per request.
        logbridge::send_to(mneme_cli::SERVE_LOGGER);
    }
    py.detach(|| mneme_cli::main_from(argv))
}

mod callbacks;
mod embedders;
mod errors;
mod index;
mod logbridge;
mod metadata;
mod multiproc;
mod options;
mod stores;
mod tools;

use pyo3::prelude::*;

/// Query normalisation (strip, collapse whitespace, full case folding), as 1.0's.
#[pyfunction]
#[pyo3(signature = (text, *, casefold=true))]
fn normalize(text: &str, casefold: bool) -> String {
    if casefold {
        mneme::normalize(text)
    } else {
        let collapsed: Vec<&str> = text
            .split(mneme::normalize::is_python_space)
            .filter(|w| !w.is_empty())
            .collect();
        collapsed.join(" ")
    }
}

/// Lowercase hex SHA-256 of the text's UTF-8 bytes.
#[pyfunction]
fn hash_query(text: &str) -> String {
    mneme::hash_query(text)
}

/// `similarity × 0.5^(max(age, 0) / 86400)`.
#[pyfunction]
#[pyo3(signature = (similarity, age_seconds, metadata=None))]
fn default_confidence(
    similarity: f64,
    age_seconds: i64,
    metadata: Option<&Bound<'_, PyAny>>,
) -> f64 {
    let _ = metadata;
    mneme::default_confidence(similarity, age_seconds, &mneme::Metadata::new())
}

/// False for empty/whitespace responses and `[LLM Error]`/`[ERROR]` prefixes.
#[pyfunction]
fn default_validator(response: &str) -> bool {
    mneme::default_validator(response)
}

/// `mneme._checkpoint.restore`: validate and commit an archive without opening it; returns the
/// manifest's JSON text.
#[pyfunction]
#[pyo3(signature = (source, path, adapter, dim, fingerprint, max_member_bytes=None))]
fn restore_archive(
    py: Python<'_>,
    source: std::path::PathBuf,
    path: std::path::PathBuf,
    adapter: Py<PyAny>,
    dim: usize,
    fingerprint: String,
    max_member_bytes: Option<u64>,
) -> PyResult<String> {
    use errors::IntoPy;
    let embedder = callbacks::PyEmbedder::new(adapter, dim, fingerprint);
    let mut limits = mneme::LoadLimits::default();
    if let Some(m) = max_member_bytes {
        limits.max_member_bytes = m;
    }
    let manifest = py
        .detach(move || mneme::checkpoint::restore(source, path, &embedder, limits))
        .py()?;
    Ok(manifest.to_json())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logbridge::install();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Defaults defined once, in the engine; the Python signatures read them from here.
    m.add(
        "DEFAULT_SIMILARITY_THRESHOLD",
        mneme::DEFAULT_SIMILARITY_THRESHOLD,
    )?;
    m.add_class::<options::CacheOptions>()?;
    m.add_class::<embedders::PyLocalEmbedder>()?;
    m.add_class::<embedders::PyRemoteEmbedder>()?;
    m.add_function(wrap_pyfunction!(embedders::default_model_dir, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_class::<cache::NativeCache>()?;
    m.add_class::<index::NativeIndex>()?;
    m.add_class::<multiproc::NativeSharedMatrix>()?;
    m.add_class::<stores::PyMemoryStore>()?;
    m.add_class::<stores::PySqliteStore>()?;
    m.add_class::<stores::PyRedisStore>()?;
    m.add_class::<stores::PyPostgresStore>()?;
    m.add_class::<stores::PyDynamoDbStore>()?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(hash_query, m)?)?;
    m.add_function(wrap_pyfunction!(default_confidence, m)?)?;
    m.add_function(wrap_pyfunction!(default_validator, m)?)?;
    m.add_function(wrap_pyfunction!(restore_archive, m)?)?;
    m.add_function(wrap_pyfunction!(tools::find_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(tools::precision_recall_curve, m)?)?;
    m.add_function(wrap_pyfunction!(tools::reembed, m)?)?;
    m.add_class::<tools::NativeMigration>()?;
    Ok(())
}
