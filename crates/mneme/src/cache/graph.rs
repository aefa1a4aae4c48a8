//! The HNSW graph saved beside the store, so a large cache opens in seconds instead of
//! rebuilding its graph (minutes at a million rows).
//!
//! An open finds the file (`index_options.graph_path`, else `<sqlite file>.hnsw`) and checks it
//! was built for this embedder, dim, dtype, M and ef_construction, then compares its stamp with
//! the store. The same version counter means the store is as the graph saw it. A later one means
//! writes since (by any process); they are applied from the store's `(id, created_at)` listing
//! (rows added, deleted, overwritten) while they are fewer than half the rows. Otherwise, or for
//! a damaged or foreign file, the graph is rebuilt, with a log line saying why.
//!
//! The file is derived data. A save first brings the graph exactly to the store (one scan of
//! the rows, between two equal reads of the version counter), then replaces the file
//! atomically; so the stamp never claims a state the graph does not hold, and a crash leaves
//! the old file or the new one. Saves happen after a build at open, at close when the graph
//! changed since it was loaded or saved, and on [`SemanticCache::save_index`].

use super::options::Config;
use super::SemanticCache;
use crate::error::{Error, Result};
use crate::index::hnsw::file::{self, GraphHeader, GraphStamp};
use crate::index::{HnswIndex, HnswParams, IndexRow, VectorIndex};
use crate::quant;
use crate::store::Store;
use crate::types::VectorDtype;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// Attempts a save makes to read the store between two equal version counters.
const SAVE_ATTEMPTS: usize = 3;

pub(super) struct GraphFile {
    pub(super) path: PathBuf,
    /// `(address, change count)` of the index the file last matched.
    saved: Mutex<Option<(usize, u64)>>,
}

/// What a save wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedGraph {
    /// The file.
    pub path: PathBuf,
    /// Its header (rows, stamp, size).
    pub header: GraphHeader,
}

/// Where this cache keeps its graph, if anywhere: `graph_path`, else beside a SQLite file;
/// nowhere when `persist_graph` is false.
pub(super) fn graph_file(config: &Config, store: &dyn Store) -> Option<GraphFile> {
    let options = &config.index_options;
    if options.persist_graph == Some(false) {
        return None;
    }
    let path = options.graph_path.clone().or_else(|| {
        let mut name = store.file_path()?.into_os_string();
        name.push(".hnsw");
        Some(PathBuf::from(name))
    })?;
    Some(GraphFile {
        path,
        saved: Mutex::new(None),
    })
}

fn hnsw_of(index: &dyn VectorIndex) -> Option<&HnswIndex> {
    index.as_any().downcast_ref::<HnswIndex>()
}

impl GraphFile {
    /// Records that the file holds `index` as it is now.
    fn mark_saved(&self, index: &dyn VectorIndex) {
        *self.saved.lock() = hnsw_of(index).map(|h| (h as *const HnswIndex as usize, h.changes()));
    }

    /// Whether the file holds `index` as it is now.
    pub(super) fn is_current(&self, index: &dyn VectorIndex) -> bool {
        hnsw_of(index).is_some_and(|h| {
            *self.saved.lock() == Some((h as *const HnswIndex as usize, h.changes()))
        })
    }

