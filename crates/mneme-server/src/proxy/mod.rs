//! The OpenAI-compatible caching proxy: `POST /v1/chat/completions` and `/v1/completions`.
//! A request is looked up in the cache within its exact scope (scope.rs); a hit is answered at
//! once (replayed as SSE when `stream` is set); a miss goes to the upstream, identical
//! concurrent misses share one call (flights.rs), and a successful answer is cached before it
//! is returned. Upstream errors are passed back as they came and never cached.

pub mod flights;
pub mod scope;
pub mod sse;

use crate::error::{parse_json, ApiError};
use crate::state::AppState;
use crate::tenancy;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flights::{Answer, Role};
use mneme::{Get, HitLayer, Metadata, Put};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;

/// Per-request controls a client sets in headers.
#[derive(Debug, Default)]
struct Controls {
    /// `x-mneme-bypass: true`: do not read the cache (the fresh answer is still stored).
    bypass: bool,
    /// `x-mneme-no-store: true`: do not store the answer.
    no_store: bool,
    /// `x-mneme-ttl: SECONDS`.
    ttl: Option<i64>,
    /// `x-mneme-threshold: T`: raise the similarity threshold for this request (never lower).
    threshold: Option<f64>,
}

fn flag(headers: &HeaderMap, name: &str) -> Result<bool, ApiError> {
    match headers
        .get(name)
        .map(|v| v.to_str().unwrap_or_default().to_ascii_lowercase())
    {
        None => Ok(false),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "{name}: {v:?} is not true or false"
        ))),
    }
}

fn number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Result<Option<T>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{name} must be a number. Remediation: fix or drop the header"
                    ))
                })
        })
        .transpose()
}

impl Controls {
    fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let threshold: Option<f64> = number(headers, "x-mneme-threshold")?;
        if threshold.is_some_and(|t| !(-1.0..=1.0).contains(&t)) {
            return Err(ApiError::bad_request(
                "x-mneme-threshold must be between -1 and 1",
            ));
        }
        Ok(Controls {
            bypass: flag(headers, "x-mneme-bypass")?,
            no_store: flag(headers, "x-mneme-no-store")?,
            ttl: number(headers, "x-mneme-ttl")?,
            threshold,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Completion,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Chat => "/chat/completions",
            Kind::Completion => "/completions",
        }
    }
    fn route(self) -> &'static str {
        match self {
            Kind::Chat => "chat_completions",
            Kind::Completion => "completions",
        }
    }
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, headers, body, Kind::Chat)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, headers, body, Kind::Completion)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Reads the body up to the configured limit (413 beyond it).
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

