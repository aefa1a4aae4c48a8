//! `mneme evaluate --pairs FILE.jsonl`: what the cache would decide for labelled pairs. Each
//! pair goes through the real decision path: `a` is put into a fresh cache, `b` is looked up,
//! with the threshold and verifier asked for. Prints the served shares of should-hit pairs and
//! of traps, overall and per category; `--json` gives one line per pair and a summary line.

use crate::model::ModelArgs;
use crate::verifier::VerifierArgs;
use mneme::{Get, MemoryStore, MetricEvent, Put, SemanticCache};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One line: `{"a", "b", "same_answer", "category"?}`.
#[derive(Deserialize)]
struct Pair {
    a: String,
    b: String,
    same_answer: bool,
    #[serde(default)]
    category: Option<String>,
}

/// Should-hit and trap counts, and how many of each were served.
#[derive(Default)]
struct Tally {
    should_hit: usize,
    served_should_hit: usize,
    traps: usize,
    served_traps: usize,
}

impl Tally {
    fn add(&mut self, same: bool, served: bool) {
        if same {
            self.should_hit += 1;
            self.served_should_hit += usize::from(served);
        } else {
            self.traps += 1;
            self.served_traps += usize::from(served);
        }
    }

    fn line(&self, label: &str) -> String {
        let share = |a: usize, b: usize| match b {
            0 => "      -".to_owned(),
            _ => format!("{:>6.1}% ({a}/{b})", 100.0 * a as f64 / b as f64),
        };
        format!(
            "{label:<16} should-hit served {:<18} traps served {}",
            share(self.served_should_hit, self.should_hit),
            share(self.served_traps, self.traps)
        )
    }
}

pub fn run(
    pairs: &Path,
    decide: &VerifierArgs,
    model: &ModelArgs,
    json: bool,
) -> Result<(), Box<dyn Error>> {
    let pairs: Vec<Pair> = crate::calibrate::read_json_lines(pairs, None)?;
    let embedder: Arc<dyn mneme::Embedder> = Arc::from(model.embedder(None)?);
    let texts: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.a.as_str(), p.b.as_str()])
        .collect();
    if !json {
        eprintln!(
            "evaluating {} pairs with {}",
            pairs.len(),
            embedder.fingerprint()
        );
        println!("{}", decide.describe());
    }
    let vectors = embedder.embed_batch(&texts).map_err(|e| {
        format!("the embedder failed: {e}. Remediation: check --model and the model folder")
    })?;
    let mut all = Tally::default();
    let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
    for (p, v) in pairs.iter().zip(vectors.chunks_exact(2)) {
        let (served, reason) = decide_pair(p, &v[0], &v[1], &embedder, decide)?;
        let similarity = cosine(&v[0], &v[1]);
        all.add(p.same_answer, served);
        if let Some(c) = &p.category {
            by_category
                .entry(c.clone())
                .or_default()
                .add(p.same_answer, served);
        }
        if json {
            println!(
                "{}",
                serde_json::json!({"similarity": similarity, "served": served, "reason": reason,
                    "same_answer": p.same_answer, "category": p.category})
            );
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"pairs": pairs.len(), "should_hit": all.should_hit,
                "served_should_hit": all.served_should_hit, "traps": all.traps,
                "served_traps": all.served_traps})
        );
    } else {
        println!("{}", all.line("all"));
        for (c, t) in &by_category {
            println!("{}", t.line(c));
        }
    }
    Ok(())
}

/// Puts `a` into a fresh cache and looks `b` up: the cache's own decision and its reason.
fn decide_pair(
    p: &Pair,
    va: &[f32],
    vb: &[f32],
    embedder: &Arc<dyn mneme::Embedder>,
    decide: &VerifierArgs,
) -> Result<(bool, String), Box<dyn Error>> {
    let reason = Arc::new(Mutex::new(String::new()));
    let seen = reason.clone();
    let b = SemanticCache::builder_shared(embedder.clone())
        .store(MemoryStore::new())
        .metrics_hook(move |e| {
            let text = match e {
                MetricEvent::Hit { layer, .. } => format!("hit_{}", layer.as_str()),
                MetricEvent::Miss { reason, .. } => reason.as_str().to_owned(),
                _ => return,
            };
            *seen.lock().unwrap_or_else(|p| p.into_inner()) = text;
        });
    let cache = decide.apply(b).open()?;
    cache.put_with(&p.a, "cached answer", Put::default().embedding(va))?;
    let served = cache
        .get_with(&p.b, Get::default().embedding(vb))?
        .is_some();
    cache.close()?;
    let reason = reason.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok((served, reason))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(f64::MIN_POSITIVE)
}
