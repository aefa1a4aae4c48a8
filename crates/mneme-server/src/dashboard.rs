//! `/dashboard`: one self-contained page (HTML, CSS and JS in the binary, no CDN) that polls
//! `/v1/dashboard/data` for the counters, latency percentiles, entries per namespace and the
//! recent decisions with their similarities.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Html;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn page() -> Html<&'static str> {
    Html(include_str!("../assets/dashboard.html"))
}

pub async fn data(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let (stats, per_namespace) = state
        .cache_call(|cache| {
            let total = cache.stats(None)?;
            let mut per = Vec::new();
            for ns in cache.list_namespaces()? {
                let s = cache.stats(Some(&ns))?;
                per.push(json!({"namespace": ns, "entries": s.entries}));
            }
            Ok((total, per))
        })
        .await?;
    let recent = state.recent.snapshot();
    let mut millis: Vec<f64> = recent.iter().map(|d| d.millis).collect();
    millis.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        millis
            .get(((millis.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    Ok(Json(json!({
        "hits_exact": stats.hits_exact,
        "hits_semantic": stats.hits_semantic,
        "misses": stats.misses,
        "entries": stats.entries,
        "latency_ms": {"p50": pct(0.5), "p99": pct(0.99)},
        "namespaces": per_namespace,
        "recent": recent,
    })))
}
