//! Randomly damaged archives (a property test that runs in CI; `scripts/fuzz.sh` runs the
//! coverage-guided libFuzzer target on the same reader): never a panic, and a refused archive
//! leaves no destination and no file behind.

mod common;

use common::fixtures::Fixture;
use mneme::checkpoint::{restore, LoadLimits};
use proptest::prelude::*;
use std::io::{Read, Write};
use std::sync::OnceLock;

/// A valid archive, decompressed to its raw tar stream.
fn seed_tar() -> &'static (Vec<u8>, common::embedders::TestEmbedder) {
    static SEED: OnceLock<(Vec<u8>, common::embedders::TestEmbedder)> = OnceLock::new();
    SEED.get_or_init(|| {
        let f = Fixture::new();
        let cache = f.open();
        cache.put("q", "r").unwrap();
        let archive = f.dir.path().join("seed.tar.gz");
        cache.dumps(&archive).unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        (raw, f.embedder.clone())
    })
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Damage::Flip(i, x)),
        any::<usize>().prop_map(Damage::Truncate),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..600)
        )
            .prop_map(|(i, v)| Damage::Insert(i, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn damaged_archives_never_panic_or_leave_files(damages in proptest::collection::vec(damage(), 1..4), in_header in any::<bool>()) {
        let (seed, embedder) = seed_tar();
        let mut raw = seed.clone();
        for d in damages {
            // Half the time aim at the first 2 KiB: the headers and the manifest.
            let span = if in_header { 2048.min(raw.len()) } else { raw.len() };
            match d {
                Damage::Flip(i, x) => { let i = i % span; raw[i] ^= x; }
                Damage::Truncate(i) => raw.truncate(i % span),
                Damage::Insert(i, v) => { let i = i % (span + 1); raw.splice(i..i, v); }
            }
            if raw.is_empty() { break; }
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("damaged.tar.gz");
        std::fs::write(&archive, gz.finish().unwrap()).unwrap();
        let dest = dir.path().join("dest.db");
        if restore(&archive, &dest, embedder, LoadLimits { max_member_bytes: 1 << 20 }).is_err() {
            prop_assert!(!dest.exists());
            prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }
}
