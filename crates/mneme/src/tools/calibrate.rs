//! Threshold calibration: score labelled pairs as the index would, then
//! pick the similarity threshold that maximises a metric on a grid.
//!
//! ```
//! use mneme::tools::calibrate::{find_threshold_from_scores, CalibrateOptions};
//! // Paraphrases scored 0.9 and 0.8, a distractor 0.6: F1 is best just above 0.6.
//! let r = find_threshold_from_scores(&[0.9, 0.8], &[0.6], &CalibrateOptions::default()).unwrap();
//! assert_eq!(r.threshold, 0.61);
//! ```

use crate::embedder::Embedder;
use crate::error::{Error, Result};
use crate::index::kernels::Kernels;
use crate::quant;
use crate::types::VectorDtype;
use std::str::FromStr;

/// The metric `find_threshold` maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetMetric {
    /// Harmonic mean of precision and recall (default).
    #[default]
    F1,
    /// Precision.
    Precision,
    /// Recall.
    Recall,
}

impl FromStr for TargetMetric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f1" => Ok(TargetMetric::F1),
            "precision" => Ok(TargetMetric::Precision),
            "recall" => Ok(TargetMetric::Recall),
            other => Err(Error::invalid_argument(
                format!("unknown target_metric {other:?}"),
                "use \"f1\", \"precision\" or \"recall\"",
            )),
        }
    }
}

/// Options of a calibration run; the defaults are mneme-cache 1.0's tool's.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrateOptions {
    /// What to maximise.
    pub target_metric: TargetMetric,
    /// Skip grid points below this precision.
    pub min_precision: Option<f64>,
    /// Skip grid points below this recall.
    pub min_recall: Option<f64>,
    /// Thresholds to try, in order (default 0.50, 0.51, …, 0.99).
    pub grid: Option<Vec<f64>>,
    /// Score as the index would at this dtype.
    pub vector_dtype: VectorDtype,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions {
            target_metric: TargetMetric::F1,
            min_precision: None,
            min_recall: None,
            grid: None,
            vector_dtype: VectorDtype::Float32,
        }
    }
}

/// One point of the precision-recall curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// The threshold (a score at or above it predicts a match).
    pub threshold: f64,
    /// TP / (TP + FP), or 1.0 when nothing is predicted.
    pub precision: f64,
    /// TP / (TP + FN), or 1.0 when there are no positives.
    pub recall: f64,
}

/// The chosen threshold and the whole curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationResult {
    /// The best admissible grid point.
    pub threshold: f64,
    /// Precision there.
    pub precision: f64,
    /// Recall there.
    pub recall: f64,
    /// F1 there (recomputed from precision and recall).
    pub f1: f64,
    /// Every grid point, in grid order.
    pub pr_curve: Vec<CurvePoint>,
}

