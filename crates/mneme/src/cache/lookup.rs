//! `get`: Layer 1 (exact hash), then Layer 2 (top-3 semantic candidates, each checked in turn).

use super::SemanticCache;
use crate::counters::Counter;
use crate::error::Result;
use crate::index::Candidate;
use crate::metrics::{MetricEvent, MissReason};
use crate::normalize::{cache_key, hash_query};
use crate::quant;
use crate::scoring::CONFIDENCE_FLOOR;
use crate::store::StoredEntry;
use crate::types::{Hit, HitLayer};

/// Candidates examined per semantic lookup (compat: a 4th is never considered).
pub(super) const TOP_K: usize = 3;

/// Options of one `get`. `Get::default()` looks in `"default"`.
#[derive(Debug, Clone, Copy)]
pub struct Get<'a> {
    pub(super) namespace: &'a str,
    embedding: Option<&'a [f32]>,
    bypass: bool,
    pub(super) min_similarity: Option<f64>,
}

impl Default for Get<'_> {
    fn default() -> Self {
        Get {
            namespace: "default",
            embedding: None,
            bypass: false,
            min_similarity: None,
        }
    }
}

impl<'a> Get<'a> {
    /// Looks in `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = namespace;
        self
    }

    /// Uses this vector for Layer 2 instead of calling the embedder.
    pub fn embedding(mut self, embedding: &'a [f32]) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// Skips the cache entirely: records a `bypass` miss and returns `None`.
    pub fn bypass(mut self, bypass: bool) -> Self {
        self.bypass = bypass;
        self
    }

    /// Raises the similarity threshold for this call to at least `threshold` (a caller may be
    /// stricter than the cache, never looser).
    pub fn min_similarity(mut self, threshold: f64) -> Self {
        self.min_similarity = Some(threshold);
        self
    }
}

/// The outcome of checking one semantic candidate.
enum Verdict {
    Accept(Hit),
    Next,
    /// Refused by the verifier: the walk goes on, and a miss is reported as its refusal.
    Refused,
    BelowThreshold,
}

impl SemanticCache {
    /// Looks `query` up in the default namespace.
    ///
    /// # Errors
    /// [`Error::CacheClosed`](crate::Error::CacheClosed), [`Error::Reentrant`](crate::Error::Reentrant)
    /// or a store failure. An embedder failure or a bad vector is a miss, not an error.
    pub fn get(&self, query: &str) -> Result<Option<Hit>> {
        self.get_with(query, Get::default())
    }

    /// Looks `query` up with options (namespace, precomputed embedding, bypass).
    ///
    /// # Errors
    /// As [`SemanticCache::get`].
    pub fn get_with(&self, query: &str, options: Get<'_>) -> Result<Option<Hit>> {
        let ns = options.namespace;
        self.with_events(|events| self.lookup(query, options, events))
            .map_err(|e| e.in_namespace(ns))
    }

    fn lookup(
        &self,
        query: &str,
        o: Get<'_>,
        events: &mut Vec<MetricEvent>,
    ) -> Result<Option<Hit>> {
        self.enter()?;
        self.refresh()?;
        self.flush_access_if_due();
        let ns = o.namespace;
        if o.bypass {
            return Ok(self.miss(ns, MissReason::Bypass, events));
        }
        let key = cache_key(query, self.config.normalize);
        let now = self.config.clock.now();
        if let Some(hit) = self.exact_layer(&key, ns, now, events)? {
            return Ok(Some(hit));
        }
        let vector = match o.embedding {
            Some(v) => v.to_vec(),
            None => match self.embed(&key) {
                Ok(v) => v,
                Err(e) => {
                    log::warn!(target: "mneme.cache", "Embedder failed during get; treating as a miss: {e}");
                    return Ok(self.miss(ns, MissReason::EmbedderFailure, events));
                }
            },
        };
        if quant::validate_vector(&vector, self.dim).is_err() {
            return Ok(self.miss(ns, MissReason::DimMismatch, events));
        }
        let mut q = vector;
        quant::l2_normalize(&mut q);
        self.ensure_open()?;
        let threshold = o
            .min_similarity
            .map_or(self.threshold_for(ns), |m| m.max(self.threshold_for(ns)));
        let candidates = crate::index::ranked(&**self.index.read(), &q, ns, TOP_K);
        let mut refused = false;
        for candidate in candidates {
            match self.check_candidate(candidate, query, &q, ns, threshold, now, events)? {
                Verdict::Accept(hit) => return Ok(Some(hit)),
                Verdict::Next => {}
                Verdict::Refused => refused = true,
                Verdict::BelowThreshold if !refused => {
                    return Ok(self.miss(ns, MissReason::BelowThreshold, events))
                }
                Verdict::BelowThreshold => break,
            }
        }
        let reason = if refused {
            MissReason::VerifierRejected
        } else {
            MissReason::NoMatch
        };
        Ok(self.miss(ns, reason, events))
    }

