//! HNSW: an approximate index for large caches. One graph per namespace
//! (so tenants never see each other's rows), cosine similarity on the same dtype kernels as the
//! flat index, all three dtypes.
//!
//! Deleted rows stay in the graph as tombstones (they still route searches) and are filtered
//! from results; `compact` rebuilds from the live rows. Overwriting an id tombstones its old node
//! and inserts a new one.

pub mod file;
mod links;
mod pending;
mod plan;
mod walk;

use super::flat::FlatIndex;
use super::{Candidate, DeferredWork, IndexRow, VectorIndex};
use crate::error::{Error, Result};
use crate::types::VectorDtype;
use links::Links;
use parking_lot::RwLock;
use pending::Pending;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use walk::{Routing, Walker};

/// The largest `M` accepted: layer 0 keeps `2 × M` links a node, so past this a graph costs
/// more memory than the vectors for no gain in recall.
pub const MAX_M: usize = 4096;

/// Rows [`HnswIndex::extend`] inserts one by one before it starts batching.
pub const SEQUENTIAL_FIRST: usize = 1024;

/// The largest batch [`HnswIndex::extend`] searches in parallel.
pub const MAX_BATCH: usize = 1024;

/// The widest default beam at layer 1, whose nodes all enter layer 0 (the default is `ef` up
/// to this). One greedy entry can land in the wrong cluster of tightly clustered rows, where a
/// beam of `ef` does not always find its way out: 1M clustered rows × 384 at ef 50 gave
/// recall@1 0.930 with one entry, 0.965 with a beam of 16 and 0.988 with 32, for about a
/// quarter more time than one entry (`benches/hnsw_recall.rs`). At 768 dims 32 was not enough
/// (1M rows, ef 50, int8 walk: 0.965 with 32, 0.988 with 50, for 1.2x the time).
pub const LAYER1_BEAM: usize = 64;

/// A build's beam on an int8 walk, in percent of `ef_construction`. Rounding to 8 bits
/// reorders close neighbours, so a beam of `ef_construction` on the copy misses some that the
/// stored rows would keep (1M clustered rows x 768: recall@1 at ef 50 fell from 0.985 to
/// 0.970); the wider beam, re-scored on the stored rows and cut back to `ef_construction`,
/// wins them back (0.988) and still builds 1.2x faster than hnswlib there (BENCHMARKS.md).
const BUILD_BEAM_PERCENT: usize = 150;

/// HNSW tuning; defaults are 1.0's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node above layer 0 (layer 0 keeps `2 × m`).
    pub m: usize,
    /// Beam width while building.
    pub ef_construction: usize,
    /// Beam width while searching (at least `k`).
    pub ef: usize,
    /// Starting capacity in rows.
    pub initial_max_elements: usize,
    /// float32 graphs: searches and a build's neighbour searches walk an int8 copy of the rows
    /// (a quarter of the bytes a visited node reads), then re-rank the walk's beam on the
    /// float32 rows. Costs `dim + 4` bytes a row.
    pub int8_walk: bool,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            ef: 50,
            initial_max_elements: 10_000,
            int8_walk: true,
        }
    }
}

/// How one search explores the graph; [`HnswIndex::search_with`] takes it, and
/// [`VectorIndex::search`] uses [`HnswParams::ef`] and an entry beam of `ef` up to
/// [`LAYER1_BEAM`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchParams {
    /// Beam width at layer 0 (raised to `k`).
    pub ef: usize,
    /// Beam width at layer 1, whose nodes all enter layer 0 (1 = hnswlib's single entry).
    pub entry_beam: usize,
}

/// A scored node: ordered by score (higher is closer), ties by lower node index.
#[derive(Clone, Copy, PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// The nodes one search has visited, reused by every search of this thread: a node is visited
/// when its mark equals the current epoch, so a search starts with an increment instead of
/// allocating and clearing a bit per node of the graph. A mark is one byte, so a million
/// nodes' marks (read at random, once per neighbour) fit in a core's L2 cache; clearing them
/// every 255th search costs less than the misses wider marks would take.
#[derive(Default)]
struct Visited {
    marks: Vec<u8>,
    epoch: u8,
}

impl Visited {
    /// Forgets every visit, for a graph of `nodes` nodes.
    fn start(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Starts loading `node`'s mark.
    #[inline]
    fn prefetch(&self, node: u32) {
        if let Some(mark) = self.marks.get(node as usize) {
            super::prefetch::prefetch(mark);
        }
    }

    /// Whether `node` is visited for the first time (and marks it).
    fn first(&mut self, node: u32) -> bool {
        let mark = &mut self.marks[node as usize];
        let first = *mark != self.epoch;
        *mark = self.epoch;
        first
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::default();
}

/// One namespace's graph: its entry point and height (links live in [`HnswIndex`]'s `links`).
#[derive(Default, Clone, Copy)]
struct Graph {
    entry: Option<u32>,
    top_level: usize,
}

/// The HNSW index.
pub struct HnswIndex {
    params: HnswParams,
    /// Vectors and ids live in a flat store (one arena per dtype, same kernels); node index =
    /// its insertion order there.
    rows: FlatIndex,
    nodes: Vec<(i64, u32)>,
    /// Fast hashes: keys are the store's sequential ids and our node numbers.
    node_of: FxHashMap<i64, u32>,
    dead: FxHashSet<u32>,
    /// A node only ever links within its own namespace's graph.
    links: Links,
    graphs: HashMap<String, Graph>,
    namespaces: Vec<String>,
    rng: u64,
    /// Rises with every change to the graph, so a saved copy can tell whether it is still
    /// this graph.
    changes: u64,
    /// Rows taken by [`VectorIndex::append_deferred`], not linked yet.
    pending: RwLock<Pending>,
    /// What searches walk on, for float32 rows with [`HnswParams::int8_walk`].
    routing: Routing,
}

impl HnswIndex {
    /// An empty index.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero `dim` or parameter.
    pub fn new(dim: usize, dtype: VectorDtype, params: HnswParams) -> Result<Self> {
        if params.m == 0
            || params.ef_construction == 0
            || params.ef == 0
            || params.initial_max_elements == 0
        {
            return Err(Error::invalid_argument(
                format!("invalid HNSW parameters {params:?}"),
                "use positive M, ef_construction, ef and initial_max_elements",
            ));
        }
        if params.m > MAX_M {
            return Err(Error::invalid_argument(
                format!(
                    "HNSW M = {} is above the largest useful value, {MAX_M}",
                    params.m
                ),
                "use M between 4 and 64 (default 16): recall stops improving long before the cap",
            ));
        }
        Ok(HnswIndex {
            params,
            rows: FlatIndex::with_capacity(dim, dtype, params.initial_max_elements)?,
            nodes: Vec::new(),
            node_of: FxHashMap::default(),
            dead: FxHashSet::default(),
            links: Links::new(2 * params.m),
            graphs: HashMap::new(),
            namespaces: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
            changes: 0,
            pending: RwLock::new(Pending::new(dim, dtype)),
            routing: Routing::default(),
        })
    }

    /// The node's vector, scored against `q` with the dtype's kernel.
    fn node_score(&self, node: u32, q: &[f32]) -> f32 {
        self.rows.score_offset(node as usize, q)
    }

    fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            2 * self.params.m
        } else {
            self.params.m
        }
    }

