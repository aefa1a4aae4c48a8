//! `SemanticCache`: the layered get/put pipeline over a [`Store`] and a [`VectorIndex`].
//!
//! Locking: reads run concurrently. Layer 1 reads the store, Layer 2 searches the index under a
//! read lock. Every mutation (put, delete, expiry, eviction, clear) takes one writer mutex, so the
//! store and the index change together; no lock is held while the embedder runs. Metrics events
//! are queued and delivered after the locks are released.

mod access;
mod callbacks;
mod coordinator;
mod explain;
mod graph;
mod hot;
mod linker;
mod lookup;
mod mmap;
mod options;
mod reuse;
mod thresholds;
mod write;

pub use explain::{Decision, Explanation, Neighbor};
pub use graph::SavedGraph;
pub use lookup::Get;
pub use options::{
    check_threshold, CacheBuilder, IndexOptionValue, IndexOptions, DEFAULT_MAX_METADATA_BYTES,
    DEFAULT_MAX_QUERY_BYTES, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SIMILARITY_THRESHOLD,
};
pub use write::Put;

use crate::counters::Counters;
use crate::embedder::Embedder;
use crate::error::{Error, Result};
use crate::index::{FlatIndex, HnswIndex, HnswParams, LoadHalf, VectorIndex};
use crate::metrics::{self, MetricEvent};
use crate::store::{SqliteStore, Store};
use crate::types::{Health, IndexBackend, MultiProcessMode, Stats, VectorDtype};
use access::AccessBatch;
use options::{Config, StoreChoice};
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Row count from which `auto` would pick HNSW.
const AUTO_HNSW_ROWS: u64 = 500_000;

/// A layered semantic cache. `Send + Sync`: share it between threads with an `Arc`.
///
/// ```
/// # fn main() -> mneme::Result<()> {
/// use mneme::{LexicalEmbedder, SemanticCache, HitLayer};
/// let dir = tempfile::tempdir().unwrap();
/// let cache = SemanticCache::open(dir.path().join("cache.db"), LexicalEmbedder::new(256))?;
/// cache.put("How do I reset my password?", "Settings → Security → Reset.")?;
/// let hit = cache.get("  how do i reset my PASSWORD? ")?.expect("exact hit");
/// assert_eq!(hit.layer, HitLayer::Exact);
/// let near = cache.get("how do I reset my password")?.expect("semantic hit");
/// assert_eq!(near.layer, HitLayer::Semantic);
/// cache.close()?;
/// # Ok(()) }
/// ```
pub struct SemanticCache {
    id: usize,
    store: Arc<dyn Store>,
    embedder: Arc<dyn Embedder>,
    dim: usize,
    fingerprint: String,
    config: Config,
    threshold_bits: AtomicU64,
    /// Per-namespace thresholds (thresholds.rs); the flag spares gets the lock when there are none.
    namespace_thresholds: RwLock<std::collections::BTreeMap<String, f64>>,
    has_namespace_thresholds: AtomicBool,
    namespace_verifiers: RwLock<thresholds::Verifiers>,
    has_namespace_verifiers: AtomicBool,
    closed: AtomicBool,
    /// Serialises mutations so the store and the index change together.
    writer: Mutex<()>,
    index: linker::SharedIndex,
    /// Links the rows puts leave in the index's buffer (HNSW), off the put's path.
    linker: linker::Linker,
    counters: Mutex<Counters>,
    access: Mutex<AccessBatch>,
    /// Repeated exact hits while the store is unchanged.
    hot: Mutex<hot::HotEntries>,
    /// Present in `stale-tolerant` mode.
    stale: Option<Mutex<coordinator::StaleState>>,
    /// mmap-shared mode: the sidecar every process on the host searches.
    mmap: Option<mmap::MmapState>,
    /// Where the HNSW graph is saved, when it is.
    graph: Option<graph::GraphFile>,
}

static NEXT_CACHE_ID: AtomicUsize = AtomicUsize::new(1);

