//! `--model`: which embedder a command that embeds text uses. Without the flag, a command on an
//! existing cache uses the model the cache was written with (read from its fingerprint), so an
//! operator never embeds with the wrong model by accident.

use clap::Args;
use mneme::{Embedder, LexicalEmbedder};
use mneme_embed::{LocalEmbedder, LocalOptions, RemoteEmbedder, RemoteOptions};
use std::error::Error;
use std::path::PathBuf;

/// The flags that choose an embedder.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// `minilm` (a local sentence-transformers folder, all-MiniLM-L6-v2 by default),
    /// `openai:MODEL` (any OpenAI-compatible endpoint; key from OPENAI_API_KEY) or
    /// `lexical[:DIM]` (the built-in word embedder). Default: the cache's own model, else minilm.
    #[arg(long)]
    pub model: Option<String>,
    /// The local model's folder [default: $MNEME_MODEL_DIR, else
    /// ~/.cache/mneme/models/all-MiniLM-L6-v2, filled by scripts/fetch-model.sh].
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// The endpoint for `openai:MODEL` [default: $OPENAI_BASE_URL, else `https://api.openai.com/v1`].
    #[arg(long)]
    pub base_url: Option<String>,
    /// Threads for the local model [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The `--model` value a cache's fingerprint implies.
fn spec_for_fingerprint(fingerprint: &str, dim: usize) -> Option<String> {
    if fingerprint.starts_with("local:") {
        return Some("minilm".into());
    }
    if let Some(rest) = fingerprint.strip_prefix("remote:") {
        let model = rest.rsplit_once(':').map_or(rest, |(m, _)| m);
        return Some(format!("openai:{model}"));
    }
    fingerprint
        .starts_with("mneme-lexical-v1:")
        .then(|| format!("lexical:{dim}"))
}

impl ModelArgs {
    /// The embedder the flags name; `stamp` is the cache's `(fingerprint, dim)` when there is
    /// one, used when `--model` is absent.
    pub fn embedder(
        &self,
        stamp: Option<(&str, usize)>,
    ) -> Result<Box<dyn Embedder>, Box<dyn Error>> {
        let spec = match (&self.model, stamp) {
            (Some(m), _) => m.clone(),
            (None, Some((fp, dim))) => spec_for_fingerprint(fp, dim).ok_or_else(|| {
                format!(
                    "the cache was written with embedder {fp:?}, which this tool cannot run. \
                     Remediation: pass --model (minilm, openai:MODEL or lexical:DIM) for the \
                     model that wrote it"
                )
            })?,
            (None, None) => "minilm".into(),
        };
        let (kind, arg) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        Ok(match kind {
            "minilm" | "local" => {
                let dir = self
                    .model_dir
                    .clone()
                    .unwrap_or_else(mneme_embed::default_model_dir);
                let options = LocalOptions {
                    threads: self.threads,
                    ..LocalOptions::default()
                };
                Box::new(LocalEmbedder::open_with(dir, options)?)
            }
            "openai" if !arg.is_empty() => {
                let base = self
                    .base_url
                    .clone()
                    .or_else(|| std::env::var("OPENAI_BASE_URL").ok())
                    .unwrap_or_else(|| "https://api.openai.com/v1".into());
                let dim = stamp.map(|(_, d)| d);
                Box::new(RemoteEmbedder::connect(RemoteOptions {
                    dimensions: dim,
                    ..RemoteOptions::new(base, arg)
                })?)
            }
            "lexical" => {
                let dim = if arg.is_empty() {
                    stamp.map_or(384, |(_, d)| d)
                } else {
                    arg.parse().map_err(|_| {
                        format!("--model lexical:{arg}: the dimension must be a number. Remediation: pass lexical:384, for example")
                    })?
                };
                Box::new(LexicalEmbedder::new(dim))
            }
            _ => {
                return Err(format!(
                "unknown --model {spec:?}. Remediation: use minilm, openai:MODEL or lexical[:DIM]"
            )
                .into())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::spec_for_fingerprint;

    #[test]
    fn a_cache_names_its_own_model() {
        assert_eq!(
            spec_for_fingerprint("local:all-MiniLM-L6-v2:sha256=ab:mean:256", 384).as_deref(),
            Some("minilm")
        );
        assert_eq!(
            spec_for_fingerprint("remote:text-embedding-3-small:1536", 1536).as_deref(),
            Some("openai:text-embedding-3-small")
        );
        assert_eq!(
            spec_for_fingerprint("mneme-lexical-v1:64", 64).as_deref(),
            Some("lexical:64")
        );
        assert_eq!(spec_for_fingerprint("my-own-model", 8), None);
    }
}
