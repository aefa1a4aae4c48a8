//! `mneme`: the operator's tool for cache files and checkpoint archives.
//!
//! It works without the application's embedding model: a cache file carries its embedder's
//! fingerprint and dimension, and nothing here needs to embed text.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mneme::checkpoint::{read_manifest, restore, LoadLimits};
use mneme::{BoxError, DumpOptions, Embedder, SemanticCache, SqliteStore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mneme",
    version,
    about = "Inspect, back up and maintain mneme cache files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a cache file or a checkpoint archive.
    Inspect {
        /// A cache file (.db) or an archive (.tar.gz).
        path: PathBuf,
    },
    /// Print counters and sizes of a cache file.
    Stats {
        /// The cache file.
        cache: PathBuf,
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Write a checkpoint archive of a cache file (safe while other processes use it).
    Dump {
        /// The cache file.
        cache: PathBuf,
        /// The archive to write (.tar.gz, created 0600).
        archive: PathBuf,
        /// gzip level 0-9.
        #[arg(long, default_value_t = 1)]
        level: u32,
    },
    /// Restore a checkpoint archive into a cache file (the file is replaced atomically).
    Load {
        /// The archive.
        archive: PathBuf,
        /// The cache file to create or replace.
        cache: PathBuf,
        /// Refuse archive members larger than this many bytes.
        #[arg(long, default_value_t = LoadLimits::default().max_member_bytes)]
        max_member_bytes: u64,
    },
    /// Measure open time and exact/semantic get latency on a copy of a cache file.
    Bench {
        /// The cache file (read through an online backup; the original is not touched).
        cache: PathBuf,
        /// Gets to time per layer.
        #[arg(long, default_value_t = 1000)]
        calls: usize,
        /// Index dtype to measure.
        #[arg(long, default_value = "float32")]
        dtype: String,
    },
    /// Remove expired entries and reclaim index memory.
    Vacuum {
        /// The cache file.
        cache: PathBuf,
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
    },
}

/// Carries a cache's embedder identity without a model: operators never embed.
struct Stamp {
    fingerprint: String,
    dim: usize,
}

impl Embedder for Stamp {
    fn dim(&self) -> usize {
        self.dim
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn embed(&self, _: &str) -> Result<Vec<f32>, BoxError> {
        Err("the mneme CLI has no embedding model".into())
    }
}

fn open_cache(path: &Path) -> mneme::Result<SemanticCache> {
    let (fingerprint, dim) = SqliteStore::peek_stamp(path)?;
    SemanticCache::builder(Stamp { fingerprint, dim })
        .path(path)
        .open()
}

fn is_archive(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

fn run(cli: Cli) -> mneme::Result<()> {
    match cli.command {
        Command::Inspect { path } if is_archive(&path) => {
            let m = read_manifest(&path)?;
            println!("archive         {}", path.display());
            println!("format_version  {}", m.format_version);
            println!("schema_version  {}", m.schema_version);
            println!(
                "embedder        {} (dim {})",
                m.embedder_fingerprint.as_deref().unwrap_or("<none>"),
                m.embedder_dim
            );
            println!("store_backend   {}", m.store_backend);
            println!("index_backend   {}", m.index_backend);
            println!(
                "vector_dtype    {}",
                m.vector_dtype.as_deref().unwrap_or("<none>")
            );
            println!("created_at      {}", m.created_at);
            println!("namespaces      {}", m.namespaces.join(", "));
        }
        Command::Inspect { path } => {
            let cache = open_cache(&path)?;
            let h = cache.health()?;
            println!("cache           {}", path.display());
            println!(
                "embedder        {} (dim {})",
                cache.fingerprint(),
                cache.dim()
            );
            println!("schema_version  {}", h.schema_version);
            println!("healthy         {}", h.healthy);
            println!("entries         {}", h.entries);
            println!("namespaces      {}", cache.list_namespaces()?.join(", "));
            if let Some(age) = h.oldest_entry_age_seconds {
                println!("oldest entry    {age} s");
            }
            println!("version_counter {}", cache.store().read_version_counter()?);
            cache.close()?;
        }
        Command::Stats { cache, namespace } => {
            let c = open_cache(&cache)?;
            let s = c.stats(namespace.as_deref())?;
            println!(
                "namespace       {}",
                s.namespace.as_deref().unwrap_or("(all)")
            );
            println!("entries         {}", s.entries);
            println!("hits_exact      {}", s.hits_exact);
            println!("hits_semantic   {}", s.hits_semantic);
            println!("misses          {}", s.misses);
            println!("evictions       {}", s.evictions);
            println!("expirations     {}", s.expirations);
            println!("vector_dtype    {}", s.vector_dtype);
            println!("memory estimate {} bytes", s.memory_bytes_estimate);
            c.close()?;
        }
        Command::Dump {
            cache,
            archive,
            level,
        } => {
            let c = open_cache(&cache)?;
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_message("dump");
            let mut report = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            c.dumps_with(
                &archive,
                DumpOptions {
                    compression_level: level,
                    progress: Some(&mut report),
                },
            )?;
            bar.finish_and_clear();
            let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
            println!(
                "wrote {} ({size} bytes, {} entries)",
                archive.display(),
                c.stats(None)?.entries
            );
            c.close()?;
        }
        Command::Load {
            archive,
            cache,
            max_member_bytes,
        } => {
            let m = read_manifest(&archive)?;
            let stamp = Stamp {
                fingerprint: m.embedder_fingerprint.clone().unwrap_or_default(),
                dim: usize::try_from(m.embedder_dim).unwrap_or(0),
            };
            restore(&archive, &cache, &stamp, LoadLimits { max_member_bytes })?;
            let c = open_cache(&cache)?;
            println!(
                "restored {} into {} ({} entries)",
                archive.display(),
                cache.display(),
                c.stats(None)?.entries
            );
            c.close()?;
        }
        Command::Bench {
            cache,
            calls,
            dtype,
        } => bench(&cache, calls, &dtype)?,
        Command::Vacuum { cache, namespace } => {
            let c = open_cache(&cache)?;
            let removed = c.vacuum(namespace.as_deref(), true)?;
            println!("removed {removed} expired entries");
            c.close()?;
        }
    }
    Ok(())
}

/// p50 and p99 (sorted index `int(n × 0.99)`) in microseconds.
fn percentiles(mut samples: Vec<std::time::Duration>) -> (f64, f64) {
    samples.sort();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let n = samples.len();
    (
        us(samples[n / 2]),
        us(samples[((n as f64 * 0.99) as usize).min(n - 1)]),
    )
}

fn bench(path: &Path, calls: usize, dtype: &str) -> mneme::Result<()> {
    use mneme::{Get, Store};
    let dtype: mneme::VectorDtype = dtype.parse()?;
    let (fingerprint, dim) = SqliteStore::peek_stamp(path)?;
    let dir = std::env::temp_dir().join(format!("mneme-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| mneme::Error::invalid_argument(e.to_string(), "check the temp directory"))?;
    let copy = dir.join("copy.db");
    let source = SqliteStore::new(path);
    source.open(&fingerprint, dim)?;
    source.snapshot_to(&copy)?;
    source.close()?;
    let started = std::time::Instant::now();
    let cache = SemanticCache::builder(Stamp { fingerprint, dim })
        .path(&copy)
        .vector_dtype(dtype)
        .open()?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let rows = cache
        .store()
        .iter_since(0)?
        .into_iter()
        .take(calls.max(1))
        .collect::<Vec<_>>();
    if rows.is_empty() {
        println!("the cache is empty: nothing to measure");
        return Ok(());
    }
    let time =
        |f: &mut dyn FnMut(&mneme::StoredEntry) -> mneme::Result<()>| -> mneme::Result<(f64, f64)> {
            let mut samples = Vec::with_capacity(calls);
            for i in 0..calls.max(1) {
                let row = &rows[i % rows.len()];
                let t = std::time::Instant::now();
                f(row)?;
                samples.push(t.elapsed());
            }
            Ok(percentiles(samples))
        };
    let exact = time(&mut |row| {
        cache
            .get_with(&row.query, Get::default().namespace(&row.namespace))
            .map(drop)
    })?;
    let semantic = time(&mut |row| {
        let v = mneme::quant::f32_from_le_bytes(&row.embedding).unwrap_or_default();
        cache
            .get_with(
                "\u{0}mneme-bench-probe",
                Get::default().namespace(&row.namespace).embedding(&v),
            )
            .map(drop)
    })?;
    let entries = cache.stats(None)?.entries;
    cache.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{entries} entries, dim {dim}, index {dtype}, {calls} calls per row");
    println!("open + index load  {open_ms:.1} ms");
    println!(
        "exact get          p50 {:.1} µs   p99 {:.1} µs",
        exact.0, exact.1
    );
    println!(
        "semantic get       p50 {:.1} µs   p99 {:.1} µs",
        semantic.0, semantic.1
    );
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mneme: {e}");
            ExitCode::FAILURE
        }
    }
}
