//! The store conformance battery, for any backend (cargo feature `testkit`).
//!
//! mneme's own stores run it in their tests; a store written elsewhere proves it keeps the
//! [`Store`] contract with one call from its own test suite:
//!
//! ```
//! use mneme::testkit::{self, Fresh};
//! use mneme::MemoryStore;
//!
//! // Each case gets a new, empty store. A persistent store also says how to reopen it.
//! testkit::run(&|| Fresh::new(MemoryStore::new()));
//! ```
//!
//! Each case is also public, named for what it checks, so a failing one can be run alone. A
//! case panics, naming the rule, when the store breaks it.

use crate::error::Error;
use crate::metadata::{Metadata, Value};
use crate::store::{AccessUpdate, Store, StoredEntry};

/// The embedder fingerprint the battery opens stores with.
pub const FP: &str = "conformance:fp";
/// The vector length the battery uses.
pub const DIM: usize = 4;

/// A fresh, empty store for one case, and how to open its data again (persistent stores only).
pub struct Fresh {
    /// The store, not yet opened.
    pub store: Box<dyn Store>,
    /// Opens a second handle onto the same persisted data, unopened; `None` for stores that
    /// keep nothing (the reopen case is then skipped for that store).
    pub reopen: Option<Box<dyn Fn() -> Box<dyn Store>>>,
}

impl Fresh {
    /// A store that keeps nothing beyond its own handle.
    pub fn new(store: impl Store + 'static) -> Self {
        Fresh {
            store: Box::new(store),
            reopen: None,
        }
    }

    /// A store whose data `reopen` can open again.
    pub fn persistent(
        store: impl Store + 'static,
        reopen: impl Fn() -> Box<dyn Store> + 'static,
    ) -> Self {
        Fresh {
            store: Box::new(store),
            reopen: Some(Box::new(reopen)),
        }
    }

    /// The store, opened with the battery's stamp.
    fn opened(&self) -> &dyn Store {
        self.store.open(FP, DIM).expect("open a fresh store");
        self.store.as_ref()
    }
}

/// One case: a name and the check it runs on a fresh store.
pub type Case = (&'static str, fn(Fresh));

/// Every case, by name.
pub const CASES: &[Case] = &[
    (
        "ids_increase_and_upserts_keep_them",
        ids_increase_and_upserts_keep_them,
    ),
    ("rows_round_trip_exactly", rows_round_trip_exactly),
    ("lookups_are_exact_and_scoped", lookups_are_exact_and_scoped),
    ("counts_and_namespaces", counts_and_namespaces),
    (
        "access_updates_touch_two_fields_and_do_not_bump",
        access_updates_touch_two_fields_and_do_not_bump,
    ),
    ("lru_order", lru_order),
    ("scans_are_in_id_order", scans_are_in_id_order),
    (
        "deletes_bump_only_when_a_row_goes",
        deletes_bump_only_when_a_row_goes,
    ),
    (
        "expiry_is_inclusive_and_never_overflows",
        expiry_is_inclusive_and_never_overflows,
    ),
    ("ids_are_never_reused", ids_are_never_reused),
    ("clearing_a_namespace", clearing_a_namespace),
    ("meta_and_quotas_round_trip", meta_and_quotas_round_trip),
    (
        "data_survives_reopen_and_the_stamp_is_checked",
        data_survives_reopen_and_the_stamp_is_checked,
    ),
    (
        "every_call_after_close_is_refused",
        every_call_after_close_is_refused,
    ),
];

/// Runs every case, each on a store `make` returns. Panics with the case's name and the rule
/// broken.
pub fn run(make: &dyn Fn() -> Fresh) {
    for (name, case) in CASES {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(make())))
        {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("store conformance case `{name}` failed: {why}");
        }
    }
}

