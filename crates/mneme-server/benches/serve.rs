//! `mneme serve` under load on loopback: exact hits, semantic hits and misses (answered by a
//! stub upstream in the same process), at 1, 16 and 256 connections; requests/s, p50/p99, and
//! the proxy's added latency on a miss over calling the stub directly. The embedder is the
//! built-in lexical one, so the figures are the server's own cost (a real model adds its
//! embedding time to semantic hits and misses: 3.4 ms p50 for MiniLM on this machine, see
//! scripts/bench-embed.sh). Run with `cargo bench -p mneme-server --bench serve`;
//! `MNEME_BENCH_MODEL=minilm` runs it with the built-in model instead (scripts/fetch-model.sh);
//! `MNEME_BENCH_SERVE=PATH` loads a `PATH serve` process instead of the in-process server (the
//! pip-installed `mneme`, say).

use axum::routing::post;
use mneme::{LexicalEmbedder, MemoryStore, SemanticCache};
use mneme_server::ServeConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECONDS: f64 = 3.0;

/// The request body of the i-th request of a workload.
type Bodies = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// A question of six pseudo-random words, one per `seed`: distinct questions share almost no
/// n-grams, so only the same question (or its paraphrase) is similar.
fn question(seed: usize) -> String {
    let mut state = seed as u64 ^ 0x5EED;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let words: Vec<String> = (0..6)
        .map(|_| {
            (0..6)
                .map(|_| char::from(b'a' + (next() % 26) as u8))
                .collect()
        })
        .collect();
    words.join(" ")
}

fn body(question: &str) -> String {
    body_for("bench", question)
}

/// Another model is another exact scope, so another namespace: the misses' new rows do not
/// grow the namespace that the hit workloads scan.
fn body_for(model: &str, question: &str) -> String {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": question}]})
        .to_string()
}

/// Model name whose calls the stub answers after `SLOW_UPSTREAM`, as a real model would.
const SLOW_MODEL: &str = "slow";
const SLOW_UPSTREAM: Duration = Duration::from_millis(200);

