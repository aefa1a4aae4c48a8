//! Inserting rows in two steps: a [`Plan`] made from a shared borrow of the index (the
//! neighbour searches and every link list the new rows change: all of an insert's work), then
//! its application, a few copies under an exclusive borrow. Searches go on while a plan is
//! made, so a background thread can link rows without stopping them.

use super::{pool_map, random_level, Graph, HnswIndex, Scored};
use crate::error::Result;
use crate::index::flat::FlatIndex;
use crate::index::{IndexRow, VectorIndex};
use std::borrow::Cow;

/// What inserting a batch of rows changes, computed against one state of the index.
pub(super) struct Plan {
    /// The index's change count and node count the plan was made against: it applies to that
    /// state only.
    changes: u64,
    base: usize,
    /// Each new node's level, drawn in order, and the generator's state after them.
    levels: Vec<usize>,
    rng: u64,
    /// Each new node's own links, per layer.
    own: Vec<Vec<Vec<u32>>>,
    /// Lists that received links from the new nodes, as they become: `(node, layer, list)`.
    grown: Vec<(u32, usize, Vec<u32>)>,
    /// Graph entries the new nodes take over, by namespace slot, in order.
    entries: Vec<(u32, Graph)>,
}

/// The rows a plan scores: the index's stored rows (nodes below `base`), then the batch being
/// planned, which is not stored yet.
struct View<'a> {
    index: &'a HnswIndex,
    batch: &'a FlatIndex,
    base: usize,
}

impl View<'_> {
    fn score(&self, node: u32, q: &[f32]) -> f32 {
        match (node as usize).checked_sub(self.base) {
            None => self.index.rows.score_offset(node as usize, q),
            Some(i) => self.batch.score_offset(i, q),
        }
    }

    /// A row as a query.
    fn row_query(&self, node: u32) -> Cow<'_, [f32]> {
        match (node as usize).checked_sub(self.base) {
            None => self.index.rows.row_query(node as usize),
            Some(i) => self.batch.row_query(i),
        }
    }

    /// A new node's links at each layer: M per layer (hnswlib's rule; its neighbours' lists
    /// may grow to 2M at layer 0 as later nodes link to them).
    fn choose(&self, candidates: &[Vec<Scored>]) -> Vec<Vec<u32>> {
        candidates
            .iter()
            .map(|found| self.select_neighbours(found, self.index.params.m))
            .collect()
    }

    /// Node `n`'s full list `list` with `to` added: the best spread of the `cap + 1`, by the
    /// neighbour heuristic.
    fn pruned(&self, n: u32, list: &[u32], to: u32, cap: usize) -> Vec<u32> {
        let base = self.row_query(n);
        let mut scored: Vec<Scored> = list
            .iter()
            .chain([&to])
            .map(|&x| Scored(self.score(x, &base), x))
            .collect();
        scored.sort_by(|a, b| b.cmp(a));
        self.select_neighbours(&scored, cap)
    }

    /// Up to `cap` neighbours from `candidates` (best first) by the HNSW heuristic: a candidate
    /// is kept when it is closer to the base than to every neighbour kept so far, which spreads
    /// links across directions. Pruned candidates do not fill the leftover slots (hnswlib's
    /// default): they would add links in directions already covered, and scoring them costs
    /// every later search and insert.
    fn select_neighbours(&self, candidates: &[Scored], cap: usize) -> Vec<u32> {
        let mut kept: Vec<(u32, Cow<'_, [f32]>)> = Vec::with_capacity(cap.min(candidates.len()));
        for c in candidates {
            if kept.len() == cap {
                break;
            }
            // Similarity is symmetric, so score the candidate against each kept row's query
            // form: only kept rows (≤ cap) are ever prepared.
            if kept.iter().all(|(_, kq)| self.score(c.1, kq) < c.0) {
                kept.push((c.1, self.row_query(c.1)));
            }
        }
        kept.into_iter().map(|(n, _)| n).collect()
    }
}

/// A batch node while its plan is made.
struct Fresh {
    node: u32,
    slot: u32,
    level: usize,
    query: Vec<f32>,
    /// Its namespace's graph before the batch, which its neighbour search walks.
    graph: Graph,
    /// The top layer it links at; `None` for its namespace's first node.
    top: Option<usize>,
}