/// A row as the battery writes it: a vector from the query, nested metadata with a big int.
pub fn entry(namespace: &str, query: &str, t: i64) -> StoredEntry {
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
        namespace: namespace.into(),
        query_hash: crate::hash_query(&crate::normalize(query)),
        query: query.into(),
        response: format!("response to {query}"),
        embedding: crate::quant::f32_to_le_bytes(&v),
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

/// Writes the three rows most cases start from: `(a, ns1, alpha)`, `(b, ns1, beta)`,
/// `(c, ns2, alpha)`.
fn three(s: &dyn Store) -> (i64, i64, i64) {
    let a = s.insert(&entry("ns1", "alpha", 100)).unwrap();
    let b = s.insert(&entry("ns1", "beta", 101)).unwrap();
    let c = s.insert(&entry("ns2", "alpha", 102)).unwrap();
    (a, b, c)
}

/// Ids are positive and increasing; an upsert keeps the id, takes the new data and bumps.
pub fn ids_increase_and_upserts_keep_them(fresh: Fresh) {
    let s = fresh.opened();
    assert_eq!(s.read_version_counter().unwrap(), 0, "version starts at 0");
    assert!(s.integrity_check().unwrap(), "a fresh store is healthy");
    let (a, b, c) = three(s);
    assert!(a > 0 && b > a && c > b, "ids are positive and increase");
    let v = s.read_version_counter().unwrap();
    assert!(v >= 3, "every insert bumps");
    let mut newer = entry("ns1", "alpha", 200);
    newer.response = "updated".into();
    newer.ttl = Some(50);
    assert_eq!(s.insert(&newer).unwrap(), a, "upsert keeps the id");
    assert!(s.read_version_counter().unwrap() > v, "upsert bumps");
    let got = s.get_by_id(a).unwrap().unwrap();
    assert_eq!(
        (got.response.as_str(), got.created_at, got.ttl),
        ("updated", 200, Some(50)),
        "upsert takes every field"
    );
}

/// Embedding bytes and nested metadata come back exactly as written.
pub fn rows_round_trip_exactly(fresh: Fresh) {
    let s = fresh.opened();
    let (_, _, c) = three(s);
    let want = entry("ns2", "alpha", 102);
    let got = s.get_by_id(c).unwrap().unwrap();
    assert_eq!(got.embedding, want.embedding, "embedding bytes");
    assert_eq!(got.metadata, want.metadata, "metadata");
}

/// `get_by_hash` is exact and namespace-scoped; ids at or below 0 are misses.
pub fn lookups_are_exact_and_scoped(fresh: Fresh) {
    let s = fresh.opened();
    let (_, _, c) = three(s);
    let h = crate::hash_query("alpha");
    assert_eq!(s.get_by_hash("ns2", &h).unwrap().unwrap().id, c);
    assert!(s.get_by_hash("ns3", &h).unwrap().is_none(), "scoped");
    assert!(s.get_by_id(0).unwrap().is_none() && s.get_by_id(-5).unwrap().is_none());
}

/// Counts per namespace and in all; namespaces sorted by code point.
pub fn counts_and_namespaces(fresh: Fresh) {
    let s = fresh.opened();
    three(s);
    assert_eq!(s.count(None).unwrap(), 3);
    assert_eq!(s.count(Some("ns1")).unwrap(), 2);
    assert_eq!(s.list_namespaces().unwrap(), ["ns1", "ns2"]);
}

/// `update_access` (and its batch) touch only `last_accessed_at` and `access_count`, ignore
/// unknown ids and do not bump the version.
pub fn access_updates_touch_two_fields_and_do_not_bump(fresh: Fresh) {
    let s = fresh.opened();
    let (_, b, _) = three(s);
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
        before,
        "no other field changes"
    );
    assert_eq!(s.read_version_counter().unwrap(), v, "no bump");
}

/// Eviction order is `(last_accessed_at, id)` ascending; asking for none gives none.
pub fn lru_order(fresh: Fresh) {
    let s = fresh.opened();
    let (a, b, c) = three(s);
    s.update_access(b, 600).unwrap();
    s.update_access(a, 200).unwrap();
    assert_eq!(s.iter_lru_ids(10, None).unwrap(), [c, a, b]);
    assert_eq!(s.iter_lru_ids(1, Some("ns1")).unwrap(), [a]);
    assert!(s.iter_lru_ids(0, None).unwrap().is_empty());
}

/// Every scan visits rows in ascending id order; the key listing holds every id.
pub fn scans_are_in_id_order(fresh: Fresh) {
    let s = fresh.opened();
    let (a, b, c) = three(s);
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
    assert_eq!(s.oldest_created_at().unwrap(), Some(100));
}

/// A delete bumps the version only when it removed a row.
pub fn deletes_bump_only_when_a_row_goes(fresh: Fresh) {
    let s = fresh.opened();
    let (_, b, _) = three(s);
    let v = s.read_version_counter().unwrap();
    assert!(!s.delete_by_id(99_999).unwrap());
    assert_eq!(s.read_version_counter().unwrap(), v, "no row, no bump");
    assert!(s.delete_by_id(b).unwrap());
    assert!(s.read_version_counter().unwrap() > v, "a removed row bumps");
    assert!(s.get_by_id(b).unwrap().is_none());
}

