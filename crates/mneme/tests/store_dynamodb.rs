//! DynamoDbStore against a real DynamoDB API: moto_server on loopback (tests/common/dynamodb.rs
//! starts it; a missing moto fails the suite, it never skips).
#![cfg(feature = "dynamodb")]

mod common;

use aws_sdk_dynamodb::types::{AttributeValue, KeyType};
use common::dynamodb::{fake_aws_env, table_name, HttpProxy, Mode, Moto, Raw};
use common::embedders::TestEmbedder;
use common::stall_proxy::{watchdog, StallProxy};
use mneme::store::{Billing, DynamoDbStore, Store};
use mneme::testkit::{self as conformance, Fresh};
use mneme::{Error, HitLayer, SemanticCache};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn store_at(endpoint: &str, table: &str) -> DynamoDbStore {
    fake_aws_env();
    DynamoDbStore::new(table)
        .unwrap()
        .endpoint_url(endpoint)
        .create_table(true)
}

fn store(table: &str) -> DynamoDbStore {
    store_at(&Moto::shared().endpoint, table)
}

fn num(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    match &item[name] {
        AttributeValue::N(v) => v.parse().unwrap(),
        other => panic!("{name} is {other:?}"),
    }
}

#[test]
fn dynamodb_store_passes_the_battery() {
    conformance::run(&|| {
        let table = table_name("battery");
        let again = table.clone();
        Fresh::persistent(store(&table), move || Box::new(store(&again)))
    });
}

#[test]
fn the_table_and_items_have_1_0_s_layout() {
    let table = table_name("layout");
    let s = store(&table);
    s.open("fp:layout", 4).unwrap();
    let mut timed = conformance::entry("ns", "q", 5);
    timed.ttl = Some(60);
    let a = s.insert(&timed).unwrap();
    let b = s.insert(&conformance::entry("ns", "r", 6)).unwrap();
    s.set_namespace_quota("ns", 10).unwrap();
    s.write_meta("counters", "{\"ns:misses\": 1}").unwrap();

    let raw = Raw::new(&Moto::shared().endpoint, &table);
    let d = raw
        .runtime
        .block_on(raw.client.describe_table().table_name(&table).send())
        .unwrap()
        .table
        .unwrap();
    let keys = |k: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        k.iter()
            .map(|e| (e.attribute_name().to_owned(), e.key_type().clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(d.key_schema()), [("id".to_owned(), KeyType::Hash)]);
    let mut gsis: Vec<_> = d
        .global_secondary_indexes()
        .iter()
        .map(|g| (g.index_name().unwrap().to_owned(), keys(g.key_schema())))
        .collect();
    gsis.sort();
    assert_eq!(
        gsis,
        [
            (
                "gsi_hash".to_owned(),
                vec![
                    ("namespace".to_owned(), KeyType::Hash),
                    ("query_hash".to_owned(), KeyType::Range)
                ]
            ),
            (
                "gsi_lru".to_owned(),
                vec![
                    ("namespace".to_owned(), KeyType::Hash),
                    ("last_accessed_at".to_owned(), KeyType::Range)
                ]
            ),
        ]
    );

    let items = raw.items();
    let counter = &items[&0];
    assert_eq!(num(counter, "next_id"), 3);
    assert_eq!(num(counter, "version_counter"), 2);
    assert_eq!(num(counter, "embedder_dim"), 4);
    assert_eq!(
        counter["embedder_fingerprint"],
        AttributeValue::S("fp:layout".into())
    );
    let AttributeValue::M(quotas) = &counter["quotas"] else {
        panic!()
    };
    assert_eq!(quotas["ns"], AttributeValue::N("10".into()));
    let AttributeValue::M(meta) = &counter["meta"] else {
        panic!()
    };
    assert_eq!(
        meta["counters"],
        AttributeValue::S("{\"ns:misses\": 1}".into())
    );

    let mut names: Vec<_> = items[&a].keys().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "access_count",
            "created_at",
            "embedding",
            "id",
            "last_accessed_at",
            "metadata",
            "namespace",
            "query",
            "query_hash",
            "response",
            "ttl"
        ]
    );
    assert!(matches!(items[&a]["embedding"], AttributeValue::B(_)));
    assert_eq!(num(&items[&a], "ttl"), 60);
    assert!(!items[&b].contains_key("ttl"), "ttl is absent when unset");
    // The stamp reads through meta, where 1.0 returned nothing (health never matched).
    assert_eq!(
        s.read_meta("embedder_fingerprint").unwrap().as_deref(),
        Some("fp:layout")
    );
    assert_eq!(s.read_meta("embedder_dim").unwrap().as_deref(), Some("4"));
}

