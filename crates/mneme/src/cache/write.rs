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

/// A `put` that passed its checks, before its vector exists.
struct Pending<'a> {
    key: std::borrow::Cow<'a, str>,
    query: &'a str,
    response: &'a str,
    metadata: Metadata,
    namespace: &'a str,
    ttl: Option<i64>,
    embedding: Option<&'a [f32]>,
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
        let pending = self.check_put(query, response, o)?;
        let vector = match pending.embedding {
            Some(v) => v.to_vec(),
            None => self.embed(&pending.key).map_err(Error::Embedder)?,
        };
        self.ensure_open()?;
        let (entry, vector) = self.entry_for(pending, vector)?;
        let _w = self.write_lock()?;
        self.ensure_open()?;
        let id = self.store.insert(&entry)?;
        self.forget_access(id);
        self.index_row(id, &vector, &entry.namespace)?;
        self.evict_after_put(&entry.namespace, events)
    }

    /// Puts a stored row into the index: through its buffer when it has one (no wait for
    /// searches; the linker thread does the rest), else under the write lock.
    fn index_row(&self, id: i64, vector: &[f32], namespace: &str) -> Result<()> {
        if self.index.read().append_deferred(id, vector, namespace)? {
            self.linker.wake(&self.index);
            return Ok(());
        }
        self.index.write().append(id, vector, namespace)
    }

    /// Caches many entries: each `(query, response, options)` as [`SemanticCache::put_with`]
    /// would (same upsert, limits and eviction), with the texts embedded by
    /// [`Embedder::embed_batch`](crate::Embedder::embed_batch) and the rows written one
    /// transaction per batch of 512. Returns how many entries were written.
    ///
    /// Every entry is checked and every text embedded before the first row is written, so an
    /// invalid entry or an embedder failure writes nothing. A store failure part-way leaves the
    /// batches before it written (each batch is all or nothing).
    ///
    /// # Errors
    /// As [`SemanticCache::put_with`]; the namespace in the error's details is the failing
    /// entry's.
    pub fn put_many<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a str, &'a str, Put<'a>)>,
    ) -> Result<usize> {
        self.with_events(|events| self.store_many(items, events))
    }

    fn store_many<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a str, &'a str, Put<'a>)>,
        events: &mut Vec<MetricEvent>,
    ) -> Result<usize> {
        const BATCH: usize = 512;
        self.enter()?;
        self.flush_access_if_due();
        let mut pending = Vec::new();
        for (query, response, o) in items {
            let ns = o.namespace.unwrap_or("default");
            pending.push(
                self.check_put(query, response, o)
                    .map_err(|e| e.in_namespace(ns))?,
            );
        }
        let mut vectors: Vec<Option<Vec<f32>>> = pending
            .iter()
            .map(|p| p.embedding.map(<[f32]>::to_vec))
            .collect();
        let missing: Vec<usize> = (0..pending.len())
            .filter(|&i| vectors[i].is_none())
            .collect();
        for chunk in missing.chunks(BATCH) {
            let keys: Vec<&str> = chunk.iter().map(|&i| pending[i].key.as_ref()).collect();
            let embedded = self.embed_batch(&keys).map_err(Error::Embedder)?;
            for (&i, v) in chunk.iter().zip(embedded) {
                vectors[i] = Some(v);
            }
        }
        self.ensure_open()?;
        let mut rows = Vec::with_capacity(pending.len());
        for (p, v) in pending.into_iter().zip(vectors) {
            let ns = p.namespace;
            rows.push(
                self.entry_for(p, v.unwrap_or_default())
                    .map_err(|e| e.in_namespace(ns))?,
            );
        }
        let written = rows.len();
        let (entries, vectors): (Vec<StoredEntry>, Vec<Vec<f32>>) = rows.into_iter().unzip();
        for (chunk, chunk_vectors) in entries.chunks(BATCH).zip(vectors.chunks(BATCH)) {
            let _w = self.write_lock()?;
            self.ensure_open()?;
            let ids = self.store.insert_batch(chunk)?;
            let mut namespaces: Vec<&str> = Vec::new();
            {
                let mut index = self.index.write();
                for ((id, entry), vector) in ids.iter().zip(chunk).zip(chunk_vectors) {
                    self.forget_access(*id);
                    index.append(*id, vector, &entry.namespace)?;
                    if !namespaces.contains(&entry.namespace.as_str()) {
                        namespaces.push(&entry.namespace);
                    }
                }
            }
            for ns in namespaces {
                self.evict_after_put(ns, events)?;
            }
        }
        Ok(written)
    }

    /// Everything `put` checks before embedding: sizes and metadata. Nothing is written.
    fn check_put<'a>(&self, query: &'a str, response: &'a str, o: Put<'a>) -> Result<Pending<'a>> {
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
        Ok(Pending {
            key: cache_key(query, c.normalize),
            query,
            response,
            metadata,
            namespace: o.namespace.unwrap_or("default"),
            ttl: o.ttl.or(c.default_ttl),
            embedding: o.embedding,
        })
    }

    /// The row for a checked entry and its vector (validated, then L2-normalised).
    fn entry_for(&self, p: Pending<'_>, mut vector: Vec<f32>) -> Result<(StoredEntry, Vec<f32>)> {
        quant::validate_vector(&vector, self.dim)?;
        quant::l2_normalize(&mut vector);
        let now = self.config.clock.now();
        let entry = StoredEntry {
            id: 0,
            namespace: p.namespace.to_owned(),
            query_hash: hash_query(&p.key),
            query: p.query.to_owned(),
            response: p.response.to_owned(),
            embedding: quant::f32_to_le_bytes(&vector),
            metadata: p.metadata,
            created_at: now,
            last_accessed_at: now,
            ttl: p.ttl,
            access_count: 0,
        };
        Ok((entry, vector))
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
            let _w = self.write_lock()?;
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
