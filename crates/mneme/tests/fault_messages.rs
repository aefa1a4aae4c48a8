//! Damaged files and mismatched archives get the error class and the hint that fit them.

mod common;

use common::embedders::TestEmbedder;
use mneme::{Error, SemanticCache};
use std::path::Path;

fn filled(path: &Path) {
    let cache = SemanticCache::builder(TestEmbedder::new(8))
        .path(path)
        .open()
        .unwrap();
    for i in 0..2000 {
        cache.put(&format!("q{i}"), &"r".repeat(200)).unwrap();
    }
    cache.close().unwrap();
}

fn open(path: &Path) -> mneme::Result<SemanticCache> {
    SemanticCache::builder(TestEmbedder::new(8))
        .path(path)
        .open()
}

fn assert_corrupt(r: mneme::Result<SemanticCache>) {
    match r {
        Err(e @ Error::CorruptCache { .. }) => {
            let text = e.to_string();
            assert!(text.contains("damaged"), "{text}");
            assert!(text.contains("dumps() archive"), "{text}");
            assert!(!text.contains("free disk"), "{text}");
        }
        other => panic!("expected CorruptCache, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_truncated_file_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    filled(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    assert_corrupt(open(&path));
}

#[test]
fn a_page_of_garbage_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    filled(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    let middle = (bytes.len() / page / 2) * page;
    for (i, b) in bytes[middle..middle + page].iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_corrupt(open(&path));
}

#[test]
fn a_mismatched_embedder_on_loads_names_both_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let cache = SemanticCache::builder(TestEmbedder::new(8))
        .path(dir.path().join("c.db"))
        .open()
        .unwrap();
    cache.put("q", "r").unwrap();
    let archive = dir.path().join("a.tar.gz");
    cache.dumps(&archive).unwrap();
    let mut other = TestEmbedder::new(8);
    other.fingerprint = "other-model".into();
    let r = SemanticCache::loads(
        &archive,
        SemanticCache::builder(other).path(dir.path().join("d.db")),
    );
    let Err(Error::EmbedderMismatch(m)) = r else {
        panic!("expected EmbedderMismatch, got {:?}", r.map(|_| ()));
    };
    assert_eq!(
        m.problem(),
        r#"the archive was written with embedder "test:8", but this cache uses embedder "other-model""#
    );
}
