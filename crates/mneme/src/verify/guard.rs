//! The consistency guard: rules that find where two near-identical queries want different
//! answers. Each rule compares one facet of the two texts; any difference refuses the
//! candidate. General by construction: no rule knows a particular question.

use super::lexicon;
use super::text::{tokens, Kind, Token};
use super::{Refusal, Verifier};
use std::collections::BTreeSet;

/// A way the two queries differ that changes the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Conflict {
    /// Different numbers, amounts, dates or ordinals ("2+2" / "2+3", "48213" / "48231").
    Numbers,
    /// Different arithmetic or comparison symbols ("2+2" / "2*2").
    Operators,
    /// One is negated, the other is not (words, contractions, negating prefixes).
    Negation,
    /// One uses a word where the other uses its opposite ("buy" / "sell").
    Antonym,
    /// The same terms in the opposite direction or order ("celsius to fahrenheit").
    Order,
    /// A named entity of one is missing from the other ("France" / "Germany").
    Entity,
    /// They ask for another kind of answer ("who" / "when", "how much" / "how long").
    AnswerType,
    /// Another moment, when both name one ("today" / "tomorrow", months, weekdays).
    Time,
    /// Another scope ("all" / "some", "only").
    Quantifier,
    /// Another unit or currency ("km" / "miles", "$" / "€").
    Unit,
}

impl Conflict {
    /// Every rule, in the order they are checked.
    pub const ALL: [Conflict; 10] = [
        Conflict::Numbers,
        Conflict::Operators,
        Conflict::Negation,
        Conflict::Antonym,
        Conflict::Order,
        Conflict::Entity,
        Conflict::AnswerType,
        Conflict::Time,
        Conflict::Quantifier,
        Conflict::Unit,
    ];

    /// A short name (`numbers`, `negation`, …) for reports and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::Numbers => "numbers",
            Conflict::Operators => "operators",
            Conflict::Negation => "negation",
            Conflict::Antonym => "antonym",
            Conflict::Order => "order",
            Conflict::Entity => "entity",
            Conflict::AnswerType => "answer_type",
            Conflict::Time => "time",
            Conflict::Quantifier => "quantifier",
            Conflict::Unit => "unit",
        }
    }
}

/// What the guard reads in one text.
struct Facets {
    words: Vec<String>,
    numbers: Vec<String>,
    operators: Vec<String>,
    negated: bool,
    entities: BTreeSet<String>,
    answer_types: BTreeSet<&'static str>,
    times: BTreeSet<String>,
    quantifiers: BTreeSet<String>,
    units: BTreeSet<String>,
}

impl Facets {
    fn of(text: &str) -> Self {
        let toks: Vec<Token> = tokens(text);
        let words: Vec<String> = toks
            .iter()
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.text.clone())
            .collect();
        let mut numbers: Vec<String> = toks
            .iter()
            .filter(|t| t.kind == Kind::Number)
            .map(|t| t.text.clone())
            .collect();
        numbers.sort();
        let is_operator = |t: &&Token| t.kind == Kind::Symbol && !lexicon::is_unit(&t.text);
        let mut operators: Vec<String> = toks
            .iter()
            .filter(is_operator)
            .map(|t| t.text.clone())
            .collect();
        operators.sort();
        let negations = words.iter().filter(|w| lexicon::is_negation(w)).count();
        let answer_types = words
            .iter()
            .enumerate()
            .filter_map(|(i, w)| lexicon::answer_type(w, words.get(i + 1).map(String::as_str)))
            .collect();
        let set = |keep: fn(&str) -> bool| -> BTreeSet<String> {
            toks.iter()
                .filter(|t| keep(&t.text))
                .map(|t| t.text.clone())
                .collect()
        };
        Facets {
            numbers,
            operators,
            negated: negations % 2 == 1,
            entities: toks
                .iter()
                .filter(|t| t.proper)
                .map(|t| t.text.clone())
                .collect(),
            answer_types,
            times: set(lexicon::is_time_word),
            quantifiers: set(lexicon::is_quantifier),
            // A unit counts beside a number ("5 km", "$ 5"): alone, "am" or "m" are words.
            units: toks
                .iter()
                .enumerate()
                .filter(|(i, t)| {
                    let number_at = |j: Option<usize>| {
                        j.and_then(|j| toks.get(j))
                            .is_some_and(|n| n.kind == Kind::Number)
                    };
                    lexicon::is_unit(&t.text)
                        && (number_at(i.checked_sub(1)) || number_at(Some(i + 1)))
                })
                .map(|(_, t)| t.text.clone())
                .collect(),
            words,
        }
    }

    fn has(&self, w: &str) -> bool {
        self.words.iter().any(|x| x == w)
    }
}

