//! How reports are printed: aligned `key value` lines for people, one JSON object with
//! `--json` for scripts.

use serde_json::{Map, Value};

/// A report's fields, in order.
#[derive(Default)]
pub struct Report {
    fields: Map<String, Value>,
    text: Vec<(String, String)>,
}

impl Report {
    /// Adds a field shown the same way in text and JSON.
    pub fn field(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        let shown = match &value {
            Value::String(s) => s.clone(),
            Value::Null => "<none>".into(),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        self.fields.insert(key.to_owned(), value);
        self.text.push((key.to_owned(), shown));
        self
    }

    /// Adds a JSON-only field (the text shows it another way, or not at all).
    pub fn json_only(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a text-only line.
    pub fn text_only(&mut self, key: &str, shown: impl Into<String>) -> &mut Self {
        self.text.push((key.to_owned(), shown.into()));
        self
    }

    pub fn print(&self, json: bool) {
        if json {
            println!("{}", Value::Object(self.fields.clone()));
        } else {
            for (k, v) in &self.text {
                println!("{k:<15} {v}");
            }
        }
    }
}

/// Unix seconds as ISO 8601 UTC (`2026-11-30T06:51:55Z`).
pub fn iso8601(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::iso8601;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59Z");
    }
}
