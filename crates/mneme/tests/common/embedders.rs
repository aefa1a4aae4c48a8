//! Deterministic test embedders.

use mneme::{BoxError, Embedder};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A seeded unit vector from the SHA-256 of the text (the benchmark harness's embedder).
pub fn hashed_vector(text: &str, dim: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(dim);
    let mut counter = 0u32;
    while out.len() < dim {
        let digest = Sha256::new()
            .chain_update(text.as_bytes())
            .chain_update(counter.to_le_bytes())
            .finalize();
        for pair in digest.chunks_exact(2) {
            if out.len() < dim {
                out.push(u16::from_le_bytes([pair[0], pair[1]]) as f32 / 32768.0 - 1.0);
            }
        }
        counter += 1;
    }
    let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
    out.iter_mut().for_each(|x| *x /= norm);
    out
}

/// Maps texts to fixed vectors (set with `with`), everything else to a hashed vector. Counts calls
/// and records inputs; can be told to fail.
#[derive(Clone)]
pub struct TestEmbedder {
    pub dim: usize,
    pub fingerprint: String,
    pub table: Arc<Mutex<HashMap<String, Vec<f32>>>>,
    pub calls: Arc<AtomicUsize>,
    pub inputs: Arc<Mutex<Vec<String>>>,
    /// Fail on the n-th call (1-based) and every later one; 0 = never.
    pub fail_from: Arc<AtomicUsize>,
    /// `embed_batch` calls (each text still counts as one call).
    pub batches: Arc<AtomicUsize>,
}

impl TestEmbedder {
    pub fn new(dim: usize) -> Self {
        TestEmbedder {
            dim,
            fingerprint: format!("test:{dim}"),
            table: Default::default(),
            calls: Default::default(),
            inputs: Default::default(),
            fail_from: Default::default(),
            batches: Default::default(),
        }
    }

    pub fn with(self, text: &str, v: Vec<f32>) -> Self {
        self.table.lock().unwrap().insert(text.to_owned(), v);
        self
    }

    pub fn set(&self, text: &str, v: Vec<f32>) {
        self.table.lock().unwrap().insert(text.to_owned(), v);
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn fail_from_call(&self, n: usize) {
        self.fail_from.store(n, Ordering::SeqCst);
    }
}

impl Embedder for TestEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.inputs.lock().unwrap().push(text.to_owned());
        let fail = self.fail_from.load(Ordering::SeqCst);
        if fail != 0 && n >= fail {
            return Err("embedder exploded".into());
        }
        Ok(self
            .table
            .lock()
            .unwrap()
            .get(text)
            .cloned()
            .unwrap_or_else(|| hashed_vector(text, self.dim)))
    }
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        texts.iter().map(|t| self.embed(t)).collect()
    }
}

/// A unit vector along axis `i`, optionally tilted towards axis `j` to a chosen cosine.
pub fn axis(dim: usize, i: usize) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[i] = 1.0;
    v
}

/// A unit vector whose cosine with `axis(dim, i)` is exactly `cos` (tilting towards `j`).
pub fn tilted(dim: usize, i: usize, j: usize, cos: f32) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[i] = cos;
    v[j] = (1.0 - cos * cos).sqrt();
    v
}

/// The interop embedder, identical to `HashEmbedder` in `tests/interop/peer.py`: u16 pairs of
/// SHA-256(text ‖ counter) scaled to [-1, 1), not normalised (each cache normalises).
#[derive(Clone)]
pub struct InteropEmbedder {
    pub dim: usize,
    pub fingerprint: String,
}

impl InteropEmbedder {
    pub fn new(dim: usize) -> Self {
        InteropEmbedder {
            dim,
            fingerprint: format!("interop:{dim}"),
        }
    }

    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.dim);
        let mut counter = 0u32;
        while out.len() < self.dim {
            let digest = Sha256::new()
                .chain_update(text.as_bytes())
                .chain_update(counter.to_le_bytes())
                .finalize();
            for pair in digest.chunks_exact(2) {
                if out.len() < self.dim {
                    out.push(u16::from_le_bytes([pair[0], pair[1]]) as f32 / 32768.0 - 1.0);
                }
            }
            counter += 1;
        }
        out
    }
}

impl Embedder for InteropEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError> {
        Ok(self.vector(text))
    }
}
