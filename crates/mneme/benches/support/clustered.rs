//! The large benchmarks' rows and how their searches are judged. Rows are shaped like sentence
//! embeddings: clustered by topic (rows / 50
//! topics, each centre uniform in the cube, so topics are nearly orthogonal; a row is its
//! topic's centre plus noise, cosine to the centre about 0.85), queries are stored rows plus
//! more noise (paraphrases). Needs `mod vectors;` beside it.

use super::vectors::{near, unit};
use mneme::index::Candidate;
use std::collections::HashSet;

/// The embedder fingerprint the large cache is written with (and its saved graphs stamped).
pub const FINGERPRINT: &str = "bench:large";

/// Recall@1 and recall@10 of `search` (a query's top 10) against each query's exact top 10.
pub fn recall(
    queries: &[Vec<f32>],
    exact: &[Vec<i64>],
    search: impl Fn(&[f32]) -> Vec<Candidate>,
) -> (f64, f64) {
    let (mut at1, mut at10) = (0, 0);
    for (q, truth) in queries.iter().zip(exact) {
        let got = search(q);
        at1 += usize::from(got.first().map(|c| c.id) == truth.first().copied());
        let truth: HashSet<i64> = truth.iter().copied().collect();
        at10 += got.iter().filter(|c| truth.contains(&c.id)).count();
    }
    let n = exact.len().min(queries.len()) as f64;
    (at1 as f64 / n, at10 as f64 / (10.0 * n))
}

/// `rows` rows of `dim` dimensions; query `i` of `calls` paraphrases row `i * rows / calls`.
pub struct Clustered {
    pub rows: usize,
    pub dim: usize,
    pub calls: usize,
}

impl Clustered {
    fn topic(&self, i: usize) -> Vec<f32> {
        unit((i % (self.rows / 50).max(1)) as u64 + 1, self.dim)
    }

    pub fn row(&self, i: usize) -> Vec<f32> {
        near(&self.topic(i), (i as u64 + 1) << 20, 0.6)
    }

    /// A paraphrase of a stored row.
    pub fn query(&self, i: usize) -> Vec<f32> {
        near(
            &self.row(i * self.rows / self.calls),
            (i as u64 + 1) << 40,
            0.3,
        )
    }

    /// A new row on an existing topic, for put timings.
    pub fn fresh(&self, i: usize) -> Vec<f32> {
        near(&self.topic(i * 7919), (i as u64 + 1) << 50, 0.6)
    }
}
