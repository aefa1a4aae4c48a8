//! `mneme`: the operator's tool for cache files and checkpoint archives. The binary
//! (`src/main.rs`) and the Python package's `mneme` console script both call [`main_from`].
//!
//! Most commands work without the application's embedding model: a cache file carries its
//! embedder's fingerprint and dimension. `query`, `import`, `calibrate` and `migrate` embed text
//! with `--model` (default: the model the cache was written with).

mod bench;
mod calibrate;
mod calibrate_bound;
mod diagnose;
mod evaluate;
mod graph;
mod import;
mod migrate;
mod model;
mod output;
mod query;
#[cfg(feature = "serve")]
mod serve;
mod store_url;

/// `mneme serve`'s logger (JSON lines on stderr), for a host process that installed its own
/// `log` logger first (the Python package) to forward the server's records to.
#[cfg(feature = "serve")]
pub static SERVE_LOGGER: &dyn log::Log = &serve::JsonLines;
mod verifier;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mneme::checkpoint::{read_manifest, restore, LoadLimits};
use mneme::{BoxError, DumpOptions, Embedder, SemanticCache, SqliteStore};
use model::ModelArgs;
use std::error::Error;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The index dtypes, as `--dtype` takes them.
const DTYPES: [&str; 3] = ["float32", "float16", "int8"];