#[test]
fn dynamodb_bump_matrix() {
    let s = store(&table_name("bumps"));
    s.open(conformance::FP, conformance::DIM).unwrap();
    let v = || s.read_version_counter().unwrap();
    let before = v();
    let id = s.insert(&conformance::entry("ns", "a", 1)).unwrap();
    assert_eq!(v() - before, 1, "insert");
    s.insert(&conformance::entry("ns", "a", 2)).unwrap();
    assert_eq!(v() - before, 2, "upsert");
    s.update_access(id, 9).unwrap();
    assert_eq!(v() - before, 2, "update_access does not bump (1.0 did)");
    s.set_namespace_quota("ns", 5).unwrap();
    s.write_meta("k", "v").unwrap();
    assert_eq!(v() - before, 2, "meta and quota writes");
    assert!(!s.delete_by_id(999).unwrap());
    assert_eq!(v() - before, 2, "delete of nothing");
    assert!(s.delete_by_id(id).unwrap());
    assert_eq!(v() - before, 3, "delete");
    for q in ["x", "y", "z"] {
        let mut e = conformance::entry("ns", q, 1);
        e.ttl = Some(1);
        s.insert(&e).unwrap();
    }
    assert_eq!(s.delete_expired(100, None).unwrap(), 3);
    assert_eq!(v() - before, 9, "delete_expired: +k");
    for q in ["x", "y"] {
        s.insert(&conformance::entry("gone", q, 1)).unwrap();
    }
    assert_eq!(s.clear_namespace("gone").unwrap(), 2);
    assert_eq!(v() - before, 13, "clear_namespace: +k");
}

#[test]
fn a_missing_table_without_create_table_names_the_schema_and_creates_nothing() {
    fake_aws_env();
    let table = table_name("missing");
    let s = DynamoDbStore::new(&table)
        .unwrap()
        .endpoint_url(&Moto::shared().endpoint);
    let e = s.open("fp", 4).unwrap_err();
    assert!(matches!(e, Error::StoreBackend { .. }), "{e:?}");
    let text = e.to_string();
    for part in [
        &table[..],
        "create_table",
        "gsi_hash",
        "gsi_lru",
        "query_hash",
        "last_accessed_at",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert!(!Raw::new(&Moto::shared().endpoint, &table).exists());
}

#[test]
fn constructor_and_billing_are_validated() {
    assert!(matches!(
        DynamoDbStore::new(""),
        Err(Error::InvalidArgument(_))
    ));
    let s = store(&table_name("billing")).billing(Billing::Provisioned { read: 0, write: 5 });
    assert!(matches!(s.open("fp", 4), Err(Error::InvalidArgument(_))));
    // Provisioned capacity goes on the table and both indexes.
    let table = table_name("provisioned");
    let s = store(&table).billing(Billing::Provisioned { read: 3, write: 2 });
    s.open("fp", 4).unwrap();
    let raw = Raw::new(&Moto::shared().endpoint, &table);
    let d = raw
        .runtime
        .block_on(raw.client.describe_table().table_name(&table).send())
        .unwrap()
        .table
        .unwrap();
    let t = d.provisioned_throughput().unwrap();
    assert_eq!(
        (t.read_capacity_units(), t.write_capacity_units()),
        (Some(3), Some(2))
    );
    for g in d.global_secondary_indexes() {
        let t = g.provisioned_throughput().unwrap();
        assert_eq!(
            (t.read_capacity_units(), t.write_capacity_units()),
            (Some(3), Some(2))
        );
    }
}

#[test]
fn oversize_items_and_the_empty_namespace_are_refused_before_writing() {
    let s = store(&table_name("limits"));
    s.open(conformance::FP, conformance::DIM).unwrap();
    s.insert(&conformance::entry("ns", "kept", 1)).unwrap();
    let version = s.read_version_counter().unwrap();
    let mut big = conformance::entry("ns", "big", 1);
    big.response = "x".repeat(400 * 1024);
    let e = s.insert(&big).unwrap_err();
    assert!(
        matches!(e, Error::StoreBackend { .. }) && e.to_string().contains("400 KB"),
        "{e}"
    );
    let e = s.insert(&conformance::entry("", "q", 1)).unwrap_err();
    assert!(e.to_string().contains("empty namespace"), "{e}");
    assert_eq!(s.read_version_counter().unwrap(), version);
    assert_eq!(s.count(None).unwrap(), 1);
    // Reads of the empty namespace find nothing instead of failing.
    assert_eq!(s.get_by_hash("", &"0".repeat(64)).unwrap(), None);
}

#[test]
fn dumps_names_on_demand_backup_and_pitr() {
    let dir = tempfile::tempdir().unwrap();
    let c = SemanticCache::builder(TestEmbedder::new(8))
        .store(store(&table_name("dumps")))
        .open()
        .unwrap();
    c.put("q", "r").unwrap();
    let e = c.dumps(dir.path().join("a.tar.gz")).unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("on-demand backup") && text.contains("point-in-time recovery"),
        "{text}"
    );
    assert!(!dir.path().join("a.tar.gz").exists());
}

