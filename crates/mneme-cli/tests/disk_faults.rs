//! A full disk, a directory this user may not write and a file it may not read, each told apart
//! by the CLI, on a real full file system (a 256 KiB tmpfs) and as a real unprivileged user
//! (`setpriv` to nobody). Needs root, as the project's machines and CI run.

use mneme::{LexicalEmbedder, SemanticCache};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const NOBODY: &str = "65534";

/// Runs the tool (a copy every user may execute), optionally as nobody; (success, stderr).
fn run(bin: &Path, as_nobody: bool, args: &[&Path]) -> (bool, String) {
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups"])
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd.args(args).output().expect("run the mneme binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A world-readable folder holding a copy of the binary, a corpus and a 3 000-entry cache.
fn workspace() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()),
        0,
        "these tests mount a tmpfs and switch users: run them as root, as CI does"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("mneme");
    std::fs::copy(env!("CARGO_BIN_EXE_mneme"), &bin).unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let lines: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"query\": \"question {i} about topic {}\", \"response\": \"{}\"}}\n",
                i % 13,
                "x".repeat(200)
            )
        })
        .collect();
    std::fs::write(&corpus, lines).unwrap();
    let db = dir.path().join("cache.db");
    let cache = SemanticCache::open(&db, LexicalEmbedder::new(64)).unwrap();
    let items: Vec<(String, String)> = (0..3000)
        .map(|i| (format!("q{i}"), "y".repeat(200)))
        .collect();
    cache
        .put_many(
            items
                .iter()
                .map(|(q, r)| (q.as_str(), r.as_str(), mneme::Put::default())),
        )
        .unwrap();
    cache.close().unwrap();
    for f in [&corpus, &db] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    (dir, bin, corpus, db)
}

/// A mounted tmpfs, unmounted on drop.
struct Tmpfs(PathBuf);
impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Self {
        std::fs::create_dir(&at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a tmpfs at {}", at.display());
        Tmpfs(at)
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_named_as_such_and_nothing_is_left_behind() {
    let (dir, bin, corpus, db) = workspace();
    let full = Tmpfs::mount(dir.path().join("full"), "256k");
    let archive = full.0.join("backup.tar.gz");
    for args in [
        vec![
            Path::new("import"),
            &full.0.join("new.db"),
            &corpus,
            Path::new("--model"),
            Path::new("lexical"),
        ],
        vec![Path::new("dump"), &db, &archive],
        vec![
            Path::new("migrate"),
            &db,
            &full.0.join("migrated.db"),
            Path::new("--model"),
            Path::new("lexical:32"),
        ],
    ] {
        let (ok, err) = run(&bin, false, &args);
        assert!(!ok, "{args:?} must fail on a full disk");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.contains("the disk holding")
                && first.contains("is full")
                && first.contains("Remediation"),
            "{args:?}: {err}"
        );
        assert!(
            !first.contains("permission") && !first.contains("may not"),
            "{err}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&full.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".mneme-"))
        .collect();
    assert!(
        left.is_empty(),
        "temporary files left on the full disk: {left:?}"
    );
    assert!(!archive.exists(), "no half-written archive");
}

#[test]
fn a_permission_problem_names_the_file_the_user_and_the_mode() {
    let (dir, bin, corpus, db) = workspace();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = locked.join("secret.db");
    std::fs::copy(&db, &secret).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let (ok, err) = run(
        &bin,
        true,
        &[Path::new("import"), &locked.join("new.db"), &corpus],
    );
    assert!(!ok);
    assert!(
        err.contains(&format!("(uid {NOBODY}) may not write")) && err.contains("mode 755"),
        "{err}"
    );
    assert!(!err.lines().next().unwrap().contains("is full"), "{err}");

    let (ok, err) = run(
        &bin,
        true,
        &[Path::new("dump"), &db, &locked.join("b.tar.gz")],
    );
    assert!(!ok);
    assert!(
        err.contains("may not write") && err.contains("Remediation"),
        "{err}"
    );

    let (ok, err) = run(&bin, true, &[Path::new("inspect"), &secret]);
    assert!(!ok);
    assert!(
        err.contains("may not read") && err.contains("mode 600"),
        "{err}"
    );

    // What this user may read stays readable: looking needs no write access.
    let (ok, err) = run(&bin, true, &[Path::new("stats"), &db]);
    assert!(ok, "{err}");
}