#[derive(Parser)]
#[command(
    name = "mneme",
    version,
    about = "Inspect, query, warm, back up and maintain mneme cache files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print reports (inspect, stats, bench, query) as one JSON object, for scripts.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a cache file, a checkpoint archive or a cache in DynamoDB.
    Inspect {
        /// A cache file (.db), an archive (.tar.gz) or dynamodb://TABLE?region=R&endpoint=URL&profile=P.
        path: PathBuf,
    },
    /// Print counters and sizes of a cache file or a cache in DynamoDB.
    Stats {
        /// The cache file, or dynamodb://TABLE?region=R&endpoint=URL&profile=P.
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
        /// gzip level, 0 (store) to 9 (smallest).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=9))]
        level: u32,
    },
    /// Restore a checkpoint archive into a cache file (the file is replaced atomically).
    Load {
        /// The archive.
        archive: PathBuf,
        /// The cache file to create (an existing one is replaced only with --force).
        cache: PathBuf,
        /// Refuse archive members larger than this many bytes.
        #[arg(long, default_value_t = LoadLimits::default().max_member_bytes)]
        max_member_bytes: u64,
        /// Replace the cache file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Measure open time and exact/semantic get latency on a copy of a cache file.
    Bench {
        /// The cache file (read through an online backup; the original is not touched).
        cache: PathBuf,
        /// Gets to time per layer (at least 1).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        calls: u64,
        /// Index dtype to measure.
        #[arg(long, default_value = "float32", value_parser = DTYPES)]
        dtype: String,
    },
    /// Show what a get would decide for TEXT, and the nearest entries with their scores
    /// (changes nothing: no counters, no access times).
    Query {
        /// The cache file.
        cache: PathBuf,
        /// The query text.
        text: String,
        /// The namespace to look in.
        #[arg(long, default_value = "default")]
        namespace: String,
        /// How many nearest entries to list (1-100).
        #[arg(short, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
        k: u64,
        #[command(flatten)]
        decide: verifier::VerifierArgs,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Warm a cache from a JSON-lines file of {"query", "response", "namespace"?, "metadata"?,
    /// "ttl"?} objects (the cache is created if missing).
    Import {
        /// The cache file.
        cache: PathBuf,
        /// The JSON-lines file.
        corpus: PathBuf,
        /// Namespace for lines that name none.
        #[arg(long, default_value = "default")]
        namespace: String,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Find the similarity threshold that best separates labelled pairs: a JSON-lines file (or
    /// .jsonl.gz) of {"a", "b", "same_answer": true|false}.
    Calibrate {
        /// The labelled pairs.
        pairs: PathBuf,
        /// What to maximise.
        #[arg(long, default_value = "f1", value_parser = ["f1", "precision", "recall"])]
        target: String,
        /// Only thresholds whose precision reaches this.
        #[arg(long)]
        min_precision: Option<f64>,
        /// Only thresholds whose recall reaches this.
        #[arg(long)]
        min_recall: Option<f64>,
        /// Score as an index of this dtype would.
        #[arg(long, default_value = "float32", value_parser = DTYPES)]
        dtype: String,
        /// Read at most this many pairs.
        #[arg(long)]
        limit: Option<usize>,
        /// Also print the whole precision-recall curve.
        #[arg(long)]
        curve: bool,
        /// Instead of maximising --target: the lowest threshold whose false-hit rate's upper
        /// confidence bound (Clopper-Pearson) is at most this (0.01 for 1%), and the hit rate
        /// it leaves.
        #[arg(long)]
        max_false_hits: Option<f64>,
        /// The confidence of that bound, between 0 and 1.
        #[arg(long, default_value_t = 0.95)]
        confidence: f64,
        /// With --max-false-hits: the verifier the threshold is chosen for, or auto (each
        /// built-in one; the one that then serves the most should-hit pairs is chosen).
        #[arg(long, default_value = "default", value_parser = verifier::CALIBRATE_NAMES)]
        verifier: String,
        /// With --max-false-hits: store the chosen threshold and verifier in this cache file,
        /// for --namespace.
        #[arg(long)]
        write: Option<PathBuf>,
        /// The namespace --write sets.
        #[arg(long, default_value = "default")]
        namespace: String,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// What the cache would decide for labelled pairs: `a` put into a fresh cache, `b` looked
    /// up, through the real decision path. Prints served shares of should-hit pairs and traps.
    Evaluate {
        /// JSON lines {"a", "b", "same_answer", "category"?}; a side is a text or an array of
        /// chat messages.
        #[arg(long)]
        pairs: PathBuf,
        /// For conversations, the server's keying rule: last_user_message (earlier turns and
        /// the system prompt as an exact scope), ignore_system_prompt, whole_conversation, or
        /// none (the last user message alone, no scope).
        #[arg(long, default_value = "last_user_message", value_parser = ["last_user_message", "ignore_system_prompt", "whole_conversation", "none"])]
        scope: String,
        #[command(flatten)]
        decide: verifier::VerifierArgs,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Copy a cache into a new file re-embedded with another model (--model is required).
    Migrate {
        /// The cache to copy (left unchanged).
        source: PathBuf,
        /// The new cache file (must not be the source).
        dest: PathBuf,
        /// Only these namespaces (repeat the flag); default all.
        #[arg(long)]
        namespace: Vec<String>,
        /// Rows embedded and written per transaction.
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Serve the cache over HTTP: a REST API, an OpenAI-compatible caching proxy
    /// (/v1/chat/completions, /v1/completions), /metrics, /healthz, /readyz and /dashboard.
    #[cfg(feature = "serve")]
    Serve(Box<serve::ServeArgs>),
    /// Work with a cache file's HNSW graph.
    Index {
        #[command(subcommand)]
        action: IndexAction,
    },
    /// Remove expired entries, reclaim index memory and give free disk space back.
    Vacuum {
        /// The cache file.
        cache: PathBuf,
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
    },
}

#[derive(Subcommand)]
enum IndexAction {
    /// Build the HNSW graph of a cache file and save it beside the file (CACHE.hnsw), so
    /// every later HNSW open loads it in seconds instead of building it; a saved graph that is
    /// current or a few writes behind is loaded and brought up to date instead.
    Build {
        /// The cache file.
        cache: PathBuf,
        /// Links per node (layer 0 keeps twice as many); opens must use the same M.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(2..=4096))]
        m: u64,
        /// Beam width while building; opens must use the same value.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        ef_construction: u64,
        /// Element type of the graph's vectors; opens must use the same dtype.
        #[arg(long, default_value = "float32", value_parser = DTYPES)]
        dtype: String,
    },
}

impl Command {
    /// The file a command is about, for telling disk and permission failures apart.
    fn touched(&self) -> diagnose::Touched<'_> {
        use diagnose::Touched;
        match self {
            Command::Dump { archive, .. } => Touched {
                path: archive,
                writes: true,
            },
            Command::Load { cache, .. }
            | Command::Import { cache, .. }
            | Command::Vacuum { cache, .. }
            | Command::Index {
                action: IndexAction::Build { cache, .. },
            } => Touched {
                path: cache,
                writes: true,
            },
            #[cfg(feature = "serve")]
            Command::Serve(a) => Touched {
                path: &a.cache,
                writes: true,
            },
            Command::Migrate { dest, .. } => Touched {
                path: dest,
                writes: true,
            },
            Command::Inspect { path }
            | Command::Stats { cache: path, .. }
            | Command::Bench { cache: path, .. }
            | Command::Query { cache: path, .. } => Touched {
                path,
                writes: false,
            },
            Command::Calibrate { pairs, .. } | Command::Evaluate { pairs, .. } => Touched {
                path: pairs,
                writes: false,
            },
        }
    }
}

/// Carries a cache's embedder identity without a model: operators never embed.
pub(crate) struct Stamp {
    pub(crate) fingerprint: String,
    pub(crate) dim: usize,
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

/// The directory a path is in (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A cache or archive file that must exist: a directory, a missing file and a missing parent
/// directory each get their own message.
fn existing_file(path: &Path) -> Result<(), Box<dyn Error>> {
    if path.is_dir() {
        return Err(format!(
            "{} is a directory, not a file. Remediation: pass the cache file or archive inside it",
            path.display()
        )
        .into());
    }
    if !path.exists() {
        let parent = parent_of(path);
        if !parent.is_dir() {
            return Err(format!(
                "the directory {} does not exist. Remediation: check the path",
                parent.display()
            )
            .into());
        }
        return Err(format!(
            "{} does not exist. Remediation: pass the path of an existing file",
            path.display()
        )
        .into());
    }
    Ok(())
}

/// A file about to be written: its directory must exist, and it must not be a directory.
fn writable_target(path: &Path) -> Result<(), Box<dyn Error>> {
    if path.is_dir() {
        return Err(format!(
            "{} is a directory. Remediation: pass a file path inside it",
            path.display()
        )
        .into());
    }
    let parent = parent_of(path);
    if !parent.is_dir() {
        return Err(format!(
            "the directory {} does not exist. Remediation: create it first, or choose another path",
            parent.display()
        )
        .into());
    }
    Ok(())
}

/// Opens a cache file for a command that changes it (dump records counters, vacuum, load).
fn open_cache(path: &Path) -> Result<SemanticCache, Box<dyn Error>> {
    open_with(path, false)
}

/// Opens a cache file for a command that only looks (inspect, stats): nothing is
/// written, no -wal or -shm is left, and a read-only file or directory is fine.
fn look_at_cache(path: &Path) -> Result<SemanticCache, Box<dyn Error>> {
    if let Some(url) = path.to_str().filter(|p| store_url::is_dynamodb(p)) {
        return store_url::open_dynamodb(url);
    }
    open_with(path, true)
}

fn open_with(path: &Path, read_only: bool) -> Result<SemanticCache, Box<dyn Error>> {
    existing_file(path)?;
    let (fingerprint, dim) = SqliteStore::peek_stamp(path)?;
    let options = mneme::SqliteOptions {
        read_only,
        ..mneme::SqliteOptions::default()
    };
    // The flat index, whatever the size: a look never builds (or writes) an HNSW graph.
    Ok(SemanticCache::builder(Stamp { fingerprint, dim })
        .sqlite(path, options)
        .index_backend(mneme::IndexBackend::Flat)
        .open()?)
}

/// The mmap-shared sidecar beside `cache`, if any: what it holds, and whether it reflects the
/// store (`stale`: the next get of an mmap-shared cache reconciles it).
fn sidecar_fields(r: &mut output::Report, cache: &Path, version: u64) {
    let side = match mneme::index::shared::peek(cache) {
        Ok(Some(side)) => side,
        Ok(None) => {
            r.field("mmap_sidecar", serde_json::Value::Null);
            return;
        }
        // The cache's own figures are still right: say what is wrong with the sidecar alone.
        Err(e) => {
            r.text_only("mmap_sidecar", format!("unreadable: {e}"))
                .json_only(
                    "mmap_sidecar",
                    serde_json::json!({ "error": e.to_string() }),
                );
            return;
        }
    };
    let state = if side.is_current(version) {
        "current"
    } else {
        "stale"
    };
    let h = &side.header;
    r.text_only(
        "mmap_sidecar",
        format!(
            "{}: {} rows ({} tombstones) of {} slots, {}, {} bytes, {state}",
            side.data_path.display(),
            side.live,
            side.tombstones,
            h.capacity,
            h.dtype.as_str(),
            side.file_bytes
        ),
    )
    .json_only(
        "mmap_sidecar",
        serde_json::json!({
            "path": side.data_path.display().to_string(),
            "rows": side.live,
            "tombstones": side.tombstones,
            "capacity": h.capacity,
            "dim": h.dim,
            "vector_dtype": h.dtype.as_str(),
            "file_bytes": side.file_bytes,
            "current": side.is_current(version),
            "generation": side.record.map(|r| r.generation),
        }),
    );
}

/// The index backend as this tool names it: `flat`, not 1.0's `numpy` (kept in files).
fn shown_backend(name: &str) -> &str {
    if name == "numpy" {
        "flat"
    } else {
        name
    }
}

/// An archive is recognised by its content (gzip's magic bytes; the reader then checks the tar
/// and its manifest), whatever its name.
fn is_archive(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == [0x1f, 0x8b])
}

fn run(cli: Cli) -> Result<(), Box<dyn Error>> {
    match cli.command {
        Command::Inspect { path } if is_archive(&path) => {
            let m = read_manifest(&path)?;
            let mut r = output::Report::default();
            r.field("archive", path.display().to_string())
                .field("format_version", m.format_version)
                .field("schema_version", m.schema_version)
                .text_only(
                    "embedder",
                    format!(
                        "{} (dim {})",
                        m.embedder_fingerprint.as_deref().unwrap_or("<none>"),
                        m.embedder_dim
                    ),
                )
                .json_only("embedder_fingerprint", m.embedder_fingerprint.clone())
                .json_only("embedder_dim", m.embedder_dim)
                .field("store_backend", m.store_backend.clone())
                .field("index_backend", shown_backend(&m.index_backend))
                .field("vector_dtype", m.vector_dtype.clone())
                .field("created_at", output::iso8601(m.created_at))
                .field("namespaces", m.namespaces.clone());
            r.print(cli.json);
        }
        Command::Inspect { path } => {
            let cache = look_at_cache(&path)?;
            let h = cache.health()?;
            let mut r = output::Report::default();
            r.field("cache", path.display().to_string())
                .text_only(
                    "embedder",
                    format!("{} (dim {})", cache.fingerprint(), cache.dim()),
                )
                .json_only("embedder_fingerprint", cache.fingerprint())
                .json_only("embedder_dim", cache.dim())
                .field("schema_version", h.schema_version)
                .field("healthy", h.healthy)
                .field("entries", h.entries)
                .field("namespaces", cache.list_namespaces()?)
                .field("index_backend", shown_backend(&h.index_backend))
                .field("oldest_entry_age_seconds", h.oldest_entry_age_seconds);
            let version = cache.store().read_version_counter()?;
            r.field("version_counter", version);
            if !store_url::is_dynamodb(&path.to_string_lossy()) {
                graph::fields(&mut r, &path, version);
            }
            r.print(cli.json);
            cache.close()?;
        }
        Command::Stats { cache, namespace } => {
            let c = look_at_cache(&cache)?;
            if let Some(ns) = namespace.as_deref() {
                let known = c.list_namespaces()?;
                if !known.iter().any(|n| n == ns) {
                    return Err(format!(
                        "namespace {ns:?} does not exist in {}. Remediation: use one of: {}",
                        cache.display(),
                        known.join(", ")
                    )
                    .into());
                }
            }
            let s = c.stats(namespace.as_deref())?;
            let mut r = output::Report::default();
            r.field("namespace", s.namespace.as_deref().unwrap_or("(all)"))
                .field("entries", s.entries)
                .field("hits_exact", s.hits_exact)
                .field("hits_semantic", s.hits_semantic)
                .field("misses", s.misses)
                .field("evictions", s.evictions)
                .field("expirations", s.expirations)
                .field("vector_dtype", s.vector_dtype.as_str())
                .field("memory_estimate_bytes", s.memory_bytes_estimate);
            if !store_url::is_dynamodb(&cache.to_string_lossy()) {
                let version = c.store().read_version_counter()?;
                sidecar_fields(&mut r, &cache, version);
                graph::fields(&mut r, &cache, version);
            }
            r.print(cli.json);
            c.close()?;
        }
        Command::Dump {
            cache,
            archive,
            level,
        } => {
            writable_target(&archive)?;
            // Writable: a checkpoint first records the cache's counters in the file.
            let c = open_cache(&cache)?;
            // Starts empty at the file's size (the snapshot's, give or take its WAL), so the
            // bar and its estimate are sane before the first report sets the exact total.
            let estimate = std::fs::metadata(&cache).map_or(0, |m| m.len());
            let bar = ProgressBar::new(estimate).with_style(
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
            force,
        } => {
            existing_file(&archive)?;
            writable_target(&cache)?;
            if cache.exists() && !force {
                return Err(format!(
                    "{} already exists. Remediation: pass --force to replace it, or choose another path",
                    cache.display()
                )
                .into());
            }
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
        } => {
            existing_file(&cache)?;
            bench::run(&cache, calls as usize, &dtype, cli.json)?
        }
        Command::Query {
            cache,
            text,
            namespace,
            k,
            decide,
            model,
        } => {
            existing_file(&cache)?;
            query::run(
                &cache, &text, &namespace, k as usize, &decide, &model, cli.json,
            )?
        }
        Command::Import {
            cache,
            corpus,
            namespace,
            model,
        } => import::run(&cache, &corpus, &namespace, &model)?,
        Command::Calibrate {
            pairs,
            target,
            min_precision,
            min_recall,
            dtype,
            limit,
            curve,
            max_false_hits,
            confidence,
            verifier,
            write,
            namespace,
            model,
        } => {
            let bound = match max_false_hits {
                Some(max_false_hits) => Some(calibrate_bound::Args {
                    max_false_hits,
                    confidence,
                    verifier: &verifier,
                    dtype: dtype.parse()?,
                    write: write.as_deref(),
                    namespace: &namespace,
                }),
                None if write.is_some() => {
                    return Err("--write stores a threshold chosen with --max-false-hits. \
                                Remediation: add --max-false-hits (0.01 for 1%)"
                        .into())
                }
                None => None,
            };
            calibrate::run(
                calibrate::Args {
                    pairs: &pairs,
                    target: &target,
                    min_precision,
                    min_recall,
                    dtype: &dtype,
                    limit,
                    curve,
                    bound,
                },
                &model,
            )?
        }
        Command::Evaluate {
            pairs,
            scope,
            decide,
            model,
        } => evaluate::run(&pairs, &scope, &decide, &model, cli.json)?,
        Command::Migrate {
            source,
            dest,
            namespace,
            batch_size,
            model,
        } => migrate::run(&source, &dest, namespace, batch_size, &model)?,
        #[cfg(feature = "serve")]
        Command::Serve(a) => serve::run(&a)?,
        Command::Index {
            action:
                IndexAction::Build {
                    cache,
                    m,
                    ef_construction,
                    dtype,
                },
        } => graph::build(
            &cache,
            m as usize,
            ef_construction as usize,
            dtype.parse()?,
            cli.json,
        )?,
        Command::Vacuum { cache, namespace } => {
            let c = open_cache(&cache)?;
            let removed = c.vacuum(namespace.as_deref(), true)?;
            c.close()?;
            let (before, after) =
                SqliteStore::reclaim_space(&cache, mneme::SqliteOptions::default().timeout)?;
            println!(
                "removed {removed} expired entries; the file went from {} to {} bytes",
                before, after
            );
        }
    }
    Ok(())
}

/// Runs the tool on `args` (the program name first, as `std::env::args_os` gives them) and
/// returns the process exit code: 0 on success, 1 on a failed command, 2 on a usage error.
pub fn main_from(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version land here too, with exit code 0.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let touched = cli.command.touched();
    let (path, writes) = (touched.path.to_path_buf(), touched.writes);
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            let touched = diagnose::Touched {
                path: &path,
                writes,
            };
            match diagnose::explain(&*e, &touched) {
                Some(diagnosis) => eprintln!("mneme: {diagnosis}\n  cause: {e}"),
                None => eprintln!("mneme: {e}"),
            }
            1
        }
    }
}
