//! Vector indexes: "top-k rows of this namespace for this vector", nothing more.
//!
//! An index never sees the store or the cache's policy; the cache feeds it rows and asks it for
//! candidates. SIMD lives below it in [`kernels`], chosen once per process.

mod bulk_load;
pub mod flat;
pub mod hnsw;
pub mod kernels;
mod pages;

pub(crate) use bulk_load::LoadHalf;
pub use flat::FlatIndex;
pub use hnsw::{HnswIndex, HnswParams};

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
    /// Soft-deletes `id`; returns whether it was present.
    fn remove(&mut self, id: i64) -> bool;
    /// Removes every row of `namespace`; returns how many.
    fn remove_namespace(&mut self, namespace: &str) -> usize;
    /// Up to `k` best rows of `namespace`, best first; ties by ascending insertion offset.
    fn search(&self, query: &[f32], namespace: &str, k: usize) -> Vec<Candidate>;
    /// The score of `id` against `query`, if present.
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
    /// Soft-deleted rows still holding memory.
    fn tombstone_count(&self) -> usize;
    /// Reclaims tombstones; returns how many were reclaimed.
    fn compact(&mut self) -> usize;
    /// The backend name reported by `health()` (`"numpy"` for flat, compat).
    fn backend_name(&self) -> &'static str;
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
