//! For fronts that handle a miss end to end (the server's proxy): embed a query once and use
//! the vector for the lookup, for the store of the answer and for coalescing concurrent
//! near-duplicate misses, judged by the same rule as a semantic hit.

use super::lookup::Get;
use super::SemanticCache;
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::normalize::cache_key;
use crate::quant;
use crate::scoring::CONFIDENCE_FLOOR;

impl SemanticCache {
    /// The query's embedding exactly as `get` and `put` compute it (normalised text when the
    /// cache normalises), checked for length and finiteness. Pass it back through
    /// [`Get::embedding`] and [`Put::embedding`](super::Put::embedding) to embed a miss once.
    ///
    /// # Errors
    /// [`Error::Embedder`] with the embedder's error, [`Error::EmbedderDimension`] or
    /// [`Error::InvalidArgument`] for a wrong or non-finite vector, [`Error::CacheClosed`].
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        self.enter()?;
        let vector = self
            .embed(&cache_key(query, self.config.normalize))
            .map_err(Error::Embedder)?;
        quant::validate_vector(&vector, self.dim)?;
        Ok(vector)
    }

    /// Whether an entry just stored for `stored_query`, at `similarity` to `query`, would be
    /// served to `query` as a semantic hit under `options`: its namespace's threshold or the
    /// raised one, the verifier, and the confidence floor at age 0 (with empty metadata: a
    /// confidence function that reads the entry's metadata sees none). The store is not read
    /// and the validator, which judges the response, is not run: this is the rule for an answer
    /// still on its way, such as another request's upstream call.
    pub fn would_serve(
        &self,
        query: &str,
        stored_query: &str,
        similarity: f64,
        options: &Get<'_>,
    ) -> bool {
        let ns_threshold = self.threshold_for(options.namespace);
        let threshold = options
            .min_similarity
            .map_or(ns_threshold, |m| m.max(ns_threshold));
        similarity >= threshold
            && self
                .confidence(similarity, 0, &Metadata::new())
                .is_some_and(|c| c >= CONFIDENCE_FLOOR)
            && self
                .verify(options.namespace, query, stored_query, similarity)
                .is_ok()
    }
}
