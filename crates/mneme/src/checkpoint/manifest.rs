//! `manifest.json`: what an archive holds, read and validated before anything is written.

use crate::error::{Error, Result};
use crate::metadata::{parse, Metadata, Value};

/// The only archive format version this library reads and writes.
pub const FORMAT_VERSION: i64 = 1;

/// The manifest of a checkpoint archive (docs/formats.md, "Archives").
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Manifest {
    /// Archive format version (1).
    pub format_version: i64,
    /// The store's schema version.
    pub schema_version: i64,
    /// The embedder the vectors were made with; `None` when the manifest omits it.
    pub embedder_fingerprint: Option<String>,
    /// Vector length (0 when the manifest omits it).
    pub embedder_dim: i64,
    /// `numpy` or `hnsw` (informational).
    pub index_backend: String,
    /// The source store's label (informational: the `store` member is always SQLite).
    pub store_backend: String,
    /// The index dtype when dumped, if recorded.
    pub vector_dtype: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Namespaces holding entries, sorted.
    pub namespaces: Vec<String>,
}

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::checkpoint(
        format!("the archive's manifest.json is malformed: {why}"),
        "use an archive written by dumps() (mneme or mneme-cache 1.0)",
    )
}

fn int_field(m: &Metadata, key: &str, default: i64) -> Result<i64> {
    match m.get(key) {
        None => Ok(default),
        Some(Value::Int(i)) => Ok(*i),
        Some(other) => Err(malformed(format!(
            "{key} must be an integer, found {}",
            other.to_json()
        ))),
    }
}

fn str_field(m: &Metadata, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(malformed(format!(
            "{key} must be a string, found {}",
            other.to_json()
        ))),
    }
}

impl Manifest {
    /// Parses manifest text: UTF-8 JSON, an object, with the documented types. Missing keys
    /// take mneme-cache 1.0's defaults (fingerprint none, dim 0, format 1, store `sqlite`).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] for anything else.
    pub fn parse(bytes: &[u8]) -> Result<Manifest> {
        let text = std::str::from_utf8(bytes).map_err(|_| malformed("not UTF-8"))?;
        let parsed = parse(text).map_err(|e| match e {
            Error::InvalidMetadata(m) => malformed(m.problem()),
            other => malformed(other),
        })?;
        let m = match parsed {
            Value::Object(m) => m,
            _ => return Err(malformed("not a JSON object")),
        };
        let namespaces = match m.get("namespaces") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(malformed(format!(
                        "namespaces must hold strings, found {}",
                        other.to_json()
                    ))),
                })
                .collect::<Result<_>>()?,
            Some(other) => {
                return Err(malformed(format!(
                    "namespaces must be a list, found {}",
                    other.to_json()
                )))
            }
        };
        Ok(Manifest {
            format_version: int_field(&m, "format_version", FORMAT_VERSION)?,
            schema_version: int_field(&m, "schema_version", 1)?,
            embedder_fingerprint: str_field(&m, "embedder_fingerprint")?,
            embedder_dim: int_field(&m, "embedder_dim", 0)?,
            index_backend: str_field(&m, "index_backend")?.unwrap_or_else(|| "numpy".into()),
            store_backend: str_field(&m, "store_backend")?.unwrap_or_else(|| "sqlite".into()),
            vector_dtype: str_field(&m, "vector_dtype")?,
            created_at: int_field(&m, "created_at", 0)?,
            namespaces,
        })
    }

    /// Python's `json.dumps(manifest, indent=2, sort_keys=True)`, as mneme-cache 1.0 writes it.
    pub fn to_json(&self) -> String {
        let q = |s: &str| Value::String(s.to_owned()).to_json();
        let mut fields: Vec<(&str, String)> = vec![
            ("created_at", self.created_at.to_string()),
            ("embedder_dim", self.embedder_dim.to_string()),
            (
                "embedder_fingerprint",
                self.embedder_fingerprint
                    .as_deref()
                    .map_or("null".into(), q),
            ),
            ("format_version", self.format_version.to_string()),
            ("index_backend", q(&self.index_backend)),
            ("namespaces", String::new()),
            ("schema_version", self.schema_version.to_string()),
            ("store_backend", q(&self.store_backend)),
            (
                "vector_dtype",
                self.vector_dtype.as_deref().map_or("null".into(), q),
            ),
        ];
        fields.sort_by_key(|(k, _)| *k);
        let mut out = String::from("{\n");
        for (i, (key, value)) in fields.iter().enumerate() {
            out.push_str(&format!("  \"{key}\": "));
            if *key == "namespaces" {
                if self.namespaces.is_empty() {
                    out.push_str("[]");
                } else {
                    out.push_str("[\n");
                    let items: Vec<String> = self
                        .namespaces
                        .iter()
                        .map(|n| format!("    {}", q(n)))
                        .collect();
                    out.push_str(&items.join(",\n"));
                    out.push_str("\n  ]");
                }
            } else {
                out.push_str(value);
            }
            out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by mneme-cache 1.0.1's `dumps()`.
    const PEER: &str = "{\n  \"created_at\": 1795565245,\n  \"embedder_dim\": 8,\n  \"embedder_fingerprint\": \"probe:8\",\n  \"format_version\": 1,\n  \"index_backend\": \"numpy\",\n  \"namespaces\": [\n    \"b\",\n    \"default\"\n  ],\n  \"schema_version\": 1,\n  \"store_backend\": \"sqlite\",\n  \"vector_dtype\": \"float32\"\n}";

    #[test]
    fn round_trips_mneme_cache_text_byte_for_byte() {
        let m = Manifest::parse(PEER.as_bytes()).unwrap();
        assert_eq!(m.namespaces, ["b", "default"]);
        assert_eq!(m.to_json(), PEER);
    }

    #[test]
    fn defaults_and_type_errors() {
        let m = Manifest::parse(b"{}").unwrap();
        assert_eq!(
            (
                m.format_version,
                m.embedder_dim,
                m.embedder_fingerprint,
                m.store_backend.as_str()
            ),
            (1, 0, None, "sqlite")
        );
        for bad in [
            &b"[]"[..],
            b"\xff\xfe",
            b"{\"embedder_dim\": \"8\"}",
            b"{\"embedder_fingerprint\": 7}",
            b"{\"namespaces\": \"a\"}",
            b"{\"namespaces\": [1]}",
            b"{\"format_version\": 1.0}",
            b"{",
        ] {
            assert!(
                matches!(Manifest::parse(bad), Err(Error::Checkpoint { .. })),
                "{bad:?}"
            );
        }
    }
}
