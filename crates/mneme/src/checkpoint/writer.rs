//! Writing the tar.gz: streamed (no copy of the database in memory), to a temporary file beside
//! the destination, fsynced, then renamed into place with owner-only permissions.

use super::manifest::Manifest;
use crate::error::{Error, Result};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

/// Options of `dumps_with`.
pub struct DumpOptions<'a> {
    /// gzip level, 0–9 (default 1: vectors barely compress, so higher levels mostly cost time).
    pub compression_level: u32,
    /// Called with `(bytes written, total bytes)` of the store as it streams.
    pub progress: Option<&'a mut dyn FnMut(u64, u64)>,
}

impl Default for DumpOptions<'_> {
    fn default() -> Self {
        DumpOptions {
            compression_level: 1,
            progress: None,
        }
    }
}

impl std::fmt::Debug for DumpOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpOptions")
            .field("compression_level", &self.compression_level)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

struct Progress<'a, R> {
    inner: R,
    done: u64,
    total: u64,
    report: Option<&'a mut dyn FnMut(u64, u64)>,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if let Some(report) = self.report.as_mut() {
            report(self.done, self.total);
        }
        Ok(n)
    }
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Writes `manifest.json` then `store` into a new archive at `dest`.
pub(super) fn write_archive(
    dest: &Path,
    manifest: &Manifest,
    store: &Path,
    options: DumpOptions<'_>,
) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::checkpoint_with(
            format!("writing the checkpoint {} failed", dest.display()),
            "check free disk space and that the destination directory is writable; no partial archive was left",
            e,
        )
    };
    let tmp =
        crate::files::temp_in(crate::files::parent_dir(dest), ".mneme-dump-").map_err(failed)?;
    let level = flate2::Compression::new(options.compression_level.min(9));
    let gz = flate2::write::GzEncoder::new(BufWriter::with_capacity(1 << 20, tmp.as_file()), level);
    let mut tar = tar::Builder::new(gz);
    let mtime = manifest.created_at.max(0) as u64;
    let text = manifest.to_json();
    let mut h = header(text.len() as u64, mtime);
    tar.append_data(&mut h, "manifest.json", text.as_bytes())
        .map_err(failed)?;
    let file = std::fs::File::open(store).map_err(failed)?;
    let total = file.metadata().map_err(failed)?.len();
    let mut h = header(total, mtime);
    let reader = Progress {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        done: 0,
        total,
        report: options.progress,
    };
    tar.append_data(&mut h, "store", reader).map_err(failed)?;
    let mut buffered = tar.into_inner().map_err(failed)?.finish().map_err(failed)?;
    buffered.flush().map_err(failed)?;
    drop(buffered);
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(dest).map_err(|e| failed(e.error))?;
    crate::files::chmod_owner_only(dest).map_err(failed)
}