#[test]
fn a_cache_on_dynamodb_serves_exact_and_semantic_hits() {
    let embedder = TestEmbedder::new(8);
    let v = common::embedders::hashed_vector("plan", 8);
    embedder.set("how do i cancel my plan?", v.clone());
    embedder.set("cancel plan how", v);
    let c = SemanticCache::builder(embedder)
        .store(store(&table_name("cache")))
        .open()
        .unwrap();
    c.put("How do I cancel my plan?", "Settings, then Cancel.")
        .unwrap();
    let exact = c.get("how do I cancel my plan?").unwrap().unwrap();
    assert_eq!(exact.layer, HitLayer::Exact);
    let semantic = c.get("cancel plan how").unwrap().unwrap();
    assert_eq!(
        (semantic.layer, &semantic.response[..]),
        (HitLayer::Semantic, "Settings, then Cancel.")
    );
    assert!(c.get("something else entirely").unwrap().is_none());
    assert_eq!(c.stats(None).unwrap().entries, 1);
    assert!(c.health().unwrap().store_backend.contains("dynamodb"));
}

#[test]
fn throttling_is_retried_then_named_and_leaves_the_table_consistent() {
    let proxy = HttpProxy::start(&Moto::shared().endpoint);
    let table = table_name("throttle");
    let s = store_at(&proxy.endpoint, &table).max_attempts(3);
    s.open(conformance::FP, conformance::DIM).unwrap();
    s.insert(&conformance::entry("ns", "before", 1)).unwrap();
    proxy.take_counts();
    proxy.set(Mode::Refuse("ProvisionedThroughputExceededException"));
    let e = s
        .insert(&conformance::entry("ns", "during", 1))
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::StoreBackend { .. }), "{e:?}");
    for part in [
        &table[..],
        "throttled",
        "provisioned_capacity",
        "PAY_PER_REQUEST",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    // The SDK retried with backoff before giving up.
    assert_eq!(proxy.take_counts().values().sum::<usize>(), 3);
    proxy.set(Mode::Forward);
    assert_eq!(s.count(None).unwrap(), 1);
    assert_eq!(s.read_version_counter().unwrap(), 1);
    s.insert(&conformance::entry("ns", "after", 1)).unwrap();
    assert_eq!(s.count(None).unwrap(), 2);
}

#[test]
fn an_endpoint_going_down_mid_run_is_a_clear_error_and_the_store_recovers() {
    watchdog(Duration::from_secs(120));
    let proxy = HttpProxy::start(&Moto::shared().endpoint);
    let s = store_at(&proxy.endpoint, &table_name("down")).max_attempts(2);
    s.open(conformance::FP, conformance::DIM).unwrap();
    let id = s.insert(&conformance::entry("ns", "kept", 1)).unwrap();
    proxy.set(Mode::Down);
    let started = Instant::now();
    let e = s.get_by_id(id).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let text = e.to_string();
    assert!(
        matches!(e, Error::StoreBackend { .. }) && text.contains("127.0.0.1"),
        "{text}"
    );
    assert!(s.insert(&conformance::entry("ns", "lost", 1)).is_err());
    proxy.set(Mode::Forward);
    assert_eq!(s.get_by_id(id).unwrap().unwrap().query, "kept");
    assert_eq!(
        s.count(None).unwrap(),
        1,
        "the failed insert left nothing behind"
    );
    assert_eq!(s.read_version_counter().unwrap(), 1);
}

#[test]
fn an_unreachable_or_silent_endpoint_fails_within_the_timeouts() {
    watchdog(Duration::from_secs(120));
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = store_at(&format!("http://127.0.0.1:{port}"), "t").max_attempts(2);
    let started = Instant::now();
    let e = s.open("fp", 4).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let text = e.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("endpoint"),
        "{text}"
    );
    // A server that accepts and never answers: the attempt timeout ends each try.
    let stall = StallProxy::start(&Moto::shared().addr());
    stall.stall();
    let s = store_at(&format!("http://{}", stall.addr()), "t")
        .max_attempts(2)
        .io_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let e = s.open("fp", 4).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(e.to_string().contains("io_timeout"), "{e}");
}

#[test]
fn wrong_credentials_are_named() {
    let proxy = HttpProxy::start(&Moto::shared().endpoint);
    let s = store_at(&proxy.endpoint, &table_name("creds"));
    s.open("fp", 4).unwrap();
    // moto checks nothing, so answer as AWS does for an unknown key.
    proxy.set(Mode::Refuse("UnrecognizedClientException"));
    let e = s.count(None).unwrap_err();
    proxy.set(Mode::Forward);
    let text = e.to_string();
    assert!(
        text.contains("UnrecognizedClientException") && text.contains("AWS_ACCESS_KEY_ID"),
        "{text}"
    );
}

