//! The CLI against real files: inspect, stats, dump, load, vacuum, and its errors.

use mneme::{LexicalEmbedder, Put, SemanticCache};
use std::path::Path;
use std::process::Command;

fn mneme(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mneme"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn seeded(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("app.db");
    let cache = SemanticCache::open(&db, LexicalEmbedder::new(64)).unwrap();
    cache
        .put("how do I reset my password?", "Settings")
        .unwrap();
    cache
        .put_with("bonjour", "salut", Put::default().namespace("fr"))
        .unwrap();
    cache
        .put_with("short-lived", "x", Put::default().ttl(-1))
        .unwrap();
    cache.get("how do I reset my password?").unwrap().unwrap();
    cache.close().unwrap();
    db
}

#[test]
fn dump_inspect_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let archive = dir.path().join("backup.tar.gz");
    let (ok, out, err) = mneme(&[&"dump", &db, &archive]);
    assert!(ok, "{err}");
    assert!(out.contains("3 entries"), "{out}");

    let (ok, out, _) = mneme(&[&"inspect", &archive]);
    assert!(ok);
    assert!(
        out.contains("mneme-lexical-v1:64 (dim 64)") && out.contains("default, fr"),
        "{out}"
    );

    let restored = dir.path().join("restored.db");
    let (ok, out, err) = mneme(&[&"load", &archive, &restored]);
    assert!(ok, "{err}");
    assert!(out.contains("3 entries"), "{out}");
    let cache = SemanticCache::open(&restored, LexicalEmbedder::new(64)).unwrap();
    assert_eq!(
        cache
            .get("how do I reset my password?")
            .unwrap()
            .unwrap()
            .response,
        "Settings"
    );
    assert_eq!(
        cache.stats(None).unwrap().hits_exact,
        2,
        "the restored hit plus this one"
    );
}

#[test]
fn inspect_stats_and_vacuum_a_cache_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let (ok, out, _) = mneme(&[&"inspect", &db]);
    assert!(
        ok && out.contains("entries         3") && out.contains("healthy         true"),
        "{out}"
    );
    let (ok, out, _) = mneme(&[&"stats", &db, &"--namespace", &"default"]);
    assert!(
        ok && out.contains("hits_exact      1") && out.contains("entries         2"),
        "{out}"
    );
    let (ok, out, _) = mneme(&[&"vacuum", &db]);
    assert!(ok && out.contains("removed 1 expired"), "{out}");
}

#[test]
fn errors_are_reported_with_their_remediation() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = mneme(&[&"inspect", &dir.path().join("missing.db")]);
    assert!(
        !ok && err.contains("does not exist") && err.contains("Remediation"),
        "{err}"
    );
    let bogus = dir.path().join("bogus.tar.gz");
    std::fs::write(&bogus, b"not an archive").unwrap();
    let (ok, _, err) = mneme(&[&"load", &bogus, &dir.path().join("x.db")]);
    assert!(!ok && err.contains("Remediation"), "{err}");
    assert!(!dir.path().join("x.db").exists());
}

#[test]
fn bench_measures_a_copy_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let before = std::fs::read(&db).unwrap();
    let (ok, out, err) = mneme(&[&"bench", &db, &"--calls", &"50", &"--dtype", &"int8"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("exact get")
            && out.contains("semantic get")
            && out.contains("vector_dtype    int8"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the original is untouched"
    );
}

fn write(path: &Path, lines: &[&str]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn import_then_query_with_the_local_model() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    write(
        &corpus,
        &[
            r#"{"query": "How do I reset my password?", "response": "Settings > Security > Reset"}"#,
            r#"{"query": "What is the capital of France?", "response": "Paris", "metadata": {"src": "atlas"}}"#,
            r#"{"query": "Bonjour", "response": "Salut", "namespace": "fr", "ttl": 3600}"#,
        ],
    );
    let db = dir.path().join("warm.db");
    let (ok, out, err) = mneme(&[&"import", &db, &corpus]);
    assert!(ok, "{err}");
    assert!(out.contains("imported 3 entries"), "{out}");

    // No --model: the cache's own model (its fingerprint says local MiniLM).
    let (ok, out, err) = mneme(&[&"query", &db, &"how can i reset my password"]);
    assert!(ok, "{err}");
    assert!(out.contains("decision    semantic hit"), "{out}");
    assert!(out.contains("How do I reset my password?"), "{out}");
    let (ok, out, _) = mneme(&[&"query", &db, &"Who painted the Mona Lisa?", &"-k", &"2"]);
    assert!(ok);
    assert!(out.contains("decision    miss: below_threshold"), "{out}");
    assert_eq!(out.matches("->").count(), 2, "two candidates listed: {out}");
    let (ok, out, _) = mneme(&[&"query", &db, &"bonjour", &"--namespace", &"fr"]);
    assert!(ok && out.contains("decision    exact hit"), "{out}");

    // query changed nothing: no hits or misses were counted, nothing was accessed.
    let (ok, out, _) = mneme(&[&"stats", &db]);
    assert!(
        ok && out.contains("hits_semantic   0") && out.contains("misses          0"),
        "{out}"
    );
}

#[test]
fn import_refuses_a_bad_line_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("bad.jsonl");
    write(
        &corpus,
        &[
            r#"{"query": "a", "response": "b"}"#,
            r#"{"query": "no response"}"#,
        ],
    );
    let db = dir.path().join("c.db");
    let (ok, _, err) = mneme(&[&"import", &db, &corpus, &"--model", &"lexical:32"]);
    assert!(!ok);
    assert!(
        err.contains("line 2") && err.contains("Remediation:"),
        "{err}"
    );
    assert!(!db.exists(), "nothing written");
}

