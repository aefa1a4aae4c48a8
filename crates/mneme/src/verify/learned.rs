//! The learned verifier: a logistic model over what the guard finds, the similarity and how
//! much the two texts' content words overlap. Trained on labelled pairs by
//! `crates/mneme-embed/examples/train_verifier.rs` (fixed seed, held-out split); its weights
//! are the generated `weights.rs`. Each guard finding is a feature, not a veto, so a rule that
//! misfires often on real data (entities, quantifiers) costs less than it would as a veto.

use super::guard::{Conflict, ConsistencyGuard};
use super::text::{tokens, Kind};
use super::weights;
use super::{lexicon, Refusal, Verifier};
use std::collections::BTreeSet;

/// The model's inputs for one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Features(pub [f64; Features::LEN]);

impl Features {
    /// How many features: similarity terms, one per guard rule, then overlap measures.
    pub const LEN: usize = 3 + Conflict::ALL.len() + 4;

    /// The features of a pair with cosine `similarity`.
    pub fn of(a: &str, b: &str, similarity: f64) -> Self {
        Self::with_conflicts(a, b, similarity, &ConsistencyGuard::conflicts(a, b))
    }

    /// The features, given the guard's findings on the pair (computed once by `Recommended`).
    pub(super) fn with_conflicts(a: &str, b: &str, similarity: f64, found: &[Conflict]) -> Self {
        let mut f = [0.0; Self::LEN];
        let s = similarity.clamp(-1.0, 1.0);
        f[0] = s;
        f[1] = s * s;
        f[2] = (1.0 - s).max(1e-6).ln();
        for c in found {
            let i = Conflict::ALL.iter().position(|x| x == c).unwrap_or(0);
            f[3 + i] = 1.0;
        }
        let (ca, cb) = (content_words(a), content_words(b));
        let union = ca.union(&cb).count().max(1) as f64;
        let only_a = ca.difference(&cb).count() as f64;
        let only_b = cb.difference(&ca).count() as f64;
        let base = 3 + Conflict::ALL.len();
        f[base] = ca.intersection(&cb).count() as f64 / union;
        f[base + 1] = (only_a + only_b).min(10.0) / 10.0;
        f[base + 2] = (only_a - only_b).abs().min(10.0) / 10.0;
        f[base + 3] = ((ca.len() as f64 + 1.0) / (cb.len() as f64 + 1.0))
            .ln()
            .abs();
        Features(f)
    }

    /// The model's probability that the pair wants the same answer.
    pub fn probability(&self, weights: &[f64; Self::LEN], bias: f64) -> f64 {
        let z: f64 = bias + self.0.iter().zip(weights).map(|(x, w)| x * w).sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }
}

fn content_words(s: &str) -> BTreeSet<String> {
    tokens(s)
        .into_iter()
        .filter(|t| t.kind != Kind::Word || !lexicon::is_stopword(&t.text))
        .map(|t| t.text)
        .collect()
}

/// Serves a candidate when the model's probability reaches `cutoff`. The shipped weights come
/// with the cutoff chosen on held-out data for the recommended trade-off (DECISIONS.md).
#[derive(Debug, Clone)]
pub struct LearnedVerifier {
    weights: [f64; Features::LEN],
    bias: f64,
    cutoff: f64,
}

impl Default for LearnedVerifier {
    fn default() -> Self {
        LearnedVerifier {
            weights: weights::WEIGHTS,
            bias: weights::BIAS,
            cutoff: weights::CUTOFF,
        }
    }
}

impl LearnedVerifier {
    /// A model with other weights (for example, trained on your own pairs).
    pub fn new(weights: [f64; Features::LEN], bias: f64, cutoff: f64) -> Self {
        LearnedVerifier {
            weights,
            bias,
            cutoff,
        }
    }

    /// The shipped model with another cutoff: higher serves fewer wrong answers and fewer
    /// right ones.
    pub fn with_cutoff(mut self, cutoff: f64) -> Self {
        self.cutoff = cutoff;
        self
    }

    /// The probability the model gives the pair.
    pub fn probability(&self, a: &str, b: &str, similarity: f64) -> f64 {
        Features::of(a, b, similarity).probability(&self.weights, self.bias)
    }
}

impl LearnedVerifier {
    /// The ruling on features already computed.
    pub(super) fn verdict(&self, features: &Features) -> Result<(), Refusal> {
        let p = features.probability(&self.weights, self.bias);
        if p >= self.cutoff {
            Ok(())
        } else {
            Err(Refusal(format!("learned: p={p:.3} < {:.3}", self.cutoff)))
        }
    }
}

impl Verifier for LearnedVerifier {
    fn check(&self, query: &str, cached_query: &str, similarity: f64) -> Result<(), Refusal> {
        self.verdict(&Features::of(query, cached_query, similarity))
    }
}
