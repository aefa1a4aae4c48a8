//! Entries and the counter item as DynamoDB items, in mneme-cache 1.0's layout: numbers as `N`,
//! the embedding as `B`, metadata as JSON text, `ttl` present only when set, and the counter
//! item at `id = 0` with the embedder stamp as top-level attributes.

use super::failure::corrupt;
use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::store::StoredEntry;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};

pub(super) type Item = HashMap<String, AttributeValue>;

/// DynamoDB's item size limit (400 KB), attribute names included.
pub(super) const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The id of the counter item.
pub(super) const COUNTER_ID: i64 = 0;

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// The primary key of item `id`.
pub(super) fn key(id: i64) -> Item {
    HashMap::from([("id".to_owned(), n(id))])
}

/// A number attribute, if present and numeric.
pub(super) fn num(item: &Item, name: &str) -> Option<i64> {
    match item.get(name)? {
        AttributeValue::N(v) => v.parse().ok(),
        _ => None,
    }
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        AttributeValue::S(v) => Some(v),
        _ => None,
    }
}

/// An entry as the item 1.0 writes, with `id` set.
pub(super) fn entry_item(id: i64, e: &StoredEntry) -> Item {
    let mut item = HashMap::from([
        ("id".to_owned(), n(id)),
        ("namespace".to_owned(), s(&e.namespace)),
        ("query_hash".to_owned(), s(&e.query_hash)),
        ("query".to_owned(), s(&e.query)),
        ("response".to_owned(), s(&e.response)),
        (
            "embedding".to_owned(),
            AttributeValue::B(Blob::new(e.embedding.clone())),
        ),
        (
            "metadata".to_owned(),
            AttributeValue::S(e.metadata.to_json()),
        ),
        ("created_at".to_owned(), n(e.created_at)),
        ("last_accessed_at".to_owned(), n(e.last_accessed_at)),
        ("access_count".to_owned(), n(e.access_count)),
    ]);
    if let Some(ttl) = e.ttl {
        item.insert("ttl".to_owned(), n(ttl));
    }
    item
}

/// An item read back as an entry. `embedding` may be absent (an exact hit's projection).
pub(super) fn entry_of(item: &Item, table: &str) -> Result<StoredEntry> {
    let id = num(item, "id").ok_or_else(|| corrupt(table, "an item without a numeric id"))?;
    let field = |name: &str| {
        text(item, name)
            .map(str::to_owned)
            .ok_or_else(|| corrupt(table, &format!("item {id} without its {name} text")))
    };
    let number = |name: &str| {
        num(item, name)
            .ok_or_else(|| corrupt(table, &format!("item {id} without its {name} number")))
    };
    let embedding = match item.get("embedding") {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        _ => Vec::new(),
    };
    let metadata = Metadata::from_json(&field("metadata")?)
        .map_err(|e| corrupt(table, &format!("item {id} has unreadable metadata ({e})")))?;
    Ok(StoredEntry {
        id,
        namespace: field("namespace")?,
        query_hash: field("query_hash")?,
        query: field("query")?,
        response: field("response")?,
        embedding,
        metadata,
        created_at: number("created_at")?,
        last_accessed_at: number("last_accessed_at")?,
        ttl: num(item, "ttl"),
        access_count: num(item, "access_count").unwrap_or(0),
    })
}

/// DynamoDB's size of an item: names plus values (numbers count about one byte per two
/// digits, plus one).
pub(super) fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(v) => v.len(),
                    AttributeValue::N(v) => v.len().div_ceil(2) + 1,
                    AttributeValue::B(v) => v.as_ref().len(),
                    _ => 1,
                }
        })
        .sum()
}

/// Refuses, before anything is written, an entry DynamoDB would reject half-way.
pub(super) fn check_writable(item: &Item, e: &StoredEntry, table: &str) -> Result<()> {
    if e.namespace.is_empty() {
        return Err(Error::store_backend(
            format!("DynamoDB table {table:?} cannot hold an entry in the empty namespace: the namespace is the key of both indexes (gsi_hash, gsi_lru)"),
            "use a non-empty namespace (the default is \"default\")",
        ));
    }
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(Error::store_backend(
            format!(
                "the entry for {:?} is {size} bytes as a DynamoDB item; DynamoDB items are limited to 400 KB ({MAX_ITEM_BYTES} bytes)",
                e.query.chars().take(60).collect::<String>()
            ),
            "store large responses elsewhere (S3, a blob store) and cache a reference to them, or use a store without this limit (SQLite, PostgreSQL)",
        ));
    }
    Ok(())
}

