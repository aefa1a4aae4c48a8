//! Feeds arbitrary bytes to the checkpoint reader as an archive. It must never panic, and when
//! it refuses an archive it must leave the destination untouched and no file behind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mneme::checkpoint::{restore, LoadLimits};
use mneme::{BoxError, Embedder};

struct Stamp;

impl Embedder for Stamp {
    fn dim(&self) -> usize {
        8
    }
    fn fingerprint(&self) -> &str {
        "fuzz:8"
    }
    fn embed(&self, _: &str) -> Result<Vec<f32>, BoxError> {
        Ok(vec![0.0; 8])
    }
}

/// An odd first byte means "the rest is a raw tar stream": gzip it, so mutations reach the tar
/// and manifest parsers instead of dying on the gzip checksum.
fn archive_bytes(data: &[u8]) -> Vec<u8> {
    match data.split_first() {
        Some((flag, rest)) if flag % 2 == 1 => {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(rest).unwrap();
            gz.finish().unwrap()
        }
        _ => data.to_vec(),
    }
}

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("in.tar.gz");
    std::fs::write(&archive, archive_bytes(data)).unwrap();
    let dest = dir.path().join("dest.db");
    let limits = LoadLimits { max_member_bytes: 1 << 20 };
    if restore(&archive, &dest, &Stamp, limits).is_err() {
        assert!(!dest.exists(), "a refused archive left a destination file");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "a refused archive left files behind");
    }
});
