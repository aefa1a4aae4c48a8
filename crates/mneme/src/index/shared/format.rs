//! The sidecar data file `<base>.vectors`, MNEMEMSC v1 (mneme-cache 1.0's primitive's format):
//! a 64-byte header, then for capacity C the row ids (C × i64), the namespace tokens (C × 16
//! bytes), the tombstone bitmap (⌈C/8⌉ bytes, 1 = deleted) and the vectors (C × dim × bpe).
//! Little-endian throughout.

use crate::error::{Error, Result};
use crate::types::VectorDtype;
use sha2::{Digest, Sha256};

pub(crate) const MAGIC: &[u8; 8] = b"MNEMEMSC";
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER: usize = 64;
pub(crate) const TOKEN: usize = 16;

/// The header's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Vector length.
    pub dim: u32,
    /// Slots used (live and tombstoned).
    pub count: u32,
    /// Slots allocated.
    pub capacity: u32,
    /// Element type of the stored vectors.
    pub dtype: VectorDtype,
    /// SHA-256 of the embedder fingerprint.
    pub fingerprint_sha256: [u8; 32],
}

pub(crate) fn dtype_code(dtype: VectorDtype) -> u32 {
    match dtype {
        VectorDtype::Float32 => 0,
        VectorDtype::Float16 => 1,
        VectorDtype::Int8 => 2,
    }
}

pub(crate) fn bytes_per_element(dtype: VectorDtype) -> usize {
    match dtype {
        VectorDtype::Float32 => 4,
        VectorDtype::Float16 => 2,
        VectorDtype::Int8 => 1,
    }
}

/// Tombstoned slots among the first `slots`: a popcount of the bitmap's bits for them.
pub(crate) fn tombstones(bitmap: &[u8], slots: usize) -> usize {
    let bitmap = &bitmap[..slots.div_ceil(8).min(bitmap.len())];
    let Some((last, whole)) = bitmap.split_last() else {
        return 0;
    };
    let tail_bits = (slots - 8 * whole.len()).min(8); // 1..=8
    let mask = if tail_bits == 8 {
        0xff
    } else {
        (1u8 << tail_bits) - 1
    };
    whole.iter().map(|b| b.count_ones() as usize).sum::<usize>()
        + (last & mask).count_ones() as usize
}

pub(crate) fn fingerprint_hash(fingerprint: &str) -> [u8; 32] {
    Sha256::digest(fingerprint.as_bytes()).into()
}

fn lock_error(path: &str, problem: &str) -> Error {
    Error::multi_process_lock(
        format!("the mmap-shared sidecar {path} {problem}"),
        "delete the sidecar (it is derived data: the cache rebuilds it from the store), or point \
         mmap_path elsewhere",
    )
}

impl Header {
    /// Parses a header; `path` names the file in errors.
    ///
    /// # Errors
    /// [`Error::MultiProcessLock`] for a short header, bad magic or another version;
    /// [`Error::Quantization`] for an unknown dtype code.
    pub(crate) fn parse(bytes: &[u8], path: &str) -> Result<Header> {
        if bytes.len() < HEADER {
            return Err(lock_error(
                path,
                &format!("is too short for its header ({} of 64 bytes)", bytes.len()),
            ));
        }
        if &bytes[..8] != MAGIC {
            return Err(lock_error(
                path,
                "does not start with MNEMEMSC (not a sidecar file)",
            ));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(lock_error(
                path,
                &format!("has format version {version}; this build reads version 1"),
            ));
        }
        let dtype = match u32_at(24) {
            0 => VectorDtype::Float32,
            1 => VectorDtype::Float16,
            2 => VectorDtype::Int8,
            code => return Err(Error::quantization(
                format!("the mmap-shared sidecar {path} has unknown dtype code {code}"),
                "delete the sidecar so it is rebuilt, or open it with a build that knows the code",
            )),
        };
        Ok(Header {
            dim: u32_at(12),
            count: u32_at(16),
            capacity: u32_at(20),
            dtype,
            fingerprint_sha256: bytes[28..60].try_into().expect("32 bytes"),
        })
    }

