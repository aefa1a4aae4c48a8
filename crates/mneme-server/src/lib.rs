//! `mneme serve`: one [`mneme::SemanticCache`] behind an async HTTP server, so every language
//! gets the engine. Three faces: a cache-aside REST API (`/v1/cache/...`), an OpenAI-compatible
//! caching proxy (`/v1/chat/completions`, `/v1/completions`) and an operator's side
//! (`/healthz`, `/readyz`, `/metrics`, `/dashboard`, `/openapi.json`).
//!
//! The cache is synchronous; handlers call it on tokio's blocking pool, so an embedding (a few
//! milliseconds) never stalls the reactor.

mod config;
mod dashboard;
mod error;
mod metrics;
mod proxy;
mod rest;
mod server;
mod state;
mod tenancy;

pub use config::{ScopeRule, ServeConfig, Tenant};
pub use server::{serve, Shutdown};

/// The semantic query and the exact scope the proxy keys a chat request on, so a tool (such as
/// `mneme evaluate`) can decide conversations exactly as the server does.
///
/// # Errors
/// The message the server would answer 400 with (no messages, no user message).
pub fn chat_key(
    request: &serde_json::Map<String, serde_json::Value>,
    rule: ScopeRule,
) -> Result<(String, String), String> {
    proxy::scope::chat(request, rule)
        .map(|k| (k.query, k.scope))
        .map_err(|e| e.message)
}
