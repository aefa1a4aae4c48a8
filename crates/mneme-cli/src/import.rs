//! `mneme import CACHE corpus.jsonl`: warms a cache from a JSON-lines file, with a progress bar.
//! Every line is parsed before anything is written; rows go in with `put_many`, 512 at a time,
//! so an entry the cache refuses (over a size limit) stops the import at its chunk, the chunks
//! before it kept, and the message names it.

use crate::model::ModelArgs;
use indicatif::{ProgressBar, ProgressStyle};
use mneme::{Put, SemanticCache, SqliteStore};
use serde::Deserialize;
use std::error::Error;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// One line: `{"query": "...", "response": "...", "namespace"?: "...", "metadata"?: {...},
/// "ttl"?: seconds}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    query: String,
    response: String,
    namespace: Option<String>,
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    ttl: Option<i64>,
}

const CHUNK: usize = 512;

fn read_lines(path: &Path) -> Result<Vec<Line>, Box<dyn Error>> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot read {}: {e}. Remediation: pass an existing JSON-lines file",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).map_err(|e| {
            format!(
                "{} line {}: {e}. Remediation: each line must be a JSON object with \"query\" and \
                 \"response\" (optional \"namespace\", \"metadata\", \"ttl\"); nothing was written",
                path.display(),
                n + 1
            )
        })?;
        out.push(parsed);
    }
    Ok(out)
}

pub fn run(
    cache_path: &Path,
    corpus: &Path,
    namespace: &str,
    model: &ModelArgs,
) -> Result<(), Box<dyn Error>> {
    let lines = read_lines(corpus)?;
    let stamp = cache_path
        .is_file()
        .then(|| SqliteStore::peek_stamp(cache_path))
        .transpose()?;
    let embedder = model.embedder(stamp.as_ref().map(|(f, d)| (f.as_str(), *d)))?;
    let cache = SemanticCache::builder_shared(embedder.into())
        .path(cache_path)
        .open()?;
    let metadata: Vec<Option<String>> = lines
        .iter()
        .map(|l| {
            l.metadata
                .as_ref()
                .map(|m| serde_json::Value::Object(m.clone()).to_string())
        })
        .collect();
    let bar = ProgressBar::new(lines.len() as u64).with_style(
        ProgressStyle::with_template("import [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let mut written = 0;
    for (chunk, meta) in lines.chunks(CHUNK).zip(metadata.chunks(CHUNK)) {
        written += cache.put_many(chunk.iter().zip(meta).map(|(l, m)| {
            let mut p = Put::default().namespace(l.namespace.as_deref().unwrap_or(namespace));
            if let Some(m) = m {
                p = p.metadata_json(m);
            }
            if let Some(t) = l.ttl {
                p = p.ttl(t);
            }
            (l.query.as_str(), l.response.as_str(), p)
        }))?;
        bar.set_position(written as u64);
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {written} entries into {} in {secs:.1} s ({:.0}/s); the cache holds {}",
        cache_path.display(),
        written as f64 / secs.max(1e-9),
        cache.stats(None)?.entries
    );
    cache.close()?;
    Ok(())
}