/// The rule-based verifier. `ConsistencyGuard::default()` checks every rule; `without` turns
/// rules off for texts where they misfire.
#[derive(Debug, Clone)]
pub struct ConsistencyGuard {
    rules: BTreeSet<Conflict>,
}

impl Default for ConsistencyGuard {
    fn default() -> Self {
        ConsistencyGuard {
            rules: Conflict::ALL.into_iter().collect(),
        }
    }
}

impl ConsistencyGuard {
    /// The guard without `rule`.
    pub fn without(mut self, rule: Conflict) -> Self {
        self.rules.remove(&rule);
        self
    }

    /// The first conflict between `a` and `b` among the enabled rules.
    pub fn first_conflict(&self, a: &str, b: &str) -> Option<Conflict> {
        self.first_enabled(&Self::conflicts(a, b))
    }

    /// The first of `found` (as [`ConsistencyGuard::conflicts`] lists them) that this guard
    /// checks.
    pub(super) fn first_enabled(&self, found: &[Conflict]) -> Option<Conflict> {
        found.iter().copied().find(|r| self.rules.contains(r))
    }

    /// The guard's refusal for `found`, if any: what `check` returns.
    pub(super) fn verdict(&self, found: &[Conflict]) -> Result<(), Refusal> {
        match self.first_enabled(found) {
            None => Ok(()),
            Some(c) => Err(Refusal(format!("guard: {}", c.as_str()))),
        }
    }

    /// Every conflict between `a` and `b` (all rules, enabled or not): the learned verifier's
    /// features.
    pub fn conflicts(a: &str, b: &str) -> Vec<Conflict> {
        let (fa, fb) = (Facets::of(a), Facets::of(b));
        Conflict::ALL
            .into_iter()
            .filter(|r| conflicts(*r, &fa, &fb))
            .collect()
    }
}

impl Verifier for ConsistencyGuard {
    fn check(&self, query: &str, cached_query: &str, _similarity: f64) -> Result<(), Refusal> {
        self.verdict(&Self::conflicts(query, cached_query))
    }
}

fn conflicts(rule: Conflict, a: &Facets, b: &Facets) -> bool {
    match rule {
        Conflict::Numbers => a.numbers != b.numbers,
        Conflict::Operators => a.operators != b.operators,
        Conflict::Negation => {
            a.negated != b.negated || prefix_negated(a, b) || prefix_negated(b, a)
        }
        Conflict::Antonym => lexicon::ANTONYMS.iter().any(|(x, y)| {
            (a.has(x) && !a.has(y) && b.has(y) && !b.has(x))
                || (a.has(y) && !a.has(x) && b.has(x) && !b.has(y))
        }),
        Conflict::Order => swapped(&a.words, &b.words),
        Conflict::Entity => {
            let missing = |x: &Facets, y: &Facets| x.entities.iter().any(|e| !y.has(e));
            missing(a, b) || missing(b, a)
        }
        Conflict::AnswerType => {
            !a.answer_types.is_empty()
                && !b.answer_types.is_empty()
                && a.answer_types != b.answer_types
        }
        // Both must name a moment: "today" added to a question usually changes nothing.
        Conflict::Time => !a.times.is_empty() && !b.times.is_empty() && a.times != b.times,
        Conflict::Quantifier => a.quantifiers != b.quantifiers,
        Conflict::Unit => a.units != b.units,
    }
}

/// A word of `a` appears in `b` only with a negating prefix ("possible" / "impossible").
fn prefix_negated(a: &Facets, b: &Facets) -> bool {
    a.words.iter().filter(|w| w.len() >= 4).any(|w| {
        !b.has(w)
            && lexicon::NEGATING_PREFIXES.iter().any(|p| {
                b.words.iter().any(|x| {
                    // "impossible" already counts as a negation word: "not possible" matches it.
                    !lexicon::is_negation(x)
                        && x.len() == p.len() + w.len()
                        && x.starts_with(p)
                        && x.ends_with(w.as_str())
                })
            })
    })
}