impl SemanticCache {
    /// Starts a builder; see [`CacheBuilder`] for every option and its default.
    pub fn builder(embedder: impl Embedder + 'static) -> CacheBuilder {
        CacheBuilder::new(Arc::new(embedder))
    }

    /// Starts a builder with an embedder the caller also holds.
    pub fn builder_shared(embedder: Arc<dyn Embedder>) -> CacheBuilder {
        CacheBuilder::new(embedder)
    }

    /// Opens (or creates) a cache in a SQLite file with default options.
    ///
    /// # Errors
    /// As [`CacheBuilder::open`].
    pub fn open(
        path: impl Into<std::path::PathBuf>,
        embedder: impl Embedder + 'static,
    ) -> Result<Self> {
        Self::builder(embedder).path(path).open()
    }

    fn open_with(builder: CacheBuilder, choice: StoreChoice) -> Result<Self> {
        let embedder = builder.embedder.clone();
        let threshold = builder.similarity_threshold;
        let dtype = builder.vector_dtype.unwrap_or(VectorDtype::Float32);
        let interval = builder.stale_check_interval;
        let config = builder.into_config();
        let mmap_base = (config.multi_process_mode == MultiProcessMode::MmapShared)
            .then(|| mmap::base_path(&config, &choice))
            .transpose()?;
        let store: Arc<dyn Store> = match choice {
            StoreChoice::Path(path, options) => Arc::new(SqliteStore::with_options(path, options)),
            StoreChoice::Store(store) => store,
        };
        let dim = embedder.dim();
        let fingerprint = embedder.fingerprint().to_owned();
        store.open(&fingerprint, dim)?;
        let built = Self::attach(
            store.clone(),
            embedder,
            dim,
            fingerprint,
            config,
            threshold,
            dtype,
            interval,
            mmap_base,
        );
        if built.is_err() {
            // Do not leak the connection of a cache that failed to open (fix of 1.0).
            let _ = store.close();
        }
        built
    }

    #[allow(clippy::too_many_arguments)]
    fn attach(
        store: Arc<dyn Store>,
        embedder: Arc<dyn Embedder>,
        dim: usize,
        fingerprint: String,
        config: Config,
        threshold: f64,
        dtype: VectorDtype,
        stale_interval: std::time::Duration,
        mmap_base: Option<std::path::PathBuf>,
    ) -> Result<Self> {
        let mut counters = Counters::default();
        if let Ok(Some(text)) = store.read_meta("counters") {
            if !counters.restore(&text) {
                log::warn!(target: "mneme.cache", "stored counters are not valid JSON; starting from zero");
            }
        }
        for (ns, cap) in &config.namespace_quotas {
            store.set_namespace_quota(ns, *cap)?;
        }
        let namespace_thresholds = match store.read_meta(thresholds::META_KEY)? {
            Some(text) => thresholds::parse(&text),
            None => Default::default(),
        };
        let namespace_verifiers = match store.read_meta(thresholds::VERIFIERS_KEY)? {
            Some(text) => thresholds::parse_verifiers(&text),
            None => Default::default(),
        };
        let mmap = match mmap_base {
            Some(base) => Some(mmap::MmapState::open(
                store.as_ref(),
                &config,
                base,
                dim,
                dtype,
                &fingerprint,
                stale_interval,
            )?),
            None => None,
        };
        let graph = mmap
            .is_none()
            .then(|| graph::graph_file(&config, store.as_ref()))
            .flatten();
        let index: Box<dyn VectorIndex> = match &mmap {
            Some(m) => Box::new(crate::index::shared::SharedIndex::new(m.matrix.clone())),
            None => {
                let saved = graph.as_ref().map(|g| (g, fingerprint.as_str()));
                build_index(
                    store.as_ref(),
                    &config,
                    config.index_backend,
                    dim,
                    dtype,
                    saved,
                )?
            }
        };
        let stale = (config.multi_process_mode == MultiProcessMode::StaleTolerant)
            .then(|| Mutex::new(coordinator::StaleState::new(stale_interval)));
        let access = AccessBatch::since(config.clock.monotonic());
        let cache = SemanticCache {
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            store,
            embedder,
            dim,
            fingerprint,
            config,
            threshold_bits: AtomicU64::new(threshold.to_bits()),
            has_namespace_thresholds: AtomicBool::new(!namespace_thresholds.is_empty()),
            namespace_thresholds: RwLock::new(namespace_thresholds),
            has_namespace_verifiers: AtomicBool::new(!namespace_verifiers.is_empty()),
            namespace_verifiers: RwLock::new(namespace_verifiers),
            closed: AtomicBool::new(false),
            writer: Mutex::new(()),
            index: Arc::new(RwLock::new(index)),
            linker: linker::Linker::default(),
            counters: Mutex::new(counters),
            access: Mutex::new(access),
            hot: Mutex::default(),
            stale,
            mmap,
            graph,
        };
        cache.attach_coordinator()?;
        Ok(cache)
    }

