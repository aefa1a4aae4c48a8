//! The store conformance battery (storage spec §2.2). Every backend's test file runs it with its
//! own constructor; `reopen` builds a new handle onto the same persisted data (or `None` for
//! stores that do not persist).

use mneme::store::{AccessUpdate, Store, StoredEntry};
use mneme::{Error, Metadata, Value};

pub const FP: &str = "conformance:fp";
pub const DIM: usize = 4;

pub fn entry(ns: &str, query: &str, t: i64) -> StoredEntry {
    let v: Vec<f32> = (0..DIM)
        .map(|i| (i as f32 + query.len() as f32).sin())
        .collect();
    let mut metadata = Metadata::new();
    metadata.insert("q", query);
    metadata.insert(
        "nested",
        Value::Array(vec![
            Value::Float(1.5),
            Value::BigInt("1180591620717411303424".into()),
        ]),
    );
    StoredEntry {
        id: 0,
        namespace: ns.into(),
        query_hash: mneme::hash_query(&mneme::normalize(query)),
        query: query.into(),
        response: format!("response to {query}"),
        embedding: mneme::quant::f32_to_le_bytes(&v),
        metadata,
        created_at: t,
        last_accessed_at: t,
        ttl: None,
        access_count: 0,
    }
}

fn ids(rows: &[StoredEntry]) -> Vec<i64> {
    rows.iter().map(|e| e.id).collect()
}

