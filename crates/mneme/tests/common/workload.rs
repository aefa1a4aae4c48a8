//! The interop workload (`tests/interop/workload.json`) run and verified with mneme, mirroring
//! `peer.py workload` and `peer.py verify`.

use super::embedders::InteropEmbedder;
use super::peer::{self, Json};
use mneme::metadata::{parse, Value};
use mneme::{Get, Hit, Put, SemanticCache};
use std::collections::BTreeMap;
use std::path::Path;

pub const DIM: usize = 16;

pub fn workload() -> Vec<Value> {
    let text = std::fs::read_to_string(peer::interop_file("workload.json")).unwrap();
    parse(&text).unwrap().items().to_vec()
}

pub fn ns(op: &Value) -> String {
    match op.at("ns") {
        Value::Null => "default".into(),
        v => v.str().to_owned(),
    }
}

pub fn open(path: &Path) -> SemanticCache {
    open_target(path.to_str().unwrap())
}

/// A SQLite path, `redis://host:port/db#prefix` (with the `redis` feature),
/// `postgresql://…#schema` (`postgres`) or `dynamodb://TABLE?endpoint=URL` (`dynamodb`; the
/// table is created if missing).
pub fn open_target(target: &str) -> SemanticCache {
    let b = SemanticCache::builder(InteropEmbedder::new(DIM));
    #[cfg(feature = "dynamodb")]
    if let Some((table, endpoint)) = target
        .strip_prefix("dynamodb://")
        .and_then(|t| t.split_once("?endpoint="))
    {
        let store = mneme::store::DynamoDbStore::new(table)
            .unwrap()
            .endpoint_url(endpoint)
            .create_table(true);
        return b.store(store).open().unwrap();
    }
    #[cfg(feature = "redis")]
    if let Some((url, prefix)) = target
        .split_once('#')
        .filter(|_| target.starts_with("redis://"))
    {
        return b
            .store(mneme::store::RedisStore::new(url, prefix))
            .open()
            .unwrap();
    }
    #[cfg(feature = "postgres")]
    if let Some((dsn, schema)) = target
        .split_once('#')
        .filter(|_| target.starts_with("postgresql://"))
    {
        return b
            .store(mneme::store::PostgresStore::new(dsn, schema).unwrap())
            .open()
            .unwrap();
    }
    b.path(target).open().unwrap()
}

pub type Seen = Option<(String, String, f64)>;

pub fn seen(h: Option<Hit>) -> Seen {
    h.map(|h| (h.response, h.layer.to_string(), h.similarity))
}

pub fn seen_json(v: &Value) -> Seen {
    match v {
        Value::Null => None,
        v => Some((
            v.items()[0].str().to_owned(),
            v.items()[1].str().to_owned(),
            v.items()[2].num(),
        )),
    }
}

pub fn assert_same(ours: &[Seen], theirs: &[Value], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: count");
    for (i, (a, b)) in ours.iter().zip(theirs.iter().map(seen_json)).enumerate() {
        match (a, &b) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                assert_eq!((&a.0, &a.1), (&b.0, &b.1), "{what} #{i}");
                assert!(
                    (a.2 - b.2).abs() < 1e-4,
                    "{what} #{i}: similarity {} vs {}",
                    a.2,
                    b.2
                );
            }
            _ => panic!("{what} #{i}: ours {a:?}, theirs {b:?}"),
        }
    }
}

/// Runs the workload with mneme; returns the get results.
pub fn run_workload(path: &Path) -> Vec<Seen> {
    run_workload_on(path.to_str().unwrap())
}