    /// The cache's time source (the builder's clock).
    pub(crate) fn clock(&self) -> &dyn crate::clock::Clock {
        self.config.clock.as_ref()
    }

    /// The embedder's dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The store behind the cache.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The current similarity threshold (lock-free).
    pub fn similarity_threshold(&self) -> f64 {
        f64::from_bits(self.threshold_bits.load(Ordering::Relaxed))
    }

    /// Changes the threshold for later gets.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless finite and in [-1, 1] (checked before the closed check).
    pub fn set_similarity_threshold(&self, value: f64) -> Result<()> {
        options::check_threshold(value)?;
        self.enter()?;
        self.threshold_bits
            .store(value.to_bits(), Ordering::Relaxed);
        Ok(())
    }

    /// Whether `close()` has run.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Fails with [`Error::Reentrant`] inside this cache's callbacks, [`Error::CacheClosed`]
    /// after close.
    fn enter(&self) -> Result<()> {
        callbacks::check_not_reentrant(self.id)?;
        self.ensure_open()
    }

    fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::closed("cache"))
        } else {
            Ok(())
        }
    }

    /// Runs `f` and delivers the events it queued once every lock is released.
    fn with_events<T>(&self, f: impl FnOnce(&mut Vec<MetricEvent>) -> Result<T>) -> Result<T> {
        let mut events = Vec::new();
        let out = f(&mut events);
        metrics::dispatch(self.config.metrics_hook.as_ref(), events);
        out
    }

    /// Counters and sizes for one namespace, or aggregated when `namespace` is `None`.
    ///
    /// # Errors
    /// [`Error::CacheClosed`], or the store's read error.
    pub fn stats(&self, namespace: Option<&str>) -> Result<Stats> {
        self.enter()?;
        let entries = self.store.count(namespace)?;
        let c = self.counters.lock().values(namespace);
        let index = self.index.read();
        let dtype = index.dtype();
        Ok(Stats {
            namespace: namespace.map(str::to_owned),
            entries,
            hits_exact: c.hits_exact,
            hits_semantic: c.hits_semantic,
            misses: c.misses,
            evictions: c.evictions,
            expirations: c.expirations,
            embedder_fingerprint: self.fingerprint.clone(),
            vector_dtype: dtype,
            memory_bytes_estimate: crate::quant::memory_bytes_estimate(entries, self.dim, dtype),
            index_memory_bytes: Some(index.memory_bytes()),
            index_tombstone_count: Some(index.tombstone_count() as u64),
            index_graph_bytes: index.graph_bytes(),
        })
    }

    /// A health report. Integrity problems are reported, not raised.
    ///
    /// # Errors
    /// [`Error::CacheClosed`], or a store read error other than the integrity check.
    pub fn health(&self) -> Result<Health> {
        self.enter()?;
        let integrity_ok = self.store.integrity_check().unwrap_or(false);
        let schema_version = self
            .store
            .read_meta("schema_version")?
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1);
        let stored_fp = self
            .store
            .read_meta("embedder_fingerprint")?
            .unwrap_or_default();
        let now = self.config.clock.now();
        let index = self.index.read();
        Ok(Health {
            healthy: integrity_ok,
            schema_version,
            integrity_ok,
            embedder_fingerprint_match: stored_fp == self.fingerprint,
            entries: self.store.count(None)?,
            namespaces: self.store.list_namespaces()?.len() as u64,
            oldest_entry_age_seconds: self
                .store
                .oldest_created_at()?
                .map(|t| now.saturating_sub(t)),
            index_backend: index.backend_name().to_owned(),
            store_backend: self.store.label(),
            vector_dtype: index.dtype(),
            multi_process_mode: self.config.multi_process_mode,
        })
    }

    /// Namespaces holding at least one entry, sorted.
    ///
    /// # Errors
    /// [`Error::CacheClosed`], or the store's read error.
    pub fn list_namespaces(&self) -> Result<Vec<String>> {
        self.enter()?;
        self.store.list_namespaces()
    }

    /// Deletes every entry of `namespace` and resets its counters; returns how many.
    ///
    /// # Errors
    /// [`Error::CacheClosed`], or the store's write error.
    pub fn clear_namespace(&self, namespace: &str) -> Result<u64> {
        self.enter()?;
        let _w = self.write_lock()?;
        let n = self.store.clear_namespace(namespace)?;
        self.index.write().remove_namespace(namespace);
        self.counters.lock().clear_namespace(namespace);
        Ok(n)
    }

    /// Deletes every entry; counters of the cleared namespaces reset. Returns how many.
    ///
    /// # Errors
    /// [`Error::CacheClosed`], or the store's write error.
    pub fn clear(&self) -> Result<u64> {
        self.enter()?;
        let _w = self.write_lock()?;
        let mut total = 0;
        for ns in self.store.list_namespaces()? {
            total += self.store.clear_namespace(&ns)?;
            self.counters.lock().clear_namespace(&ns);
        }
        let mut index = self.index.write();
        *index = new_index(&self.config, backend_of(&**index), self.dim, index.dtype())?;
        Ok(total)
    }

    /// Rebuilds the index at `dtype` from the store's float32 vectors (so float32 again restores
    /// full precision). The store is not modified.
    ///
    /// # Errors
    /// [`Error::CacheClosed`], or the store's read error.
    pub fn requantize(&self, dtype: VectorDtype) -> Result<()> {
        self.enter()?;
        if let Some(m) = &self.mmap {
            // The shared sidecar is rewritten at `dtype`; every attached process adopts it.
            let _w = self.write_lock()?;
            if m.matrix.dtype() != dtype {
                let generation = m.matrix.record().map_or(0, |r| r.generation);
                m.rebuild_as(self.store.as_ref(), generation, dtype)?;
            }
            return Ok(());
        }
        let _w = self.writer.lock();
        let backend = {
            let index = self.index.read();
            if index.dtype() == dtype {
                return Ok(());
            }
            backend_of(&**index)
        };
        self.rebuild_index(backend, dtype)?;
        Ok(())
    }

    /// Replaces the index with one of `backend` and `dtype` built from the store (an HNSW
    /// graph from its saved file where it can be); returns its row count. The caller holds the
    /// writer lock.
    fn rebuild_index(&self, backend: IndexBackend, dtype: VectorDtype) -> Result<u64> {
        let saved = self.graph.as_ref().map(|g| (g, self.fingerprint.as_str()));
        let rebuilt = build_index(
            self.store.as_ref(),
            &self.config,
            backend,
            self.dim,
            dtype,
            saved,
        )?;
        let rows = rebuilt.len() as u64;
        *self.index.write() = rebuilt;
        Ok(rows)
    }

    /// Reclaims index memory held by tombstones; returns how many were reclaimed.
    ///
    /// # Errors
    /// [`Error::CacheClosed`].
    pub fn compact(&self) -> Result<u64> {
        self.enter()?;
        let _w = self.write_lock()?;
        Ok(self.index.write().compact() as u64)
    }

    /// Persists counters and pending access times, then closes the store (even a caller's
    /// store, compat). A second call is a no-op.
    ///
    /// # Errors
    /// [`Error::Reentrant`] when called from this cache's confidence function or validator.
    pub fn close(&self) -> Result<()> {
        callbacks::check_not_reentrant(self.id)?;
        let _w = self.writer.lock();
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.linker.stop();
        if let Err(e) = self.flush_access() {
            log::warn!(target: "mneme.cache", "could not flush access times on close: {e}");
        }
        if let Err(e) = self.persist_counters() {
            log::warn!(target: "mneme.cache", "could not persist counters on close: {e}");
        }
        if let Err(e) = self.save_graph() {
            log::warn!(target: "mneme.cache", "{e}");
        }
        let _ = self.store.close();
        if let Some(m) = &self.mmap {
            m.matrix.close();
        }
        self.hot.lock().clear();
        Ok(())
    }

    /// Before a checkpoint: flushes pending access times and persists the counters, so the
    /// store holds the full state (compat: 1.0 persists counters on dumps too).
    pub(crate) fn prepare_checkpoint(&self) -> Result<()> {
        self.enter()?;
        self.flush_access()?;
        self.persist_counters()
    }

    /// `(index backend name, dtype)` for a checkpoint manifest.
    pub(crate) fn index_info(&self) -> (&'static str, VectorDtype) {
        let index = self.index.read();
        (index.backend_name(), index.dtype())
    }

    /// The embedder's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Writes the counters into store meta, merged with what other processes wrote.
    fn persist_counters(&self) -> Result<()> {
        let mut counters = self.counters.lock();
        self.store.merge_meta("counters", &mut |stored| {
            counters.merge_into(stored.as_deref())
        })
    }
}

