//! `explain`: what a `get` would see and decide, computed without changing anything (no
//! counters, no access times, no expiry deletes). For operators tuning a threshold.

use super::lookup::TOP_K;
use super::SemanticCache;
use crate::error::Result;
use crate::metrics::MissReason;
use crate::normalize::{cache_key, hash_query};
use crate::quant;
use crate::scoring::CONFIDENCE_FLOOR;
use crate::types::HitLayer;

/// One stored entry as `explain` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbor {
    /// The store's row id.
    pub id: i64,
    /// The stored (original) query.
    pub query: String,
    /// The cached response.
    pub response: String,
    /// Cosine similarity to the asked query (1.0 for the exact layer).
    pub similarity: f64,
    /// The confidence a hit on it would carry (`None` if the confidence function failed).
    pub confidence: Option<f64>,
    /// Its TTL has elapsed (a `get` would delete it).
    pub expired: bool,
    /// The validator accepts its response (`None` if the validator failed).
    pub valid: Option<bool>,
    /// Why the verifier would refuse to serve it (`None`: accepted, or no verifier).
    pub refusal: Option<String>,
}

/// What a `get` would decide.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// A hit from this layer on the row with this id.
    Hit(HitLayer, i64),
    /// A miss, for this reason.
    Miss(MissReason),
}

/// The result of [`SemanticCache::explain`].
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The decision `get` would make now.
    pub decision: Decision,
    /// The exact layer's match, if any (live or expired).
    pub exact: Option<Neighbor>,
    /// The nearest stored entries in the namespace, best first (the first three are the ones a
    /// `get` examines).
    pub candidates: Vec<Neighbor>,
    /// The similarity threshold in force.
    pub threshold: f64,
}

impl SemanticCache {
    /// Explains the lookup of `query` in `namespace` and lists the `k` nearest entries, without
    /// changing the cache. The decision follows `get`'s rules (docs/architecture.md, "A
    /// lookup").
    ///
    /// # Errors
    /// [`Error::CacheClosed`](crate::Error::CacheClosed) or a store failure. An embedder
    /// failure is the decision `Miss(EmbedderFailure)`, as in `get`.
    pub fn explain(&self, query: &str, namespace: &str, k: usize) -> Result<Explanation> {
        self.enter()?;
        self.refresh()?;
        let now = self.config.clock.now();
        let threshold = self.threshold_for(namespace);
        let key = cache_key(query, self.config.normalize);
        let neighbor = |entry: crate::store::StoredEntry, similarity: f64| Neighbor {
            id: entry.id,
            similarity,
            confidence: self.confidence(
                similarity,
                now.saturating_sub(entry.created_at),
                &entry.metadata,
            ),
            expired: entry.is_expired(now),
            valid: self.validate(&entry.response),
            refusal: self
                .verify(&entry.namespace, query, &entry.query, similarity)
                .err()
                .map(|r| r.0),
            query: entry.query,
            response: entry.response,
        };
        let exact = self
            .store
            .get_by_hash(namespace, &hash_query(&key))?
            .map(|e| neighbor(e, 1.0));
        let mut out = Explanation {
            decision: Decision::Miss(MissReason::NoMatch),
            exact,
            candidates: Vec::new(),
            threshold,
        };
        if let Some(e) = out.exact.as_ref().filter(|e| !e.expired) {
            out.decision = Decision::Hit(HitLayer::Exact, e.id);
        }
        let mut q = match self.embed(&key) {
            Ok(v) => v,
            Err(_) => {
                if out.exact.is_none() {
                    out.decision = Decision::Miss(MissReason::EmbedderFailure);
                }
                return Ok(out);
            }
        };
        if quant::validate_vector(&q, self.dim).is_err() {
            if out.exact.is_none() {
                out.decision = Decision::Miss(MissReason::DimMismatch);
            }
            return Ok(out);
        }
        quant::l2_normalize(&mut q);
        let found = crate::index::ranked(&**self.index.read(), &q, namespace, k.max(TOP_K));
        for c in found {
            if let Some(entry) = self.store.get_by_id(c.id)? {
                out.candidates.push(neighbor(entry, f64::from(c.score)));
            }
        }
        if !matches!(out.decision, Decision::Hit(..)) {
            out.decision = semantic_decision(&out.candidates, threshold);
        }
        out.candidates.truncate(k);
        Ok(out)
    }
}

/// Layer 2's rule over the first three candidates: stop below the threshold, skip what is
/// expired, invalid or not confident enough, take the first that survives.
fn semantic_decision(candidates: &[Neighbor], threshold: f64) -> Decision {
    let mut refused = false;
    for c in candidates.iter().take(TOP_K) {
        if c.similarity < threshold {
            break;
        }
        if c.expired || c.valid != Some(true) {
            continue;
        }
        if c.refusal.is_some() {
            refused = true;
            continue;
        }
        if c.confidence.is_some_and(|x| x >= CONFIDENCE_FLOOR) {
            return Decision::Hit(HitLayer::Semantic, c.id);
        }
    }
    let below = candidates
        .iter()
        .take(TOP_K)
        .any(|c| c.similarity < threshold);
    Decision::Miss(if refused {
        MissReason::VerifierRejected
    } else if below {
        MissReason::BelowThreshold
    } else {
        MissReason::NoMatch
    })
}