/// Runs the workload on a target (see [`open_target`]); returns the get results.
pub fn run_workload_on(target: &str) -> Vec<Seen> {
    let cache = open_target(target);
    let mut gets = Vec::new();
    for op in workload() {
        let (q, ns) = (op.at("q").str().to_owned(), ns(&op));
        match op.at("op").str() {
            "put" => {
                let mut p = Put::default().namespace(&ns);
                if let Value::Object(m) = op.at("meta") {
                    p = p.metadata(m.clone());
                }
                if let Value::Int(ttl) = op.at("ttl") {
                    p = p.ttl(*ttl);
                }
                cache.put_with(&q, op.at("r").str(), p).unwrap();
            }
            "get" => gets.push(seen(
                cache.get_with(&q, Get::default().namespace(&ns)).unwrap(),
            )),
            "delete" => {
                cache.delete_in(&q, &ns).unwrap();
            }
            other => panic!("unknown op {other}"),
        }
    }
    cache.close().unwrap();
    gets
}

/// Exact and semantic lookups of every live entry, as `peer.py verify` does.
pub fn verify(path: &Path) -> (Vec<Seen>, Vec<Seen>, mneme::Stats, Vec<String>) {
    verify_on(path.to_str().unwrap())
}

/// [`verify`] on a target (see [`open_target`]).
pub fn verify_on(target: &str) -> (Vec<Seen>, Vec<Seen>, mneme::Stats, Vec<String>) {
    verify_cache(open_target(target))
}

/// [`verify`] on an open cache (closed afterwards).
pub fn verify_cache(cache: SemanticCache) -> (Vec<Seen>, Vec<Seen>, mneme::Stats, Vec<String>) {
    let stats = cache.stats(None).unwrap();
    let namespaces = cache.list_namespaces().unwrap();
    let mut live: BTreeMap<(String, String), (usize, Value)> = BTreeMap::new();
    for (i, op) in workload().into_iter().enumerate() {
        let key = (ns(&op), mneme::normalize(op.at("q").str()));
        match op.at("op").str() {
            "put" => {
                let first = live.get(&key).map_or(i, |(first, _)| *first);
                live.insert(key, (first, op));
            }
            "delete" => {
                live.remove(&key);
            }
            _ => {}
        }
    }
    let mut ordered: Vec<(usize, Value)> = live.into_values().collect();
    ordered.sort_by_key(|(i, _)| *i);
    let e = InteropEmbedder::new(DIM);
    let (mut exact, mut semantic) = (Vec::new(), Vec::new());
    for (_, op) in ordered {
        let ns = ns(&op);
        exact.push(seen(
            cache
                .get_with(op.at("q").str(), Get::default().namespace(&ns))
                .unwrap(),
        ));
        let v = e.vector(&mneme::normalize(op.at("q").str()));
        let probe = Get::default().namespace(&ns).embedding(&v);
        semantic.push(seen(cache.get_with("a query never stored", probe).unwrap()));
    }
    cache.close().unwrap();
    (exact, semantic, stats, namespaces)
}

pub fn stats_match(ours: &mneme::Stats, theirs: &Value) {
    let t = |k: &str| theirs.at(k).int() as u64;
    assert_eq!(
        (
            ours.entries,
            ours.hits_exact,
            ours.hits_semantic,
            ours.misses,
            ours.evictions,
            ours.expirations
        ),
        (
            t("entries"),
            t("hits_exact"),
            t("hits_semantic"),
            t("misses"),
            t("evictions"),
            t("expirations")
        )
    );
}

/// Asserts that the peer's `verify`/`loads` output for a file agrees with our own lookups of
/// `ours` (namespaces, exact and semantic hits).
pub fn assert_peer_view_matches(py: &Value, ours: &Path) {
    assert_peer_view_matches_on(py, ours.to_str().unwrap())
}

/// [`assert_peer_view_matches`] on a target (see [`open_target`]).
pub fn assert_peer_view_matches_on(py: &Value, ours: &str) {
    let names: Vec<&str> = py
        .at("namespaces")
        .items()
        .iter()
        .map(|v| v.str())
        .collect();
    assert_eq!(names, ["default", "geo", "translate:en-de"]);
    let (exact, semantic, _, _) = verify_on(ours);
    assert_same(&exact, py.at("exact").items(), "exact");
    assert_same(&semantic, py.at("semantic").items(), "semantic");
}