impl Drop for SemanticCache {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl std::fmt::Debug for SemanticCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemanticCache")
            .field("store", &self.store.label())
            .field("fingerprint", &self.fingerprint)
            .field("dim", &self.dim)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The concrete backend for a cache over `rows` stored rows: `auto` decides here, once; later
/// rebuilds keep the index's current backend (see [`backend_of`]).
fn resolve_backend(requested: IndexBackend, rows: u64) -> IndexBackend {
    match requested {
        IndexBackend::Auto if rows >= AUTO_HNSW_ROWS => IndexBackend::Hnsw,
        IndexBackend::Hnsw => IndexBackend::Hnsw,
        _ => IndexBackend::Flat,
    }
}

/// The backend an existing index was built with.
fn backend_of(index: &dyn VectorIndex) -> IndexBackend {
    if index.backend_name() == "hnsw" {
        IndexBackend::Hnsw
    } else {
        IndexBackend::Flat
    }
}

fn hnsw_params(options: &IndexOptions) -> HnswParams {
    let d = HnswParams::default();
    HnswParams {
        m: options.m.unwrap_or(d.m),
        ef_construction: options.ef_construction.unwrap_or(d.ef_construction),
        ef: options.ef.unwrap_or(d.ef),
        initial_max_elements: options
            .initial_max_elements
            .unwrap_or(d.initial_max_elements),
        int8_walk: options.int8_walk.unwrap_or(d.int8_walk),
    }
}

/// An empty index of `backend`, at its configured starting capacity.
fn new_index(
    config: &Config,
    backend: IndexBackend,
    dim: usize,
    dtype: VectorDtype,
) -> Result<Box<dyn VectorIndex>> {
    if backend == IndexBackend::Hnsw {
        return Ok(Box::new(HnswIndex::new(
            dim,
            dtype,
            hnsw_params(&config.index_options),
        )?));
    }
    Ok(Box::new(empty_flat(config, dim, dtype)?))
}

fn empty_flat(config: &Config, dim: usize, dtype: VectorDtype) -> Result<FlatIndex> {
    let initial = config
        .index_options
        .initial_capacity
        .unwrap_or(crate::index::flat::DEFAULT_INITIAL_CAPACITY);
    FlatIndex::with_capacity(dim, dtype, initial)
}

/// Decodes a stored little-endian f32 embedding into `buf`; a wrong length is logged and
/// skipped (Layer 1 still serves that entry).
fn decode_row(id: i64, bytes: &[u8], buf: &mut [f32]) -> bool {
    if bytes.len() != buf.len() * 4 {
        warn_bad_row(id, bytes.len(), buf.len());
        return false;
    }
    crate::quant::f32_from_le_bytes_into(bytes, buf);
    true
}

/// A store visitor that writes rows into one half of a bulk load.
fn row_sink<'h, 'b>(
    half: &'h mut LoadHalf<'b>,
    dim: usize,
) -> impl FnMut(i64, &[u8], &str) -> Result<()> + Send + use<'h, 'b> {
    move |id, bytes, ns| {
        if !half.push(id, bytes, ns) {
            warn_bad_row(id, bytes.len(), dim);
        }
        Ok(())
    }
}

/// Logs how an HNSW build goes, since a large graph takes minutes: after its first chunk, then
/// every 10 s, with the time left at the rate so far. Early rows are the cheapest (the graph is
/// small), so the estimate is a lower bound that grows as the build goes, and says so.
struct BuildProgress<'a> {
    hook: Option<&'a options::BuildProgressHook>,
    total: u64,
    started: std::time::Instant,
    last: std::cell::Cell<Option<std::time::Instant>>,
}

