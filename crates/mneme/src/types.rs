//! The small value types of the public API: option enums and the records `get`, `stats` and
//! `health` return. String forms match mneme-cache 1.0 so files and Python code agree.

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    (
        $(#[$doc:meta])* $name:ident, $err:expr;
        $( $(#[$vdoc:meta])* $variant:ident => $s:literal $(| $alias:literal)* ),+ $(,)?
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vdoc])* $variant ),+
        }

        impl $name {
            /// The canonical string form (as mneme-cache 1.0 spells it).
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $s ),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// As its string form (`"float32"`, `"semantic"`, …).
        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        /// From its string form, aliases included.
        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $( $s $(| $alias)* => Ok($name::$variant), )+
                    other => Err($err(other)),
                }
            }
        }
    };
}

string_enum! {
    /// How the index stores vectors. The store always keeps float32.
    #[derive(Default)]
    VectorDtype, |s: &str| Error::quantization(
        format!("unknown vector_dtype {s:?}"),
        "use one of \"float32\", \"float16\", \"int8\"",
    );
    /// 4 bytes per element, exact (the default).
    #[default]
    Float32 => "float32",
    /// 2 bytes per element, IEEE binary16.
    Float16 => "float16",
    /// 1 byte per element, symmetric scale 127.
    Int8 => "int8",
}

impl VectorDtype {
    /// Bytes per element in the index.
    pub fn bytes_per_element(self) -> usize {
        match self {
            VectorDtype::Float32 => 4,
            VectorDtype::Float16 => 2,
            VectorDtype::Int8 => 1,
        }
    }
}

string_enum! {
    /// Which vector index serves Layer 2.
    #[derive(Default)]
    IndexBackend, |s: &str| Error::invalid_argument(
        format!("unknown index_backend {s:?}"),
        "use \"auto\", \"numpy\" (alias \"flat\") or \"hnsw\"",
    );
    /// Flat below 500 000 rows, HNSW above (chosen once at open; the default).
    #[default]
    Auto => "auto",
    /// Exact brute-force scan (called `numpy` in mneme-cache 1.0).
    Flat => "numpy" | "flat",
    /// Approximate graph index.
    Hnsw => "hnsw",
}

string_enum! {
    /// How several processes sharing one store see each other's writes.
    #[derive(Default)]
    MultiProcessMode, |s: &str| Error::invalid_argument(
        format!("unknown multi_process_mode {s:?}"),
        "use \"single\", \"stale-tolerant\" or \"mmap-shared\" (with hyphens)",
    );
    /// No coordination: Layer 2 sees other processes' writes after a reopen (the default).
    #[default]
    Single => "single",
    /// Refresh the index from the store's version counter on `get`.
    StaleTolerant => "stale-tolerant",
    /// Share one memory-mapped vector matrix between processes on a host.
    MmapShared => "mmap-shared",
}

string_enum! {
    /// Which layer produced a [`Hit`].
    HitLayer, |s: &str| Error::invalid_argument(
        format!("unknown hit layer {s:?}"),
        "use \"exact\" or \"semantic\"",
    );
    /// The normalised-query hash matched.
    Exact => "exact",
    /// A stored embedding was similar enough.
    Semantic => "semantic",
}

/// A cache hit.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Hit {
    /// The cached response, verbatim.
    pub response: String,
    /// 1.0 for exact hits; the index score for semantic hits.
    pub similarity: f64,
    /// The confidence function's value.
    pub confidence: f64,
    /// `now - created_at` in seconds (negative under clock skew).
    pub age_seconds: i64,
    /// Which layer answered.
    pub layer: HitLayer,
    /// The namespace the caller asked for.
    pub namespace: String,
    /// A copy of the stored metadata.
    pub metadata: Metadata,
}

/// Counters and sizes, for one namespace or all of them.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// The namespace asked for; `None` for the aggregate.
    pub namespace: Option<String>,
    /// Rows in the store (always read from the store).
    pub entries: u64,
    /// Exact-layer hits.
    pub hits_exact: u64,
    /// Semantic-layer hits.
    pub hits_semantic: u64,
    /// Gets that returned nothing.
    pub misses: u64,
    /// Rows removed by LRU eviction or quotas.
    pub evictions: u64,
    /// Rows removed because their TTL elapsed.
    pub expirations: u64,
    /// The current embedder's fingerprint.
    pub embedder_fingerprint: String,
    /// The index dtype.
    pub vector_dtype: VectorDtype,
    /// `entries × dim × bytes per element`.
    pub memory_bytes_estimate: u64,
    /// Bytes of the index's vector storage, spare capacity and tombstones included (index-wide).
    pub index_memory_bytes: Option<u64>,
    /// Soft-deleted index rows still holding memory (index-wide).
    pub index_tombstone_count: Option<u64>,
    /// Bytes of an HNSW graph's links and node tables, beside `index_memory_bytes`' vectors
    /// (index-wide); `None` for the flat index.
    pub index_graph_bytes: Option<u64>,
}

/// A health report; `health()` never fails on integrity problems, it reports them.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Health {
    /// Equal to `integrity_ok`.
    pub healthy: bool,
    /// The store's schema version (1 when missing).
    pub schema_version: i64,
    /// The store's integrity check passed.
    pub integrity_ok: bool,
    /// The stored fingerprint equals the embedder's.
    pub embedder_fingerprint_match: bool,
    /// Rows in the store.
    pub entries: u64,
    /// Namespaces holding at least one row.
    pub namespaces: u64,
    /// Age of the oldest row, `None` when empty.
    pub oldest_entry_age_seconds: Option<i64>,
    /// `"numpy"` for the flat index, `"hnsw"` for HNSW.
    pub index_backend: String,
    /// `memory`, `sqlite`, … or a custom store's label.
    pub store_backend: String,
    /// The index dtype.
    pub vector_dtype: VectorDtype,
    /// The configured multi-process mode.
    pub multi_process_mode: MultiProcessMode,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_their_1_0_spellings() {
        assert_eq!("numpy".parse::<IndexBackend>().unwrap(), IndexBackend::Flat);
        assert_eq!("flat".parse::<IndexBackend>().unwrap(), IndexBackend::Flat);
        assert_eq!(IndexBackend::Flat.as_str(), "numpy");
        assert_eq!(
            "stale-tolerant".parse::<MultiProcessMode>().unwrap(),
            MultiProcessMode::StaleTolerant
        );
        assert!(matches!(
            "stale_tolerant".parse::<MultiProcessMode>(),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            "float64".parse::<VectorDtype>(),
            Err(Error::Quantization(_))
        ));
        assert_eq!(VectorDtype::Int8.bytes_per_element(), 1);
    }
}