#[test]
fn calibrate_prints_a_threshold_for_labelled_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    write(
        &pairs,
        &[
            r#"{"a": "How do I reset my password?", "b": "How can I reset my password?", "same_answer": true}"#,
            r#"{"a": "What is the capital of France?", "b": "what's the capital city of france", "same_answer": true}"#,
            r#"{"a": "What is 2+2?", "b": "What is the capital of Peru?", "same_answer": false}"#,
            r#"{"a": "Can dogs eat chocolate?", "b": "How do I bake bread?", "same_answer": false}"#,
        ],
    );
    let (ok, out, err) = mneme(&[&"calibrate", &pairs, &"--curve"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("threshold   0.") && out.contains("precision   1.0000"),
        "{out}"
    );
    assert!(out.lines().count() > 50, "the curve: {out}");
}

#[test]
fn migrate_re_embeds_into_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let dest = dir.path().join("minilm.db");
    let (ok, _, err) = mneme(&[&"migrate", &db, &dest]);
    assert!(!ok && err.contains("--model"), "{err}");
    let (ok, out, err) = mneme(&[&"migrate", &db, &dest, &"--model", &"minilm"]);
    assert!(ok, "{err}");
    assert!(out.contains("migrated 3 entries"), "{out}");
    let (ok, out, _) = mneme(&[&"query", &dest, &"how can i reset my password"]);
    assert!(ok && out.contains("semantic hit"), "{out}");
}

#[test]
fn a_wrong_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let (ok, _, err) = mneme(&[&"query", &db, &"x", &"--model", &"gpt5"]);
    assert!(!ok && err.contains("unknown --model"), "{err}");
    let (ok, _, err) = mneme(&[&"query", &db, &"x", &"--model", &"lexical:32"]);
    assert!(!ok && err.contains("Remediation:"), "{err}");
    let (ok, _, err) = mneme(&[
        &"query",
        &db,
        &"x",
        &"--model",
        &"minilm",
        &"--model-dir",
        &dir.path().join("nowhere"),
    ]);
    assert!(!ok && err.contains("fetch-model.sh"), "{err}");
}

#[test]
fn flags_are_strict_and_a_cache_is_never_replaced_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let archive = dir.path().join("a.tar.gz");
    let (ok, _, err) = mneme(&[&"dump", &db, &archive, &"--level", &"10"]);
    assert!(!ok && err.contains("0..=9"), "{err}");
    let (ok, _, err) = mneme(&[&"bench", &db, &"--calls", &"0"]);
    assert!(!ok && err.contains("1.."), "{err}");
    let (ok, _, err) = mneme(&[&"bench", &db, &"--dtype", &"float64"]);
    assert!(
        !ok && err.contains("float16"),
        "the choices are listed: {err}"
    );
    let (ok, _, err) = mneme(&[&"stats", &db, &"--namespace", &"nope"]);
    assert!(
        !ok && err.contains("does not exist") && err.contains("default, fr"),
        "{err}"
    );

    let (ok, _, err) = mneme(&[&"dump", &db, &archive]);
    assert!(ok, "{err}");
    let (ok, out, _) = mneme(&[&"inspect", &archive]);
    assert!(ok && out.contains("index_backend   flat"), "{out}");
    let before = std::fs::read(&db).unwrap();
    let (ok, _, err) = mneme(&[&"load", &archive, &db]);
    assert!(!ok && err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the existing cache is untouched"
    );
    let (ok, out, err) = mneme(&[&"load", &archive, &db, &"--force"]);
    assert!(ok && out.contains("restored"), "{err}");
}

