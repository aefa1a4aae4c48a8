//! Files written beside their destination, so the final rename is atomic (same filesystem) and
//! a failure leaves only a temporary file, which is removed when dropped.

use std::path::Path;

/// The directory `path` lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A new owner-only temporary file in `dir`, named `<prefix>…`.
pub(crate) fn temp_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(prefix).tempfile_in(dir)
}
