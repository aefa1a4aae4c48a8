//! Says which of a full disk, a permission problem or a read-only file system stopped a command
//! that writes, and where. Backends word these vaguely ("unable to open database file", "disk
//! I/O error"), so the error's source chain is read first and, where it names nothing, the
//! target's directory is probed with a small file of our own.

use mneme::OsRefusal;
use std::error::Error;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A file a command reads or writes.
pub struct Touched<'a> {
    pub path: &'a Path,
    pub writes: bool,
}

/// A plain-words diagnosis of `e`, raised by a command that touched `target`, or `None` when
/// the disk and its permissions are not the problem. The file named by the error itself, when
/// it names one, wins over the command's target.
pub fn explain(e: &(dyn Error + 'static), target: &Touched<'_>) -> Option<String> {
    let named = e
        .downcast_ref::<mneme::Error>()
        .and_then(mneme::Error::details)
        .and_then(|d| d.path.as_deref());
    let (path, writes) = match named {
        Some(p) if p != target.path => (p, true),
        _ => (target.path, target.writes),
    };
    let dir = super::parent_of(path);
    let refusal =
        OsRefusal::find(e).or_else(|| if writes { probe(dir) } else { try_read(path) })?;
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Some(match refusal {
        OsRefusal::DiskFull => format!(
            "the disk holding {} is full. Remediation: free space on it (or raise the quota), \
             or write to a path on another disk",
            dir.display()
        ),
        OsRefusal::PermissionDenied => {
            format!(
            "this user (uid {}) may not {} {} ({}). Remediation: run as a user who may, change \
             the owner or mode (chown/chmod), or choose another path",
            current_uid(),
            if writes { "write" } else { "read" },
            path.display(),
            owner_and_mode(path).or_else(|| owner_and_mode(&dir)).unwrap_or_default()
        )
        }
        _ => format!(
            "{} is on a read-only file system. Remediation: write to a path on a writable disk",
            dir.display()
        ),
    })
}

/// Opens `path` for reading to learn whether the system refuses it.
fn try_read(path: &Path) -> Option<OsRefusal> {
    std::fs::File::open(path)
        .err()
        .as_ref()
        .and_then(OsRefusal::of_io)
}

/// Writes and removes a small file in `dir` to learn what the system refuses there.
fn probe(dir: &Path) -> Option<OsRefusal> {
    let probe = dir.join(format!(".mneme-probe-{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(&[0u8; 64 * 1024]).and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&probe);
    written.err().as_ref().and_then(OsRefusal::of_io)
}

fn owner_and_mode(path: &Path) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{} is owned by uid {} with mode {:o}",
        path.display(),
        m.uid(),
        m.mode() & 0o7777
    ))
}

fn current_uid() -> u32 {
    // The owner of a file we create is the effective uid; /proc/self says it without unsafe code.
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}
