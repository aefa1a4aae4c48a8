//! The best `k` of a scan, shared by the flat index and the shared matrix.

/// Keeps the best `k` candidates, best first; ties go to the lower offset.
pub(crate) struct TopK {
    k: usize,
    pub(crate) best: Vec<(f32, u32)>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            best: Vec::with_capacity(k + 1),
        }
    }

    #[inline]
    fn better(a: (f32, u32), b: (f32, u32)) -> bool {
        a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
    }

    #[inline]
    pub(crate) fn offer(&mut self, score: f32, offset: u32) {
        if self.k == 0 || score.is_nan() {
            return;
        }
        let cand = (score, offset);
        if self.best.len() == self.k && !Self::better(cand, self.best[self.k - 1]) {
            return;
        }
        let pos = self
            .best
            .iter()
            .position(|&b| Self::better(cand, b))
            .unwrap_or(self.best.len());
        self.best.insert(pos, cand);
        self.best.truncate(self.k);
    }

    pub(crate) fn merge(mut self, other: TopK) -> TopK {
        for (s, o) in other.best {
            self.offer(s, o);
        }
        self
    }
}
