//! DynamoDbStore side by side with mneme-cache 1.0's DynamoDBStore, in one run, on one
//! moto_server and one table: open of a 10k-entry d=384 table, exact get and put (p50/p99 and
//! the ratio), and the DynamoDB requests each operation makes, counted by an HTTP proxy in front
//! of moto that both sides talk through.
//!
//! `cargo bench -p mneme --features dynamodb --bench dynamodb` (scripts/bench-dynamodb.sh).
//! Needs `.venv-moto` (scripts/setup-moto.sh) and `.venv-peer` (scripts/setup-peer.sh).
//! Environment: `MNEME_BENCH_ROWS` (10000), `MNEME_BENCH_CALLS` (100), `MNEME_BENCH_OPENS` (3).
//! moto copies the whole table in every TransactWriteItems (and keeps the copies: about 16 MB
//! each at 10k rows), so keep the call count modest.
//!
//! moto answers from memory on loopback, so the times are CPU cost on both sides plus moto's;
//! on AWS each request adds a network round trip (about 2-10 ms in-region), which is why the
//! request counts matter more than these times there.

#[path = "../tests/common/dynamodb.rs"]
#[allow(dead_code)]
mod dynamodb;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use dynamodb::{HttpProxy, Moto};
use mneme::metadata::{parse, Value};
use mneme::store::DynamoDbStore;
use mneme::{BoxError, Embedder, SemanticCache};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DIM: usize = 384;

/// The peer script's embedder: a unit vector seeded by the text's SHA-256 (values differ from
/// numpy's generator, which only matters for semantic lookups; these phases do exact ones).
struct Hashed;

