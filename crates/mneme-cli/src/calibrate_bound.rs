//! `mneme calibrate PAIRS --max-false-hits F`: the lowest threshold whose false-hit rate's
//! Clopper-Pearson upper bound (at `--confidence`) is at most F, with the verifier our tool
//! uses (or, with `--verifier auto`, with whichever built-in verifier then serves the most
//! should-hit pairs), and the share of should-hit pairs it still serves. `--write CACHE` stores
//! the threshold and the verifier with the cache for `--namespace`.

use crate::calibrate::Pair;
use crate::model::ModelArgs;
use mneme::tools::bound::{
    bound_grid, choose_threshold, clopper_pearson_upper, BoundedChoice, ScoredPair,
};
use mneme::tools::calibrate::score_pair;
use mneme::verify::Builtin;
use mneme::{SemanticCache, SqliteStore, VectorDtype};
use std::error::Error;
use std::path::Path;

pub struct Args<'a> {
    pub max_false_hits: f64,
    pub confidence: f64,
    pub verifier: &'a str,
    pub dtype: VectorDtype,
    pub write: Option<&'a Path>,
    pub namespace: &'a str,
}

pub fn run(pairs: &[Pair], a: Args<'_>, model: &ModelArgs) -> Result<(), Box<dyn Error>> {
    for (name, v) in [
        ("--max-false-hits", a.max_false_hits),
        ("--confidence", a.confidence),
    ] {
        if !(v > 0.0 && v < 1.0) {
            return Err(format!("{name} must be between 0 and 1 (exclusive), got {v}. Remediation: pass 0.01 for 1%, for example").into());
        }
    }
    let stamp = a.write.map(SqliteStore::peek_stamp).transpose()?;
    let embedder = model.embedder(stamp.as_ref().map(|(fp, dim)| (fp.as_str(), *dim)))?;
    if let Some((fp, _)) = &stamp {
        if fp != embedder.fingerprint() {
            return Err(format!("the cache was written with {fp:?} but the pairs are scored with {:?}. Remediation: calibrate with the cache's model (omit --model)", embedder.fingerprint()).into());
        }
    }
    let settings = match a.verifier {
        "auto" => Builtin::ALL.to_vec(),
        name => vec![Builtin::from_name(name)?],
    };
    let texts: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    eprintln!(
        "scoring {} pairs with {} ...",
        pairs.len(),
        embedder.fingerprint()
    );
    let vectors = embedder.embed_batch(&texts).map_err(|e| {
        format!("the embedder failed: {e}. Remediation: check --model and the model folder")
    })?;
    let similarities: Vec<f64> = vectors
        .chunks_exact(2)
        .map(|v| score_pair(&v[0], &v[1], a.dtype))
        .collect();
    let traps = pairs.iter().filter(|p| !p.same_answer).count();
    let choices: Vec<(Builtin, Option<BoundedChoice>)> = settings
        .into_iter()
        .map(|setting| {
            let verifier = setting.verifier();
            let scored: Vec<ScoredPair> = pairs
                .iter()
                .zip(&similarities)
                .map(|(p, &similarity)| ScoredPair {
                    similarity,
                    // `a` is what the cache holds, `b` the query that arrives.
                    verified: verifier
                        .as_ref()
                        .is_none_or(|v| v.check(&p.b, &p.a, similarity).is_ok()),
                    same_answer: p.same_answer,
                })
                .collect();
            let choice = choose_threshold(&scored, a.max_false_hits, a.confidence, &bound_grid());
            (setting, choice)
        })
        .collect();
    if choices.len() > 1 {
        println!("verifier  threshold  traps served  bound   should-hit served");
        for (setting, choice) in &choices {
            match choice {
                Some(c) => println!(
                    "{:<8}  {:>9.2}  {:>12}  {:.4}  {}",
                    setting.name(),
                    c.threshold,
                    c.traps_served,
                    c.false_hit_bound,
                    c.should_hit_served
                ),
                None => println!("{:<8}  no threshold meets the bound", setting.name()),
            }
        }
    }
    // The most should-hit pairs served; on a tie, the earlier setting (the stricter check).
    let mut best: Option<(Builtin, BoundedChoice)> = None;
    for (setting, choice) in choices {
        let Some(c) = choice else { continue };
        if best
            .as_ref()
            .is_none_or(|(_, b)| c.should_hit_served > b.should_hit_served)
        {
            best = Some((setting, c));
        }
    }
    let Some((setting, c)) = best else {
        let best = clopper_pearson_upper(0, traps, a.confidence);
        return Err(format!(
            "no threshold keeps the false-hit bound at or under {} with {traps} trap pairs at confidence {} \
             (even zero false hits only bounds the rate at {best:.4}). Remediation: add trap pairs \
             (same_answer false), lower --confidence, or raise --max-false-hits",
            a.max_false_hits, a.confidence
        )
        .into());
    };
    let share = |k: usize, n: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    println!(
        "threshold        {:.2}  (with verifier {})",
        c.threshold,
        setting.name()
    );
    println!(
        "false hits       {} of {} traps served; upper bound {:.4} at confidence {} (target {})",
        c.traps_served, c.traps, c.false_hit_bound, a.confidence, a.max_false_hits
    );
    println!(
        "hit rate         {:.4}  ({} of {} should-hit pairs served)",
        share(c.should_hit_served, c.should_hit),
        c.should_hit_served,
        c.should_hit
    );
    if let Some(path) = a.write {
        let (fingerprint, dim) = stamp.unwrap_or_default();
        let cache = SemanticCache::builder(crate::Stamp { fingerprint, dim })
            .path(path)
            .open()?;
        cache.set_namespace_threshold(a.namespace, Some(c.threshold))?;
        cache.set_namespace_verifier(a.namespace, Some(setting))?;
        cache.close()?;
        println!(
            "stored           threshold {:.2} and verifier {} for namespace {:?} in {} (every front that opens it decides so there)",
            c.threshold,
            setting.name(),
            a.namespace,
            path.display()
        );
    }
    Ok(())
}
