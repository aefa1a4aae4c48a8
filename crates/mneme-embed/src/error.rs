//! The embedders' one error type. Every message says what went wrong and what to do next, in the
//! engine's `problem. Remediation: fix` form.

use mneme::error::Message;
use std::path::PathBuf;

/// A failure to load a model or to embed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// A model file is missing (Python `FileNotFoundError`).
    #[error("{message}")]
    MissingFile {
        /// What happened and what to do.
        message: Message,
        /// The file that was looked for.
        path: PathBuf,
    },
    /// A model file is unreadable, damaged or of an unsupported kind (Python `ValueError`).
    #[error("{message}")]
    InvalidModel {
        /// What happened and what to do.
        message: Message,
        /// The file at fault.
        path: PathBuf,
    },
    /// The text or the options cannot be embedded (Python `ValueError`).
    #[error("{0}")]
    InvalidInput(Message),
    /// The model's own computation failed (Python `RuntimeError`).
    #[error("{0}")]
    Inference(Message),
    /// The endpoint refused the credentials: 401 or 403 (Python `PermissionError`).
    #[error("{0}")]
    Unauthorized(Message),
    /// The endpoint could not be reached, timed out, or kept failing after the retries
    /// (Python `ConnectionError`).
    #[error("{0}")]
    Unavailable(Message),
    /// The endpoint answered with something that is not the embeddings asked for (Python
    /// `ValueError`), including a vector of another dimension than expected.
    #[error("{message}")]
    BadResponse {
        /// What happened and what to do.
        message: Message,
        /// The dimension expected and the one received, when that was the fault.
        dimensions: Option<(usize, usize)>,
    },
}

impl EmbedError {
    pub(crate) fn invalid_input(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        EmbedError::InvalidInput(Message::new(problem, fix))
    }

    pub(crate) fn bad_response(problem: impl Into<String>, fix: impl Into<String>) -> Self {
        EmbedError::BadResponse {
            message: Message::new(problem, fix),
            dimensions: None,
        }
    }
}
