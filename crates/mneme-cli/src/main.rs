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
        Command::Vacuum { cache, namespace } => {
            let c = open_cache(&cache)?;
            let removed = c.vacuum(namespace.as_deref(), true)?;
            println!("removed {removed} expired entries");
            c.close()?;
        }
    }
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
