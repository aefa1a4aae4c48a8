//! The builder: the one door for configuration. It validates everything before touching a store.

use super::SemanticCache;
use crate::clock::{Clock, SystemClock};
use crate::embedder::{Embedder, MAX_DIM};
use crate::error::{Error, Result};
use crate::metrics::MetricsHook;
use crate::scoring::{ConfidenceFn, Validator};
use crate::store::{SqliteOptions, Store};
use crate::types::{IndexBackend, MultiProcessMode, VectorDtype};
use crate::verify::Verifier;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Per-backend index tuning (`index_options` in Python). Each value must be positive.
///
/// Keys for another backend are accepted and ignored, so one configuration can serve `auto`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexOptions {
    /// Flat: starting capacity in rows (default 256).
    pub initial_capacity: Option<usize>,
    /// HNSW: links per node (default 16).
    pub m: Option<usize>,
    /// HNSW: build-time beam width (default 200).
    pub ef_construction: Option<usize>,
    /// HNSW: search beam width (default 50).
    pub ef: Option<usize>,
    /// HNSW: starting capacity (default 10 000).
    pub initial_max_elements: Option<usize>,
    /// mmap-shared: the sidecar base path.
    pub mmap_path: Option<PathBuf>,
    /// mmap-shared: starting capacity (default 1 024).
    pub mmap_initial_capacity: Option<usize>,
    /// HNSW: where the graph is saved (default: beside the SQLite file, `<file>.hnsw`; other
    /// stores keep no graph file unless given one).
    pub graph_path: Option<PathBuf>,
    /// HNSW: whether the graph is saved and loaded at all (default true).
    pub persist_graph: Option<bool>,
    /// HNSW over float32 rows: whether searches walk an int8 copy of the rows (default true;
    /// see [`crate::index::HnswParams::int8_walk`]).
    pub int8_walk: Option<bool>,
}

/// A value for [`IndexOptions::set`]: an integer for sizes and beam widths, text for paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOptionValue<'a> {
    /// `initial_capacity`, `M`, `ef_construction`, `ef`, `initial_max_elements`,
    /// `mmap_initial_capacity`: must be > 0.
    Integer(i64),
    /// `mmap_path`, `graph_path`: must not be empty.
    Text(&'a str),
    /// `persist_graph`, `int8_walk`.
    Bool(bool),
}

impl IndexOptions {
    /// Every key [`IndexOptions::set`] accepts: mneme-cache 1.0's, as it spells them, then ours
    /// (`graph_path`, `persist_graph`, `int8_walk`).
    pub const KEYS: [&'static str; 10] = [
        "initial_capacity",
        "M",
        "ef_construction",
        "ef",
        "initial_max_elements",
        "mmap_path",
        "mmap_initial_capacity",
        "graph_path",
        "persist_graph",
        "int8_walk",
    ];

    fn size_slot(&mut self, key: &str) -> Option<&mut Option<usize>> {
        Some(match key {
            "initial_capacity" => &mut self.initial_capacity,
            "M" => &mut self.m,
            "ef_construction" => &mut self.ef_construction,
            "ef" => &mut self.ef,
            "initial_max_elements" => &mut self.initial_max_elements,
            "mmap_initial_capacity" => &mut self.mmap_initial_capacity,
            _ => return None,
        })
    }

    /// Sets one option by its 1.0 key name (see [`IndexOptions::KEYS`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown key (Python maps this to `TypeError`), a size
    /// that is not a positive integer, or an empty path.
    pub fn set(&mut self, key: &str, value: IndexOptionValue<'_>) -> Result<()> {
        if let Some((slot, what)) = match key {
            "mmap_path" => Some((&mut self.mmap_path, "the shared vector sidecar")),
            "graph_path" => Some((&mut self.graph_path, "the saved HNSW graph")),
            _ => None,
        } {
            return match value {
                IndexOptionValue::Text(p) if !p.is_empty() => {
                    *slot = Some(PathBuf::from(p));
                    Ok(())
                }
                _ => Err(Error::invalid_argument(
                    format!("index_options {key} must be a non-empty path, got {value:?}"),
                    format!("pass a file path for {what}"),
                )),
            };
        }
        if let Some(slot) = match key {
            "persist_graph" => Some(&mut self.persist_graph),
            "int8_walk" => Some(&mut self.int8_walk),
            _ => None,
        } {
            return match value {
                IndexOptionValue::Bool(b) => {
                    *slot = Some(b);
                    Ok(())
                }
                _ => Err(Error::invalid_argument(
                    format!("index_options {key} must be true or false, got {value:?}"),
                    format!("pass {key} as a boolean"),
                )),
            };
        }
        let Some(slot) = self.size_slot(key) else {
            return Err(Error::invalid_argument(
                format!("unknown index_options key {key:?}"),
                "use initial_capacity (flat); M, ef_construction, ef, initial_max_elements, \
                 graph_path, persist_graph, int8_walk (hnsw); mmap_path, mmap_initial_capacity (mmap-shared)",
            ));
        };
        match value {
            IndexOptionValue::Integer(n) if n > 0 => {
                *slot = usize::try_from(n).ok();
                Ok(())
            }
            _ => Err(Error::invalid_argument(
                format!("index_options[{key:?}] must be a positive integer, got {value:?}"),
                format!("pass {key} as an integer > 0"),
            )),
        }
    }