#[test]
fn one_version_for_the_engine_the_cli_and_the_python_package() {
    let (ok, out, _) = mneme(&[&"--version"]);
    assert!(ok);
    // The workspace shares one version; the Python package reports the same (test_surface.py).
    assert_eq!(out.trim(), format!("mneme {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(env!("CARGO_PKG_VERSION"), "1.1.0");
}

#[test]
fn vacuum_gives_the_space_back_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    let cache = SemanticCache::open(&db, LexicalEmbedder::new(64)).unwrap();
    let texts: Vec<String> = (0..3000)
        .map(|i| format!("question {i} {}", "x".repeat(300)))
        .collect();
    cache
        .put_many(
            texts
                .iter()
                .map(|q| (q.as_str(), "answer", Put::default().ttl(-1))),
        )
        .unwrap();
    cache.put("keep me", "kept").unwrap();
    cache.close().unwrap();
    let (ok, out, err) = mneme(&[&"vacuum", &db]);
    assert!(ok, "{err}");
    assert!(out.contains("removed 3000 expired entries"), "{out}");
    let sizes: Vec<u64> = out
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (before, after) = (sizes[1], sizes[2]);
    assert!(after * 4 < before, "{before} -> {after} bytes: {out}");
    assert_eq!(std::fs::metadata(&db).unwrap().len(), after);
    let cache = SemanticCache::open(&db, LexicalEmbedder::new(64)).unwrap();
    assert_eq!(cache.get("keep me").unwrap().unwrap().response, "kept");
}

#[test]
fn json_for_scripts_iso_times_and_right_diagnoses() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let parse = |s: &str| -> serde_json::Value { serde_json::from_str(s.trim()).expect(s) };
    let (ok, out, err) = mneme(&[&"stats", &db, &"--json"]);
    assert!(ok, "{err}");
    let v = parse(&out);
    assert_eq!(
        (v["entries"].as_u64(), v["vector_dtype"].as_str()),
        (Some(3), Some("float32"))
    );
    let (ok, out, _) = mneme(&[&"inspect", &db, &"--json"]);
    let v = parse(&out);
    assert!(
        ok && v["embedder_dim"] == 64 && v["index_backend"] == "flat",
        "{v}"
    );
    assert_eq!(v["namespaces"], serde_json::json!(["default", "fr"]));
    let (ok, out, _) = mneme(&[&"bench", &db, &"--calls", &"5", &"--json"]);
    let v = parse(&out);
    assert!(
        ok && v["semantic_get_us"]["p50"].as_f64().unwrap() > 0.0,
        "{v}"
    );
    let (ok, out, _) = mneme(&[&"query", &db, &"bonjour", &"--namespace", &"fr", &"--json"]);
    let v = parse(&out);
    assert!(ok && v["decision"]["layer"] == "exact", "{v}");

    // An archive is known by its content, whatever its name; its time is ISO 8601.
    let archive = dir.path().join("backup.bin");
    assert!(mneme(&[&"dump", &db, &archive]).0);
    let (ok, out, _) = mneme(&[&"inspect", &archive]);
    assert!(ok && out.contains("format_version"), "{out}");
    let created = out.lines().find(|l| l.starts_with("created_at")).unwrap();
    assert!(
        created.trim_end().ends_with('Z') && created.contains('T'),
        "{created}"
    );

    let (ok, _, err) = mneme(&[&"stats", &dir.path()]);
    assert!(!ok && err.contains("is a directory"), "{err}");
    let (ok, _, err) = mneme(&[&"stats", &dir.path().join("nowhere/c.db")]);
    assert!(
        !ok && err.contains("directory") && err.contains("does not exist"),
        "{err}"
    );
    let (ok, _, err) = mneme(&[&"stats", &dir.path().join("missing.db")]);
    assert!(!ok && err.contains("missing.db does not exist"), "{err}");
    let (ok, _, err) = mneme(&[&"dump", &db, &dir.path().join("no/such/dir/a.tar.gz")]);
    assert!(!ok && err.contains("create it first"), "{err}");
}