/// The same content words, with two of them exchanged around a word that gives a direction
/// ("celsius to fahrenheit" / "fahrenheit to celsius", "dog bites man" / "man bites dog"). A
/// phrase moved as a whole ("in Python, how do I sort" / "how do I sort in Python") is not.
fn swapped(a: &[String], b: &[String]) -> bool {
    let content = |w: &[String]| -> Vec<String> {
        w.iter()
            .filter(|x| !lexicon::is_stopword(x) || lexicon::is_directional(x))
            .cloned()
            .collect()
    };
    let (ca, cb) = (content(a), content(b));
    if ca.len() != cb.len() || ca == cb {
        return false;
    }
    let mut sa = ca.clone();
    let mut sb = cb.clone();
    sa.sort();
    sb.sort();
    if sa != sb {
        return false;
    }
    let differ: Vec<usize> = (0..ca.len()).filter(|&i| ca[i] != cb[i]).collect();
    match differ.as_slice() {
        [i, j] => {
            ca[*i] == cb[*j]
                && ca[*j] == cb[*i]
                && ca[*i.min(j)..=*i.max(j)]
                    .iter()
                    .any(|w| lexicon::is_directional(w))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(a: &str, b: &str) -> Option<Conflict> {
        ConsistencyGuard::default().first_conflict(a, b)
    }

    #[test]
    fn each_rule_refuses_its_trap() {
        let traps = [
            ("What is 2+2?", "What is 2+3?", Conflict::Numbers),
            (
                "Where is my order 48213?",
                "Where is my order 48231?",
                Conflict::Numbers,
            ),
            (
                "How do I get five free credits?",
                "How do I get 6 free credits?",
                Conflict::Numbers,
            ),
            (
                "Who won the 2018 World Cup?",
                "Who won the 2022 World Cup?",
                Conflict::Numbers,
            ),
            ("What is 6+3?", "What is 6*3?", Conflict::Operators),
            (
                "Is it safe to eat raw eggs?",
                "Is it not safe to eat raw eggs?",
                Conflict::Negation,
            ),
            (
                "Why can I log in?",
                "Why can't I log in?",
                Conflict::Negation,
            ),
            (
                "Is time travel possible?",
                "Is time travel impossible?",
                Conflict::Negation,
            ),
            (
                "How do I buy bitcoin?",
                "How do I sell bitcoin?",
                Conflict::Antonym,
            ),
            (
                "How do I enable two-factor login?",
                "How do I disable two-factor login?",
                Conflict::Antonym,
            ),
            (
                "How do I convert celsius to fahrenheit?",
                "How do I convert fahrenheit to celsius?",
                Conflict::Order,
            ),
            (
                "Is a whale bigger than a shark?",
                "Is a shark bigger than a whale?",
                Conflict::Order,
            ),
            (
                "What is the capital of France?",
                "What is the capital of Germany?",
                Conflict::Entity,
            ),
            (
                "Who invented the telephone?",
                "When was the telephone invented?",
                Conflict::AnswerType,
            ),
            (
                "How much does a Tesla cost?",
                "How long does a Tesla last?",
                Conflict::AnswerType,
            ),
            (
                "What is the weather today?",
                "What is the weather tomorrow?",
                Conflict::Time,
            ),
            (
                "Do all birds fly?",
                "Do some birds fly?",
                Conflict::Quantifier,
            ),
            ("How far is 10 km?", "How far is 10 miles?", Conflict::Unit),
        ];
        for (a, b, rule) in traps {
            assert_eq!(conflict(a, b), Some(rule), "{a} / {b}");
            assert_eq!(
                conflict(b, a),
                Some(rule),
                "{b} / {a} (rules are symmetric)"
            );
        }
    }

    #[test]
    fn paraphrases_pass() {
        let same = [
            (
                "How do I reset my password?",
                "How can I reset my password?",
            ),
            (
                "What's the capital of France?",
                "What is the capital city of France?",
            ),
            (
                "In Python, how do I sort a list?",
                "How do I sort a list in Python?",
            ),
            (
                "Is it impossible to learn Rust?",
                "Is it not possible to learn Rust?",
            ),
            ("What is 2 + 2?", "what is 2+2"),
            (
                "How do I cancel my subscription?",
                "I want to cancel my subscription",
            ),
            (
                "Why can't I log in to my account?",
                "Why am I unable to log in to my account?",
            ),
        ];
        for (a, b) in same {
            assert_eq!(conflict(a, b), None, "{a} / {b}");
        }
    }

    #[test]
    fn rules_can_be_turned_off() {
        let g = ConsistencyGuard::default().without(Conflict::Entity);
        assert_eq!(
            g.first_conflict("Capital of France?", "Capital of Germany?"),
            None
        );
        assert!(g.check("What is 2+2?", "What is 2+3?", 0.99).is_err());
    }
}
