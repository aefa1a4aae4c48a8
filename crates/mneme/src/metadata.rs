//! Entry metadata: an order-preserving JSON model with Python's `json.dumps` encoding (compat).
//!
//! mneme-cache 1.0 stores metadata as `json.dumps(metadata)` text, and limits its size by that
//! text's length. To share files byte for byte we need the same text: ASCII-only with lowercase
//! `\uXXXX` escapes, `", "` and `": "` separators, floats in `repr` form, `NaN`/`Infinity`
//! tokens, integers of any size and key insertion order. `serde_json` cannot carry NaN or keep
//! Python's float spelling, hence this small model.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fmt::Write as _;

/// One JSON value as Python's `json` module sees it.
///
/// Equality is structural, with `NaN` equal to `NaN` (it round-trips as the same token).
#[derive(Debug, Clone)]
pub enum Value {
    /// `null` (Python `None`).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// An integer beyond 64 bits, as its canonical decimal text (Python ints are unbounded).
    BigInt(String),
    /// A float, including NaN and the infinities.
    Float(f64),
    /// A string.
    String(String),
    /// A list.
    Array(Vec<Value>),
    /// A nested object, in key insertion order.
    Object(Metadata),
}

/// A JSON object that keeps key insertion order, like a Python `dict`.
///
/// ```
/// use mneme::{Metadata, Value};
/// let mut m = Metadata::new();
/// m.insert("model", "gpt-x");
/// m.insert("tokens", 42);
/// assert_eq!(m.to_json(), r#"{"model": "gpt-x", "tokens": 42}"#);
/// assert_eq!(Metadata::from_json(&m.to_json()).unwrap(), m);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    entries: Vec<(String, Value)>,
    /// Key → position, built once the object is large enough for a linear search per insert to
    /// make parsing quadratic.
    index: Option<HashMap<String, usize>>,
}

/// Keys past which lookups go through the index.
const INDEX_FROM: usize = 32;

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Metadata {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    fn reindex(&mut self) {
        self.index = (self.entries.len() > INDEX_FROM).then(|| {
            let keys = self.entries.iter().enumerate();
            keys.map(|(i, (k, _))| (k.clone(), i)).collect()
        });
    }

    /// Sets `key`. Like a `dict`, an existing key keeps its position and takes the new value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        if let Some(at) = self.position(&key) {
            self.entries[at].1 = value;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_FROM {
            self.reindex();
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|at| &self.entries[at].1)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.position(key)?;
        let (_, value) = self.entries.remove(at);
        if self.index.is_some() {
            self.reindex();
        }
        Some(value)
    }

    /// The pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Python `json.dumps(self)` text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(16 * self.entries.len() + 2);
        write_object(self, &mut out);
        out
    }

    /// Parses JSON text whose top level is an object. Accepts `NaN`, `Infinity`, `-Infinity`.
    ///
    /// # Errors
    /// [`Error::InvalidMetadata`] when the text is not a JSON object.
    pub fn from_json(text: &str) -> Result<Self> {
        match parse(text)? {
            Value::Object(m) => Ok(m),
            _ => Err(Error::invalid_metadata(
                "metadata JSON is not an object",
                "store metadata as a JSON object (a dict in Python)",
            )),
        }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Metadata::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

macro_rules! value_from {
    ($($t:ty => |$x:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Value { fn from($x: $t) -> Self { $e } })*
    };
}

value_from! {
    bool => |x| Value::Bool(x),
    i32 => |x| Value::Int(x.into()),
    i64 => |x| Value::Int(x),
    u32 => |x| Value::Int(x.into()),
    f64 => |x| Value::Float(x),
    f32 => |x| Value::Float(x.into()),
    &str => |x| Value::String(x.to_owned()),
    String => |x| Value::String(x),
    Metadata => |x| Value::Object(x),
    Vec<Value> => |x| Value::Array(x),
    u64 => |x| i64::try_from(x).map(Value::Int).unwrap_or_else(|_| Value::BigInt(x.to_string())),
    i128 => |x| i64::try_from(x).map(Value::Int).unwrap_or_else(|_| Value::BigInt(x.to_string())),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::BigInt(a), Value::BigInt(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// Python `json.dumps(self)` text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_value(self, &mut out);
        out
    }
}

fn write_object(m: &Metadata, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in m.entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_string(k, out);
        out.push_str(": ");
        write_value(v, out);
    }
    out.push('}');
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(s) => out.push_str(s),
        Value::Float(f) => out.push_str(&python_float_repr(*f)),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => write_object(m, out),
    }
}

/// Python's `ensure_ascii` string encoding: everything outside `' '..='~'` is escaped.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation when the decimal exponent
/// is in [-4, 16), scientific with a signed two-digit exponent otherwise.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // `{:e}` gives the shortest round-trip digits as `d[.ddd]e<exp>`.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let point = exp + 1; // value = 0.<digits> × 10^point
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    if !(-4 < point && point <= 16) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        let point = point as usize;
        if point < digits.len() {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        } else {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
            out.push_str(".0");
        }
    }
    out
}

/// Parses any JSON value (with Python's extra tokens).
///
/// # Errors
/// [`Error::InvalidMetadata`] naming the byte offset of the first problem.
pub fn parse(text: &str) -> Result<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        text,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    text: &'a str,
}

/// Deep enough for any real metadata, shallow enough that hostile input cannot blow the stack.
const MAX_DEPTH: usize = 512;

