//! Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint: OpenAI, Azure OpenAI,
//! vLLM, Ollama, Hugging Face TEI. Blocking HTTP with bounded timeouts, batching, and retry
//! with exponential backoff on 429 and 5xx.

mod wire;

use crate::error::EmbedError;
use mneme::error::Message;
use std::time::Duration;
use wire::{EmbeddingRequest, EmbeddingResponse};

/// How to reach the endpoint; [`RemoteOptions::new`] fills every default.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The API's base URL, such as `https://api.openai.com/v1` or `http://localhost:11434/v1`;
    /// `/embeddings` is appended unless the URL already ends with it (Azure deployments give
    /// the full URL with `?api-version=`).
    pub base_url: String,
    /// The model name the endpoint expects.
    pub model: String,
    /// The API key; default: the environment variable named by `api_key_env`.
    pub api_key: Option<String>,
    /// Where the key is read from when `api_key` is unset (default `OPENAI_API_KEY`). A local
    /// server needs no key.
    pub api_key_env: String,
    /// The header that carries the key: `Authorization` (sent as `Bearer KEY`, the default) or
    /// Azure's `api-key`.
    pub api_key_header: String,
    /// The vector length. When set, it is also sent as `dimensions` (models that can shorten
    /// their vectors honour it) and every response is checked against it; when unset, the
    /// embedder asks the endpoint once at construction.
    pub dimensions: Option<usize>,
    /// Texts per request (default 64).
    pub batch_size: usize,
    /// Connecting may take this long (default 5 s).
    pub connect_timeout: Duration,
    /// A whole request may take this long (default 30 s).
    pub request_timeout: Duration,
    /// Retries after a 429, a 5xx or a network failure (default 3).
    pub max_retries: u32,
    /// The first retry's wait, doubled each time, capped at 8 s (default 500 ms). A
    /// `Retry-After` header wins when it asks for longer, up to the same cap.
    pub initial_backoff: Duration,
}

const MAX_BACKOFF: Duration = Duration::from_secs(8);

impl RemoteOptions {
    /// Options for `model` at `base_url`, with every other field at its default.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        RemoteOptions {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            api_key_env: "OPENAI_API_KEY".into(),
            api_key_header: "Authorization".into(),
            dimensions: None,
            batch_size: 64,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
        }
    }

    /// OpenAI's API (`https://api.openai.com/v1`, key from `OPENAI_API_KEY`).
    pub fn openai(model: impl Into<String>) -> Self {
        Self::new("https://api.openai.com/v1", model)
    }
}

/// An OpenAI-compatible embeddings endpoint as a mneme [`Embedder`](mneme::Embedder).
pub struct RemoteEmbedder {
    agent: ureq::Agent,
    url: String,
    auth: Option<(String, String)>,
    options: RemoteOptions,
    dim: usize,
    fingerprint: String,
}

impl std::fmt::Debug for RemoteEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("RemoteEmbedder")
            .field("url", &self.url)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn unavailable(problem: impl Into<String>) -> EmbedError {
    EmbedError::Unavailable(Message::new(
        problem,
        "check that the endpoint is running and reachable (base URL, network, proxy); raise \
         request_timeout or max_retries if it is only slow or busy",
    ))
}

impl RemoteEmbedder {
    /// Connects to the endpoint. Without `dimensions`, one request learns the vector length.
    ///
    /// # Errors
    /// [`EmbedError::InvalidInput`] for an unusable option; the errors of
    /// [`RemoteEmbedder::embed_texts`] for the probe.
    pub fn connect(options: RemoteOptions) -> Result<Self, EmbedError> {
        if options.base_url.trim().is_empty() || options.model.trim().is_empty() {
            return Err(EmbedError::invalid_input(
                "the remote embedder needs a base URL and a model name",
                "pass base_url (for example https://api.openai.com/v1) and model",
            ));
        }
        if options.batch_size == 0 || options.dimensions == Some(0) {
            return Err(EmbedError::invalid_input(
                "batch_size and dimensions must be at least 1",
                "pass positive values, or leave them unset",
            ));
        }
        let base = options.base_url.trim_end_matches('/');
        let url = if base
            .split('?')
            .next()
            .unwrap_or(base)
            .ends_with("/embeddings")
        {
            base.to_owned()
        } else {
            format!("{base}/embeddings")
        };
        let key = options.api_key.clone().or_else(|| {
            std::env::var(&options.api_key_env)
                .ok()
                .filter(|k| !k.is_empty())
        });
        let auth = key.map(|k| {
            if options.api_key_header.eq_ignore_ascii_case("authorization") {
                ("Authorization".to_owned(), format!("Bearer {k}"))
            } else {
                (options.api_key_header.clone(), k)
            }
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.request_timeout))
            // Statuses are read here, with their bodies, not turned into bare errors.
            .http_status_as_error(false)
            .build()
            .into();
        let mut embedder = RemoteEmbedder {
            agent,
            url,
            auth,
            dim: options.dimensions.unwrap_or(0),
            fingerprint: String::new(),
            options,
        };
        if embedder.dim == 0 {
            let probe = embedder.request(&["dimension probe"])?;
            embedder.dim = probe[0].len();
        }
        embedder.fingerprint = format!("remote:{}:{}", embedder.options.model, embedder.dim);
        Ok(embedder)
    }

