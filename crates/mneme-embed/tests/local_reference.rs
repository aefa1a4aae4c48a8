//! The local embedder against sentence-transformers on a fixed corpus of 210 texts (English,
//! punctuation, emoji, CJK and other scripts, empty, past the 256-token limit): cosine >= 0.9999
//! for every text. The reference vectors come from `tests/fixtures/reference.py` (torch).
//!
//! Needs the model: `scripts/fetch-model.sh` (the test scripts run it). A missing model fails
//! these tests, it does not skip them.

use base64::Engine as _;
use mneme::Embedder;
use mneme_embed::{default_model_dir, LocalEmbedder, LocalOptions};
use std::sync::OnceLock;

struct Reference {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
    weights_sha256: String,
}

fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| {
        let raw = include_str!("fixtures/reference.json");
        let v: serde_json::Value = serde_json::from_str(raw).unwrap();
        let dim = v["dim"].as_u64().unwrap() as usize;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v["vectors_f16_b64"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect();
        Reference {
            texts: v["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect(),
            vectors: floats.chunks(dim).map(<[f32]>::to_vec).collect(),
            weights_sha256: v["weights_sha256"].as_str().unwrap().to_owned(),
        }
    })
}

fn model() -> &'static LocalEmbedder {
    static M: OnceLock<LocalEmbedder> = OnceLock::new();
    M.get_or_init(|| {
        LocalEmbedder::open(default_model_dir())
            .unwrap_or_else(|e| panic!("the test model is missing or damaged: {e}"))
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn every_corpus_text_matches_sentence_transformers() {
    let r = reference();
    assert!(r.texts.len() >= 200);
    assert_eq!(
        model().weights_sha256(),
        r.weights_sha256,
        "the fixture's model"
    );
    let texts: Vec<&str> = r.texts.iter().map(String::as_str).collect();
    let ours = model().embed_batch(&texts).unwrap();
    let mut worst = (1.0, String::new());
    for ((text, theirs), mine) in r.texts.iter().zip(&r.vectors).zip(&ours) {
        assert_eq!(mine.len(), 384);
        let c = cosine(mine, theirs);
        if c < worst.0 {
            worst = (c, text.chars().take(60).collect());
        }
    }
    eprintln!("worst cosine {:.7} for {:?}", worst.0, worst.1);
    assert!(
        worst.0 >= 0.9999,
        "worst cosine {:.6} for {:?}",
        worst.0,
        worst.1
    );
}

#[test]
fn one_at_a_time_equals_batched_and_vectors_are_unit_length() {
    let r = reference();
    let picks = [0usize, 12, 33, 44, 63, 64, r.texts.len() - 1];
    let texts: Vec<&str> = picks.iter().map(|&i| r.texts[i].as_str()).collect();
    let batched = model().embed_batch(&texts).unwrap();
    for (t, b) in texts.iter().zip(&batched) {
        let single = model().embed(t).unwrap();
        assert!(cosine(&single, b) > 0.99999, "{t:?}");
        let norm: f32 = single.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{t:?}: {norm}");
    }
}

#[test]
fn text_past_the_limit_is_truncated_like_sentence_transformers() {
    assert_eq!(model().max_length(), 256);
    let long = "word ".repeat(2000);
    let longer = format!("{long} and then something completely different");
    let a = model().embed(&long).unwrap();
    let b = model().embed(&longer).unwrap();
    assert!(cosine(&a, &b) > 0.99999, "only the first 256 tokens count");
}

#[test]
fn paraphrases_are_closer_than_unrelated_questions() {
    let m = model();
    let v = m
        .embed_batch(&[
            "How do I reset my password?",
            "how can i change my account password",
            "What is the capital of France?",
        ])
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > 0.7);
    assert!(cosine(&v[0], &v[2]) < 0.3);
}

#[test]
fn the_fingerprint_names_the_model_and_its_weights() {
    let m = model();
    let fp = m.fingerprint();
    assert!(fp.starts_with("local:all-MiniLM-L6-v2:sha256="), "{fp}");
    assert!(fp.contains(&m.weights_sha256()[..16]), "{fp}");
    let prefixed = LocalEmbedder::open_with(
        default_model_dir(),
        LocalOptions {
            prefix: Some("query: ".into()),
            threads: Some(1),
            ..LocalOptions::default()
        },
    )
    .unwrap();
    assert_ne!(prefixed.fingerprint(), fp, "a prefix changes the vectors");
    let v = prefixed.embed("hello").unwrap();
    let w = m.embed("query: hello").unwrap();
    assert!(cosine(&v, &w) > 0.99999);
}