/// The stub upstream: answers every chat completion, after `SLOW_UPSTREAM` for `SLOW_MODEL`,
/// counting the slow calls in `slow_calls`.
async fn stub(slow_calls: Arc<std::sync::atomic::AtomicUsize>) -> SocketAddr {
    let answer = serde_json::json!({"id": "c", "object": "chat.completion", "created": 1, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "a cached answer"}, "finish_reason": "stop"}]})
    .to_string();
    let slow_marker = format!("\"model\":\"{SLOW_MODEL}\"");
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |request: String| {
            let (answer, slow_calls) = (answer.clone(), slow_calls.clone());
            let slow = request.contains(&slow_marker);
            async move {
                if slow {
                    slow_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(SLOW_UPSTREAM).await;
                }
                ([("content-type", "application/json")], answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Posts a JSON `body` and reads the whole answer; its `x-mneme-cache` header (`-` if none).
async fn send(client: &reqwest::Client, url: &str, body: String) -> String {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let outcome = r
        .headers()
        .get("x-mneme-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    r.bytes().await.unwrap();
    outcome
}

/// `connections` clients sending `next(i)` bodies for SECONDS; (requests/s, p50 µs, p99 µs,
/// the most frequent `x-mneme-cache` answer).
async fn load(
    url: String,
    connections: usize,
    next: Arc<dyn Fn(usize) -> String + Send + Sync>,
) -> (f64, f64, f64, String) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(SECONDS);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut outcomes = std::collections::HashMap::<String, usize>::new();
                let mut i = c;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let outcome = send(&client, &url, next(i)).await;
                    *outcomes.entry(outcome).or_default() += 1;
                    samples.push(t.elapsed().as_secs_f64() * 1e6);
                    i += connections;
                }
                (samples, outcomes)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut outcomes = std::collections::HashMap::<String, usize>::new();
    for t in tasks {
        let (samples, seen) = t.await.unwrap();
        all.extend(samples);
        for (k, n) in seen {
            *outcomes.entry(k).or_default() += n;
        }
    }
    let outcome = outcomes
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(k, _)| k)
        .unwrap_or_default();
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len() as f64 / elapsed, pct(0.5), pct(0.99), outcome)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let slow_calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let upstream = stub(slow_calls.clone()).await;
    let config = ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: Some(format!("http://{upstream}/v1")),
        max_concurrency: 1024,
        recent_decisions: 200,
        ..ServeConfig::default()
    };
    // MNEME_BENCH_SOAK_SECS=600 runs the memory soak instead: a mixed load on a cache bounded
    // to 5 000 entries, the process's resident memory printed every 30 s.
    let soak = std::env::var("MNEME_BENCH_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let minilm = std::env::var("MNEME_BENCH_MODEL").is_ok_and(|m| m == "minilm");
    let embedder: Arc<dyn mneme::Embedder> = if minilm {
        Arc::new(mneme_embed::LocalEmbedder::open(mneme_embed::default_model_dir()).unwrap())
    } else {
        Arc::new(LexicalEmbedder::new(384))
    };
    let mut builder = SemanticCache::builder_shared(embedder)
        .store(MemoryStore::new())
        .similarity_threshold(0.8);
    if soak.is_some() {
        builder = builder.max_entries(5_000);
    }
    let upstream_url = format!("http://{upstream}/v1");
    let (addr, target) = match std::env::var_os("MNEME_BENCH_SERVE") {
        Some(command) => spawn_command(&command, &upstream_url, minilm),
        None => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(mneme_server::serve(
                config,
                builder,
                move |addr| {
                    let _ = tx.send(addr);
                },
                async move {
                    let _ = stop_rx.await;
                },
            ));
            (rx.await.unwrap(), Target::InProcess(stop_tx, server))
        }
    };
    let url = format!("http://{addr}/v1/chat/completions");
    let direct = format!("http://{upstream}/v1/chat/completions");

    if let Some(seconds) = soak {
        run_soak(&url, seconds).await;
        target.stop().await;
        return;
    }

    // Warm: 1 000 distinct questions cached, for exact and semantic hits.
    let warm = reqwest::Client::new();
    for i in 0..1000 {
        warm.post(&url)
            .body(body(&question(i)))
            .send()
            .await
            .unwrap();
    }
    let model = if minilm {
        "all-MiniLM-L6-v2"
    } else {
        "lexical embedder (the server's own cost)"
    };
    println!("mneme serve on loopback, {SECONDS} s per cell, {model}");
    println!(
        "{:<16} {:>5} {:>10} {:>10} {:>10}  answered as",
        "workload", "conns", "req/s", "p50 µs", "p99 µs"
    );
    let mut miss_p50 = Vec::new();
    // MNEME_BENCH_ONLY=semantic (a substring) runs only matching workloads, for profiling.
    let only = std::env::var("MNEME_BENCH_ONLY").unwrap_or_default();
    for connections in [1, 16, 256] {
        let cells: [(&str, String, Bodies); 4] = [
            (
                "exact hit",
                url.clone(),
                Arc::new(|i| body(&question(i % 1000))),
            ),
            (
                "semantic hit",
                url.clone(),
                Arc::new(|i| body(&format!("{} please", question(i % 1000)))),
            ),
            (
                "miss (proxy)",
                url.clone(),
                Arc::new(move |i| body_for("misses", &question(1_000_000 * connections + i))),
            ),
            (
                "stub directly",
                direct.clone(),
                Arc::new(|i| body(&format!("direct {i}"))),
            ),
        ];
        for (name, target, next) in cells.into_iter().filter(|c| c.0.contains(only.as_str())) {
            let (rps, p50, p99, outcome) = load(target, connections, next).await;
            println!("{name:<16} {connections:>5} {rps:>10.0} {p50:>10.0} {p99:>10.0}  {outcome}");
            if name.starts_with("miss") || name.starts_with("stub") {
                miss_p50.push((connections, name, p50));
            }
        }
    }
    for pair in miss_p50.chunks(2) {
        if let [(c, _, proxy), (_, _, direct)] = pair {
            println!("added latency on a miss at {c} connection(s): {:.0} µs p50 (embedding, lookup, store)", proxy - direct);
        }
    }
    if only.is_empty() || "coalesce".contains(only.as_str()) {
        bursts(&url, &slow_calls).await;
    }
    target.stop().await;
}

/// The server under test.
enum Target {
    /// In this process, on a MemoryStore.
    InProcess(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), String>>,
    ),
    /// A `mneme serve` command and its cache file.
    Command(std::process::Child, std::path::PathBuf),
}

impl Target {
    async fn stop(self) {
        match self {
            Target::InProcess(stop, server) => {
                let _ = stop.send(());
                let _ = server.await;
            }
            Target::Command(mut child, db) => {
                let _ = child.kill();
                let _ = child.wait();
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
                }
            }
        }
    }
}

