//! `mmap-shared` mode: caches on one file search one shared sidecar; each sees the others'
//! writes, damaged or stale sidecars are rebuilt (or refused, for another dtype), writers
//! killed at random points lose no acknowledged put, and a mneme-cache 1.0 process writing the
//! SQLite file is reconciled.

mod common;

use common::embedders::{hashed_vector, TestEmbedder};
use mneme::{
    Error, HitLayer, IndexBackend, IndexOptions, MultiProcessMode, SemanticCache, VectorDtype,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DIM: usize = 64;

/// An embedder under which `"{q} again"` embeds exactly as `q`: a semantic hit that only the
/// shared index can serve (the exact layer never matches it).
fn embedder() -> TestEmbedder {
    TestEmbedder::new(DIM)
}

fn paraphrase(e: &TestEmbedder, q: &str) -> String {
    let p = format!("{q} again");
    e.set(&p, hashed_vector(q, DIM));
    e.set(q, hashed_vector(q, DIM));
    p
}

fn open(path: &Path, e: &TestEmbedder, dtype: VectorDtype) -> mneme::Result<SemanticCache> {
    SemanticCache::builder(e.clone())
        .path(path)
        .multi_process_mode(MultiProcessMode::MmapShared)
        .vector_dtype(dtype)
        .open()
}

fn bpe(dtype: VectorDtype) -> u64 {
    match dtype {
        VectorDtype::Float32 => 4,
        VectorDtype::Float16 => 2,
        VectorDtype::Int8 => 1,
    }
}

fn semantic(c: &SemanticCache, e: &TestEmbedder, q: &str) -> Option<String> {
    let hit = c.get(&paraphrase(e, q)).unwrap()?;
    assert_eq!(hit.layer, HitLayer::Semantic);
    Some(hit.response)
}

#[test]
fn caches_on_one_file_see_each_others_writes_through_the_sidecar() {
    for dtype in [
        VectorDtype::Float32,
        VectorDtype::Float16,
        VectorDtype::Int8,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let e = embedder();
        let a = open(&path, &e, dtype).unwrap();
        let b = open(&path, &e, dtype).unwrap();
        for i in 0..40 {
            a.put(&format!("question {i}"), &format!("answer {i}"))
                .unwrap();
        }
        // b never loaded these rows: its semantic hits come from the shared file.
        for i in (0..40).step_by(7) {
            assert_eq!(
                semantic(&b, &e, &format!("question {i}")).as_deref(),
                Some(&*format!("answer {i}")),
                "{dtype:?}"
            );
        }
        b.put("question 3", "answer 3, revised").unwrap();
        assert!(b.delete("question 5").unwrap());
        assert_eq!(
            semantic(&a, &e, "question 3").as_deref(),
            Some("answer 3, revised")
        );
        assert_eq!(semantic(&a, &e, "question 5"), None);
        let s = a.stats(None).unwrap();
        assert_eq!(s.entries, 39);
        assert!(
            s.index_memory_bytes.unwrap() >= 1024 * DIM as u64 * bpe(dtype),
            "capacity × dim × bpe"
        );
        assert_eq!(a.health().unwrap().index_backend, "numpy");
        // Compaction past a quarter of tombstones keeps every live row.
        for i in 10..30 {
            a.delete(&format!("question {i}")).unwrap();
        }
        assert!(a.stats(None).unwrap().index_tombstone_count.unwrap() * 4 <= 40);
        assert_eq!(
            semantic(&b, &e, "question 33").as_deref(),
            Some("answer 33")
        );
        a.close().unwrap();
        b.close().unwrap();
        for f in ["c.db.vectors", "c.db.vectors.lock"] {
            assert!(dir.path().join(f).exists(), "{f}");
        }
    }
}

#[test]
fn stale_damaged_and_foreign_sidecars_are_rebuilt_and_another_dtype_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let e = embedder();
    let c = open(&path, &e, VectorDtype::Float32).unwrap();
    for i in 0..10 {
        c.put(&format!("q{i}"), &format!("r{i}")).unwrap();
    }
    c.close().unwrap();
    let data = dir.path().join("c.db.vectors");
    let good = std::fs::read(&data).unwrap();
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let damage: Vec<(&str, Damage)> = vec![
        ("short", Box::new(|b: &mut Vec<u8>| b.truncate(30))),
        (
            "truncated body",
            Box::new(|b: &mut Vec<u8>| b.truncate(200)),
        ),
        (
            "bad magic",
            Box::new(|b: &mut Vec<u8>| b[..8].copy_from_slice(b"XXXXXXXX")),
        ),
        ("another version", Box::new(|b: &mut Vec<u8>| b[8] = 2)),
        ("another dim", Box::new(|b: &mut Vec<u8>| b[12] = 9)),
        (
            "another embedder",
            Box::new(|b: &mut Vec<u8>| b[30] ^= 0xff),
        ),
        (
            "garbage ids",
            Box::new(|b: &mut Vec<u8>| b[64..64 + 80].fill(0x7f)),
        ),
        ("deleted", Box::new(|b: &mut Vec<u8>| b.clear())),
    ];
    for (what, f) in damage {
        let mut bytes = good.clone();
        f(&mut bytes);
        std::fs::write(&data, &bytes).unwrap();
        if what == "garbage ids" {
            // Not detectable from the header: the record says the file is current. Wrong ids
            // can only give candidates the store refuses, never a wrong hit.
            let c = open(&path, &e, VectorDtype::Float32).unwrap();
            for i in 0..10 {
                let got = c.get(&paraphrase(&e, &format!("q{i}"))).unwrap();
                assert!(
                    got.is_none_or(|h| h.response == format!("r{i}")),
                    "{what}: a wrong hit"
                );
            }
            c.close().unwrap();
            continue;
        }
        let c = open(&path, &e, VectorDtype::Float32).unwrap_or_else(|err| panic!("{what}: {err}"));
        for i in 0..10 {
            assert_eq!(
                semantic(&c, &e, &format!("q{i}")).as_deref(),
                Some(&*format!("r{i}")),
                "{what}"
            );
        }
        c.close().unwrap();
    }
    std::fs::write(&data, &good).unwrap();
    let e2 = embedder();
    match open(&path, &e2, VectorDtype::Int8) {
        Err(Error::Quantization(m)) => assert!(m.to_string().contains("float32"), "{m}"),
        other => panic!("another dtype: {other:?}"),
    }
}

