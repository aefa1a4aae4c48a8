//! `mneme evaluate --pairs FILE.jsonl`: what the cache would decide for labelled pairs. Each
//! pair goes through the real decision path: `a` is put into a fresh cache, `b` is looked up,
//! with the threshold and verifier asked for. Prints the served shares of should-hit pairs and
//! of traps, overall and per category; `--json` gives one line per pair and a summary line.
//!
//! A side may also be a chat conversation (an array of OpenAI messages): it is then keyed as
//! `mneme serve` keys it under `--scope` (the last user message matched semantically, the rest
//! as an exact scope), or on the last user message alone with `--scope none`.

use crate::model::ModelArgs;
use crate::verifier::VerifierArgs;
use mneme::tools::calibrate::score_pair;
use mneme::{Get, MemoryStore, MetricEvent, Put, SemanticCache};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One line: `{"a", "b", "same_answer", "category"?}`; `a` and `b` are texts or conversations.
#[derive(Deserialize)]
struct Pair {
    a: serde_json::Value,
    b: serde_json::Value,
    same_answer: bool,
    #[serde(default)]
    category: Option<String>,
}

/// What one side is looked up as: the text matched semantically and the namespace (its scope).
struct Keyed {
    query: String,
    namespace: String,
}

/// Keys a side: a text as itself in `default`; a conversation as the server keys it.
fn key(side: &serde_json::Value, scope: &str) -> Result<Keyed, Box<dyn Error>> {
    match side {
        serde_json::Value::String(s) => Ok(Keyed {
            query: s.clone(),
            namespace: "default".into(),
        }),
        serde_json::Value::Array(_) => conversation(side, scope),
        other => Err(format!(
            "a pair side must be a text or an array of chat messages, got {other}. Remediation: fix the line"
        )
        .into()),
    }
}

#[cfg(feature = "serve")]
fn conversation(messages: &serde_json::Value, scope: &str) -> Result<Keyed, Box<dyn Error>> {
    let mut request = serde_json::Map::new();
    request.insert("model".into(), "evaluate".into());
    request.insert("messages".into(), messages.clone());
    let rule = match scope {
        "none" => mneme_server::ScopeRule::LastUserMessage,
        other => other.parse()?,
    };
    let (query, scope_hash) = mneme_server::chat_key(&request, rule)?;
    let namespace = if scope == "none" {
        "default".into()
    } else {
        scope_hash
    };
    Ok(Keyed { query, namespace })
}

#[cfg(not(feature = "serve"))]
fn conversation(_: &serde_json::Value, _: &str) -> Result<Keyed, Box<dyn Error>> {
    Err("conversation pairs are keyed by the server's rules, which this build leaves out. Remediation: build mneme-cli with its default feature serve".into())
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
    scope: &str,
    decide: &VerifierArgs,
    model: &ModelArgs,
    json: bool,
) -> Result<(), Box<dyn Error>> {
    let pairs: Vec<Pair> = crate::calibrate::read_json_lines(pairs, None)?;
    let keyed: Vec<(Keyed, Keyed)> = pairs
        .iter()
        .map(|p| Ok((key(&p.a, scope)?, key(&p.b, scope)?)))
        .collect::<Result<_, Box<dyn Error>>>()?;
    let embedder: Arc<dyn mneme::Embedder> = Arc::from(model.embedder(None)?);
    let texts: Vec<&str> = keyed
        .iter()
        .flat_map(|(a, b)| [a.query.as_str(), b.query.as_str()])
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
    for ((p, (a, b)), v) in pairs.iter().zip(&keyed).zip(vectors.chunks_exact(2)) {
        let (served, reason) = decide_pair((a, &v[0]), (b, &v[1]), &embedder, decide)?;
        let similarity = score_pair(&v[0], &v[1], mneme::VectorDtype::Float32);
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
    (a, va): (&Keyed, &[f32]),
    (b, vb): (&Keyed, &[f32]),
    embedder: &Arc<dyn mneme::Embedder>,
    decide: &VerifierArgs,
) -> Result<(bool, String), Box<dyn Error>> {
    let reason = Arc::new(Mutex::new(String::new()));
    let seen = reason.clone();
    let builder = SemanticCache::builder_shared(embedder.clone())
        .store(MemoryStore::new())
        .metrics_hook(move |e| {
            let text = match e {
                MetricEvent::Hit { layer, .. } => format!("hit_{}", layer.as_str()),
                MetricEvent::Miss { reason, .. } => reason.as_str().to_owned(),
                _ => return,
            };
            *seen.lock().unwrap_or_else(|p| p.into_inner()) = text;
        });
    let cache = decide.apply(builder).open()?;
    cache.put_with(
        &a.query,
        "cached answer",
        Put::default().namespace(&a.namespace).embedding(va),
    )?;
    let served = cache
        .get_with(
            &b.query,
            Get::default().namespace(&b.namespace).embedding(vb),
        )?
        .is_some();
    cache.close()?;
    let reason = reason.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok((served, reason))
}