/// MNEME_BENCH_SERVE=PATH: `PATH serve` (the cargo-built binary, or the pip-installed console
/// script) on a fresh SQLite file, with the embedder, threshold and no verifier of the
/// in-process server; its logs go to /dev/null but are still written.
fn spawn_command(command: &std::ffi::OsStr, upstream: &str, minilm: bool) -> (SocketAddr, Target) {
    use std::io::BufRead;
    let db = std::env::temp_dir().join(format!("mneme-serve-bench-{}.db", std::process::id()));
    let mut child = std::process::Command::new(command)
        .args(["serve", "--cache"])
        .arg(&db)
        .args(["--listen", "127.0.0.1:0", "--upstream", upstream])
        .args(["--model", if minilm { "minilm" } else { "lexical:384" }])
        .args(["--verifier", "off", "--threshold", "0.8"])
        .args(["--max-concurrency", "1024"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("MNEME_BENCH_SERVE names a runnable mneme command");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("mneme serve did not start: {first:?}"));
    (addr, Target::Command(child, db))
}

/// The process's resident set size in MiB, from /proc.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// 16 connections for `seconds`: one request in three repeats one of 1 000 questions, one in
/// three paraphrases it, one is new (a miss that the 5 000-entry bound evicts for).
async fn run_soak(url: &str, seconds: u64) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (client, url, counter) = (client.clone(), url.to_owned(), counter.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let text = match i % 3 {
                        0 => question(i % 1000),
                        1 => format!("{} please", question(i % 1000)),
                        _ => question(10_000_000 + i),
                    };
                    let r = client.post(&url).body(body(&text)).send().await.unwrap();
                    r.bytes().await.unwrap();
                }
            })
        })
        .collect();
    println!("memory soak: {seconds} s, 16 connections, cache bounded to 5 000 entries");
    println!("{:>8} {:>12} {:>10}", "seconds", "requests", "RSS MiB");
    let started = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(30).min(deadline - Instant::now())).await;
        let done = counter.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "{:>8.0} {done:>12} {:>10.1}",
            started.elapsed().as_secs_f64(),
            rss_mib()
        );
    }
    for w in workers {
        let _ = w.await;
    }
}

/// Coalescing: bursts of 16 concurrent misses against an upstream that takes `SLOW_UPSTREAM`
/// to answer, each burst a new question: 16 identical requests, 16 wordings of one question
/// (near-duplicates the cache would serve each other), and 16 different questions (nothing
/// to share: the cost without coalescing). Upstream calls per burst and the burst's time.
async fn bursts(url: &str, slow_calls: &std::sync::atomic::AtomicUsize) {
    const BURSTS: usize = 10;
    const WIDTH: usize = 16;
    // The j-th question of the i-th burst.
    type Text = fn(usize, usize) -> String;
    let kinds: [(&str, Text); 3] = [
        ("identical", |burst, _| question(2_000_000 + burst)),
        ("near-duplicates", |burst, j| {
            let (opening, ending) = (
                ["", "so ", "hey ", "ok "][j / 4],
                ["", " please", " thanks", " now"][j % 4],
            );
            format!("{opening}{}{ending}", question(3_000_000 + burst))
        }),
        ("different", |burst, j| {
            question(4_000_000 + burst * WIDTH + j)
        }),
    ];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(WIDTH)
        .build()
        .unwrap();
    println!(
        "\nbursts of {WIDTH} concurrent misses, upstream answering in {} ms, {BURSTS} bursts each",
        SLOW_UPSTREAM.as_millis()
    );
    println!(
        "{:<16} {:>16} {:>14} {:>14}  answered as",
        "requests", "upstream calls", "burst p50 ms", "burst max ms"
    );
    for (name, text) in kinds {
        let before = slow_calls.load(std::sync::atomic::Ordering::Relaxed);
        let mut times = Vec::new();
        let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
        for burst in 0..BURSTS {
            let started = Instant::now();
            let requests: Vec<_> = (0..WIDTH)
                .map(|j| {
                    let (client, url) = (client.clone(), url.to_owned());
                    let body = body_for(SLOW_MODEL, &text(burst, j));
                    tokio::spawn(async move { send(&client, &url, body).await })
                })
                .collect();
            for r in requests {
                *outcomes.entry(r.await.unwrap()).or_default() += 1;
            }
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let calls = slow_calls.load(std::sync::atomic::Ordering::Relaxed) - before;
        times.sort_by(f64::total_cmp);
        let answered: Vec<String> = outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "{name:<16} {:>16.1} {:>14.0} {:>14.0}  {}",
            calls as f64 / BURSTS as f64,
            times[BURSTS / 2],
            times[BURSTS - 1],
            answered.join(", ")
        );
    }
}