    fn validate(&self) -> Result<()> {
        let positive = [
            ("initial_capacity", self.initial_capacity),
            ("M", self.m),
            ("ef_construction", self.ef_construction),
            ("ef", self.ef),
            ("initial_max_elements", self.initial_max_elements),
            ("mmap_initial_capacity", self.mmap_initial_capacity),
        ];
        for (key, value) in positive {
            if value == Some(0) {
                return Err(Error::invalid_argument(
                    format!("index_options {key} must be > 0"),
                    format!("pass a positive {key}, or omit it for the default"),
                ));
            }
        }
        Ok(())
    }
}

/// Where the cache keeps its entries.
pub(crate) enum StoreChoice {
    Path(PathBuf, SqliteOptions),
    Store(Arc<dyn Store>),
}

/// See [`CacheBuilder::on_build_progress`].
pub(crate) type BuildProgressHook = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Everything fixed at construction.
pub(crate) struct Config {
    pub default_ttl: Option<i64>,
    pub max_entries: Option<u64>,
    pub namespace_quotas: Vec<(String, u64)>,
    pub confidence_fn: Option<ConfidenceFn>,
    pub validator: Option<Validator>,
    pub verifier: Option<Arc<dyn Verifier>>,
    pub metrics_hook: Option<MetricsHook>,
    pub build_progress: Option<BuildProgressHook>,
    pub normalize: bool,
    pub index_backend: IndexBackend,
    pub index_options: IndexOptions,
    pub multi_process_mode: MultiProcessMode,
    pub max_query_bytes: usize,
    pub max_response_bytes: usize,
    pub max_metadata_bytes: usize,
    pub clock: Arc<dyn Clock>,
}

/// The default minimum cosine similarity for a semantic hit (mneme-cache 1.0's).
pub const DEFAULT_SIMILARITY_THRESHOLD: f64 = 0.85;
/// The default cap on a query's UTF-8 bytes at `put` (32 KiB).
pub const DEFAULT_MAX_QUERY_BYTES: usize = 32_768;
/// The default cap on a response's UTF-8 bytes at `put` (4 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4_194_304;
/// The default cap on metadata's Python-style JSON bytes at `put` (64 KiB).
pub const DEFAULT_MAX_METADATA_BYTES: usize = 65_536;

/// Builds a [`SemanticCache`]. Every option's default is mneme-cache 1.0's.
///
/// ```
/// # fn main() -> mneme::Result<()> {
/// use mneme::{LexicalEmbedder, SemanticCache, VectorDtype};
/// let dir = tempfile::tempdir().unwrap();
/// let cache = SemanticCache::builder(LexicalEmbedder::new(128))
///     .path(dir.path().join("cache.db"))
///     .similarity_threshold(0.9)
///     .max_entries(10_000)
///     .vector_dtype(VectorDtype::Int8)
///     .open()?;
/// assert_eq!(cache.similarity_threshold(), 0.9);
/// # Ok(()) }
/// ```
pub struct CacheBuilder {
    pub(crate) embedder: Arc<dyn Embedder>,
    paths: Vec<StoreChoice>,
    pub(crate) similarity_threshold: f64,
    pub(crate) vector_dtype: Option<VectorDtype>,
    pub(crate) stale_check_interval: Duration,
    config: Config,
}