/// `created_at + ttl <= now` is expired; a namespace leaves with its last row; extreme TTLs
/// (any i64 may come from a file or another process) never expire and break no sweep.
pub fn expiry_is_inclusive_and_never_overflows(fresh: Fresh) {
    let s = fresh.opened();
    let (a, _, _) = three(s);
    let mut short = entry("ns1", "alpha", 200);
    short.ttl = Some(50);
    s.insert(&short).unwrap();
    s.delete_by_id(
        s.get_by_hash("ns1", &crate::hash_query("beta"))
            .unwrap()
            .unwrap()
            .id,
    )
    .unwrap();
    assert_eq!(s.delete_expired(249, None).unwrap(), 0);
    assert_eq!(s.delete_expired_ids(250, Some("ns2")).unwrap(), []);
    assert_eq!(
        s.delete_expired_ids(250, None).unwrap(),
        [(a, "ns1".to_owned())],
        "the boundary counts as expired"
    );
    assert_eq!(
        s.list_namespaces().unwrap(),
        ["ns2"],
        "a namespace leaves with its last row"
    );
    let mut forever = entry("ns4", "forever", 300);
    forever.ttl = Some(i64::MAX);
    let f = s.insert(&forever).unwrap();
    assert!(!s.get_by_id(f).unwrap().unwrap().is_expired(i64::MAX));
    assert_eq!(s.delete_expired_ids(i64::MAX - 1, Some("ns4")).unwrap(), []);
    assert!(s.delete_by_id(f).unwrap());
}

/// A new row's id is above every id ever used, deleted ones included.
pub fn ids_are_never_reused(fresh: Fresh) {
    let s = fresh.opened();
    let (_, _, c) = three(s);
    assert!(s.delete_by_id(c).unwrap());
    let d = s.insert(&entry("ns1", "gamma", 300)).unwrap();
    assert!(d > c, "id {d} reuses a deleted one");
    assert_eq!(s.delete_by_ids(&[d, 12_345]).unwrap(), [d]);
}

/// `clear_namespace` removes exactly that namespace's rows, and bumps when it removed any.
pub fn clearing_a_namespace(fresh: Fresh) {
    let s = fresh.opened();
    three(s);
    s.insert(&entry("ns3", "x", 1)).unwrap();
    s.insert(&entry("ns3", "y", 1)).unwrap();
    let v = s.read_version_counter().unwrap();
    assert_eq!(s.clear_namespace("ns3").unwrap(), 2);
    assert!(s.read_version_counter().unwrap() > v);
    assert_eq!(s.clear_namespace("nope").unwrap(), 0);
    assert_eq!(s.count(None).unwrap(), 3, "other namespaces stay");
}

/// Meta and quotas round-trip; overwrites win; the stamp is readable as meta.
pub fn meta_and_quotas_round_trip(fresh: Fresh) {
    let s = fresh.opened();
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
}

/// Persistent stores: rows keep their ids across a reopen; another embedder is refused,
/// the fingerprint checked before the dimension.
pub fn data_survives_reopen_and_the_stamp_is_checked(fresh: Fresh) {
    let Some(reopen) = &fresh.reopen else {
        return;
    };
    let s = fresh.opened();
    let (_, _, c) = three(s);
    s.close().unwrap();
    let again = reopen();
    again.open(FP, DIM).unwrap();
    assert_eq!(
        again.get_by_id(c).unwrap().unwrap().query,
        "alpha",
        "ids survive reopen"
    );
    again.close().unwrap();
    assert!(matches!(
        reopen().open("other-model", DIM),
        Err(Error::EmbedderMismatch(_))
    ));
    assert!(matches!(
        reopen().open(FP, DIM + 1),
        Err(Error::EmbedderDimension(_))
    ));
    assert!(
        matches!(
            reopen().open("other-model", DIM + 1),
            Err(Error::EmbedderMismatch(_))
        ),
        "fingerprint is checked first"
    );
}

/// After `close` every call is `CacheClosed`; `close` itself is idempotent.
pub fn every_call_after_close_is_refused(fresh: Fresh) {
    let s = fresh.opened();
    s.close().unwrap();
    s.close().unwrap();
    let closed = |r: crate::Result<()>| assert!(matches!(r, Err(Error::CacheClosed(_))), "{r:?}");
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
