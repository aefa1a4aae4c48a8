//! Files written beside their destination, so the final rename is atomic (same filesystem) and
//! a failure leaves only a temporary file, which is removed when dropped.
//!
//! A process killed mid-write cannot drop its file, so each name carries the writer's process id
//! and a tag of its host (`.mneme-dump-<pid>@<host>.<random>`), and making a new one removes
//! those of this host's writers that are no longer alive. Another host's files (a shared
//! network directory) are left alone: its process ids mean nothing here. A file moved aside
//! during a restore (`.mneme-aside-`) is never swept: until the restore finishes it may be the
//! only copy of the previous cache.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::OnceLock;

/// Temporary files that are worthless once their writer is gone.
const SWEPT: [&str; 4] = [
    ".mneme-snapshot-",
    ".mneme-dump-",
    ".mneme-restore-",
    ".mneme-reembed-",
];

/// The directory `path` lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A new owner-only temporary file in `dir`, named `<prefix><pid>@<host>.…`, after removing
/// the leftovers of this host's dead writers there.
pub(crate) fn temp_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    sweep_stale(dir);
    tempfile::Builder::new()
        .prefix(&format!("{prefix}{}@{}.", std::process::id(), host_tag()))
        .tempfile_in(dir)
}

/// Eight hex digits of the host name's SHA-256: names stay short and free of `.` and `@`.
fn host_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let host = hostname().unwrap_or_default();
        let digest = Sha256::digest(host.as_bytes());
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    })
}

#[cfg(unix)]
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0)?;
    (rc == 0).then(|| String::from_utf8_lossy(&buf[..end]).into_owned())
}

#[cfg(not(unix))]
fn hostname() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

/// Removes the temporary files in `dir` whose writer process has exited (SQLite's `-journal`
/// and `-wal` beside them included). Best effort: a file that cannot be removed stays.
fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(writer_pid) else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    log::info!(target: "mneme.files", "removed {} left by exited process {pid}", path.display())
                }
                Err(e) => {
                    log::warn!(target: "mneme.files", "could not remove stale {}: {e}", path.display())
                }
            }
        }
    }
}

/// The writer's process id in a swept temporary file's name, if it was written on this host.
fn writer_pid(name: &str) -> Option<u32> {
    let rest = SWEPT.iter().find_map(|p| name.strip_prefix(p))?;
    let (writer, _) = rest.split_once('.')?;
    let (pid, host) = writer.split_once('@')?;
    (host == host_tag()).then(|| pid.parse().ok()).flatten()
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// Creates `path` as an empty owner-only file unless it exists (then opens nothing: a
/// descriptor closed on a database file would drop the POSIX locks SQLite holds on it).
#[cfg(unix)]
pub(crate) fn create_owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
pub(crate) fn create_owner_only(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .open(path)
        .map(|_| ())
}

/// Sets owner-only permissions (a no-op off Unix).
pub(crate) fn chmod_owner_only(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn names_carry_the_writer_and_only_dead_writers_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dead_pid();
        let mine = std::process::id();
        let host = host_tag();
        let names = [
            format!(".mneme-dump-{dead}@{host}.abc"),
            format!(".mneme-snapshot-{dead}@{host}.abc-journal"),
            format!(".mneme-restore-{mine}@{host}.abc"),
            format!(".mneme-aside-{dead}@{host}.abc"),
            format!(".mneme-dump-{dead}@0badc0de.abc"),
            ".mneme-dump-abc".to_owned(),
            "cache.db".to_owned(),
        ];
        for n in &names {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let fresh = temp_in(dir.path(), ".mneme-dump-").unwrap();
        let fresh_name = fresh.path().file_name().unwrap().to_str().unwrap();
        assert_eq!(writer_pid(fresh_name), Some(mine));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != fresh_name)
            .collect();
        left.sort();
        let mut expected = names[2..].to_vec();
        expected.sort();
        assert_eq!(
            left, expected,
            "a live writer's, aside, unattributed and other files stay"
        );
    }
}
