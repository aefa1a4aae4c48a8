//! The cache-aside REST API: the cache's own operations as JSON, for any language.
//! `POST /v1/cache/get|put|delete|vacuum`, `GET /v1/cache/stats`, `GET /v1/cache/namespaces`.

use crate::error::{parse_json, ApiError};
use crate::proxy::read_body;
use crate::state::AppState;
use crate::tenancy;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use mneme::{Get, Metadata, Put};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetRequest {
    query: String,
    namespace: Option<String>,
    embedding: Option<Vec<f32>>,
    #[serde(default)]
    bypass: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRequest {
    query: String,
    response: String,
    namespace: Option<String>,
    metadata: Option<serde_json::Map<String, Value>>,
    ttl: Option<i64>,
    embedding: Option<Vec<f32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    query: String,
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NamespaceParam {
    namespace: Option<String>,
}

async fn body_of<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: Body,
) -> Result<T, ApiError> {
    parse_json(&read_body(body, state.config.max_body_bytes).await?)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let r: GetRequest = body_of(&state, body).await?;
    let ns = tenancy::namespace(&state.config, &headers, r.namespace.as_deref())?;
    let (namespace, query) = (ns.clone(), r.query.clone());
    let hit = state
        .cache_call(move |cache| {
            let mut g = Get::default().namespace(&namespace).bypass(r.bypass);
            if let Some(v) = &r.embedding {
                g = g.embedding(v);
            }
            cache.get_with(&query, g)
        })
        .await?;
    let out = match &hit {
        Some(h) => {
            json!({"hit": true, "layer": h.layer.as_str(), "similarity": h.similarity, "confidence": h.confidence,
            "response": h.response, "metadata": serde_json::to_value(&h.metadata).unwrap_or(Value::Null), "age_seconds": h.age_seconds})
        }
        None => json!({"hit": false}),
    };
    let outcome = hit
        .as_ref()
        .map_or("miss".to_owned(), |h| format!("hit-{}", h.layer.as_str()));
    state.record(
        "cache_get",
        &ns,
        &r.query,
        &outcome,
        hit.as_ref().map(|h| h.similarity),
        started,
    );
    Ok(Json(out))
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let r: PutRequest = body_of(&state, body).await?;
    let ns = tenancy::namespace(&state.config, &headers, r.namespace.as_deref())?;
    let metadata = match &r.metadata {
        Some(m) => Some(
            Metadata::from_json(&Value::Object(m.clone()).to_string())
                .map_err(|e| ApiError::from_cache(&e))?,
        ),
        None => None,
    };
    state
        .cache_call(move |cache| {
            let mut p = Put::default().namespace(&ns);
            if let Some(m) = metadata {
                p = p.metadata(m);
            }
            if let Some(t) = r.ttl {
                p = p.ttl(t);
            }
            if let Some(v) = &r.embedding {
                p = p.embedding(v);
            }
            cache.put_with(&r.query, &r.response, p)
        })
        .await?;
    Ok(Json(json!({"stored": true})))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let r: DeleteRequest = body_of(&state, body).await?;
    let ns = tenancy::namespace(&state.config, &headers, r.namespace.as_deref())?;
    let deleted = state
        .cache_call(move |cache| cache.delete_in(&r.query, &ns))
        .await?;
    Ok(Json(json!({"deleted": deleted})))
}

/// The namespace a stats or vacuum call is about: the one named (checked), or the whole cache
/// when none is named and nobody is partitioned (a tenant always gets its own).
fn one_or_all(
    state: &AppState,
    headers: &HeaderMap,
    q: &NamespaceParam,
) -> Result<Option<String>, ApiError> {
    if q.namespace.is_none() && state.config.tenants.is_empty() {
        return Ok(None);
    }
    tenancy::namespace(&state.config, headers, q.namespace.as_deref()).map(Some)
}

pub async fn stats(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<NamespaceParam>,
) -> Result<Json<Value>, ApiError> {
    let ns = one_or_all(&state, &headers, &q)?;
    let stats = state
        .cache_call(move |cache| cache.stats(ns.as_deref()))
        .await?;
    Ok(Json(serde_json::to_value(stats).unwrap_or(Value::Null)))
}

pub async fn namespaces(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let all = state.cache_call(|cache| cache.list_namespaces()).await?;
    let visible: Vec<String> = if state.config.tenants.is_empty() {
        all
    } else {
        // A tenant sees its own namespaces (and the proxy's scoped ones under them).
        let own = tenancy::namespace(&state.config, &headers, None)?;
        let tenant = state
            .config
            .tenants
            .iter()
            .find(|t| t.namespaces.contains(&own))
            .map(|t| t.namespaces.clone())
            .unwrap_or_default();
        all.into_iter()
            .filter(|n| {
                tenant
                    .iter()
                    .any(|t| n == t || n.starts_with(&format!("{t}/")))
            })
            .collect()
    };
    Ok(Json(json!({"namespaces": visible})))
}

pub async fn vacuum(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<NamespaceParam>,
) -> Result<Json<Value>, ApiError> {
    let ns = one_or_all(&state, &headers, &q)?;
    let removed = state
        .cache_call(move |cache| cache.vacuum(ns.as_deref(), true))
        .await?;
    Ok(Json(json!({"removed": removed})))
}
