//! SIGKILL at arbitrary moments: during puts, and during `dumps`/`loads`. No acknowledged write
//! is lost, the file passes SQLite's integrity check, and the next run leaves no temporary file
//! behind. Each victim is this test binary, re-run as a child process.

mod common;

use common::embedders::TestEmbedder;
use mneme::SemanticCache;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ROLE: &str = "MNEME_KILL_ROLE";
const DIR: &str = "MNEME_KILL_DIR";
const ROUNDS: u64 = 8;

fn open(dir: &Path) -> SemanticCache {
    SemanticCache::builder(TestEmbedder::new(16))
        .path(dir.join("cache.db"))
        .open()
        .unwrap()
}

/// Puts keys forever, printing each one after `put` returned: an acknowledged write.
fn writer(dir: &Path) {
    let cache = open(dir);
    let start = cache.stats(None).unwrap().entries;
    let mut out = std::io::stdout().lock();
    for i in start.. {
        let key = format!("key-{i}");
        cache
            .put(&key, &format!("answer {i} {}", "x".repeat(500)))
            .unwrap();
        use std::io::Write;
        writeln!(out, "{key}").unwrap();
        out.flush().unwrap();
    }
}

/// Dumps (or loads) forever, announcing itself once started.
fn checkpointer(dir: &Path, load: bool) {
    let cache = open(dir);
    let archive = dir.join("backups").join("cache.tar.gz");
    let restored = dir.join("restores").join("restored.db");
    if load && !archive.exists() {
        cache.dumps(&archive).unwrap();
    }
    println!("ready");
    loop {
        if load {
            let builder = SemanticCache::builder(TestEmbedder::new(16)).path(&restored);
            SemanticCache::loads(&archive, builder)
                .unwrap()
                .close()
                .unwrap();
        } else {
            cache.dumps(&archive).unwrap();
        }
    }
}

#[test]
#[ignore = "a child process of the SIGKILL tests"]
fn kill_child() {
    let (Ok(role), Ok(dir)) = (std::env::var(ROLE), std::env::var(DIR)) else {
        return;
    };
    let dir = PathBuf::from(dir);
    match role.as_str() {
        "writer" => writer(&dir),
        "dumper" => checkpointer(&dir, false),
        "loader" => checkpointer(&dir, true),
        other => panic!("unknown role {other}"),
    }
}

fn spawn(role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_child", "--ignored", "--nocapture", "-q"])
        .env(ROLE, role)
        .env(DIR, dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A delay that varies per round, so kills land at different points of the work.
fn delay(round: u64) -> Duration {
    Duration::from_millis(40 + (round * 7919) % 260)
}

fn integrity_ok(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{}", db.display());
}

#[test]
fn a_killed_writer_loses_no_acknowledged_put() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Vec::new();
    for round in 0..ROUNDS {
        let mut child = spawn("writer", dir.path());
        let lines = BufReader::new(child.stdout.take().unwrap());
        let reader = std::thread::spawn(move || {
            lines
                .lines()
                .map_while(|l| l.ok())
                .filter(|l| l.starts_with("key-"))
                .collect::<Vec<_>>()
        });
        std::thread::sleep(delay(round));
        child.kill().unwrap();
        child.wait().unwrap();
        acknowledged.extend(reader.join().unwrap());
    }
    assert!(
        acknowledged.len() > ROUNDS as usize,
        "the writers made progress"
    );
    integrity_ok(&dir.path().join("cache.db"));
    let cache = open(dir.path());
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|k| cache.get(k).unwrap().is_none())
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

/// Names of mneme's temporary files under `dir`, recursively.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().into_string().unwrap();
        if entry.file_type().unwrap().is_dir() {
            found.extend(leftovers(&entry.path()));
        } else if name.starts_with(".mneme-") {
            found.push(name);
        }
    }
    found
}

#[test]
fn a_killed_dump_or_load_leaves_nothing_after_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("backups")).unwrap();
    std::fs::create_dir(dir.path().join("restores")).unwrap();
    {
        let cache = open(dir.path());
        for i in 0..3000 {
            cache.put(&format!("q{i}"), &"r".repeat(300)).unwrap();
        }
    }
    let mut left_behind = Vec::new();
    for round in 0..ROUNDS {
        let role = if round % 2 == 0 { "dumper" } else { "loader" };
        let mut child = spawn(role, dir.path());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(lines.any(|l| l.unwrap() == "ready"), "the child started");
        // Keep reading, so the child never writes to a closed pipe.
        let drain = std::thread::spawn(move || lines.for_each(drop));
        std::thread::sleep(delay(round));
        child.kill().unwrap();
        child.wait().unwrap();
        drain.join().unwrap();
        left_behind.extend(leftovers(dir.path()));
    }
    // The next successful runs, in the same directories.
    let cache = open(dir.path());
    let archive = dir.path().join("backups").join("cache.tar.gz");
    cache.dumps(&archive).unwrap();
    let restored = dir.path().join("restores").join("restored.db");
    let builder = SemanticCache::builder(TestEmbedder::new(16)).path(&restored);
    let copy = SemanticCache::loads(&archive, builder).unwrap();
    assert_eq!(copy.stats(None).unwrap().entries, 3000);
    copy.close().unwrap();
    integrity_ok(&restored);
    integrity_ok(&dir.path().join("cache.db"));
    // Otherwise no kill landed mid-write and this test proves nothing.
    for kind in [".mneme-dump-", ".mneme-snapshot-", ".mneme-restore-"] {
        assert!(
            left_behind.iter().any(|f| f.starts_with(kind)),
            "no kill left a {kind} file: {left_behind:?}"
        );
    }
    // Every temporary file of a killed writer is gone. A loader killed between moving the
    // previous restore aside and finishing may leave that `.mneme-aside-` copy: it is kept on
    // purpose (docs/architecture.md, "Files"), never swept, since it may be the only copy.
    let rest: Vec<String> = leftovers(dir.path())
        .into_iter()
        .filter(|f| !f.starts_with(".mneme-aside-"))
        .collect();
    assert_eq!(rest, Vec::<String>::new());
}