/// The counter item's contents.
#[derive(Debug, Default)]
pub(super) struct Counter {
    pub next_id: Option<i64>,
    pub version: Option<i64>,
    pub fingerprint: Option<String>,
    pub dim: Option<i64>,
    pub meta: BTreeMap<String, String>,
    pub quotas: BTreeMap<String, i64>,
}

impl Counter {
    pub(super) fn of(item: &Item) -> Counter {
        let map = |name: &str| match item.get(name) {
            Some(AttributeValue::M(m)) => m.clone(),
            _ => HashMap::new(),
        };
        Counter {
            next_id: num(item, "next_id"),
            version: num(item, "version_counter"),
            fingerprint: text(item, "embedder_fingerprint").map(str::to_owned),
            dim: num(item, "embedder_dim"),
            meta: map("meta")
                .into_iter()
                .filter_map(|(k, v)| match v {
                    AttributeValue::S(v) => Some((k, v)),
                    _ => None,
                })
                .collect(),
            quotas: map("quotas")
                .into_iter()
                .filter_map(|(k, v)| match v {
                    AttributeValue::N(v) => v.parse().ok().map(|v| (k, v)),
                    _ => None,
                })
                .collect(),
        }
    }

    /// A new store's counter item, stamped (1.0's first item).
    pub(super) fn fresh_item(fingerprint: &str, dim: usize) -> Item {
        HashMap::from([
            ("id".to_owned(), n(COUNTER_ID)),
            ("next_id".to_owned(), n(1)),
            ("version_counter".to_owned(), n(0)),
            ("embedder_fingerprint".to_owned(), s(fingerprint)),
            (
                "embedder_dim".to_owned(),
                AttributeValue::N(dim.to_string()),
            ),
            ("meta".to_owned(), AttributeValue::M(HashMap::new())),
            ("quotas".to_owned(), AttributeValue::M(HashMap::new())),
        ])
    }

    /// A meta value; the embedder stamp falls back to the top-level attributes (where 1.0
    /// keeps it, so that `health()` sees it).
    pub(super) fn meta(&self, key: &str) -> Option<String> {
        self.meta.get(key).cloned().or_else(|| match key {
            "embedder_fingerprint" => self.fingerprint.clone(),
            "embedder_dim" => self.dim.map(|d| d.to_string()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> StoredEntry {
        StoredEntry {
            id: 0,
            namespace: "ns".into(),
            query_hash: "h".repeat(64),
            query: "q".into(),
            response: "r".into(),
            embedding: vec![1, 2, 3, 4],
            metadata: Metadata::from_json(r#"{"a": [1, 2]}"#).unwrap(),
            created_at: 10,
            last_accessed_at: 11,
            ttl: None,
            access_count: 2,
        }
    }

    #[test]
    fn an_entry_round_trips_and_ttl_is_absent_when_unset() {
        let e = entry();
        let item = entry_item(7, &e);
        assert!(!item.contains_key("ttl"));
        assert_eq!(
            entry_of(&item, "t").unwrap(),
            StoredEntry { id: 7, ..e.clone() }
        );
        let timed = StoredEntry { ttl: Some(60), ..e };
        assert_eq!(num(&entry_item(7, &timed), "ttl"), Some(60));
    }

    #[test]
    fn oversize_and_empty_namespace_are_refused_before_writing() {
        let big = StoredEntry {
            response: "x".repeat(MAX_ITEM_BYTES),
            ..entry()
        };
        let e = check_writable(&entry_item(1, &big), &big, "t").unwrap_err();
        assert!(e.to_string().contains("400 KB"), "{e}");
        let empty = StoredEntry {
            namespace: String::new(),
            ..entry()
        };
        let e = check_writable(&entry_item(1, &empty), &empty, "t").unwrap_err();
        assert!(e.to_string().contains("empty namespace"), "{e}");
        let ok = entry();
        check_writable(&entry_item(1, &ok), &ok, "t").unwrap();
    }

    #[test]
    fn the_stamp_falls_back_to_top_level_attributes() {
        let c = Counter::of(&Counter::fresh_item("fp", 384));
        assert_eq!(c.meta("embedder_fingerprint").as_deref(), Some("fp"));
        assert_eq!(c.meta("embedder_dim").as_deref(), Some("384"));
        assert_eq!(c.meta("schema_version"), None);
        assert_eq!((c.next_id, c.version), (Some(1), Some(0)));
    }
}