impl HnswIndex {
    /// Plans inserting `rows` as linking them one by one would: each node searches the graph
    /// as it stood before the batch (in parallel on the shared pool when `parallel`), chooses
    /// its links among what it found and its batch's earlier nodes of its namespace, and every
    /// list that receives links takes its additions in batch order and is pruned on its own.
    /// Choices read vectors only and each pruning reads one list, so the graph is the one the
    /// sequential order gives, whatever the thread count.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for a vector that is not `dim` long;
    /// [`crate::Error::OutOfMemory`] when the batch cannot be held.
    pub(super) fn plan(&self, rows: &[IndexRow<'_>], parallel: bool) -> Result<Plan> {
        rows.iter().try_for_each(|(_, v, _)| self.check_len(v))?;
        let base = self.nodes.len();
        let mut batch = FlatIndex::with_capacity(self.dim(), self.dtype(), rows.len().max(1))?;
        let mut rng = self.rng;
        let mut new_namespaces: Vec<&str> = Vec::new();
        let mut entries: Vec<(u32, Graph)> = Vec::new();
        let mut fresh = Vec::with_capacity(rows.len());
        for (i, &(_, v, ns)) in rows.iter().enumerate() {
            batch.append(-(i as i64) - 1, v, "")?;
            let slot = match self.namespaces.iter().position(|n| n == ns) {
                Some(s) => s,
                None => {
                    let at = new_namespaces.iter().position(|n| *n == ns);
                    self.namespaces.len()
                        + at.unwrap_or_else(|| {
                            new_namespaces.push(ns);
                            new_namespaces.len() - 1
                        })
                }
            } as u32;
            let node = (base + i) as u32;
            let level = random_level(&mut rng, self.params.m);
            let graph = self.graph_of(slot);
            // An earlier node of the batch may have become the graph's entry.
            let now = entries
                .iter()
                .rev()
                .find(|e| e.0 == slot)
                .map_or(graph, |e| e.1);
            if now.entry.is_none() || level > now.top_level {
                let taller = Graph {
                    entry: Some(node),
                    top_level: level,
                };
                entries.push((slot, taller));
            }
            fresh.push(Fresh {
                node,
                slot,
                level,
                query: self.rows.prepare_query(v),
                graph,
                top: now.entry.map(|_| level.min(now.top_level)),
            });
        }

        let view = View {
            index: self,
            batch: &batch,
            base,
        };
        let choose = |j: usize| -> Vec<Vec<u32>> {
            let Some(top) = fresh[j].top else {
                return Vec::new();
            };
            let f = &fresh[j];
            let mut candidates = self.candidates(f.graph, &f.query, f.level);
            candidates.resize(candidates.len().max(top + 1), Vec::new());
            for peer in fresh[..j].iter().filter(|p| p.slot == f.slot) {
                let score = Scored(view.score(peer.node, &f.query), peer.node);
                for layer in candidates.iter_mut().take(peer.level.min(top) + 1) {
                    layer.push(score);
                }
            }
            for layer in &mut candidates {
                layer.sort_by(|a, b| b.cmp(a));
                layer.truncate(self.params.ef_construction);
            }
            view.choose(&candidates)
        };
        let own: Vec<Vec<Vec<u32>>> = pool_map(parallel, (0..fresh.len()).collect(), choose);

        // Each list that receives links, with its additions in batch order.
        let mut additions: Vec<(u32, usize, u32)> = Vec::new();
        for (f, lists) in fresh.iter().zip(&own) {
            for (l, list) in lists.iter().enumerate() {
                additions.extend(list.iter().map(|&n| (n, l, f.node)));
            }
        }
        additions.sort_by_key(|&(n, l, _)| (n, l));
        let groups: Vec<&[(u32, usize, u32)]> = additions
            .chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
            .collect();
        let grown = pool_map(parallel, groups, |group| {
            let (n, l) = (group[0].0, group[0].1);
            let cap = self.max_links(l);
            let mut list = match (n as usize).checked_sub(base) {
                None => self.links.get(n, l).to_vec(),
                // A batch node's own lists; empty at the layers it reaches above the graph.
                Some(i) => own[i].get(l).cloned().unwrap_or_default(),
            };
            for &(_, _, to) in group {
                if list.len() < cap {
                    list.push(to);
                } else {
                    list = view.pruned(n, &list, to, cap);
                }
            }
            (n, l, list)
        });
        Ok(Plan {
            changes: self.changes,
            base,
            levels: fresh.iter().map(|f| f.level).collect(),
            rng,
            own,
            grown,
            entries,
        })
    }

    /// Stores `rows` (those `plan` was made from) and links them as planned. `Ok(false)`, with
    /// nothing changed, when the index changed since the plan was made.
    ///
    /// # Errors
    /// [`crate::Error::OutOfMemory`] when a row cannot be stored: the rows before it are
    /// stored but not linked (searches do not reach them; a rebuild does).
    pub(super) fn apply(&mut self, plan: Plan, rows: &[IndexRow<'_>]) -> Result<bool> {
        if plan.changes != self.changes || plan.base != self.nodes.len() {
            return Ok(false);
        }
        for (&(id, v, ns), &level) in rows.iter().zip(&plan.levels) {
            self.register(id, v, ns)?;
            self.links.push_node(level);
        }
        for (i, lists) in plan.own.iter().enumerate() {
            for (l, list) in lists.iter().enumerate() {
                self.links.set((plan.base + i) as u32, l, list);
            }
        }
        for (n, l, list) in &plan.grown {
            self.links.set(*n, *l, list);
        }
        for (slot, graph) in plan.entries {
            let ns = self.namespaces[slot as usize].clone();
            self.graphs.insert(ns, graph);
        }
        self.rng = plan.rng;
        Ok(true)
    }
}
