//! The server's settings: defaults here, a TOML file (`--config`), then flags and environment
//! variables (the CLI's), each overriding the one before.

use serde::Deserialize;
use std::net::SocketAddr;

/// What forms the exact scope of a proxied request, beside the model and the sampling
/// parameters, which always do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeRule {
    /// The last user message is matched semantically; the system prompt and every earlier turn
    /// are part of the exact scope, so a hit never crosses conversations.
    #[default]
    LastUserMessage,
    /// The whole conversation, as one text, is matched semantically (scope: model, parameters).
    WholeConversation,
    /// As `last_user_message`, but the system prompt is left out of the scope.
    IgnoreSystemPrompt,
}

impl std::str::FromStr for ScopeRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "last_user_message" => Ok(ScopeRule::LastUserMessage),
            "whole_conversation" => Ok(ScopeRule::WholeConversation),
            "ignore_system_prompt" => Ok(ScopeRule::IgnoreSystemPrompt),
            other => Err(format!(
                "unknown scope rule {other:?}. Remediation: use last_user_message, whole_conversation or ignore_system_prompt"
            )),
        }
    }
}

/// A client key and the namespaces it may use (its first is its default). Namespaces are a
/// hard partition: no two tenants may share one.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Sent by the client in `x-mneme-key`.
    pub key: String,
    /// The namespaces this key may read and write.
    pub namespaces: Vec<String>,
}

/// Everything `mneme serve` is configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on (default loopback only: 127.0.0.1:8078).
    pub listen: SocketAddr,
    /// Base URL of the OpenAI-compatible upstream (for example `https://api.openai.com/v1`);
    /// without it the proxy routes answer 503.
    pub upstream: Option<String>,
    /// Seconds an upstream call may take before the client gets a 504.
    pub upstream_timeout_secs: f64,
    /// Largest request body accepted, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Requests handled at once; more wait.
    pub max_concurrency: usize,
    /// Namespace used when a request names none (and no tenant key applies).
    pub namespace: String,
    /// TTL in seconds of what the proxy caches, unless a request says otherwise.
    pub ttl_secs: Option<i64>,
    /// What forms a proxied request's exact scope.
    pub scope: ScopeRule,
    /// Client keys; empty means no key is asked for.
    pub tenants: Vec<Tenant>,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace_secs: f64,
    /// Recent decisions kept for the dashboard.
    pub recent_decisions: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8078)),
            upstream: None,
            upstream_timeout_secs: 60.0,
            max_body_bytes: 1 << 20,
            max_concurrency: 256,
            namespace: "default".into(),
            ttl_secs: None,
            scope: ScopeRule::default(),
            tenants: Vec::new(),
            shutdown_grace_secs: 30.0,
            recent_decisions: 200,
        }
    }
}

impl ServeConfig {
    /// Reads a TOML file; unknown keys are errors (a typo must not silently keep a default).
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read {}: {e}. Remediation: pass an existing TOML file",
                path.display()
            )
        })?;
        toml::from_str(&text).map_err(|e| {
            format!(
                "{}: {e}. Remediation: fix the setting (see `mneme serve --help` for every key)",
                path.display()
            )
        })
    }

    /// Checks what a type cannot: positive limits, tenants that do not share namespaces.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.upstream_timeout_secs.is_finite() && self.upstream_timeout_secs > 0.0) {
            return Err("upstream_timeout_secs must be a positive number of seconds".into());
        }
        if self.max_body_bytes == 0 || self.max_concurrency == 0 {
            return Err("max_body_bytes and max_concurrency must be at least 1".into());
        }
        let mut owner = std::collections::HashMap::new();
        for t in &self.tenants {
            if t.key.is_empty() || t.namespaces.is_empty() {
                return Err("every tenant needs a key and at least one namespace".into());
            }
            for ns in &t.namespaces {
                if let Some(other) = owner.insert(ns.clone(), &t.key) {
                    if *other != t.key {
                        return Err(format!(
                            "namespace {ns:?} is given to two tenant keys. Remediation: give each tenant its own namespaces (they are a hard partition)"
                        ));
                    }
                }
            }
        }
        if let Some(u) = &self.upstream {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(format!("upstream {u:?} is not an http(s) URL. Remediation: pass the base URL, e.g. https://api.openai.com/v1"));
            }
        }
        Ok(())
    }
}
