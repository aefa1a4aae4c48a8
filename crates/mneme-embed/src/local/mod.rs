//! A sentence-transformers model run locally: tokenizer, BERT encoder, pooling, L2
//! normalisation, as sentence-transformers computes them, in Rust on the CPU.

mod bert;
mod files;
mod pooling;

pub use files::Pooling;

use crate::error::EmbedError;
use bert::{Bert, Config};
use files::{damaged, ModelFiles};
use mneme::error::Message;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};

/// Texts embedded together in one forward pass. Larger batches pad more and gain little on CPU.
const DEFAULT_BATCH: usize = 32;

/// Options of [`LocalEmbedder::open_with`]; every field has a default.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// Threads for the model's matrix products (default: all cores).
    pub threads: Option<usize>,
    /// Longest input in tokens, `[CLS]` and `[SEP]` included; longer texts are truncated
    /// (default: the folder's `max_seq_length`, 256 for all-MiniLM-L6-v2, else the model's
    /// position limit). sentence-transformers truncates the same way.
    pub max_length: Option<usize>,
    /// The model's name in the fingerprint (default: the folder's name, or the repository's for
    /// a Hugging Face cache snapshot).
    pub name: Option<String>,
    /// Text put before every input (e5 models expect `"query: "`). Part of the fingerprint.
    pub prefix: Option<String>,
    /// Texts per forward pass (default 32).
    pub batch_size: Option<usize>,
}

/// A local sentence-transformers model as a mneme [`Embedder`](mneme::Embedder).
pub struct LocalEmbedder {
    model: Bert,
    tokenizer: Tokenizer,
    pooling: Pooling,
    dim: usize,
    max_length: usize,
    batch_size: usize,
    prefix: Option<String>,
    fingerprint: String,
    weights_sha256: String,
    dir: PathBuf,
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("dir", &self.dir)
            .field("fingerprint", &self.fingerprint)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

fn inference(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Inference(Message::new(
        format!("the local model failed: {e}"),
        "check the model folder is intact; report a bug with the text if it persists",
    ))
}

/// The folder's name, or the repository's for `models--org--name/snapshots/<hash>`.
fn model_name(dir: &Path) -> String {
    let leaf = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let parent = dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy());
    let grandparent = dir
        .parent()
        .and_then(Path::parent)
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    match (parent.as_deref(), grandparent) {
        (Some("snapshots"), Some(repo)) if repo.starts_with("models--") => {
            repo.rsplit("--").next().unwrap_or(&leaf).to_owned()
        }
        _ => leaf,
    }
}

impl LocalEmbedder {
    /// Loads the model in `dir` with default options.
    ///
    /// # Errors
    /// [`EmbedError::MissingFile`] naming the missing file, [`EmbedError::InvalidModel`] for a
    /// damaged or unsupported one.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, EmbedError> {
        Self::open_with(dir, LocalOptions::default())
    }

    /// Loads the model in `dir`.
    ///
    /// # Errors
    /// As [`LocalEmbedder::open`], and [`EmbedError::InvalidInput`] for a zero thread count,
    /// batch size or maximum length.
    pub fn open_with(dir: impl AsRef<Path>, options: LocalOptions) -> Result<Self, EmbedError> {
        let dir = dir.as_ref();
        for (what, value) in [
            ("threads", options.threads),
            ("max_length", options.max_length),
            ("batch_size", options.batch_size),
        ] {
            if value == Some(0) {
                return Err(EmbedError::invalid_input(
                    format!("{what} must be at least 1"),
                    format!("pass a positive {what}, or leave it unset for the default"),
                ));
            }
        }
        let files = ModelFiles::locate(dir)?;
        let config_text =
            std::fs::read_to_string(&files.config).map_err(|e| damaged(&files.config, e))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| damaged(&files.config, format!("not a BERT configuration: {e}")))?;
        let dim = config.hidden_size;
        if dim == 0 || dim > mneme::MAX_DIM {
            return Err(damaged(
                &files.config,
                format!("hidden_size {dim} is not usable"),
            ));
        }
        let position_limit = config.max_position_embeddings;
        let max_length = options
            .max_length
            .or(files.max_seq_length)
            .unwrap_or(position_limit)
            .min(position_limit);

        let mut tokenizer =
            Tokenizer::from_file(&files.tokenizer).map_err(|e| damaged(&files.tokenizer, e))?;
        // Sequences are never padded (the encoder lays them end to end).
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| damaged(&files.tokenizer, e))?;

        let weights = std::fs::read(&files.weights).map_err(|e| damaged(&files.weights, e))?;
        let weights_sha256 = format!("{:x}", Sha256::digest(&weights));
        let model = Bert::load(&config, &weights).map_err(|e| damaged(&files.weights, e))?;
        drop(weights);

        let threads = options
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("mneme-embed-{i}"))
            .build()
            .map_err(|e| {
                EmbedError::invalid_input(
                    format!("cannot start {threads} model threads: {e}"),
                    "pass fewer threads",
                )
            })?;

        let name = options.name.clone().unwrap_or_else(|| model_name(dir));
        let mut fingerprint = format!(
            "local:{name}:sha256={}:{}:{max_length}",
            &weights_sha256[..16],
            files.pooling.as_str()
        );
        if let Some(p) = &options.prefix {
            fingerprint.push_str(&format!(":prefix={p:?}"));
        }
        Ok(LocalEmbedder {
            model,
            tokenizer,
            pooling: files.pooling,
            dim,
            max_length,
            batch_size: options.batch_size.unwrap_or(DEFAULT_BATCH),
            prefix: options.prefix,
            fingerprint,
            weights_sha256,
            dir: dir.to_path_buf(),
            pool,
        })
    }

    /// The sha256 of `model.safetensors`, in hex.
    pub fn weights_sha256(&self) -> &str {
        &self.weights_sha256
    }

    /// The longest input in tokens; longer texts are truncated.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// How token vectors are pooled.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Embeds texts, each an L2-normalised vector of [`dim`](mneme::Embedder::dim) floats.
    /// Texts are grouped by length so a batch pads little; the result keeps the input order.
    ///
    /// # Errors
    /// [`EmbedError::Inference`] if the tokenizer or the model fails.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let prefixed: Vec<String>;
        let texts: Vec<&str> = match &self.prefix {
            Some(p) => {
                prefixed = texts.iter().map(|t| format!("{p}{t}")).collect();
                prefixed.iter().map(String::as_str).collect()
            }
            None => texts.to_vec(),
        };
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        self.pool.install(|| -> Result<(), EmbedError> {
            for chunk in order.chunks(self.batch_size) {
                let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
                for (&i, v) in chunk.iter().zip(self.forward(&batch)?) {
                    out[i] = v;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn forward(&self, batch: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(batch.to_vec(), true)
            .map_err(inference)?;
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let hidden = self.model.forward(&ids).map_err(inference)?;
        let h = self.model.hidden();
        let mut start = 0;
        Ok(ids
            .iter()
            .map(|seq| {
                let rows = &hidden[start * h..(start + seq.len()) * h];
                start += seq.len();
                pooling::pool(self.pooling, rows, h)
            })
            .collect())
    }
}

crate::embedder_via_embed_texts!(LocalEmbedder);
