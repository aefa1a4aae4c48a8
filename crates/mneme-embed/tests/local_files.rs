//! A model folder with missing, damaged or swapped files: each a clear error naming the file, or
//! (for swapped weights) a cache that refuses to open with the other model.

use mneme::{Error, SemanticCache};
use mneme_embed::{default_model_dir, EmbedError, LocalEmbedder, LocalOptions};
use std::path::Path;

/// A copy of the real model folder (the weights hard-linked or copied) to break on purpose.
fn copy_model(to: &Path) {
    let from = default_model_dir();
    assert!(
        from.join("model.safetensors").is_file(),
        "the test model is missing: run scripts/fetch-model.sh"
    );
    std::fs::create_dir_all(to.join("1_Pooling")).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "model.safetensors",
    ] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

fn expect_err(dir: &Path) -> EmbedError {
    LocalEmbedder::open_with(
        dir,
        LocalOptions {
            threads: Some(1),
            ..LocalOptions::default()
        },
    )
    .expect_err("the folder is broken")
}

#[test]
fn a_missing_folder_or_file_names_it_and_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let err = expect_err(&tmp.path().join("nowhere"));
    assert!(matches!(err, EmbedError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("fetch-model.sh"), "{err}");

    for (file, words) in [
        ("tokenizer.json", "tokenizer"),
        ("config.json", "configuration"),
        ("model.safetensors", "weights"),
    ] {
        let dir = tmp.path().join(file);
        copy_model(&dir);
        std::fs::remove_file(dir.join(file)).unwrap();
        let err = expect_err(&dir);
        match &err {
            EmbedError::MissingFile { path, .. } => assert_eq!(path, &dir.join(file)),
            other => panic!("{file}: expected MissingFile, got {other}"),
        }
        assert!(err.to_string().contains(words), "{err}");
    }
}

#[test]
fn damaged_files_are_invalid_model_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    for (file, bytes) in [
        ("config.json", &b"{not json"[..]),
        ("tokenizer.json", b"{\"model\": 3}"),
        (
            "model.safetensors",
            b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage",
        ),
        (
            "1_Pooling/config.json",
            b"{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": true}",
        ),
    ] {
        let dir = tmp.path().join(file.replace('/', "_"));
        copy_model(&dir);
        std::fs::write(dir.join(file), bytes).unwrap();
        match expect_err(&dir) {
            EmbedError::InvalidModel { path, message } => {
                assert_eq!(path, dir.join(file), "{message}");
            }
            other => panic!("{file}: expected InvalidModel, got {other}"),
        }
    }
}

#[test]
fn swapped_weights_change_the_fingerprint_and_the_cache_refuses_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("all-MiniLM-L6-v2");
    copy_model(&dir);
    let db = tmp.path().join("c.db");
    let original = LocalEmbedder::open(&dir).unwrap();
    SemanticCache::open(&db, original).unwrap().close().unwrap();

    // Same shapes, one weight nudged: a different model as far as vectors go.
    let weights = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&weights, bytes).unwrap();
    let swapped = LocalEmbedder::open(&dir).unwrap();
    let err = SemanticCache::open(&db, swapped).unwrap_err();
    assert!(matches!(err, Error::EmbedderMismatch(_)), "{err}");
}

#[test]
fn zero_options_are_refused() {
    for options in [
        LocalOptions {
            threads: Some(0),
            ..LocalOptions::default()
        },
        LocalOptions {
            max_length: Some(0),
            ..LocalOptions::default()
        },
    ] {
        assert!(matches!(
            LocalEmbedder::open_with(default_model_dir(), options).unwrap_err(),
            EmbedError::InvalidInput(_)
        ));
    }
}