#[test]
fn unsupported_combinations_are_refused_with_a_remedy() {
    let e = embedder();
    let r = SemanticCache::builder(e.clone())
        .path(":memory:")
        .multi_process_mode(MultiProcessMode::MmapShared)
        .open();
    assert!(matches!(r, Err(Error::InvalidArgument(m)) if m.to_string().contains("mmap_path")));
    let dir = tempfile::tempdir().unwrap();
    let r = SemanticCache::builder(e.clone())
        .path(dir.path().join("c.db"))
        .multi_process_mode(MultiProcessMode::MmapShared)
        .index_backend(IndexBackend::Hnsw)
        .open();
    assert!(matches!(r, Err(Error::InvalidArgument(m)) if m.to_string().contains("hnsw")));
    // A store without a file works with mmap_path.
    let r = SemanticCache::builder(e.clone())
        .store(mneme::MemoryStore::new())
        .multi_process_mode(MultiProcessMode::MmapShared)
        .index_options(IndexOptions {
            mmap_path: Some(dir.path().join("side")),
            ..IndexOptions::default()
        })
        .open()
        .unwrap();
    r.put("x", "y").unwrap();
    assert_eq!(semantic(&r, &e, "x").as_deref(), Some("y"));
    assert!(dir.path().join("side.vectors").exists());
}

const ROLE: &str = "MNEME_MMAP_ROLE";
const PATH: &str = "MNEME_MMAP_PATH";

