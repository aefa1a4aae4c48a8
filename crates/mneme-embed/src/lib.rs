//! Real embedding models for mneme.
//!
//! - [`LocalEmbedder`] (feature `local`): a BERT-family sentence-transformers model read from a
//!   local directory (all-MiniLM-L6-v2 first; bge-small and e5-small style models load the same
//!   way), run in pure Rust (our BERT encoder on weights packed at load). No Python, no torch,
//!   no network at run time.
//! - [`RemoteEmbedder`] (feature `remote`): any OpenAI-compatible `/v1/embeddings` endpoint
//!   (OpenAI, Azure, vLLM, Ollama, TEI), with batching, timeouts and retry with backoff.
//!
//! Both implement [`mneme::Embedder`], so either is the `embedder` of a
//! [`SemanticCache`](mneme::SemanticCache). This crate is separate from the engine so the
//! engine's default build carries none of their dependencies.
//!
//! ```no_run
//! use mneme::SemanticCache;
//! use mneme_embed::LocalEmbedder;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The directory scripts/fetch-model.sh fills (or any sentence-transformers folder).
//! let model = LocalEmbedder::open(mneme_embed::default_model_dir())?;
//! let cache = SemanticCache::open("cache.db", model)?;
//! cache.put("How do I reset my password?", "Settings > Security > Reset.")?;
//! let hit = cache.get("how can i change my password")?;
//! assert!(hit.is_some());
//! # Ok(()) }
//! ```

mod error;
mod model_dir;

/// `mneme::Embedder` for a type with `dim` and `fingerprint` fields and an inherent
/// `embed_texts(&[&str]) -> Result<Vec<Vec<f32>>, EmbedError>`.
macro_rules! embedder_via_embed_texts {
    ($ty:ty) => {
        impl mneme::Embedder for $ty {
            fn dim(&self) -> usize {
                self.dim
            }

            fn fingerprint(&self) -> &str {
                &self.fingerprint
            }

            fn embed(&self, text: &str) -> Result<Vec<f32>, mneme::BoxError> {
                Ok(self.embed_texts(&[text])?.swap_remove(0))
            }

            fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, mneme::BoxError> {
                Ok(self.embed_texts(texts)?)
            }
        }
    };
}
pub(crate) use embedder_via_embed_texts;

#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "remote")]
pub mod remote;

pub use error::EmbedError;
pub use model_dir::{default_model_dir, DEFAULT_MODEL_NAME, FETCH_HINT};

#[cfg(feature = "local")]
pub use local::{LocalEmbedder, LocalOptions};
#[cfg(feature = "remote")]
pub use remote::{RemoteEmbedder, RemoteOptions};

/// The README's examples, compiled and run as doctests here, where both the engine and the
/// embedders are in reach.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