    /// The endpoint's full URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Embeds texts in batches of `batch_size`, in order.
    ///
    /// # Errors
    /// [`EmbedError::InvalidInput`] for an empty text (the API refuses it),
    /// [`EmbedError::Unauthorized`] for 401/403, [`EmbedError::Unavailable`] once the retries
    /// are spent, [`EmbedError::BadResponse`] for a malformed answer or a wrong dimension.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if let Some(i) = texts.iter().position(|t| t.is_empty()) {
            return Err(EmbedError::invalid_input(
                format!("text {i} is empty; OpenAI-compatible endpoints refuse empty input"),
                "skip empty texts before embedding them",
            ));
        }
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.options.batch_size) {
            let vectors = self.request(chunk)?;
            if let Some(v) = vectors.iter().find(|v| v.len() != self.dim) {
                return Err(EmbedError::BadResponse {
                    message: Message::new(
                        format!(
                            "the endpoint returned a {}-dimensional vector, but this embedder \
                             has dim {}",
                            v.len(),
                            self.dim
                        ),
                        "check the model name and the dimensions option; a cache keeps one \
                         dimension for life",
                    ),
                    dimensions: Some((self.dim, v.len())),
                });
            }
            out.extend(vectors);
        }
        Ok(out)
    }

    /// One request, retried on 429, 5xx and network failures.
    fn request(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = EmbeddingRequest {
            model: &self.options.model,
            input: texts,
            encoding_format: "float",
            dimensions: self.options.dimensions,
        };
        let mut wait = self.options.initial_backoff;
        let mut attempt = 0;
        loop {
            let mut req = self.agent.post(&self.url);
            if let Some((name, value)) = &self.auth {
                req = req.header(name.as_str(), value.as_str());
            }
            let failure = match req.send_json(&body) {
                Err(e) => (e.to_string(), None),
                Ok(mut resp) => match resp.status().as_u16() {
                    200..=299 => return self.parse(resp.body_mut(), texts.len()),
                    code @ (401 | 403) => {
                        return Err(EmbedError::Unauthorized(Message::new(
                            format!(
                                "{} refused the credentials (HTTP {code}): {}",
                                self.url,
                                wire::error_text(&mut resp)
                            ),
                            format!(
                                "set a valid API key in {} (or pass api_key); check it may \
                                 use model {:?}",
                                self.options.api_key_env, self.options.model
                            ),
                        )))
                    }
                    code @ (429 | 500..=599) => {
                        let after = wire::retry_after(&resp);
                        (
                            format!("HTTP {code}: {}", wire::error_text(&mut resp)),
                            after,
                        )
                    }
                    code => {
                        return Err(EmbedError::bad_response(
                            format!(
                                "{} rejected the request (HTTP {code}): {}",
                                self.url,
                                wire::error_text(&mut resp)
                            ),
                            "check the model name, the base URL and the input",
                        ))
                    }
                },
            };
            if attempt >= self.options.max_retries {
                return Err(unavailable(format!(
                    "{} failed after {} attempt(s): {}",
                    self.url,
                    attempt + 1,
                    failure.0
                )));
            }
            attempt += 1;
            let pause = failure.1.map_or(wait, |a| a.max(wait)).min(MAX_BACKOFF);
            log::warn!(target: "mneme.embed", "embedding request failed ({}); retry {attempt} in {pause:?}", failure.0);
            std::thread::sleep(pause);
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    }

    fn parse(&self, body: &mut ureq::Body, expected: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        let parsed: EmbeddingResponse = body
            .with_config()
            .limit(wire::MAX_RESPONSE_BYTES)
            .read_json()
            .map_err(|e| {
                EmbedError::bad_response(
                format!("{} did not answer with embeddings JSON: {e}", self.url),
                "check the base URL points at an OpenAI-compatible API (it usually ends in /v1)",
            )
            })?;
        wire::in_order(parsed, expected).map_err(|problem| {
            EmbedError::bad_response(
                format!("{}: {problem}", self.url),
                "check the endpoint implements the OpenAI embeddings API",
            )
        })
    }
}

crate::embedder_via_embed_texts!(RemoteEmbedder);