    /// The saved graph brought up to the store, or `None` (the reason logged) when it must be
    /// rebuilt. A missing file is not worth a log line.
    pub(super) fn load(
        &self,
        store: &dyn Store,
        params: HnswParams,
        dim: usize,
        dtype: VectorDtype,
        fingerprint: &str,
    ) -> Result<Option<Box<dyn VectorIndex>>> {
        if !self.path.exists() {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let rebuild = |why: &str| {
            log::warn!(target: "mneme.cache", "not using the saved HNSW graph {}: {why}; rebuilding it", self.path.display());
        };
        let (mut index, stamp) = match file::load(&self.path, dim, dtype, params, fingerprint) {
            Ok(loaded) => loaded,
            Err(why) => {
                rebuild(&why);
                return Ok(None);
            }
        };
        let read = started.elapsed();
        let version = store.read_version_counter()?;
        if version < stamp.store_version {
            rebuild("the store's version counter is behind the graph's (the file belongs to another store)");
            return Ok(None);
        }
        let current =
            version == stamp.store_version && store.count(None)? == stamp.keys.len() as u64;
        if !current {
            let drift = Drift::between(&stamp.keys, &store.iter_index_keys()?);
            if drift.size() * 2 > stamp.keys.len().max(1) {
                rebuild(&format!(
                    "{} of its {} rows changed since it was saved, and a rebuild is quicker",
                    drift.size(),
                    stamp.keys.len()
                ));
                return Ok(None);
            }
            drift.apply(store, &mut index, dim)?;
            log::info!(target: "mneme.cache", "saved HNSW graph {}: applied {} additions and overwrites and {} deletions made since it was saved", self.path.display(), drift.changed.len(), drift.removed.len());
        }
        log::info!(target: "mneme.cache", "loaded the HNSW graph of {} rows from {} in {:.2} s ({:.2} s reading the file)", index.len(), self.path.display(), started.elapsed().as_secs_f64(), read.as_secs_f64());
        let index: Box<dyn VectorIndex> = Box::new(index);
        if current {
            self.mark_saved(&*index);
        }
        Ok(Some(index))
    }

    /// Brings `index` (an HNSW one) to the store's rows and writes the file, unless the file
    /// already holds it. Returns what was written; `None` for an index without a graph or one
    /// the file already holds. The caller holds the cache's writer lock, so nothing else
    /// changes the index meanwhile: the store is compared and the file written under the
    /// index's read lock (searches go on), and only the repairs take the write lock.
    /// `built_at` is the store's version counter read before `index` was built from it: while
    /// the store still has it, the index holds exactly its rows and the comparison is skipped
    /// (it would read every row a second time, right after the build did).
    ///
    /// # Errors
    /// A store read error; [`Error::StoreBackend`] when the file cannot be written (the old
    /// one, if any, is then unchanged), or when other processes kept writing through every
    /// attempt to read a consistent state.
    pub(super) fn save(
        &self,
        store: &dyn Store,
        index: &RwLock<Box<dyn VectorIndex>>,
        fingerprint: &str,
        built_at: Option<u64>,
    ) -> Result<Option<SavedGraph>> {
        // The file holds linked rows only. The caller's writer lock keeps new ones from
        // arriving until the save is done; searches go on while the waiting ones are linked.
        super::linker::link_deferred(index, || false)?;
        if index.read().deferred_len() > 0 {
            index.write().finish_deferred()?;
        }
        {
            let index = index.read();
            if hnsw_of(&**index).is_none() || self.is_current(&**index) {
                return Ok(None);
            }
        }
        let dim = index.read().dim();
        for _ in 0..SAVE_ATTEMPTS {
            let read = index.read();
            let version = store.read_version_counter()?;
            let mut seen = HashSet::new();
            let mut differ: Vec<(i64, Vec<f32>, String)> = Vec::new();
            let mut buf = vec![0f32; dim];
            let fresh = built_at == Some(version);
            if !fresh {
                store.scan_index_rows(&mut |id, bytes, ns| {
                    if bytes.len() == dim * 4 {
                        quant::f32_from_le_bytes_into(bytes, &mut buf);
                        seen.insert(id);
                        if read.row_matches(id, &buf, ns) != Some(true) {
                            differ.push((id, buf.clone(), ns.to_owned()));
                        }
                    }
                    Ok(())
                })?;
            }
            let keys = store.iter_index_keys()?;
            if store.read_version_counter()? != version {
                continue;
            }
            let gone: Vec<i64> = hnsw_of(&**read)
                .filter(|_| !fresh)
                .map(|h| h.live_ids().filter(|id| !seen.contains(id)).collect())
                .unwrap_or_default();
            drop(read);
            if !gone.is_empty() || !differ.is_empty() {
                let mut index = index.write();
                for id in gone {
                    index.remove(id);
                }
                let rows: Vec<IndexRow<'_>> = differ
                    .iter()
                    .map(|(id, v, ns)| (*id, v.as_slice(), ns.as_str()))
                    .collect();
                index.append_batch(&rows)?;
            }
            let index = index.read();
            let stamp = GraphStamp {
                store_version: version,
                fingerprint: fingerprint.to_owned(),
                keys: keys.iter().map(|k| (k.id, k.created_at)).collect(),
            };
            let Some(graph) = hnsw_of(&**index) else {
                return Ok(None);
            };
            file::save(graph, &stamp, &self.path).map_err(|e| {
                Error::store_backend(
                    format!("could not save the HNSW graph to {}: {e}", self.path.display()),
                    "free disk space or make the directory writable, or set index_options graph_path to a writable place (persist_graph=false turns saving off); the cache works without the file, opening slower",
                )
            })?;
            self.mark_saved(&**index);
            let header = file::peek(&self.path).map_err(|e| {
                Error::store_backend(
                    format!(
                        "the HNSW graph just saved to {} cannot be read back: {e}",
                        self.path.display()
                    ),
                    "check the disk, then run `mneme index build` again",
                )
            })?;
            return Ok(Some(SavedGraph {
                path: self.path.clone(),
                header,
            }));
        }
        Err(Error::store_backend(
            format!("other processes wrote to the store during each of {SAVE_ATTEMPTS} attempts to save the HNSW graph"),
            "save again when writes pause (the graph file is an optimisation: the cache is correct without it)",
        ))
    }
}

/// Rows that differ between a saved graph's keys and the store's.
struct Drift {
    /// Ids the store no longer has.
    removed: Vec<i64>,
    /// Ids the store has that the graph lacks or holds an older version of.
    changed: Vec<i64>,
}

impl Drift {
    fn between(saved: &[(i64, Option<i64>)], now: &[crate::store::IndexKey]) -> Self {
        let known: HashMap<i64, Option<i64>> = saved.iter().copied().collect();
        let live: HashSet<i64> = now.iter().map(|k| k.id).collect();
        Drift {
            removed: saved
                .iter()
                .map(|k| k.0)
                .filter(|id| !live.contains(id))
                .collect(),
            changed: now
                .iter()
                .filter(|k| known.get(&k.id) != Some(&k.created_at))
                .map(|k| k.id)
                .collect(),
        }
    }

