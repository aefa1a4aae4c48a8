//! Confidence and validation of candidates (compat with mneme-cache 1.0).

use crate::metadata::Metadata;
use crate::normalize::is_python_space;
use std::sync::Arc;

/// `(similarity, age_seconds, metadata) -> confidence`. Replaces [`default_confidence`].
pub type ConfidenceFn = Arc<dyn Fn(f64, i64, &Metadata) -> f64 + Send + Sync>;

/// `(response) -> accept?`. Replaces [`default_validator`].
pub type Validator = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Semantic candidates whose confidence is below this are skipped. Fixed, not configurable
/// (compat), so a fresh semantic hit needs `similarity >= max(threshold, 0.7)`.
pub const CONFIDENCE_FLOOR: f64 = 0.7;

/// Half-life of the default confidence: 24 hours.
pub const HALF_LIFE_SECONDS: f64 = 86_400.0;

/// `similarity × 0.5^(max(age, 0) / 86 400)`; metadata is ignored.
///
/// ```
/// assert_eq!(mneme::default_confidence(1.0, 86_400, &Default::default()), 0.5);
/// assert_eq!(mneme::default_confidence(1.0, -100, &Default::default()), 1.0);
/// ```
pub fn default_confidence(similarity: f64, age_seconds: i64, _metadata: &Metadata) -> f64 {
    similarity * 0.5f64.powf(age_seconds.max(0) as f64 / HALF_LIFE_SECONDS)
}

/// Rejects empty and whitespace-only responses and those starting with `[LLM Error]` or
/// `[ERROR]` (case-sensitive, no leading-space stripping).
///
/// ```
/// assert!(!mneme::default_validator("[ERROR] boom"));
/// assert!(mneme::default_validator("Error: x"));
/// ```
pub fn default_validator(response: &str) -> bool {
    !(response.chars().all(is_python_space)
        || response.starts_with("[LLM Error]")
        || response.starts_with("[ERROR]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_examples() {
        let m = Metadata::new();
        for (s, age, want) in [
            (1.0, 0, 1.0),
            (1.0, 86_400, 0.5),
            (0.9, 86_400, 0.45),
            (1.0, 172_800, 0.25),
            (1.0, -100, 1.0),
        ] {
            assert!((default_confidence(s, age, &m) - want).abs() < 1e-12);
        }
    }

    #[test]
    fn validator_examples() {
        for bad in ["", "  ", "\u{3000}", "[LLM Error] x", "[ERROR]"] {
            assert!(!default_validator(bad), "{bad:?}");
        }
        for good in ["[INFO] ok", "Error: x", "  hi  ", " [ERROR] indented"] {
            assert!(default_validator(good), "{good:?}");
        }
    }
}
