//! A look at a sidecar from outside (the CLI's `stats`): its header, its rows and its sync
//! record, read without locking or writing anything, so it works on a file other processes are
//! using and on one this user may only read. The figures are a snapshot: a writer may move
//! them a moment later.

use super::format::{self, Header, HEADER, TOKEN};
use super::lock::{SyncRecord, RECORD};
use crate::error::{Error, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What a sidecar holds.
#[derive(Debug, Clone)]
pub struct SidecarStatus {
    /// The data file (`<base>.vectors`).
    pub data_path: PathBuf,
    /// Its header (dim, dtype, slots used and allocated, fingerprint hash).
    pub header: Header,
    /// Live rows.
    pub live: usize,
    /// Tombstoned slots (reclaimed by compaction).
    pub tombstones: usize,
    /// The data file's size.
    pub file_bytes: u64,
    /// The sync record of the lock file: absent when only 1.0's primitive used the files.
    pub record: Option<SyncRecord>,
}

impl SidecarStatus {
    /// Whether the sidecar reflects a store at `version` (its version counter): no writer died
    /// mid-write and no write bypassed it since.
    pub fn is_current(&self, version: u64) -> bool {
        self.record
            .is_some_and(|r| !r.dirty && r.synced_version == version)
    }
}

/// Reads `<base>.vectors` and `<base>.vectors.lock`; `None` when there is no data file.
///
/// # Errors
/// [`Error::MultiProcessLock`] for a file that cannot be read or is not a sidecar.
pub fn peek(base: &Path) -> Result<Option<SidecarStatus>> {
    let data_path = PathBuf::from(format!("{}.vectors", base.display()));
    let file = match File::open(&data_path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(super::io_error(&data_path, "read", e)),
    };
    let read = |buf: &mut [u8], at: usize| -> Result<usize> {
        file.read_at(buf, at as u64)
            .map_err(|e| super::io_error(&data_path, "read", e))
    };
    let mut head = [0u8; HEADER];
    let got = read(&mut head, 0)?;
    let header = Header::parse(&head[..got], &data_path.display().to_string())?;
    let file_bytes = file
        .metadata()
        .map_err(|e| super::io_error(&data_path, "read", e))?
        .len();
    // A damaged header must not size an allocation or overflow the layout's arithmetic: the
    // file has to hold what the header describes first.
    let (capacity, dim) = (u64::from(header.capacity), u64::from(header.dim));
    let described = capacity
        .checked_mul(dim)
        .and_then(|n| n.checked_mul(format::bytes_per_element(header.dtype) as u64))
        .and_then(|n| n.checked_add(HEADER as u64 + capacity * (8 + TOKEN as u64)))
        .and_then(|n| n.checked_add(capacity.div_ceil(8)));
    if described.is_none_or(|n| n > file_bytes) {
        return Err(Error::multi_process_lock(
            format!(
                "the mmap-shared sidecar {} is shorter than its header says ({} slots of {} dimensions)",
                data_path.display(),
                header.capacity,
                header.dim
            ),
            "delete it (derived data: the next cache to open it rebuilds it from the store)",
        ));
    }
    let layout = header.layout();
    let used = (header.count as usize).min(layout.capacity);
    let mut bitmap = vec![0u8; used.div_ceil(8)];
    read(&mut bitmap, layout.bitmap)?;
    let tombstones = format::tombstones(&bitmap, used);
    let record = std::fs::read(format!("{}.lock", data_path.display()))
        .ok()
        .and_then(|b| SyncRecord::parse(&b[..b.len().min(RECORD)]));
    Ok(Some(SidecarStatus {
        data_path,
        live: used - tombstones,
        tombstones,
        file_bytes,
        record,
        header,
    }))
}