impl<'a> BuildProgress<'a> {
    fn new(total: u64, hook: Option<&'a options::BuildProgressHook>) -> Self {
        BuildProgress {
            hook,
            total,
            started: std::time::Instant::now(),
            last: std::cell::Cell::new(None),
        }
    }

    fn report(&self, done: u64) {
        if let Some(hook) = self.hook {
            hook(done.min(self.total), self.total);
        }
        let now = std::time::Instant::now();
        if done == 0 || done >= self.total {
            return;
        }
        if self
            .last
            .get()
            .is_some_and(|t| now - t < std::time::Duration::from_secs(10))
        {
            return;
        }
        self.last.set(Some(now));
        let spent = (now - self.started).as_secs_f64();
        let left = spent * (self.total - done) as f64 / done as f64;
        log::info!(target: "mneme.cache", "HNSW build: {done} of {} rows in {spent:.1} s; about {left:.0} s to go at this rate (at least: later rows cost more)", self.total);
    }
}

fn warn_bad_row(id: i64, bytes: usize, dim: usize) {
    log::warn!(target: "mneme.cache", "entry {id} has a {bytes}-byte embedding, expected {}; Layer 1 still serves it", dim * 4);
}

/// A rough HNSW build time, from a measured rate (100k × 384 rows, ef_construction 200, two
/// threads of a 2-core server: 46.5 s) scaled by dim, ef_construction, threads and the
/// logarithmic growth of a search's path. Good to a factor of two: enough to warn of minutes.
fn expected_build_seconds(rows: u64, dim: usize, ef_construction: usize, threads: usize) -> f64 {
    let rows = rows as f64;
    let per_row = 46.5 / 100_000.0;
    let depth = rows.max(2.0).ln() / 100_000f64.ln();
    rows * per_row * depth * (dim as f64 / 384.0) * (ef_construction as f64 / 200.0) * 2.0
        / threads.max(1) as f64
}

