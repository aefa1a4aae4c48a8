//! Routes, limits, the listener and a graceful shutdown: on SIGTERM/SIGINT the server stops
//! accepting, lets in-flight requests finish (up to `shutdown_grace_secs`), then flushes and
//! closes the cache.

use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::{AppState, RecentDecisions};
use crate::{dashboard, proxy, rest};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mneme::CacheBuilder;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Resolves when the process is asked to stop (SIGTERM or SIGINT).
pub struct Shutdown;

impl Shutdown {
    pub async fn on_signal() {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            }
            _ => std::future::pending().await,
        }
    }
}

/// Opens the cache from `builder` (with the server's metrics hook), binds `config.listen`,
/// calls `ready` with the bound address, and serves until `shutdown` resolves.
pub async fn serve(
    config: ServeConfig,
    builder: CacheBuilder,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    config.validate()?;
    let metrics = Metrics::new();
    let builder = builder.metrics_hook(metrics.hook.hook());
    let cache = tokio::task::spawn_blocking(move || builder.open())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(config.upstream_timeout_secs))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the upstream client: {e}"))?;
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let inline_exact = matches!(cache.store().label().as_str(), "sqlite" | "memory");
    let state = Arc::new(AppState {
        inline_exact,
        cache: Arc::new(cache),
        cache_slots: Semaphore::new(cores * 2),
        http,
        flights: Default::default(),
        metrics,
        recent: RecentDecisions::new(config.recent_decisions),
        config,
    });
    let listener = tokio::net::TcpListener::bind(state.config.listen).await.map_err(|e| {
        format!("cannot listen on {}: {e}. Remediation: choose another --listen address or stop what uses it", state.config.listen)
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    ready(addr);

    let maintenance = tokio::spawn(compact_when_due(state.clone()));
    let grace = Duration::from_secs_f64(state.config.shutdown_grace_secs.max(0.0));
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(state.clone())).with_graceful_shutdown(async move {
        shutdown.await;
        log::info!(target: "mneme.serve", "shutting down: no new connections, finishing in-flight requests");
        let _ = stopping_tx.send(());
    });
    tokio::select! {
        r = server => r.map_err(|e| e.to_string())?,
        _ = async { if stopping_rx.await.is_ok() { tokio::time::sleep(grace).await } else { std::future::pending::<()>().await } } => {
            log::warn!(target: "mneme.serve", "the shutdown grace period ended with requests still running");
        }
    }
    maintenance.abort();
    let cache = state.cache.clone();
    tokio::task::spawn_blocking(move || cache.close())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Evicted and overwritten entries leave tombstones in the vector index, which nothing
/// reclaims by itself (mneme-cache 1.0's rule): a server running for days under eviction would
/// grow without bound. Every 10 s, once tombstones pass a quarter of the live entries (and
/// 1 000), the index is compacted.
async fn compact_when_due(state: Arc<AppState>) {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let Ok(stats) = state.cache_call(|c| c.stats(None)).await else {
            continue;
        };
        let tombstones = stats.index_tombstone_count.unwrap_or(0);
        if tombstones > 1_000 && tombstones * 4 > stats.entries {
            if let Ok(n) = state.cache_call(|c| c.compact()).await {
                log::info!(target: "mneme.serve", "compacted the index: {n} tombstones reclaimed");
            }
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    let limit = Arc::new(Semaphore::new(state.config.max_concurrency));
    Router::new()
        .route("/v1/chat/completions", post(proxy::chat_completions))
        .route("/v1/completions", post(proxy::completions))
        .route("/v1/cache/get", post(rest::get))
        .route("/v1/cache/put", post(rest::put))
        .route("/v1/cache/delete", post(rest::delete))
        .route("/v1/cache/vacuum", post(rest::vacuum))
        .route("/v1/cache/stats", get(rest::stats))
        .route("/v1/cache/namespaces", get(rest::namespaces))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/dashboard", get(dashboard::page))
        .route("/v1/dashboard/data", get(dashboard::data))
        .route("/openapi.json", get(openapi))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                kind: "invalid_request_error",
                message: "no such route. Remediation: see /openapi.json".into(),
            }
        })
        .layer(middleware::from_fn(access_log))
        .layer(middleware::from_fn_with_state(limit, bounded))
        .with_state(state)
}

/// At most `max_concurrency` requests run at once; the rest wait their turn.
async fn bounded(State(limit): State<Arc<Semaphore>>, request: Request, next: Next) -> Response {
    match limit.acquire_owned().await {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::unavailable("the server is shutting down").into_response(),
    }
}

/// One structured line per request (target `mneme.serve.access`); never headers or bodies,
/// which may carry keys and prompts.
async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let outcome = response
        .headers()
        .get("x-mneme-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    log::info!(target: "mneme.serve.access", "{}", serde_json::json!({
        "method": method.as_str(), "path": path, "status": response.status().as_u16(),
        "cache": outcome, "ms": (started.elapsed().as_secs_f64() * 1e3 * 1000.0).round() / 1000.0,
    }));
    response
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.cache_call(|c| c.health()).await {
        Ok(h) => {
            let status = if h.healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, Json(serde_json::to_value(h).unwrap_or_default())).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.cache.is_closed() {
        ApiError::unavailable("the cache is closed").into_response()
    } else {
        Json(serde_json::json!({"ready": true})).into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.cache_call(|c| c.stats(None)).await.ok();
    let text = state.metrics.render(stats.as_ref());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../assets/openapi.json"),
    )
        .into_response()
}
