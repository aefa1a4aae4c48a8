//! The files of a sentence-transformers model directory, checked before anything is loaded:
//! a missing or damaged file gives an error naming it and saying how to get it.

use crate::error::EmbedError;
use crate::model_dir::FETCH_HINT;
use mneme::error::Message;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// How token vectors become one sentence vector (`1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The average of the token vectors under the attention mask (MiniLM, e5).
    Mean,
    /// The `[CLS]` token's vector (bge).
    Cls,
    /// The element-wise maximum over the real tokens.
    Max,
    /// The masked sum divided by the square root of the token count.
    MeanSqrtLen,
}

impl Pooling {
    /// The short name used in fingerprints.
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Max => "max",
            Pooling::MeanSqrtLen => "mean_sqrt_len",
        }
    }
}

#[derive(Deserialize, Default)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct Module {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

/// What the directory says about the model, before its weights are read.
pub struct ModelFiles {
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    pub weights: PathBuf,
    pub pooling: Pooling,
    /// sentence-transformers' `max_seq_length`, if the directory states one.
    pub max_seq_length: Option<usize>,
}

fn missing(path: &Path, what: &str) -> EmbedError {
    EmbedError::MissingFile {
        message: Message::new(
            format!(
                "the model directory has no {what} ({} is missing)",
                path.display()
            ),
            format!(
                "point at a complete sentence-transformers model folder (config.json, \
                 tokenizer.json, model.safetensors); for the default model, {FETCH_HINT}"
            ),
        ),
        path: path.to_path_buf(),
    }
}

pub(crate) fn damaged(path: &Path, why: impl std::fmt::Display) -> EmbedError {
    EmbedError::InvalidModel {
        message: Message::new(
            format!("{} cannot be used: {why}", path.display()),
            format!(
                "replace the model folder with an intact copy (for the default model, delete \
                 it and {FETCH_HINT})"
            ),
        ),
        path: path.to_path_buf(),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path).map_err(|e| damaged(path, e))?;
    serde_json::from_str(&text).map_err(|e| damaged(path, format!("not the expected JSON: {e}")))
}

fn require(dir: &Path, name: &str, what: &str) -> Result<PathBuf, EmbedError> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(missing(&path, what))
    }
}

impl ModelFiles {
    /// Finds the files of the model in `dir`. The pooling module is found through
    /// `modules.json` when present (as sentence-transformers does), else `1_Pooling/`; a folder
    /// with neither is taken as mean pooling, sentence-transformers' default.
    pub fn locate(dir: &Path) -> Result<ModelFiles, EmbedError> {
        if !dir.is_dir() {
            return Err(EmbedError::MissingFile {
                message: Message::new(
                    format!("the model directory {} does not exist", dir.display()),
                    FETCH_HINT,
                ),
                path: dir.to_path_buf(),
            });
        }
        let config = require(dir, "config.json", "model configuration")?;
        let tokenizer = require(dir, "tokenizer.json", "tokenizer (tokenizer.json)")?;
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            let hint = if dir.join("pytorch_model.bin").is_file() {
                " (only pytorch_model.bin is there: this loader reads safetensors, which cannot \
                 run code; convert it with the safetensors package or download the safetensors \
                 variant)"
            } else {
                ""
            };
            let mut e = missing(&weights, "weights (model.safetensors)");
            if let EmbedError::MissingFile { message, .. } = &mut e {
                *message = Message::new(
                    format!("{}{hint}", message.problem()),
                    message.remediation().to_owned(),
                );
            }
            return Err(e);
        }
        let modules = dir.join("modules.json");
        let pooling_dir = if modules.is_file() {
            let list: Vec<Module> = read_json(&modules)?;
            list.iter()
                .find(|m| m.kind.ends_with("models.Pooling"))
                .map(|m| dir.join(&m.path))
        } else {
            Some(dir.join("1_Pooling"))
        };
        let pooling = match pooling_dir.map(|d| d.join("config.json")) {
            Some(p) if p.is_file() => pooling_from(&p, read_json(&p)?)?,
            _ => Pooling::Mean,
        };
        let st_config = dir.join("sentence_bert_config.json");
        let max_seq_length = if st_config.is_file() {
            read_json::<SentenceBertConfig>(&st_config)?.max_seq_length
        } else {
            None
        };
        Ok(ModelFiles {
            config,
            tokenizer,
            weights,
            pooling,
            max_seq_length,
        })
    }
}

fn pooling_from(path: &Path, c: PoolingConfig) -> Result<Pooling, EmbedError> {
    let chosen: Vec<Pooling> = [
        (c.pooling_mode_mean_tokens, Pooling::Mean),
        (c.pooling_mode_cls_token, Pooling::Cls),
        (c.pooling_mode_max_tokens, Pooling::Max),
        (c.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
    ]
    .into_iter()
    .filter_map(|(on, p)| on.then_some(p))
    .collect();
    match chosen.as_slice() {
        [] => Ok(Pooling::Mean),
        [one] => Ok(*one),
        _ => Err(damaged(
            path,
            "it asks for several pooling modes at once (their concatenation is not supported)",
        )),
    }
}