/// A child process: puts rows forever, printing each acknowledged query.
#[test]
#[ignore = "a child process of the kill test"]
fn mmap_writer_child() {
    let (Ok(_), Ok(path)) = (std::env::var(ROLE), std::env::var(PATH)) else {
        return;
    };
    let e = embedder();
    let c = open(Path::new(&path), &e, VectorDtype::Float32).unwrap();
    let pid = std::process::id();
    for i in 0.. {
        let q = format!("p{pid} q{i}");
        c.put(&q, &format!("r {q}")).unwrap();
        if i % 5 == 4 {
            let gone = format!("p{pid} q{}", i - 2);
            println!("deleting {gone}"); // from here until "deleted", its state is unknown
            c.delete(&gone).unwrap();
            println!("deleted {gone}");
        }
        println!("put {q}");
    }
}

/// A child process: overwrites `q3`, deletes `q5`, adds `q40`, then requantises the shared
/// sidecar to int8, and exits.
#[test]
#[ignore = "a child process of the cross-process test"]
fn mmap_editor_child() {
    let (Ok(_), Ok(path)) = (std::env::var(ROLE), std::env::var(PATH)) else {
        return;
    };
    let e = embedder();
    let c = open(Path::new(&path), &e, VectorDtype::Float32).unwrap();
    c.put("q3", "r3, revised").unwrap();
    assert!(c.delete("q5").unwrap());
    c.put("q40", "r40").unwrap();
    c.requantize(VectorDtype::Int8).unwrap();
    assert_eq!(c.stats(None).unwrap().vector_dtype, VectorDtype::Int8);
    c.close().unwrap();
}

fn spawn_child(name: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture", "-q"])
        .env(ROLE, name)
        .env(PATH, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn another_process_s_overwrites_deletes_and_requantise_are_seen_on_the_next_get() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let e = embedder();
    let a = open(&path, &e, VectorDtype::Float32).unwrap();
    for i in 0..40 {
        a.put(&format!("q{i}"), &format!("r{i}")).unwrap();
    }
    assert_eq!(semantic(&a, &e, "q3").as_deref(), Some("r3"));
    let out = spawn_child("mmap_editor_child", &path)
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "the child failed");
    // `a` kept its mapping open throughout; its next gets see the child's writes.
    assert_eq!(semantic(&a, &e, "q3").as_deref(), Some("r3, revised"));
    assert_eq!(semantic(&a, &e, "q5"), None);
    assert_eq!(semantic(&a, &e, "q40").as_deref(), Some("r40"));
    // The sidecar is int8 now (1 byte per element), and `a` searches it at that dtype.
    let s = a.stats(None).unwrap();
    assert_eq!(s.vector_dtype, VectorDtype::Int8);
    assert_eq!(s.index_memory_bytes, Some(1024 * DIM as u64));
    for i in [0, 17, 39] {
        assert_eq!(
            semantic(&a, &e, &format!("q{i}")).as_deref(),
            Some(&*format!("r{i}"))
        );
    }
    // Writes through `a` go into the int8 file; a new process must ask for int8.
    a.put("q41", "r41").unwrap();
    match open(&path, &e, VectorDtype::Float32) {
        Err(Error::Quantization(m)) => assert!(m.to_string().contains("int8"), "{m}"),
        other => panic!("float32 on an int8 sidecar: {other:?}"),
    }
    let b = open(&path, &e, VectorDtype::Int8).unwrap();
    assert_eq!(semantic(&b, &e, "q41").as_deref(), Some("r41"));
    // Back to float32 from the store's float32 vectors: full precision again.
    b.requantize(VectorDtype::Float32).unwrap();
    let top = a.explain(&paraphrase(&e, "q7"), "default", 1).unwrap();
    assert!((top.candidates[0].similarity - 1.0).abs() < 1e-6, "{top:?}");
    assert_eq!(a.stats(None).unwrap().vector_dtype, VectorDtype::Float32);
}