    /// Whether searches walk a [`Routing`] copy.
    fn routes(&self) -> bool {
        self.params.int8_walk && self.dtype() == VectorDtype::Float32
    }

    /// Best-first search of one layer from `entries`; returns up to `ef` nodes, best first.
    fn search_layer(
        &self,
        walk: &Walker<'_>,
        entries: &[u32],
        ef: usize,
        level: usize,
    ) -> Vec<Scored> {
        VISITED.with_borrow_mut(|visited| {
            visited.start(self.nodes.len());
            self.search_layer_with(visited, walk, entries, ef, level)
        })
    }

    fn search_layer_with(
        &self,
        visited: &mut Visited,
        walk: &Walker<'_>,
        entries: &[u32],
        ef: usize,
        level: usize,
    ) -> Vec<Scored> {
        let mut frontier: BinaryHeap<Scored> = BinaryHeap::new();
        let mut best: BinaryHeap<std::cmp::Reverse<Scored>> = BinaryHeap::new();
        for &e in entries {
            visited.first(e);
            let s = Scored(walk.score(e), e);
            frontier.push(s);
            best.push(std::cmp::Reverse(s));
        }
        let mut fresh: Vec<u32> = Vec::new();
        while let Some(current) = frontier.pop() {
            let worst = best.peek().map_or(f32::NEG_INFINITY, |r| r.0 .0);
            if best.len() >= ef && current.0 < worst {
                break;
            }
            // The list the next round most likely expands loads while this one is scored.
            if let Some(next) = frontier.peek() {
                self.links.prefetch(next.1, level);
            }
            // Marks, then rows, are scattered reads: start them all before using the first.
            let links = self.links.get(current.1, level);
            for &n in links {
                visited.prefetch(n);
            }
            fresh.clear();
            fresh.extend(links.iter().copied().filter(|&n| visited.first(n)));
            for &n in &fresh {
                walk.prefetch(n);
            }
            for &n in &fresh {
                let s = Scored(walk.score(n), n);
                let worst = best.peek().map_or(f32::NEG_INFINITY, |r| r.0 .0);
                if best.len() < ef || s.0 > worst {
                    frontier.push(s);
                    best.push(std::cmp::Reverse(s));
                    if best.len() > ef {
                        best.pop();
                    }
                }
            }
        }
        let mut out: Vec<Scored> = best.into_iter().map(|r| r.0).collect();
        out.sort_by(|a, b| b.cmp(a));
        out
    }

    /// Descends from the top layer to `down_to + 1` greedily; returns the entry for the rest.
    fn descend(&self, graph: Graph, walk: &Walker<'_>, down_to: usize) -> Option<u32> {
        let mut entry = graph.entry?;
        for level in (down_to + 1..=graph.top_level).rev() {
            entry = self.search_layer(walk, &[entry], 1, level)[0].1;
        }
        Some(entry)
    }

    /// The graph of a namespace slot; empty for a slot not taken yet.
    fn graph_of(&self, ns_slot: u32) -> Graph {
        let ns = self.namespaces.get(ns_slot as usize);
        ns.and_then(|ns| self.graphs.get(ns))
            .copied()
            .unwrap_or_default()
    }

    /// A new node's neighbour candidates at each layer it shares with `graph` (index = layer),
    /// best first by the stored rows' scores. Reads the graph only, so a batch's nodes search
    /// in parallel. The walk is a search's (on the int8 copy where there is one: a build waits
    /// on the same scattered row reads), with a beam [`BUILD_BEAM_PERCENT`] of
    /// `ef_construction`; each layer's beam is then re-scored on the stored rows, so links are
    /// chosen by exact scores.
    fn candidates(&self, graph: Graph, q: &[f32], level: usize) -> Vec<Vec<Scored>> {
        let Some(entry) = graph.entry else {
            return Vec::new();
        };
        let top = level.min(graph.top_level);
        let mut out = vec![Vec::new(); top + 1];
        let walk = Walker::for_search(&self.rows, &self.routing, q);
        let beam = if walk.is_exact() {
            self.params.ef_construction
        } else {
            let ef = self.params.ef_construction;
            (ef.saturating_mul(BUILD_BEAM_PERCENT) / 100).max(ef)
        };
        let mut entries = vec![self.descend(graph, &walk, level).unwrap_or(entry)];
        for l in (0..=top).rev() {
            let mut found = self.search_layer(&walk, &entries, beam, l);
            entries = found.iter().map(|s| s.1).collect();
            if !walk.is_exact() {
                self.rescore(&mut found, q);
            }
            out[l] = found;
        }
        out
    }

    /// `beam` in the stored rows' own scores, best first.
    fn rescore(&self, beam: &mut [Scored], q: &[f32]) {
        for s in beam.iter_mut() {
            s.0 = self.node_score(s.1, q);
        }
        beam.sort_by(|a, b| b.cmp(a));
    }

    fn check_len(&self, vector: &[f32]) -> Result<()> {
        if vector.len() == self.dim() {
            return Ok(());
        }
        Err(Error::invalid_argument(
            format!(
                "vector has {} elements, the index has dim {}",
                vector.len(),
                self.dim()
            ),
            "pass vectors of the index's dimension",
        ))
    }