async fn handle(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let bytes = read_body(body, state.config.max_body_bytes).await?;
    let request: Map<String, Value> = parse_json(&bytes)?;
    let keyed = match kind {
        Kind::Chat => scope::chat(&request, state.config.scope)?,
        Kind::Completion => scope::completion(&request)?,
    };
    let tenant_ns = tenancy::namespace(&state.config, &headers, None)?;
    let ns = format!("{tenant_ns}/{}", keyed.scope);
    let controls = Controls::from_headers(&headers)?;
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let chat = kind == Kind::Chat;

    let mut embedding = None;
    if !controls.bypass {
        let (query, namespace, threshold) = (keyed.query.clone(), ns.clone(), controls.threshold);
        // On a local store the exact layer answers in microseconds: inline, without the pool.
        let exact = if state.inline_exact {
            state
                .cache
                .get_exact(&keyed.query, &ns)
                .map_err(|e| ApiError::from_cache(&e))?
        } else {
            None
        };
        let inline_exact = state.inline_exact;
        let hit = match exact {
            Some(hit) => Some(hit),
            None => {
                let (hit, vector) = state
                    .cache_call(move |cache| {
                        if !inline_exact {
                            if let Some(hit) = cache.get_exact(&query, &namespace)? {
                                return Ok((Some(hit), None));
                            }
                        }
                        let g = lookup(&namespace, threshold);
                        // Embedded once: the same vector stores the answer of a miss and
                        // matches it against the other misses in flight. A failing embedder
                        // is left to `get`, which counts it as such a miss.
                        match cache.embed_query(&query) {
                            Ok(v) => Ok((cache.get_with(&query, g.embedding(&v))?, Some(v))),
                            Err(_) => Ok((cache.get_with(&query, g)?, None)),
                        }
                    })
                    .await?;
                embedding = vector;
                hit
            }
        };
        if let Some(hit) = hit {
            let outcome = match hit.layer {
                HitLayer::Exact => "hit-exact",
                HitLayer::Semantic => "hit-semantic",
            };
            state.record(
                kind.route(),
                &tenant_ns,
                &keyed.query,
                outcome,
                Some(hit.similarity),
                started,
            );
            let mut response = if stream {
                let completion: Value = serde_json::from_str(&hit.response).unwrap_or(Value::Null);
                sse_response(Body::from(sse::replay(&completion, chat)))
            } else {
                json_response(StatusCode::OK, Body::from(hit.response))
            };
            mark(&mut response, outcome, Some(hit.similarity));
            return Ok(response);
        }
    }

    let upstream = state.config.upstream.clone().ok_or_else(|| {
        ApiError::unavailable(
            "no upstream is configured. Remediation: start mneme serve with --upstream URL",
        )
    })?;
    let url = format!("{}{}", upstream.trim_end_matches('/'), kind.path());
    let put = Pending {
        state: state.clone(),
        query: keyed.query.clone(),
        namespace: ns.clone(),
        controls,
        model: request.get("model").cloned(),
        embedding,
    };
    let outcome = if put.controls.bypass {
        "bypass"
    } else {
        "miss"
    };

    if stream {
        let response = stream_miss(&state, &url, &headers, bytes, put, chat).await?;
        state.record(
            kind.route(),
            &tenant_ns,
            &keyed.query,
            outcome,
            None,
            started,
        );
        return Ok(response);
    }
    let (answer, coalesced) = if put.controls.bypass {
        (Arc::new(call(&state, &url, &headers, bytes).await), None)
    } else {
        let miss = flights::Miss {
            key: format!("{ns}\u{0}{}", mneme::normalize(&keyed.query)),
            namespace: ns.clone(),
            query: keyed.query.clone(),
            embedding: put.embedding.as_deref(),
            shared: !put.controls.no_store,
        };
        let raised = put.controls.threshold;
        let serves = |flight_query: &str, similarity: f64| {
            let g = lookup(&ns, raised);
            state
                .cache
                .would_serve(&keyed.query, flight_query, similarity, &g)
        };
        match state.flights.join(miss, serves) {
            Role::Leader(lead) => {
                let answer = Arc::new(call(&state, &url, &headers, bytes).await);
                if (200..300).contains(&answer.status) {
                    put.store(String::from_utf8_lossy(&answer.body).into_owned())
                        .await;
                }
                lead.publish(answer.clone());
                (answer, None)
            }
            Role::Follower(rx, similarity) => {
                (flights::follow(rx).await, Some(similarity.unwrap_or(1.0)))
            }
        }
    };
    if put.controls.bypass && (200..300).contains(&answer.status) {
        put.store(String::from_utf8_lossy(&answer.body).into_owned())
            .await;
    }
    let outcome = if coalesced.is_some() {
        "miss-coalesced"
    } else {
        outcome
    };
    state.record(
        kind.route(),
        &tenant_ns,
        &keyed.query,
        outcome,
        coalesced,
        started,
    );
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::builder()
        .status(status)
        .header("content-type", answer.content_type.as_str())
        .body(Body::from(answer.body.clone()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
    mark(&mut response, outcome, coalesced);
    Ok(response)
}

/// The lookup options of a request: its namespace, and the threshold it raised to, if any.
fn lookup(namespace: &str, raised: Option<f64>) -> Get<'_> {
    let g = Get::default().namespace(namespace);
    match raised {
        Some(t) => g.min_similarity(t),
        None => g,
    }
}

/// An answer waiting to be stored once it is complete.
struct Pending {
    state: Arc<AppState>,
    query: String,
    namespace: String,
    controls: Controls,
    model: Option<Value>,
    /// The query's embedding from the lookup, stored with the answer (not embedded again).
    embedding: Option<Vec<f32>>,
}

impl Pending {
    /// Stores `response` (unless the request said no-store); a failure is logged, never
    /// turned into an error for a client that already has its answer.
    async fn store(&self, response: String) {
        if self.controls.no_store {
            return;
        }
        let (query, namespace) = (self.query.clone(), self.namespace.clone());
        let embedding = self.embedding.clone();
        let ttl = self.controls.ttl.or(self.state.config.ttl_secs);
        let mut meta = Metadata::new();
        if let Some(Value::String(m)) = &self.model {
            meta.insert("model", m.as_str());
        }
        let stored = self
            .state
            .cache_call(move |cache| {
                let mut p = Put::default().namespace(&namespace).metadata(meta);
                if let Some(v) = &embedding {
                    p = p.embedding(v);
                }
                if let Some(t) = ttl {
                    p = p.ttl(t);
                }
                cache.put_with(&query, &response, p)
            })
            .await;
        if let Err(e) = stored {
            log::warn!(target: "mneme.serve", "could not cache an upstream answer: {}", e.message);
        }
    }
}

/// Forwards the request to the upstream with the client's own credentials (never stored or
/// logged) and reads the whole answer.
async fn call(state: &AppState, url: &str, headers: &HeaderMap, body: Bytes) -> Answer {
    match send(state, url, headers, body).await {
        Ok(r) => {
            let status = r.status().as_u16();
            let content_type = content_type(r.headers());
            match r.bytes().await {
                Ok(body) => Answer {
                    status,
                    content_type,
                    body,
                },
                Err(e) => upstream_failure(state, &e),
            }
        }
        Err(e) => upstream_failure(state, &e),
    }
}

async fn send(
    state: &AppState,
    url: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> reqwest::Result<reqwest::Response> {
    let mut request = state
        .http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for name in [
        "authorization",
        "api-key",
        "openai-organization",
        "openai-project",
    ] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v.as_bytes());
        }
    }
    request.send().await
}

