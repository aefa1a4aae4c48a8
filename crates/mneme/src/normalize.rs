//! Query normalisation and the exact-layer hash (compat with mneme-cache 1.0).
//!
//! The key is: strip, collapse each whitespace run to one U+0020, then full Unicode case folding
//! (Python's `str.casefold`: C+F mappings, no Turkic rules, no NFC). The hash is the lowercase hex
//! SHA-256 of the key's UTF-8 bytes. Both must match Python byte for byte, because Rust and Python
//! processes share one store and look rows up by this hash.

use caseless::Caseless;
use sha2::{Digest, Sha256};

/// Python's `str.isspace` set: exactly these 29 code points.
///
/// `char::is_whitespace` differs (it lacks U+001C–U+001F), so the set is explicit.
pub fn is_python_space(c: char) -> bool {
    matches!(
        c,
        '\u{09}'..='\u{0D}'
            | '\u{1C}'..='\u{20}'
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
    )
}

/// Code points that gained a case folding in Unicode 16.0.
///
/// `caseless` ships Unicode 16 tables; the reference (Python 3.13, Unicode 15.1) leaves these
/// unassigned characters unchanged, so we do too.
fn folds_only_after_unicode_15_1(c: char) -> bool {
    matches!(
        c,
        '\u{1C89}' | '\u{A7CB}' | '\u{A7CC}' | '\u{A7DA}' | '\u{A7DC}' | '\u{10D50}'..='\u{10D65}'
    )
}

/// Returns the normalised cache key of `query`.
///
/// Idempotent: `normalize(&normalize(q)) == normalize(q)`.
pub fn normalize(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut pending_space = false;
    for c in query.chars() {
        if is_python_space(c) {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        fold_into(c, &mut out);
    }
    out
}

fn fold_into(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else if folds_only_after_unicode_15_1(c) {
        out.push(c);
    } else {
        out.extend(std::iter::once(c).default_case_fold());
    }
}

/// Lowercase hex SHA-256 of the UTF-8 bytes of `key` (64 characters).
pub fn hash_query(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        hex.push(HEX[(byte >> 4) as usize] as char);
        hex.push(HEX[(byte & 15) as usize] as char);
    }
    hex
}

/// The cache key for `query`: normalised when `normalize` is on, verbatim otherwise.
pub fn cache_key(query: &str, normalize_on: bool) -> std::borrow::Cow<'_, str> {
    if normalize_on {
        std::borrow::Cow::Owned(normalize(query))
    } else {
        std::borrow::Cow::Borrowed(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference cases, checked against Python's own normalisation in the interop tests.
    const GOLDEN: &[(&str, &str, &str)] = &[
        (
            "  Hello   World  ",
            "hello world",
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
        ),
        (
            "STRAßE",
            "strasse",
            "16d96952087774fee069b7585d3991b24d90c181c09b2129b4908c35baa7f0c0",
        ),
        (
            "ΣΑΣ",
            "σασ",
            "54727c9d3baefbcb4d3824f184a8a46ee56b248263d22ca41127a7282d586318",
        ),
        (
            "a\u{00A0}\u{00A0}b",
            "a b",
            "c8687a08aa5d6ed2044328fa6a697ab8e96dc34291e8c2034ae8c38e6fcc6d65",
        ),
        (
            "a\u{001C}b",
            "a b",
            "c8687a08aa5d6ed2044328fa6a697ab8e96dc34291e8c2034ae8c38e6fcc6d65",
        ),
        (
            "How do I reset my password?",
            "how do i reset my password?",
            "b67ac733828f356f2be7f21cd84ed8f8d4c1cdb6cd01ee57c403dbf360911dff",
        ),
        (
            "",
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "İstanbul",
            "i\u{0307}stanbul",
            "4a4df120f7d1f3c286f58651abfcec2aade892ace635f96f02b946c96e6e1f86",
        ),
        (
            "ﬁ",
            "fi",
            "b4bdc848109722a383d0a972c6eb859f2abd29565b8c4cc7199e7c9eb708f1b7",
        ),
        (
            "\u{1E9E}",
            "ss",
            "a31fe9656fc8d3a459e623dc8204e6d0268f8df56d734dac3ca3262edb5db883",
        ),
        (
            "ΌΣΟΣ",
            "όσοσ",
            "98747c17bbbd44080251383d4f01d05a2e4bddcd5a44f405c61a80fd67323207",
        ),
        (
            "\u{01C5}",
            "\u{01C6}",
            "bfbc93eb6625192ace448c8ee42f084c65fa76c9ed63db5fbe034ae4e58c153c",
        ),
        (
            "\tTab\u{000B}Newline\n",
            "tab newline",
            "5834d30d144f5c8a5a7a7e4362f951e7781de1dedf248ffa2c9ec1735f3b6013",
        ),
        (
            "\u{0085}x\u{2028}y\u{3000}",
            "x y",
            "887fcea6a80333c6c02ae7e79735f0edad8d811f0b61431495f796f4bf6a7c19",
        ),
        (
            "Hello\u{200B}World",
            "hello\u{200B}world",
            "b8a413953f9f5b1b60b494711a5e92cc5f692d9d562bdcedfa582676cc50864a",
        ),
        (
            "caf\u{00E9}",
            "caf\u{00E9}",
            "850f7dc43910ff890f8879c0ed26fe697c93a067ad93a7d50f466a7028a9bf4e",
        ),
        (
            "cafe\u{0301}",
            "cafe\u{0301}",
            "81ef060bcd98adc7824eb5c1ada83c32491b16018e11e79f00ab9d09e04b015a",
        ),
    ];

    #[test]
    fn reference_keys_and_hashes() {
        for (input, key, hash) in GOLDEN {
            assert_eq!(normalize(input), *key, "key of {input:?}");
            assert_eq!(hash_query(&normalize(input)), *hash, "hash of {input:?}");
        }
    }

    #[test]
    fn python_whitespace_set_has_29_code_points() {
        let n = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| is_python_space(*c))
            .count();
        assert_eq!(n, 29);
        for not_space in ['\u{200B}', '\u{180E}', '\u{FEFF}'] {
            assert!(!is_python_space(not_space));
        }
    }

    #[test]
    fn unicode_16_additions_are_left_alone() {
        assert_eq!(normalize("\u{A7CB}\u{10D50}"), "\u{A7CB}\u{10D50}");
    }

    #[test]
    fn cache_key_respects_the_switch() {
        assert_eq!(cache_key(" A ", false), " A ");
        assert_eq!(cache_key(" A ", true), "a");
    }

    proptest::proptest! {
        #[test]
        fn normalisation_is_idempotent(s in "\\PC*") {
            let once = normalize(&s);
            proptest::prop_assert_eq!(normalize(&once), once);
        }
    }
}
