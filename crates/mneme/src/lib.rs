//! # mneme: a layered semantic cache
//!
//! A lookup first tries an **exact** match on the hash of the normalised query, then a
//! **semantic** match: cosine similarity of the query's embedding against stored embeddings. A hit
//! returns the cached response in microseconds instead of a multi-second model call.
//!
//! ```
//! # fn main() -> mneme::Result<()> {
//! use mneme::{HitLayer, LexicalEmbedder, Put, SemanticCache, Metadata};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let cache = SemanticCache::builder(LexicalEmbedder::new(256))
//!     .path(dir.path().join("cache.db")) // the embedded SQLite default: one file
//!     .similarity_threshold(0.8)
//!     .open()?;
//!
//! let mut meta = Metadata::new();
//! meta.insert("model", "gpt-x");
//! cache.put_with("What is the capital of France?", "Paris.", Put::default().metadata(meta))?;
//!
//! let exact = cache.get("what is the capital of france?")?.unwrap();
//! assert_eq!((exact.layer, exact.response.as_str()), (HitLayer::Exact, "Paris."));
//!
//! let near = cache.get("What is the capital of France")?.unwrap(); // no '?': not exact

//! assert_eq!(near.layer, HitLayer::Semantic);
//! assert!(cache.get("How tall is Everest?")?.is_none());
//! # Ok(()) }
//! ```
//!
//! Layout: [`SemanticCache`] owns the policy (layers, thresholds, TTL, eviction, counters); a
//! [`store::Store`] persists entries ([`MemoryStore`], [`SqliteStore`]); an
//! [`index::VectorIndex`] answers "top-k rows of this namespace for this vector" with SIMD
//! kernels chosen once at start-up. Files are byte-compatible with the Python `mneme-cache` 1.0.

#![warn(missing_docs)]

mod background;
pub mod cache;
pub mod checkpoint;
pub mod clock;
pub mod counters;
pub mod embedder;
pub mod error;
mod files;
pub mod index;
pub mod metadata;
#[cfg(feature = "serde")]
mod metadata_serde;
pub mod metrics;
pub mod normalize;
pub mod quant;
pub mod scoring;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tools;
pub mod types;
pub mod verify;

pub use cache::{
    CacheBuilder, Decision, Explanation, Get, IndexOptionValue, IndexOptions, Neighbor, Put,
    SavedGraph, SemanticCache, DEFAULT_MAX_METADATA_BYTES, DEFAULT_MAX_QUERY_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SIMILARITY_THRESHOLD,
};
pub use checkpoint::{DumpOptions, LoadLimits, Manifest};
pub use clock::{Clock, ManualClock, SystemClock};
pub use embedder::{Embedder, LexicalEmbedder, MAX_DIM};
pub use error::{BoxError, Details, Error, OsRefusal, Result};
pub use metadata::{Metadata, Value};
pub use metrics::{MetricEvent, MetricsHook, MissReason};
pub use normalize::{hash_query, normalize};
pub use scoring::{default_confidence, default_validator};
pub use store::{MemoryStore, SqliteOptions, SqliteStore, Store, StoredEntry};
pub use types::{Health, Hit, HitLayer, IndexBackend, MultiProcessMode, Stats, VectorDtype};