impl Parser<'_> {
    fn err(&self, what: &str) -> Error {
        Error::invalid_metadata(
            format!("invalid metadata JSON at byte {}: {what}", self.pos),
            "write metadata through mneme or Python's json module",
        )
    }

    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        match self.s.get(self.pos) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') if self.eat("true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Value::Null),
            Some(b'N') if self.eat("NaN") => Ok(Value::Float(f64::NAN)),
            Some(b'I') if self.eat("Infinity") => Ok(Value::Float(f64::INFINITY)),
            Some(b'-') if self.eat("-Infinity") => Ok(Value::Float(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value> {
        self.pos += 1;
        let mut m = Metadata::new();
        self.skip_ws();
        if self.eat("}") {
            return Ok(Value::Object(m));
        }
        loop {
            self.skip_ws();
            if self.s.get(self.pos) != Some(&b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(":") {
                return Err(self.err("expected ':'"));
            }
            self.skip_ws();
            let v = self.value(depth + 1)?;
            m.insert(key, v);
            self.skip_ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("}") {
                return Ok(Value::Object(m));
            }
            return Err(self.err("expected ',' or '}'"));
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat("]") {
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("]") {
                return Ok(Value::Array(items));
            }
            return Err(self.err("expected ',' or ']'"));
        }
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.pos;
        let mut is_float = false;
        if self.s[self.pos] == b'-' {
            self.pos += 1;
        }
        while let Some(&c) = self.s.get(self.pos) {
            match c {
                b'0'..=b'9' => {}
                b'.' | b'e' | b'E' | b'+' => is_float = true,
                b'-' if is_float => {}
                _ => break,
            }
            self.pos += 1;
        }
        let lit = &self.text[start..self.pos];
        let digits = lit.trim_start_matches('-');
        if digits.is_empty() || (!is_float && digits.len() > 1 && digits.starts_with('0')) {
            return Err(self.err("malformed number"));
        }
        if is_float {
            return lit
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| self.err("malformed number"));
        }
        Ok(lit
            .parse::<i64>()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::BigInt(lit.to_owned())))
    }

    fn hex4(&mut self) -> Result<u32> {
        let hex = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let v = u32::from_str_radix(hex, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(&c) = self.s.get(self.pos) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.s.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = *self.s.get(self.pos).ok_or_else(|| self.err("bad escape"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{08}'),
                        b'f' => out.push('\u{0C}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) && self.eat("\\u") {
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    return Err(self.err("unpaired surrogate"));
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or_else(|| self.err("lone surrogate"))?);
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                _ => return Err(self.err("unterminated string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (1.5, "1.5"),
            (1e-5, "1e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (123456789.125, "123456789.125"),
            (1.2345e-7, "1.2345e-07"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(x), want, "repr of {x}");
        }
    }

    #[test]
    fn strings_escape_like_ensure_ascii() {
        let m: Metadata = [("k", "é")].into_iter().collect();
        assert_eq!(m.to_json(), r#"{"k": "\u00e9"}"#);
        assert_eq!(m.to_json().len(), 15);
        let m: Metadata = [("e", "😀\u{7f}\"\\\n\u{1}")].into_iter().collect();
        assert_eq!(m.to_json(), r#"{"e": "\ud83d\ude00\u007f\"\\\n\u0001"}"#);
    }

    #[test]
    fn round_trips_order_nan_and_big_ints() {
        let text = r#"{"b": 1, "a": [1.5, NaN, 1180591620717411303424, -Infinity], "n": {"z": null, "y": true}}"#;
        let m = Metadata::from_json(text).unwrap();
        assert_eq!(m.to_json(), text);
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "n"]);
    }

    #[test]
    fn duplicate_keys_keep_first_position_last_value() {
        let m = Metadata::from_json(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(m.to_json(), r#"{"a": 3, "b": 2}"#);
    }

    #[test]
    fn large_objects_behave_like_a_dict() {
        // 200k keys, then every key again: a linear search per key would take minutes here.
        let n = 200_000;
        let mut text = String::from("{");
        for i in (0..n).chain(0..n) {
            let _ = write!(text, "\"k{i}\": {i}, ");
        }
        text.push_str("\"k7\": \"last\"}");
        let mut m = Metadata::from_json(&text).unwrap();
        assert_eq!(m.len(), n);
        assert_eq!(m.iter().nth(7), Some(("k7", &Value::String("last".into()))));
        assert_eq!(m.get("k199999"), Some(&Value::Int(199_999)));
        assert_eq!(m.remove("k0"), Some(Value::Int(0)));
        assert_eq!(
            m.get("k1"),
            Some(&Value::Int(1)),
            "positions shift after a remove"
        );
        m.insert("k1", 10);
        m.insert("new", 1);
        assert_eq!(m.iter().next(), Some(("k1", &Value::Int(10))));
        assert_eq!(m.iter().last(), Some(("new", &Value::Int(1))));
        assert_eq!(m.len(), n);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            "",
            "[1]",
            "{",
            r#"{"a"}"#,
            r#"{"a": 01}"#,
            r#"{"a": "\ud800"}"#,
            "{} x",
            r#"{"a":"\u12"}"#,
        ] {
            assert!(Metadata::from_json(bad).is_err(), "{bad:?} should fail");
        }
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_finite_float_round_trips_through_repr(x in proptest::num::f64::ANY) {
            let text = python_float_repr(x);
            let back = match parse(&text).unwrap() { Value::Float(f) => f, other => panic!("{other:?}") };
            proptest::prop_assert!(back == x || (back.is_nan() && x.is_nan()));
        }

        #[test]
        fn any_string_round_trips(s in "\\PC*") {
            let m: Metadata = [("s", s.as_str())].into_iter().collect();
            proptest::prop_assert_eq!(Metadata::from_json(&m.to_json()).unwrap(), m);
        }
    }
}
