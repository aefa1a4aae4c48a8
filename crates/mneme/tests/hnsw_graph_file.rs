//! The saved HNSW graph: an open loads it instead of rebuilding, applies other writers' changes
//! since the save, rebuilds a damaged or foreign file, and a kill during a save leaves the old
//! or the new file. Results are checked against an exact scan of the rows the test wrote.

mod common;

use common::embedders::{hashed_vector, TestEmbedder};
use mneme::index::hnsw::file;
use mneme::index::HnswParams;
use mneme::{
    CacheBuilder, Get, IndexBackend, IndexOptionValue, IndexOptions, Put, SemanticCache,
    VectorDtype,
};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const DIM: usize = 24;

fn builder(db: &Path, backend: IndexBackend, m: i64) -> CacheBuilder {
    let mut options = IndexOptions::default();
    options.set("M", IndexOptionValue::Integer(m)).unwrap();
    SemanticCache::builder(TestEmbedder::new(DIM))
        .path(db)
        .index_backend(backend)
        .index_options(options)
}

fn open(db: &Path) -> SemanticCache {
    builder(db, IndexBackend::Hnsw, 16).open().unwrap()
}

fn graph_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.hnsw", db.display()))
}

/// The file's identity: a rebuild writes a new file (a new inode); a load leaves it.
fn identity(path: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(path).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

fn unit(text: &str) -> Vec<f32> {
    let mut v = hashed_vector(text, DIM);
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// The rows a test wrote: namespace → text → vector.
#[derive(Default, Clone)]
struct Rows(HashMap<String, HashMap<String, Vec<f32>>>);

impl Rows {
    fn put(&mut self, cache: &SemanticCache, ns: &str, text: &str, vector: Option<Vec<f32>>) {
        let v = vector.clone().unwrap_or_else(|| unit(text));
        let mut put = Put::default().namespace(ns);
        if let Some(v) = &vector {
            put = put.embedding(v);
        }
        cache
            .put_with(text, &format!("answer to {text}"), put)
            .unwrap();
        self.0.entry(ns.into()).or_default().insert(text.into(), v);
    }

    fn delete(&mut self, cache: &SemanticCache, ns: &str, text: &str) {
        assert!(cache.delete_in(text, ns).unwrap());
        self.0.get_mut(ns).unwrap().remove(text);
    }

    /// The exact top-`k` texts of `ns` for `probe`.
    fn exact(&self, ns: &str, probe: &[f32], k: usize) -> Vec<String> {
        let mut all: Vec<(f32, &String)> = self.0[ns]
            .iter()
            .map(|(t, v)| (v.iter().zip(probe).map(|(a, b)| a * b).sum(), t))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        all.into_iter().take(k).map(|(_, t)| t.clone()).collect()
    }
}

fn fill(cache: &SemanticCache, n: usize) -> Rows {
    let mut rows = Rows::default();
    for i in 0..n {
        let ns = if i % 3 == 0 { "b" } else { "a" };
        rows.put(cache, ns, &format!("row {i}"), None);
    }
    rows
}

/// The cache's top-5 texts for probe `j` of `ns`, from its index.
fn found(cache: &SemanticCache, ns: &str, j: usize) -> Vec<String> {
    let probe = format!("probe {j}");
    let e = cache.explain(&probe, ns, 5).unwrap();
    e.candidates.into_iter().map(|c| c.query).collect()
}

/// How many of 100 probes' top-5 the index shares with the exact scan, of 500.
fn agreement(cache: &SemanticCache, rows: &Rows) -> usize {
    (0..100)
        .map(|j| {
            let ns = if j % 2 == 0 { "a" } else { "b" };
            let exact = rows.exact(ns, &unit(&format!("probe {j}")), 5);
            found(cache, ns, j)
                .iter()
                .filter(|t| exact.contains(t))
                .count()
        })
        .sum()
}

/// Every row finds itself first by its own vector, and nothing deleted is ever found.
fn assert_rows_find_themselves(cache: &SemanticCache, rows: &Rows) {
    for (ns, texts) in &rows.0 {
        for (text, v) in texts.iter().step_by(7) {
            let hit = cache
                .get_with("not stored", Get::default().namespace(ns).embedding(v))
                .unwrap()
                .unwrap_or_else(|| panic!("{text} is not found in {ns}"));
            assert_eq!(hit.response, format!("answer to {text}"));
        }
    }
}

#[test]
fn a_reopened_cache_loads_its_saved_graph_and_answers_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cache.db");
    let cache = open(&db);
    let rows = fill(&cache, 1500);
    let before: Vec<_> = (0..60).map(|j| found(&cache, "a", j)).collect();
    cache.close().unwrap();
    let path = graph_path(&db);
    let saved = identity(&path);
    let header = file::peek(&path).unwrap();
    assert_eq!((header.nodes, header.dim, header.m), (1500, DIM, 16));

    let cache = open(&db);
    let (p, h, current) = cache.graph_file().unwrap().unwrap();
    assert_eq!((p, h.unwrap().nodes, current), (path.clone(), 1500, true));
    assert_eq!(
        identity(&path),
        saved,
        "loaded, not rebuilt and saved again"
    );
    let after: Vec<_> = (0..60).map(|j| found(&cache, "a", j)).collect();
    assert_eq!(after, before);
    assert!(agreement(&cache, &rows) >= 490);
    assert_rows_find_themselves(&cache, &rows);
    cache.close().unwrap();
    assert_eq!(
        identity(&path),
        saved,
        "an unchanged graph is not written at close"
    );

    // A flat cache on the same file neither reads nor writes the graph; persist_graph=false
    // turns it off for an HNSW one.
    let flat = builder(&db, IndexBackend::Flat, 16).open().unwrap();
    assert!(flat.graph_file().unwrap().is_none());
    flat.close().unwrap();
    let mut off = IndexOptions::default();
    off.set("persist_graph", IndexOptionValue::Bool(false))
        .unwrap();
    let other = dir.path().join("other.db");
    let cache = builder(&other, IndexBackend::Hnsw, 16)
        .index_options(off)
        .open()
        .unwrap();
    fill(&cache, 50);
    cache.close().unwrap();
    assert!(!graph_path(&other).exists());
}

/// Puts leave their rows to the linker thread: each is found as soon as its put returns,
/// beside searches and other puts, and a close links the rest into the saved graph.
#[test]
fn puts_are_found_at_once_while_a_thread_links_them_and_the_saved_graph_holds_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cache.db");
    let cache = open(&db);
    let mut rows = fill(&cache, 1100);
    let per_writer = 200;
    let written: Vec<Rows> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let cache = &cache;
                s.spawn(move || {
                    let mut mine = Rows::default();
                    for i in 0..per_writer {
                        let (ns, text) = (["a", "b"][i % 2], format!("writer {w} row {i}"));
                        mine.put(cache, ns, &text, None);
                        let v = &mine.0[ns][&text];
                        let hit = cache
                            .get_with("elsewhere", Get::default().namespace(ns).embedding(v))
                            .unwrap()
                            .expect("a put's row is found when the put returns");
                        assert_eq!(hit.response, format!("answer to {text}"));
                    }
                    mine
                })
            })
            .collect();
        // A reader meanwhile: the rows before the writers stay found.
        s.spawn(|| assert_rows_find_themselves(&cache, &rows));
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for mine in written {
        for (ns, texts) in mine.0 {
            rows.0.entry(ns).or_default().extend(texts);
        }
    }
    // An overwrite, then a delete, of rows that may still wait to be linked.
    rows.put(&cache, "a", "writer 0 row 198", Some(unit("moved")));
    rows.delete(&cache, "b", "writer 1 row 199");
    assert_eq!(cache.stats(None).unwrap().entries, 1499);
    assert_rows_find_themselves(&cache, &rows);
    assert!(agreement(&cache, &rows) >= 490);
    cache.close().unwrap();

    // Every row linked, none left out for the next open to add (plus tombstones for the
    // overwritten and deleted rows, if they were linked before they changed).
    let nodes = file::peek(&graph_path(&db)).unwrap().nodes;
    assert!((1499..=1501).contains(&nodes), "{nodes} nodes");
    let cache = open(&db);
    assert!(cache.graph_file().unwrap().unwrap().2, "loaded as saved");
    assert_rows_find_themselves(&cache, &rows);
    assert!(agreement(&cache, &rows) >= 490);
}