    /// Stores a row and maps its id (a previous node of the id becomes a tombstone, a waiting
    /// version leaves the buffer); returns its node. The caller links it.
    fn register(&mut self, id: i64, vector: &[f32], namespace: &str) -> Result<u32> {
        self.check_len(vector)?;
        self.changes += 1;
        let node = self.nodes.len() as u32;
        if self.routes() {
            // Room first, so a refusal changes nothing; then both grow together.
            let room = self.rows.capacity().max(2 * self.nodes.len());
            self.routing.reserve(self.dim(), room)?;
        }
        // A fresh internal key per node keeps the flat storage append-only.
        self.rows.append(-(node as i64) - 1, vector, "")?;
        if self.routes() {
            self.routing.push(vector);
        }
        self.pending.get_mut().remove(id);
        if let Some(old) = self.node_of.insert(id, node) {
            self.dead.insert(old);
        }
        let slot = self.ns_slot(namespace);
        self.nodes.push((id, slot));
        Ok(node)
    }

    /// Makes `id`'s node in the graph a tombstone; returns whether it had one.
    fn unlink(&mut self, id: i64) -> bool {
        let Some(node) = self.node_of.remove(&id) else {
            return false;
        };
        self.changes += 1;
        self.dead.insert(node);
        true
    }

    /// Appends `rows` as [`VectorIndex::append`] would one by one, with the neighbour searches
    /// (most of the work) on every core of the shared pool. Past the first
    /// [`SEQUENTIAL_FIRST`] rows, rows go in batches of about 1/16 of the graph (at most
    /// [`MAX_BATCH`]): each node of a batch searches the graph as it stood before the batch,
    /// in parallel; then, in order, it is linked, its batch's earlier nodes of its namespace
    /// counted among its candidates. The graph depends on the rows and the seed only, never on
    /// the number of threads. A wrong-length vector is refused before anything changes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a vector that is not `dim` long;
    /// [`Error::OutOfMemory`] when the rows cannot be stored.
    pub fn extend(&mut self, rows: &[IndexRow<'_>]) -> Result<()> {
        self.extend_on(rows, true)
    }

    /// [`HnswIndex::extend`], with the searches on the calling thread only when `!parallel`
    /// (the same graph): a compaction runs under the cache's index lock, where waiting for pool
    /// threads that may themselves wait for that lock (a caller's `par_iter` of gets) could
    /// deadlock.
    fn extend_on(&mut self, rows: &[IndexRow<'_>], parallel: bool) -> Result<()> {
        rows.iter().try_for_each(|(_, v, _)| self.check_len(v))?;
        let mut rest = rows;
        while let Some(&(id, v, ns)) = rest.first() {
            if self.nodes.len() < SEQUENTIAL_FIRST {
                self.append(id, v, ns)?;
                rest = &rest[1..];
                continue;
            }
            let size = (self.nodes.len() / 16).clamp(1, MAX_BATCH).min(rest.len());
            let (batch, later) = rest.split_at(size);
            self.insert_batch(batch, parallel)?;
            rest = later;
        }
        Ok(())
    }

    /// Inserts a batch as linking its rows one by one would (see [`Self::plan`]), with the
    /// work spread over the pool when `parallel`.
    fn insert_batch(&mut self, rows: &[IndexRow<'_>], parallel: bool) -> Result<()> {
        let plan = self.plan(rows, parallel)?;
        let applied = self.apply(plan, rows)?;
        debug_assert!(
            applied,
            "nothing changes the index between its plan and apply"
        );
        Ok(())
    }

    fn ns_slot(&mut self, namespace: &str) -> u32 {
        match self.namespaces.iter().position(|n| n == namespace) {
            Some(i) => i as u32,
            None => {
                self.namespaces.push(namespace.to_owned());
                (self.namespaces.len() - 1) as u32
            }
        }
    }

    /// Live rows in insertion order, dequantised.
    fn live_rows(&self) -> Vec<(i64, Vec<f32>, String)> {
        let mut nodes: Vec<u32> = self.node_of.values().copied().collect();
        nodes.sort_unstable();
        nodes
            .into_iter()
            .map(|node| {
                let (id, ns) = self.nodes[node as usize];
                (
                    id,
                    self.rows.vector_at(node as usize),
                    self.namespaces[ns as usize].clone(),
                )
            })
            .collect()
    }

    /// Replaces the contents with `rows` (ids, vectors of length `dim`, namespaces) at `dtype`.
    fn rebuild(
        &mut self,
        dtype: VectorDtype,
        rows: &[(i64, Vec<f32>, String)],
        parallel: bool,
    ) -> Result<()> {
        let mut fresh = HnswIndex::new(self.dim(), dtype, self.params)?;
        let refs: Vec<IndexRow<'_>> = rows
            .iter()
            .map(|(id, v, ns)| (*id, v.as_slice(), ns.as_str()))
            .collect();
        fresh.extend_on(&refs, parallel)?;
        // Past every count this index reported, waiting rows included.
        fresh.changes = self.changes() + 1;
        *self = fresh;
        Ok(())
    }

    /// A search with its own beams, for recall studies and callers that trade speed for recall
    /// per query; [`VectorIndex::search`] is this with the index's defaults.
    pub fn search_with(
        &self,
        query: &[f32],
        namespace: &str,
        k: usize,
        tuning: SearchParams,
    ) -> Vec<Candidate> {
        if k == 0 || query.len() != self.dim() {
            return Vec::new();
        }
        let Some(graph) = self.graphs.get(namespace) else {
            return self.pending.read().search(query, namespace, k);
        };
        let q = self.rows.prepare_query(query);
        let walk = Walker::for_search(&self.rows, &self.routing, &q);
        let Some(entry) = self.descend(*graph, &walk, 1) else {
            return self.pending.read().search(query, namespace, k);
        };
        let entries: Vec<u32> = if graph.top_level >= 1 {
            let beam = self.search_layer(&walk, &[entry], tuning.entry_beam.max(1), 1);
            beam.into_iter().map(|s| s.1).collect()
        } else {
            vec![entry]
        };
        // Tombstones take places in the beam: widen it by the share of the graph they hold (at
        // most twice), so it still ends with about `ef` live rows.
        let ef = tuning.ef.max(k);
        let ef = (ef * self.nodes.len())
            .div_ceil(self.node_of.len().max(1))
            .min(2 * ef);
        let mut walked = self.search_layer(&walk, &entries, ef, 0);
        if !walk.is_exact() {
            self.rescore(&mut walked, &q);
        }
        // Taken after the walk, so puts never wait for one.
        let pending = self.pending.read();
        let linked = walked
            .into_iter()
            .filter(|s| !self.dead.contains(&s.1))
            .map(|s| Candidate {
                id: self.nodes[s.1 as usize].0,
                score: s.0,
            })
            // A waiting row is the latest version of its id.
            .filter(|c| !pending.contains(c.id));
        let mut found: Vec<Candidate> = linked.take(k).collect();
        let waiting = pending.search(query, namespace, k);
        if !waiting.is_empty() {
            // Stable: on equal scores the graph's rows, inserted earlier, stay first.
            found.extend(waiting);
            found.sort_by(|a, b| b.score.total_cmp(&a.score));
            found.truncate(k);
        }
        found
    }

    /// A count that rises with every change (rows in or out, waiting or linked; rebuilds).
    pub fn changes(&self) -> u64 {
        self.changes + self.pending.read().arrivals()
    }

    /// The ids of the live rows in the graph (not those waiting to be linked).
    pub fn live_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.node_of.keys().copied()
    }

    /// Bytes held by the graph's links and node tables and the walk's int8 copy of float32
    /// rows ([`HnswParams::int8_walk`]), apart from the stored vectors.
    pub fn graph_memory_bytes(&self) -> u64 {
        let nodes =
            self.nodes.capacity() * 16 + self.node_of.capacity() * 16 + self.dead.capacity() * 8;
        self.links.memory_bytes() + self.routing.memory_bytes() + nodes as u64
    }

    /// Replaces the contents with `rows`; on a wrong-length vector nothing changes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a vector is not `dim` long.
    pub fn rebuild_from(&mut self, rows: &[(i64, Vec<f32>, String)]) -> Result<()> {
        self.rebuild(self.dtype(), rows, true)
    }

    /// Turns [`HnswParams::int8_walk`] on or off (making or dropping the copy); searches
    /// return the same rows by the same scores either way, but for the walk's order.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when the copy cannot be allocated; nothing changes.
    pub fn set_int8_walk(&mut self, on: bool) -> Result<()> {
        let was = self.params.int8_walk;
        self.params.int8_walk = on;
        if !self.routes() {
            self.routing = Routing::default();
        } else if !was || self.routing.is_empty() {
            let capacity = self.rows.capacity();
            self.routing =
                Routing::of(&self.rows, self.nodes.len(), capacity).ok_or_else(|| {
                    self.params.int8_walk = was;
                    Error::out_of_memory(
                        "cannot allocate the HNSW walk's int8 copy of the rows",
                        "free memory, or keep int8_walk off",
                    )
                })?;
        }
        Ok(())
    }

    /// Rebuilds the graph over the stored copies converted to `dtype` (lossy when narrowing).
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when the new index cannot be allocated; nothing changes.
    pub fn requantize(&mut self, dtype: VectorDtype) -> Result<()> {
        if dtype == self.dtype() {
            return Ok(());
        }
        self.finish_deferred()?;
        let live = self.live_rows();
        self.rebuild(dtype, &live, true)
    }
}

/// The next node's level, drawn from the generator `rng`: floor(-ln(U) / ln(M)).
fn random_level(rng: &mut u64, m: usize) -> usize {
    // xorshift
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let u = ((*rng >> 11) as f64 / (1u64 << 53) as f64).max(1e-12);
    (-u.ln() / (m.max(2) as f64).ln()) as usize
}

/// `items` mapped by `f`, in order: on every core of the shared pool when `parallel`, else on
/// the calling thread.
fn pool_map<T: Send, R: Send>(
    parallel: bool,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync + Send,
) -> Vec<R> {
    if parallel {
        items.into_par_iter().map(f).collect()
    } else {
        items.into_iter().map(f).collect()
    }
}

impl VectorIndex for HnswIndex {
    fn dim(&self) -> usize {
        self.rows.dim()
    }

    fn dtype(&self) -> VectorDtype {
        self.rows.dtype()
    }

    fn append(&mut self, id: i64, vector: &[f32], namespace: &str) -> Result<()> {
        self.insert_batch(&[(id, vector, namespace)], false)
    }

    fn append_batch(&mut self, rows: &[IndexRow<'_>]) -> Result<()> {
        self.extend(rows)
    }

    /// Keeps the row in a buffer that searches scan exactly, for [`Self::plan_deferred`] and
    /// [`Self::apply_deferred`] to link; refuses (`Ok(false)`) when about a million elements
    /// wait already.
    fn append_deferred(&self, id: i64, vector: &[f32], namespace: &str) -> Result<bool> {
        self.check_len(vector)?;
        self.pending.write().push(id, vector, namespace)
    }

    fn deferred_len(&self) -> usize {
        self.pending.read().len()
    }

    /// Plans linking the oldest waiting row, the unit that keeps each plan short: a plan runs
    /// under the caller's shared lock, which writers wait for.
    fn plan_deferred(&self) -> Option<DeferredWork> {
        let oldest = self.pending.read().oldest()?;
        // Only an allocation failure can refuse: the row stays waiting.
        let plan = self.plan(&[oldest.row()], false).ok()?;
        Some(DeferredWork::new((plan, oldest)))
    }

    fn apply_deferred(&mut self, work: DeferredWork) -> Result<bool> {
        let Some((plan, row)) = work.take::<(plan::Plan, pending::Waiting)>() else {
            return Ok(false);
        };
        if !self.pending.get_mut().is_oldest(&row) {
            return Ok(false);
        }
        self.apply(plan, &[row.row()])
    }

    /// Links the waiting rows one by one, each leaving the buffer only once it is linked.
    fn finish_deferred(&mut self) -> Result<()> {
        while let Some(work) = self.plan_deferred() {
            self.apply_deferred(work)?;
        }
        match self.pending.get_mut().len() {
            0 => Ok(()),
            n => Err(Error::out_of_memory(
                format!("{n} rows could not be linked into the HNSW graph: out of memory"),
                "free memory and retry; the rows are still found by searches meanwhile",
            )),
        }
    }

    fn remove(&mut self, id: i64) -> bool {
        let waiting = self.pending.get_mut().remove(id);
        self.unlink(id) || waiting
    }

    fn remove_namespace(&mut self, namespace: &str) -> usize {
        let waiting: Vec<i64> = self.pending.get_mut().ids_in(namespace).collect();
        let linked: Vec<i64> = match self.namespaces.iter().position(|n| n == namespace) {
            Some(slot) => self
                .node_of
                .iter()
                .filter(|(_, &node)| self.nodes[node as usize].1 == slot as u32)
                .map(|(&id, _)| id)
                .collect(),
            None => Vec::new(),
        };
        let mut removed = waiting.iter().filter(|&&id| self.remove(id)).count();
        for id in linked {
            if self.pending.get_mut().contains(id) {
                // Its latest version waits in another namespace: only this one goes.
                self.unlink(id);
            } else {
                removed += usize::from(self.unlink(id));
            }
        }
        removed
    }

    fn search(&self, query: &[f32], namespace: &str, k: usize) -> Vec<Candidate> {
        let tuning = SearchParams {
            ef: self.params.ef,
            entry_beam: self.params.ef.min(LAYER1_BEAM),
        };
        self.search_with(query, namespace, k, tuning)
    }

    fn score(&self, id: i64, query: &[f32]) -> Option<f32> {
        if let Some(score) = self.pending.read().score(id, query) {
            return Some(score);
        }
        let node = *self.node_of.get(&id)?;
        let q = self.rows.prepare_query(query);
        Some(self.rows.exact_score_offset(node as usize, &q))
    }

    fn row_matches(&self, id: i64, vector: &[f32], namespace: &str) -> Option<bool> {
        if let Some(matches) = self.pending.read().row_matches(id, vector, namespace) {
            return Some(matches);
        }
        let node = *self.node_of.get(&id)?;
        let same_ns = self.namespaces[self.nodes[node as usize].1 as usize] == namespace;
        Some(same_ns && self.rows.row_matches(-(node as i64) - 1, vector, "") == Some(true))
    }

    fn len(&self) -> usize {
        let pending = self.pending.read();
        let only_waiting = pending.ids().filter(|id| !self.node_of.contains_key(id));
        self.node_of.len() + only_waiting.count()
    }

    /// Vector storage, as the flat index counts it (the rows waiting to be linked included);
    /// the graph is [`Self::graph_bytes`].
    fn memory_bytes(&self) -> u64 {
        self.rows.memory_bytes() + self.pending.read().memory_bytes()
    }

    fn graph_bytes(&self) -> Option<u64> {
        Some(self.graph_memory_bytes())
    }

    fn tombstone_count(&self) -> usize {
        self.dead.len()
    }

    fn compact(&mut self) -> usize {
        let before = self.dead.len();
        if before == 0 {
            return 0;
        }
        if self.finish_deferred().is_err() {
            return 0; // out of memory: the tombstones stay, searches skip them
        }
        let live = self.live_rows();
        self.rebuild(self.dtype(), &live, false)
            .expect("stored rows have the index's dim");
        before
    }

    fn backend_name(&self) -> &'static str {
        "hnsw"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::random_unit as unit;
    use std::collections::HashSet;

    const DIM: usize = 32;

    fn filled(dtype: VectorDtype, n: i64) -> HnswIndex {
        let mut idx = HnswIndex::new(DIM, dtype, HnswParams::default()).unwrap();
        for id in 1..=n {
            idx.append(id, &unit(DIM, id as u64), "default").unwrap();
        }
        idx
    }

    fn self_recall(idx: &HnswIndex, ids: impl Iterator<Item = i64>) -> f64 {
        let (mut found, mut total) = (0, 0);
        for id in ids {
            total += 1;
            let top = idx.search(&unit(DIM, id as u64), "default", 1);
            found += usize::from(top.first().map(|c| c.id) == Some(id));
        }
        found as f64 / total as f64
    }

    #[test]
    fn visit_marks_start_fresh_on_every_search_across_the_epoch_wrap() {
        let mut visited = Visited::default();
        for search in 0..600 {
            visited.start(4 + search % 3);
            assert!(visited.first(3), "search {search}: node 3 is fresh");
            assert!(!visited.first(3), "search {search}: then visited");
            if search % 7 == 0 {
                assert!(visited.first(1), "search {search}: node 1 is fresh");
            }
        }
    }

    #[test]
    fn every_stored_vector_finds_itself_first_in_every_dtype() {
        for dtype in [
            VectorDtype::Float32,
            VectorDtype::Float16,
            VectorDtype::Int8,
        ] {
            let idx = filled(dtype, 1000);
            assert_eq!(idx.len(), 1000);
            let recall = self_recall(&idx, 1..=1000);
            assert!(recall >= 0.99, "{dtype:?}: self recall {recall}");
        }
    }

    #[test]
    fn top_ten_agrees_with_the_exact_scan() {
        let idx = filled(VectorDtype::Float32, 1500);
        let mut flat = FlatIndex::new(DIM, VectorDtype::Float32).unwrap();
        for id in 1..=1500 {
            flat.append(id, &unit(DIM, id as u64), "default").unwrap();
        }
        let (mut hits, mut total) = (0, 0);
        for seed in 10_000..10_100 {
            let q = unit(DIM, seed);
            let exact: HashSet<i64> = flat
                .search(&q, "default", 10)
                .iter()
                .map(|c| c.id)
                .collect();
            let approx = idx.search(&q, "default", 10);
            assert!(
                approx.windows(2).all(|w| w[0].score >= w[1].score),
                "best first"
            );
            hits += approx.iter().filter(|c| exact.contains(&c.id)).count();
            total += exact.len();
        }
        let recall = hits as f64 / total as f64;
        assert!(recall >= 0.9, "recall@10 {recall}");
    }

    #[test]
    fn a_float32_graph_walks_its_int8_copy_and_ranks_by_its_own_rows() {
        // Lengths far outside int8's range, and unlike: each row of the copy has its own scale.
        let vector = |id: i64| -> Vec<f32> {
            let length = 1000.0 * (1 + id % 7) as f32;
            unit(DIM, id as u64).iter().map(|x| x * length).collect()
        };
        let build = |int8_walk| {
            let params = HnswParams {
                int8_walk,
                ..HnswParams::default()
            };
            let mut idx = HnswIndex::new(DIM, VectorDtype::Float32, params).unwrap();
            for id in 1..=1500 {
                idx.append(id, &vector(id), "default").unwrap();
            }
            idx
        };
        let (walked, mut plain) = (build(true), build(false));
        // A build walks the copy too, and chooses links by the rows' own scores.
        let q = walked.rows.prepare_query(&unit(DIM, 9));
        let graph = walked.graph_of(0);
        let found = walked.candidates(graph, &q, graph.top_level);
        assert_eq!(found.len(), graph.top_level + 1);
        for layer in &found {
            assert!(!layer.is_empty());
            assert!(layer.windows(2).all(|w| w[0] >= w[1]), "best first");
            assert!(layer.iter().all(|s| s.0 == walked.node_score(s.1, &q)));
        }
        plain.set_int8_walk(true).unwrap();
        assert_eq!(plain.routing, walked.routing, "made at once as row by row");
        plain.set_int8_walk(false).unwrap();
        assert!(plain.routing.is_empty());
        assert!(
            walked.graph_memory_bytes() >= plain.graph_memory_bytes() + 1500 * (DIM as u64 + 4)
        );
        let mut flat = FlatIndex::new(DIM, VectorDtype::Float32).unwrap();
        for id in 1..=1500 {
            flat.append(id, &vector(id), "default").unwrap();
        }
        let recall = |idx: &HnswIndex| {
            let mut hits = 0;
            for seed in 20_000..20_100 {
                let q = unit(DIM, seed);
                let exact: HashSet<i64> = flat
                    .search(&q, "default", 10)
                    .iter()
                    .map(|c| c.id)
                    .collect();
                let found = idx.search(&q, "default", 10);
                assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
                for c in &found {
                    // The stored rows' own score, not the copy's.
                    let node = idx.node_of[&c.id];
                    assert_eq!(c.score, idx.node_score(node, &q));
                }
                hits += found.iter().filter(|c| exact.contains(&c.id)).count();
            }
            hits as f64 / 1000.0
        };
        let (with_copy, without) = (recall(&walked), recall(&plain));
        assert!(
            with_copy >= 0.9 && with_copy >= without - 0.03,
            "recall@10 {with_copy} with the copy, {without} without"
        );
        let q = unit(DIM, 7);
        let walk = Walker::for_search(&walked.rows, &walked.routing, &q);
        assert!(!walk.is_exact());
        assert!(Walker::for_search(&plain.rows, &plain.routing, &q).is_exact());
        // The copy's scores approximate the rows' within int8's rounding.
        for node in 0..1500u32 {
            let (approx, own) = (walk.score(node), walked.node_score(node, &q));
            assert!(
                (approx - own).abs() <= 0.02 * own.abs().max(1000.0),
                "{approx} {own}"
            );
        }
    }

    #[test]
    fn an_int8_graph_walks_its_rows_in_bytes_where_the_cpu_can() {
        let idx = filled(VectorDtype::Int8, 600);
        assert!(idx.routing.is_empty(), "int8 rows are their own copy");
        let q = idx.rows.prepare_query(&unit(DIM, 3));
        let walk = Walker::for_search(&idx.rows, &idx.routing, &q);
        assert_eq!(walk.is_exact(), idx.rows.kernels().dot_i8_u8.is_none());
        for c in idx.search(&unit(DIM, 3), "default", 5) {
            assert_eq!(c.score, idx.node_score(idx.node_of[&c.id], &q));
        }
    }

    #[test]
    fn search_is_search_with_the_default_beams_and_any_beam_finds_stored_rows() {
        let idx = filled(VectorDtype::Float32, 3000);
        let default = SearchParams {
            ef: HnswParams::default().ef,
            entry_beam: HnswParams::default().ef.min(LAYER1_BEAM),
        };
        for id in (1..=3000).step_by(97) {
            let q = unit(DIM, id as u64);
            assert_eq!(
                idx.search(&q, "default", 5),
                idx.search_with(&q, "default", 5, default)
            );
            for entry_beam in [0, 1, 64] {
                let tuning = SearchParams { ef: 50, entry_beam };
                assert_eq!(idx.search_with(&q, "default", 1, tuning)[0].id, id);
            }
        }
    }

    #[test]
    fn namespaces_never_see_each_other() {
        let mut idx = HnswIndex::new(DIM, VectorDtype::Float32, HnswParams::default()).unwrap();
        for id in 1..=200 {
            let ns = if id % 2 == 0 { "even" } else { "odd" };
            idx.append(id, &unit(DIM, id as u64), ns).unwrap();
        }
        let q = unit(DIM, 4);
        let even = idx.search(&q, "even", 50);
        assert_eq!(even[0].id, 4);
        assert!(even.iter().all(|c| c.id % 2 == 0));
        assert!(idx.search(&q, "odd", 50).iter().all(|c| c.id % 2 == 1));
        assert!(idx.search(&q, "nobody", 5).is_empty());
        assert_eq!(idx.row_matches(4, &unit(DIM, 4), "even"), Some(true));
        assert_eq!(idx.row_matches(4, &unit(DIM, 4), "odd"), Some(false));
        assert_eq!(idx.remove_namespace("odd"), 100);
        assert!(idx.search(&q, "odd", 5).is_empty());
        assert_eq!(idx.len(), 100);
    }

    #[test]
    fn removed_and_overwritten_rows_are_filtered_then_compacted() {
        let mut idx = filled(VectorDtype::Float32, 500);
        for id in 1..=100 {
            assert!(idx.remove(id));
        }
        assert!(!idx.remove(1), "already gone");
        // Overwrite 200 with 201's vector: a search for that vector finds one of the two.
        idx.append(200, &unit(DIM, 201), "default").unwrap();
        assert_eq!(idx.len(), 400);
        assert_eq!(idx.tombstone_count(), 101);
        let q = unit(DIM, 5);
        assert!(idx.search(&q, "default", 20).iter().all(|c| c.id > 100));
        assert_eq!(idx.score(5, &q), None);
        let top = idx.search(&unit(DIM, 201), "default", 2);
        assert!(top.iter().all(|c| c.id == 200 || c.id == 201) && top.len() == 2);

        assert_eq!(idx.compact(), 101);
        assert_eq!((idx.len(), idx.tombstone_count()), (400, 0));
        assert!(self_recall(&idx, 101..=199) >= 0.99);
        assert!((idx.score(300, &unit(DIM, 300)).unwrap() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn bad_input_is_refused_without_changing_the_index() {
        assert!(HnswIndex::new(
            DIM,
            VectorDtype::Float32,
            HnswParams {
                ef: 0,
                ..Default::default()
            }
        )
        .is_err());
        let mut idx = filled(VectorDtype::Float32, 10);
        assert!(idx.append(11, &[1.0; 3], "default").is_err());
        assert_eq!(idx.len(), 10);
        assert!(idx.search(&[1.0; 3], "default", 5).is_empty());
        assert!(idx.search(&unit(DIM, 1), "default", 0).is_empty());
        assert_eq!(idx.backend_name(), "hnsw");
        let vectors = (DIM * 4 * HnswParams::default().initial_max_elements) as u64;
        assert_eq!(idx.memory_bytes(), vectors, "vectors alone");
        let links = 10 * (1 + 2 * HnswParams::default().m as u64) * 4;
        assert!(
            idx.graph_bytes().unwrap() >= links,
            "the graph is counted apart"
        );
    }

    #[test]
    fn requantize_and_rebuild_replace_the_graph() {
        let mut idx = filled(VectorDtype::Float32, 300);
        idx.requantize(VectorDtype::Int8).unwrap();
        assert_eq!((idx.dtype(), idx.len()), (VectorDtype::Int8, 300));
        assert!(self_recall(&idx, 1..=300) >= 0.99);
        let rows: Vec<(i64, Vec<f32>, String)> = (1..=50)
            .map(|id| (id, unit(DIM, id as u64 + 1000), "default".to_owned()))
            .collect();
        idx.rebuild_from(&rows).unwrap();
        assert_eq!(idx.len(), 50);
        assert_eq!(idx.search(&unit(DIM, 1007), "default", 1)[0].id, 7);
        let bad = vec![(1, vec![0.0; 3], "default".to_owned())];
        assert!(idx.rebuild_from(&bad).is_err());
        assert_eq!(idx.len(), 50, "a failed rebuild changes nothing");
    }

    /// `n` rows in two namespaces, as `extend` takes them.
    fn rows(n: u64) -> Vec<(i64, Vec<f32>, &'static str)> {
        (1..=n)
            .map(|id| {
                (
                    id as i64,
                    unit(DIM, id),
                    if id % 3 == 0 { "b" } else { "a" },
                )
            })
            .collect()
    }

    fn extended(rows: &[(i64, Vec<f32>, &str)]) -> HnswIndex {
        let mut idx = HnswIndex::new(DIM, VectorDtype::Float32, HnswParams::default()).unwrap();
        let refs: Vec<IndexRow<'_>> = rows
            .iter()
            .map(|(id, v, ns)| (*id, v.as_slice(), *ns))
            .collect();
        idx.extend(&refs).unwrap();
        idx
    }

    #[test]
    fn parallel_batches_reach_the_recall_of_one_by_one_inserts() {
        let rows = rows(4000); // past SEQUENTIAL_FIRST: batches of 64 to 250 rows
        let batched = extended(&rows);
        let mut single = HnswIndex::new(DIM, VectorDtype::Float32, HnswParams::default()).unwrap();
        let mut flat = FlatIndex::new(DIM, VectorDtype::Float32).unwrap();
        for (id, v, ns) in &rows {
            single.append(*id, v, ns).unwrap();
            flat.append(*id, v, ns).unwrap();
        }
        assert_eq!(batched.len(), 4000);
        let recall = |idx: &HnswIndex| {
            let mut hits = 0;
            for seed in 50_000..50_200 {
                let q = unit(DIM, seed);
                let ns = if seed % 2 == 0 { "a" } else { "b" };
                let exact: HashSet<i64> = flat.search(&q, ns, 10).iter().map(|c| c.id).collect();
                let got = idx.search(&q, ns, 10);
                assert!(
                    got.iter().all(|c| (c.id % 3 == 0) == (ns == "b")),
                    "namespaces stay apart"
                );
                hits += got.iter().filter(|c| exact.contains(&c.id)).count();
            }
            hits as f64 / 2000.0
        };
        let (b, s) = (recall(&batched), recall(&single));
        assert!(
            b >= 0.9 && b >= s - 0.02,
            "recall@10 batched {b}, one by one {s}"
        );
        let self_hits = rows
            .iter()
            .step_by(7)
            .filter(|(id, v, ns)| batched.search(v, ns, 1).first().map(|c| c.id) == Some(*id))
            .count();
        assert!(
            self_hits * 100 >= rows.len().div_ceil(7) * 99,
            "self recall {self_hits}"
        );
    }

    #[test]
    fn the_graph_does_not_depend_on_the_thread_count() {
        let rows = rows(2500);
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| extended(&rows))
        };
        let (one, two) = (on(1), on(2));
        assert_eq!(one.links, two.links);
        for seed in 0..50 {
            let q = unit(DIM, 90_000 + seed);
            assert_eq!(one.search(&q, "a", 5), two.search(&q, "a", 5));
        }
    }

    #[test]
    fn extend_refuses_a_wrong_length_before_changing_anything_and_upserts_repeated_ids() {
        let mut idx = extended(&rows(1500));
        let (good, short) = (unit(DIM, 9001), vec![0.5f32; DIM - 1]);
        let bad: Vec<IndexRow<'_>> = vec![(9001, &good[..], "a"), (9002, &short[..], "a")];
        assert!(matches!(idx.extend(&bad), Err(Error::InvalidArgument(_))));
        assert_eq!(idx.len(), 1500);
        // The same id twice in one batch: the later row is the live one.
        let (v1, v2) = (unit(DIM, 777_001), unit(DIM, 777_002));
        let again: Vec<IndexRow<'_>> = vec![(5, &v1[..], "a"), (5, &v2[..], "a")];
        idx.extend(&again).unwrap();
        assert_eq!(idx.len(), 1500);
        assert_eq!(idx.search(&v2, "a", 1)[0].id, 5);
        assert!((idx.score(5, &v2).unwrap() - 1.0).abs() < 1e-5);
    }

    /// Links every waiting row the way the cache's linker thread does; returns how many
    /// plans applied.
    fn link_waiting(idx: &mut HnswIndex) -> usize {
        let mut applied = 0;
        while let Some(work) = idx.plan_deferred() {
            applied += usize::from(idx.apply_deferred(work).unwrap());
        }
        applied
    }

    #[test]
    fn waiting_rows_are_found_at_once_and_link_into_the_graph_appends_build() {
        let (mut appended, mut deferred) = (
            filled(VectorDtype::Int8, 300),
            filled(VectorDtype::Int8, 300),
        );
        for id in 301..=400 {
            let ns = if id % 3 == 0 { "other" } else { "default" };
            appended.append(id, &unit(DIM, id as u64), ns).unwrap();
            assert!(deferred
                .append_deferred(id, &unit(DIM, id as u64), ns)
                .unwrap());
        }
        assert_eq!((deferred.deferred_len(), deferred.len()), (100, 400));
        for id in 301..=400 {
            let ns = if id % 3 == 0 { "other" } else { "default" };
            let top = deferred.search(&unit(DIM, id as u64), ns, 3);
            assert_eq!(top[0].id, id, "a waiting row is scanned exactly");
            assert!((deferred.score(id, &unit(DIM, id as u64)).unwrap() - 1.0).abs() < 0.02);
            assert_eq!(
                deferred.row_matches(id, &unit(DIM, id as u64), ns),
                Some(true)
            );
        }
        assert!(deferred
            .search(&unit(DIM, 303), "default", 5)
            .iter()
            .all(|c| c.id != 303));
        let before = deferred.changes();
        assert_eq!(link_waiting(&mut deferred), 100);
        assert!(deferred.changes() > before);
        assert_eq!(deferred.deferred_len(), 0);
        assert_eq!(
            deferred.links, appended.links,
            "the graph of one-by-one appends"
        );
        assert_eq!(deferred.nodes, appended.nodes);
        assert_eq!(deferred.memory_bytes(), appended.memory_bytes());
    }

    #[test]
    fn a_waiting_row_shadows_its_linked_version_until_removed() {
        let mut idx = filled(VectorDtype::Float32, 300);
        let (old, new) = (unit(DIM, 5), unit(DIM, 9_005));
        assert!(idx.append_deferred(5, &new, "default").unwrap());
        assert_eq!(idx.len(), 300);
        assert_eq!(idx.row_matches(5, &new, "default"), Some(true));
        assert!(idx
            .search(&old, "default", 3)
            .iter()
            .all(|c| c.id != 5 || c.score < 0.9));
        assert_eq!(idx.search(&new, "default", 1)[0].id, 5);

        // A plan made before a newer version arrives is refused; the next links the newer.
        let stale = idx.plan_deferred().unwrap();
        let newest = unit(DIM, 19_005);
        assert!(idx.append_deferred(5, &newest, "default").unwrap());
        assert!(!idx.apply_deferred(stale).unwrap());
        assert_eq!(link_waiting(&mut idx), 1);
        assert_eq!(idx.row_matches(5, &newest, "default"), Some(true));
        assert_eq!(idx.search(&newest, "default", 1)[0].id, 5);
        assert_eq!(idx.tombstone_count(), 1);

        // Removal takes a waiting row and its linked version together.
        assert!(idx.append_deferred(6, &new, "default").unwrap());
        assert!(idx.append_deferred(7, &new, "gone").unwrap());
        assert!(idx.remove(6));
        assert_eq!(idx.score(6, &new), None);
        assert!(!idx.remove(6));
        assert_eq!(idx.remove_namespace("gone"), 1);
        assert_eq!(
            (idx.deferred_len(), idx.len()),
            (0, 298),
            "6 and 7 are gone"
        );
        assert!(idx.plan_deferred().is_none());

        // Clearing a namespace leaves the latest version of an id that moved elsewhere.
        assert!(idx.append_deferred(8, &new, "moved").unwrap());
        assert_eq!(idx.remove_namespace("default"), 297);
        assert_eq!(idx.search(&new, "moved", 1)[0].id, 8);
        assert_eq!((idx.len(), idx.deferred_len()), (1, 1));
        idx.finish_deferred().unwrap();
        assert_eq!(idx.search(&new, "moved", 1)[0].id, 8);
        assert!(idx.search(&new, "default", 1).is_empty());
    }

    #[test]
    fn a_full_buffer_refuses_new_ids_and_finishing_links_them_all() {
        const WIDE: usize = 4096; // a small buffer: a million elements are 256 rows
        let mut idx = HnswIndex::new(WIDE, VectorDtype::Float16, HnswParams::default()).unwrap();
        for id in 1..=50 {
            idx.append(id, &unit(WIDE, id as u64), "default").unwrap();
        }
        let mut id = 1000;
        while idx
            .append_deferred(id, &unit(WIDE, id as u64), "default")
            .unwrap()
        {
            id += 1;
        }
        let waiting = idx.deferred_len();
        assert_eq!(waiting, (1 << 20) / WIDE, "a million elements wait at most");
        let moved = unit(WIDE, 77_777);
        assert!(
            idx.append_deferred(1000, &moved, "default").unwrap(),
            "an overwrite still fits"
        );
        assert!(idx.append_deferred(1, &[0.5; 3], "default").is_err());
        // A write that must wait links its own row, beside the waiting ones.
        idx.append(id, &unit(WIDE, id as u64), "default").unwrap();
        assert_eq!(idx.len(), 50 + waiting + 1);
        idx.finish_deferred().unwrap();
        assert_eq!((idx.deferred_len(), idx.len()), (0, 50 + waiting + 1));
        for id in 1001..=id {
            assert_eq!(idx.search(&unit(WIDE, id as u64), "default", 1)[0].id, id);
        }
        assert_eq!(idx.search(&moved, "default", 1)[0].id, 1000);
    }
}
