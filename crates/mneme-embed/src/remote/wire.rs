//! The OpenAI embeddings API's JSON, and reading its answers.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The largest answer read: 2 048 vectors of 3 072 floats as JSON text fit well inside.
pub const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Serialize)]
pub struct EmbeddingRequest<'a> {
    pub model: &'a str,
    pub input: &'a [&'a str],
    pub encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
}

#[derive(Deserialize)]
pub struct EmbeddingResponse {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

/// The vectors in input order (the API gives each an `index`), checked for count and values.
pub fn in_order(r: EmbeddingResponse, expected: usize) -> Result<Vec<Vec<f32>>, String> {
    if r.data.len() != expected {
        return Err(format!(
            "asked for {expected} embeddings, got {}",
            r.data.len()
        ));
    }
    let mut out = vec![Vec::new(); expected];
    for (pos, item) in r.data.into_iter().enumerate() {
        let i = item.index.unwrap_or(pos);
        if i >= expected || !out[i].is_empty() {
            return Err(format!("embedding index {i} is out of range or repeated"));
        }
        if item.embedding.is_empty() || item.embedding.iter().any(|x| !x.is_finite()) {
            return Err(format!("embedding {i} is empty or not finite"));
        }
        out[i] = item.embedding;
    }
    Ok(out)
}

/// The server's own words about a failure, shortened: its JSON `error.message` if any.
pub fn error_text(resp: &mut ureq::http::Response<ureq::Body>) -> String {
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or(body);
    let short: String = message.chars().take(300).collect();
    if short.trim().is_empty() {
        "(no body)".into()
    } else {
        short
    }
}

/// `Retry-After` in seconds, if the server sent one.
pub fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}