pub fn run(make: &dyn Fn() -> Box<dyn Store>, reopen: Option<&dyn Fn() -> Box<dyn Store>>) {
    let s = make();
    s.open(FP, DIM).unwrap();
    assert_eq!(s.read_version_counter().unwrap(), 0, "version starts at 0");
    assert!(s.integrity_check().unwrap(), "a fresh store is healthy");

    // 1. ids > 0, increasing; 2. upsert keeps the id and takes the latest data.
    let a = s.insert(&entry("ns1", "alpha", 100)).unwrap();
    let b = s.insert(&entry("ns1", "beta", 101)).unwrap();
    let c = s.insert(&entry("ns2", "alpha", 102)).unwrap();
    assert!(a > 0 && b > a && c > b);
    let v_after_inserts = s.read_version_counter().unwrap();
    assert!(v_after_inserts >= 3);
    let mut newer = entry("ns1", "alpha", 200);
    newer.response = "updated".into();
    newer.ttl = Some(50);
    assert_eq!(s.insert(&newer).unwrap(), a, "upsert keeps the id");
    assert!(
        s.read_version_counter().unwrap() > v_after_inserts,
        "upsert bumps"
    );
    let got = s.get_by_id(a).unwrap().unwrap();
    assert_eq!(
        (got.response.as_str(), got.created_at, got.ttl),
        ("updated", 200, Some(50))
    );

    // 3. embedding bytes and nested metadata round-trip exactly.
    let want = entry("ns2", "alpha", 102);
    let got = s.get_by_id(c).unwrap().unwrap();
    assert_eq!(got.embedding, want.embedding);
    assert_eq!(got.metadata, want.metadata);

    // 5. get_by_hash is exact and namespace-scoped.
    let h = mneme::hash_query("alpha");
    assert_eq!(s.get_by_hash("ns2", &h).unwrap().unwrap().id, c);
    assert!(s.get_by_hash("ns3", &h).unwrap().is_none());
    assert!(s.get_by_id(0).unwrap().is_none() && s.get_by_id(-5).unwrap().is_none());

    // Counts and namespaces.
    assert_eq!(s.count(None).unwrap(), 3);
    assert_eq!(s.count(Some("ns1")).unwrap(), 2);
    assert_eq!(s.list_namespaces().unwrap(), ["ns1", "ns2"]);

    // 6. update_access touches only its two fields and does not bump.
    let v = s.read_version_counter().unwrap();
    let before = s.get_by_id(b).unwrap().unwrap();
    s.update_access(b, 500).unwrap();
    s.update_access_batch(&[AccessUpdate {
        id: b,
        last_accessed_at: 600,
        hits: 3,
    }])
    .unwrap();
    s.update_access(99_999, 700).unwrap();
    let after = s.get_by_id(b).unwrap().unwrap();
    assert_eq!((after.last_accessed_at, after.access_count), (600, 4));
    assert_eq!(
        StoredEntry {
            last_accessed_at: 101,
            access_count: 0,
            ..after
        },
        before
    );
    assert_eq!(
        s.read_version_counter().unwrap(),
        v,
        "update_access does not bump"
    );

    // LRU order: (last_accessed_at, id) ascending; n <= 0 yields nothing.
    assert_eq!(s.iter_lru_ids(10, None).unwrap(), [c, a, b]);
    assert_eq!(s.iter_lru_ids(1, Some("ns1")).unwrap(), [a]);
    assert!(s.iter_lru_ids(0, None).unwrap().is_empty());

    // 4. iterators in ascending id order.
    assert_eq!(ids(&s.iter_all().unwrap()), [a, b, c]);
    assert_eq!(ids(&s.iter_since(a).unwrap()), [b, c]);
    let mut rows = Vec::new();
    s.scan_index_rows(&mut |id, bytes, ns| {
        rows.push((id, bytes.len(), ns.to_owned()));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        rows,
        [
            (a, DIM * 4, "ns1".into()),
            (b, DIM * 4, "ns1".into()),
            (c, DIM * 4, "ns2".into())
        ]
    );
    let mut keyed: Vec<i64> = s.iter_index_keys().unwrap().iter().map(|k| k.id).collect();
    keyed.sort_unstable();
    assert_eq!(keyed, [a, b, c]);
    assert_eq!(s.max_id().unwrap(), c);
    assert_eq!(s.oldest_created_at().unwrap(), Some(101));

    // 7. deletes bump only when a row goes.
    let v = s.read_version_counter().unwrap();
    assert!(!s.delete_by_id(99_999).unwrap());
    assert_eq!(s.read_version_counter().unwrap(), v);
    assert!(s.delete_by_id(b).unwrap());
    assert!(s.read_version_counter().unwrap() > v);
    assert!(s.get_by_id(b).unwrap().is_none());

    // Expiry: created 200 + ttl 50 <= 250 is expired (inclusive boundary).
    assert_eq!(s.delete_expired(249, None).unwrap(), 0);
    assert_eq!(s.delete_expired_ids(250, Some("ns2")).unwrap(), []);
    assert_eq!(
        s.delete_expired_ids(250, None).unwrap(),
        [(a, "ns1".to_owned())]
    );
    assert_eq!(
        s.list_namespaces().unwrap(),
        ["ns2"],
        "a namespace leaves with its last row"
    );

    // Extreme TTLs (any i64 can come from a file or another process): stored, never expired,
    // and no expiry sweep fails on their arithmetic.
    let mut forever = entry("ns4", "forever", 300);
    forever.ttl = Some(i64::MAX);
    let f = s.insert(&forever).unwrap();
    assert!(!s.get_by_id(f).unwrap().unwrap().is_expired(i64::MAX));
    assert_eq!(s.delete_expired_ids(i64::MAX - 1, Some("ns4")).unwrap(), []);
    assert!(s.delete_by_id(f).unwrap());

    // Ids are never reused.
    let d = s.insert(&entry("ns1", "gamma", 300)).unwrap();
    assert!(d > c);
    assert_eq!(s.delete_by_ids(&[d, 12_345]).unwrap(), [d]);

    // clear_namespace.
    s.insert(&entry("ns3", "x", 1)).unwrap();
    s.insert(&entry("ns3", "y", 1)).unwrap();
    let v = s.read_version_counter().unwrap();
    assert_eq!(s.clear_namespace("ns3").unwrap(), 2);
    assert!(s.read_version_counter().unwrap() > v);
    assert_eq!(s.clear_namespace("nope").unwrap(), 0);

    // 8. meta and quotas round-trip; overwrites win.
    s.write_meta("k", "v1").unwrap();
    s.write_meta("k", "v2").unwrap();
    assert_eq!(s.read_meta("k").unwrap().as_deref(), Some("v2"));
    assert_eq!(s.read_meta("missing").unwrap(), None);
    assert_eq!(
        s.read_meta("embedder_fingerprint").unwrap().as_deref(),
        Some(FP)
    );
    s.merge_meta("k", &mut |old| format!("{}+", old.unwrap_or_default()))
        .unwrap();
    assert_eq!(s.read_meta("k").unwrap().as_deref(), Some("v2+"));
    s.set_namespace_quota("ns1", 10).unwrap();
    s.set_namespace_quota("ns1", 20).unwrap();
    assert_eq!(s.get_namespace_quota("ns1").unwrap(), Some(20));
    assert_eq!(s.get_namespace_quota("zz").unwrap(), None);

    // 10. persistent stores: data survives, a different embedder is refused.
    if let Some(reopen) = reopen {
        s.close().unwrap();
        let again = reopen();
        again.open(FP, DIM).unwrap();
        assert_eq!(
            again.get_by_id(c).unwrap().unwrap().query,
            "alpha",
            "ids survive reopen"
        );
        again.close().unwrap();
        let other = reopen();
        assert!(matches!(
            other.open("other-model", DIM),
            Err(Error::EmbedderMismatch(_))
        ));
        let other = reopen();
        assert!(matches!(
            other.open(FP, DIM + 1),
            Err(Error::EmbedderDimension(_))
        ));
        let other = reopen();
        assert!(
            matches!(
                other.open("other-model", DIM + 1),
                Err(Error::EmbedderMismatch(_))
            ),
            "fingerprint is checked first"
        );
    }

    // 9. every call after close is CacheClosed; close is idempotent.
    let s = make();
    s.open(FP, DIM).unwrap();
    s.close().unwrap();
    s.close().unwrap();
    let closed = |r: mneme::Result<()>| assert!(matches!(r, Err(Error::CacheClosed(_))), "{r:?}");
    closed(s.open(FP, DIM));
    closed(s.get_by_id(1).map(|_| ()));
    closed(s.get_by_hash("a", "b").map(|_| ()));
    closed(s.count(None).map(|_| ()));
    closed(s.insert(&entry("a", "b", 1)).map(|_| ()));
    closed(s.delete_by_id(1).map(|_| ()));
    closed(s.write_meta("a", "b"));
    closed(s.read_version_counter().map(|_| ()));
    closed(s.list_namespaces().map(|_| ()));
}
