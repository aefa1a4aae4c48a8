//! `mneme query CACHE TEXT`: the decision a `get` would make and the nearest entries with their
//! scores, without changing the cache.

use crate::model::ModelArgs;
use crate::verifier::VerifierArgs;
use mneme::{Decision, HitLayer, SemanticCache, SqliteStore};
use std::error::Error;
use std::path::Path;

fn neighbor_json(n: &mneme::Neighbor) -> serde_json::Value {
    serde_json::json!({
        "id": n.id,
        "query": n.query,
        "response": n.response,
        "similarity": n.similarity,
        "confidence": n.confidence,
        "expired": n.expired,
        "valid": n.valid,
        "refusal": n.refusal,
    })
}

fn as_json(e: &mneme::Explanation, verifier: &str) -> serde_json::Value {
    let decision = match e.decision {
        Decision::Hit(layer, id) => {
            serde_json::json!({"hit": true, "layer": layer.as_str(), "id": id})
        }
        Decision::Miss(reason) => serde_json::json!({"hit": false, "reason": reason.as_str()}),
    };
    serde_json::json!({
        "decision": decision,
        "threshold": e.threshold,
        "verifier": verifier,
        "exact": e.exact.as_ref().map(neighbor_json),
        "candidates": e.candidates.iter().map(neighbor_json).collect::<Vec<_>>(),
    })
}

fn short(s: &str, width: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= width {
        flat
    } else {
        let mut t: String = flat.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub fn run(
    path: &Path,
    text: &str,
    namespace: &str,
    k: usize,
    decide: &VerifierArgs,
    model: &ModelArgs,
    json: bool,
) -> Result<(), Box<dyn Error>> {
    let (fingerprint, dim) = SqliteStore::peek_stamp(path)?;
    let embedder = model.embedder(Some((&fingerprint, dim)))?;
    let cache = decide
        .apply(SemanticCache::builder_shared(embedder.into()).path(path))
        .open()?;
    let e = cache.explain(text, namespace, k)?;
    if json {
        println!("{}", as_json(&e, &decide.verifier));
        cache.close()?;
        return Ok(());
    }
    let by_id = |id: i64| {
        e.exact
            .iter()
            .chain(&e.candidates)
            .find(|n| n.id == id)
            .cloned()
    };
    println!("{}", decide.describe());
    match e.decision {
        Decision::Hit(HitLayer::Exact, id) => {
            let n = by_id(id).expect("the exact entry");
            println!(
                "decision    exact hit (id {id}, confidence {:.4})",
                n.confidence.unwrap_or(f64::NAN)
            );
        }
        Decision::Hit(layer, id) => {
            let n = by_id(id).expect("the chosen candidate");
            println!(
                "decision    {layer} hit (id {id}, similarity {:.4} >= threshold {:.4}, confidence {:.4})",
                n.similarity,
                e.threshold,
                n.confidence.unwrap_or(f64::NAN)
            );
        }
        Decision::Miss(reason) => {
            println!(
                "decision    miss: {} (threshold {:.4})",
                reason.as_str(),
                e.threshold
            )
        }
    }
    if let Some(n) = e.exact.as_ref().filter(|n| n.expired) {
        println!("exact layer an entry matched but has expired (id {})", n.id);
    }
    if e.candidates.is_empty() {
        println!("candidates  none in namespace {namespace:?}");
    } else {
        println!("  #  similarity  confidence  id        query / response");
        for (i, n) in e.candidates.iter().enumerate() {
            let mut notes = Vec::new();
            if n.expired {
                notes.push("expired".to_owned());
            }
            if n.valid == Some(false) {
                notes.push("rejected by the validator".to_owned());
            }
            if let Some(r) = &n.refusal {
                notes.push(format!("refused by the verifier: {r}"));
            }
            println!(
                "{:>3}  {:<10.4}  {:<10.4}  {:<8}  {}",
                i + 1,
                n.similarity,
                n.confidence.unwrap_or(f64::NAN),
                n.id,
                short(&n.query, 60)
            );
            println!(
                "{:>38}-> {}{}",
                "",
                short(&n.response, 60),
                if notes.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", notes.join(", "))
                }
            );
        }
    }
    cache.close()?;
    Ok(())
}