    /// Layer 1 only: an exact hit (counted and reported like any hit), or `None` without
    /// recording a miss. For callers that obtain the embedding themselves between the layers
    /// (the async cache awaits its embedder here), then call [`SemanticCache::get_with`].
    ///
    /// # Errors
    /// As [`SemanticCache::get`].
    pub fn get_exact(&self, query: &str, namespace: &str) -> Result<Option<Hit>> {
        self.with_events(|events| {
            self.enter()?;
            let key = cache_key(query, self.config.normalize);
            self.exact_layer(&key, namespace, self.config.clock.now(), events)
        })
    }

    /// Layer 1 from memory only: the exact hit when it can be served without touching the store
    /// (a repeated hit while the store is unchanged, with no bookkeeping due), counted and
    /// reported like any hit; otherwise `None`, recording nothing. Costs about a microsecond and
    /// never blocks on I/O, so an async front-end can answer such hits on its event loop and send
    /// everything else to a worker thread ([`SemanticCache::get_exact`]).
    ///
    /// # Errors
    /// [`Error::CacheClosed`](crate::Error::CacheClosed), [`Error::Reentrant`](crate::Error::Reentrant).
    pub fn get_exact_in_memory(&self, query: &str, namespace: &str) -> Result<Option<Hit>> {
        self.with_events(|events| {
            self.enter()?;
            let Some(token) = self.store.change_token() else {
                return Ok(None);
            };
            if self.access.lock().is_due(self.clock()) {
                return Ok(None);
            }
            let key = cache_key(query, self.config.normalize);
            let now = self.config.clock.now();
            let cached = self.hot.lock().get(token, namespace, &hash_query(&key));
            let Some(entry) = cached.filter(|e| !e.is_expired(now)) else {
                return Ok(None);
            };
            self.access.lock().record(entry.id, now);
            Ok(Some(self.exact_hit(entry, namespace, now, events)))
        })
    }

    /// Records a miss (counter and `miss` event) decided outside the engine: a front-end that
    /// awaits its own embedder reports `EmbedderFailure` this way.
    ///
    /// # Errors
    /// [`Error::CacheClosed`](crate::Error::CacheClosed).
    pub fn record_miss(&self, namespace: &str, reason: MissReason) -> Result<()> {
        self.with_events(|events| {
            self.enter()?;
            self.miss(namespace, reason, events);
            Ok(())
        })
    }

    /// Looks up the normalised key's hash; an expired match is deleted and reported.
    fn exact_layer(
        &self,
        key: &str,
        ns: &str,
        now: i64,
        events: &mut Vec<MetricEvent>,
    ) -> Result<Option<Hit>> {
        let hash = hash_query(key);
        let token = self.store.change_token();
        let cached = token.and_then(|t| self.hot.lock().get(t, ns, &hash));
        let entry = match cached.filter(|e| !e.is_expired(now)) {
            Some(entry) => entry,
            None => {
                let Some(entry) = self.store.get_hit_by_hash(ns, &hash)? else {
                    return Ok(None);
                };
                if let Some(t) = token.filter(|_| !entry.is_expired(now)) {
                    self.hot.lock().insert(t, &entry);
                }
                entry
            }
        };
        if entry.is_expired(now) {
            self.expire(&entry, events)?;
            return Ok(None);
        }
        self.record_access(entry.id, now);
        Ok(Some(self.exact_hit(entry, ns, now, events)))
    }

    /// The `Hit` for a live exact match (access already recorded).
    fn exact_hit(
        &self,
        entry: StoredEntry,
        ns: &str,
        now: i64,
        events: &mut Vec<MetricEvent>,
    ) -> Hit {
        let age = now.saturating_sub(entry.created_at);
        let confidence = self
            .confidence(1.0, age, &entry.metadata)
            .unwrap_or_else(|| crate::default_confidence(1.0, age, &entry.metadata));
        self.hit(entry, HitLayer::Exact, 1.0, confidence, now, ns, events)
    }

