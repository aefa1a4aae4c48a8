//! Calibration with a stated bound: the lowest similarity threshold whose false-hit rate, read
//! as the Clopper-Pearson upper confidence bound over the labelled traps, stays under a target.
//! A point estimate of 0 false hits out of 50 traps promises little; the bound says how much
//! the sample can promise (0 of 50 at 95% is still up to 5.8%).

/// One labelled pair as the cache would see it: its cosine, whether the verifier (if any)
/// accepts it, and whether the cached answer is right for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    /// Cosine similarity of the two texts' embeddings.
    pub similarity: f64,
    /// The verifier accepts the pair (`true` without a verifier).
    pub verified: bool,
    /// The cached answer to one is a right answer to the other.
    pub same_answer: bool,
}

/// The threshold chosen, with what it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundedChoice {
    /// The similarity threshold.
    pub threshold: f64,
    /// Trap pairs (`same_answer == false`) in the sample.
    pub traps: usize,
    /// Of those, how many this threshold serves.
    pub traps_served: usize,
    /// The upper confidence bound of the false-hit rate.
    pub false_hit_bound: f64,
    /// Should-hit pairs in the sample.
    pub should_hit: usize,
    /// Of those, how many this threshold serves.
    pub should_hit_served: usize,
}

/// The one-sided Clopper-Pearson upper bound at `confidence` for `k` events in `n` trials: the
/// largest rate `p` for which seeing `k` or fewer is still at least `1 - confidence` likely.
pub fn clopper_pearson_upper(k: usize, n: usize, confidence: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    if k >= n {
        return 1.0;
    }
    let alpha = 1.0 - confidence;
    // P(X <= k) falls as p rises: bisect for P(X <= k) = alpha.
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if binomial_cdf(k, n, mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// P(X <= k) for X ~ Binomial(n, p), summed in log space.
fn binomial_cdf(k: usize, n: usize, p: f64) -> f64 {
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return if k >= n { 1.0 } else { 0.0 };
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut log_choose = 0.0; // ln C(n, 0)
    let mut total = 0.0;
    for i in 0..=k {
        if i > 0 {
            log_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (log_choose + i as f64 * lp + (n - i) as f64 * lq).exp();
    }
    total.min(1.0)
}

/// Whether the cache serves a pair at `threshold`: at or above it, above the default
/// confidence floor (a fresh entry's confidence is its similarity), and verified.
fn served(p: &ScoredPair, threshold: f64) -> bool {
    p.verified && p.similarity >= threshold && p.similarity >= crate::scoring::CONFIDENCE_FLOOR
}

/// What `threshold` serves of `pairs`, with the false-hit bound at `confidence`.
pub fn evaluate(pairs: &[ScoredPair], threshold: f64, confidence: f64) -> BoundedChoice {
    let count = |same: bool, only_served: bool| {
        pairs
            .iter()
            .filter(|p| p.same_answer == same && (!only_served || served(p, threshold)))
            .count()
    };
    let (traps, traps_served) = (count(false, false), count(false, true));
    BoundedChoice {
        threshold,
        traps,
        traps_served,
        false_hit_bound: clopper_pearson_upper(traps_served, traps, confidence),
        should_hit: count(true, false),
        should_hit_served: count(true, true),
    }
}

/// The lowest threshold of `grid` (so the most should-hit pairs served) whose false-hit bound
/// at `confidence` is at most `max_false_hits`; `None` when no threshold qualifies (too few
/// traps to promise it, or the verifier and model cannot reach it).
pub fn choose_threshold(
    pairs: &[ScoredPair],
    max_false_hits: f64,
    confidence: f64,
    grid: &[f64],
) -> Option<BoundedChoice> {
    let mut sorted = grid.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .into_iter()
        .map(|t| evaluate(pairs, t, confidence))
        .find(|c| c.false_hit_bound <= max_false_hits)
}

/// Thresholds 0.50, 0.51, … 1.00.
pub fn bound_grid() -> Vec<f64> {
    (50..=100).map(|i| f64::from(i) / 100.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clopper_pearson_matches_known_values() {
        // Zero events: 1 - alpha^(1/n) exactly.
        let expected = 1.0 - 0.05f64.powf(1.0 / 50.0);
        assert!((clopper_pearson_upper(0, 50, 0.95) - expected).abs() < 1e-9);
        // 5 of 100 at 95% one-sided: 0.10225 (the Beta(6, 95) 0.95 quantile).
        assert!((clopper_pearson_upper(5, 100, 0.95) - 0.10225).abs() < 2e-4);
        assert_eq!(clopper_pearson_upper(3, 0, 0.95), 1.0);
        assert_eq!(clopper_pearson_upper(10, 10, 0.95), 1.0);
        assert!(clopper_pearson_upper(0, 1000, 0.99) > clopper_pearson_upper(0, 1000, 0.95));
    }

    #[test]
    fn the_chosen_threshold_is_the_lowest_within_the_bound() {
        let mut pairs = Vec::new();
        for i in 0..400 {
            // Traps spread over 0.60-0.99, should-hit pairs over 0.80-0.99.
            let s = 0.60 + 0.39 * (i as f64 / 400.0);
            pairs.push(ScoredPair {
                similarity: s,
                verified: true,
                same_answer: false,
            });
            pairs.push(ScoredPair {
                similarity: 0.8 + 0.19 * (i as f64 / 400.0),
                verified: true,
                same_answer: true,
            });
        }
        let c = choose_threshold(&pairs, 0.05, 0.95, &bound_grid()).unwrap();
        assert!(c.false_hit_bound <= 0.05);
        let looser = evaluate(&pairs, c.threshold - 0.01, 0.95);
        assert!(
            looser.false_hit_bound > 0.05,
            "one step lower breaks the bound"
        );
        assert!(c.traps_served as f64 / c.traps as f64 <= c.false_hit_bound);
        // Too few traps to promise 1%: no threshold qualifies.
        assert_eq!(
            choose_threshold(&pairs[..40], 0.01, 0.95, &bound_grid()),
            None
        );
    }

    #[test]
    fn refused_pairs_are_never_served() {
        let p = ScoredPair {
            similarity: 0.99,
            verified: false,
            same_answer: false,
        };
        assert_eq!(evaluate(&[p], 0.5, 0.95).traps_served, 0);
    }
}
