//! Repeated exact hits, served from memory while the store has not changed.
//!
//! Layer 1 must see every other process's writes, so it reads the store on each `get` (~8 µs
//! on SQLite, most of it the read transaction and page walks). A store that can tell cheaply
//! that nothing committed since ([`Store::change_token`](crate::store::Store::change_token))
//! lets the entries it last returned be served again from here: any commit anywhere (a put, a
//! delete, another process's access bookkeeping) changes the token and empties this cache.
//! Entries keep their `created_at` and `ttl`, so expiry is checked exactly as for a store read.

use crate::store::StoredEntry;
use std::collections::HashMap;

/// Memory the cached entries may use (responses, queries and metadata, roughly).
const MAX_BYTES: usize = 32 << 20;

/// Bookkeeping per entry, on top of its strings.
const ENTRY_OVERHEAD: usize = 160;

/// Exact-hit entries by query hash, all read at one store token.
#[derive(Default)]
pub(super) struct HotEntries {
    token: Option<u128>,
    bytes: usize,
    /// Query hash → the entries of every namespace with that hash (almost always one), without
    /// their vector, query or hash.
    by_hash: HashMap<String, Vec<StoredEntry>>,
}

impl HotEntries {
    /// The entry of `(namespace, hash)` read at `token`, if any. A different token means the
    /// store changed: everything cached is dropped and the cache moves to `token`.
    pub(super) fn get(&mut self, token: u128, namespace: &str, hash: &str) -> Option<StoredEntry> {
        if self.token != Some(token) {
            self.clear();
            self.token = Some(token);
            return None;
        }
        self.by_hash
            .get(hash)?
            .iter()
            .find(|e| e.namespace == namespace)
            .cloned()
    }

    /// Caches `entry`, which the store returned after `token` was read. Ignored if the cache
    /// has since moved to another token: the entry may predate that change.
    pub(super) fn insert(&mut self, token: u128, entry: &StoredEntry) {
        if self.token != Some(token) {
            return;
        }
        let size = ENTRY_OVERHEAD
            + entry.query_hash.len()
            + entry.namespace.len()
            + entry.response.len()
            + if entry.metadata.is_empty() {
                2
            } else {
                entry.metadata.to_json().len()
            };
        if size > MAX_BYTES / 16 {
            return;
        }
        if self.bytes + size > MAX_BYTES {
            // Starting over is simpler than tracking recency, and refills with what is hot now.
            self.clear();
            self.token = Some(token);
        }
        // Only what a hit reads: every served hit clones the entry, and the hash is the key.
        let kept = StoredEntry {
            id: entry.id,
            namespace: entry.namespace.clone(),
            query_hash: String::new(),
            query: String::new(),
            response: entry.response.clone(),
            embedding: Vec::new(),
            metadata: entry.metadata.clone(),
            created_at: entry.created_at,
            last_accessed_at: entry.last_accessed_at,
            ttl: entry.ttl,
            access_count: entry.access_count,
        };
        let slot = self.by_hash.entry(entry.query_hash.clone()).or_default();
        slot.retain(|e| e.namespace != entry.namespace);
        slot.push(kept);
        self.bytes += size;
    }

    pub(super) fn clear(&mut self) {
        self.by_hash.clear();
        self.bytes = 0;
        self.token = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Metadata;

    fn entry(ns: &str, hash: &str, response: &str) -> StoredEntry {
        StoredEntry {
            id: 1,
            namespace: ns.into(),
            query_hash: hash.into(),
            query: "q".into(),
            response: response.into(),
            embedding: vec![1, 2, 3, 4],
            metadata: Metadata::new(),
            created_at: 10,
            last_accessed_at: 10,
            ttl: None,
            access_count: 0,
        }
    }

    #[test]
    fn entries_live_exactly_as_long_as_their_token() {
        let mut hot = HotEntries::default();
        assert!(hot.get(1, "a", "h").is_none(), "empty");
        hot.insert(1, &entry("a", "h", "r1"));
        hot.insert(1, &entry("b", "h", "r2"));
        assert_eq!(hot.get(1, "a", "h").unwrap().response, "r1");
        assert_eq!(hot.get(1, "b", "h").unwrap().response, "r2");
        assert!(hot.get(1, "a", "h").unwrap().embedding.is_empty());
        assert!(hot.get(1, "c", "h").is_none());
        hot.insert(1, &entry("a", "h", "r3"));
        assert_eq!(hot.get(1, "a", "h").unwrap().response, "r3", "replaced");

        assert!(
            hot.get(2, "a", "h").is_none(),
            "a new token empties the cache"
        );
        assert!(hot.get(2, "b", "h").is_none());
        hot.insert(1, &entry("a", "h", "stale"));
        assert!(
            hot.get(2, "a", "h").is_none(),
            "an entry read at an old token is refused"
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let mut hot = HotEntries::default();
        hot.get(7, "a", "-");
        let big = "x".repeat(MAX_BYTES / 20);
        for i in 0..100 {
            hot.insert(7, &entry("a", &i.to_string(), &big));
            assert!(hot.bytes <= MAX_BYTES);
        }
        assert!(hot.get(7, "a", "99").is_some(), "the newest entry is kept");
        hot.insert(7, &entry("a", "huge", &"x".repeat(MAX_BYTES)));
        assert!(
            hot.get(7, "a", "huge").is_none(),
            "one entry may not take it all"
        );
    }
}