    /// One step of the candidate walk (docs/architecture.md, "A lookup").
    #[allow(clippy::too_many_arguments)]
    fn check_candidate(
        &self,
        c: Candidate,
        query: &str,
        q: &[f32],
        ns: &str,
        threshold: f64,
        now: i64,
        events: &mut Vec<MetricEvent>,
    ) -> Result<Verdict> {
        if (c.score as f64) < threshold {
            return Ok(Verdict::BelowThreshold);
        }
        let Some(entry) = self.store.get_by_id(c.id)? else {
            let _w = self.write_lock()?;
            self.index.write().remove(c.id);
            return Ok(Verdict::Next);
        };
        let Some(score) = self.verified_score(&entry, c, q, ns)? else {
            return Ok(Verdict::Next);
        };
        if (score as f64) < threshold {
            return Ok(Verdict::Next);
        }
        if entry.is_expired(now) {
            self.expire(&entry, events)?;
            return Ok(Verdict::Next);
        }
        match self.validate(&entry.response) {
            Some(true) => {}
            Some(false) => {
                self.remove_row(entry.id)?;
                return Ok(Verdict::Next);
            }
            None => return Ok(Verdict::Next),
        }
        if self
            .verify(&entry.namespace, query, &entry.query, f64::from(score))
            .is_err()
        {
            return Ok(Verdict::Refused);
        }
        let age = now.saturating_sub(entry.created_at);
        match self.confidence(score as f64, age, &entry.metadata) {
            Some(conf) if conf >= CONFIDENCE_FLOOR => {
                self.record_access(entry.id, now);
                Ok(Verdict::Accept(self.hit(
                    entry,
                    HitLayer::Semantic,
                    score as f64,
                    conf,
                    now,
                    ns,
                    events,
                )))
            }
            _ => Ok(Verdict::Next),
        }
    }

    /// Candidate verification: the index row must be the store's vector, in the asked namespace.
    ///
    /// A mismatch means another process overwrote the row; the index is repaired from the store
    /// and the candidate re-scored. Returns `None` when the candidate must be skipped.
    fn verified_score(
        &self,
        entry: &StoredEntry,
        c: Candidate,
        q: &[f32],
        ns: &str,
    ) -> Result<Option<f32>> {
        let stored = quant::f32_from_le_bytes(&entry.embedding).filter(|v| v.len() == self.dim);
        let Some(stored) = stored else {
            let _w = self.write_lock()?;
            self.index.write().remove(c.id);
            return Ok(None);
        };
        if self.index.read().row_matches(c.id, &stored, ns) == Some(true) {
            return Ok(Some(c.score));
        }
        let _w = self.write_lock()?;
        let mut index = self.index.write();
        index.append(c.id, &stored, &entry.namespace)?;
        if entry.namespace != ns {
            return Ok(None);
        }
        Ok(index.score(c.id, q))
    }

    /// Deletes an expired row from the store and the index and counts it.
    pub(super) fn expire(&self, entry: &StoredEntry, events: &mut Vec<MetricEvent>) -> Result<()> {
        if self.remove_row(entry.id)? {
            self.counters
                .lock()
                .incr(&entry.namespace, Counter::Expirations, 1);
            events.push(MetricEvent::Expired {
                namespace: entry.namespace.clone(),
                count: 1,
            });
        }
        Ok(())
    }

    /// Deletes one row from the store and the index; true if the store had it.
    pub(super) fn remove_row(&self, id: i64) -> Result<bool> {
        let _w = self.write_lock()?;
        let removed = self.store.delete_by_id(id)?;
        self.index.write().remove(id);
        self.forget_access(id);
        Ok(removed)
    }

    #[allow(clippy::too_many_arguments)]
    fn hit(
        &self,
        entry: StoredEntry,
        layer: HitLayer,
        similarity: f64,
        confidence: f64,
        now: i64,
        ns: &str,
        events: &mut Vec<MetricEvent>,
    ) -> Hit {
        let counter = match layer {
            HitLayer::Exact => Counter::HitsExact,
            HitLayer::Semantic => Counter::HitsSemantic,
        };
        self.counters.lock().incr(ns, counter, 1);
        let age_seconds = now.saturating_sub(entry.created_at);
        events.push(MetricEvent::Hit {
            namespace: ns.to_owned(),
            layer,
            similarity,
            confidence,
            age_seconds,
        });
        Hit {
            response: entry.response,
            similarity,
            confidence,
            age_seconds,
            layer,
            namespace: ns.to_owned(),
            metadata: entry.metadata,
        }
    }

    fn miss(&self, ns: &str, reason: MissReason, events: &mut Vec<MetricEvent>) -> Option<Hit> {
        self.counters.lock().incr(ns, Counter::Misses, 1);
        events.push(MetricEvent::Miss {
            namespace: ns.to_owned(),
            reason,
        });
        None
    }
}
