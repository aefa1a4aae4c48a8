//! Checkpoint benchmarks: `dumps`, `restore` (validate + commit) and `loads` (restore + open) of
//! a 100k × 768 cache, each in its own process so its peak RSS can be read, side by side with
//! mneme-cache 1.0 on the same file in one run. Run `scripts/bench.sh` first (it seeds the file)
//! or let this seed it.
//!
//! Reported time is the operation inside the process (startup excluded); memory is the
//! process's peak RSS, next to the peak of a process that only opens the cache, so the
//! checkpoint's own overhead shows. Environment: `MNEME_BENCH_ROWS` (100000), `MNEME_PEER_PYTHON`.

use mneme::checkpoint::{restore, LoadLimits};
use mneme::{BoxError, Embedder, SemanticCache};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Stamp(usize, String);

impl Embedder for Stamp {
    fn dim(&self) -> usize {
        self.0
    }
    fn fingerprint(&self) -> &str {
        &self.1
    }
    fn embed(&self, _: &str) -> Result<Vec<f32>, BoxError> {
        Err("benchmarks pass embeddings".into())
    }
}

fn stamp() -> Stamp {
    Stamp(768, "perf:fp:768".into())
}

/// Child mode: perform one operation, print its seconds.
fn child(op: &str, args: &[String]) {
    let t = Instant::now();
    match op {
        "open" => SemanticCache::builder(stamp())
            .path(&args[0])
            .open()
            .unwrap()
            .close()
            .unwrap(),
        "dumps" => {
            let c = SemanticCache::builder(stamp())
                .path(&args[0])
                .open()
                .unwrap();
            let t = Instant::now();
            c.dumps(&args[1]).unwrap();
            println!("{}", t.elapsed().as_secs_f64());
            return;
        }
        "restore" => drop(restore(&args[0], &args[1], &stamp(), LoadLimits::default()).unwrap()),
        "loads" => SemanticCache::loads(&args[0], SemanticCache::builder(stamp()).path(&args[1]))
            .unwrap()
            .close()
            .unwrap(),
        other => panic!("unknown child op {other}"),
    }
    println!("{}", t.elapsed().as_secs_f64());
}

/// Runs a child process; returns (seconds it reported, its peak RSS in MiB).
///
/// The child is reaped with `wait4` (not `Child::wait`) because that returns its own rusage.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> (f64, f64) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain integers, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: plain FFI; `usage` and `status` are valid out-pointers and `pid` is our child.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {cmd:?}"
    );
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.unwrap(), &mut out).unwrap();
    let secs: f64 = out
        .trim()
        .lines()
        .last()
        .unwrap_or("nan")
        .parse()
        .unwrap_or(f64::NAN);
    (secs, usage.ru_maxrss as f64 / 1024.0)
}

fn median(mut v: Vec<(f64, f64)>) -> (f64, f64) {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v[v.len() / 2]
}

fn clean(p: &Path) {
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", p.display()));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        return child(&args[pos + 1], &args[pos + 2..]);
    }
    let rows: usize = std::env::var("MNEME_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench-out")
        .canonicalize()
        .unwrap_or_else(|_| {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-out");
            std::fs::create_dir_all(&p).unwrap();
            p.canonicalize().unwrap()
        });
    let seed = out.join(format!("seed-{rows}x768.db"));
    assert!(
        seed.exists(),
        "{} is missing: run scripts/bench.sh first (it seeds it)",
        seed.display()
    );
    let me = std::env::current_exe().unwrap();
    let python: PathBuf = std::env::var_os("MNEME_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peer/bin/python")
        });
    let peer_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer_checkpoint.py");
    let src = out.join("ckpt-src.db");
    std::fs::copy(&seed, &src).unwrap();
    let size_mb = std::fs::metadata(&src).unwrap().len() as f64 / 1e6;
    println!("checkpoint benchmark: {rows} rows x 768, cache file {size_mb:.0} MB; median of 3 runs, one process each\n");

    let ours = |op: &str, a: &[&Path]| {
        let mut c = Command::new(&me);
        c.arg("--child").arg(op).args(a);
        c
    };
    let theirs = |op: &str, a: &[&Path]| {
        let mut c = Command::new(&python);
        c.arg(&peer_script).arg(op).args(a).arg("768");
        c
    };
    let (our_archive, their_archive) =
        (out.join("ckpt-ours.tar.gz"), out.join("ckpt-theirs.tar.gz"));
    let dest = out.join("ckpt-dest.db");
    let run3 = |make: &dyn Fn() -> Command, before: &dyn Fn()| {
        median(
            (0..3)
                .map(|_| {
                    before();
                    measure(&mut make())
                })
                .collect(),
        )
    };
    let rows_out = [
        (
            "open only (baseline memory)",
            run3(&|| ours("open", &[&src]), &|| ()),
            run3(&|| theirs("open", &[&src]), &|| ()),
        ),
        (
            "dumps",
            run3(&|| ours("dumps", &[&src, &our_archive]), &|| ()),
            run3(&|| theirs("dumps", &[&src, &their_archive]), &|| ()),
        ),
        (
            "restore (validate + commit)",
            run3(&|| ours("restore", &[&our_archive, &dest]), &|| {
                clean(&dest)
            }),
            run3(&|| theirs("restore", &[&their_archive, &dest]), &|| {
                clean(&dest)
            }),
        ),
        (
            "loads (restore + open)",
            run3(&|| ours("loads", &[&our_archive, &dest]), &|| clean(&dest)),
            run3(&|| theirs("loads", &[&their_archive, &dest]), &|| {
                clean(&dest)
            }),
        ),
    ];
    println!("| operation | mneme time | mneme peak RSS | mneme-cache 1.0 time | mneme-cache 1.0 peak RSS | time ratio (1.0 / mneme) |");
    println!("|---|---|---|---|---|---|");
    for (name, (t1, m1), (t2, m2)) in rows_out {
        println!(
            "| {name} | {t1:.2} s | {m1:.0} MiB | {t2:.2} s | {m2:.0} MiB | {:.1}x |",
            t2 / t1
        );
    }
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(f64::NAN)
    };
    println!("\narchive size: mneme {:.0} MB (gzip level 1), mneme-cache {:.0} MB (tarfile default level 9)", size(&our_archive), size(&their_archive));
    // Each side also loads the other's archive (interchangeable formats).
    let cross = measure(&mut ours("restore", &[&their_archive, &dest]));
    clean(&dest);
    println!(
        "mneme restoring mneme-cache's archive: {:.2} s, {:.0} MiB",
        cross.0, cross.1
    );
    clean(&dest);
}
