//! The large benchmarks' rows, shaped like sentence embeddings: clustered by topic (rows / 50
//! topics, each centre uniform in the cube, so topics are nearly orthogonal; a row is its
//! topic's centre plus noise, cosine to the centre about 0.85), queries are stored rows plus
//! more noise (paraphrases). Needs `mod vectors;` beside it.

use super::vectors::{near, unit};

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
