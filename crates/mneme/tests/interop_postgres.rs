//! Postgres interop with mneme-cache 1.0's PostgresStore (docs/compatibility.md): identical
//! operations leave identical tables in two schemas (timestamps aside), and each side reads the
//! other's rows.
#![cfg(feature = "postgres")]

mod common;

use common::peer::{self, Json};
use common::workload::*;

const URL: &str = "postgresql://postgres@127.0.0.1:5432/test";

struct Schemas(Vec<String>);

impl Drop for Schemas {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(URL, postgres::NoTls) {
            for s in &self.0 {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE"));
            }
        }
    }
}

/// The schema's tables as text rows, timestamps and embedding bits aside.
fn dump(schema: &str) -> Vec<String> {
    let mut c = postgres::Client::connect(URL, postgres::NoTls).unwrap();
    let mut out = Vec::new();
    for r in c
        .query(
            &format!(
                "SELECT id, namespace, query_hash, query, response, length(embedding), metadata::text, ttl, \
                 access_count FROM \"{schema}\".entries ORDER BY id"
            ),
            &[],
        )
        .unwrap()
    {
        let (id, ns, h, q, resp): (i64, String, String, String, String) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let (len, meta, ttl, count): (i32, String, Option<i64>, i64) = (r.get(5), r.get(6), r.get(7), r.get(8));
        out.push(format!("entry {id} {ns} {h} {q:?} {resp:?} {len} {meta} {ttl:?} {count}"));
    }
    for table in ["schema_meta", "multi_process_state"] {
        for r in c
            .query(
                &format!("SELECT key, value FROM \"{schema}\".{table} ORDER BY key"),
                &[],
            )
            .unwrap()
        {
            out.push(format!(
                "{table} {}={}",
                r.get::<_, String>(0),
                r.get::<_, String>(1)
            ));
        }
    }
    for r in c
        .query(&format!("SELECT namespace, max_entries FROM \"{schema}\".namespace_quotas ORDER BY namespace"), &[])
        .unwrap()
    {
        out.push(format!("quota {}={}", r.get::<_, String>(0), r.get::<_, i64>(1)));
    }
    out
}

#[test]
fn identical_operations_leave_identical_tables_and_each_side_reads_the_other() {
    let tag = format!("interop_{}", std::process::id());
    let (theirs, ours) = (format!("{tag}_py"), format!("{tag}_rs"));
    let _cleanup = Schemas(vec![theirs.clone(), ours.clone()]);
    let (t_target, o_target) = (format!("{URL}#{theirs}"), format!("{URL}#{ours}"));
    let wl = peer::interop_file("workload.json");
    let dim = DIM.to_string();
    let py = peer::run(&["workload", &t_target, wl.to_str().unwrap(), &dim], None);
    let gets = run_workload_on(&o_target);
    assert_same(&gets, py.at("gets").items(), "workload gets");
    let (a, b) = (dump(&theirs), dump(&ours));
    assert!(a.len() > 11, "{a:?}");
    assert_eq!(a, b);
    let py_reads_ours = peer::run(&["verify", &o_target, wl.to_str().unwrap(), &dim], None);
    assert_peer_view_matches_on(&py_reads_ours, &t_target);
}
