//! Vector indexes: "top-k rows of this namespace for this vector", nothing more.
//!
//! An index never sees the store or the cache's policy; the cache feeds it rows and asks it for
//! candidates. SIMD lives below it in [`kernels`], chosen once per process.

mod bulk_load;
pub mod flat;
pub mod hnsw;
pub mod kernels;
mod pages;
mod prefetch;
pub mod shared;
mod top_k;

pub(crate) use bulk_load::LoadHalf;
pub use flat::FlatIndex;
pub use hnsw::{HnswIndex, HnswParams};
pub use shared::SharedMatrix;

use crate::types::VectorDtype;

/// One search result: a store row id and its similarity score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The store-assigned row id.
    pub id: i64,
    /// Cosine similarity (dot product of normalised vectors), in the index dtype's precision.
    pub score: f32,
}

/// A row to bulk-load: `(id, L2-normalised f32 vector, namespace)`.
pub type IndexRow<'a> = (i64, &'a [f32], &'a str);

/// The operations the cache needs from an index.
///
/// An index only answers "the best rows of this namespace for this vector": the cache feeds it
/// L2-normalised rows and verifies every candidate against the store, so an index may be
/// approximate but must never invent ids. A minimal exact one:
///
/// ```
/// use mneme::index::{Candidate, VectorIndex};
/// use mneme::{Error, VectorDtype};
/// use std::collections::BTreeMap;
///
/// /// Every row in a map, scanned in full.
/// struct Scan {
///     dim: usize,
///     rows: BTreeMap<i64, (Vec<f32>, String)>,
/// }
///
/// impl VectorIndex for Scan {
///     fn dim(&self) -> usize {
///         self.dim
///     }
///     fn dtype(&self) -> VectorDtype {
///         VectorDtype::Float32
///     }
///     fn append(&mut self, id: i64, vector: &[f32], namespace: &str) -> mneme::Result<()> {
///         if vector.len() != self.dim {
///             return Err(Error::invalid_argument("wrong vector length", "pass dim floats"));
///         }
///         self.rows.insert(id, (vector.to_vec(), namespace.to_owned()));
///         Ok(())
///     }
///     fn remove(&mut self, id: i64) -> bool {
///         self.rows.remove(&id).is_some()
///     }
///     fn remove_namespace(&mut self, namespace: &str) -> usize {
///         let before = self.rows.len();
///         self.rows.retain(|_, (_, ns)| ns != namespace);
///         before - self.rows.len()
///     }
///     fn search(&self, query: &[f32], namespace: &str, k: usize) -> Vec<Candidate> {
///         let mut all: Vec<Candidate> = self.rows.iter()
///             .filter(|(_, (_, ns))| ns == namespace)
///             .map(|(&id, (v, _))| Candidate { id, score: dot(v, query) })
///             .collect();
///         // Best first; ties to the earlier row (ids ascend with insertion here).
///         all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
///         all.truncate(k);
///         all
///     }
///     fn score(&self, id: i64, query: &[f32]) -> Option<f32> {
///         self.rows.get(&id).map(|(v, _)| dot(v, query))
///     }
///     fn row_matches(&self, id: i64, vector: &[f32], namespace: &str) -> Option<bool> {
///         self.rows.get(&id).map(|(v, ns)| v == vector && ns == namespace)
///     }
///     fn len(&self) -> usize {
///         self.rows.len()
///     }
///     fn memory_bytes(&self) -> u64 {
///         (self.rows.len() * self.dim * 4) as u64
///     }
///     fn tombstone_count(&self) -> usize {
///         0 // removals free their row at once
///     }
///     fn compact(&mut self) -> usize {
///         0
///     }
///     fn backend_name(&self) -> &'static str {
///         "scan"
///     }
/// }
///
/// fn dot(a: &[f32], b: &[f32]) -> f32 {
///     a.iter().zip(b).map(|(x, y)| x * y).sum()
/// }
///
/// let mut idx = Scan { dim: 2, rows: BTreeMap::new() };
/// idx.append(1, &[1.0, 0.0], "default").unwrap();
/// idx.append(2, &[0.0, 1.0], "default").unwrap();
/// assert_eq!(idx.search(&[0.8, 0.6], "default", 1)[0].id, 1);
/// assert!(idx.search(&[0.8, 0.6], "other", 1).is_empty());
/// ```
pub trait VectorIndex: Send + Sync {
    /// Vector length.
    fn dim(&self) -> usize;
    /// Element type of the stored copies.
    fn dtype(&self) -> VectorDtype;
    /// Adds or overwrites (in place) the row for `id`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when `vector` is not `dim` long.
    fn append(&mut self, id: i64, vector: &[f32], namespace: &str) -> crate::Result<()>;
    /// Appends `rows` in order, as `append` one by one does (the default); an index may spread
    /// the work over cores (HNSW searches a batch's neighbours in parallel).
    ///
    /// # Errors
    /// As `append`; rows before the failing one may be in.
    fn append_batch(&mut self, rows: &[IndexRow<'_>]) -> crate::Result<()> {
        rows.iter()
            .try_for_each(|&(id, vector, namespace)| self.append(id, vector, namespace))
    }
    /// Adds or overwrites a row through a shared borrow, when the index can finish the work
    /// later, so a writer waits neither for searches nor they for it (HNSW keeps the row in a
    /// buffer that searches scan exactly until it is linked). The row is found by searches at
    /// once. `Ok(false)` when not taken (the default; a full buffer): call `append`.
    ///
    /// # Errors
    /// As `append`.
    fn append_deferred(&self, id: i64, vector: &[f32], namespace: &str) -> crate::Result<bool> {
        let _ = (id, vector, namespace);
        Ok(false)
    }
    /// Rows taken by `append_deferred` whose work is not done.
    fn deferred_len(&self) -> usize {
        0
    }
    /// Plans the next piece of deferred work through a shared borrow, so searches go on
    /// while it is made; `None` when there is none.
    fn plan_deferred(&self) -> Option<DeferredWork> {
        None
    }
    /// Applies a plan of `plan_deferred`. `Ok(false)`, with nothing changed, when the index
    /// changed since it was made: the rows stay deferred and the next plan takes them.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`](crate::Error::OutOfMemory) when a row cannot be stored.
    fn apply_deferred(&mut self, work: DeferredWork) -> crate::Result<bool> {
        let _ = work;
        Ok(false)
    }
    /// Does all deferred work now.
    ///
    /// # Errors
    /// As `apply_deferred`.
    fn finish_deferred(&mut self) -> crate::Result<()> {
        Ok(())
    }
    /// Soft-deletes `id`; returns whether it was present.
    fn remove(&mut self, id: i64) -> bool;
    /// Removes every row of `namespace`; returns how many.
    fn remove_namespace(&mut self, namespace: &str) -> usize;
    /// Up to `k` best rows of `namespace`, best first; ties by ascending insertion offset.
    fn search(&self, query: &[f32], namespace: &str, k: usize) -> Vec<Candidate>;
    /// The score of `id` against `query`, if present: the one the cache ranks its candidates by
    /// and tests the threshold with ([`ranked`]), so it should not depend on the CPU (the
    /// built-in indexes use [`kernels::exact`]).
    fn score(&self, id: i64, query: &[f32]) -> Option<f32>;
    /// Whether the stored copy of `id` equals `vector` quantised to this dtype, and is in
    /// `namespace`. `None` when `id` is absent.
    fn row_matches(&self, id: i64, vector: &[f32], namespace: &str) -> Option<bool>;
    /// Live rows.
    fn len(&self) -> usize;
    /// True when there are no live rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes of vector storage, spare capacity and tombstones included.
    fn memory_bytes(&self) -> u64;
    /// Bytes of a graph beside the vectors (HNSW's links and node tables); `None` (the
    /// default) for an index without one.
    fn graph_bytes(&self) -> Option<u64> {
        None
    }
    /// Soft-deleted rows still holding memory.
    fn tombstone_count(&self) -> usize;
    /// Reclaims tombstones; returns how many were reclaimed.
    fn compact(&mut self) -> usize;
    /// The backend name reported by `health()` (`"numpy"` for flat, compat).
    fn backend_name(&self) -> &'static str;
    /// This index as [`Any`](std::any::Any), for a caller that knows a backend's own
    /// features (the cache saves an [`HnswIndex`]'s graph). The default is `()`, which no
    /// caller mistakes for an index.
    fn as_any(&self) -> &dyn std::any::Any {
        &()
    }
}

/// A plan of [`VectorIndex::plan_deferred`], opaque to all but the index that made it.
pub struct DeferredWork(Box<dyn std::any::Any + Send>);

impl DeferredWork {
    /// Wraps an index's own plan.
    pub fn new(plan: impl std::any::Any + Send) -> Self {
        DeferredWork(Box::new(plan))
    }

