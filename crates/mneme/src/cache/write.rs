//! Writes: `put` (with eviction), `delete` and `vacuum`.

use super::SemanticCache;
use crate::counters::Counter;
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::metrics::MetricEvent;
use crate::normalize::{cache_key, hash_query};
use crate::quant;
use crate::store::StoredEntry;

/// Options of one `put`. `Put::default()` writes to `"default"` with no metadata and the cache's
/// default TTL.
#[derive(Debug, Clone, Default)]
pub struct Put<'a> {
    namespace: Option<&'a str>,
    embedding: Option<&'a [f32]>,
    metadata: Option<Metadata>,
    metadata_json: Option<&'a str>,
    ttl: Option<i64>,
}

impl<'a> Put<'a> {
    /// Writes to `namespace` instead of `"default"`.
    pub fn namespace(mut self, namespace: &'a str) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// Stores this vector instead of calling the embedder.
    pub fn embedding(mut self, embedding: &'a [f32]) -> Self {
        self.embedding = Some(embedding);
        self
    }

    /// Attaches metadata (returned with hits, passed to the confidence function).
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Attaches metadata given as the text of a JSON object (in Python's `json.dumps` form, as
    /// the cache stores it). Its size is checked against `max_metadata_bytes` before it is
    /// parsed, so an oversized object is refused at the cost of the check. Replaces
    /// [`Put::metadata`].
    pub fn metadata_json(mut self, json: &'a str) -> Self {
        self.metadata_json = Some(json);
        self
    }

    /// Expires the entry `seconds` after now (overrides the cache's default TTL).
    pub fn ttl(mut self, seconds: i64) -> Self {
        self.ttl = Some(seconds);
        self
    }
}

fn too_large(what: &str, limit_name: &str, size: usize, limit: usize) -> Error {
    Error::invalid_argument(
        format!("{what} is {size} bytes, over {limit_name}={limit}"),
        format!("shorten the {what}, or raise {limit_name} when building the cache"),
    )
}

impl SemanticCache {
    /// Caches `response` for `query` in the default namespace.
    ///
    /// # Errors
    /// As [`SemanticCache::put_with`].
    pub fn put(&self, query: &str, response: &str) -> Result<()> {
        self.put_with(query, response, Put::default())
    }

    /// Caches `response` for `query` with options. An existing entry for the same normalised
    /// query and namespace is overwritten (same id, TTL clock restarted). May evict.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a size limit or a non-finite vector (checked before the
    /// embedder runs), [`Error::EmbedderDimension`] for a wrong-length vector, [`Error::Embedder`]
    /// with the embedder's own error, [`Error::CacheClosed`], or a store failure. Nothing is
    /// written when any of these is returned.
    pub fn put_with(&self, query: &str, response: &str, options: Put<'_>) -> Result<()> {
        let ns = options.namespace.unwrap_or("default");
        self.with_events(|events| self.store_entry(query, response, options, events))
            .map_err(|e| e.in_namespace(ns))
    }

    fn store_entry(
        &self,
        query: &str,
        response: &str,
        o: Put<'_>,
        events: &mut Vec<MetricEvent>,
    ) -> Result<()> {
        self.enter()?;
        self.flush_access_if_due();
        let c = &self.config;
        if query.len() > c.max_query_bytes {
            return Err(too_large(
                "query",
                "max_query_bytes",
                query.len(),
                c.max_query_bytes,
            ));
        }
        if response.len() > c.max_response_bytes {
            return Err(too_large(
                "response",
                "max_response_bytes",
                response.len(),
                c.max_response_bytes,
            ));
        }
        let metadata_len = match (o.metadata_json, &o.metadata) {
            (Some(text), _) => text.len(),
            (None, Some(m)) => m.to_json().len(),
            (None, None) => 2,
        };
        if metadata_len > c.max_metadata_bytes {
            return Err(too_large(
                "metadata",
                "max_metadata_bytes",
                metadata_len,
                c.max_metadata_bytes,
            ));
        }
        let metadata = match o.metadata_json {
            Some(text) => Metadata::from_json(text)?,
            None => o.metadata.unwrap_or_default(),
        };
        let key = cache_key(query, c.normalize);
        let mut vector = match o.embedding {
            Some(v) => v.to_vec(),
            None => self.embed(&key).map_err(Error::Embedder)?,
        };
        self.ensure_open()?;
        quant::validate_vector(&vector, self.dim)?;
        quant::l2_normalize(&mut vector);
        let namespace = o.namespace.unwrap_or("default");
        let now = c.clock.now();
        let entry = StoredEntry {
            id: 0,
            namespace: namespace.to_owned(),
            query_hash: hash_query(&key),
            query: query.to_owned(),
            response: response.to_owned(),
            embedding: quant::f32_to_le_bytes(&vector),
            metadata,
            created_at: now,
            last_accessed_at: now,
            ttl: o.ttl.or(c.default_ttl),
            access_count: 0,
        };
        let _w = self.writer.lock();
        self.ensure_open()?;
        let id = self.store.insert(&entry)?;
        self.forget_access(id);
        self.index.write().append(id, &vector, namespace)?;
        self.evict_after_put(namespace, events)
    }

    /// LRU eviction after a put, in batches of 10 %. The caller holds the writer lock.
    fn evict_after_put(&self, ns: &str, events: &mut Vec<MetricEvent>) -> Result<()> {
        let quota = self
            .config
            .namespace_quotas
            .iter()
            .find(|(n, _)| n == ns)
            .map(|(_, q)| *q);
        let (scope, cap) = match (quota, self.config.max_entries) {
            (Some(q), _) => (Some(ns), q),
            (None, Some(max)) => (None, max),
            (None, None) => return Ok(()),
        };
        let count = self.store.count(scope)?;
        if count <= cap {
            return Ok(());
        }
        let batch = (count - cap).max(cap / 10).max(1);
        self.flush_access()?;
        let victims = self.store.iter_lru_ids(batch as usize, scope)?;
        let removed = self.store.delete_by_ids(&victims)?;
        {
            let mut index = self.index.write();
            for id in &removed {
                index.remove(*id);
            }
        }
        let n = removed.len() as u64;
        if n > 0 {
            self.counters.lock().incr(ns, Counter::Evictions, n);
            events.push(MetricEvent::Eviction {
                namespace: ns.to_owned(),
                count: n,
            });
        }
        Ok(())
    }

    /// Deletes the entry for `query` in the default namespace; true if it existed.
    ///
    /// # Errors
    /// [`Error::CacheClosed`] or a store failure.
    pub fn delete(&self, query: &str) -> Result<bool> {
        self.delete_in(query, "default")
    }

    /// Deletes the entry for `query` in `namespace`; true if it existed.
    ///
    /// # Errors
    /// [`Error::CacheClosed`] or a store failure.
    pub fn delete_in(&self, query: &str, namespace: &str) -> Result<bool> {
        self.enter()?;
        let key = cache_key(query, self.config.normalize);
        self.store
            .get_by_hash(namespace, &hash_query(&key))
            .and_then(|found| match found {
                None => Ok(false),
                Some(entry) => self.remove_row(entry.id),
            })
            .map_err(|e| e.in_namespace(namespace))
    }

    /// Removes expired entries (in one namespace, or all) and, when `compact`, reclaims the
    /// index's tombstones. Returns how many entries were removed. Nothing runs this for you.
    ///
    /// # Errors
    /// [`Error::CacheClosed`] or a store failure.
    pub fn vacuum(&self, namespace: Option<&str>, compact: bool) -> Result<u64> {
        self.with_events(|events| {
            self.enter()?;
            let _w = self.writer.lock();
            self.flush_access()?;
            let removed = self
                .store
                .delete_expired_ids(self.config.clock.now(), namespace)?;
            let mut per_ns: Vec<(String, u64)> = Vec::new();
            {
                let mut index = self.index.write();
                for (id, ns) in &removed {
                    index.remove(*id);
                    match per_ns.iter_mut().find(|(n, _)| n == ns) {
                        Some((_, k)) => *k += 1,
                        None => per_ns.push((ns.clone(), 1)),
                    }
                }
                if compact {
                    index.compact();
                }
            }
            let mut counters = self.counters.lock();
            for (namespace, count) in per_ns {
                counters.incr(&namespace, Counter::Expirations, count);
                events.push(MetricEvent::Expired { namespace, count });
            }
            Ok(removed.len() as u64)
        })
    }
}