#[test]
fn inserts_deletes_and_overwrites_by_another_cache_are_applied_to_the_saved_graph() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cache.db");
    let cache = open(&db);
    let mut rows = fill(&cache, 1500);
    cache.close().unwrap();
    let path = graph_path(&db);
    let saved = identity(&path);

    // Another process's cache (flat, so it never touches the graph) changes 10% of the rows.
    let other = builder(&db, IndexBackend::Flat, 16).open().unwrap();
    for i in 1500..1600 {
        rows.put(
            &other,
            if i % 2 == 0 { "a" } else { "b" },
            &format!("new {i}"),
            None,
        );
    }
    for i in (0..1500).step_by(30) {
        let ns = if i % 3 == 0 { "b" } else { "a" };
        rows.delete(&other, ns, &format!("row {i}"));
    }
    std::thread::sleep(Duration::from_millis(1100)); // an overwrite gets a later created_at
    for i in (1..1500).step_by(50) {
        let ns = if i % 3 == 0 { "b" } else { "a" };
        let moved = unit(&format!("moved {i}"));
        rows.put(&other, ns, &format!("row {i}"), Some(moved));
    }
    other.close().unwrap();

    let cache = open(&db);
    assert_eq!(identity(&path), saved, "the drift was applied, not rebuilt");
    let (_, _, current) = cache.graph_file().unwrap().unwrap();
    assert!(!current, "the file is behind until the next save");
    let agree = agreement(&cache, &rows);
    assert!(
        agree >= 490,
        "top-5 agreement with the exact scan: {agree} of 500"
    );
    assert_rows_find_themselves(&cache, &rows);
    for i in (0..1500).step_by(30) {
        let ns = if i % 3 == 0 { "b" } else { "a" };
        let gone = cache
            .get_with(
                "x",
                Get::default()
                    .namespace(ns)
                    .embedding(&unit(&format!("row {i}"))),
            )
            .unwrap();
        assert!(gone.is_none_or(|h| h.response != format!("answer to row {i}")));
    }
    cache.close().unwrap();
    assert_ne!(identity(&path), saved, "close saved the caught-up graph");
    let cache = open(&db);
    assert!(cache.graph_file().unwrap().unwrap().2, "loaded as saved");
    assert_rows_find_themselves(&cache, &rows);
    cache.close().unwrap();
}

