//! Replacing the destination atomically: a failed `loads` leaves any
//! existing file at the destination, and its `-wal`/`-shm` and saved graph, byte-identical.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The files of one database: SQLite's three, and the HNSW graph saved beside it (derived from
/// the rows being replaced, so it leaves with them).
fn family(db: &Path) -> [PathBuf; 4] {
    let with = |suffix: &str| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [db.to_path_buf(), with("-wal"), with("-shm"), with(".hnsw")]
}

/// A validated store moved into place; the previous files wait aside until `finish` or
/// `rollback`.
pub(super) struct Committed {
    dest: PathBuf,
    /// `(aside, original)` pairs.
    aside: Vec<(PathBuf, PathBuf)>,
}

fn commit_failed(dest: &Path, e: std::io::Error) -> Error {
    Error::checkpoint_with(
        format!("could not move the restored cache into {}", dest.display()),
        "check that the destination directory is writable and not on another filesystem",
        e,
    )
}

/// Moves `dest`, `dest-wal`, `dest-shm` and `dest.hnsw` aside, then renames `restored` to
/// `dest`.
pub(super) fn commit(restored: tempfile::NamedTempFile, dest: &Path) -> Result<Committed> {
    let mut committed = Committed {
        dest: dest.to_path_buf(),
        aside: Vec::new(),
    };
    for original in family(dest) {
        if std::fs::symlink_metadata(&original).is_err() {
            continue;
        }
        let aside = match crate::files::temp_in(crate::files::parent_dir(dest), ".mneme-aside-")
            .and_then(|t| t.into_temp_path().keep().map_err(|e| e.error))
        {
            Ok(p) => p,
            Err(e) => {
                committed.restore_originals();
                return Err(commit_failed(dest, e));
            }
        };
        if let Err(e) = std::fs::rename(&original, &aside) {
            let _ = std::fs::remove_file(&aside);
            committed.restore_originals();
            return Err(commit_failed(dest, e));
        }
        committed.aside.push((aside, original));
    }
    if let Err(e) = restored.persist(dest) {
        committed.restore_originals();
        return Err(commit_failed(dest, e.error));
    }
    let _ = crate::files::chmod_owner_only(dest);
    Ok(committed)
}

impl Committed {
    fn restore_originals(&mut self) {
        for (aside, original) in self.aside.drain(..).rev() {
            let _ = std::fs::rename(&aside, &original);
        }
    }

    /// Removes the new files and puts the originals back.
    pub(super) fn rollback(mut self) {
        for f in family(&self.dest) {
            let _ = std::fs::remove_file(f);
        }
        self.restore_originals();
    }

    /// Deletes the moved-aside originals.
    pub(super) fn finish(mut self) {
        for (aside, _) in self.aside.drain(..) {
            let _ = std::fs::remove_file(aside);
        }
    }
}