impl Embedder for Hashed {
    fn dim(&self) -> usize {
        DIM
    }
    fn fingerprint(&self) -> &str {
        "bench:384"
    }
    fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError> {
        let mut v: Vec<f32> = (0..DIM)
            .map(|i| {
                let d = Sha256::new()
                    .chain_update(text.as_bytes())
                    .chain_update((i as u32).to_le_bytes())
                    .finalize();
                f32::from(d[0]) - 127.5
            })
            .collect();
        mneme::quant::l2_normalize(&mut v);
        Ok(v)
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Writes `rows` entries in 1.0's layout with BatchWriteItem (25 per request), then the counter.
fn seed(endpoint: &str, table: &str, rows: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .load(),
    );
    let client = aws_sdk_dynamodb::Client::new(&config);
    // The table itself: open a store with create_table once.
    let store = DynamoDbStore::new(table)
        .unwrap()
        .endpoint_url(endpoint)
        .create_table(true);
    mneme::store::Store::open(&store, "bench:384", DIM).unwrap();
    let embed = Hashed;
    let ids: Vec<usize> = (1..=rows).collect();
    for chunk in ids.chunks(25) {
        let writes = chunk
            .iter()
            .map(|&id| {
                let q = format!("seed query {}", id - 1);
                let v = embed.embed(&mneme::normalize(&q)).unwrap();
                let item = HashMap::from([
                    ("id".to_owned(), n(id as i64)),
                    ("namespace".to_owned(), AttributeValue::S("default".into())),
                    (
                        "query_hash".to_owned(),
                        AttributeValue::S(mneme::hash_query(&mneme::normalize(&q))),
                    ),
                    ("query".to_owned(), AttributeValue::S(q.clone())),
                    (
                        "response".to_owned(),
                        AttributeValue::S(format!("answer to {q}")),
                    ),
                    (
                        "embedding".to_owned(),
                        AttributeValue::B(mneme::quant::f32_to_le_bytes(&v).into()),
                    ),
                    ("metadata".to_owned(), AttributeValue::S("{}".into())),
                    ("created_at".to_owned(), n(1_800_000_000)),
                    ("last_accessed_at".to_owned(), n(1_800_000_000)),
                    ("access_count".to_owned(), n(0)),
                ]);
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        rt.block_on(
            client
                .batch_write_item()
                .request_items(table, writes)
                .send(),
        )
        .unwrap();
    }
    rt.block_on(
        client
            .update_item()
            .table_name(table)
            .key("id", n(0))
            .update_expression("SET next_id = :n, version_counter = :v")
            .expression_attribute_values(":n", n(rows as i64 + 1))
            .expression_attribute_values(":v", n(rows as i64))
            .send(),
    )
    .unwrap();
}

struct Summary {
    p50: Duration,
    p99: Duration,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Summary {
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn per_op(counts: &BTreeMap<String, usize>, ops: usize) -> String {
    let total: usize = counts.values().sum();
    let detail: Vec<String> = counts
        .iter()
        .map(|(k, v)| format!("{k} {:.2}", *v as f64 / ops as f64))
        .collect();
    format!("{:.2} ({})", total as f64 / ops as f64, detail.join(", "))
}

struct Row {
    name: &'static str,
    ours: Summary,
    ours_requests: String,
    theirs: Summary,
    theirs_requests: String,
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let rows = env("MNEME_BENCH_ROWS", 10_000);
    let calls = env("MNEME_BENCH_CALLS", 100);
    let opens = env("MNEME_BENCH_OPENS", 3);
    let moto = Moto::start();
    let proxy = HttpProxy::start(&moto.endpoint);
    let table = "bench";
    let started = Instant::now();
    seed(&moto.endpoint, table, rows);
    println!(
        "seeded {rows} entries (d={DIM}) in {:.1?}",
        started.elapsed()
    );

    let store = || {
        DynamoDbStore::new(table)
            .unwrap()
            .endpoint_url(&proxy.endpoint)
    };
    // Ours.
    proxy.take_counts();
    let mut times = Vec::new();
    for _ in 0..opens {
        let t = Instant::now();
        let c = SemanticCache::builder(Hashed)
            .store(store())
            .open()
            .unwrap();
        times.push(t.elapsed());
        assert_eq!(c.stats(None).unwrap().entries as usize, rows);
        c.close().unwrap();
    }
    let open_requests = per_op(&proxy.take_counts(), opens);
    let open = summarize(times);
    println!("ours: open p50 {}, requests {open_requests}", ms(open.p50));
    let c = SemanticCache::builder(Hashed)
        .store(store())
        .open()
        .unwrap();
    proxy.take_counts();
    let mut times = Vec::new();
    for i in 0..calls {
        let q = format!("seed query {}", (i * 7919) % rows);
        let t = Instant::now();
        let hit = c.get(&q).unwrap();
        times.push(t.elapsed());
        assert!(
            hit.is_some_and(|h| h.layer == mneme::HitLayer::Exact),
            "{q}"
        );
    }
    let get_requests = per_op(&proxy.take_counts(), calls);
    let get = summarize(times);
    println!(
        "ours: exact get p50 {}, requests {get_requests}",
        ms(get.p50)
    );
    let mut times = Vec::new();
    for i in 0..calls {
        let t = Instant::now();
        c.put(&format!("our put {i}"), &format!("answer {i}"))
            .unwrap();
        times.push(t.elapsed());
    }
    let put_requests = per_op(&proxy.take_counts(), calls);
    let put = summarize(times);
    println!("ours: put p50 {}, requests {put_requests}", ms(put.p50));
    c.close().unwrap();

    // mneme-cache 1.0, phase by phase.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("MNEME_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-peer/bin/python"));
    assert!(
        python.exists(),
        "no peer at {}: run scripts/setup-peer.sh",
        python.display()
    );
    proxy.take_counts();
    let mut peer = Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peer_dynamodb.py"))
        .args([&proxy.endpoint, table])
        .args([DIM, rows, calls, opens].map(|v| v.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_peer = peer.stdin.take().unwrap();
    let mut from_peer = BufReader::new(peer.stdout.take().unwrap()).lines();
    let mut phases = BTreeMap::new();
    for _ in 0..4 {
        let line = from_peer.next().expect("the peer stopped early").unwrap();
        let v = parse(&line).unwrap();
        let Value::Object(fields) = v else {
            panic!("{line}")
        };
        let get = |k: &str| {
            fields
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.clone())
        };
        let Some(Value::String(name)) = get("phase") else {
            panic!("{line}")
        };
        let Some(Value::Array(seconds)) = get("seconds") else {
            panic!("{line}")
        };
        let samples: Vec<Duration> = seconds
            .iter()
            .map(|s| match s {
                Value::Float(f) => Duration::from_secs_f64(*f),
                other => panic!("{other:?}"),
            })
            .collect();
        let counts = proxy.take_counts();
        println!("1.0: {name} done, requests {counts:?}");
        phases.insert(name, (samples, counts));
        writeln!(to_peer).unwrap();
    }
    assert!(peer.wait().unwrap().success());
    let mut theirs = |name: &str, ops: usize| {
        let (samples, counts) = phases.remove(name).unwrap();
        (summarize(samples), per_op(&counts, ops))
    };
    let (t_open, t_open_r) = theirs("open", opens);
    let (t_get, t_get_r) = theirs("exact_get", calls);
    let (t_put, t_put_r) = theirs("put", calls);
    let table_rows = [
        Row {
            name: "open (10k x 384)",
            ours: open,
            ours_requests: open_requests,
            theirs: t_open,
            theirs_requests: t_open_r,
        },
        Row {
            name: "exact get",
            ours: get,
            ours_requests: get_requests,
            theirs: t_get,
            theirs_requests: t_get_r,
        },
        Row {
            name: "put (new key)",
            ours: put,
            ours_requests: put_requests,
            theirs: t_put,
            theirs_requests: t_put_r,
        },
    ];
    println!(
        "\n{:<18} {:>11} {:>11} {:>11} {:>11} {:>9}",
        "operation", "ours p50", "ours p99", "1.0 p50", "1.0 p99", "p50 ratio"
    );
    for r in &table_rows {
        println!(
            "{:<18} {:>11} {:>11} {:>11} {:>11} {:>8.1}x",
            r.name,
            ms(r.ours.p50),
            ms(r.ours.p99),
            ms(r.theirs.p50),
            ms(r.theirs.p99),
            r.theirs.p50.as_secs_f64() / r.ours.p50.as_secs_f64()
        );
    }
    println!("\nDynamoDB requests per operation (counted at the proxy):");
    for r in &table_rows {
        println!(
            "{:<18} ours {}\n{:<18} 1.0  {}",
            r.name, r.ours_requests, "", r.theirs_requests
        );
    }
}