#[test]
fn writers_killed_at_random_points_lose_no_acknowledged_put() {
    let kills: u64 = std::env::var("MNEME_MMAP_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("c.db");
    let e = embedder();
    open(&path, &e, VectorDtype::Float32)
        .unwrap()
        .close()
        .unwrap();
    let mut live = std::collections::BTreeSet::new();
    let mut deleted = std::collections::BTreeSet::new();
    for round in 0..kills {
        let mut child = spawn_child("mmap_writer_child", &path);
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(15 + (round * 7919) % 60));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for line in reader.join().unwrap() {
            if let Some(q) = line.strip_prefix("put ") {
                live.insert(q.to_owned());
            } else if let Some(q) = line.strip_prefix("deleting ") {
                live.remove(q);
            } else if let Some(q) = line.strip_prefix("deleted ") {
                deleted.insert(q.to_owned());
            }
        }
    }
    let c = open(&path, &e, VectorDtype::Float32).unwrap();
    assert!(
        live.len() > kills as usize,
        "the writers got work done: {}",
        live.len()
    );
    for q in &live {
        assert_eq!(
            semantic(&c, &e, q).as_deref(),
            Some(&*format!("r {q}")),
            "acknowledged put {q}"
        );
    }
    for q in deleted.iter().take(50) {
        assert_ne!(
            semantic(&c, &e, q),
            Some(format!("r {q}")),
            "acknowledged delete {q}"
        );
    }
    c.close().unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn a_mneme_cache_1_0_process_writing_the_file_is_reconciled() {
    use common::peer::{self, Json};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let dim = common::workload::DIM;
    let ours = SemanticCache::builder(common::embedders::InteropEmbedder::new(dim))
        .path(&path)
        .multi_process_mode(MultiProcessMode::MmapShared)
        .open()
        .unwrap();
    // 1.0 (single mode: it never touches the sidecar) writes the file our cache has open:
    // puts, overwrites and deletes.
    let wl = peer::interop_file("workload.json");
    let py = peer::run(
        &[
            "workload",
            path.to_str().unwrap(),
            wl.to_str().unwrap(),
            &dim.to_string(),
        ],
        None,
    );
    assert!(py.at("stats").at("entries").int() > 0);
    // Our gets reconcile the sidecar from the store's version counter: every live row of
    // 1.0's serves a semantic hit from the shared index, and deleted ones do not.
    let (exact, semantic, stats, _) = common::workload::verify_cache(ours);
    assert!(exact.iter().all(|h| h.is_some()), "{exact:?}");
    assert!(semantic.iter().all(|h| h.is_some()), "{semantic:?}");
    assert_eq!(stats.entries as i64, py.at("stats").at("entries").int());
    let side = std::fs::metadata(dir.path().join("c.db.vectors")).unwrap();
    assert!(side.len() > 0);
}

#[test]
fn a_writer_is_not_starved_by_readers_searching_back_to_back() {
    // Three caches (three lock-file descriptors, as three processes have) search in tight
    // loops, so one of them holds the shared lock at every moment; a put must still get in.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let e = embedder();
    let writer = open(&path, &e, VectorDtype::Float32).unwrap();
    for i in 0..3000 {
        writer.put(&format!("seed {i}"), "x").unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (c, stop) = (open(&path, &e, VectorDtype::Float32).unwrap(), stop.clone());
            std::thread::spawn(move || {
                let v = hashed_vector(&format!("reader {r}"), DIM);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = c
                        .get_with("never", mneme::Get::default().embedding(&v))
                        .unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let t = std::time::Instant::now();
        writer.put(&format!("late {i}"), "y").unwrap();
        slowest = slowest.max(t.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    readers.into_iter().for_each(|r| r.join().unwrap());
    // Measured: 6 ms with the turnstile, 2.6 s without it.
    assert!(
        slowest < Duration::from_millis(500),
        "a put waited {slowest:?} behind readers"
    );
}
