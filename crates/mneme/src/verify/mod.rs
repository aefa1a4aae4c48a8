//! The verifier stage: after a semantic candidate passes the similarity threshold, a pairwise
//! check of the new query against the candidate's stored query decides whether serving its
//! answer is safe. Cosine similarity cannot see that "2+2" and "2+3", or a question and its
//! negation, want different answers; a verifier can.
//!
//! Two are built in: [`ConsistencyGuard`] (rules over numbers, negation, antonyms, order,
//! entities and scope words) and [`LearnedVerifier`] (a logistic model over the guard's
//! findings and the similarity, trained by `crates/mneme-embed/examples/train_verifier.rs`).
//! [`Recommended`] (both) is what our own fronts turn on. Any `Fn(&str, &str, f64) -> bool` is a
//! verifier too.

mod guard;
mod learned;
// Word lists read best as lists: rustfmt would put every word on its own line.
#[rustfmt::skip]
mod lexicon;
mod text;
// Generated (train_verifier), one weight per line.
#[rustfmt::skip]
mod weights;

pub use guard::{Conflict, ConsistencyGuard};
pub use learned::{Features, LearnedVerifier};
/// The similarity threshold our fronts use with [`Recommended`] (its cutoff was chosen for it).
pub use weights::FRONT_THRESHOLD as RECOMMENDED_THRESHOLD;

/// Decides whether a candidate found by similarity may be served for a query.
pub trait Verifier: Send + Sync {
    /// `query` is the caller's text, `cached_query` the stored entry's original query and
    /// `similarity` their cosine. `Err` carries why the candidate was refused (for `explain`
    /// and the evaluator); the cache then treats it as not found.
    fn check(&self, query: &str, cached_query: &str, similarity: f64) -> Result<(), Refusal>;
}

/// Why a verifier refused a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<F> Verifier for F
where
    F: Fn(&str, &str, f64) -> bool + Send + Sync,
{
    fn check(&self, query: &str, cached_query: &str, similarity: f64) -> Result<(), Refusal> {
        if self(query, cached_query, similarity) {
            Ok(())
        } else {
            Err(Refusal("refused by the verifier".into()))
        }
    }
}

/// The verifier our fronts (the CLI with the built-in model) use by default, at
/// [`RECOMMENDED_THRESHOLD`]: the guard's rules as vetoes, then the learned verifier. See
/// DECISIONS.md for its measured trade-off.
#[derive(Debug, Clone, Default)]
pub struct Recommended {
    guard: ConsistencyGuard,
    learned: LearnedVerifier,
}

impl Verifier for Recommended {
    fn check(&self, query: &str, cached_query: &str, similarity: f64) -> Result<(), Refusal> {
        // Both read the guard's findings: the texts are parsed once.
        let found = ConsistencyGuard::conflicts(query, cached_query);
        self.guard.verdict(&found)?;
        let features = learned::Features::with_conflicts(query, cached_query, similarity, &found);
        self.learned.verdict(&features)
    }
}

/// The built-in verifier settings by name, as the CLI's `--verifier`, calibration and the
/// per-namespace setting stored with a cache name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// [`Recommended`]: the guard's rules, then the learned model.
    Recommended,
    /// [`ConsistencyGuard`] alone.
    Guard,
    /// [`LearnedVerifier`] alone.
    Learned,
    /// No verifier: cosine alone, as mneme-cache 1.0 decides.
    Off,
}

impl Builtin {
    /// Every setting, in the order calibration reports them.
    pub const ALL: [Builtin; 4] = [
        Builtin::Recommended,
        Builtin::Guard,
        Builtin::Learned,
        Builtin::Off,
    ];

    /// The setting's name: `default`, `guard`, `learned` or `off`.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Recommended => "default",
            Builtin::Guard => "guard",
            Builtin::Learned => "learned",
            Builtin::Off => "off",
        }
    }

    /// The setting a name gives ([`Builtin::name`]'s inverse; `recommended`, the Python
    /// package's name, is `default` too).
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] naming the accepted values.
    pub fn from_name(name: &str) -> crate::Result<Self> {
        if name == "recommended" {
            return Ok(Builtin::Recommended);
        }
        Builtin::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| {
                crate::Error::invalid_argument(
                    format!("unknown verifier {name:?}"),
                    "use one of default (or recommended), guard, learned, off",
                )
            })
    }

    /// The verifier itself (`None` for [`Builtin::Off`]).
    pub fn verifier(self) -> Option<std::sync::Arc<dyn Verifier>> {
        match self {
            Builtin::Recommended => Some(std::sync::Arc::new(Recommended::default())),
            Builtin::Guard => Some(std::sync::Arc::new(ConsistencyGuard::default())),
            Builtin::Learned => Some(std::sync::Arc::new(LearnedVerifier::default())),
            Builtin::Off => None,
        }
    }
}