/// Rows read from the store per [`VectorIndex::append_batch`] while building an HNSW graph.
const HNSW_LOAD_CHUNK: usize = 4096;

/// Builds an index from every store row in ascending id order. `requested` is the configured
/// backend at open (so `auto` resolves on the row count counted here), then the existing
/// index's [`backend_of`] on rebuilds. An HNSW graph comes from `saved` (its file and the
/// embedder fingerprint) when that file can be used, and a graph built here is saved there.
fn build_index(
    store: &dyn Store,
    config: &Config,
    requested: IndexBackend,
    dim: usize,
    dtype: VectorDtype,
    saved: Option<(&graph::GraphFile, &str)>,
) -> Result<Box<dyn VectorIndex>> {
    let rows = store.count(None)?;
    let backend = resolve_backend(requested, rows);
    let Some((file, fingerprint)) = saved.filter(|_| backend == IndexBackend::Hnsw) else {
        return scan_into_index(store, config, backend, rows, dim, dtype);
    };
    let params = hnsw_params(&config.index_options);
    if let Some(index) = file.load(store, params, dim, dtype, fingerprint)? {
        return Ok(index);
    }
    let started = std::time::Instant::now();
    let built_at = store.read_version_counter()?;
    let index = scan_into_index(store, config, backend, rows, dim, dtype)?;
    if index.is_empty() {
        return Ok(index);
    }
    log::info!(target: "mneme.cache", "built the HNSW graph of {} rows in {:.1} s", index.len(), started.elapsed().as_secs_f64());
    let started = std::time::Instant::now();
    let index = RwLock::new(index);
    match file.save(store, &index, fingerprint, Some(built_at)) {
        Ok(Some(s)) => {
            log::info!(target: "mneme.cache", "saved the HNSW graph to {} ({} bytes) in {:.1} s: the next open loads it", s.path.display(), s.header.bytes, started.elapsed().as_secs_f64())
        }
        Ok(None) => {}
        Err(e) => log::warn!(target: "mneme.cache", "{e}"),
    }
    Ok(index.into_inner())
}

