//! Running user callbacks (embedder, confidence function, validator) safely.
//!
//! A callback that panics must not unwind through the cache, and a confidence function or
//! validator that calls back into the cache running it gets [`Error::Reentrant`] instead of a
//! deadlock or a torn state.

use super::SemanticCache;
use crate::error::{BoxError, Error, Result};
use crate::metadata::Metadata;
use crate::scoring;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    /// Ids of the caches whose callbacks are running on this thread.
    static IN_CALLBACK: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

pub(super) fn check_not_reentrant(cache_id: usize) -> Result<()> {
    if IN_CALLBACK.with(|s| s.borrow().contains(&cache_id)) {
        return Err(Error::reentrant(
            "a confidence function or validator called back into the cache that is running it",
            "compute what the callback needs before calling the cache, or use another cache instance",
        ));
    }
    Ok(())
}

/// Pops the cache id even when the callback panics.
struct Marker;

impl Drop for Marker {
    fn drop(&mut self) {
        IN_CALLBACK.with(|s| {
            s.borrow_mut().pop();
        });
    }
}

impl SemanticCache {
    fn guarded<T>(&self, f: impl FnOnce() -> T) -> std::thread::Result<T> {
        IN_CALLBACK.with(|s| s.borrow_mut().push(self.id));
        let _marker = Marker;
        catch_unwind(AssertUnwindSafe(f))
    }

    /// The confidence of a candidate; `None` when the user function panicked.
    pub(super) fn confidence(&self, similarity: f64, age: i64, metadata: &Metadata) -> Option<f64> {
        match &self.config.confidence_fn {
            None => Some(scoring::default_confidence(similarity, age, metadata)),
            Some(f) => self
                .guarded(|| f(similarity, age, metadata))
                .ok()
                .or_else(|| {
                    log::warn!(target: "mneme.cache", "confidence_fn panicked; candidate skipped");
                    None
                }),
        }
    }

    /// Whether a response passes the validator; `None` when the user function panicked.
    pub(super) fn validate(&self, response: &str) -> Option<bool> {
        match &self.config.validator {
            None => Some(scoring::default_validator(response)),
            Some(f) => self.guarded(|| f(response)).ok().or_else(|| {
                log::warn!(target: "mneme.cache", "validator panicked; candidate skipped");
                None
            }),
        }
    }

    /// The ruling of `namespace`'s verifier (its own setting, else the cache's) on serving the
    /// entry stored for `cached_query` to `query`; a panicking verifier refuses (a miss is
    /// safer than a wrong answer).
    pub(super) fn verify(
        &self,
        namespace: &str,
        query: &str,
        cached_query: &str,
        similarity: f64,
    ) -> Result<(), crate::verify::Refusal> {
        let Some(v) = self.verifier_for(namespace) else {
            return Ok(());
        };
        self.guarded(|| v.check(query, cached_query, similarity))
            .unwrap_or_else(|_| {
                log::warn!(target: "mneme.cache", "verifier panicked; candidate refused");
                Err(crate::verify::Refusal("the verifier panicked".into()))
            })
    }

    /// Calls the embedder without any cache lock held; a panic becomes an error.
    pub(super) fn embed(&self, key: &str) -> std::result::Result<Vec<f32>, BoxError> {
        match catch_unwind(AssertUnwindSafe(|| self.embedder.embed(key))) {
            Ok(result) => result,
            Err(_) => Err("the embedder panicked".into()),
        }
    }

    /// [`SemanticCache::embed`] for several keys in one call; one vector per key, checked.
    pub(super) fn embed_batch(
        &self,
        keys: &[&str],
    ) -> std::result::Result<Vec<Vec<f32>>, BoxError> {
        let vectors = match catch_unwind(AssertUnwindSafe(|| self.embedder.embed_batch(keys))) {
            Ok(result) => result?,
            Err(_) => return Err("the embedder panicked".into()),
        };
        if vectors.len() != keys.len() {
            return Err(format!(
                "the embedder returned {} vectors for {} texts",
                vectors.len(),
                keys.len()
            )
            .into());
        }
        Ok(vectors)
    }
}