    fn size(&self) -> usize {
        self.removed.len() + self.changed.len()
    }

    fn apply(&self, store: &dyn Store, index: &mut HnswIndex, dim: usize) -> Result<()> {
        for &id in &self.removed {
            index.remove(id);
        }
        let mut rows = Vec::with_capacity(self.changed.len());
        for &id in &self.changed {
            let Some(e) = store.get_by_id(id)? else {
                index.remove(id);
                continue;
            };
            match quant::f32_from_le_bytes(&e.embedding).filter(|v| v.len() == dim) {
                Some(v) => rows.push((id, v, e.namespace)),
                None => {
                    index.remove(id);
                }
            }
        }
        let refs: Vec<IndexRow<'_>> = rows
            .iter()
            .map(|(id, v, ns)| (*id, v.as_slice(), ns.as_str()))
            .collect();
        index.extend(&refs)
    }
}

impl SemanticCache {
    /// Saves the HNSW graph to its file (beside the SQLite file by default, or
    /// `index_options.graph_path`) so the next open loads it instead of rebuilding it. First
    /// brings the graph exactly to the store's rows. Returns what was written; `None` for a
    /// flat index, a cache without a graph file, or a file that already holds this graph.
    ///
    /// # Errors
    /// [`Error::CacheClosed`]; a store read error; [`Error::StoreBackend`] when the file cannot
    /// be written or other processes kept writing (see the remediation).
    pub fn save_index(&self) -> Result<Option<SavedGraph>> {
        self.enter()?;
        let _w = self.writer.lock();
        self.save_graph()
    }

    /// [`Self::save_index`] under the caller's writer lock.
    pub(super) fn save_graph(&self) -> Result<Option<SavedGraph>> {
        let Some(graph) = &self.graph else {
            return Ok(None);
        };
        graph.save(self.store.as_ref(), &self.index, &self.fingerprint, None)
    }

    /// The graph file's path and header, and whether it holds the graph this cache searches;
    /// `None` without an HNSW index or a graph file.
    ///
    /// # Errors
    /// [`Error::CacheClosed`].
    pub fn graph_file(&self) -> Result<Option<(PathBuf, Option<GraphHeader>, bool)>> {
        self.enter()?;
        let Some(graph) = &self.graph else {
            return Ok(None);
        };
        let index = self.index.read();
        if hnsw_of(&**index).is_none() {
            return Ok(None);
        }
        let header = file::peek(&graph.path).ok();
        Ok(Some((
            graph.path.clone(),
            header,
            graph.is_current(&**index),
        )))
    }
}
