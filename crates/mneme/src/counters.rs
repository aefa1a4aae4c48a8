//! Per-namespace hit/miss/eviction/expiry counters and their persisted form (compat).
//!
//! Persisted in store meta `counters` as `{"<namespace>:<counter>": n, …}` in Python JSON style,
//! keys in first-increment order like 1.0's dict. Restoring splits each key at its *last* colon
//! (1.0 split at the first and lost namespaces such as `translate:en-de`). Persisting *merges*:
//! the stored value plus this process's increments since the last persist, so two processes
//! closing one file both count (1.0: the last to close won).

use crate::metadata::{Metadata, Value};
use std::collections::{HashMap, HashSet};

/// The five counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Exact-layer hits.
    HitsExact,
    /// Semantic-layer hits.
    HitsSemantic,
    /// Misses.
    Misses,
    /// Evicted rows.
    Evictions,
    /// Expired rows.
    Expirations,
}

impl Counter {
    const ALL: [Counter; 5] = [
        Counter::HitsExact,
        Counter::HitsSemantic,
        Counter::Misses,
        Counter::Evictions,
        Counter::Expirations,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Counter::HitsExact => "hits_exact",
            Counter::HitsSemantic => "hits_semantic",
            Counter::Misses => "misses",
            Counter::Evictions => "evictions",
            Counter::Expirations => "expirations",
        }
    }

    fn parse(s: &str) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

type Key = (String, Counter);

/// An insertion-ordered map of counter values.
#[derive(Debug, Default, Clone)]
struct Ordered {
    order: Vec<Key>,
    values: HashMap<Key, u64>,
}

impl Ordered {
    fn add(&mut self, key: &Key, by: u64) {
        match self.values.get_mut(key) {
            Some(v) => *v += by,
            None => {
                self.order.push(key.clone());
                self.values.insert(key.clone(), by);
            }
        }
    }

    fn remove_namespace(&mut self, ns: &str) {
        self.order.retain(|(n, _)| n != ns);
        self.values.retain(|(n, _), _| n != ns);
    }
}

/// Counter values for stats, plus what changed since the last persist.
#[derive(Debug, Default)]
pub struct Counters {
    totals: Ordered,
    deltas: Ordered,
    cleared: HashSet<String>,
}

/// Per-namespace (or aggregate) counter values, in [`Counter`] order.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CounterValues {
    /// Exact hits.
    pub hits_exact: u64,
    /// Semantic hits.
    pub hits_semantic: u64,
    /// Misses.
    pub misses: u64,
    /// Evictions.
    pub evictions: u64,
    /// Expirations.
    pub expirations: u64,
}

impl Counters {
    /// Adds `by` to a counter; increments of 0 are ignored.
    pub fn incr(&mut self, namespace: &str, counter: Counter, by: u64) {
        if by == 0 {
            return;
        }
        let key = (namespace.to_owned(), counter);
        self.totals.add(&key, by);
        self.deltas.add(&key, by);
    }

    /// Drops a namespace's counters (`clear_namespace`, `clear`).
    pub fn clear_namespace(&mut self, namespace: &str) {
        self.totals.remove_namespace(namespace);
        self.deltas.remove_namespace(namespace);
        self.cleared.insert(namespace.to_owned());
    }

    /// Values for one namespace, or summed over all.
    pub fn values(&self, namespace: Option<&str>) -> CounterValues {
        let mut out = CounterValues::default();
        for ((ns, c), v) in &self.totals.values {
            if namespace.is_some_and(|want| want != ns) {
                continue;
            }
            let slot = match c {
                Counter::HitsExact => &mut out.hits_exact,
                Counter::HitsSemantic => &mut out.hits_semantic,
                Counter::Misses => &mut out.misses,
                Counter::Evictions => &mut out.evictions,
                Counter::Expirations => &mut out.expirations,
            };
            *slot += v;
        }
        out
    }

    /// Loads persisted counters (the `counters` meta value). Returns false when the text is not
    /// a JSON object; the counters then start from zero.
    pub fn restore(&mut self, text: &str) -> bool {
        let Ok(m) = Metadata::from_json(text) else {
            return false;
        };
        for (key, value) in m.iter() {
            let (Some((ns, name)), Some(n)) = (key.rsplit_once(':'), as_count(value)) else {
                continue;
            };
            if let Some(c) = Counter::parse(name) {
                self.totals.add(&(ns.to_owned(), c), n);
            }
        }
        true
    }

    /// Merges this process's changes into the stored `counters` text and resets the deltas.
    pub fn merge_into(&mut self, stored: Option<&str>) -> String {
        let mut merged = stored
            .and_then(|s| Metadata::from_json(s).ok())
            .unwrap_or_default();
        let keyed = |(ns, c): &Key| format!("{ns}:{}", c.as_str());
        for ns in &self.cleared {
            let stale: Vec<String> = merged
                .iter()
                .filter(|(k, _)| {
                    k.rsplit_once(':')
                        .is_some_and(|(n, c)| n == ns && Counter::parse(c).is_some())
                })
                .map(|(k, _)| k.to_owned())
                .collect();
            for k in stale {
                merged.remove(&k);
            }
        }
        for key in &self.totals.order {
            let add = if self.cleared.contains(&key.0) {
                self.totals.values[key]
            } else {
                self.deltas.values.get(key).copied().unwrap_or(0)
            };
            if add == 0 {
                continue;
            }
            let name = keyed(key);
            let old = merged.get(&name).and_then(as_count).unwrap_or(0);
            merged.insert(name, Value::from(old + add));
        }
        self.deltas = Ordered::default();
        self.cleared.clear();
        merged.to_json()
    }
}

fn as_count(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) if *i >= 0 => Some(*i as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restores_namespaces_with_colons() {
        let mut c = Counters::default();
        assert!(
            c.restore(r#"{"translate:en-de:misses": 3, "default:hits_exact": 2, "x:bogus": 9}"#)
        );
        assert_eq!(c.values(Some("translate:en-de")).misses, 3);
        assert_eq!(c.values(None).hits_exact, 2);
        assert!(!c.restore("not json"));
    }

    #[test]
    fn merge_adds_deltas_keeps_order_and_replaces_cleared() {
        let mut a = Counters::default();
        a.restore(r#"{"default:misses": 1, "zz:hits_exact": 1}"#);
        a.incr("default", Counter::HitsExact, 1);
        a.incr("zz", Counter::HitsExact, 0);
        a.clear_namespace("zz");
        let stored = r#"{"default:misses": 5, "zz:hits_exact": 4, "other:misses": 2}"#;
        assert_eq!(
            a.merge_into(Some(stored)),
            r#"{"default:misses": 5, "other:misses": 2, "default:hits_exact": 1}"#
        );
        // Deltas were consumed: a second persist adds nothing.
        assert_eq!(
            a.merge_into(Some(r#"{"default:hits_exact": 1}"#)),
            r#"{"default:hits_exact": 1}"#
        );
    }

    #[test]
    fn two_writers_both_count() {
        let (mut a, mut b) = (Counters::default(), Counters::default());
        a.incr("default", Counter::HitsExact, 1);
        b.incr("default", Counter::HitsExact, 1);
        let after_a = a.merge_into(None);
        assert_eq!(b.merge_into(Some(&after_a)), r#"{"default:hits_exact": 2}"#);
    }
}
