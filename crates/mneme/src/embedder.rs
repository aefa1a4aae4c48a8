//! The embedder contract, and a small deterministic lexical embedder for demos and tests.

use crate::error::BoxError;

/// The largest vector length a cache accepts from an embedder. Embedding models have at most a
/// few thousand dimensions; a larger `dim` is a bug that would otherwise surface as a huge
/// allocation.
pub const MAX_DIM: usize = 1 << 16;

/// Turns text into a vector. Supplied by the caller; called concurrently, so it must be
/// `Send + Sync`.
///
/// `fingerprint` names the model (and anything else that changes its vectors). It is stamped into
/// the store on first open and compared, by string equality, on every later open, so a cache is
/// never silently searched with another model's vectors.
///
/// ```
/// use mneme::{BoxError, Embedder, SemanticCache};
///
/// /// Letter frequencies: a toy model, but a complete embedder.
/// struct Letters;
///
/// impl Embedder for Letters {
///     fn dim(&self) -> usize {
///         26
///     }
///     fn fingerprint(&self) -> &str {
///         "letters:v1" // change it whenever the vectors would change
///     }
///     fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError> {
///         let mut v = vec![0.0; 26];
///         for c in text.chars().filter(char::is_ascii_alphabetic) {
///             v[(c.to_ascii_lowercase() as u8 - b'a') as usize] += 1.0;
///         }
///         if v.iter().all(|x| *x == 0.0) {
///             return Err("nothing to embed: the text has no letters".into());
///         }
///         Ok(v) // the cache normalises
///     }
/// }
///
/// # fn main() -> mneme::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let cache = SemanticCache::open(dir.path().join("c.db"), Letters)?;
/// cache.put("listen", "an anagram")?;
/// let hit = cache.get("silent")?.expect("same letters, same vector");
/// assert_eq!(hit.response, "an anagram");
/// # Ok(()) }
/// ```
pub trait Embedder: Send + Sync {
    /// Vector length (> 0).
    fn dim(&self) -> usize;
    /// A stable name for this model and configuration.
    fn fingerprint(&self) -> &str;
    /// Embeds one text. Any float width is fine; the cache narrows to f32 and L2-normalises.
    ///
    /// # Errors
    /// Whatever the model reports; `put` passes it through as
    /// [`Error::Embedder`](crate::Error::Embedder), `get` treats it as a miss.
    fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError>;
    /// Embeds several texts; override when the model batches more cheaply.
    ///
    /// # Errors
    /// The first failure.
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        texts.iter().map(|t| self.embed(t)).collect()
    }
}

impl<E: Embedder + ?Sized> Embedder for std::sync::Arc<E> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn fingerprint(&self) -> &str {
        (**self).fingerprint()
    }
    fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError> {
        (**self).embed(text)
    }
    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BoxError> {
        (**self).embed_batch(texts)
    }
}

/// A deterministic bag-of-n-grams embedder: hashed word unigrams and bigrams plus character
/// trigrams, signed feature hashing, L2-normalised.
///
/// It is **lexical, not a language model**: "reset my password" and "password reset" land close
/// together, but "cancel my plan" and "end my subscription" do not. It exists so the demo and the
/// tests run without a network or a model download. Use a real embedding model in production.
///
/// ```
/// use mneme::{Embedder, LexicalEmbedder};
/// let e = LexicalEmbedder::new(256);
/// let a = e.embed("how do I reset my password").unwrap();
/// let b = e.embed("how can I reset my password?").unwrap();
/// let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
/// assert!(cos > 0.7);
/// ```
#[derive(Debug, Clone)]
pub struct LexicalEmbedder {
    dim: usize,
    fingerprint: String,
}

impl LexicalEmbedder {
    /// An embedder producing `dim`-dimensional vectors (`dim` is clamped to at least 1).
    pub fn new(dim: usize) -> Self {
        let dim = dim.max(1);
        LexicalEmbedder {
            dim,
            fingerprint: format!("mneme-lexical-v1:{dim}"),
        }
    }

    fn add(&self, v: &mut [f32], feature: &[u8], weight: f32) {
        let h = fnv1a(feature);
        let bucket = (h % self.dim as u64) as usize;
        let sign = if (h >> 63) == 0 { 1.0 } else { -1.0 };
        v[bucket] += sign * weight;
    }
}

/// FNV-1a: tiny, stable across platforms and releases (vectors must never change).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

impl Embedder for LexicalEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, BoxError> {
        let key = crate::normalize::normalize(text);
        let words: Vec<&str> = key
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut v = vec![0.0f32; self.dim];
        for w in &words {
            self.add(&mut v, format!("w:{w}").as_bytes(), 1.0);
        }
        for pair in words.windows(2) {
            self.add(&mut v, format!("b:{} {}", pair[0], pair[1]).as_bytes(), 0.7);
        }
        let chars: Vec<char> = format!(" {} ", words.join(" ")).chars().collect();
        for tri in chars.windows(3) {
            let s: String = tri.iter().collect();
            self.add(&mut v, format!("c:{s}").as_bytes(), 0.4);
        }
        crate::quant::l2_normalize(&mut v);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn deterministic_normalised_and_lexically_sensible() {
        let e = LexicalEmbedder::new(384);
        let a = e.embed("How do I cancel my subscription?").unwrap();
        assert_eq!(a, e.embed("How do I cancel my subscription?").unwrap());
        assert!((cos(&a, &a) - 1.0).abs() < 1e-5);
        let near = e.embed("how do i cancel my subscription").unwrap();
        let far = e.embed("best pizza in naples").unwrap();
        assert!(cos(&a, &near) > 0.95);
        assert!(cos(&a, &far) < 0.3);
        assert_eq!(e.fingerprint(), "mneme-lexical-v1:384");
    }

    #[test]
    fn empty_text_is_a_zero_vector() {
        let v = LexicalEmbedder::new(8).embed(" ").unwrap();
        assert_eq!(v, [0.0; 8]);
    }
}