impl CacheBuilder {
    pub(crate) fn new(embedder: Arc<dyn Embedder>) -> Self {
        CacheBuilder {
            embedder,
            paths: Vec::new(),
            similarity_threshold: DEFAULT_SIMILARITY_THRESHOLD,
            vector_dtype: None,
            stale_check_interval: Duration::ZERO,
            config: Config {
                default_ttl: None,
                max_entries: None,
                namespace_quotas: Vec::new(),
                confidence_fn: None,
                validator: None,
                verifier: None,
                metrics_hook: None,
                build_progress: None,
                normalize: true,
                index_backend: IndexBackend::default(),
                index_options: IndexOptions::default(),
                multi_process_mode: MultiProcessMode::default(),
                max_query_bytes: DEFAULT_MAX_QUERY_BYTES,
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
                max_metadata_bytes: DEFAULT_MAX_METADATA_BYTES,
                clock: Arc::new(SystemClock),
            },
        }
    }

    /// Keep entries in a SQLite file at `path` (created 0600 if missing).
    pub fn path(self, path: impl Into<PathBuf>) -> Self {
        self.sqlite(path, SqliteOptions::default())
    }

    /// Keep entries in a SQLite file with explicit connection options.
    pub fn sqlite(mut self, path: impl Into<PathBuf>, options: SqliteOptions) -> Self {
        self.paths.push(StoreChoice::Path(path.into(), options));
        self
    }

    /// Keep entries in any [`Store`]. The cache closes it on `close()` (compat).
    pub fn store(self, store: impl Store + 'static) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// Keep entries in a store the caller also holds.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.paths.push(StoreChoice::Store(store));
        self
    }

    /// Minimum cosine similarity for a semantic hit (default 0.85), finite and in [-1, 1].
    pub fn similarity_threshold(mut self, t: f64) -> Self {
        self.similarity_threshold = t;
        self
    }

    /// TTL in seconds for puts that give none (default: no expiry). ≤ 0 expires on next read.
    pub fn default_ttl(mut self, seconds: i64) -> Self {
        self.config.default_ttl = Some(seconds);
        self
    }

    /// Global LRU cap on entries (default: none).
    pub fn max_entries(mut self, n: u64) -> Self {
        self.config.max_entries = Some(n);
        self
    }

    /// A per-namespace LRU cap; takes precedence over `max_entries` for puts in that namespace.
    pub fn namespace_quota(mut self, namespace: impl Into<String>, cap: u64) -> Self {
        let namespace = namespace.into();
        self.config
            .namespace_quotas
            .retain(|(n, _)| *n != namespace);
        self.config.namespace_quotas.push((namespace, cap));
        self
    }

    /// Replaces the default confidence (`similarity × 0.5^(age/24h)`).
    pub fn confidence_fn(
        mut self,
        f: impl Fn(f64, i64, &crate::Metadata) -> f64 + Send + Sync + 'static,
    ) -> Self {
        self.config.confidence_fn = Some(Arc::new(f));
        self
    }

    /// Replaces the default validator (rejects empty and `[LLM Error]`/`[ERROR]` responses).
    pub fn validator(mut self, f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.config.validator = Some(Arc::new(f));
        self
    }

    /// Adds a verifier stage: a semantic candidate that passes the threshold is served only if
    /// `verifier` accepts the pair (new query, the candidate's stored query). A refusal moves
    /// on to the next candidate; a get that ends on refusals is the miss `verifier_rejected`.
    /// Off by default (1.0's decisions); see [`crate::verify`] for the built-in ones.
    pub fn verifier(self, verifier: impl Verifier + 'static) -> Self {
        self.shared_verifier(Arc::new(verifier))
    }

    /// Same, with a verifier the caller also holds.
    pub fn shared_verifier(mut self, verifier: Arc<dyn Verifier>) -> Self {
        self.config.verifier = Some(verifier);
        self
    }

    /// Receives `hit`, `miss`, `eviction` and `expired` events.
    pub fn metrics_hook(mut self, f: impl Fn(&crate::MetricEvent) + Send + Sync + 'static) -> Self {
        self.config.metrics_hook = Some(Arc::new(f));
        self
    }

    /// Receives `(rows done, rows in all)` while an HNSW graph is built from the store (at
    /// open, on rebuilds), after each chunk of rows: for a progress bar. The build also logs
    /// its progress every 10 s.
    pub fn on_build_progress(mut self, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.config.build_progress = Some(Arc::new(f));
        self
    }

