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
        out.contains("exact get") && out.contains("semantic get") && out.contains("index int8"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the original is untouched"
    );
}