/// [`build_index`]'s scan of the store into a new index of `backend`.
fn scan_into_index(
    store: &dyn Store,
    config: &Config,
    backend: IndexBackend,
    rows: u64,
    dim: usize,
    dtype: VectorDtype,
) -> Result<Box<dyn VectorIndex>> {
    let mut buf = vec![0f32; dim];
    let mut skipped = 0u64;
    let index: Box<dyn VectorIndex> = if backend == IndexBackend::Hnsw {
        if rows > 0 {
            let threads = rayon::current_num_threads();
            let params = hnsw_params(&config.index_options);
            log::info!(target: "mneme.cache", "building the HNSW graph over {rows} rows on {threads} threads: roughly {:.0} s (estimated; the progress lines refine it)", expected_build_seconds(rows, dim, params.ef_construction, threads));
        }
        let mut index = new_index(config, backend, dim, dtype)?;
        // Rows go to the index in chunks, whose neighbour searches run in parallel; a chunk,
        // not the whole store, is held in memory besides the index.
        let mut chunk: Vec<(i64, Vec<f32>, String)> = Vec::with_capacity(HNSW_LOAD_CHUNK);
        let progress = BuildProgress::new(rows, config.build_progress.as_ref());
        let flush = |index: &mut Box<dyn VectorIndex>, chunk: &mut Vec<_>| {
            let rows: Vec<_> = chunk
                .iter()
                .map(|(id, v, ns): &(i64, Vec<f32>, String)| (*id, v.as_slice(), ns.as_str()))
                .collect();
            let done = index.append_batch(&rows);
            chunk.clear();
            progress.report(index.len() as u64);
            done
        };
        store.scan_index_rows(&mut |id, bytes, ns| {
            if decode_row(id, bytes, &mut buf) {
                chunk.push((id, buf.clone(), ns.to_owned()));
                if chunk.len() == HNSW_LOAD_CHUNK {
                    flush(&mut index, &mut chunk)?;
                }
            } else {
                skipped += 1;
            }
            Ok(())
        })?;
        flush(&mut index, &mut chunk)?;
        index
    } else {
        let mut index = empty_flat(config, dim, dtype)?;
        skipped = index.bulk_load(rows as usize, |low, high| {
            if !store.scan_index_rows_split(&mut row_sink(low, dim), &mut row_sink(high, dim))? {
                store.scan_index_rows(&mut row_sink(low, dim))?;
            }
            Ok(())
        })? as u64;
        Box::new(index)
    };
    if index.len() as u64 + skipped != rows {
        log::info!(target: "mneme.cache", "index holds {} rows, store counted {rows}", index.len());
    }
    Ok(index)
}