#[test]
fn a_damaged_short_foreign_or_other_parameters_graph_is_rebuilt_and_never_serves_a_wrong_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cache.db");
    let cache = open(&db);
    let rows = fill(&cache, 1200);
    cache.close().unwrap();
    let path = graph_path(&db);
    let good = std::fs::read(&path).unwrap();

    // Another cache's graph, of other rows but the same embedder and shape.
    let foreign_db = dir.path().join("foreign.db");
    let foreign = open(&foreign_db);
    let mut other_rows = Rows::default();
    for i in 0..1300 {
        other_rows.put(&foreign, "a", &format!("foreign {i}"), None);
    }
    foreign.close().unwrap();
    let foreign_file = std::fs::read(graph_path(&foreign_db)).unwrap();

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let cases: [(&str, Vec<u8>); 4] = [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("bit-flipped", flipped),
        ("not a graph", b"hello".to_vec()),
        ("foreign", foreign_file),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let cache = open(&db);
        assert_rows_find_themselves(&cache, &rows);
        let agree = agreement(&cache, &rows);
        assert!(agree >= 490, "{what}: agreement {agree}");
        cache.close().unwrap();
        let (index, _) = file::load(
            &path,
            DIM,
            VectorDtype::Float32,
            HnswParams::default(),
            "test:24",
        )
        .unwrap_or_else(|why| panic!("{what}: the file was not replaced by a good one: {why}"));
        assert_eq!(mneme::index::VectorIndex::len(&index), 1200, "{what}");
    }

    // Other M: rebuilt with the cache's M, and saved so.
    let cache = builder(&db, IndexBackend::Hnsw, 8).open().unwrap();
    assert_rows_find_themselves(&cache, &rows);
    cache.close().unwrap();
    assert_eq!(file::peek(&path).unwrap().m, 8);
}