const ROLE: &str = "MNEME_DYNAMODB_RACE_ROLE";

/// A child process of the race test: inserts its keys and one shared key, printing each id.
#[test]
#[ignore = "a child process of the race test"]
fn race_child() {
    let (Ok(role), Ok(endpoint), Ok(table)) = (
        std::env::var(ROLE),
        std::env::var("MNEME_DYNAMODB_RACE_ENDPOINT"),
        std::env::var("MNEME_DYNAMODB_RACE_TABLE"),
    ) else {
        return;
    };
    let s = store_at(&endpoint, &table);
    s.open(conformance::FP, conformance::DIM).unwrap();
    for i in 0..40 {
        let own = s
            .insert(&conformance::entry("ns", &format!("{role}-{i}"), i))
            .unwrap();
        let mut shared = conformance::entry("ns", "shared", i);
        shared.response = format!("{role}-{i}");
        let one = s.insert(&shared).unwrap();
        println!("{own} {one}");
    }
}

#[test]
fn two_processes_racing_inserts_lose_nothing_and_share_no_id() {
    let table = table_name("race");
    store(&table)
        .open(conformance::FP, conformance::DIM)
        .unwrap();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|role| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "race_child", "--ignored", "--nocapture", "-q"])
                .env(ROLE, role)
                .env("MNEME_DYNAMODB_RACE_ENDPOINT", &Moto::shared().endpoint)
                .env("MNEME_DYNAMODB_RACE_TABLE", &table)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut own_ids = Vec::new();
    for mut child in children {
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some((own, _)) = line.split_once(' ') {
                if let Ok(id) = own.parse::<i64>() {
                    own_ids.push(id);
                }
            }
        }
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(own_ids.len(), 80, "every insert was acknowledged");
    let s = store(&table);
    s.open(conformance::FP, conformance::DIM).unwrap();
    let rows = s.iter_all().unwrap();
    let mut ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), rows.len(), "no id is used twice");
    for id in &own_ids {
        assert!(
            rows.iter().any(|r| r.id == *id),
            "acknowledged id {id} is there"
        );
    }
    let shared: Vec<_> = rows.iter().filter(|r| r.query == "shared").collect();
    assert!(!shared.is_empty());
    // Counters are exact: one version step per insert, and next_id past every id handed out.
    assert_eq!(s.read_version_counter().unwrap(), 160);
    let raw = Raw::new(&Moto::shared().endpoint, &table);
    let next = num(&raw.items()[&0], "next_id");
    assert_eq!(next - 1, *ids.last().unwrap());
    assert_eq!(
        next - 1,
        (80 + shared.len()) as i64,
        "only new rows took ids"
    );
    // A duplicate of the shared key (both processes inserting it new at once) resolves to the
    // lowest id, every time.
    let lowest = shared.iter().map(|r| r.id).min().unwrap();
    let hash = mneme::hash_query("shared");
    assert_eq!(s.get_by_hash("ns", &hash).unwrap().unwrap().id, lowest);
}

#[test]
fn lru_reads_pages_only_until_the_n_th_is_settled_and_keeps_id_order_on_ties() {
    let proxy = HttpProxy::start(&Moto::shared().endpoint);
    let s = store_at(&proxy.endpoint, &table_name("lru"));
    s.open(conformance::FP, conformance::DIM).unwrap();
    let mut expected = Vec::new();
    for i in 0..60i64 {
        let mut e = conformance::entry("ns", &format!("q{i}"), 0);
        e.last_accessed_at = (i * 7) % 5; // five times, twelve ties each
        let id = s.insert(&e).unwrap();
        expected.push((e.last_accessed_at, id));
    }
    s.insert(&conformance::entry("other", "elsewhere", -1))
        .unwrap();
    expected.sort_unstable();
    for n in [1, 3, 12, 13, 59, 60, 100] {
        proxy.take_counts();
        let ids = s.iter_lru_ids(n, Some("ns")).unwrap();
        let want: Vec<i64> = expected.iter().take(n).map(|k| k.1).collect();
        assert_eq!(ids, want, "n = {n}");
        let queries = proxy.take_counts().get("Query").copied().unwrap_or(0);
        if n <= 12 {
            assert!(
                queries <= 2,
                "n = {n}: {queries} pages for the first {n} of 60"
            );
        }
    }
    let all = s.iter_lru_ids(3, None).unwrap();
    assert_eq!(
        all[0],
        s.get_by_hash("other", &mneme::hash_query("elsewhere"))
            .unwrap()
            .unwrap()
            .id
    );
}
