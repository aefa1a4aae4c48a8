//! Per-namespace decision settings, stored with the cache (beyond mneme-cache 1.0): a
//! similarity threshold and a built-in verifier. A calibration for one namespace
//! (`mneme calibrate --write`) is kept in the store's meta table (`namespace_thresholds`,
//! `namespace_verifiers`) and applies to every process that opens the cache afterwards.

use super::options::check_threshold;
use super::SemanticCache;
use crate::error::Result;
use crate::metadata::{Metadata, Value};
use crate::verify::{Builtin, Verifier};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The store meta key holding the thresholds, a JSON object `{namespace: threshold}`.
pub(super) const META_KEY: &str = "namespace_thresholds";

/// The store meta key holding the verifiers, a JSON object `{namespace: name}`.
pub(super) const VERIFIERS_KEY: &str = "namespace_verifiers";

/// Each namespace's own verifier setting, with the verifier it names.
pub(super) type Verifiers = BTreeMap<String, (Builtin, Option<Arc<dyn Verifier>>)>;

/// The verifier settings stored in `text`; unknown names are dropped with a warning (a newer
/// build may know them), so those namespaces fall back to the cache's verifier.
pub(super) fn parse_verifiers(text: &str) -> Verifiers {
    let Ok(m) = Metadata::from_json(text) else {
        log::warn!(target: "mneme.cache", "stored namespace verifiers are not valid JSON; ignored");
        return BTreeMap::new();
    };
    m.iter()
        .filter_map(|(ns, v)| {
            let Value::String(name) = v else { return None };
            match Builtin::from_name(name) {
                Ok(b) => Some((ns.to_owned(), (b, b.verifier()))),
                Err(_) => {
                    log::warn!(target: "mneme.cache", "namespace {ns:?} names an unknown verifier {name:?}; the cache's verifier applies");
                    None
                }
            }
        })
        .collect()
}

/// The thresholds stored in `text`; entries that are not valid thresholds are dropped.
pub(super) fn parse(text: &str) -> BTreeMap<String, f64> {
    let Ok(m) = Metadata::from_json(text) else {
        log::warn!(target: "mneme.cache", "stored namespace thresholds are not valid JSON; ignored");
        return BTreeMap::new();
    };
    m.iter()
        .filter_map(|(ns, v)| {
            let t = match v {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                _ => return None,
            };
            check_threshold(t).ok().map(|()| (ns.to_owned(), t))
        })
        .collect()
}

impl SemanticCache {
    /// The threshold a get in `namespace` uses: its own if one is set, else the cache's.
    pub(super) fn threshold_for(&self, namespace: &str) -> f64 {
        if self.has_namespace_thresholds.load(Ordering::Acquire) {
            if let Some(t) = self.namespace_thresholds.read().get(namespace) {
                return *t;
            }
        }
        self.similarity_threshold()
    }

    /// The per-namespace thresholds in force.
    pub fn namespace_thresholds(&self) -> BTreeMap<String, f64> {
        self.namespace_thresholds.read().clone()
    }

    /// Sets (`Some`) or removes (`None`) `namespace`'s own threshold and stores it with the
    /// cache, so later opens use it too.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for a threshold outside [-1, 1]; the store's errors.
    pub fn set_namespace_threshold(&self, namespace: &str, threshold: Option<f64>) -> Result<()> {
        if let Some(t) = threshold {
            check_threshold(t)?;
        }
        self.enter()?;
        let _w = self.writer.lock();
        let mut map = self.namespace_thresholds.write();
        match threshold {
            Some(t) => map.insert(namespace.to_owned(), t),
            None => map.remove(namespace),
        };
        let mut stored = Metadata::new();
        for (ns, t) in map.iter() {
            stored.insert(ns.clone(), *t);
        }
        self.store.write_meta(META_KEY, &stored.to_json())?;
        self.has_namespace_thresholds
            .store(!map.is_empty(), Ordering::Release);
        Ok(())
    }

    /// The verifier a get in `namespace` consults: its own setting if one is stored, else the
    /// cache's.
    pub(super) fn verifier_for(&self, namespace: &str) -> Option<Arc<dyn Verifier>> {
        if self.has_namespace_verifiers.load(Ordering::Acquire) {
            if let Some((_, v)) = self.namespace_verifiers.read().get(namespace) {
                return v.clone();
            }
        }
        self.config.verifier.clone()
    }

    /// The per-namespace verifier settings in force.
    pub fn namespace_verifiers(&self) -> BTreeMap<String, Builtin> {
        let map = self.namespace_verifiers.read();
        map.iter().map(|(ns, (b, _))| (ns.clone(), *b)).collect()
    }

    /// Sets (`Some`) or removes (`None`) `namespace`'s own built-in verifier and stores it with
    /// the cache, so later opens use it too. It replaces the cache's verifier for that
    /// namespace; [`Builtin::Off`] serves on similarity alone there.
    ///
    /// # Errors
    /// The store's errors.
    pub fn set_namespace_verifier(&self, namespace: &str, verifier: Option<Builtin>) -> Result<()> {
        self.enter()?;
        let _w = self.writer.lock();
        let mut map = self.namespace_verifiers.write();
        match verifier {
            Some(b) => map.insert(namespace.to_owned(), (b, b.verifier())),
            None => map.remove(namespace),
        };
        let mut stored = Metadata::new();
        for (ns, (b, _)) in map.iter() {
            stored.insert(ns.clone(), b.name());
        }
        self.store.write_meta(VERIFIERS_KEY, &stored.to_json())?;
        self.has_namespace_verifiers
            .store(!map.is_empty(), Ordering::Release);
        Ok(())
    }
}
