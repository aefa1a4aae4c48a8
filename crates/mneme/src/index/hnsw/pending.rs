//! Rows a writer handed over without waiting for the graph: stored in a small flat index that
//! every search scans exactly, in arrival order for the thread that links them. A graph insert
//! at a million rows costs milliseconds; keeping it off the writer's path keeps a put to the
//! store's write plus a copy.

use crate::error::Result;
use crate::index::flat::FlatIndex;
use crate::index::{Candidate, IndexRow, VectorIndex};
use crate::types::VectorDtype;
use std::collections::VecDeque;

/// Vector elements the buffer holds at most (4 MiB of float32): a full buffer makes writers
/// link their rows themselves, and it bounds what each search scans beside the graph.
const MAX_ELEMENTS: usize = 1 << 20;

/// One waiting row, as it arrived.
#[derive(Clone)]
pub(super) struct Waiting {
    /// Rises with every arrival, so a plan can tell whether its rows are still the latest.
    pub seq: u64,
    pub id: i64,
    pub vector: Vec<f32>,
    pub namespace: String,
}

impl Waiting {
    pub(super) fn row(&self) -> IndexRow<'_> {
        (self.id, &self.vector, &self.namespace)
    }
}

pub(super) struct Pending {
    dim: usize,
    dtype: VectorDtype,
    /// The waiting rows' scanned copies; none while nothing waits.
    rows: Option<FlatIndex>,
    /// The latest version of each waiting id, oldest first.
    queue: VecDeque<Waiting>,
    arrivals: u64,
    cap: usize,
}

impl Pending {
    pub(super) fn new(dim: usize, dtype: VectorDtype) -> Self {
        Pending {
            dim,
            dtype,
            rows: None,
            queue: VecDeque::new(),
            arrivals: 0,
            cap: (MAX_ELEMENTS / dim.max(1)).max(64),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Rows that ever arrived: a count that rises with every one.
    pub(super) fn arrivals(&self) -> u64 {
        self.arrivals
    }

    /// Takes a row (the latest version of its id); `Ok(false)` when the buffer is full.
    pub(super) fn push(&mut self, id: i64, vector: &[f32], namespace: &str) -> Result<bool> {
        if self.queue.len() >= self.cap && !self.contains(id) {
            return Ok(false);
        }
        let rows = match &mut self.rows {
            Some(rows) => rows,
            None => self
                .rows
                .insert(FlatIndex::with_capacity(self.dim, self.dtype, 64)?),
        };
        if rows.contains(id) {
            self.queue.retain(|w| w.id != id);
        }
        rows.append(id, vector, namespace)?;
        self.arrivals += 1;
        self.queue.push_back(Waiting {
            seq: self.arrivals,
            id,
            vector: vector.to_vec(),
            namespace: namespace.to_owned(),
        });
        Ok(true)
    }

    /// The oldest waiting row.
    pub(super) fn oldest(&self) -> Option<Waiting> {
        self.queue.front().cloned()
    }

    /// Whether `row` is still the oldest waiting, unchanged.
    pub(super) fn is_oldest(&self, row: &Waiting) -> bool {
        self.queue.front().is_some_and(|w| w.seq == row.seq)
    }

    /// Forgets `id`; returns whether it was waiting.
    pub(super) fn remove(&mut self, id: i64) -> bool {
        if !self.rows.as_mut().is_some_and(|rows| rows.remove(id)) {
            return false;
        }
        if self.queue.front().is_some_and(|w| w.id == id) {
            self.queue.pop_front(); // the linker's row: the usual case
        } else {
            self.queue.retain(|w| w.id != id);
        }
        self.tidy();
        true
    }

    /// The ids waiting in `namespace`.
    pub(super) fn ids_in<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = i64> + 'a {
        self.queue
            .iter()
            .filter(move |w| w.namespace == namespace)
            .map(|w| w.id)
    }

    /// Frees the scanned copies of rows that left.
    fn tidy(&mut self) {
        if self.queue.is_empty() {
            self.rows = None;
        } else if let Some(rows) = &mut self.rows {
            if rows.tombstone_count() > self.queue.len() {
                rows.compact();
            }
        }
    }

    pub(super) fn contains(&self, id: i64) -> bool {
        self.rows.as_ref().is_some_and(|rows| rows.contains(id))
    }

    pub(super) fn search(&self, query: &[f32], namespace: &str, k: usize) -> Vec<Candidate> {
        let rows = self.rows.as_ref();
        rows.map_or_else(Vec::new, |rows| rows.search(query, namespace, k))
    }

    pub(super) fn score(&self, id: i64, query: &[f32]) -> Option<f32> {
        self.rows.as_ref()?.score(id, query)
    }

    pub(super) fn row_matches(&self, id: i64, vector: &[f32], namespace: &str) -> Option<bool> {
        self.rows.as_ref()?.row_matches(id, vector, namespace)
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.queue.iter().map(|w| w.id)
    }

    /// The scanned copies and the float32 originals kept for linking.
    pub(super) fn memory_bytes(&self) -> u64 {
        let originals = self.queue.len() * self.dim * 4;
        self.rows.as_ref().map_or(0, |rows| rows.memory_bytes()) + originals as u64
    }
}
