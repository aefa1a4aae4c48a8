//! Redis interop with mneme-cache 1.0's RedisStore (docs/compatibility.md): identical
//! operations leave identical keys under two prefixes (timestamps aside), and each side reads
//! the other's rows.
#![cfg(feature = "redis")]

mod common;

use common::peer::{self, Json};
use common::workload::*;
use std::collections::BTreeMap;

fn url() -> String {
    std::env::var("MNEME_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

struct Prefixes(Vec<String>);

impl Drop for Prefixes {
    fn drop(&mut self) {
        let mut c = redis::Client::open(url())
            .unwrap()
            .get_connection()
            .unwrap();
        for p in &self.0 {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{p}:*"))
                .query(&mut c)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut c);
            }
        }
    }
}

/// Every key under `prefix` (relative name) → its type and content. Timestamps (entry fields
/// and LRU/TTL scores) and the float bits of embeddings are left out; members and ids stay.
fn dump(prefix: &str) -> BTreeMap<String, String> {
    let mut c = redis::Client::open(url())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut c)
        .unwrap();
    let mut out = BTreeMap::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut c).unwrap();
        let rel = key[prefix.len() + 1..].to_owned();
        let value = match kind.as_str() {
            "string" => redis::cmd("GET").arg(&key).query::<String>(&mut c).unwrap(),
            "set" => {
                let mut m: Vec<String> = redis::cmd("SMEMBERS").arg(&key).query(&mut c).unwrap();
                m.sort();
                m.join(",")
            }
            "zset" => {
                let m: Vec<(String, f64)> = redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query(&mut c)
                    .unwrap();
                let keep_scores = rel == "by_id";
                let mut items: Vec<String> = m
                    .into_iter()
                    .map(|(k, s)| if keep_scores { format!("{k}={s}") } else { k })
                    .collect();
                items.sort();
                items.join(",")
            }
            "hash" => {
                let h: BTreeMap<String, Vec<u8>> =
                    redis::cmd("HGETALL").arg(&key).query(&mut c).unwrap();
                h.into_iter()
                    .map(|(k, v)| match k.as_str() {
                        "created_at" | "last_accessed_at" => format!("{k}=<time>"),
                        "embedding" => format!("{k}=<{} bytes>", v.len()),
                        _ => format!("{k}={}", String::from_utf8_lossy(&v)),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            other => format!("<{other}>"),
        };
        let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut c).unwrap();
        out.insert(
            rel,
            format!(
                "{kind}{}: {value}",
                if ttl >= 0 { " (expires)" } else { "" }
            ),
        );
    }
    out
}

#[test]
fn identical_operations_leave_identical_keys_and_each_side_reads_the_other() {
    let tag = format!("interop-{}", std::process::id());
    let (theirs, ours) = (format!("{tag}-py"), format!("{tag}-rs"));
    let _cleanup = Prefixes(vec![theirs.clone(), ours.clone()]);
    let (t_target, o_target) = (format!("{}#{theirs}", url()), format!("{}#{ours}", url()));
    let wl = peer::interop_file("workload.json");
    let dim = DIM.to_string();
    let py = peer::run(&["workload", &t_target, wl.to_str().unwrap(), &dim], None);
    let gets = run_workload_on(&o_target);
    assert_same(&gets, py.at("gets").items(), "workload gets");

    let (a, b) = (dump(&theirs), dump(&ours));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same keys"
    );
    for (key, value) in &a {
        assert_eq!(value, &b[key], "key {key}");
    }

    // Each side reads the other's rows.
    let py_reads_ours = peer::run(&["verify", &o_target, wl.to_str().unwrap(), &dim], None);
    assert_peer_view_matches_on(&py_reads_ours, &t_target);
    let (exact, semantic, stats, _) = verify_on(&t_target);
    assert!(exact.iter().chain(&semantic).all(|h| h.is_some()));
    assert_eq!(stats.entries, 11);
}
