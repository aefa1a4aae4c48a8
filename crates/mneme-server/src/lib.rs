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