/// 0.50, 0.51, …, 0.99 (each rounded to 2 decimals).
pub fn default_grid() -> Vec<f64> {
    (50..100).map(|i| i as f64 / 100.0).collect()
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Scores one pair: L2-normalise each vector in f32 (zero stays zero), quantise and
/// dequantise at `dtype` without re-normalising, then the f32 dot product widened to f64.
pub fn score_pair(a: &[f32], b: &[f32], dtype: VectorDtype) -> f64 {
    let prepare = |v: &[f32]| {
        let mut v = v.to_vec();
        quant::l2_normalize(&mut v);
        quant::round_trip(&v, dtype)
    };
    let (a, b) = (prepare(a), prepare(b));
    (Kernels::detect().dot_f32)(&a, &b) as f64
}

/// Embeds both texts of every pair as given (no query normalisation) and scores them.
///
/// # Errors
/// The embedder's failure ([`Error::Embedder`]) or a vector of the wrong length
/// ([`Error::EmbedderDimension`]).
pub fn score_pairs(
    pairs: &[(&str, &str)],
    embedder: &dyn Embedder,
    dtype: VectorDtype,
) -> Result<Vec<f64>> {
    pairs
        .iter()
        .map(|(a, b)| {
            let va = embedder.embed(a).map_err(Error::Embedder)?;
            let vb = embedder.embed(b).map_err(Error::Embedder)?;
            quant::validate_vector(&va, embedder.dim())?;
            quant::validate_vector(&vb, embedder.dim())?;
            Ok(score_pair(&va, &vb, dtype))
        })
        .collect()
}

/// Precision and recall at every grid point (inputs are not checked for emptiness).
pub fn curve_from_scores(positives: &[f64], negatives: &[f64], grid: &[f64]) -> Vec<CurvePoint> {
    grid.iter()
        .map(|&t| {
            let tp = positives.iter().filter(|&&s| s >= t).count() as f64;
            let fp = negatives.iter().filter(|&&s| s >= t).count() as f64;
            let fneg = positives.len() as f64 - tp;
            CurvePoint {
                threshold: t,
                precision: if tp + fp == 0.0 { 1.0 } else { tp / (tp + fp) },
                recall: if tp + fneg == 0.0 {
                    1.0
                } else {
                    tp / (tp + fneg)
                },
            }
        })
        .collect()
}

/// The best admissible grid point for already-scored pairs.
///
/// # Errors
/// [`Error::InvalidArgument`] when either list is empty or no grid point meets the minimums.
pub fn find_threshold_from_scores(
    positives: &[f64],
    negatives: &[f64],
    options: &CalibrateOptions,
) -> Result<CalibrationResult> {
    for (what, list) in [
        ("paraphrase_pairs", positives),
        ("distractor_pairs", negatives),
    ] {
        if list.is_empty() {
            return Err(Error::invalid_argument(
                format!("calibrate: {what} cannot be empty"),
                "provide at least one labelled pair of each kind",
            ));
        }
    }
    let grid = options.grid.clone().unwrap_or_else(default_grid);
    let pr_curve = curve_from_scores(positives, negatives, &grid);
    let mut best: Option<(f64, CurvePoint)> = None;
    for p in &pr_curve {
        if options.min_precision.is_some_and(|m| p.precision < m)
            || options.min_recall.is_some_and(|m| p.recall < m)
        {
            continue;
        }
        let value = match options.target_metric {
            TargetMetric::F1 => f1(p.precision, p.recall),
            TargetMetric::Precision => p.precision,
            TargetMetric::Recall => p.recall,
        };
        if best.is_none_or(|(v, _)| value > v) {
            best = Some((value, *p));
        }
    }
    let Some((_, point)) = best else {
        return Err(Error::invalid_argument(
            format!(
                "No threshold satisfied min_precision={} and min_recall={}",
                options
                    .min_precision
                    .map_or("None".into(), |v| v.to_string()),
                options.min_recall.map_or("None".into(), |v| v.to_string())
            ),
            "relax the constraints or expand the grid",
        ));
    };
    Ok(CalibrationResult {
        threshold: point.threshold,
        precision: point.precision,
        recall: point.recall,
        f1: f1(point.precision, point.recall),
        pr_curve,
    })
}

/// Embeds and scores the pairs, then finds the threshold.
///
/// # Errors
/// As [`score_pairs`] and [`find_threshold_from_scores`]; empty inputs are refused before any
/// embedding.
pub fn find_threshold(
    paraphrase_pairs: &[(&str, &str)],
    distractor_pairs: &[(&str, &str)],
    embedder: &dyn Embedder,
    options: &CalibrateOptions,
) -> Result<CalibrationResult> {
    if paraphrase_pairs.is_empty() || distractor_pairs.is_empty() {
        return find_threshold_from_scores(&[], &[], options);
    }
    let pos = score_pairs(paraphrase_pairs, embedder, options.vector_dtype)?;
    let neg = score_pairs(distractor_pairs, embedder, options.vector_dtype)?;
    find_threshold_from_scores(&pos, &neg, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_example_and_tie_breaking() {
        let r =
            find_threshold_from_scores(&[0.9, 0.8], &[0.6], &CalibrateOptions::default()).unwrap();
        assert_eq!(
            (r.threshold, r.precision, r.recall, r.f1),
            (0.61, 1.0, 1.0, 1.0)
        );
        assert_eq!(r.pr_curve.len(), 50);
        assert_eq!(
            r.pr_curve[0],
            CurvePoint {
                threshold: 0.5,
                precision: 2.0 / 3.0,
                recall: 1.0
            }
        );
        let precision = CalibrateOptions {
            target_metric: TargetMetric::Precision,
            ..Default::default()
        };
        assert_eq!(
            find_threshold_from_scores(&[0.9, 0.8], &[0.6], &precision)
                .unwrap()
                .threshold,
            0.61
        );
    }

    #[test]
    fn constraints_empty_inputs_and_degenerate_points() {
        let strict = CalibrateOptions {
            min_precision: Some(1.1),
            ..Default::default()
        };
        match find_threshold_from_scores(&[0.9], &[0.6], &strict) {
            Err(Error::InvalidArgument(m)) => {
                assert!(m.remediation().contains("relax the constraints"))
            }
            other => panic!("{other:?}"),
        }
        assert!(find_threshold_from_scores(&[], &[0.6], &CalibrateOptions::default()).is_err());
        let c = curve_from_scores(&[], &[], &[0.5]);
        assert_eq!((c[0].precision, c[0].recall), (1.0, 1.0));
        assert_eq!(f1(0.0, 0.0), 0.0);
    }

    #[test]
    fn pair_scores_follow_the_dtype() {
        let a = [3.0f32, 4.0, 0.0];
        assert!((score_pair(&a, &a, VectorDtype::Float32) - 1.0).abs() < 1e-6);
        let int8 = score_pair(&a, &a, VectorDtype::Int8);
        assert!((int8 - 1.0).abs() < 2e-2 && int8 != 1.0);
        assert_eq!(score_pair(&[0.0; 3], &a, VectorDtype::Float32), 0.0);
    }
}