#[test]
fn looking_never_writes_even_on_a_read_only_file_in_a_read_only_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro_dir = dir.path().join("ro");
    std::fs::create_dir(&ro_dir).unwrap();
    let db = seeded(&ro_dir);
    let digest = |p: &Path| {
        use sha2::{Digest, Sha256};
        format!("{:x}", Sha256::digest(std::fs::read(p).unwrap()))
    };
    let before = digest(&db);
    let listing = |d: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let files_before = listing(&ro_dir);
    // (Root ignores these modes; the checksum and the listing below hold for every user.)
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let runs: [Vec<&dyn AsRef<std::ffi::OsStr>>; 4] = [
        vec![&"inspect", &db],
        vec![&"stats", &db, &"--namespace", &"default"],
        vec![&"stats", &db, &"--json"],
        vec![&"bench", &db, &"--calls", &"5"],
    ];
    for args in &runs {
        let (ok, out, err) = mneme(args);
        assert!(
            ok,
            "{:?}: {err}{out}",
            args.iter()
                .map(|a| a.as_ref().to_owned())
                .collect::<Vec<_>>()
        );
    }
    std::fs::set_permissions(&ro_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(digest(&db), before, "the cache file's bytes are unchanged");
    assert_eq!(
        listing(&ro_dir),
        files_before,
        "no -wal, -shm or temporary file is left"
    );
}

#[test]
fn evaluate_runs_pairs_through_the_cache_and_reports_served_shares() {
    let pairs = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mneme/tests/data/traps.jsonl"
    );
    let lexical = ["--model", "lexical:256"];
    let run = |verifier: &str| {
        let (ok, out, err) = mneme(&[
            &"--json",
            &"evaluate",
            &"--pairs",
            &pairs,
            &"--verifier",
            &verifier,
            &lexical[0],
            &lexical[1],
        ]);
        assert!(ok, "{err}");
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let (summary, per_pair) = lines.split_last().unwrap();
        assert_eq!(summary["pairs"], per_pair.len());
        for p in per_pair {
            assert_eq!(
                p["served"].as_bool().unwrap(),
                p["reason"].as_str().unwrap().starts_with("hit_"),
                "{p}"
            );
        }
        (summary.clone(), per_pair.to_vec())
    };
    let (off, _) = run("off");
    let (guard, per_pair) = run("guard");
    assert_eq!(off["traps"], 30);
    assert!(
        off["served_traps"].as_u64().unwrap() > 0,
        "cosine alone serves some traps: {off}"
    );
    assert_eq!(
        guard["served_traps"], 0,
        "the guard refuses every hand-written trap: {guard}"
    );
    assert!(per_pair.iter().any(|p| p["reason"] == "verifier_rejected"));

    let (ok, out, _) = mneme(&[
        &"evaluate",
        &"--pairs",
        &pairs,
        &"--verifier",
        &"guard",
        &lexical[0],
        &lexical[1],
    ]);
    assert!(ok);
    assert!(
        out.starts_with("verifier    guard"),
        "it says what decides: {out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("all")) && out.contains("negation"),
        "{out}"
    );
}

