//! Tokens of a short query, as the guard reads them: words (lower-cased, with their original
//! capitalisation remembered), numbers (digits and number words, as values) and the symbols
//! that change an answer (`+ - * / % $ € £ ^ =`).

use super::lexicon;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Word,
    /// A value, canonical: `2`, `2.5`, `1000`; ordinals as `2nd`.
    Number,
    Symbol,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub text: String,
    pub kind: Kind,
    /// Written with a capital (or mixed case, or all capitals) where a sentence does not start.
    pub proper: bool,
}

/// Splits `s` into tokens. Letters and digits in one run are split (`4gb` -> `4`, `gb`);
/// apostrophes inside words stay (`don't`); `1,000.5` is one number.
pub(super) fn tokens(s: &str) -> Vec<Token> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut sentence_start = true;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || ((chars[i] == '.' || chars[i] == ',')
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            let raw: String = chars[start..i].iter().filter(|c| **c != ',').collect();
            let suffix: String = chars[i..].iter().take(2).collect::<String>().to_lowercase();
            let ordinal = matches!(suffix.as_str(), "st" | "nd" | "rd" | "th")
                && !chars.get(i + 2).is_some_and(|c| c.is_alphanumeric());
            if ordinal {
                i += 2;
            }
            out.push(Token {
                text: canonical_number(&raw, ordinal),
                kind: Kind::Number,
                proper: false,
            });
            sentence_start = false;
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphabetic()
                    || (chars[i] == '\'' || chars[i] == '’')
                        && chars.get(i + 1).is_some_and(|c| c.is_alphabetic()))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect::<String>().replace('’', "'");
            let lower = word.to_lowercase();
            let capitalised = word.chars().next().is_some_and(char::is_uppercase);
            let inner_caps = word.chars().skip(1).any(char::is_uppercase);
            let proper = (inner_caps || (capitalised && !sentence_start))
                && lower != "i"
                && !lower.starts_with("i'");
            out.push(Token {
                text: lower,
                kind: Kind::Word,
                proper,
            });
            sentence_start = false;
        } else {
            if matches!(c, '.' | '?' | '!' | ':' | ';' | '"' | '(' | '\n') {
                sentence_start = true;
            }
            if lexicon::SYMBOLS.contains(&c) {
                out.push(Token {
                    text: c.to_string(),
                    kind: Kind::Symbol,
                    proper: false,
                });
            }
            i += 1;
        }
    }
    words_to_numbers(out)
}

/// `1,000.50` -> `1000.5`, `007` -> `7`; ordinals keep a suffix so that "2nd" is not "2".
fn canonical_number(raw: &str, ordinal: bool) -> String {
    let value = match raw.parse::<f64>() {
        Ok(v) => format_value(v),
        Err(_) => raw.to_owned(),
    };
    if ordinal {
        format!("{value}th")
    } else {
        value
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Replaces runs of number words by their value: "two hundred and five" -> `205`,
/// "third" -> `3th`, "a dozen" keeps "a" and gives `12`.
fn words_to_numbers(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let mut total = 0.0;
        let mut current = 0.0;
        let mut ordinal = false;
        let mut j = i;
        while j < tokens.len() && tokens[j].kind == Kind::Word {
            let w = tokens[j].text.as_str();
            if let Some(v) = lexicon::number_word(w) {
                current += v;
            } else if let Some(v) = lexicon::ordinal_word(w) {
                current += v;
                ordinal = true;
                j += 1;
                break;
            } else if let Some(scale) = lexicon::scale_word(w) {
                if j == i {
                    break; // "hundred" alone is not read as a number
                }
                if scale == 100.0 {
                    current = current.max(1.0) * scale;
                } else {
                    total += current.max(1.0) * scale;
                    current = 0.0;
                }
            } else if w == "and"
                && j > i
                && tokens
                    .get(j + 1)
                    .is_some_and(|t| lexicon::number_word(&t.text).is_some())
            {
                // "two hundred and five"
            } else {
                break;
            }
            j += 1;
        }
        if j > i {
            let v = format_value(total + current);
            out.push(Token {
                text: if ordinal { format!("{v}th") } else { v },
                kind: Kind::Number,
                proper: false,
            });
            i = j;
        } else {
            out.push(tokens[i].clone());
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        tokens(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn numbers_in_digits_and_words_are_values() {
        assert_eq!(texts("What is 2+2?"), ["what", "is", "2", "+", "2"]);
        assert_eq!(
            texts("order 48,213 for 1,000.50$"),
            ["order", "48213", "for", "1000.5", "$"]
        );
        assert_eq!(texts("two hundred and five people"), ["205", "people"]);
        assert_eq!(
            texts("the third time, 3rd floor"),
            ["the", "3th", "time", "3th", "floor"]
        );
        assert_eq!(texts("a 4GB drive"), ["a", "4", "gb", "drive"]);
        assert_eq!(texts("don't stop"), ["don't", "stop"]);
    }

    #[test]
    fn proper_nouns_are_capitalised_words_inside_a_sentence() {
        let t = tokens("Where is Paris? Is it in France, or is it NYC or iPhone?");
        let proper: Vec<_> = t
            .iter()
            .filter(|t| t.proper)
            .map(|t| t.text.as_str())
            .collect();
        assert_eq!(proper, ["paris", "france", "nyc", "iphone"]);
    }
}
