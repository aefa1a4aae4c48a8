//! DynamoDB interop with mneme-cache 1.0's DynamoDBStore on one moto_server: identical
//! operations leave identical items in two tables (timestamps aside), and each side reads and
//! serves the other's rows.
#![cfg(feature = "dynamodb")]

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::dynamodb::{table_name, Moto, Raw};
use common::peer::{self, Json};
use common::workload::*;
use std::collections::BTreeMap;

/// Every item of `table` as text, by id; times shown as `<time>`, the embedding by its length.
/// The counter item's `version_counter` is left out: 1.0 bumps it on every hit, we do not (a
/// documented fix), so the two differ by the number of hits.
fn dump(endpoint: &str, table: &str) -> BTreeMap<i64, BTreeMap<String, String>> {
    let items = Raw::new(endpoint, table).items().into_values();
    items
        .map(|item| {
            let AttributeValue::N(id) = &item["id"] else {
                panic!("id")
            };
            let fields = item
                .iter()
                .filter(|(k, _)| k.as_str() != "version_counter")
                .map(|(k, v)| {
                    let shown = match (k.as_str(), v) {
                        ("created_at" | "last_accessed_at", _) => "<time>".to_owned(),
                        (_, AttributeValue::B(b)) => format!("<{} bytes>", b.as_ref().len()),
                        (_, other) => format!("{other:?}"),
                    };
                    (k.clone(), shown)
                })
                .collect();
            (id.parse().unwrap(), fields)
        })
        .collect()
}

#[test]
fn identical_operations_leave_identical_items_and_each_side_serves_the_other() {
    let moto = Moto::shared();
    let (theirs, ours) = (table_name("interop-py"), table_name("interop-rs"));
    let target = |t: &str| format!("dynamodb://{t}?endpoint={}", moto.endpoint);
    let (t_target, o_target) = (target(&theirs), target(&ours));
    let wl = peer::interop_file("workload.json");
    let dim = DIM.to_string();
    let py = peer::run(&["workload", &t_target, wl.to_str().unwrap(), &dim], None);
    let gets = run_workload_on(&o_target);
    assert_same(&gets, py.at("gets").items(), "workload gets");

    let (a, b) = (dump(&moto.endpoint, &theirs), dump(&moto.endpoint, &ours));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same ids"
    );
    for (id, item) in &a {
        assert_eq!(item, &b[id], "item {id}");
    }

    // Each side reads the other's rows and serves them, exactly and semantically.
    let py_reads_ours = peer::run(&["verify", &o_target, wl.to_str().unwrap(), &dim], None);
    assert_peer_view_matches_on(&py_reads_ours, &t_target);
    let (exact, semantic, stats, _) = verify_on(&t_target);
    assert!(exact.iter().chain(&semantic).all(|h| h.is_some()));
    assert_eq!(stats.entries, 11);
}