#[test]
fn calibrate_with_a_bound_chooses_stores_and_query_uses_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    let mut lines = Vec::new();
    for i in 0..300 {
        lines.push(format!(r#"{{"a": "parcel {i} to Oslo by ship", "b": "weather report for Lima number {}", "same_answer": false}}"#, i + 7));
    }
    for i in 0..100 {
        lines.push(format!(r#"{{"a": "how do I renew licence {i}", "b": "how do I renew licence {i} online", "same_answer": true}}"#));
    }
    std::fs::write(&pairs, lines.join("\n")).unwrap();
    let db = dir.path().join("c.db");
    let cache = SemanticCache::open(&db, LexicalEmbedder::new(256)).unwrap();
    cache.put("how do I renew licence 1", "online").unwrap();
    cache.close().unwrap();

    let (ok, out, err) = mneme(&[
        &"calibrate",
        &pairs,
        &"--max-false-hits",
        &"0.02",
        &"--verifier",
        &"off",
        &"--write",
        &db,
        &"--namespace",
        &"default",
    ]);
    assert!(ok, "{err}");
    let field = |name: &str| -> String {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let threshold: f64 = field("threshold").parse().unwrap();
    let bound: f64 = out
        .split("upper bound ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(bound <= 0.02, "{out}");
    assert!(out.contains("stored"), "{out}");

    let (ok, out, err) = mneme(&[&"--json", &"query", &db, &"how do I renew licence 2"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["threshold"].as_f64().unwrap(),
        threshold,
        "the stored threshold wins in its namespace"
    );

    // `auto` tries every built-in verifier and stores the one it chose with the threshold.
    let (ok, out, err) = mneme(&[
        &"calibrate",
        &pairs,
        &"--max-false-hits",
        &"0.02",
        &"--verifier",
        &"auto",
        &"--write",
        &db,
        &"--namespace",
        &"tuned",
    ]);
    assert!(ok, "{err}");
    for name in ["default", "guard", "learned", "off"] {
        assert!(
            out.lines().any(|l| l.starts_with(name)),
            "a row for {name}: {out}"
        );
    }
    let chosen = out
        .split("(with verifier ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_owned();
    let cache = SemanticCache::open(&db, LexicalEmbedder::new(256)).unwrap();
    let stored = cache.namespace_verifiers();
    assert_eq!(stored.get("tuned").map(|b| b.name()), Some(chosen.as_str()));
    assert_eq!(
        stored.get("default").map(|b| b.name()),
        Some("off"),
        "the first calibration stored its verifier too"
    );
    cache.close().unwrap();

    // Too few traps to promise the bound: a clear error, nothing stored.
    let few = dir.path().join("few.jsonl");
    std::fs::write(&few, lines[..20].join("\n")).unwrap();
    let (ok, _, err) = mneme(&[
        &"calibrate",
        &few,
        &"--max-false-hits",
        &"0.01",
        &"--model",
        &"lexical:256",
    ]);
    assert!(!ok && err.contains("add trap pairs"), "{err}");
    let (ok, _, err) = mneme(&[
        &"calibrate",
        &pairs,
        &"--write",
        &db,
        &"--model",
        &"lexical:256",
    ]);
    assert!(!ok && err.contains("--max-false-hits"), "{err}");
}

#[test]
fn evaluate_keys_conversations_as_the_server_does() {
    let pairs = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../mneme/tests/data/conversations.jsonl"
    );
    let summary = |scope: &str| -> serde_json::Value {
        let (ok, out, err) = mneme(&[
            &"--json",
            &"evaluate",
            &"--pairs",
            &pairs,
            &"--scope",
            &scope,
            &"--verifier",
            &"off",
            &"--model",
            &"lexical:256",
        ]);
        assert!(ok, "{err}");
        serde_json::from_str(out.lines().last().unwrap()).unwrap()
    };
    let last_message_only = summary("none");
    assert_eq!(
        last_message_only["served_traps"], last_message_only["traps"],
        "keying on the last message serves every context trap"
    );
    assert_eq!(
        summary("last_user_message")["served_traps"],
        0,
        "the server's scope serves none"
    );
}

#[test]
fn stats_reports_the_mmap_shared_sidecar_and_whether_it_is_current() {
    use mneme::{MultiProcessMode, VectorDtype};
    let dir = tempfile::tempdir().unwrap();
    let db = seeded(dir.path());
    let stats = || -> serde_json::Value {
        let (ok, out, err) = mneme(&[&"stats", &db, &"--json"]);
        assert!(ok, "{err}");
        serde_json::from_str(out.trim()).expect(&out)
    };
    assert_eq!(stats()["mmap_sidecar"], serde_json::Value::Null);
    let shared = SemanticCache::builder(LexicalEmbedder::new(64))
        .path(&db)
        .multi_process_mode(MultiProcessMode::MmapShared)
        .vector_dtype(VectorDtype::Int8)
        .open()
        .unwrap();
    shared.put("one more", "row").unwrap();
    assert!(shared.delete("how do I reset my password?").unwrap());
    // Read while the cache holds it open: 3 live rows (the expired one too: the store still
    // has it), 1 tombstone, the int8 file, reflecting the store.
    let side = stats()["mmap_sidecar"].clone();
    assert_eq!(
        (
            side["rows"].as_u64(),
            side["tombstones"].as_u64(),
            side["vector_dtype"].as_str(),
            side["dim"].as_u64(),
            side["current"].as_bool()
        ),
        (Some(3), Some(1), Some("int8"), Some(64), Some(true)),
        "{side}"
    );
    assert!(side["path"].as_str().unwrap().ends_with("app.db.vectors"));
    // A write that bypasses the sidecar (a cache in single mode) leaves it stale until the
    // next get of an mmap-shared cache reconciles it.
    let single = SemanticCache::open(&db, LexicalEmbedder::new(64)).unwrap();
    single.put("outside", "the sidecar").unwrap();
    single.close().unwrap();
    assert_eq!(stats()["mmap_sidecar"]["current"], false);
    let (ok, out, _) = mneme(&[&"stats", &db]);
    assert!(
        ok && out.contains("app.db.vectors: 3 rows (1 tombstones)") && out.contains("stale"),
        "{out}"
    );
    shared.get("outside").unwrap().unwrap();
    assert_eq!(stats()["mmap_sidecar"]["current"], true);
    assert_eq!(stats()["mmap_sidecar"]["rows"], 4);
    shared.close().unwrap();
    // A damaged sidecar (a header claiming 2^32 slots of 2^32 dimensions) is reported as such;
    // the cache's own figures are still printed.
    let side = dir.path().join("app.db.vectors");
    let mut bytes = std::fs::read(&side).unwrap();
    bytes[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&side, &bytes).unwrap();
    let v = stats();
    assert_eq!(v["entries"], 4);
    let error = v["mmap_sidecar"]["error"].as_str().unwrap();
    assert!(error.contains("shorter than its header says"), "{error}");
}

#[test]
fn index_build_saves_the_graph_and_inspect_reports_whether_it_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    let cache = SemanticCache::open(&db, LexicalEmbedder::new(64)).unwrap();
    for i in 0..300 {
        cache
            .put(
                &format!("question {i} about topic {}", i % 17),
                &format!("answer {i}"),
            )
            .unwrap();
    }
    cache.close().unwrap();
    let json = |args: &[&dyn AsRef<std::ffi::OsStr>]| -> serde_json::Value {
        let (ok, out, err) = mneme(args);
        assert!(ok, "{err}");
        serde_json::from_str(out.trim()).expect(&out)
    };
    assert_eq!(
        json(&[&"inspect", &db, &"--json"])["hnsw_graph"],
        serde_json::Value::Null
    );
    let built = json(&[
        &"index", &"build", &db, &"--dtype", &"int8", &"--m", &"8", &"--json",
    ]);
    assert_eq!(
        (
            built["nodes"].as_u64(),
            built["vector_dtype"].as_str(),
            built["m"].as_u64(),
            built["written"].as_str()
        ),
        (Some(300), Some("int8"), Some(8), Some("now")),
        "{built}"
    );
    let again = json(&[
        &"index", &"build", &db, &"--dtype", &"int8", &"--m", &"8", &"--json",
    ]);
    assert_eq!(again["written"], "no: the file was current", "{again}");
    let graph = json(&[&"inspect", &db, &"--json"])["hnsw_graph"].clone();
    assert_eq!(
        (graph["nodes"].as_u64(), graph["current"].as_bool()),
        (Some(300), Some(true)),
        "{graph}"
    );
    assert!(graph["path"].as_str().unwrap().ends_with("big.db.hnsw"));

    // A write elsewhere: the graph is behind until an HNSW open applies it and a save runs.
    let cache = SemanticCache::open(&db, LexicalEmbedder::new(64)).unwrap();
    cache.put("one more question", "one more answer").unwrap();
    cache.close().unwrap();
    let graph = json(&[&"stats", &db, &"--json"])["hnsw_graph"].clone();
    assert_eq!(
        (graph["current"].as_bool(), graph["writes_behind"].as_u64()),
        (Some(false), Some(1)),
        "{graph}"
    );
    let (ok, out, _) = mneme(&[&"inspect", &db]);
    assert!(ok && out.contains("1 writes behind"), "{out}");
    let rebuilt = json(&[
        &"index", &"build", &db, &"--dtype", &"int8", &"--m", &"8", &"--json",
    ]);
    assert_eq!(
        (rebuilt["nodes"].as_u64(), rebuilt["written"].as_str()),
        (Some(301), Some("now"))
    );

    // Another M than the saved graph's: rebuilt with the new one. A damaged file is reported.
    let other = json(&[&"index", &"build", &db, &"--json"]);
    assert_eq!(
        (other["m"].as_u64(), other["vector_dtype"].as_str()),
        (Some(16), Some("float32"))
    );
    std::fs::write(dir.path().join("big.db.hnsw"), b"garbage").unwrap();
    let graph = json(&[&"inspect", &db, &"--json"])["hnsw_graph"].clone();
    assert!(
        graph["error"].as_str().unwrap().contains("bad magic")
            || graph["error"].as_str().unwrap().contains("short"),
        "{graph}"
    );
    let (ok, _, err) = mneme(&[&"index", &"build", &dir.path().join("absent.db")]);
    assert!(!ok && err.contains("does not exist"), "{err}");
}