    /// Query normalisation for the exact layer and the embedder input (default on).
    pub fn normalize(mut self, on: bool) -> Self {
        self.config.normalize = on;
        self
    }

    /// Index backend (default [`IndexBackend::Auto`]).
    pub fn index_backend(mut self, b: IndexBackend) -> Self {
        self.config.index_backend = b;
        self
    }

    /// Index tuning.
    pub fn index_options(mut self, o: IndexOptions) -> Self {
        self.config.index_options = o;
        self
    }

    /// Index dtype (default float32). The store always keeps float32.
    pub fn vector_dtype(mut self, d: VectorDtype) -> Self {
        self.vector_dtype = Some(d);
        self
    }

    /// Multi-process coordination (default single).
    pub fn multi_process_mode(mut self, m: MultiProcessMode) -> Self {
        self.config.multi_process_mode = m;
        self
    }

    /// Minimum time between coordinator refreshes (default 0).
    pub fn stale_check_interval(mut self, d: Duration) -> Self {
        self.stale_check_interval = d;
        self
    }

    /// Cap on the raw query's UTF-8 bytes at `put` (default 32 768).
    pub fn max_query_bytes(mut self, n: usize) -> Self {
        self.config.max_query_bytes = n;
        self
    }

    /// Cap on the response's UTF-8 bytes at `put` (default 4 MiB).
    pub fn max_response_bytes(mut self, n: usize) -> Self {
        self.config.max_response_bytes = n;
        self
    }

    /// Cap on the metadata's Python-style JSON bytes at `put` (default 65 536).
    pub fn max_metadata_bytes(mut self, n: usize) -> Self {
        self.config.max_metadata_bytes = n;
        self
    }

    /// The time source (default: the system clock). Tests inject a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.config.clock = Arc::new(clock);
        self
    }

    /// Validates the options, opens the store and loads the index.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for misuse (neither or both of path/store, a bad threshold…),
    /// [`Error::Quantization`], the store's open errors ([`Error::EmbedderMismatch`],
    /// [`Error::EmbedderDimension`], [`Error::SchemaMigration`], [`Error::StoreBackend`],
    /// [`Error::CorruptCache`], …) and [`Error::OutOfMemory`] for an index size that cannot be
    /// allocated.
    pub fn open(mut self) -> Result<SemanticCache> {
        self.validate()?;
        let choice = self
            .paths
            .pop()
            .expect("validated: exactly one store choice");
        SemanticCache::open_with(self, choice)
    }

    /// Checks every option without touching any store.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.paths.len() != 1 {
            return Err(Error::invalid_argument(
                "exactly one of path or store is required",
                "call .path(file) for the SQLite default, or .store(store) for any other store",
            ));
        }
        let dim = self.embedder.dim();
        if dim == 0 {
            return Err(Error::invalid_argument(
                "embedder dim is 0",
                "the embedder must report its positive vector length",
            ));
        }
        if dim > MAX_DIM {
            return Err(Error::invalid_argument(
                format!("embedder dim {dim} is above the largest supported, {MAX_DIM}"),
                "check the embedder's dim (embedding models have at most a few thousand dimensions)",
            ));
        }
        check_threshold(self.similarity_threshold)?;
        self.config.index_options.validate()
    }

    /// The SQLite path chosen with [`CacheBuilder::path`], if that is the store choice.
    pub(crate) fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self.paths.as_slice() {
            [StoreChoice::Path(p, _)] => Some(p),
            _ => None,
        }
    }

    /// Sets the dtype unless the caller chose one (used by `loads`: caller options win).
    pub(crate) fn default_vector_dtype(mut self, d: VectorDtype) -> Self {
        self.vector_dtype.get_or_insert(d);
        self
    }

    /// Whether the caller chose a dtype.
    pub(crate) fn has_vector_dtype(&self) -> bool {
        self.vector_dtype.is_some()
    }

    pub(crate) fn into_config(self) -> Config {
        self.config
    }
}

/// The threshold rule shared by the builder and the setter: finite and in [-1, 1].
///
/// # Errors
/// [`Error::InvalidArgument`] naming `similarity_threshold`.
pub fn check_threshold(t: f64) -> Result<()> {
    if t.is_finite() && (-1.0..=1.0).contains(&t) {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            format!("similarity_threshold must be a finite number in [-1, 1], got {t}"),
            "pass a value such as 0.85 (higher is stricter)",
        ))
    }
}