    /// The plan, when it is a `T`.
    pub fn take<T: 'static>(self) -> Option<T> {
        self.0.downcast().ok().map(|b| *b)
    }
}

/// Candidates the index returns beyond the `k` asked for, so that the re-ranking of
/// [`ranked`] can move a row whose kernel score fell just short into the first `k`.
const RANK_SLACK: usize = 5;

/// The best `k` rows of `namespace` for `query` in the order the cache decides on: the index's
/// best `k + 5` by its kernels, re-scored with [`VectorIndex::score`] (the built-in indexes
/// score by the deciding rule, [`kernels::exact`]) and sorted best first, ties by id. The
/// hit or miss, the row served and its similarity then do not depend on the CPU's instruction
/// set.
pub fn ranked(index: &dyn VectorIndex, query: &[f32], namespace: &str, k: usize) -> Vec<Candidate> {
    let mut found = index.search(query, namespace, k + RANK_SLACK);
    for c in &mut found {
        if let Some(score) = index.score(c.id, query) {
            c.score = score;
        }
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    found.truncate(k);
    found
}

/// A deterministic pseudo-random unit vector for index tests.
#[cfg(test)]
pub(crate) fn random_unit(dim: usize, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect();
    crate::quant::l2_normalize(&mut v);
    v
}
