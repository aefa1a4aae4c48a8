//! The shared matrix as the cache's [`VectorIndex`] (mmap-shared mode). The trait's writes
//! cannot fail, so a sidecar failure there is logged and leaves the row out: the cache verifies
//! every candidate against the store, and the next drift check repairs the file.

use super::SharedMatrix;
use crate::index::{Candidate, VectorIndex};
use crate::types::VectorDtype;
use std::sync::Arc;

/// A [`VectorIndex`] over a [`SharedMatrix`].
pub struct SharedIndex {
    matrix: Arc<SharedMatrix>,
}

impl SharedIndex {
    /// The index over `matrix`.
    pub fn new(matrix: Arc<SharedMatrix>) -> Self {
        SharedIndex { matrix }
    }
}

fn logged<T>(what: &str, r: crate::Result<T>, fallback: T) -> T {
    r.unwrap_or_else(|e| {
        log::warn!(target: "mneme.multiproc", "mmap-shared sidecar: {what} failed: {e}");
        fallback
    })
}

impl VectorIndex for SharedIndex {
    fn dim(&self) -> usize {
        self.matrix.dim()
    }

    fn dtype(&self) -> VectorDtype {
        self.matrix.dtype()
    }

    fn append(&mut self, id: i64, vector: &[f32], namespace: &str) -> crate::Result<()> {
        // Compaction is checked on removals, where tombstones come from: not on every put.
        self.matrix.append(id, vector, namespace)
    }

    fn remove(&mut self, id: i64) -> bool {
        let removed = logged("remove", self.matrix.remove(id), false);
        if removed {
            let (live, dead, _) = logged("sizes", self.matrix.sizes(), (1, 0, 0));
            if dead * 4 > live + dead {
                logged("compact", self.matrix.compact(), 0);
            }
        }
        removed
    }

    fn remove_namespace(&mut self, namespace: &str) -> usize {
        logged(
            "remove_namespace",
            self.matrix.remove_namespace(namespace),
            0,
        )
    }

    fn search(&self, query: &[f32], namespace: &str, k: usize) -> Vec<Candidate> {
        logged(
            "search",
            self.matrix.search(query, namespace, k),
            Vec::new(),
        )
        .into_iter()
        .map(|(id, score)| Candidate { id, score })
        .collect()
    }

    fn score(&self, id: i64, query: &[f32]) -> Option<f32> {
        logged("score", self.matrix.score_id(id, query), None)
    }

    fn row_matches(&self, id: i64, vector: &[f32], namespace: &str) -> Option<bool> {
        logged(
            "row_matches",
            self.matrix.row_matches(id, vector, namespace),
            None,
        )
    }

    fn len(&self) -> usize {
        logged("sizes", self.matrix.sizes(), (0, 0, 0)).0
    }

    fn memory_bytes(&self) -> u64 {
        logged("sizes", self.matrix.sizes(), (0, 0, 0)).2 as u64
    }

    fn tombstone_count(&self) -> usize {
        logged("sizes", self.matrix.sizes(), (0, 0, 0)).1
    }

    fn compact(&mut self) -> usize {
        logged("compact", self.matrix.compact(), 0)
    }

    fn backend_name(&self) -> &'static str {
        "numpy" // the flat index's name, as 1.0 reports it in this mode
    }
}
