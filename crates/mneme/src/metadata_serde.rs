//! Metadata as serde data (feature `serde`): an object in key order; an integer beyond i64
//! as its decimal text (serde has no arbitrary-precision integer); NaN and the infinities as
//! whatever the format makes of a non-finite float (`null` in JSON). The file format is
//! untouched: stores keep Python's `json.dumps` text.

use crate::metadata::{Metadata, Value};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::BigInt(text) => s.serialize_str(text),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(text) => s.serialize_str(text),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(m) => m.serialize(s),
        }
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or_else(|_| Value::BigInt(u.to_string()), Value::Int))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        MetadataVisitor.visit_map(map).map(Value::Object)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct MetadataVisitor;

impl<'de> Visitor<'de> for MetadataVisitor {
    type Value = Metadata;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
        let mut m = Metadata::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            m.insert(k, v);
        }
        Ok(m)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Metadata, D::Error> {
        d.deserialize_map(MetadataVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_json() {
        let m = Metadata::from_json(
            r#"{"b": 1, "a": [true, null, 2.5, "x"], "n": {"k": 18446744073709551615}}"#,
        )
        .unwrap();
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text, r#"{"b":1,"a":[true,null,2.5,"x"],"n":{"k":"18446744073709551615"}}"#,
            "key order kept; an integer beyond i64 as its decimal text"
        );
        let back: Metadata = serde_json::from_str(&text).unwrap();
        assert_eq!(back.get("b"), Some(&Value::Int(1)));
        let hit = crate::Hit {
            response: "r".into(),
            similarity: 0.9,
            confidence: 0.8,
            age_seconds: 3,
            layer: crate::HitLayer::Semantic,
            namespace: "default".into(),
            metadata: m,
        };
        let json = serde_json::to_value(&hit).unwrap();
        assert_eq!(json["layer"], "semantic");
        let again: crate::Hit = serde_json::from_value(json).unwrap();
        assert_eq!(again.layer, crate::HitLayer::Semantic);
        assert_eq!(again.metadata.len(), 3);
        let dtype: crate::VectorDtype = serde_json::from_str(r#""int8""#).unwrap();
        assert_eq!(dtype, crate::VectorDtype::Int8);
        assert!(serde_json::from_str::<crate::VectorDtype>(r#""float64""#).is_err());
    }
}