/// Runs the ignored test `name` as a child process on `dir` (through the environment variable
/// `role`), waits for it to print `line`, then `pause`, and kills it with SIGKILL.
fn kill_child(name: &str, role: &str, dir: &Path, line: &str, pause: Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture", "-q"])
        .env(role, dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap() == line),
        "{name} did not print {line}"
    );
    std::thread::sleep(pause);
    child.kill().unwrap();
    child.wait().unwrap();
}

const ROLE: &str = "MNEME_GRAPH_SAVER_DIR";

#[test]
#[ignore = "the child process of the save-kill test"]
fn saver_child() {
    let Ok(dir) = std::env::var(ROLE) else { return };
    let cache = open(&Path::new(&dir).join("cache.db"));
    println!("ready");
    for i in 0.. {
        // A changed graph is saved again; each save rewrites the whole file.
        cache
            .put_with(&format!("extra {i}"), "x", Put::default().namespace("a"))
            .unwrap();
        cache
            .save_index()
            .unwrap()
            .expect("a changed graph is saved");
    }
}

#[test]
fn a_kill_during_a_save_leaves_the_old_or_the_new_graph() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cache.db");
    let cache = open(&db);
    fill(&cache, 1200);
    cache.close().unwrap();
    let path = graph_path(&db);
    let mut versions = std::collections::HashSet::new();
    for round in 0..12u64 {
        let pause = Duration::from_millis(20 + (round * 7919) % 180);
        kill_child("saver_child", ROLE, dir.path(), "ready", pause);
        let (index, stamp) = file::load(
            &path,
            DIM,
            VectorDtype::Float32,
            HnswParams::default(),
            "test:24",
        )
        .unwrap_or_else(|why| panic!("round {round}: a damaged graph was left: {why}"));
        assert!(mneme::index::VectorIndex::len(&index) >= 1200);
        versions.insert(stamp.store_version);
    }
    assert!(
        versions.len() > 1,
        "the children saved new graphs: {versions:?}"
    );
    // The next save clears the temporary files the killed savers left.
    let cache = open(&db);
    cache.put("one more", "x").unwrap();
    cache.save_index().unwrap().unwrap();
    cache.close().unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

const PUTTER: &str = "MNEME_GRAPH_PUTTER_DIR";

#[test]
#[ignore = "the child process of the kill-while-linking test"]
fn putter_child() {
    let Ok(dir) = std::env::var(PUTTER) else {
        return;
    };
    let cache = open(&Path::new(&dir).join("cache.db"));
    for i in 0..300 {
        let text = format!("late {i}");
        cache
            .put_with(
                &text,
                &format!("answer to {text}"),
                Put::default().namespace("a"),
            )
            .unwrap();
    }
    println!("done");
    std::thread::sleep(Duration::from_secs(60));
}

/// Rows a killed process left waiting to be linked (or linked but never saved) are in the
/// store: the next open applies them to the saved graph, and each is found.
#[test]
fn a_kill_while_rows_wait_to_be_linked_loses_none_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cache.db");
    let cache = open(&db);
    let mut rows = fill(&cache, 1200);
    cache.close().unwrap();
    kill_child("putter_child", PUTTER, dir.path(), "done", Duration::ZERO);
    assert_eq!(
        file::peek(&graph_path(&db)).unwrap().nodes,
        1200,
        "never saved"
    );

    let cache = open(&db);
    for i in 0..300 {
        let text = format!("late {i}");
        let v = unit(&text);
        rows.0.get_mut("a").unwrap().insert(text, v);
    }
    assert_eq!(cache.stats(None).unwrap().entries, 1500);
    assert_rows_find_themselves(&cache, &rows);
    cache.close().unwrap();
    assert_eq!(file::peek(&graph_path(&db)).unwrap().nodes, 1500);
}
