//! `--verifier` and the threshold that goes with it, for the commands that decide (`query`,
//! `evaluate`). Our tool turns the recommended verifier on by default, at the threshold it was
//! tuned for; `--verifier off` gives mneme-cache 1.0's decisions (cosine alone, 0.85).

use clap::Args;
use mneme::verify::{Builtin, Verifier, RECOMMENDED_THRESHOLD};
use mneme::CacheBuilder;
use std::sync::Arc;

/// The `--verifier` values ([`Builtin::name`]s).
pub const NAMES: [&str; 4] = ["default", "guard", "learned", "off"];

/// `calibrate`'s: each built-in verifier, or `auto` to try them all.
pub const CALIBRATE_NAMES: [&str; 5] = ["default", "guard", "learned", "off", "auto"];

/// The verifier a `--verifier` value names (`None` for `off`).
pub fn by_name(name: &str) -> Option<Arc<dyn Verifier>> {
    Builtin::from_name(name).ok().and_then(Builtin::verifier)
}

#[derive(Args, Debug, Clone)]
pub struct VerifierArgs {
    /// The check a semantic candidate must pass before it is served: default (the guard's
    /// rules, then the learned model), guard, learned, or off (cosine alone, as mneme-cache 1.0).
    #[arg(long, default_value = "default", value_parser = NAMES)]
    pub verifier: String,
    /// The similarity threshold [default: 0.80 with a verifier, what it was tuned for; 0.85
    /// with --verifier off].
    #[arg(long)]
    pub threshold: Option<f64>,
}

impl VerifierArgs {
    pub fn threshold(&self) -> f64 {
        self.threshold.unwrap_or(match self.verifier.as_str() {
            "off" => mneme::DEFAULT_SIMILARITY_THRESHOLD,
            _ => RECOMMENDED_THRESHOLD,
        })
    }

    /// The builder with this threshold and verifier.
    pub fn apply(&self, b: CacheBuilder) -> CacheBuilder {
        let b = b.similarity_threshold(self.threshold());
        match by_name(&self.verifier) {
            Some(v) => b.shared_verifier(v),
            None => b,
        }
    }

    /// One line saying what decides, for text output.
    pub fn describe(&self) -> String {
        let what = match self.verifier.as_str() {
            "default" => "recommended (the guard's rules, then the learned model; --verifier off for mneme-cache 1.0's decisions)",
            "guard" => "guard (rules over numbers, negation, antonyms, order, entities, scope)",
            "learned" => "learned (a logistic model over the guard's findings and the similarity)",
            _ => "off (cosine alone, as mneme-cache 1.0)",
        };
        format!("verifier    {what}; threshold {:.2}", self.threshold())
    }
}