    pub(crate) fn encode(&self) -> [u8; HEADER] {
        let mut out = [0u8; HEADER];
        out[..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.dim.to_le_bytes());
        out[16..20].copy_from_slice(&self.count.to_le_bytes());
        out[20..24].copy_from_slice(&self.capacity.to_le_bytes());
        out[24..28].copy_from_slice(&dtype_code(self.dtype).to_le_bytes());
        out[28..60].copy_from_slice(&self.fingerprint_sha256);
        out
    }

    pub(crate) fn layout(&self) -> Layout {
        Layout::new(self.capacity as usize, self.dim as usize, self.dtype)
    }
}

/// Where each region starts, for one capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub capacity: usize,
    pub ids: usize,
    pub tokens: usize,
    pub bitmap: usize,
    pub vectors: usize,
    pub row_bytes: usize,
    pub file_size: usize,
}

impl Layout {
    pub(crate) fn new(capacity: usize, dim: usize, dtype: VectorDtype) -> Layout {
        let ids = HEADER;
        let tokens = ids + 8 * capacity;
        let bitmap = tokens + TOKEN * capacity;
        let vectors = bitmap + capacity.div_ceil(8);
        let row_bytes = dim * bytes_per_element(dtype);
        Layout {
            capacity,
            ids,
            tokens,
            bitmap,
            vectors,
            row_bytes,
            file_size: vectors + capacity * row_bytes,
        }
    }
}

/// A namespace as its 16-byte token: the UTF-8 bytes NUL-padded, or for a longer name its
/// first 10 bytes and the first 6 bytes of its SHA-256. Only a pre-filter: the cache checks the
/// namespace against the store.
pub(crate) fn namespace_token(namespace: &str) -> [u8; TOKEN] {
    let bytes = namespace.as_bytes();
    let mut out = [0u8; TOKEN];
    if bytes.len() <= TOKEN {
        out[..bytes.len()].copy_from_slice(bytes);
    } else {
        out[..10].copy_from_slice(&bytes[..10]);
        out[10..].copy_from_slice(&Sha256::digest(bytes)[..6]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_file_size_is_1_0_s() {
        let l = Layout::new(1024, 384, VectorDtype::Float32);
        assert_eq!(l.file_size, 64 + 24 * 1024 + 128 + 1024 * 384 * 4);
        assert_eq!(
            l.vectors % 64,
            0,
            "vectors start on a cache line at the default capacity"
        );
    }

    #[test]
    fn headers_round_trip_and_bad_ones_are_named() {
        let h = Header {
            dim: 4,
            count: 2,
            capacity: 8,
            dtype: VectorDtype::Int8,
            fingerprint_sha256: fingerprint_hash("fp"),
        };
        assert_eq!(Header::parse(&h.encode(), "f").unwrap(), h);
        assert!(matches!(
            Header::parse(&h.encode()[..63], "f"),
            Err(Error::MultiProcessLock(_))
        ));
        let mut bad = h.encode();
        bad[0] = b'X';
        assert!(matches!(
            Header::parse(&bad, "f"),
            Err(Error::MultiProcessLock(_))
        ));
        let mut bad = h.encode();
        bad[8] = 2;
        assert!(matches!(
            Header::parse(&bad, "f"),
            Err(Error::MultiProcessLock(_))
        ));
        let mut bad = h.encode();
        bad[24] = 7;
        assert!(matches!(
            Header::parse(&bad, "f"),
            Err(Error::Quantization(_))
        ));
    }

    #[test]
    fn tokens_pad_short_names_and_hash_long_ones() {
        assert_eq!(&namespace_token("default")[..8], b"default\0");
        let long = namespace_token("a-very-long-namespace-name");
        assert_eq!(&long[..10], b"a-very-lon");
        assert_eq!(
            long[10..],
            Sha256::digest(b"a-very-long-namespace-name")[..6]
        );
    }
}
