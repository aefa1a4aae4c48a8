//! Several processes on one SQLite file: our caches writing and reading (exact hits served from
//! memory included) beside plain SQLite connections that open and close the file in a loop.
//!
//! POSIX locks belong to a process, and closing *any* descriptor on a file drops all of the
//! process's locks on it. A descriptor of ours on `<db>-shm` closed behind SQLite's back lets the
//! next connecting process believe it is alone and reset the WAL index that our process still
//! has mapped: SIGBUS. Each role runs in a child process (this test binary, re-run), so a crash
//! is reported as a failed assertion naming the signal.

mod common;

use common::embedders::TestEmbedder;
use mneme::{MultiProcessMode, SemanticCache};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const ROLE: &str = "MNEME_FAULT_ROLE";
const PATH: &str = "MNEME_FAULT_PATH";
const RUN_FOR: Duration = Duration::from_secs(4);
/// Exit code of a cache process that found its lock on `-shm` gone.
const LOCK_LOST: i32 = 3;

fn shm_of(db: &Path) -> PathBuf {
    let mut shm = db.as_os_str().to_owned();
    shm.push("-shm");
    shm.into()
}

/// `/proc/locks` in one `read`: the kernel lists the locks page by page, and a lock added or
/// removed between two small reads can shift another out of the listing.
fn proc_locks() -> String {
    use std::io::Read;
    let mut buf = vec![0; 1 << 20];
    let n = std::fs::File::open("/proc/locks")
        .unwrap()
        .read(&mut buf)
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Whether `/proc/locks` lists a lock held by this process on `file` (found by inode, with
/// `stat`, which opens no descriptor). Asked three times a few milliseconds apart, so a listing
/// taken while another process's lock changes cannot fail it.
fn holds_lock_on(file: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(file) else {
        return false;
    };
    let (pid, inode) = (std::process::id().to_string(), meta.ino().to_string());
    let listed = || {
        proc_locks().lines().any(|line| {
            // "1: POSIX  ADVISORY  READ 4242 08:01:1234 128 128" ("->" marks a blocked waiter).
            let fields: Vec<&str> = line.split_whitespace().filter(|f| *f != "->").collect();
            fields.get(4) == Some(&pid.as_str())
                && fields.get(5).and_then(|dev_ino| dev_ino.rsplit(':').next())
                    == Some(inode.as_str())
        })
    };
    for _ in 0..3 {
        if listed() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn cache_role(path: &Path, mode: MultiProcessMode) {
    let cache = SemanticCache::builder(TestEmbedder::new(8))
        .path(path)
        .multi_process_mode(mode)
        .open()
        .unwrap();
    let me = std::process::id();
    cache.put("repeated", "r").unwrap();
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < RUN_FOR {
        let key = format!("{me}-{i}");
        cache.put(&key, "answer").unwrap();
        assert!(cache.get(&key).unwrap().is_some(), "own write {key} lost");
        // The same key again and again: the path that answers from memory while the file is
        // unchanged.
        for _ in 0..10 {
            assert!(cache.get("repeated").unwrap().is_some());
        }
        if i.is_multiple_of(50) && !holds_lock_on(&shm_of(path)) {
            eprintln!(
                "process {me} holds no lock on the -shm file while its cache is open:\n{}",
                proc_locks()
            );
            std::process::exit(LOCK_LOST);
        }
        i += 1;
    }
    cache.close().unwrap();
}

fn plain_sqlite_role(path: &Path) {
    let start = Instant::now();
    while start.elapsed() < RUN_FOR {
        let Ok(c) = rusqlite::Connection::open(path) else {
            continue;
        };
        let _ = c.busy_timeout(Duration::from_secs(5));
        // The table may not exist yet in the first milliseconds.
        let _ = c.query_row("SELECT COUNT(*) FROM entries", [], |r| r.get::<_, i64>(0));
        drop(c);
    }
}

/// The body of each child process; a no-op when run as an ordinary test.
#[test]
#[ignore = "a child process of several_processes_and_plain_connections_share_one_file"]
fn fault_child() {
    let (Ok(role), Ok(path)) = (std::env::var(ROLE), std::env::var(PATH)) else {
        return;
    };
    let path = PathBuf::from(path);
    match role.as_str() {
        "cache" => cache_role(&path, MultiProcessMode::Single),
        "stale" => cache_role(&path, MultiProcessMode::StaleTolerant),
        "plain" => plain_sqlite_role(&path),
        other => panic!("unknown role {other}"),
    }
}

fn spawn(role: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fault_child", "--ignored", "--nocapture", "-q"])
        .env(ROLE, role)
        .env(PATH, path)
        // The child's own test-harness lines would read as this suite's results.
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn several_processes_and_plain_connections_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    // The file exists before anyone races to create it.
    SemanticCache::builder(TestEmbedder::new(8))
        .path(&path)
        .open()
        .unwrap()
        .close()
        .unwrap();
    let roles = ["cache", "stale", "plain", "plain"];
    let children: Vec<(&str, Child)> = roles.iter().map(|r| (*r, spawn(r, &path))).collect();
    let mut failures = Vec::new();
    for (role, mut child) in children {
        let status = child.wait().unwrap();
        if !status.success() {
            failures.push(match (status.signal(), status.code()) {
                (Some(sig), _) => format!("{role} process killed by signal {sig}"),
                (_, Some(LOCK_LOST)) => format!("{role} process lost its lock on -shm"),
                (_, code) => format!("{role} process exited with {code:?}"),
            });
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
    let c = rusqlite::Connection::open(&path).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

/// Several caches opening one new file at once all open it: switching a new file to WAL is a
/// lock upgrade that SQLite refuses at once, without waiting, while another connection makes it.
#[test]
fn caches_opening_one_new_file_at_once_all_open_it() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("new-{round}.db"));
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            let opened: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        SemanticCache::builder(TestEmbedder::new(8))
                            .path(&path)
                            .open()
                            .map(|cache| cache.close())
                    })
                })
                .collect();
            for cache in opened {
                let closed = cache.join().unwrap();
                assert!(
                    matches!(closed, Ok(Ok(()))),
                    "round {round}: {:?}",
                    closed.err()
                );
            }
        });
    }
}
