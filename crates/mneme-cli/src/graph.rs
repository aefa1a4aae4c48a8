//! `mneme index build` and the saved HNSW graph's lines in `inspect` and `stats`.

use crate::output::Report;
use crate::{existing_file, Stamp};
use indicatif::{ProgressBar, ProgressStyle};
use mneme::index::hnsw::file;
use mneme::{
    IndexBackend, IndexOptionValue, IndexOptions, SemanticCache, SqliteStore, VectorDtype,
};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where a cache file's graph is saved by default.
pub(crate) fn default_path(cache: &Path) -> PathBuf {
    let mut name = cache.as_os_str().to_owned();
    name.push(".hnsw");
    PathBuf::from(name)
}

/// The `hnsw_graph` field: the saved graph beside `cache` (none, unreadable, or what it holds
/// and whether it reflects the store at `version`).
pub(crate) fn fields(r: &mut Report, cache: &Path, version: u64) {
    let path = default_path(cache);
    if !path.exists() {
        r.field("hnsw_graph", serde_json::Value::Null);
        return;
    }
    let h = match file::peek(&path) {
        Ok(h) => h,
        Err(e) => {
            r.text_only(
                "hnsw_graph",
                format!(
                    "{}: unreadable ({e}); the next HNSW open rebuilds it",
                    path.display()
                ),
            )
            .json_only(
                "hnsw_graph",
                serde_json::json!({ "path": path.display().to_string(), "error": e.to_string() }),
            );
            return;
        }
    };
    let behind = version.saturating_sub(h.store_version);
    let state = match (version.cmp(&h.store_version), behind) {
        (std::cmp::Ordering::Equal, _) => "current".to_owned(),
        (std::cmp::Ordering::Less, _) => {
            "foreign (the store is older than the graph; the next open rebuilds it)".to_owned()
        }
        (_, n) => format!("{n} writes behind (the next open applies them)"),
    };
    r.text_only(
        "hnsw_graph",
        format!(
            "{}: {} nodes, M={} ef_construction={}, {}, {} bytes, {state}",
            path.display(),
            h.nodes,
            h.m,
            h.ef_construction,
            h.dtype.as_str(),
            h.bytes
        ),
    )
    .json_only(
        "hnsw_graph",
        serde_json::json!({
            "path": path.display().to_string(),
            "nodes": h.nodes,
            "dim": h.dim,
            "vector_dtype": h.dtype.as_str(),
            "m": h.m,
            "ef_construction": h.ef_construction,
            "file_bytes": h.bytes,
            "store_version": h.store_version,
            "current": version == h.store_version,
            "writes_behind": (version >= h.store_version).then_some(behind),
        }),
    );
}

/// Builds (or loads and brings up to date) the HNSW graph of `cache` and saves it, with a
/// progress bar while the graph is built.
pub(crate) fn build(
    cache: &Path,
    m: usize,
    ef_construction: usize,
    dtype: VectorDtype,
    json: bool,
) -> Result<(), Box<dyn Error>> {
    existing_file(cache)?;
    let (fingerprint, dim) = SqliteStore::peek_stamp(cache)?;
    let mut options = IndexOptions::default();
    options.set("M", IndexOptionValue::Integer(m as i64))?;
    options.set(
        "ef_construction",
        IndexOptionValue::Integer(ef_construction as i64),
    )?;
    let bar = ProgressBar::hidden();
    if !json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("HNSW build");
    let shown = bar.clone();
    let identity = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| Ok((m.len(), m.modified()?)))
            .ok()
    };
    let before = identity(&default_path(cache));
    let started = Instant::now();
    let c = SemanticCache::builder(Stamp { fingerprint, dim })
        .path(cache)
        .index_backend(IndexBackend::Hnsw)
        .index_options(options)
        .vector_dtype(dtype)
        .on_build_progress(move |done, total| {
            shown.set_length(total);
            shown.set_position(done);
        })
        .open()?;
    bar.finish_and_clear();
    let opened = started.elapsed();
    c.save_index()?;
    let (path, header, _) = c
        .graph_file()?
        .ok_or("this cache keeps no graph file. Remediation: pass a cache file (.db)")?;
    let header = header.ok_or_else(|| {
        format!(
            "the graph was not saved to {}. Remediation: check that its directory is writable, then run again",
            path.display()
        )
    })?;
    let mut r = Report::default();
    r.field("graph", path.display().to_string())
        .field("nodes", header.nodes)
        .field("vector_dtype", header.dtype.as_str())
        .field("m", header.m)
        .field("ef_construction", header.ef_construction)
        .field("file_bytes", header.bytes)
        .field("store_version", header.store_version)
        .field(
            "open_seconds",
            (opened.as_secs_f64() * 100.0).round() / 100.0,
        )
        .field(
            "written",
            if identity(&path) != before {
                "now"
            } else {
                "no: the file was current"
            },
        );
    r.print(json);
    c.close()?;
    Ok(())
}