fn content_type(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned()
}

/// A 504 for a timeout, a 502 for anything else, in OpenAI's error shape.
fn upstream_failure(state: &AppState, e: &reqwest::Error) -> Answer {
    let (status, message) = if e.is_timeout() {
        (504, format!("the upstream did not answer within {} s. Remediation: retry, or raise upstream_timeout_secs", state.config.upstream_timeout_secs))
    } else {
        (502, format!("the upstream could not be reached: {e}. Remediation: check --upstream and the network"))
    };
    let body = serde_json::json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": null}});
    Answer {
        status,
        content_type: "application/json".into(),
        body: Bytes::from(body.to_string()),
    }
}

/// A streamed miss: the upstream's events go to the client as they arrive and are assembled
/// on the side; a stream that completes is cached (streams are not coalesced).
async fn stream_miss(
    state: &AppState,
    url: &str,
    headers: &HeaderMap,
    body: Bytes,
    put: Pending,
    chat: bool,
) -> Result<Response, ApiError> {
    let upstream = match send(state, url, headers, body).await {
        Ok(r) => r,
        Err(e) => {
            let a = upstream_failure(state, &e);
            return Ok(plain(a));
        }
    };
    if !upstream.status().is_success() {
        let status = upstream.status().as_u16();
        let content_type = content_type(upstream.headers());
        let body = upstream.bytes().await.unwrap_or_default();
        return Ok(plain(Answer {
            status,
            content_type,
            body,
        }));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut assembler = sse::Assembler::default();
        let mut chunks = upstream.bytes_stream();
        // The last chunk (with `[DONE]`) is held back until the answer is stored, so a client
        // that has the whole stream can count on the next identical request hitting.
        let mut held: Option<Bytes> = None;
        let mut client_gone = false;
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(bytes) => {
                    assembler.feed(&bytes);
                    if let Some(previous) = held.replace(bytes) {
                        // A client that hung up does not stop the answer from being cached.
                        client_gone = client_gone || tx.send(Ok(previous)).await.is_err();
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
        if let Some(completion) = assembler.finish(chat) {
            put.store(completion.to_string()).await;
        }
        if let Some(last) = held {
            let _ = tx.send(Ok(last)).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = sse_response(Body::from_stream(stream));
    mark(&mut response, "miss", None);
    Ok(response)
}

fn plain(a: Answer) -> Response {
    let mut r = Response::builder()
        .status(StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_GATEWAY))
        .header("content-type", a.content_type)
        .body(Body::from(a.body))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
    mark(&mut r, "miss", None);
    r
}

fn json_response(status: StatusCode, body: Body) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn sse_response(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `x-mneme-cache` (hit-exact, hit-semantic, miss, miss-coalesced, bypass) and, on a hit,
/// `x-mneme-similarity`.
fn mark(response: &mut Response, outcome: &str, similarity: Option<f64>) {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(outcome) {
        h.insert("x-mneme-cache", v);
    }
    if let Some(s) = similarity.and_then(|s| HeaderValue::from_str(&format!("{s:.4}")).ok()) {
        h.insert("x-mneme-similarity", s);
    }
}
